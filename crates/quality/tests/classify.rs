//! CQD stream classification: cases written from the CQD stream-classification rules.

use callhook_model::{from_value, MediaStream};
use callhook_quality::{Modality, PoorReason, Quality, StreamMetrics, Thresholds, Verdict};
use serde_json::{json, Value};

fn stream(extra: Value) -> MediaStream {
    let mut v = json!({"streamDirection": "callerToCallee"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    from_value(v).expect("a valid mediaStream")
}

fn audio(extra: Value) -> Verdict {
    Thresholds::default().classify(Modality::Audio, &stream(extra))
}

const GOOD_AUDIO: &str = r#"{"averageJitter": "PT0.016S", "averagePacketLossRate": 0.01,
    "averageRoundTripTime": "PT0.061S", "averageAudioDegradation": 0.3,
    "averageRatioOfConcealedSamples": 0.02, "packetUtilization": 2000}"#;

fn good_audio() -> Value {
    serde_json::from_str(GOOD_AUDIO).expect("test JSON")
}

#[test]
fn audio_is_poor_when_round_trip_loss_or_jitter_crosses_its_bar() {
    assert_eq!(audio(good_audio()).quality, Quality::Good);
    for (key, value, reason) in [
        ("averageJitter", json!("PT0.031S"), PoorReason::Jitter),
        ("averagePacketLossRate", json!(0.11), PoorReason::PacketLoss),
        (
            "averageRoundTripTime",
            json!("PT0.501S"),
            PoorReason::RoundTrip,
        ),
    ] {
        let mut s = good_audio();
        s[key] = value;
        let v = audio(s);
        assert_eq!(v.quality, Quality::Poor, "{key}");
        assert_eq!(v.poor_due_to, vec![reason], "{key}");
    }
}

#[test]
fn every_crossed_bar_is_a_reason() {
    let mut s = good_audio();
    s["averageJitter"] = json!("PT0.2S");
    s["averagePacketLossRate"] = json!(0.3);
    s["averageRoundTripTime"] = json!("PT1S");
    let v = audio(s);
    assert_eq!(v.quality, Quality::Poor);
    assert_eq!(
        v.poor_due_to,
        vec![
            PoorReason::RoundTrip,
            PoorReason::PacketLoss,
            PoorReason::Jitter
        ]
    );
}

#[test]
fn values_exactly_at_the_bars_are_good() {
    let v = audio(
        json!({"averageJitter": "PT0.03S", "averagePacketLossRate": 0.1,
        "averageRoundTripTime": "PT0.5S", "packetUtilization": 501}),
    );
    assert_eq!(v.quality, Quality::Good);
}

#[test]
fn the_current_rule_ignores_degradation_and_concealment_the_legacy_rule_does_not() {
    let mut s = good_audio();
    s["averageAudioDegradation"] = json!(1.16);
    s["averageRatioOfConcealedSamples"] = json!(0.08);
    assert_eq!(audio(s.clone()).quality, Quality::Good);
    let v = Thresholds::legacy().classify(Modality::Audio, &stream(s));
    assert_eq!(v.quality, Quality::Poor);
    assert_eq!(
        v.poor_due_to,
        vec![PoorReason::Degradation, PoorReason::ConcealedRatio]
    );
}

#[test]
fn few_packets_make_audio_unclassified_under_the_current_rule_only() {
    let mut s = good_audio();
    s["averageJitter"] = json!("PT0.2S");
    s["packetUtilization"] = json!(500);
    assert_eq!(audio(s.clone()).quality, Quality::Unclassified);
    assert!(audio(s.clone()).poor_due_to.is_empty());
    assert_eq!(
        Thresholds::legacy()
            .classify(Modality::Audio, &stream(s.clone()))
            .quality,
        Quality::Poor
    );
    // Without a packet count the metrics alone decide.
    if let Some(o) = s.as_object_mut() {
        o.remove("packetUtilization");
    }
    assert_eq!(audio(s).quality, Quality::Poor);
}

#[test]
fn audio_without_metrics_is_unclassified() {
    assert_eq!(audio(json!({})).quality, Quality::Unclassified);
    // Graph's "NaN" is no measurement.
    let v = audio(json!({"averagePacketLossRate": "NaN", "averageAudioDegradation": null}));
    assert_eq!(v.quality, Quality::Unclassified);
}

#[test]
fn video_is_decided_by_the_first_metric_present() {
    let t = Thresholds::default();
    let video = |s: Value| t.classify(Modality::Video, &stream(s));
    // Frame loss decides, even though the frame rate alone would be poor.
    let v = video(json!({"averageVideoFrameLossPercentage": 10.0, "averageVideoFrameRate": 3.0}));
    assert_eq!(v.quality, Quality::Good);
    let v = video(json!({"averageVideoFrameLossPercentage": 51.0, "averageVideoFrameRate": 3.0}));
    assert_eq!(
        v.poor_due_to,
        vec![PoorReason::VideoLocalFrameLossPercentageAvg]
    );
    let v = video(json!({"averageVideoFrameLossPercentage": 50.0}));
    assert_eq!(v.quality, Quality::Good);
    let v = video(
        json!({"averageVideoFrameRate": 6.9, "postForwardErrorCorrectionPacketLossRate": 0.0}),
    );
    assert_eq!(v.poor_due_to, vec![PoorReason::VideoFrameRateAvg]);
    let v = video(json!({"averageReceivedFrameRate": 6.5}));
    assert_eq!(v.poor_due_to, vec![PoorReason::VideoFrameRateAvg]);
    assert_eq!(
        video(json!({"averageVideoFrameRate": 7.0})).quality,
        Quality::Good
    );
    let v = video(json!({"postForwardErrorCorrectionPacketLossRate": 0.2}));
    assert_eq!(v.poor_due_to, vec![PoorReason::VideoPostFecplr]);
    assert_eq!(
        video(json!({"postForwardErrorCorrectionPacketLossRate": 0.15})).quality,
        Quality::Good
    );
    assert_eq!(video(json!({})).quality, Quality::Unclassified);
}

#[test]
fn screen_sharing_accepts_lower_frame_rates_than_video() {
    let t = Thresholds::default();
    let s = stream(json!({"averageVideoFrameRate": 4.0}));
    assert_eq!(t.classify(Modality::Vbss, &s).quality, Quality::Good);
    assert_eq!(t.classify(Modality::Video, &s).quality, Quality::Poor);
    let s = stream(json!({"averageVideoFrameRate": 1.5}));
    assert_eq!(t.classify(Modality::Vbss, &s).quality, Quality::Poor);
}

#[test]
fn application_sharing_has_no_graph_metrics_but_classifies_given_ones() {
    let t = Thresholds::default();
    assert_eq!(
        t.classify(
            Modality::AppSharing,
            &stream(json!({"averageVideoFrameRate": 1.0}))
        )
        .quality,
        Quality::Unclassified
    );
    let m = StreamMetrics {
        spoiled_tile_percent: Some(40.0),
        tile_processing_latency_ms: Some(100.0),
        relative_one_way_ms: Some(2000.0),
        ..StreamMetrics::default()
    };
    let v = t.classify_metrics(Modality::AppSharing, &m);
    assert_eq!(
        v.poor_due_to,
        vec![
            PoorReason::SpoiledTilePercentTotal,
            PoorReason::RelativeOneWay
        ]
    );
    let m = StreamMetrics {
        tile_processing_latency_ms: Some(400.0),
        ..StreamMetrics::default()
    };
    assert_eq!(
        t.classify_metrics(Modality::AppSharing, &m).quality,
        Quality::Good
    );
}

#[test]
fn thresholds_are_configurable() {
    let strict = Thresholds {
        audio_jitter_max_ms: 15.0,
        ..Thresholds::default()
    };
    let s = stream(good_audio());
    assert_eq!(strict.classify(Modality::Audio, &s).quality, Quality::Poor);
    assert_eq!(
        Thresholds::default().classify(Modality::Audio, &s).quality,
        Quality::Good
    );
}

#[test]
fn labels_and_codecs_select_the_rule_set() {
    for (label, m) in [
        ("main-audio", Some(Modality::Audio)),
        ("main-video", Some(Modality::Video)),
        ("applicationsharing-video", Some(Modality::Vbss)),
        ("applicationsharing", Some(Modality::AppSharing)),
        ("data", None),
    ] {
        assert_eq!(Modality::from_label(label), m, "{label}");
    }
    assert_eq!(
        Modality::from_codec(&stream(json!({"audioCodec": "opus"}))),
        Some(Modality::Audio)
    );
    assert_eq!(
        Modality::from_codec(&stream(json!({"videoCodec": "h264"}))),
        Some(Modality::Video)
    );
    assert_eq!(Modality::from_codec(&stream(json!({}))), None);
}

#[test]
fn the_published_example_streams_classify_by_the_rule_in_force() {
    // The second stream of Graph's "get full details" example has degradation 1.16 and a
    // concealed ratio under 0.07: Poor only under the older rule.
    let s = stream(
        json!({"streamDirection": "calleeToCaller", "averageAudioDegradation": 1.160898,
        "averageJitter": "PT0.007S", "averagePacketLossRate": 0.01381693,
        "averageRatioOfConcealedSamples": 0.06233422, "averageRoundTripTime": "PT0.064S"}),
    );
    assert_eq!(
        Thresholds::default().classify(Modality::Audio, &s).quality,
        Quality::Good
    );
    assert_eq!(
        Thresholds::legacy()
            .classify(Modality::Audio, &s)
            .poor_due_to,
        vec![PoorReason::Degradation]
    );
}
