//! `cyberlm eval detection`: how well each detector finds the labelled attacks in a set
//! of logs, against how often it cries wolf on the benign ones.
//!
//! Five detectors over the same logs in event-time order: the GPT detector (when a
//! calibrated model is given; its alerts set on the evidence each user and address
//! gathers over the window), the same GPT judging each log alone (one scoring pass
//! serves both), the Sigma rules, GPT and Sigma combined (an alert from either), and the
//! per-user novelty baseline. History logs (the period before, e.g. the training
//! logs) seed the baseline's habits and the GPT's per-user context without being judged.
//! The GPT runs as `detect` runs it (the same detector, entity evidence and grouping
//! included), and its alerts are written as `detect` writes them; the figures count
//! every anomalous log, before grouping, which only merges alerts.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::Context;
use model::checkpoint::{self, LoadedModel};
use model::detector::{GptDetector, GptDetectorConfig};
use model::deviation::{DeviationConfig, DeviationScorer};
use operators::calibration::{EvidenceTail, Judgement};
use operators::detection_metrics::{DetectionMetrics, Judged, evaluate, pr_curve};
use operators::novelty::NoveltyBaseline;
use schemas::{DetectionFinding, Envelope};
use serde_json::json;

use crate::cli::EvalDetectionArgs;
use crate::commands::detect::sigma_detector;
use crate::config::Config;
use crate::files::{LabelRow, labels_beside, read_envelopes, read_labels};
use crate::report::{Section, Series, density_chart, line_chart, write_page};

/// Highest GPT score: −log10 of the smallest tail probability told apart.
const MAX_GPT_SCORE: f64 = 300.0;

/// One detector's judgements, in log order.
struct Column {
    name: &'static str,
    judged: Vec<Judged>,
}

/// `cyberlm eval detection`.
pub fn run(args: &EvalDetectionArgs) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(args.config.as_deref())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let labels = load_labels(args)?;
    let dead_letters = args.out.join("dead-letter.jsonl");
    let model_dir = args
        .model
        .as_deref()
        .map(model::registry::resolve)
        .transpose()?;
    let pii = match &model_dir {
        Some(dir) => config
            .pii
            .hasher_for_model(dir, &checkpoint::read_manifest(dir)?)?,
        None => config.pii.hasher()?,
    };
    let (mut logs, rejected) = read_envelopes(&args.inputs, pii.as_ref(), &dead_letters)?;
    // Inputs before the window are context, as `--history` is; after it, left out.
    let (earlier, mut logs): (Vec<Envelope>, Vec<Envelope>) = logs
        .drain(..)
        .filter(|log| args.range.contains(log.event_time) || args.range.is_before(log.event_time))
        .partition(|log| args.range.is_before(log.event_time));
    logs.sort_by_key(Envelope::event_time_ms);
    let mut history = match args.history.is_empty() {
        true => Vec::new(),
        false => {
            read_envelopes(
                &args.history,
                pii.as_ref(),
                &args.out.join("history-dead-letter.jsonl"),
            )?
            .0
        }
    };
    history.extend(earlier);
    history.sort_by_key(Envelope::event_time_ms);
    let malicious: Vec<bool> = logs
        .iter()
        .map(|log| {
            labels
                .get(&log.event_id)
                .is_some_and(|label| label.malicious)
        })
        .collect();
    anyhow::ensure!(
        malicious.iter().any(|&m| m),
        "no log of the inputs is labelled malicious: give the simulation's labels.jsonl with --labels"
    );
    println!(
        "{} logs ({} attack logs), {} history logs, {rejected} dead letters",
        logs.len(),
        malicious.iter().filter(|&&m| m).count(),
        history.len()
    );

    let sigma = sigma_column(&config, &logs, &malicious)?;
    let novelty = novelty_column(&history, &logs, &malicious);
    let mut columns = Vec::new();
    if let Some(model_dir) = &model_dir {
        let [gpt, alone] = gpt_columns(args, &config, model_dir, &history, &logs, &malicious)?;
        let combined = combine(&gpt, &sigma);
        columns.extend([gpt, alone, combined]);
    }
    columns.extend([sigma, novelty]);

    let technique_of: Vec<Option<&str>> = logs
        .iter()
        .map(|log| {
            labels
                .get(&log.event_id)
                .filter(|label| label.malicious)
                .and_then(|label| label.technique.as_deref())
        })
        .collect();
    let techniques: BTreeSet<&str> = technique_of.iter().flatten().copied().collect();
    // Per technique: its attack logs against all benign logs.
    let per_technique: Vec<(&str, Vec<DetectionMetrics>)> = techniques
        .iter()
        .map(|&technique| {
            let metrics = columns
                .iter()
                .map(|column| {
                    let rows: Vec<Judged> = column
                        .judged
                        .iter()
                        .zip(&technique_of)
                        .filter(|(judged, of)| !judged.malicious || **of == Some(technique))
                        .map(|(judged, _)| *judged)
                        .collect();
                    evaluate(&rows)
                })
                .collect();
            (technique, metrics)
        })
        .collect();
    let mut figures = serde_json::Map::new();
    for (index, column) in columns.iter().enumerate() {
        let mut entry = serde_json::to_value(evaluate(&column.judged))?;
        entry["per_technique"] = per_technique
            .iter()
            .map(|(technique, metrics)| {
                let m = &metrics[index];
                (
                    technique.to_string(),
                    json!({"logs": m.malicious, "recall": m.recall, "pr_auc": m.pr_auc}),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        figures.insert(column.name.to_string(), entry);
    }
    let scenarios = per_scenario(&logs, &labels, &columns);
    let report = json!({
        "logs": logs.len(),
        "malicious": malicious.iter().filter(|&&m| m).count(),
        "alerts_per_10k_setting": config.gpt.alerts_per_10k,
        "detectors": figures,
        "scenarios": scenarios,
    });
    let json_path = args.out.join("detection.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("failed to write {}", json_path.display()))?;

    print_table(&metrics_table(&columns));
    for (scenario, entry) in &scenarios {
        let kind = match entry["malicious"].as_bool() {
            Some(true) => "attack",
            _ => "benign",
        };
        println!(
            "scenario {scenario} ({kind}): {} logs, alerted {}",
            entry["logs"], entry["alerted"]
        );
    }
    draw(&args.out, &columns, &per_technique)?;
    println!("figures: {}", json_path.display());
    println!("report: {}", args.out.join("index.html").display());
    Ok(std::process::ExitCode::SUCCESS)
}

/// Per labelled scenario: its logs and how many each detector alerted on (for a benign
/// one, such as an anticipated trip, every alert is a false one).
fn per_scenario(
    logs: &[Envelope],
    labels: &HashMap<String, LabelRow>,
    columns: &[Column],
) -> serde_json::Map<String, serde_json::Value> {
    let scenario_of: Vec<Option<&str>> = logs
        .iter()
        .map(|log| {
            labels
                .get(&log.event_id)
                .map(|label| label.scenario_id.as_str())
        })
        .collect();
    let scenarios: BTreeSet<&str> = scenario_of.iter().flatten().copied().collect();
    scenarios
        .into_iter()
        .map(|scenario| {
            let of = |i: &usize| scenario_of[*i] == Some(scenario);
            let alerted: serde_json::Map<String, serde_json::Value> = columns
                .iter()
                .map(|column| {
                    let count = (0..logs.len())
                        .filter(|i| of(i) && column.judged[*i].alerted)
                        .count();
                    (column.name.to_string(), count.into())
                })
                .collect();
            let count = (0..logs.len()).filter(of).count();
            let malicious = (0..logs.len())
                .find(of)
                .and_then(|i| labels.get(&logs[i].event_id))
                .is_some_and(|label| label.malicious);
            (
                scenario.to_string(),
                json!({"malicious": malicious, "logs": count, "alerted": alerted}),
            )
        })
        .collect()
}

fn load_labels(args: &EvalDetectionArgs) -> anyhow::Result<HashMap<String, LabelRow>> {
    let path: PathBuf = match &args.labels {
        Some(path) => path.clone(),
        None => args
            .inputs
            .iter()
            .map(|input| labels_beside(input))
            .find(|path| path.is_file())
            .context("no labels: pass --labels, or inputs with a labels.jsonl beside them")?,
    };
    Ok(read_labels(&path)?
        .into_iter()
        .map(|label| (label.event_id.clone(), label))
        .collect())
}

fn sigma_column(config: &Config, logs: &[Envelope], malicious: &[bool]) -> anyhow::Result<Column> {
    let mut detector = sigma_detector(config)?;
    let judged = logs
        .iter()
        .zip(malicious)
        .map(|(log, &malicious)| {
            let severity = detector
                .matching_rules(log)
                .into_iter()
                .map(|index| detector.rule(index).severity.id())
                .max()
                .unwrap_or(0);
            Judged {
                score: f64::from(severity),
                malicious,
                alerted: severity > 0,
            }
        })
        .collect();
    Ok(Column {
        name: "sigma",
        judged,
    })
}

fn novelty_column(history: &[Envelope], logs: &[Envelope], malicious: &[bool]) -> Column {
    let mut baseline = NoveltyBaseline::default();
    for log in history {
        baseline.learn(log);
    }
    let judged = logs
        .iter()
        .zip(malicious)
        .map(|(log, &malicious)| {
            let novel = baseline.score(log).len();
            Judged {
                score: novel as f64,
                malicious,
                alerted: novel > 0,
            }
        })
        .collect();
    Column {
        name: "novelty",
        judged,
    }
}

/// The GPT with entity evidence, and the same scores judged log by log. Its alerts
/// (grouped and explained, as `detect` writes them) go to `gpt-alerts.jsonl`.
fn gpt_columns(
    args: &EvalDetectionArgs,
    config: &Config,
    model_dir: &Path,
    history: &[Envelope],
    logs: &[Envelope],
    malicious: &[bool],
) -> anyhow::Result<[Column; 2]> {
    let device = model::device::parse(&args.device)?;
    let loaded = checkpoint::load(model_dir, &device)?;
    let mut detector = calibrated_detector(
        loaded,
        model_dir,
        history,
        args.batch_size,
        config.gpt.detector(),
        &device,
    )?;
    let threshold = config.gpt.alerts_per_10k / 10_000.0;
    let (rows, findings) = gpt_rows(&mut detector, logs)?;
    write_rows(&args.out.join("gpt-scores.jsonl"), &rows, malicious)?;
    write_findings(&args.out.join(GPT_ALERTS), &findings)?;
    let column = |name, probability: fn(&GptRow) -> f64| Column {
        name,
        judged: rows
            .iter()
            .zip(malicious)
            .map(|(row, &malicious)| Judged {
                score: (-probability(row).max(1e-300).log10()).min(MAX_GPT_SCORE),
                malicious,
                alerted: probability(row) <= threshold,
            })
            .collect(),
    };
    Ok([
        column("gpt", |row| row.probability),
        column("gpt-alone", |row| row.alone),
    ])
}

/// Where `eval detection` writes the GPT detector's alerts, one OCSF finding a line.
pub const GPT_ALERTS: &str = "gpt-alerts.jsonl";

fn write_findings(path: &Path, findings: &[DetectionFinding]) -> anyhow::Result<()> {
    let mut text = String::new();
    for finding in findings {
        text.push_str(&finding.to_ocsf().to_string());
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

/// The GPT detector over the model loaded from `model_dir` and its calibration, scoring
/// as `detect` would after `history` (in event-time order).
fn calibrated_detector(
    loaded: LoadedModel,
    model_dir: &Path,
    history: &[Envelope],
    batch_windows: usize,
    config: GptDetectorConfig,
    device: &model::Device,
) -> anyhow::Result<GptDetector> {
    let calibration = checkpoint::load_calibration(model_dir)?;
    let mut scorer = DeviationScorer::new(
        loaded.model,
        loaded.manifest.text_format,
        device.clone(),
        DeviationConfig {
            context: calibration.context,
            context_tokens: calibration.context_tokens,
            batch_windows,
            ..DeviationConfig::default()
        },
    );
    scorer.remember(&history.iter().collect::<Vec<_>>());
    Ok(GptDetector::new(
        scorer,
        calibration.calibration,
        calibration.weights,
        config,
    ))
}

/// The GPT detector's tail probability for each of `logs` (in event-time order) after
/// `history`, with the model loaded from `model_dir` and its calibration; 1 for a source
/// it was never calibrated on.
pub fn gpt_tail_probabilities(
    loaded: LoadedModel,
    model_dir: &Path,
    history: &[Envelope],
    logs: &[Envelope],
    batch_windows: usize,
    device: &model::Device,
) -> anyhow::Result<Vec<f64>> {
    let config = GptDetectorConfig {
        // Probabilities only: no alert is written, so none needs explaining.
        explain_fields: 0,
        ..GptDetectorConfig::default()
    };
    let mut detector =
        calibrated_detector(loaded, model_dir, history, batch_windows, config, device)?;
    let (rows, _) = gpt_rows(&mut detector, logs)?;
    Ok(rows.iter().map(|row| row.probability).collect())
}

/// One log as the GPT judged it.
struct GptRow {
    /// Tail probability alerts are set on (the entity evidence's, where the calibration
    /// has it); 1 for a source the calibration has never seen.
    probability: f64,
    /// The log's own tail probability, judged alone.
    alone: f64,
    /// What `gpt-scores.jsonl` says about it.
    detail: serde_json::Value,
}

/// Fields of a log named in `gpt-scores.jsonl`, most surprising first.
const DETAIL_FIELDS: usize = 5;

/// Logs judged per progress-bar step.
const CHUNK: usize = 64;

/// Each log's judgement, in the order of `logs` (already in event-time order), and the
/// detector's alerts.
fn gpt_rows(
    detector: &mut GptDetector,
    logs: &[Envelope],
) -> anyhow::Result<(Vec<GptRow>, Vec<DetectionFinding>)> {
    let mut rows = Vec::with_capacity(logs.len());
    let mut findings = Vec::new();
    let bar = crate::progress::bar(logs.len() as u64, "scoring with the GPT");
    for chunk in logs.chunks(CHUNK) {
        let refs: Vec<&Envelope> = chunk.iter().collect();
        for (log, judged) in chunk.iter().zip(detector.judge(&refs)) {
            rows.push(gpt_row(log, &judged));
            findings.extend(judged.finding);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((rows, findings))
}

fn gpt_row(log: &Envelope, judged: &model::detector::Judged) -> GptRow {
    let (deviation, judgement) = (&judged.deviation, judged.judgement.as_ref());
    let tail = judgement.map(|judgement| judgement.tail);
    let fields: Vec<_> = judgement
        .iter()
        .flat_map(|judgement| judgement.fields.iter().take(DETAIL_FIELDS))
        .map(|field| {
            json!({"field": field.path, "surprisal": field.surprisal, "tail_probability": field.probability})
        })
        .collect();
    GptRow {
        probability: judgement.map_or(1.0, Judgement::probability),
        alone: tail.map_or(1.0, |tail| tail.probability),
        detail: json!({
            "event_id": log.event_id,
            "time_ms": log.event_time_ms(),
            "source": log.source.name(),
            "user": log.user,
            "kind": deviation.calibration_kind(),
            "deviation": deviation.score,
            "anomaly": judgement.map(|judgement| judgement.anomaly),
            "context_tokens": deviation.request.context.len(),
            "tail_probability": tail.map(|tail| tail.probability),
            "baseline": tail.map(|tail| tail.baseline),
            "evidence": judgement
                .and_then(|judgement| judgement.evidence.as_ref())
                .map(EvidenceTail::summary),
            "alerted": judged.anomalous,
            "fields": fields,
        }),
    }
}

/// Writes every log's GPT judgement and label, for a look at what was missed and why.
fn write_rows(path: &Path, rows: &[GptRow], malicious: &[bool]) -> anyhow::Result<()> {
    let mut text = String::new();
    for (row, &malicious) in rows.iter().zip(malicious) {
        let mut detail = row.detail.clone();
        detail["malicious"] = json!(malicious);
        text.push_str(&detail.to_string());
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("failed to write {}", path.display()))
}

/// An alert from either. The ranking is the GPT's score raised by the Sigma severity
/// (1–5, on the GPT's −log10 scale: a critical rule counts as five orders of magnitude
/// of surprise); ranking every Sigma hit first would put noisy rules' alerts above the
/// GPT's surest ones (measured: PR-AUC 0.43 that way against the GPT's 0.78 alone).
fn combine(gpt: &Column, sigma: &Column) -> Column {
    let judged = gpt
        .judged
        .iter()
        .zip(&sigma.judged)
        .map(|(g, s)| Judged {
            score: g.score + s.score,
            malicious: g.malicious,
            alerted: g.alerted || s.alerted,
        })
        .collect();
    Column {
        name: "gpt+sigma",
        judged,
    }
}

/// The figures of every detector as a table, header first.
fn metrics_table(columns: &[Column]) -> Vec<Vec<String>> {
    let header = [
        "detector",
        "precision",
        "recall",
        "F1",
        "PR-AUC",
        "ROC-AUC",
        "alerts",
        "false alerts / 10k benign",
        "recall at ≤1 false / 10k",
    ];
    let mut table = vec![header.map(str::to_string).to_vec()];
    for column in columns {
        let m = evaluate(&column.judged);
        table.push(vec![
            column.name.to_string(),
            format!("{:.3}", m.precision),
            format!("{:.3}", m.recall),
            format!("{:.3}", m.f1),
            format!("{:.3}", m.pr_auc),
            format!("{:.3}", m.roc_auc),
            m.alerts.to_string(),
            format!("{:.1}", m.false_alerts_per_10k),
            format!("{:.3}", m.recall_at_1_per_10k),
        ]);
    }
    table
}

fn print_table(table: &[Vec<String>]) {
    let widths: Vec<usize> = (0..table[0].len())
        .map(|column| {
            table
                .iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(index, (cell, &width))| match index {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect();
        println!("{}", cells.join("  "));
    }
}

fn draw(
    out: &Path,
    columns: &[Column],
    per_technique: &[(&str, Vec<DetectionMetrics>)],
) -> anyhow::Result<()> {
    let curves: Vec<Series> = columns
        .iter()
        .map(|column| Series {
            name: format!(
                "{} (PR-AUC {:.3})",
                column.name,
                evaluate(&column.judged).pr_auc
            ),
            points: pr_curve(&column.judged),
        })
        .collect();
    line_chart(
        &out.join("pr.png"),
        "Precision and recall over the score threshold",
        ("recall", "precision"),
        (0.0..1.0, 0.0..1.05),
        &curves,
    )?;
    let mut images = vec!["pr.png".to_string()];
    for column in columns.iter().filter(|c| c.name == "gpt") {
        let split = |malicious: bool| -> Vec<f64> {
            column
                .judged
                .iter()
                .filter(|j| j.malicious == malicious)
                .map(|j| j.score)
                .collect()
        };
        let (benign, attacks) = (split(false), split(true));
        density_chart(
            &out.join("gpt-scores.png"),
            "GPT score (−log10 tail probability) of benign and attack logs",
            "−log10 tail probability",
            &[("benign", &benign), ("attack", &attacks)],
            60,
        )?;
        images.push("gpt-scores.png".to_string());
    }
    let table = metrics_table(columns);
    let mut technique_table = vec![
        std::iter::once("technique (attack logs)".to_string())
            .chain(
                columns
                    .iter()
                    .map(|c| format!("{}: recall / PR-AUC", c.name)),
            )
            .collect::<Vec<_>>(),
    ];
    technique_table.extend(per_technique.iter().map(|(technique, metrics)| {
        std::iter::once(format!(
            "{technique} ({})",
            metrics.first().map_or(0, |m| m.malicious)
        ))
        .chain(
            metrics
                .iter()
                .map(|m| format!("{:.2} / {:.2}", m.recall, m.pr_auc)),
        )
        .collect()
    }));
    write_page(
        &out.join("index.html"),
        "cyberlm detection evaluation",
        &[
            Section {
                heading: "Detectors".to_string(),
                text: "Each log judged on its own, in event-time order; figures also in detection.json.".to_string(),
                table,
                images,
            },
            Section {
                heading: "Per technique".to_string(),
                text: "Each technique's attack logs against all benign logs.".to_string(),
                table: technique_table,
                images: Vec::new(),
            },
        ],
    )
}
