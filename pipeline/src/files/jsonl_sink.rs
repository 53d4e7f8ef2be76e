//! A JSONL file sink, and the same as a record sink for detect.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context;
use serde_json::Value;

use crate::stream::{Delivery, RecordSink};

/// Appends one JSON document a line to a file, creating its folder.
pub struct JsonlSink {
    path: PathBuf,
    writer: BufWriter<File>,
    written: u64,
}

impl JsonlSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Self::open(path, false)
    }

    /// Opens `path` to write after what it holds, creating it if need be.
    pub fn append(path: &Path) -> anyhow::Result<Self> {
        Self::open(path, true)
    }

    fn open(path: &Path, append: bool) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        let file = File::options()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .with_context(|| format!("failed to create {}", path.display()))?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
            written: 0,
        })
    }

    /// Writes one document.
    pub fn write(&mut self, document: &Value) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.writer, document)
            .and_then(|()| self.writer.write_all(b"\n").map_err(serde_json::Error::io))
            .with_context(|| format!("failed to write to {}", self.path.display()))?;
        self.written += 1;
        Ok(())
    }

    /// Writes one line of JSON text as it is.
    pub fn write_line(&mut self, line: &str) -> anyhow::Result<()> {
        self.writer
            .write_all(line.as_bytes())
            .and_then(|()| self.writer.write_all(b"\n"))
            .with_context(|| format!("failed to write to {}", self.path.display()))?;
        self.written += 1;
        Ok(())
    }

    /// Flushes to disk.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        self.writer
            .flush()
            .with_context(|| format!("failed to flush {}", self.path.display()))
    }

    /// Flushes to disk; returns the documents written.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.flush()?;
        Ok(self.written)
    }
}

/// A JSONL file as the record sink of detect (alerts, dead letters): a record is
/// delivered once written to the file's buffer; [`RecordSink::flush`] makes it durable.
pub struct JsonlRecordSink {
    sink: Mutex<JsonlSink>,
}

impl JsonlRecordSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        Ok(JsonlRecordSink {
            sink: Mutex::new(JsonlSink::create(path)?),
        })
    }

    fn locked(&self) -> anyhow::Result<std::sync::MutexGuard<'_, JsonlSink>> {
        self.sink
            .lock()
            .map_err(|_| anyhow::anyhow!("a thread writing a JSONL sink panicked"))
    }
}

impl RecordSink for JsonlRecordSink {
    fn send(&self, _key: &str, payload: &str, _replayed_at_ms: Option<i64>) -> Delivery {
        let written = self.locked().and_then(|mut sink| sink.write_line(payload));
        Box::pin(std::future::ready(written))
    }

    fn flush(&self) -> anyhow::Result<()> {
        self.locked()?.flush()
    }
}
