//! `cyberlm eval generation`: do generated logs hold up against the real ones?
//!
//! Per source: are they logs (parse as JSON, decode as the source with every field every
//! real log has), do their categorical fields follow the real distributions (total
//! variation distance, values the model never produces), did the prompt's user and country
//! stick, and are they new logs rather than copies of training logs (exact copies, ROUGE-1
//! and cosine similarity to the nearest training log, distance to the closest record
//! against held-out real logs). Each distance comes with the same figure for real logs the
//! model never saw, so sampling noise is not mistaken for infidelity.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use model::corpus::TrainingLog;
use operators::fidelity::rule_firing::rules_for;
use operators::fidelity::time_of_week;
use operators::fidelity::{
    Agreement, Dependencies, FieldFidelity, Fired, FiringRate, KnownLocations, Nearest,
    RealLogIndex, RequiredFields, Validity, categorical_fields, compare, compare_times, mean_tvd,
};
use operators::sigma::SigmaDetector;
use rand::SeedableRng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schemas::{Envelope, Source};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::EvalGenerationArgs;
use crate::commands::detect::sigma_detector;
use crate::commands::generate::prompt_user;
use crate::config::Config;
use crate::files::{expand_inputs, read_labelled_logs, read_raw_logs};
use crate::quota::by_quota;
use crate::report::{Section, bar_chart, density_chart, write_page};

/// The targets of the generation issue ([5/7]).
const TARGET_SCHEMA_VALID: f64 = 0.99;
const TARGET_TVD: f64 = 0.05;
const TARGET_EXACT_COPIES: f64 = 0.01;
/// Share of red-team logs that must fire a rule tagged with their technique.
const TARGET_TECHNIQUE_RULE: f64 = 0.95;
/// How many draws of the real logs a field's floor TVD averages
/// ([`FieldFidelity::floor_tvd`]).
const FLOOR_DRAWS: usize = 10;
/// Values drawn per field chart.
const CHART_VALUES: usize = 15;
/// Held-out logs per source looked up against the training logs (each look-up is a pass
/// over them).
const HOLDOUT_LOOKUPS: usize = 500;

/// One generated log, judged.
struct Generated {
    source: Option<Source>,
    validity: Validity,
    /// The log, when it is a JSON object.
    json: Option<Value>,
    /// Its user and country, when it decodes as its source.
    user: Option<String>,
    country: Option<String>,
    /// Its event time, when it decodes as its source.
    event_time: Option<DateTime<Utc>>,
    /// The Sigma rules it fires.
    fired: Fired,
}

/// Quantiles of one measure.
#[derive(Debug, Serialize)]
struct Quantiles {
    p5: f64,
    median: f64,
    p95: f64,
    max: f64,
}

impl Quantiles {
    fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        (!sorted.is_empty()).then(|| Quantiles {
            p5: at(0.05),
            median: at(0.5),
            p95: at(0.95),
            max: at(1.0),
        })
    }
}

/// How close the generated logs come to the training logs.
#[derive(Debug, Serialize)]
struct Memorisation {
    training_logs: usize,
    exact_copies: f64,
    /// The same for held-out real logs: how often an unseen real log repeats a training
    /// log anyway (a simulated or very regular estate repeats itself).
    holdout_exact_copies: Option<f64>,
    rouge1: Option<Quantiles>,
    cosine: Option<Quantiles>,
    /// Distance to the closest training log (1 − cosine), generated logs.
    distance: Option<Quantiles>,
    /// The same for held-out real logs: how close an unseen real log comes anyway.
    holdout_distance: Option<Quantiles>,
    /// Share of generated logs closer to a training log than 95% of held-out logs are.
    closer_than_holdout_p5: Option<f64>,
}

/// Everything measured for one source.
#[derive(Debug, Serialize)]
struct SourceReport {
    #[serde(skip)]
    kind: Source,
    source: &'static str,
    generated: usize,
    json_valid: f64,
    schema_valid: f64,
    invalid_reasons: BTreeMap<String, usize>,
    user_accuracy: Option<f64>,
    country_accuracy: Option<f64>,
    /// Share of the generated logs that record a location whose location (every location
    /// field together) occurs in a real log (of the prompted country, when one is given).
    known_locations: Option<f64>,
    real_logs: usize,
    reference_logs: usize,
    reference: &'static str,
    worst_tvd: Option<f64>,
    fields_within_target: usize,
    /// Fields with no real value of >= 1% missing whose TVD is within the target or
    /// within their reference TVD: as close as another sample of real logs comes.
    fields_within_reference: usize,
    /// Fields whose reference TVD (the held-out or sampled real logs) is within the
    /// target: how many the target can be met on at this sample size.
    reference_fields_within_target: usize,
    /// Fields whose floor TVD (as many real logs, drawn user by user as `generate` draws
    /// them) is within the target: how many a model writing exactly the real
    /// distribution would have within it at this count.
    floor_fields_within_target: usize,
    fields: Vec<FieldFidelity>,
    /// The hour of the day and the weekday of the event times, compared as fields are
    /// (not counted among `fields`: they are not fields of the logs).
    time_of_week: Vec<FieldFidelity>,
    /// Whether the generated logs keep the dependencies between fields that every real
    /// log of the source keeps (a failure code with a failure status).
    agreement: Option<Agreement>,
    /// The share of the reference logs that keep them: what real logs not fitted on give.
    reference_agreement: Option<f64>,
    memorisation: Memorisation,
    rules: RuleReport,
}

/// Which Sigma rules the generated logs fire, against the real logs.
#[derive(Debug, Default, Serialize)]
struct RuleReport {
    /// The technique asked for (pre-v19 id).
    technique: Option<String>,
    /// The enabled rules tagged with it: none means the target does not apply.
    rules_for_technique: Option<Vec<String>>,
    generated: FiringRate,
    /// Real logs of the technique (`--labels`, `--tagged`).
    real_technique: Option<FiringRate>,
    /// Real logs of no technique.
    real_benign: FiringRate,
    /// Rule id → generated logs it fired on.
    generated_rules: BTreeMap<String, usize>,
}

/// `cyberlm eval generation`.
pub fn run(args: &EvalGenerationArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let asked_source: Option<Source> = args
        .source
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::from)?;
    // Generated logs hold pseudonyms when the training logs did: compare them with real
    // logs pseudonymised the same way.
    let config = Config::load(args.config.as_deref())?;
    let pii = config.pii.hasher()?;
    let asked_technique = args.technique.as_deref().map(operators::attack::canonical);
    let asked_user = args
        .user
        .as_deref()
        .map(|user| prompt_user(user, pii.as_ref()));
    let asked_country = args.country.as_ref().map(|country| country.to_uppercase());

    let (real, _) = read_labelled_logs(
        &args.real,
        args.labels.as_deref(),
        &args.tagged,
        pii.as_ref(),
        &args.out.join("real-dead-letter.jsonl"),
    )?;
    anyhow::ensure!(!real.is_empty(), "no real log decoded from --real");
    let (real, real_techniques) = split_techniques(real);
    let mut sigma = sigma_detector(&config)?;
    let real_fired: Vec<Fired> = real.iter().map(|log| Fired::of(&mut sigma, log)).collect();
    let (holdout, holdout_techniques) = match args.holdout.is_empty() {
        true => (Vec::new(), Vec::new()),
        false => split_techniques(
            read_labelled_logs(
                &args.holdout,
                args.holdout_labels.as_deref(),
                &[],
                pii.as_ref(),
                &args.out.join("holdout-dead-letter.jsonl"),
            )?
            .0,
        ),
    };
    let required = RequiredFields::fit(real.iter().map(|log| (log.source, &log.json)));
    let generated = read_generated(args, asked_source, &required, &mut sigma)?;
    anyhow::ensure!(!generated.is_empty(), "no generated log to judge");
    let unattributed = generated.iter().filter(|g| g.source.is_none()).count();
    println!(
        "{} generated logs ({unattributed} of no recognisable source), {} real, {} held out",
        generated.len(),
        real.len(),
        holdout.len()
    );

    let mut reports = Vec::new();
    for source in Source::ALL {
        let of_source: Vec<&Generated> = generated
            .iter()
            .filter(|g| g.source == Some(source))
            .collect();
        if of_source.is_empty() {
            continue;
        }
        let prompt = Prompt {
            user: asked_user.as_deref(),
            country: asked_country.as_deref(),
            technique: asked_technique.as_deref(),
        };
        let real = RealLogs {
            logs: &real,
            techniques: &real_techniques,
            fired: &real_fired,
            holdout: &holdout,
            holdout_techniques: &holdout_techniques,
        };
        let mut report = judge_source(source, &of_source, &real, prompt, args)?;
        report.rules = judge_rules(source, &of_source, &real, prompt.technique, &sigma);
        reports.push(report);
    }

    let judged = generated.len() as f64;
    let report = json!({
        "generated": generated.len(),
        "unattributed": unattributed,
        "json_valid": generated.iter().filter(|g| g.validity != Validity::NotJson).count() as f64 / judged,
        "schema_valid": generated.iter().filter(|g| g.validity == Validity::Valid).count() as f64 / judged,
        "prompt": {"source": asked_source.map(Source::name), "user": asked_user, "country": asked_country, "technique": asked_technique},
        "targets": {"schema_valid": TARGET_SCHEMA_VALID, "tvd": TARGET_TVD, "exact_copies": TARGET_EXACT_COPIES, "technique_rule": TARGET_TECHNIQUE_RULE},
        "sources": reports,
    });
    let figures = args.out.join("figures.json");
    std::fs::write(&figures, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("failed to write {}", figures.display()))?;
    write_report_page(&args.out, &reports)?;
    print_summary(&reports);
    println!(
        "figures: {}; page: {}",
        figures.display(),
        args.out.join("index.html").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The logs and, beside them, each one's technique (pre-v19 id), `None` for benign ones.
fn split_techniques(logs: Vec<TrainingLog>) -> (Vec<Envelope>, Vec<Option<String>>) {
    logs.into_iter()
        .map(|log| {
            let technique = log.technique.as_deref().map(operators::attack::canonical);
            (log.envelope, technique)
        })
        .unzip()
}

/// What the logs were generated for.
#[derive(Clone, Copy)]
struct Prompt<'a> {
    user: Option<&'a str>,
    country: Option<&'a str>,
    technique: Option<&'a str>,
}

/// The real logs, each with its technique (attack logs) and the rules it fires, and the
/// held-out real logs with theirs.
struct RealLogs<'a> {
    logs: &'a [Envelope],
    techniques: &'a [Option<String>],
    fired: &'a [Fired],
    holdout: &'a [Envelope],
    holdout_techniques: &'a [Option<String>],
}

/// Reads and judges every generated log; the source is the one asked for, else the
/// file's, else recognised from the log's shape.
fn read_generated(
    args: &EvalGenerationArgs,
    asked_source: Option<Source>,
    required: &RequiredFields,
    sigma: &mut SigmaDetector,
) -> anyhow::Result<Vec<Generated>> {
    let mut generated = Vec::new();
    for file in expand_inputs(&args.generated)? {
        read_raw_logs(&file, |_, file_source, bytes| {
            let source = asked_source
                .or(file_source)
                .or_else(|| schemas::decode_any(bytes).ok().map(|e| e.source));
            let (validity, envelope) = match source {
                Some(source) => required.judge(source, bytes),
                None => match serde_json::from_slice::<Value>(bytes) {
                    Ok(Value::Object(_)) => {
                        (Validity::NotSchema("no recognisable source".into()), None)
                    }
                    _ => (Validity::NotJson, None),
                },
            };
            // A log that does not decode as its source fires nothing, as in the pipeline.
            let fired = envelope
                .as_ref()
                .map(|envelope| Fired::of(sigma, envelope))
                .unwrap_or_default();
            let event_time = envelope.as_ref().map(|envelope| envelope.event_time);
            let (json, user, country) = match envelope {
                Some(envelope) => (Some(envelope.json), envelope.user, envelope.country),
                None if validity == Validity::NotJson => (None, None, None),
                // A group model's logs hold its fields only: their country still counts.
                None => {
                    let json = serde_json::from_slice::<Value>(bytes).ok();
                    let country = source
                        .zip(json.as_ref())
                        .and_then(|(source, json)| source.spec().country_of(json));
                    (json, None, country)
                }
            };
            generated.push(Generated {
                source,
                validity,
                json,
                user,
                country,
                event_time,
                fired,
            });
        })?;
    }
    Ok(generated)
}

fn judge_source<'a>(
    source: Source,
    generated: &[&Generated],
    real: &RealLogs<'a>,
    prompt: Prompt<'_>,
    args: &EvalGenerationArgs,
) -> anyhow::Result<SourceReport> {
    let RealLogs {
        logs: real,
        techniques,
        holdout,
        holdout_techniques,
        ..
    } = *real;
    let count = generated.len();
    let share = |matching: usize| matching as f64 / count as f64;
    let mut invalid_reasons = BTreeMap::new();
    for g in generated {
        let reason = match &g.validity {
            Validity::Valid => continue,
            Validity::NotJson => "not a JSON object".to_string(),
            Validity::NotSchema(reason) => reason.clone(),
        };
        *invalid_reasons.entry(reason).or_insert(0) += 1;
    }
    let user_accuracy = prompt.user.map(|user| {
        share(
            generated
                .iter()
                .filter(|g| g.user.as_deref() == Some(user))
                .count(),
        )
    });
    // Only a source that records a country can be in the wrong one.
    let records_country = !source.spec().country.is_empty();
    let country_accuracy = prompt.country.filter(|_| records_country).map(|country| {
        share(
            generated
                .iter()
                .filter(|g| g.country.as_deref() == Some(country))
                .count(),
        )
    });

    let of_country = |log: &&Envelope| {
        log.source == source
            && prompt
                .country
                .is_none_or(|country| log.country.as_deref() == Some(country))
    };
    let places = KnownLocations::fit(source, real.iter().filter(of_country).map(|l| &l.json));
    let located: Vec<bool> = generated
        .iter()
        .filter_map(|g| places.contains(source, g.json.as_ref()?))
        .collect();
    let known_locations = (!places.is_empty() && !located.is_empty())
        .then(|| located.iter().filter(|&&known| known).count() as f64 / located.len() as f64);

    // The distributions to match: the source's real logs of the prompted technique (of
    // none for benign logs: a benign generation is not meant to write the labelled
    // attacks), the prompted user's only when a user was asked for. A technique with no
    // real log of this source (a red-team model may write it into any source) is held to
    // every log of the source, as without labels.
    let technique_seen = prompt.technique.is_none_or(|asked| {
        real.iter()
            .zip(techniques)
            .any(|(log, technique)| log.source == source && technique.as_deref() == Some(asked))
    });
    if !technique_seen {
        tracing::warn!(
            message = "No real log of the technique in this source: its logs are compared with every real log of the source.",
            source = source.name(),
            technique = prompt.technique.unwrap_or_default()
        );
    }
    let of_prompt = |(log, technique): &(&Envelope, &Option<String>)| {
        log.source == source
            && (!technique_seen || technique.as_deref() == prompt.technique)
            && prompt
                .user
                .is_none_or(|user| log.user.as_deref() == Some(user))
    };
    let prompted = |logs: &'a [Envelope], techniques: &'a [Option<String>]| -> Vec<&'a Envelope> {
        logs.iter()
            .zip(techniques)
            .filter(of_prompt)
            .map(|(log, _)| log)
            .collect()
    };
    let real_of_prompt = prompted(real, techniques);
    let real_logs: Vec<&Value> = real_of_prompt.iter().map(|e| &e.json).collect();
    anyhow::ensure!(
        !real_logs.is_empty(),
        "no real {source} log{}{} to compare with{}",
        prompt
            .user
            .map(|u| format!(" of user {u}"))
            .unwrap_or_default(),
        prompt
            .technique
            .filter(|_| technique_seen)
            .map(|t| format!(" of technique {t}"))
            .unwrap_or_default(),
        match prompt.user {
            Some(_) => "; drop --user to compare with every user's logs",
            None => "",
        }
    );
    let generated_logs: Vec<&Value> = generated.iter().filter_map(|g| g.json.as_ref()).collect();
    let held_out_of_prompt = prompted(holdout, holdout_techniques);
    let held_out: Vec<&Value> = held_out_of_prompt.iter().map(|e| &e.json).collect();
    let (reference, reference_name) = match held_out.is_empty() {
        false => (
            spread(&held_out, generated_logs.len()),
            "held-out real logs",
        ),
        true => (
            spread(&real_logs, generated_logs.len()),
            "a sample of the real logs",
        ),
    };
    let floor_draws = draws_by_user(&real_of_prompt, generated_logs.len());
    let fields: Vec<FieldFidelity> = categorical_fields(source, &real_logs, args.max_categories)
        .iter()
        .map(|path| {
            let mut field = compare(path, &real_logs, &generated_logs, Some(&reference));
            field.floor_tvd = mean_tvd(&field.real, path, &floor_draws);
            field
        })
        .collect();
    let worst_tvd = fields.iter().map(|f| f.tvd).max_by(f64::total_cmp);
    let fields_within_target = fields
        .iter()
        .filter(|f| f.tvd <= TARGET_TVD && f.missing.is_empty())
        .count();
    let fields_within_reference = fields
        .iter()
        .filter(|f| f.missing.is_empty())
        .filter(|f| f.tvd <= f.reference_tvd.unwrap_or(0.0).max(TARGET_TVD))
        .count();
    let reference_fields_within_target = fields
        .iter()
        .filter(|f| f.reference_tvd.is_some_and(|tvd| tvd <= TARGET_TVD))
        .count();
    let floor_fields_within_target = fields
        .iter()
        .filter(|f| f.floor_tvd.is_some_and(|tvd| tvd <= TARGET_TVD))
        .count();
    let time_of_week = {
        let times = |logs: &[&Envelope]| -> Vec<DateTime<Utc>> {
            logs.iter().map(|log| log.event_time).collect()
        };
        let generated_times: Vec<DateTime<Utc>> =
            generated.iter().filter_map(|g| g.event_time).collect();
        let (real_times, held_out_times) = (times(&real_of_prompt), times(&held_out_of_prompt));
        let reference_times = match held_out_times.is_empty() {
            false => spread(&held_out_times, generated_times.len()),
            true => spread(&real_times, generated_times.len()),
        };
        compare_times(&real_times, &generated_times, Some(&reference_times))
    };
    for field in fields.iter().chain(&time_of_week) {
        draw_field(&args.out, source, field)?;
    }
    // Fitted on every real log of the source: a user's few logs would make chance look
    // like a rule.
    let of_source: Vec<&Value> = real
        .iter()
        .filter(|log| log.source == source)
        .map(|log| &log.json)
        .collect();
    let dependencies = Dependencies::fit(
        &categorical_fields(source, &of_source, args.max_categories),
        &of_source,
    );
    let agreement = dependencies.judge(&generated_logs);
    let reference_agreement = dependencies.judge(&reference).map(|a| a.agreeing);

    let memorisation = measure_memorisation(source, real, &generated_logs, &held_out, &args.out)?;
    Ok(SourceReport {
        kind: source,
        source: source.name(),
        generated: count,
        json_valid: share(generated.iter().filter(|g| g.json.is_some()).count()),
        schema_valid: share(
            generated
                .iter()
                .filter(|g| g.validity == Validity::Valid)
                .count(),
        ),
        invalid_reasons,
        user_accuracy,
        country_accuracy,
        known_locations,
        real_logs: real_logs.len(),
        reference_logs: reference.len(),
        reference: reference_name,
        worst_tvd,
        fields_within_target,
        fields_within_reference,
        reference_fields_within_target,
        floor_fields_within_target,
        fields,
        time_of_week,
        agreement,
        reference_agreement,
        memorisation,
        rules: RuleReport::default(),
    })
}

/// How often the generated logs fire Sigma rules, against the real logs: those of the
/// prompted technique (red-team logs must fire a rule tagged with it as often), and the
/// benign ones (benign generated logs must fire no more often).
fn judge_rules(
    source: Source,
    generated: &[&Generated],
    real: &RealLogs<'_>,
    technique: Option<&str>,
    sigma: &SigmaDetector,
) -> RuleReport {
    let of_source = |wanted: &dyn Fn(Option<&str>) -> bool| -> Vec<&Fired> {
        real.logs
            .iter()
            .zip(real.techniques)
            .zip(real.fired)
            .filter(|((log, of), _)| log.source == source && wanted(of.as_deref()))
            .map(|(_, fired)| fired)
            .collect()
    };
    let mut generated_rules = BTreeMap::new();
    for g in generated {
        for rule in &g.fired.rules {
            *generated_rules.entry(rule.clone()).or_insert(0) += 1;
        }
    }
    RuleReport {
        technique: technique.map(str::to_string),
        rules_for_technique: technique.map(|t| rules_for(sigma, t)),
        generated: FiringRate::of(generated.iter().map(|g| &g.fired), technique),
        real_technique: technique.map(|t| FiringRate::of(of_source(&|of| of == Some(t)), Some(t))),
        real_benign: FiringRate::of(of_source(&|of| of.is_none()), None),
        generated_rules,
    }
}

/// [`FLOOR_DRAWS`] samples of `count` real logs, each drawn as `generate` draws benign
/// logs' users: every user (no user counting as one) by quota in their share of the logs
/// ([`by_quota`]), then one of their logs at random, with replacement. Empty for no logs.
fn draws_by_user<'a>(real: &[&'a Envelope], count: usize) -> Vec<Vec<&'a Value>> {
    let mut by_user: BTreeMap<Option<&str>, Vec<&Value>> = BTreeMap::new();
    for log in real {
        by_user
            .entry(log.user.as_deref())
            .or_default()
            .push(&log.json);
    }
    let users: Vec<&Vec<&Value>> = by_user.values().collect();
    let weights: Vec<u32> = users
        .iter()
        .map(|logs| u32::try_from(logs.len()).unwrap_or(u32::MAX))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    (0..FLOOR_DRAWS)
        .map(|_| {
            by_quota(&weights, count, &mut rng)
                .into_iter()
                .filter_map(|user| users[user].choose(&mut rng).copied())
                .collect()
        })
        .filter(|draw: &Vec<&Value>| !draw.is_empty())
        .collect()
}

/// Up to `count` items spread evenly over `items` (all of them when there are fewer).
fn spread<T: Copy>(items: &[T], count: usize) -> Vec<T> {
    if items.len() <= count {
        return items.to_vec();
    }
    (0..count).map(|i| items[i * items.len() / count]).collect()
}

fn measure_memorisation(
    source: Source,
    real: &[Envelope],
    generated: &[&Value],
    held_out: &[&Value],
    out: &Path,
) -> anyhow::Result<Memorisation> {
    let index = RealLogIndex::build(
        source,
        real.iter().filter(|e| e.source == source).map(|e| &e.json),
    );
    let nearest = |logs: &[&Value]| -> Vec<Nearest> {
        logs.par_iter()
            .map(|log| index.nearest(source, log))
            .collect()
    };
    let generated = nearest(generated);
    let held_out = nearest(&spread(held_out, HOLDOUT_LOOKUPS));
    let measure =
        |found: &[Nearest], of: fn(&Nearest) -> f64| -> Vec<f64> { found.iter().map(of).collect() };
    let (rouge1, held_out_rouge1) = (
        measure(&generated, |n| n.rouge1),
        measure(&held_out, |n| n.rouge1),
    );
    let (cosine, held_out_cosine) = (
        measure(&generated, |n| n.cosine),
        measure(&held_out, |n| n.cosine),
    );
    let distance = measure(&generated, Nearest::distance);
    let holdout_quantiles = Quantiles::of(&measure(&held_out, Nearest::distance));
    let closer_than_holdout_p5 = holdout_quantiles.as_ref().map(|q| {
        distance.iter().filter(|&&d| d < q.p5).count() as f64 / distance.len().max(1) as f64
    });
    draw_similarity(
        out,
        source,
        ("rouge1", "ROUGE-1 F1 to the nearest training log"),
        &rouge1,
        &held_out_rouge1,
    )?;
    draw_similarity(
        out,
        source,
        ("cosine", "cosine similarity to the nearest training log"),
        &cosine,
        &held_out_cosine,
    )?;
    let copies = |found: &[Nearest]| {
        found.iter().filter(|n| n.exact_copy).count() as f64 / found.len().max(1) as f64
    };
    Ok(Memorisation {
        training_logs: index.len(),
        exact_copies: copies(&generated),
        holdout_exact_copies: (!held_out.is_empty()).then(|| copies(&held_out)),
        rouge1: Quantiles::of(&rouge1),
        cosine: Quantiles::of(&cosine),
        distance: Quantiles::of(&distance),
        holdout_distance: holdout_quantiles,
        closer_than_holdout_p5,
    })
}

/// How similar generated and held-out real logs are to their nearest training log.
fn draw_similarity(
    out: &Path,
    source: Source,
    (name, title): (&str, &str),
    generated: &[f64],
    held_out: &[f64],
) -> anyhow::Result<()> {
    let mut groups: Vec<(&str, &[f64])> = vec![("generated", generated)];
    if !held_out.is_empty() {
        groups.push(("held-out real", held_out));
    }
    density_chart(
        &out.join(format!("{source}-{name}.png")),
        &format!("{source}: {title}"),
        title,
        &groups,
        40,
    )
}

/// The real and generated shares of a field's commonest values, side by side.
fn draw_field(out: &Path, source: Source, field: &FieldFidelity) -> anyhow::Result<()> {
    let mut values: Vec<&String> = field
        .real
        .counts
        .keys()
        .chain(field.generated.counts.keys())
        .collect();
    values.sort_by(|a, b| {
        let top = |v: &str| field.real.share(v).max(field.generated.share(v));
        top(b).total_cmp(&top(a)).then(a.cmp(b))
    });
    values.dedup();
    // Hours and weekdays are drawn whole, in time order; other fields their commonest.
    let in_time = |value: &str| time_of_week::position(&field.path, value);
    match values.iter().all(|value| in_time(value).is_some()) {
        true => values.sort_by_key(|value| in_time(value)),
        false => values.truncate(CHART_VALUES),
    }
    let real: Vec<f64> = values.iter().map(|v| field.real.share(v)).collect();
    let generated: Vec<f64> = values.iter().map(|v| field.generated.share(v)).collect();
    let labels: Vec<String> = values.into_iter().cloned().collect();
    bar_chart(
        &out.join(chart_name(source, &field.path)),
        &format!("{source} {}: TVD {:.3}", field.path, field.tvd),
        "share of logs",
        &labels,
        &[
            (&format!("real ({} logs)", field.real.logs), &real),
            (
                &format!("generated ({} logs)", field.generated.logs),
                &generated,
            ),
        ],
    )
}

fn chart_name(source: Source, path: &str) -> String {
    let safe: String = path
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c,
            false => '_',
        })
        .collect();
    format!("{source}-field-{safe}.png")
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn optional(value: Option<f64>, show: fn(f64) -> String) -> String {
    value.map(show).unwrap_or_else(|| "-".to_string())
}

fn print_summary(reports: &[SourceReport]) {
    println!(
        "{:<11} {:>9} {:>10} {:>12} {:>9} {:>10} {:>12} {:>12} {:>16} {:>16} {:>12} {:>14}",
        "source",
        "generated",
        "JSON valid",
        "schema valid",
        "user ok",
        "country ok",
        "known places",
        "worst TVD",
        "fields ≤ 0.05",
        "fields agree",
        "exact copies",
        "median ROUGE-1"
    );
    for r in reports {
        println!(
            "{:<11} {:>9} {:>10} {:>12} {:>9} {:>10} {:>12} {:>12} {:>16} {:>16} {:>12} {:>14}",
            r.source,
            r.generated,
            percent(r.json_valid),
            percent(r.schema_valid),
            optional(r.user_accuracy, percent),
            optional(r.country_accuracy, percent),
            optional(r.known_locations, percent),
            optional(r.worst_tvd, |t| format!("{t:.3}")),
            format!("{}/{}", r.fields_within_target, r.fields.len()),
            agreement_summary(r),
            percent(r.memorisation.exact_copies),
            optional(r.memorisation.rouge1.as_ref().map(|q| q.median), |m| {
                format!("{m:.3}")
            }),
        );
    }
    for r in reports {
        println!("{}", rules_summary(r));
        println!("{}", time_of_week_summary(r));
        println!(
            "{}: fields within {TARGET_TVD} or their reference TVD: {}/{} (the reference itself within {TARGET_TVD}: {}/{}; as many real logs drawn by user, the floor: {}/{})",
            r.source,
            r.fields_within_reference,
            r.fields.len(),
            r.reference_fields_within_target,
            r.fields.len(),
            r.floor_fields_within_target,
            r.fields.len()
        );
    }
    println!(
        "targets: 100% JSON valid, ≥ {} schema valid, TVD ≤ {TARGET_TVD} with no ≥ 1% value missing on every field, ≤ {} exact copies",
        percent(TARGET_SCHEMA_VALID),
        percent(TARGET_EXACT_COPIES)
    );
}

/// The share of generated logs whose fields agree, and of the reference logs.
fn agreement_summary(r: &SourceReport) -> String {
    format!(
        "{} ({})",
        optional(r.agreement.as_ref().map(|a| a.agreeing), percent),
        optional(r.reference_agreement, percent)
    )
}

/// One line on the hours and weekdays of the source's generated logs.
fn time_of_week_summary(r: &SourceReport) -> String {
    let fields: Vec<String> = r
        .time_of_week
        .iter()
        .map(|f| {
            format!(
                "{} TVD {:.3} (reference {})",
                f.path,
                f.tvd,
                optional(f.reference_tvd, |t| format!("{t:.3}"))
            )
        })
        .collect();
    format!("{}: event times: {}", r.source, fields.join(", "))
}

/// One line on the Sigma rules the source's generated logs fire.
fn rules_summary(r: &SourceReport) -> String {
    let rules = &r.rules;
    let mut line = format!(
        "{}: {} of generated logs fire a Sigma rule (real benign logs: {})",
        r.source,
        optional(rules.generated.any_rule, percent),
        optional(rules.real_benign.any_rule, percent)
    );
    if let Some(technique) = &rules.technique {
        let rule_count = rules.rules_for_technique.as_ref().map_or(0, Vec::len);
        line += &format!(
            "; {} fire a rule of {technique} ({rule_count} such rules; real {technique} logs: {} of {}; target ≥ {})",
            optional(rules.generated.technique_rule, percent),
            optional(
                rules
                    .real_technique
                    .as_ref()
                    .and_then(|real| real.technique_rule),
                percent
            ),
            rules.real_technique.as_ref().map_or(0, |real| real.logs),
            percent(TARGET_TECHNIQUE_RULE)
        );
    }
    line
}

/// One row per field: its TVD against its reference and the values it misses or invents.
fn field_table(fields: &[&FieldFidelity]) -> Vec<Vec<String>> {
    let mut table = vec![
        [
            "field",
            "TVD",
            "reference TVD",
            "floor TVD",
            "values ≥ 1% never generated",
            "generated values never real",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for f in fields {
        table.push(vec![
            f.path.clone(),
            format!("{:.3}", f.tvd),
            optional(f.reference_tvd, |t| format!("{t:.3}")),
            optional(f.floor_tvd, |t| format!("{t:.3}")),
            f.missing.join(", "),
            percent(f.unseen_share),
        ]);
    }
    table
}

/// The dependencies between fields and how often the generated logs break them.
fn agreement_section(source: &str, agreement: &Agreement, reference: Option<f64>) -> Section {
    let mut table = vec![
        ["field", "determines", "logs judged", "broken"]
            .map(String::from)
            .to_vec(),
    ];
    for d in &agreement.broken {
        let arrow = if d.mutual { "↔" } else { "→" };
        table.push(vec![
            d.from.clone(),
            format!("{arrow} {}", d.to),
            d.judged.to_string(),
            percent(d.broken),
        ]);
    }
    Section {
        heading: format!("{source}: fields that agree"),
        text: format!(
            "Pairs of fields where every real log pairs each common value of the first (≥ {} logs) with one value of the second. {} of the generated logs break none (reference logs: {}).",
            operators::fidelity::agreement::MIN_SUPPORT,
            percent(agreement.agreeing),
            optional(reference, percent)
        ),
        table,
        images: Vec::new(),
    }
}

fn write_report_page(out: &Path, reports: &[SourceReport]) -> anyhow::Result<()> {
    let mut overview = vec![
        [
            "source",
            "generated",
            "JSON valid",
            "schema valid",
            "user as asked",
            "country as asked",
            "known places",
            "fields within TVD ≤ 0.05",
            "fields agree (reference)",
            "exact copies",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut sections = Vec::new();
    for r in reports {
        overview.push(vec![
            r.source.to_string(),
            r.generated.to_string(),
            percent(r.json_valid),
            percent(r.schema_valid),
            optional(r.user_accuracy, percent),
            optional(r.country_accuracy, percent),
            optional(r.known_locations, percent),
            format!("{}/{}", r.fields_within_target, r.fields.len()),
            agreement_summary(r),
            percent(r.memorisation.exact_copies),
        ]);
        let mut fields: Vec<&FieldFidelity> = r.fields.iter().collect();
        fields.sort_by(|a, b| b.tvd.total_cmp(&a.tvd));
        sections.push(Section {
            heading: format!("{}: categorical fields", r.source),
            text: format!(
                "{} generated against {} real logs; the reference TVD compares {} of {} with the real logs, the distance another stretch of real logs is; the floor TVD is the mean distance of as many of the real logs themselves, drawn user by user in their shares as `generate` draws users: what sampling noise alone gives a model that writes exactly the real distribution ({} of {} fields within {TARGET_TVD} there).",
                r.generated, r.real_logs, r.reference_logs, r.reference, r.floor_fields_within_target, r.fields.len()
            ),
            table: field_table(&fields),
            images: fields
                .iter()
                .map(|f| chart_name(r.kind, &f.path))
                .collect(),
        });
        let times: Vec<&FieldFidelity> = r.time_of_week.iter().collect();
        sections.push(Section {
            heading: format!("{}: event times", r.source),
            text: "The hour of the day and the weekday (UTC) of the logs' event times, compared as the fields are; not counted among them.".to_string(),
            table: field_table(&times),
            images: times.iter().map(|f| chart_name(r.kind, &f.path)).collect(),
        });
        if let Some(agreement) = &r.agreement {
            sections.push(agreement_section(
                r.source,
                agreement,
                r.reference_agreement,
            ));
        }
        let m = &r.memorisation;
        let quantile_row = |name: &str, q: &Option<Quantiles>| match q {
            Some(q) => vec![
                name.to_string(),
                format!("{:.3}", q.p5),
                format!("{:.3}", q.median),
                format!("{:.3}", q.p95),
                format!("{:.3}", q.max),
            ],
            None => vec![
                name.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        };
        sections.push(Section {
            heading: format!("{}: memorisation", r.source),
            text: format!(
                "Against {} training logs, volatile fields left out. Exact copies {} (held-out real logs: {}); generated logs closer to a training log than 95% of held-out real logs are: {}.",
                m.training_logs,
                percent(m.exact_copies),
                optional(m.holdout_exact_copies, percent),
                optional(m.closer_than_holdout_p5, percent)
            ),
            table: vec![
                ["measure", "p5", "median", "p95", "max"]
                    .map(String::from)
                    .to_vec(),
                quantile_row("ROUGE-1 F1, generated", &m.rouge1),
                quantile_row("cosine, generated", &m.cosine),
                quantile_row("distance to closest record, generated", &m.distance),
                quantile_row("distance to closest record, held-out", &m.holdout_distance),
            ],
            images: vec![
                format!("{}-rouge1.png", r.source),
                format!("{}-cosine.png", r.source),
            ],
        });
        let rate_row = |name: &str, rate: &FiringRate| {
            vec![
                name.to_string(),
                rate.logs.to_string(),
                optional(rate.any_rule, percent),
                optional(rate.technique_rule, percent),
            ]
        };
        let mut rules_table = vec![
            vec![
                "logs".to_string(),
                "count".to_string(),
                "fire any rule".to_string(),
                format!(
                    "fire a rule of {}",
                    r.rules.technique.as_deref().unwrap_or("the technique")
                ),
            ],
            rate_row("generated", &r.rules.generated),
        ];
        if let Some(real) = &r.rules.real_technique {
            rules_table.push(rate_row("real, of the technique", real));
        }
        rules_table.push(rate_row("real, benign", &r.rules.real_benign));
        let mut fired: Vec<(&String, &usize)> = r.rules.generated_rules.iter().collect();
        fired.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        sections.push(Section {
            heading: format!("{}: Sigma rules", r.source),
            text: format!(
                "{} Rules fired on generated logs: {}.",
                rules_summary(r),
                match fired.is_empty() {
                    true => "none".to_string(),
                    false => fired
                        .iter()
                        .map(|(rule, n)| format!("{rule} ({n})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            ),
            table: rules_table,
            images: Vec::new(),
        });
        if !r.invalid_reasons.is_empty() {
            let mut reasons: Vec<(&String, &usize)> = r.invalid_reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1));
            sections.push(Section {
                heading: format!("{}: why logs are not valid", r.source),
                text: String::new(),
                table: std::iter::once(vec!["reason".to_string(), "logs".to_string()])
                    .chain(
                        reasons
                            .into_iter()
                            .take(20)
                            .map(|(reason, n)| vec![reason.clone(), n.to_string()]),
                    )
                    .collect(),
                images: Vec::new(),
            });
        }
    }
    sections.insert(
        0,
        Section {
            heading: "Overview".into(),
            text: format!(
                "Targets: 100% JSON valid, ≥ {} schema valid, TVD ≤ {TARGET_TVD} with no value of ≥ 1% missing on every categorical field, ≤ {} exact copies.",
                percent(TARGET_SCHEMA_VALID),
                percent(TARGET_EXACT_COPIES)
            ),
            table: overview,
            images: Vec::new(),
        },
    );
    write_page(
        &out.join("index.html"),
        "cyberlm: generation fidelity",
        &sections,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_draws_each_user_in_their_share_of_the_real_logs() {
        let log = |user: &str, i: usize| Envelope {
            source: Source::Confluence,
            event_time: DateTime::<Utc>::UNIX_EPOCH,
            user: (!user.is_empty()).then(|| user.to_string()),
            country: None,
            event_id: format!("{user}-{i}"),
            json: json!({ "user": user, "i": i }),
        };
        // Anna wrote 60 logs, Omar 30, and 10 name nobody.
        let real: Vec<Envelope> = (0..60)
            .map(|i| log("anna", i))
            .chain((0..30).map(|i| log("omar", i)))
            .chain((0..10).map(|i| log("", i)))
            .collect();
        let real: Vec<&Envelope> = real.iter().collect();
        let draws = draws_by_user(&real, 10);
        assert_eq!(draws.len(), FLOOR_DRAWS);
        for draw in &draws {
            let of = |user: &str| draw.iter().filter(|log| log["user"] == user).count();
            assert_eq!((of("anna"), of("omar"), of("")), (6, 3, 1), "{draw:?}");
        }
        assert_ne!(draws[0], draws[1], "each draw takes its own logs");
        assert!(draws_by_user(&[], 10).is_empty());
    }
}
