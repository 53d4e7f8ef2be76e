//! `cyberlm publish`: a calibrated model folder becomes the registry's next version.
//!
//! The first version of a registry comes from here (`cyberlm retrain` needs one to
//! beat); so does a model trained and checked by hand. The files are copied into a
//! candidate folder, then published whole, as a retrain publishes.

use std::process::ExitCode;

use anyhow::Context;
use model::checkpoint::{self, CALIBRATION, MANIFEST, WEIGHTS};
use model::registry::Registry;

use crate::cli::PublishArgs;

/// `cyberlm publish`.
pub fn run(args: &PublishArgs) -> anyhow::Result<ExitCode> {
    // A model the detector cannot load is refused here rather than in the stream.
    checkpoint::read_manifest(&args.model)?;
    checkpoint::load_calibration(&args.model)?;
    let registry = Registry::new(&args.registry);
    let lock = registry.lock()?;
    let (name, dir) = registry.new_candidate(&lock)?;
    for file in [MANIFEST, WEIGHTS, CALIBRATION] {
        let (from, to) = (args.model.join(file), dir.join(file));
        std::fs::copy(&from, &to)
            .with_context(|| format!("failed to copy {} to {}", from.display(), to.display()))?;
    }
    // The copy must be the model that was checked, not one rewritten meanwhile.
    checkpoint::load_calibration(&dir).with_context(|| {
        format!(
            "{} changed while it was copied; publish it again",
            args.model.display()
        )
    })?;
    let published = registry.publish(&name, &lock)?;
    println!(
        "published {} as {name} ({})",
        args.model.display(),
        published.display()
    );
    Ok(ExitCode::SUCCESS)
}
