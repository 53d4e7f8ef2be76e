//! A traveller's addresses: in a network the location model wrote, with a host nobody
//! has seen.
//!
//! A location model writes only addresses it was trained on, so every synthetic log of a
//! trip would come from the one address of a colleague's earlier stay. The real traveller
//! will sign in from a hotel, a café or a phone whose address the organisation has never
//! seen: retrained on one remembered address, the detector still alerts on theirs. So
//! each day of the trip keeps the network the location model chose (an IPv4 /16, an IPv6
//! /32: a provider's block in that country) and draws the rest, the same for every log of
//! that day, a new one the next day: the model learns that the traveller's network is
//! expected and the host within it is not predictable.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::NaiveDate;
use operators::source_fields::lookup_mut;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::Source;
use serde_json::Value;

/// The addresses given to a trip's days so far.
pub struct TripAddresses {
    rng: ChaCha8Rng,
    given: BTreeMap<(NaiveDate, String), String>,
}

impl TripAddresses {
    /// Draws hosts from a generator seeded with `seed`, for reproducible trips.
    pub fn new(seed: u64) -> Self {
        TripAddresses {
            rng: ChaCha8Rng::seed_from_u64(seed),
            given: BTreeMap::new(),
        }
    }

    /// Replaces each client address of `log` (a `source` log of `day`) with the day's
    /// host in its network; text that is not an address is left as it is.
    pub fn refresh(&mut self, source: Source, day: NaiveDate, log: &mut Value) {
        for path in source.spec().client_ip {
            let Some(Value::String(address)) = lookup_mut(log, path.as_str()) else {
                continue;
            };
            let key = (day, address.clone());
            if let Some(given) = self.given.get(&key) {
                *address = given.clone();
            } else if let Some(fresh) = new_host(address, &mut self.rng) {
                self.given.insert(key, fresh.clone());
                *address = fresh;
            }
        }
    }
}

/// `address` with the same network (IPv4 /16, IPv6 /32) and a random host; `None` when
/// it is not an IP address.
pub fn new_host(address: &str, rng: &mut ChaCha8Rng) -> Option<String> {
    match address.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            let (c, d) = (rng.random_range(1..=254), rng.random_range(1..=254));
            Some(Ipv4Addr::new(a, b, c, d).to_string())
        }
        IpAddr::V6(v6) => {
            let network = v6.segments();
            let host: [u16; 6] = rng.random();
            Some(
                Ipv6Addr::new(
                    network[0], network[1], host[0], host[1], host[2], host[3], host[4], host[5],
                )
                .to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_host_keeps_the_network_and_only_the_network() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let hosts: Vec<String> = (0..20)
            .map(|_| new_host("101.160.244.53", &mut rng).unwrap())
            .collect();
        assert!(hosts.iter().all(|host| host.starts_with("101.160.")));
        assert!(hosts.iter().all(|host| host.parse::<Ipv4Addr>().is_ok()));
        let distinct: std::collections::BTreeSet<&String> = hosts.iter().collect();
        assert!(distinct.len() > 15, "hosts repeat: {hosts:?}");
        let v6 = new_host("2001:db8:1:2::53", &mut rng).unwrap();
        assert!(v6.starts_with("2001:db8:"), "{v6}");
        assert_ne!(v6, "2001:db8:1:2::53");
        assert_eq!(new_host("not an address", &mut rng), None);
        assert_eq!(new_host("sagemaker.amazonaws.com", &mut rng), None);
    }

    #[test]
    fn each_day_of_a_trip_has_its_own_address_shared_by_its_logs() {
        let mut addresses = TripAddresses::new(7);
        let monday: NaiveDate = "2026-11-16".parse().unwrap();
        let tuesday: NaiveDate = "2026-11-17".parse().unwrap();
        let written = || serde_json::json!({"IPAddress": "101.160.244.53", "Location": "AU"});
        let mut logs = [written(), written(), written()];
        addresses.refresh(Source::Azure, monday, &mut logs[0]);
        addresses.refresh(Source::Azure, monday, &mut logs[1]);
        addresses.refresh(Source::Azure, tuesday, &mut logs[2]);
        let address = |log: &Value| log["IPAddress"].as_str().unwrap().to_string();
        assert_eq!(address(&logs[0]), address(&logs[1]));
        assert_ne!(address(&logs[0]), address(&logs[2]));
        assert_ne!(address(&logs[0]), "101.160.244.53");
        assert!(address(&logs[2]).starts_with("101.160."));
        assert_eq!(logs[2]["Location"], "AU", "only addresses change");
        let mut trail = serde_json::json!({"sourceIPAddress": "sagemaker.amazonaws.com"});
        addresses.refresh(Source::CloudTrail, monday, &mut trail);
        assert_eq!(
            trail["sourceIPAddress"], "sagemaker.amazonaws.com",
            "a service calling on the user's behalf is no address"
        );
    }
}
