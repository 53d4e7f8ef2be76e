//! Pulling raw logs out of one file, one at a time: each non-blank line of a JSONL file,
//! each row of a recorded-logs Parquet file. Every file reader in cyberlm goes through
//! this, so JSONL and Parquet are read the same way everywhere.

use std::fs::File;
use std::io::{BufRead, BufReader};

use anyhow::Context;
use arrow_array::{Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use schemas::Source;
use schemas::recorded::columns;

use super::LogFile;

/// Rows per Parquet record batch read.
const BATCH_ROWS: usize = 8192;

/// One raw log, borrowed from the reader until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLog<'a> {
    /// Line (JSONL) or row (Parquet) number, from 1.
    pub number: u64,
    /// "line" or "row".
    pub unit: &'static str,
    /// The file's source (from its name) or, in Parquet, the row's; `None`: by shape.
    pub source: Option<Source>,
    /// The log's bytes.
    pub bytes: &'a [u8],
}

impl RawLog<'_> {
    /// Where it is in its file, e.g. "line 12".
    pub fn position(&self) -> String {
        format!("{} {}", self.unit, self.number)
    }
}

/// Reads the logs of one file in order.
pub struct LogReader {
    file: LogFile,
    format: Format,
}

enum Format {
    Jsonl {
        reader: BufReader<File>,
        line: Vec<u8>,
        number: u64,
    },
    Parquet {
        batches: ParquetRecordBatchReader,
        batch: Option<RecordBatch>,
        index: usize,
        row: u64,
    },
}

impl LogReader {
    /// Opens `file` (`*.parquet` as recorded logs, anything else as JSONL).
    pub fn open(file: &LogFile) -> anyhow::Result<Self> {
        let path = &file.path;
        let handle =
            File::open(path).with_context(|| format!("failed to open {}", path.display()))?;
        let format = if path.extension().is_some_and(|e| e == "parquet") {
            let batches = ParquetRecordBatchReaderBuilder::try_new(handle)
                .with_context(|| format!("{} is not a Parquet file", path.display()))?
                .with_batch_size(BATCH_ROWS)
                .build()
                .with_context(|| format!("failed to read {}", path.display()))?;
            Format::Parquet {
                batches,
                batch: None,
                index: 0,
                row: 0,
            }
        } else {
            Format::Jsonl {
                reader: BufReader::with_capacity(1 << 20, handle),
                line: Vec::with_capacity(8192),
                number: 0,
            }
        };
        Ok(LogReader {
            file: file.clone(),
            format,
        })
    }

    /// What a log's number counts in this file: "line" (JSONL) or "row" (Parquet).
    pub fn unit(&self) -> &'static str {
        match self.format {
            Format::Jsonl { .. } => "line",
            Format::Parquet { .. } => "row",
        }
    }

    /// The next log, or `None` at the end of the file. An error means the file itself
    /// cannot be read further (I/O, a Parquet file without cyberlm's columns); a log
    /// that does not decode is not an error here.
    pub fn next_log(&mut self) -> anyhow::Result<Option<RawLog<'_>>> {
        let path = &self.file.path;
        match &mut self.format {
            Format::Jsonl {
                reader,
                line,
                number,
            } => loop {
                line.clear();
                let read = reader.read_until(b'\n', line).with_context(|| {
                    format!("failed to read {} after line {number}", path.display())
                })?;
                if read == 0 {
                    return Ok(None);
                }
                *number += 1;
                // Re-borrowed below only when the line is not blank.
                if !trim(line).is_empty() {
                    break Ok(Some(RawLog {
                        number: *number,
                        unit: "line",
                        source: self.file.source,
                        bytes: trim(line),
                    }));
                }
            },
            Format::Parquet {
                batches,
                batch,
                index,
                row,
            } => {
                while batch.as_ref().is_none_or(|b| *index >= b.num_rows()) {
                    match batches.next() {
                        None => return Ok(None),
                        Some(next) => {
                            *batch = Some(next.with_context(|| {
                                format!("failed to read a batch of {}", path.display())
                            })?);
                            *index = 0;
                        }
                    }
                }
                let Some(current) = batch.as_ref() else {
                    return Ok(None);
                };
                let column = |name: &str| -> anyhow::Result<&StringArray> {
                    current
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
                let at = *index;
                *index += 1;
                *row += 1;
                let source = sources
                    .is_valid(at)
                    .then(|| sources.value(at).parse().ok())
                    .flatten()
                    .or(self.file.source);
                Ok(Some(RawLog {
                    number: *row,
                    unit: "row",
                    source,
                    bytes: logs.value(at).as_bytes(),
                }))
            }
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &line[..end]
}
