//! The GPT detector: scores each log of the merged stream ([`crate::deviation`]), turns
//! the score into a tail probability ([`operators::calibration`]) and alerts below the
//! configured rate, naming the fields that surprised the model and what it expected
//! there instead ([`crate::explain`]).
//!
//! With a calibration that has entity evidence, a log's alert is set on the evidence
//! its user or its address has gathered over the window ([`operators::entity_evidence`]):
//! a burst of mildly unusual logs (a spray from one address, a night of exports) alerts
//! where each log alone would not.
//!
//! One entity's anomalies within `group_window_ms` of event time after an alert are
//! grouped into that alert (counted, not alerted again): an attack is usually a burst of
//! unusual logs, and one alert per burst is what an analyst can act on. The entity is
//! the one holding the evidence (`user alice@contoso.com`, `ip 203.0.113.9`), or the user
//! for a log judged alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use burn::prelude::Device;
use operators::Detector;
use operators::calibration::{Baseline, Calibration, EvidenceTail, Judgement};
use operators::entity_evidence::EntityEvidence;
use operators::text_format::{field_spans, header_spans};
use schemas::{DetectionFinding, Envelope, FindingInfo, Severity};
use serde_json::{Value, json};

use crate::checkpoint::{self, CalibrationFile, CheckpointError};
use crate::deviation::{Deviation, DeviationConfig, DeviationScorer};
use crate::explain::expected_value;
use crate::gpt::Gpt;
use crate::registry::Registry;
use operators::text_format::TextFormat;

/// The id alerts of this detector carry as their analytic.
pub const ANALYTIC_UID: &str = "cyberlm-gpt";

/// How the GPT detector alerts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptDetectorConfig {
    /// Expected alerts per 10,000 benign logs: a log alerts when at most this share of
    /// benign logs of its kind scored as high.
    pub alerts_per_10k: f64,
    /// After an alert for a user, that user's anomalies within this much event time are
    /// grouped into it.
    pub group_window_ms: i64,
    /// Fields named (with their expected value) in an alert.
    pub explain_fields: usize,
    /// Logs scored per model call at most (the worker's micro-batches are cut to it).
    pub max_batch: usize,
}

impl Default for GptDetectorConfig {
    fn default() -> Self {
        GptDetectorConfig {
            alerts_per_10k: 1.0,
            group_window_ms: 10 * 60 * 1000,
            explain_fields: 3,
            max_batch: 64,
        }
    }
}

/// One log's judgement: its deviation, tail probability and alert, if any.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The deviation.
    pub deviation: Deviation,
    /// Its calibrated anomaly and tail probability, `None` for a source the calibration
    /// has never seen.
    pub judgement: Option<Judgement>,
    /// Whether the log is anomalous at the configured rate (alerted or grouped).
    pub anomalous: bool,
    /// The alert, when anomalous and not grouped into an earlier one.
    pub finding: Option<DetectionFinding>,
}

/// The GPT detector.
pub struct GptDetector {
    scorer: DeviationScorer,
    calibration: Calibration,
    config: GptDetectorConfig,
    version: String,
    /// Where new versions are published, when loaded from a directory.
    published: Option<Published>,
    /// Per entity: event time of the last alert.
    alerted: HashMap<String, i64>,
    grouped: u64,
    /// Unusual logs per user and address over the evidence window. Kept across model
    /// versions: it holds calibrated anomalies, comparable between versions.
    evidence: EntityEvidence,
}

/// Where new versions are watched for.
struct Published {
    batch_windows: usize,
    watch: Watch,
}

/// How a new version shows itself.
enum Watch {
    /// A model folder rewritten in place. `stamp` is the modification time of the
    /// calibration loaded: a publisher writes the weights, then the calibration, so a
    /// new calibration means a new version is complete.
    Folder {
        dir: PathBuf,
        stamp: Option<SystemTime>,
    },
    /// A registry ([`crate::registry`]): `CURRENT` names another version, complete by
    /// construction.
    Registry { registry: Registry, name: String },
}

/// A model and its calibration, read together.
struct Version {
    scorer_parts: (Gpt, TextFormat, DeviationConfig),
    calibration: Calibration,
    weights: String,
}

fn read_version(
    dir: &Path,
    device: &Device,
    batch_windows: usize,
) -> Result<Version, CheckpointError> {
    let loaded = checkpoint::load(dir, device)?;
    let CalibrationFile {
        weights,
        context,
        context_tokens,
        calibration,
        ..
    } = checkpoint::load_calibration(dir)?;
    let config = DeviationConfig {
        context,
        context_tokens,
        batch_windows,
        ..DeviationConfig::default()
    };
    Ok(Version {
        scorer_parts: (loaded.model, loaded.manifest.text_format, config),
        calibration,
        weights,
    })
}

/// How alerts and metrics name a version.
fn version_label(registry_name: Option<&str>, weights: &str) -> String {
    match registry_name {
        Some(name) => format!("{name}+{weights}"),
        None => weights.to_string(),
    }
}

fn calibration_stamp(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join(checkpoint::CALIBRATION))
        .and_then(|metadata| metadata.modified())
        .ok()
}

impl GptDetector {
    /// Loads the checkpoint in `dir` with its calibration, and watches `dir` for new
    /// versions (see [`GptDetector::reload_if_published`]). `dir` is a model folder or
    /// a registry, whose published version is loaded. The scoring context is the one
    /// the calibration was measured with.
    pub fn load(
        dir: &Path,
        device: &Device,
        batch_windows: usize,
        config: GptDetectorConfig,
    ) -> Result<Self, CheckpointError> {
        let (watch, version_dir, name) = if Registry::is_registry(dir) {
            let registry = Registry::new(dir);
            let (name, version_dir) = registry.current_dir()?;
            let watch = Watch::Registry {
                registry,
                name: name.clone(),
            };
            (watch, version_dir, Some(name))
        } else {
            let stamp = calibration_stamp(dir);
            let watch = Watch::Folder {
                dir: dir.to_path_buf(),
                stamp,
            };
            (watch, dir.to_path_buf(), None)
        };
        let version = read_version(&version_dir, device, batch_windows)?;
        let (model, format, deviation) = version.scorer_parts;
        let scorer = DeviationScorer::new(model, format, device.clone(), deviation);
        let label = version_label(name.as_deref(), &version.weights);
        let mut detector = Self::new(scorer, version.calibration, label, config);
        detector.published = Some(Published {
            batch_windows,
            watch,
        });
        Ok(detector)
    }

    /// Switches to the version now published in the model directory, if it changed and
    /// is complete (its calibration is for its weights); otherwise keeps the current one.
    /// Called between micro-batches, so every log is scored by exactly one version.
    /// Returns the new version's name when it switched.
    pub fn reload_if_published(&mut self) -> Result<Option<String>, CheckpointError> {
        let Some(published) = &mut self.published else {
            return Ok(None);
        };
        let label = match &mut published.watch {
            Watch::Folder { dir, stamp } => {
                let now = calibration_stamp(dir);
                if now == *stamp {
                    return Ok(None);
                }
                let version = read_version(dir, self.scorer.device(), published.batch_windows)?;
                *stamp = now;
                if version.weights == self.version {
                    self.calibration = version.calibration;
                    return Ok(None);
                }
                let label = version_label(None, &version.weights);
                self.switch_to(version);
                label
            }
            Watch::Registry { registry, name } => {
                let Some(current) = registry.current()? else {
                    return Ok(None);
                };
                if current == *name {
                    return Ok(None);
                }
                let version = read_version(
                    &registry.version_dir(&current),
                    self.scorer.device(),
                    published.batch_windows,
                )?;
                let label = version_label(Some(&current), &version.weights);
                *name = current;
                self.switch_to(version);
                label
            }
        };
        self.version = label;
        Ok(Some(self.version.clone()))
    }

    fn switch_to(&mut self, version: Version) {
        let (model, format, deviation) = version.scorer_parts;
        self.scorer.swap_model(model, format, deviation);
        self.calibration = version.calibration;
    }

    /// A detector over a ready scorer; `version` names the weights in alerts.
    pub fn new(
        scorer: DeviationScorer,
        calibration: Calibration,
        version: String,
        config: GptDetectorConfig,
    ) -> Self {
        GptDetector {
            scorer,
            calibration,
            config,
            version,
            published: None,
            alerted: HashMap::new(),
            grouped: 0,
            evidence: EntityEvidence::default(),
        }
    }

    /// The version scoring now: the weights' fingerprint, after the registry's version
    /// name when loaded from one (`v0002+3fa2c1d0e5b7a9f1`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Anomalies grouped into an earlier alert so far.
    pub fn grouped(&self) -> u64 {
        self.grouped
    }

    /// Scores and judges `logs`, in order.
    pub fn judge(&mut self, logs: &[&Envelope]) -> Vec<Judged> {
        let mut judged = Vec::with_capacity(logs.len());
        for chunk in logs.chunks(self.config.max_batch.max(1)) {
            let deviations = self.scorer.score(chunk);
            for (envelope, deviation) in chunk.iter().zip(deviations) {
                judged.push(self.judge_one(envelope, deviation));
            }
        }
        judged
    }

    fn judge_one(&mut self, envelope: &Envelope, deviation: Deviation) -> Judged {
        let kind = deviation.calibration_kind();
        let judgement = self
            .calibration
            .judge_in_stream(&deviation.scored(envelope, &kind), &mut self.evidence);
        let threshold = self.config.alerts_per_10k / 10_000.0;
        let anomalous = judgement
            .as_ref()
            .is_some_and(|judgement| judgement.probability() <= threshold);
        let mut finding = None;
        if let (true, Some(judgement)) = (anomalous, &judgement) {
            let time = envelope.event_time_ms();
            let entity = judgement
                .evidence
                .as_ref()
                .and_then(|evidence| evidence.evidence.entity.clone())
                .unwrap_or_else(|| format!("user {}", envelope.key()));
            let last = self.alerted.get(&entity).copied();
            match last {
                Some(last) if (time - last).abs() < self.config.group_window_ms => {
                    self.grouped += 1;
                }
                _ => {
                    self.alerted.insert(entity, time);
                    finding = Some(self.finding(envelope, &deviation, judgement));
                }
            }
        }
        Judged {
            deviation,
            judgement,
            anomalous,
            finding,
        }
    }

    fn finding(
        &self,
        envelope: &Envelope,
        deviation: &Deviation,
        judgement: &Judgement,
    ) -> DetectionFinding {
        let tail = judgement.tail;
        let explained = self.explain(deviation, judgement);
        let user = envelope.user.as_deref().unwrap_or("no user");
        let source = envelope.source.name();
        let title = match explained.first() {
            Some(top) => format!(
                "Unusual {source} activity for {user}: {} {} (expected {})",
                top["field"].as_str().unwrap_or_default(),
                top["observed"].as_str().unwrap_or_default(),
                top["expected"].as_str().unwrap_or("?"),
            ),
            None => format!("Unusual {source} activity for {user}"),
        };
        let baseline = match tail.baseline {
            Baseline::User => format!("{user}'s own benign {} logs", deviation.kind),
            Baseline::Kind => format!("benign {source} {} logs", deviation.kind),
            Baseline::Source => format!("benign {source} logs"),
        };
        let together = match &judgement.evidence {
            Some(evidence) if evidence.evidence.logs > 1 => format!(
                " With the {} other unusual logs of {} in the last {} min it makes {:.1} nats of \
                 evidence, as much as {:.2e} of benign logs had.",
                evidence.evidence.logs - 1,
                evidence.evidence.entity.as_deref().unwrap_or(user),
                self.calibration
                    .evidence
                    .as_ref()
                    .map_or(0, |calibration| calibration.settings.window_ms / 60_000),
                evidence.evidence.amount,
                evidence.probability,
            ),
            _ => String::new(),
        };
        let desc = format!(
            "Given {user}'s preceding logs the model found this log {:.1} nats surprising; \
             {:.2e} of {baseline} are as unusual.{together} Least likely fields: {}.",
            deviation.score,
            tail.probability,
            explained
                .iter()
                .map(|field| format!(
                    "{} {} ({:.1} nats{}, expected {})",
                    field["field"].as_str().unwrap_or_default(),
                    field["observed"].as_str().unwrap_or_default(),
                    field["surprisal"].as_f64().unwrap_or_default(),
                    field["tail_probability"]
                        .as_f64()
                        .map(|p| format!(", {p:.1e} of benign logs as surprising there"))
                        .unwrap_or_default(),
                    field["expected"].as_str().unwrap_or("?"),
                ))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let probability = judgement.probability();
        let severity = if probability <= 1e-6 {
            Severity::High
        } else if probability <= 1e-5 {
            Severity::Medium
        } else {
            Severity::Low
        };
        let uid = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(format!("{ANALYTIC_UID}|{}", envelope.event_id).as_bytes())
        );
        let mut finding = DetectionFinding::about(
            envelope,
            severity,
            FindingInfo {
                uid,
                title,
                desc: Some(desc),
                analytic_uid: ANALYTIC_UID.to_string(),
                analytic_name: "cyberlm GPT deviation".to_string(),
                analytic_type: "Machine Learning".to_string(),
                attacks: Vec::new(),
            },
        );
        finding.unmapped = Some(json!({
            "cyberlm": {
                "model_version": self.version,
                "surprisal": deviation.score,
                "anomaly": judgement.anomaly,
                "tail_probability": tail.probability,
                "baseline": tail.baseline,
                "event_type": deviation.kind,
                "fields": explained,
                "evidence": judgement.evidence.as_ref().map(EvidenceTail::summary),
            }
        }));
        finding
    }

    /// The least likely fields (against their benign spread) with their observed and
    /// expected values.
    fn explain(&self, deviation: &Deviation, judgement: &Judgement) -> Vec<Value> {
        let text = &deviation.request.text;
        let header_bytes = deviation.log.header_bytes;
        let mut spans = header_spans(text).unwrap_or_default();
        if let Some(json) = text.get(header_bytes..)
            && let Some(json_spans) = field_spans(json)
        {
            spans.extend(json_spans.into_iter().map(|mut span| {
                span.bytes = span.bytes.start + header_bytes..span.bytes.end + header_bytes;
                span.value = span.value.start + header_bytes..span.value.end + header_bytes;
                span
            }));
        }
        // Calibrated fields, least likely first; then, for fields too rare in the
        // calibration to have a distribution, the most surprising.
        let calibrated = judgement.fields.iter().map(|field| {
            (
                field.path.as_str(),
                field.surprisal,
                Some(field.probability),
            )
        });
        let uncalibrated = deviation
            .fields
            .iter()
            .filter(|field| !judgement.fields.iter().any(|f| f.path == field.path))
            .map(|field| (field.path.as_str(), field.surprisal, None));
        calibrated
            .chain(uncalibrated)
            .filter_map(|(path, surprisal, probability)| {
                let span = spans.iter().find(|span| span.path == path)?;
                let observed = text.get(span.value.clone())?;
                Some((path, surprisal, probability, span.value.clone(), observed))
            })
            .take(self.config.explain_fields)
            .map(|(path, surprisal, probability, value, observed)| {
                let expected = expected_value(
                    self.scorer.model(),
                    &deviation.request,
                    header_bytes,
                    value,
                    self.scorer.pin_header(),
                    self.scorer.device(),
                );
                json!({
                    "field": path,
                    "surprisal": surprisal,
                    "tail_probability": probability,
                    "observed": observed,
                    "expected": expected,
                })
            })
            .collect()
    }
}

impl Detector for GptDetector {
    fn name(&self) -> &str {
        "gpt"
    }

    fn detect(&mut self, envelope: &Envelope) -> Vec<DetectionFinding> {
        self.detect_batch(&[envelope]).pop().unwrap_or_default()
    }

    fn version(&self) -> Option<&str> {
        Some(&self.version)
    }

    fn detect_batch(&mut self, envelopes: &[&Envelope]) -> Vec<Vec<DetectionFinding>> {
        match self.reload_if_published() {
            Ok(Some(version)) => {
                tracing::info!(message = "Switched to a new model version.", version)
            }
            Ok(None) => {}
            // A half-published version (weights without their calibration yet) is
            // picked up on a later batch; the current one keeps scoring.
            Err(error) => {
                tracing::debug!(message = "The published model is not complete yet.", ?error)
            }
        }
        self.judge(envelopes)
            .into_iter()
            .map(|judged| judged.finding.into_iter().collect())
            .collect()
    }
}
