//! The anticipated-events file: what the organisation knows is coming, so the next
//! model version learns it as normal instead of alerting on it.
//!
//! ```toml
//! # Hannah works from the Bangalore office for a week.
//! [[travel]]
//! user = "hannah.kowalski@contoso.com"
//! country = "IN"
//! from = "2026-11-16"
//! days = 5
//! # behaviour = "generated"   # the main model writes her logs (default: "recorded")
//! ```
//!
//! Each event becomes synthetic benign logs through the generators of `cyberlm scenario`
//! (a trip: the Dual-GPT of `scenario travel`). Users are written in the clear; they are
//! pseudonymised as the model's logs were.

use std::path::Path;

use anyhow::Context;
use chrono::NaiveDate;
use serde::Deserialize;

use crate::commands::scenario::travel::Behaviour;

/// Every anticipated event of one file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anticipated {
    /// Users working from another country for a few days.
    #[serde(default)]
    pub travel: Vec<Travel>,
}

/// A user working from another country.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Travel {
    /// Who (as the logs name them, in the clear).
    pub user: String,
    /// Where to: ISO 3166 alpha-2.
    pub country: String,
    /// First day abroad, YYYY-MM-DD (UTC).
    pub from: NaiveDate,
    /// Days abroad.
    pub days: u32,
    /// Who writes what they do abroad: `recorded` (the default: their own logs of the
    /// same weekdays, with locations from the group models) or `generated` (the main
    /// model writes every log).
    #[serde(default = "recorded")]
    pub behaviour: Behaviour,
}

fn recorded() -> Behaviour {
    Behaviour::Recorded
}

impl Anticipated {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the anticipated events {}", path.display()))?;
        let anticipated = Self::parse(&text).with_context(|| {
            format!("{} is not a valid anticipated-events file", path.display())
        })?;
        Ok(anticipated)
    }

    /// Parses and checks a file's text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let anticipated: Anticipated = toml::from_str(text)?;
        for trip in &anticipated.travel {
            let country = trip.country.trim();
            anyhow::ensure!(
                country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic()),
                "travel of {:?}: country {:?} is not an ISO 3166 alpha-2 code such as \"IN\"",
                trip.user,
                trip.country
            );
            anyhow::ensure!(
                (1..=90).contains(&trip.days),
                "travel of {:?}: {} days; give 1 to 90",
                trip.user,
                trip.days
            );
        }
        Ok(anticipated)
    }

    /// Whether it holds no event at all.
    pub fn is_empty(&self) -> bool {
        self.travel.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_are_read_and_checked() {
        let anticipated = Anticipated::parse(
            r#"
            [[travel]]
            user = "hannah.kowalski@contoso.com"
            country = "IN"
            from = "2026-11-16"
            days = 5
            "#,
        )
        .unwrap();
        assert_eq!(
            anticipated.travel,
            [Travel {
                user: "hannah.kowalski@contoso.com".into(),
                country: "IN".into(),
                from: "2026-11-16".parse().unwrap(),
                days: 5,
                behaviour: Behaviour::Recorded,
            }]
        );
        let wrong_country =
            "[[travel]]\nuser = \"a\"\ncountry = \"India\"\nfrom = \"2026-11-16\"\ndays = 5\n";
        let error = format!("{:#}", Anticipated::parse(wrong_country).unwrap_err());
        assert!(error.contains("ISO 3166"), "{error}");
        let unknown = "[[new_employee]]\nuser = \"a\"\n";
        let error = format!("{:#}", Anticipated::parse(unknown).unwrap_err());
        assert!(
            error.contains("new_employee") && error.contains("travel"),
            "{error}"
        );
        assert!(Anticipated::parse("").unwrap().is_empty());
    }
}
