//! Recorded logs in Parquet (the Arrow schema in `schemas::recorded`): written by
//! `cyberlm record`, read wherever JSONL is read (through [`super::LogReader`]).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::RecordBatch;
use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use schemas::Source;
use schemas::recorded::recorded_logs_schema;

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
        let file = crate::files::LogFile {
            path: path.clone(),
            source: None,
        };
        let mut reader = crate::files::LogReader::open(&file).unwrap();
        let mut rows = Vec::new();
        while let Some(raw) = reader.next_log().unwrap() {
            rows.push((
                raw.number,
                raw.source,
                String::from_utf8(raw.bytes.to_vec()).unwrap(),
            ));
        }
        assert_eq!(
            rows,
            vec![
                (1, Some(Source::CloudTrail), good.to_string()),
                (2, Some(Source::Azure), "not json".to_string())
            ]
        );
    }
}
