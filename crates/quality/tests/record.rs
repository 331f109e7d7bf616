//! Streams of a record with their endpoints, and tallies by dimension.

use callhook_model::{from_value, CallRecord};
use callhook_quality::{
    streams, tally_into, BuildingFile, Counts, Dimension, Modality, PoorReason, Quality, Tally,
    Thresholds,
};
use serde_json::{json, Value};

fn client(name: &str) -> Value {
    json!({"@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
        "userAgent": {"@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
            "platform": "windows", "productFamily": "teams"},
        "name": name})
}

fn server() -> Value {
    json!({"@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
        "userAgent": {"@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
            "role": "skypeForBusinessAudioVideoMcu"}})
}

fn net(ip: &str, subnet: &str, conn: &str, band: &str) -> Value {
    json!({"ipAddress": ip, "subnet": subnet, "connectionType": conn, "wifiBand": band})
}

fn audio_stream(dir: &str, jitter: &str) -> Value {
    json!({"streamDirection": dir, "averageJitter": jitter, "averagePacketLossRate": 0.01,
        "averageRoundTripTime": "PT0.05S", "packetUtilization": 3000})
}

fn segment(id: &str, caller: Value, callee: Value, media: Value) -> Value {
    json!({"id": id, "startDateTime": "2026-01-05T10:00:00Z",
        "endDateTime": "2026-01-05T10:10:00Z", "caller": caller, "callee": callee,
        "media": [media]})
}

fn record() -> CallRecord {
    // A peer-to-peer audio line between two clients (one poor direction), then a client's
    // video line to a conference server, and a data channel CQD does not classify.
    let p2p = segment(
        "seg-1",
        client("PC-A"),
        client("PC-B"),
        json!({"label": "main-audio",
            "callerNetwork": net("10.10.1.20", "10.10.1.0", "wired", "unknown"),
            "calleeNetwork": net("192.168.1.7", "192.168.1.0", "wifi", "frequency24GHz"),
            "callerDevice": {"captureDeviceName": "Headset A", "captureDeviceDriver": "Drv 1.0"},
            "calleeDevice": {"captureDeviceName": "Laptop Mic"},
            "streams": [audio_stream("callerToCallee", "PT0.01S"), audio_stream("calleeToCaller", "PT0.09S")]}),
    );
    let conf = segment(
        "seg-2",
        client("PC-C"),
        server(),
        json!({"label": "main-video",
            "callerNetwork": net("10.10.1.30", "10.10.1.0", "wifi", "frequency50GHz"),
            "calleeNetwork": net("52.112.0.4", "52.112.0.0", "wired", "unknown"),
            "streams": [{"streamDirection": "callerToCallee", "averageVideoFrameRate": 3.0}]}),
    );
    let data = segment(
        "seg-3",
        client("PC-C"),
        server(),
        json!({"label": "data", "streams": [{"streamDirection": "callerToCallee"}]}),
    );
    let session = |id: &str, seg: Value| {
        json!({"id": id, "modalities": ["audio"], "startDateTime": "2026-01-05T10:00:00Z",
            "endDateTime": "2026-01-05T10:10:00Z", "segments": [seg]})
    };
    from_value(json!({
        "id": "rec-1", "type": "groupCall", "modalities": ["audio", "video"],
        "startDateTime": "2026-01-05T10:00:00Z", "endDateTime": "2026-01-05T10:10:00Z",
        "sessions": [session("s1", p2p), session("s2", conf), session("s3", data)]
    }))
    .expect("a valid record")
}

fn buildings() -> BuildingFile {
    BuildingFile::parse(
        "10.10.0.0,HQ,16,Contoso HQ,,,,,,,,,1,0\n192.168.1.0,Home VPN,24,VPN,,,,,,,,,1,0,1\n",
    )
    .expect("valid file")
}

#[test]
fn walks_every_stream_with_its_endpoints() {
    let r = record();
    let views = streams(&r, &Thresholds::default());
    assert_eq!(views.len(), 4);
    let q: Vec<(Option<Modality>, Quality)> = views
        .iter()
        .map(|v| (v.modality, v.verdict.quality))
        .collect();
    assert_eq!(
        q,
        vec![
            (Some(Modality::Audio), Quality::Good),
            (Some(Modality::Audio), Quality::Poor),
            (Some(Modality::Video), Quality::Poor),
            (None, Quality::Unclassified),
        ]
    );
    assert_eq!(views[1].verdict.poor_due_to, vec![PoorReason::Jitter]);
    assert_eq!(views[1].segment_id, "seg-1");
    assert_eq!(views[2].session_id, "s2");
    assert_eq!(views[0].clients().len(), 2, "client-client: both sides");
    assert_eq!(
        views[2].clients().len(),
        1,
        "server-client: the client only"
    );
    let sender = views[1].sender();
    assert_eq!(
        sender.network.and_then(|n| n.subnet.clone()).as_deref(),
        Some("192.168.1.0")
    );
}

#[test]
fn streams_count_under_the_values_of_their_clients() {
    let r = record();
    let views = streams(&r, &Thresholds::default());
    let b = buildings();
    assert_eq!(
        views[1].values(Dimension::Subnet, None),
        vec!["10.10.1.0", "192.168.1.0"]
    );
    assert_eq!(views[2].values(Dimension::Subnet, None), vec!["10.10.1.0"]);
    assert_eq!(
        views[0].values(Dimension::Building, Some(&b)),
        vec!["Contoso HQ", "VPN"]
    );
    assert!(views[0].values(Dimension::Building, None).is_empty());
    assert_eq!(
        views[0].values(Dimension::CaptureDevice, None),
        vec!["Headset A", "Laptop Mic"]
    );
    assert_eq!(
        views[0].values(Dimension::CaptureDriver, None),
        vec!["Drv 1.0"]
    );
    assert_eq!(
        views[0].values(Dimension::ConnectionType, None),
        vec!["wired", "wifi"]
    );
    assert_eq!(
        views[0].values(Dimension::WifiBand, None),
        vec!["frequency24GHz"]
    );
    assert_eq!(
        views[2].values(Dimension::WifiBand, None),
        vec!["frequency50GHz"]
    );
    assert_eq!(
        views[0].values(Dimension::Vpn, Some(&b)),
        vec!["notVpn", "vpn"]
    );
    assert!(views[3].values(Dimension::Subnet, None).is_empty());
}

#[test]
fn tallies_give_cqd_poor_rates_per_value_and_modality() {
    let r = record();
    let views = streams(&r, &Thresholds::default());
    let mut t = Tally::new();
    tally_into(&mut t, &views, Dimension::Subnet, None);
    let hq = &t["10.10.1.0"];
    assert_eq!(hq[&Modality::Audio].good, 1);
    assert_eq!(hq[&Modality::Audio].poor, 1);
    assert_eq!(hq[&Modality::Audio].poor_rate(), Some(0.5));
    assert_eq!(hq[&Modality::Video].poor, 1);
    assert_eq!(
        hq[&Modality::Video].poor_due_to[&PoorReason::VideoFrameRateAvg],
        1
    );
    assert_eq!(t["192.168.1.0"][&Modality::Audio].poor, 1);
    assert!(!t.contains_key("52.112.0.0"), "servers are not counted");
}

#[test]
fn unclassified_streams_stay_out_of_the_rate() {
    let mut c = Counts::default();
    assert_eq!(c.poor_rate(), None);
    let t = Thresholds::default();
    let r = record();
    let views = streams(&r, &t);
    c.add(&views[3].verdict);
    assert_eq!(c.poor_rate(), None);
    c.add(&views[0].verdict);
    c.add(&views[1].verdict);
    assert_eq!((c.good, c.poor, c.unclassified), (1, 1, 1));
    assert_eq!(c.poor_rate(), Some(0.5));
}
