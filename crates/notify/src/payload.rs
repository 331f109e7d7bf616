//! The JSON bodies callhook POSTs: change notifications and lifecycle notifications, wrapped in
//! a `changeNotificationCollection` (`{"value":[…]}`).

use serde_json::{json, Map, Value};

use callhook_store::{NotificationKind, OutboxRow, SubscriptionRow};

/// Graph writes `subscriptionExpirationDateTime` with an offset, e.g. `2023-02-28T00:00:00.000+00:00`.
fn expiration(sub: &SubscriptionRow) -> String {
    // Seven fractional digits (.NET ticks); chrono's format has no 7-digit specifier.
    let t = sub.expiration;
    let ticks = t.timestamp_subsec_nanos() % 1_000_000_000 / 100;
    format!("{}.{ticks:07}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// One item of the collection for `row` of `sub`.
pub fn item(row: &OutboxRow, sub: &SubscriptionRow) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(row.id.clone()));
    m.insert("subscriptionId".into(), Value::String(sub.id.clone()));
    m.insert(
        "subscriptionExpirationDateTime".into(),
        Value::String(expiration(sub)),
    );
    m.insert(
        "clientState".into(),
        sub.client_state.clone().map_or(Value::Null, Value::String),
    );
    match row.kind {
        NotificationKind::Change => {
            let rid = row.resource_id.clone().unwrap_or_default();
            let resource = format!("communications/callRecords/{rid}");
            m.insert("changeType".into(), Value::String(row.event.clone()));
            m.insert("resource".into(), Value::String(resource.clone()));
            m.insert(
                "resourceData".into(),
                json!({ "@odata.type": "#Microsoft.Graph.callRecord", "@odata.id": resource, "id": rid }),
            );
        }
        NotificationKind::Lifecycle => {
            m.insert("lifecycleEvent".into(), Value::String(row.event.clone()));
        }
    }
    m.insert("tenantId".into(), Value::String(sub.tenant_id.clone()));
    Value::Object(m)
}

/// The POST body for a batch.
pub fn collection(items: Vec<Value>) -> Value {
    json!({ "value": items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub_expiring(at: &str) -> SubscriptionRow {
        SubscriptionRow {
            id: "s".into(),
            tenant_id: "t".into(),
            app_id: "a".into(),
            resource_kind: "callRecords".into(),
            resource: "communications/callRecords".into(),
            change_type: "created".into(),
            notify_created: true,
            notify_updated: false,
            participant_filter: vec![],
            notification_url: "https://x/".into(),
            lifecycle_url: None,
            client_state: None,
            expiration: chrono::DateTime::parse_from_rfc3339(at).unwrap().into(),
            authorized_until: chrono::Utc::now(),
            body: "{}".into(),
        }
    }

    #[test]
    fn expiration_has_seven_fractional_digits_and_an_offset() {
        assert_eq!(
            expiration(&sub_expiring("2023-02-28T00:00:00.1234567Z")),
            "2023-02-28T00:00:00.1234567+00:00"
        );
        assert_eq!(
            expiration(&sub_expiring("2023-02-28T00:00:00Z")),
            "2023-02-28T00:00:00.0000000+00:00"
        );
    }
}
