//! `cyberlm demo`: simulate a week, run the detectors over it on files, and show which
//! labelled attacks were caught and how noisy the rules were on benign traffic.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;

use operators::Detector;

use crate::cli::DemoArgs;
use crate::commands::detect::{DetectionReport, detect_files, sigma_detector};
use crate::commands::simulate::simulate_to;
use crate::config::Config;
use crate::files::{LabelRow, read_labels};
use crate::simulate::SimulationConfig;

/// Per scenario step: events, events with any alert, events with an alert whose rule
/// covers the step's technique.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepScore {
    /// Labelled events.
    pub events: usize,
    /// Events that raised any alert.
    pub alerted: usize,
    /// Events that raised an alert for their own technique.
    pub on_technique: usize,
    /// The step was designed to slip past the rules.
    pub stealthy: bool,
}

/// Scores a detection run against the labels.
pub fn score(
    report: &DetectionReport,
    labels: &[LabelRow],
) -> (BTreeMap<(String, String), StepScore>, usize) {
    let mut alerted: HashMap<&str, Vec<&str>> = HashMap::new();
    for alert in &report.alerts {
        alerted
            .entry(alert.event_id.as_str())
            .or_default()
            .extend(alert.techniques.iter().map(String::as_str));
    }
    let mut steps: BTreeMap<(String, String), StepScore> = BTreeMap::new();
    let mut malicious_ids = HashSet::new();
    for label in labels {
        let technique = label
            .technique
            .clone()
            .unwrap_or_else(|| "benign".to_string());
        let step = steps
            .entry((label.scenario_id.clone(), technique.clone()))
            .or_default();
        step.events += 1;
        step.stealthy = label.stealthy;
        if let Some(found) = alerted.get(label.event_id.as_str()) {
            step.alerted += 1;
            if found
                .iter()
                .any(|rule| operators::attack::covers(rule, &technique))
            {
                step.on_technique += 1;
            }
        }
        if label.malicious {
            malicious_ids.insert(label.event_id.as_str());
        }
    }
    let benign_alerted = alerted
        .keys()
        .filter(|id| !malicious_ids.contains(*id))
        .count();
    (steps, benign_alerted)
}

/// `cyberlm demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    let logs_dir = args.out.join("logs");
    let simulation = SimulationConfig {
        users: args.users,
        days: args.days,
        seed: args.seed,
        ..SimulationConfig::default()
    };
    println!(
        "1/3 simulating {} employees for {} days into {}",
        args.users,
        args.days,
        logs_dir.display()
    );
    let summary = simulate_to(&simulation, &logs_dir)?;
    for (source, count) in &summary.events {
        println!("      {count:>7} {source} logs");
    }
    println!(
        "2/3 running the Sigma detector ({})",
        config.sigma.rules.display()
    );
    let detectors: Vec<Box<dyn Detector>> = vec![Box::new(sigma_detector(&config)?)];
    let alerts = args.out.join("alerts.jsonl");
    let report = detect_files(
        std::slice::from_ref(&logs_dir),
        config.pii.hasher()?,
        detectors,
        config.stream.engine(),
        &alerts,
        &args.out.join("dead-letter.jsonl"),
    )?;
    println!(
        "      {} logs, {} alerts -> {}",
        report.logs,
        report.alerts.len(),
        alerts.display()
    );
    for ((severity, title), count) in report.by_rule() {
        println!("      {count:>7}  {severity:<13} {title}");
    }
    println!("3/3 which labelled scenarios the rules caught");
    let labels = read_labels(&logs_dir.join("labels.jsonl"))?;
    let (steps, benign_alerted) = score(&report, &labels);
    println!(
        "      {:<26} {:<10} {:>6} {:>8} {:>12}",
        "scenario", "technique", "events", "alerted", "on-technique"
    );
    for ((scenario, technique), step) in &steps {
        let note = if step.stealthy {
            "  (built to evade the rules)"
        } else {
            ""
        };
        println!(
            "      {scenario:<26} {technique:<10} {:>6} {:>8} {:>12}{note}",
            step.events, step.alerted, step.on_technique
        );
    }
    let malicious = labels.iter().filter(|l| l.malicious).count();
    let benign = report.logs as usize - malicious;
    println!(
        "      false alerts: {benign_alerted} of {benign} benign logs alerted ({:.1} per 10,000)",
        benign_alerted as f64 * 10_000.0 / benign.max(1) as f64
    );
    println!("The GPT detector joins these rules with [4/7]; see README.md.");
    Ok(ExitCode::SUCCESS)
}
