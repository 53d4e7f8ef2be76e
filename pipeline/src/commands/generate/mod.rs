//! `cyberlm generate`: synthetic logs from a trained model, for a source and optionally a
//! user, country or MITRE technique; every line written parses as JSON.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{Datelike, TimeDelta, Timelike};
use model::generate::{Prompt, generate};
use operators::fidelity::rule_firing::{Fired, rules_for};
use operators::sigma::SigmaDetector;
use operators::source_fields::lookup_mut;
use operators::text_format::{Header, Shape};
use rand::SeedableRng;
use rand::distr::{Bernoulli, Distribution};
use rand_chacha::ChaCha8Rng;
use schemas::Source;
use serde_json::Value;

use crate::cli::{GENERATE_TOP_P, GenerateArgs};
use crate::commands::detect::sigma_detector;
use crate::commands::scenario::recorded_days::set_event_time;
use crate::config::Config;
use crate::files::JsonlSink;
use crate::progress;

mod header_plan;
mod rule_guide;

use header_plan::{HEADER_STREAM, HeaderMix};

use rule_guide::RuleGuide;

/// Logs generated per call (and progress update).
const CHUNK: usize = 64;

/// `cyberlm generate`.
pub fn run(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let device = model::device::parse(&args.device)?;
    let model_dir = model::registry::resolve(&args.model)?;
    let loaded = model::checkpoint::load(&model_dir, &device)?;
    let format = &loaded.manifest.text_format;
    let source = args.source.parse().map_err(anyhow::Error::from)?;
    let config = Config::load(args.config.as_deref())?;
    let pii = config.pii.hasher_for_model(&model_dir, &loaded.manifest)?;
    let header = Header {
        source: Some(source),
        user: args
            .user
            .as_deref()
            .map(|user| prompt_user(user, pii.as_ref())),
        country: args.country.clone(),
        technique: args.technique.clone(),
        // A rule-guided log fires a rule of its technique, as the training logs whose
        // header said so did.
        detected: match args.rule_guided && format.tags_detected {
            true => Some(true),
            false => (args.detected || args.undetected).then_some(args.detected),
        },
        weekday: None,
        hour: None,
    };
    anyhow::ensure!(
        !(args.detected || args.undetected) || format.tags_detected,
        "{} does not know which logs of a technique its rules fire on (trained before 2026-12-07, or without Sigma rules or technique-tagged logs); retrain it with --labels or --tagged, or keep only firing logs with --must-fire",
        model_dir.display()
    );
    // A group model (`train --field-group`) reads only its header fields.
    let header = format.header(&header);
    let shape = format
        .shape(source)
        .filter(|_| !args.no_shape)
        .cloned()
        .map(|mut shape| {
            if args.independent_values {
                shape.combinations = None;
            }
            Arc::new(shape)
        });
    if let Some(unseen) = unseen_detection(&header, shape.as_deref())
        && !args.rule_guided
    {
        tracing::warn!(
            message = "No training log of this source and technique had this flag: the model never saw such a log, and what it writes is unlikely to be one (for logs that fire: --rule-guided holds each log to a rule of the technique; --must-fire keeps those that fire).",
            flag = unseen.as_str()
        );
    }
    if shape.is_none() && !args.no_shape {
        tracing::warn!(
            message = "The model has no shape for this source (trained before shapes, or on too few of its logs): generated logs are held to valid JSON only.",
            source = source.name()
        );
    }
    let mut headers = match args.model_picks_header {
        true => None,
        false => HeaderMix::of(
            shape.as_deref(),
            header.user.as_deref(),
            args.technique.is_some(),
            args.benign,
            args.sampling.seed,
            args.count,
        ),
    };
    let mut flags = DetectedDraw::of(shape.as_deref(), &header, args.sampling.seed);
    let prompt = Prompt {
        source,
        header,
        json_prefix: args.prefix.clone().unwrap_or_default(),
        shape,
        benign: args.benign,
    };
    let mut judge = match args.must_fire || args.rule_guided {
        true => Some(RuleJudge::new(
            sigma_detector(&config)?,
            args.technique.as_deref().unwrap_or_default(),
        )?),
        false => None,
    };
    let mut guide = match (&judge, args.rule_guided) {
        (Some(judge), true) => {
            let shape = prompt.shape.as_deref().with_context(|| {
                format!(
                    "--rule-guided: the model has no shape for {} logs to pin a rule's fields in (trained before shapes, or run with --no-shape)",
                    source.name()
                )
            })?;
            let guide = RuleGuide::new(&judge.detector, &judge.technique, source, shape)?;
            guide.report();
            Some(guide)
        }
        _ => None,
    };
    let attempts = match args.must_fire {
        true => args.count.saturating_mul(args.must_fire_attempts.max(1)),
        false => args.count,
    };
    let mut sink = JsonlSink::create(&args.out)?;
    let bar = progress::bar(args.count as u64, "generating");
    let (mut unparsed, mut forced, mut written, mut tried) = (0u64, 0u64, 0usize, 0usize);
    while written < args.count && tried < attempts {
        let count = CHUNK.min(attempts - tried);
        let sampling = args.sampling.config(tried as u64, GENERATE_TOP_P);
        let prompts: Vec<Prompt> = (0..count)
            .map(|_| {
                let mut prompt = prompt.clone();
                if let Some(headers) = &mut headers {
                    headers.fill(&mut prompt.header);
                }
                if let Some(flags) = &mut flags {
                    flags.fill(&mut prompt.header);
                }
                if let Some(guide) = &mut guide {
                    prompt.shape = Some(guide.next_shape());
                }
                prompt
            })
            .collect();
        let generated = generate(
            &loaded.model,
            &prompts,
            format,
            &sampling,
            args.sampling.batch_size,
            &device,
        )
        .context("cannot generate from this prompt")?;
        tried += count;
        for (log, prompt) in generated.into_iter().zip(&prompts) {
            if written == args.count {
                break;
            }
            let kept = match format.parse(&log.text) {
                Some((_, mut json)) => {
                    // Only a time the prompt fixed: the model's own is left as written.
                    move_to_header_time(source, &mut json, &prompt.header);
                    let fires = judge.as_mut().map(|judge| judge.fires(source, &json));
                    let kept = !args.must_fire || fires == Some(true);
                    if kept {
                        sink.write(&json)?;
                    }
                    kept
                }
                // Unreachable with JSON-constrained decoding; kept so a bug shows as a count.
                None => {
                    unparsed += 1;
                    tracing::warn!(
                        message = "A generated log does not parse.",
                        text = log.text.as_str()
                    );
                    if !args.must_fire {
                        sink.write(&Value::String(log.text))?;
                    }
                    !args.must_fire
                }
            };
            // Counted among the logs written: one --must-fire rejected is not in the file.
            if kept {
                written += 1;
                forced += u64::from(!log.finished_by_model);
            }
        }
        bar.set_position(written as u64);
    }
    bar.finish_and_clear();
    sink.finish()?;
    println!(
        "{} logs written to {} ({} did not parse, {} reached --max-bytes and were closed by their shortest completion)",
        written,
        args.out.display(),
        unparsed,
        forced
    );
    let Some(judge) = judge else {
        return Ok(ExitCode::SUCCESS);
    };
    let mode = match args.must_fire {
        true => "--must-fire",
        false => "--rule-guided",
    };
    println!(
        "{mode}: {} of {} logs tried fired one of the {} rules tagged with {}",
        judge.fired, judge.tried, judge.rules, judge.technique
    );
    if written < args.count {
        tracing::error!(
            message = "Too few generated logs fire a rule of the technique: the file holds those that did. Train longer or with a larger --attack-share, or raise --must-fire-attempts.",
            asked = args.count,
            written,
            tried
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The technique and flag asked for by `--detected` or `--undetected`, as the shape's
/// combinations tag it, when no training log of the source had them: T1580's recorded
/// logs fire its rule in one log of 83, and that one may be in the validation days.
fn unseen_detection(header: &Header, shape: Option<&Shape>) -> Option<String> {
    header.detected?;
    let combinations = shape?.combinations.as_ref()?;
    let asked = Header {
        technique: header.technique.clone(),
        detected: header.detected,
        ..Header::default()
    };
    let tag = combinations.tag_of(&asked);
    (!combinations.knows(&tag)).then_some(tag)
}

/// Judges generated logs by the Sigma rules of one technique (`--must-fire`,
/// `--rule-guided`).
struct RuleJudge {
    detector: SigmaDetector,
    technique: String,
    /// How many rules are tagged with it.
    rules: usize,
    tried: usize,
    fired: usize,
}

impl RuleJudge {
    fn new(detector: SigmaDetector, technique: &str) -> anyhow::Result<Self> {
        let technique = operators::attack::canonical(technique);
        let rules = rules_for(&detector, &technique).len();
        anyhow::ensure!(
            rules > 0,
            "no Sigma rule in the config's sigma.rules is tagged with {technique}, so no log can fire one; point sigma.rules (or CYBERLM_SIGMA_RULES) at rules that detect it, or drop --must-fire and --rule-guided"
        );
        Ok(RuleJudge {
            detector,
            technique,
            rules,
            tried: 0,
            fired: 0,
        })
    }

    /// Whether `json`, decoded as `source` as the pipeline decodes it, fires a rule of
    /// the technique; a log that does not decode fires nothing.
    fn fires(&mut self, source: Source, json: &Value) -> bool {
        self.tried += 1;
        let fires = serde_json::to_vec(json)
            .ok()
            .and_then(|bytes| schemas::decode(source, &bytes).ok())
            .is_some_and(|envelope| {
                Fired::of(&mut self.detector, &envelope).detects(&self.technique)
            });
        self.fired += usize::from(fires);
        fires
    }
}

/// The user as the model knows them: lower-cased like every log's user, and pseudonymised
/// when the training logs were (a name already given as a pseudonym is kept).
pub fn prompt_user(user: &str, pii: Option<&operators::pii::PiiHasher>) -> String {
    let user = user.to_lowercase();
    match pii {
        Some(pii) if !operators::pii::is_pseudonym(&user) => pii.pseudonym(&user),
        _ => user,
    }
}

/// Whether each log asked for a technique (and neither `--detected` nor `--undetected`)
/// is a step its rules fire on, drawn at the share of the technique's training logs of
/// the source that were ([`Shape::detections`]): left to pick, a small model says not.
/// Its own random stream, beside the header mix's.
struct DetectedDraw {
    fired: Bernoulli,
    rng: ChaCha8Rng,
}

impl DetectedDraw {
    /// `None` where there is nothing to draw: no technique asked for, the flag asked for,
    /// or no training log of the technique said it.
    fn of(shape: Option<&Shape>, header: &Header, seed: u64) -> Option<Self> {
        if header.detected.is_some() {
            return None;
        }
        let share = shape?
            .detections
            .get(header.technique.as_deref()?)?
            .share()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(HEADER_STREAM - 1);
        Some(DetectedDraw {
            fired: Bernoulli::new(share).ok()?,
            rng,
        })
    }

    fn fill(&mut self, header: &mut Header) {
        header.detected = Some(self.fired.sample(&mut self.rng));
    }
}

/// Moves a generated log to its header's weekday and hour, in the week and at the minute
/// and second the model wrote. A small model does not work out a date's weekday, nor copy
/// the header's hour across the log: given the hour of the week drawn from the user's
/// logs, it still wrote the hours and weekdays it favours (hour-of-day TVD 0.147 against
/// 0.035 between two real stretches, and no weekend date at all). A log whose time does
/// not parse, or a header without both, is left as written.
fn move_to_header_time(source: Source, log: &mut Value, header: &Header) {
    let (Some(weekday), Some(hour)) = (header.weekday, header.hour) else {
        return;
    };
    let Some(written) = source.spec().event_time.iter().find_map(|path| {
        let value = lookup_mut(log, path.as_str())?;
        schemas::parse_event_time(value).ok()
    }) else {
        return;
    };
    let monday =
        written.date_naive() - TimeDelta::days(i64::from(written.weekday().num_days_from_monday()));
    let Some(moved) = (monday + TimeDelta::days(i64::from(weekday)))
        .and_hms_nano_opt(
            u32::from(hour),
            written.minute(),
            written.second(),
            written.nanosecond(),
        )
        .map(|time| time.and_utc())
    else {
        return;
    };
    set_event_time(source, log, moved);
}

#[cfg(test)]
mod tests {
    use super::*;
    use operators::pii::{PiiFields, PiiHasher};

    #[test]
    fn asking_for_a_flag_no_training_log_of_the_technique_had_is_told() {
        let logs = [
            (
                serde_json::json!({"name": "StopLogging"}),
                "t=T1562.008 f=y",
            ),
            (
                serde_json::json!({"name": "DescribeInstances"}),
                "t=T1580 f=n",
            ),
        ];
        let shape = Shape::fit_tagged("tf", logs.iter().map(|(log, tag)| (log, *tag)));
        let asking = |technique: &str, detected: Option<bool>| Header {
            technique: Some(technique.into()),
            detected,
            ..Header::default()
        };
        let unseen = |header: &Header| unseen_detection(header, Some(&shape));
        assert_eq!(unseen(&asking("T1562.008", Some(true))), None);
        assert_eq!(unseen(&asking("T1580", Some(false))), None);
        assert_eq!(
            unseen(&asking("T1580", Some(true))).as_deref(),
            Some("t=T1580 f=y")
        );
        assert_eq!(unseen(&asking("T1580", None)), None, "nothing asked");
    }

    #[test]
    fn an_asked_techniques_logs_fire_at_the_share_its_training_logs_did() {
        let logs = [(serde_json::json!({"name": "StopLogging"}), "")];
        let mut shape = Shape::fit_tagged("tf", logs.iter().map(|(log, tag)| (log, *tag)));
        shape.detections.insert(
            "T1562.008".into(),
            operators::text_format::header_mix::Detections {
                fired: 3,
                missed: 1,
            },
        );
        let asking = |technique: &str, detected: Option<bool>| Header {
            technique: Some(technique.into()),
            detected,
            ..Header::default()
        };
        let mut draw = DetectedDraw::of(Some(&shape), &asking("T1562.008", None), 7).unwrap();
        let fired = (0..400)
            .filter(|_| {
                let mut header = asking("T1562.008", None);
                draw.fill(&mut header);
                header.detected.unwrap()
            })
            .count();
        assert!(
            (270..=330).contains(&fired),
            "{fired} of 400, 3 in 4 expected"
        );
        assert!(DetectedDraw::of(Some(&shape), &asking("T1562.008", Some(false)), 7).is_none());
        assert!(DetectedDraw::of(Some(&shape), &asking("T1580", None), 7).is_none());
        assert!(DetectedDraw::of(Some(&shape), &Header::default(), 7).is_none());
    }

    #[test]
    fn prompted_users_are_pseudonymised_as_training_users_were() {
        let hasher = PiiHasher::new(b"a key of sixteen bytes", PiiFields::default()).unwrap();
        let pseudonym = hasher.pseudonym("alice@contoso.com");
        assert_eq!(prompt_user("Alice@Contoso.com", Some(&hasher)), pseudonym);
        assert_eq!(prompt_user(&pseudonym, Some(&hasher)), pseudonym);
        assert_eq!(prompt_user("Alice@Contoso.com", None), "alice@contoso.com");
    }

    #[test]
    fn a_log_moves_to_its_headers_hour_of_the_week_in_the_week_the_model_wrote() {
        let header = Header {
            weekday: Some(0),
            hour: Some(9),
            ..Header::default()
        };
        // Thursday 14:23:45 → that week's Monday 09:23:45, in the log's own format.
        let mut trail = serde_json::json!({ "eventTime": "2026-11-12T14:23:45Z" });
        move_to_header_time(Source::CloudTrail, &mut trail, &header);
        assert_eq!(trail["eventTime"], "2026-11-09T09:23:45Z");
        // Sunday is the week's last day; the fraction stays.
        let sunday = Header {
            weekday: Some(6),
            hour: Some(23),
            ..Header::default()
        };
        let mut sign_in = serde_json::json!({ "TimeGenerated": "2026-11-09T00:05:00.1234567Z" });
        move_to_header_time(Source::Azure, &mut sign_in, &sunday);
        let moved = schemas::parse_event_time(&sign_in["TimeGenerated"]).unwrap();
        assert_eq!(moved.to_rfc3339(), "2026-11-15T23:05:00.123456700+00:00");
        // No header time, or no time to move: left as written.
        let mut untouched = trail.clone();
        move_to_header_time(Source::CloudTrail, &mut untouched, &Header::default());
        assert_eq!(untouched, trail);
        let mut timeless = serde_json::json!({ "eventName": "GetObject" });
        move_to_header_time(Source::CloudTrail, &mut timeless, &header);
        assert_eq!(timeless, serde_json::json!({ "eventName": "GetObject" }));
    }
}
