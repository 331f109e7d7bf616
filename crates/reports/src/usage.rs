//! PSTN, direct-routing, SMS and emergency-call reports over the report-function rows and the
//! emergency call events the collector stored. Charges are summed per currency, never across.

use std::collections::BTreeMap;

use callhook_collector::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::sql::{fetch_all, with_pool, Sql};
use crate::{percent, Filters};

const USER: &str = "COALESCE(user_principal_name, user_display_name, user_id, '')";

/// What PSTN and SMS reports group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageBy {
    User,
    /// Usage country (`usageCountryCode`; SMS: `userCountryCode`).
    Country,
    /// Destination (`destinationName`).
    Destination,
    CallType,
    Day,
}

impl UsageBy {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "user" => Self::User,
            "country" => Self::Country,
            "destination" => Self::Destination,
            "call-type" | "type" => Self::CallType,
            "day" => Self::Day,
            _ => return None,
        })
    }
}

/// One PSTN group in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PstnRow {
    pub key: String,
    pub currency: String,
    pub calls: i64,
    pub minutes: f64,
    pub charge: f64,
    pub connection_charge: f64,
}

fn day_expr(store: &Store, column: &str) -> String {
    if store.is_postgres() {
        format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
    } else {
        format!("substr({column}, 1, 10)")
    }
}

/// PSTN minutes (`duration` ÷ 60) and charges by `by`, per currency.
pub async fn pstn(store: &Store, by: UsageBy, f: &Filters) -> anyhow::Result<Vec<PstnRow>> {
    let key = match by {
        UsageBy::User => USER.to_string(),
        UsageBy::Country => "COALESCE(usage_country_code, '')".into(),
        UsageBy::Destination => "COALESCE(destination_name, '')".into(),
        UsageBy::CallType => "COALESCE(call_type, '')".into(),
        UsageBy::Day => day_expr(store, "start_date_time"),
    };
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS k, COALESCE(currency, '') AS cur, COUNT(*) AS n, \
         CAST(COALESCE(SUM(duration), 0) AS BIGINT) AS secs, \
         CAST(COALESCE(SUM(charge), 0) AS DOUBLE PRECISION) AS charge, \
         CAST(COALESCE(SUM(connection_charge), 0) AS DOUBLE PRECISION) AS conn \
         FROM pstn_calls WHERE 1 = 1"
    ));
    sql.eq("tenant_id", &f.tenant);
    sql.range("start_date_time", f.from, f.to);
    sql.eq_any(
        &["user_principal_name", "user_display_name", "user_id"],
        &f.user,
    );
    sql.eq("usage_country_code", &f.country);
    sql.eq("call_type", &f.call_type);
    sql.push(" GROUP BY k, cur ORDER BY k, cur");
    with_pool!(&store.db, pool => {
        fetch_all!(sql, pool)?
            .iter()
            .map(|r| {
                Ok(PstnRow {
                    key: r.try_get(0)?,
                    currency: r.try_get(1)?,
                    calls: r.try_get(2)?,
                    minutes: r.try_get::<i64, _>(3)? as f64 / 60.0,
                    charge: r.try_get(4)?,
                    connection_charge: r.try_get(5)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    })
}

/// One direct-routing gateway (SBC).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayRow {
    pub gateway: String,
    pub attempts: i64,
    pub successful: i64,
    /// Successful ÷ attempts (Graph's `successfulCall`).
    pub success_percent: Option<f64>,
    /// Network Effectiveness Ratio: answered, busy, no answer and rejected count as delivered.
    pub ner_percent: Option<f64>,
    pub minutes: f64,
    /// Attempts per final SIP code, `code:count` joined by spaces.
    pub sip_codes: String,
}

/// SIP codes that count as delivered for the NER (answered 200; busy 486, 600; no answer 480,
/// 408, 487; rejected 603).
const DELIVERED: [i64; 7] = [200, 486, 600, 480, 408, 487, 603];

/// Direct-routing attempts, success ratio, NER and final SIP codes per gateway.
pub async fn direct_routing(store: &Store, f: &Filters) -> anyhow::Result<Vec<GatewayRow>> {
    let mut sql = Sql::new(
        "SELECT COALESCE(trunk_fully_qualified_domain_name, '') AS g, \
         COALESCE(final_sip_code, 0) AS code, COUNT(*) AS n, \
         CAST(COALESCE(SUM(CASE WHEN successful_call THEN 1 ELSE 0 END), 0) AS BIGINT) AS ok, \
         CAST(COALESCE(SUM(duration), 0) AS BIGINT) AS secs \
         FROM direct_routing_calls WHERE 1 = 1",
    );
    sql.eq("tenant_id", &f.tenant);
    sql.range("start_date_time", f.from, f.to);
    sql.eq_any(
        &["user_principal_name", "user_display_name", "user_id"],
        &f.user,
    );
    sql.eq("trunk_fully_qualified_domain_name", &f.gateway);
    sql.eq("call_type", &f.call_type);
    sql.push(" GROUP BY g, code ORDER BY g, code");
    let rows: Vec<(String, i64, i64, i64, i64)> = with_pool!(&store.db, pool => {
        fetch_all!(sql, pool)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?, r.try_get(4)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    let mut out: BTreeMap<String, (GatewayRow, i64, i64)> = BTreeMap::new();
    for (g, code, n, ok, secs) in rows {
        let e = out.entry(g.clone()).or_insert_with(|| {
            (
                GatewayRow {
                    gateway: g,
                    attempts: 0,
                    successful: 0,
                    success_percent: None,
                    ner_percent: None,
                    minutes: 0.0,
                    sip_codes: String::new(),
                },
                0,
                0,
            )
        });
        e.0.attempts += n;
        e.0.successful += ok;
        e.2 += secs;
        if DELIVERED.contains(&code) {
            e.1 += n;
        }
        let code = if code == 0 {
            "none".to_string()
        } else {
            code.to_string()
        };
        if !e.0.sip_codes.is_empty() {
            e.0.sip_codes.push(' ');
        }
        e.0.sip_codes.push_str(&format!("{code}:{n}"));
    }
    Ok(out
        .into_values()
        .map(|(mut r, delivered, secs)| {
            let total = r.attempts.max(0) as u64;
            r.success_percent = percent(r.successful.max(0) as u64, total);
            r.ner_percent = percent(delivered.max(0) as u64, total);
            r.minutes = secs as f64 / 60.0;
            r
        })
        .collect())
}

/// One SMS group in one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsRow {
    pub key: String,
    pub currency: String,
    pub messages: i64,
    pub units: i64,
    pub charge: f64,
}

/// SMS messages, units and charges by `by` (call type is `smsType`), per currency.
pub async fn sms(store: &Store, by: UsageBy, f: &Filters) -> anyhow::Result<Vec<SmsRow>> {
    let key = match by {
        UsageBy::User => USER.to_string(),
        UsageBy::Country => "COALESCE(user_country_code, '')".into(),
        UsageBy::Destination => "COALESCE(destination_name, '')".into(),
        UsageBy::CallType => "COALESCE(sms_type, '')".into(),
        UsageBy::Day => day_expr(store, "sent_date_time"),
    };
    let mut sql = Sql::new(&format!(
        "SELECT {key} AS k, COALESCE(currency, '') AS cur, COUNT(*) AS n, \
         CAST(COALESCE(SUM(sms_units), 0) AS BIGINT) AS units, \
         CAST(COALESCE(SUM(call_charge), 0) AS DOUBLE PRECISION) AS charge \
         FROM sms_log WHERE 1 = 1"
    ));
    sql.eq("tenant_id", &f.tenant);
    sql.range("sent_date_time", f.from, f.to);
    sql.eq_any(
        &["user_principal_name", "user_display_name", "user_id"],
        &f.user,
    );
    sql.eq("user_country_code", &f.country);
    sql.eq("sms_type", &f.call_type);
    sql.push(" GROUP BY k, cur ORDER BY k, cur");
    with_pool!(&store.db, pool => {
        fetch_all!(sql, pool)?
            .iter()
            .map(|r| {
                Ok(SmsRow {
                    key: r.try_get(0)?,
                    currency: r.try_get(1)?,
                    messages: r.try_get(2)?,
                    units: r.try_get(3)?,
                    charge: r.try_get(4)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    })
}

/// One emergency call, from the event feed (at once) or a report row (later).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyRow {
    pub time: Option<DateTime<Utc>>,
    /// `emergencyCallEvent`, `getDirectRoutingCalls` or `getPstnCalls`.
    pub source: String,
    pub user: String,
    pub number: String,
    pub caller_number: String,
    /// Policy (events), gateway (direct routing) or call type (PSTN).
    pub detail: String,
    pub location: String,
    pub id: String,
}

fn text(v: &Value, path: &str) -> String {
    v.pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Emergency calls in time order: the events of the emergency call feed, and the
/// direct-routing (`dr_emergency_out`) and PSTN (`emergency_out`) rows.
pub async fn emergency(store: &Store, f: &Filters) -> anyhow::Result<Vec<EmergencyRow>> {
    let mut out = Vec::new();
    let mut sql = Sql::new("SELECT id, received_at, event_json FROM emergency_events WHERE 1 = 1");
    sql.eq("tenant_id", &f.tenant);
    sql.range("received_at", f.from, f.to);
    let events: Vec<(String, DateTime<Utc>, String)> = with_pool!(&store.db, pool => {
        fetch_all!(sql, pool)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    for (id, received, json) in events {
        let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        let time = v
            .get("eventDateTime")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .or(Some(received));
        let user = text(&v, "/callerInfo/upn");
        if f.user
            .as_ref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(&user))
        {
            continue;
        }
        let city = text(&v, "/callerInfo/location/address/city");
        let country = text(&v, "/callerInfo/location/address/countryOrRegion");
        out.push(EmergencyRow {
            time,
            source: "emergencyCallEvent".into(),
            user,
            number: text(&v, "/emergencyNumberDialed"),
            caller_number: text(&v, "/callerInfo/phoneNumber"),
            detail: text(&v, "/policyName"),
            location: [city, country]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", "),
            id,
        });
    }
    for (table, source, detail, kind) in [
        (
            "direct_routing_calls",
            "getDirectRoutingCalls",
            "trunk_fully_qualified_domain_name",
            "dr_emergency_out",
        ),
        ("pstn_calls", "getPstnCalls", "call_type", "emergency_out"),
    ] {
        let mut sql = Sql::new(&format!(
            "SELECT id, start_date_time, {USER}, COALESCE(callee_number, ''), \
             COALESCE(caller_number, ''), COALESCE({detail}, '') FROM {table} WHERE 1 = 1"
        ));
        sql.eq("call_type", &Some(kind.to_string()));
        sql.eq("tenant_id", &f.tenant);
        sql.range("start_date_time", f.from, f.to);
        sql.eq_any(
            &["user_principal_name", "user_display_name", "user_id"],
            &f.user,
        );
        let rows: Vec<EmergencyRow> = with_pool!(&store.db, pool => {
            fetch_all!(sql, pool)?
                .iter()
                .map(|r| {
                    Ok(EmergencyRow {
                        id: r.try_get(0)?,
                        time: r.try_get(1)?,
                        source: source.into(),
                        user: r.try_get(2)?,
                        number: r.try_get(3)?,
                        caller_number: r.try_get(4)?,
                        detail: r.try_get(5)?,
                        location: String::new(),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        out.extend(rows);
    }
    out.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    Ok(out)
}
