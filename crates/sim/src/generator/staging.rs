//! Staging a scenario's incidents: extra calls, rows and events at the incidents' times, and
//! the changes to their drafts (network, device, metrics), made before rendering so that every
//! version of a record carries them.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::draft::{Draft, NEVER};
use super::media::num;
use super::Gen;
use crate::quality::{format_duration_ms, StreamKind};
use crate::scenario::{IncidentKind, Metrics, Staged, Staging};

/// One stream an incident changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRef {
    pub session_id: String,
    pub segment_id: String,
    pub label: String,
    pub stream_direction: String,
}

/// What an incident put into the traffic: a call record (with the streams it changed), a
/// report row, or an emergency call event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StagedItem {
    /// Index of the incident in the scenario.
    pub incident: usize,
    pub start_date_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_record_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_routing_row_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency_call_event_id: Option<String>,
    /// A call not created by the incident but caught in its window (a streak's user).
    pub existing_call: bool,
    /// The user of a poor streak.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// How a call's streams change for an incident.
struct Patch {
    network: Option<Value>,
    /// Capture device name and driver.
    device: Option<(String, Option<String>)>,
    /// Only the streams the user sends (a capture device's fault); else both directions.
    sent_only: bool,
    metrics: Metrics,
}

impl Gen<'_> {
    /// The user an incident names (by UPN), else a non-room user picked from `pick`.
    pub(super) fn staged_user(&self, inc: &Staged) -> usize {
        if let Some(upn) = &inc.user {
            if let Some(i) = self
                .users
                .iter()
                .position(|u| u.upn.eq_ignore_ascii_case(upn))
            {
                return i;
            }
        }
        let people: Vec<usize> = (0..self.users.len())
            .filter(|i| self.users.get(*i).is_some_and(|u| !u.room))
            .collect();
        let n = people.len().max(1) as u64;
        people
            .get((inc.user_pick % n) as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The incidents' own calls, rows and events (made once per run, in part 0).
    pub(super) fn stage(&mut self, staging: &Staging, drafts: &mut Vec<Draft>) -> Vec<StagedItem> {
        let mut items = Vec::new();
        for inc in &staging.incidents {
            for &t in &inc.times {
                match inc.kind {
                    IncidentKind::Trunk => {
                        let u = self.pick_user(&[], false);
                        let user = self.user(u);
                        let number = self.phone_number(user.country);
                        let sub = 560_000 + inc.sip_code;
                        let row = self.failed_dr_attempt(
                            &user,
                            (&number, true, user.country),
                            t,
                            inc.trunk.as_deref().unwrap_or_default(),
                            (inc.sip_code, sub, &inc.sip_phrase),
                        );
                        items.push(item(inc, t, None, Vec::new(), Some(row), None));
                    }
                    IncidentKind::Emergency => {
                        self.forced_start = Some(t);
                        let d = self.make_emergency_call();
                        let event = self
                            .emergency_events
                            .last()
                            .and_then(|e| e.get("id"))
                            .and_then(Value::as_str)
                            .map(str::to_string);
                        items.push(item(inc, t, Some(d.id.clone()), Vec::new(), None, event));
                        drafts.push(d);
                    }
                    _ => {
                        let user = match inc.kind {
                            IncidentKind::PoorStreak => Some(self.staged_user(inc)),
                            _ => None,
                        };
                        self.forced_start = Some(t);
                        self.forced_user = user;
                        let id = self.uuid();
                        let mut d = self.peer_to_peer(id);
                        self.finish(&mut d);
                        self.forced_user = None;
                        let caller = d
                            .participants
                            .first()
                            .map(|p| p.1.clone())
                            .unwrap_or_default();
                        let patch = self.patch_for(inc);
                        let streams = touch(&mut d, &caller, &patch);
                        let mut it = item(inc, t, Some(d.id.clone()), streams, None, None);
                        it.user_id = user.map(|_| caller.clone());
                        items.push(it);
                        drafts.push(d);
                    }
                }
            }
        }
        items
    }

    /// A streak's other calls: every call of its user between the first and the last staged
    /// call is made poor too, so the staged calls are the user's calls in a row.
    pub(super) fn stage_streaks(
        &mut self,
        staging: &Staging,
        drafts: &mut [Draft],
        staged_ids: &[String],
    ) -> Vec<StagedItem> {
        let mut items = Vec::new();
        for inc in &staging.incidents {
            if inc.kind != IncidentKind::PoorStreak {
                continue;
            }
            let (Some(first), Some(last)) = (inc.times.first(), inc.times.last()) else {
                continue;
            };
            let user = self.user(self.staged_user(inc)).id;
            let patch = self.patch_for(inc);
            for d in drafts.iter_mut() {
                if d.start < *first || d.start > *last || staged_ids.contains(&d.id) {
                    continue;
                }
                if !d.participants.iter().any(|p| p.1 == user) {
                    continue;
                }
                let streams = touch(d, &user, &patch);
                if !streams.is_empty() {
                    let mut it = item(inc, d.start, Some(d.id.clone()), streams, None, None);
                    it.existing_call = true;
                    it.user_id = Some(user.clone());
                    items.push(it);
                }
            }
        }
        items
    }

    fn patch_for(&mut self, inc: &Staged) -> Patch {
        let network = match inc.kind {
            IncidentKind::Network | IncidentKind::Vpn => inc.target.as_ref().map(|t| {
                let (ip, subnet) = self.address_in(t.network, t.range);
                let conn = if inc.kind == IncidentKind::Vpn {
                    "tunnel"
                } else {
                    "wired"
                };
                json!({"ipAddress": ip, "subnet": subnet, "connectionType": conn,
                    "wifiBand": "unknown", "wifiRadioType": "unknown"})
            }),
            IncidentKind::Wifi => {
                let band = inc.band.unwrap_or("frequency24GHz");
                let (radio, channel) = match band {
                    "frequency50GHz" => ("wifi80211ac", 36),
                    "frequency60GHz" => ("wifi80211ax", 37),
                    _ => ("wifi80211n", 6),
                };
                Some(json!({"connectionType": "wifi", "wifiBand": band,
                    "wifiRadioType": radio, "wifiChannel": channel,
                    "wifiSignalStrength": self.rng.gen_range(20..=45)}))
            }
            _ => None,
        };
        let device = match inc.kind {
            IncidentKind::Device => inc.capture_device.clone().map(|c| (c, inc.driver.clone())),
            _ => None,
        };
        Patch {
            network,
            device,
            sent_only: inc.kind == IncidentKind::Device,
            metrics: inc.metrics,
        }
    }

    /// A host address in `net/range` and its `subnet` as Graph reports it (the /24 for IPv4
    /// networks wider than that, else the network).
    fn address_in(&mut self, net: IpAddr, range: u8) -> (String, String) {
        match net {
            IpAddr::V4(v4) => {
                let base = u32::from(v4);
                let host_bits = 32 - u32::from(range.min(32));
                let size = 1u64 << host_bits;
                let host = if size > 2 {
                    self.rng.gen_range(1..size - 1)
                } else {
                    0
                };
                let ip = base | (host as u32);
                let subnet = if range >= 24 { base } else { ip & 0xFFFF_FF00 };
                (
                    std::net::Ipv4Addr::from(ip).to_string(),
                    std::net::Ipv4Addr::from(subnet).to_string(),
                )
            }
            IpAddr::V6(v6) => {
                let base = u128::from(v6);
                let host = if range <= 64 {
                    u128::from(self.rng.gen::<u32>() | 1)
                } else {
                    0
                };
                (
                    std::net::Ipv6Addr::from(base | host).to_string(),
                    v6.to_string(),
                )
            }
        }
    }
}

fn item(
    inc: &Staged,
    t: DateTime<Utc>,
    call: Option<String>,
    streams: Vec<StreamRef>,
    row: Option<String>,
    event: Option<String>,
) -> StagedItem {
    StagedItem {
        incident: inc.index,
        start_date_time: t,
        call_record_id: call,
        streams,
        direct_routing_row_id: row,
        emergency_call_event_id: event,
        existing_call: false,
        user_id: None,
    }
}

fn identity_id(endpoint: &Value) -> Option<&str> {
    endpoint
        .get("associatedIdentity")
        .and_then(|i| i.get("id"))
        .and_then(Value::as_str)
}

/// Applies `patch` to the audio of every media line where `user` is caller or callee.
fn touch(d: &mut Draft, user: &str, patch: &Patch) -> Vec<StreamRef> {
    let mut out = Vec::new();
    for s in &mut d.sessions {
        for seg in &mut s.segments {
            let side = if identity_id(&seg.caller) == Some(user) {
                0
            } else if identity_id(&seg.callee) == Some(user) {
                1
            } else {
                continue;
            };
            let sends = if side == 0 {
                "callerToCallee"
            } else {
                "calleeToCaller"
            };
            for m in &mut seg.media {
                if m.kind != StreamKind::Audio {
                    continue;
                }
                let (network, device) = if side == 0 {
                    (&mut m.caller_network, &mut m.caller_device)
                } else {
                    (&mut m.callee_network, &mut m.callee_device)
                };
                if let (Some(Value::Object(n)), Some(Value::Object(p))) = (network, &patch.network)
                {
                    if p.get("connectionType").and_then(Value::as_str) != Some("wifi") {
                        for k in [
                            "wifiChannel",
                            "wifiSignalStrength",
                            "basicServiceSetIdentifier",
                        ] {
                            n.remove(k);
                        }
                    }
                    n.extend(p.clone());
                }
                if let (Some(Value::Object(dev)), Some((capture, driver))) = (device, &patch.device)
                {
                    dev.insert("captureDeviceName".into(), json!(capture));
                    if let Some(drv) = driver {
                        dev.insert("captureDeviceDriver".into(), json!(drv));
                    }
                }
                for st in &mut m.streams {
                    let dir = st
                        .base
                        .get("streamDirection")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    if patch.sent_only && dir != sends {
                        continue;
                    }
                    if st.stats_from == NEVER {
                        st.stats_from = 1;
                    }
                    apply(&mut st.stats, &patch.metrics);
                    out.push(StreamRef {
                        session_id: s.id.clone(),
                        segment_id: seg.id.clone(),
                        label: m.label.to_string(),
                        stream_direction: dir,
                    });
                }
            }
        }
    }
    out
}

fn apply(stats: &mut Map<String, Value>, m: &Metrics) {
    if let Some(j) = m.jitter_ms {
        stats.insert("averageJitter".into(), json!(format_duration_ms(j)));
        stats.insert("maxJitter".into(), json!(format_duration_ms(j + 12)));
    }
    if let Some(l) = m.packet_loss {
        stats.insert("averagePacketLossRate".into(), num(l, 8));
        stats.insert("maxPacketLossRate".into(), num((l + 0.05).min(1.0), 8));
    }
    if let Some(r) = m.round_trip_ms {
        stats.insert("averageRoundTripTime".into(), json!(format_duration_ms(r)));
        stats.insert("maxRoundTripTime".into(), json!(format_duration_ms(r + 80)));
    }
    // Enough packets for CQD to classify the stream.
    let packets = stats
        .get("packetUtilization")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    stats.insert("packetUtilization".into(), json!(packets.max(600)));
}
