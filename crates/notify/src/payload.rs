//! The JSON bodies callhook POSTs: change notifications and lifecycle notifications, wrapped in
//! a `changeNotificationCollection` (`{"value":[…]}`), with the resource data of rich
//! notifications encrypted for the subscription's certificate.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};

use callhook_crypto::EncryptionCertificate;
use callhook_store::{NotificationKind, OutboxRow, SubscriptionRow};

/// Graph's publisher of change notifications (`azp` of validation tokens).
pub use callhook_crypto::GRAPH_CHANGE_TRACKING_APP_ID;

/// What a join URL keeps unescaped inside `joinWebUrl='…'` (Graph escapes everything else).
const JOIN_URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A notification rendered from its outbox `subject` (artifacts and call events).
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub resource: String,
    pub resource_data: Value,
    /// The resource data a rich notification encrypts.
    pub content: Value,
    /// Meeting call events also carry `organizationId` (= the tenant).
    pub organization_id: bool,
}

/// Renders a subject written by the store (see `callhook_store::matching`). `base_url` is
/// callhook's own, for the content URLs of transcripts and recordings.
pub fn render(subject: &str, base_url: &str) -> Option<Rendered> {
    let s: Value = serde_json::from_str(subject).ok()?;
    let text = |name: &str| s.get(name).and_then(Value::as_str).unwrap_or_default();
    let id = text("id");
    let mut content = match s.get("body") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    match text("type") {
        kind @ ("callTranscript" | "callRecording") => {
            let (org, parent_id) = (text("organizerId"), text("parentId"));
            let (collection, url_property) = if kind == "callTranscript" {
                ("transcripts", "transcriptContentUrl")
            } else {
                ("recordings", "recordingContentUrl")
            };
            let (resource, content_path) = if text("parent") == "adhocCall" {
                (
                    format!("users/{org}/adhoccalls/{parent_id}/{collection}('{id}')"),
                    format!("users/{org}/adhocCalls/{parent_id}/{collection}/{id}/content"),
                )
            } else {
                (
                    format!("users/{org}/onlineMeetings('{parent_id}')/{collection}('{id}')"),
                    format!("users/{org}/onlineMeetings/{parent_id}/{collection}/{id}/content"),
                )
            };
            content.insert(
                url_property.into(),
                Value::String(format!(
                    "{}/v1.0/{content_path}",
                    base_url.trim_end_matches('/')
                )),
            );
            let resource_data = json!({
                "id": id,
                "@odata.type": format!("#Microsoft.Graph.{kind}"),
                "@odata.id": resource,
            });
            Some(Rendered {
                resource,
                resource_data,
                content: Value::Object(content),
                organization_id: false,
            })
        }
        "userCallEvent" => {
            let user = text("userId");
            let feed = format!("/users/{user}/communications/callEvents");
            let resource = format!("users/{user}/communications/callEvents/{id}");
            let event_type = content.get("callEventType").cloned().unwrap_or(Value::Null);
            let mut out = Map::new();
            out.insert("@odata.type".into(), json!("#Microsoft.Graph.CallEvent"));
            out.insert("@odata.id".into(), json!(feed));
            out.insert("id".into(), json!(id));
            out.insert("eventType".into(), event_type);
            for name in ["direction", "joinCallUrl", "callId"] {
                out.insert(
                    name.into(),
                    content.get(name).cloned().unwrap_or(Value::Null),
                );
            }
            Some(Rendered {
                resource_data: json!({
                    "@odata.type": "microsoft.graph.callEvent",
                    "@odata.id": format!("{feed}/{id}"),
                    "id": id,
                }),
                resource,
                content: Value::Object(out),
                organization_id: false,
            })
        }
        "meetingCallEvent" => {
            let join = utf8_percent_encode(text("joinWebUrl"), JOIN_URL_KEEP).to_string();
            let resource =
                format!("communications/onlineMeetings(joinWebUrl='{join}')/meetingCallEvents");
            let mut out = Map::new();
            out.insert("@odata.type".into(), json!("#microsoft.graph.callevent"));
            out.insert("@odata.id".into(), json!(resource));
            out.insert("id".into(), json!(id));
            out.insert(
                "eventType".into(),
                content.get("callEventType").cloned().unwrap_or(Value::Null),
            );
            out.insert(
                "eventDateTime".into(),
                content.get("eventDateTime").cloned().unwrap_or(Value::Null),
            );
            if content.get("callEventType").and_then(Value::as_str) == Some("rosterUpdated") {
                out.insert(
                    "participants@delta".into(),
                    content.get("participants").cloned().unwrap_or(json!([])),
                );
            }
            Some(Rendered {
                resource_data: json!({
                    "@odata.id": resource,
                    "@odata.type": "#microsoft.graph.callevent",
                    "id": id,
                }),
                resource,
                content: Value::Object(out),
                organization_id: true,
            })
        }
        "emergencyCallEvent" => {
            // Graph names the feed, not the event, in `resource` and `@odata.id`; the event
            // itself travels whole under `emergencyCallEvent`.
            let resource = crate::rules::emergency_resource(text("policyName"));
            let resource_data = json!({
                "@odata.id": resource,
                "@odata.type": "#microsoft.graph.emergencyCallEvent",
                "id": id,
            });
            let mut out = match resource_data.clone() {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            out.insert("emergencyCallEvent".into(), Value::Object(content));
            Some(Rendered {
                resource,
                resource_data,
                content: Value::Object(out),
                organization_id: true,
            })
        }
        _ => None,
    }
}

/// Graph writes `subscriptionExpirationDateTime` with an offset, e.g. `2023-02-28T00:00:00.000+00:00`.
fn expiration(sub: &SubscriptionRow) -> String {
    // Seven fractional digits (.NET ticks); chrono's format has no 7-digit specifier.
    let t = sub.expiration;
    let ticks = t.timestamp_subsec_nanos() % 1_000_000_000 / 100;
    format!("{}.{ticks:07}+00:00", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// One item of the collection for `row` of `sub`; with `certificate` (a rich subscription's,
/// parsed), the resource data goes in `encryptedContent`, under a fresh key.
pub fn item(
    row: &OutboxRow,
    sub: &SubscriptionRow,
    base_url: &str,
    certificate: Option<&EncryptionCertificate>,
) -> Result<Value, callhook_crypto::CryptoError> {
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
        NotificationKind::Change if row.subject.is_some() => {
            let rendered = row.subject.as_deref().and_then(|s| render(s, base_url));
            if let Some(r) = rendered {
                m.insert("changeType".into(), Value::String(row.event.clone()));
                m.insert("resource".into(), Value::String(r.resource.clone()));
                m.insert("resourceData".into(), r.resource_data);
                if r.organization_id {
                    m.insert(
                        "organizationId".into(),
                        Value::String(sub.tenant_id.clone()),
                    );
                }
                if let (Some(cert), Some(settings)) = (certificate, &sub.encryption) {
                    let plaintext = serde_json::to_vec(&r.content).unwrap_or_default();
                    let encrypted = callhook_crypto::encrypt_resource_data(
                        cert,
                        &settings.certificate_id,
                        &plaintext,
                    )?;
                    m.insert(
                        "encryptedContent".into(),
                        serde_json::to_value(encrypted).unwrap_or(Value::Null),
                    );
                }
            }
        }
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
    Ok(Value::Object(m))
}

/// The POST body for a batch; `validation_tokens` when any item carries resource data.
pub fn collection(items: Vec<Value>, validation_tokens: Vec<String>) -> Value {
    if validation_tokens.is_empty() {
        json!({ "value": items })
    } else {
        json!({ "value": items, "validationTokens": validation_tokens })
    }
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
            scope: None,
            created: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            encryption: None,
            notification_url_app_id: None,
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

    #[test]
    fn an_emergency_event_names_its_policy_feed_and_carries_the_event_whole() {
        let event = callhook_store::matching::CallEventEvent {
            id: "11111111-0000-0000-0000-000000000000",
            user_id: None,
            join_web_url: None,
            policy_name: Some("Emergency Policy"),
            body: r#"{"id":"11111111-0000-0000-0000-000000000000","callEventType":"callStarted","policyName":"Emergency Policy","emergencyNumberDialed":"911"}"#,
        };
        let subject = event.subject(callhook_store::matching::kind::EMERGENCY_CALL_EVENTS);
        let r = render(&subject, "https://callhook.example").expect("rendered");
        let feed =
            "communications/calls/getEmergencyEventsByPolicy(policyName='Emergency%20Policy')";
        assert_eq!(r.resource, feed);
        assert_eq!(
            r.resource_data,
            json!({"@odata.id": feed, "@odata.type": "#microsoft.graph.emergencyCallEvent", "id": "11111111-0000-0000-0000-000000000000"})
        );
        assert!(r.organization_id);
        assert_eq!(r.content["@odata.id"], feed);
        assert_eq!(
            r.content["emergencyCallEvent"]["emergencyNumberDialed"],
            "911"
        );
        assert_eq!(
            r.content["emergencyCallEvent"]["callEventType"],
            "callStarted"
        );
    }
}
