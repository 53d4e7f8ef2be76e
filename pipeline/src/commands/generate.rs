//! `cyberlm generate`: synthetic logs from a trained model, for a source and optionally a
//! user, country or MITRE technique; every line written parses as JSON.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use model::generate::{Prompt, generate};
use operators::fidelity::rule_firing::{Fired, rules_for};
use operators::sigma::SigmaDetector;
use operators::text_format::{Header, Shape};
use rand::SeedableRng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand_chacha::ChaCha8Rng;
use schemas::Source;
use serde_json::Value;

use crate::cli::GenerateArgs;
use crate::commands::detect::sigma_detector;
use crate::config::Config;
use crate::files::JsonlSink;
use crate::progress;

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
        weekday: None,
        hour: None,
    };
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
    if shape.is_none() && !args.no_shape {
        tracing::warn!(
            message = "The model has no shape for this source (trained before shapes, or on too few of its logs): generated logs are held to valid JSON only.",
            source = source.name()
        );
    }
    let mut users = match args.model_picks_user || args.user.is_some() {
        true => None,
        false => UserMix::of(
            shape.as_deref(),
            args.technique.is_some(),
            args.benign,
            args.sampling.seed,
        ),
    };
    let prompt = Prompt {
        source,
        header,
        json_prefix: args.prefix.clone().unwrap_or_default(),
        shape,
        benign: args.benign,
    };
    let mut judge = match args.must_fire {
        true => Some(RuleJudge::new(
            &config,
            args.technique.as_deref().unwrap_or_default(),
        )?),
        false => None,
    };
    let attempts = match judge {
        Some(_) => args.count.saturating_mul(args.must_fire_attempts.max(1)),
        None => args.count,
    };
    let mut sink = JsonlSink::create(&args.out)?;
    let bar = progress::bar(args.count as u64, "generating");
    let (mut unparsed, mut forced, mut written, mut tried) = (0u64, 0u64, 0usize, 0usize);
    while written < args.count && tried < attempts {
        let count = CHUNK.min(attempts - tried);
        let sampling = args.sampling.config(tried as u64);
        let prompts: Vec<Prompt> = (0..count)
            .map(|_| {
                let mut prompt = prompt.clone();
                if let Some(users) = &mut users {
                    prompt.header.user = Some(users.draw());
                }
                prompt
            })
            .collect();
        let generated = generate(
            &loaded.model,
            &prompts,
            format.pin_header,
            &sampling,
            args.sampling.batch_size,
            &device,
        )
        .context("cannot generate from this prompt")?;
        tried += count;
        for log in generated {
            if written == args.count {
                break;
            }
            let kept = match format.parse(&log.text) {
                Some((_, json)) => {
                    let kept = judge
                        .as_mut()
                        .is_none_or(|judge| judge.fires(source, &json));
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
                    if judge.is_none() {
                        sink.write(&Value::String(log.text))?;
                    }
                    judge.is_none()
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
    println!(
        "--must-fire: {} of {} logs tried fired one of the {} rules tagged with {}",
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

/// Judges generated logs by the Sigma rules of one technique (`--must-fire`).
struct RuleJudge {
    detector: SigmaDetector,
    technique: String,
    /// How many rules are tagged with it.
    rules: usize,
    tried: usize,
    fired: usize,
}

impl RuleJudge {
    fn new(config: &Config, technique: &str) -> anyhow::Result<Self> {
        let detector = sigma_detector(config)?;
        let technique = operators::attack::canonical(technique);
        let rules = rules_for(&detector, &technique).len();
        anyhow::ensure!(
            rules > 0,
            "--must-fire: no Sigma rule in the config's sigma.rules is tagged with {technique}, so no log could pass; point sigma.rules (or CYBERLM_SIGMA_RULES) at rules that detect it, or drop --must-fire"
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

/// The users benign logs are generated for when none is asked for: the source's
/// training mix ([`Shape::users`]), drawn from in proportion, with a stream of its own so
/// the draws do not move the sampling.
struct UserMix {
    users: Vec<String>,
    weights: WeightedIndex<u32>,
    rng: ChaCha8Rng,
}

impl UserMix {
    /// `None` where the model picks: a model fitted before the mix was kept, a group
    /// model, or logs that may be an attack's (a technique given, or a red-team model
    /// free to write one), whose users the benign mix does not describe.
    fn of(shape: Option<&Shape>, technique: bool, benign: bool, seed: u64) -> Option<Self> {
        let shape = shape?;
        let red_team = shape
            .combinations
            .as_ref()
            .is_some_and(|combinations| combinations.tags.iter().any(|tag| !tag.is_empty()));
        if technique || (red_team && !benign) {
            return None;
        }
        let weights = WeightedIndex::new(shape.users.values().copied()).ok()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(USER_STREAM);
        Some(UserMix {
            users: shape.users.keys().cloned().collect(),
            weights,
            rng,
        })
    }

    fn draw(&mut self) -> String {
        self.users[self.weights.sample(&mut self.rng)].clone()
    }
}

/// The random stream user draws take: past any a chunk's rows take ([`model::generate`]
/// gives row `i` stream `i`).
const USER_STREAM: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use super::*;
    use operators::pii::{PiiFields, PiiHasher};

    #[test]
    fn prompted_users_are_pseudonymised_as_training_users_were() {
        let hasher = PiiHasher::new(b"a key of sixteen bytes", PiiFields::default()).unwrap();
        let pseudonym = hasher.pseudonym("alice@contoso.com");
        assert_eq!(prompt_user("Alice@Contoso.com", Some(&hasher)), pseudonym);
        assert_eq!(prompt_user(&pseudonym, Some(&hasher)), pseudonym);
        assert_eq!(prompt_user("Alice@Contoso.com", None), "alice@contoso.com");
    }

    #[test]
    fn benign_logs_are_drawn_for_users_in_their_training_proportions() {
        let logs: Vec<serde_json::Value> = (0..4)
            .map(|i| serde_json::json!({ "event": if i % 2 == 0 { "a" } else { "b" } }))
            .collect();
        let mut shape = Shape::fit(&logs);
        shape.users = [("anna".to_string(), 3), ("omar".to_string(), 1)].into();
        let mut mix = UserMix::of(Some(&shape), false, false, 7).expect("a benign model's mix");
        let draws = 4000;
        let anna = (0..draws).filter(|_| mix.draw() == "anna").count();
        let share = anna as f64 / draws as f64;
        assert!(
            (share - 0.75).abs() < 0.03,
            "anna drawn {share:.3} of the time"
        );

        // A technique's logs, and a red-team model's logs free to be an attack's, are
        // the model's to give a user; a model without a mix keeps picking.
        assert!(UserMix::of(Some(&shape), true, false, 7).is_none());
        let tagged = [(&logs[0], ""), (&logs[1], "t=T1110")];
        let mut red_team = Shape::fit_tagged("t", tagged);
        red_team.users = shape.users.clone();
        assert!(UserMix::of(Some(&red_team), false, false, 7).is_none());
        assert!(UserMix::of(Some(&red_team), false, true, 7).is_some());
        assert!(UserMix::of(Some(&Shape::fit(&logs)), false, false, 7).is_none());
    }
}
