//! The benchmark's record: a group call with 2 sessions, each with one segment whose audio
//! media has 2 streams (one per direction), filled as a real client report would be.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// The id of benchmark record `k` (stable, so reads can pick stored ids).
pub fn id_of(k: usize) -> String {
    format!("bench000-0000-4000-8000-{k:012}")
}

fn user(k: usize) -> (String, String) {
    (
        format!("b0000000-0000-4000-8000-{k:012}"),
        format!("Bench User {k}"),
    )
}

fn endpoint(uid: &str, name: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
        "userAgent": {
            "@odata.type": "#microsoft.graph.callRecords.clientUserAgent",
            "headerValue": "Teams/24.1.0.0 (Windows 10.0.22631)",
            "platform": "windows",
            "productFamily": "teams"
        },
        "associatedIdentity": { "id": uid, "displayName": name, "tenantId": "00000000-0000-4000-8000-000000000001" },
        "name": "DESKTOP-BENCH",
        "cpuCoresCount": 8,
        "cpuName": "Intel(R) Core(TM) i7-1185G7",
        "cpuProcessorSpeedInMhz": 3000
    })
}

fn conference() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.callRecords.serviceEndpoint",
        "userAgent": {
            "@odata.type": "#microsoft.graph.callRecords.serviceUserAgent",
            "headerValue": "av-mcu/1.0",
            "role": "skypeForBusinessAudioVideoMcu"
        }
    })
}

fn stream(direction: &str, i: usize) -> Value {
    json!({
        "streamId": format!("{}", 1_000_000 + i),
        "streamDirection": direction,
        "audioCodec": "satin",
        "averageAudioDegradation": 0.4,
        "averageJitter": "PT0.008S",
        "maxJitter": "PT0.03S",
        "averagePacketLossRate": 0.002,
        "maxPacketLossRate": 0.03,
        "averageRoundTripTime": "PT0.045S",
        "maxRoundTripTime": "PT0.12S",
        "averageRatioOfConcealedSamples": 0.01,
        "averageBandwidthEstimate": 3_200_000,
        "packetUtilization": 5400,
        "wasMediaBypassed": false
    })
}

fn session(k: usize, s: usize, start: DateTime<Utc>, end: DateTime<Utc>) -> Value {
    let (uid, name) = user(k * 2 + s);
    let sid = format!("{}-s{s}", id_of(k));
    let times = |v: DateTime<Utc>| v.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "id": sid,
        "caller": endpoint(&uid, &name),
        "callee": conference(),
        "modalities": ["audio"],
        "startDateTime": times(start),
        "endDateTime": times(end),
        "segments": [{
            "id": format!("{sid}-g0"),
            "caller": endpoint(&uid, &name),
            "callee": conference(),
            "startDateTime": times(start),
            "endDateTime": times(end),
            "media": [{
                "label": "main-audio",
                "callerNetwork": { "connectionType": "wifi", "ipAddress": "10.0.0.12", "subnet": "10.0.0.0", "linkSpeed": 866_000_000, "wifiBand": "frequency50GHz", "wifiRadioType": "wifi80211ac", "wifiSignalStrength": 78 },
                "callerDevice": { "captureDeviceName": "Headset Microphone", "renderDeviceName": "Headset Earphone", "receivedSignalLevel": -12, "receivedNoiseLevel": -70 },
                "streams": [stream("callerToCallee", k * 4 + s * 2), stream("calleeToCaller", k * 4 + s * 2 + 1)]
            }]
        }]
    })
}

/// Benchmark record `k`: a two-person group call that ended in the last 24 hours.
pub fn two_by_two(k: usize, now: DateTime<Utc>) -> Value {
    let start = now - Duration::seconds(3600 + (k % 80_000) as i64);
    let end = start + Duration::minutes(20);
    let parts: Vec<Value> = (0..2)
        .map(|s| {
            let (uid, name) = user(k * 2 + s);
            json!({ "id": uid, "identity": { "user": { "id": uid, "displayName": name, "tenantId": "00000000-0000-4000-8000-000000000001" } } })
        })
        .collect();
    let times = |v: DateTime<Utc>| v.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "id": id_of(k),
        "type": "groupCall",
        "modalities": ["audio"],
        "startDateTime": times(start),
        "endDateTime": times(end),
        "joinWebUrl": format!("https://teams.microsoft.com/l/meetup-join/19%3ameeting_bench{k}%40thread.v2/0"),
        "organizer_v2": parts[0].clone(),
        "participants_v2": parts,
        "sessions": [session(k, 0, start, end), session(k, 1, start, end)]
    })
}

/// PSTN call report row `k`, a three-minute outbound call starting at `start`.
pub fn pstn_row(k: usize, start: DateTime<Utc>) -> Value {
    let times = |v: DateTime<Utc>| v.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (uid, name) = user(k);
    json!({
        "id": format!("bench570-0000-4000-8000-{k:012}"),
        "callId": format!("{}_{}@10.20.30.40", 1_800_000_000 + k, 100_000 + k % 1000),
        "userId": uid,
        "userPrincipalName": format!("bench.user{k}@contoso.example"),
        "userDisplayName": name,
        "startDateTime": times(start),
        "endDateTime": times(start + Duration::seconds(185)),
        "duration": 185,
        "charge": 0.12,
        "callType": "user_out",
        "currency": "USD",
        "calleeNumber": format!("+1425555{:04}", k % 10_000),
        "usageCountryCode": "US",
        "tenantCountryCode": "US",
        "connectionCharge": 0.0,
        "callerNumber": "+14255550100",
        "destinationContext": null,
        "destinationName": "United States",
        "conferenceId": null,
        "licenseCapability": "MCOPSTNU",
        "inventoryType": "Subscriber",
        "operator": "Microsoft",
        "callDurationSource": "microsoft",
        "otherPartyCountryCode": "US"
    })
}
