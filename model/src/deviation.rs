//! Deviation: how far each log of a stream is from what the model expected of it.
//!
//! Logs arrive in event-time order (the merged stream). Each is scored given its user's
//! preceding logs, from every source ([`ContextMode::User`], the default) or from its
//! own source only, and its conditioning header (source, user, country, weekday, hour),
//! so the hour and the weekday count through the header. The deviation is the surprisal,
//! in nats, of the header and of every field that is not volatile (ids, timestamps:
//! `schemas` declares them per source): a new request id is not news, a new country is.

use std::collections::{HashMap, VecDeque};

use burn::prelude::Device;
use operators::calibration::ScoredLog;
use operators::text_format::{CountryCarry, Header, TextFormat, header_spans};
use schemas::Envelope;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::gpt::Gpt;
use crate::score::{FieldScore, LogScore, ScoreRequest, score};
use crate::tokenizer::{ByteTokenizer, Special};

/// Which preceding logs a log is scored after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContextMode {
    /// The user's preceding logs from all sources, as merged by event time.
    #[default]
    User,
    /// The user's preceding logs from the same source only, and nothing else learnt from
    /// the other sources: no sign-in country is carried into the header of a CloudTrail
    /// call or a Confluence edit. What a detector reading one source alone could know.
    UserSource,
    /// None: each log alone with its own header (no carried country either).
    None,
}

impl std::str::FromStr for ContextMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "user" => Ok(ContextMode::User),
            "user_source" | "user-source" => Ok(ContextMode::UserSource),
            "none" => Ok(ContextMode::None),
            _ => Err(format!(
                "unknown context `{text}`: use `user` (all sources), `user_source` or `none`"
            )),
        }
    }
}

/// How to score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviationConfig {
    /// Which preceding logs form the context.
    pub context: ContextMode,
    /// At most this many context tokens (the model's context bounds it too): fewer is
    /// faster, more remembers further back.
    pub context_tokens: usize,
    /// Windows per model call.
    pub batch_windows: usize,
    /// Users whose recent logs are remembered; the least recently active are forgotten
    /// beyond it, so memory stays bounded on any stream.
    pub max_users: usize,
}

impl Default for DeviationConfig {
    fn default() -> Self {
        DeviationConfig {
            context: ContextMode::User,
            context_tokens: usize::MAX,
            batch_windows: 16,
            max_users: 100_000,
        }
    }
}

/// One log's deviation.
#[derive(Debug, Clone)]
pub struct Deviation {
    /// Surprisal of the header and of the non-volatile fields, in nats.
    pub score: f32,
    /// The kind of event (`Source::spec().event_type_of`), for calibration.
    pub kind: String,
    /// Surprisal of the header alone.
    pub header_surprisal: f32,
    /// The header's fields (`header.country`, ...) and the non-volatile JSON fields,
    /// most surprising first.
    pub fields: Vec<FieldScore>,
    /// What the log was scored after, and its text: enough to ask the model what it
    /// expected instead ([`crate::explain`]).
    pub request: ScoreRequest,
    /// The per-byte scores.
    pub log: LogScore,
}

impl Deviation {
    /// What the log is calibrated against: its event type, separately for logs scored
    /// with no preceding log (a user's first after a restart, or a new user), which are
    /// more surprising for want of context, not for what they say.
    pub fn calibration_kind(&self) -> String {
        if self.request.context.is_empty() {
            format!("{} (no context)", self.kind)
        } else {
            self.kind.clone()
        }
    }

    /// The log as calibration sees it; `kind` is its [`Deviation::calibration_kind`].
    pub fn scored<'a>(&'a self, envelope: &'a Envelope, kind: &'a str) -> ScoredLog<'a> {
        ScoredLog {
            source: envelope.source.name(),
            kind,
            user: envelope.user.as_deref(),
            client_ip: envelope.client_ip(),
            time_ms: envelope.event_time_ms(),
            total: self.score,
            fields: self
                .fields
                .iter()
                .map(|field| (field.path.as_str(), field.surprisal))
                .collect(),
        }
    }
}

/// Scores a stream of logs, remembering each user's recent logs as context.
pub struct DeviationScorer {
    model: Gpt,
    format: TextFormat,
    device: Device,
    config: DeviationConfig,
    histories: Histories,
    carry: CountryCarry,
}

impl DeviationScorer {
    /// A scorer for `model`, trained with `format`.
    pub fn new(model: Gpt, format: TextFormat, device: Device, config: DeviationConfig) -> Self {
        let limit = config.context_tokens.min(model.context());
        DeviationScorer {
            model,
            device,
            histories: Histories::new(limit, config.max_users),
            carry: format.country_carry(),
            format,
            config,
        }
    }

    /// Swaps in another model (a new version) between calls. The users' recent logs are
    /// kept as context (a restart from no context would raise the first log of every
    /// user afterwards), rendered again when the new version reads another text format
    /// (a retrain from scratch fits its own projection), so the context reads as the new
    /// model's training text did.
    pub fn swap_model(&mut self, model: Gpt, format: TextFormat, config: DeviationConfig) {
        self.histories.limit = config.context_tokens.min(model.context());
        self.carry.follow(&format);
        if format != self.format {
            self.histories.render_again(|log| {
                // The text was serialised from a JSON value: it parses.
                let json = serde_json::from_str(&log.json).unwrap_or(Value::Null);
                render(&format, &log.header, &json)
            });
        }
        self.model = model;
        self.format = format;
        self.config = config;
    }

    /// The model.
    pub fn model(&self) -> &Gpt {
        &self.model
    }

    /// Whether the model's text format pins headers ([`crate::long_logs`]).
    pub fn pin_header(&self) -> bool {
        self.format.pin_header
    }

    /// The device it runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Remembers `logs` as context for what follows, without scoring them (the history
    /// before an evaluation period).
    pub fn remember(&mut self, logs: &[&Envelope]) {
        for envelope in logs {
            if let Some(key) = self.key(envelope) {
                let (header, _, tokens) = self.render(envelope);
                self.histories
                    .push(key, Remembered::of(header, envelope, tokens));
            }
        }
    }

    /// The log's header (the user's country carried where the format carries it), its
    /// text and its tokens framed as training frames them.
    fn render(&mut self, envelope: &Envelope) -> (Header, String, Vec<u32>) {
        // The carried country is the other sources' news: only the merged context has it.
        let header = match self.config.context {
            ContextMode::User => self.carry.header(envelope, None),
            ContextMode::UserSource | ContextMode::None => Header::of(envelope, None),
        };
        let (text, tokens) = render(&self.format, &header, &envelope.json);
        (header, text, tokens)
    }

    fn key(&self, envelope: &Envelope) -> Option<String> {
        match self.config.context {
            ContextMode::User => Some(envelope.key().to_string()),
            ContextMode::UserSource => {
                Some(format!("{}\u{0}{}", envelope.key(), envelope.source.name()))
            }
            ContextMode::None => None,
        }
    }

    /// Scores `logs`, in order: each log's context includes the earlier logs of this call.
    pub fn score(&mut self, logs: &[&Envelope]) -> Vec<Deviation> {
        let mut requests = Vec::with_capacity(logs.len());
        for envelope in logs {
            let (header, text, tokens) = self.render(envelope);
            let key = self.key(envelope);
            // As `score` windows it: the whole log and what fits before it, or a quarter
            // of the context before a log longer than the context.
            let room = self.model.context() + 1;
            let budget = if tokens.len() <= room {
                room - tokens.len()
            } else {
                room / 4
            };
            let context = match &key {
                Some(key) => self.histories.context(key, budget),
                None => Vec::new(),
            };
            if let Some(key) = key {
                self.histories
                    .push(key, Remembered::of(header, envelope, tokens));
            }
            requests.push(ScoreRequest { context, text });
        }
        let scores = score(
            &self.model,
            &requests,
            self.format.pin_header,
            self.config.batch_windows,
            &self.device,
        );
        logs.iter()
            .zip(requests)
            .zip(scores)
            .map(|((envelope, request), log)| deviation(envelope, request, log))
            .collect()
    }
}

/// A log's text under `format`, and its tokens framed as training frames them.
fn render(format: &TextFormat, header: &Header, json: &Value) -> (String, Vec<u32>) {
    let text = format.render(header, json);
    let mut tokens = vec![Special::BeginLog as u32];
    tokens.extend(ByteTokenizer.encode(&text));
    tokens.push(Special::EndLog as u32);
    (text, tokens)
}

fn deviation(envelope: &Envelope, request: ScoreRequest, log: LogScore) -> Deviation {
    let spec = envelope.source.spec();
    let surprisal = |range: std::ops::Range<usize>| -> f32 {
        -log.log_probs
            .get(range)
            .map_or(0.0, |p| p.iter().sum::<f32>())
    };
    let header_surprisal = surprisal(0..log.header_bytes.min(log.log_probs.len()));
    let mut fields: Vec<FieldScore> = header_spans(&request.text)
        .unwrap_or_default()
        .into_iter()
        .map(|span| FieldScore {
            surprisal: surprisal(span.bytes.clone()),
            bytes: span.bytes.len(),
            path: span.path,
        })
        .collect();
    let json_fields = log
        .fields
        .iter()
        .filter(|field| !spec.is_volatile(&field.path));
    let json_surprisal: f32 = json_fields.clone().map(|field| field.surprisal).sum();
    fields.extend(json_fields.cloned());
    fields.sort_by(|a, b| b.surprisal.total_cmp(&a.surprisal));
    Deviation {
        score: header_surprisal + json_surprisal,
        kind: spec.event_type_of(&envelope.json),
        header_surprisal,
        fields,
        request,
        log,
    }
}

/// The most recent whole logs (framed tokens) of each key, at most `limit` tokens, for at
/// most `max_keys` keys.
struct Histories {
    limit: usize,
    max_keys: usize,
    tick: u64,
    by_key: HashMap<String, History>,
}

#[derive(Default)]
struct History {
    used: u64,
    tokens: usize,
    logs: VecDeque<Remembered>,
}

/// A log kept as context: its tokens, and what renders it again under another format
/// (the compact JSON text: a quarter of the tokens' memory, where a parsed value would
/// take several times it).
struct Remembered {
    tokens: Vec<u32>,
    header: Header,
    json: Box<str>,
}

impl Remembered {
    fn of(header: Header, envelope: &Envelope, tokens: Vec<u32>) -> Self {
        Remembered {
            tokens,
            header,
            json: envelope.json.to_string().into_boxed_str(),
        }
    }
}

impl History {
    /// Drops the oldest logs until at most `limit` tokens are left.
    fn trim(&mut self, limit: usize) {
        while self.tokens > limit {
            match self.logs.pop_front() {
                Some(oldest) => self.tokens -= oldest.tokens.len(),
                None => break,
            }
        }
    }
}

impl Histories {
    fn new(limit: usize, max_keys: usize) -> Self {
        Histories {
            limit,
            max_keys: max_keys.max(1),
            tick: 0,
            by_key: HashMap::new(),
        }
    }

    /// The most recent whole logs of `key` that fit in `budget` tokens, oldest first.
    /// Whole logs only: the model was trained on windows that start where a log starts,
    /// and a context that starts mid-log throws it off (measured on a tiny model: a
    /// benign log's surprisal rose from 90 to 340 nats).
    fn context(&self, key: &str, budget: usize) -> Vec<u32> {
        let Some(history) = self.by_key.get(key) else {
            return Vec::new();
        };
        let budget = budget.min(self.limit);
        let mut taken = 0;
        let mut count = 0;
        for log in history.logs.iter().rev() {
            if taken + log.tokens.len() > budget {
                break;
            }
            taken += log.tokens.len();
            count += 1;
        }
        let skip = history.logs.len() - count;
        history
            .logs
            .iter()
            .skip(skip)
            .flat_map(|log| log.tokens.iter().copied())
            .collect()
    }

    fn push(&mut self, key: String, log: Remembered) {
        self.tick += 1;
        if !self.by_key.contains_key(&key) && self.by_key.len() >= self.max_keys {
            self.forget_least_recent();
        }
        let history = self.by_key.entry(key).or_default();
        history.used = self.tick;
        history.tokens += log.tokens.len();
        history.logs.push_back(log);
        history.trim(self.limit);
    }

    /// Renders every remembered log again (another text format), within the limit.
    fn render_again(&mut self, render: impl Fn(&Remembered) -> (String, Vec<u32>)) {
        for history in self.by_key.values_mut() {
            for log in &mut history.logs {
                log.tokens = render(log).1;
            }
            history.tokens = history.logs.iter().map(|log| log.tokens.len()).sum();
            history.trim(self.limit);
        }
    }

    /// Forgets the least recently active tenth, so eviction is rare and cheap on average.
    fn forget_least_recent(&mut self) {
        let mut ticks: Vec<u64> = self.by_key.values().map(|history| history.used).collect();
        let cut = (ticks.len() / 10).max(1);
        let (_, &mut threshold, _) = ticks.select_nth_unstable(cut - 1);
        self.by_key.retain(|_, history| history.used > threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(tokens: Vec<u32>) -> Remembered {
        Remembered {
            tokens,
            header: Header::default(),
            json: "null".into(),
        }
    }

    #[test]
    fn histories_give_the_most_recent_whole_logs_of_the_most_recent_keys() {
        let mut histories = Histories::new(7, 10);
        histories.push("a".into(), tokens(vec![1, 2, 3]));
        histories.push("a".into(), tokens(vec![4, 5, 6]));
        histories.push("a".into(), tokens(vec![7, 8]));
        // [1, 2, 3] fell out of the 7-token limit; a 4-token budget holds only [7, 8].
        assert_eq!(histories.context("a", 100), vec![4, 5, 6, 7, 8]);
        assert_eq!(histories.context("a", 4), vec![7, 8]);
        assert!(histories.context("a", 1).is_empty());
        for key in 0..20 {
            histories.push(format!("k{key}"), tokens(vec![key]));
        }
        assert!(histories.by_key.len() <= 10);
        assert_eq!(histories.context("k19", 100), vec![19]);
        assert!(histories.context("a", 100).is_empty());

        // Rendered again (longer under another format), the oldest logs fall out.
        histories.push("b".into(), tokens(vec![1, 2]));
        histories.push("b".into(), tokens(vec![3, 4]));
        histories.render_again(|log| (String::new(), [log.tokens.clone(), vec![0, 0]].concat()));
        assert_eq!(histories.context("b", 100), vec![3, 4, 0, 0]);
    }

    #[test]
    fn a_sign_in_country_is_carried_into_the_users_next_cloudtrail_header_in_the_merged_context_only()
     {
        let sign_in = schemas::decode(
            schemas::Source::Azure,
            br#"{"TimeGenerated":"2024-07-30T08:00:00Z","UserPrincipalName":"alice@contoso.com","Location":"ES"}"#,
        )
        .unwrap();
        let call = schemas::decode(
            schemas::Source::CloudTrail,
            br#"{"eventTime":"2024-07-30T08:05:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","userIdentity":{"type":"IAMUser","userName":"alice@contoso.com"}}"#,
        )
        .unwrap();
        let config = crate::GptConfig::preset("tiny").unwrap();
        let device = Device::flex();
        let scorer = |carry_country_hours, context| {
            let format = TextFormat {
                carry_country_hours,
                ..TextFormat::default()
            };
            let mut scorer = DeviationScorer::new(
                Gpt::new(&config, &device),
                format,
                device.clone(),
                DeviationConfig {
                    context,
                    ..DeviationConfig::default()
                },
            );
            scorer.score(&[&sign_in, &call])
        };
        let carried = scorer(Some(24), ContextMode::User);
        assert!(
            carried[1]
                .request
                .text
                .starts_with("[cloudtrail u=alice@contoso.com c=ES d=Tue h=08] "),
            "{}",
            carried[1].request.text
        );
        // The country is part of what the log is scored on, like any header field.
        assert!(carried[1].fields.iter().any(|f| f.path == "header.country"));
        let uncarried = "[cloudtrail u=alice@contoso.com d=Tue h=08] ";
        let own_only = scorer(None, ContextMode::User);
        assert!(
            own_only[1].request.text.starts_with(uncarried),
            "{}",
            own_only[1].request.text
        );
        // A context of one source reads nothing the other sources said, the carried
        // country included: it is what a detector reading CloudTrail alone would know.
        for context in [ContextMode::UserSource, ContextMode::None] {
            let alone = scorer(Some(24), context);
            assert!(
                alone[1].request.text.starts_with(uncarried),
                "{context:?}: {}",
                alone[1].request.text
            );
        }
    }

    #[test]
    fn after_a_swap_to_another_format_the_context_reads_in_the_new_format() {
        let log = |minute: u32| {
            let raw = format!(
                r#"{{"eventTime":"2024-07-30T08:{minute:02}:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{{"type":"IAMUser","userName":"alice"}},"awsRegion":"eu-west-1"}}"#
            );
            schemas::decode(schemas::Source::CloudTrail, raw.as_bytes()).unwrap()
        };
        let logs: Vec<Envelope> = (0..3).map(log).collect();
        // Room for all three logs in either format.
        let config = crate::GptConfig {
            context: 2048,
            ..crate::GptConfig::preset("tiny").unwrap()
        };
        let device = Device::flex();
        let mut scorer = DeviationScorer::new(
            Gpt::new(&config, &device),
            TextFormat::default(),
            device.clone(),
            DeviationConfig::default(),
        );
        scorer.remember(&logs.iter().collect::<Vec<_>>());
        let key = logs[0].key().to_string();
        let under = |format: &TextFormat| -> Vec<u32> {
            logs.iter()
                .flat_map(|log| render(format, &Header::of(log, None), &log.json).1)
                .collect()
        };
        assert_eq!(
            scorer.histories.context(&key, 10_000),
            under(&TextFormat::default())
        );

        // A version fitted on these logs projects their constant fields away.
        let jsons: Vec<(schemas::Source, &Value)> =
            logs.iter().map(|log| (log.source, &log.json)).collect();
        let fitted = TextFormat::fit(&jsons, 1);
        assert_ne!(under(&fitted), under(&TextFormat::default()));
        scorer.swap_model(
            Gpt::new(&config, &device),
            fitted.clone(),
            DeviationConfig::default(),
        );
        assert_eq!(scorer.histories.context(&key, 10_000), under(&fitted));
    }
}
