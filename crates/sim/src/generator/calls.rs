//! Call records by kind: peer-to-peer, ad-hoc group, scheduled meeting, PSTN, direct routing;
//! and the late corrections each record receives.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{json, Value};

use super::catalog::*;
use super::draft::{Draft, EndpointDraft, SegmentDraft, SessionDraft, NEVER};
use super::media::Leg;
use super::{phone_participant_json, CallKind, DevKind, Device, Gen, Person};
use crate::quality::StreamKind;

/// Share of streams whose statistics are never reported (muted listeners, lost QoE reports).
const NEVER_REPORTED_SHARE: f64 = 0.02;

/// What media a segment carries: (kind, one-way direction, codec).
type MediaSpec = (StreamKind, Option<&'static str>, &'static str);

struct Side<'e> {
    endpoint: &'e EndpointDraft,
    leg: Leg,
}

impl Gen<'_> {
    pub(super) fn make_call(&mut self) -> Draft {
        let kind = self.weighted(&[
            (CallKind::PeerToPeer, 38),
            (CallKind::Group, 10),
            (CallKind::Meeting, 32),
            (CallKind::Pstn, 12),
            (CallKind::DirectRouting, 8),
        ]);
        let id = self.uuid();
        let mut d = match kind {
            CallKind::PeerToPeer => self.peer_to_peer(id),
            CallKind::Group => self.conference(id, false),
            CallKind::Meeting => self.conference(id, true),
            CallKind::Pstn => self.pstn(id, false),
            CallKind::DirectRouting => self.pstn(id, true),
        };
        self.finish(&mut d);
        d
    }

    pub(super) fn pick_user(&mut self, exclude: &[usize], allow_room: bool) -> usize {
        if exclude.is_empty() {
            if let Some(u) = self.forced_user.take() {
                return u;
            }
        }
        let n = self.users.len();
        for _ in 0..32 {
            let i = self.rng.gen_range(0..n.max(1));
            let room = self.users.get(i).is_some_and(|u| u.room);
            if !exclude.contains(&i) && (allow_room || !room) {
                return i;
            }
        }
        // Small directories: first acceptable index in order.
        (0..n)
            .find(|i| {
                !exclude.contains(i) && self.users.get(*i).is_some_and(|u| allow_room || !u.room)
            })
            .or_else(|| (0..n).find(|i| !exclude.contains(i)))
            .unwrap_or(0)
    }

    pub(super) fn user(&self, i: usize) -> Person {
        self.users
            .get(i)
            .or_else(|| self.users.first())
            .cloned()
            .unwrap_or_else(super::unreachable_empty)
    }

    fn audio_codec(&mut self, d: &Device) -> &'static str {
        if d.family == "skypeForBusiness" {
            "silkWide"
        } else {
            self.pick(&["opus", "opus", "opus", "satin", "silkWide"])
        }
    }

    fn video_codec(&mut self) -> &'static str {
        self.pick(&["h264", "h264", "h264", "av1", "h264s"])
    }

    fn segment(
        &mut self,
        id: String,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        caller: Side<'_>,
        callee: Side<'_>,
        spec: &[MediaSpec],
        bypassed: bool,
    ) -> SegmentDraft {
        let net_caller = self.network(&caller.leg);
        let net_callee = self.network(&callee.leg);
        let dev_caller = self.device_info(&caller.leg);
        let dev_callee = self.device_info(&callee.leg);
        let media = spec
            .iter()
            .map(|(kind, one_way, codec)| {
                self.media(
                    *kind,
                    start,
                    end,
                    (&net_caller, &net_callee),
                    (&dev_caller, &dev_callee),
                    *one_way,
                    codec,
                    bypassed,
                )
            })
            .collect();
        SegmentDraft {
            id,
            start,
            end,
            caller: Value::Object(caller.endpoint.value.clone()),
            callee: Value::Object(callee.endpoint.value.clone()),
            media,
        }
    }

    fn ms(&mut self, lo: i64, hi: i64) -> Duration {
        Duration::milliseconds(self.rng.gen_range(lo..hi.max(lo + 1)))
    }

    pub(super) fn peer_to_peer(&mut self, id: String) -> Draft {
        let a = self.pick_user(&[], false);
        let b = self.pick_user(&[a], false);
        let (pa, pb) = (self.user(a), self.user(b));
        let secs = 15 + (self.rng.gen::<f64>().powi(2) * 2400.0) as i64;
        let start = self.pick_start(secs + 5, false);
        let end = start + Duration::seconds(secs) + self.ms(0, 1000);
        let (da, db) = (self.device_for_call(&pa), self.device_for_call(&pb));
        let caller = self.client_endpoint(&pa, &da);
        let callee = self.client_endpoint(&pb, &db);
        let mut spec: Vec<MediaSpec> = vec![(StreamKind::Audio, None, self.audio_codec(&da))];
        let phones = da.kind == DevKind::IpPhone || db.kind == DevKind::IpPhone;
        if !phones && self.chance(0.2) {
            spec.push((StreamKind::Video, None, self.video_codec()));
        }
        if !phones && self.chance(0.1) {
            let dir = self.pick(&["callerToCallee", "calleeToCaller"]);
            spec.push((StreamKind::Vbss, Some(dir), "h264"));
        }
        let seg = self.segment(
            id.clone(),
            (start, end),
            Side {
                endpoint: &caller,
                leg: Leg::Client(Box::new(da)),
            },
            Side {
                endpoint: &callee,
                leg: Leg::Client(Box::new(db)),
            },
            &spec,
            false,
        );
        let failure = if self.chance(0.02) {
            let (stage, reason) = self.pick(FAILURE_REASONS);
            Some(json!({"stage": stage, "reason": reason}))
        } else {
            None
        };
        // In Graph's peer-to-peer examples the session and segment ids equal the record id.
        let session = SessionDraft {
            from: 1,
            id: id.clone(),
            start,
            end,
            caller,
            callee,
            failure,
            segments: vec![seg],
        };
        Draft {
            id,
            kind: CallKind::PeerToPeer,
            call_type: "peerToPeer",
            join_url: None,
            organizer: pa.participant_json(),
            participants: vec![
                (1, pa.id.clone(), pa.participant_json()),
                (1, pb.id.clone(), pb.participant_json()),
            ],
            sessions: vec![session],
            start,
            end,
            corrections: 0,
        }
    }

    fn mcu(&mut self) -> EndpointDraft {
        self.service_endpoint("skypeForBusinessAudioVideoMcu", None)
    }

    fn mediation_server(&mut self) -> EndpointDraft {
        self.service_endpoint(
            "mediationServer",
            Some((
                "Microsoft.PSTNHub.SIPProxy v.2025.3.14.1 i.USWE.4",
                "2025.3.14.1",
            )),
        )
    }

    fn join_url(&mut self, organizer: &str) -> String {
        let thread = base64(self.uuid().as_bytes());
        format!(
            "https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0?context=%7b%22Tid%22%3a%22{}%22%2c%22Oid%22%3a%22{organizer}%22%7d",
            self.cfg.tenant_id
        )
    }

    /// A participant's session with the conference server.
    #[allow(clippy::too_many_arguments)]
    fn conference_session(
        &mut self,
        from: u8,
        person: &Person,
        mcu: &EndpointDraft,
        (join, leave): (DateTime<Utc>, DateTime<Utc>),
        video_share: f64,
        vbss: Option<&'static str>,
    ) -> SessionDraft {
        let dev = self.device_for_call(person);
        let caller = self.client_endpoint(person, &dev);
        let mut spec: Vec<MediaSpec> = vec![(StreamKind::Audio, None, self.audio_codec(&dev))];
        let can_video = !matches!(dev.kind, DevKind::IpPhone);
        if can_video && self.chance(video_share) {
            spec.push((StreamKind::Video, None, self.video_codec()));
        }
        if let (true, Some(dir)) = (can_video, vbss) {
            spec.push((StreamKind::Vbss, Some(dir), "h264"));
        }
        let seg_id = self.uuid();
        let callee = EndpointDraft {
            value: mcu.value.clone(),
            is_client: false,
            feedback: None,
        };
        let seg = self.segment(
            seg_id,
            (join, leave),
            Side {
                endpoint: &caller,
                leg: Leg::Client(Box::new(dev)),
            },
            Side {
                endpoint: &callee,
                leg: Leg::Service,
            },
            &spec,
            false,
        );
        SessionDraft {
            from,
            id: self.uuid(),
            start: join,
            end: leave,
            caller,
            callee,
            failure: None,
            segments: vec![seg],
        }
    }

    fn conference(&mut self, id: String, meeting: bool) -> Draft {
        let organizer = self.pick_user(&[], false);
        let size = if meeting {
            if self.chance(0.1) {
                self.rng.gen_range(13..=40)
            } else {
                self.rng.gen_range(2..=12)
            }
        } else {
            self.rng.gen_range(3..=7)
        };
        let size = size.min(self.users.len()).max(1);
        let mut members = vec![organizer];
        while members.len() < size {
            let next = self.pick_user(&members, meeting);
            if members.contains(&next) {
                break;
            }
            members.push(next);
        }
        let mut people: Vec<Person> = members.iter().map(|i| self.user(*i)).collect();
        if meeting && self.chance(0.12) {
            for _ in 0..self.rng.gen_range(1..=2) {
                let ext = self.pick(&[0usize, 1, 2, 3, 4, 5, 6, 7]);
                if let Some(p) = self.externals.get(ext).cloned() {
                    if !people.iter().any(|q| q.id == p.id) {
                        people.push(p);
                    }
                }
            }
        }
        let planned = if meeting {
            let base = self.pick(&[900i64, 1800, 1800, 2700, 3600, 3600]);
            (base as f64 * self.rng.gen_range(0.7..1.1)) as i64
        } else {
            self.rng.gen_range(300..2700)
        };
        let sched = self.pick_start(planned + 900, meeting);
        let mcu = self.mcu();
        let presenter = if self.chance(if meeting { 0.45 } else { 0.15 }) {
            Some(self.rng.gen_range(0..people.len()))
        } else {
            None
        };
        let video_share = if meeting { 0.35 } else { 0.2 };
        let mut sessions = Vec::new();
        for (i, p) in people.iter().enumerate() {
            let join = if i == 0 {
                sched + self.ms(-60_000, 120_000)
            } else {
                sched + self.ms(-120_000, 360_000)
            };
            let full = sched + Duration::seconds(planned) + self.ms(-120_000, 240_000);
            let leave = if self.chance(0.7) {
                full
            } else {
                join + Duration::milliseconds(
                    (planned as f64 * 1000.0 * self.rng.gen_range(0.2..0.9)) as i64,
                )
            };
            let leave = leave.max(join + Duration::seconds(20));
            let vbss = presenter.map(|pi| {
                if pi == i {
                    "callerToCallee"
                } else {
                    "calleeToCaller"
                }
            });
            // Some participants drop and rejoin: two sessions for one participant.
            if self.chance(0.08) && leave - join > Duration::seconds(300) {
                let gap_start = join + (leave - join) / 3;
                let gap_end = gap_start + self.ms(5_000, 60_000);
                sessions.push(self.conference_session(
                    1,
                    p,
                    &mcu,
                    (join, gap_start),
                    video_share,
                    vbss,
                ));
                sessions.push(self.conference_session(
                    1,
                    p,
                    &mcu,
                    (gap_end, leave),
                    video_share,
                    vbss,
                ));
            } else {
                sessions.push(self.conference_session(
                    1,
                    p,
                    &mcu,
                    (join, leave),
                    video_share,
                    vbss,
                ));
            }
        }
        let org = people
            .first()
            .cloned()
            .unwrap_or_else(|| self.user(organizer));
        let mut participants: Vec<(u8, String, Value)> = people
            .iter()
            .map(|p| (1, p.id.clone(), p.participant_json()))
            .collect();
        if meeting && self.chance(0.15) {
            let dial_out = self.chance(0.4);
            let number = self.phone_number(org.country);
            let join = sched + self.ms(0, 300_000);
            let leave = join + Duration::seconds(self.rng.gen_range(120..planned.max(121)));
            let mediation = self.mediation_server();
            let (caller, callee, leg_caller, leg_callee) = if dial_out {
                (self.mcu(), mediation, Leg::Service, Leg::Service)
            } else {
                (mediation, self.mcu(), Leg::Service, Leg::Service)
            };
            let spec = [(StreamKind::Audio, None, "silkWide")];
            let seg_id = self.uuid();
            let seg = self.segment(
                seg_id,
                (join, leave),
                Side {
                    endpoint: &caller,
                    leg: leg_caller,
                },
                Side {
                    endpoint: &callee,
                    leg: leg_callee,
                },
                &spec,
                false,
            );
            sessions.push(SessionDraft {
                from: 1,
                id: self.uuid(),
                start: join,
                end: leave,
                caller,
                callee,
                failure: None,
                segments: vec![seg],
            });
            participants.push((1, number.clone(), phone_participant_json(&number)));
            self.conference_pstn_rows(&org, &number, dial_out, join, leave);
        }
        let (start, end) = bounds(&sessions).unwrap_or((sched, sched + Duration::seconds(planned)));
        Draft {
            join_url: if meeting {
                Some(self.join_url(&org.id))
            } else {
                None
            },
            id,
            kind: if meeting {
                CallKind::Meeting
            } else {
                CallKind::Group
            },
            call_type: "groupCall",
            organizer: org.participant_json(),
            participants,
            sessions,
            start,
            end,
            corrections: 0,
        }
    }

    fn pstn(&mut self, id: String, direct_routing: bool) -> Draft {
        self.pstn_call(id, direct_routing, None)
    }

    /// A PSTN or direct-routing call; with `emergency` (user index, dial string), that user's
    /// outbound call to the emergency number, whose report row has the emergency call type.
    pub(super) fn pstn_call(
        &mut self,
        id: String,
        direct_routing: bool,
        emergency: Option<(usize, &str)>,
    ) -> Draft {
        let u = match emergency {
            Some((u, _)) => u,
            None => self.pick_user(&[], false),
        };
        let user = self.user(u);
        let outbound = emergency.is_some() || self.chance(0.6);
        let other_country = if emergency.is_none() && self.chance(0.15) {
            let c = self.rng.gen_range(0..COUNTRIES.len());
            if c == user.country {
                (c + 1) % COUNTRIES.len()
            } else {
                c
            }
        } else {
            user.country
        };
        let number = match emergency {
            Some((_, dialled)) => dialled.to_string(),
            None => self.phone_number(other_country),
        };
        let secs = match emergency {
            // An emergency call stays up while the caller is helped.
            Some(_) => self.rng.gen_range(90..900),
            None => 20 + (self.rng.gen::<f64>().powi(2) * 1200.0) as i64,
        };
        let start = self.pick_start(secs + 10, false);
        let end = start + Duration::seconds(secs) + self.ms(0, 1000);
        let dev = self.device_for_call(&user);
        let client = self.client_endpoint(&user, &dev);
        let mediation = self.mediation_server();
        let trunk_no = self.rng.gen_range(1..=2);
        // Only the second trunk is enabled for media bypass.
        let bypass = direct_routing && trunk_no == 2 && self.chance(0.7);
        let codec = self.audio_codec(&dev);
        let spec = [(StreamKind::Audio, None, codec)];
        let (far, far_leg) = if direct_routing {
            let (h, v) = self.pick(SBC_USER_AGENTS);
            (self.service_endpoint("gateway", Some((h, v))), Leg::Sbc)
        } else {
            (mediation, Leg::Service)
        };
        let mut segments = Vec::new();
        let first_far = if direct_routing && !bypass {
            Some(self.mediation_server())
        } else {
            None
        };
        // Client leg: to the mediation server, or straight to the SBC when media is bypassed.
        {
            let (hop, hop_leg) = match &first_far {
                Some(m) => (m, Leg::Service),
                None => (&far, far_leg.clone()),
            };
            let seg_id = if direct_routing {
                self.uuid()
            } else {
                id.clone()
            };
            let client_side = Side {
                endpoint: &client,
                leg: Leg::Client(Box::new(dev.clone())),
            };
            let far_side = Side {
                endpoint: hop,
                leg: hop_leg,
            };
            let (a, b) = if outbound {
                (client_side, far_side)
            } else {
                (far_side, client_side)
            };
            segments.push(self.segment(seg_id, (start, end), a, b, &spec, bypass));
        }
        // Server-to-server hop from the mediation server to the SBC.
        if let Some(m) = &first_far {
            let s2 = start + self.ms(100, 900);
            let e2 = (end - self.ms(0, 300))
                .max(s2 + Duration::seconds(1))
                .min(end);
            let seg_id = self.uuid();
            let codec = self.pick(&["pcmu", "pcma", "g722"]);
            let spec2 = [(StreamKind::Audio, None, codec)];
            let ms_side = Side {
                endpoint: m,
                leg: Leg::Service,
            };
            let sbc_side = Side {
                endpoint: &far,
                leg: Leg::Sbc,
            };
            let (a, b) = if outbound {
                (ms_side, sbc_side)
            } else {
                (sbc_side, ms_side)
            };
            segments.push(self.segment(seg_id, (s2, e2), a, b, &spec2, false));
        }
        let (caller, callee) = if outbound {
            (client, far)
        } else {
            (far, client)
        };
        let session = SessionDraft {
            from: 1,
            id: if direct_routing {
                self.uuid()
            } else {
                id.clone()
            },
            start,
            end,
            caller,
            callee,
            failure: None,
            segments,
        };
        let phone = phone_participant_json(&number);
        let organizer = if outbound {
            user.participant_json()
        } else {
            phone.clone()
        };
        if direct_routing {
            let row = self.dr_rows.len();
            self.dr_row(
                &id,
                &user,
                &number,
                outbound,
                start,
                end,
                trunk_no,
                bypass,
                other_country,
            );
            if emergency.is_some() {
                // No failed retry before an emergency call; the short number is not masked.
                self.dr_rows.truncate(row + 1);
                if let Some(r) = self.dr_rows.get_mut(row) {
                    r["callType"] = json!("dr_emergency_out");
                    r["calleeNumber"] = json!(number);
                }
            }
        } else {
            self.pstn_row(&user, &number, outbound, start, end, other_country);
            if emergency.is_some() {
                if let Some(r) = self.pstn_rows.last_mut() {
                    // Graph documents no emergency callType for Calling Plans; this is CQD's
                    // `emergency` service type with its direction (docs/graph-behaviour.md).
                    r["callType"] = json!("emergency_out");
                    r["destinationName"] = json!("Emergency");
                }
            }
        }
        Draft {
            id,
            kind: if direct_routing {
                CallKind::DirectRouting
            } else {
                CallKind::Pstn
            },
            call_type: "peerToPeer",
            join_url: None,
            organizer,
            participants: vec![
                (1, user.id.clone(), user.participant_json()),
                (1, number, phone),
            ],
            sessions: vec![session],
            start,
            end,
            corrections: 0,
        }
    }

    fn feedback(&mut self) -> Value {
        let rating = self.weighted(&[
            ("notRated", 30),
            ("excellent", 28),
            ("good", 25),
            ("fair", 9),
            ("poor", 5),
            ("bad", 3),
        ]);
        let mut f = serde_json::Map::new();
        f.insert("rating".into(), json!(rating));
        match rating {
            "notRated" => {
                f.insert("tokens".into(), json!({}));
            }
            "fair" | "poor" | "bad" => {
                let mut tokens = serde_json::Map::new();
                for t in FEEDBACK_TOKENS {
                    let on = self.chance(0.2);
                    tokens.insert((*t).to_string(), json!(on));
                }
                f.insert("tokens".into(), Value::Object(tokens));
                if self.chance(0.4) {
                    f.insert("text".into(), json!(self.pick(FEEDBACK_TEXT_BAD)));
                }
            }
            _ => {
                if self.chance(0.1) {
                    f.insert("text".into(), json!(self.pick(FEEDBACK_TEXT_GOOD)));
                }
            }
        }
        Value::Object(f)
    }

    /// Early feedback, statistics that never arrive, and the schedule of late corrections.
    pub(super) fn finish(&mut self, d: &mut Draft) {
        for s in &mut d.sessions {
            for e in [&mut s.caller, &mut s.callee] {
                if e.is_client && self.chance(0.03) {
                    let fb = self.feedback();
                    e.feedback = Some((1, fb));
                }
            }
            for seg in &mut s.segments {
                for m in &mut seg.media {
                    for st in &mut m.streams {
                        if self.chance(NEVER_REPORTED_SHARE) {
                            st.stats_from = NEVER;
                        }
                    }
                }
            }
        }
        if !self.chance(self.cfg.update_fraction) {
            return;
        }
        let mut c = 1;
        if self.chance(0.35) {
            c = 2;
            if self.chance(0.4) {
                c = 3;
            }
        }
        d.corrections = c;
        let mut late_stats = false;
        if self.chance(0.5) {
            let n = d.sessions.len();
            let forced = self.rng.gen_range(0..n.max(1));
            for (i, s) in d.sessions.iter_mut().enumerate() {
                if i == forced || self.chance(0.6) {
                    for seg in &mut s.segments {
                        for m in &mut seg.media {
                            for st in &mut m.streams {
                                if st.stats_from == 1 {
                                    st.stats_from = 2;
                                    late_stats = true;
                                }
                            }
                        }
                    }
                }
            }
        }
        for version in 2..=c + 1 {
            let mut changed = version == 2 && late_stats;
            let conference = matches!(d.kind, CallKind::Group | CallKind::Meeting);
            if conference && version >= 3 && self.chance(0.6) {
                self.add_late_session(d, version);
                changed = true;
            }
            for s in &mut d.sessions {
                for e in [&mut s.caller, &mut s.callee] {
                    if e.is_client && e.feedback.is_none() && self.chance(0.3) {
                        let fb = self.feedback();
                        e.feedback = Some((version, fb));
                        changed = true;
                    }
                }
            }
            if !changed && !self.add_guaranteed_detail(d, version) {
                // Nothing left to report late: this record gets fewer corrections.
                d.corrections = version - 2;
                break;
            }
        }
    }

    /// Makes sure a correction carries something new: a rating, else trace-route hops.
    /// False when the record has nothing left to add.
    fn add_guaranteed_detail(&mut self, d: &mut Draft, version: u8) -> bool {
        for s in &mut d.sessions {
            for e in [&mut s.caller, &mut s.callee] {
                if e.is_client && e.feedback.is_none() {
                    let fb = self.feedback();
                    e.feedback = Some((version, fb));
                    return true;
                }
            }
        }
        for s in &mut d.sessions {
            for seg in &mut s.segments {
                for m in &mut seg.media {
                    for slot in &mut m.hops {
                        if slot.is_none() {
                            let hops = self.trace_route();
                            *slot = Some((version, hops));
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    /// A participant whose session reached the service late (reported in `version`).
    fn add_late_session(&mut self, d: &mut Draft, version: u8) {
        let Some(mcu) = d
            .sessions
            .iter()
            .find(|s| !s.callee.is_client)
            .map(|s| EndpointDraft {
                value: s.callee.value.clone(),
                is_client: false,
                feedback: None,
            })
        else {
            return;
        };
        let span = (d.end - d.start).num_milliseconds();
        if span < 60_000 {
            return;
        }
        let join = d.start + Duration::milliseconds(span / 10 + self.rng.gen_range(0..span / 3));
        let latest_leave = d.end - Duration::milliseconds(span / 20);
        let leave = (join + Duration::milliseconds(self.rng.gen_range(20_000..span / 2)))
            .min(latest_leave)
            .max(join + Duration::seconds(10))
            .min(d.end);
        let u = self.pick_user(&[], false);
        let person = self.user(u);
        let session = self.conference_session(version, &person, &mcu, (join, leave), 0.2, None);
        d.sessions.push(session);
        if !d.participants.iter().any(|(_, id, _)| *id == person.id) {
            d.participants
                .push((version, person.id.clone(), person.participant_json()));
        }
    }
}

fn bounds(sessions: &[SessionDraft]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = sessions.iter().map(|s| s.start).min()?;
    let end = sessions.iter().map(|s| s.end).max()?;
    Some((start, end))
}

/// Standard base64 without padding (meeting thread ids are base64 of a GUID string).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for s in sextets.iter().take(chunk.len() + 1) {
            out.push(char::from(ALPHABET[*s as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(super::base64(b"Man"), "TWFu");
        assert_eq!(super::base64(b"Ma"), "TWE");
        assert_eq!(super::base64(b"668ec7f0"), "NjY4ZWM3ZjA");
    }
}
