//! The `cyberlm` binary: parse the flags, run the command, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

// Decoding and rule evaluation allocate many small strings per log, decoded on the
// consumer thread and freed on the detector thread. Measured on the Kafka benchmark
// (2 cores): glibc malloc 18.6k logs/s, mimalloc 19.5k (peak RSS 419 MiB), jemalloc
// 19.5k (449 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = pipeline::cli::Cli::parse();
    pipeline::cli::init_tracing(cli.verbose);
    match pipeline::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
