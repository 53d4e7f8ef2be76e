//! Categorical fields: which fields are categorical, and how far a generated value
//! distribution is from the real one.

use std::collections::{BTreeMap, HashMap, HashSet};

use schemas::Source;
use serde::Serialize;
use serde_json::Value;

use super::fields::{NULL, at, category, leaves};

/// A value this common in the real logs must appear among the generated ones.
pub const MISSING_SHARE: f64 = 0.01;

/// The categorical fields of a source's real logs: the event type and country the source
/// declares, however many values they take (CloudTrail has hundreds of event names), and
/// every other non-volatile leaf with between two and `max_categories` distinct values
/// (absent or `null` counting as one, [`NULL`]). Fields with one value teach nothing to
/// compare (the projection restores them anyway); fields with more are identifiers or
/// free text. Sorted by path.
pub fn categorical_fields(source: Source, real: &[&Value], max_categories: usize) -> Vec<String> {
    let spec = source.spec();
    let declared = |path: &str| {
        spec.event_type
            .iter()
            .chain(spec.country)
            .any(|declared| declared.as_str().eq_ignore_ascii_case(path))
    };
    let mut distinct: HashMap<String, (HashSet<String>, usize)> = HashMap::new();
    for log in real {
        for (path, value) in leaves(log) {
            if spec.is_volatile(&path) {
                continue;
            }
            let limit = match declared(&path) {
                true => usize::MAX,
                false => max_categories,
            };
            let (values, present) = distinct.entry(path).or_default();
            *present += 1;
            if values.len() <= limit {
                values.insert(category(Some(value)));
            }
        }
    }
    let mut fields: Vec<String> = distinct
        .into_iter()
        .filter_map(|(path, (mut values, present))| {
            if present < real.len() {
                values.insert(NULL.to_string());
            }
            let many = values.len() > max_categories && !declared(&path);
            (values.len() >= 2 && !many).then_some(path)
        })
        .collect();
    fields.sort();
    fields
}

/// The share of logs holding each value of one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Distribution {
    /// Logs counted.
    pub logs: usize,
    /// Logs per value.
    pub counts: BTreeMap<String, usize>,
}

impl Distribution {
    /// The distribution of `path` over `logs`.
    pub fn of(path: &str, logs: &[&Value]) -> Self {
        let mut counts = BTreeMap::new();
        for log in logs {
            *counts.entry(category(at(log, path))).or_insert(0) += 1;
        }
        Distribution {
            logs: logs.len(),
            counts,
        }
    }

    /// The share of logs holding `value`.
    pub fn share(&self, value: &str) -> f64 {
        match self.logs {
            0 => 0.0,
            logs => self.counts.get(value).copied().unwrap_or(0) as f64 / logs as f64,
        }
    }

    /// Total variation distance to `other`: half the summed absolute difference of the
    /// shares, 0 for equal distributions, 1 for disjoint ones.
    pub fn tvd(&self, other: &Distribution) -> f64 {
        let values: HashSet<&String> = self.counts.keys().chain(other.counts.keys()).collect();
        values
            .into_iter()
            .map(|value| (self.share(value) - other.share(value)).abs())
            .sum::<f64>()
            / 2.0
    }
}

/// How well the generated logs reproduce one categorical field of the real ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldFidelity {
    /// The dotted field path.
    pub path: String,
    /// Total variation distance between the real and generated distributions.
    pub tvd: f64,
    /// The same distance for as many real logs the model never saw (or, without a
    /// held-out set, a sample of the real ones): what sampling noise alone gives.
    pub reference_tvd: Option<f64>,
    /// The mean distance of as many of the real logs themselves, drawn user by user in
    /// their shares as `generate` draws benign logs' users: what a model writing exactly
    /// the real distribution would be at this count (sampling noise, without the drift a
    /// held-out stretch adds). Above the target, the target cannot be judged on this
    /// field at this count. (A technique's logs, whose users the model picks, vary more.)
    pub floor_tvd: Option<f64>,
    /// Values with at least [`MISSING_SHARE`] of the real logs that no generated log holds.
    pub missing: Vec<String>,
    /// Share of generated logs holding a value no real log holds.
    pub unseen_share: f64,
    /// The real distribution.
    pub real: Distribution,
    /// The generated distribution.
    pub generated: Distribution,
}

/// Compares `path` between `real` and `generated` logs, with `reference` (held-out real
/// logs as many as the generated ones) giving the sampling-noise floor.
pub fn compare(
    path: &str,
    real: &[&Value],
    generated: &[&Value],
    reference: Option<&[&Value]>,
) -> FieldFidelity {
    let real = Distribution::of(path, real);
    let generated = Distribution::of(path, generated);
    let missing = real
        .counts
        .keys()
        .filter(|value| real.share(value) >= MISSING_SHARE && generated.share(value) == 0.0)
        .cloned()
        .collect();
    let unseen = generated
        .counts
        .iter()
        .filter(|(value, _)| !real.counts.contains_key(*value))
        .map(|(_, count)| count)
        .sum::<usize>();
    FieldFidelity {
        path: path.to_string(),
        tvd: real.tvd(&generated),
        reference_tvd: reference.map(|logs| real.tvd(&Distribution::of(path, logs))),
        floor_tvd: None,
        missing,
        unseen_share: unseen as f64 / generated.logs.max(1) as f64,
        real,
        generated,
    }
}

/// The mean TVD between `real` and the distribution of its field in each of `samples`;
/// `None` for no samples.
pub fn mean_tvd(real: &Distribution, path: &str, samples: &[Vec<&Value>]) -> Option<f64> {
    (!samples.is_empty()).then(|| {
        samples
            .iter()
            .map(|sample| real.tvd(&Distribution::of(path, sample)))
            .sum::<f64>()
            / samples.len() as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn logs(values: &[Value]) -> Vec<&Value> {
        values.iter().collect()
    }

    #[test]
    fn categorical_fields_skip_constants_identifiers_and_volatile_fields() {
        let real: Vec<Value> = (0..100)
            .map(|i| {
                let name = ["GetObject", "PutObject"][i % 2];
                json!({"eventName": name, "eventID": format!("e{i}"),
                    "requestParameters": {"key": format!("k{i}")}, "awsRegion": "eu-west-1",
                    "errorCode": if i % 10 == 0 { json!("AccessDenied") } else { json!(null) }})
            })
            .collect();
        let fields = categorical_fields(Source::CloudTrail, &logs(&real), 50);
        assert_eq!(fields, ["errorCode", "eventName"]);
        // The declared event type stays categorical past the cap; other fields do not.
        let fields = categorical_fields(Source::CloudTrail, &logs(&real), 1);
        assert_eq!(fields, ["eventName"]);
    }

    #[test]
    fn a_field_sometimes_absent_counts_null_as_a_value() {
        let real = [json!({"a": "x"}), json!({"a": "y"}), json!({"b": 1})];
        let fields = categorical_fields(Source::Confluence, &logs(&real), 50);
        assert_eq!(fields, ["a", "b"]);
        let one = [json!({"a": "x"})];
        assert_eq!(
            categorical_fields(Source::Confluence, &logs(&one), 50),
            Vec::<String>::new()
        );
    }

    #[test]
    fn tvd_missing_and_unseen_values() {
        let real: Vec<Value> = ["Chrome", "Chrome", "Edge", "Firefox"]
            .iter()
            .map(|b| json!({"browser": b}))
            .collect();
        let generated = [
            json!({"browser": "Chrome"}),
            json!({"browser": "Safari"}),
            json!({}),
        ];
        let fidelity = compare(
            "browser",
            &logs(&real),
            &logs(&generated),
            Some(&logs(&real)),
        );
        // Real: Chrome ½, Edge ¼, Firefox ¼. Generated: Chrome ⅓, Safari ⅓, NULL ⅓.
        let expected = ((0.5 - 1.0 / 3.0) + 0.25 + 0.25 + 1.0 / 3.0 + 1.0 / 3.0) / 2.0;
        assert!((fidelity.tvd - expected).abs() < 1e-12, "{}", fidelity.tvd);
        assert_eq!(fidelity.missing, ["Edge", "Firefox"]);
        assert!((fidelity.unseen_share - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(fidelity.reference_tvd, Some(0.0));
        let draws = [logs(&real), logs(&generated)];
        let mean = mean_tvd(&fidelity.real, "browser", &draws).unwrap();
        assert!((mean - expected / 2.0).abs() < 1e-12, "{mean}");
        assert_eq!(mean_tvd(&fidelity.real, "browser", &[]), None);
        let same = Distribution::of("browser", &logs(&real));
        assert_eq!(same.tvd(&same), 0.0);
        let disjoint = Distribution::of("browser", &logs(&generated[1..2]));
        assert!((same.tvd(&disjoint) - 1.0).abs() < 1e-12);
    }
}
