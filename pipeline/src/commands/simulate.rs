//! `cyberlm simulate`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::cli::SimulateArgs;
use crate::progress;
use crate::simulate::{SimulationConfig, Summary, simulate, write_corpus};

/// Simulates and writes the corpus, printing what was written and how fast.
pub fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let config = SimulationConfig {
        users: args.users,
        days: args.days,
        seed: args.seed,
        activity_seed: args.activity_seed,
        start: args.start,
        attacks: !args.no_attacks,
        travel: !args.no_travel,
        past_trips: args.past_trips,
    };
    let summary = simulate_to(&config, &args.out)?;
    for file in &summary.files {
        println!("wrote {}", file.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Simulates `config` into `dir` with a progress bar, and logs the figures.
pub fn simulate_to(config: &SimulationConfig, dir: &std::path::Path) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let bar = progress::bar(config.users as u64, "simulating");
    let mut simulation = simulate(config, || bar.inc(1));
    bar.finish_and_clear();
    let generated = started.elapsed();
    let summary = write_corpus(&mut simulation, dir)
        .with_context(|| format!("failed to write the simulated corpus to {}", dir.display()))?;
    let total = summary.total_events();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        message = "Simulated the enterprise.",
        users = config.users,
        days = config.days,
        events = total,
        labelled = summary.labelled,
        megabytes = format!("{:.1}", summary.bytes as f64 / 1e6),
        generate_secs = format!("{:.2}", generated.as_secs_f64()),
        total_secs = format!("{seconds:.2}"),
        events_per_sec = format!("{:.0}", total as f64 / seconds.max(1e-9)),
    );
    for (source, count) in &summary.events {
        tracing::info!(
            message = "Events per source.",
            source = source.as_str(),
            count
        );
    }
    Ok(summary)
}
