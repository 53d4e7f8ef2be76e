//! The `cyberlm` binary: parse the flags, run the command, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

// Decoding and rule evaluation allocate many small strings per log, decoded on the
// consumer thread and freed on the detector thread. Measured on the Kafka benchmark
// (2 cores): glibc malloc 18.6k logs/s, mimalloc 19.5k (peak RSS 419 MiB), jemalloc
// 19.5k (449 MiB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the same index in mimalloc v2 and v3; the Rust
/// bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands freed pages back to the OS after 10 ms. A model frees and re-allocates
/// the same large activations every step, so the kernel zeroes fresh pages over and over
/// (a fifth of a `small` training profile); keeping freed pages made training a third
/// faster (1,574 -> 2,104 tokens/s) for more resident memory. Detect keeps the default:
/// its memory must stay small.
fn keep_freed_pages() {
    // SAFETY: sets a process-wide allocator option; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

fn main() -> ExitCode {
    let cli = pipeline::cli::Cli::parse();
    pipeline::cli::init_tracing(cli.verbose);
    if cli.command.runs_a_model() {
        keep_freed_pages();
    }
    match pipeline::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
