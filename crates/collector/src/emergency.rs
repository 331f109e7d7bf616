//! Emergency call events: one beta subscription per emergency policy to
//! `communications/calls/getEmergencyEventsByPolicy(policyName='…')` (rich notifications only,
//! at most one day long), the collector's own RSA key and self-signed certificate for them
//! (kept in `collector_state`, so every restart and every node decrypts with the same key), and
//! the receipt: validation tokens checked, content decrypted, the event stored in
//! `emergency_events` before the 202, then handed to the observer (the alerts) at once.

use std::sync::Arc;

use axum::http::StatusCode;
use base64::Engine as _;
use callhook_client::{ChangeNotificationCollection, DecryptionKeys, TokenValidator};
use reqwest::Method;
use serde_json::{json, Value};

use crate::collector::Collector;
use crate::error::{CollectError, Result};
use crate::graph::Answer;
use crate::store::SubscriptionRow;

/// Graph's longest lifetime of an emergency-events subscription: one day.
pub const MAX_LIFETIME_MINUTES: i64 = 1440;
/// The `encryptionCertificateId` of the collector's certificate.
pub const CERTIFICATE_ID: &str = "callhook-collector";
const PREFIX: &str = "communications/calls/getEmergencyEventsByPolicy(";

/// The subscription resource of `policy` (the name as an OData string literal, `'` doubled,
/// spaces and other characters a path cannot carry percent-encoded, as Graph echoes it).
pub fn resource(policy: &str) -> String {
    let quoted = policy.replace('\'', "''");
    let encoded =
        percent_encoding::utf8_percent_encode(&quoted, percent_encoding::NON_ALPHANUMERIC);
    format!("{PREFIX}policyName='{encoded}')")
}

pub fn is_emergency(resource: &str) -> bool {
    resource.starts_with(PREFIX)
}

/// What the collector needs to receive emergency events.
pub struct Receiver {
    pub policies: Vec<String>,
    /// Base64 DER of the self-signed certificate sent with each subscription.
    pub certificate: String,
    keys: DecryptionKeys,
    validator: std::sync::Mutex<Option<Arc<TokenValidator>>>,
}

impl Receiver {
    /// Loads the tenant's key and certificate from the store, creating them the first time.
    pub async fn load(
        c: &crate::store::Store,
        tenant: &str,
        policies: Vec<String>,
    ) -> Result<Self> {
        let key = c.state(tenant, "emergency:key").await?;
        let cert = c.state(tenant, "emergency:certificate").await?;
        let (key, cert) = match (key, cert) {
            (Some(k), Some(c)) => (k, c),
            _ => {
                let bad = |e: rcgen::Error| {
                    CollectError::Other(format!("creating the encryption key: {e}"))
                };
                let pair = rcgen::KeyPair::generate_rsa_for(
                    &rcgen::PKCS_RSA_SHA256,
                    rcgen::RsaKeySize::_2048,
                )
                .map_err(bad)?;
                let der = rcgen::CertificateParams::new(vec!["callhook-collector".to_string()])
                    .map_err(bad)?
                    .self_signed(&pair)
                    .map_err(bad)?;
                let cert = base64::engine::general_purpose::STANDARD.encode(der.der());
                let key = pair.serialize_pem();
                c.set_state(tenant, "emergency:key", &key).await?;
                c.set_state(tenant, "emergency:certificate", &cert).await?;
                (key, cert)
            }
        };
        let keys = DecryptionKeys::new()
            .with_key(CERTIFICATE_ID, key.as_bytes())
            .map_err(|e| CollectError::Other(format!("the stored encryption key: {e}")))?;
        Ok(Self {
            policies,
            certificate: cert,
            keys,
            validator: std::sync::Mutex::new(None),
        })
    }

    /// The validator of Graph's validation tokens (the authority's signing keys; fetched again
    /// when a token does not verify, since Entra rotates keys).
    async fn validator(&self, c: &Collector, fresh: bool) -> Result<Arc<TokenValidator>> {
        if !fresh {
            if let Some(v) = self.validator.lock().ok().and_then(|v| v.clone()) {
                return Ok(v);
            }
        }
        let url = format!(
            "{}/common/discovery/keys",
            c.options.source.authority.trim_end_matches('/')
        );
        let jwks = c
            .graph
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| CollectError::Other(format!("GET {url}: {e}")))?
            .text()
            .await
            .map_err(|e| CollectError::Other(format!("GET {url}: {e}")))?;
        let v = Arc::new(
            TokenValidator::for_entra(&jwks, &[c.options.source.client_id.as_str()])
                .map_err(|e| CollectError::Other(format!("signing keys at {url}: {e}")))?,
        );
        if let Ok(mut slot) = self.validator.lock() {
            *slot = Some(v.clone());
        }
        Ok(v)
    }
}

/// Creates the emergency subscription of `policy` (beta, rich) and stores it.
pub async fn create(c: &Arc<Collector>, r: &Receiver, policy: &str) -> Result<SubscriptionRow> {
    crate::webhook::create_subscription(
        c,
        &resource(policy),
        "updated",
        "beta",
        MAX_LIFETIME_MINUTES,
        json!({
            "includeResourceData": true,
            "encryptionCertificate": r.certificate,
            "encryptionCertificateId": CERTIFICATE_ID,
        }),
    )
    .await
}

/// Makes sure every configured policy has a live subscription.
pub async fn ensure(c: &Arc<Collector>) -> Result<()> {
    let Some(r) = c.emergency.as_ref() else {
        return Ok(());
    };
    let subs = c.store.subscriptions().await?;
    for policy in &r.policies {
        let res = resource(policy);
        let mut alive = false;
        for sub in subs
            .iter()
            .filter(|s| s.tenant_id == c.tenant_id() && s.resource == res)
        {
            let known = match &sub.subscription_id {
                Some(id) if !alive => matches!(
                    c.graph
                        .send(Method::GET, &format!("/beta/subscriptions/{id}"), None)
                        .await?,
                    Answer::Json(_)
                ),
                _ => false,
            };
            if known {
                alive = true;
            } else {
                c.store.delete_subscription(&sub.client_state).await?;
            }
        }
        if !alive {
            create(c, r, policy).await?;
        }
    }
    Ok(())
}

/// The policy of an emergency subscription's resource, for recreating it.
pub fn policy_of(c: &Collector, resource: &str) -> Option<String> {
    c.emergency
        .as_ref()?
        .policies
        .iter()
        .find(|p| self::resource(p) == resource)
        .cloned()
}

/// A delivery with resource data: only the collector's emergency subscriptions have it. Tokens
/// checked, each item's subscription and clientState checked, content decrypted and stored
/// before the answer.
pub async fn receive(
    c: &Arc<Collector>,
    delivery: &ChangeNotificationCollection,
) -> std::result::Result<(), (StatusCode, &'static str)> {
    let Some(r) = c.emergency.as_ref() else {
        return Err((StatusCode::BAD_REQUEST, "unexpected resource data"));
    };
    let now = callhook_client::unix_now();
    let valid = match r.validator(c, false).await {
        Ok(v) if v.validate_collection(delivery, now).is_ok() => true,
        Ok(_) => match r.validator(c, true).await {
            Ok(v) => v.validate_collection(delivery, now).is_ok(),
            Err(_) => false,
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot read the authority's signing keys");
            return Err((StatusCode::SERVICE_UNAVAILABLE, "signing keys unavailable"));
        }
    };
    if !valid {
        return Err((StatusCode::UNAUTHORIZED, "validation tokens do not verify"));
    }
    let subs = c
        .store
        .subscriptions()
        .await
        .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))?;
    let mut events: Vec<Value> = Vec::new();
    for n in &delivery.value {
        let sub = subs
            .iter()
            .find(|s| s.subscription_id.as_deref() == Some(n.subscription_id.as_str()))
            .filter(|s| is_emergency(&s.resource) && s.tenant_id == c.tenant_id())
            .ok_or((StatusCode::FORBIDDEN, "unknown subscription"))?;
        n.verify_client_state(&sub.client_state)
            .map_err(|_| (StatusCode::FORBIDDEN, "clientState does not match"))?;
        let content = n.encrypted_content.as_ref().ok_or((
            StatusCode::BAD_REQUEST,
            "an emergency notification without content",
        ))?;
        let event = r
            .keys
            .decrypt_json(content)
            .map_err(|_| (StatusCode::BAD_REQUEST, "undecryptable content"))?;
        events.push(event);
    }
    for event in &events {
        let inner = event.get("emergencyCallEvent").unwrap_or(event);
        let id = inner["id"].as_str().unwrap_or_default();
        if id.is_empty() {
            return Err((StatusCode::BAD_REQUEST, "an emergency event without id"));
        }
        c.store
            .put_emergency_event(c.tenant_id(), id, event)
            .await
            .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "store unavailable"))?;
    }
    if let Some(o) = c.observer.get() {
        for event in &events {
            o.emergency_event(c.tenant_id(), event);
        }
    }
    Ok(())
}
