//! Fixed tables of plausible values the generator draws from (names, devices, networks,
//! countries). Everything here is invented or a generic product name; nothing identifies a person.

pub(super) const FIRST_NAMES: &[&str] = &[
    "Abbie",
    "Adele",
    "Alex",
    "Allan",
    "Amara",
    "Ana",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Christie",
    "Daniel",
    "Diego",
    "Elena",
    "Emily",
    "Enrico",
    "Fatima",
    "Femi",
    "Grady",
    "Hana",
    "Henrietta",
    "Isaiah",
    "Ivan",
    "Jasmine",
    "Johanna",
    "Joni",
    "Jun",
    "Kenji",
    "Lars",
    "Lee",
    "Leila",
    "Lidia",
    "Lynne",
    "Maria",
    "Megan",
    "Miriam",
    "Nestor",
    "Nia",
    "Noah",
    "Olga",
    "Omar",
    "Owen",
    "Patti",
    "Pradeep",
    "Priya",
    "Raul",
    "Richard",
    "Rosa",
    "Ruwini",
    "Sakura",
    "Sami",
    "Sofia",
    "Tariq",
    "Thomas",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoe",
];

pub(super) const LAST_NAMES: &[&str] = &[
    "Adams",
    "Ahmed",
    "Andersen",
    "Bauer",
    "Becker",
    "Brown",
    "Castro",
    "Chen",
    "Costa",
    "Diaz",
    "Dubois",
    "Evans",
    "Fernandes",
    "Fischer",
    "Franklin",
    "Garcia",
    "Gupta",
    "Hansen",
    "Herrera",
    "Holt",
    "Ito",
    "Jensen",
    "Johnson",
    "Kaur",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Malk",
    "Martin",
    "Meyer",
    "Moreau",
    "Morales",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Perera",
    "Petrov",
    "Quinn",
    "Ramos",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Sousa",
    "Tanaka",
    "Vargas",
    "Varga",
    "Wagner",
    "Wang",
    "Weber",
    "Wilkins",
    "Wong",
    "Yilmaz",
    "Zhang",
];

pub(super) const ROOM_NAMES: &[&str] = &[
    "Rainier",
    "Baker",
    "Adams",
    "Olympus",
    "Shasta",
    "Hood",
    "Whitney",
    "Denali",
    "Elbrus",
    "Matterhorn",
    "Kilimanjaro",
    "Fuji",
];

/// A country the tenant's users live in or call to.
pub(super) struct Country {
    pub code: &'static str,
    pub name: &'static str,
    pub dial: &'static str,
    /// Leading digits of subscriber numbers (area codes and the like).
    pub areas: &'static [&'static str],
    /// Digits after the area code.
    pub local_digits: usize,
    pub currency: &'static str,
    /// Cents per minute for an outbound international call to this country.
    pub intl_cents_per_min: u32,
    pub datacenter: &'static str,
    /// Operator Connect carriers seen for this country (besides Microsoft Calling Plans).
    pub operators: &'static [&'static str],
}

pub(super) const COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        name: "United States",
        dial: "+1",
        areas: &["425", "206", "212", "312", "415", "617", "512"],
        local_digits: 7,
        currency: "USD",
        intl_cents_per_min: 2,
        datacenter: "USWE",
        operators: &["Verizon", "Lumen"],
    },
    Country {
        code: "GB",
        name: "United Kingdom",
        dial: "+44",
        areas: &["20", "161", "131", "117"],
        local_digits: 8,
        currency: "GBP",
        intl_cents_per_min: 4,
        datacenter: "EUNO",
        operators: &["BT"],
    },
    Country {
        code: "DE",
        name: "Germany",
        dial: "+49",
        areas: &["30", "89", "40", "69"],
        local_digits: 8,
        currency: "EUR",
        intl_cents_per_min: 4,
        datacenter: "EUWE",
        operators: &["Deutsche Telekom"],
    },
    Country {
        code: "FR",
        name: "France",
        dial: "+33",
        areas: &["1", "4", "6"],
        local_digits: 8,
        currency: "EUR",
        intl_cents_per_min: 5,
        datacenter: "EUWE",
        operators: &["Orange"],
    },
    Country {
        code: "IN",
        name: "India",
        dial: "+91",
        areas: &["80", "22", "11"],
        local_digits: 8,
        currency: "INR",
        intl_cents_per_min: 9,
        datacenter: "APSE",
        operators: &[],
    },
    Country {
        code: "AU",
        name: "Australia",
        dial: "+61",
        areas: &["2", "3", "7"],
        local_digits: 8,
        currency: "AUD",
        intl_cents_per_min: 6,
        datacenter: "APSE",
        operators: &["Telstra"],
    },
    Country {
        code: "BR",
        name: "Brazil",
        dial: "+55",
        areas: &["11", "21", "64"],
        local_digits: 9,
        currency: "BRL",
        intl_cents_per_min: 8,
        datacenter: "USEA",
        operators: &[],
    },
];

/// Where the tenant's own users are (index into `COUNTRIES`, weight).
pub(super) const USER_COUNTRIES: &[(usize, u32)] = &[(0, 80), (1, 12), (2, 8)];

pub(super) const DATACENTERS: &[&str] = &["USWE", "USEA", "USCE", "EUNO", "EUWE", "APSE"];

pub(super) const TEAMS_DESKTOP_APP_ID: &str = "1fec8e78-bce4-4aaf-ab1b-5451cc387264";
pub(super) const TEAMS_WEB_APP_ID: &str = "5e3ce6c0-2b1f-4285-8d4b-75ee78787346";

/// Teams desktop builds (applicationVersion) a client may run.
pub(super) const DESKTOP_BUILDS: &[&str] = &[
    "24335.206.3315.1170",
    "25004.1402.3337.2851",
    "25031.805.3440.5290",
    "25060.205.3499.6849",
];
pub(super) const MOBILE_BUILDS: &[&str] = &["1416/1.0.0.2024193702", "1416/1.0.0.2025051201"];
pub(super) const WINDOWS_OS: &[&str] = &["10.0.19045", "10.0.22631", "10.0.26100"];
pub(super) const MAC_OS: &[&str] = &["14.6.1", "15.1", "15.3.2"];
pub(super) const IOS_MODELS: &[(&str, &str)] = &[
    ("iPhone15,2", "17.6.1"),
    ("iPhone16,1", "18.1"),
    ("iPhone14,5", "18.3.2"),
];
pub(super) const ANDROID_MODELS: &[(&str, &str)] =
    &[("SM-S918B", "14"), ("Pixel 8", "15"), ("SM-G991U", "14")];
pub(super) const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
];
pub(super) const ROOM_MODELS: &[&str] = &[
    "Yealink MeetingBar A30",
    "Poly Studio X50",
    "Logitech Rally Bar",
];
pub(super) const IP_PHONES: &[&str] = &["Poly CCX 500", "Yealink MP56", "AudioCodes C450HD"];

/// (cpuName, cores, MHz) for desktops and laptops.
pub(super) const WINDOWS_CPUS: &[(&str, i64, i64)] = &[
    ("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", 8, 2995),
    ("12th Gen Intel(R) Core(TM) i5-1245U", 12, 1600),
    ("13th Gen Intel(R) Core(TM) i7-1365U", 12, 1800),
    ("AMD Ryzen 7 PRO 5850U with Radeon Graphics", 16, 1901),
    ("Intel(R) Xeon(R) Platinum 8272CL CPU @ 2.60GHz", 2, 2594),
];
pub(super) const MAC_CPUS: &[(&str, i64, i64)] = &[
    ("Apple M1", 8, 3200),
    ("Apple M2 Pro", 12, 3490),
    ("Apple M3", 8, 4050),
];

/// (capture device, render device, driver) by platform family.
pub(super) const PC_AUDIO: &[(&str, &str, &str)] = &[
    (
        "Microphone (Jabra Evolve2 65)",
        "Headset (Jabra Evolve2 65)",
        "Microsoft: 10.0.22621.1",
    ),
    (
        "Microphone Array (Realtek(R) Audio)",
        "Speakers (Realtek(R) Audio)",
        "Realtek Semiconductor Corp.: 6.0.9549.1",
    ),
    (
        "Echo Cancelling Speakerphone (Poly Sync 20)",
        "Echo Cancelling Speakerphone (Poly Sync 20)",
        "Microsoft: 10.0.22621.1",
    ),
    (
        "Microphone (Logi Zone Wired)",
        "Headphones (Logi Zone Wired)",
        "Microsoft: 10.0.19041.1",
    ),
    (
        "Microphone (Surface Headphones 2)",
        "Headphones (Surface Headphones 2)",
        "Microsoft: 10.0.22621.1",
    ),
];
pub(super) const MAC_AUDIO: &[(&str, &str, &str)] = &[
    (
        "MacBook Pro Microphone",
        "MacBook Pro Speakers",
        "Apple: 1.0",
    ),
    ("AirPods Pro", "AirPods Pro", "Apple: 1.0"),
];
pub(super) const MOBILE_AUDIO: &[(&str, &str, &str)] =
    &[("Default input device", "Default output device", "")];

pub(super) const WIFI_ADAPTERS: &[(&str, &str)] = &[
    ("Intel(R) Wi-Fi 6 AX201 160MHz", "22.200.0.6"),
    ("Intel(R) Wi-Fi 6E AX211 160MHz", "23.40.0.4"),
    (
        "Killer(R) Wi-Fi 6 AX1650i 160MHz Wireless Network Adapter (201NGW)",
        "22.160.0.3",
    ),
    (
        "Qualcomm Atheros QCA61x4A Wireless Network Adapter",
        "12.0.0.1118",
    ),
];

pub(super) const FEEDBACK_TEXT_BAD: &[&str] = &[
    "Audio kept cutting out",
    "Others could not hear me",
    "Lots of echo",
    "Video froze several times",
    "Call dropped and I had to rejoin",
];
pub(super) const FEEDBACK_TEXT_GOOD: &[&str] = &["Clear audio", "Worked fine", "Great call"];
pub(super) const FEEDBACK_TOKENS: &[&str] = &[
    "NoSound",
    "OtherNoSound",
    "Echo",
    "Noisy",
    "LowVolume",
    "Stopped",
    "DistortedSound",
    "Interruptions",
];

pub(super) const SBC_USER_AGENTS: &[(&str, &str)] = &[
    (
        "AudioCodes-Sip-Gateway-Mediant SW/v.7.40A.500.786",
        "7.40A.500.786",
    ),
    ("Ribbon SBC SWe Lite/12.1.1", "12.1.1"),
];

/// Final SIP code, Microsoft subcode and phrase of direct-routing attempts that failed.
pub(super) const DR_FAILURES: &[(i64, i64, &str)] = &[
    (486, 560486, "Busy Here"),
    (487, 540487, "Request Terminated"),
    (480, 560480, "Temporarily Unavailable"),
    (404, 560404, "Not Found"),
    (408, 560408, "Request Timeout"),
    (503, 560503, "Service Unavailable"),
];

pub(super) const FAILURE_REASONS: &[(&str, &str)] = &[
    ("midcall", "Media connectivity lost"),
    ("callSetup", "Media negotiation failed"),
];
