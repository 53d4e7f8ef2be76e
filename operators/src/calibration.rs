//! Calibration: a raw anomaly score (surprisal, in nats) turned into a tail probability,
//! the share of benign logs of the same kind that were at least as surprising.
//!
//! Fitted once on benign logs and stored with the model. A log of one kind (source and
//! event type, e.g. `cloudtrail/GetObject`) is compared with that kind's benign scores,
//! or with its user's own benign scores of that kind when the user had at least
//! `min_user_logs` of them: a developer's routine `RunInstances` should not look like an
//! accountant's.
//!
//! The empirical distribution is kept as quantiles. Beyond the 95th percentile the tail
//! is extrapolated as an exponential (peaks over threshold): surprisal is a log
//! probability, and its excesses over a high threshold are close to exponential, which
//! lets a threshold of 1 alert per 10,000 logs be set from far fewer than 10,000 benign
//! logs of a kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Quantile levels kept per distribution, in percent.
const LEVELS: usize = 101;
/// Where the exponential tail starts, as a quantile level (0–1).
const TAIL_START: f64 = 0.95;
/// Fewer benign scores than this, and a kind falls back to its source's distribution.
const MIN_KIND_LOGS: usize = 50;

/// The benign distribution of one kind of log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// Benign logs behind it.
    pub count: usize,
    /// The 0th, 1st, ..., 100th percentiles.
    pub quantiles: Vec<f32>,
    /// Mean excess over the 95th percentile: the scale of the exponential tail.
    pub tail_scale: f32,
}

impl Distribution {
    /// Fits `scores` (any order). `None` when empty.
    pub fn fit(scores: &mut [f32]) -> Option<Distribution> {
        if scores.is_empty() {
            return None;
        }
        scores.sort_by(f32::total_cmp);
        let quantile = |level: f64| {
            let position = level * (scores.len() - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            let weight = (position - low as f64) as f32;
            scores[low] * (1.0 - weight) + scores[high] * weight
        };
        let quantiles: Vec<f32> = (0..LEVELS)
            .map(|percent| quantile(percent as f64 / 100.0))
            .collect();
        let start = quantile(TAIL_START);
        let excesses: Vec<f32> = scores
            .iter()
            .filter(|&&s| s > start)
            .map(|&s| s - start)
            .collect();
        let mean_excess = excesses.iter().sum::<f32>() / excesses.len().max(1) as f32;
        // A floor keeps a kind whose benign scores are all alike from calling every small
        // wobble impossible: one nat is a factor e in probability.
        let tail_scale = mean_excess.max(1.0);
        Some(Distribution {
            count: scores.len(),
            quantiles,
            tail_scale,
        })
    }

    /// The share of benign logs expected to score at least `score`.
    pub fn tail_probability(&self, score: f32) -> f64 {
        let tail_start = self.quantile(TAIL_START);
        if score > tail_start {
            let excess = f64::from(score - tail_start);
            return (1.0 - TAIL_START) * (-excess / f64::from(self.tail_scale)).exp();
        }
        // Inside the body: linear interpolation between the stored percentiles.
        let q = &self.quantiles;
        match q.iter().position(|&value| value >= score) {
            None => 1.0 - TAIL_START,
            Some(0) => 1.0,
            Some(upper) => {
                let (low, high) = (q[upper - 1], q[upper]);
                let within = if high > low {
                    f64::from((score - low) / (high - low))
                } else {
                    1.0
                };
                let level = ((upper - 1) as f64 + within) / 100.0;
                (1.0 - level).max(1.0 - TAIL_START)
            }
        }
    }

    fn quantile(&self, level: f64) -> f32 {
        self.quantiles[(level * 100.0).round() as usize]
    }
}

/// What a score is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The user's own benign logs of this kind.
    User,
    /// All benign logs of this kind.
    Kind,
    /// All benign logs of this source (an event type too rare to have its own).
    Source,
}

/// A tail probability and what it was measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tail {
    /// Share of benign logs at least as surprising.
    pub probability: f64,
    /// Which benign logs.
    pub baseline: Baseline,
}

/// Fitted distributions: per source, per kind and per user and kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Calibration {
    /// Users need this many benign logs of a kind for their own baseline.
    pub min_user_logs: usize,
    /// Keyed by source name.
    pub sources: BTreeMap<String, Distribution>,
    /// Keyed by `source/event type`.
    pub kinds: BTreeMap<String, Distribution>,
    /// Keyed by `source/event type/user`.
    pub users: BTreeMap<String, Distribution>,
}

/// Collects benign scores, then fits a [`Calibration`].
#[derive(Debug, Default)]
pub struct CalibrationBuilder {
    sources: BTreeMap<String, Vec<f32>>,
    kinds: BTreeMap<String, Vec<f32>>,
    users: BTreeMap<String, Vec<f32>>,
}

impl CalibrationBuilder {
    /// Adds one benign log's score.
    pub fn add(&mut self, source: &str, kind: &str, user: Option<&str>, score: f32) {
        if !score.is_finite() {
            return;
        }
        self.sources
            .entry(source.to_string())
            .or_default()
            .push(score);
        let kind_key = kind_key(source, kind);
        if let Some(user) = user {
            self.users
                .entry(user_key(&kind_key, user))
                .or_default()
                .push(score);
        }
        self.kinds.entry(kind_key).or_default().push(score);
    }

    /// Fits the distributions; users with fewer than `min_user_logs` benign logs of a
    /// kind get none of their own.
    pub fn fit(self, min_user_logs: usize) -> Calibration {
        let fit_all = |map: BTreeMap<String, Vec<f32>>, min: usize| {
            map.into_iter()
                .filter(|(_, scores)| scores.len() >= min.max(1))
                .filter_map(|(key, mut scores)| Some((key, Distribution::fit(&mut scores)?)))
                .collect()
        };
        Calibration {
            min_user_logs,
            sources: fit_all(self.sources, 1),
            kinds: fit_all(self.kinds, MIN_KIND_LOGS),
            users: fit_all(self.users, min_user_logs),
        }
    }
}

impl Calibration {
    /// The tail probability of `score` for a log of `source`, `kind` and `user`, against
    /// the most specific baseline that exists. `None` for a source never calibrated.
    pub fn tail(&self, source: &str, kind: &str, user: Option<&str>, score: f32) -> Option<Tail> {
        let kind_key = kind_key(source, kind);
        let user_distribution = user.and_then(|user| self.users.get(&user_key(&kind_key, user)));
        let (distribution, baseline) = match (user_distribution, self.kinds.get(&kind_key)) {
            (Some(distribution), _) => (distribution, Baseline::User),
            (None, Some(distribution)) => (distribution, Baseline::Kind),
            (None, None) => (self.sources.get(source)?, Baseline::Source),
        };
        Some(Tail {
            probability: distribution.tail_probability(score),
            baseline,
        })
    }
}

fn kind_key(source: &str, kind: &str) -> String {
    format!("{source}/{kind}")
}

fn user_key(kind_key: &str, user: &str) -> String {
    format!("{kind_key}/{user}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_probability_matches_the_empirical_share_and_extrapolates_exponentially() {
        // Exponential scores with mean 2: P(S >= s) = exp(-s / 2).
        let mut scores: Vec<f32> = (0..10_000)
            .map(|i| -2.0 * (1.0 - (i as f32 + 0.5) / 10_000.0).ln())
            .collect();
        let distribution = Distribution::fit(&mut scores).unwrap();
        for s in [0.5f32, 2.0, 4.0, 8.0, 14.0, 20.0] {
            let expected = (-f64::from(s) / 2.0).exp();
            let got = distribution.tail_probability(s);
            assert!(
                (got / expected - 1.0).abs() < 0.1,
                "score {s}: got {got}, expected {expected}"
            );
        }
        assert_eq!(distribution.tail_probability(-1.0), 1.0);
    }

    #[test]
    fn tail_probability_falls_as_the_score_rises() {
        let mut scores: Vec<f32> = (0..300).map(|i| (i % 17) as f32 * 0.7).collect();
        let distribution = Distribution::fit(&mut scores).unwrap();
        let mut previous = 1.0;
        for step in 0..200 {
            let p = distribution.tail_probability(step as f32 * 0.1);
            assert!(p <= previous + 1e-12, "not monotone at {step}");
            previous = p;
        }
    }

    #[test]
    fn the_most_specific_baseline_with_enough_history_is_used() {
        let mut builder = CalibrationBuilder::default();
        for i in 0..400 {
            // alice's GetObject calls are always unsurprising; everyone else's vary.
            builder.add(
                "cloudtrail",
                "GetObject",
                Some("alice"),
                1.0 + (i % 3) as f32 * 0.01,
            );
            builder.add("cloudtrail", "GetObject", Some("bob"), (i % 40) as f32);
        }
        builder.add("cloudtrail", "StopLogging", Some("bob"), 5.0);
        let calibration = builder.fit(100);
        let alice = calibration
            .tail("cloudtrail", "GetObject", Some("alice"), 20.0)
            .unwrap();
        let carol = calibration
            .tail("cloudtrail", "GetObject", Some("carol"), 20.0)
            .unwrap();
        assert_eq!(alice.baseline, Baseline::User);
        assert_eq!(carol.baseline, Baseline::Kind);
        assert!(alice.probability < carol.probability);
        let rare = calibration
            .tail("cloudtrail", "StopLogging", Some("bob"), 5.0)
            .unwrap();
        assert_eq!(rare.baseline, Baseline::Source);
        assert!(calibration.tail("azure", "x", None, 1.0).is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let mut builder = CalibrationBuilder::default();
        for i in 0..100 {
            builder.add("azure", "signin", Some("u"), i as f32);
        }
        let calibration = builder.fit(10);
        let json = serde_json::to_string(&calibration).unwrap();
        let back: Calibration = serde_json::from_str(&json).unwrap();
        assert_eq!(back, calibration);
    }
}
