//! `cyberlm detect` on files: decode, merge by event time, run the detectors, write
//! alerts and dead letters.
//!
//! Files and Kafka topics run through the same streaming engine (`crate::stream`): the
//! watermark merge, the detector worker, bounded memory; only the source and the sinks
//! differ.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use model::detector::GptDetector;
use operators::Detector;
use operators::sigma::{RuleSet, SigmaDetector};
use schemas::Source;
use serde_json::Value;

use crate::cli::DetectArgs;
use crate::config::Config;
use crate::files::{FileSource, JsonlRecordSink, expand_inputs};
use crate::kafka::{KafkaSource, TopicSink, producer};
use crate::progress;
use crate::stream::{EngineConfig, Sinks};

/// What a detection run saw and raised.
#[derive(Debug, Default)]
pub struct DetectionReport {
    /// Logs decoded and judged.
    pub logs: u64,
    /// Logs sent to the dead-letter file.
    pub dead_letters: u64,
    /// Logs merged out of event-time order (still judged).
    pub late: u64,
    /// Every alert raised, as the alerts file holds it.
    pub alerts: Vec<AlertSummary>,
}

/// An alert read back from the alerts file, reduced to what reports need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSummary {
    /// The event id of the log it is about.
    pub event_id: String,
    /// OCSF severity caption.
    pub severity: String,
    /// The finding's title (the rule's).
    pub title: String,
    /// ATT&CK technique ids.
    pub techniques: Vec<String>,
}

impl AlertSummary {
    /// Reads an OCSF Detection Finding as cyberlm writes it.
    pub fn from_ocsf(finding: &Value) -> Option<Self> {
        let text = |value: &Value| value.as_str().map(str::to_string);
        Some(AlertSummary {
            event_id: text(finding.pointer("/evidences/0/data/event_id")?)?,
            severity: text(finding.get("severity")?)?,
            title: text(finding.pointer("/finding_info/title")?)?,
            techniques: finding
                .pointer("/finding_info/attacks")?
                .as_array()?
                .iter()
                .filter_map(|attack| text(attack.pointer("/technique/uid")?))
                .collect(),
        })
    }
}

impl DetectionReport {
    /// Alerts per (severity, rule title), most frequent first.
    pub fn by_rule(&self) -> Vec<((String, String), usize)> {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for alert in &self.alerts {
            *counts
                .entry((alert.severity.clone(), alert.title.clone()))
                .or_default() += 1;
        }
        let mut rows: Vec<_> = counts.into_iter().collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        rows
    }
}

/// Loads the Sigma detector the config describes.
pub fn sigma_detector(config: &Config) -> anyhow::Result<SigmaDetector> {
    let rules = RuleSet::from_path(&config.sigma.rules, &config.sigma.overrides).with_context(|| {
        format!("failed to load Sigma rules; set sigma.rules in the config or CYBERLM_SIGMA_RULES (was {})",
            config.sigma.rules.display())
    })?;
    for (origin, reason) in &rules.rejected {
        tracing::warn!(
            message = "Skipped a Sigma rule that does not parse.",
            rule = origin.as_str(),
            reason = reason.as_str()
        );
    }
    tracing::info!(
        message = "Loaded Sigma rules.",
        enabled = rules.rules.len(),
        disabled = rules.disabled.len()
    );
    Ok(SigmaDetector::new(rules))
}

/// The detectors the config enables: Sigma always, the GPT detector when `gpt.model` is
/// set.
pub fn detectors(config: &Config) -> anyhow::Result<Vec<Box<dyn Detector>>> {
    let mut detectors: Vec<Box<dyn Detector>> = vec![Box::new(sigma_detector(config)?)];
    if let Some(dir) = &config.gpt.model {
        // The engine pseudonymises logs before any detector sees them: they must read as
        // the model's training logs did.
        let published = model::registry::resolve(dir)?;
        config
            .pii
            .hasher_for_model(&published, &model::checkpoint::read_manifest(&published)?)?;
        let device = model::device::parse(&config.gpt.device)?;
        let detector = GptDetector::load(
            dir,
            &device,
            config.gpt.batch_windows,
            config.gpt.detector(),
        )
        .with_context(|| format!("failed to load the GPT detector from {}", dir.display()))?;
        tracing::info!(message = "Loaded the GPT detector.", model = %dir.display(), version = detector.version(),
            alerts_per_10k = config.gpt.alerts_per_10k);
        detectors.push(Box::new(detector));
    }
    Ok(detectors)
}

/// The engine settings: `[stream]`'s, with micro-batches of `gpt.max_batch` when the GPT
/// detector runs.
pub fn engine_config(config: &Config) -> EngineConfig {
    let mut engine = config.stream.engine();
    if config.gpt.model.is_some() {
        engine.micro_batch = config.gpt.max_batch.max(1);
    }
    engine
}

/// Runs `detectors` over the logs in `inputs` (pseudonymised by `pii` first, when
/// given) through the streaming engine, as on Kafka: files are read side by side and
/// merged by event time in bounded memory. Writes alerts and dead letters as JSONL, then
/// reads the alerts back for the report.
pub fn detect_files(
    inputs: &[std::path::PathBuf],
    pii: Option<operators::pii::PiiHasher>,
    detectors: Vec<Box<dyn Detector>>,
    engine: EngineConfig,
    alerts_path: &Path,
    dead_letter_path: &Path,
) -> anyhow::Result<DetectionReport> {
    let files = expand_inputs(inputs)?;
    let source = FileSource::open(&files, progress::counter("logs judged"))?;
    let sinks = Sinks {
        alerts: Arc::new(JsonlRecordSink::create(alerts_path)?),
        dead_letters: Arc::new(JsonlRecordSink::create(dead_letter_path)?),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("failed to start the async runtime")?;
    let report = runtime.block_on(crate::stream::run(
        source,
        sinks,
        engine,
        pii,
        detectors,
        std::future::pending(),
    ))?;
    let alerts = read_alerts(alerts_path)?;
    Ok(DetectionReport {
        logs: report.consumed - report.dead_letters,
        dead_letters: report.dead_letters,
        late: report.late,
        alerts,
    })
}

/// Reads an alerts file back.
pub fn read_alerts(path: &Path) -> anyhow::Result<Vec<AlertSummary>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read alerts back from {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str::<Value>(line)
                .ok()
                .as_ref()
                .and_then(AlertSummary::from_ocsf)
                .with_context(|| {
                    format!(
                        "{} line {} is not an OCSF Detection Finding",
                        path.display(),
                        index + 1
                    )
                })
        })
        .collect()
}

/// `cyberlm detect`.
pub fn run(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let detectors = detectors(&config)?;
    let pii = config.pii.hasher()?;
    if args.kafka {
        return run_on_kafka(&config, pii, detectors);
    }
    let report = detect_files(
        &args.inputs,
        pii,
        detectors,
        engine_config(&config),
        &args.alerts,
        &args.dead_letter,
    )?;
    println!(
        "{} logs judged, {} alerts, {} dead letters, {} late",
        report.logs,
        report.alerts.len(),
        report.dead_letters,
        report.late
    );
    for ((severity, title), count) in report.by_rule() {
        println!("{count:>7}  {severity:<13} {title}");
    }
    println!(
        "alerts: {}\ndead letters: {}",
        args.alerts.display(),
        args.dead_letter.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `cyberlm detect --kafka`: until SIGTERM or Ctrl-C.
fn run_on_kafka(
    config: &Config,
    pii: Option<operators::pii::PiiHasher>,
    detectors: Vec<Box<dyn Detector>>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        if let Some(listen) = config.metrics_listen {
            crate::stream::install_prometheus(listen)?;
            tracing::info!(message = "Serving Prometheus metrics.", %listen);
        }
        let kafka = &config.kafka;
        let source = KafkaSource::subscribe(kafka)?;
        let producer = producer(kafka)?;
        let sinks = Sinks {
            alerts: Arc::new(TopicSink::new(producer.clone(), &kafka.topics.alerts)),
            dead_letters: Arc::new(TopicSink::new(producer, &kafka.topics.dead_letter)),
        };
        tracing::info!(message = "Detecting on Kafka.", bootstrap = kafka.bootstrap_servers.as_str(),
            group = kafka.group_id.as_str(), topics = ?Source::ALL.map(|s| kafka.topics.for_source(s)));
        let report = crate::stream::run(
            source,
            sinks,
            engine_config(config),
            pii,
            detectors,
            shutdown_signal(),
        )
        .await?;
        println!(
            "{} logs consumed, {} alerts, {} dead letters, {} late",
            report.consumed, report.alerts, report.dead_letters, report.late
        );
        Ok(ExitCode::SUCCESS)
    })
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(message = "Cannot listen for SIGTERM.", %error);
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!(message = "Shutdown requested.");
}
