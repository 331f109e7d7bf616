//! Typed change-notification payloads. Parsing is lenient where Graph's examples vary (casing of
//! `changeType`, optional members, timestamp formats) and keeps every member it does not know in
//! `extra`, so a new Graph field never makes a delivery fail.

use chrono::{DateTime, FixedOffset};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{ClientError, DecryptionKey};

/// A POST body: `{"value":[…], "validationTokens":[…]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotificationCollection {
    pub value: Vec<ChangeNotification>,
    /// One JWT per (app, tenant) pair of the batch; only sent when an item has resource data.
    /// `None` when absent or `null`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_tokens: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChangeNotificationCollection {
    /// Parses a delivery body.
    pub fn from_slice(body: &[u8]) -> Result<Self, ClientError> {
        parse(body)
    }

    /// Whether any item carries `encryptedContent` (a rich notification).
    pub fn has_encrypted_content(&self) -> bool {
        self.value.iter().any(|n| n.encrypted_content.is_some())
    }
}

/// One `changeNotification`: a change (with `changeType`) or a lifecycle event (with
/// `lifecycleEvent`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeNotification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    pub subscription_id: String,
    /// As sent: Graph's formats vary (`Z` or `+00:00`, 3 or 7 fractional digits); see
    /// [`ChangeNotification::subscription_expiration`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<ChangeType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_event: Option<LifecycleEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_data: Option<ResourceData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Sent with meeting call events; equals the tenant id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_content: Option<EncryptedContent>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChangeNotification {
    /// Parses a single notification object (some documentation examples are published without
    /// the `{"value":[…]}` wrapper; real deliveries always have it).
    pub fn from_slice(body: &[u8]) -> Result<Self, ClientError> {
        parse(body)
    }

    /// Whether this is a lifecycle notification (`reauthorizationRequired`, …).
    pub fn is_lifecycle(&self) -> bool {
        self.lifecycle_event.is_some()
    }

    /// Compares `clientState` with the subscription's secret in constant time. A missing
    /// `clientState` never matches.
    pub fn verify_client_state(&self, expected: &str) -> Result<(), ClientError> {
        match &self.client_state {
            Some(got) if callhook_crypto::secrets_equal(got.as_bytes(), expected.as_bytes()) => {
                Ok(())
            }
            _ => Err(ClientError::ClientStateMismatch),
        }
    }

    /// `subscriptionExpirationDateTime` parsed (RFC 3339 with any number of fraction digits).
    pub fn subscription_expiration(&self) -> Option<DateTime<FixedOffset>> {
        DateTime::parse_from_rfc3339(self.subscription_expiration_date_time.as_deref()?).ok()
    }
}

/// `resourceData`: the changed item's identity, plus (in some feeds) more properties.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceData {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    #[serde(rename = "@odata.id", default, skip_serializing_if = "Option::is_none")]
    pub odata_id: Option<String>,
    #[serde(
        rename = "@odata.etag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `encryptedContent` as received. `dataSignature` is optional here because some published
/// Teams examples leave it out, but decryption refuses content without it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptedContent {
    #[serde(
        rename = "@odata.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub odata_type: Option<String>,
    pub data: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_signature: Option<String>,
    pub data_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_certificate_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_certificate_thumbprint: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EncryptedContent {
    /// Checks `dataSignature` and decrypts with `key`.
    pub fn decrypt(&self, key: &DecryptionKey) -> Result<Vec<u8>, ClientError> {
        Ok(key.decrypt(&self.to_crypto()?)?)
    }

    /// Decrypts and parses the resource JSON.
    pub fn decrypt_json(&self, key: &DecryptionKey) -> Result<Value, ClientError> {
        self.decrypt_as(key)
    }

    /// Decrypts and deserializes the resource into `T`.
    pub fn decrypt_as<T: DeserializeOwned>(&self, key: &DecryptionKey) -> Result<T, ClientError> {
        let bytes = self.decrypt(key)?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::InvalidResourceData(e.to_string()))
    }

    pub(crate) fn to_crypto(&self) -> Result<callhook_crypto::EncryptedContent, ClientError> {
        Ok(callhook_crypto::EncryptedContent {
            data: self.data.clone(),
            data_signature: self
                .data_signature
                .clone()
                .ok_or(ClientError::MissingDataSignature)?,
            data_key: self.data_key.clone(),
            encryption_certificate_id: self.encryption_certificate_id.clone().unwrap_or_default(),
            encryption_certificate_thumbprint: self
                .encryption_certificate_thumbprint
                .clone()
                .unwrap_or_default(),
        })
    }
}

impl From<callhook_crypto::EncryptedContent> for EncryptedContent {
    fn from(c: callhook_crypto::EncryptedContent) -> Self {
        Self {
            odata_type: None,
            data: c.data,
            data_signature: Some(c.data_signature),
            data_key: c.data_key,
            encryption_certificate_id: Some(c.encryption_certificate_id),
            encryption_certificate_thumbprint: Some(c.encryption_certificate_thumbprint),
            extra: Map::new(),
        }
    }
}

/// `changeType`. Matched case-insensitively (one Teams example sends `"Created"`); a value this
/// crate does not know is kept as it was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
    UnknownFutureValue,
    Other(String),
}

impl ChangeType {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::UnknownFutureValue => "unknownFutureValue",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for ChangeType {
    fn from(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "created" => Self::Created,
            "updated" => Self::Updated,
            "deleted" => Self::Deleted,
            "unknownfuturevalue" => Self::UnknownFutureValue,
            _ => Self::Other(s.to_string()),
        }
    }
}

/// `lifecycleEvent`, kept as sent when unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    SubscriptionRemoved,
    Missed,
    Other(String),
}

impl LifecycleEvent {
    pub fn as_str(&self) -> &str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
            Self::Other(s) => s,
        }
    }
}

impl From<&str> for LifecycleEvent {
    fn from(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "reauthorizationrequired" => Self::ReauthorizationRequired,
            "subscriptionremoved" => Self::SubscriptionRemoved,
            "missed" => Self::Missed,
            _ => Self::Other(s.to_string()),
        }
    }
}

macro_rules! string_enum_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from(s.as_str()))
            }
        }
    };
}

string_enum_serde!(ChangeType);
string_enum_serde!(LifecycleEvent);

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ClientError::InvalidPayload(inner.to_string())
        } else {
            ClientError::InvalidPayload(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ClientError::InvalidPayload(e.to_string()))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_type_is_case_insensitive_and_keeps_unknown_values() {
        assert_eq!(ChangeType::from("Created"), ChangeType::Created);
        assert_eq!(
            ChangeType::from("renamed"),
            ChangeType::Other("renamed".into())
        );
        assert_eq!(
            serde_json::to_string(&ChangeType::UnknownFutureValue).unwrap(),
            "\"unknownFutureValue\""
        );
    }

    #[test]
    fn errors_name_the_json_path() {
        let err = ChangeNotificationCollection::from_slice(br#"{"value":[{"changeType":1}]}"#)
            .unwrap_err();
        let ClientError::InvalidPayload(msg) = err else {
            panic!("{err:?}")
        };
        assert!(msg.starts_with("value[0]"), "{msg}");
        assert!(ChangeNotificationCollection::from_slice(b"{").is_err());
        assert!(ChangeNotificationCollection::from_slice(b"{\"value\":[]} x").is_err());
    }

    #[test]
    fn client_state_must_match_exactly() {
        let mut n: ChangeNotification =
            serde_json::from_str(r#"{"subscriptionId":"s","clientState":"secret"}"#).unwrap();
        assert!(n.verify_client_state("secret").is_ok());
        assert_eq!(
            n.verify_client_state("secret2"),
            Err(ClientError::ClientStateMismatch)
        );
        assert_eq!(
            n.verify_client_state(""),
            Err(ClientError::ClientStateMismatch)
        );
        n.client_state = None;
        assert_eq!(
            n.verify_client_state(""),
            Err(ClientError::ClientStateMismatch)
        );
    }
}
