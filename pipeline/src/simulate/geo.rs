//! Places the simulated enterprise works from, travels to, and is attacked from.
//!
//! Coordinates, states and UTC offsets are real for each city (offsets ignore daylight
//! saving). IP prefixes are plausible public ranges for the country; they are not looked
//! up from a geo-IP database.

/// A city with everything a sign-in log records about a location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct City {
    /// City name as Entra ID writes it.
    pub city: &'static str,
    /// State or region.
    pub state: &'static str,
    /// ISO 3166 alpha-2 country.
    pub country: &'static str,
    /// Latitude in degrees.
    pub latitude: f64,
    /// Longitude in degrees.
    pub longitude: f64,
    /// Hours from UTC, standard time.
    pub utc_offset_hours: i32,
    /// First two octets of the addresses handed out there.
    pub ip_prefix: [u8; 2],
    /// Autonomous system of a local ISP.
    pub asn: u32,
    /// AWS region the enterprise uses from there.
    pub aws_region: &'static str,
}

#[allow(clippy::too_many_arguments)] // one row of the table above, positional on purpose
const fn city(
    city: &'static str,
    state: &'static str,
    country: &'static str,
    latitude: f64,
    longitude: f64,
    utc_offset_hours: i32,
    ip_prefix: [u8; 2],
    asn: u32,
    aws_region: &'static str,
) -> City {
    City {
        city,
        state,
        country,
        latitude,
        longitude,
        utc_offset_hours,
        ip_prefix,
        asn,
        aws_region,
    }
}

/// Offices, with the share of staff in each.
pub const OFFICES: &[(City, u32)] = &[
    (
        city(
            "Berlin",
            "Berlin",
            "DE",
            52.52,
            13.405,
            1,
            [85, 214],
            3320,
            "eu-central-1",
        ),
        30,
    ),
    (
        city(
            "Munich",
            "Bavaria",
            "DE",
            48.1351,
            11.582,
            1,
            [91, 64],
            3320,
            "eu-central-1",
        ),
        12,
    ),
    (
        city(
            "London",
            "England",
            "GB",
            51.5074,
            -0.1278,
            0,
            [81, 2],
            5089,
            "eu-west-2",
        ),
        14,
    ),
    (
        city(
            "Amsterdam",
            "North Holland",
            "NL",
            52.3676,
            4.9041,
            1,
            [145, 53],
            1136,
            "eu-west-1",
        ),
        8,
    ),
    (
        city(
            "Warsaw",
            "Mazowieckie",
            "PL",
            52.2297,
            21.0122,
            1,
            [83, 24],
            5617,
            "eu-central-1",
        ),
        8,
    ),
    (
        city(
            "New York",
            "New York",
            "US",
            40.7128,
            -74.006,
            -5,
            [68, 173],
            7922,
            "us-east-1",
        ),
        14,
    ),
    (
        city(
            "San Francisco",
            "California",
            "US",
            37.7749,
            -122.4194,
            -8,
            [73, 92],
            7922,
            "us-west-2",
        ),
        8,
    ),
    (
        city(
            "Bengaluru",
            "Karnataka",
            "IN",
            12.9716,
            77.5946,
            5,
            [49, 207],
            24560,
            "ap-south-1",
        ),
        6,
    ),
];

/// Where benign travellers go.
pub const TRAVEL: &[City] = &[
    city(
        "Madrid",
        "Madrid",
        "ES",
        40.4168,
        -3.7038,
        1,
        [88, 26],
        3352,
        "eu-west-3",
    ),
    city(
        "Sao Paulo",
        "Sao Paulo",
        "BR",
        -23.5505,
        -46.6333,
        -3,
        [177, 92],
        28573,
        "sa-east-1",
    ),
    city(
        "Tokyo",
        "Tokyo",
        "JP",
        35.6762,
        139.6503,
        9,
        [126, 72],
        17676,
        "ap-northeast-1",
    ),
    city(
        "Singapore",
        "Singapore",
        "SG",
        1.3521,
        103.8198,
        8,
        [118, 200],
        9506,
        "ap-southeast-1",
    ),
    city(
        "Toronto",
        "Ontario",
        "CA",
        43.6532,
        -79.3832,
        -5,
        [99, 224],
        812,
        "ca-central-1",
    ),
    city(
        "Sydney",
        "New South Wales",
        "AU",
        -33.8688,
        151.2093,
        10,
        [101, 160],
        1221,
        "ap-southeast-2",
    ),
];

/// Where attacks come from (hosting providers and residential proxies seen in
/// real campaigns).
pub const HOSTILE: &[City] = &[
    city(
        "Moscow",
        "Moscow",
        "RU",
        55.7558,
        37.6173,
        3,
        [95, 165],
        9123,
        "eu-central-1",
    ),
    city(
        "Lagos",
        "Lagos",
        "NG",
        6.5244,
        3.3792,
        1,
        [102, 89],
        37148,
        "eu-west-1",
    ),
    city(
        "Bucharest",
        "Bucuresti",
        "RO",
        44.4268,
        26.1025,
        2,
        [5, 2],
        9050,
        "eu-central-1",
    ),
    city(
        "Hanoi",
        "Hanoi",
        "VN",
        21.0278,
        105.8342,
        7,
        [113, 160],
        45899,
        "ap-southeast-1",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_are_consistent_with_countries() {
        for city in OFFICES.iter().map(|(c, _)| c).chain(TRAVEL).chain(HOSTILE) {
            assert!(city.latitude.abs() <= 90.0 && city.longitude.abs() <= 180.0);
            assert_eq!(city.country.len(), 2);
        }
    }
}
