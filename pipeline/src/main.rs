//! The `cyberlm` binary: parse the flags, run the command, map errors to an exit code.

use std::process::ExitCode;

use clap::Parser;

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
