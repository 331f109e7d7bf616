//! The rules' evaluation over what arrives: emergency call events (at once), call records (late
//! emergency calls by number, poor streaks, and the streams of the poor-stream-rate windows), and
//! the report tables read by SQL each interval (direct-routing failures per gateway, emergency
//! report rows). Produces candidate alerts; the outbox decides whether each is new.

use std::collections::{BTreeMap, HashMap};

use callhook_model::{CallRecord, Endpoint};
use callhook_quality::{streams, BuildingFile, Dimension, Modality, Quality, Thresholds};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::config::{AlertsConfig, RuleConfig, RuleKind, Scope};
use crate::outbox::Alert;

/// An alert some rule wants raised, with the rule's cooldown.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub alert: Alert,
    pub channels: Vec<String>,
    pub cooldown: chrono::Duration,
}

/// One classified stream of a call, by the places its client endpoints were in.
#[derive(Debug, Clone)]
struct StreamFact {
    buildings: Vec<String>,
    subnets: Vec<String>,
    poor: bool,
}

#[derive(Debug, Clone)]
struct CallFacts {
    at: DateTime<Utc>,
    streams: Vec<StreamFact>,
}

/// One user's calls by (start time, call id): poor or not.
type UserCalls = BTreeMap<(DateTime<Utc>, String), bool>;

/// What the rules remember between records: the streams of recent calls and each user's calls.
pub struct Evaluator {
    config: AlertsConfig,
    buildings: Option<BuildingFile>,
    thresholds: Thresholds,
    calls: HashMap<(String, String), CallFacts>,
    /// Per tenant and user: their calls by start time, poor or not.
    users: HashMap<(String, String), UserCalls>,
}

fn chrono_of(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn percent(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// Digits of a dialled number (`+1 (911)` → `1911`, `tel:112` → `112`).
fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

impl Evaluator {
    pub fn new(config: AlertsConfig, buildings: Option<BuildingFile>) -> Self {
        Self {
            config,
            buildings,
            thresholds: Thresholds::default(),
            calls: HashMap::new(),
            users: HashMap::new(),
        }
    }

    pub fn config(&self) -> &AlertsConfig {
        &self.config
    }

    /// The longest window of any rule: how far back the state must reach.
    pub fn horizon(&self) -> chrono::Duration {
        self.config
            .rules
            .iter()
            .map(|r| chrono_of(r.window))
            .max()
            .unwrap_or(chrono::Duration::hours(1))
    }

    fn rules(&self, kind: RuleKind) -> impl Iterator<Item = &RuleConfig> {
        self.config.rules.iter().filter(move |r| r.kind == kind)
    }

    #[allow(clippy::too_many_arguments)]
    fn candidate(
        &self,
        rule: &RuleConfig,
        tenant_id: &str,
        scope: &str,
        dedup: &str,
        title: String,
        summary: String,
        late: bool,
        now: DateTime<Utc>,
        facts: Vec<(String, String)>,
        details: Value,
        cooldown: chrono::Duration,
    ) -> Candidate {
        let kind = match rule.kind {
            RuleKind::Emergency => "emergency",
            RuleKind::PoorStreamRate => "poor-stream-rate",
            RuleKind::PoorStreak => "poor-streak",
            RuleKind::DirectRoutingFailures => "direct-routing-failures",
        };
        Candidate {
            alert: Alert {
                alert_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: tenant_id.to_string(),
                rule_name: rule.name.clone(),
                rule_type: kind.to_string(),
                severity: rule.severity().to_string(),
                alert_title: title,
                summary,
                scope: scope.to_string(),
                late,
                alert_raised_at: now,
                facts,
                details,
                dedup_key: format!("{}|{tenant_id}|{dedup}", rule.name),
            },
            channels: self
                .config
                .channels_of(rule)
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            cooldown,
        }
    }

    /// An `emergencyCallEvent` (the decrypted resource of an emergency notification): one
    /// critical alert per event and emergency rule, never held back by a cooldown.
    pub fn emergency_event(
        &self,
        tenant_id: &str,
        event: &Value,
        now: DateTime<Utc>,
    ) -> Vec<Candidate> {
        // A notification's content wraps the event under `emergencyCallEvent`.
        let e = event.get("emergencyCallEvent").unwrap_or(event);
        let id = e["id"].as_str().unwrap_or_default();
        let info = &e["callerInfo"];
        let who = info["displayName"]
            .as_str()
            .or(info["upn"].as_str())
            .unwrap_or("someone");
        let number = e["emergencyNumberDialed"].as_str().unwrap_or("?");
        let address = &info["location"]["address"];
        let place = ["street", "city", "state", "countryOrRegion"]
            .iter()
            .filter_map(|k| address[*k].as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut facts = vec![
            ("Caller".to_string(), who.to_string()),
            ("Number dialled".to_string(), number.to_string()),
        ];
        for (k, label) in [("upn", "User"), ("phoneNumber", "Phone")] {
            if let Some(v) = info[k].as_str() {
                facts.push((label.to_string(), v.to_string()));
            }
        }
        if !place.is_empty() {
            facts.push(("Location".to_string(), place.clone()));
        }
        if let Some(p) = e["policyName"].as_str() {
            facts.push(("Policy".to_string(), p.to_string()));
        }
        if let Some(t) = e["eventDateTime"].as_str() {
            facts.push(("Time".to_string(), t.to_string()));
        }
        let scope = caller_scope(info["upn"].as_str(), info["phoneNumber"].as_str());
        self.rules(RuleKind::Emergency)
            .map(|r| {
                self.candidate(
                    r,
                    tenant_id,
                    &scope,
                    &format!("event:{id}"),
                    format!("Emergency call: {who} dialled {number}"),
                    if place.is_empty() {
                        format!("{who} dialled {number}.")
                    } else {
                        format!("{who} dialled {number} from {place}.")
                    },
                    false,
                    now,
                    facts.clone(),
                    e.clone(),
                    chrono::Duration::zero(),
                )
            })
            .collect()
    }

    /// A stored call record (its latest version): late emergency calls by number, poor
    /// streaks, and its streams for the windows.
    pub fn record(
        &mut self,
        tenant_id: &str,
        record: &Value,
        now: DateTime<Utc>,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        let id = record["id"].as_str().unwrap_or_default().to_string();
        let at = record["startDateTime"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(now);
        out.extend(self.late_emergency_in_record(tenant_id, &id, record, at, now));
        let Ok(parsed) = callhook_model::from_value::<CallRecord>(record.clone()) else {
            tracing::debug!(id = %id, "record not readable as a callRecord; no quality rules");
            return out;
        };
        let views = streams(&parsed, &self.thresholds);
        let mut facts = Vec::new();
        let mut users: BTreeMap<String, (String, bool)> = BTreeMap::new();
        for v in &views {
            let classified = v.verdict.quality != Quality::Unclassified;
            let poor = v.verdict.quality == Quality::Poor;
            if classified {
                facts.push(StreamFact {
                    buildings: v.values(Dimension::Building, self.buildings.as_ref()),
                    subnets: v.values(Dimension::Subnet, None),
                    poor,
                });
            }
            for e in [v.caller.endpoint, v.callee.endpoint] {
                if let Some(Endpoint::Participant(p)) = e {
                    let Some(identity) = p.associated_identity.as_ref() else {
                        continue;
                    };
                    let Some(uid) = identity.id.clone() else {
                        continue;
                    };
                    let name = identity
                        .user_principal_name
                        .clone()
                        .or(identity.display_name.clone())
                        .unwrap_or_else(|| uid.clone());
                    let entry = users.entry(uid).or_insert((name, false));
                    entry.1 |= v.modality == Some(Modality::Audio) && poor;
                }
            }
        }
        self.calls.insert(
            (tenant_id.to_string(), id.clone()),
            CallFacts { at, streams: facts },
        );
        for (uid, (name, poor)) in users {
            let calls = self
                .users
                .entry((tenant_id.to_string(), uid.clone()))
                .or_default();
            calls.retain(|(_, c), _| c != &id);
            calls.insert((at, id.clone()), poor);
            out.extend(self.streak(tenant_id, &uid, &name, now));
        }
        out
    }

    fn streak(&self, tenant_id: &str, uid: &str, name: &str, now: DateTime<Utc>) -> Vec<Candidate> {
        let Some(calls) = self.users.get(&(tenant_id.to_string(), uid.to_string())) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for r in self.rules(RuleKind::PoorStreak) {
            let n = r.calls.unwrap_or(3);
            let last: Vec<_> = calls.iter().rev().take(n).collect();
            if last.len() < n || !last.iter().all(|(_, poor)| **poor) {
                continue;
            }
            let ((first_at, first_id), _) = last[n - 1];
            let ((last_at, _), _) = last[0];
            if *last_at - *first_at > chrono_of(r.window) {
                continue;
            }
            out.push(self.candidate(
                r,
                tenant_id,
                name,
                &format!("user:{uid}:from:{first_id}"),
                format!("{name}: {n} poor calls in a row"),
                format!(
                    "{name}'s last {n} calls (from {} to {}) all had poor audio.",
                    first_at.to_rfc3339(),
                    last_at.to_rfc3339()
                ),
                false,
                now,
                vec![
                    ("User".into(), name.to_string()),
                    ("Poor calls in a row".into(), n.to_string()),
                ],
                json!({"userId": uid, "calls": last.iter().rev().map(|((_, id), _)| id).collect::<Vec<_>>()}),
                chrono_of(r.cooldown()),
            ));
        }
        out
    }

    fn late_emergency_in_record(
        &self,
        tenant_id: &str,
        id: &str,
        record: &Value,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Candidate> {
        let mut phones = Vec::new();
        collect_phones(record, &mut phones);
        let mut out = Vec::new();
        for r in self.rules(RuleKind::Emergency) {
            let numbers = r.emergency_numbers();
            let Some(hit) = phones
                .iter()
                .find(|p| numbers.iter().any(|n| digits(n) == digits(p)))
            else {
                continue;
            };
            let organizer = &record["organizer_v2"]["identity"]["user"];
            let who = organizer["displayName"]
                .as_str()
                .or(organizer["userPrincipalName"].as_str());
            let scope = caller_scope(organizer["userPrincipalName"].as_str(), None);
            out.push(self.candidate(
                r,
                tenant_id,
                &scope,
                &format!("call:{id}"),
                format!(
                    "Emergency call (late): {} dialled {hit}",
                    who.unwrap_or("someone")
                ),
                format!(
                    "Call record {id} started {} reaches the emergency number {hit}.",
                    at.to_rfc3339()
                ),
                true,
                now,
                vec![
                    ("Caller".into(), who.unwrap_or("unknown").to_string()),
                    ("Number dialled".into(), hit.clone()),
                    ("Call record".into(), id.to_string()),
                    ("Started".into(), at.to_rfc3339()),
                ],
                json!({"callRecordId": id}),
                chrono_of(r.cooldown()),
            ));
        }
        out
    }

    /// An emergency report row (`direct_routing_calls` or `pstn_calls`), marked late.
    pub fn late_emergency_row(
        &self,
        tenant_id: &str,
        table: &str,
        row: &ReportRow,
        now: DateTime<Utc>,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        for r in self.rules(RuleKind::Emergency) {
            let by_type = row
                .call_type
                .as_deref()
                .is_some_and(|t| t.to_ascii_lowercase().contains("emergency"));
            let numbers = r.emergency_numbers();
            let by_number = row
                .callee_number
                .as_deref()
                .is_some_and(|c| numbers.iter().any(|n| digits(n) == digits(c)));
            if !by_type && !by_number {
                continue;
            }
            let who = row.user.clone().unwrap_or_else(|| "someone".into());
            let number = row.callee_number.clone().unwrap_or_default();
            out.push(self.candidate(
                r,
                tenant_id,
                &caller_scope(row.user.as_deref(), None),
                &format!("{table}:{}", row.id),
                format!("Emergency call (late): {who} dialled {number}"),
                format!(
                    "{table} row {} ({}) started {}.",
                    row.id,
                    row.call_type.as_deref().unwrap_or("no call type"),
                    row.start.map(|t| t.to_rfc3339()).unwrap_or_default()
                ),
                true,
                now,
                vec![
                    ("Caller".into(), who.clone()),
                    ("Number dialled".into(), number),
                    ("Report".into(), table.to_string()),
                ],
                json!({"table": table, "id": row.id, "callType": row.call_type}),
                chrono_of(r.cooldown()),
            ));
        }
        out
    }

    /// Poor-stream rates of every building or subnet over the calls started in each rule's
    /// window ending `now`; forgets calls older than every window.
    pub fn windows(&mut self, now: DateTime<Utc>) -> Vec<Candidate> {
        let horizon = now - self.horizon();
        self.calls.retain(|_, c| c.at >= horizon);
        for calls in self.users.values_mut() {
            // Keep a streak's worth beyond the horizon: streaks are counted in calls, not time.
            while calls.len() > 64 {
                calls.pop_first();
            }
        }
        let mut out = Vec::new();
        for r in self.rules(RuleKind::PoorStreamRate) {
            let from = now - chrono_of(r.window);
            let scope = r.scope.unwrap_or(Scope::Building);
            // (tenant, place) → (classified, poor)
            let mut tally: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
            for ((tenant, _), call) in &self.calls {
                if call.at < from || call.at > now {
                    continue;
                }
                for s in &call.streams {
                    let places = match scope {
                        Scope::Building => &s.buildings,
                        Scope::Subnet => &s.subnets,
                    };
                    for p in places {
                        let t = tally.entry((tenant.clone(), p.clone())).or_default();
                        t.0 += 1;
                        t.1 += u64::from(s.poor);
                    }
                }
            }
            let threshold = r.threshold.unwrap_or(1.0);
            let min = r.min_samples.unwrap_or(20);
            let what = match scope {
                Scope::Building => "Building",
                Scope::Subnet => "Subnet",
            };
            for ((tenant, place), (n, poor)) in tally {
                let rate = poor as f64 / n as f64;
                if n < min || rate <= threshold {
                    continue;
                }
                let cooldown = chrono_of(r.cooldown());
                let bucket = now.timestamp() / cooldown.num_seconds().max(1);
                out.push(self.candidate(
                    r,
                    &tenant,
                    &place,
                    &format!("{what}:{place}:{bucket}"),
                    format!("{what} {place}: poor-stream rate {}", percent(rate)),
                    format!(
                        "{poor} of {n} classified streams were poor in the last {} (threshold {}).",
                        humanize(r.window),
                        percent(threshold)
                    ),
                    false,
                    now,
                    vec![
                        (what.to_string(), place.clone()),
                        ("Poor-stream rate".into(), percent(rate)),
                        ("Streams".into(), n.to_string()),
                        ("Poor streams".into(), poor.to_string()),
                    ],
                    json!({"scope": what.to_ascii_lowercase(), "place": place, "streams": n,
                           "poorStreams": poor, "poorStreamRate": rate,
                           "windowStart": from, "windowEnd": now}),
                    cooldown,
                ));
            }
        }
        out
    }

    /// Direct-routing gateways whose failed share of calls in the window breaches.
    pub fn gateways(
        &self,
        tenant_id: &str,
        rule: &RuleConfig,
        counts: &[(String, i64, i64)],
        now: DateTime<Utc>,
    ) -> Vec<Candidate> {
        let threshold = rule.threshold.unwrap_or(1.0);
        let min = rule.min_samples.unwrap_or(10) as i64;
        let cooldown = chrono_of(rule.cooldown());
        let bucket = now.timestamp() / cooldown.num_seconds().max(1);
        counts
            .iter()
            .filter(|(_, n, failed)| *n >= min && *failed as f64 / *n as f64 > threshold)
            .map(|(gw, n, failed)| {
                let ratio = *failed as f64 / *n as f64;
                self.candidate(
                    rule,
                    tenant_id,
                    gw,
                    &format!("gateway:{gw}:{bucket}"),
                    format!("Direct routing {gw}: {} of calls failed", percent(ratio)),
                    format!(
                        "{failed} of {n} direct-routing calls through {gw} failed in the last {} (threshold {}).",
                        humanize(rule.window),
                        percent(threshold)
                    ),
                    false,
                    now,
                    vec![
                        ("Gateway".into(), gw.clone()),
                        ("Failure ratio".into(), percent(ratio)),
                        ("Calls".into(), n.to_string()),
                        ("Failed".into(), failed.to_string()),
                    ],
                    json!({"gateway": gw, "calls": n, "failed": failed, "failureRatio": ratio}),
                    cooldown,
                )
            })
            .collect()
    }
}

/// The fields of a PSTN or direct-routing row an emergency rule reads.
#[derive(Debug, Clone)]
pub struct ReportRow {
    pub id: String,
    pub user: Option<String>,
    pub call_type: Option<String>,
    pub callee_number: Option<String>,
    pub start: Option<DateTime<Utc>>,
}

/// Who an emergency alert is about: the same caller's event and late rows share it, so a late
/// row within the cooldown of the event's alert is not sent again.
fn caller_scope(upn: Option<&str>, phone: Option<&str>) -> String {
    upn.map(str::to_ascii_lowercase)
        .or(phone.map(digits))
        .unwrap_or_else(|| "unknown caller".into())
}

/// Every `phone` identity's id in a record.
fn collect_phones(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "phone" {
                    if let Some(id) = x["id"].as_str() {
                        out.push(id.to_string());
                    }
                }
                collect_phones(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_phones(x, out)),
        _ => {}
    }
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evaluator(rules: &str) -> Evaluator {
        let c = AlertsConfig::parse(&format!(
            "[[channel]]\nname = \"log\"\nkind = \"log\"\n{rules}"
        ))
        .expect("config");
        Evaluator::new(c, None)
    }

    fn row(id: &str, call_type: &str, callee: &str) -> ReportRow {
        ReportRow {
            id: id.into(),
            user: Some("Adele@Contoso.example".into()),
            call_type: Some(call_type.into()),
            callee_number: Some(callee.into()),
            start: None,
        }
    }

    #[test]
    fn report_rows_are_late_emergency_calls_by_call_type_or_number() {
        let e = evaluator("[[rule]]\nname = \"em\"\nkind = \"emergency\"\nnumbers = [\"112\"]\n");
        let now = Utc::now();
        let dr = e.late_emergency_row(
            "t",
            "direct_routing_calls",
            &row("r1", "dr_emergency_out", "+1 933"),
            now,
        );
        assert_eq!(dr.len(), 1);
        assert!(dr[0].alert.late);
        assert_eq!(dr[0].alert.scope, "adele@contoso.example");
        assert_eq!(dr[0].alert.dedup_key, "em|t|direct_routing_calls:r1");
        assert_eq!(dr[0].alert.severity, "critical");
        // CQD's spelling of the call type counts too; a Calling Plan row by its number.
        assert_eq!(
            e.late_emergency_row(
                "t",
                "pstn_calls",
                &row("r2", "EmergencyOut", "5551234"),
                now
            )
            .len(),
            1
        );
        assert_eq!(
            e.late_emergency_row("t", "pstn_calls", &row("r3", "user_out", "+112"), now)
                .len(),
            1
        );
        assert!(e
            .late_emergency_row(
                "t",
                "pstn_calls",
                &row("r4", "user_out", "+14255550112"),
                now
            )
            .is_empty());
    }

    #[test]
    fn a_gateway_breaches_over_its_threshold_with_enough_calls_only() {
        let e = evaluator(
            "[[rule]]\nname = \"dr\"\nkind = \"direct-routing-failures\"\nthreshold = 0.2\nmin_samples = 10\n",
        );
        let rule = &e.config().rules[0].clone();
        let counts = vec![
            ("sbc1.contoso.com".to_string(), 20, 10),
            ("sbc2.contoso.com".to_string(), 20, 4),
            ("sbc3.contoso.com".to_string(), 5, 5),
        ];
        let found = e.gateways("t", rule, &counts, Utc::now());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].alert.scope, "sbc1.contoso.com");
        assert_eq!(found[0].alert.details["failureRatio"], 0.5);
    }

    #[test]
    fn a_call_to_an_emergency_number_in_a_record_is_a_late_alert() {
        let e = evaluator("[[rule]]\nname = \"em\"\nkind = \"emergency\"\n");
        let record = json!({"id": "c1", "startDateTime": "2026-03-02T09:15:00Z",
            "organizer_v2": {"identity": {"user": {"displayName": "Adele", "userPrincipalName": "adele@contoso.example"}}},
            "sessions": [{"callee": {"associatedIdentity": {}}, "segments": [{"callee": {"identity": {"phone": {"id": "911"}}}}]}]});
        let found = e.late_emergency_in_record("t", "c1", &record, Utc::now(), Utc::now());
        assert_eq!(found.len(), 1);
        assert!(found[0].alert.late);
        assert_eq!(found[0].alert.scope, "adele@contoso.example");
        let other = json!({"id": "c2", "sessions": [{"segments": [{"callee": {"identity": {"phone": {"id": "+14255550100"}}}}]}]});
        assert!(e
            .late_emergency_in_record("t", "c2", &other, Utc::now(), Utc::now())
            .is_empty());
    }
}
