//! Endpoints, networks, devices and media streams with plausible values.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::{json, Map, Number, Value};

use super::catalog::*;
use super::draft::{ts, EndpointDraft, MediaDraft, StreamDraft};
use super::{DevKind, Device, Gen, Person};
use crate::quality::{format_duration_ms, StreamKind};

/// Share of streams generated Poor by the CQD thresholds.
const POOR_SHARE: f64 = 0.10;

/// One side of a segment, as far as media is concerned.
#[derive(Clone)]
pub(super) enum Leg {
    Client(Box<Device>),
    /// A Microsoft service (conference server, mediation server).
    Service,
    /// A customer's session border controller.
    Sbc,
}

/// Rounds to `places` decimals and makes a JSON number (NaN cannot occur with our inputs).
pub(super) fn num(x: f64, places: i32) -> Value {
    let f = 10f64.powi(places);
    Number::from_f64((x * f).round() / f).map_or(Value::Null, Value::Number)
}

impl Gen<'_> {
    pub(super) fn make_device(&mut self, kind: DevKind, first: &str) -> Device {
        let prefix: String = self
            .cfg
            .domain
            .split('.')
            .next()
            .unwrap_or("corp")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(6)
            .collect::<String>()
            .to_uppercase();
        match kind {
            DevKind::Windows => {
                let build = self.pick(DESKTOP_BUILDS);
                let os = self.pick(WINDOWS_OS);
                let sfb = self.chance(0.03);
                let header = if sfb {
                    "UCCAPI/16.0.12527.20122 OC/16.0.12527.20194 (Skype for Business)".to_string()
                } else {
                    format!("SkypeSpaces/1415/{build}/ (os=windows; osVer={os}; deviceType=1; mp=WebRTC)")
                };
                Device {
                    kind,
                    platform: "windows",
                    family: if sfb { "skypeForBusiness" } else { "teams" },
                    header,
                    app_version: Some(build.to_string()),
                    app_id: Some(TEAMS_DESKTOP_APP_ID),
                    name: Some(format!("{prefix}-LT{}", self.rng.gen_range(1000..9999))),
                    cpu: Some(self.pick(WINDOWS_CPUS)),
                    audio: self.pick(PC_AUDIO),
                }
            }
            DevKind::Mac => {
                let build = self.pick(DESKTOP_BUILDS);
                let os = self.pick(MAC_OS);
                Device {
                    kind,
                    platform: "macOS",
                    family: "teams",
                    header: format!(
                        "SkypeSpaces/1415/{build}/ (os=mac; osVer={os}; deviceType=1; mp=WebRTC)"
                    ),
                    app_version: Some(build.to_string()),
                    app_id: Some(TEAMS_DESKTOP_APP_ID),
                    name: Some(format!("{first}s-MacBook-Pro")),
                    cpu: Some(self.pick(MAC_CPUS)),
                    audio: self.pick(MAC_AUDIO),
                }
            }
            DevKind::Web => Device {
                kind,
                platform: "web",
                family: "teams",
                header: self.pick(BROWSERS).to_string(),
                app_version: None,
                app_id: Some(TEAMS_WEB_APP_ID),
                name: None,
                cpu: None,
                audio: self.pick(PC_AUDIO),
            },
            DevKind::Ios | DevKind::Android => {
                let ios = kind == DevKind::Ios;
                let (model, os) = self.pick(if ios { IOS_MODELS } else { ANDROID_MODELS });
                let build = self.pick(MOBILE_BUILDS);
                let os_name = if ios { "ios" } else { "android" };
                Device {
                    kind,
                    platform: if ios { "iOS" } else { "android" },
                    family: "teams",
                    header: format!(
                        "SkypeSpaces/1415/{build} (os={os_name}; osVer={os}; deviceType=2; model={model})"
                    ),
                    app_version: Some(build.to_string()),
                    app_id: Some(TEAMS_DESKTOP_APP_ID),
                    name: Some(if ios { "iPhone".to_string() } else { model.to_string() }),
                    cpu: None,
                    audio: self.pick(MOBILE_AUDIO),
                }
            }
            DevKind::Room => {
                let model = self.pick(ROOM_MODELS);
                Device {
                    kind,
                    platform: "roomSystem",
                    family: "teams",
                    header: format!(
                        "SkypeSpaces/1415/1449/1.0.96.2024121004 (os=android; deviceType=3; model={model})"
                    ),
                    app_version: Some("1449/1.0.96.2024121004".into()),
                    app_id: Some(TEAMS_DESKTOP_APP_ID),
                    name: Some(format!("MTR-{}", first.to_uppercase())),
                    cpu: None,
                    audio: (model, model, ""),
                }
            }
            DevKind::IpPhone => {
                let model = self.pick(IP_PHONES);
                Device {
                    kind,
                    platform: "ipPhone",
                    family: "teams",
                    header: format!(
                        "SkypeSpaces/1415/1449/1.0.94.2024111902 (os=android; deviceType=4; model={model})"
                    ),
                    app_version: Some("1449/1.0.94.2024111902".into()),
                    app_id: Some(TEAMS_DESKTOP_APP_ID),
                    name: Some(model.to_string()),
                    cpu: None,
                    audio: ("Handset", "Handset", ""),
                }
            }
        }
    }

    /// The device a person uses for one call: mostly the primary one, sometimes the phone.
    pub(super) fn device_for_call(&mut self, p: &Person) -> Device {
        match &p.mobile {
            Some(m) if self.chance(0.18) => m.clone(),
            _ => p.primary.clone(),
        }
    }

    pub(super) fn client_endpoint(&mut self, p: &Person, d: &Device) -> EndpointDraft {
        let mut ua = Map::new();
        ua.insert(
            "@odata.type".into(),
            json!("#microsoft.graph.callRecords.clientUserAgent"),
        );
        ua.insert("headerValue".into(), json!(d.header));
        ua.insert(
            "applicationVersion".into(),
            d.app_version.clone().map_or(Value::Null, Value::String),
        );
        ua.insert("platform".into(), json!(d.platform));
        ua.insert("productFamily".into(), json!(d.family));
        if let Some(app) = d.app_id {
            if d.family == "teams" {
                ua.insert("azureADAppId".into(), json!(app));
            }
        }
        let mut e = Map::new();
        e.insert(
            "@odata.type".into(),
            json!("#microsoft.graph.callRecords.participantEndpoint"),
        );
        if let Some(n) = &d.name {
            e.insert("name".into(), json!(n));
        }
        if let Some((cpu, cores, mhz)) = d.cpu {
            e.insert("cpuName".into(), json!(cpu));
            e.insert("cpuCoresCount".into(), json!(cores));
            e.insert("cpuProcessorSpeedInMhz".into(), json!(mhz));
        }
        e.insert("userAgent".into(), Value::Object(ua));
        e.insert(
            "associatedIdentity".into(),
            json!({
                "@odata.type": "#microsoft.graph.callRecords.userIdentity",
                "id": p.id,
                "displayName": p.name,
                "tenantId": p.tenant,
                "userPrincipalName": p.upn,
            }),
        );
        EndpointDraft {
            value: e,
            is_client: true,
            feedback: None,
        }
    }

    pub(super) fn service_endpoint(
        &mut self,
        role: &str,
        header: Option<(&str, &str)>,
    ) -> EndpointDraft {
        let mut ua = Map::new();
        ua.insert(
            "@odata.type".into(),
            json!("#microsoft.graph.callRecords.serviceUserAgent"),
        );
        ua.insert("role".into(), json!(role));
        if let Some((h, v)) = header {
            ua.insert("headerValue".into(), json!(h));
            ua.insert("applicationVersion".into(), json!(v));
        }
        let mut e = Map::new();
        e.insert(
            "@odata.type".into(),
            json!("#microsoft.graph.callRecords.serviceEndpoint"),
        );
        e.insert("userAgent".into(), Value::Object(ua));
        EndpointDraft {
            value: e,
            is_client: false,
            feedback: None,
        }
    }

    fn ip4(&mut self, a: u8, b: std::ops::RangeInclusive<u8>) -> (String, String) {
        let b = self.rng.gen_range(b);
        let c: u8 = self.rng.gen_range(0..=255);
        let d: u8 = self.rng.gen_range(2..=254);
        (format!("{a}.{b}.{c}.{d}"), format!("{a}.{b}.{c}.0"))
    }

    fn mac(&mut self, sep: char) -> String {
        let bytes: Vec<String> = (0..6)
            .map(|_| format!("{:02X}", self.rng.gen::<u8>()))
            .collect();
        bytes.join(&sep.to_string())
    }

    fn small_ratio(&mut self, p_nonzero: f64, max: f64) -> Value {
        if self.chance(p_nonzero) {
            num(self.rng.gen::<f64>() * max, 2)
        } else {
            json!(0)
        }
    }

    pub(super) fn network(&mut self, leg: &Leg) -> Value {
        let mut n = Map::new();
        let corp_egress = ["203.0.113.10", "203.0.113.11", "198.51.100.24"];
        let dev = match leg {
            Leg::Client(d) => (**d).clone(),
            Leg::Service | Leg::Sbc => {
                let (ip, subnet) = if matches!(leg, Leg::Sbc) {
                    ("203.0.113.50".to_string(), "203.0.113.0".to_string())
                } else {
                    let second = self.rng.gen_range(112..=115);
                    self.ip4(52, second..=second)
                };
                n.insert("ipAddress".into(), json!(ip));
                n.insert("subnet".into(), json!(subnet));
                n.insert("port".into(), json!(self.rng.gen_range(49152..=53247)));
                n.insert("connectionType".into(), json!("wired"));
                n.insert("networkTransportProtocol".into(), json!("udp"));
                n.insert("wifiBand".into(), json!("unknown"));
                n.insert("wifiRadioType".into(), json!("unknown"));
                n.insert("traceRouteHops".into(), json!([]));
                return Value::Object(n);
            }
        };
        let mobile_dev = matches!(dev.kind, DevKind::Ios | DevKind::Android);
        let conn = match dev.kind {
            DevKind::Room | DevKind::IpPhone => "wired",
            DevKind::Ios | DevKind::Android => {
                if self.chance(0.55) {
                    "wifi"
                } else {
                    "mobile"
                }
            }
            _ => {
                if self.chance(0.38) {
                    "wired"
                } else {
                    "wifi"
                }
            }
        };
        let in_office = conn == "wired" || (conn == "wifi" && self.chance(0.5));
        let (ip, subnet) = if conn == "mobile" {
            self.ip4(100, 64..=127)
        } else if in_office {
            self.ip4(10, 10..=40)
        } else {
            let c = self.pick(&[0u8, 1, 86, 178]);
            let d: u8 = self.rng.gen_range(2..=254);
            (format!("192.168.{c}.{d}"), format!("192.168.{c}.0"))
        };
        let reflexive = if in_office {
            self.pick(&corp_egress).to_string()
        } else {
            let a = self.pick(&[24u8, 73, 86, 98, 174, 81, 92, 172]);
            format!(
                "{a}.{}.{}.{}",
                self.rng.gen_range(1..=254u8),
                self.rng.gen_range(0..=255u8),
                self.rng.gen_range(1..=254u8)
            )
        };
        let relay_second = self.rng.gen_range(112..=115u8);
        let (relay, _) = self.ip4(52, relay_second..=relay_second);
        n.insert("ipAddress".into(), json!(ip));
        n.insert("subnet".into(), json!(subnet));
        n.insert("port".into(), json!(self.rng.gen_range(50000..=50059)));
        n.insert("reflexiveIPAddress".into(), json!(reflexive));
        n.insert("relayIPAddress".into(), json!(relay));
        n.insert("relayPort".into(), json!(3478));
        n.insert("connectionType".into(), json!(conn));
        let proto = if self.chance(0.93) { "udp" } else { "tcp" };
        n.insert("networkTransportProtocol".into(), json!(proto));
        n.insert(
            "dnsSuffix".into(),
            if in_office {
                json!(format!("corp.{}", self.cfg.domain))
            } else {
                Value::Null
            },
        );
        let mac = if mobile_dev {
            "02:00:00:00:00:00".to_string()
        } else {
            self.mac('-')
        };
        n.insert("macAddress".into(), json!(mac));
        match conn {
            "wired" => {
                let speed =
                    self.pick(&[1_000_000_000i64, 1_000_000_000, 100_000_000, 2_500_000_000]);
                n.insert("linkSpeed".into(), json!(speed));
                n.insert("wifiBand".into(), json!("unknown"));
                n.insert("wifiRadioType".into(), json!("unknown"));
            }
            "wifi" => {
                let five = self.chance(0.75);
                let (band, radio, channel) = if five {
                    let radio = self.pick(&["wifi80211ac", "wifi80211ax", "wifi80211ax"]);
                    (
                        "frequency50GHz",
                        radio,
                        self.pick(&[36i64, 40, 44, 48, 52, 100, 149, 153, 157]),
                    )
                } else {
                    ("frequency24GHz", "wifi80211n", self.pick(&[1i64, 6, 11]))
                };
                let speed: i64 = if five {
                    self.pick(&[300_000_000, 866_700_000, 1_200_000_000, 2_401_000_000])
                } else {
                    self.pick(&[72_200_000, 144_400_000])
                };
                n.insert("linkSpeed".into(), json!(speed));
                n.insert("wifiBand".into(), json!(band));
                n.insert("wifiRadioType".into(), json!(radio));
                n.insert("wifiChannel".into(), json!(channel));
                n.insert(
                    "wifiSignalStrength".into(),
                    json!(self.rng.gen_range(35..=100)),
                );
                n.insert("basicServiceSetIdentifier".into(), json!(self.mac(':')));
                if dev.kind == DevKind::Windows {
                    let (drv, ver) = self.pick(WIFI_ADAPTERS);
                    n.insert("wifiVendorDriver".into(), json!(drv));
                    n.insert("wifiVendorDriverVersion".into(), json!(ver));
                    n.insert("wifiMicrosoftDriver".into(), json!("Microsoft"));
                    n.insert("wifiMicrosoftDriverVersion".into(), json!("10.0.22621.1"));
                }
                if matches!(dev.kind, DevKind::Windows | DevKind::Mac) {
                    n.insert(
                        "wifiBatteryCharge".into(),
                        json!(self.rng.gen_range(15..=100)),
                    );
                }
            }
            _ => {
                n.insert("wifiBand".into(), json!("unknown"));
                n.insert("wifiRadioType".into(), json!("unknown"));
            }
        }
        let sent = self.small_ratio(0.15, 0.3);
        let received = self.small_ratio(0.15, 0.3);
        let delay = self.small_ratio(0.05, 0.2);
        let low_bw = self.small_ratio(0.05, 0.2);
        n.insert("sentQualityEventRatio".into(), sent);
        n.insert("receivedQualityEventRatio".into(), received);
        n.insert("delayEventRatio".into(), delay);
        n.insert("bandwidthLowEventRatio".into(), low_bw);
        n.insert("traceRouteHops".into(), json!([]));
        Value::Object(n)
    }

    pub(super) fn device_info(&mut self, leg: &Leg) -> Option<Value> {
        let Leg::Client(d) = leg else {
            return None;
        };
        let (capture, render, driver) = d.audio;
        let mut m = Map::new();
        m.insert("captureDeviceName".into(), json!(capture));
        m.insert("renderDeviceName".into(), json!(render));
        if !driver.is_empty() {
            m.insert("captureDeviceDriver".into(), json!(driver));
            m.insert("renderDeviceDriver".into(), json!(driver));
        }
        m.insert(
            "receivedSignalLevel".into(),
            json!(self.rng.gen_range(-32..=-8)),
        );
        m.insert(
            "receivedNoiseLevel".into(),
            json!(self.rng.gen_range(-92..=-60)),
        );
        m.insert(
            "sentSignalLevel".into(),
            json!(self.rng.gen_range(-30..=-10)),
        );
        m.insert(
            "sentNoiseLevel".into(),
            json!(self.rng.gen_range(-90..=-62)),
        );
        m.insert(
            "initialSignalLevelRootMeanSquare".into(),
            num(self.rng.gen_range(20.0..200.0), 4),
        );
        m.insert("micGlitchRate".into(), json!(self.rng.gen_range(0..150)));
        m.insert(
            "speakerGlitchRate".into(),
            json!(self.rng.gen_range(0..300)),
        );
        m.insert("howlingEventCount".into(), json!(0));
        let ratios = [
            "captureNotFunctioningEventRatio",
            "cpuInsufficentEventRatio",
            "deviceClippingEventRatio",
            "deviceGlitchEventRatio",
            "lowSpeechLevelEventRatio",
            "lowSpeechToNoiseEventRatio",
            "renderMuteEventRatio",
            "renderNotFunctioningEventRatio",
            "renderZeroVolumeEventRatio",
        ];
        for key in ratios {
            let v = self.small_ratio(0.08, 0.25);
            m.insert(key.into(), v);
        }
        Some(Value::Object(m))
    }

    pub(super) fn trace_route(&mut self) -> Value {
        let hops = self.rng.gen_range(3..=7);
        let mut rtt = self.rng.gen_range(1..3u64);
        let mut out = Vec::new();
        for i in 1..=hops {
            rtt += self.rng.gen_range(1..12u64);
            let ip = match i {
                1 => "10.0.0.1".to_string(),
                _ if i == hops => format!(
                    "52.{}.{}.{}",
                    self.rng.gen_range(112..=115u8),
                    self.rng.gen_range(0..=255u8),
                    self.rng.gen_range(1..=254u8)
                ),
                _ => format!(
                    "{}.{}.{}.{}",
                    self.pick(&[104u8, 4, 62, 195]),
                    self.rng.gen_range(0..=255u8),
                    self.rng.gen_range(0..=255u8),
                    self.rng.gen_range(1..=254u8)
                ),
            };
            out.push(
                json!({"hopCount": i, "ipAddress": ip, "roundTripTime": format_duration_ms(rtt)}),
            );
        }
        Value::Array(out)
    }

    /// One media entry between two legs; `one_way` limits it to a single stream (screen sharing).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn media(
        &mut self,
        kind: StreamKind,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        nets: (&Value, &Value),
        devices: (&Option<Value>, &Option<Value>),
        one_way: Option<&'static str>,
        codec: &'static str,
        bypassed: bool,
    ) -> MediaDraft {
        let label = match kind {
            StreamKind::Audio => "main-audio",
            StreamKind::Video => "main-video",
            StreamKind::Vbss => "applicationsharing-video",
        };
        let dirs: Vec<&'static str> = match one_way {
            Some(d) => vec![d],
            None => vec!["callerToCallee", "calleeToCaller"],
        };
        let secs = (end - start).num_milliseconds().max(1000) as f64 / 1000.0;
        let streams = dirs
            .into_iter()
            .map(|dir| self.stream(kind, dir, codec, secs, start, end, bypassed))
            .collect();
        MediaDraft {
            label,
            kind,
            caller_network: Some(nets.0.clone()),
            callee_network: Some(nets.1.clone()),
            caller_device: devices.0.clone(),
            callee_device: devices.1.clone(),
            hops: [None, None],
            streams,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn stream(
        &mut self,
        kind: StreamKind,
        dir: &'static str,
        codec: &'static str,
        secs: f64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        bypassed: bool,
    ) -> StreamDraft {
        let mut base = Map::new();
        base.insert(
            "streamId".into(),
            json!(self
                .rng
                .gen_range(100_000_000u32..4_000_000_000)
                .to_string()),
        );
        base.insert("streamDirection".into(), json!(dir));
        let poor = self.chance(POOR_SHARE);
        let mut stats = Map::new();
        stats.insert("startDateTime".into(), json!(ts(start)));
        stats.insert("endDateTime".into(), json!(ts(end)));
        match kind {
            StreamKind::Audio => {
                base.insert("audioCodec".into(), json!(codec));
                self.audio_stats(&mut stats, poor, secs, bypassed);
            }
            StreamKind::Video | StreamKind::Vbss => {
                base.insert("videoCodec".into(), json!(codec));
                self.video_stats(&mut stats, poor, kind, secs);
            }
        }
        StreamDraft {
            base,
            stats,
            stats_from: 1,
        }
    }

    fn audio_stats(&mut self, s: &mut Map<String, Value>, poor: bool, secs: f64, bypassed: bool) {
        let r = |g: &mut Self| g.rng.gen::<f64>();
        let mut jitter = 1.0 + r(self).powi(2) * 17.0;
        let mut loss = r(self).powi(3) * 0.04;
        let mut rtt = 15.0 + r(self).powi(2) * 165.0;
        let mut degradation = r(self).powi(2) * 0.8;
        let mut concealed = r(self).powi(2) * 0.045;
        if poor {
            // CQD's current rule judges audio by loss, jitter and round trip only; a poor
            // stream often shows degradation and concealment too.
            match self.weighted(&[(0u8, 40), (1, 40), (2, 20)]) {
                0 => loss = self.rng.gen_range(0.11..0.35),
                1 => jitter = self.rng.gen_range(31.0..120.0),
                _ => rtt = self.rng.gen_range(510.0..1400.0),
            }
            if self.chance(0.5) {
                degradation = self.rng.gen_range(1.05..2.8);
                concealed = self.rng.gen_range(0.075..0.25);
            }
        }
        let jitter_ms = jitter.round() as u64;
        let rtt_ms = rtt.round() as u64;
        s.insert(
            "averageAudioDegradation".into(),
            // The published example leaves degradation null on one direction; do so at times,
            // but never when it is the metric that makes the stream poor.
            if !poor && self.chance(0.25) {
                Value::Null
            } else {
                num(degradation, 6)
            },
        );
        s.insert("averageJitter".into(), json!(format_duration_ms(jitter_ms)));
        let max_jitter = jitter_ms + self.rng.gen_range(2..25);
        s.insert("maxJitter".into(), json!(format_duration_ms(max_jitter)));
        s.insert("averagePacketLossRate".into(), num(loss, 8));
        let max_loss = (loss + r(self) * 0.06).min(1.0);
        s.insert("maxPacketLossRate".into(), num(max_loss, 8));
        s.insert("averageRatioOfConcealedSamples".into(), num(concealed, 8));
        let max_concealed = (concealed + r(self) * 0.03).min(1.0);
        s.insert("maxRatioOfConcealedSamples".into(), num(max_concealed, 8));
        s.insert(
            "averageRoundTripTime".into(),
            json!(format_duration_ms(rtt_ms)),
        );
        let max_rtt = rtt_ms + self.rng.gen_range(5..150);
        s.insert(
            "maxRoundTripTime".into(),
            json!(format_duration_ms(max_rtt)),
        );
        let packets = (secs * 50.0 * self.rng.gen_range(0.85..1.0)) as i64;
        s.insert("packetUtilization".into(), json!(packets));
        let bw: i64 = self.rng.gen_range(2_000_000..60_000_000);
        s.insert("averageBandwidthEstimate".into(), json!(bw));
        s.insert("wasMediaBypassed".into(), json!(bypassed));
        let net_jitter = jitter_ms + self.rng.gen_range(0..40);
        s.insert(
            "averageAudioNetworkJitter".into(),
            json!(format_duration_ms(net_jitter)),
        );
        let max_net_jitter = net_jitter + self.rng.gen_range(3..60);
        s.insert(
            "maxAudioNetworkJitter".into(),
            json!(format_duration_ms(max_net_jitter)),
        );
        let fec = self.chance(0.3);
        s.insert("isAudioForwardErrorCorrectionUsed".into(), json!(fec));
    }

    fn video_stats(&mut self, s: &mut Map<String, Value>, poor: bool, kind: StreamKind, secs: f64) {
        let vbss = kind == StreamKind::Vbss;
        let r = |g: &mut Self| g.rng.gen::<f64>();
        let with_frame_loss = self.chance(0.75);
        let mut frame_loss = r(self).powi(2) * 6.0;
        let mut fps = if vbss {
            3.0 + r(self) * 12.0
        } else {
            15.0 + r(self) * 15.0
        };
        if poor {
            if with_frame_loss {
                frame_loss = self.rng.gen_range(51.0..90.0);
            } else {
                fps = if vbss {
                    self.rng.gen_range(0.3..1.9)
                } else {
                    self.rng.gen_range(2.0..6.9)
                };
            }
        }
        if with_frame_loss {
            s.insert("averageVideoFrameLossPercentage".into(), num(frame_loss, 4));
        }
        s.insert("averageVideoFrameRate".into(), num(fps, 4));
        s.insert(
            "averageReceivedFrameRate".into(),
            num(fps * self.rng.gen_range(0.95..1.0), 4),
        );
        let plr = r(self).powi(3) * 0.03;
        s.insert("averageVideoPacketLossRate".into(), num(plr, 8));
        s.insert(
            "postForwardErrorCorrectionPacketLossRate".into(),
            num(plr * 0.5, 8),
        );
        let low_fps = if fps < 7.5 {
            0.5 + r(self) * 0.5
        } else {
            r(self).powi(2) * 0.1
        };
        s.insert("lowFrameRateRatio".into(), num(low_fps, 6));
        s.insert(
            "lowVideoProcessingCapabilityRatio".into(),
            num(r(self).powi(3) * 0.05, 6),
        );
        let freeze = self.rng.gen_range(0..300u64);
        s.insert(
            "averageFreezeDuration".into(),
            json!(format_duration_ms(freeze)),
        );
        s.insert(
            "rmsFreezeDuration".into(),
            json!(format_duration_ms(freeze + freeze / 3)),
        );
        s.insert(
            "averageJitter".into(),
            json!(format_duration_ms(self.rng.gen_range(2..20))),
        );
        s.insert(
            "averageRoundTripTime".into(),
            json!(format_duration_ms(self.rng.gen_range(20..180))),
        );
        let packets =
            (secs * if vbss { 60.0 } else { 250.0 } * self.rng.gen_range(0.8..1.0)) as i64;
        s.insert("packetUtilization".into(), json!(packets));
        let bw: i64 = self.rng.gen_range(1_500_000..40_000_000);
        s.insert("averageBandwidthEstimate".into(), json!(bw));
    }
}
