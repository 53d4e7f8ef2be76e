//! Recorded logs in Parquet (the Arrow schema in `schemas::recorded`): written by
//! `cyberlm record`, read wherever JSONL is read.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use schemas::Source;
use schemas::recorded::{columns, recorded_logs_schema};

/// Rows per record batch and row group.
const BATCH_ROWS: usize = 8192;

/// Writes recorded logs to a Parquet file, batch by batch.
pub struct ParquetLogWriter {
    writer: ArrowWriter<File>,
    source: StringBuilder,
    event_time: TimestampMillisecondBuilder,
    user: StringBuilder,
    event_id: StringBuilder,
    log: StringBuilder,
    rows: usize,
    written: u64,
}

impl ParquetLogWriter {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let writer = ArrowWriter::try_new(file, Arc::new(recorded_logs_schema()), Some(properties))
            .with_context(|| format!("failed to start a Parquet file at {}", path.display()))?;
        Ok(ParquetLogWriter {
            writer,
            source: StringBuilder::new(),
            event_time: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            user: StringBuilder::new(),
            event_id: StringBuilder::new(),
            log: StringBuilder::new(),
            rows: 0,
            written: 0,
        })
    }

    /// Adds one log. `decoded` is `None` for a log that did not decode: it is kept, raw.
    pub fn push(
        &mut self,
        source: Source,
        raw: &str,
        decoded: Option<&schemas::Envelope>,
    ) -> anyhow::Result<()> {
        self.source.append_value(source.name());
        self.event_time
            .append_option(decoded.map(|e| e.event_time_ms()));
        self.user
            .append_option(decoded.and_then(|e| e.user.as_deref()));
        self.event_id
            .append_option(decoded.map(|e| e.event_id.as_str()));
        self.log.append_value(raw);
        self.rows += 1;
        if self.rows == BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> anyhow::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let batch = RecordBatch::try_new(
            Arc::new(recorded_logs_schema()),
            vec![
                Arc::new(self.source.finish()),
                Arc::new(self.event_time.finish()),
                Arc::new(self.user.finish()),
                Arc::new(self.event_id.finish()),
                Arc::new(self.log.finish()),
            ],
        )
        .context("recorded-log columns do not match their schema")?;
        self.writer
            .write(&batch)
            .context("failed to write a Parquet batch")?;
        self.written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }

    /// Writes what is buffered and the footer; returns the rows written.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.flush_batch()?;
        self.writer
            .close()
            .context("failed to finish the Parquet file")?;
        Ok(self.written)
    }
}

/// Calls `on_row(row number, source, raw log)` for every row of a recorded-logs file.
/// A row whose source name is unknown is passed with `None`, to be recognised by shape.
pub fn read_parquet_logs(
    path: &Path,
    mut on_row: impl FnMut(u64, Option<Source>, &[u8]),
) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not a Parquet file", path.display()))?
        .with_batch_size(BATCH_ROWS)
        .build()
        .with_context(|| format!("failed to read {}", path.display()))?;
    let mut row = 0u64;
    for batch in reader {
        let batch =
            batch.with_context(|| format!("failed to read a batch of {}", path.display()))?;
        let column = |name: &str| -> anyhow::Result<&StringArray> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .with_context(|| {
                    format!(
                        "{} has no text column {name:?}; expected cyberlm's recorded-logs schema",
                        path.display()
                    )
                })
        };
        let (sources, logs) = (column(columns::SOURCE)?, column(columns::LOG)?);
        for index in 0..batch.num_rows() {
            row += 1;
            let source = sources
                .is_valid(index)
                .then(|| sources.value(index).parse().ok())
                .flatten();
            on_row(row, source, logs.value(index).as_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_logs_round_trip_including_undecodable_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recorded.parquet");
        let good = r#"{"eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","userIdentity":{"userName":"a"}}"#;
        let envelope = schemas::decode(Source::CloudTrail, good.as_bytes()).unwrap();
        let mut writer = ParquetLogWriter::create(&path).unwrap();
        writer
            .push(Source::CloudTrail, good, Some(&envelope))
            .unwrap();
        writer.push(Source::Azure, "not json", None).unwrap();
        assert_eq!(writer.finish().unwrap(), 2);
        let mut rows = Vec::new();
        read_parquet_logs(&path, |row, source, raw| {
            rows.push((row, source, String::from_utf8(raw.to_vec()).unwrap()))
        })
        .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, Some(Source::CloudTrail), good.to_string()),
                (2, Some(Source::Azure), "not json".to_string())
            ]
        );
    }
}
