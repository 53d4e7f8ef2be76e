//! Scoring: how surprised the model is by each byte of a log, given what came before, and
//! which JSON field each surprise belongs to.
//!
//! A log longer than the model's context is scored in overlapping windows: each byte is
//! predicted from at least half a context of what precedes it (the first window keeps up
//! to a quarter of the preceding logs), so no byte is scored blind; under a format that
//! pins headers, the later windows start with the log's header ([`crate::long_logs`]).

use burn::prelude::*;
use operators::text_format::{Header, field_spans};

use crate::corpus::Batch;
use crate::gpt::Gpt;
use crate::long_logs;
use crate::tokenizer::{ByteTokenizer, Special};

/// One log to score: what precedes it (earlier logs, already rendered and framed with
/// begin/end-of-log tokens) and the log's own text (header and JSON).
#[derive(Debug, Clone)]
pub struct ScoreRequest {
    /// Tokens of the preceding logs; only the most recent ones that fit are used.
    pub context: Vec<u32>,
    /// The log's rendered text: header then JSON.
    pub text: String,
}

/// The surprisal of one JSON field (key and value bytes), in nats.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldScore {
    /// Dotted path; array elements are summed into their array's path.
    pub path: String,
    /// Sum of −log p over the field's bytes.
    pub surprisal: f32,
    /// Bytes summed.
    pub bytes: usize,
}

/// A scored log.
#[derive(Debug, Clone)]
pub struct LogScore {
    /// log p of every byte of the text, then of the end-of-log token.
    pub log_probs: Vec<f32>,
    /// Bytes of the header at the start of the text.
    pub header_bytes: usize,
    /// Per-field surprisal of the JSON part, in the log's key order; empty when the JSON
    /// part does not parse.
    pub fields: Vec<FieldScore>,
}

impl LogScore {
    /// Total surprisal of the log (header, JSON and its end), in nats.
    pub fn surprisal(&self) -> f32 {
        -self.log_probs.iter().sum::<f32>()
    }

    /// Surprisal of the JSON part and the end-of-log token only, in nats.
    pub fn json_surprisal(&self) -> f32 {
        -self.log_probs[self.header_bytes.min(self.log_probs.len())..]
            .iter()
            .sum::<f32>()
    }
}

/// One row of a scoring batch: a window of the full token sequence of one request.
struct Window {
    request: usize,
    /// Tokens of the window (inputs are all but the last, targets all but the first).
    tokens: Vec<u32>,
    /// Which targets of the window are scored, as (target index in window, log byte).
    scored: std::ops::Range<usize>,
    /// Index into the log's scores of the first scored target.
    first_log_token: usize,
}

/// Scores `requests` in batches of at most `batch_windows` windows; `pin_header` is the
/// model's text format's [`pin_header`](operators::text_format::TextFormat::pin_header).
pub fn score(
    model: &Gpt,
    requests: &[ScoreRequest],
    pin_header: bool,
    batch_windows: usize,
    device: &Device,
) -> Vec<LogScore> {
    let context = model.context();
    let tokenizer = ByteTokenizer;
    let mut results: Vec<LogScore> = requests
        .iter()
        .map(|request| {
            let header_bytes = Header::parse(&request.text)
                .map(|(_, json)| request.text.len() - json.len())
                .unwrap_or(0);
            LogScore {
                log_probs: vec![0.0; request.text.len() + 1],
                header_bytes,
                fields: Vec::new(),
            }
        })
        .collect();

    let mut windows = Vec::new();
    for (index, request) in requests.iter().enumerate() {
        let mut log = vec![Special::BeginLog as u32];
        log.extend(tokenizer.encode(&request.text));
        log.push(Special::EndLog as u32);
        windows.extend(match pin_header {
            true => {
                let pinned = long_logs::pinnable(long_logs::header_prefix_len(&log), context);
                aligned_windows(index, &request.context, &log, pinned, context)
            }
            false => plan_windows(index, &request.context, &log, context),
        });
    }

    // Independent batches on their own threads (one per core on the CPU, whose kernels
    // mostly run on one core each): a batch is cut smaller rather than leave a core idle.
    let workers = crate::device::parallel_workers(device);
    let batch = batch_windows
        .max(1)
        .min(windows.len().div_ceil(workers).max(1));
    let chunks: Vec<&[Window]> = windows.chunks(batch).collect();
    let chunk_log_probs =
        crate::device::map_on_workers(device, &chunks, |chunk| score_windows(model, chunk, device));
    for (chunk, (log_probs, longest)) in chunks.iter().zip(chunk_log_probs) {
        for (row, window) in chunk.iter().enumerate() {
            let scores = &mut results[window.request].log_probs;
            for (offset, target) in window.scored.clone().enumerate() {
                if let (Some(slot), Some(&value)) = (
                    scores.get_mut(window.first_log_token + offset),
                    log_probs.get(row * longest + target),
                ) {
                    *slot = value;
                }
            }
        }
    }

    for (result, request) in results.iter_mut().zip(requests) {
        result.fields = field_scores(&request.text, result.header_bytes, &result.log_probs);
    }
    results
}

/// The log-probability of every target of `batch`, `[size, context]` row-major (padding
/// included), its windows cut into shards scored on their own threads as [`score`] does.
pub fn batch_log_likelihood(model: &Gpt, batch: &Batch, device: &Device) -> Vec<f32> {
    let shards = batch.shards(crate::device::parallel_workers(device));
    crate::device::map_on_workers(device, &shards, |shard| {
        let (inputs, targets) = crate::train::token_tensors(shard, device);
        model
            .log_likelihood(inputs, targets)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default()
    })
    .concat()
}

/// Log-probabilities of one batch of windows, `[windows, longest]` row-major, and
/// `longest`.
fn score_windows(model: &Gpt, chunk: &[Window], device: &Device) -> (Vec<f32>, usize) {
    let longest = chunk.iter().map(|w| w.tokens.len() - 1).max().unwrap_or(1);
    let pad = i64::from(Special::Pad as u32);
    let mut inputs = vec![pad; chunk.len() * longest];
    let mut targets = vec![pad; chunk.len() * longest];
    for (row, window) in chunk.iter().enumerate() {
        for (position, pair) in window.tokens.windows(2).enumerate() {
            inputs[row * longest + position] = i64::from(pair[0]);
            targets[row * longest + position] = i64::from(pair[1]);
        }
    }
    let shape = [chunk.len(), longest];
    let inputs = Tensor::<2, Int>::from_data(TensorData::new(inputs, shape), device);
    let targets = Tensor::<2, Int>::from_data(TensorData::new(targets, shape), device);
    let log_probs = model
        .log_likelihood(inputs, targets)
        .into_data()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    (log_probs, longest)
}

/// Cuts the sequence `context ++ log` into windows of at most `size + 1` tokens so that
/// every token of `log` after its begin-of-log token is scored exactly once, as models
/// trained before 2026-12-01 read long logs.
fn plan_windows(request: usize, context: &[u32], log: &[u32], size: usize) -> Vec<Window> {
    let mut sequence = recent_context(context, log, size);
    let log_start = sequence.len();
    sequence.extend_from_slice(log);

    let mut windows = Vec::new();
    let mut next_target = log_start + 1; // first unscored target, as a sequence index
    let overlap = size / 2;
    let mut start = 0;
    while next_target < sequence.len() {
        let end = (start + size + 1).min(sequence.len());
        windows.push(Window {
            request,
            tokens: sequence[start..end].to_vec(),
            // Target j of the window predicts sequence[start + j + 1].
            scored: (next_target - start - 1)..(end - start - 1),
            first_log_token: next_target - log_start - 1,
        });
        next_target = end;
        start = next_target.saturating_sub(overlap + 1).max(start + 1);
        if next_target < sequence.len() {
            start = start.min(sequence.len().saturating_sub(size + 1));
        }
    }
    windows
}

/// The windows of [`crate::long_logs`]: the most recent context with the log's start
/// (as much of it as fits), then, while bytes are left, the log's window that ends
/// first past them (each scored byte sees all of its window before it), its first
/// `pinned` tokens pinned before it past the start.
fn aligned_windows(
    request: usize,
    context: &[u32],
    log: &[u32],
    pinned: usize,
    size: usize,
) -> Vec<Window> {
    let mut first = recent_context(context, log, size);
    let log_start = first.len();
    let first_end = (size + 1 - log_start).min(log.len());
    first.extend_from_slice(&log[..first_end]);
    let mut windows = vec![Window {
        request,
        tokens: first,
        scored: log_start..log_start + first_end - 1,
        first_log_token: 0,
    }];
    let mut next_target = first_end; // first unscored log token
    let mut k = 0;
    while next_target < log.len() {
        let from = k * long_logs::stride(size);
        let end = (from + long_logs::body(k, pinned, size)).min(log.len());
        if end > next_target {
            let pin = if k > 0 { &log[..pinned] } else { &[][..] };
            let mut tokens = pin.to_vec();
            tokens.extend_from_slice(&log[from..end]);
            windows.push(Window {
                request,
                tokens,
                // Target j of the window predicts log[from + j + 1 - pin].
                scored: pin.len() + next_target - from - 1..pin.len() + end - from - 1,
                first_log_token: next_target - 1,
            });
            next_target = end;
        }
        k += 1;
    }
    windows
}

/// The most recent tokens of `context` to read before `log`: all that fit beside a log
/// that fits, a quarter of a window before one that does not.
fn recent_context(context: &[u32], log: &[u32], size: usize) -> Vec<u32> {
    let keep = if log.len() <= size {
        (size + 1 - log.len()).min(context.len())
    } else {
        (size / 4).min(context.len())
    };
    context[context.len() - keep..].to_vec()
}

fn field_scores(text: &str, header_bytes: usize, log_probs: &[f32]) -> Vec<FieldScore> {
    let Some(spans) = text.get(header_bytes..).and_then(field_spans) else {
        return Vec::new();
    };
    let mut fields: Vec<FieldScore> = Vec::new();
    for span in spans {
        let range = header_bytes + span.bytes.start..header_bytes + span.bytes.end;
        let surprisal = -log_probs
            .get(range.clone())
            .map_or(0.0, |p| p.iter().sum::<f32>());
        match fields.iter_mut().find(|field| field.path == span.path) {
            Some(field) => {
                field.surprisal += surprisal;
                field.bytes += range.len();
            }
            None => fields.push(FieldScore {
                path: span.path,
                surprisal,
                bytes: range.len(),
            }),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_score_every_log_token_once_with_overlap() {
        let context: Vec<u32> = (0..50).collect();
        let cases = [
            (10usize, 16usize),
            (40, 16),
            (17, 16),
            (16, 16),
            (200, 32),
            (9, 16),
        ];
        for ((log_len, size), pinned) in cases
            .into_iter()
            .flat_map(|c| [(c, None), (c, Some(0)), (c, Some(5))])
        {
            let log: Vec<u32> = (100..100 + log_len as u32).collect();
            for history in [&context[..], &[][..]] {
                let windows = match pinned {
                    None => plan_windows(0, history, &log, size),
                    Some(pinned) => aligned_windows(0, history, &log, pinned, size),
                };
                let mut covered = vec![0; log_len - 1];
                for window in &windows {
                    assert!(window.tokens.len() <= size + 1);
                    for (offset, target) in window.scored.clone().enumerate() {
                        let token = window.tokens[target + 1];
                        assert_eq!(token, log[window.first_log_token + offset + 1]);
                        covered[window.first_log_token + offset] += 1;
                    }
                }
                let case = format!("{log_len}/{size}/{pinned:?}/{}", history.len());
                assert!(covered.iter().all(|&c| c == 1), "{case}: {covered:?}");
                // Past the first window, each scored byte sees at least half a context.
                for window in windows.iter().skip(1) {
                    assert!(window.scored.start >= size / 2, "{case}");
                }
                let Some(pinned) = pinned.filter(|&p| p > 0) else {
                    continue;
                };
                // A window that enters the log holds its first tokens pinned, then the
                // log from a multiple of half a context, as training enters it.
                for window in windows.iter().skip(1) {
                    if window.tokens[0] == log[0] && window.tokens[pinned] != log[pinned] {
                        let from = window.tokens[pinned] - 100;
                        assert_eq!(&window.tokens[..pinned], &log[..pinned], "{case}");
                        assert_eq!(from as usize % (size / 2), 0, "{case}");
                    } else {
                        assert_eq!(window.tokens[..], log[..window.tokens.len()], "{case}");
                    }
                }
            }
        }
    }
}
