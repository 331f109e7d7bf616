//! `callRecord` and everything below it: participants, sessions, segments, endpoints, media.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::enums::{
    AudioCodec, CallType, ClientPlatform, FailureStage, MediaStreamDirection, Modality,
    NetworkConnectionType, NetworkTransportProtocol, ProductFamily, ServiceRole,
    UserFeedbackRating, VideoCodec, WifiBand, WifiRadioType,
};
use crate::error::ModelError;
use crate::identity::{
    AdministrativeUnitInfo, CommunicationsIdentitySet, FeedbackTokenSet, IdentitySet, UserIdentity,
};
use crate::json::{self, object, Json, Path};
use crate::values::{GraphDuration, GraphSingle};
use crate::GraphType;

graph_struct! {
    /// `callRecords.callRecord` with its navigations, as ingested and stored.
    ///
    /// Serialization writes every property including the navigations `organizer_v2`,
    /// `participants_v2` and `sessions`; the API layer removes what the request did not expand.
    pub struct CallRecord = "microsoft.graph.callRecords.callRecord" {
        /// Call record id (key).
        id: String = "id", key;
        /// Increases with every update; owned by the server (optional on input).
        version: Option<i64> = "version", opt;
        /// Kind of call.
        call_type: CallType = "type", req;
        /// All modalities used in the call.
        modalities: Vec<Modality> = "modalities", req;
        /// Last change to the record; owned by the server (optional on input).
        last_modified_date_time: Option<DateTime<Utc>> = "lastModifiedDateTime", opt;
        /// When the first user joined.
        start_date_time: DateTime<Utc> = "startDateTime", req;
        /// When the last user left.
        end_date_time: DateTime<Utc> = "endDateTime", req;
        /// Meeting URL.
        join_web_url: Option<String> = "joinWebUrl", opt;
        /// Deprecated organizer identity (use `organizer_v2`).
        organizer: Option<IdentitySet> = "organizer", opt;
        /// Deprecated participant identities (use `participants_v2`).
        participants: Option<Vec<IdentitySet>> = "participants", opt;
        /// Organizer (navigation, auto-expanded).
        organizer_v2: Option<Organizer> = "organizer_v2", opt;
        /// Participants (navigation).
        participants_v2: Vec<Participant> = "participants_v2", dflt;
        /// Sessions (navigation).
        sessions: Vec<Session> = "sessions", dflt;
    }
}

graph_struct! {
    /// `callRecords.organizer` (a `participantBase`).
    pub struct Organizer = "microsoft.graph.callRecords.organizer" {
        /// Organizer id: an Entra object id or a phone number.
        id: String = "id", key;
        /// Identity of the organizer.
        identity: Option<CommunicationsIdentitySet> = "identity", opt;
        /// Administrative units of the organizer.
        administrative_unit_infos: Option<Vec<AdministrativeUnitInfo>> = "administrativeUnitInfos", opt;
    }
}

graph_struct! {
    /// `callRecords.participant` (a `participantBase`).
    pub struct Participant = "microsoft.graph.callRecords.participant" {
        /// Participant id.
        id: String = "id", key;
        /// Identity of the participant.
        identity: Option<CommunicationsIdentitySet> = "identity", opt;
        /// Administrative units of the participant.
        administrative_unit_infos: Option<Vec<AdministrativeUnitInfo>> = "administrativeUnitInfos", opt;
    }
}

graph_struct! {
    /// `callRecords.session`: one participant's leg (or the two parties of a P2P call).
    pub struct Session = "microsoft.graph.callRecords.session" {
        /// Session id (key).
        id: String = "id", key;
        /// Endpoint that started the session.
        caller: Option<Endpoint> = "caller", opt;
        /// Endpoint that answered the session.
        callee: Option<Endpoint> = "callee", opt;
        /// Set when the session failed.
        failure_info: Option<FailureInfo> = "failureInfo", opt;
        /// Whether this is a test session.
        is_test: Option<bool> = "isTest", opt;
        /// Modalities of the session.
        modalities: Vec<Modality> = "modalities", req;
        /// When the first user joined the session.
        start_date_time: DateTime<Utc> = "startDateTime", req;
        /// When the last user left the session.
        end_date_time: DateTime<Utc> = "endDateTime", req;
        /// Segments (navigation).
        segments: Vec<Segment> = "segments", dflt;
    }
}

graph_struct! {
    /// `callRecords.segment`: a media link between two endpoints.
    pub struct Segment = "microsoft.graph.callRecords.segment" {
        /// Segment id (key).
        id: String = "id", key;
        /// Endpoint that started the segment.
        caller: Option<Endpoint> = "caller", opt;
        /// Endpoint that answered the segment.
        callee: Option<Endpoint> = "callee", opt;
        /// Set when the segment failed.
        failure_info: Option<FailureInfo> = "failureInfo", opt;
        /// Media of the segment.
        media: Option<Vec<Media>> = "media", opt;
        /// Segment start.
        start_date_time: DateTime<Utc> = "startDateTime", req;
        /// Segment end.
        end_date_time: DateTime<Utc> = "endDateTime", req;
    }
}

/// `callRecords.endpoint` and its subtypes, chosen by `@odata.type`.
///
/// Without `@odata.type`, a value with `associatedIdentity`, `identity`, `name`, `cpu*` or
/// `feedback` is a participant endpoint, anything else the plain base endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// `#microsoft.graph.callRecords.participantEndpoint`.
    Participant(Box<ParticipantEndpoint>),
    /// `#microsoft.graph.callRecords.serviceEndpoint`.
    Service(ServiceEndpoint),
    /// The concrete base type `callRecords.endpoint` (written without `@odata.type`).
    Base(BaseEndpoint),
}

impl Default for Endpoint {
    fn default() -> Self {
        Self::Base(BaseEndpoint::default())
    }
}

impl Endpoint {
    /// The endpoint's user agent, whatever its subtype.
    pub fn user_agent(&self) -> Option<&UserAgent> {
        match self {
            Self::Participant(e) => e.user_agent.as_ref(),
            Self::Service(e) => e.user_agent.as_ref(),
            Self::Base(e) => e.user_agent.as_ref(),
        }
    }
}

/// Reads `@odata.type` of a polymorphic value without the leading `#`; `None` when absent.
fn subtype<'a>(o: &'a json::Obj, p: &Path) -> Result<Option<&'a str>, ModelError> {
    match o.get("@odata.type") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Ok(Some(t.strip_prefix('#').unwrap_or(t))),
        Some(other) => Err(p.err_at(
            "@odata.type",
            format!("expected a string, found {}", json::kind(other)),
        )),
    }
}

fn unknown_subtype(t: &str, base: &str, p: &Path) -> ModelError {
    p.err_at(
        "@odata.type",
        format!("type '{t}' is not '{base}' or one of its subtypes"),
    )
}

impl Json for Endpoint {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        const PARTICIPANT_MARKERS: &[&str] = &[
            "associatedIdentity",
            "identity",
            "name",
            "cpuCoresCount",
            "cpuName",
            "cpuProcessorSpeedInMhz",
            "feedback",
        ];
        const BASE: &str = "microsoft.graph.callRecords.endpoint";
        enum Kind {
            Participant,
            Service,
            Base,
        }
        let o = object(v, p)?;
        let kind = match subtype(&o, p)? {
            Some("microsoft.graph.callRecords.participantEndpoint") => Kind::Participant,
            Some("microsoft.graph.callRecords.serviceEndpoint") => Kind::Service,
            Some(BASE) => Kind::Base,
            Some(other) => return Err(unknown_subtype(other, BASE, p)),
            None if PARTICIPANT_MARKERS.iter().any(|k| o.contains_key(*k)) => Kind::Participant,
            None => Kind::Base,
        };
        let v = Value::Object(o);
        Ok(match kind {
            Kind::Participant => Self::Participant(Box::new(ParticipantEndpoint::read(v, p)?)),
            Kind::Service => Self::Service(ServiceEndpoint::read(v, p)?),
            Kind::Base => Self::Base(BaseEndpoint::read(v, p)?),
        })
    }

    fn write(&self) -> Value {
        match self {
            Self::Participant(e) => e.write(),
            Self::Service(e) => e.write(),
            Self::Base(e) => e.write(),
        }
    }

    fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Participant(e) => e.stream(s),
            Self::Service(e) => e.stream(s),
            Self::Base(e) => e.stream(s),
        }
    }
}

impl_graph_type!(Endpoint, "microsoft.graph.callRecords.endpoint");

impl crate::schema::Edm for Endpoint {
    fn type_ref() -> crate::schema::TypeRef {
        crate::schema::TypeRef::named(BaseEndpoint::TYPE_NAME)
    }

    fn visit(c: &mut crate::schema::Collector) {
        c.visit::<BaseEndpoint>();
        c.visit::<ParticipantEndpoint>();
        c.visit::<ServiceEndpoint>();
        c.derive(ParticipantEndpoint::TYPE_NAME, BaseEndpoint::TYPE_NAME);
        c.derive(ServiceEndpoint::TYPE_NAME, BaseEndpoint::TYPE_NAME);
    }
}

graph_struct! {
    /// `callRecords.participantEndpoint`: a user or user-like participant.
    pub struct ParticipantEndpoint = "microsoft.graph.callRecords.participantEndpoint",
        odata_type = "#microsoft.graph.callRecords.participantEndpoint" {
        /// User agent of the endpoint.
        user_agent: Option<UserAgent> = "userAgent", opt;
        /// Identity of the endpoint (replaces `identity`).
        associated_identity: Option<UserIdentity> = "associatedIdentity", opt;
        /// CPU cores of the media endpoint.
        cpu_cores_count: Option<i32> = "cpuCoresCount", opt;
        /// CPU name.
        cpu_name: Option<String> = "cpuName", opt;
        /// CPU speed in MHz.
        cpu_processor_speed_in_mhz: Option<i32> = "cpuProcessorSpeedInMhz", opt;
        /// The user's rating of the session.
        feedback: Option<UserFeedback> = "feedback", opt;
        /// Deprecated identity (use `associatedIdentity`).
        identity: Option<IdentitySet> = "identity", opt;
        /// Machine name of the device.
        name: Option<String> = "name", opt;
    }
}

graph_struct! {
    /// `callRecords.serviceEndpoint`: the service side (conference server, gateway, bot).
    pub struct ServiceEndpoint = "microsoft.graph.callRecords.serviceEndpoint",
        odata_type = "#microsoft.graph.callRecords.serviceEndpoint" {
        /// User agent of the endpoint.
        user_agent: Option<UserAgent> = "userAgent", opt;
    }
}

graph_struct! {
    /// The base `callRecords.endpoint`, used when no subtype applies.
    pub struct BaseEndpoint = "microsoft.graph.callRecords.endpoint" {
        /// User agent of the endpoint.
        user_agent: Option<UserAgent> = "userAgent", opt;
    }
}

/// `callRecords.userAgent` (abstract), chosen by `@odata.type`.
///
/// Without `@odata.type`, `platform`/`productFamily` mean a client user agent and `role` a
/// service user agent; a value with none of them is read as a client user agent.
#[derive(Debug, Clone, PartialEq)]
pub enum UserAgent {
    /// `#microsoft.graph.callRecords.clientUserAgent`.
    Client(ClientUserAgent),
    /// `#microsoft.graph.callRecords.serviceUserAgent`.
    Service(ServiceUserAgent),
}

impl Default for UserAgent {
    fn default() -> Self {
        Self::Client(ClientUserAgent::default())
    }
}

impl Json for UserAgent {
    fn read(v: Value, p: &mut Path) -> Result<Self, ModelError> {
        const BASE: &str = "microsoft.graph.callRecords.userAgent";
        let o = object(v, p)?;
        let client = match subtype(&o, p)? {
            Some("microsoft.graph.callRecords.clientUserAgent") => true,
            Some("microsoft.graph.callRecords.serviceUserAgent") => false,
            Some(other) => return Err(unknown_subtype(other, BASE, p)),
            None => {
                o.contains_key("platform")
                    || o.contains_key("productFamily")
                    || !o.contains_key("role")
            }
        };
        let v = Value::Object(o);
        Ok(if client {
            Self::Client(ClientUserAgent::read(v, p)?)
        } else {
            Self::Service(ServiceUserAgent::read(v, p)?)
        })
    }

    fn write(&self) -> Value {
        match self {
            Self::Client(u) => u.write(),
            Self::Service(u) => u.write(),
        }
    }

    fn stream<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Client(u) => u.stream(s),
            Self::Service(u) => u.stream(s),
        }
    }
}

impl_graph_type!(UserAgent, "microsoft.graph.callRecords.userAgent");

/// Graph's abstract `userAgent`: what both kinds of user agent have.
impl crate::schema::Edm for UserAgent {
    fn type_ref() -> crate::schema::TypeRef {
        crate::schema::TypeRef::named(<Self as crate::GraphType>::TYPE_NAME)
    }

    fn visit(c: &mut crate::schema::Collector) {
        use crate::schema::StructuredType;
        const BASE: &str = <UserAgent as crate::GraphType>::TYPE_NAME;
        if c.types.contains_key(BASE) {
            return;
        }
        c.visit::<ClientUserAgent>();
        c.visit::<ServiceUserAgent>();
        let service = c.all_properties(ServiceUserAgent::TYPE_NAME);
        let properties = c
            .all_properties(ClientUserAgent::TYPE_NAME)
            .into_iter()
            .filter(|p| service.iter().any(|s| s.name == p.name))
            .cloned()
            .collect();
        c.structured(StructuredType {
            name: BASE,
            is_abstract: true,
            properties,
            ..Default::default()
        });
        c.derive(ClientUserAgent::TYPE_NAME, BASE);
        c.derive(ServiceUserAgent::TYPE_NAME, BASE);
    }
}

graph_struct! {
    /// `callRecords.clientUserAgent`.
    pub struct ClientUserAgent = "microsoft.graph.callRecords.clientUserAgent",
        odata_type = "#microsoft.graph.callRecords.clientUserAgent" {
        /// Application software version.
        application_version: Option<String> = "applicationVersion", opt;
        /// Raw user-agent header.
        header_value: Option<String> = "headerValue", opt;
        /// Entra application id used by the endpoint.
        azure_ad_app_id: Option<String> = "azureADAppId", opt;
        /// Azure Communication Services resource id.
        communication_service_id: Option<String> = "communicationServiceId", opt;
        /// Client platform (non-nullable; `unknown` when absent).
        platform: ClientPlatform = "platform", dflt;
        /// Product family (non-nullable; `unknown` when absent).
        product_family: ProductFamily = "productFamily", dflt;
    }
}

graph_struct! {
    /// `callRecords.serviceUserAgent`.
    pub struct ServiceUserAgent = "microsoft.graph.callRecords.serviceUserAgent",
        odata_type = "#microsoft.graph.callRecords.serviceUserAgent" {
        /// Application software version.
        application_version: Option<String> = "applicationVersion", opt;
        /// Raw user-agent header.
        header_value: Option<String> = "headerValue", opt;
        /// Service role (non-nullable; `unknown` when absent).
        role: ServiceRole = "role", dflt;
    }
}

graph_struct! {
    /// `callRecords.failureInfo`.
    pub struct FailureInfo = "microsoft.graph.callRecords.failureInfo" {
        /// Why the call (or part of it) failed.
        reason: Option<String> = "reason", opt;
        /// Stage of the failure (non-nullable; `unknown` when absent).
        stage: FailureStage = "stage", dflt;
    }
}

graph_struct! {
    /// `callRecords.userFeedback`.
    pub struct UserFeedback = "microsoft.graph.callRecords.userFeedback" {
        /// Rating (non-nullable; `notRated` when absent).
        rating: UserFeedbackRating = "rating", dflt;
        /// Free-text feedback.
        text: Option<String> = "text", opt;
        /// Feedback tokens.
        tokens: Option<FeedbackTokenSet> = "tokens", opt;
    }
}

graph_struct! {
    /// `callRecords.media`: one media of a segment with its streams, networks and devices.
    pub struct Media = "microsoft.graph.callRecords.media" {
        /// Negotiation label, e.g. `main-audio`.
        label: Option<String> = "label", opt;
        /// Network of the caller.
        caller_network: Option<NetworkInfo> = "callerNetwork", opt;
        /// Network of the callee.
        callee_network: Option<NetworkInfo> = "calleeNetwork", opt;
        /// Device of the caller.
        caller_device: Option<DeviceInfo> = "callerDevice", opt;
        /// Device of the callee.
        callee_device: Option<DeviceInfo> = "calleeDevice", opt;
        /// Streams, typically one per direction.
        streams: Option<Vec<MediaStream>> = "streams", opt;
    }
}

graph_struct! {
    /// `callRecords.mediaStream` (30 properties).
    pub struct MediaStream = "microsoft.graph.callRecords.mediaStream" {
        /// Stream id.
        stream_id: Option<String> = "streamId", opt;
        /// Direction (required).
        stream_direction: MediaStreamDirection = "streamDirection", req;
        /// Stream start.
        start_date_time: Option<DateTime<Utc>> = "startDateTime", opt;
        /// Stream end.
        end_date_time: Option<DateTime<Utc>> = "endDateTime", opt;
        /// Audio codec.
        audio_codec: Option<AudioCodec> = "audioCodec", opt;
        /// Video codec.
        video_codec: Option<VideoCodec> = "videoCodec", opt;
        /// Average network MOS degradation.
        average_audio_degradation: Option<GraphSingle> = "averageAudioDegradation", opt;
        /// Average audio network jitter.
        average_audio_network_jitter: Option<GraphDuration> = "averageAudioNetworkJitter", opt;
        /// Maximum audio network jitter.
        max_audio_network_jitter: Option<GraphDuration> = "maxAudioNetworkJitter", opt;
        /// Average jitter.
        average_jitter: Option<GraphDuration> = "averageJitter", opt;
        /// Maximum jitter.
        max_jitter: Option<GraphDuration> = "maxJitter", opt;
        /// Average packet loss rate (fraction).
        average_packet_loss_rate: Option<GraphSingle> = "averagePacketLossRate", opt;
        /// Maximum packet loss rate (fraction).
        max_packet_loss_rate: Option<GraphSingle> = "maxPacketLossRate", opt;
        /// Average ratio of concealed samples.
        average_ratio_of_concealed_samples: Option<GraphSingle> = "averageRatioOfConcealedSamples", opt;
        /// Maximum ratio of concealed samples.
        max_ratio_of_concealed_samples: Option<GraphSingle> = "maxRatioOfConcealedSamples", opt;
        /// Average round-trip time.
        average_round_trip_time: Option<GraphDuration> = "averageRoundTripTime", opt;
        /// Maximum round-trip time.
        max_round_trip_time: Option<GraphDuration> = "maxRoundTripTime", opt;
        /// Average bandwidth estimate, bits/s.
        average_bandwidth_estimate: Option<i64> = "averageBandwidthEstimate", opt;
        /// Packet count.
        packet_utilization: Option<i64> = "packetUtilization", opt;
        /// Whether media bypassed the Mediation Server.
        was_media_bypassed: Option<bool> = "wasMediaBypassed", opt;
        /// Whether audio FEC was used.
        is_audio_forward_error_correction_used: Option<bool> = "isAudioForwardErrorCorrectionUsed", opt;
        /// Packet loss after FEC.
        post_forward_error_correction_packet_loss_rate: Option<GraphSingle> = "postForwardErrorCorrectionPacketLossRate", opt;
        /// Average video frame loss, percent.
        average_video_frame_loss_percentage: Option<GraphSingle> = "averageVideoFrameLossPercentage", opt;
        /// Average received frame rate over all video streams, fps.
        average_received_frame_rate: Option<GraphSingle> = "averageReceivedFrameRate", opt;
        /// Average received frame rate of this video stream, fps.
        average_video_frame_rate: Option<GraphSingle> = "averageVideoFrameRate", opt;
        /// Average video packet loss rate.
        average_video_packet_loss_rate: Option<GraphSingle> = "averageVideoPacketLossRate", opt;
        /// Share of the call below 7.5 fps.
        low_frame_rate_ratio: Option<GraphSingle> = "lowFrameRateRatio", opt;
        /// Share of the call below 70 % of expected video processing capability.
        low_video_processing_capability_ratio: Option<GraphSingle> = "lowVideoProcessingCapabilityRatio", opt;
        /// Average freeze duration.
        average_freeze_duration: Option<GraphDuration> = "averageFreezeDuration", opt;
        /// Root mean square of freeze durations.
        rms_freeze_duration: Option<GraphDuration> = "rmsFreezeDuration", opt;
    }
}

graph_struct! {
    /// `callRecords.networkInfo`. The four enums are non-nullable and read as `unknown` when
    /// absent; `traceRouteHops` reads as `[]`.
    pub struct NetworkInfo = "microsoft.graph.callRecords.networkInfo" {
        /// Connection type.
        connection_type: NetworkConnectionType = "connectionType", dflt;
        /// Transport protocol.
        network_transport_protocol: NetworkTransportProtocol = "networkTransportProtocol", dflt;
        /// Wi-Fi band.
        wifi_band: WifiBand = "wifiBand", dflt;
        /// Wi-Fi radio type.
        wifi_radio_type: WifiRadioType = "wifiRadioType", dflt;
        /// Trace-route hops.
        trace_route_hops: Vec<TraceRouteHop> = "traceRouteHops", dflt;
        /// Share of the call with low bandwidth.
        bandwidth_low_event_ratio: Option<GraphSingle> = "bandwidthLowEventRatio", opt;
        /// WLAN BSSID.
        basic_service_set_identifier: Option<String> = "basicServiceSetIdentifier", opt;
        /// Share of the call with impairing delay.
        delay_event_ratio: Option<GraphSingle> = "delayEventRatio", opt;
        /// DNS suffix.
        dns_suffix: Option<String> = "dnsSuffix", opt;
        /// IP address.
        ip_address: Option<String> = "ipAddress", opt;
        /// Link speed, bits/s.
        link_speed: Option<i64> = "linkSpeed", opt;
        /// MAC address.
        mac_address: Option<String> = "macAddress", opt;
        /// Media port.
        port: Option<i32> = "port", opt;
        /// Share of the call with degraded received audio.
        received_quality_event_ratio: Option<GraphSingle> = "receivedQualityEventRatio", opt;
        /// IP seen by the media relay.
        reflexive_ip_address: Option<String> = "reflexiveIPAddress", opt;
        /// Media relay IP.
        relay_ip_address: Option<String> = "relayIPAddress", opt;
        /// Media relay port.
        relay_port: Option<i32> = "relayPort", opt;
        /// Share of the call with degraded sent audio.
        sent_quality_event_ratio: Option<GraphSingle> = "sentQualityEventRatio", opt;
        /// Subnet.
        subnet: Option<String> = "subnet", opt;
        /// Battery charge, percent.
        wifi_battery_charge: Option<i32> = "wifiBatteryCharge", opt;
        /// Wi-Fi channel.
        wifi_channel: Option<i32> = "wifiChannel", opt;
        /// Microsoft Wi-Fi driver.
        wifi_microsoft_driver: Option<String> = "wifiMicrosoftDriver", opt;
        /// Microsoft Wi-Fi driver version.
        wifi_microsoft_driver_version: Option<String> = "wifiMicrosoftDriverVersion", opt;
        /// Wi-Fi signal strength, percent.
        wifi_signal_strength: Option<i32> = "wifiSignalStrength", opt;
        /// Vendor Wi-Fi driver.
        wifi_vendor_driver: Option<String> = "wifiVendorDriver", opt;
        /// Vendor Wi-Fi driver version.
        wifi_vendor_driver_version: Option<String> = "wifiVendorDriverVersion", opt;
    }
}

graph_struct! {
    /// `callRecords.traceRouteHop`.
    pub struct TraceRouteHop = "microsoft.graph.callRecords.traceRouteHop" {
        /// Hop count.
        hop_count: Option<i32> = "hopCount", opt;
        /// Hop IP address.
        ip_address: Option<String> = "ipAddress", opt;
        /// Round-trip time to the hop.
        round_trip_time: Option<GraphDuration> = "roundTripTime", opt;
    }
}

graph_struct! {
    /// `callRecords.deviceInfo`. Keeps the API's misspelling `cpuInsufficentEventRatio`.
    pub struct DeviceInfo = "microsoft.graph.callRecords.deviceInfo" {
        /// Capture driver.
        capture_device_driver: Option<String> = "captureDeviceDriver", opt;
        /// Capture device.
        capture_device_name: Option<String> = "captureDeviceName", opt;
        /// Share of the call the capture device failed.
        capture_not_functioning_event_ratio: Option<GraphSingle> = "captureNotFunctioningEventRatio", opt;
        /// Share of the call with insufficient CPU (misspelled in the API).
        cpu_insufficent_event_ratio: Option<GraphSingle> = "cpuInsufficentEventRatio", opt;
        /// Share of the call with clipping.
        device_clipping_event_ratio: Option<GraphSingle> = "deviceClippingEventRatio", opt;
        /// Share of the call with glitches.
        device_glitch_event_ratio: Option<GraphSingle> = "deviceGlitchEventRatio", opt;
        /// Howling detections.
        howling_event_count: Option<i32> = "howlingEventCount", opt;
        /// RMS of the first 30 s of incoming signal.
        initial_signal_level_root_mean_square: Option<GraphSingle> = "initialSignalLevelRootMeanSquare", opt;
        /// Share of the call with low speech level.
        low_speech_level_event_ratio: Option<GraphSingle> = "lowSpeechLevelEventRatio", opt;
        /// Share of the call with low speech-to-noise ratio.
        low_speech_to_noise_event_ratio: Option<GraphSingle> = "lowSpeechToNoiseEventRatio", opt;
        /// Microphone glitches per 5 minutes.
        mic_glitch_rate: Option<GraphSingle> = "micGlitchRate", opt;
        /// Received noise level.
        received_noise_level: Option<i32> = "receivedNoiseLevel", opt;
        /// Received signal level.
        received_signal_level: Option<i32> = "receivedSignalLevel", opt;
        /// Render driver.
        render_device_driver: Option<String> = "renderDeviceDriver", opt;
        /// Render device.
        render_device_name: Option<String> = "renderDeviceName", opt;
        /// Share of the call the render device was muted.
        render_mute_event_ratio: Option<GraphSingle> = "renderMuteEventRatio", opt;
        /// Share of the call the render device failed.
        render_not_functioning_event_ratio: Option<GraphSingle> = "renderNotFunctioningEventRatio", opt;
        /// Share of the call at zero volume.
        render_zero_volume_event_ratio: Option<GraphSingle> = "renderZeroVolumeEventRatio", opt;
        /// Sent noise level.
        sent_noise_level: Option<i32> = "sentNoiseLevel", opt;
        /// Sent signal level.
        sent_signal_level: Option<i32> = "sentSignalLevel", opt;
        /// Speaker glitches per 5 minutes.
        speaker_glitch_rate: Option<GraphSingle> = "speakerGlitchRate", opt;
    }
}
