//! Command-line flags, and dispatch to the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;

/// cyberlm: cyber language models over raw security logs.
#[derive(Debug, Parser)]
#[command(name = "cyberlm", version, about)]
pub struct Cli {
    /// More logging (-v debug, -vv trace). RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Simulate an enterprise's Entra ID, Confluence and CloudTrail logs, with labelled attacks.
    Simulate(SimulateArgs),
    /// Run the detectors over logs and write alerts (OCSF Detection Findings).
    Detect(DetectArgs),
    /// The whole story on files, no broker: simulate a week, detect, report.
    Demo(DemoArgs),
    /// Replay recorded JSONL logs into the source topics.
    Replay(ReplayArgs),
    /// Create the source, alerts and dead-letter topics (co-partitioned).
    Topics(TopicsArgs),
    /// Store recorded JSONL logs in one Parquet file (readable by replay and detect).
    Record(RecordArgs),
}

/// Flags of `cyberlm record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// JSONL files or folders (as `detect` reads them).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The Parquet file to write.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Flags of `cyberlm topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Partitions of each source topic and of the alerts topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// `retention.ms` of every topic; -1 keeps messages forever. Kafka measures age by
    /// message timestamp, which replay sets to the log's original event time.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub retention_ms: i64,
    /// Config file (TOML).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// Flags of `cyberlm replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSONL files or folders (as `detect` reads them).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Pace by the original timestamps, this many times faster (1 = real time).
    #[arg(long)]
    pub speed: Option<f64>,
    /// Pace at this many messages per second.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Config file (TOML).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// Flags of `cyberlm simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of employees.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Number of days.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// RNG seed; the same seed gives byte-identical output.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// First day, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-11-02")]
    pub start: chrono::NaiveDate,
    /// Leave out the labelled attack scenarios.
    #[arg(long)]
    pub no_attacks: bool,
    /// Leave out the anticipated benign trip.
    #[arg(long)]
    pub no_travel: bool,
    /// Output folder.
    #[arg(long, short, default_value = "out/simulated")]
    pub out: PathBuf,
}

/// Flags of `cyberlm detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// JSONL log files; a file named after a source (azure.jsonl, confluence.jsonl,
    /// cloudtrail.jsonl) is decoded as that source, any other by its shape. A folder
    /// means every *.jsonl in it except labels.jsonl and users.jsonl.
    #[arg(required_unless_present = "kafka", conflicts_with = "kafka")]
    pub inputs: Vec<PathBuf>,
    /// Read the source topics and write alerts and dead letters to Kafka instead of files;
    /// runs until SIGTERM or Ctrl-C, then drains and commits.
    #[arg(long)]
    pub kafka: bool,
    /// Config file (TOML); see config/cyberlm.toml.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where alerts go (JSONL of OCSF Detection Findings).
    #[arg(long, default_value = "out/alerts.jsonl")]
    pub alerts: PathBuf,
    /// Where logs that cannot be decoded go, with the reason.
    #[arg(long, default_value = "out/dead-letter.jsonl")]
    pub dead_letter: PathBuf,
}

/// Flags of `cyberlm demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of employees.
    #[arg(long, default_value_t = 50)]
    pub users: usize,
    /// Number of days.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// RNG seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Config file (TOML).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Output folder.
    #[arg(long, short, default_value = "out/demo")]
    pub out: PathBuf,
}

/// Sets up `tracing` to standard error.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Simulate(args) => commands::simulate::run(&args),
        Command::Detect(args) => commands::detect::run(&args),
        Command::Demo(args) => commands::demo::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Topics(args) => commands::topics::run(&args),
        Command::Record(args) => commands::record::run(&args),
    }
}
