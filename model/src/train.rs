//! The training loop: AdamW with linear warm-up and cosine decay, global gradient-norm
//! clipping, gradient accumulation, periodic validation, early stopping, checkpoints and
//! resume.
//!
//! Every step's batch is drawn from an RNG seeded by (seed, step) and dropout is reseeded
//! the same way, so a run resumed from a checkpoint continues exactly as the
//! uninterrupted run would have.

use std::path::Path;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::GptConfig;
use crate::checkpoint::{self, CheckpointError, DataInfo, Manifest, Pseudonyms, TrainState};
use crate::corpus::{Batch, Corpus, WindowShares};
use crate::device::map_on_workers;
use crate::gpt::Gpt;
use operators::text_format::TextFormat;

/// How to train. Stored in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimizer steps at most.
    pub steps: usize,
    /// Windows per micro-batch.
    pub batch_size: usize,
    /// Micro-batches whose gradients are summed into one step.
    pub grad_accumulation: usize,
    /// Peak learning rate, reached after warm-up.
    pub learning_rate: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_learning_rate: f64,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Gradients are scaled down so their global L2 norm is at most this.
    pub grad_clip: f32,
    /// Validate (and checkpoint) every this many steps.
    pub eval_every: usize,
    /// Validation windows per evaluation.
    pub eval_windows: usize,
    /// Stop after this many evaluations without a better validation loss (0: never).
    pub patience: usize,
    /// Seed for initialisation, batches and dropout.
    pub seed: u64,
    /// Stop (and checkpoint) once training has run this many seconds (0: no limit).
    pub time_budget_s: u64,
    /// Share of windows that start at a favoured log ([`Corpus::build_favouring`]): a
    /// technique-tagged attack log for `train --attack-share` (attack logs are a fraction
    /// of a percent of an estate's logs, and a red-team model needs them far more often
    /// than they occur to learn what each technique writes), an anticipated event's
    /// synthetic log for `retrain`. 0 samples every log alike, which a detection model
    /// needs (a model that expects attacks is not surprised by them).
    #[serde(default, alias = "attack_share")]
    pub favoured_share: f64,
    /// Share of windows into a log longer than the context that enter it at its start
    /// rather than at an entry drawn uniformly. A log's first choices (an Entra ID
    /// sign-in's category, written right after its timestamp, then its result and app)
    /// are trained only where a window enters at the start: a third of a sign-in's
    /// windows at 1,024 tokens, where they are a few bytes among a thousand. Trained that
    /// rarely, the model's odds at those bytes stay wherever training noise left them,
    /// and every later field of a generated log follows them.
    #[serde(default)]
    pub start_share: f64,
    /// The step from which `start_share` applies; before it, windows enter long logs at
    /// uniform entries. A start-heavy tail at a decayed learning rate is what calibrated
    /// the sign-in's category as a separate fine-tune did (session 33).
    #[serde(default)]
    pub start_share_from: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 2000,
            batch_size: 16,
            grad_accumulation: 1,
            learning_rate: 2e-3,
            min_learning_rate: 2e-4,
            warmup_steps: 100,
            weight_decay: 0.01,
            grad_clip: 1.0,
            eval_every: 100,
            eval_windows: 64,
            patience: 5,
            seed: 1337,
            time_budget_s: 0,
            favoured_share: 0.0,
            start_share: 0.0,
            start_share_from: 0,
        }
    }
}

impl TrainConfig {
    /// Whether the weights after `state.step` (judged `validation_loss`) become the
    /// checkpoint's: a lower loss than the best so far, or the first evaluation inside a
    /// start-heavy tail while the best is from before it. The tail trades a little
    /// validation loss for calibrated first choices (session 33's fine-tune: 0.219 to
    /// 0.224), so weights from before it are not its result.
    pub fn keeps(&self, state: &checkpoint::TrainState, validation_loss: f32) -> bool {
        let tail_begins = self.start_share > 0.0
            && self.start_share_from > 0
            && state.step > self.start_share_from
            && state.best_step <= self.start_share_from;
        tail_begins
            || state
                .best_validation_loss
                .is_none_or(|best| validation_loss < best)
    }

    /// The start share at `step`: `start_share` from `start_share_from` on, else 0.
    pub fn start_share_at(&self, step: usize) -> f64 {
        match step >= self.start_share_from {
            true => self.start_share,
            false => 0.0,
        }
    }

    /// Learning rate at `step`: linear warm-up, then cosine decay to the minimum.
    pub fn learning_rate_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.learning_rate * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.min_learning_rate + cosine * (self.learning_rate - self.min_learning_rate)
    }
}

/// What the loop reports as it goes.
#[derive(Debug, Clone)]
pub enum TrainEvent {
    /// One optimizer step finished.
    Step {
        /// Steps done.
        step: usize,
        /// Steps planned.
        steps: usize,
        /// Training loss of this step (nats per token).
        loss: f32,
        /// Learning rate used.
        learning_rate: f64,
        /// Training tokens per second since the run (or resume) started.
        tokens_per_second: f64,
    },
    /// A validation pass finished and a checkpoint was written.
    Evaluated {
        /// Steps done.
        step: usize,
        /// Validation loss (nats per token).
        validation_loss: f32,
        /// Whether it is the best so far (the published weights were replaced).
        improved: bool,
    },
    /// Training stopped early: no better validation loss for `patience` evaluations.
    EarlyStop {
        /// Steps done.
        step: usize,
    },
}

/// Everything a training run needs besides its data.
pub struct TrainRun<'a> {
    /// Model shape.
    pub model: GptConfig,
    /// Loop settings.
    pub train: TrainConfig,
    /// The text format (with its projection) the corpus was rendered in.
    pub text_format: TextFormat,
    /// Training streams.
    pub corpus: &'a Corpus,
    /// Held-out streams for validation and early stopping.
    pub validation: &'a Corpus,
    /// Where checkpoints go; an existing checkpoint there is resumed.
    pub checkpoint_dir: &'a Path,
    /// The device to train on (autodiff is enabled on it here).
    pub device: Device,
    /// How the logs were pseudonymised before rendering (recorded in the manifest).
    pub pseudonyms: Option<Pseudonyms>,
    /// Checkpoint and return once this many steps are done, though the schedule runs
    /// to `train.steps` (a run sliced into several invocations; `None`: run to the end).
    pub pause_at: Option<usize>,
    /// A checkpoint whose weights a new run starts from instead of a random
    /// initialisation (fine-tuning; the optimizer starts afresh). Same model shape.
    pub start_from: Option<&'a Path>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The manifest written last.
    pub manifest: Manifest,
    /// Whether the run continued an earlier checkpoint.
    pub resumed: bool,
}

/// A model and its optimizer, stepping on batches: the loop `train` runs, and what
/// benchmarks time.
pub struct Trainer {
    /// Always `Some` between calls; taken while the optimizer consumes it.
    model: Option<Gpt>,
    optimizer: ModuleOptimizer,
    params: ParamIds,
    device: Device,
    grad_clip: f32,
    /// Threads that each run forward and backward on a shard of every micro-batch.
    workers: usize,
}

impl Trainer {
    /// A fresh model on `device` (autodiff is enabled here), seeded by `seed`.
    pub fn new(model: &GptConfig, train: &TrainConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        device.seed(train.seed);
        let gpt = Gpt::new(model, &device);
        Self::from_parts(gpt, adamw(train).init(), model, train, device)
    }

    fn from_parts(
        model: Gpt,
        optimizer: ModuleOptimizer,
        config: &GptConfig,
        train: &TrainConfig,
        device: Device,
    ) -> Self {
        Trainer {
            params: ParamIds::of(&model),
            model: Some(model),
            optimizer,
            // Dropout draws from the device's one generator; shards drawing from it
            // concurrently would make a resumed run differ from an uninterrupted one.
            workers: match config.dropout > 0.0 {
                true => 1,
                false => crate::device::parallel_workers(&device),
            },
            device,
            grad_clip: train.grad_clip,
        }
    }

    /// One optimizer step over `batches` (gradients summed, each batch weighted
    /// equally); returns the mean loss.
    ///
    /// On the CPU each batch is cut into one shard per core, and the shards' forward and
    /// backward passes run on their own threads: most of the backend's kernels (layer
    /// norm, GELU, the attention's softmax, every elementwise op) run on one core, so
    /// this is what keeps all cores busy. Each shard's loss is weighted by its share of
    /// the batch's real tokens, so the summed gradient is the whole batch's.
    pub fn step(&mut self, batches: &[Batch], learning_rate: f64) -> f32 {
        let mut accumulator = GradientsAccumulator::<Gpt>::new();
        // The loss stays on the device until the update is queued: read before the
        // backward pass, it would make a GPU finish each forward pass while the host
        // waits, and only then hear of the backward pass.
        let mut loss_sum: Option<Tensor<1>> = None;
        let share = batches.len().max(1) as f32;
        let Some(model) = self.model.take() else {
            unreachable!("the trainer always holds its model between steps")
        };
        for batch in batches {
            let real = batch.real_tokens().max(1) as f32;
            let shard_grads = |shard: &Batch, model: &Gpt| {
                let (inputs, targets, weights) = tensors(shard, &self.device);
                let weight = shard.real_tokens() as f32 / real / share;
                let loss = model.loss(inputs, targets, weights) * weight;
                let value = loss.clone().detach();
                (value, GradientsParams::from_grads(loss.backward(), model))
            };
            // Each shard on its own autodiff graph (a fork shares no node with the
            // model), so a backward pass walks only its own shard.
            let shards = batch.shards(self.workers);
            let results = map_on_workers(&self.device, &shards, |shard| match shards.len() {
                1 => shard_grads(shard, &model),
                _ => shard_grads(shard, &model.clone().fork(&self.device)),
            });
            for (value, grads) in results {
                loss_sum = Some(match loss_sum {
                    Some(sum) => sum + value,
                    None => value,
                });
                accumulator.accumulate(&model, grads);
            }
        }
        let grads = self
            .params
            .clip_global_norm(accumulator.grads(), self.grad_clip);
        self.model = Some(self.optimizer.step(learning_rate, model, grads));
        loss_sum.map_or(0.0, |loss| loss.into_scalar::<f32>())
    }

    /// The trainer with its model's linear layers and attention multiplying as `products`
    /// says.
    pub fn with_products(mut self, products: crate::precision::Products) -> Self {
        self.model = self.model.map(|model| model.with_products(products));
        self
    }

    /// A copy of the model for inference (no autodiff, dropout off).
    pub fn inference_model(&self) -> Gpt {
        self.model().valid()
    }

    /// The model, in training mode.
    pub fn model(&self) -> &Gpt {
        self.model
            .as_ref()
            .expect("the trainer always holds its model between steps")
    }
}

fn adamw(train: &TrainConfig) -> AdamWConfig {
    AdamWConfig::new()
        .with_beta_2(0.95)
        .with_epsilon(1e-8)
        .with_weight_decay(train.weight_decay)
}

/// Trains (or resumes) a model, checkpointing into `run.checkpoint_dir` at every
/// evaluation and at the end.
pub fn train(
    run: TrainRun<'_>,
    mut on_event: impl FnMut(&TrainEvent),
) -> Result<TrainOutcome, CheckpointError> {
    run.model
        .validate()
        .map_err(CheckpointError::InvalidConfig)?;
    let data = DataInfo {
        fingerprint: run.corpus.fingerprint(),
        logs: run.corpus.logs(),
        tokens: run.corpus.tokens(),
        validation_logs: run.validation.logs(),
        pseudonyms: run.pseudonyms.clone(),
    };
    let autodiff = run.device.clone().autodiff();
    let (mut trainer, mut state, resumed) = match checkpoint::load_training_state(
        run.checkpoint_dir,
        &autodiff,
        adamw(&run.train).init(),
    )? {
        Some((manifest, model, optimizer)) => {
            checkpoint::check_resumable(
                run.checkpoint_dir,
                &manifest,
                &run.model,
                &run.text_format,
                &data,
            )?;
            (
                Trainer::from_parts(model, optimizer, &run.model, &run.train, autodiff),
                manifest.state,
                true,
            )
        }
        None => {
            let trainer = match run.start_from {
                Some(dir) => {
                    let model = checkpoint::load_for_training(dir, &run.model, &autodiff)?;
                    autodiff.seed(run.train.seed);
                    let optimizer = adamw(&run.train).init();
                    Trainer::from_parts(model, optimizer, &run.model, &run.train, autodiff)
                }
                None => Trainer::new(&run.model, &run.train, &run.device),
            };
            (trainer, TrainState::default(), false)
        }
    };

    let validation_starts = run.validation.validation_starts(run.train.eval_windows);
    let started = Instant::now();
    let start_tokens = state.tokens_seen;
    let mut manifest = None;

    while state.step < run.train.steps && !state.stopped_early {
        let step = state.step;
        let mut rng = ChaCha8Rng::seed_from_u64(
            run.train.seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        trainer
            .device
            .seed(run.train.seed.wrapping_add(step as u64 + 1));
        let batches: Vec<Batch> = (0..run.train.grad_accumulation.max(1))
            .map(|_| {
                run.corpus.sample(
                    &mut rng,
                    run.train.batch_size,
                    run.model.context,
                    WindowShares {
                        favoured: run.train.favoured_share,
                        start: run.train.start_share_at(step),
                    },
                )
            })
            .collect();
        state.tokens_seen += batches.iter().map(Batch::real_tokens).sum::<usize>() as u64;
        let learning_rate = run.train.learning_rate_at(step);
        let loss = trainer.step(&batches, learning_rate);
        state.step += 1;

        let tokens_per_second =
            (state.tokens_seen - start_tokens) as f64 / started.elapsed().as_secs_f64().max(1e-9);
        on_event(&TrainEvent::Step {
            step: state.step,
            steps: run.train.steps,
            loss,
            learning_rate,
            tokens_per_second,
        });
        state.last_train_loss = Some(loss);

        let stop_now = run.train.time_budget_s > 0
            && started.elapsed().as_secs() >= run.train.time_budget_s
            || run.pause_at.is_some_and(|pause| state.step >= pause);
        let last = state.step == run.train.steps || stop_now;
        if state.step.is_multiple_of(run.train.eval_every.max(1)) || last {
            let validation_loss = evaluate(
                &trainer.inference_model(),
                run.validation,
                &validation_starts,
                run.model.context,
                &run.device,
            );
            let improved = run.train.keeps(&state, validation_loss);
            if improved {
                state.best_validation_loss = Some(validation_loss);
                state.best_step = state.step;
                state.evals_without_improvement = 0;
            } else {
                state.evals_without_improvement += 1;
            }
            state.history.push(checkpoint::EvalRecord {
                step: state.step,
                train_loss: loss,
                validation_loss,
                tokens_per_second,
            });
            if run.train.patience > 0 && state.evals_without_improvement >= run.train.patience {
                state.stopped_early = true;
            }
            let written = Manifest::new(
                run.model.clone(),
                run.text_format.clone(),
                data.clone(),
                run.train.clone(),
                state.clone(),
            );
            checkpoint::save(
                run.checkpoint_dir,
                &written,
                trainer.model(),
                &trainer.optimizer,
                improved,
            )?;
            manifest = Some(written);
            on_event(&TrainEvent::Evaluated {
                step: state.step,
                validation_loss,
                improved,
            });
            if state.stopped_early {
                on_event(&TrainEvent::EarlyStop { step: state.step });
            }
            if stop_now {
                break;
            }
        }
    }

    let manifest = match manifest {
        Some(manifest) => manifest,
        // Nothing left to do: the checkpoint already holds the finished run.
        None => checkpoint::read_manifest(run.checkpoint_dir)?,
    };
    Ok(TrainOutcome { manifest, resumed })
}

/// Mean validation loss over the windows starting at `starts`, in batches.
pub fn evaluate(
    model: &Gpt,
    corpus: &Corpus,
    starts: &[usize],
    context: usize,
    device: &Device,
) -> f32 {
    let mut total = 0.0f64;
    let mut count = 0.0f64;
    for chunk in starts.chunks(16) {
        let batch = corpus.batch(chunk, context);
        let real: f64 = batch.weights.iter().map(|&w| f64::from(w)).sum();
        if real == 0.0 {
            continue;
        }
        let (inputs, targets, weights) = tensors(&batch, device);
        let loss = model.loss(inputs, targets, weights).into_scalar::<f32>();
        total += f64::from(loss) * real;
        count += real;
    }
    if count == 0.0 {
        f32::NAN
    } else {
        (total / count) as f32
    }
}

/// A batch's input and target token ids as tensors on `device`.
pub(crate) fn token_tensors(batch: &Batch, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
    let shape = [batch.size, batch.context];
    (
        Tensor::from_data(TensorData::new(batch.inputs.clone(), shape), device),
        Tensor::from_data(TensorData::new(batch.targets.clone(), shape), device),
    )
}

fn tensors(batch: &Batch, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>, Tensor<2>) {
    let (inputs, targets) = token_tensors(batch, device);
    let weights = TensorData::new(batch.weights.clone(), [batch.size, batch.context]);
    (inputs, targets, Tensor::from_data(weights, device))
}

/// The ids and ranks of a model's parameters, to walk its gradients.
struct ParamIds(Vec<(ParamId, usize)>);

impl ModuleVisitor for ParamIds {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push((param.id, D));
    }
}

impl ParamIds {
    fn of(model: &Gpt) -> Self {
        let mut ids = ParamIds(Vec::new());
        model.visit(&mut ids);
        ids
    }

    /// Scales all gradients by one factor so their global L2 norm is at most `max_norm`
    /// (burn's own clipping works per tensor, which changes the update's direction). The
    /// factor, `min(1, max_norm / norm)`, is computed on the device, as PyTorch's
    /// `clip_grad_norm_` does: reading the norm on the host would drain a GPU's queue
    /// every step. A norm that overflows to infinity gives a factor of 0 (the step leaves
    /// the weights to AdamW's momentum) rather than an unclipped step.
    fn clip_global_norm(&self, mut grads: GradientsParams, max_norm: f32) -> GradientsParams {
        if max_norm <= 0.0 {
            return grads;
        }
        let mut squares: Option<Tensor<1>> = None;
        for &(id, rank) in &self.0 {
            let square = match rank {
                1 => grads.get::<1>(id).map(|g| g.square().sum()),
                2 => grads.get::<2>(id).map(|g| g.square().sum()),
                _ => None,
            };
            if let Some(square) = square {
                squares = Some(match squares {
                    Some(total) => total + square,
                    None => square,
                });
            }
        }
        let Some(squares) = squares else { return grads };
        let limit = squares.ones_like() * max_norm;
        let scale = (limit / squares.sqrt()).clamp_max(1.0);
        for &(id, rank) in &self.0 {
            match rank {
                1 => {
                    if let Some(g) = grads.remove::<1>(id) {
                        grads.register(id, g * scale.clone());
                    }
                }
                2 => {
                    if let Some(g) = grads.remove::<2>(id) {
                        grads.register(id, g * scale.clone().reshape([1, 1]));
                    }
                }
                _ => {}
            }
        }
        grads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::TrainingLog;
    use crate::precision::Products;

    #[test]
    fn clipping_scales_every_gradient_by_one_factor_to_the_limit() {
        let device = Device::flex();
        let (vector, matrix) = (ParamId::new(), ParamId::new());
        let ids = ParamIds(vec![(vector, 1), (matrix, 2)]);
        let clipped = |first: f32, second: f32| {
            let mut grads = GradientsParams::new();
            grads.register(vector, Tensor::<1>::from_floats([first, 0.0], &device));
            grads.register(matrix, Tensor::<2>::from_floats([[0.0, second]], &device));
            let mut grads = ids.clip_global_norm(grads, 1.0);
            let values = |data: TensorData| data.try_into_vec::<f32>().expect("f32 gradients");
            let vector = values(grads.remove::<1>(vector).expect("kept").into_data());
            let matrix = values(grads.remove::<2>(matrix).expect("kept").into_data());
            [vector[0], matrix[1]]
        };
        // A norm of 5 against a limit of 1: each a fifth; a norm of 0.5: as they were.
        assert_eq!(clipped(3.0, 4.0), [0.6, 0.8]);
        assert_eq!(clipped(0.3, 0.4), [0.3, 0.4]);
        // A norm that overflows: no step, rather than an unclipped one.
        assert_eq!(clipped(f32::MAX, 1.0), [0.0, 0.0]);
    }

    fn batch() -> Batch {
        let logs: Vec<TrainingLog> = (0..12)
            .map(|i| {
                let raw = format!(
                    r#"{{"eventTime":"2024-07-30T08:{i:02}:00Z","eventName":"Get{i}","userIdentity":{{"type":"IAMUser","userName":"u{}"}}}}"#,
                    i % 3
                );
                TrainingLog {
                    envelope: schemas::decode(schemas::Source::CloudTrail, raw.as_bytes())
                        .unwrap(),
                    technique: None,
                    detected: None,
                }
            })
            .collect();
        let corpus = Corpus::build(&TextFormat::default(), &logs);
        // Windows of different lengths, so shards hold different numbers of real tokens.
        corpus.batch(&[0, 1, 2, 3, 5, 8, 11], 128)
    }

    #[test]
    fn the_start_share_applies_from_its_step_on() {
        let train = TrainConfig {
            start_share: 0.75,
            start_share_from: 2700,
            ..TrainConfig::default()
        };
        assert_eq!(train.start_share_at(0), 0.0);
        assert_eq!(train.start_share_at(2699), 0.0);
        assert_eq!(train.start_share_at(2700), 0.75);
        assert_eq!(train.start_share_at(3499), 0.75);
        let always = TrainConfig {
            start_share: 0.5,
            ..TrainConfig::default()
        };
        assert_eq!(always.start_share_at(0), 0.5);

        // The tail's first evaluation replaces weights from before it, however good.
        let state = |step: usize, best_step: usize| checkpoint::TrainState {
            step,
            best_step,
            best_validation_loss: Some(0.219),
            ..checkpoint::TrainState::default()
        };
        assert!(!train.keeps(&state(2700, 2600), 0.23), "no tail step yet");
        assert!(train.keeps(&state(2800, 2600), 0.23));
        assert!(
            !train.keeps(&state(2900, 2800), 0.231),
            "worse than the tail's best"
        );
        assert!(train.keeps(&state(2900, 2800), 0.2));
        assert!(!always.keeps(&state(2800, 2600), 0.23));
    }

    /// Two trainers of `tiny` at a context of 128 on the CPU, starting from the same
    /// weights: one model drawn, then copied. Making each with `Trainer::new` would seed
    /// the device's one generator and draw from it each time, and tests running beside
    /// draw from it too.
    fn twin_trainers() -> ([Trainer; 2], Device) {
        let config = GptConfig {
            context: 128,
            ..GptConfig::preset("tiny").unwrap()
        };
        let train = TrainConfig::default();
        let device = Device::flex();
        let drawn = Trainer::new(&config, &train, &device).model().clone();
        let trainers = std::array::from_fn(|_| {
            let optimizer = adamw(&train).init();
            let autodiff = device.clone().autodiff();
            Trainer::from_parts(drawn.clone(), optimizer, &config, &train, autodiff)
        });
        (trainers, device)
    }

    #[test]
    fn mixed_precision_learns_as_f32_does() {
        let ([exact, mixed], _) = twin_trainers();
        let batch = batch();
        let curve = |mut trainer: Trainer| {
            (0..30)
                .map(|_| trainer.step(std::slice::from_ref(&batch), 3e-3))
                .collect::<Vec<f32>>()
        };
        let (exact, mixed) = (curve(exact), curve(mixed.with_products(Products::Bf16)));
        assert!(exact[29] < 0.5 * exact[0], "f32 learns: {exact:?}");
        // Same initialisation and batches: the curves part only by bf16's rounding.
        for (step, (exact, mixed)) in exact.iter().zip(&mixed).enumerate() {
            assert!(
                (exact - mixed).abs() < 0.02 * exact,
                "step {step}: f32 {exact}, mixed {mixed}"
            );
        }
    }

    #[test]
    fn a_step_on_shards_is_the_step_on_the_whole_batch() {
        let (trainers, device) = twin_trainers();
        let batch = batch();
        let mut outcomes = Vec::new();
        for (mut trainer, workers) in trainers.into_iter().zip([1, 3]) {
            trainer.workers = workers;
            let loss = trainer.step(std::slice::from_ref(&batch), 1e-2);
            let after =
                crate::score::batch_log_likelihood(&trainer.inference_model(), &batch, &device);
            outcomes.push((loss, after));
        }
        let ((loss_one, after_one), (loss_three, after_three)) = (&outcomes[0], &outcomes[1]);
        assert!(
            (loss_one - loss_three).abs() < 1e-5,
            "{loss_one} vs {loss_three}"
        );
        let largest_difference = after_one
            .iter()
            .zip(after_three)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            largest_difference < 1e-4,
            "the updated weights differ: {largest_difference}"
        );
    }
}
