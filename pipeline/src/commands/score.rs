//! `cyberlm score`: how surprising each log is to a trained model, per log and per JSON
//! field, given the user's preceding logs from every source.

use std::fs::File;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{
    Float64Builder, StringBuilder, TimestampMillisecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use model::deviation::{Deviation, DeviationConfig, DeviationScorer};
use parquet::arrow::ArrowWriter;
use schemas::Envelope;
use serde_json::{Value, json};

use crate::cli::ScoreArgs;
use crate::config::Config;
use crate::files::{JsonlSink, read_envelopes};
use crate::progress;

/// Logs scored per model call.
const CHUNK: usize = 64;

/// `cyberlm score`.
pub fn run(args: &ScoreArgs) -> anyhow::Result<ExitCode> {
    let device = model::device::parse(&args.device)?;
    let model_dir = model::registry::resolve(&args.model)?;
    let loaded = model::checkpoint::load(&model_dir, &device)?;
    let dead_letter_path = args.out.with_extension("dead-letter.jsonl");
    let pii = Config::load(args.config.as_deref())?
        .pii
        .hasher_for_model(&model_dir, &loaded.manifest)?;
    let (mut logs, rejected) = read_envelopes(&args.inputs, pii.as_ref(), &dead_letter_path)?;
    logs.sort_by_key(Envelope::event_time_ms);
    let mut scorer = DeviationScorer::new(
        loaded.model,
        loaded.manifest.text_format,
        device,
        DeviationConfig {
            context: args.context.into(),
            batch_windows: args.batch_size,
            ..DeviationConfig::default()
        },
    );
    let mut sink = ScoreSink::create(&args.out)?;
    score_in_order(&mut scorer, &logs, "scoring", |envelope, deviation| {
        sink.write(envelope, deviation)
    })?;
    let written = sink.finish()?;
    println!(
        "{written} logs scored, {rejected} dead letters ({})",
        dead_letter_path.display()
    );
    println!("scores: {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Scores `logs` (in event-time order, as the stream would) and hands each deviation to
/// `each`, with a progress bar.
pub fn score_in_order(
    scorer: &mut DeviationScorer,
    logs: &[Envelope],
    label: &'static str,
    mut each: impl FnMut(&Envelope, &Deviation) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let bar = progress::bar(logs.len() as u64, label);
    for chunk in logs.chunks(CHUNK) {
        let refs: Vec<&Envelope> = chunk.iter().collect();
        for (envelope, deviation) in chunk.iter().zip(scorer.score(&refs)) {
            each(envelope, &deviation)?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(())
}

/// The per-log record: totals in nats, the deviation the GPT detector calibrates (header
/// and non-volatile fields), and every JSON field's surprisal, most surprising first.
fn record(envelope: &Envelope, deviation: &Deviation) -> Value {
    let scored = &deviation.log;
    let mut fields = scored.fields.clone();
    fields.sort_by(|a, b| b.surprisal.total_cmp(&a.surprisal));
    json!({
        "event_id": envelope.event_id,
        "source": envelope.source.name(),
        "user": envelope.user,
        "event_time": envelope.event_time.to_rfc3339(),
        "surprisal": scored.surprisal(),
        "json_surprisal": scored.json_surprisal(),
        "deviation": deviation.score,
        "event_type": deviation.kind,
        "bytes": scored.log_probs.len(),
        "fields": fields.iter().map(|f| json!({"path": f.path, "surprisal": f.surprisal, "bytes": f.bytes})).collect::<Vec<_>>(),
    })
}

/// JSONL, or Parquet when the output ends in `.parquet` (the fields as a JSON column).
enum ScoreSink {
    Jsonl(JsonlSink),
    Parquet(Box<ParquetScores>),
}

impl ScoreSink {
    fn create(path: &Path) -> anyhow::Result<Self> {
        if path.extension().is_some_and(|e| e == "parquet") {
            Ok(ScoreSink::Parquet(Box::new(ParquetScores::create(path)?)))
        } else {
            Ok(ScoreSink::Jsonl(JsonlSink::create(path)?))
        }
    }

    fn write(&mut self, envelope: &Envelope, deviation: &Deviation) -> anyhow::Result<()> {
        let record = record(envelope, deviation);
        match self {
            ScoreSink::Jsonl(sink) => sink.write(&record),
            ScoreSink::Parquet(sink) => sink.push(envelope, deviation, &record["fields"]),
        }
    }

    fn finish(self) -> anyhow::Result<u64> {
        match self {
            ScoreSink::Jsonl(sink) => sink.finish(),
            ScoreSink::Parquet(sink) => sink.finish(),
        }
    }
}

struct ParquetScores {
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
    event_id: StringBuilder,
    source: StringBuilder,
    user: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    surprisal: Float64Builder,
    json_surprisal: Float64Builder,
    deviation: Float64Builder,
    event_type: StringBuilder,
    bytes: UInt64Builder,
    fields: StringBuilder,
    rows: u64,
}

impl ParquetScores {
    fn create(path: &Path) -> anyhow::Result<Self> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("source", DataType::Utf8, false),
            Field::new("user", DataType::Utf8, true),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("surprisal", DataType::Float64, false),
            Field::new("json_surprisal", DataType::Float64, false),
            Field::new("deviation", DataType::Float64, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("bytes", DataType::UInt64, false),
            Field::new("fields", DataType::Utf8, false),
        ]));
        let file =
            File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
        let writer = ArrowWriter::try_new(file, schema.clone(), None)
            .with_context(|| format!("failed to start a Parquet file at {}", path.display()))?;
        Ok(ParquetScores {
            writer,
            schema,
            event_id: StringBuilder::new(),
            source: StringBuilder::new(),
            user: StringBuilder::new(),
            event_time: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            surprisal: Float64Builder::new(),
            json_surprisal: Float64Builder::new(),
            deviation: Float64Builder::new(),
            event_type: StringBuilder::new(),
            bytes: UInt64Builder::new(),
            fields: StringBuilder::new(),
            rows: 0,
        })
    }

    fn push(
        &mut self,
        envelope: &Envelope,
        deviation: &Deviation,
        fields: &Value,
    ) -> anyhow::Result<()> {
        let scored = &deviation.log;
        self.event_id.append_value(&envelope.event_id);
        self.source.append_value(envelope.source.name());
        self.user.append_option(envelope.user.as_deref());
        self.event_time.append_value(envelope.event_time_ms());
        self.surprisal.append_value(f64::from(scored.surprisal()));
        self.json_surprisal
            .append_value(f64::from(scored.json_surprisal()));
        self.deviation.append_value(f64::from(deviation.score));
        self.event_type.append_value(&deviation.kind);
        self.bytes.append_value(scored.log_probs.len() as u64);
        self.fields.append_value(fields.to_string());
        self.rows += 1;
        if self.rows.is_multiple_of(8192) {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.user.finish()),
            Arc::new(self.event_time.finish()),
            Arc::new(self.surprisal.finish()),
            Arc::new(self.json_surprisal.finish()),
            Arc::new(self.deviation.finish()),
            Arc::new(self.event_type.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.fields.finish()),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .context("failed to build a score batch")?;
        self.writer
            .write(&batch)
            .context("failed to write scores to Parquet")
    }

    fn finish(mut self) -> anyhow::Result<u64> {
        self.flush()?;
        self.writer
            .close()
            .context("failed to finish the Parquet scores")?;
        Ok(self.rows)
    }
}
