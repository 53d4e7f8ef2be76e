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
    /// A CUDA device that this machine cannot provide.
    #[error(
        "`{name}` is not available: {reason}. A CUDA build needs an NVIDIA driver (libcuda.so.1) and NVRTC (libnvrtc.so) at run time; run `nvidia-smi` to list the GPUs, or use `--device cpu`"
    )]
    Unavailable {
        /// The name given.
        name: String,
        /// What failed when the device was first used.
        reason: String,
    },
    /// A float type the device cannot compute in.
    #[error("`{name}` cannot compute in {float}: {reason}; use `--float f32`")]
    FloatUnsupported {
        /// The device name given.
        name: String,
        /// The float type asked for.
        float: String,
        /// What the backend said.
        reason: String,
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

/// The float type every tensor on a device is made in: weights, activations and
/// optimizer state alike (burn 0.22 sets it per device; there is no autocast).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Float {
    /// 32-bit floats everywhere: what the CPU runs and what every model was trained in.
    #[default]
    F32,
    /// bfloat16 everywhere: half the bytes, and the GPU's tensor cores for matrix products.
    Bf16,
    /// Mixed precision: every tensor f32, the linear layers and attention computed in
    /// bfloat16 ([`crate::precision`]), as PyTorch's autocast.
    Mixed,
}

impl Float {
    /// How a model on a device of this float type multiplies in its linear layers and
    /// attention.
    pub fn products(self) -> crate::precision::Products {
        match self {
            Float::Mixed => crate::precision::Products::Bf16,
            Float::F32 | Float::Bf16 => crate::precision::Products::Stored,
        }
    }
}

/// Parses `cpu` (burn's flex backend) or `cuda[:N]`, computing in 32-bit floats.
pub fn parse(name: &str) -> Result<Device, DeviceError> {
    open(name, Float::F32)
}

/// Parses `cpu` or `cuda[:N]` and makes `float` its float type. The type must be set
/// before the device's first tensor, so this is the only place that sets it.
pub fn open(name: &str, float: Float) -> Result<Device, DeviceError> {
    match name {
        "cpu" | "flex" => with_float(Device::flex(), name, float),
        _ if name == "cuda" || name.starts_with("cuda:") => cuda(name, float),
        _ => Err(DeviceError::Unknown {
            name: name.to_string(),
        }),
    }
}

fn with_float(mut device: Device, name: &str, float: Float) -> Result<Device, DeviceError> {
    if float == Float::Bf16 {
        device
            .configure(burn::tensor::FloatDType::BF16)
            .map_err(|error| DeviceError::FloatUnsupported {
                name: name.to_string(),
                float: "bf16".to_string(),
                reason: error.to_string(),
            })?;
    }
    Ok(device)
}

/// Threads that should each run their own batch (or shard of one) on `device`: one per
/// core on the CPU, where most of the backend's kernels keep a single core busy; one on a
/// GPU, which a single stream of whole batches keeps busy.
pub fn parallel_workers(device: &Device) -> usize {
    if device.clone().inner() == Device::flex() {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    }
}

/// `work` over `items`, results in order: spread over rayon's threads where `device`
/// has several [`parallel_workers`], one after another on a GPU. Running on rayon's pool
/// means the kernels that are parallel themselves (large matrix products, attention heads)
/// share its threads instead of competing with these for the cores.
pub fn map_on_workers<T: Sync, R: Send>(
    device: &Device,
    items: &[T],
    work: impl Fn(&T) -> R + Sync + Send,
) -> Vec<R> {
    if parallel_workers(device) > 1 && items.len() > 1 {
        use rayon::prelude::*;
        items.par_iter().map(work).collect()
    } else {
        items.iter().map(work).collect()
    }
}

#[cfg(not(feature = "cuda"))]
fn cuda(name: &str, _float: Float) -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled {
        name: name.to_string(),
    })
}

/// Opens the GPU and runs one small kernel on it, so a missing driver, NVRTC or GPU is a
/// clear error here rather than a panic deep inside the first training step.
#[cfg(feature = "cuda")]
fn cuda(name: &str, float: Float) -> Result<Device, DeviceError> {
    use burn::prelude::Tensor;

    let index = match name.strip_prefix("cuda:") {
        None => 0,
        Some(index) => index.parse::<usize>().map_err(|_| DeviceError::Unknown {
            name: name.to_string(),
        })?,
    };
    // cubecl reports a missing library or device by panicking, often on its own device
    // thread first; keep every panic's message, without printing them, and report the
    // first (the cause), not the main thread's "channel closed" that follows it.
    let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = messages.clone();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut seen) = seen.lock() {
            seen.push(info.payload_as_str().unwrap_or("a panic").to_string());
        }
    }));
    let probe = std::panic::catch_unwind(|| {
        let device = with_float(Device::cuda(index), name, float)?;
        let sum = Tensor::<1>::ones([4], &device).sum().into_scalar::<f32>();
        Ok::<_, DeviceError>((device, sum))
    });
    std::panic::set_hook(hook);
    let first = messages.lock().ok().and_then(|seen| seen.first().cloned());
    match probe {
        Ok(Err(error)) => Err(error),
        Ok(Ok((device, 4.0))) => Ok(device),
        Ok(Ok((_, sum))) => Err(DeviceError::Unavailable {
            name: name.to_string(),
            reason: format!("a test kernel summed four ones to {sum}"),
        }),
        Err(_) => Err(DeviceError::Unavailable {
            name: name.to_string(),
            reason: first.unwrap_or_else(|| "the CUDA runtime failed to start".to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    /// `vendor/burn-flex.patch`: new tensors and copies of shared ones get a buffer of
    /// their element's size. Every element size reads back exactly.
    #[test]
    fn patched_cpu_backend_reads_back_every_element_size_exactly() {
        let device = Device::flex();
        let values = [[1.5f32, -2.0, 3.25], [0.0, 7.0, -8.5]];
        let floats = Tensor::<2>::from_floats(values, &device);
        let shared = floats.clone();
        let read = |tensor: Tensor<2>| tensor.into_data().try_to_vec::<f32>().expect("f32");
        assert_eq!(read(floats.clone()), values.concat());
        // A view at offset 0 of a larger buffer: copied, truncated.
        assert_eq!(read(shared.clone().slice([0..1, 0..3])), values[0].to_vec());
        // A matrix product's output (a new tensor) and zeros.
        let product = floats.clone().matmul(Tensor::<2>::ones([3, 2], &device));
        assert_eq!(read(product), vec![2.75, 2.75, -1.5, -1.5]);
        assert_eq!(read(Tensor::<2>::zeros([2, 3], &device)), vec![0.0; 6]);
        let ints = Tensor::<1, Int>::from_ints([3, -1, 40_000], &device);
        let _kept = ints.clone();
        assert_eq!(
            ints.into_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .expect("ints"),
            vec![3, -1, 40_000]
        );
        let bools = shared.greater_elem(0.5);
        let _kept = bools.clone();
        assert_eq!(
            bools.into_data().try_to_vec::<bool>().expect("bools"),
            vec![true, false, true, false, true, false]
        );
        let halves = floats.cast(burn::tensor::DType::F16);
        let _kept = halves.clone();
        let halves = halves
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f16");
        assert_eq!(halves, values.concat());
    }
}
