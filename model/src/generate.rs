//! Generation: batched sampling with a key/value cache, temperature, top-k and top-p, and
//! JSON-constrained decoding so every generated log parses.
//!
//! A prompt is a source and the header fields to hold fixed (and optionally the start of
//! the JSON). Each step masks the bytes the [`LogConstraint`] refuses: given header
//! fields are forced, the others the model fills in, and the JSON must stay valid; once
//! the object closes, only the end-of-log token is left. If the byte budget would run
//! out first, the shortest completion is forced, so even an untrained model returns
//! valid JSON. Logs longer than the context are written in windows that jump forward by
//! half a context, as training and scoring read them (with the log's header pinned at
//! the start where the model's text format says so).

use std::sync::Arc;

use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use operators::text_format::{Header, Shape, TextFormat};
use schemas::Source;

use crate::gpt::{Gpt, KvCache};
use crate::log_constraint::LogConstraint;
use crate::long_logs;
use crate::tokenizer::{ByteTokenizer, Special};

/// How to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingConfig {
    /// Divides the logits; below 1 sharpens, above 1 flattens. 0 means greedy.
    pub temperature: f32,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches p (1: all).
    pub top_p: f32,
    /// Bytes (header and JSON) from which a log is closed by its shortest completion; a
    /// log runs past it by what its shape still requires, which the combinations of
    /// its technique can lengthen once the header is written.
    pub max_bytes: usize,
    /// Sampling seed.
    pub seed: u64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            max_bytes: 8192,
            seed: 0,
        }
    }
}

/// One prompt: the source, the header fields to hold fixed, optionally the start of the
/// JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The log source.
    pub source: Source,
    /// Header fields to force; the rest are the model's choice.
    pub header: Header,
    /// Start of the JSON object the model continues (may be empty).
    pub json_prefix: String,
    /// The shape the log must have (the model's text format has one per source); `None`
    /// holds it to valid JSON only.
    pub shape: Option<Arc<Shape>>,
    /// No technique in the header unless given: the model may not pick one. A red-team
    /// model, trained on many attack windows, otherwise writes an attack into as many
    /// benign prompts as it saw in training.
    pub benign: bool,
}

/// A generated log.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The whole text: header, then JSON (parse it with the model's text format).
    pub text: String,
    /// The JSON part.
    pub json: String,
    /// Whether the model wrote every byte it was free to (false: the byte budget ran
    /// out and the shortest completion closed the log).
    pub finished_by_model: bool,
}

/// Why a prompt cannot be generated from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The JSON prefix is not the start of a compact JSON object.
    #[error("the JSON prefix {prefix:?} is not the start of a compact JSON object")]
    InvalidPrefix {
        /// The prefix.
        prefix: String,
    },
    /// The prompt leaves no room in the context.
    #[error(
        "the prompt is {tokens} tokens; the model's context of {context} leaves no room to generate"
    )]
    PromptTooLong {
        /// Prompt tokens.
        tokens: usize,
        /// Model context.
        context: usize,
    },
}

struct Row {
    text: Vec<u8>,
    constraint: LogConstraint,
    done: bool,
    finished_by_model: bool,
}

impl Row {
    /// Writes the next byte and returns it: the model's sample where `left` bytes of
    /// budget still close the log after it, else the shortest completion's.
    fn advance(
        &mut self,
        logits: &[f32],
        config: &SamplingConfig,
        rng: &mut impl Rng,
        left: usize,
    ) -> u8 {
        if self.constraint.completion_len() < left {
            if let Some(byte) = self.constraint.forced() {
                return self.write(byte);
            }
            let token = sample(logits, &self.constraint, config, rng);
            // A byte that opens a string or an object lengthens the shortest completion;
            // near the end of the budget take the cheapest instead.
            if let Ok(byte) = u8::try_from(token) {
                let mut after = self.constraint.clone();
                if after.push(byte) && after.completion_len() < left {
                    // The pushed clone, not a second push: it keeps the completion it
                    // just measured.
                    self.constraint = after;
                    self.text.push(byte);
                    return byte;
                }
            }
        }
        self.finished_by_model = false;
        let byte = self.constraint.cheapest();
        self.write(byte)
    }

    fn write(&mut self, byte: u8) -> u8 {
        if self.constraint.push(byte) {
            self.text.push(byte);
        } else {
            // A refused cheapest byte is a dead end (a bug): the row stops and shows in
            // the caller's count of logs that do not parse.
            self.done = true;
        }
        byte
    }
}

/// Generates one log per prompt. Prompts of equal length are decoded together as one
/// batch; `batch_size` bounds the rows decoded at once. `format` is the model's text
/// format: whether its windows pin headers ([`TextFormat::pin_header`]) and its headers
/// say whether a technique's rules fire ([`TextFormat::tags_detected`]).
pub fn generate(
    model: &Gpt,
    prompts: &[Prompt],
    format: &TextFormat,
    config: &SamplingConfig,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Generated>, GenerateError> {
    let tokenizer = ByteTokenizer;
    let mut encoded = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let mut constraint =
            LogConstraint::new(&prompt.header, &prompt.json_prefix, prompt.shape.clone())
                .ok_or_else(|| GenerateError::InvalidPrefix {
                    prefix: prompt.json_prefix.clone(),
                })?;
        if prompt.benign {
            constraint.leave_out_technique();
        }
        if format.tags_detected {
            constraint.allow_detected();
        }
        let mut tokens = vec![Special::BeginLog as u32];
        tokens.extend(tokenizer.encode(&format!("[{}", prompt.source.name())));
        if tokens.len() >= model.context() / 2 {
            return Err(GenerateError::PromptTooLong {
                tokens: tokens.len(),
                context: model.context(),
            });
        }
        encoded.push((tokens, constraint));
    }

    // Group by prompt length so each batch shares positions, and cut batches small
    // enough that every core decodes one: on the CPU, one batch's per-step work (the
    // sampling, the small matrix products of one new token) keeps a single core busy.
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| encoded[i].0.len());
    let workers = crate::device::parallel_workers(device);
    let rows_per_batch = batch_size
        .max(1)
        .min(prompts.len().div_ceil(workers).max(1));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let length = encoded[order[start]].0.len();
        let mut end = start;
        while end < order.len()
            && end - start < rows_per_batch
            && encoded[order[end]].0.len() == length
        {
            end += 1;
        }
        batches.push(order[start..end].to_vec());
        start = end;
    }
    let generated = crate::device::map_on_workers(device, &batches, |batch| {
        generate_batch(
            model,
            prompts,
            &encoded,
            batch,
            format.pin_header,
            config,
            device,
        )
    });
    let mut results: Vec<Option<Generated>> = vec![None; prompts.len()];
    for (batch, logs) in batches.iter().zip(generated) {
        for (&index, log) in batch.iter().zip(logs) {
            results[index] = Some(log);
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// The sampling stream of prompt `index`: its own, so what a prompt yields does not
/// depend on which prompts share its batch or which core decodes it.
fn row_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

fn generate_batch(
    model: &Gpt,
    prompts: &[Prompt],
    encoded: &[(Vec<u32>, LogConstraint)],
    batch: &[usize],
    pin_header: bool,
    config: &SamplingConfig,
    device: &Device,
) -> Vec<Generated> {
    let mut rngs: Vec<ChaCha8Rng> = batch.iter().map(|&i| row_rng(config.seed, i)).collect();
    let prompt_len = encoded[batch[0]].0.len();
    let mut rows: Vec<Row> = batch
        .iter()
        .map(|&i| Row {
            text: format!("[{}", prompts[i].source.name()).into_bytes(),
            constraint: encoded[i].1.clone(),
            done: false,
            finished_by_model: true,
        })
        .collect();
    let budget = config.max_bytes.max(prompt_len);
    let mut sequences: Vec<Vec<u32>> = batch.iter().map(|&i| encoded[i].0.clone()).collect();
    let mut window = Window::new(model, pin_header);

    let mut logits = window.logits(model, &sequences, true, device);
    // Past the budget every byte is the cheapest, so each row ends after its shortest
    // completion: the loop runs until every row is done, however long the completion
    // grows as the header's technique narrows the shape.
    for generated in 0.. {
        let left = budget.saturating_sub(generated);
        let mut next = Vec::with_capacity(rows.len());
        for ((row, row_logits), rng) in rows
            .iter_mut()
            .zip(logits.chunks((logits.len() / batch.len()).max(1)))
            .zip(&mut rngs)
        {
            let token = if row.done {
                Special::Pad as u32
            } else if row.constraint.is_complete() {
                row.done = true;
                Special::EndLog as u32
            } else {
                u32::from(row.advance(row_logits, config, rng, left))
            };
            next.push(token);
        }
        if rows.iter().all(|row| row.done) {
            break;
        }
        for (sequence, &token) in sequences.iter_mut().zip(&next) {
            sequence.push(token);
        }
        logits = window.logits(model, &sequences, true, device);
    }

    rows.into_iter()
        .map(|row| {
            let text = String::from_utf8_lossy(&row.text).into_owned();
            // Header values cannot hold `]` or a space, so the first `] ` ends the header.
            let json = text
                .split_once("] ")
                .map_or("", |(_, json)| json)
                .to_string();
            Generated {
                text,
                json,
                finished_by_model: row.finished_by_model,
            }
        })
        .collect()
}

/// What part of the sequences the model sees: the windows of [`crate::long_logs`]. A
/// log longer than the context moves to its next window, half a context further in,
/// when it outgrows the current one (the cache is rebuilt from the window's tokens at
/// positions from 0). Under a format that pins headers, rows whose headers differ in
/// length hold windows of different lengths, so each length is decoded as a group.
struct Window {
    /// Rows that share a pin (all of them until the first move), each with its cache.
    groups: Vec<Group>,
    pin_header: bool,
    layers: usize,
    context: usize,
}

struct Group {
    rows: Vec<usize>,
    /// Tokens pinned before the window (the header), 0 before the log is entered.
    pinned: usize,
    /// The window: which half context of the log it starts at.
    k: usize,
    /// Empty until the group is first run, and after each move.
    cache: KvCache,
}

impl Window {
    fn new(model: &Gpt, pin_header: bool) -> Self {
        Window {
            groups: Vec::new(),
            pin_header,
            layers: model.layers(),
            context: model.context(),
        }
    }

    /// Logits of the last position of every sequence, flattened `[batch * vocab]`: with
    /// the cache, only the new token is run (after a move, the window is prefilled);
    /// without it, the whole window is recomputed. Each call sees one more token.
    fn logits(
        &mut self,
        model: &Gpt,
        sequences: &[Vec<u32>],
        use_cache: bool,
        device: &Device,
    ) -> Vec<f32> {
        let length = sequences[0].len();
        let stride = long_logs::stride(self.context);
        // Whether window `k` still holds the sequences' next target, as training's does.
        let holds = |k: usize, pinned: usize| {
            length < k * stride + long_logs::body(k, pinned, self.context)
        };
        if self.groups.is_empty() {
            self.groups
                .push(self.group((0..sequences.len()).collect(), 0, 0));
        }
        // Windows the sequences outgrew move on; the first move splits the rows by pin.
        let mut moved = Vec::new();
        for group in std::mem::take(&mut self.groups) {
            if holds(group.k, group.pinned) {
                moved.push(group);
                continue;
            }
            let mut by_pin: Vec<(usize, Vec<usize>)> = Vec::new();
            for &row in &group.rows {
                let pinned = match (self.pin_header, group.k) {
                    (true, 0) => long_logs::pinnable(
                        long_logs::header_prefix_len(&sequences[row]),
                        self.context,
                    ),
                    _ => group.pinned,
                };
                match by_pin.iter_mut().find(|(pin, _)| *pin == pinned) {
                    Some((_, rows)) => rows.push(row),
                    None => by_pin.push((pinned, vec![row])),
                }
            }
            for (pinned, rows) in by_pin {
                let mut k = group.k + 1;
                while !holds(k, pinned) {
                    k += 1;
                }
                moved.push(self.group(rows, pinned, k));
            }
        }
        self.groups = moved;

        let mut out: Vec<f32> = Vec::new();
        for group in &mut self.groups {
            let from = group.k * stride;
            let in_view = group.pinned + length - from;
            let fresh = match use_cache {
                true => in_view - group.cache.seen(),
                false => in_view,
            };
            let tokens: Vec<i64> = group
                .rows
                .iter()
                .flat_map(|&row| {
                    let sequence = &sequences[row];
                    let view = sequence[..group.pinned].iter().chain(&sequence[from..]);
                    view.skip(in_view - fresh).map(|&t| i64::from(t))
                })
                .collect();
            let input = Tensor::<2, Int>::from_data(
                TensorData::new(tokens, [group.rows.len(), fresh]),
                device,
            );
            let logits = if use_cache {
                model.forward_cached(input, &mut group.cache)
            } else {
                model.forward(input)
            };
            let [rows, positions, vocab] = logits.dims();
            let last = logits
                .narrow(1, positions - 1, 1)
                .reshape([rows, vocab])
                .into_data()
                .try_into_vec::<f32>()
                .unwrap_or_default();
            out.resize(sequences.len() * vocab, 0.0);
            for (&row, values) in group.rows.iter().zip(last.chunks(vocab.max(1))) {
                out[row * vocab..(row + 1) * vocab].copy_from_slice(values);
            }
        }
        out
    }

    fn group(&self, rows: Vec<usize>, pinned: usize, k: usize) -> Group {
        Group {
            rows,
            pinned: if k > 0 { pinned } else { 0 },
            k,
            cache: KvCache::new(self.layers),
        }
    }
}

/// Samples one byte from `logits`, masking what the constraint refuses (and every
/// special token: end-of-log is written once the constraint is complete).
fn sample(
    logits: &[f32],
    constraint: &LogConstraint,
    config: &SamplingConfig,
    rng: &mut impl Rng,
) -> u32 {
    let mut candidates: Vec<(u32, f32)> = logits
        .iter()
        .enumerate()
        .filter(|&(id, value)| {
            value.is_finite() && u8::try_from(id).is_ok_and(|byte| constraint.allows(byte))
        })
        .map(|(id, &value)| (id as u32, value))
        .collect();
    if candidates.is_empty() {
        // Only reachable with non-finite logits: follow the completion.
        return u32::from(constraint.cheapest());
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    if config.temperature <= 0.0 {
        return candidates[0].0;
    }
    if config.top_k > 0 {
        candidates.truncate(config.top_k);
    }
    let max = candidates[0].1;
    let mut weights: Vec<f32> = candidates
        .iter()
        .map(|&(_, value)| ((value - max) / config.temperature).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    if config.top_p < 1.0 {
        let mut cumulative = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                cumulative += w / total;
                cumulative >= config.top_p
            })
            .map_or(weights.len(), |i| i + 1);
        weights.truncate(keep);
        candidates.truncate(keep);
    }
    candidates[draw(&weights, rng)].0
}

/// An index drawn with probability proportional to `weights`.
fn draw(weights: &[f32], rng: &mut impl Rng) -> usize {
    let mut left = rng.random::<f32>() * weights.iter().sum::<f32>();
    weights
        .iter()
        .position(|&weight| {
            left -= weight;
            left < 0.0
        })
        .unwrap_or(weights.len().saturating_sub(1))
}

/// Times the decoding loop alone (forward for the newest position, sample a byte on the
/// host) for `rows` sequences of `bytes` bytes each, with or without the cache: the
/// figure benchmarks compare with a reference implementation's loop.
pub fn time_decoding(
    model: &Gpt,
    rows: usize,
    bytes: usize,
    kv_cache: bool,
    device: &Device,
) -> std::time::Duration {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut sequences = vec![vec![Special::BeginLog as u32]; rows];
    let mut window = Window::new(model, false);
    let started = std::time::Instant::now();
    let mut logits = window.logits(model, &sequences, kv_cache, device);
    for _ in 0..bytes {
        let vocab = logits.len() / rows.max(1);
        for (sequence, row) in sequences.iter_mut().zip(logits.chunks(vocab.max(1))) {
            let max = row[..256].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let weights: Vec<f32> = row[..256].iter().map(|&v| (v - max).exp()).collect();
            sequence.push(draw(&weights, &mut rng) as u32);
        }
        logits = window.logits(model, &sequences, kv_cache, device);
    }
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GptConfig;

    /// The window training reads `sequence` in at its last token: the whole of it while it
    /// fits, else the pin and the log from the first half context that leaves it room.
    fn expected_window(sequence: &[u32], pinned: usize, context: usize) -> Vec<u32> {
        if sequence.len() <= context {
            return sequence.to_vec();
        }
        let stride = long_logs::stride(context);
        let k = (1..)
            .find(|k| pinned + sequence.len() - k * stride <= context)
            .unwrap_or(1);
        let mut window = sequence[..pinned].to_vec();
        window.extend_from_slice(&sequence[k * stride..]);
        window
    }

    #[test]
    fn decoding_reads_long_logs_in_the_windows_training_reads_them_in() {
        let device = Device::flex();
        device.seed(9);
        let context = 64;
        let config = GptConfig {
            context,
            ..GptConfig::preset("tiny").unwrap()
        };
        let model = Gpt::new(&config, &device);
        // Two rows whose headers differ in length, decoded together, 200 tokens each.
        let rows: Vec<Vec<u32>> = ["[azure u=al] ", "[azure u=bobby c=DE] "]
            .iter()
            .map(|header| {
                let mut tokens = vec![Special::BeginLog as u32];
                tokens.extend(ByteTokenizer.encode(header));
                tokens.extend((0..200).map(|i| u32::from(b'a') + i % 26));
                tokens
            })
            .collect();
        for pin_header in [false, true] {
            for use_cache in [true, false] {
                let mut window = Window::new(&model, pin_header);
                for length in 1..=rows[0].len() {
                    let sequences: Vec<Vec<u32>> =
                        rows.iter().map(|row| row[..length].to_vec()).collect();
                    let logits = window.logits(&model, &sequences, use_cache, &device);
                    let vocab = logits.len() / rows.len();
                    for (row, sequence) in sequences.iter().enumerate() {
                        let pinned = match pin_header {
                            true => {
                                long_logs::pinnable(long_logs::header_prefix_len(sequence), context)
                            }
                            false => 0,
                        };
                        let expected = expected_window(sequence, pinned, context);
                        let tokens: Vec<i64> = expected.iter().map(|&t| i64::from(t)).collect();
                        let full = model
                            .forward(Tensor::from_data(
                                TensorData::new(tokens, [1, expected.len()]),
                                &device,
                            ))
                            .into_data()
                            .try_into_vec::<f32>()
                            .unwrap();
                        let last = &full[full.len() - vocab..];
                        let got = &logits[row * vocab..(row + 1) * vocab];
                        let worst = last
                            .iter()
                            .zip(got)
                            .map(|(a, b)| (a - b).abs())
                            .fold(0.0f32, f32::max);
                        assert!(
                            worst < 1e-4,
                            "pin {pin_header}, cache {use_cache}, row {row}, length {length}: {worst}"
                        );
                    }
                }
            }
        }
    }
}
