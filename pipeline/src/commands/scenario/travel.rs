//! `cyberlm scenario travel`: a user working from another country for a few days.
//!
//! The Dual-GPT: the main model writes what the user does (their usual sources, apps and
//! hours, replayed from a real day of theirs on the same weekday); each group model
//! (`train --field-group location`) then writes its fields of every log it covers, given
//! only the country, so the city, state, coordinates and address are ones that occur
//! together in that country rather than the user's home city under a new country code.
//! Without a group model the main model writes the locations too: the single-GPT
//! baseline the Dual-GPT is measured against.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use model::checkpoint::{self, LoadedModel};
use model::generate::{Prompt, generate};
use operators::source_fields::lookup_mut;
use operators::text_format::{FieldGroup, Header, TextFormat};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{Envelope, Source};
use serde_json::Value;

use crate::cli::{SamplingArgs, TravelArgs};
use crate::commands::generate::prompt_user;
use crate::config::Config;
use crate::files::{JsonlSink, read_envelopes};
use crate::progress;

/// Logs generated per call (and progress update).
const CHUNK: usize = 64;

/// One log to write: its source, when, and the real log of the user's it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    source: Source,
    time: DateTime<Utc>,
    /// Index of the real log in the history.
    template: usize,
}

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
            let mut header = Header {
                source: Some(planned.source),
                user: Some(trip.user.clone()),
                // Only a source that records a country was trained with one.
                country: (!planned.source.spec().country.is_empty()).then(|| trip.country.clone()),
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
    for (dir, group_model, group) in &models.groups {
        let covered: Vec<usize> = (0..plan.len())
            .filter(|&i| group.covers(plan[i].source))
            .collect();
        let group_format = &group_model.manifest.text_format;
        let group_prompts: Vec<Prompt> = covered
            .iter()
            .map(|&i| prompt(group_format, group_format.header(&prompts[i].header)))
            .collect();
        let written = generate_logs(group_model, &group_prompts, sampling, device, &group.name)
            .with_context(|| format!("group model {}", dir.display()))?;
        for (&i, group_log) in covered.iter().zip(&written) {
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

/// A prompt for `header` under `format`, held to the shape of the source's logs.
fn prompt(format: &TextFormat, header: Header) -> Prompt {
    let source = header.source.unwrap_or(Source::Azure);
    Prompt {
        source,
        shape: format.shape(source).cloned().map(Arc::new),
        header,
        json_prefix: String::new(),
    }
}

/// Generates one log per prompt with `loaded`, read back through its text format.
fn generate_logs(
    loaded: &LoadedModel,
    prompts: &[Prompt],
    sampling: &SamplingArgs,
    device: &model::Device,
    what: &str,
) -> anyhow::Result<Vec<Value>> {
    let bar = progress::bar(prompts.len() as u64, what);
    let mut logs = Vec::with_capacity(prompts.len());
    for (chunk_index, chunk) in prompts.chunks(CHUNK).enumerate() {
        let config = sampling.config((chunk_index * CHUNK) as u64);
        let generated = generate(&loaded.model, chunk, &config, sampling.batch_size, device)
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

/// The user's logs by UTC day: each log's source and time of day, in order.
fn days_of<'a>(
    logs: impl Iterator<Item = (usize, &'a Envelope)>,
) -> BTreeMap<NaiveDate, Vec<(Source, NaiveTime, usize)>> {
    let mut days: BTreeMap<NaiveDate, Vec<(Source, NaiveTime, usize)>> = BTreeMap::new();
    for (index, log) in logs {
        days.entry(log.event_time.date_naive()).or_default().push((
            log.source,
            log.event_time.time(),
            index,
        ));
    }
    for day in days.values_mut() {
        day.sort_by_key(|&(_, time, _)| time);
    }
    days
}

/// The logs of `days` days from `from`: each day repeats a real day of the user's on the
/// same weekday (the first such day for the first Monday abroad, the next for the next,
/// round and round); a weekday they never worked stays empty.
fn plan(
    days: &BTreeMap<NaiveDate, Vec<(Source, NaiveTime, usize)>>,
    from: NaiveDate,
    count: u32,
) -> Vec<Planned> {
    let mut used_per_weekday = [0usize; 7];
    let mut planned = Vec::new();
    for date in from.iter_days().take(count as usize) {
        let weekday = date.weekday().num_days_from_monday() as usize;
        let same_weekday: Vec<&Vec<(Source, NaiveTime, usize)>> = days
            .iter()
            .filter(|(day, _)| day.weekday().num_days_from_monday() as usize == weekday)
            .map(|(_, logs)| logs)
            .collect();
        if same_weekday.is_empty() {
            continue;
        }
        let template = same_weekday[used_per_weekday[weekday] % same_weekday.len()];
        used_per_weekday[weekday] += 1;
        planned.extend(template.iter().map(|&(source, time, template)| Planned {
            source,
            time: date.and_time(time).and_utc(),
            template,
        }));
    }
    planned
}

/// Writes `country` into every country field `log` has.
fn set_country(source: Source, log: &mut Value, country: &str) {
    for path in source.spec().country {
        if let Some(field) = lookup_mut(log, path.as_str()) {
            *field = Value::String(country.to_string());
        }
    }
}

/// Gives a copied log new event ids (UUIDs), so it is never taken for the real one.
fn fresh_ids(source: Source, log: &mut Value, rng: &mut ChaCha8Rng) {
    for path in source.spec().event_id {
        if let Some(field @ Value::String(_)) = lookup_mut(log, path.as_str()) {
            let bits: u128 = rng.random();
            let hex = format!("{bits:032x}");
            *field = Value::String(format!(
                "{}-{}-4{}-a{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[13..16],
                &hex[17..20],
                &hex[20..]
            ));
        }
    }
}

/// Moves `log` to `time`: each of its event-time fields, written as it was written, or
/// the source's usual field added where the model wrote none (a model without the
/// source's shape may close a log early).
fn set_event_time(source: Source, log: &mut Value, time: DateTime<Utc>) {
    let mut found = false;
    for path in source.spec().event_time {
        if let Some(field) = lookup_mut(log, path.as_str()) {
            *field = schemas::format_event_time_like(field, time);
            found = true;
        }
    }
    if found {
        return;
    }
    let like = match source {
        Source::Confluence => Value::from(0),
        Source::Azure | Source::CloudTrail => Value::from("1970-01-01T00:00:00.000Z"),
    };
    if let (Some(path), Some(object)) = (source.spec().event_time.first(), log.as_object_mut()) {
        object.insert(
            path.as_str().to_string(),
            schemas::format_event_time_like(&like, time),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(date: &str, time: &str) -> (NaiveDate, NaiveTime) {
        (date.parse().unwrap(), time.parse().unwrap())
    }

    #[test]
    fn days_abroad_repeat_real_days_of_the_same_weekday_in_turn() {
        let mut days = BTreeMap::new();
        // Monday 2 and 9 November; Tuesday 3 November; no weekend.
        let (mon1, t1) = at("2026-11-02", "08:30:00");
        let (mon2, t2) = at("2026-11-09", "10:00:00");
        let (tue, t3) = at("2026-11-03", "14:15:00");
        days.insert(
            mon1,
            vec![(Source::Azure, t1, 0), (Source::CloudTrail, t1, 1)],
        );
        days.insert(mon2, vec![(Source::Confluence, t2, 2)]);
        days.insert(tue, vec![(Source::Azure, t3, 3)]);
        // From Sunday 6 December for 10 days: Mon 7, Tue 8, Mon 14, Tue 15.
        let planned = plan(&days, "2026-12-06".parse().unwrap(), 10);
        let described: Vec<(Source, String, usize)> = planned
            .iter()
            .map(|p| (p.source, p.time.to_rfc3339(), p.template))
            .collect();
        assert_eq!(
            described,
            [
                (Source::Azure, "2026-12-07T08:30:00+00:00".to_string(), 0),
                (
                    Source::CloudTrail,
                    "2026-12-07T08:30:00+00:00".to_string(),
                    1
                ),
                (Source::Azure, "2026-12-08T14:15:00+00:00".to_string(), 3),
                (
                    Source::Confluence,
                    "2026-12-14T10:00:00+00:00".to_string(),
                    2
                ),
                (Source::Azure, "2026-12-15T14:15:00+00:00".to_string(), 3),
            ]
        );
    }

    #[test]
    fn a_generated_log_moves_to_its_planned_time_in_its_own_format() {
        let time = "2026-12-07T08:30:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut trail = serde_json::json!({"eventTime": "2026-11-02T10:00:00Z"});
        set_event_time(Source::CloudTrail, &mut trail, time);
        assert_eq!(trail["eventTime"], "2026-12-07T08:30:00Z");
        let mut sign_in = serde_json::json!({"Location": "DE", "LocationDetails": {"countryOrRegion": "DE", "city": "Berlin"}});
        set_country(Source::Azure, &mut sign_in, "ES");
        assert_eq!(sign_in["Location"], "ES");
        assert_eq!(sign_in["LocationDetails"]["countryOrRegion"], "ES");
        assert_eq!(
            sign_in["LocationDetails"]["city"], "Berlin",
            "the place is the models'"
        );
        let mut closed_early = serde_json::json!({});
        set_event_time(Source::Azure, &mut closed_early, time);
        assert_eq!(closed_early["TimeGenerated"], "2026-12-07T08:30:00.000Z");
        let mut copied = serde_json::json!({"Id": "a4ebd3b2-2b1c-4fd2-9a1e-6b44b2b0e001"});
        fresh_ids(
            Source::Azure,
            &mut copied,
            &mut ChaCha8Rng::seed_from_u64(1),
        );
        let id = copied["Id"].as_str().unwrap();
        assert_ne!(id, "a4ebd3b2-2b1c-4fd2-9a1e-6b44b2b0e001");
        assert_eq!(
            id.split('-').map(str::len).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        let mut page = serde_json::json!({"creationDate": 1_700_000_000_000i64});
        set_event_time(Source::Confluence, &mut page, time);
        assert_eq!(page["creationDate"], time.timestamp_millis());
    }
}
