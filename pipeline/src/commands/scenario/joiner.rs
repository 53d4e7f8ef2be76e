//! A new employee joining a team: their first days are their teammates' days, under
//! their name.
//!
//! Nothing recorded is theirs yet and no model has seen them, so each of their working
//! days is a teammate's recorded day of the same weekday (the teammates in turn), moved
//! to the date with fresh event ids, the teammate's names replaced by the joiner's in
//! every string of every log: the sign-in name, its local part (session names, Confluence
//! logins) and the display name, each also as its pseudonym where the model's logs are
//! pseudonymised. Ids that are not names (an Entra object id, a Confluence account id)
//! stay the teammate's.

use chrono::{Datelike, NaiveDate};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemas::{Envelope, Source};
use serde_json::Value;

use super::recorded_days::{days_of, fresh_ids, plan, set_event_time};
use crate::commands::generate::prompt_user;

/// Someone as the logs name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// As the model knows them: lower-cased, pseudonymised when the model's logs were.
    pub user: String,
    /// The sign-in name as given.
    pub named: String,
    /// The display name (`Hannah Kowalski`).
    pub display_name: String,
}

impl Person {
    /// The person signing in as `named`, displayed as `display_name` or, by default, as
    /// the name's local part in title case (`hannah.kowalski@…` → `Hannah Kowalski`).
    pub fn new(
        named: &str,
        display_name: Option<&str>,
        pii: Option<&operators::pii::PiiHasher>,
    ) -> Self {
        Person {
            user: prompt_user(named, pii),
            named: named.to_string(),
            display_name: display_name
                .map(str::to_string)
                .unwrap_or_else(|| display_name_of(named)),
        }
    }

    fn local_part(&self) -> &str {
        self.named.split('@').next().unwrap_or(&self.named)
    }
}

/// A joiner's first days.
#[derive(Debug, Clone)]
pub struct Joining {
    /// The new employee.
    pub joiner: Person,
    /// Whose recorded days theirs are made of.
    pub teammates: Vec<Person>,
    /// First day.
    pub from: NaiveDate,
    /// Days from then (weekends stay empty where the teammates' do).
    pub days: u32,
}

/// The logs of `joining`'s days, by source, made of the teammates' logs in `history`;
/// `pii` is how the model's logs were pseudonymised. `seed` fixes the fresh ids.
pub fn joiner_logs(
    joining: &Joining,
    history: &[Envelope],
    pii: Option<&operators::pii::PiiHasher>,
    seed: u64,
) -> anyhow::Result<Vec<(Source, Value)>> {
    anyhow::ensure!(
        !joining.teammates.is_empty(),
        "joiner {:?}: name at least one teammate whose days theirs will resemble",
        joining.joiner.named
    );
    let teammate_days: Vec<_> = joining
        .teammates
        .iter()
        .map(|teammate| {
            days_of(
                history
                    .iter()
                    .enumerate()
                    .filter(|(_, log)| log.user.as_deref() == Some(&teammate.user)),
            )
        })
        .collect();
    if let Some(missing) = teammate_days.iter().position(|days| days.is_empty()) {
        anyhow::bail!(
            "joiner {:?}: no log of teammate {:?} in the history: give their real logs",
            joining.joiner.named,
            joining.teammates[missing].named
        );
    }
    let mut ids = ChaCha8Rng::seed_from_u64(seed);
    let mut logs = Vec::new();
    for (index, date) in joining
        .from
        .iter_days()
        .take(joining.days as usize)
        .enumerate()
    {
        // Each day a teammate in turn, one who worked on that weekday.
        let turn = (0..teammate_days.len())
            .map(|offset| (index + offset) % teammate_days.len())
            .find(|&t| {
                teammate_days[t]
                    .keys()
                    .any(|day| day.weekday() == date.weekday())
            });
        let Some(teammate) = turn else { continue };
        let renames = renames(&joining.teammates[teammate], &joining.joiner, pii);
        for planned in plan(&teammate_days[teammate], date, 1) {
            let mut log = history[planned.template].json.clone();
            set_event_time(planned.source, &mut log, planned.time);
            fresh_ids(planned.source, &mut log, &mut ids);
            rename(&mut log, &renames);
            logs.push((planned.source, log));
        }
    }
    Ok(logs)
}

/// What of `from`'s names becomes what of `to`'s, longest first so a sign-in name is
/// replaced whole before its local part.
fn renames(
    from: &Person,
    to: &Person,
    pii: Option<&operators::pii::PiiHasher>,
) -> Vec<(String, String)> {
    let mut pairs = vec![
        (from.user.clone(), to.user.clone()),
        (from.named.clone(), to.named.clone()),
        (from.local_part().to_string(), to.local_part().to_string()),
        (from.display_name.clone(), to.display_name.clone()),
    ];
    if let Some(pii) = pii {
        let hashed: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (pii.pseudonym(a), pii.pseudonym(b)))
            .collect();
        pairs.extend(hashed);
    }
    pairs.retain(|(a, _)| !a.is_empty());
    pairs.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
    pairs.dedup_by(|x, y| x.0.eq_ignore_ascii_case(&y.0));
    pairs
}

/// Replaces, in every string of `value`, each name of `renames` (ignoring ASCII case).
fn rename(value: &mut Value, renames: &[(String, String)]) {
    match value {
        Value::String(text) => {
            for (from, to) in renames {
                if let Some(replaced) = replace_ignoring_case(text, from, to) {
                    *text = replaced;
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rename(item, renames)),
        Value::Object(object) => object.values_mut().for_each(|item| rename(item, renames)),
        _ => {}
    }
}

/// `text` with every occurrence of `from` (ASCII case ignored) replaced by `to`; `None`
/// when there is none.
fn replace_ignoring_case(text: &str, from: &str, to: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let needle = from.to_ascii_lowercase();
    if needle.is_empty() || !lower.contains(&needle) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    // ASCII lower-casing keeps byte offsets, so a match in `lower` is one in `text`.
    while let Some(found) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + found]);
        out.push_str(to);
        at += found + needle.len();
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// `hannah.kowalski@contoso.com` → `Hannah Kowalski`.
fn display_name_of(named: &str) -> String {
    named
        .split('@')
        .next()
        .unwrap_or(named)
        .split(['.', '_', '-'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign_in(user: &str, display: &str, time: &str) -> Envelope {
        let raw = serde_json::json!({
            "TimeGenerated": time,
            "Id": "a4ebd3b2-2b1c-4fd2-9a1e-6b44b2b0e001",
            "UserPrincipalName": user,
            "UserDisplayName": display,
            "Identity": display,
            "AppDisplayName": "Salesforce",
            "Location": "DE",
        });
        schemas::decode(Source::Azure, raw.to_string().as_bytes()).unwrap()
    }

    fn call(session: &str, time: &str) -> Envelope {
        let raw = serde_json::json!({
            "eventTime": time,
            "eventID": "6b4c0a6e-0000-4000-8000-000000000001",
            "eventSource": "s3.amazonaws.com",
            "eventName": "ListBuckets",
            "userIdentity": {"type": "AssumedRole",
                "arn": format!("arn:aws:sts::111122223333:assumed-role/Sales/{session}"),
                "sessionContext": {"sessionIssuer": {"userName": "Sales"}}},
        });
        schemas::decode(Source::CloudTrail, raw.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_joiner_works_the_teammates_days_under_their_own_name() {
        // Hannah works Mondays, Ben Tuesdays.
        let history = vec![
            sign_in(
                "Hannah.Kowalski@contoso.com",
                "Hannah Kowalski",
                "2026-11-02T08:00:00Z",
            ),
            call("hannah.kowalski@contoso.com", "2026-11-02T08:10:00Z"),
            sign_in("ben.ode@contoso.com", "Ben Ode", "2026-11-03T09:00:00Z"),
        ];
        let joining = Joining {
            joiner: Person::new("nora.new@contoso.com", None, None),
            teammates: vec![
                Person::new("hannah.kowalski@contoso.com", None, None),
                Person::new("ben.ode@contoso.com", None, None),
            ],
            // Monday 9 to Wednesday 11 November: Hannah's Monday, Ben's Tuesday, nothing.
            from: "2026-11-09".parse().unwrap(),
            days: 3,
        };
        let logs = joiner_logs(&joining, &history, None, 1).unwrap();
        let decoded: Vec<Envelope> = logs
            .iter()
            .map(|(source, json)| schemas::decode(*source, json.to_string().as_bytes()).unwrap())
            .collect();
        let described: Vec<(Source, String, Option<&str>)> = decoded
            .iter()
            .map(|log| (log.source, log.event_time.to_rfc3339(), log.user.as_deref()))
            .collect();
        assert_eq!(
            described,
            [
                (
                    Source::Azure,
                    "2026-11-09T08:00:00+00:00".into(),
                    Some("nora.new@contoso.com")
                ),
                (
                    Source::CloudTrail,
                    "2026-11-09T08:10:00+00:00".into(),
                    Some("nora.new@contoso.com")
                ),
                (
                    Source::Azure,
                    "2026-11-10T09:00:00+00:00".into(),
                    Some("nora.new@contoso.com")
                ),
            ]
        );
        let first = &logs[0].1;
        assert_eq!(first["UserDisplayName"], "Nora New");
        assert_eq!(first["Identity"], "Nora New");
        assert_eq!(first["AppDisplayName"], "Salesforce");
        assert_ne!(first["Id"], history[0].json["Id"], "fresh event ids");
        assert_eq!(
            logs[1].1["userIdentity"]["arn"],
            "arn:aws:sts::111122223333:assumed-role/Sales/nora.new@contoso.com"
        );
        let jsons: Vec<&Value> = logs.iter().map(|(_, json)| json).collect();
        let text = serde_json::to_string(&jsons).unwrap().to_lowercase();
        assert!(!text.contains("hannah") && !text.contains("ben"), "{text}");
    }

    /// Pseudonymised logs name their user in the ARN's last segment (scheme 2), so the
    /// joiner's calls carry the joiner's pseudonym, as their sign-ins do.
    #[test]
    fn a_joiner_of_pseudonymised_logs_carries_their_own_pseudonym() {
        let fields = operators::pii::PiiFields {
            azure: vec!["UserPrincipalName".into(), "UserDisplayName".into()],
            cloudtrail: vec!["userIdentity.arn".into()],
            ..Default::default()
        };
        let pii = operators::pii::PiiHasher::new(b"a key of twenty bytes", fields).unwrap();
        let mut history = vec![
            sign_in(
                "Hannah.Kowalski@contoso.com",
                "Hannah Kowalski",
                "2026-11-02T08:00:00Z",
            ),
            call("hannah.kowalski@contoso.com", "2026-11-02T08:10:00Z"),
        ];
        history.iter_mut().for_each(|log| pii.apply(log));
        let joining = Joining {
            joiner: Person::new("nora.new@contoso.com", None, Some(&pii)),
            teammates: vec![Person::new("hannah.kowalski@contoso.com", None, Some(&pii))],
            from: "2026-11-09".parse().unwrap(),
            days: 1,
        };
        let logs = joiner_logs(&joining, &history, Some(&pii), 1).unwrap();
        let nora = pii.pseudonym("nora.new@contoso.com");
        for (source, json) in &logs {
            let decoded = schemas::decode(*source, json.to_string().as_bytes()).unwrap();
            assert_eq!(decoded.user.as_deref(), Some(nora.as_str()), "{json}");
        }
        assert_eq!(logs[0].1["UserDisplayName"], pii.pseudonym("Nora New"));
        assert_eq!(
            logs[1].1["userIdentity"]["arn"],
            format!("arn:aws:sts::111122223333:assumed-role/Sales/{nora}")
        );
    }

    #[test]
    fn a_teammate_without_logs_is_named_in_the_error() {
        let joining = Joining {
            joiner: Person::new("nora.new@contoso.com", None, None),
            teammates: vec![Person::new("nobody@contoso.com", None, None)],
            from: "2026-11-09".parse().unwrap(),
            days: 3,
        };
        let history = vec![sign_in(
            "ben.ode@contoso.com",
            "Ben Ode",
            "2026-11-03T09:00:00Z",
        )];
        let error = joiner_logs(&joining, &history, None, 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("nobody@contoso.com"), "{error}");
    }

    #[test]
    fn names_are_replaced_ignoring_case_and_whole_before_their_parts() {
        let renames = renames(
            &Person::new("Ann.Lee@x.com", None, None),
            &Person::new("bo.yu@x.com", None, None),
            None,
        );
        let mut value =
            serde_json::json!({"a": "ANN.LEE@X.COM and ann.lee, Ann Lee", "n": [1, "ann.lee"]});
        rename(&mut value, &renames);
        assert_eq!(value["a"], "bo.yu@x.com and bo.yu, Bo Yu");
        assert_eq!(value["n"][1], "bo.yu");
        assert_eq!(display_name_of("jean-luc.picard@x.com"), "Jean Luc Picard");
    }
}
