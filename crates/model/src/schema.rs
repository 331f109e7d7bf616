//! The OData schema of the model: each Graph type declares its properties through [`Edm`],
//! which `graph_struct!` and `graph_enum!` implement from the very field lists that read and
//! write the JSON, so the CSDL document ([`csdl`], served as `$metadata`) cannot drift from
//! what callhook writes. Hand-written types (identities, polymorphic endpoints and user agents)
//! implement [`Edm`] next to their JSON code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

/// The type of a property: a qualified name, a collection or not, nullable or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    pub name: &'static str,
    pub collection: bool,
    pub nullable: bool,
}

impl TypeRef {
    pub const fn named(name: &'static str) -> Self {
        Self {
            name,
            collection: false,
            nullable: false,
        }
    }

    fn text(&self) -> String {
        if self.collection {
            format!("Collection({})", self.name)
        } else {
            self.name.to_string()
        }
    }
}

/// A declared property.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: &'static str,
    pub ty: TypeRef,
    /// The entity key (`id` of an entity type).
    pub key: bool,
}

impl Property {
    /// `mode` is the JSON reading mode of the field (`key`, `artifact_key`, `opt`, …).
    pub fn new(name: &'static str, ty: TypeRef, mode: &str) -> Self {
        Self {
            name,
            ty,
            key: matches!(mode, "key" | "artifact_key"),
        }
    }
}

/// A structured (entity or complex) type.
#[derive(Debug, Clone, Default)]
pub struct StructuredType {
    pub name: &'static str,
    pub base: Option<&'static str>,
    pub is_abstract: bool,
    /// Open types accept members they do not declare (Graph's identity types).
    pub open: bool,
    pub properties: Vec<Property>,
    /// Navigations that are served by their own routes, not written inline.
    pub navigations: Vec<(&'static str, TypeRef)>,
}

impl StructuredType {
    pub fn is_entity(&self) -> bool {
        self.properties.iter().any(|p| p.key) || ENTITY_WITHOUT_REQUIRED_ID.contains(&self.name)
    }
}

/// Graph entity types whose model reads `id` as optional (ingest may leave it out).
const ENTITY_WITHOUT_REQUIRED_ID: &[&str] =
    &["microsoft.graph.callEvent", "microsoft.graph.participant"];

/// A Rust type with an OData type.
pub trait Edm {
    fn type_ref() -> TypeRef;
    /// Declares this type (and every type it uses) in `c`.
    fn visit(_c: &mut Collector) {}
}

macro_rules! primitive {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl Edm for $t {
            fn type_ref() -> TypeRef {
                TypeRef::named($name)
            }
        })*
    };
}

primitive! {
    String => "Edm.String",
    bool => "Edm.Boolean",
    i32 => "Edm.Int32",
    i64 => "Edm.Int64",
    f64 => "Edm.Double",
    DateTime<Utc> => "Edm.DateTimeOffset",
    crate::GraphDuration => "Edm.Duration",
    crate::GraphSingle => "Edm.Single",
}

impl<T: Edm> Edm for Option<T> {
    fn type_ref() -> TypeRef {
        TypeRef {
            nullable: true,
            ..T::type_ref()
        }
    }

    fn visit(c: &mut Collector) {
        T::visit(c)
    }
}

impl<T: Edm> Edm for Vec<T> {
    fn type_ref() -> TypeRef {
        TypeRef {
            collection: true,
            ..T::type_ref()
        }
    }

    fn visit(c: &mut Collector) {
        T::visit(c)
    }
}

/// Every type reachable from the roots, by qualified name.
#[derive(Debug, Default)]
pub struct Collector {
    pub types: BTreeMap<&'static str, StructuredType>,
    pub enums: BTreeMap<&'static str, &'static [&'static str]>,
}

impl Collector {
    /// Declares a structured type once; `false` if it was already declared.
    pub fn structured(&mut self, t: StructuredType) -> bool {
        if self.types.contains_key(t.name) {
            return false;
        }
        self.types.insert(t.name, t);
        true
    }

    pub fn enumeration(&mut self, name: &'static str, members: &'static [&'static str]) {
        self.enums.insert(name, members);
    }

    pub fn visit<T: Edm>(&mut self) {
        T::visit(self)
    }

    /// Makes `sub` derive from `base`.
    pub fn derive(&mut self, sub: &'static str, base: &'static str) {
        if let Some(t) = self.types.get_mut(sub) {
            t.base = Some(base);
        }
    }

    /// Every property of `name`, its base types' included.
    pub fn all_properties(&self, name: &str) -> Vec<&Property> {
        let mut out = Vec::new();
        let mut next = self.types.get(name);
        while let Some(t) = next {
            out.extend(t.properties.iter());
            next = t.base.and_then(|b| self.types.get(b));
        }
        out
    }

    /// Whether `name` or one of its base types is an entity type.
    pub fn is_entity(&self, name: &str) -> bool {
        let mut next = self.types.get(name);
        while let Some(t) = next {
            if t.is_entity() {
                return true;
            }
            next = t.base.and_then(|b| self.types.get(b));
        }
        false
    }

    /// Whether `name` or one of its base types is open.
    pub fn is_open(&self, name: &str) -> bool {
        let mut next = self.types.get(name);
        while let Some(t) = next {
            if t.open {
                return true;
            }
            next = t.base.and_then(|b| self.types.get(b));
        }
        false
    }

    /// Removes `names` from the properties of `type_name` (what a version does not serve).
    fn hide(&mut self, type_name: &str, names: &[&str]) {
        if let Some(t) = self.types.get_mut(type_name) {
            t.properties.retain(|p| !names.contains(&p.name));
        }
    }
}

/// A report function: bound to the `callRecords` collection, `fromDateTime`/`toDateTime`
/// parameters, returning rows of `returns`.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: &'static str,
    /// Name of the row type in `microsoft.graph.callRecords`.
    pub row_type: &'static str,
}

pub const NAMESPACE: &str = "microsoft.graph";
pub const CALL_RECORDS_NAMESPACE: &str = "microsoft.graph.callRecords";

/// Everything served at one version, with what that version does not serve removed.
pub fn collect(beta: bool) -> Collector {
    use crate::*;
    let mut c = Collector::default();
    c.visit::<CallRecord>();
    c.visit::<PstnCallLogRow>();
    c.visit::<DirectRoutingLogRow>();
    if beta {
        c.visit::<SmsLogRow>();
        c.visit::<PstnBlockedUsersLogRow>();
        c.visit::<DialoutUsageRow>();
    }
    c.visit::<DirectoryUser>();
    c.visit::<OnlineMeeting>();
    c.visit::<AdhocCall>();
    c.visit::<CallTranscript>();
    c.visit::<CallRecording>();
    c.visit::<CallEvent>();
    c.visit::<EmergencyCallEvent>();
    c.derive(EmergencyCallEvent::TYPE_NAME, CallEvent::TYPE_NAME);
    // The identity Graph writes as a meeting organizer on artifacts.
    c.structured(StructuredType {
        name: "microsoft.graph.teamworkUserIdentity",
        base: Some("microsoft.graph.identity"),
        open: true,
        properties: vec![Property::new(
            "userIdentityType",
            TypeRef {
                nullable: true,
                ..TypeRef::named("microsoft.graph.teamworkUserIdentityType")
            },
            "opt",
        )],
        ..Default::default()
    });
    c.enumeration(
        "microsoft.graph.teamworkUserIdentityType",
        &[
            "aadUser",
            "onPremiseAadUser",
            "anonymousGuest",
            "federatedUser",
            "personalMicrosoftAccountUser",
            "skypeUser",
            "phoneUser",
            "unknownFutureValue",
            "azureCommunicationsUser",
            "emailUser",
        ],
    );
    c.structured(subscription());
    c.structured(StructuredType {
        name: "microsoft.graph.cloudCommunications",
        properties: vec![Property::new("id", TypeRef::named("Edm.String"), "key")],
        navigations: vec![
            (
                "callRecords",
                TypeRef {
                    collection: true,
                    ..TypeRef::named("microsoft.graph.callRecords.callRecord")
                },
            ),
            (
                "adhocCalls",
                TypeRef {
                    collection: true,
                    ..TypeRef::named("microsoft.graph.adhocCall")
                },
            ),
        ],
        ..Default::default()
    });

    // What the model holds but Graph does not serve.
    c.hide(
        PstnBlockedUsersLogRow::TYPE_NAME,
        PstnBlockedUsersLogRow::INGEST_ONLY,
    );
    c.hide(DialoutUsageRow::TYPE_NAME, DialoutUsageRow::INGEST_ONLY);
    c.hide(AdhocCall::TYPE_NAME, AdhocCall::INGEST_ONLY);
    // Call events are served only as notification content (`callhook_notify::payload`): the
    // per-user feed writes `direction`, `callId` and `joinCallUrl`, and both feeds name the
    // event's type `eventType`; only the feed keys `userId` and `joinWebUrl` are never served.
    c.hide(CallEvent::TYPE_NAME, &["userId", "joinWebUrl"]);
    if let Some(t) = c.types.get_mut(CallEvent::TYPE_NAME) {
        t.properties.push(Property::new(
            "eventType",
            <Option<CallEventType> as Edm>::type_ref(),
            "opt",
        ));
    }
    // An emergency notification carries the whole event again under `emergencyCallEvent`.
    if let Some(t) = c.types.get_mut(EmergencyCallEvent::TYPE_NAME) {
        t.properties.push(Property::new(
            "emergencyCallEvent",
            <Option<EmergencyCallEvent> as Edm>::type_ref(),
            "opt",
        ));
    }
    if !beta {
        c.hide(PstnCallLogRow::TYPE_NAME, PstnCallLogRow::BETA_ONLY);
        c.hide(
            DirectRoutingLogRow::TYPE_NAME,
            DirectRoutingLogRow::BETA_ONLY,
        );
    }
    // Navigations served by routes of their own.
    let many = |name| TypeRef {
        collection: true,
        ..TypeRef::named(name)
    };
    for (owner, nav, target) in [
        (
            DirectoryUser::TYPE_NAME,
            "onlineMeetings",
            OnlineMeeting::TYPE_NAME,
        ),
        (DirectoryUser::TYPE_NAME, "adhocCalls", AdhocCall::TYPE_NAME),
        (
            OnlineMeeting::TYPE_NAME,
            "transcripts",
            CallTranscript::TYPE_NAME,
        ),
        (
            OnlineMeeting::TYPE_NAME,
            "recordings",
            CallRecording::TYPE_NAME,
        ),
        (
            AdhocCall::TYPE_NAME,
            "transcripts",
            CallTranscript::TYPE_NAME,
        ),
        (AdhocCall::TYPE_NAME, "recordings", CallRecording::TYPE_NAME),
    ] {
        if let Some(t) = c.types.get_mut(owner) {
            t.navigations.push((nav, many(target)));
        }
    }
    c
}

/// Graph's subscription resource, as `callhook-api`'s `graph/subscriptions` writes it (its JSON
/// is built there by hand; the `$metadata` test catches a property added on one side only).
fn subscription() -> StructuredType {
    let s = |n| {
        Property::new(
            n,
            TypeRef {
                nullable: true,
                ..TypeRef::named("Edm.String")
            },
            "opt",
        )
    };
    let mut properties = vec![Property::new("id", TypeRef::named("Edm.String"), "key")];
    properties.extend(
        [
            "resource",
            "applicationId",
            "changeType",
            "clientState",
            "notificationUrl",
            "notificationQueryOptions",
            "lifecycleNotificationUrl",
        ]
        .map(s),
    );
    properties.push(Property::new(
        "expirationDateTime",
        TypeRef::named("Edm.DateTimeOffset"),
        "req",
    ));
    properties.push(s("creatorId"));
    properties.push(Property::new(
        "includeResourceData",
        TypeRef {
            nullable: true,
            ..TypeRef::named("Edm.Boolean")
        },
        "opt",
    ));
    properties.extend(
        [
            "latestSupportedTlsVersion",
            "encryptionCertificate",
            "encryptionCertificateId",
            "notificationUrlAppId",
            "notificationContentType",
            "vapidPublicKey",
            "webPushEncryptionP256dhPublicKey",
            "webPushEncryptionSecret",
        ]
        .map(s),
    );
    StructuredType {
        name: "microsoft.graph.subscription",
        properties,
        ..Default::default()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn namespace_of(name: &str) -> &str {
    name.rsplit_once('.').map_or("", |(ns, _)| ns)
}

/// The `$metadata` document (CSDL, EDMX 4.0) of one version; `functions` are the report
/// functions that version serves.
pub fn csdl(beta: bool, functions: &[Function]) -> String {
    let c = collect(beta);
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(
        "<edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\">\n",
    );
    x.push_str("  <edmx:DataServices>\n");
    for ns in [NAMESPACE, CALL_RECORDS_NAMESPACE] {
        let _ = writeln!(
            x,
            "    <Schema Namespace=\"{ns}\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">"
        );
        for (name, members) in c.enums.iter().filter(|(n, _)| namespace_of(n) == ns) {
            let _ = writeln!(x, "      <EnumType Name=\"{}\">", esc(short(name)));
            for (i, m) in members.iter().enumerate() {
                let _ = writeln!(x, "        <Member Name=\"{}\" Value=\"{i}\" />", esc(m));
            }
            x.push_str("      </EnumType>\n");
        }
        for t in c.types.values().filter(|t| namespace_of(t.name) == ns) {
            write_type(&mut x, &c, t);
        }
        if ns == CALL_RECORDS_NAMESPACE {
            for f in functions {
                let _ = writeln!(
                    x,
                    "      <Function Name=\"{}\" IsBound=\"true\">",
                    esc(f.name)
                );
                x.push_str("        <Parameter Name=\"bindingParameter\" Type=\"Collection(microsoft.graph.callRecords.callRecord)\" />\n");
                x.push_str("        <Parameter Name=\"fromDateTime\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\" />\n");
                x.push_str("        <Parameter Name=\"toDateTime\" Type=\"Edm.DateTimeOffset\" Nullable=\"false\" />\n");
                let _ = writeln!(
                    x,
                    "        <ReturnType Type=\"Collection({CALL_RECORDS_NAMESPACE}.{})\" />",
                    esc(f.row_type)
                );
                x.push_str("      </Function>\n");
            }
        }
        if ns == NAMESPACE {
            x.push_str("      <EntityContainer Name=\"GraphService\">\n");
            x.push_str(
                "        <EntitySet Name=\"users\" EntityType=\"microsoft.graph.user\" />\n",
            );
            x.push_str("        <EntitySet Name=\"subscriptions\" EntityType=\"microsoft.graph.subscription\" />\n");
            x.push_str("        <Singleton Name=\"communications\" Type=\"microsoft.graph.cloudCommunications\" />\n");
            x.push_str("      </EntityContainer>\n");
        }
        x.push_str("    </Schema>\n");
    }
    x.push_str("  </edmx:DataServices>\n</edmx:Edmx>\n");
    x
}

fn write_type(x: &mut String, c: &Collector, t: &StructuredType) {
    let entity = c.is_entity(t.name);
    let tag = if entity { "EntityType" } else { "ComplexType" };
    let _ = write!(x, "      <{tag} Name=\"{}\"", esc(short(t.name)));
    if let Some(b) = t.base {
        let _ = write!(x, " BaseType=\"{}\"", esc(b));
    }
    if t.is_abstract {
        x.push_str(" Abstract=\"true\"");
    }
    if t.open {
        x.push_str(" OpenType=\"true\"");
    }
    x.push_str(">\n");
    // A key is declared once, on the type that introduces it.
    if entity && t.base.is_none() {
        if let Some(k) = t.properties.iter().find(|p| p.key || p.name == "id") {
            let _ = writeln!(
                x,
                "        <Key><PropertyRef Name=\"{}\" /></Key>",
                esc(k.name)
            );
        }
    }
    let inherited: Vec<&str> = t
        .base
        .map(|b| c.all_properties(b).iter().map(|p| p.name).collect())
        .unwrap_or_default();
    for p in t.properties.iter().filter(|p| !inherited.contains(&p.name)) {
        let target_is_entity = c.is_entity(p.ty.name);
        if target_is_entity {
            let _ = writeln!(
                x,
                "        <NavigationProperty Name=\"{}\" Type=\"{}\" ContainsTarget=\"true\" />",
                esc(p.name),
                esc(&p.ty.text())
            );
            continue;
        }
        // A key is never null, even where ingest may leave it out for the server to fill in.
        let is_key = entity && t.base.is_none() && (p.key || p.name == "id");
        let nullable = if (p.ty.nullable || p.ty.collection) && !is_key {
            ""
        } else {
            " Nullable=\"false\""
        };
        let _ = writeln!(
            x,
            "        <Property Name=\"{}\" Type=\"{}\"{nullable} />",
            esc(p.name),
            esc(&p.ty.text())
        );
    }
    for (name, ty) in &t.navigations {
        let _ = writeln!(
            x,
            "        <NavigationProperty Name=\"{}\" Type=\"{}\" ContainsTarget=\"true\" />",
            esc(name),
            esc(&ty.text())
        );
    }
    let _ = writeln!(x, "      </{tag}>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtypes_derive_and_redeclare_nothing_they_inherit() {
        let x = csdl(true, &[]);
        std::fs::write(std::env::temp_dir().join("callhook-beta-metadata.xml"), &x).ok();
        assert!(x.contains(
            "<ComplexType Name=\"participantEndpoint\" BaseType=\"microsoft.graph.callRecords.endpoint\">"
        ));
        assert!(x.contains("<ComplexType Name=\"userAgent\" Abstract=\"true\">"));
        let c = collect(true);
        for t in c.types.values() {
            let Some(base) = t.base else { continue };
            let inherited: Vec<_> = c.all_properties(base).iter().map(|p| p.name).collect();
            let block = x
                .split(&format!("Name=\"{}\" BaseType", short(t.name)))
                .nth(1)
                .and_then(|rest| rest.split("Type>").next())
                .unwrap_or_default();
            for p in inherited {
                assert!(
                    !block.contains(&format!("Name=\"{p}\"")),
                    "{} redeclares {p}",
                    t.name
                );
            }
        }
    }

    #[test]
    fn entities_have_keys_and_contained_navigations() {
        let x = csdl(false, &[]);
        assert!(x.contains(
            "<EntityType Name=\"callRecord\">\n        <Key><PropertyRef Name=\"id\" /></Key>"
        ));
        assert!(x.contains(
            "<NavigationProperty Name=\"sessions\" Type=\"Collection(microsoft.graph.callRecords.session)\" ContainsTarget=\"true\" />"
        ));
        // Beta-only rows are not in v1.0.
        assert!(!x.contains("smsLogRow"));
        assert!(csdl(true, &[]).contains("smsLogRow"));
    }
}
