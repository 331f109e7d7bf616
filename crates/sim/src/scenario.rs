//! Scenario files: incidents to stage in a run (TOML, schema in `docs/scenarios.md`), resolved
//! against the run's time window into a [`Staging`] the generator applies.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use callhook_quality::{BuildingFile, Network};
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A scenario file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Free text, copied into the ground truth.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "building")]
    pub buildings: Vec<BuildingSpec>,
    #[serde(default, rename = "incident")]
    pub incidents: Vec<IncidentSpec>,
}

/// A building of the scenario's building file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildingSpec {
    pub name: String,
    /// CIDR networks, e.g. `10.50.0.0/16`.
    pub networks: Vec<String>,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub region: String,
    #[serde(default = "yes")]
    pub inside_corp: bool,
    #[serde(default)]
    pub vpn: bool,
}

fn yes() -> bool {
    true
}

/// What an incident does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentKind {
    /// Network degradation for a subnet or building.
    Network,
    /// A capture device (and driver) with poor audio.
    Device,
    /// A Wi-Fi band with poor quality.
    Wifi,
    /// A VPN network with poor quality.
    Vpn,
    /// A direct-routing trunk whose calls fail with a SIP code.
    Trunk,
    /// Emergency calls.
    Emergency,
    /// One user with poor call after poor call.
    PoorStreak,
}

/// One `[[incident]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentSpec {
    pub kind: IncidentKind,
    /// `random` (default), an RFC 3339 time, or an offset into the run (`+36h`, `+90m`).
    #[serde(default)]
    pub start: Option<String>,
    /// How long it lasts: `90m`, `2h`, `1d` (default 1h).
    #[serde(default)]
    pub duration: Option<String>,
    /// Staged calls (report rows for `trunk`). Defaults: 20; `emergency` 1; `poor-streak` 5.
    #[serde(default)]
    pub calls: Option<usize>,
    #[serde(default)]
    pub subnet: Option<String>,
    #[serde(default)]
    pub building: Option<String>,
    #[serde(default)]
    pub capture_device: Option<String>,
    #[serde(default)]
    pub driver: Option<String>,
    /// `2.4GHz`, `5GHz`, `6GHz` or Graph's `frequency24GHz`, `frequency50GHz`, `frequency60GHz`.
    #[serde(default)]
    pub band: Option<String>,
    /// Trunk FQDN, e.g. `sbc1.contoso.com`.
    #[serde(default)]
    pub trunk: Option<String>,
    #[serde(default)]
    pub sip_code: Option<i64>,
    #[serde(default)]
    pub sip_phrase: Option<String>,
    /// A user principal name; default a random user.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub packet_loss: Option<f64>,
    #[serde(default)]
    pub jitter_ms: Option<u64>,
    #[serde(default)]
    pub round_trip_ms: Option<u64>,
}

impl Scenario {
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let s: Scenario = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
        s.check()?;
        Ok(s)
    }

    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the scenario {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("scenario {}", path.display()))
    }

    /// The scenario's building file; `None` when it names no buildings.
    pub fn building_file(&self) -> anyhow::Result<Option<BuildingFile>> {
        if self.buildings.is_empty() {
            return Ok(None);
        }
        let mut networks = Vec::new();
        for b in &self.buildings {
            for n in &b.networks {
                let (ip, range) =
                    parse_cidr(n).with_context(|| format!("building '{}'", b.name))?;
                let mut row = Network::new(ip, range, &b.name);
                row.network_name = format!("{} {n}", b.name);
                row.city = b.city.clone();
                row.country = b.country.clone();
                row.region = b.region.clone();
                row.inside_corp = b.inside_corp;
                row.vpn = b.vpn;
                networks.push(row);
            }
        }
        let text = BuildingFile { networks }.to_csv();
        // Parsing our own file applies CQD's checks (overlaps, host bits) to the scenario.
        BuildingFile::parse(&text).map(Some).map_err(|e| {
            anyhow!("the scenario's buildings do not make a valid building file:\n{e}")
        })
    }

    fn check(&self) -> anyhow::Result<()> {
        self.building_file()?;
        for (i, inc) in self.incidents.iter().enumerate() {
            let at = || format!("incident {} ({:?})", i + 1, inc.kind);
            let target = self.target(inc).with_context(at)?;
            if inc.kind == IncidentKind::Vpn {
                let vpn = target
                    .as_ref()
                    .and_then(|t| t.2.as_ref())
                    .is_some_and(|name| self.buildings.iter().any(|b| &b.name == name && b.vpn));
                if !vpn {
                    bail!(
                        "{}: the network must be in a [[building]] with vpn = true (CQD knows VPN subnets only from the building file)",
                        at()
                    );
                }
            }
            match inc.kind {
                IncidentKind::Device if inc.capture_device.is_none() => {
                    bail!("{}: capture_device is required", at())
                }
                IncidentKind::Wifi => {
                    wifi_band(inc.band.as_deref().unwrap_or("2.4GHz")).with_context(at)?;
                }
                IncidentKind::Trunk => {
                    if inc.trunk.is_none() {
                        bail!("{}: trunk (the SBC's FQDN) is required", at());
                    }
                    match inc.sip_code {
                        Some(c) if (400..700).contains(&c) => {}
                        _ => bail!("{}: sip_code must be a failure code from 400 to 699", at()),
                    }
                }
                _ => {}
            }
            if let Some(l) = inc.packet_loss {
                if !(0.0..=1.0).contains(&l) {
                    bail!("{}: packet_loss is a fraction from 0 to 1", at());
                }
            }
            if let Some(d) = &inc.duration {
                parse_span(d).with_context(at)?;
            }
            if let Some(s) = &inc.start {
                if s != "random" && !s.starts_with('+') {
                    s.parse::<DateTime<Utc>>().map_err(|_| {
                        anyhow!(
                            "{}: start must be `random`, an RFC 3339 time or `+<offset>`",
                            at()
                        )
                    })?;
                } else if let Some(off) = s.strip_prefix('+') {
                    parse_span(off).with_context(at)?;
                }
            }
        }
        Ok(())
    }

    /// The network a network/VPN incident stages its clients in.
    fn target(&self, inc: &IncidentSpec) -> anyhow::Result<Option<(IpAddr, u8, Option<String>)>> {
        if !matches!(inc.kind, IncidentKind::Network | IncidentKind::Vpn) {
            return Ok(None);
        }
        match (&inc.subnet, &inc.building) {
            (Some(s), _) => {
                let (ip, r) = parse_cidr(s)?;
                let building = self
                    .buildings
                    .iter()
                    .find(|b| {
                        b.networks
                            .iter()
                            .filter_map(|n| parse_cidr(n).ok())
                            .any(|(nip, nr)| nr <= r && Network::new(nip, nr, "").contains(ip))
                    })
                    .map(|b| b.name.clone());
                Ok(Some((ip, r, building)))
            }
            (None, Some(name)) => {
                let b = self
                    .buildings
                    .iter()
                    .find(|b| &b.name == name)
                    .ok_or_else(|| {
                        anyhow!("building '{name}' is not among the [[building]] tables")
                    })?;
                let first = b
                    .networks
                    .first()
                    .ok_or_else(|| anyhow!("building '{name}' has no networks"))?;
                let (ip, r) = parse_cidr(first)?;
                Ok(Some((ip, r, Some(name.clone()))))
            }
            (None, None) => bail!("give a subnet (CIDR) or a building"),
        }
    }

    /// Resolves every incident's window, target and staged times in `[from, to]`; `random`
    /// choices come from `seed` (apart from the traffic's own draws).
    pub fn resolve(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        seed: u64,
    ) -> anyhow::Result<Staging> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5CE7_A210_0000_0001);
        let mut incidents = Vec::new();
        for (i, inc) in self.incidents.iter().enumerate() {
            let at = || format!("incident {} ({:?})", i + 1, inc.kind);
            let span = match &inc.duration {
                Some(d) => parse_span(d)?,
                None => Duration::hours(1),
            };
            let span = span.min(to - from).max(Duration::minutes(1));
            let start = match inc.start.as_deref() {
                None | Some("random") => {
                    let room = (to - from - span).num_seconds().max(0);
                    from + Duration::seconds(rng.gen_range(0..=room))
                }
                Some(s) => match s.strip_prefix('+') {
                    Some(off) => from + parse_span(off)?,
                    None => s.parse::<DateTime<Utc>>()?,
                },
            };
            if start < from || start + span > to {
                bail!(
                    "{}: {} to {} is outside the run's window {} to {}",
                    at(),
                    start.to_rfc3339(),
                    (start + span).to_rfc3339(),
                    from.to_rfc3339(),
                    to.to_rfc3339()
                );
            }
            let count = inc.calls.unwrap_or(match inc.kind {
                IncidentKind::Emergency => 1,
                IncidentKind::PoorStreak => 5,
                _ => 20,
            });
            // Evenly spread: a streak's calls never overlap one another.
            let times = (0..count)
                .map(|k| {
                    let ms =
                        span.num_milliseconds() * (2 * k as i64 + 1) / (2 * count.max(1) as i64);
                    start + Duration::milliseconds(ms)
                })
                .collect();
            let (metrics_default, band) = match inc.kind {
                IncidentKind::Device => (Metrics::jitter(45), None),
                IncidentKind::Wifi => (
                    Metrics::loss_and_jitter(0.12, 40),
                    Some(wifi_band(inc.band.as_deref().unwrap_or("2.4GHz"))?),
                ),
                _ => (Metrics::network(), None),
            };
            let given = Metrics {
                packet_loss: inc.packet_loss,
                jitter_ms: inc.jitter_ms,
                round_trip_ms: inc.round_trip_ms,
            };
            let metrics = if given == Metrics::default() {
                metrics_default
            } else {
                given
            };
            let target = self.target(inc)?.map(|(ip, range, building)| Target {
                network: ip,
                range,
                building,
            });
            incidents.push(Staged {
                index: i,
                kind: inc.kind,
                start,
                end: start + span,
                times,
                target,
                metrics,
                capture_device: inc.capture_device.clone(),
                driver: inc.driver.clone(),
                band,
                trunk: inc.trunk.clone(),
                sip_code: inc.sip_code.unwrap_or(503),
                sip_phrase: inc
                    .sip_phrase
                    .clone()
                    .unwrap_or_else(|| sip_phrase(inc.sip_code.unwrap_or(503)).to_string()),
                user: inc.user.clone(),
                user_pick: rng.gen(),
            });
        }
        Ok(Staging {
            name: self.name.clone(),
            incidents,
            buildings: self.building_file()?,
        })
    }
}

/// Stream metrics an incident gives its streams (`None`: left as generated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub packet_loss: Option<f64>,
    pub jitter_ms: Option<u64>,
    pub round_trip_ms: Option<u64>,
}

impl Metrics {
    fn network() -> Self {
        Self {
            packet_loss: Some(0.15),
            jitter_ms: Some(45),
            round_trip_ms: Some(650),
        }
    }

    fn jitter(ms: u64) -> Self {
        Self {
            jitter_ms: Some(ms),
            ..Self::default()
        }
    }

    fn loss_and_jitter(loss: f64, ms: u64) -> Self {
        Self {
            packet_loss: Some(loss),
            jitter_ms: Some(ms),
            round_trip_ms: None,
        }
    }
}

/// Where a network or VPN incident puts its clients.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub network: IpAddr,
    pub range: u8,
    pub building: Option<String>,
}

/// One incident resolved for a run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Staged {
    /// Position in the scenario file (0-based).
    pub index: usize,
    pub kind: IncidentKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When each staged call starts.
    pub times: Vec<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub band: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk: Option<String>,
    pub sip_code: i64,
    pub sip_phrase: String,
    /// The UPN asked for (the generator resolves it, or picks a user with `user_pick`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip)]
    pub user_pick: u64,
}

/// A scenario resolved for one run.
#[derive(Debug, Clone, Default)]
pub struct Staging {
    pub name: Option<String>,
    pub incidents: Vec<Staged>,
    pub buildings: Option<BuildingFile>,
}

/// `10.50.0.0/16` (the address must be the network's).
pub fn parse_cidr(text: &str) -> anyhow::Result<(IpAddr, u8)> {
    let (ip, range) = text
        .split_once('/')
        .ok_or_else(|| anyhow!("'{text}' is not a CIDR network such as 10.50.0.0/16"))?;
    let ip: IpAddr = ip
        .trim()
        .parse()
        .map_err(|_| anyhow!("'{text}': '{ip}' is not an IP address"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let range: u8 = range
        .trim()
        .parse()
        .ok()
        .filter(|r| (8..=max).contains(r))
        .ok_or_else(|| anyhow!("'{text}': the prefix length must be 8 to {max}"))?;
    Ok((ip, range))
}

/// A span of time: `90m`, `2h`, `1d`, `45s`.
pub fn parse_span(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let bad = || anyhow!("'{text}' is not a duration such as 90m, 2h or 1d");
    let unit = t.chars().last().ok_or_else(bad)?;
    let n: i64 = t[..t.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(bad());
    }
    Ok(match unit {
        's' => Duration::seconds(n),
        'm' => Duration::minutes(n),
        'h' => Duration::hours(n),
        'd' => Duration::days(n),
        _ => return Err(bad()),
    })
}

fn wifi_band(text: &str) -> anyhow::Result<&'static str> {
    Ok(match text {
        "2.4GHz" | "frequency24GHz" => "frequency24GHz",
        "5GHz" | "frequency50GHz" => "frequency50GHz",
        "6GHz" | "60GHz" | "frequency60GHz" => "frequency60GHz",
        other => bail!("band '{other}' is not 2.4GHz, 5GHz or 6GHz"),
    })
}

/// The reason phrase of common SIP failure codes.
fn sip_phrase(code: i64) -> &'static str {
    match code {
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        603 => "Decline",
        _ => "Failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn window() -> (DateTime<Utc>, DateTime<Utc>) {
        let to = Utc
            .with_ymd_and_hms(2026, 3, 12, 12, 0, 0)
            .single()
            .unwrap_or_default();
        (to - Duration::days(2), to)
    }

    #[test]
    fn parses_every_kind_and_resolves_times() {
        let s = Scenario::parse(
            r#"
name = "all"
[[building]]
name = "HQ"
networks = ["10.50.0.0/16"]
[[incident]]
kind = "network"
building = "HQ"
start = "+2h"
duration = "2h"
calls = 4
[[incident]]
kind = "trunk"
trunk = "sbc9.contoso.com"
sip_code = 503
"#,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let (from, to) = window();
        let st = s.resolve(from, to, 7).unwrap_or_else(|e| panic!("{e:#}"));
        let net = &st.incidents[0];
        assert_eq!(net.start, from + Duration::hours(2));
        assert_eq!(net.times.len(), 4);
        assert_eq!(net.times[0], net.start + Duration::minutes(15));
        assert!(net.times.iter().all(|t| *t >= net.start && *t < net.end));
        assert_eq!(
            net.target
                .as_ref()
                .and_then(|t| t.building.clone())
                .as_deref(),
            Some("HQ")
        );
        assert_eq!(st.incidents[1].sip_phrase, "Service Unavailable");
        assert_eq!(st.incidents[1].times.len(), 20);
        assert!(st.buildings.is_some());
        // Same seed, same random choices.
        let again = s.resolve(from, to, 7).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(again.incidents[1].start, st.incidents[1].start);
    }

    #[test]
    fn errors_say_which_incident_and_what_is_wrong() {
        let err = |text: &str| match Scenario::parse(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err("[[incident]]\nkind = \"device\"\n")
            .contains("incident 1 (Device): capture_device is required"));
        assert!(err("[[incident]]\nkind = \"network\"\n").contains("subnet (CIDR) or a building"));
        assert!(
            err("[[incident]]\nkind = \"vpn\"\nsubnet = \"10.9.0.0/16\"\n").contains("vpn = true")
        );
        assert!(
            err("[[incident]]\nkind = \"network\"\nbuilding = \"X\"\n").contains("building 'X'")
        );
        assert!(
            err("[[incident]]\nkind = \"trunk\"\ntrunk = \"a\"\nsip_code = 200\n")
                .contains("sip_code")
        );
        assert!(err("[[incident]]\nkind = \"wifi\"\nband = \"3GHz\"\n").contains("band '3GHz'"));
        assert!(err("[[incident]]\nkind = \"storm\"\n").contains("storm"));
        assert!(err("[[incident]]\nkind = \"emergency\"\nduration = \"soon\"\n").contains("90m"));
        assert!(err("[[incident]]\nkind = \"emergency\"\ncolour = 1\n").contains("colour"));
        assert!(
            err("[[building]]\nname = \"A\"\nnetworks = [\"10.0.0.0/8\", \"10.1.0.0/16\"]\n")
                .contains("overlaps")
        );
        assert!(
            err("[[building]]\nname = \"A\"\nnetworks = [\"10.0.0.1/8\"]\n").contains("host bits")
        );
        let s = Scenario::parse("[[incident]]\nkind = \"emergency\"\nstart = \"+3d\"\n")
            .unwrap_or_else(|e| panic!("{e:#}"));
        let (from, to) = window();
        let e = s.resolve(from, to, 1).map(|_| ()).unwrap_err();
        assert!(
            format!("{e:#}").contains("outside the run's window"),
            "{e:#}"
        );
    }
}
