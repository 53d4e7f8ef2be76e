//! Command-line flags, and dispatch to the commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::commands::scenario::travel::Behaviour;

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
    /// The whole story on files, no broker: simulate an organisation, train a GPT on it,
    /// calibrate, and judge a held-out stretch with attacks beside the Sigma rules.
    Demo(DemoArgs),
    /// Replay recorded JSONL logs into the source topics.
    Replay(ReplayArgs),
    /// Create the source, alerts and dead-letter topics (co-partitioned).
    Topics(TopicsArgs),
    /// Store recorded JSONL logs in one Parquet file (readable by replay and detect).
    Record(RecordArgs),
    /// Train a GPT from scratch on raw logs (JSONL or Parquet).
    Train(TrainArgs),
    /// Score logs with a trained model: surprisal per log and per JSON field.
    Score(ScoreArgs),
    /// Measure a trained model's scores on benign logs, so the GPT detector can alert at a
    /// chosen rate.
    Calibrate(CalibrateArgs),
    /// Measure results against labelled data (detection: precision, recall, curves).
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Generate synthetic logs with a trained model; every line is valid JSON.
    Generate(GenerateArgs),
    /// Synthetic logs of an anticipated event (a user travelling), for what-if tests and
    /// retraining.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// The periodic retrain job: recorded logs plus synthetic logs of anticipated events
    /// train a candidate, published into the registry only if no worse (exit 0
    /// published, 3 kept the published version, 75 another retrain is running).
    Retrain(RetrainArgs),
    /// Publish a calibrated model folder as the registry's next version (the first
    /// version, or a hand-made one); `detect` switches to it.
    Publish(PublishArgs),
    /// Measure training, scoring and decoding throughput of a model preset (JSON out).
    BenchModel(BenchModelArgs),
}

/// Flags of `cyberlm retrain`.
#[derive(Debug, Args)]
pub struct RetrainArgs {
    /// Recorded logs (JSONL or Parquet files or folders).
    #[arg(required_unless_present = "kafka", conflicts_with = "kafka")]
    pub inputs: Vec<PathBuf>,
    /// Read the recorded logs from the source topics of the config's `[kafka]` instead:
    /// `--since` to `--until` (by message timestamp, then event time), outside detect's
    /// consumer group, committing nothing.
    #[arg(long)]
    pub kafka: bool,
    /// The model registry: its published version is the one to beat, and the candidate
    /// is published there.
    #[arg(long)]
    pub registry: PathBuf,
    /// Anticipated events (TOML): each becomes synthetic benign logs to train on.
    #[arg(long)]
    pub anticipated: Option<PathBuf>,
    /// Group models of the Dual-GPT (`train --field-group location`) that write the
    /// locations of anticipated trips.
    #[arg(long)]
    pub group_model: Vec<PathBuf>,
    /// Labels of the recorded logs: their attack logs are left out of training and
    /// calibration, and the held-out ones measure recall.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Recorded attacks (folders with a labels.jsonl) on which both models' recall is
    /// measured (their labelled attack logs only, after the recorded logs as context).
    /// Takes every path that follows it, so give the recorded logs first.
    #[arg(long, num_args = 1..)]
    pub attacks: Vec<PathBuf>,
    /// Which recorded logs.
    #[command(flatten)]
    pub range: TimeRange,
    /// Share of the recorded logs, the latest, held out to measure both models on.
    #[arg(long, default_value_t = 0.1)]
    pub holdout: f64,
    /// Start from the published version's weights instead of from scratch.
    #[arg(long)]
    pub fine_tune: bool,
    /// Optimizer steps (default: the published version's; a quarter of them when
    /// fine-tuning).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Fine-tuning's learning rates, as a share of the published version's.
    #[arg(long, default_value_t = 0.25)]
    pub fine_tune_learning_rate: f64,
    /// Share of training windows that start at an anticipated event's synthetic log:
    /// they are a few dozen among thousands of recorded logs, and sampled like the rest
    /// the model barely learns them.
    #[arg(long, default_value_t = 0.25)]
    pub anticipated_share: f64,
    /// Relative rise of the validation loss still counted as no worse.
    #[arg(long, default_value_t = 0.02)]
    pub max_loss_increase: f64,
    /// Drop of attack recall still counted as no worse (0.02: two points).
    #[arg(long, default_value_t = 0.02)]
    pub max_recall_drop: f64,
    /// Published versions kept (the current one always is), and rejected candidates.
    #[arg(long, default_value_t = 5)]
    pub keep: usize,
    /// Benign logs of a kind a user needs for a calibration baseline of their own.
    #[arg(long, default_value_t = 200)]
    pub min_user_logs: usize,
    /// Windows per model call when scoring.
    #[arg(long, default_value_t = 16)]
    pub batch_windows: usize,
    /// How anticipated events are sampled.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Config file (TOML): `[pii]` as the published version was trained with, and
    /// `gpt.alerts_per_10k`, the rate alerts are counted at.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Flags of `cyberlm publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A calibrated model folder (`cyberlm train`, then `cyberlm calibrate`).
    pub model: PathBuf,
    /// The model registry.
    #[arg(long)]
    pub registry: PathBuf,
}

/// A window of event time.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct TimeRange {
    /// Only logs at or after this time (RFC 3339, or a date: its midnight UTC).
    #[arg(long, value_parser = parse_instant)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only logs before this time (RFC 3339, or a date: its midnight UTC).
    #[arg(long, value_parser = parse_instant)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl TimeRange {
    /// Whether `time` is in the window.
    pub fn contains(&self, time: chrono::DateTime<chrono::Utc>) -> bool {
        self.since.is_none_or(|since| time >= since) && self.until.is_none_or(|until| time < until)
    }

    /// Whether `time` comes before the window.
    pub fn is_before(&self, time: chrono::DateTime<chrono::Utc>) -> bool {
        self.since.is_some_and(|since| time < since)
    }
}

/// A point in time from a flag: RFC 3339, or a date meaning its midnight UTC.
fn parse_instant(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    text.parse::<chrono::NaiveDate>()
        .map(|date| date.and_time(chrono::NaiveTime::MIN).and_utc())
        .map_err(|_| {
            format!("{text:?} is neither RFC 3339 (2026-11-09T00:00:00Z) nor a date (2026-11-09)")
        })
}

/// Flags of `cyberlm bench-model`.
#[derive(Debug, Args)]
pub struct BenchModelArgs {
    /// Logs to build batches from (JSONL or Parquet files or folders).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Model size.
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Timed training (and scoring) steps.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 8)]
    pub generate: usize,
    /// Bytes decoded per sequence.
    #[arg(long, default_value_t = 200)]
    pub generate_bytes: usize,
    /// Write the batches (int64 inputs and targets per window) for the PyTorch reference.
    #[arg(long)]
    pub export_windows: Option<PathBuf>,
    /// Write the freshly initialised weights (safetensors, before the first step), so the
    /// PyTorch reference can start from the same ones (`gpt_reference.py --init`).
    #[arg(long)]
    pub export_init: Option<PathBuf>,
    /// Dropout probability instead of the preset's; 0 for a step-by-step loss comparison
    /// with the reference (the two sides draw different masks).
    #[arg(long)]
    pub dropout: Option<f64>,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The float type of every tensor: `f32`, `bf16` (weights and optimizer state too), or
    /// `mixed` (f32 tensors, the linear layers and attention computed in bf16).
    #[arg(long, value_enum, default_value_t = FloatArg::F32)]
    pub float: FloatArg,
}

/// `--float`: see [`model::device::Float`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FloatArg {
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
    /// f32 tensors, the linear layers and attention in bfloat16.
    Mixed,
}

impl From<FloatArg> for model::device::Float {
    fn from(float: FloatArg) -> Self {
        match float {
            FloatArg::F32 => model::device::Float::F32,
            FloatArg::Bf16 => model::device::Float::Bf16,
            FloatArg::Mixed => model::device::Float::Mixed,
        }
    }
}

/// Flags of `cyberlm train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// JSONL or Parquet log files, or folders of them (as `detect` reads them).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Checkpoint folder; a run already there is resumed.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Config file (TOML); its `[pii]` section pseudonymises the logs as detection will (the model records which key).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Model size: tiny, small, seed-85m, seed-120m.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Override the preset's context (tokens).
    #[arg(long)]
    pub context: Option<usize>,
    /// The simulator's labels.jsonl: attack logs get their MITRE technique in the header.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Recorded attacks to train on as well, each line `{"event": LOG, "techniques":
    /// [ids], "stratus_id": name}` (Stratus Red Team's detonation logs): the header
    /// carries the technique, or the recording's name where it maps none.
    #[arg(long)]
    pub tagged: Vec<PathBuf>,
    /// Optimizer steps.
    #[arg(long, default_value_t = 2000)]
    pub steps: usize,
    /// Windows per micro-batch.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accumulation: usize,
    /// Peak learning rate (decays to a tenth by the last step).
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f64,
    /// Warm-up steps (at most a fifth of the run).
    #[arg(long, default_value_t = 100)]
    pub warmup_steps: usize,
    /// Validate and checkpoint every this many steps.
    #[arg(long, default_value_t = 100)]
    pub eval_every: usize,
    /// Share of the untagged logs, the latest by event time, held out for validation.
    /// Technique-tagged logs (`--labels`, `--tagged`) are all trained on.
    #[arg(long, default_value_t = 0.1)]
    pub validation: f64,
    /// Stop and checkpoint after this many seconds (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub time_budget_s: u64,
    /// Which logs to train on.
    #[command(flatten)]
    pub range: TimeRange,
    /// Train a group model: only this field group's fields of each log (logs without
    /// any are left out), conditioned only on its header fields; the Dual-GPT's
    /// `location` is built in, others come from `[field_groups.NAME]` in the config.
    #[arg(long)]
    pub field_group: Option<String>,
    /// Share of training windows that start at a technique-tagged attack log (`--labels`,
    /// `--tagged`), for a red-team model; 0 (the default, right for detection) samples
    /// every log alike.
    #[arg(long, default_value_t = 0.0)]
    pub attack_share: f64,
    /// Share of the windows into a log longer than the context that enter it at its
    /// start, where its header and first choices are (0: every entry alike)
    #[arg(long, default_value_t = 0.0)]
    pub start_share: f64,
    /// The step from which `--start-share` applies (0: from the first): a start-heavy
    /// tail, once the learning rate has decayed, in one run instead of a fine-tune
    #[arg(long, default_value_t = 0, requires = "start_share")]
    pub start_share_from: usize,
    /// Start from this model's weights instead of a random initialisation (a fine-tune:
    /// same preset and context; the optimizer and the schedule start afresh)
    #[arg(long)]
    pub fine_tune_from: Option<PathBuf>,
    /// Seed for initialisation, batches and dropout.
    #[arg(long, default_value_t = 1337)]
    pub seed: u64,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Which preceding logs a scored log is given as context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScoreContext {
    /// The same user's preceding logs from every source, in event-time order.
    User,
    /// The same user's preceding logs from the log's own source only.
    UserSource,
    /// None: each log alone.
    None,
}

impl From<ScoreContext> for model::deviation::ContextMode {
    fn from(context: ScoreContext) -> Self {
        match context {
            ScoreContext::User => model::deviation::ContextMode::User,
            ScoreContext::UserSource => model::deviation::ContextMode::UserSource,
            ScoreContext::None => model::deviation::ContextMode::None,
        }
    }
}

/// What `cyberlm eval` measures.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// The GPT detector, the Sigma rules, both, and a per-user novelty baseline against
    /// labelled attacks: precision, recall, F1, PR-AUC, ROC-AUC, false alerts per 10,000
    /// benign logs, per technique; JSON, PNG charts and an HTML page.
    Detection(EvalDetectionArgs),
    /// Generated logs against the real ones, per source: JSON and schema validity,
    /// categorical distributions (total variation distance, missing values), conditioning
    /// accuracy and memorisation; JSON, PNG charts and an HTML page.
    Generation(EvalGenerationArgs),
}

/// The scenarios `cyberlm scenario` generates.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// A user working from another country for a few days: their usual logs (the main
    /// model), with locations in that country (the group models, the Dual-GPT).
    Travel(TravelArgs),
}

/// Flags of `cyberlm scenario travel`.
#[derive(Debug, Args)]
pub struct TravelArgs {
    /// The main model (`cyberlm train`): the user's behaviour.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Group models (`cyberlm train --field-group location`): each writes its fields of
    /// every log, given the country. Without one, the main model writes the locations too
    /// (the single-GPT baseline).
    #[arg(long)]
    pub group_model: Vec<PathBuf>,
    /// The user who travels.
    #[arg(long)]
    pub user: String,
    /// Where they go (ISO 3166 alpha-2).
    #[arg(long)]
    pub country: String,
    /// First day abroad, YYYY-MM-DD (UTC).
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// Days abroad.
    #[arg(long, default_value_t = 5)]
    pub days: u32,
    /// Who writes what the traveller does: the main model (`generated`, the Dual-GPT) or
    /// the user's own logs of the same weekdays (`recorded`); the group models write the
    /// locations either way.
    #[arg(long, value_enum, default_value_t = Behaviour::Generated)]
    pub behaviour: Behaviour,
    /// The user's real logs (JSONL or Parquet files or folders, e.g. the training logs):
    /// each day abroad repeats the sources and times of a real day of theirs on the same
    /// weekday.
    #[arg(long, num_args = 1.., required = true)]
    pub history: Vec<PathBuf>,
    /// Config file (TOML); its `[pii]` section pseudonymises the history as the model's
    /// training logs were, and `--user` is given in the clear.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// How to sample.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Where the logs go (JSONL, in event-time order).
    #[arg(long, short, default_value = "out/travel.jsonl")]
    pub out: PathBuf,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Flags of `cyberlm eval generation`.
#[derive(Debug, Args)]
pub struct EvalGenerationArgs {
    /// Generated logs (`cyberlm generate`'s JSONL files).
    #[arg(required = true)]
    pub generated: Vec<PathBuf>,
    /// The real logs the model trained on (JSONL or Parquet files or folders). Takes
    /// every path that follows it, so give the generated files first.
    #[arg(long, num_args = 1.., required = true)]
    pub real: Vec<PathBuf>,
    /// Real logs the model never saw (e.g. a later simulation): the sampling-noise floor
    /// of each distance and how close an unseen real log comes to the training logs.
    /// Without them, a sample of the real logs stands in for the noise floor.
    #[arg(long, num_args = 1..)]
    pub holdout: Vec<PathBuf>,
    /// The simulator's labels.jsonl for the held-out logs, as `--labels` is for the real
    /// ones.
    #[arg(long)]
    pub holdout_labels: Option<PathBuf>,
    /// The source the logs were generated for (default: from each file's name, else from
    /// each log's shape).
    #[arg(long)]
    pub source: Option<String>,
    /// The user they were generated for: conditioning accuracy, and the real (and
    /// held-out) distributions are that user's.
    #[arg(long)]
    pub user: Option<String>,
    /// The country they were generated for: conditioning accuracy.
    #[arg(long)]
    pub country: Option<String>,
    /// The MITRE ATT&CK technique they were generated for: the share that fires a Sigma
    /// rule tagged with it, against the real logs of that technique (from `--labels` and
    /// `--tagged`).
    #[arg(long)]
    pub technique: Option<String>,
    /// The simulator's labels.jsonl for the real logs: their attack logs are the
    /// technique's real reference; benign generations (no `--technique`) are compared
    /// with the logs of no technique, and the benign firing rate is theirs.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Recorded attacks the model trained on (`train --tagged`), as real logs of their
    /// technique.
    #[arg(long, num_args = 1..)]
    pub tagged: Vec<PathBuf>,
    /// A field with more distinct real values than this is an identifier, not a category.
    #[arg(long, default_value_t = 50)]
    pub max_categories: usize,
    /// Config file (TOML); its `[pii]` section pseudonymises the logs as the model's training logs were, and `--user` is given in the clear.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Where the figures, charts and page go.
    #[arg(long, short, default_value = "out/eval-generation")]
    pub out: PathBuf,
}

/// Flags of `cyberlm eval detection`.
#[derive(Debug, Args)]
pub struct EvalDetectionArgs {
    /// Logs to judge (JSONL or Parquet files or folders, e.g. a simulation's folder).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Labels (default: labels.jsonl beside the inputs).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A model `cyberlm calibrate` calibrated; without one, only Sigma and the baseline.
    #[arg(long, short)]
    pub model: Option<PathBuf>,
    /// Logs from before (e.g. the training logs): the baseline's habits and the GPT's
    /// context start from them; they are not judged. Takes every folder or file that
    /// follows it (`--history train calib`), so give the inputs first.
    #[arg(long, num_args = 1..)]
    pub history: Vec<PathBuf>,
    /// Sigma rules and `gpt.alerts_per_10k`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which logs to judge; inputs before `--since` join the history.
    #[command(flatten)]
    pub range: TimeRange,
    /// Where the figures, charts and page go.
    #[arg(long, short, default_value = "out/eval-detection")]
    pub out: PathBuf,
    /// Windows per model call.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Flags of `cyberlm calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Benign JSONL or Parquet logs, or folders of them (a simulation's folder: its
    /// labelled attack logs are left out of the distributions but still give context).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The model folder `cyberlm train` wrote; the calibration is stored in it.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Labels whose malicious events are left out (default: labels.jsonl beside the
    /// inputs, when there is one).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Which logs to calibrate on.
    #[command(flatten)]
    pub range: TimeRange,
    /// Context each log is scored in (the detector then scores with the same);
    /// `user-source` also sums each user's evidence per source.
    #[arg(long, value_enum, default_value_t = ScoreContext::User)]
    pub context: ScoreContext,
    /// At most this many context tokens (default: the model's context).
    #[arg(long)]
    pub context_tokens: Option<usize>,
    /// Benign logs of a kind a user needs for a baseline of their own.
    #[arg(long, default_value_t = 200)]
    pub min_user_logs: usize,
    /// Seconds of event time over which a user's, or an address's, unusual logs add up
    /// to one piece of evidence (alerts are then set on it); 0 judges each log alone.
    #[arg(long, default_value_t = 600)]
    pub evidence_window_s: u64,
    /// Config file (TOML); its `[pii]` section pseudonymises the logs as the model's training logs were.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Windows per model call.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Flags of `cyberlm score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// JSONL or Parquet log files, or folders of them.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The model folder `cyberlm train` wrote.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Where scores go: JSONL, or Parquet when it ends in `.parquet`.
    #[arg(long, short, default_value = "out/scores.jsonl")]
    pub out: PathBuf,
    /// Context each log is scored in.
    #[arg(long, value_enum, default_value_t = ScoreContext::User)]
    pub context: ScoreContext,
    /// Config file (TOML); its `[pii]` section pseudonymises the logs as the model's training logs were.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Windows per model call.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Flags of `cyberlm generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The model folder `cyberlm train` wrote.
    #[arg(long, short)]
    pub model: PathBuf,
    /// Source of the logs: azure, confluence or cloudtrail.
    #[arg(long)]
    pub source: String,
    /// Hold the user fixed.
    #[arg(long)]
    pub user: Option<String>,
    /// Let the model pick each log's user (without `--user`) and time. By default each
    /// benign log is generated for a user drawn from the source's training logs, as often
    /// as each user had one there, at an hour of the week drawn from that user's own
    /// training logs: a small model's own pick leans to the users heaviest across all
    /// sources and to the wrong hours (README, sampling defaults).
    #[arg(long, alias = "model-picks-user")]
    pub model_picks_header: bool,
    /// Hold the country fixed (ISO 3166 alpha-2).
    #[arg(long)]
    pub country: Option<String>,
    /// Hold the MITRE ATT&CK technique fixed (e.g. T1530).
    #[arg(long)]
    pub technique: Option<String>,
    /// Start of the JSON for the model to continue.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Hold generated logs to valid JSON only, not to the shape of the source's training
    /// logs (known keys, required keys, value kinds): to see what the model writes alone.
    #[arg(long)]
    pub no_shape: bool,
    /// Pick each listed value (event name, result code, city) from its whole list, not
    /// only from those that came with the values already written in training logs of
    /// the same technique: to see how the model pairs values alone.
    #[arg(long)]
    pub independent_values: bool,
    /// Benign logs: the model may not write a technique into the header. Without it (and
    /// without `--technique`) a red-team model picks one as often as it saw one in
    /// training.
    #[arg(long, conflicts_with = "technique")]
    pub benign: bool,
    /// Keep only logs that fire a Sigma rule tagged with `--technique` (the config's
    /// `sigma.rules`), generating until `--count` do or `--count` times
    /// `--must-fire-attempts` were tried: red-team logs that exercise the detections.
    /// How many fired of those tried is printed: the model's own rate.
    #[arg(long, requires = "technique")]
    pub must_fire: bool,
    /// Logs of the steps of `--technique` that a Sigma rule tagged with it fires on (the
    /// header's `f=y`): the model's own pick, no logs thrown away. For models trained
    /// with technique-tagged logs and Sigma rules since 2026-12-07. Without it or
    /// `--undetected`, the model writes the steps in the mix it learned.
    #[arg(long, requires = "technique", conflicts_with = "undetected")]
    pub detected: bool,
    /// Logs of the steps of `--technique` that no rule tagged with it fires on (`f=n`):
    /// what the rules miss, for testing the GPT detector.
    #[arg(long, requires = "technique")]
    pub undetected: bool,
    /// Logs that fire a Sigma rule tagged with `--technique` by construction: each
    /// log is held to what one of the technique's rules for the source asks (the
    /// fields its selection names, at values the model knows where they fit, and not
    /// what its filters exclude), the rules in turn, and the model writes the rest.
    /// For a technique whose recorded logs never fire its rules. How many logs fire is
    /// printed; rules no pinned field can express (regular expressions, keyword
    /// searches, fields the source's logs lack) are named and skipped.
    #[arg(long, requires = "technique", conflicts_with = "undetected")]
    pub rule_guided: bool,
    /// With `--must-fire`: logs tried per log asked for before giving up.
    #[arg(long, default_value_t = 20, requires = "must_fire")]
    pub must_fire_attempts: usize,
    /// Config file (TOML); its `[pii]` section pseudonymises the logs as the model's training logs were, and `--user` is given in the clear.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Logs to generate.
    #[arg(long, default_value_t = 10)]
    pub count: usize,
    /// How to sample.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Where the logs go (JSONL).
    #[arg(long, short, default_value = "out/generated.jsonl")]
    pub out: PathBuf,
    /// `cpu`, or `cuda[:N]` in a CUDA build.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Sampling flags of the commands that generate logs.
#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    /// Keep the k most likely bytes (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Nucleus sampling threshold (1: off). Left out: 1.0 for `generate`
    /// ([`GENERATE_TOP_P`]), 0.9 for `scenario` and `retrain` ([`SCENARIO_TOP_P`]).
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Bytes after which a log is closed by its shortest completion.
    #[arg(long, default_value_t = 8192)]
    pub max_bytes: usize,
    /// Rows decoded at once.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `generate`'s top-p: plain sampling. On the `small` model (2026-12-06, session 32,
/// README: sampling defaults) it left no real value of ≥ 1% ungenerated in any source,
/// where 0.9 left out 12 on Entra ID, 11 on CloudTrail and 8 on Confluence (truncating
/// each byte's tail drops the rare values), at an equal or lower worst field TVD.
pub const GENERATE_TOP_P: f32 = 1.0;

/// The top-p of the logs of anticipated events (`scenario`, `retrain`): the retrain
/// bench's synthetic trip at 0.9 trained away 24 of the 26 false positives of its
/// recorded trip (README, retrain), measured before `generate` went to 1.0.
pub const SCENARIO_TOP_P: f32 = 0.9;

impl SamplingArgs {
    /// The sampling settings, with the seed moved on by `offset` (one stream per chunk)
    /// and `top_p` where no `--top-p` is given.
    pub fn config(&self, offset: u64, top_p: f32) -> model::generate::SamplingConfig {
        model::generate::SamplingConfig {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p.unwrap_or(top_p),
            max_bytes: self.max_bytes,
            seed: self.seed.wrapping_add(offset),
        }
    }
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
    /// Seed of the day-to-day activity, the trip and the attacks; `--seed` then fixes only
    /// the organisation (people, habits). Another activity seed is the same enterprise
    /// living other days: train on one, evaluate on another.
    #[arg(long)]
    pub activity_seed: Option<u64>,
    /// First day, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-11-02")]
    pub start: chrono::NaiveDate,
    /// Leave out the labelled attack scenarios.
    #[arg(long)]
    pub no_attacks: bool,
    /// Leave out the anticipated benign trip.
    #[arg(long)]
    pub no_travel: bool,
    /// Colleagues' earlier benign trips abroad (labelled `past_trip`), before the
    /// anticipated one, the first to its city: the history then knows the place, only
    /// not the traveller there.
    #[arg(long, default_value_t = 0)]
    pub past_trips: u32,
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
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Days of the held-out stretch with the attacks (they fall in its second half).
    #[arg(long, default_value_t = 4)]
    pub days: u32,
    /// The organisation's seed (people, habits).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// First day of the training stretch, YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-11-02")]
    pub start: chrono::NaiveDate,
    /// Training steps (of 8 windows of 1,024 bytes).
    #[arg(long, default_value_t = 1500)]
    pub steps: usize,
    /// Training stops after this many seconds, whatever the steps.
    #[arg(long, default_value_t = 360)]
    pub train_budget_s: u64,
    /// Config file (TOML), passed to every step.
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

impl Command {
    /// Whether it trains or runs a GPT (allocation-heavy, large tensors).
    pub fn runs_a_model(&self) -> bool {
        matches!(
            self,
            Command::Train(_)
                | Command::Demo(_)
                | Command::Score(_)
                | Command::Calibrate(_)
                | Command::Eval(_)
                | Command::Generate(_)
                | Command::Scenario(_)
                | Command::Retrain(_)
                | Command::BenchModel(_)
        )
    }
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
        Command::Train(args) => commands::train::run(&args),
        Command::Score(args) => commands::score::run(&args),
        Command::Calibrate(args) => commands::calibrate::run(&args),
        Command::Eval(EvalCommand::Detection(args)) => commands::eval::detection::run(&args),
        Command::Eval(EvalCommand::Generation(args)) => commands::eval::generation::run(&args),
        Command::Generate(args) => commands::generate::run(&args),
        Command::Scenario(ScenarioCommand::Travel(args)) => commands::scenario::travel::run(&args),
        Command::Retrain(args) => commands::retrain::run(&args),
        Command::Publish(args) => commands::publish::run(&args),
        Command::BenchModel(args) => commands::bench_model::run(&args),
    }
}
