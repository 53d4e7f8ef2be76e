//! Where a user is, for the logs that do not say.
//!
//! Only Entra ID sign-ins record a country. A CloudTrail call or a Confluence edit made
//! an hour after a sign-in from Madrid comes from Madrid too, but a model reading that
//! log alone cannot know it: one projected sign-in runs to about 1,500 tokens, so the
//! user's preceding sign-in rarely fits in the context before the log being scored. A
//! model then learns "this user's AWS calls come from the office", and raises every call
//! made from a hotel. Carrying the user's latest sign-in country into the header of
//! their logs that record none gives every log the one fact of its context that matters
//! most, in a few bytes, and lets a group model (the Dual-GPT's location model) write an
//! address and a region that belong to that country.
//!
//! Training, calibration, scoring and generation must carry alike, so the carry is part
//! of the [`super::TextFormat`] a model is stored with.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use schemas::Envelope;

use super::Header;

/// Hours a sign-in's country is carried when the format does not say: a week, so
/// Monday's first AWS call still knows where Friday's last sign-in was.
pub const DEFAULT_CARRY_HOURS: u32 = 7 * 24;

/// Every so many remembered countries, those past their age are forgotten, so memory
/// is bounded by the users active within the carry's age.
const PRUNE_EVERY: usize = 4096;

/// Remembers each user's latest countries and writes into the header of each of their
/// logs that records none the country of their latest sign-in strictly before it. Feed
/// it one stream's logs in event-time order (per user is enough); logs of the same
/// second may come in any order (a file and a topic partition order ties differently),
/// and the headers are the same.
#[derive(Debug, Clone, Default)]
pub struct CountryCarry {
    /// How long a country is carried; `None`: never (a model trained before the carry
    /// existed reads each log's own country only).
    max_age: Option<TimeDelta>,
    /// Whether a failed sign-in is passed over ([`super::TextFormat::carry_successful_only`]).
    successful_only: bool,
    /// Per user, their two latest sign-ins, newest first: a log of the same second as
    /// the newest takes the one before, whichever of the two was seen first.
    recent: HashMap<String, Recent>,
    latest_time: Option<DateTime<Utc>>,
    since_prune: usize,
}

impl CountryCarry {
    /// A carry for `hours` of every sign-in (or, `successful_only`, of the sign-ins
    /// that succeeded); `None` carries nothing.
    pub fn new(hours: Option<u32>, successful_only: bool) -> Self {
        CountryCarry {
            max_age: hours.map(|hours| TimeDelta::hours(i64::from(hours))),
            successful_only,
            ..CountryCarry::default()
        }
    }

    /// The header of `envelope` (as [`Header::of`]), with the country of the user's
    /// latest sign-in before it where the log records none and that sign-in is recent
    /// enough. A log with a country of its own is remembered, unless it failed and
    /// only successful sign-ins are carried (its own header keeps its country).
    pub fn header(&mut self, envelope: &Envelope, technique: Option<&str>) -> Header {
        let mut header = Header::of(envelope, technique);
        let Some(max_age) = self.max_age else {
            return header;
        };
        let Some(user) = envelope.user.as_deref() else {
            return header;
        };
        let time = envelope.event_time;
        self.latest_time = self.latest_time.max(Some(time));
        match &envelope.country {
            Some(_) if self.successful_only && envelope.failed() => {}
            Some(country) => {
                // Most sign-ins are of a user already remembered: no key to allocate.
                match self.recent.get_mut(user) {
                    Some(recent) => recent.remember((time, country.clone())),
                    None => {
                        let mut recent = Recent::default();
                        recent.remember((time, country.clone()));
                        self.recent.insert(user.to_string(), recent);
                    }
                }
                self.prune(max_age);
            }
            None => {
                header.country = self
                    .recent
                    .get(user)
                    .and_then(|recent| recent.before(time, max_age))
                    .map(str::to_string);
            }
        }
        header
    }

    /// Carries as `format` does from now on (a model of another format swapped in),
    /// keeping the countries remembered so far.
    pub fn follow(&mut self, format: &super::TextFormat) {
        self.max_age = format
            .carry_country_hours
            .map(|hours| TimeDelta::hours(i64::from(hours)));
        self.successful_only = format.carry_successful_only;
    }

    /// Users remembered.
    pub fn users(&self) -> usize {
        self.recent.len()
    }

    fn prune(&mut self, max_age: TimeDelta) {
        self.since_prune += 1;
        if self.since_prune < PRUNE_EVERY {
            return;
        }
        self.since_prune = 0;
        if let Some(now) = self.latest_time {
            self.recent
                .retain(|_, recent| recent.newest().is_some_and(|at| now - at <= max_age));
        }
    }
}

/// A user's two latest sign-ins (time, country), newest first; ties in time ordered by
/// country, so the order they came in never matters.
#[derive(Debug, Clone, Default)]
struct Recent([Option<(DateTime<Utc>, String)>; 2]);

impl Recent {
    fn remember(&mut self, sign_in: (DateTime<Utc>, String)) {
        let [newest, older] = &mut self.0;
        if newest.as_ref() == Some(&sign_in) || older.as_ref() == Some(&sign_in) {
            return;
        }
        if newest.as_ref().is_none_or(|newest| sign_in > *newest) {
            *older = newest.replace(sign_in);
        } else if older.as_ref().is_none_or(|older| sign_in > *older) {
            *older = Some(sign_in);
        }
    }

    /// The country of the latest sign-in strictly before `time`, within `max_age`.
    fn before(&self, time: DateTime<Utc>, max_age: TimeDelta) -> Option<&str> {
        self.0
            .iter()
            .flatten()
            .find(|(at, _)| *at < time)
            .filter(|(at, _)| time - *at <= max_age)
            .map(|(_, country)| country.as_str())
    }

    fn newest(&self) -> Option<DateTime<Utc>> {
        self.0[0].as_ref().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::Source;
    use serde_json::json;

    fn log(source: Source, user: &str, minute: i64, country: Option<&str>) -> Envelope {
        let time = DateTime::from_timestamp(1_794_000_000 + minute * 60, 0).unwrap();
        Envelope {
            source,
            event_time: time,
            user: Some(user.to_string()),
            country: country.map(str::to_string),
            event_id: format!("e{minute}"),
            json: json!({}),
        }
    }

    #[test]
    fn a_sign_in_country_reaches_the_users_later_logs_of_other_sources_only() {
        let mut carry = CountryCarry::new(Some(24), false);
        let country = |carry: &mut CountryCarry, log: &Envelope| carry.header(log, None).country;
        // Nothing known yet.
        assert_eq!(
            carry
                .header(&log(Source::CloudTrail, "ann", 0, None), None)
                .country,
            None
        );
        assert_eq!(
            country(&mut carry, &log(Source::Azure, "ann", 1, Some("ES"))),
            Some("ES".into())
        );
        assert_eq!(
            country(&mut carry, &log(Source::CloudTrail, "ann", 2, None)),
            Some("ES".into())
        );
        assert_eq!(
            country(&mut carry, &log(Source::Confluence, "ann", 3, None)),
            Some("ES".into())
        );
        // Another user is not carried, and a late sign-in does not replace a newer one.
        assert_eq!(
            country(&mut carry, &log(Source::CloudTrail, "bob", 4, None)),
            None
        );
        assert_eq!(
            country(&mut carry, &log(Source::Azure, "ann", 0, Some("DE"))),
            Some("DE".into()),
            "a log's own country always stands"
        );
        assert_eq!(
            country(&mut carry, &log(Source::CloudTrail, "ann", 5, None)),
            Some("ES".into())
        );
        // Past its age the country is no longer carried.
        assert_eq!(
            country(
                &mut carry,
                &log(Source::CloudTrail, "ann", 1 + 24 * 60 + 1, None)
            ),
            None
        );
    }

    #[test]
    fn a_log_of_the_same_second_as_a_sign_in_is_carried_alike_in_either_order() {
        let headers = |sign_in_first: bool| {
            let mut carry = CountryCarry::new(Some(24), false);
            carry.header(&log(Source::Azure, "ann", 0, Some("DE")), None);
            let sign_in = log(Source::Azure, "ann", 5, Some("ES"));
            let call = log(Source::CloudTrail, "ann", 5, None);
            let carried = if sign_in_first {
                carry.header(&sign_in, None);
                carry.header(&call, None).country
            } else {
                let carried = carry.header(&call, None).country;
                carry.header(&sign_in, None);
                carried
            };
            let next = carry.header(&log(Source::CloudTrail, "ann", 6, None), None);
            (carried, next.country)
        };
        assert_eq!(headers(true), (Some("DE".into()), Some("ES".into())));
        assert_eq!(headers(false), headers(true));
    }

    #[test]
    fn a_failed_sign_in_keeps_its_own_country_but_is_carried_only_by_an_older_format() {
        // A sprayed password from Lagos, minutes after ann's own sign-in in Berlin.
        let at_home = log(Source::Azure, "ann", 0, Some("DE"));
        let mut sprayed = log(Source::Azure, "ann", 3, Some("NG"));
        sprayed.json = json!({"ResultType": "50126"});
        let export = log(Source::Confluence, "ann", 5, None);
        let carried = |successful_only: bool| {
            let mut carry = CountryCarry::new(Some(24), successful_only);
            carry.header(&at_home, None);
            let own = carry.header(&sprayed, None).country;
            (own, carry.header(&export, None).country)
        };
        assert_eq!(carried(true), (Some("NG".into()), Some("DE".into())));
        assert_eq!(carried(false), (Some("NG".into()), Some("NG".into())));
    }

    #[test]
    fn a_format_without_a_carry_reads_each_logs_own_country() {
        let mut carry = CountryCarry::new(None, false);
        carry.header(&log(Source::Azure, "ann", 1, Some("ES")), None);
        assert_eq!(
            carry
                .header(&log(Source::CloudTrail, "ann", 2, None), None)
                .country,
            None
        );
        assert_eq!(carry.users(), 0);
    }
}
