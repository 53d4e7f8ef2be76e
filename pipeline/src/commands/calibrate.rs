//! `cyberlm calibrate`: scores benign logs with a trained model, as the GPT detector will
//! score the stream, and stores the score distributions beside the weights, so the
//! detector can turn a score into "this share of benign logs of this kind, or of this
//! user, is as surprising" and alert at a chosen rate.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;

use model::checkpoint::{self, CalibrationFile};
use model::deviation::{DeviationConfig, DeviationScorer};
use operators::calibration::CalibrationBuilder;

use crate::cli::CalibrateArgs;
use crate::commands::score::score_in_order;
use crate::config::Config;
use crate::files::{read_envelopes, read_labels};

/// `cyberlm calibrate`.
pub fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let device = model::device::parse(&args.device)?;
    let loaded = checkpoint::load(&args.model, &device)?;
    let weights = checkpoint::weights_fingerprint(&args.model)?;
    let malicious = malicious_events(args)?;
    let dead_letter_path = args.model.join("calibration.dead-letter.jsonl");
    let pii = Config::load(args.config.as_deref())?
        .pii
        .hasher_for_model(&args.model, &loaded.manifest)?;
    let (mut logs, rejected) = read_envelopes(&args.inputs, pii.as_ref(), &dead_letter_path)?;
    logs.sort_by_key(schemas::Envelope::event_time_ms);
    warn_if_shorter_than_a_week(&logs);
    let context_tokens = args
        .context_tokens
        .unwrap_or(loaded.model.context())
        .min(loaded.model.context());
    let mut scorer = DeviationScorer::new(
        loaded.model,
        loaded.manifest.text_format,
        device,
        DeviationConfig {
            context: args.context.into(),
            context_tokens,
            batch_windows: args.batch_size,
            ..DeviationConfig::default()
        },
    );
    let mut builder = CalibrationBuilder::default();
    let (mut benign, mut left_out) = (0u64, 0u64);
    // Attack logs still pass through the scorer: they are context for what follows.
    score_in_order(&mut scorer, &logs, "calibrating", |envelope, deviation| {
        if malicious.contains(&envelope.event_id) {
            left_out += 1;
        } else {
            benign += 1;
            let kind = deviation.calibration_kind();
            builder.add(&deviation.scored(envelope, &kind));
        }
        Ok(())
    })?;
    anyhow::ensure!(benign > 0, "no benign logs to calibrate on");
    let calibration = builder.fit(args.min_user_logs);
    println!(
        "calibrated on {benign} benign logs ({left_out} labelled attack logs left out, {rejected} dead letters): {} sources, {} event types, {} field distributions, {} user baselines",
        calibration.anomalies.sources.len(),
        calibration.anomalies.kinds.len(),
        calibration.fields.len(),
        calibration.anomalies.users.len()
    );
    for (source, distribution) in &calibration.totals.sources {
        println!(
            "  {source:<11} {:>7} logs  surprisal median {:>6.1} nats  p99 {:>6.1}  tail scale {:.1}",
            distribution.count,
            distribution.quantiles[50],
            distribution.quantiles[99],
            distribution.tail_scale
        );
    }
    checkpoint::save_calibration(
        &args.model,
        &CalibrationFile {
            weights,
            context: args.context.into(),
            context_tokens,
            logs: benign,
            calibration,
        },
    )?;
    println!(
        "calibration: {}",
        args.model.join("calibration.json").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Weekday and hour reach the model through the header, so a calibration that never saw
/// a Saturday makes every Saturday look unusual (measured: three weekdays of calibration
/// gave 132 false alerts per 10,000 on the next week at a setting of 1, most of them
/// led by `header.weekday`).
fn warn_if_shorter_than_a_week(logs: &[schemas::Envelope]) {
    const WEEK_MS: i64 = 7 * 24 * 3_600_000;
    let (Some(first), Some(last)) = (logs.first(), logs.last()) else {
        return;
    };
    let span = last.event_time_ms() - first.event_time_ms();
    if span < WEEK_MS - 3_600_000 {
        eprintln!(
            "warning: the calibration logs span {:.1} days; calibrate on at least a full week, \
             or days of the week it never saw will raise false alerts",
            span as f64 / 86_400_000.0
        );
    }
}

/// Event ids of the labelled attack logs: from `--labels`, or a `labels.jsonl` beside
/// (or in) the inputs.
fn malicious_events(args: &CalibrateArgs) -> anyhow::Result<HashSet<String>> {
    let path = args.labels.clone().or_else(|| {
        args.inputs
            .iter()
            .map(|input| match input.is_dir() {
                true => input.join("labels.jsonl"),
                false => input
                    .parent()
                    .map_or_else(|| PathBuf::from("labels.jsonl"), |p| p.join("labels.jsonl")),
            })
            .find(|path| path.is_file())
    });
    let Some(path) = path else {
        return Ok(HashSet::new());
    };
    Ok(read_labels(&path)?
        .into_iter()
        .filter(|label| label.malicious)
        .map(|label| label.event_id)
        .collect())
}
