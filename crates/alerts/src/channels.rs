//! The channels: a generic webhook (the alert as JSON), a Teams Workflows webhook (a `message`
//! envelope whose attachment is an Adaptive Card 1.4) and the log. A channel "accepted" an
//! alert when it answered 2xx; anything else is retried by the delivery loop.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{ChannelConfig, ChannelKind};
use crate::outbox::Alert;

/// Content type of an Adaptive Card attachment in a Teams message.
pub const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// The body a Teams Workflows webhook ("Post to a channel when a webhook request is received")
/// expects: `{"type": "message", "attachments": [{"contentType": …adaptive, "content": card}]}`.
pub fn teams_message(alert: &Alert) -> Value {
    let color = match alert.severity.as_str() {
        "critical" => "Attention",
        "warning" => "Warning",
        _ => "Default",
    };
    let mut facts: Vec<Value> = alert
        .facts
        .iter()
        .map(|(k, v)| json!({"title": k, "value": v}))
        .collect();
    facts.push(json!({"title": "Rule", "value": alert.rule_name}));
    facts.push(json!({"title": "Raised", "value": alert.alert_raised_at.to_rfc3339()}));
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": alert.alert_title, "weight": "Bolder", "size": "Medium",
             "color": color, "wrap": true},
            {"type": "TextBlock", "text": alert.summary, "wrap": true},
            {"type": "FactSet", "facts": facts},
        ],
    });
    json!({
        "type": "message",
        "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": null, "content": card}],
    })
}

/// Sends one alert to one channel; `Err` carries why it was not accepted.
pub async fn send(
    http: &reqwest::Client,
    channel: &ChannelConfig,
    alert: &Alert,
) -> Result<(), String> {
    let body = match channel.kind {
        ChannelKind::Log => {
            tracing::warn!(
                alert = %alert.alert_id,
                rule = %alert.rule_name,
                severity = %alert.severity,
                scope = %alert.scope,
                late = alert.late,
                "ALERT {}: {}",
                alert.alert_title,
                alert.summary
            );
            return Ok(());
        }
        ChannelKind::Webhook => serde_json::to_value(alert).map_err(|e| e.to_string())?,
        ChannelKind::Teams => teams_message(alert),
    };
    let url = channel
        .url
        .as_deref()
        .ok_or_else(|| format!("channel '{}' has no url", channel.name))?;
    let answer = http
        .post(url)
        .timeout(Duration::from_secs(15))
        .json(&body)
        .send()
        .await
        // The URL carries the Workflows `sig=` secret: keep it out of errors and logs.
        .map_err(|e| format!("POST failed: {}", e.without_url()))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}
