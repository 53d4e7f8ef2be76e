//! Which device the model runs on, named on the command line (`--device cpu`,
//! `--device cuda:1`).

use burn::prelude::Device;

/// Why a device name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// Not a device name cyberlm knows.
    #[error(
        "unknown device `{name}`: use `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature"
    )]
    Unknown {
        /// The name given.
        name: String,
    },
    /// A CUDA device asked of a build without CUDA.
    #[error(
        "`{name}` needs a cyberlm built with `--features cuda`; this build runs on the CPU only"
    )]
    NotCompiled {
        /// The name given.
        name: String,
    },
}

/// Parses `cpu` (burn's flex backend) or `cuda[:N]`.
pub fn parse(name: &str) -> Result<Device, DeviceError> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        _ if name == "cuda" || name.starts_with("cuda:") => cuda(name),
        _ => Err(DeviceError::Unknown {
            name: name.to_string(),
        }),
    }
}

fn cuda(name: &str) -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        name: name.to_string(),
    })
}
