//! Kernels for the CPU, where `perf` showed burn-flex's own spending most of the time in
//! scalar code: causal [`attention`] for inference (scoring, calibration, detection, a
//! generation's prompt), and [`gelu`] for inference and training. They apply to f32
//! tensors on the CPU; the GPU and bf16 keep burn's operations. Each entry point answers
//! `None` where it does not apply. Training's attention is burn's: burn-flex's, patched
//! to work a block of queries at a time with a fused backward pass (`vendor/README.md`).

mod attention;
mod gelu;
mod kv_buffer;
mod vector_math;

use burn::prelude::*;

use attention::AttentionShape;
pub use kv_buffer::KvBuffer;

/// Whether a tensor of `dtype` on `device` is one these kernels compute: f32 on the CPU,
/// tracked by autodiff or not as the kernel requires.
fn applies(device: &Device, dtype: burn::tensor::DType, autodiff: bool) -> bool {
    device.is_autodiff() == autodiff
        && *device == Device::flex()
        && dtype == burn::tensor::DType::F32
}

/// Whether burn's CPU backend computes causal attention over `query` a block of queries
/// at a time itself, forward and backward, each block against the keys it sees (f32,
/// unmasked: `vendor/burn-flex`, `src/ops/attention/blocks.rs`).
pub fn attends_in_blocks(query: &Tensor<4>) -> bool {
    query.device().inner() == Device::flex() && query.dtype() == burn::tensor::DType::F32
}

/// `tensor`'s values, row-major, `None` if they are not f32.
fn host<const D: usize>(tensor: &Tensor<D>) -> Option<Vec<f32>> {
    tensor.clone().into_data().try_into_vec::<f32>().ok()
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
    if queries < 2 || !applies(&device, query.dtype(), false) {
        return None;
    }
    let shape = AttentionShape {
        heads: batch * heads,
        queries,
        keys: keys.dims()[2],
        head_width,
        key_stride: keys.dims()[2],
    };
    let output = attention::causal_attention(&host(query)?, &host(keys)?, &host(values)?, shape);
    Some(Tensor::from_data(
        TensorData::new(output, [batch, heads, queries, head_width]),
        &device,
    ))
}

/// Causal attention of `query` (`[batch, heads, new, d]`) over the positions `cache`
/// holds and the new `keys` and `values` (`[batch, heads, new, d]`), which are appended
/// to it first (an empty cache is made). Decoding one position at a time thus copies
/// only that position. `None` where the kernels do not apply; the cache is then
/// untouched.
pub fn causal_attention_cached(
    query: &Tensor<4>,
    keys: &Tensor<4>,
    values: &Tensor<4>,
    cache: &mut Option<KvBuffer>,
) -> Option<Tensor<4>> {
    let device = query.device();
    if !applies(&device, query.dtype(), false) {
        return None;
    }
    let [batch, heads, queries, head_width] = query.dims();
    let (query, keys, values) = (host(query)?, host(keys)?, host(values)?);
    let buffer = cache.get_or_insert_with(|| KvBuffer::new(batch * heads, head_width));
    assert_eq!(buffer.heads(), batch * heads, "a cache serves one batch");
    buffer.append(&keys, &values, queries);
    let shape = AttentionShape {
        heads: batch * heads,
        queries,
        keys: buffer.seen(),
        head_width,
        key_stride: buffer.capacity(),
    };
    let output = attention::causal_attention(&query, buffer.keys(), buffer.values(), shape);
    Some(Tensor::from_data(
        TensorData::new(output, [batch, heads, queries, head_width]),
        &device,
    ))
}

/// GELU (PyTorch's default, with `erf`) of `x`, or `None` where the kernels do not apply.
/// In training, with `G` and `G'` the kernel's values and slopes (constants) and
/// `δ = x − detach(x)` (zero, gradient one), `G + G'∘δ` is `G` in value with GELU's exact
/// gradient: burn's backward then costs one product instead of `erf` and `exp` again.
pub fn gelu<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    let device = x.device();
    let training = device.is_autodiff();
    if !applies(&device, x.dtype(), training) {
        return None;
    }
    let shape = x.shape();
    let mut values = host(&x.clone().detach())?;
    if !training {
        gelu::gelu_in_place(&mut values);
        return Some(Tensor::from_data(TensorData::new(values, shape), &device));
    }
    let slopes = gelu::gelu_and_slope_in_place(&mut values);
    let slopes = Tensor::<D>::from_data(TensorData::new(slopes, shape.clone()), &device);
    let values = Tensor::<D>::from_data(TensorData::new(values, shape), &device);
    let delta = x.clone() - x.clone().detach();
    Some(values + slopes * delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_gelu_has_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let normal = burn::tensor::Distribution::Normal(0.0, 3.0);
        let x = Tensor::<3>::random([4, 33, 70], normal, &device).require_grad();
        // A loss that weighs every output element differently.
        let weights = Tensor::<3>::random([4, 33, 70], normal, &device);
        let ours = gelu(&x).expect("f32 on the CPU under autodiff takes the training kernel");
        let burns = burn::tensor::activation::gelu(x.clone());
        let largest = |tensor: Tensor<3>| tensor.abs().max().into_scalar::<f32>();
        let value_difference = largest(ours.clone() - burns.clone());
        assert!(value_difference < 2e-6, "values: {value_difference}");
        let ours_gradient = x
            .grad(&(ours * weights.clone()).sum().backward())
            .expect("a gradient");
        let burns_gradient = x
            .grad(&(burns * weights).sum().backward())
            .expect("a gradient");
        let gradient_difference = (ours_gradient - burns_gradient).abs().max();
        let gradient_difference = gradient_difference.into_scalar::<f32>();
        assert!(
            gradient_difference < 2e-5,
            "gradients: {gradient_difference}"
        );
    }
}
