//! `cyberlm train`: fit a GPT on raw logs (JSONL or Parquet), several sources merged into
//! per-user streams, and write a checkpoint that scoring and generation read back.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Context;
use model::checkpoint::Pseudonyms;
use model::corpus::{Corpus, TrainingLog, fit_text_format, split_by_time};
use model::train::{TrainConfig, TrainEvent, TrainOutcome, TrainRun, train};
use operators::fidelity::rule_firing::{Fired, rules_for};
use schemas::Source;

use crate::cli::TrainArgs;
use crate::commands::detect::sigma_detector;
use crate::config::Config;
use crate::files::read_labelled_logs;
use crate::progress;
use crate::report::{Series, line_chart};

/// The model shape a preset name stands for.
pub fn preset(name: &str) -> anyhow::Result<model::GptConfig> {
    model::GptConfig::preset(name).with_context(|| {
        format!(
            "unknown preset `{name}`; choose one of {:?}",
            model::PRESETS
        )
    })
}

/// `cyberlm train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let mut model_config = preset(&args.preset)?;
    if let Some(context) = args.context {
        model_config.context = context;
    }
    let device = model::device::parse(&args.device)?;

    let dead_letter_path = args.out.join("dead-letter.jsonl");
    let config = Config::load(args.config.as_deref())?;
    let pii = config.pii.hasher()?;
    let group = args
        .field_group
        .as_deref()
        .map(|name| config.field_group(name))
        .transpose()?;
    let (mut logs, rejected) = read_labelled_logs(
        &args.inputs,
        args.labels.as_deref(),
        &args.tagged,
        pii.as_ref(),
        &dead_letter_path,
    )?;
    logs.retain(|log| args.range.contains(log.envelope.event_time));
    if rejected > 0 {
        tracing::warn!(message = "Some logs do not decode and were left out of training.", rejected,
            file = %dead_letter_path.display());
    }
    anyhow::ensure!(
        !logs.is_empty(),
        "no log in {:?} decodes within the time range; nothing to train on",
        args.inputs
    );
    for (flag, share) in [
        ("--attack-share", args.attack_share),
        ("--start-share", args.start_share),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&share),
            "{flag} is a share of windows: give a number from 0 to 1, not {share}"
        );
    }
    let attack_logs = logs.iter().filter(|log| log.technique.is_some()).count();
    if attack_logs > 0 {
        tracing::info!(
            message = "Technique-tagged attack logs.",
            logs = attack_logs
        );
        if group.is_none() {
            mark_detected(&mut logs, &config);
        }
    } else if args.attack_share > 0.0 {
        tracing::warn!(
            "--attack-share has no effect: no log is tagged with a technique (give --labels or --tagged)"
        );
    }
    if let Some(group) = &group {
        logs.retain_mut(|log| {
            let selected = group.select(log.envelope.source, &log.envelope.json);
            selected.map(|json| log.envelope.json = json).is_some()
        });
        anyhow::ensure!(
            !logs.is_empty(),
            "no log of {:?} holds a field of group {:?} ({:?})",
            args.inputs,
            group.name,
            group.fields
        );
        tracing::info!(
            message = "Training a group model.",
            group = group.name.as_str(),
            logs = logs.len()
        );
    }
    let (train_logs, validation_logs) = split_by_time(logs, args.validation);

    // A fine-tune reads the logs as its weights learned to: the start model's format.
    let format = match &args.fine_tune_from {
        Some(dir) => {
            let manifest = model::checkpoint::read_manifest(dir)
                .with_context(|| format!("reading the model to fine-tune {}", dir.display()))?;
            anyhow::ensure!(
                manifest.text_format.group == group,
                "{} is not a model of the field group asked for ({:?}); fine-tune a model with the same --field-group",
                dir.display(),
                group.as_ref().map(|group| group.name.as_str())
            );
            manifest.text_format
        }
        None => fit_text_format(&train_logs, group),
    };
    let corpus = Corpus::build(&format, &train_logs);
    let validation = Corpus::build(&format, &validation_logs);
    for source in Source::ALL {
        let count = train_logs
            .iter()
            .filter(|log| log.envelope.source == source)
            .count();
        if count > 0 {
            tracing::info!(
                message = "Training logs.",
                source = source.name(),
                logs = count,
                constant_fields_dropped = format.projection.dropped(source)
            );
        }
    }
    println!(
        "training on {} logs ({} tokens), validating on {} logs ({} tokens); model {} ({:.2}M parameters, context {})",
        corpus.logs(),
        corpus.tokens(),
        validation.logs(),
        validation.tokens(),
        args.preset,
        model_config.parameters() as f64 / 1e6,
        model_config.context
    );

    let defaults = TrainConfig::default();
    let train_config = TrainConfig {
        steps: args.steps,
        batch_size: args.batch_size,
        grad_accumulation: args.grad_accumulation,
        learning_rate: args.learning_rate,
        min_learning_rate: args.learning_rate / 10.0,
        warmup_steps: args.warmup_steps.min(args.steps / 5),
        eval_every: args.eval_every,
        seed: args.seed,
        time_budget_s: args.time_budget_s,
        favoured_share: args.attack_share,
        start_share: args.start_share,
        start_share_from: args.start_share_from,
        ..defaults
    };
    let outcome = train_with_progress(TrainRun {
        model: model_config,
        train: train_config,
        text_format: format,
        corpus: &corpus,
        validation: &validation,
        checkpoint_dir: &args.out,
        device,
        pseudonyms: Pseudonyms::of(pii.as_ref()),
        pause_at: None,
        start_from: args.fine_tune_from.as_deref(),
    })?;

    let state = &outcome.manifest.state;
    let throughput = state.history.last().map_or(0.0, |e| e.tokens_per_second);
    println!(
        "{} at step {}: best validation loss {:.4} nats/byte (step {}), {:.0} training tokens/s{}",
        if outcome.resumed {
            "resumed run finished"
        } else {
            "finished"
        },
        state.step,
        state.best_validation_loss.unwrap_or(f32::NAN),
        state.best_step,
        throughput,
        if state.stopped_early {
            ", stopped early"
        } else {
            ""
        }
    );
    println!("model: {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Says of each technique's log whether a Sigma rule tagged with its technique fires on
/// it (the config's rules), so the model learns which steps of an attack rules see and a
/// red team can ask for them (`generate --detected`). Techniques no rule is tagged with
/// stay unmarked. Without rules the logs stay unmarked, with a warning: training goes on.
fn mark_detected(logs: &mut [TrainingLog], config: &Config) {
    let mut detector = match sigma_detector(config) {
        Ok(detector) => detector,
        Err(error) => {
            tracing::warn!(
                message = "No Sigma rules: the model will not know which logs of a technique its rules fire on (generate --detected).",
                error = format!("{error:#}")
            );
            return;
        }
    };
    let mut has_rules: HashMap<String, bool> = HashMap::new();
    let (mut marked, mut detected) = (0usize, 0usize);
    for log in logs.iter_mut() {
        let Some(technique) = log.technique.as_deref() else {
            continue;
        };
        let ruled = *has_rules
            .entry(technique.to_string())
            .or_insert_with(|| !rules_for(&detector, technique).is_empty());
        if ruled {
            let fires = Fired::of(&mut detector, &log.envelope).detects(technique);
            log.detected = Some(fires);
            marked += 1;
            detected += usize::from(fires);
        }
    }
    tracing::info!(
        message = "Technique logs marked by whether a rule of their technique fires on them.",
        marked,
        detected,
        techniques_with_rules = has_rules.values().filter(|&&ruled| ruled).count(),
        techniques_without = has_rules.values().filter(|&&ruled| !ruled).count()
    );
}

/// Runs `run` with a progress bar (loss, validation loss, tokens/s, ETA) and a log line
/// per validation.
pub fn train_with_progress(run: TrainRun<'_>) -> anyhow::Result<TrainOutcome> {
    let chart = run.checkpoint_dir.join("loss.png");
    let bar = progress::steps_bar(run.train.steps as u64, "training");
    let mut last_validation = None;
    let outcome = train(run, |event| match event {
        TrainEvent::Step {
            step,
            loss,
            tokens_per_second,
            ..
        } => {
            bar.set_position(*step as u64);
            let validation = last_validation.map_or(String::new(), |v: f32| format!(" val {v:.3}"));
            bar.set_message(format!(
                "loss {loss:.3}{validation} {:.1}k tok/s",
                tokens_per_second / 1e3
            ));
        }
        TrainEvent::Evaluated {
            step,
            validation_loss,
            improved,
        } => {
            last_validation = Some(*validation_loss);
            bar.suspend(|| tracing::info!(message = "Validated.", step, validation_loss, improved));
        }
        TrainEvent::EarlyStop { step } => bar.suspend(|| {
            tracing::info!(
                message = "Stopped early: validation loss stopped improving.",
                step
            )
        }),
    })?;
    bar.finish_and_clear();
    // A chart is for people; training succeeded whether or not it could be drawn.
    match draw_loss_curve(&chart, &outcome.manifest.state.history) {
        Ok(true) => tracing::info!(message = "Drew the loss curve.", path = %chart.display()),
        Ok(false) => {}
        Err(error) => tracing::warn!(message = "Could not draw the loss curve.", %error),
    }
    Ok(outcome)
}

/// Training and validation loss at each evaluation, as a PNG; `false` (nothing drawn)
/// before the first evaluation.
fn draw_loss_curve(
    path: &std::path::Path,
    history: &[model::checkpoint::EvalRecord],
) -> anyhow::Result<bool> {
    let Some(last) = history.last() else {
        return Ok(false);
    };
    let losses = history
        .iter()
        .flat_map(|record| [record.train_loss, record.validation_loss])
        .filter(|loss| loss.is_finite());
    let (low, high) = losses.fold((f64::MAX, f64::MIN), |(low, high), loss| {
        (low.min(f64::from(loss)), high.max(f64::from(loss)))
    });
    if low > high {
        return Ok(false);
    }
    let margin = ((high - low) * 0.05).max(0.01);
    let line = |name: &str, loss: fn(&model::checkpoint::EvalRecord) -> f32| Series {
        name: name.to_string(),
        points: history
            .iter()
            .map(|record| (record.step as f64, f64::from(loss(record))))
            .filter(|(_, loss)| loss.is_finite())
            .collect(),
    };
    line_chart(
        path,
        "Loss by optimizer step",
        ("step", "loss (nats per byte)"),
        (
            0.0..(last.step as f64).max(1.0),
            (low - margin).max(0.0)..high + margin,
        ),
        &[
            line("training", |record| record.train_loss),
            line("validation", |record| record.validation_loss),
        ],
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use model::checkpoint::EvalRecord;

    use super::draw_loss_curve;

    fn record(step: usize, train_loss: f32, validation_loss: f32) -> EvalRecord {
        EvalRecord {
            step,
            train_loss,
            validation_loss,
            tokens_per_second: 1000.0,
        }
    }

    #[test]
    fn the_loss_curve_is_drawn_once_there_is_an_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        assert!(!draw_loss_curve(&path, &[]).unwrap());
        assert!(!path.exists());
        let history = [
            record(50, 2.4, 2.5),
            record(100, 1.9, f32::NAN),
            record(150, 1.5, 1.6),
        ];
        assert!(draw_loss_curve(&path, &history).unwrap());
        let png = std::fs::read(&path).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
