//! Report rows: PSTN and direct-routing call logs (linked to call records), SMS, blocked users,
//! and meeting dial-out usage.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde_json::{json, Value};

use super::catalog::*;
use super::draft::ts;
use super::media::num;
use super::{country_at, Gen, Person};

fn money(cents: u64) -> Value {
    num(cents as f64 / 100.0, 2)
}

impl Gen<'_> {
    fn call_id(&mut self) -> String {
        format!(
            "{}_{}@{}.{}.{}.{}",
            self.rng.gen_range(1_000_000_000u64..4_000_000_000),
            self.rng.gen_range(100_000_000u64..999_999_999),
            self.pick(&[52u8, 61, 104, 40]),
            self.rng.gen_range(0..=255u8),
            self.rng.gen_range(0..=255u8),
            self.rng.gen_range(1..=254u8)
        )
    }

    fn operator(&mut self, country: usize) -> (&'static str, &'static str) {
        let ops = country_at(country).operators;
        if !ops.is_empty() && self.chance(0.2) {
            (self.pick(ops), "operator")
        } else {
            ("Microsoft", "microsoft")
        }
    }

    /// The `pstnCallLogRow` of a Calling Plan / Operator Connect call.
    pub(super) fn pstn_row(
        &mut self,
        user: &Person,
        number: &str,
        outbound: bool,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        other_country: usize,
    ) {
        let home = country_at(user.country);
        let other = country_at(other_country);
        let secs = (end - start).num_seconds().max(0);
        let domestic = other_country == user.country;
        let minutes = (secs as u64).div_ceil(60);
        // Domestic minutes come with the plan; international ones are charged per minute.
        let charge = if outbound && !domestic {
            minutes * u64::from(other.intl_cents_per_min)
        } else {
            0
        };
        let (operator, source) = self.operator(user.country);
        let license = if outbound {
            if domestic {
                "MCOPSTN1"
            } else {
                "MCOPSTN2"
            }
        } else {
            "MCOPSTNU"
        };
        let (caller, callee) = if outbound {
            (user.phone.as_str(), number)
        } else {
            (number, user.phone.as_str())
        };
        let id = self.uuid();
        let call_id = self.call_id();
        let local_ip = format!(
            "10.{}.{}.{}",
            self.rng.gen_range(10..=40u8),
            self.rng.gen_range(0..=255u8),
            self.rng.gen_range(2..=254u8)
        );
        self.pstn_rows.push(json!({
            "id": id,
            "callId": call_id,
            "userId": user.id,
            "userPrincipalName": user.upn,
            "userDisplayName": user.name,
            "startDateTime": ts(start),
            "endDateTime": ts(end),
            "duration": secs,
            "charge": money(charge),
            "callType": if outbound { "user_out" } else { "user_in" },
            "currency": home.currency,
            "calleeNumber": callee,
            "callerNumber": caller,
            "usageCountryCode": home.code,
            "tenantCountryCode": "US",
            "connectionCharge": money(0),
            "destinationContext": if !outbound { Value::Null } else if domestic { json!("Domestic") } else { json!("International") },
            "destinationName": other.name,
            "conferenceId": null,
            "licenseCapability": license,
            "inventoryType": "Subscriber",
            "operator": operator,
            "callDurationSource": source,
            "otherPartyCountryCode": other.code,
            "clientLocalIpV4Address": local_ip,
            "clientPublicIpV4Address": "203.0.113.10",
        }));
    }

    /// The `directRoutingLogRow` of a direct-routing call; its `correlationId` is the record id.
    /// Some failed attempts (which produce no record) are logged alongside.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dr_row(
        &mut self,
        record_id: &str,
        user: &Person,
        number: &str,
        outbound: bool,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        trunk: u32,
        bypass: bool,
        other_country: usize,
    ) {
        let home = country_at(user.country);
        let other = country_at(other_country);
        let masked = mask(number, 3);
        let (caller, callee) = if outbound {
            (user.phone.clone(), masked)
        } else {
            (masked, user.phone.clone())
        };
        let media_dc = if bypass {
            Value::Null
        } else {
            json!(home.datacenter)
        };
        let signaling = self.pick(DATACENTERS);
        let invite = start - Duration::milliseconds(self.rng.gen_range(500..4000));
        let id = self.uuid();
        let trunk_fqdn = format!("sbc{trunk}.{}", self.cfg.domain);
        self.dr_rows.push(json!({
            "id": id,
            "correlationId": record_id,
            "userId": user.id,
            "userPrincipalName": user.upn,
            "userDisplayName": user.name,
            "startDateTime": ts(start),
            "inviteDateTime": ts(invite),
            "failureDateTime": "0001-01-01T00:00:00Z",
            "endDateTime": ts(end),
            "duration": (end - start).num_seconds().max(0),
            "callType": if outbound { "dr_out" } else { "dr_in" },
            "successfulCall": true,
            "callerNumber": caller,
            "calleeNumber": callee,
            "mediaPathLocation": media_dc,
            "signalingLocation": signaling,
            "finalSipCode": 0,
            "callEndSubReason": 540000,
            "finalSipCodePhrase": "BYE",
            "trunkFullyQualifiedDomainName": trunk_fqdn,
            "mediaBypassEnabled": trunk == 2,
            "userCountryCode": home.code,
            "otherPartyCountryCode": other.code,
        }));
        if self.chance(0.15) {
            // A retry shortly before the call that went through.
            let invite = start - Duration::seconds(self.rng.gen_range(60..900));
            let failure = self.pick(DR_FAILURES);
            let trunk_fqdn = format!("sbc{trunk}.{}", self.cfg.domain);
            self.failed_dr_attempt(
                user,
                (number, outbound, other_country),
                invite,
                &trunk_fqdn,
                failure,
            );
        }
    }

    /// A failed direct-routing attempt's row (it has no call record); returns its id.
    pub(super) fn failed_dr_attempt(
        &mut self,
        user: &Person,
        (number, outbound, other_country): (&str, bool, usize),
        invite: DateTime<Utc>,
        trunk_fqdn: &str,
        (code, sub, phrase): (i64, i64, &str),
    ) -> String {
        let home = country_at(user.country);
        let other = country_at(other_country);
        let failure = invite + Duration::milliseconds(self.rng.gen_range(800..30_000));
        let masked = mask(number, 3);
        let (caller, callee) = if outbound {
            (user.phone.clone(), masked)
        } else {
            (masked, user.phone.clone())
        };
        let id = self.uuid();
        let correlation = self.uuid();
        let signaling = self.pick(DATACENTERS);
        self.dr_rows.push(json!({
            "id": &id,
            "correlationId": correlation,
            "userId": user.id,
            "userPrincipalName": user.upn,
            "userDisplayName": user.name,
            "startDateTime": ts(invite),
            "inviteDateTime": ts(invite),
            "failureDateTime": ts(failure),
            "endDateTime": null,
            "duration": 0,
            "callType": if outbound { "dr_out" } else { "dr_in" },
            "successfulCall": false,
            "callerNumber": caller,
            "calleeNumber": callee,
            "mediaPathLocation": null,
            "signalingLocation": signaling,
            "finalSipCode": code,
            "callEndSubReason": sub,
            "finalSipCodePhrase": phrase,
            "trunkFullyQualifiedDomainName": trunk_fqdn,
            "mediaBypassEnabled": trunk_fqdn.starts_with("sbc2."),
            "userCountryCode": home.code,
            "otherPartyCountryCode": other.code,
        }));
        id
    }

    /// Audio-conferencing rows of a meeting's phone participant, charged to the organizer.
    pub(super) fn conference_pstn_rows(
        &mut self,
        organizer: &Person,
        number: &str,
        dial_out: bool,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        let home = country_at(organizer.country);
        let secs = (end - start).num_seconds().max(0);
        let cents = if dial_out {
            (secs as u64).div_ceil(60) * 2
        } else {
            0
        };
        let id = self.uuid();
        let call_id = self.call_id();
        let conference_id = self.rng.gen_range(100_000_000u64..999_999_999).to_string();
        let bridge = format!("{}{}", home.dial, self.digits(home.local_digits + 2));
        let (caller, callee) = if dial_out {
            (bridge, number.to_string())
        } else {
            (number.to_string(), bridge)
        };
        self.pstn_rows.push(json!({
            "id": id,
            "callId": call_id,
            "userId": organizer.id,
            "userPrincipalName": organizer.upn,
            "userDisplayName": organizer.name,
            "startDateTime": ts(start),
            "endDateTime": ts(end),
            "duration": secs,
            "charge": money(cents),
            "callType": if dial_out { "conf_out" } else { "conf_in" },
            "currency": home.currency,
            "calleeNumber": callee,
            "callerNumber": caller,
            "usageCountryCode": home.code,
            "tenantCountryCode": "US",
            "connectionCharge": money(0),
            "destinationContext": if dial_out { json!("Domestic") } else { Value::Null },
            "destinationName": home.name,
            "conferenceId": conference_id,
            "licenseCapability": "MCOMEETADD",
            "inventoryType": "Service",
            "operator": "Microsoft",
            "callDurationSource": "microsoft",
        }));
        if dial_out {
            self.dialout_rows.push(json!({
                "userId": organizer.id,
                "userPrincipalName": organizer.upn,
                "userDisplayName": organizer.name,
                "usageLocation": home.code,
                "destinationContext": "Domestic",
                "currency": home.currency,
                "totalCalls": 1,
                "totalCallSeconds": secs,
                "totalCallCharge": money(cents),
                "usageDateTime": ts(start),
            }));
        }
    }

    pub(super) fn make_sms_rows(&mut self) {
        let count = self.cfg.calls / 25;
        let now = self.cfg.now;
        let window = i64::from(self.cfg.days.max(1)) * 86_400;
        for _ in 0..count {
            let u = self.rng.gen_range(0..self.users.len().max(1));
            let Some(user) = self.users.get(u).cloned() else {
                return;
            };
            let sent = now - Duration::seconds(self.rng.gen_range(60..window.max(61)));
            let outbound = self.chance(0.55);
            let other_country = if self.chance(0.1) {
                (user.country + 1) % COUNTRIES.len()
            } else {
                user.country
            };
            let domestic = other_country == user.country;
            let number = self.phone_number(other_country);
            // Some countries only show part of an external number.
            let external = if other_country == 1 || other_country == 2 {
                mask(&number, 4)
            } else {
                number
            };
            let (source, destination) = if outbound {
                (user.phone.clone(), external)
            } else {
                (external, user.phone.clone())
            };
            let units = self.weighted(&[(1, 85), (2, 12), (3, 3)]);
            let charge = if outbound {
                let per_unit = if domestic { 0.0075 } else { 0.05 };
                num(per_unit * f64::from(units), 4)
            } else {
                json!(0)
            };
            let home = country_at(user.country);
            let id = self.uuid();
            let sms_id = self.uuid();
            self.sms_rows.push(json!({
                "id": id,
                "smsId": sms_id,
                "sentDateTime": ts(sent),
                "smsType": if outbound { "sms_out" } else { "sms_in" },
                "smsUnits": units,
                "sourceNumber": source,
                "destinationNumber": destination,
                "destinationContext": if domestic { "Domestic" } else { "International" },
                "destinationName": country_at(other_country).name,
                "callCharge": charge,
                "currency": home.currency,
                "licenseCapability": "MCOSMS1",
                "tenantCountryCode": "US",
                "userCountryCode": home.code,
                "otherPartyCountryCode": country_at(other_country).code,
                "userId": user.id,
                "userPrincipalName": user.upn,
                "userDisplayName": user.name,
            }));
        }
    }

    pub(super) fn make_blocked_users(&mut self) {
        let count = (self.users.len() / 50).clamp(1, 10);
        let now = self.cfg.now;
        let window = i64::from(self.cfg.days.max(1)) * 86_400;
        let mut chosen: Vec<usize> = Vec::new();
        for _ in 0..count {
            let u = self.rng.gen_range(0..self.users.len().max(1));
            if chosen.contains(&u) {
                continue;
            }
            chosen.push(u);
            let Some(user) = self.users.get(u).cloned() else {
                return;
            };
            let blocked_at = now - Duration::seconds(self.rng.gen_range(3600..window.max(3601)));
            let reason = self.pick(&["High Overall Usage", "Tenant Requested"]);
            let remediation = self.uuid();
            self.blocked_rows.push(json!({
                "blockDateTime": ts(blocked_at),
                "blockReason": reason,
                "remediationId": remediation,
                "userBlockMode": "blocked",
                "userDisplayName": user.name,
                "userId": user.id,
                "userPrincipalName": user.upn,
                "userTelephoneNumber": user.phone,
            }));
            let unblock_at = blocked_at + Duration::seconds(self.rng.gen_range(1800..86_400));
            if self.chance(0.5) && unblock_at < now {
                let remediation = self.uuid();
                self.blocked_rows.push(json!({
                    "blockDateTime": ts(unblock_at),
                    "blockReason": reason,
                    "remediationId": remediation,
                    "userBlockMode": "unblocked",
                    "userDisplayName": user.name,
                    "userId": user.id,
                    "userPrincipalName": user.upn,
                    "userTelephoneNumber": user.phone,
                }));
            }
        }
    }
}

/// Replaces the last `n` digits with `*`, as the reports do for some external numbers.
fn mask(number: &str, n: usize) -> String {
    let keep = number.chars().count().saturating_sub(n);
    number
        .chars()
        .enumerate()
        .map(|(i, c)| if i < keep { c } else { '*' })
        .collect()
}
