//! `cyberlm bench-model`: training, scoring and decoding throughput of one preset on this
//! machine, printed as one JSON object. With `--export-windows` it also writes the exact
//! windows it trained on, so `bench/gpt_reference.py` (PyTorch) times the same batches, and
//! with `--export-init` the weights it started from, so the reference can start there too.

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use model::corpus::{Batch, Corpus, TrainingLog, fit_text_format};
use model::train::{TrainConfig, Trainer};
use serde_json::json;

use crate::cli::BenchModelArgs;
use crate::commands::train::preset;
use crate::files::read_envelopes;

/// Steps run before timing starts.
const WARM_UP: usize = 3;

/// `cyberlm bench-model`.
pub fn run(args: &BenchModelArgs) -> anyhow::Result<ExitCode> {
    let mut config = preset(&args.preset)?;
    if let Some(dropout) = args.dropout {
        anyhow::ensure!(
            (0.0..1.0).contains(&dropout),
            "--dropout {dropout} is not a probability in [0, 1)"
        );
        config.dropout = dropout;
    }
    let float: model::device::Float = args.float.into();
    let device = model::device::open(&args.device, float)?;
    let dead_letter_path = std::env::temp_dir().join("cyberlm-bench-dead-letter.jsonl");
    let logs: Vec<TrainingLog> = read_envelopes(&args.inputs, None, &dead_letter_path)?
        .0
        .into_iter()
        .map(|envelope| TrainingLog {
            envelope,
            technique: None,
            detected: None,
        })
        .collect();
    anyhow::ensure!(
        !logs.is_empty(),
        "no logs to benchmark on in {:?}",
        args.inputs
    );
    let corpus = Corpus::build(&fit_text_format(&logs, None), &logs);

    // Batch i holds the windows starting at logs i*B .. i*B+B (spread over the corpus).
    let stride = (corpus.logs() / (args.batch_size * (args.steps + WARM_UP)).max(1)).max(1);
    let batches: Vec<Batch> = (0..args.steps + WARM_UP)
        .map(|i| {
            let starts: Vec<usize> = (0..args.batch_size)
                .map(|j| ((i * args.batch_size + j) * stride) % corpus.logs())
                .collect();
            corpus.batch(&starts, config.context)
        })
        .collect();
    if let Some(path) = &args.export_windows {
        export(path, &batches)?;
    }

    let train_config = TrainConfig::default();
    let mut trainer = Trainer::new(&config, &train_config, &device).with_products(float.products());
    if let Some(path) = &args.export_init {
        model::checkpoint::save_weights(&trainer.inference_model(), path).with_context(|| {
            format!("failed to write the initial weights to {}", path.display())
        })?;
    }
    // Every step's loss, warm-up included: the reference started from the same weights
    // (`--export-init`) should follow them step by step.
    let mut losses = Vec::with_capacity(batches.len());
    phase("train-warm-up");
    for batch in &batches[..WARM_UP] {
        losses.push(trainer.step(std::slice::from_ref(batch), 1e-3));
    }
    phase("train");
    let started = Instant::now();
    let mut tokens = 0;
    for batch in &batches[WARM_UP..] {
        losses.push(trainer.step(std::slice::from_ref(batch), 1e-3));
        tokens += batch.real_tokens();
    }
    let train_s = started.elapsed().as_secs_f64();

    let inference = trainer.inference_model();
    let forward = |batch: &Batch| model::score::batch_log_likelihood(&inference, batch, &device);
    phase("score-warm-up");
    for batch in &batches[..2] {
        forward(batch);
    }
    phase("score");
    let started = Instant::now();
    let mut score_tokens = 0;
    let mut score_logs = 0;
    for batch in &batches[WARM_UP..] {
        forward(batch);
        score_tokens += batch.real_tokens();
        score_logs += batch.logs_begun();
    }
    let score_s = started.elapsed().as_secs_f64();

    phase("decode-warm-up");
    model::generate::time_decoding(&inference, args.generate, 8, true, &device);
    phase("decode-kv-cache");
    let cached = model::generate::time_decoding(
        &inference,
        args.generate,
        args.generate_bytes,
        true,
        &device,
    );
    phase("decode-recompute");
    let uncached = model::generate::time_decoding(
        &inference,
        args.generate,
        args.generate_bytes,
        false,
        &device,
    );

    let report = json!({
        "impl": format!("cyberlm-burn-{}-{:?}", args.device, args.float).to_lowercase(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "preset": args.preset,
        "train_tokens_per_s": tokens as f64 / train_s,
        "final_loss": losses.last(),
        "losses": losses,
        "score_tokens_per_s": score_tokens as f64 / score_s,
        "score_logs_per_s": score_logs as f64 / score_s,
        "generate_logs_per_s_cached": args.generate as f64 / cached.as_secs_f64(),
        "generate_logs_per_s_uncached": args.generate as f64 / uncached.as_secs_f64(),
        "generate_bytes": args.generate_bytes,
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// Marks where a phase starts, for a profiler's log of the same run
/// (`bench/gpu-profile.sh` splits cubecl's kernel timings at these lines).
fn phase(name: &str) {
    tracing::info!("bench-model phase: {name}");
}

/// Writes each window as int64 inputs then int64 targets, the layout
/// `bench/gpt_reference.py` reads. The reference counts a target towards the loss unless
/// it is padding, so a target of weight 0 (a pinned header's) is written as padding.
fn export(path: &std::path::Path, batches: &[Batch]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path)
            .with_context(|| format!("failed to create {}", path.display()))?,
    );
    let pad = i64::from(model::Special::Pad as u16);
    for batch in batches {
        for row in 0..batch.size {
            let span = row * batch.context..(row + 1) * batch.context;
            let targets = batch.targets[span.clone()]
                .iter()
                .zip(&batch.weights[span.clone()])
                .map(|(&target, &weight)| if weight > 0.0 { target } else { pad });
            for value in batch.inputs[span].iter().copied().chain(targets) {
                out.write_all(&value.to_le_bytes())?;
            }
        }
    }
    out.flush()
        .with_context(|| format!("failed to write {}", path.display()))
}

/// Peak resident memory of this process, from /proc (Linux); 0 elsewhere.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
