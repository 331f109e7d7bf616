//! The JSON bodies callhook POSTs: change notifications and lifecycle notifications, wrapped in
//! a `changeNotificationCollection` (`{"value":[…]}`).

use serde_json::{json, Map, Value};

use callhook_store::{NotificationKind, OutboxRow, SubscriptionRow};

/// Graph writes `subscriptionExpirationDateTime` with an offset, e.g. `2023-02-28T00:00:00.000+00:00`.
fn expiration(sub: &SubscriptionRow) -> String {
    sub.expiration
        .format("%Y-%m-%dT%H:%M:%S%.7f+00:00")
        .to_string()
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
