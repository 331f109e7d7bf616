//! The streams of a call record with their verdicts and the two endpoints around them, and
//! CQD-style tallies of those streams by dimension (subnet, building, device, network type).

use std::collections::BTreeMap;
use std::net::IpAddr;

use callhook_model::{
    CallRecord, DeviceInfo, Endpoint, Media, MediaStream, MediaStreamDirection,
    NetworkConnectionType, NetworkInfo, UserAgent, WifiBand,
};
use serde::Serialize;

use crate::building::BuildingFile;
use crate::classify::{Modality, PoorReason, Quality, Thresholds, Verdict};

/// One end of a media line: its endpoint and the network and device it reported.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub endpoint: Option<&'a Endpoint>,
    pub network: Option<&'a NetworkInfo>,
    pub device: Option<&'a DeviceInfo>,
}

impl Side<'_> {
    /// A user's client rather than a server (conference server, mediation server, gateway):
    /// a participant endpoint, or an untyped one with a client user agent.
    pub fn is_client(&self) -> bool {
        match self.endpoint {
            Some(Endpoint::Participant(_)) => true,
            Some(Endpoint::Service(_)) | None => false,
            Some(Endpoint::Base(b)) => matches!(b.user_agent, Some(UserAgent::Client(_))),
        }
    }
}

/// One stream of a record with where it sits and its verdict.
#[derive(Debug, Clone)]
pub struct StreamView<'a> {
    pub session_id: &'a str,
    pub segment_id: &'a str,
    pub media: &'a Media,
    pub stream: &'a MediaStream,
    /// `None` when neither the media label nor the codec names a CQD modality (e.g. `data`).
    pub modality: Option<Modality>,
    pub verdict: Verdict,
    pub caller: Side<'a>,
    pub callee: Side<'a>,
}

impl<'a> StreamView<'a> {
    /// The client endpoints of the stream's media line. CQD tests only the client side of a
    /// server–client stream; a client–client stream has two.
    pub fn clients(&self) -> Vec<Side<'a>> {
        [self.caller, self.callee]
            .into_iter()
            .filter(Side::is_client)
            .collect()
    }

    /// The sending side of the stream.
    pub fn sender(&self) -> Side<'a> {
        match self.stream.stream_direction {
            MediaStreamDirection::CalleeToCaller => self.callee,
            _ => self.caller,
        }
    }

    /// The values this stream counts under for `dimension`, one per distinct value among its
    /// client endpoints (empty when no client endpoint reported it).
    pub fn values(&self, dimension: Dimension, buildings: Option<&BuildingFile>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for side in self.clients() {
            if let Some(v) = side_value(&side, dimension, buildings) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }
}

/// Every stream of a fully expanded record, in order (sessions → segments → media → streams).
pub fn streams<'a>(record: &'a CallRecord, thresholds: &Thresholds) -> Vec<StreamView<'a>> {
    let mut out = Vec::new();
    for session in &record.sessions {
        for segment in &session.segments {
            for media in segment.media.iter().flatten() {
                let by_label = media.label.as_deref().and_then(Modality::from_label);
                for stream in media.streams.iter().flatten() {
                    let modality = by_label.or_else(|| Modality::from_codec(stream));
                    let verdict = match modality {
                        Some(m) => thresholds.classify(m, stream),
                        None => Verdict {
                            quality: Quality::Unclassified,
                            poor_due_to: Vec::new(),
                        },
                    };
                    out.push(StreamView {
                        session_id: &session.id,
                        segment_id: &segment.id,
                        media,
                        stream,
                        modality,
                        verdict,
                        caller: Side {
                            endpoint: segment.caller.as_ref(),
                            network: media.caller_network.as_ref(),
                            device: media.caller_device.as_ref(),
                        },
                        callee: Side {
                            endpoint: segment.callee.as_ref(),
                            network: media.callee_network.as_ref(),
                            device: media.callee_device.as_ref(),
                        },
                    });
                }
            }
        }
    }
    out
}

/// What admins slice poor-stream rates by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Dimension {
    /// `networkInfo.subnet` (else `ipAddress`) of the client.
    Subnet,
    /// Building name of the building-file network the client's `ipAddress` lies in.
    Building,
    /// `deviceInfo.captureDeviceName`.
    CaptureDevice,
    /// `deviceInfo.captureDeviceDriver`.
    CaptureDriver,
    /// `networkInfo.connectionType` (`wired`, `wifi`, `mobile`, `tunnel`).
    ConnectionType,
    /// `networkInfo.wifiBand` of clients on Wi-Fi.
    WifiBand,
    /// `vpn` when the client's address is in a building-file network marked VPN, else `notVpn`
    /// (Graph has no VPN field; CQD relies on the building file too).
    Vpn,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Self::Subnet,
        Self::Building,
        Self::CaptureDevice,
        Self::CaptureDriver,
        Self::ConnectionType,
        Self::WifiBand,
        Self::Vpn,
    ];
}

fn non_empty(s: Option<&String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty()).cloned()
}

fn address(n: &NetworkInfo) -> Option<IpAddr> {
    n.ip_address
        .as_deref()
        .or(n.subnet.as_deref())
        .and_then(|s| s.trim().parse().ok())
}

fn side_value(
    side: &Side<'_>,
    dimension: Dimension,
    buildings: Option<&BuildingFile>,
) -> Option<String> {
    let network = side.network;
    let device = side.device;
    match dimension {
        Dimension::Subnet => network.and_then(|n| {
            non_empty(n.subnet.as_ref()).or_else(|| non_empty(n.ip_address.as_ref()))
        }),
        Dimension::Building => {
            let ip = address(network?)?;
            let b = buildings?.lookup(ip)?;
            non_empty(Some(&b.building_name))
        }
        Dimension::CaptureDevice => non_empty(device?.capture_device_name.as_ref()),
        Dimension::CaptureDriver => non_empty(device?.capture_device_driver.as_ref()),
        Dimension::ConnectionType => {
            let n = network?;
            (n.connection_type != NetworkConnectionType::Unknown)
                .then(|| n.connection_type.as_str().to_string())
        }
        Dimension::WifiBand => {
            let n = network?;
            (n.connection_type == NetworkConnectionType::Wifi && n.wifi_band != WifiBand::Unknown)
                .then(|| n.wifi_band.as_str().to_string())
        }
        Dimension::Vpn => {
            let ip = address(network?)?;
            let vpn = buildings.and_then(|b| b.lookup(ip)).is_some_and(|n| n.vpn);
            Some(if vpn { "vpn" } else { "notVpn" }.to_string())
        }
    }
}

/// Streams counted by verdict, with the "Poor Due To" flags of the Poor ones. Serialized
/// with its `poorRate` (null when nothing was classified).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub good: u64,
    pub poor: u64,
    pub unclassified: u64,
    /// Per reason; a stream can have several, so these can add up to more than `poor`.
    pub poor_due_to: BTreeMap<PoorReason, u64>,
}

impl Counts {
    pub fn add(&mut self, v: &Verdict) {
        match v.quality {
            Quality::Good => self.good += 1,
            Quality::Poor => self.poor += 1,
            Quality::Unclassified => self.unclassified += 1,
        }
        for r in &v.poor_due_to {
            *self.poor_due_to.entry(*r).or_default() += 1;
        }
    }

    /// CQD's Poor % as a fraction: Poor ÷ (Poor + Good); Unclassified streams never count.
    /// `None` when no stream was classified.
    pub fn poor_rate(&self) -> Option<f64> {
        let classified = self.good + self.poor;
        (classified > 0).then(|| self.poor as f64 / classified as f64)
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Counts", 5)?;
        st.serialize_field("good", &self.good)?;
        st.serialize_field("poor", &self.poor)?;
        st.serialize_field("unclassified", &self.unclassified)?;
        st.serialize_field("poorRate", &self.poor_rate())?;
        st.serialize_field("poorDueTo", &self.poor_due_to)?;
        st.end()
    }
}

/// Per value of one dimension, per modality: the streams' counts.
pub type Tally = BTreeMap<String, BTreeMap<Modality, Counts>>;

/// Adds the classified-modality streams of `views` to `tally` under their `dimension` values.
pub fn tally_into(
    tally: &mut Tally,
    views: &[StreamView<'_>],
    dimension: Dimension,
    buildings: Option<&BuildingFile>,
) {
    for v in views {
        let Some(m) = v.modality else { continue };
        for value in v.values(dimension, buildings) {
            tally
                .entry(value)
                .or_default()
                .entry(m)
                .or_default()
                .add(&v.verdict);
        }
    }
}
