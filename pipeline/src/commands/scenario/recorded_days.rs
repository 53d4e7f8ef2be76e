//! A user's recorded days, replayed on other dates: what an anticipated event's logs are
//! made of when the user (or a teammate) has done the same before. Each planned log
//! stands for a real one, moved to its new time with fresh event ids.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use operators::source_fields::lookup_mut;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemas::{Envelope, Source};
use serde_json::Value;

/// One log to write: its source, when, and the real log of the user's it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub source: Source,
    pub time: DateTime<Utc>,
    /// Index of the real log in the history.
    pub template: usize,
}

/// The user's logs by UTC day: each log's source and time of day, in order.
pub fn days_of<'a>(
    logs: impl Iterator<Item = (usize, &'a Envelope)>,
) -> BTreeMap<NaiveDate, Vec<(Source, NaiveTime, usize)>> {
    let mut days: BTreeMap<NaiveDate, Vec<(Source, NaiveTime, usize)>> = BTreeMap::new();
    for (index, log) in logs {
        days.entry(log.event_time.date_naive()).or_default().push((
            log.source,
            log.event_time.time(),
            index,
        ));
    }
    for day in days.values_mut() {
        day.sort_by_key(|&(_, time, _)| time);
    }
    days
}

/// The logs of `days` days from `from`: each day repeats a real day of the user's on the
/// same weekday (the first such day for the first Monday abroad, the next for the next,
/// round and round); a weekday they never worked stays empty.
pub fn plan(
    days: &BTreeMap<NaiveDate, Vec<(Source, NaiveTime, usize)>>,
    from: NaiveDate,
    count: u32,
) -> Vec<Planned> {
    let mut used_per_weekday = [0usize; 7];
    let mut planned = Vec::new();
    for date in from.iter_days().take(count as usize) {
        let weekday = date.weekday().num_days_from_monday() as usize;
        let same_weekday: Vec<&Vec<(Source, NaiveTime, usize)>> = days
            .iter()
            .filter(|(day, _)| day.weekday().num_days_from_monday() as usize == weekday)
            .map(|(_, logs)| logs)
            .collect();
        if same_weekday.is_empty() {
            continue;
        }
        let template = same_weekday[used_per_weekday[weekday] % same_weekday.len()];
        used_per_weekday[weekday] += 1;
        planned.extend(template.iter().map(|&(source, time, template)| Planned {
            source,
            time: date.and_time(time).and_utc(),
            template,
        }));
    }
    planned
}

/// Gives a copied log new event ids (UUIDs), so it is never taken for the real one.
pub fn fresh_ids(source: Source, log: &mut Value, rng: &mut ChaCha8Rng) {
    for path in source.spec().event_id {
        if let Some(field @ Value::String(_)) = lookup_mut(log, path.as_str()) {
            let bits: u128 = rng.random();
            let hex = format!("{bits:032x}");
            *field = Value::String(format!(
                "{}-{}-4{}-a{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[13..16],
                &hex[17..20],
                &hex[20..]
            ));
        }
    }
}

/// Moves `log` to `time`: each of its event-time fields, written as it was written, or
/// the source's usual field added where the model wrote none (a model without the
/// source's shape may close a log early).
pub fn set_event_time(source: Source, log: &mut Value, time: DateTime<Utc>) {
    let mut found = false;
    for path in source.spec().event_time {
        if let Some(field) = lookup_mut(log, path.as_str()) {
            *field = schemas::format_event_time_like(field, time);
            found = true;
        }
    }
    if found {
        return;
    }
    let like = match source {
        Source::Confluence => Value::from(0),
        Source::Azure | Source::CloudTrail => Value::from("1970-01-01T00:00:00.000Z"),
    };
    if let (Some(path), Some(object)) = (source.spec().event_time.first(), log.as_object_mut()) {
        object.insert(
            path.as_str().to_string(),
            schemas::format_event_time_like(&like, time),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn at(date: &str, time: &str) -> (NaiveDate, NaiveTime) {
        (date.parse().unwrap(), time.parse().unwrap())
    }

    #[test]
    fn days_abroad_repeat_real_days_of_the_same_weekday_in_turn() {
        let mut days = BTreeMap::new();
        // Monday 2 and 9 November; Tuesday 3 November; no weekend.
        let (mon1, t1) = at("2026-11-02", "08:30:00");
        let (mon2, t2) = at("2026-11-09", "10:00:00");
        let (tue, t3) = at("2026-11-03", "14:15:00");
        days.insert(
            mon1,
            vec![(Source::Azure, t1, 0), (Source::CloudTrail, t1, 1)],
        );
        days.insert(mon2, vec![(Source::Confluence, t2, 2)]);
        days.insert(tue, vec![(Source::Azure, t3, 3)]);
        // From Sunday 6 December for 10 days: Mon 7, Tue 8, Mon 14, Tue 15.
        let planned = plan(&days, "2026-12-06".parse().unwrap(), 10);
        let described: Vec<(Source, String, usize)> = planned
            .iter()
            .map(|p| (p.source, p.time.to_rfc3339(), p.template))
            .collect();
        assert_eq!(
            described,
            [
                (Source::Azure, "2026-12-07T08:30:00+00:00".to_string(), 0),
                (
                    Source::CloudTrail,
                    "2026-12-07T08:30:00+00:00".to_string(),
                    1
                ),
                (Source::Azure, "2026-12-08T14:15:00+00:00".to_string(), 3),
                (
                    Source::Confluence,
                    "2026-12-14T10:00:00+00:00".to_string(),
                    2
                ),
                (Source::Azure, "2026-12-15T14:15:00+00:00".to_string(), 3),
            ]
        );
    }

    #[test]
    fn a_generated_log_moves_to_its_planned_time_in_its_own_format() {
        let time = "2026-12-07T08:30:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut trail = serde_json::json!({"eventTime": "2026-11-02T10:00:00Z"});
        set_event_time(Source::CloudTrail, &mut trail, time);
        assert_eq!(trail["eventTime"], "2026-12-07T08:30:00Z");
        let mut closed_early = serde_json::json!({});
        set_event_time(Source::Azure, &mut closed_early, time);
        assert_eq!(closed_early["TimeGenerated"], "2026-12-07T08:30:00.000Z");
        let mut copied = serde_json::json!({"Id": "a4ebd3b2-2b1c-4fd2-9a1e-6b44b2b0e001"});
        fresh_ids(
            Source::Azure,
            &mut copied,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let id = copied["Id"].as_str().unwrap();
        assert_ne!(id, "a4ebd3b2-2b1c-4fd2-9a1e-6b44b2b0e001");
        assert_eq!(
            id.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        let mut page = serde_json::json!({"creationDate": 1_700_000_000_000i64});
        set_event_time(Source::Confluence, &mut page, time);
        assert_eq!(page["creationDate"], time.timestamp_millis());
    }
}
