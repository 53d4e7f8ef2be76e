//! A JSONL file sink.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

/// Appends one JSON document a line to a file, creating its folder.
pub struct JsonlSink {
    path: PathBuf,
    writer: BufWriter<File>,
    written: u64,
}

impl JsonlSink {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        let file =
            File::create(path).with_context(|| format!("failed to create {}", path.display()))?;
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

    /// Flushes to disk.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.writer
            .flush()
            .with_context(|| format!("failed to flush {}", self.path.display()))?;
        Ok(self.written)
    }
}
