//! Fields that agree within a log. In every real sign-in `Status.errorCode` is
//! `ResultType` and an app names one resource; each field's distribution can be right
//! while generated logs pair them wrongly (a success code with a failure status), and
//! such a log is one no system writes. Per-field TVDs cannot see it; this does.
//!
//! A dependency `from → to` is a pair of categorical fields where, in the real logs, each
//! value of `from` comes with one value of `to`, and at least two values of `from` are
//! common enough ([`MIN_SUPPORT`] logs) to call it a rule rather than chance. A generated
//! log breaks it when its `from` value is one of those common values and its `to` value is
//! not the one real logs pair it with.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::fields::{at, category};

/// Real logs a value of `from` needs before the value it comes with counts as a rule.
pub const MIN_SUPPORT: usize = 5;

/// One field that determines another in the real logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// The determining field.
    pub from: String,
    /// The determined field.
    pub to: String,
    /// Whether `to` also determines `from` (kept once, as `from < to`).
    pub mutual: bool,
    /// Each common value of `from` and the value of `to` it comes with.
    pairs: HashMap<String, String>,
}

/// The dependencies between a source's categorical fields.
#[derive(Debug, Clone, Default)]
pub struct Dependencies {
    list: Vec<Dependency>,
}

/// How often logs keep their fields' dependencies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Logs judged.
    pub logs: usize,
    /// Share of the logs that break no dependency.
    pub agreeing: f64,
    /// Every dependency with the share of the logs it applies to (its `from` value is a
    /// common one) that break it, most broken first.
    pub broken: Vec<BrokenDependency>,
}

/// One dependency and how often it is broken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokenDependency {
    /// The determining field.
    pub from: String,
    /// The determined field.
    pub to: String,
    /// Whether each determines the other.
    pub mutual: bool,
    /// Logs whose `from` value is a common one.
    pub judged: usize,
    /// Share of those whose `to` value is not the one real logs pair it with.
    pub broken: f64,
}

impl Dependencies {
    /// The dependencies among `fields` that hold in every one of the `real` logs.
    pub fn fit(fields: &[String], real: &[&Value]) -> Self {
        let values: Vec<Vec<String>> = fields
            .iter()
            .map(|path| real.iter().map(|log| category(at(log, path))).collect())
            .collect();
        let determines = |from: usize, to: usize| -> Option<HashMap<String, String>> {
            let mut seen: HashMap<&str, (&str, usize)> = HashMap::new();
            for (a, b) in values[from].iter().zip(&values[to]) {
                let (paired, count) = seen.entry(a.as_str()).or_insert((b.as_str(), 0));
                if *paired != b.as_str() {
                    return None;
                }
                *count += 1;
            }
            let common: HashMap<String, String> = seen
                .into_iter()
                .filter(|(_, (_, count))| *count >= MIN_SUPPORT)
                .map(|(a, (b, _))| (a.to_string(), b.to_string()))
                .collect();
            (common.len() >= 2).then_some(common)
        };
        // Each ordered pair once: `rules[from][to]`.
        let rules: Vec<Vec<Option<HashMap<String, String>>>> = (0..fields.len())
            .map(|from| {
                (0..fields.len())
                    .map(|to| (from != to).then(|| determines(from, to)).flatten())
                    .collect()
            })
            .collect();
        let mut list = Vec::new();
        for from in 0..fields.len() {
            for to in 0..fields.len() {
                let mutual = rules[to][from].is_some();
                if mutual && fields[from] > fields[to] {
                    continue;
                }
                let Some(pairs) = rules[from][to].clone() else {
                    continue;
                };
                list.push(Dependency {
                    from: fields[from].clone(),
                    to: fields[to].clone(),
                    mutual,
                    pairs,
                });
            }
        }
        Dependencies { list }
    }

    /// The dependencies found.
    pub fn list(&self) -> &[Dependency] {
        &self.list
    }

    /// How well `logs` keep the dependencies; `None` when there are none to keep.
    pub fn judge(&self, logs: &[&Value]) -> Option<Agreement> {
        if self.list.is_empty() || logs.is_empty() {
            return None;
        }
        let mut clean = vec![true; logs.len()];
        let mut broken: Vec<BrokenDependency> = self
            .list
            .iter()
            .map(|dependency| {
                let (mut judged, mut breaking) = (0, 0);
                for (log, clean) in logs.iter().zip(clean.iter_mut()) {
                    let from = category(at(log, &dependency.from));
                    let Some(expected) = dependency.pairs.get(&from) else {
                        continue;
                    };
                    judged += 1;
                    if category(at(log, &dependency.to)) != *expected {
                        breaking += 1;
                        *clean = false;
                    }
                }
                BrokenDependency {
                    from: dependency.from.clone(),
                    to: dependency.to.clone(),
                    mutual: dependency.mutual,
                    judged,
                    broken: breaking as f64 / judged.max(1) as f64,
                }
            })
            .collect();
        broken.sort_by(|a, b| b.broken.total_cmp(&a.broken));
        Some(Agreement {
            logs: logs.len(),
            agreeing: clean.iter().filter(|&&c| c).count() as f64 / logs.len() as f64,
            broken,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign_in(result: &str, code: i64, app: &str, browser: &str) -> Value {
        json!({"ResultType": result, "Status": {"errorCode": code},
            "AppDisplayName": app, "DeviceDetail": {"browser": browser}})
    }

    fn fields() -> Vec<String> {
        [
            "AppDisplayName",
            "DeviceDetail.browser",
            "ResultType",
            "Status.errorCode",
        ]
        .map(String::from)
        .to_vec()
    }

    fn real() -> Vec<Value> {
        (0..40)
            .map(|i| {
                let (result, code) = [("0", 0), ("50074", 50074)][i % 2];
                let app = ["Teams", "Zoom", "Rare"][usize::from(i >= 20) + usize::from(i >= 38)];
                sign_in(result, code, app, ["Edge", "Chrome"][i % 4 / 2])
            })
            .collect()
    }

    #[test]
    fn finds_the_rules_real_logs_keep_and_not_chance() {
        let real = real();
        let logs: Vec<&Value> = real.iter().collect();
        let found = Dependencies::fit(&fields(), &logs);
        let rules: Vec<(&str, &str, bool)> = found
            .list()
            .iter()
            .map(|d| (d.from.as_str(), d.to.as_str(), d.mutual))
            .collect();
        // The codes determine each other (kept once); app and browser vary independently;
        // no field with a single common value rules another.
        assert_eq!(rules, [("ResultType", "Status.errorCode", true)]);
    }

    #[test]
    fn a_log_pairing_a_success_with_a_failure_code_breaks_the_rule() {
        let real = real();
        let logs: Vec<&Value> = real.iter().collect();
        let found = Dependencies::fit(&fields(), &logs);
        let generated = [
            sign_in("0", 0, "Teams", "Edge"),
            sign_in("0", 50074, "Zoom", "Chrome"),
            sign_in("50074", 50074, "Rare", "Edge"),
            // A code no real log has: not judged, the rule knows nothing of it.
            sign_in("500", 7, "Teams", "Edge"),
        ];
        let generated: Vec<&Value> = generated.iter().collect();
        let agreement = found.judge(&generated).unwrap();
        assert_eq!(agreement.logs, 4);
        assert!((agreement.agreeing - 0.75).abs() < 1e-12);
        assert_eq!(agreement.broken.len(), 1);
        assert_eq!(agreement.broken[0].judged, 3);
        assert!((agreement.broken[0].broken - 1.0 / 3.0).abs() < 1e-12);
        // The real logs keep every rule they were fitted on.
        assert_eq!(found.judge(&logs).unwrap().agreeing, 1.0);
        assert!(Dependencies::default().judge(&logs).is_none());
    }
}
