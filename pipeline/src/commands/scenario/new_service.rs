//! A team starting to use an AWS service: some of their usual AWS calls go to it.
//!
//! No one has called the service yet, so no recorded log shows it. Each user's days are
//! planned from their recorded days of the same weekday (as a trip's are); a share of
//! their CloudTrail calls becomes a call to the new service: the recorded call, projected
//! as the model reads it, up to and including its `eventSource` and `eventName`, now the
//! new service's, is the prompt, and the main model writes the rest (region, address,
//! parameters, response) as it would for that user at that hour.

use chrono::NaiveDate;
use model::checkpoint::LoadedModel;
use operators::text_format::Header;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemas::{Envelope, Source};
use serde_json::Value;

use super::recorded_days::{days_of, fresh_ids, plan, set_event_time};
use super::travel::{generate_logs, prompt};
use crate::cli::SamplingArgs;

/// Users starting on an AWS service.
#[derive(Debug, Clone)]
pub struct NewService {
    /// The users as the model knows them (pseudonymised where its logs were).
    pub users: Vec<String>,
    /// The users as given, for messages.
    pub named: Vec<String>,
    /// The service's `eventSource` (`sagemaker.amazonaws.com`).
    pub event_source: String,
    /// The calls they make to it (`eventName`s), chosen evenly.
    pub events: Vec<String>,
    /// First day.
    pub from: NaiveDate,
    /// Days from then.
    pub days: u32,
    /// Share of their AWS calls that go to the new service.
    pub share: f64,
}

/// The new service's calls, by source (all CloudTrail), written by `main` from the
/// users' recorded calls in `history`.
pub fn new_service_logs(
    main: &LoadedModel,
    service: &NewService,
    history: &[Envelope],
    sampling: &SamplingArgs,
    device: &model::Device,
) -> anyhow::Result<Vec<(Source, Value)>> {
    anyhow::ensure!(
        !service.events.is_empty(),
        "{}: name the calls (`events`) the users will make",
        service.event_source
    );
    let format = &main.manifest.text_format;
    let mut rng = ChaCha8Rng::seed_from_u64(sampling.seed);
    let mut planned = Vec::new();
    let mut prompts = Vec::new();
    for (user, named) in service.users.iter().zip(&service.named) {
        let days = days_of(
            history
                .iter()
                .enumerate()
                .filter(|(_, log)| log.user.as_deref() == Some(user))
                .filter(|(_, log)| log.source == Source::CloudTrail),
        );
        anyhow::ensure!(
            !days.is_empty(),
            "{}: no AWS call of user {named:?} in the history: give their real logs",
            service.event_source
        );
        for call in plan(&days, service.from, service.days) {
            if !rng.random_bool(service.share.clamp(0.0, 1.0)) {
                continue;
            }
            let event = service.events.choose(&mut rng).map_or("", String::as_str);
            let Some(json_prefix) = call_prefix(
                format,
                &history[call.template].json,
                &service.event_source,
                event,
            ) else {
                continue;
            };
            let mut header = Header {
                source: Some(Source::CloudTrail),
                user: Some(user.clone()),
                ..Header::default()
            };
            header.set_time(call.time);
            prompts.push(model::generate::Prompt {
                json_prefix,
                ..prompt(format, header)
            });
            planned.push(call);
        }
    }
    let written = generate_logs(main, &prompts, sampling, device, &service.event_source)?;
    let mut ids = ChaCha8Rng::seed_from_u64(sampling.seed ^ 0x5E7F1CE);
    Ok(planned
        .iter()
        .zip(written)
        .map(|(call, mut log)| {
            set_event_time(Source::CloudTrail, &mut log, call.time);
            fresh_ids(Source::CloudTrail, &mut log, &mut ids);
            (Source::CloudTrail, log)
        })
        .collect())
}

/// The start of `recorded`'s text as the model reads it (projected), with its service
/// and call replaced, ending after the `eventName`'s value; `None` for a log without
/// both fields.
fn call_prefix(
    format: &operators::text_format::TextFormat,
    recorded: &Value,
    event_source: &str,
    event_name: &str,
) -> Option<String> {
    let mut log = recorded.clone();
    format.projection.apply(Source::CloudTrail, &mut log);
    let object = log.as_object_mut()?;
    *object.get_mut("eventSource")? = Value::from(event_source);
    *object.get_mut("eventName")? = Value::from(event_name);
    let text = log.to_string();
    let name = format!("\"eventName\":{}", Value::from(event_name));
    let end = text.find(&name)? + name.len();
    Some(text[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use operators::text_format::TextFormat;

    #[test]
    fn the_prompt_is_the_recorded_call_up_to_the_new_services_call() {
        let recorded = serde_json::json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/Data/ann"},
            "eventTime": "2026-11-02T09:00:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "ListBuckets",
            "awsRegion": "eu-west-1",
            "requestParameters": null,
        });
        let prefix = call_prefix(
            &TextFormat::default(),
            &recorded,
            "sagemaker.amazonaws.com",
            "CreateNotebookInstance",
        )
        .unwrap();
        assert_eq!(
            prefix,
            r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Data/ann"},"eventTime":"2026-11-02T09:00:00Z","eventSource":"sagemaker.amazonaws.com","eventName":"CreateNotebookInstance""#
        );
        assert_eq!(
            call_prefix(
                &TextFormat::default(),
                &serde_json::json!({"eventName": "x"}),
                "a",
                "b"
            ),
            None
        );
    }
}
