//! When in the week logs happen: the hour of the day and the weekday (UTC) of their event
//! times, compared as categorical fields are. Not fields of the logs, so not among the
//! fields the TVD target counts, but a generated day that peaks at the wrong hours
//! teaches a retrained detector the wrong habits.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::{Value, json};

use super::categorical::{FieldFidelity, compare};
use crate::text_format::WEEKDAYS;

/// The pseudo-field of the hour of the day (UTC, `00`–`23`).
pub const HOUR: &str = "event_hour_utc";
/// The pseudo-field of the weekday (UTC, `Mon`–`Sun`, as headers write them).
pub const WEEKDAY: &str = "event_weekday_utc";

/// The hour and weekday of each event time, as the real and the generated logs'
/// distributions of [`HOUR`] and [`WEEKDAY`], with `reference` times (held-out real logs)
/// giving the sampling-noise floor.
pub fn compare_times(
    real: &[DateTime<Utc>],
    generated: &[DateTime<Utc>],
    reference: Option<&[DateTime<Utc>]>,
) -> Vec<FieldFidelity> {
    let values = |times: &[DateTime<Utc>]| -> Vec<Value> { times.iter().map(|&t| of(t)).collect() };
    let (real, generated) = (values(real), values(generated));
    let reference = reference.map(values);
    let real: Vec<&Value> = real.iter().collect();
    let generated: Vec<&Value> = generated.iter().collect();
    let reference: Option<Vec<&Value>> = reference.as_ref().map(|r| r.iter().collect());
    [HOUR, WEEKDAY]
        .into_iter()
        .map(|path| compare(path, &real, &generated, reference.as_deref()))
        .collect()
}

/// Where `value` of the pseudo-field `path` comes in the day or the week (`00` first,
/// `Mon` first), so charts read in time order; `None` for any other field or value.
pub fn position(path: &str, value: &str) -> Option<usize> {
    match path {
        HOUR => value.parse().ok().filter(|&hour: &usize| hour < 24),
        WEEKDAY => WEEKDAYS.iter().position(|day| *day == value),
        _ => None,
    }
}

fn of(time: DateTime<Utc>) -> Value {
    let weekday = WEEKDAYS[time.weekday().num_days_from_monday() as usize];
    json!({ HOUR: format!("{:02}", time.hour()), WEEKDAY: weekday })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn hours_and_weekdays_compare_like_categorical_fields() {
        // Real: Monday 09:00 and 10:00; generated: both Saturday 09:00.
        let real = [at("2026-11-16T09:15:00Z"), at("2026-11-16T10:59:59Z")];
        let generated = [at("2026-11-21T09:00:00Z"), at("2026-11-21T09:30:00Z")];
        let fields = compare_times(&real, &generated, Some(&real));
        let (hour, weekday) = (&fields[0], &fields[1]);
        assert_eq!(hour.path, HOUR);
        assert!((hour.tvd - 0.5).abs() < 1e-9, "{}", hour.tvd);
        assert_eq!(hour.missing, vec!["10".to_string()]);
        assert_eq!(weekday.path, WEEKDAY);
        assert!((weekday.tvd - 1.0).abs() < 1e-9, "{}", weekday.tvd);
        assert_eq!(weekday.missing, vec!["Mon".to_string()]);
        assert_eq!(hour.reference_tvd, Some(0.0));
    }

    #[test]
    fn hours_and_weekdays_have_their_time_order() {
        assert_eq!(position(HOUR, "00"), Some(0));
        assert_eq!(position(HOUR, "23"), Some(23));
        assert_eq!(position(WEEKDAY, "Mon"), Some(0));
        assert_eq!(position(WEEKDAY, "Sun"), Some(6));
        assert_eq!(position(HOUR, "24"), None);
        assert_eq!(position("Category", "Mon"), None);
    }
}
