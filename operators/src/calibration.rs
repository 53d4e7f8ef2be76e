//! Calibration: a log's deviation (surprisal, in nats, of the log and of each of its
//! fields) turned into a tail probability, the share of benign logs of the same kind that
//! were at least as unusual.
//!
//! Fitted once on benign logs and stored with the model, in two stages:
//!
//! 1. Each field's surprisal is compared with that field's benign surprisal, per source
//!    and event type (e.g. `cloudtrail/GetObject`, field `awsRegion`), and so is the whole
//!    log's. An anomaly usually lives in one or two fields (a new country, a new API); in
//!    the sum over a hundred fields it drowns in the others' noise, while against the
//!    field's own benign spread it stands out (a field the model always predicts well is
//!    alarming when it suddenly does not; one it never predicts well is not).
//! 2. The log's anomaly is its least likely part (the highest −ln tail probability over
//!    its fields and its total), and that is compared with the anomalies of benign logs of
//!    the same kind, or of the same user and kind when the user had at least
//!    `min_user_logs` of them (a developer's routine `RunInstances` should not look like an
//!    accountant's). This second stage accounts for a log having many fields, each with a
//!    chance to look unusual.
//! 3. Optionally, the log's anomaly is added to the evidence its user and its address
//!    gathered over a window ([`crate::entity_evidence`]), and that evidence is compared
//!    with benign logs' ([`Calibration::judge_in_stream`]): a burst of mildly unusual logs
//!    from one entity stands out where each alone would not.
//!
//! Each distribution is kept as quantiles. Beyond the 95th percentile the tail is
//! extrapolated as an exponential (peaks over threshold): surprisal is a log probability,
//! and its excesses over a high threshold are close to exponential, which lets a threshold
//! of 1 alert per 10,000 logs be set from far fewer than 10,000 benign logs of a kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::entity_evidence::{Entities, EntityEvidence, Evidence, EvidenceSettings};

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
    /// Mean excess over the tail's start: the scale of the exponential tail.
    pub tail_scale: f32,
    /// Quantile level (0–1) where the exponential tail starts: the 95th percentile, or
    /// higher where more scores than that sit at the minimum.
    #[serde(default = "default_tail_level")]
    pub tail_level: f64,
    /// Where the tail starts when more than 95% of the scores sit at the minimum: that
    /// minimum. `None`: the stored percentile at `tail_level`.
    #[serde(default)]
    pub tail_start: Option<f32>,
}

fn default_tail_level() -> f64 {
    TAIL_START
}

impl Distribution {
    /// Fits `scores` (any order). `None` when empty.
    pub fn fit(scores: &mut [f32]) -> Option<Distribution> {
        if scores.is_empty() {
            return None;
        }
        scores.sort_by(f32::total_cmp);
        let n = scores.len();
        let quantile = |level: f64| {
            let position = level * (n - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            let weight = (position - low as f64) as f32;
            scores[low] * (1.0 - weight) + scores[high] * weight
        };
        let quantiles: Vec<f32> = (0..LEVELS)
            .map(|percent| quantile(percent as f64 / 100.0))
            .collect();
        // Where most scores sit at the minimum (entity evidence: most logs have none),
        // the tail starts where they end, not at the 95th percentile: the exponential
        // then describes the scores that are not zero, and holds the right share.
        let at_minimum = scores.partition_point(|&score| score <= scores[0]) as f64 / n as f64;
        let (tail_level, tail_start) = match at_minimum > TAIL_START {
            true => (
                at_minimum.min(1.0 - 1.0 / (n as f64 + 1.0)),
                Some(scores[0]),
            ),
            false => (TAIL_START, None),
        };
        let mut distribution = Distribution {
            count: n,
            quantiles,
            tail_scale: 1.0,
            tail_level,
            tail_start,
        };
        let start = distribution.tail_start();
        let excesses: Vec<f32> = scores
            .iter()
            .filter(|&&s| s > start)
            .map(|&s| s - start)
            .collect();
        let mean_excess = excesses.iter().sum::<f32>() / excesses.len().max(1) as f32;
        // A floor keeps a kind whose benign scores are all alike from calling every small
        // wobble impossible: one nat is a factor e in probability.
        distribution.tail_scale = mean_excess.max(1.0);
        Some(distribution)
    }

    /// The share of benign logs expected to score at least `score`.
    pub fn tail_probability(&self, score: f32) -> f64 {
        let tail_start = self.tail_start();
        if score > tail_start {
            let excess = f64::from(score - tail_start);
            return (1.0 - self.tail_level) * (-excess / f64::from(self.tail_scale)).exp();
        }
        // Inside the body: linear interpolation between the stored percentiles.
        let q = &self.quantiles;
        match q.iter().position(|&value| value >= score) {
            None => 1.0 - self.tail_level,
            Some(0) => 1.0,
            Some(upper) => {
                let (low, high) = (q[upper - 1], q[upper]);
                let within = if high > low {
                    f64::from((score - low) / (high - low))
                } else {
                    1.0
                };
                let level = ((upper - 1) as f64 + within) / 100.0;
                (1.0 - level).max(1.0 - self.tail_level)
            }
        }
    }

    /// The score where the exponential tail starts: the mass at the minimum's edge, or
    /// the stored percentiles interpolated at `tail_level`.
    fn tail_start(&self) -> f32 {
        if let Some(start) = self.tail_start {
            return start;
        }
        let position = self.tail_level * (LEVELS - 1) as f64;
        let low = (position.floor() as usize).min(LEVELS - 1);
        let high = (position.ceil() as usize).min(LEVELS - 1);
        let weight = (position - low as f64) as f32;
        self.quantiles[low] * (1.0 - weight) + self.quantiles[high] * weight
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
    /// Share of benign logs at least as unusual.
    pub probability: f64,
    /// Which benign logs.
    pub baseline: Baseline,
}

/// One scored log, as calibration sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredLog<'a> {
    /// Source name.
    pub source: &'a str,
    /// Event type (the kind it is calibrated against).
    pub kind: &'a str,
    /// User, when the log names one.
    pub user: Option<&'a str>,
    /// The address the request came from, when the log names one.
    pub client_ip: Option<&'a str>,
    /// Event time, epoch milliseconds.
    pub time_ms: i64,
    /// Surprisal of the whole log (the fields that count), in nats.
    pub total: f32,
    /// Surprisal of each field that counts, by dotted path.
    pub fields: Vec<(&'a str, f32)>,
}

/// How unusual one field of a log is.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldTail {
    /// Dotted path.
    pub path: String,
    /// Its surprisal, in nats.
    pub surprisal: f32,
    /// Share of benign logs of the kind whose field was at least as surprising.
    pub probability: f64,
}

/// A log judged against the calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// The log's anomaly: −ln of the tail probability of its least likely part.
    pub anomaly: f32,
    /// The anomaly's tail probability among benign logs: the log on its own.
    pub tail: Tail,
    /// The calibrated fields, least likely first.
    pub fields: Vec<FieldTail>,
    /// The evidence its user or address has gathered, with this log, over the window;
    /// `None` for a calibration without it, a log judged on its own, or a log too
    /// ordinary to add any.
    pub evidence: Option<EvidenceTail>,
}

impl Judgement {
    /// The tail probability alerts are set on: the entity evidence's where there is
    /// one, else the log's own.
    pub fn probability(&self) -> f64 {
        self.evidence
            .as_ref()
            .map_or(self.tail.probability, |evidence| evidence.probability)
    }
}

/// Entity evidence and how rare that much is among benign logs.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceTail {
    /// The evidence.
    pub evidence: Evidence,
    /// Share of benign logs whose entities held at least as much.
    pub probability: f64,
}

impl EvidenceTail {
    /// As alerts and score files report it.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "entity": self.evidence.entity,
            "nats": self.evidence.amount,
            "unusual_logs": self.evidence.logs,
            "tail_probability": self.probability,
        })
    }
}

/// The benign distribution of entity evidence, and how it was summed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceCalibration {
    /// Window and floor, as the detector must sum them.
    pub settings: EvidenceSettings,
    /// Benign logs' evidence.
    pub distribution: Distribution,
}

/// Distributions at three levels of detail: per source, per source and event type, and
/// per source, event type and user.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Levels {
    /// Keyed by source name.
    pub sources: BTreeMap<String, Distribution>,
    /// Keyed by `source/event type`.
    pub kinds: BTreeMap<String, Distribution>,
    /// Keyed by `source/event type/user`.
    pub users: BTreeMap<String, Distribution>,
}

impl Levels {
    fn fit(scores: LevelScores, min_user_logs: usize) -> Levels {
        Levels {
            sources: fit_all(scores.sources, 1),
            kinds: fit_all(scores.kinds, MIN_KIND_LOGS),
            users: fit_all(scores.users, min_user_logs),
        }
    }

    /// The tail probability of `score` against the most specific distribution there is.
    fn tail(&self, source: &str, kind: &str, user: Option<&str>, score: f32) -> Option<Tail> {
        let kind_key = key(source, kind);
        let user_distribution = user.and_then(|user| self.users.get(&key(&kind_key, user)));
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

/// Scores collected for one [`Levels`].
#[derive(Debug, Default)]
struct LevelScores {
    sources: BTreeMap<String, Vec<f32>>,
    kinds: BTreeMap<String, Vec<f32>>,
    users: BTreeMap<String, Vec<f32>>,
}

impl LevelScores {
    fn add(&mut self, source: &str, kind: &str, user: Option<&str>, score: f32) {
        if !score.is_finite() {
            return;
        }
        let kind_key = key(source, kind);
        if let Some(user) = user {
            self.users
                .entry(key(&kind_key, user))
                .or_default()
                .push(score);
        }
        self.kinds.entry(kind_key).or_default().push(score);
        self.sources
            .entry(source.to_string())
            .or_default()
            .push(score);
    }
}

fn fit_all(map: BTreeMap<String, Vec<f32>>, min: usize) -> BTreeMap<String, Distribution> {
    map.into_iter()
        .filter(|(_, scores)| scores.len() >= min.max(1))
        .filter_map(|(key, mut scores)| Some((key, Distribution::fit(&mut scores)?)))
        .collect()
}

/// The fitted calibration of one set of weights.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Calibration {
    /// Users need this many benign logs of a kind for their own baseline.
    pub min_user_logs: usize,
    /// Each field's benign surprisal, keyed `source/field` and `source/event type/field`
    /// (the latter where the kind had at least 50 logs with the field).
    pub fields: BTreeMap<String, Distribution>,
    /// The whole log's benign surprisal, per source and kind.
    pub totals: Levels,
    /// Benign logs' anomalies, per source, kind and user.
    pub anomalies: Levels,
    /// Benign logs' entity evidence ([`crate::entity_evidence`]); `None` in a
    /// calibration fitted without it, whose detector judges each log on its own.
    #[serde(default)]
    pub evidence: Option<EvidenceCalibration>,
}

impl Calibration {
    /// Judges one scored log on its own. `None` for a source never calibrated.
    pub fn judge(&self, log: &ScoredLog) -> Option<Judgement> {
        let (anomaly, fields) = self.anomaly(log)?;
        let tail = self
            .anomalies
            .tail(log.source, log.kind, log.user, anomaly)?;
        Some(Judgement {
            anomaly,
            tail,
            fields,
            evidence: None,
        })
    }

    /// Judges one log of a stream fed in event-time order, adding its anomaly to the
    /// evidence of its user and address in `state`.
    pub fn judge_in_stream(
        &self,
        log: &ScoredLog,
        state: &mut EntityEvidence,
    ) -> Option<Judgement> {
        let mut judgement = self.judge(log)?;
        if let Some(calibration) = &self.evidence {
            let evidence = state.add(
                &calibration.settings,
                log.time_ms,
                log.entities(),
                log_anomaly(judgement.tail.probability),
            );
            // A log that adds no evidence is judged on its own.
            if evidence.amount > 0.0 {
                judgement.evidence = Some(EvidenceTail {
                    probability: calibration.distribution.tail_probability(evidence.amount),
                    evidence,
                });
            }
        }
        Some(judgement)
    }

    /// Stage 1: −ln of the tail probability of the log's least likely part, and its
    /// calibrated fields, least likely first.
    fn anomaly(&self, log: &ScoredLog) -> Option<(f32, Vec<FieldTail>)> {
        let total = self.totals.tail(log.source, log.kind, None, log.total)?;
        let kind_key = key(log.source, log.kind);
        let mut fields: Vec<FieldTail> = log
            .fields
            .iter()
            .filter_map(|&(path, surprisal)| {
                let distribution = self
                    .fields
                    .get(&key(&kind_key, path))
                    .or_else(|| self.fields.get(&key(log.source, path)))?;
                Some(FieldTail {
                    path: path.to_string(),
                    surprisal,
                    probability: distribution.tail_probability(surprisal),
                })
            })
            .collect();
        fields.sort_by(|a, b| a.probability.total_cmp(&b.probability));
        let least = fields.first().map_or(total.probability, |field| {
            field.probability.min(total.probability)
        });
        Some((log_anomaly(least), fields))
    }
}

/// −ln of a tail probability, finite however small the probability.
fn log_anomaly(probability: f64) -> f32 {
    -(probability.max(f64::MIN_POSITIVE).ln()) as f32
}

impl ScoredLog<'_> {
    fn entities(&self) -> Entities<'_> {
        Entities {
            source: self.source,
            user: self.user,
            client_ip: self.client_ip,
        }
    }
}

/// Collects benign logs' scores, then fits a [`Calibration`].
#[derive(Debug, Default)]
pub struct CalibrationBuilder {
    logs: Vec<CollectedLog>,
    /// Field paths, interned: a calibration pass sees the same hundred paths many
    /// thousand times.
    paths: Vec<String>,
    path_ids: std::collections::HashMap<String, u32>,
}

#[derive(Debug)]
struct CollectedLog {
    source: String,
    kind: String,
    user: Option<String>,
    client_ip: Option<String>,
    time_ms: i64,
    total: f32,
    fields: Vec<(u32, f32)>,
}

impl CollectedLog {
    fn entities(&self) -> Entities<'_> {
        Entities {
            source: &self.source,
            user: self.user.as_deref(),
            client_ip: self.client_ip.as_deref(),
        }
    }

    fn scored<'a>(&'a self, paths: &'a [String]) -> ScoredLog<'a> {
        ScoredLog {
            source: &self.source,
            kind: &self.kind,
            user: self.user.as_deref(),
            client_ip: self.client_ip.as_deref(),
            time_ms: self.time_ms,
            total: self.total,
            fields: self
                .fields
                .iter()
                .map(|&(id, surprisal)| (paths[id as usize].as_str(), surprisal))
                .collect(),
        }
    }
}

impl CalibrationBuilder {
    /// Adds one benign log; logs come in event-time order, as entity evidence is
    /// summed over them in the order added.
    pub fn add(&mut self, log: &ScoredLog) {
        let fields = log
            .fields
            .iter()
            .filter(|(_, surprisal)| surprisal.is_finite())
            .map(|&(path, surprisal)| (self.intern(path), surprisal))
            .collect();
        self.logs.push(CollectedLog {
            source: log.source.to_string(),
            kind: log.kind.to_string(),
            user: log.user.map(str::to_string),
            client_ip: log.client_ip.map(str::to_string),
            time_ms: log.time_ms,
            total: log.total,
            fields,
        });
    }

    fn intern(&mut self, path: &str) -> u32 {
        if let Some(&id) = self.path_ids.get(path) {
            return id;
        }
        let id = self.paths.len() as u32;
        self.paths.push(path.to_string());
        self.path_ids.insert(path.to_string(), id);
        id
    }

    /// Fits the distributions; users with fewer than `min_user_logs` benign logs of a
    /// kind get no anomaly baseline of their own. With `evidence`, also the benign
    /// distribution of entity evidence summed that way.
    pub fn fit(self, min_user_logs: usize, evidence: Option<EvidenceSettings>) -> Calibration {
        let mut totals = LevelScores::default();
        let mut fields: BTreeMap<String, Vec<f32>> = BTreeMap::new();
        for log in &self.logs {
            totals.add(&log.source, &log.kind, None, log.total);
            let kind_key = key(&log.source, &log.kind);
            for &(id, surprisal) in &log.fields {
                let path = &self.paths[id as usize];
                fields
                    .entry(key(&kind_key, path))
                    .or_default()
                    .push(surprisal);
                fields
                    .entry(key(&log.source, path))
                    .or_default()
                    .push(surprisal);
            }
        }
        let mut calibration = Calibration {
            min_user_logs,
            fields: fit_all(fields, MIN_KIND_LOGS),
            totals: Levels::fit(totals, usize::MAX),
            anomalies: Levels::default(),
            evidence: None,
        };
        // Stage 1 once per log: stage 2 is fitted on it, and the evidence summed from it.
        let stage_one: Vec<Option<f32>> = self
            .logs
            .iter()
            .map(|log| Some(calibration.anomaly(&log.scored(&self.paths))?.0))
            .collect();
        let mut anomalies = LevelScores::default();
        for (log, anomaly) in self.logs.iter().zip(&stage_one) {
            if let Some(anomaly) = *anomaly {
                anomalies.add(&log.source, &log.kind, log.user.as_deref(), anomaly);
            }
        }
        calibration.anomalies = Levels::fit(anomalies, min_user_logs);
        if let Some(settings) = evidence {
            let mut state = EntityEvidence::default();
            let mut amounts: Vec<f32> = self
                .logs
                .iter()
                .zip(&stage_one)
                .filter_map(|(log, anomaly)| {
                    let tail = calibration.anomalies.tail(
                        &log.source,
                        &log.kind,
                        log.user.as_deref(),
                        (*anomaly)?,
                    )?;
                    let anomaly = log_anomaly(tail.probability);
                    Some(
                        state
                            .add(&settings, log.time_ms, log.entities(), anomaly)
                            .amount,
                    )
                })
                .collect();
            calibration.evidence =
                Distribution::fit(&mut amounts).map(|distribution| EvidenceCalibration {
                    settings,
                    distribution,
                });
        }
        calibration
    }
}

fn key(prefix: &str, rest: &str) -> String {
    format!("{prefix}/{rest}")
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

    fn log<'a>(kind: &'a str, user: &'a str, fields: Vec<(&'a str, f32)>) -> ScoredLog<'a> {
        ScoredLog {
            source: "cloudtrail",
            kind,
            user: Some(user),
            client_ip: None,
            time_ms: 0,
            total: fields.iter().map(|(_, s)| s).sum(),
            fields,
        }
    }

    #[test]
    fn the_most_specific_baseline_with_enough_history_is_used() {
        let mut builder = CalibrationBuilder::default();
        for i in 0..400 {
            // alice's GetObject calls always look alike; everyone else's vary.
            let alice = 1.0 + (i % 3) as f32 * 0.01;
            builder.add(&log("GetObject", "alice", vec![("awsRegion", alice)]));
            let bob = (i % 40) as f32;
            builder.add(&log("GetObject", "bob", vec![("awsRegion", bob)]));
        }
        builder.add(&log("StopLogging", "bob", vec![("awsRegion", 5.0)]));
        let calibration = builder.fit(100, None);
        let judge = |kind, user, surprisal| {
            calibration
                .judge(&log(kind, user, vec![("awsRegion", surprisal)]))
                .unwrap()
        };
        let (alice, carol) = (
            judge("GetObject", "alice", 20.0),
            judge("GetObject", "carol", 20.0),
        );
        assert_eq!(alice.tail.baseline, Baseline::User);
        assert_eq!(carol.tail.baseline, Baseline::Kind);
        assert!(alice.tail.probability < carol.tail.probability);
        assert_eq!(
            judge("StopLogging", "bob", 5.0).tail.baseline,
            Baseline::Source
        );
        let other_source = ScoredLog {
            source: "azure",
            ..log("x", "bob", Vec::new())
        };
        assert!(calibration.judge(&other_source).is_none());
    }

    #[test]
    fn one_unusual_field_stands_out_where_the_sum_hides_it() {
        // 100 fields of benign noise (each 5–15 nats); one log has one field 25 nats
        // above its usual, which moves the sum by less than the sum's own spread.
        let paths: Vec<String> = (0..100).map(|i| format!("field{i}")).collect();
        let noise = |log: usize, field: usize| {
            // splitmix64: independent draws, where a plain multiplicative hash of a
            // progression would be evenly spread and make the sum nearly constant.
            let mut z = ((log * 1_000 + field) as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            5.0 + (z >> 40) as f32 / (1u64 << 24) as f32 * 10.0
        };
        let mut builder = CalibrationBuilder::default();
        for index in 0..2_000 {
            let fields = paths
                .iter()
                .enumerate()
                .map(|(field, path)| (path.as_str(), noise(index, field)))
                .collect();
            builder.add(&log("ListBuckets", "u", fields));
        }
        let calibration = builder.fit(usize::MAX, None);
        let mut fields: Vec<(&str, f32)> = paths
            .iter()
            .enumerate()
            .map(|(field, path)| (path.as_str(), noise(7, field)))
            .collect();
        fields[42].1 += 25.0;
        let judgement = calibration.judge(&log("ListBuckets", "u", fields)).unwrap();
        assert_eq!(judgement.fields[0].path, "field42");
        assert!(judgement.tail.probability < 1e-4, "{judgement:?}");
        let by_sum = calibration.totals.tail(
            "cloudtrail",
            "ListBuckets",
            None,
            judgement.fields.iter().map(|f| f.surprisal).sum(),
        );
        assert!(by_sum.unwrap().probability > 0.01, "{by_sum:?}");
    }

    /// A uniform draw in (0, 1) from an index (splitmix64).
    fn uniform(index: u64) -> f32 {
        let mut z = index.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    #[test]
    fn a_spray_from_one_address_alerts_where_each_log_alone_does_not() {
        // Benign: 200 users, each from an address of their own, one log every 200 s;
        // one field's surprisal exponential (P(S >= s) = e^-s), so now and then a log
        // is unusual and its user and address carry evidence for a while.
        let users: Vec<String> = (0..200).map(|i| format!("user{i}")).collect();
        let ips: Vec<String> = (0..200).map(|i| format!("10.0.0.{i}")).collect();
        let mut builder = CalibrationBuilder::default();
        for index in 0..40_000usize {
            let user = index % 200;
            let surprisal = -uniform(index as u64).ln();
            let mut log = log("signin", &users[user], vec![("result", surprisal)]);
            log.client_ip = Some(&ips[user]);
            log.time_ms = index as i64 * 1_000;
            builder.add(&log);
        }
        let calibration = builder.fit(usize::MAX, Some(EvidenceSettings::default()));
        let evidence = calibration.evidence.as_ref().unwrap();
        // Most benign logs carry no evidence: the tail starts above the 95th percentile.
        assert!(evidence.distribution.tail_level > 0.95, "{evidence:?}");

        // An attacker's address fails a sign-in for 30 users within a minute, each log
        // about as unusual as one benign log in 1,000.
        let unusual = 1000f32.ln();
        let mut state = EntityEvidence::default();
        let start = 50_000_000;
        let judgements: Vec<Judgement> = (0..30)
            .map(|i| {
                let mut log = log("signin", &users[i], vec![("result", unusual)]);
                log.client_ip = Some("203.0.113.9");
                log.time_ms = start + i as i64 * 2_000;
                calibration.judge_in_stream(&log, &mut state).unwrap()
            })
            .collect();
        let (first, last) = (&judgements[0], &judgements[29]);
        for judgement in [first, last] {
            assert!(judgement.tail.probability > 1e-4, "{judgement:?}");
        }
        assert!(first.probability() > 1e-4, "{first:?}");
        assert!(last.probability() < 1e-8, "{last:?}");
        let entity = &last.evidence.as_ref().unwrap().evidence;
        assert_eq!(entity.entity.as_deref(), Some("ip 203.0.113.9"));
        assert_eq!(entity.logs, 30);
        // Judged alone, the same log carries no evidence.
        let alone = calibration.judge(&log("signin", "user0", vec![("result", unusual)]));
        assert!(alone.unwrap().evidence.is_none());
    }

    #[test]
    fn a_distribution_mostly_at_its_minimum_keeps_the_share_above_it() {
        // 98% zeros, 2% spread over 1..=20.
        let mut scores: Vec<f32> = (0..10_000)
            .map(|i| {
                if i % 50 == 0 {
                    (i % 20 + 1) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let distribution = Distribution::fit(&mut scores).unwrap();
        assert_eq!(distribution.tail_probability(0.0), 1.0);
        let above = distribution.tail_probability(1e-6);
        assert!((above - 0.02).abs() < 0.002, "{above}");
        assert!(distribution.tail_probability(30.0) < 0.002);
    }

    #[test]
    fn round_trips_through_json() {
        let mut builder = CalibrationBuilder::default();
        for i in 0..100 {
            builder.add(&log("signin", "u", vec![("country", i as f32)]));
        }
        let calibration = builder.fit(10, Some(EvidenceSettings::default()));
        let json = serde_json::to_string(&calibration).unwrap();
        let back: Calibration = serde_json::from_str(&json).unwrap();
        assert_eq!(back, calibration);
    }
}
