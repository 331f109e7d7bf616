//! CQD building file: the format, validation errors by line, and subnet matching.

use std::net::IpAddr;

use callhook_quality::{BuildingFile, Network};

const SAMPLE: &str = "\
10.10.1.0,HQ Floor 1,24,Contoso HQ,Contoso,Office,Engineering,Seattle,98052,US,WA,NA,1,0,0
10.10.2.0,HQ Floor 2,24,Contoso HQ,Contoso,Office,Sales,Seattle,98052,US,WA,NA,1,0
10.20.0.0,Paris,16,Paris Office,,,,Paris,75001,FR,,EMEA,1,1,0

172.16.8.0,VPN pool,22,VPN,,,,,,,,,1,0,1
";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn parses_fourteen_and_fifteen_column_rows() {
    let f = BuildingFile::parse(SAMPLE).expect("valid file");
    assert_eq!(f.networks.len(), 4);
    let hq = &f.networks[0];
    assert_eq!(hq.network_ip, ip("10.10.1.0"));
    assert_eq!(hq.network_range, 24);
    assert_eq!(hq.building_name, "Contoso HQ");
    assert_eq!(hq.city, "Seattle");
    assert!(hq.inside_corp && !hq.express_route && !hq.vpn);
    assert!(!f.networks[1].vpn, "a 14-column row has VPN 0");
    assert!(f.networks[2].express_route);
    assert!(f.networks[3].vpn);
}

#[test]
fn tab_separated_files_work_too() {
    let tsv = SAMPLE.replace(',', "\t");
    assert_eq!(
        BuildingFile::parse(&tsv).expect("valid file"),
        BuildingFile::parse(SAMPLE).expect("valid file")
    );
}

#[test]
fn matches_addresses_to_their_network() {
    let f = BuildingFile::parse(SAMPLE).expect("valid file");
    let name = |a: &str| f.lookup_str(a).map(|n| n.network_name.clone());
    assert_eq!(name("10.10.1.77").as_deref(), Some("HQ Floor 1"));
    assert_eq!(name("10.10.2.0").as_deref(), Some("HQ Floor 2"));
    assert_eq!(name("10.20.255.255").as_deref(), Some("Paris"));
    assert_eq!(name("172.16.11.4").as_deref(), Some("VPN pool"));
    assert_eq!(name("172.16.12.1"), None);
    assert_eq!(name("10.10.3.1"), None);
    assert_eq!(name("not an address"), None);
    assert_eq!(name("::1"), None);
}

#[test]
fn ipv6_networks_match_by_prefix() {
    let f = BuildingFile::parse("2001:db8:10::,Lab,48,Lab,,,,,,,,,1,0\n").expect("valid file");
    assert!(f.lookup_str("2001:db8:10:ff::1").is_some());
    assert!(f.lookup_str("2001:db8:11::1").is_none());
    assert!(f.lookup_str("10.0.0.1").is_none());
}

#[test]
fn errors_name_the_line_and_what_to_fix() {
    let text = "\
10.10.1.0,HQ,24,HQ,,,,,,,,,1,0
10.10.2.0,HQ,24,HQ,,,,,,,,1,0
10.10.3.5,HQ,24,HQ,,,,,,,,,1,0
10.10.4.0,HQ,33,HQ,,,,,,,,,1,0
10.10.5.0,HQ,4,HQ,,,,,,,,,1,0
10.10.6.0,HQ,24,HQ,,,,,,,,,yes,0
10.10.7.0,HQ,24,HQ,,,,,,,,,1,0,2
10.10.1.128,HQ,25,HQ,,,,,,,,,1,0
10.10.999.0,HQ,24,HQ,,,,,,,,,1,0
10.0.0.0,HQ,8,HQ,,,,,,,,,1,
";
    let errors = BuildingFile::parse(text).expect_err("invalid file").0;
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let msg = |line: usize| {
        errors
            .iter()
            .find(|e| e.line == line)
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert!(msg(2).contains("found 13"), "{}", msg(2));
    assert!(
        msg(3).contains("host bits") && msg(3).contains("10.10.3.0"),
        "{}",
        msg(3)
    );
    assert!(msg(4).contains("NetworkRange '33'"), "{}", msg(4));
    assert!(msg(5).contains("NetworkRange '4'"), "{}", msg(5));
    assert!(msg(6).contains("InsideCorp must be 0 or 1"), "{}", msg(6));
    assert!(msg(7).contains("VPN must be 0 or 1"), "{}", msg(7));
    assert!(
        msg(8).contains("overlaps the network on line 1"),
        "{}",
        msg(8)
    );
    assert!(msg(9).contains("not an IP address"), "{}", msg(9));
    assert!(msg(10).contains("ExpressRoute"), "{}", msg(10));
    assert!(msg(10).starts_with("line 10: "));
}

#[test]
fn an_empty_file_is_an_error() {
    let e = BuildingFile::parse("\n\n").expect_err("no rows");
    assert_eq!(e.0[0].line, 0);
}

#[test]
fn written_files_parse_back_identically() {
    let f = BuildingFile::parse(SAMPLE).expect("valid file");
    let again = BuildingFile::parse(&f.to_csv()).expect("own output is valid");
    assert_eq!(again, f);
    let mut n = Network::new(ip("192.0.2.0"), 24, "Annex");
    n.vpn = true;
    assert_eq!(n.to_csv_row(), "192.0.2.0,,24,Annex,,,,,,,,,1,0,1");
}
