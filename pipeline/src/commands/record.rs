//! `cyberlm record`: recorded logs (JSONL) into one Parquet file with the recorded-logs
//! schema, keeping every log, decodable or not, as received.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::RecordArgs;
use crate::files::{ParquetLogWriter, expand_inputs, read_raw_logs};

/// `cyberlm record`.
pub fn run(args: &RecordArgs) -> anyhow::Result<ExitCode> {
    let mut writer = ParquetLogWriter::create(&args.out)?;
    let (mut undecodable, mut unknown) = (0u64, 0u64);
    let mut failure = None;
    for file in expand_inputs(&args.inputs)? {
        read_raw_logs(&file, |position, source, bytes| {
            let decoded = schemas::decode_from(source, bytes);
            let text = String::from_utf8_lossy(bytes);
            let result = match (&decoded, source) {
                (Ok(envelope), _) => writer.push(envelope.source, &text, Some(envelope)),
                (Err(_), Some(source)) => {
                    undecodable += 1;
                    writer.push(source, &text, None)
                }
                (Err(error), None) => {
                    tracing::warn!(message = "Skipped a log of unknown source.", file = %file.path.display(), position, %error);
                    unknown += 1;
                    Ok(())
                }
            };
            if let Err(error) = result {
                failure.get_or_insert(error);
            }
        })?;
    }
    if let Some(error) = failure {
        return Err(error);
    }
    let rows = writer
        .finish()
        .with_context(|| format!("failed to write {}", args.out.display()))?;
    println!(
        "recorded {rows} logs into {} ({undecodable} kept raw as they do not decode, {unknown} of unknown source skipped)",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
