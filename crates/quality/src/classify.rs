//! CQD stream classification and "Poor Due To" attribution for one stream.

use callhook_model::{AudioCodec, MediaStream, VideoCodec};
use serde::Serialize;

/// Which CQD rule set applies to a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Modality {
    Audio,
    Video,
    /// Video-based screen sharing.
    Vbss,
    /// RDP-based application sharing.
    AppSharing,
}

impl Modality {
    /// The rule set of a `media` entry from its `label` (`main-audio`, `main-video`,
    /// `applicationsharing-video`, `applicationsharing`); `None` for labels with no CQD rule
    /// (e.g. `data`) or no recognisable word.
    pub fn from_label(label: &str) -> Option<Self> {
        let l = label.to_ascii_lowercase();
        let sharing = l.contains("applicationsharing") || l.contains("screenshar");
        if (sharing && l.contains("video")) || l.contains("vbss") {
            Some(Self::Vbss)
        } else if sharing {
            Some(Self::AppSharing)
        } else if l.contains("video") {
            Some(Self::Video)
        } else if l.contains("audio") {
            Some(Self::Audio)
        } else {
            None
        }
    }

    /// Fallback when the label says nothing: the codec the stream carries.
    pub fn from_codec(stream: &MediaStream) -> Option<Self> {
        match (&stream.audio_codec, &stream.video_codec) {
            (Some(c), _) if *c != AudioCodec::Unknown => Some(Self::Audio),
            (_, Some(c)) if *c != VideoCodec::Unknown => Some(Self::Video),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Vbss => "vbss",
            Self::AppSharing => "appSharing",
        }
    }
}

/// CQD's verdict for one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Quality {
    Good,
    Poor,
    Unclassified,
}

/// One "Poor Due To" flag (CQD's `Audio Poor Due To Jitter`, `Video Poor Due To VideoPostFecplr`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PoorReason {
    Jitter,
    RoundTrip,
    PacketLoss,
    /// Only under the older audio rule ([`Thresholds::legacy`]).
    Degradation,
    /// Only under the older audio rule ([`Thresholds::legacy`]).
    ConcealedRatio,
    VideoLocalFrameLossPercentageAvg,
    VideoFrameRateAvg,
    VideoPostFecplr,
    SpoiledTilePercentTotal,
    TileProcessingLatency,
    RelativeOneWay,
}

impl PoorReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jitter => "jitter",
            Self::RoundTrip => "roundTrip",
            Self::PacketLoss => "packetLoss",
            Self::Degradation => "degradation",
            Self::ConcealedRatio => "concealedRatio",
            Self::VideoLocalFrameLossPercentageAvg => "videoLocalFrameLossPercentageAvg",
            Self::VideoFrameRateAvg => "videoFrameRateAvg",
            Self::VideoPostFecplr => "videoPostFecplr",
            Self::SpoiledTilePercentTotal => "spoiledTilePercentTotal",
            Self::TileProcessingLatency => "tileProcessingLatency",
            Self::RelativeOneWay => "relativeOneWay",
        }
    }
}

/// A stream's classification with every reason that made it Poor (several audio reasons can
/// hold at once; video and screen sharing have at most one, the metric that decided).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub quality: Quality,
    pub poor_due_to: Vec<PoorReason>,
}

impl Verdict {
    fn unclassified() -> Self {
        Self {
            quality: Quality::Unclassified,
            poor_due_to: Vec::new(),
        }
    }

    fn from_reasons(reasons: Vec<PoorReason>) -> Self {
        Self {
            quality: if reasons.is_empty() {
                Quality::Good
            } else {
                Quality::Poor
            },
            poor_due_to: reasons,
        }
    }
}

/// The bars CQD compares with. A stream is Poor when a metric is strictly beyond its bar
/// (above a maximum, below a minimum); a value exactly at the bar is Good.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Thresholds {
    pub audio_round_trip_max_ms: f64,
    /// Fraction (0.1 = 10 %).
    pub audio_packet_loss_max: f64,
    pub audio_jitter_max_ms: f64,
    /// Older rule only: `None` leaves network MOS degradation out.
    pub audio_degradation_max: Option<f64>,
    /// Older rule only: `None` leaves the concealed-samples ratio out.
    pub audio_concealed_ratio_max: Option<f64>,
    /// An audio stream with at most this many packets is Unclassified (a muted listener's
    /// outbound audio); `None` ignores packet utilization.
    pub audio_min_packet_utilization: Option<i64>,
    pub video_frame_loss_max_percent: f64,
    pub video_frame_rate_min: f64,
    pub vbss_frame_rate_min: f64,
    pub video_post_fec_packet_loss_max: f64,
    pub app_sharing_spoiled_tile_max_percent: f64,
    pub app_sharing_tile_latency_max_ms: f64,
    pub app_sharing_relative_one_way_max_ms: f64,
}

impl Default for Thresholds {
    /// CQD's current rule: audio by round trip, packet loss and jitter, above 500 packets.
    fn default() -> Self {
        Self {
            audio_round_trip_max_ms: 500.0,
            audio_packet_loss_max: 0.1,
            audio_jitter_max_ms: 30.0,
            audio_degradation_max: None,
            audio_concealed_ratio_max: None,
            audio_min_packet_utilization: Some(500),
            video_frame_loss_max_percent: 50.0,
            video_frame_rate_min: 7.0,
            vbss_frame_rate_min: 2.0,
            video_post_fec_packet_loss_max: 0.15,
            app_sharing_spoiled_tile_max_percent: 36.0,
            app_sharing_tile_latency_max_ms: 400.0,
            app_sharing_relative_one_way_max_ms: 1750.0,
        }
    }
}

impl Thresholds {
    /// CQD's older five-condition audio rule (degradation > 1.0 and concealed ratio > 0.07 also
    /// make a stream Poor; no packet-utilization condition).
    pub fn legacy() -> Self {
        Self {
            audio_degradation_max: Some(1.0),
            audio_concealed_ratio_max: Some(0.07),
            audio_min_packet_utilization: None,
            ..Self::default()
        }
    }

    /// Classifies a Graph `mediaStream` with the rules of `modality`.
    pub fn classify(&self, modality: Modality, stream: &MediaStream) -> Verdict {
        self.classify_metrics(modality, &StreamMetrics::from(stream))
    }

    /// Classifies metrics already read from a stream (or staged by a simulator).
    pub fn classify_metrics(&self, modality: Modality, m: &StreamMetrics) -> Verdict {
        match modality {
            Modality::Audio => self.audio(m),
            Modality::Video => self.video(m, self.video_frame_rate_min),
            Modality::Vbss => self.video(m, self.vbss_frame_rate_min),
            Modality::AppSharing => self.app_sharing(m),
        }
    }

    fn audio(&self, m: &StreamMetrics) -> Verdict {
        let checks = [
            (
                m.round_trip_ms,
                Some(self.audio_round_trip_max_ms),
                PoorReason::RoundTrip,
            ),
            (
                m.packet_loss_rate,
                Some(self.audio_packet_loss_max),
                PoorReason::PacketLoss,
            ),
            (
                m.jitter_ms,
                Some(self.audio_jitter_max_ms),
                PoorReason::Jitter,
            ),
            (
                m.audio_degradation,
                self.audio_degradation_max,
                PoorReason::Degradation,
            ),
            (
                m.concealed_ratio,
                self.audio_concealed_ratio_max,
                PoorReason::ConcealedRatio,
            ),
        ];
        let mut measured = false;
        let mut reasons = Vec::new();
        for (value, max, reason) in checks {
            if let (Some(v), Some(max)) = (value, max) {
                measured = true;
                if v > max {
                    reasons.push(reason);
                }
            }
        }
        let too_few_packets = match (self.audio_min_packet_utilization, m.packet_utilization) {
            (Some(min), Some(pu)) => pu <= min,
            _ => false,
        };
        if !measured || too_few_packets {
            return Verdict::unclassified();
        }
        Verdict::from_reasons(reasons)
    }

    /// Video and VBSS: the first metric present decides, in CQD's order.
    fn video(&self, m: &StreamMetrics, min_fps: f64) -> Verdict {
        let decided = if let Some(loss) = m.video_frame_loss_percent {
            (
                loss > self.video_frame_loss_max_percent,
                PoorReason::VideoLocalFrameLossPercentageAvg,
            )
        } else if let Some(fps) = m.video_frame_rate {
            (fps < min_fps, PoorReason::VideoFrameRateAvg)
        } else if let Some(plr) = m.post_fec_packet_loss_rate {
            (
                plr > self.video_post_fec_packet_loss_max,
                PoorReason::VideoPostFecplr,
            )
        } else {
            return Verdict::unclassified();
        };
        Verdict::from_reasons(match decided {
            (true, reason) => vec![reason],
            (false, _) => Vec::new(),
        })
    }

    fn app_sharing(&self, m: &StreamMetrics) -> Verdict {
        let checks = [
            (
                m.spoiled_tile_percent,
                self.app_sharing_spoiled_tile_max_percent,
                PoorReason::SpoiledTilePercentTotal,
            ),
            (
                m.tile_processing_latency_ms,
                self.app_sharing_tile_latency_max_ms,
                PoorReason::TileProcessingLatency,
            ),
            (
                m.relative_one_way_ms,
                self.app_sharing_relative_one_way_max_ms,
                PoorReason::RelativeOneWay,
            ),
        ];
        if checks.iter().all(|(v, _, _)| v.is_none()) {
            return Verdict::unclassified();
        }
        Verdict::from_reasons(
            checks
                .into_iter()
                .filter_map(|(v, max, reason)| v.filter(|v| *v > max).map(|_| reason))
                .collect(),
        )
    }
}

/// The numbers CQD classifies on, in CQD's units (ms, fractions, percent, fps). Non-finite
/// values (Graph's `"NaN"`, `"INF"`) count as not reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamMetrics {
    pub round_trip_ms: Option<f64>,
    pub packet_loss_rate: Option<f64>,
    pub jitter_ms: Option<f64>,
    pub audio_degradation: Option<f64>,
    pub concealed_ratio: Option<f64>,
    pub packet_utilization: Option<i64>,
    pub video_frame_loss_percent: Option<f64>,
    /// `averageVideoFrameRate`, else `averageReceivedFrameRate`.
    pub video_frame_rate: Option<f64>,
    pub post_fec_packet_loss_rate: Option<f64>,
    /// RDP application sharing: Graph has no fields for these, so they are `None` from Graph.
    pub spoiled_tile_percent: Option<f64>,
    pub tile_processing_latency_ms: Option<f64>,
    pub relative_one_way_ms: Option<f64>,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

impl From<&MediaStream> for StreamMetrics {
    fn from(s: &MediaStream) -> Self {
        let single = |v: Option<callhook_model::GraphSingle>| finite(v.map(|x| x.value()));
        let ms = |v: Option<callhook_model::GraphDuration>| finite(v.map(|d| d.as_millis_f64()));
        Self {
            round_trip_ms: ms(s.average_round_trip_time),
            packet_loss_rate: single(s.average_packet_loss_rate),
            jitter_ms: ms(s.average_jitter),
            audio_degradation: single(s.average_audio_degradation),
            concealed_ratio: single(s.average_ratio_of_concealed_samples),
            packet_utilization: s.packet_utilization,
            video_frame_loss_percent: single(s.average_video_frame_loss_percentage),
            video_frame_rate: single(s.average_video_frame_rate)
                .or_else(|| single(s.average_received_frame_rate)),
            post_fec_packet_loss_rate: single(s.post_forward_error_correction_packet_loss_rate),
            spoiled_tile_percent: None,
            tile_processing_latency_ms: None,
            relative_one_way_ms: None,
        }
    }
}
