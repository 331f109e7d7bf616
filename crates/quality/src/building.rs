//! CQD's building file: one network per row, no header, comma- or tab-separated, 14 columns
//! (a 15th, VPN, is optional). Parsing validates every row and reports errors by line;
//! [`BuildingFile::lookup`] finds the network an IP address belongs to.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// Columns of a row, in file order.
pub const COLUMNS: [&str; 15] = [
    "NetworkIP",
    "NetworkName",
    "NetworkRange",
    "BuildingName",
    "OwnershipType",
    "BuildingType",
    "BuildingOfficeType",
    "City",
    "ZipCode",
    "Country",
    "State",
    "Region",
    "InsideCorp",
    "ExpressRoute",
    "VPN",
];

/// Prefix lengths CQD accepts: supernets from /8, down to single addresses (/32) for VPN rows.
pub const MIN_RANGE: u8 = 8;

/// One network row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    pub network_ip: IpAddr,
    pub network_name: String,
    pub network_range: u8,
    pub building_name: String,
    pub ownership_type: String,
    pub building_type: String,
    pub building_office_type: String,
    pub city: String,
    pub zip_code: String,
    pub country: String,
    pub state: String,
    pub region: String,
    pub inside_corp: bool,
    pub express_route: bool,
    pub vpn: bool,
}

impl Network {
    /// A row for `ip/range` in `building` with the other columns empty and InsideCorp set.
    pub fn new(network_ip: IpAddr, network_range: u8, building_name: &str) -> Self {
        Self {
            network_ip,
            network_name: String::new(),
            network_range,
            building_name: building_name.to_string(),
            ownership_type: String::new(),
            building_type: String::new(),
            building_office_type: String::new(),
            city: String::new(),
            zip_code: String::new(),
            country: String::new(),
            state: String::new(),
            region: String::new(),
            inside_corp: true,
            express_route: false,
            vpn: false,
        }
    }

    /// Whether `ip` lies in this network (an IPv4 address never matches an IPv6 network).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network_ip, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(
                u128::from(u32::from(n)),
                u128::from(u32::from(a)),
                32,
                self.network_range,
            ),
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                prefix_eq(u128::from(n), u128::from(a), 128, self.network_range)
            }
            _ => false,
        }
    }

    /// The row as written in a comma-separated building file (15 columns).
    pub fn to_csv_row(&self) -> String {
        let b = |v: bool| if v { "1" } else { "0" };
        let range = self.network_range.to_string();
        let ip = self.network_ip.to_string();
        [
            ip.as_str(),
            &self.network_name,
            &range,
            &self.building_name,
            &self.ownership_type,
            &self.building_type,
            &self.building_office_type,
            &self.city,
            &self.zip_code,
            &self.country,
            &self.state,
            &self.region,
            b(self.inside_corp),
            b(self.express_route),
            b(self.vpn),
        ]
        .join(",")
    }
}

fn prefix_eq(net: u128, addr: u128, bits: u8, range: u8) -> bool {
    let range = range.min(bits);
    if range == 0 {
        return true;
    }
    let shift = u32::from(bits - range);
    (net >> shift) == (addr >> shift)
}

/// A validation error, located by 1-based line number (0 for the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct BuildingFileError {
    pub line: usize,
    pub message: String,
}

/// All the errors found in a file (parsing goes on past a bad row to report every one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildingFileErrors(pub Vec<BuildingFileError>);

impl fmt::Display for BuildingFileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for BuildingFileErrors {}

/// A validated building file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuildingFile {
    pub networks: Vec<Network>,
}

impl BuildingFile {
    /// Parses and validates a building file. The delimiter is a tab if the first non-empty line
    /// has one, else a comma. Blank lines are skipped; everything else must be a valid row.
    pub fn parse(text: &str) -> Result<Self, BuildingFileErrors> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let delimiter = match text.lines().find(|l| !l.trim().is_empty()) {
            Some(l) if l.contains('\t') => '\t',
            _ => ',',
        };
        let mut errors = Vec::new();
        let mut networks: Vec<(usize, Network)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            if raw.trim().is_empty() {
                continue;
            }
            match parse_row(raw, delimiter) {
                Ok(n) => {
                    if let Some((other, _)) = networks.iter().find(|(_, m)| overlaps(m, &n)) {
                        errors.push(BuildingFileError {
                            line,
                            message: format!(
                                "{}/{} overlaps the network on line {other}; CQD rejects overlapping ranges",
                                n.network_ip, n.network_range
                            ),
                        });
                    } else {
                        networks.push((line, n));
                    }
                }
                Err(message) => errors.push(BuildingFileError { line, message }),
            }
        }
        if networks.is_empty() && errors.is_empty() {
            errors.push(BuildingFileError {
                line: 0,
                message: "the file has no network rows".into(),
            });
        }
        if errors.is_empty() {
            Ok(Self {
                networks: networks.into_iter().map(|(_, n)| n).collect(),
            })
        } else {
            Err(BuildingFileErrors(errors))
        }
    }

    /// The network `ip` belongs to (ranges never overlap, so there is at most one).
    pub fn lookup(&self, ip: IpAddr) -> Option<&Network> {
        self.networks
            .iter()
            .filter(|n| n.contains(ip))
            .max_by_key(|n| n.network_range)
    }

    /// [`lookup`](Self::lookup) of an address in text form; `None` when it is not an address.
    pub fn lookup_str(&self, ip: &str) -> Option<&Network> {
        self.lookup(ip.trim().parse().ok()?)
    }

    /// The file as CQD takes it: comma-separated, no header, 15 columns, one line per network.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        for n in &self.networks {
            out.push_str(&n.to_csv_row());
            out.push('\n');
        }
        out
    }
}

fn overlaps(a: &Network, b: &Network) -> bool {
    let shorter = if a.network_range <= b.network_range {
        a
    } else {
        b
    };
    let longer = if std::ptr::eq(shorter, a) { b } else { a };
    shorter.contains(longer.network_ip)
}

fn parse_row(raw: &str, delimiter: char) -> Result<Network, String> {
    let cols: Vec<&str> = raw.split(delimiter).map(str::trim).collect();
    if cols.len() != 14 && cols.len() != 15 {
        let name = if delimiter == '\t' { "tab" } else { "comma" };
        return Err(format!(
            "expected 14 or 15 {name}-separated columns (NetworkIP … ExpressRoute[, VPN]), found {}; keep the delimiters of empty columns",
            cols.len()
        ));
    }
    let col = |i: usize| cols.get(i).copied().unwrap_or("");
    let network_ip: IpAddr = col(0).parse().map_err(|_| {
        format!(
            "NetworkIP '{}' is not an IP address (write the network address, e.g. 10.1.2.0)",
            col(0)
        )
    })?;
    let max = if network_ip.is_ipv4() { 32 } else { 128 };
    let network_range: u8 = col(2)
        .parse()
        .ok()
        .filter(|r| (MIN_RANGE..=max).contains(r))
        .ok_or_else(|| {
            format!(
                "NetworkRange '{}' is not a prefix length from {MIN_RANGE} to {max}",
                col(2)
            )
        })?;
    let mut n = Network::new(network_ip, network_range, col(3));
    let base = match network_ip {
        IpAddr::V4(v) => {
            let bits = u32::from(v);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(network_range))
                .unwrap_or(0);
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(v) => {
            let bits = u128::from(v);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(network_range))
                .unwrap_or(0);
            IpAddr::V6((bits & mask).into())
        }
    };
    if base != network_ip {
        return Err(format!(
            "NetworkIP {network_ip} has host bits set for /{network_range}; the network address is {base}"
        ));
    }
    let flag = |i: usize, required: bool| -> Result<bool, String> {
        match col(i) {
            "1" => Ok(true),
            "0" => Ok(false),
            "" if !required => Ok(false),
            other => Err(format!(
                "{} must be 0 or 1{}, found '{other}'",
                COLUMNS[i],
                if required { "" } else { " (or empty)" }
            )),
        }
    };
    n.network_name = col(1).to_string();
    n.ownership_type = col(4).to_string();
    n.building_type = col(5).to_string();
    n.building_office_type = col(6).to_string();
    n.city = col(7).to_string();
    n.zip_code = col(8).to_string();
    n.country = col(9).to_string();
    n.state = col(10).to_string();
    n.region = col(11).to_string();
    n.inside_corp = flag(12, true)?;
    n.express_route = flag(13, true)?;
    n.vpn = flag(14, false)?;
    Ok(n)
}
