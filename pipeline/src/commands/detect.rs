//! `cyberlm detect` on files: decode, merge by event time, run the detectors, write
//! alerts and dead letters.
//!
//! On files the inputs are read whole and ordered by event time before detection (memory
//! grows with the input); `--kafka` runs the streaming engine in `crate::stream`, with
//! the watermark merge and bounded memory. Putting files through that engine too is open
//! work of [2/7].

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use operators::Detector;
use operators::sigma::{RuleSet, SigmaDetector};
use schemas::{DetectionFinding, Envelope};

use crate::cli::DetectArgs;
use crate::config::Config;
use crate::files::{JsonlSink, read_envelopes};
use crate::progress;

/// What a detection run saw and raised.
#[derive(Debug, Default)]
pub struct DetectionReport {
    /// Logs decoded and judged.
    pub logs: u64,
    /// Logs sent to the dead-letter file.
    pub dead_letters: u64,
    /// Every finding raised, in event-time order.
    pub findings: Vec<DetectionFinding>,
}

impl DetectionReport {
    /// Findings per (severity, rule title), most frequent first.
    pub fn by_rule(&self) -> Vec<((String, String), usize)> {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for finding in &self.findings {
            let key = (
                finding.severity.caption().to_string(),
                finding.finding_info.title.clone(),
            );
            *counts.entry(key).or_default() += 1;
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

/// Runs `detectors` over the logs in `inputs` (pseudonymised by `pii` first, when
/// given), writing alerts and dead letters.
pub fn detect_files(
    inputs: &[std::path::PathBuf],
    pii: Option<&operators::pii::PiiHasher>,
    detectors: &mut [Box<dyn Detector>],
    alerts_path: &Path,
    dead_letter_path: &Path,
) -> anyhow::Result<DetectionReport> {
    let (mut logs, dead_letters) = read_envelopes(inputs, pii, dead_letter_path)?;
    // Stable sort: logs with equal event times keep their input order.
    logs.sort_by_key(Envelope::event_time_ms);
    let mut alerts = JsonlSink::create(alerts_path)?;
    let mut report = DetectionReport {
        logs: logs.len() as u64,
        ..DetectionReport::default()
    };
    let bar = progress::bar(logs.len() as u64, "detecting");
    for envelope in &logs {
        for detector in detectors.iter_mut() {
            for finding in detector.detect(envelope) {
                alerts.write(&finding.to_ocsf())?;
                report.findings.push(finding);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    alerts.finish()?;
    report.dead_letters = dead_letters;
    Ok(report)
}

/// `cyberlm detect`.
pub fn run(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let mut detectors: Vec<Box<dyn Detector>> = vec![Box::new(sigma_detector(&config)?)];
    let pii = config.pii.hasher()?;
    if args.kafka {
        return run_on_kafka(&config, pii, detectors);
    }
    let report = detect_files(
        &args.inputs,
        pii.as_ref(),
        &mut detectors,
        &args.alerts,
        &args.dead_letter,
    )?;
    println!(
        "{} logs judged, {} alerts, {} dead letters",
        report.logs,
        report.findings.len(),
        report.dead_letters
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
        let report = crate::stream::run(
            &config.kafka,
            config.stream.engine(),
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
