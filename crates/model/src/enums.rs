//! The enumerations of `microsoft.graph.callRecords` (and `graph.endpointType`).
//!
//! Each enum serializes as its camelCase member name. Members this server does not know are
//! kept in `Other` and written back unchanged, so a newer client's value survives a round trip.
//! `Default` is the member with numeric value 0.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::ModelError;
use crate::json::{self, Json, Path};

macro_rules! graph_enum {
    (
        $(#[$meta:meta])*
        $name:ident = $type_name:literal {
            $first:ident = $first_name:literal
            $(, $variant:ident = $member:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            #[doc = concat!("`", $first_name, "`")]
            #[default]
            $first,
            $(
                #[doc = concat!("`", $member, "`")]
                $variant,
            )*
            /// A member unknown to this server, kept as sent.
            Other(String),
        }

        impl $name {
            /// Qualified OData name of the enum type.
            pub const TYPE_NAME: &'static str = $type_name;
            /// Declared member names, in numeric order.
            pub const MEMBERS: &'static [&'static str] = &[$first_name $(, $member)*];

            /// The member name as written in JSON.
            pub fn as_str(&self) -> &str {
                match self {
                    Self::$first => $first_name,
                    $(Self::$variant => $member,)*
                    Self::Other(s) => s,
                }
            }

            /// The member called `name` (case-sensitive); unknown names become `Other`.
            pub fn from_name(name: &str) -> Self {
                match name {
                    $first_name => Self::$first,
                    $($member => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl $crate::schema::Edm for $name {
            fn type_ref() -> $crate::schema::TypeRef {
                $crate::schema::TypeRef::named($type_name)
            }

            fn visit(c: &mut $crate::schema::Collector) {
                c.enumeration($type_name, Self::MEMBERS);
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self::from_name(name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                json::read_root(v).map_err(serde::de::Error::custom)
            }
        }

        impl Json for $name {
            fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
                match v {
                    Value::String(s) if s.is_empty() => Err(p.err(format!(
                        "empty string is not a member of '{}'",
                        $type_name
                    ))),
                    Value::String(s) => Ok(Self::from_name(&s)),
                    other => Err(json::type_error(
                        concat!("a string (member of '", $type_name, "')"),
                        &other,
                        p,
                    )),
                }
            }
            fn write(&self) -> Value {
                Value::String(self.as_str().to_owned())
            }
        }
    };
}

graph_enum! {
    /// `callType`: kind of call.
    CallType = "microsoft.graph.callRecords.callType" {
        Unknown = "unknown",
        GroupCall = "groupCall",
        PeerToPeer = "peerToPeer",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `modality`: a media modality of a call or session.
    Modality = "microsoft.graph.callRecords.modality" {
        Audio = "audio",
        Video = "video",
        VideoBasedScreenSharing = "videoBasedScreenSharing",
        Data = "data",
        ScreenSharing = "screenSharing",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `clientPlatform`: platform of a client user agent.
    ClientPlatform = "microsoft.graph.callRecords.clientPlatform" {
        Unknown = "unknown",
        Windows = "windows",
        MacOs = "macOS",
        IOs = "iOS",
        Android = "android",
        Web = "web",
        IpPhone = "ipPhone",
        RoomSystem = "roomSystem",
        SurfaceHub = "surfaceHub",
        HoloLens = "holoLens",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `productFamily`: product of a client user agent. `azureCommunicationServices` is
    /// evolvable (see [`hide_evolvable_members`]).
    ProductFamily = "microsoft.graph.callRecords.productFamily" {
        Unknown = "unknown",
        Teams = "teams",
        SkypeForBusiness = "skypeForBusiness",
        Lync = "lync",
        UnknownFutureValue = "unknownFutureValue",
        AzureCommunicationServices = "azureCommunicationServices",
    }
}

graph_enum! {
    /// `serviceRole`: role of a service user agent.
    ServiceRole = "microsoft.graph.callRecords.serviceRole" {
        Unknown = "unknown",
        CustomBot = "customBot",
        SkypeForBusinessMicrosoftTeamsGateway = "skypeForBusinessMicrosoftTeamsGateway",
        SkypeForBusinessAudioVideoMcu = "skypeForBusinessAudioVideoMcu",
        SkypeForBusinessApplicationSharingMcu = "skypeForBusinessApplicationSharingMcu",
        SkypeForBusinessCallQueues = "skypeForBusinessCallQueues",
        SkypeForBusinessAutoAttendant = "skypeForBusinessAutoAttendant",
        MediationServer = "mediationServer",
        MediationServerCloudConnectorEdition = "mediationServerCloudConnectorEdition",
        ExchangeUnifiedMessagingService = "exchangeUnifiedMessagingService",
        MediaController = "mediaController",
        ConferencingAnnouncementService = "conferencingAnnouncementService",
        ConferencingAttendant = "conferencingAttendant",
        AudioTeleconferencerController = "audioTeleconferencerController",
        SkypeForBusinessUnifiedCommunicationApplicationPlatform =
            "skypeForBusinessUnifiedCommunicationApplicationPlatform",
        ResponseGroupServiceAnnouncementService = "responseGroupServiceAnnouncementService",
        Gateway = "gateway",
        SkypeTranslator = "skypeTranslator",
        SkypeForBusinessAttendant = "skypeForBusinessAttendant",
        ResponseGroupService = "responseGroupService",
        Voicemail = "voicemail",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `mediaStreamDirection` (not evolvable).
    MediaStreamDirection = "microsoft.graph.callRecords.mediaStreamDirection" {
        CallerToCallee = "callerToCallee",
        CalleeToCaller = "calleeToCaller",
    }
}

graph_enum! {
    /// `networkConnectionType`.
    NetworkConnectionType = "microsoft.graph.callRecords.networkConnectionType" {
        Unknown = "unknown",
        Wired = "wired",
        Wifi = "wifi",
        Mobile = "mobile",
        Tunnel = "tunnel",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `networkTransportProtocol`.
    NetworkTransportProtocol = "microsoft.graph.callRecords.networkTransportProtocol" {
        Unknown = "unknown",
        Udp = "udp",
        Tcp = "tcp",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `wifiBand`.
    WifiBand = "microsoft.graph.callRecords.wifiBand" {
        Unknown = "unknown",
        Frequency24GHz = "frequency24GHz",
        Frequency50GHz = "frequency50GHz",
        Frequency60GHz = "frequency60GHz",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `wifiRadioType`.
    WifiRadioType = "microsoft.graph.callRecords.wifiRadioType" {
        Unknown = "unknown",
        Wifi80211a = "wifi80211a",
        Wifi80211b = "wifi80211b",
        Wifi80211g = "wifi80211g",
        Wifi80211n = "wifi80211n",
        Wifi80211ac = "wifi80211ac",
        Wifi80211ax = "wifi80211ax",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `failureStage`.
    FailureStage = "microsoft.graph.callRecords.failureStage" {
        Unknown = "unknown",
        CallSetup = "callSetup",
        Midcall = "midcall",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `audioCodec`.
    AudioCodec = "microsoft.graph.callRecords.audioCodec" {
        Unknown = "unknown",
        Invalid = "invalid",
        Cn = "cn",
        Pcma = "pcma",
        Pcmu = "pcmu",
        AmrWide = "amrWide",
        G722 = "g722",
        G7221 = "g7221",
        G7221c = "g7221c",
        G729 = "g729",
        MultiChannelAudio = "multiChannelAudio",
        Muchv2 = "muchv2",
        Opus = "opus",
        Satin = "satin",
        SatinFullband = "satinFullband",
        RtAudio8 = "rtAudio8",
        RtAudio16 = "rtAudio16",
        Silk = "silk",
        SilkNarrow = "silkNarrow",
        SilkWide = "silkWide",
        Siren = "siren",
        XmsRta = "xmsRta",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `videoCodec`.
    VideoCodec = "microsoft.graph.callRecords.videoCodec" {
        Unknown = "unknown",
        Invalid = "invalid",
        Av1 = "av1",
        H263 = "h263",
        H264 = "h264",
        H264s = "h264s",
        H264uc = "h264uc",
        H265 = "h265",
        Rtvc1 = "rtvc1",
        RtVideo = "rtVideo",
        Xrtvc1 = "xrtvc1",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `userFeedbackRating`.
    UserFeedbackRating = "microsoft.graph.callRecords.userFeedbackRating" {
        NotRated = "notRated",
        Bad = "bad",
        Poor = "poor",
        Fair = "fair",
        Good = "good",
        Excellent = "excellent",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `pstnCallDurationSource` (not evolvable).
    PstnCallDurationSource = "microsoft.graph.callRecords.pstnCallDurationSource" {
        Microsoft = "microsoft",
        Operator = "operator",
    }
}

graph_enum! {
    /// `pstnUserBlockMode` (beta). The beta docs print `Blocked`/`Unblocked` capitalised; those
    /// spellings are kept as `Other` and written back as sent.
    PstnUserBlockMode = "microsoft.graph.callRecords.pstnUserBlockMode" {
        Blocked = "blocked",
        Unblocked = "unblocked",
        UnknownFutureValue = "unknownFutureValue",
    }
}

graph_enum! {
    /// `graph.endpointType` of a `communicationsIdentitySet`.
    EndpointType = "microsoft.graph.endpointType" {
        Default = "default",
        Voicemail = "voicemail",
        SkypeForBusiness = "skypeForBusiness",
        SkypeForBusinessVoipPhone = "skypeForBusinessVoipPhone",
        UnknownFutureValue = "unknownFutureValue",
    }
}

/// Evolvable members (declared after `unknownFutureValue`) by the property that holds them.
const EVOLVABLE: &[(&str, &str)] = &[("productFamily", "azureCommunicationServices")];

/// Replaces evolvable enum members with `unknownFutureValue` throughout a serialized tree.
///
/// Graph only returns members declared after `unknownFutureValue` (today `productFamily`
/// `azureCommunicationServices`) when the request carries `Prefer: include-unknown-enum-members`;
/// call this on the response body otherwise. Works on a record, session, segment, or a whole
/// collection body.
pub fn hide_evolvable_members(value: &mut Value) {
    // Explicit stack: the tree may be deep and this must not overflow.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                for (key, member) in EVOLVABLE {
                    if let Some(slot) = o.get_mut(*key) {
                        if slot.as_str() == Some(member) {
                            *slot = Value::String("unknownFutureValue".into());
                        }
                    }
                }
                stack.extend(o.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

graph_enum! {
    /// `graph.callEventType`: what happened in a call. `rosterUpdated` is declared after
    /// `unknownFutureValue` (evolvable); the last two members are beta-only.
    CallEventType = "microsoft.graph.callEventType" {
        CallStarted = "callStarted",
        CallEnded = "callEnded",
        UnknownFutureValue = "unknownFutureValue",
        RosterUpdated = "rosterUpdated",
        TranscriptionStateUpdated = "transcriptionStateUpdated",
        RecordingStateUpdated = "recordingStateUpdated",
    }
}

graph_enum! {
    /// `graph.callDirection` (of the Graph `call` resource; not evolvable).
    CallDirection = "microsoft.graph.callDirection" {
        Incoming = "incoming",
        Outgoing = "outgoing",
    }
}

graph_enum! {
    /// `graph.onlineMeetingRole` of a meeting participant.
    OnlineMeetingRole = "microsoft.graph.onlineMeetingRole" {
        Attendee = "attendee",
        Presenter = "presenter",
        UnknownFutureValue = "unknownFutureValue",
        Producer = "producer",
        Coorganizer = "coorganizer",
    }
}
