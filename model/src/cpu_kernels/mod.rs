//! Kernels for inference on the CPU (scoring, calibration, detection, a generation's
//! prompt), where `perf` showed burn-flex's own spending most of the time in scalar code:
//! causal [`attention`] and [`gelu`]. They apply to f32 tensors on the CPU outside
//! autodiff; training, the GPU and bf16 keep burn's operations (training needs their
//! backward). Each entry point answers `None` where it does not apply.

mod attention;
mod gelu;
mod vector_math;

use burn::prelude::*;

pub use attention::AttentionShape;

/// Whether `tensor` lives where these kernels apply.
fn applies(device: &Device, dtype: burn::tensor::DType) -> bool {
    !device.is_autodiff() && *device == Device::flex() && dtype == burn::tensor::DType::F32
}

/// Causal attention of `query` (`[batch, heads, new, d]`) over `keys` and `values`
/// (`[batch, heads, seen + new, d]`), query `i` seeing keys up to `seen + i`. `None` for a
/// single new position too (a decoding step), which burn's attention computes reading the
/// cache in place where this kernel would copy it out.
pub fn causal_attention(
    query: &Tensor<4>,
    keys: &Tensor<4>,
    values: &Tensor<4>,
) -> Option<Tensor<4>> {
    let device = query.device();
    let [batch, heads, queries, head_width] = query.dims();
    if queries < 2 || !applies(&device, query.dtype()) {
        return None;
    }
    let host = |tensor: &Tensor<4>| tensor.clone().into_data().try_into_vec::<f32>().ok();
    let shape = AttentionShape {
        heads: batch * heads,
        queries,
        keys: keys.dims()[2],
        head_width,
    };
    let output = attention::causal_attention(&host(query)?, &host(keys)?, &host(values)?, shape);
    Some(Tensor::from_data(
        TensorData::new(output, [batch, heads, queries, head_width]),
        &device,
    ))
}

/// GELU (PyTorch's default, with `erf`) of `x`, or `None` where the kernels do not apply.
pub fn gelu<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    let device = x.device();
    if !applies(&device, x.dtype()) {
        return None;
    }
    let shape = x.shape();
    let mut values = x.clone().into_data().try_into_vec::<f32>().ok()?;
    gelu::gelu_in_place(&mut values);
    Some(Tensor::from_data(TensorData::new(values, shape), &device))
}
