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
//!
//! # Nora joins Hannah's and Ben's team.
//! [[joiner]]
//! user = "nora.new@contoso.com"
//! # name = "Nora New"            # as the logs display her (default: from `user`)
//! teammates = ["hannah.kowalski@contoso.com", "ben.ode@contoso.com"]
//! from = "2026-11-23"
//! days = 5
//!
//! # The data team starts on SageMaker.
//! [[aws_service]]
//! users = ["hannah.kowalski@contoso.com"]
//! service = "sagemaker.amazonaws.com"
//! events = ["CreateNotebookInstance", "DescribeNotebookInstance", "ListNotebookInstances"]
//! from = "2026-11-23"
//! days = 5
//! # share = 0.2                  # of their AWS calls that go to it
//! ```
//!
//! Each event becomes synthetic benign logs through the generators of `cyberlm scenario`
//! (a trip: the Dual-GPT of `scenario travel`; a joiner: the teammates' recorded days
//! under the joiner's name; a new AWS service: the main model completing the users'
//! recorded calls turned into calls to it). Users are written in the clear; they are pseudonymised as
//! the model's logs were.

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
    /// New employees.
    #[serde(default)]
    pub joiner: Vec<Joiner>,
    /// Users starting on an AWS service.
    #[serde(default)]
    pub aws_service: Vec<AwsService>,
}

/// Users starting on an AWS service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsService {
    /// Who (sign-in names, in the clear).
    pub users: Vec<String>,
    /// The service's CloudTrail `eventSource`, e.g. `sagemaker.amazonaws.com`.
    pub service: String,
    /// The calls they will make (`eventName`s).
    pub events: Vec<String>,
    /// First day, YYYY-MM-DD (UTC).
    pub from: NaiveDate,
    /// Days from then.
    pub days: u32,
    /// Share of their AWS calls that go to it.
    #[serde(default = "default_share")]
    pub share: f64,
}

fn default_share() -> f64 {
    0.2
}

/// A new employee, who will work as their teammates do.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Joiner {
    /// Their sign-in name, in the clear.
    pub user: String,
    /// Their name as the logs display it; by default made from `user`
    /// (`nora.new@…` → `Nora New`).
    #[serde(default)]
    pub name: Option<String>,
    /// Teammates (sign-in names) whose recorded days theirs will resemble.
    pub teammates: Vec<String>,
    /// First day, YYYY-MM-DD (UTC).
    pub from: NaiveDate,
    /// Days from then.
    pub days: u32,
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
            check_days(&format!("travel of {:?}", trip.user), trip.days)?;
        }
        for joiner in &anticipated.joiner {
            anyhow::ensure!(
                !joiner.teammates.is_empty(),
                "joiner {:?}: name at least one of `teammates`, whose recorded days theirs will resemble",
                joiner.user
            );
            check_days(&format!("joiner {:?}", joiner.user), joiner.days)?;
        }
        for service in &anticipated.aws_service {
            anyhow::ensure!(
                !service.users.is_empty() && !service.events.is_empty(),
                "aws_service {:?}: name its `users` and the `events` they will call",
                service.service
            );
            anyhow::ensure!(
                service.service.ends_with(".amazonaws.com"),
                "aws_service {:?}: give the CloudTrail eventSource, e.g. \"sagemaker.amazonaws.com\"",
                service.service
            );
            anyhow::ensure!(
                service.share > 0.0 && service.share <= 1.0,
                "aws_service {:?}: share {}; give a share in (0, 1]",
                service.service,
                service.share
            );
            check_days(&format!("aws_service {:?}", service.service), service.days)?;
        }
        Ok(anticipated)
    }

    /// Whether it holds no event at all.
    pub fn is_empty(&self) -> bool {
        self.travel.is_empty() && self.joiner.is_empty() && self.aws_service.is_empty()
    }
}

/// An event lasts 1 to 90 days.
fn check_days(event: &str, days: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=90).contains(&days),
        "{event}: {days} days; give 1 to 90"
    );
    Ok(())
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
        let joiners = Anticipated::parse(
            "[[joiner]]\nuser = \"nora.new@contoso.com\"\nteammates = [\"a@contoso.com\"]\nfrom = \"2026-11-23\"\ndays = 5\n",
        )
        .unwrap();
        assert_eq!(joiners.joiner[0].teammates, ["a@contoso.com"]);
        assert!(!joiners.is_empty());
        let service = Anticipated::parse(
            "[[aws_service]]\nusers = [\"a\"]\nservice = \"sagemaker\"\nevents = [\"X\"]\nfrom = \"2026-11-23\"\ndays = 5\n",
        );
        let error = format!("{:#}", service.unwrap_err());
        assert!(error.contains("eventSource"), "{error}");
        let alone = "[[joiner]]\nuser = \"n\"\nteammates = []\nfrom = \"2026-11-23\"\ndays = 5\n";
        let error = format!("{:#}", Anticipated::parse(alone).unwrap_err());
        assert!(error.contains("teammates"), "{error}");
        let unknown = "[[new_employee]]\nuser = \"a\"\n";
        let error = format!("{:#}", Anticipated::parse(unknown).unwrap_err());
        assert!(
            error.contains("new_employee") && error.contains("joiner"),
            "{error}"
        );
        assert!(Anticipated::parse("").unwrap().is_empty());
    }
}
