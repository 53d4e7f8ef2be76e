//! `cyberlm simulate`: a realistic enterprise's Entra ID, Confluence and CloudTrail logs,
//! deterministic for a seed, with labelled attack scenarios on top.
//!
//! There is no public Entra ID sign-in or Confluence audit corpus large enough to train
//! on, so the simulator is the training and evaluation corpus for those sources. Its
//! field names and value shapes follow the real samples in `../shared/data`; its
//! behaviour (habits, office hours, failure rates) is the part a model must learn.

mod activity;
mod azure;
mod cloudtrail;
mod confluence;
mod enterprise;
mod geo;
mod ids;
mod output;
mod scenarios;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemas::Source;
use serde::Serialize;
use serde_json::Value;

pub use enterprise::{Role, User};
pub use output::{Summary, write_corpus};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulationConfig {
    /// Number of employees.
    pub users: usize,
    /// Number of days.
    pub days: u32,
    /// RNG seed: the same seed gives byte-identical output.
    pub seed: u64,
    /// Seed of what people do day to day, the trip and the attacks, when it should differ
    /// from `seed`, which then fixes only the organisation (its people, their habits, the
    /// CI robot's key): the same enterprise on other days, as a model trained on one
    /// period meets it in the next.
    pub activity_seed: Option<u64>,
    /// First day (UTC).
    pub start: NaiveDate,
    /// Add the labelled attack scenarios.
    pub attacks: bool,
    /// Add the anticipated benign trip.
    pub travel: bool,
    /// Colleagues' earlier benign trips, before the anticipated one (the first to its
    /// city), labelled `past_trip`.
    pub past_trips: u32,
}

impl Default for SimulationConfig {
    fn default() -> Self {
        SimulationConfig {
            users: 50,
            days: 14,
            seed: 7,
            activity_seed: None,
            start: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default(),
            attacks: true,
            travel: true,
            past_trips: 0,
        }
    }
}

/// What a labelled event is part of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    /// Scenario kind (`password_spray`, `travel`).
    pub scenario: &'static str,
    /// Scenario instance (`password_spray-1`).
    pub scenario_id: String,
    /// MITRE ATT&CK technique, for attacks.
    pub technique: Option<&'static str>,
    /// An attack (true) or an anticipated benign event (false).
    pub malicious: bool,
    /// Designed to slip past the SigmaHQ rules.
    pub stealthy: bool,
}

/// One simulated log before it is written.
#[derive(Debug)]
pub struct Record {
    /// Event time.
    pub time: DateTime<Utc>,
    /// Generation order, the tie-break that keeps output deterministic.
    pub seq: u64,
    /// Source.
    pub source: Source,
    /// The log, serialised as compact JSON (a third of the memory of a `Value`, which
    /// matters at a million logs).
    pub line: Vec<u8>,
    /// Its label, for scenario events.
    pub label: Option<Label>,
}

/// Collects records, stamping each with the label currently in force.
#[derive(Debug, Default)]
pub struct Emitter {
    records: Vec<Record>,
    label: Option<Label>,
}

impl Emitter {
    fn set_label(&mut self, label: Option<Label>) {
        self.label = label;
    }

    fn push(&mut self, source: Source, time: DateTime<Utc>, json: Value) {
        let seq = self.records.len() as u64;
        // Serialising a `Value` we built cannot fail (string keys, finite numbers).
        let line = serde_json::to_vec(&json).unwrap_or_default();
        self.records.push(Record {
            time,
            seq,
            source,
            line,
            label: self.label.clone(),
        });
    }
}

/// The simulated enterprise: its people and every log, unsorted.
pub struct Simulation {
    /// The employees.
    pub users: Vec<User>,
    /// Every log.
    pub records: Vec<Record>,
    /// The benign trip, when the simulation has one.
    pub trip: Option<scenarios::Trip>,
}

/// Runs the simulation in memory. `on_user` is called after each person's days are done
/// (for progress).
pub fn simulate(config: &SimulationConfig, mut on_user: impl FnMut()) -> Simulation {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let users = enterprise::people(&mut rng, config.users.max(1));
    let robot = cloudtrail::Principal::IamUser {
        account: enterprise::AWS_ACCOUNTS[0],
        name: "svc-ci-deploy".to_string(),
        access_key: format!("AKIA{}", ids::alnum_upper(&mut rng, 16)),
    };
    let stage = scenarios::Stage {
        users: &users,
        start: config.start,
        days: config.days.max(1),
        robot: &robot,
    };
    let activity = config.activity_seed.unwrap_or(config.seed);
    if let Some(seed) = config.activity_seed {
        rng = ChaCha8Rng::seed_from_u64(seed);
    }
    let trip = scenarios::plan_trip(&mut rng, &stage);
    // Their own stream, so asking for them shifts no other draw.
    let past_trips = scenarios::plan_past_trips(
        &mut ChaCha8Rng::seed_from_u64(activity.wrapping_add(0x7219)),
        &stage,
        &trip,
        config.past_trips,
    );
    let travellers: Vec<usize> = past_trips.iter().map(|past| past.user).collect();
    let mut out = Emitter::default();
    for (index, user) in users.iter().enumerate() {
        // One RNG stream per person, so that one person's draws never shift another's.
        let mut user_rng = ChaCha8Rng::seed_from_u64(
            activity ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        for day in 0..config.days {
            let date = config.start + Duration::days(i64::from(day));
            let anticipated = Some(&trip).filter(|_| config.travel);
            let (abroad, label) = anticipated
                .into_iter()
                .chain(&past_trips)
                .find_map(|trip| Some((trip.on(index, date)?, &trip.label)))
                .unzip();
            activity::working_day(&mut user_rng, user, date, abroad, label, &mut out);
        }
        on_user();
    }
    let mut robot_rng = ChaCha8Rng::seed_from_u64(activity.wrapping_add(0xC1));
    for day in 0..config.days {
        activity::ci_robot_day(
            &mut robot_rng,
            &robot,
            config.start + Duration::days(i64::from(day)),
            &mut out,
        );
    }
    if config.attacks {
        let mut attack_rng = ChaCha8Rng::seed_from_u64(activity.wrapping_add(0xA77AC));
        scenarios::attacks(&mut attack_rng, &stage, &trip, &travellers, &mut out);
    }
    Simulation {
        users,
        records: out.records,
        trip: config.travel.then_some(trip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SimulationConfig {
        SimulationConfig {
            users: 12,
            days: 6,
            ..SimulationConfig::default()
        }
    }

    #[test]
    fn same_seed_same_logs_other_seed_other_logs() {
        let render = |config: &SimulationConfig| -> Vec<String> {
            simulate(config, || {})
                .records
                .iter()
                .map(|r| String::from_utf8(r.line.clone()).unwrap())
                .collect()
        };
        let first = render(&small());
        assert_eq!(first, render(&small()));
        assert_ne!(first, render(&SimulationConfig { seed: 8, ..small() }));
    }

    #[test]
    fn another_activity_seed_is_the_same_enterprise_on_other_days() {
        let first = simulate(&small(), || {});
        let other = simulate(
            &SimulationConfig {
                activity_seed: Some(99),
                ..small()
            },
            || {},
        );
        let upns = |simulation: &Simulation| -> Vec<String> {
            simulation
                .users
                .iter()
                .map(|user| user.upn.clone())
                .collect()
        };
        assert_eq!(upns(&first), upns(&other));
        let lines = |simulation: &Simulation| -> std::collections::HashSet<Vec<u8>> {
            simulation.records.iter().map(|r| r.line.clone()).collect()
        };
        assert!(lines(&first).is_disjoint(&lines(&other)));
    }

    #[test]
    fn every_source_and_scenario_is_present() {
        let simulation = simulate(&small(), || {});
        for source in Source::ALL {
            assert!(
                simulation.records.iter().any(|r| r.source == source),
                "no {source} logs"
            );
        }
        let scenarios: std::collections::BTreeSet<_> = simulation
            .records
            .iter()
            .filter_map(|r| r.label.as_ref().map(|l| l.scenario))
            .collect();
        for expected in [
            "account_takeover",
            "leaked_key_discovery",
            "password_spray",
            "backdoor_credentials",
            "disable_logging",
            "s3_exfiltration",
            "confluence_export",
            "foreign_session",
            "quiet_takeover",
            "new_country_discovery",
            "travel",
        ] {
            assert!(
                scenarios.contains(expected),
                "missing {expected}: {scenarios:?}"
            );
        }
    }

    #[test]
    fn the_new_country_takeovers_come_from_abroad_for_two_victims_the_first_via_a_colleagues_city()
    {
        let simulation = simulate(&small(), || {});
        let trip = simulation.trip.as_ref().unwrap();
        let instance = |id: &str| -> (String, String, Vec<Source>) {
            let logs: Vec<schemas::Envelope> = simulation
                .records
                .iter()
                .filter(|r| r.label.as_ref().is_some_and(|l| l.scenario_id == id))
                .map(|r| schemas::decode(r.source, &r.line).unwrap())
                .collect();
            let country = logs.iter().find_map(|log| log.country.clone()).unwrap();
            let user = logs[0].user.clone().unwrap();
            (user, country, logs.iter().map(|log| log.source).collect())
        };
        let home = |user: &str| {
            simulation
                .users
                .iter()
                .find(|u| u.upn.to_lowercase() == user)
                .unwrap()
                .office
                .country
        };
        let (first, first_country, sources) = instance("new_country_discovery-1");
        assert_eq!(sources[0], Source::Azure, "the sign-in leads");
        assert!(sources[1..].iter().all(|&s| s == Source::CloudTrail));
        assert_ne!(first_country, home(&first));
        assert!(
            geo::OFFICES
                .iter()
                .any(|(city, _)| city.country == first_country)
        );
        let (second, second_country, _) = instance("new_country_discovery-2");
        assert_ne!(first, second);
        assert_ne!(second_country, home(&second));
        assert_ne!(second_country, trip.place.city.country);
        assert!(
            geo::TRAVEL
                .iter()
                .any(|city| city.country == second_country)
        );
    }

    #[test]
    fn colleagues_travel_before_the_trip_the_first_to_its_city_and_none_is_the_victim() {
        let config = SimulationConfig {
            users: 12,
            days: 14,
            past_trips: 2,
            ..SimulationConfig::default()
        };
        let simulation = simulate(&config, || {});
        let trip = simulation.trip.as_ref().unwrap();
        let decoded = |scenario: &str| -> Vec<(DateTime<Utc>, schemas::Envelope)> {
            simulation
                .records
                .iter()
                .filter(|r| r.label.as_ref().is_some_and(|l| l.scenario_id == scenario))
                .map(|r| (r.time, schemas::decode(r.source, &r.line).unwrap()))
                .collect()
        };
        let users =
            |logs: &[(DateTime<Utc>, schemas::Envelope)]| -> std::collections::BTreeSet<String> {
                logs.iter()
                    .filter_map(|(_, log)| log.user.clone())
                    .collect()
            };
        let traveller = simulation.users[trip.user].upn.to_lowercase();
        let mut travellers = std::collections::BTreeSet::new();
        for instance in ["past_trip-1", "past_trip-2"] {
            let logs = decoded(instance);
            assert!(!logs.is_empty(), "no {instance} logs");
            let first_half = config.start + Duration::days(7);
            assert!(
                logs.iter()
                    .all(|(time, _)| time.date_naive() < trip.from.min(first_half))
            );
            let who = users(&logs);
            assert_eq!(who.len(), 1, "{instance}: {who:?}");
            assert!(!who.contains(&traveller));
            travellers.extend(who);
        }
        assert_eq!(travellers.len(), 2, "two colleagues travelled");
        assert!(
            decoded("past_trip-1")
                .iter()
                .filter_map(|(_, log)| log.country.as_deref())
                .all(|country| country == trip.place.city.country)
        );
        let victims = users(&decoded("foreign_session-1"));
        assert!(victims.is_disjoint(&travellers), "{victims:?}");
        // Asking for past trips shifts nobody else's day.
        let without = simulate(
            &SimulationConfig {
                past_trips: 0,
                ..config
            },
            || {},
        );
        let stay_at_home = |simulation: &Simulation| -> Vec<Vec<u8>> {
            simulation
                .records
                .iter()
                .filter(|r| r.label.is_none())
                .filter(|r| {
                    let user = schemas::decode(r.source, &r.line).unwrap().user;
                    user.is_none_or(|user| !travellers.contains(&user))
                })
                .map(|r| r.line.clone())
                .collect()
        };
        let at_home = stay_at_home(&simulation);
        assert!(at_home.len() > 1000);
        assert_eq!(at_home, stay_at_home(&without));
    }

    #[test]
    fn working_hours_follow_the_time_zone() {
        let simulation = simulate(
            &SimulationConfig {
                users: 30,
                days: 5,
                attacks: false,
                travel: false,
                ..small()
            },
            || {},
        );
        let mut local_hours = Vec::new();
        for record in simulation
            .records
            .iter()
            .filter(|r| r.source == Source::Azure)
        {
            let json: Value = serde_json::from_slice(&record.line).unwrap();
            let upn = json["UserPrincipalName"].as_str().unwrap();
            let user = simulation.users.iter().find(|u| u.upn == upn).unwrap();
            let local = record.time + Duration::hours(i64::from(user.office.utc_offset_hours));
            local_hours.push(chrono::Timelike::hour(&local));
        }
        let office = local_hours.iter().filter(|h| (6..=21).contains(*h)).count();
        assert!(
            office * 100 >= local_hours.len() * 97,
            "{office} of {} in office hours",
            local_hours.len()
        );
    }
}
