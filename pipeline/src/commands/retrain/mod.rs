//! `cyberlm retrain`: the periodic retrain job (cron, a Kubernetes CronJob).
//!
//! Recorded logs, plus synthetic benign logs of the anticipated events, train a
//! candidate (from scratch, or fine-tuned from the published version); the candidate is
//! calibrated, then it and the published version are measured on the same held-out logs
//! ([`gate`]) and it is published into the registry only if it is no worse. A running
//! `cyberlm detect` then switches to it between two micro-batches.
//!
//! Muting alerts would hide a real breach that looks like the expected event; teaching
//! the model that the event is expected of this user keeps the same event by anyone
//! else surprising.
//!
//! Exit codes: 0 published, 3 the candidate was worse and the published version stays,
//! 75 another retrain holds the registry's lock (try later), 1 anything else.

pub mod anticipated;
pub mod gate;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use model::checkpoint::{self, Manifest, Pseudonyms};
use model::corpus::{Corpus, TrainingLog, fit_text_format};
use model::registry::{Registry, RegistryError};
use model::train::{TrainConfig, TrainRun, evaluate};
use operators::pii::PiiHasher;
use schemas::{Envelope, Source};
use serde_json::{Value, json};

use self::anticipated::Anticipated;
use self::gate::{Limits, Measured, decide};
use crate::cli::{RetrainArgs, SamplingArgs};
use crate::commands::calibrate::{self, Settings};
use crate::commands::eval::detection::gpt_tail_probabilities;
use crate::commands::generate::prompt_user;
use crate::commands::scenario::joiner::{Joining, Person, joiner_logs};
use crate::commands::scenario::new_service::{NewService, new_service_logs};
use crate::commands::scenario::travel::{TravelModels, Trip, travel_logs};
use crate::commands::train::train_with_progress;
use crate::config::Config;
use crate::files::{JsonlSink, labels_beside, malicious_event_ids, read_envelopes};
use crate::kafka::read_time_range;

/// The candidate was measured worse; the published version stays.
pub const EXIT_REJECTED: u8 = 3;
/// Another retrain holds the lock (`EX_TEMPFAIL`: a scheduler may try again later).
pub const EXIT_BUSY: u8 = 75;
/// Every this-many-th synthetic log is held out of training to measure the candidate.
const SYNTHETIC_HOLDOUT_EVERY: usize = 5;
/// Name of the synthetic logs in the version's folder.
pub const SYNTHETIC: &str = "anticipated.jsonl";
/// Name of the retrain's report in the version's folder.
pub const REPORT: &str = "retrain.json";

/// `cyberlm retrain`.
pub fn run(args: &RetrainArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.anticipated_share),
        "--anticipated-share is a share of windows: give a number from 0 to 1, not {}",
        args.anticipated_share
    );
    let registry = Registry::new(&args.registry);
    let lock = match registry.lock() {
        Ok(lock) => lock,
        Err(error @ RegistryError::Busy { .. }) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(EXIT_BUSY));
        }
        Err(error) => return Err(error.into()),
    };
    let (current_name, current_dir) = registry.current_dir()?;
    let device = model::device::parse(&args.device)?;
    let config = Config::load(args.config.as_deref())?;
    let current = checkpoint::read_manifest(&current_dir)?;
    let pii = config.pii.hasher_for_model(&current_dir, &current)?;
    let anticipated = match &args.anticipated {
        Some(path) => Anticipated::load(path)?,
        None => Anticipated::default(),
    };
    let (name, candidate_dir) = registry.new_candidate(&lock)?;
    println!(
        "retraining {current_name} into candidate {name} ({})",
        candidate_dir.display()
    );

    // The recorded logs: the latest share held out to measure both models on.
    let dead_letters = candidate_dir.join("dead-letter.jsonl");
    let (mut recorded, rejected) = match args.kafka {
        true => {
            let mut sink = JsonlSink::create(&dead_letters)?;
            let read = read_time_range(
                &config.kafka,
                args.range.since,
                args.range.until,
                pii.as_ref(),
                &mut sink,
            )?;
            sink.finish()?;
            read
        }
        false => {
            let (mut logs, rejected) = read_envelopes(&args.inputs, pii.as_ref(), &dead_letters)?;
            logs.retain(|log| args.range.contains(log.event_time));
            (logs, rejected)
        }
    };
    recorded.sort_by_key(Envelope::event_time_ms);
    anyhow::ensure!(
        !recorded.is_empty(),
        "no recorded log ({}) decodes within the time range; nothing to retrain on",
        match args.kafka {
            true => "the source topics".to_string(),
            false => format!("{:?}", args.inputs),
        }
    );
    let malicious = malicious_events(args)?;
    let held = ((recorded.len() as f64) * args.holdout.clamp(0.0, 0.5)).round() as usize;
    let holdout = recorded.split_off(recorded.len() - held);
    let attacks = read_attacks(&args.attacks, &malicious, pii.as_ref(), &candidate_dir)?;

    // Synthetic benign logs of the anticipated events.
    let synthetic = synthesise(
        args,
        &anticipated,
        &config,
        &current_dir,
        &recorded,
        pii.as_ref(),
        &device,
    )?;
    write_logs(&candidate_dir.join(SYNTHETIC), &synthetic)?;
    let (synthetic_train, synthetic_holdout): (Vec<_>, Vec<_>) = synthetic
        .iter()
        .enumerate()
        .partition(|(i, _)| i % SYNTHETIC_HOLDOUT_EVERY != SYNTHETIC_HOLDOUT_EVERY - 1);
    let synthetic_train: Vec<Envelope> = synthetic_train
        .into_iter()
        .map(|(_, log)| log.clone())
        .collect();
    let synthetic_holdout: HashSet<usize> = synthetic_holdout.iter().map(|(i, _)| *i).collect();
    println!(
        "{} recorded logs to train on, {} held out, {} labelled attack logs, {rejected} dead letters; {} synthetic logs of {} anticipated events ({} held out)",
        recorded.len(),
        holdout.len(),
        recorded
            .iter()
            .chain(&holdout)
            .chain(&attacks)
            .filter(|log| malicious.contains(&log.event_id))
            .count(),
        synthetic.len(),
        anticipated.travel.len(),
        synthetic_holdout.len()
    );

    // Train and calibrate the candidate.
    let benign = |logs: &[Envelope]| -> Vec<TrainingLog> {
        logs.iter()
            .filter(|log| !malicious.contains(&log.event_id))
            .map(|log| TrainingLog {
                envelope: log.clone(),
                technique: None,
                detected: None,
            })
            .collect()
    };
    let mut train_logs = benign(&recorded);
    train_logs.extend(benign(&synthetic_train));
    let validation_logs = benign(&holdout);
    let format = match args.fine_tune {
        true => current.text_format.clone(),
        false => fit_text_format(&train_logs, None),
    };
    let synthetic_ids: HashSet<&str> = synthetic_train
        .iter()
        .map(|log| log.event_id.as_str())
        .collect();
    let corpus = Corpus::build_favouring(&format, &train_logs, |log| {
        synthetic_ids.contains(log.envelope.event_id.as_str())
    });
    let validation = Corpus::build(&format, &validation_logs);
    let train_config = training_config(args, &current);
    println!(
        "{}: {} logs ({} tokens), {} steps",
        if args.fine_tune {
            format!("fine-tuning {current_name}")
        } else {
            "training from scratch".to_string()
        },
        corpus.logs(),
        corpus.tokens(),
        train_config.steps
    );
    let outcome = train_with_progress(TrainRun {
        model: current.model.clone(),
        train: train_config,
        text_format: format,
        corpus: &corpus,
        validation: &validation,
        checkpoint_dir: &candidate_dir,
        device: device.clone(),
        pseudonyms: Pseudonyms::of(pii.as_ref()),
        pause_at: None,
        start_from: args.fine_tune.then_some(current_dir.as_path()),
    })?;
    // The optimizer state only serves to resume this run; a version never trains again.
    let resume = candidate_dir.join("resume");
    std::fs::remove_dir_all(&resume)
        .with_context(|| format!("failed to remove {}", resume.display()))?;

    let current_calibration = checkpoint::load_calibration(&current_dir)?;
    // Real logs only. The weights learn that the anticipated event is expected of its
    // user; the calibration measures how surprising real benign traffic is. Calibrated
    // on the synthetic trip too, a CloudTrail call carrying a foreign country became
    // ordinary for everyone (an attacker's from Moscow: field tail probability 5e-4 ->
    // 2e-2), which is muting by the back door.
    let mut calibration_logs: Vec<Envelope> = recorded.iter().chain(&holdout).cloned().collect();
    calibration_logs.sort_by_key(Envelope::event_time_ms);
    let settings = Settings {
        context: current_calibration.context,
        context_tokens: Some(current_calibration.context_tokens),
        batch_windows: args.batch_windows,
        min_user_logs: args.min_user_logs,
        evidence: current_calibration
            .calibration
            .evidence
            .as_ref()
            .map(|evidence| evidence.settings),
    };
    calibrate::calibrate(
        &candidate_dir,
        &calibration_logs,
        &malicious,
        &settings,
        &device,
    )?;

    // Measure both on the same held-out logs, and decide.
    let judged = Judged::new(
        &holdout,
        &attacks,
        &synthetic,
        &synthetic_holdout,
        &malicious,
    );
    let threshold = config.gpt.alerts_per_10k / 10_000.0;
    let measure = |dir: &Path, what: &str| -> anyhow::Result<Measured> {
        println!("measuring {what}");
        judged.measure(dir, &recorded, &validation_logs, threshold, args, &device)
    };
    let before = measure(&current_dir, &format!("{current_name} (published)"))?;
    let after = measure(&candidate_dir, &format!("{name} (candidate)"))?;
    let limits = Limits {
        max_loss_increase: args.max_loss_increase,
        max_recall_drop: args.max_recall_drop,
    };
    let decision = decide(&before, &after, &limits);
    let report = json!({
        "version": name,
        "based_on": current_name,
        "mode": if args.fine_tune { "fine-tune" } else { "scratch" },
        "recorded": {
            "inputs": if args.kafka { json!("kafka") } else { json!(args.inputs) },
            "since": args.range.since,
            "until": args.range.until,
            "logs": recorded.len(),
            "held_out": holdout.len(),
            "dead_letters": rejected,
        },
        "anticipated": {
            "file": args.anticipated,
            "travel": anticipated.travel.iter().map(|t| json!({
                "user": t.user, "country": t.country, "from": t.from, "days": t.days,
                "behaviour": format!("{:?}", t.behaviour).to_lowercase(),
            })).collect::<Vec<_>>(),
            "synthetic_logs": synthetic.len(),
            "held_out": synthetic_holdout.len(),
        },
        "training": {
            "steps": outcome.manifest.state.step,
            "best_validation_loss": outcome.manifest.state.best_validation_loss,
            "stopped_early": outcome.manifest.state.stopped_early,
        },
        "alerts_per_10k_setting": config.gpt.alerts_per_10k,
        "published": before,
        "candidate": after,
        "limits": limits,
        "decision": decision,
    });
    let report_path = candidate_dir.join(REPORT);
    std::fs::write(&report_path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("failed to write {}", report_path.display()))?;

    print_comparison(&current_name, &before, &name, &after);
    for reason in &decision.reasons {
        println!("  {reason}");
    }
    if !decision.publish {
        registry.prune(args.keep, &lock)?;
        println!(
            "kept {current_name}: candidate {name} is worse; it stays in {} for inspection",
            candidate_dir.display()
        );
        return Ok(ExitCode::from(EXIT_REJECTED));
    }
    let published = registry.publish(&name, &lock)?;
    let pruned = registry.prune(args.keep, &lock)?;
    println!(
        "published {name} ({}); a running `cyberlm detect` switches to it between two batches{}",
        published.display(),
        match pruned.is_empty() {
            true => String::new(),
            false => format!("; removed {}", pruned.join(", ")),
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// The candidate's training settings: the published version's, with this run's steps
/// and, when fine-tuning, a lower peak learning rate and a short warm-up.
fn training_config(args: &RetrainArgs, current: &Manifest) -> TrainConfig {
    let mut config = current.training.clone();
    config.time_budget_s = 0;
    config.favoured_share = args.anticipated_share;
    if args.fine_tune {
        config.steps = args.steps.unwrap_or((config.steps / 4).max(1));
        config.learning_rate *= args.fine_tune_learning_rate;
        config.min_learning_rate *= args.fine_tune_learning_rate;
    } else if let Some(steps) = args.steps {
        config.steps = steps;
    }
    config.warmup_steps = config.warmup_steps.min(config.steps / 5);
    config.eval_every = config.eval_every.min(config.steps).max(1);
    config
}

/// Synthetic logs of every anticipated event, decoded as their sources, in event-time
/// order; `pii` pseudonymises users as the published model's logs were.
fn synthesise(
    args: &RetrainArgs,
    anticipated: &Anticipated,
    config: &Config,
    current_dir: &Path,
    history: &[Envelope],
    pii: Option<&PiiHasher>,
    device: &model::Device,
) -> anyhow::Result<Vec<Envelope>> {
    if anticipated.is_empty() {
        return Ok(Vec::new());
    }
    let mut written: Vec<(Source, Value)> = Vec::new();
    for (index, joiner) in anticipated.joiner.iter().enumerate() {
        let person = |named: &str, display: Option<&str>| Person::new(named, display, pii);
        let joining = Joining {
            joiner: person(&joiner.user, joiner.name.as_deref()),
            teammates: joiner
                .teammates
                .iter()
                .map(|named| person(named, None))
                .collect(),
            from: joiner.from,
            days: joiner.days,
        };
        let seed = args.sampling.seed.wrapping_add(index as u64);
        written.extend(
            joiner_logs(&joining, history, pii, seed)
                .with_context(|| format!("anticipated joiner {}", joiner.user))?,
        );
    }
    if !anticipated.travel.is_empty() || !anticipated.aws_service.is_empty() {
        let models = TravelModels::load(current_dir, &args.group_model, device, config)?;
        written.extend(generated(
            &models,
            anticipated,
            history,
            &args.sampling,
            pii,
            device,
        )?);
    }
    let mut logs = Vec::new();
    for (source, json) in written {
        match schemas::decode(source, json.to_string().as_bytes()) {
            Ok(envelope) => logs.push(envelope),
            Err(error) => tracing::warn!(
                message = "A synthetic log does not decode and is left out.",
                source = source.name(), %error
            ),
        }
    }
    logs.sort_by_key(Envelope::event_time_ms);
    Ok(logs)
}

/// The logs the models write: every anticipated trip's (the Dual-GPT) and every new AWS
/// service's.
fn generated(
    models: &TravelModels,
    anticipated: &Anticipated,
    history: &[Envelope],
    sampling: &SamplingArgs,
    pii: Option<&PiiHasher>,
    device: &model::Device,
) -> anyhow::Result<Vec<(Source, Value)>> {
    let mut logs = Vec::new();
    for travel in &anticipated.travel {
        let trip = Trip::new(
            &travel.user,
            &travel.country,
            travel.from,
            travel.days,
            travel.behaviour,
            pii,
        );
        let written = travel_logs(models, &trip, history, sampling, device)
            .with_context(|| format!("anticipated travel of {}", travel.user))?;
        logs.extend(written.logs);
    }
    for service in &anticipated.aws_service {
        let users = service
            .users
            .iter()
            .map(|named| prompt_user(named, pii))
            .collect();
        let new = NewService {
            users,
            named: service.users.clone(),
            event_source: service.service.clone(),
            events: service.events.clone(),
            from: service.from,
            days: service.days,
            share: service.share,
        };
        logs.extend(
            new_service_logs(&models.main, &new, history, sampling, device)
                .with_context(|| format!("anticipated use of {}", service.service))?,
        );
    }
    Ok(logs)
}

/// The held-out logs both models are judged on, in event-time order, and which of them
/// count for what.
struct Judged {
    logs: Vec<Envelope>,
    /// Per log: a labelled attack log.
    attack: Vec<bool>,
    /// Per log: a held-out synthetic log of an anticipated event.
    anticipated: Vec<bool>,
}

impl Judged {
    fn new(
        holdout: &[Envelope],
        attacks: &[Envelope],
        synthetic: &[Envelope],
        synthetic_holdout: &HashSet<usize>,
        malicious: &HashSet<String>,
    ) -> Self {
        // Every synthetic log is scored (each is context for the next); only the
        // held-out ones count.
        let mut tagged: Vec<(&Envelope, bool, bool)> = holdout
            .iter()
            .chain(attacks)
            .map(|log| (log, malicious.contains(&log.event_id), false))
            .collect();
        tagged.extend(
            synthetic
                .iter()
                .enumerate()
                .map(|(i, log)| (log, false, synthetic_holdout.contains(&i))),
        );
        tagged.sort_by_key(|(log, _, _)| log.event_time_ms());
        Judged {
            logs: tagged.iter().map(|(log, _, _)| (*log).clone()).collect(),
            attack: tagged.iter().map(|(_, attack, _)| *attack).collect(),
            anticipated: tagged.iter().map(|(_, _, held)| *held).collect(),
        }
    }

    /// The calibrated model in `dir`, after `history`, on these logs.
    fn measure(
        &self,
        dir: &Path,
        history: &[Envelope],
        validation: &[TrainingLog],
        threshold: f64,
        args: &RetrainArgs,
        device: &model::Device,
    ) -> anyhow::Result<Measured> {
        let loaded = checkpoint::load(dir, device)?;
        let corpus = Corpus::build(&loaded.manifest.text_format, validation);
        let starts = corpus.validation_starts(loaded.manifest.training.eval_windows);
        let validation_loss = evaluate(
            &loaded.model,
            &corpus,
            &starts,
            loaded.manifest.model.context,
            device,
        );
        let tails =
            gpt_tail_probabilities(loaded, dir, history, &self.logs, args.batch_windows, device)?;
        let alerted = |of: &[bool]| {
            of.iter()
                .zip(&tails)
                .filter(|(counts, tail)| **counts && **tail <= threshold)
                .count()
        };
        Ok(Measured {
            validation_loss,
            anticipated_logs: self.anticipated.iter().filter(|&&a| a).count(),
            anticipated_alerts: alerted(&self.anticipated),
            attack_logs: self.attack.iter().filter(|&&a| a).count(),
            attacks_alerted: alerted(&self.attack),
        })
    }
}

fn print_comparison(current: &str, before: &Measured, candidate: &str, after: &Measured) {
    let recall = |m: &Measured| m.recall().map_or("-".to_string(), |r| format!("{r:.3}"));
    println!(
        "{:<22} {:>15} {:>22} {:>14}",
        "", "validation loss", "anticipated alerts", "attack recall"
    );
    for (name, m) in [
        (format!("{current} (published)"), before),
        (format!("{candidate} (candidate)"), after),
    ] {
        println!(
            "{name:<22} {:>15.4} {:>22} {:>14}",
            m.validation_loss,
            format!("{} of {}", m.anticipated_alerts, m.anticipated_logs),
            recall(m)
        );
    }
}

/// Event ids labelled malicious in `--labels` and in the `labels.jsonl` of each
/// `--attacks` folder.
fn malicious_events(args: &RetrainArgs) -> anyhow::Result<HashSet<String>> {
    let mut paths: Vec<PathBuf> = args.labels.iter().cloned().collect();
    paths.extend(args.attacks.iter().map(|input| labels_beside(input)));
    let mut malicious = HashSet::new();
    for path in paths {
        if !path.is_file() {
            anyhow::bail!(
                "{} not found: recorded attacks need their labels (a labels.jsonl in the folder)",
                path.display()
            );
        }
        malicious.extend(malicious_event_ids(&path)?);
    }
    Ok(malicious)
}

/// The labelled attack logs of the `--attacks` recordings. Their benign logs are left
/// out: they are another stretch of time, and would only interleave with the recorded
/// days as context.
fn read_attacks(
    inputs: &[PathBuf],
    malicious: &HashSet<String>,
    pii: Option<&operators::pii::PiiHasher>,
    candidate_dir: &Path,
) -> anyhow::Result<Vec<Envelope>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let dead_letters = candidate_dir.join("attacks.dead-letter.jsonl");
    let (mut logs, _) = read_envelopes(inputs, pii, &dead_letters)?;
    logs.retain(|log| malicious.contains(&log.event_id));
    Ok(logs)
}

/// Writes `logs` as JSONL (the synthetic logs, for inspection).
fn write_logs(path: &Path, logs: &[Envelope]) -> anyhow::Result<()> {
    let mut sink = JsonlSink::create(path)?;
    for log in logs {
        sink.write(&log.json)?;
    }
    sink.finish()?;
    Ok(())
}
