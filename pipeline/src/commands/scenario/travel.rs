//! `cyberlm scenario travel`: a user working from another country for a few days.
//!
//! The Dual-GPT: the main model writes what the user does (their usual sources, apps and
//! hours, replayed from a real day of theirs on the same weekday); each group model
//! (`train --field-group location`) then writes its fields of every log it covers, given
//! only the country, so the city, state, coordinates and address are ones that occur
//! together in that country rather than the user's home city under a new country code.
//! The addresses it writes keep their network and get a new host each day of the trip
//! (`trip_addresses.rs`): a traveller's address is one nobody has seen.
//! Without a group model the main model writes the locations too: the single-GPT
//! baseline the Dual-GPT is measured against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::NaiveDate;
use model::checkpoint::{self, LoadedModel};
use model::generate::{Prompt, generate};
use operators::source_fields::lookup_mut;
use operators::text_format::{FieldGroup, Header, TextFormat};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemas::{Envelope, Source};
use serde_json::Value;

use super::recorded_days::{days_of, fresh_ids, plan, set_event_time};
use super::trip_addresses::TripAddresses;
use crate::cli::{SCENARIO_TOP_P, SamplingArgs, TravelArgs};
use crate::commands::generate::prompt_user;
use crate::config::Config;
use crate::files::{JsonlSink, read_envelopes};
use crate::progress;

/// Logs generated per call (and progress update).
const CHUNK: usize = 64;

/// Who writes what the traveller does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behaviour {
    /// The main model writes every log (the Dual-GPT as the seed describes it).
    #[default]
    Generated,
    /// The user's own logs of the same weekdays, moved to the trip's days with fresh
    /// ids; only the group models' fields (the locations) are written anew. Coherent
    /// by construction, where a model that has not learned which API calls go with
    /// which service writes combinations no one makes.
    Recorded,
}

/// A trip to plan logs for.
#[derive(Debug, Clone)]
pub struct Trip {
    /// The traveller as the model knows them (pseudonymised when the model was).
    pub user: String,
    /// The traveller as given, for messages.
    pub named: String,
    /// Where to (ISO 3166 alpha-2, upper case).
    pub country: String,
    /// First day abroad (UTC).
    pub from: NaiveDate,
    /// Days abroad.
    pub days: u32,
    /// Who writes what they do.
    pub behaviour: Behaviour,
}

impl Trip {
    /// A trip of the user named `named` in the clear, pseudonymised by `pii` as the
    /// model's logs were.
    pub fn new(
        named: &str,
        country: &str,
        from: NaiveDate,
        days: u32,
        behaviour: Behaviour,
        pii: Option<&operators::pii::PiiHasher>,
    ) -> Self {
        Trip {
            user: prompt_user(named, pii),
            named: named.to_string(),
            country: country.trim().to_uppercase(),
            from,
            days,
            behaviour,
        }
    }
}

/// The Dual-GPT: the main model and the group models that overwrite their fields.
pub struct TravelModels {
    /// The main model's folder (a registry's published version, resolved).
    pub main_dir: PathBuf,
    /// The main model.
    pub main: LoadedModel,
    groups: Vec<(PathBuf, LoadedModel, FieldGroup)>,
}

impl TravelModels {
    /// Loads the main model and the group models, each checked to be what its flag says
    /// and to read pseudonyms as the config writes them.
    pub fn load(
        main: &Path,
        groups: &[PathBuf],
        device: &model::Device,
        config: &Config,
    ) -> anyhow::Result<Self> {
        let main_dir = model::registry::resolve(main)?;
        let loaded = checkpoint::load(&main_dir, device)?;
        if let Some(group) = &loaded.manifest.text_format.group {
            anyhow::bail!(
                "{} is the {:?} group model: give the main model with --model and this one with --group-model",
                main.display(),
                group.name
            );
        }
        config.pii.hasher_for_model(&main_dir, &loaded.manifest)?;
        Ok(TravelModels {
            main_dir,
            main: loaded,
            groups: load_group_models(groups, device, config)?,
        })
    }
}

/// A trip's logs, in event-time order.
pub struct TravelLogs {
    /// Each log's source and JSON.
    pub logs: Vec<(Source, Value)>,
    /// Logs the models wrote the trip's country into themselves.
    pub in_country: usize,
    /// Logs that record a country at all.
    pub with_country: usize,
}

/// `cyberlm scenario travel`.
pub fn run(args: &TravelArgs) -> anyhow::Result<ExitCode> {
    let device = model::device::parse(&args.device)?;
    let config = Config::load(args.config.as_deref())?;
    let models = TravelModels::load(&args.model, &args.group_model, &device, &config)?;
    let pii = config
        .pii
        .hasher_for_model(&models.main_dir, &models.main.manifest)?;
    let dead_letters = args.out.with_extension("dead-letter.jsonl");
    let (history, _) = read_envelopes(&args.history, pii.as_ref(), &dead_letters)?;
    let trip = Trip::new(
        &args.user,
        &args.country,
        args.from,
        args.days,
        args.behaviour,
        pii.as_ref(),
    );
    let written = travel_logs(&models, &trip, &history, &args.sampling, &device)?;
    let mut sink = JsonlSink::create(&args.out)?;
    let mut per_source: BTreeMap<&str, usize> = BTreeMap::new();
    for (source, log) in &written.logs {
        *per_source.entry(source.name()).or_default() += 1;
        sink.write(log)?;
    }
    sink.finish()?;
    println!(
        "{} logs of {} in {} from {} for {} days written to {} ({per_source:?}); the models wrote {} in {} of the {} that record a country",
        written.logs.len(),
        trip.named,
        trip.country,
        trip.from,
        trip.days,
        args.out.display(),
        trip.country,
        written.in_country,
        written.with_country,
    );
    Ok(ExitCode::SUCCESS)
}

/// The logs of `trip`: the traveller's usual days (replayed from their logs in
/// `history`), written by the main model, with each group model's fields overlaid, at
/// the planned times and with the trip's country in every country field.
pub fn travel_logs(
    models: &TravelModels,
    trip: &Trip,
    history: &[Envelope],
    sampling: &SamplingArgs,
    device: &model::Device,
) -> anyhow::Result<TravelLogs> {
    let user_days = days_of(
        history
            .iter()
            .enumerate()
            .filter(|(_, log)| log.user.as_deref() == Some(&trip.user)),
    );
    anyhow::ensure!(
        !user_days.is_empty(),
        "no log of user {:?} in the history: give their real logs",
        trip.named,
    );
    let plan = plan(&user_days, trip.from, trip.days);
    anyhow::ensure!(
        !plan.is_empty(),
        "user {:?} has no logs on the weekdays from {} for {} days in the history",
        trip.named,
        trip.from,
        trip.days
    );

    let format = &models.main.manifest.text_format;
    let prompts: Vec<Prompt> = plan
        .iter()
        .map(|planned| {
            // A log of a source that records no country was trained with one only when
            // the format carries the user's sign-in country into its header.
            let has_country =
                !planned.source.spec().country.is_empty() || format.carry_country_hours.is_some();
            let mut header = Header {
                source: Some(planned.source),
                user: Some(trip.user.clone()),
                country: has_country.then(|| trip.country.clone()),
                ..Header::default()
            };
            header.set_time(planned.time);
            prompt(format, header)
        })
        .collect();
    let mut logs = match trip.behaviour {
        Behaviour::Generated => {
            generate_logs(&models.main, &prompts, sampling, device, "user's logs")?
        }
        Behaviour::Recorded => plan
            .iter()
            .map(|planned| history[planned.template].json.clone())
            .collect(),
    };
    let mut addresses = TripAddresses::new(sampling.seed);
    for (dir, group_model, group) in &models.groups {
        let covered: Vec<usize> = (0..plan.len())
            .filter(|&i| group.covers(plan[i].source))
            .collect();
        let group_format = &group_model.manifest.text_format;
        let group_prompts: Vec<Prompt> = covered
            .iter()
            .map(|&i| prompt(group_format, group_format.header(&prompts[i].header)))
            .collect();
        let mut written = generate_logs(group_model, &group_prompts, sampling, device, &group.name)
            .with_context(|| format!("group model {}", dir.display()))?;
        for (&i, group_log) in covered.iter().zip(&mut written) {
            addresses.refresh(plan[i].source, plan[i].time.date_naive(), group_log);
            group.overlay(plan[i].source, &mut logs[i], group_log);
        }
    }

    let mut written = TravelLogs {
        logs: Vec::with_capacity(plan.len()),
        in_country: 0,
        with_country: 0,
    };
    let mut ids = ChaCha8Rng::seed_from_u64(sampling.seed);
    for (planned, mut log) in plan.iter().zip(logs) {
        set_event_time(planned.source, &mut log, planned.time);
        if trip.behaviour == Behaviour::Recorded {
            fresh_ids(planned.source, &mut log, &mut ids);
        }
        // How often the models wrote the country themselves; then the scenario's country
        // is written into the country fields, as a prompt's header fields are forced: the
        // figure of merit is whether the rest of the location is a real place in it.
        if let Ok(envelope) = schemas::decode(planned.source, log.to_string().as_bytes())
            && let Some(country) = envelope.country
        {
            written.with_country += 1;
            written.in_country += usize::from(country.eq_ignore_ascii_case(&trip.country));
        }
        set_country(planned.source, &mut log, &trip.country);
        written.logs.push((planned.source, log));
    }
    Ok(written)
}

/// The group models, each checked to be one and to read pseudonyms as the config writes
/// them.
fn load_group_models(
    dirs: &[PathBuf],
    device: &model::Device,
    config: &Config,
) -> anyhow::Result<Vec<(PathBuf, LoadedModel, FieldGroup)>> {
    dirs.iter()
        .map(|dir| {
            let dir = &model::registry::resolve(dir)?;
            let loaded = checkpoint::load(dir, device)?;
            config.pii.hasher_for_model(dir, &loaded.manifest)?;
            let group = loaded.manifest.text_format.group.clone().with_context(|| {
                format!(
                    "{} is not a group model: train one with `cyberlm train --field-group location`",
                    dir.display()
                )
            })?;
            Ok((dir.clone(), loaded, group))
        })
        .collect()
}

/// A prompt for `header` under `format`, held to the shape of the source's logs; a
/// scenario's logs are benign (the model may not pick a technique).
pub(super) fn prompt(format: &TextFormat, header: Header) -> Prompt {
    let source = header.source.unwrap_or(Source::Azure);
    Prompt {
        source,
        shape: format.shape(source).cloned().map(Arc::new),
        header,
        json_prefix: String::new(),
        benign: true,
    }
}

/// Generates one log per prompt with `loaded`, read back through its text format.
pub(super) fn generate_logs(
    loaded: &LoadedModel,
    prompts: &[Prompt],
    sampling: &SamplingArgs,
    device: &model::Device,
    what: &str,
) -> anyhow::Result<Vec<Value>> {
    let bar = progress::bar(prompts.len() as u64, what);
    let mut logs = Vec::with_capacity(prompts.len());
    for (chunk_index, chunk) in prompts.chunks(CHUNK).enumerate() {
        let config = sampling.config((chunk_index * CHUNK) as u64, SCENARIO_TOP_P);
        let generated = generate(
            &loaded.model,
            chunk,
            &loaded.manifest.text_format,
            &config,
            sampling.batch_size,
            device,
        )
        .context("cannot generate from this prompt")?;
        for log in generated {
            // JSON-constrained decoding always yields an object; an empty one stands in
            // for the impossible, so the plan and the logs stay aligned.
            let json = match loaded.manifest.text_format.parse(&log.text) {
                Some((_, json)) => json,
                None => {
                    tracing::warn!(
                        message = "A generated log does not parse.",
                        text = log.text.as_str()
                    );
                    Value::Object(Default::default())
                }
            };
            logs.push(json);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(logs)
}

/// Writes `country` into every country field `log` has.
fn set_country(source: Source, log: &mut Value, country: &str) {
    for path in source.spec().country {
        if let Some(field) = lookup_mut(log, path.as_str()) {
            *field = Value::String(country.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trips_country_goes_into_every_country_field_and_only_there() {
        let mut sign_in = serde_json::json!({"Location": "DE", "LocationDetails": {"countryOrRegion": "DE", "city": "Berlin"}});
        set_country(Source::Azure, &mut sign_in, "ES");
        assert_eq!(sign_in["Location"], "ES");
        assert_eq!(sign_in["LocationDetails"]["countryOrRegion"], "ES");
        assert_eq!(
            sign_in["LocationDetails"]["city"], "Berlin",
            "the place is the models'"
        );
    }
}
