//! Training text: logs rendered in the text format, framed by begin/end-of-log tokens,
//! laid out as one stream per user, and cut into windows that start at log boundaries.
//!
//! Each user's logs from all sources follow each other in event-time order, as the
//! merged Kafka stream delivers them to the detector, so the model learns what a user
//! does next across Entra ID, Confluence and AWS. A window starts where a log starts, so
//! that log's conditioning header is always in context; a window never runs into the
//! next user's stream (the rest is padding that the loss ignores).

use operators::text_format::{FieldGroup, Header, TextFormat};
use rand::Rng;
use schemas::{Envelope, Source};
use serde_json::Value;
use xxhash_rust::xxh3::Xxh3;

use crate::long_logs;
use crate::tokenizer::{ByteTokenizer, Special};

/// One log to train on: decoded, with the technique its label gives (attack logs).
#[derive(Debug, Clone)]
pub struct TrainingLog {
    /// The decoded log.
    pub envelope: Envelope,
    /// MITRE technique from the labels, where the log is part of a labelled attack.
    pub technique: Option<String>,
    /// For a technique's log, whether a Sigma rule of the technique fires on it; read
    /// where the format tags it ([`TextFormat::tags_detected`]).
    pub detected: Option<bool>,
}

/// Token streams ready for batching.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    tokens: Vec<u16>,
    /// Where each log starts (its begin-of-log token).
    starts: Vec<usize>,
    /// For each log, the tokens a window entering it past its start pins before the cut
    /// (its begin-of-log token and header; 0 when the format pins no headers).
    pinned: Vec<u32>,
    /// Whether long logs are entered at every half context with their header pinned
    /// ([`crate::long_logs`]), as the format says; else as models of before 2026-12-01
    /// were trained.
    aligned: bool,
    /// For each log, where its stream ends (exclusive).
    stream_ends: Vec<usize>,
    /// The favoured logs (in corpus order): by default, those tagged with a technique.
    favoured: Vec<usize>,
    logs: usize,
}

/// How [`Corpus::sample`] chooses where its windows start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowShares {
    /// Share of windows that start at a favoured log ([`Corpus::build_favouring`]).
    pub favoured: f64,
    /// Share of windows into a log longer than the context that enter it at its start.
    pub start: f64,
}

/// One training window: the pinned tokens (empty unless it enters a log past its start
/// under a format that pins headers), then the corpus from `start` to at most the end of
/// its stream.
#[derive(Debug, Clone)]
struct Window {
    pinned: std::ops::Range<usize>,
    start: usize,
    stream_end: usize,
}

/// A batch of windows: `inputs` and `targets` are `[batch, context]` row-major, and
/// `weights` is 1 where a target counts towards the loss and 0 on padding.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Input token ids.
    pub inputs: Vec<i64>,
    /// The next token at each position.
    pub targets: Vec<i64>,
    /// 1 where the target is real, 0 on padding.
    pub weights: Vec<f32>,
    /// Windows in the batch.
    pub size: usize,
    /// Tokens per window.
    pub context: usize,
}

impl Batch {
    /// Targets that count towards the loss.
    pub fn real_tokens(&self) -> usize {
        self.weights.iter().filter(|&&w| w > 0.0).count()
    }

    /// Logs whose first byte is among the inputs: what a scoring benchmark counts as logs.
    pub fn logs_begun(&self) -> usize {
        let begin = i64::from(Special::BeginLog as u32);
        self.inputs.iter().filter(|&&token| token == begin).count()
    }

    /// The batch cut into at most `parts` batches of whole windows, in order, sizes
    /// differing by at most one (fewer parts when there are fewer windows).
    pub fn shards(&self, parts: usize) -> Vec<Batch> {
        let parts = parts.clamp(1, self.size.max(1));
        let mut shards = Vec::with_capacity(parts);
        let mut first = 0;
        for part in 0..parts {
            let windows = self.size / parts + usize::from(part < self.size % parts);
            let span = first * self.context..(first + windows) * self.context;
            shards.push(Batch {
                inputs: self.inputs[span.clone()].to_vec(),
                targets: self.targets[span.clone()].to_vec(),
                weights: self.weights[span].to_vec(),
                size: windows,
                context: self.context,
            });
            first += windows;
        }
        shards
    }
}

impl Corpus {
    /// Renders `logs` into per-user streams. Logs without a user form one stream of
    /// their own. `logs` need not be sorted.
    pub fn build(format: &TextFormat, logs: &[TrainingLog]) -> Self {
        Corpus::build_favouring(format, logs, |log| log.technique.is_some())
    }

    /// As [`Corpus::build`], with the logs that `favoured` picks as the ones
    /// [`Corpus::sample`] starts its favoured share of windows at (the retrain job's
    /// synthetic logs of anticipated events: a few dozen among thousands, which
    /// sampled like the rest would barely move a fine-tune).
    pub fn build_favouring(
        format: &TextFormat,
        logs: &[TrainingLog],
        favoured: impl Fn(&TrainingLog) -> bool,
    ) -> Self {
        let tokenizer = ByteTokenizer;
        let mut corpus = Corpus {
            aligned: format.pin_header,
            ..Corpus::default()
        };
        let mut stream_start_log = 0;
        let mut previous_key: Option<&str> = None;
        for (index, header) in headers_in_stream_order(format, logs) {
            let log = &logs[index];
            let key = log.envelope.key();
            if previous_key.is_some_and(|previous| previous != key) {
                corpus.close_stream(stream_start_log);
                stream_start_log = corpus.starts.len();
            }
            previous_key = Some(key);
            if favoured(log) {
                corpus.favoured.push(corpus.starts.len());
            }
            let text = format.render(&header, &log.envelope.json);
            let start = corpus.tokens.len();
            corpus.starts.push(start);
            corpus.tokens.push(Special::BeginLog as u16);
            corpus
                .tokens
                .extend(tokenizer.encode(&text).into_iter().map(|id| id as u16));
            corpus.tokens.push(Special::EndLog as u16);
            let prefix = match format.pin_header {
                true => long_logs::header_prefix_len(&corpus.tokens[start..]).unwrap_or(0),
                false => 0,
            };
            corpus.pinned.push(prefix as u32);
        }
        corpus.close_stream(stream_start_log);
        corpus.logs = corpus.starts.len();
        corpus
    }

    fn close_stream(&mut self, first_log: usize) {
        let end = self.tokens.len();
        let count = self.starts.len() - first_log;
        self.stream_ends.extend(std::iter::repeat_n(end, count));
    }

    /// Logs in the corpus.
    pub fn logs(&self) -> usize {
        self.logs
    }

    /// Tokens in the corpus.
    pub fn tokens(&self) -> usize {
        self.tokens.len()
    }

    /// A fingerprint of the token streams, stored with the model so a reader can tell
    /// which data it was trained on.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Xxh3::new();
        for token in &self.tokens {
            hasher.update(&token.to_le_bytes());
        }
        format!("xxh3:{:016x}", hasher.digest())
    }

    /// Favoured logs in the corpus (technique-tagged ones, unless built otherwise).
    pub fn favoured_logs(&self) -> usize {
        self.favoured.len()
    }

    /// A batch of `size` windows of `context` tokens, each starting at a random log, a
    /// favoured one with probability `shares.favoured` (when there are any). A log
    /// longer than the context is also entered at each half context, as scoring and
    /// generation read it, so its tail is trained on too; such a window pins the log's
    /// header where the format does ([`crate::long_logs`]). Under such a format, a
    /// window enters its log at the start with probability `shares.start`, else at an
    /// entry drawn uniformly (the start among them).
    pub fn sample(
        &self,
        rng: &mut impl Rng,
        size: usize,
        context: usize,
        shares: WindowShares,
    ) -> Batch {
        let windows: Vec<Window> = (0..size)
            .filter(|_| self.logs > 0)
            .map(|_| {
                // No draw when nothing is favoured, so such runs replay exactly.
                let favoured = shares.favoured > 0.0
                    && !self.favoured.is_empty()
                    && rng.random_bool(shares.favoured.min(1.0));
                let log = match favoured {
                    true => self.favoured[rng.random_range(0..self.favoured.len())],
                    false => rng.random_range(0..self.logs),
                };
                let (start, stream_end) = (self.starts[log], self.stream_ends[log]);
                let end = self
                    .starts
                    .get(log + 1)
                    .copied()
                    .unwrap_or(stream_end)
                    .min(stream_end);
                let (offset, pinned) = match self.aligned {
                    true => {
                        let pinned = long_logs::pinnable(Some(self.pinned[log] as usize), context);
                        let entries = long_logs::entries(end - start, pinned, context);
                        // No draw for a log read in one window, or with no start share,
                        // so runs of before replay exactly.
                        let at_start = entries > 1
                            && shares.start > 0.0
                            && rng.random_bool(shares.start.min(1.0));
                        let k = match at_start {
                            true => 0,
                            false => rng.random_range(0..entries),
                        };
                        (
                            k * long_logs::stride(context),
                            if k > 0 { pinned } else { 0 },
                        )
                    }
                    // Models of before: the last entry ends where the log does.
                    false => {
                        let overhang = (end - start).saturating_sub(context + 1);
                        let stride = long_logs::stride(context);
                        let entries = overhang.div_ceil(stride) + 1;
                        ((rng.random_range(0..entries) * stride).min(overhang), 0)
                    }
                };
                Window {
                    pinned: start..start + pinned,
                    start: start + offset,
                    stream_end,
                }
            })
            .collect();
        self.windows(&windows, context)
    }

    /// A batch of windows starting at the given logs.
    pub fn batch(&self, logs: &[usize], context: usize) -> Batch {
        let windows: Vec<Window> = logs
            .iter()
            .filter_map(|&log| {
                let start = *self.starts.get(log)?;
                Some(Window {
                    pinned: start..start,
                    start,
                    stream_end: self.stream_ends[log],
                })
            })
            .collect();
        self.windows(&windows, context)
    }

    /// A batch of the given windows.
    fn windows(&self, windows: &[Window], context: usize) -> Batch {
        let pad = i64::from(Special::Pad as u16);
        let mut batch = Batch {
            inputs: vec![pad; windows.len() * context],
            targets: vec![pad; windows.len() * context],
            weights: vec![0.0; windows.len() * context],
            size: windows.len(),
            context,
        };
        for (row, window) in windows.iter().enumerate() {
            let pinned = window.pinned.len();
            let end = window.stream_end.min(window.start + context + 1 - pinned);
            let tokens: Vec<u16> = self.tokens[window.pinned.clone()]
                .iter()
                .chain(&self.tokens[window.start..end])
                .copied()
                .collect();
            let offset = row * context;
            for (position, pair) in tokens.windows(2).enumerate() {
                batch.inputs[offset + position] = i64::from(pair[0]);
                batch.targets[offset + position] = i64::from(pair[1]);
                // The pinned header was trained on where the log starts, and the byte
                // after the cut follows it by chance.
                if position >= pinned {
                    batch.weights[offset + position] = 1.0;
                }
            }
        }
        batch
    }

    /// Windows that cover every log once, in order, for a validation pass.
    pub fn validation_starts(&self, limit: usize) -> Vec<usize> {
        let step = (self.logs / limit.max(1)).max(1);
        (0..self.logs).step_by(step).take(limit).collect()
    }
}

/// A source needs this many training logs before its constant fields are projected away.
const MIN_LOGS_FOR_PROJECTION: usize = 50;

/// The text format for `logs`, with the projection and shapes fitted on them; a group
/// model's format when `group` is given. The shapes' combinations are keyed by the
/// headers the corpus renders the logs under.
pub fn fit_text_format(logs: &[TrainingLog], group: Option<FieldGroup>) -> TextFormat {
    let pairs: Vec<(Source, &Value)> = logs
        .iter()
        .map(|log| (log.envelope.source, &log.envelope.json))
        .collect();
    let mut format = TextFormat::fit(&pairs, MIN_LOGS_FOR_PROJECTION);
    format.tags_detected = group.is_none() && logs.iter().any(|log| log.detected.is_some());
    format.group = group;
    let headers: Vec<(usize, Header)> = headers_in_stream_order(&format, logs).collect();
    format.fit_combinations(headers.into_iter().map(|(index, header)| {
        (
            logs[index].envelope.source,
            &logs[index].envelope.json,
            header,
        )
    }));
    format
}

/// Each log's index and header, in the corpus's order: per stream (user), by event
/// time, the order the country carry must see them in.
fn headers_in_stream_order<'a>(
    format: &TextFormat,
    logs: &'a [TrainingLog],
) -> impl Iterator<Item = (usize, Header)> + 'a {
    let mut order: Vec<usize> = (0..logs.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&logs[a].envelope, &logs[b].envelope);
        (a.key(), a.event_time).cmp(&(b.key(), b.event_time))
    });
    let mut carry = format.country_carry();
    order.into_iter().map(move |index| {
        let log = &logs[index];
        let mut header = carry.header(&log.envelope, log.technique.as_deref());
        header.detected = log.detected;
        (index, header)
    })
}

/// Splits logs by time: the latest `fraction` of the untagged logs (by event time) is held
/// out for validation, so the model is judged on days it has not seen. A technique's logs
/// all stay in training: there are a handful of each (T1580's one call by an IAM user), and
/// a red-team model cannot write, nor its shape hold, what it never saw. Validation then
/// judges benign logs only.
pub fn split_by_time(
    logs: Vec<TrainingLog>,
    fraction: f64,
) -> (Vec<TrainingLog>, Vec<TrainingLog>) {
    let (mut train, mut untagged): (Vec<_>, Vec<_>) =
        logs.into_iter().partition(|log| log.technique.is_some());
    untagged.sort_by_key(|log| log.envelope.event_time);
    let held_out = ((untagged.len() as f64) * fraction.clamp(0.0, 0.5)).round() as usize;
    let validation = untagged.split_off(untagged.len() - held_out);
    train.append(&mut untagged);
    train.sort_by_key(|log| log.envelope.event_time);
    (train, validation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn log(user: &str, second: u32) -> TrainingLog {
        let raw = format!(
            r#"{{"eventTime":"2024-07-30T21:31:{second:02}Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{{"type":"IAMUser","userName":"{user}"}}}}"#
        );
        TrainingLog {
            envelope: schemas::decode(schemas::Source::CloudTrail, raw.as_bytes()).unwrap(),
            technique: None,
            detected: None,
        }
    }

    #[test]
    fn windows_start_at_a_log_and_stop_at_the_users_stream() {
        let logs = vec![log("bob", 2), log("alice", 1), log("alice", 0)];
        let corpus = Corpus::build(&TextFormat::default(), &logs);
        assert_eq!(corpus.logs(), 3);
        let batch = corpus.batch(&[1], 4096);
        assert_eq!(batch.inputs[0], i64::from(Special::BeginLog as u16));
        let text: Vec<u8> = batch
            .inputs
            .iter()
            .filter(|&&t| t < 256)
            .map(|&t| t as u8)
            .collect();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("[cloudtrail u=alice"), "{text}");
        assert!(
            !text.contains("bob"),
            "a window crossed into the next user's stream: {text}"
        );
        let real = batch.weights.iter().filter(|&&w| w == 1.0).count();
        assert_eq!(batch.targets[real - 1], i64::from(Special::EndLog as u16));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        assert_eq!(
            corpus
                .sample(&mut rng, 5, 64, WindowShares::default())
                .inputs
                .len(),
            5 * 64
        );
    }

    /// A CloudTrail call of some 400 bytes: six windows of 128 tokens.
    fn long(user: &str) -> TrainingLog {
        let raw = format!(
            r#"{{"eventTime":"2024-07-30T21:31:00Z","eventName":"{}","userIdentity":{{"type":"IAMUser","userName":"{user}"}}}}"#,
            "x".repeat(300)
        );
        TrainingLog {
            envelope: schemas::decode(Source::CloudTrail, raw.as_bytes()).unwrap(),
            technique: None,
            detected: None,
        }
    }

    #[test]
    fn a_start_share_of_windows_enters_long_logs_at_their_start() {
        let format = TextFormat {
            pin_header: true,
            ..TextFormat::default()
        };
        let corpus = Corpus::build(&format, &[long("alice"), long("bob")]);
        let at_start = |start: f64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let shares = WindowShares {
                favoured: 0.0,
                start,
            };
            let batch = corpus.sample(&mut rng, 1000, 128, shares);
            // A window that enters past the start pins the header: its first target is
            // not trained on.
            let starts = (0..batch.size)
                .filter(|row| batch.weights[row * batch.context] == 1.0)
                .count();
            starts as f64 / batch.size as f64
        };
        let (uniform, favoured) = (at_start(0.0), at_start(0.75));
        assert!((0.08..0.3).contains(&uniform), "{uniform}");
        let expected = 0.75 + 0.25 * uniform;
        assert!(
            (favoured - expected).abs() < 0.05,
            "{favoured} vs {expected}"
        );
        assert_eq!(at_start(1.0), 1.0);
    }

    #[test]
    fn windows_entering_a_long_log_pin_its_header_where_the_format_does() {
        let logs = vec![long("alice"), long("bob")];
        let header = |text: &[u8]| text.starts_with(b"[cloudtrail u=");
        for pin_header in [false, true] {
            let format = TextFormat {
                pin_header,
                ..TextFormat::default()
            };
            let corpus = Corpus::build(&format, &logs);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let batch = corpus.sample(&mut rng, 64, 128, WindowShares::default());
            let (mut entered, mut tails) = (0, 0);
            for row in 0..batch.size {
                let span = row * batch.context..(row + 1) * batch.context;
                let inputs = &batch.inputs[span.clone()];
                let weights = &batch.weights[span.clone()];
                let text: Vec<u8> = inputs[1..].iter().map(|&t| t as u8).collect();
                let prefix = 1 + text.windows(2).position(|w| w == b"] ").unwrap_or(0) + 2;
                let at_start = inputs[0] == i64::from(Special::BeginLog as u16)
                    && text[prefix - 1..].starts_with(b"{\"eventTime");
                tails += usize::from(
                    batch.targets[span.clone()].contains(&i64::from(Special::EndLog as u16)),
                );
                if at_start {
                    assert!(weights.iter().all(|&w| w == 1.0), "{pin_header}");
                    continue;
                }
                entered += 1;
                assert_eq!(
                    header(&text),
                    pin_header,
                    "{}",
                    String::from_utf8_lossy(&text)
                );
                if pin_header {
                    // Nothing of the pin is trained on, nor the byte after the cut.
                    // The rest is trained on up to the end of the user's stream.
                    assert!(weights[..prefix].iter().all(|&w| w == 0.0));
                    assert_eq!(weights[prefix], 1.0);
                    assert!(weights[prefix..].windows(2).all(|pair| pair[0] >= pair[1]));
                }
            }
            assert!(
                entered > 10 && tails > 10,
                "{entered} entered, {tails} tails"
            );
        }
    }

    #[test]
    fn a_carrying_format_writes_the_sign_in_country_into_the_users_later_logs() {
        let sign_in = TrainingLog {
            envelope: schemas::decode(
                schemas::Source::Azure,
                br#"{"TimeGenerated":"2024-07-30T21:30:00Z","UserPrincipalName":"Alice","Location":"ES"}"#,
            )
            .unwrap(),
            technique: None,
            detected: None,
        };
        // Given out of order: the corpus orders each user's logs by time first.
        let logs = vec![log("alice", 5), sign_in];
        let text = |format: &TextFormat| {
            let corpus = Corpus::build(format, &logs);
            let bytes: Vec<u8> = corpus
                .tokens
                .iter()
                .filter(|&&t| t < 256)
                .map(|&t| t as u8)
                .collect();
            String::from_utf8(bytes).unwrap()
        };
        let carrying = TextFormat {
            carry_country_hours: Some(24),
            ..TextFormat::default()
        };
        assert!(text(&carrying).contains("[cloudtrail u=alice c=ES d=Tue h=21]"));
        assert!(text(&TextFormat::default()).contains("[cloudtrail u=alice d=Tue h=21]"));
    }

    #[test]
    fn a_format_fitted_on_marked_technique_logs_writes_whether_rules_fire() {
        let mut logs: Vec<TrainingLog> = (0..12).map(|second| log("bob", second)).collect();
        for (index, detected) in [(3, true), (4, false)] {
            logs[index].technique = Some("T1530".to_string());
            logs[index].detected = Some(detected);
        }
        let format = fit_text_format(&logs, None);
        assert!(format.tags_detected);
        assert_eq!(format.combination_keys(), "tf");
        let corpus = Corpus::build(&format, &logs);
        let text: Vec<u8> = corpus.tokens.iter().map(|&t| t as u8).collect();
        let text = String::from_utf8_lossy(&text);
        for flag in ["y", "n"] {
            let header = format!("[cloudtrail u=bob t=T1530 f={flag} d=Tue h=21]");
            assert_eq!(text.matches(&header).count(), 1, "{header} in {text}");
        }

        // Unmarked (no rules, or no technique has one): the headers are as before.
        for log in &mut logs {
            log.detected = None;
        }
        let format = fit_text_format(&logs, None);
        assert!(!format.tags_detected);
        assert_eq!(format.combination_keys(), "t");
    }

    #[test]
    fn an_attack_share_starts_that_share_of_windows_at_attack_logs() {
        let mut logs: Vec<TrainingLog> = (0..40).map(|second| log("bob", second % 60)).collect();
        logs[17].technique = Some("T1530".to_string());
        let corpus = Corpus::build(&TextFormat::default(), &logs);
        assert_eq!(corpus.favoured_logs(), 1);
        let opens_with_attack = |share: f64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let batch = corpus.sample(
                &mut rng,
                200,
                512,
                WindowShares {
                    favoured: share,
                    start: 0.0,
                },
            );
            (0..batch.size)
                .filter(|row| {
                    let window = &batch.inputs[row * batch.context..(row + 1) * batch.context];
                    let text: Vec<u8> = window[1..].iter().map(|&t| t as u8).collect();
                    String::from_utf8_lossy(&text).starts_with("[cloudtrail u=bob t=T1530")
                })
                .count()
        };
        assert_eq!(opens_with_attack(1.0), 200);
        let half = opens_with_attack(0.5);
        assert!((80..=120).contains(&half), "{half} of 200");
        assert!(opens_with_attack(0.0) <= 20, "one log in 40 is the attack");
    }

    #[test]
    fn a_favouring_build_starts_the_share_at_the_logs_it_picks() {
        // As the retrain job favours its synthetic logs: untagged, picked by event id.
        let logs: Vec<TrainingLog> = (0..40).map(|second| log("bob", second % 60)).collect();
        let picked = logs[17].envelope.event_id.clone();
        let corpus = Corpus::build_favouring(&TextFormat::default(), &logs, |log| {
            log.envelope.event_id == picked
        });
        assert_eq!(corpus.favoured_logs(), 1);
        assert_eq!(
            Corpus::build(&TextFormat::default(), &logs).favoured_logs(),
            0
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let batch = corpus.sample(
            &mut rng,
            50,
            512,
            WindowShares {
                favoured: 1.0,
                start: 0.0,
            },
        );
        let second_17 = corpus.batch(&[17], 512);
        for row in 0..batch.size {
            let window = &batch.inputs[row * batch.context..(row + 1) * batch.context];
            assert_eq!(window, &second_17.inputs[..], "window {row}");
        }
    }

    #[test]
    fn shards_cut_a_batch_into_whole_windows_in_order() {
        let logs = vec![log("bob", 2), log("alice", 1), log("alice", 0)];
        let corpus = Corpus::build(&TextFormat::default(), &logs);
        let batch = corpus.batch(&[0, 1, 2, 2, 1], 32);
        let shards = batch.shards(2);
        assert_eq!(
            shards.iter().map(|shard| shard.size).collect::<Vec<_>>(),
            [3, 2]
        );
        let joined: Vec<i64> = shards.iter().flat_map(|s| s.targets.clone()).collect();
        assert_eq!(joined, batch.targets);
        let real: usize = shards.iter().map(Batch::real_tokens).sum();
        assert_eq!(real, batch.real_tokens());
        assert_eq!(batch.shards(9).len(), 5, "no empty shard");
        assert_eq!(batch.shards(0).len(), 1);
    }

    #[test]
    fn validation_holds_out_the_latest_untagged_logs_and_no_attack() {
        let mut logs: Vec<TrainingLog> = (0..10).map(|second| log("alice", second)).collect();
        logs[9].technique = Some("T1580".into());
        let (train, validation) = split_by_time(logs, 0.2);
        let seconds = |logs: &[TrainingLog]| -> Vec<u32> {
            logs.iter()
                .map(|log| chrono::Timelike::second(&log.envelope.event_time))
                .collect()
        };
        assert_eq!(
            seconds(&validation),
            [7, 8],
            "the latest two of nine untagged"
        );
        assert_eq!(seconds(&train), [0, 1, 2, 3, 4, 5, 6, 9], "in time order");
        assert!(train.iter().any(|log| log.technique.is_some()));
    }
}
