//! `cyberlm generate`: synthetic logs from a trained model, for a source and optionally a
//! user, country or MITRE technique; every line written parses as JSON.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use model::generate::{Prompt, generate};
use operators::text_format::Header;
use serde_json::Value;

use crate::cli::GenerateArgs;
use crate::config::Config;
use crate::files::JsonlSink;
use crate::progress;

/// Logs generated per call (and progress update).
const CHUNK: usize = 64;

/// `cyberlm generate`.
pub fn run(args: &GenerateArgs) -> anyhow::Result<ExitCode> {
    let device = model::device::parse(&args.device)?;
    let model_dir = model::registry::resolve(&args.model)?;
    let loaded = model::checkpoint::load(&model_dir, &device)?;
    let format = &loaded.manifest.text_format;
    let source = args.source.parse().map_err(anyhow::Error::from)?;
    let pii = Config::load(args.config.as_deref())?
        .pii
        .hasher_for_model(&model_dir, &loaded.manifest)?;
    let header = Header {
        source: Some(source),
        user: args
            .user
            .as_deref()
            .map(|user| prompt_user(user, pii.as_ref())),
        country: args.country.clone(),
        technique: args.technique.clone(),
        weekday: None,
        hour: None,
    };
    // A group model (`train --field-group`) reads only its header fields.
    let header = format.header(&header);
    let shape = format
        .shape(source)
        .filter(|_| !args.no_shape)
        .cloned()
        .map(|mut shape| {
            if args.independent_values {
                shape.combinations = None;
            }
            Arc::new(shape)
        });
    if shape.is_none() && !args.no_shape {
        tracing::warn!(
            message = "The model has no shape for this source (trained before shapes, or on too few of its logs): generated logs are held to valid JSON only.",
            source = source.name()
        );
    }
    let prompt = Prompt {
        source,
        header,
        json_prefix: args.prefix.clone().unwrap_or_default(),
        shape,
        benign: args.benign,
    };
    let mut sink = JsonlSink::create(&args.out)?;
    let bar = progress::bar(args.count as u64, "generating");
    let mut unparsed = 0u64;
    let mut forced = 0u64;
    let mut done = 0;
    while done < args.count {
        let count = CHUNK.min(args.count - done);
        let config = args.sampling.config(done as u64);
        let generated = generate(
            &loaded.model,
            &vec![prompt.clone(); count],
            format.pin_header,
            &config,
            args.sampling.batch_size,
            &device,
        )
        .context("cannot generate from this prompt")?;
        for log in generated {
            forced += u64::from(!log.finished_by_model);
            match format.parse(&log.text) {
                Some((_, json)) => sink.write(&json)?,
                // Unreachable with JSON-constrained decoding; kept so a bug shows as a count.
                None => {
                    unparsed += 1;
                    tracing::warn!(
                        message = "A generated log does not parse.",
                        text = log.text.as_str()
                    );
                    sink.write(&Value::String(log.text))?;
                }
            }
        }
        done += count;
        bar.set_position(done as u64);
    }
    bar.finish_and_clear();
    sink.finish()?;
    println!(
        "{} logs written to {} ({} did not parse, {} reached --max-bytes and were closed by their shortest completion)",
        args.count,
        args.out.display(),
        unparsed,
        forced
    );
    Ok(ExitCode::SUCCESS)
}

/// The user as the model knows them: lower-cased like every log's user, and pseudonymised
/// when the training logs were (a name already given as a pseudonym is kept).
pub fn prompt_user(user: &str, pii: Option<&operators::pii::PiiHasher>) -> String {
    let user = user.to_lowercase();
    match pii {
        Some(pii) if !operators::pii::is_pseudonym(&user) => pii.pseudonym(&user),
        _ => user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use operators::pii::{PiiFields, PiiHasher};

    #[test]
    fn prompted_users_are_pseudonymised_as_training_users_were() {
        let hasher = PiiHasher::new(b"a key of sixteen bytes", PiiFields::default()).unwrap();
        let pseudonym = hasher.pseudonym("alice@contoso.com");
        assert_eq!(prompt_user("Alice@Contoso.com", Some(&hasher)), pseudonym);
        assert_eq!(prompt_user(&pseudonym, Some(&hasher)), pseudonym);
        assert_eq!(prompt_user("Alice@Contoso.com", None), "alice@contoso.com");
    }
}
