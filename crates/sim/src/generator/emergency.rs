//! Emergency calls: the tenant's emergency policy, and for each emergency call a user's outbound
//! PSTN or direct-routing call to the emergency number of their country, its report row
//! (`emergency_out` / `dr_emergency_out`) and its `emergencyCallEvent` (`callStarted` at the
//! call's start, the caller's number, UPN and office location), so that the three agree.

use rand::Rng;
use serde_json::{json, Value};

use super::draft::{ts, Draft};
use super::{country_at, Gen};

/// The policy the simulated tenant's emergency calls fall under (Teams' default policy name).
pub const POLICY_NAME: &str = "Global";

/// Emergency numbers by country code; `112` elsewhere.
const NUMBERS: &[(&str, &str)] = &[("US", "911"), ("GB", "999"), ("AU", "000")];

/// An office per country code (street, city, state, postal code, latitude, longitude); the
/// first is the fallback.
const OFFICES: &[(&str, [&str; 6])] = &[
    (
        "US",
        [
            "Microsoft Way",
            "Redmond",
            "WA",
            "98052",
            "47.6397",
            "-122.1283",
        ],
    ),
    (
        "GB",
        [
            "Thames Valley Park",
            "Reading",
            "Berkshire",
            "RG6 1WG",
            "51.4613",
            "-0.9259",
        ],
    ),
    (
        "DE",
        [
            "Walter-Gropius-Strasse",
            "Munich",
            "Bavaria",
            "80807",
            "48.1766",
            "11.5876",
        ],
    ),
];

/// The number a caller in the country `code` dials.
fn number_for(code: &str) -> &'static str {
    NUMBERS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("112", |(_, n)| n)
}

/// The tenant's emergency policy in the ingest shape: every number the simulation dials.
pub fn policy() -> Value {
    let mut dial: Vec<&str> = NUMBERS.iter().map(|(_, n)| *n).collect();
    dial.push("112");
    json!({
        "name": POLICY_NAME,
        "dialStrings": dial,
        "description": "Emergency calling policy of the simulated tenant",
    })
}

impl Gen<'_> {
    /// One emergency call: its call record's draft; its report row and its event are kept.
    pub(super) fn make_emergency_call(&mut self) -> Draft {
        let u = self.pick_user(&[], false);
        let user = self.user(u);
        let country = country_at(user.country);
        let dialled = number_for(country.code);
        let direct_routing = self.chance(0.5);
        let id = self.uuid();
        let mut d = self.pstn_call(id, direct_routing, Some((u, dialled)));
        self.finish(&mut d);
        let event_id = self.uuid();
        let [street, city, state, postal, lat, lon] = OFFICES
            .iter()
            .find(|(c, _)| *c == country.code)
            .or(OFFICES.first())
            .map(|(_, o)| *o)
            .unwrap_or_default();
        let company = self
            .cfg
            .domain
            .split('.')
            .next()
            .map(capitalized)
            .unwrap_or_default();
        let floor = self.rng.gen_range(1..=12u8);
        self.emergency_events.push(json!({
            "id": event_id,
            "callEventType": "callStarted",
            "policyName": POLICY_NAME,
            "eventDateTime": ts(d.start),
            "emergencyNumberDialed": dialled,
            "callerInfo": {
                "displayName": user.name,
                "upn": user.upn,
                "phoneNumber": user.phone,
                "tenantId": user.tenant,
                "location": {
                    "address": {
                        "street": street,
                        "city": city,
                        "state": state,
                        "countryOrRegion": country.name,
                        "postalCode": postal,
                        "additionalData": {
                            "companyName": company,
                            "additionalInfo": format!("Floor {floor}"),
                            "houseNumber": "1",
                            "county": null,
                            "streetSuffix": null,
                        }
                    },
                    "coordinates": { "latitude": lat, "longitude": lon }
                }
            }
        }));
        d
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_holds_every_number_dialled() {
        let p = policy();
        let dial: Vec<&str> = p["dialStrings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for code in ["US", "GB", "AU", "DE", "FR", "IN", "BR"] {
            assert!(dial.contains(&number_for(code)), "{code}");
        }
        assert_eq!(capitalized("contoso"), "Contoso");
    }
}
