//! Identity types. Graph declares these open: members it does not declare (`tenantId`,
//! `acsUser`, feedback tokens, ...) are kept as sent and written back after the declared ones.

use serde_json::{Map, Value};

use crate::enums::EndpointType;
use crate::error::ModelError;
use crate::json::{self, object, opt, split_open, Json, Path};

/// Reads `@odata.type` of an open type (kept so that subtypes such as
/// `#microsoft.graph.userIdentity` are written back as sent).
fn odata_type(o: &mut json::Obj, p: &mut Path) -> Result<Option<String>, ModelError> {
    opt(o, "@odata.type", p)
}

fn put_odata_type(m: &mut Map<String, Value>, t: &Option<String>) {
    if let Some(t) = t {
        m.insert("@odata.type".into(), Value::String(t.clone()));
    }
}

/// `graph.identity` (open): an id and display name, plus dynamic members such as `tenantId`,
/// `userPrincipalName`, `email`, `hidden`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    /// `@odata.type` as sent (e.g. `#microsoft.graph.userIdentity`), if any.
    pub odata_type: Option<String>,
    /// `id`.
    pub id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// Undeclared members, in input order.
    pub additional: Map<String, Value>,
}

impl Json for Identity {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        let (mut o, additional) = split_open(object(v, p)?, &["id", "displayName"]);
        Ok(Self {
            odata_type: odata_type(&mut o, p)?,
            id: opt(&mut o, "id", p)?,
            display_name: opt(&mut o, "displayName", p)?,
            additional,
        })
    }

    fn write(&self) -> Value {
        let mut m = Map::new();
        put_odata_type(&mut m, &self.odata_type);
        m.insert("id".into(), self.id.write());
        m.insert("displayName".into(), self.display_name.write());
        m.extend(self.additional.clone());
        Value::Object(m)
    }
}

impl_graph_type!(Identity, "microsoft.graph.identity");

/// Declares an open identity type with nullable properties `props` (name and Rust type).
macro_rules! open_type {
    ($t:ty, $base:expr, [$($name:literal : $fty:ty),* $(,)?]) => {
        impl crate::schema::Edm for $t {
            fn type_ref() -> crate::schema::TypeRef {
                crate::schema::TypeRef::named(<$t as crate::GraphType>::TYPE_NAME)
            }

            fn visit(c: &mut crate::schema::Collector) {
                let declared = c.structured(crate::schema::StructuredType {
                    name: <$t as crate::GraphType>::TYPE_NAME,
                    base: $base,
                    open: true,
                    properties: vec![$(crate::schema::Property::new(
                        $name,
                        <$fty as crate::schema::Edm>::type_ref(),
                        "opt",
                    )),*],
                    ..Default::default()
                });
                if declared {
                    $(<$fty as crate::schema::Edm>::visit(c);)*
                }
            }
        }
    };
}

open_type!(Identity, None, ["id": Option<String>, "displayName": Option<String>]);

/// `callRecords.userIdentity` (open), used by `participantEndpoint.associatedIdentity`.
/// Always written with `@odata.type` `#microsoft.graph.callRecords.userIdentity`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserIdentity {
    /// `id`: Entra object id.
    pub id: Option<String>,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `userPrincipalName`.
    pub user_principal_name: Option<String>,
    /// Undeclared members (typically `tenantId`), in input order.
    pub additional: Map<String, Value>,
}

impl UserIdentity {
    /// `@odata.type` written on every value.
    pub const ODATA_TYPE: &'static str = "#microsoft.graph.callRecords.userIdentity";
}

impl Json for UserIdentity {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        let (mut o, additional) =
            split_open(object(v, p)?, &["id", "displayName", "userPrincipalName"]);
        Ok(Self {
            id: opt(&mut o, "id", p)?,
            display_name: opt(&mut o, "displayName", p)?,
            user_principal_name: opt(&mut o, "userPrincipalName", p)?,
            additional,
        })
    }

    fn write(&self) -> Value {
        let mut m = Map::new();
        m.insert("@odata.type".into(), Value::String(Self::ODATA_TYPE.into()));
        m.insert("id".into(), self.id.write());
        m.insert("displayName".into(), self.display_name.write());
        m.insert("userPrincipalName".into(), self.user_principal_name.write());
        m.extend(self.additional.clone());
        Value::Object(m)
    }
}

impl_graph_type!(UserIdentity, "microsoft.graph.callRecords.userIdentity");

open_type!(
    UserIdentity,
    Some("microsoft.graph.identity"),
    ["userPrincipalName": Option<String>]
);

/// `graph.identitySet` (open), used by the deprecated `organizer`, `participants` and
/// `participantEndpoint.identity`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdentitySet {
    /// `@odata.type` as sent, if any.
    pub odata_type: Option<String>,
    /// `application`.
    pub application: Option<Identity>,
    /// `device`.
    pub device: Option<Identity>,
    /// `user`.
    pub user: Option<Identity>,
    /// Undeclared members, in input order.
    pub additional: Map<String, Value>,
}

impl Json for IdentitySet {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        let (mut o, additional) = split_open(object(v, p)?, &["application", "device", "user"]);
        Ok(Self {
            odata_type: odata_type(&mut o, p)?,
            application: opt(&mut o, "application", p)?,
            device: opt(&mut o, "device", p)?,
            user: opt(&mut o, "user", p)?,
            additional,
        })
    }

    fn write(&self) -> Value {
        let mut m = Map::new();
        put_odata_type(&mut m, &self.odata_type);
        m.insert("application".into(), self.application.write());
        m.insert("device".into(), self.device.write());
        m.insert("user".into(), self.user.write());
        m.extend(self.additional.clone());
        Value::Object(m)
    }
}

impl_graph_type!(IdentitySet, "microsoft.graph.identitySet");

open_type!(
    IdentitySet,
    None,
    [
        "application": Option<Identity>,
        "device": Option<Identity>,
        "user": Option<Identity>,
    ]
);

/// `graph.communicationsIdentitySet` (open), the identity of `organizer_v2` and
/// `participants_v2`. Dynamic members such as `acsUser`, `spoolUser`, `acsApplicationInstance`,
/// `spoolApplicationInstance` are kept in `additional`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommunicationsIdentitySet {
    /// `@odata.type` as sent, if any.
    pub odata_type: Option<String>,
    /// `application`.
    pub application: Option<Identity>,
    /// `applicationInstance`.
    pub application_instance: Option<Identity>,
    /// `assertedIdentity`.
    pub asserted_identity: Option<Identity>,
    /// `azureCommunicationServicesUser`.
    pub azure_communication_services_user: Option<Identity>,
    /// `device`.
    pub device: Option<Identity>,
    /// `encrypted`.
    pub encrypted: Option<Identity>,
    /// `endpointType`.
    pub endpoint_type: Option<EndpointType>,
    /// `guest`.
    pub guest: Option<Identity>,
    /// `onPremises`.
    pub on_premises: Option<Identity>,
    /// `phone`.
    pub phone: Option<Identity>,
    /// `user`.
    pub user: Option<Identity>,
    /// Undeclared members, in input order.
    pub additional: Map<String, Value>,
}

impl Json for CommunicationsIdentitySet {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        let (mut o, additional) = split_open(
            object(v, p)?,
            &[
                "application",
                "applicationInstance",
                "assertedIdentity",
                "azureCommunicationServicesUser",
                "device",
                "encrypted",
                "endpointType",
                "guest",
                "onPremises",
                "phone",
                "user",
            ],
        );
        Ok(Self {
            odata_type: odata_type(&mut o, p)?,
            application: opt(&mut o, "application", p)?,
            application_instance: opt(&mut o, "applicationInstance", p)?,
            asserted_identity: opt(&mut o, "assertedIdentity", p)?,
            azure_communication_services_user: opt(&mut o, "azureCommunicationServicesUser", p)?,
            device: opt(&mut o, "device", p)?,
            encrypted: opt(&mut o, "encrypted", p)?,
            endpoint_type: opt(&mut o, "endpointType", p)?,
            guest: opt(&mut o, "guest", p)?,
            on_premises: opt(&mut o, "onPremises", p)?,
            phone: opt(&mut o, "phone", p)?,
            user: opt(&mut o, "user", p)?,
            additional,
        })
    }

    fn write(&self) -> Value {
        let mut m = Map::new();
        put_odata_type(&mut m, &self.odata_type);
        m.insert("application".into(), self.application.write());
        m.insert(
            "applicationInstance".into(),
            self.application_instance.write(),
        );
        m.insert("assertedIdentity".into(), self.asserted_identity.write());
        m.insert(
            "azureCommunicationServicesUser".into(),
            self.azure_communication_services_user.write(),
        );
        m.insert("device".into(), self.device.write());
        m.insert("encrypted".into(), self.encrypted.write());
        m.insert("endpointType".into(), self.endpoint_type.write());
        m.insert("guest".into(), self.guest.write());
        m.insert("onPremises".into(), self.on_premises.write());
        m.insert("phone".into(), self.phone.write());
        m.insert("user".into(), self.user.write());
        m.extend(self.additional.clone());
        Value::Object(m)
    }
}

impl_graph_type!(
    CommunicationsIdentitySet,
    "microsoft.graph.communicationsIdentitySet"
);

open_type!(
    CommunicationsIdentitySet,
    Some("microsoft.graph.identitySet"),
    [
        "applicationInstance": Option<Identity>,
        "assertedIdentity": Option<Identity>,
        "azureCommunicationServicesUser": Option<Identity>,
        "encrypted": Option<Identity>,
        "endpointType": Option<EndpointType>,
        "guest": Option<Identity>,
        "onPremises": Option<Identity>,
        "phone": Option<Identity>,
    ]
);

/// `callRecords.feedbackTokenSet` (open, no declared members): the boolean tokens a user ticked,
/// e.g. `{"NoSound": false, "Echo": true}`, kept as sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeedbackTokenSet(pub Map<String, Value>);

impl Json for FeedbackTokenSet {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        object(v, p).map(|o| Self(split_open(o, &[]).1))
    }

    fn write(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

impl_graph_type!(
    FeedbackTokenSet,
    "microsoft.graph.callRecords.feedbackTokenSet"
);

open_type!(FeedbackTokenSet, None, []);

graph_struct! {
    /// `callRecords.administrativeUnitInfo`: an administrative unit a user belongs to.
    pub struct AdministrativeUnitInfo = "microsoft.graph.callRecords.administrativeUnitInfo" {
        /// Administrative unit id.
        id: Option<String> = "id", opt;
    }
}
