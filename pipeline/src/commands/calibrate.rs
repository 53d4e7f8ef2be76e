//! `cyberlm calibrate`: scores benign logs with a trained model, as the GPT detector will
//! score the stream, and stores the score distributions beside the weights, so the
//! detector can turn a score into "this share of benign logs of this kind, or of this
//! user, is as surprising" and alert at a chosen rate.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;

use model::Device;
use model::checkpoint::{self, CalibrationFile};
use model::deviation::{ContextMode, DeviationConfig, DeviationScorer};
use operators::calibration::CalibrationBuilder;
use operators::entity_evidence::EvidenceSettings;
use schemas::Envelope;

use crate::cli::{CalibrateArgs, ScoreContext};
use crate::commands::score::score_in_order;
use crate::config::Config;
use crate::files::{labels_beside, malicious_event_ids, read_envelopes};

/// `cyberlm calibrate`.
pub fn run(args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !model::registry::Registry::is_registry(&args.model),
        "{} is a model registry, whose versions never change: calibrate a model folder, then publish it with `cyberlm publish`",
        args.model.display()
    );
    let device = model::device::parse(&args.device)?;
    let manifest = checkpoint::read_manifest(&args.model)?;
    let malicious = malicious_events(args)?;
    let dead_letter_path = args.model.join("calibration.dead-letter.jsonl");
    let pii = Config::load(args.config.as_deref())?
        .pii
        .hasher_for_model(&args.model, &manifest)?;
    let (mut logs, rejected) = read_envelopes(&args.inputs, pii.as_ref(), &dead_letter_path)?;
    logs.retain(|log| args.range.contains(log.event_time));
    logs.sort_by_key(schemas::Envelope::event_time_ms);
    warn_if_shorter_than_a_week(&logs);
    let settings = Settings {
        context: args.context.into(),
        context_tokens: args.context_tokens,
        batch_windows: args.batch_size,
        min_user_logs: args.min_user_logs,
        evidence: (args.evidence_window_s > 0).then(|| EvidenceSettings {
            window_ms: i64::try_from(args.evidence_window_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            // The single-source context sums evidence per source too: a comparison of
            // the two contexts then measures the whole of what the merged stream adds.
            per_source: args.context == ScoreContext::UserSource,
            ..EvidenceSettings::default()
        }),
    };
    let file = calibrate(&args.model, &logs, &malicious, &settings, &device)?;
    let calibration = &file.calibration;
    println!(
        "calibrated on {} benign logs ({} labelled attack logs left out, {rejected} dead letters): {} sources, {} event types, {} field distributions, {} user baselines",
        file.logs,
        logs.len() as u64 - file.logs,
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
    if let Some(evidence) = &calibration.evidence {
        let distribution = &evidence.distribution;
        println!(
            "  entity evidence over {} s: {:.1}% of benign logs have some; p99 {:.1} nats, tail scale {:.1}",
            evidence.settings.window_ms / 1000,
            100.0 * distribution.tail_probability(f32::MIN_POSITIVE),
            distribution.quantiles[99],
            distribution.tail_scale
        );
    }
    println!(
        "calibration: {}",
        args.model.join(checkpoint::CALIBRATION).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// How a calibration scores.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Which preceding logs each log is scored after (the detector then does the same).
    pub context: ContextMode,
    /// At most this many context tokens (`None`: the model's context).
    pub context_tokens: Option<usize>,
    /// Windows per model call.
    pub batch_windows: usize,
    /// Benign logs of a kind a user needs for a baseline of their own.
    pub min_user_logs: usize,
    /// How users' and addresses' unusual logs add up; `None` judges each log alone.
    pub evidence: Option<EvidenceSettings>,
}

/// Scores `logs` (in event-time order) with the model in `dir` as the GPT detector
/// will, fits the score distributions of the benign ones (not in `malicious`) and
/// stores them beside the weights.
pub fn calibrate(
    dir: &Path,
    logs: &[Envelope],
    malicious: &HashSet<String>,
    settings: &Settings,
    device: &Device,
) -> anyhow::Result<CalibrationFile> {
    let loaded = checkpoint::load(dir, device)?;
    let weights = checkpoint::weights_fingerprint(dir)?;
    let context_tokens = settings
        .context_tokens
        .unwrap_or(loaded.model.context())
        .min(loaded.model.context());
    let mut scorer = DeviationScorer::new(
        loaded.model,
        loaded.manifest.text_format,
        device.clone(),
        DeviationConfig {
            context: settings.context,
            context_tokens,
            batch_windows: settings.batch_windows,
            ..DeviationConfig::default()
        },
    );
    let mut builder = CalibrationBuilder::default();
    let mut benign = 0u64;
    // Attack logs still pass through the scorer: they are context for what follows.
    score_in_order(&mut scorer, logs, "calibrating", |envelope, deviation| {
        if !malicious.contains(&envelope.event_id) {
            benign += 1;
            let kind = deviation.calibration_kind();
            builder.add(&deviation.scored(envelope, &kind));
        }
        Ok(())
    })?;
    anyhow::ensure!(benign > 0, "no benign logs to calibrate on");
    let file = CalibrationFile {
        weights,
        context: settings.context,
        context_tokens,
        logs: benign,
        calibration: builder.fit(settings.min_user_logs, settings.evidence),
    };
    checkpoint::save_calibration(dir, &file)?;
    Ok(file)
}

/// Weekday and hour reach the model through the header, so a calibration that never saw
/// a Saturday makes every Saturday look unusual (measured: three weekdays of calibration
/// gave 132 false alerts per 10,000 on the next week at a setting of 1, most of them
/// led by `header.weekday`). Checked by weekday, not by span: a full week of office
/// hours spans only about 6.7 days.
fn warn_if_shorter_than_a_week(logs: &[schemas::Envelope]) {
    let missing = missing_weekdays(logs);
    if !missing.is_empty() && !logs.is_empty() {
        eprintln!(
            "warning: the calibration logs have no {}; calibrate on at least a full week, \
             or days of the week it never saw will raise false alerts",
            missing.join(", ")
        );
    }
}

/// Weekdays (UTC, as the header's) on which none of `logs` happened.
fn missing_weekdays(logs: &[schemas::Envelope]) -> Vec<String> {
    use chrono::Datelike;
    let mut seen = [false; 7];
    for log in logs {
        seen[log.event_time.weekday().num_days_from_monday() as usize] = true;
    }
    (0..7u8)
        .filter(|&day| !seen[usize::from(day)])
        .filter_map(|day| chrono::Weekday::try_from(day).ok())
        .map(|day| day.to_string())
        .collect()
}

/// Event ids of the labelled attack logs: from `--labels`, or a `labels.jsonl` beside
/// (or in) the inputs.
fn malicious_events(args: &CalibrateArgs) -> anyhow::Result<HashSet<String>> {
    let path = args.labels.clone().or_else(|| {
        args.inputs
            .iter()
            .map(|input| labels_beside(input))
            .find(|path| path.is_file())
    });
    match path {
        Some(path) => malicious_event_ids(&path),
        None => Ok(HashSet::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_week_of_office_hours_misses_no_weekday() {
        let log = |day: u32, hour: u32| {
            let raw = format!(r#"{{"eventTime":"2026-11-{day:02}T{hour:02}:00:00Z"}}"#);
            schemas::decode(schemas::Source::CloudTrail, raw.as_bytes()).unwrap()
        };
        // Monday 16 November 08:00 to Sunday 22 November 18:00: 6.4 days apart.
        let week: Vec<_> = (16..=22)
            .map(|day| log(day, if day == 16 { 8 } else { 18 }))
            .collect();
        assert!(missing_weekdays(&week).is_empty());
        let three_days: Vec<_> = (16..=18).map(|day| log(day, 9)).collect();
        assert_eq!(missing_weekdays(&three_days), ["Thu", "Fri", "Sat", "Sun"]);
    }
}
