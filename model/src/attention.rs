//! Causal multi-head self-attention, with the key/value cache incremental decoding needs.

use std::sync::OnceLock;

use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use crate::cpu_kernels;
use crate::precision::{Products, linear};

/// One block's attention: a fused query/key/value projection, burn's fused
/// scaled-dot-product attention, and the output projection.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    qkv: Linear,
    output: Linear,
    dropout: Dropout,
    heads: usize,
}

/// The keys and values one block has seen so far: on the CPU a host buffer appended in
/// place, elsewhere burn tensors of a capacity grown a bucket at a time.
#[derive(Debug, Clone)]
pub enum LayerCache {
    Host(cpu_kernels::KvBuffer),
    Tensors(Box<SeenTensors>),
}

/// Keys and values as burn tensors `[batch, heads, capacity, head_width]`, of which the
/// first `seen` positions are filled. The capacity grows a bucket of positions at a
/// time, so decoding asks the device for the same shapes for a bucket of steps in a
/// row: a GPU compiles and tunes its kernels per shape, and a cache that grew by one
/// position a byte spent decoding doing that (`bench/gpu-notes.md`, run 2).
#[derive(Debug, Clone)]
pub struct SeenTensors {
    /// Keys and values, `None` until the first positions arrive.
    filled: Option<(Tensor<4>, Tensor<4>)>,
    seen: usize,
    bucket: usize,
}

impl CausalSelfAttention {
    /// A new layer; `residual_std` initialises the output projection, which GPT-2 scales
    /// down with depth so the residual stream does not grow with the number of blocks.
    pub fn new(
        width: usize,
        heads: usize,
        dropout: f64,
        residual_std: f64,
        device: &Device,
    ) -> Self {
        let normal = |std| Initializer::Normal { mean: 0.0, std };
        CausalSelfAttention {
            qkv: LinearConfig::new(width, 3 * width)
                .with_initializer(normal(0.02))
                .init(device),
            output: LinearConfig::new(width, width)
                .with_initializer(normal(residual_std))
                .init(device),
            dropout: DropoutConfig::new(dropout).init(),
            heads,
        }
    }

    /// Attends `input` (`[batch, new, width]`) over the cached positions and itself. With
    /// a cache, the new keys and values are appended to it. The projections and the
    /// attention multiply as `products` says: under mixed precision attention runs in
    /// bf16 (its keys and values cached so), as PyTorch's autocast runs it.
    pub fn forward(
        &self,
        input: Tensor<3>,
        cache: Option<&mut Option<LayerCache>>,
        products: Products,
    ) -> Tensor<3> {
        let [batch, new, width] = input.dims();
        let head_width = width / self.heads;
        let split = |tensor: Tensor<3>| {
            tensor
                .reshape([batch, new, self.heads, head_width])
                .swap_dims(1, 2)
        };
        let qkv = products.operand(linear(&self.qkv, input, products));
        let query = split(qkv.clone().narrow(2, 0, width));
        let keys = split(qkv.clone().narrow(2, width, width));
        let values = split(qkv.narrow(2, 2 * width, width));

        let attended = match cache {
            Some(cache) => attend_cached(query, keys, values, cache),
            None => attend_fresh(query, keys, values),
        };
        let merged = attended.swap_dims(1, 2).reshape([batch, new, width]);
        self.dropout.forward(linear(&self.output, merged, products))
    }
}

/// Attention of new positions over those `cache` holds and themselves; the cache is
/// extended with them (made, when empty).
fn attend_cached(
    query: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    cache: &mut Option<LayerCache>,
) -> Tensor<4> {
    let mut buffer = match cache.take() {
        Some(LayerCache::Tensors(mut seen)) => {
            let attended = seen.attend(query, keys, values);
            *cache = Some(LayerCache::Tensors(seen));
            return attended;
        }
        Some(LayerCache::Host(buffer)) => Some(buffer),
        None => None,
    };
    if let Some(attended) =
        cpu_kernels::causal_attention_cached(&query, &keys, &values, &mut buffer)
    {
        *cache = buffer.map(LayerCache::Host);
        return attended;
    }
    let mut seen = Box::new(SeenTensors::new(kv_bucket()));
    let attended = seen.attend(query, keys, values);
    *cache = Some(LayerCache::Tensors(seen));
    attended
}

impl SeenTensors {
    /// An empty cache whose capacity grows `bucket` positions at a time (at least one).
    fn new(bucket: usize) -> Self {
        SeenTensors {
            filled: None,
            seen: 0,
            bucket: bucket.max(1),
        }
    }

    /// Attention of the new positions over the cached ones and themselves; the new keys
    /// and values are written into the cache, which grows to the next bucket when full.
    fn attend(&mut self, query: Tensor<4>, keys: Tensor<4>, values: Tensor<4>) -> Tensor<4> {
        let seen = self.seen;
        let total = seen + keys.dims()[2];
        let capacity = total.next_multiple_of(self.bucket);
        let (all_keys, all_values) = match self.filled.take() {
            None => (
                with_capacity(keys.clone(), capacity),
                with_capacity(values.clone(), capacity),
            ),
            Some((had_keys, had_values)) => (
                written_at(had_keys, seen, keys.clone(), capacity),
                written_at(had_values, seen, values.clone(), capacity),
            ),
        };
        self.filled = Some((all_keys.clone(), all_values.clone()));
        self.seen = total;
        if seen == 0 {
            return attend_fresh(query, keys, values);
        }
        if capacity == total {
            return attend_causal(query, all_keys, all_values);
        }
        // The keys past `total` are the bucket's unfilled room: the shifted causal mask
        // hides them with the new positions' own future.
        let [batch, heads, new, _] = query.dims();
        let mask = shifted_causal_mask(batch, heads, new, seen, capacity, &query.device());
        attend(query, all_keys, all_values, Some(mask), false)
    }
}

/// `filled` (its positions from 0) padded with zeros to `capacity` positions.
fn with_capacity(filled: Tensor<4>, capacity: usize) -> Tensor<4> {
    let [batch, heads, length, width] = filled.dims();
    if length >= capacity {
        return filled;
    }
    let room = Tensor::<4>::zeros(
        [batch, heads, capacity - length, width],
        (&filled.device(), filled.dtype()),
    );
    Tensor::cat(vec![filled, room], 2)
}

/// `buffer` with `new` written at positions `at..`, grown to `capacity` first if short.
fn written_at(buffer: Tensor<4>, at: usize, new: Tensor<4>, capacity: usize) -> Tensor<4> {
    let [batch, heads, count, width] = new.dims();
    with_capacity(buffer, capacity)
        .slice_assign([0..batch, 0..heads, at..at + count, 0..width], new)
}

/// Positions a device's key/value cache grows by (see [`SeenTensors`]).
const KV_BUCKET: usize = 256;

/// [`KV_BUCKET`], or `CYBERLM_KV_BUCKET` where set (1: grow a position at a time): a
/// knob for the GPU benchmarks (`bench/gpu-profile.sh`), like [`query_chunk`].
fn kv_bucket() -> usize {
    static BUCKET: OnceLock<usize> = OnceLock::new();
    benchmark_knob(&BUCKET, "CYBERLM_KV_BUCKET", KV_BUCKET)
}

/// Causal attention over a fresh sequence: the CPU's inference kernel where it applies,
/// else in chunks of queries when the sequence is long and the backend does not work in
/// blocks itself, else burn's attention.
fn attend_fresh(query: Tensor<4>, keys: Tensor<4>, values: Tensor<4>) -> Tensor<4> {
    let chunk = query_chunk();
    let new = query.dims()[2];
    match cpu_kernels::causal_attention(&query, &keys, &values) {
        Some(attended) => attended,
        None if chunk > 0 && new > chunk && !cpu_kernels::attends_in_blocks(&query) => {
            causal_in_chunks(query, keys, values, chunk)
        }
        None => attend_causal(query, keys, values),
    }
}

/// Queries per chunk when training attention is split (see [`causal_in_chunks`]); the
/// CPU's f32 attention never is.
const QUERY_CHUNK: usize = 256;

/// [`QUERY_CHUNK`], or `CYBERLM_QUERY_CHUNK` where set (0: never split): a knob for the
/// GPU benchmarks (`bench/gpu-profile.sh`), where the best split is still being measured.
fn query_chunk() -> usize {
    static CHUNK: OnceLock<usize> = OnceLock::new();
    benchmark_knob(&CHUNK, "CYBERLM_QUERY_CHUNK", QUERY_CHUNK)
}

/// `variable` parsed where set, else `default`: read once, on first use, into `cell`.
fn benchmark_knob(cell: &OnceLock<usize>, variable: &str, default: usize) -> usize {
    *cell.get_or_init(|| {
        std::env::var(variable)
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    })
}

fn attend(
    query: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    mask: Option<Tensor<4, Bool>>,
    is_causal: bool,
) -> Tensor<4> {
    let options = AttentionModuleOptions {
        scale: None,
        softcap: None,
        is_causal,
    };
    attention(query, keys, values, mask, None, options)
}

/// Attention of the `new` positions of `query` that follow `seen` cached ones, over
/// `keys` and `values` (`seen + new` positions), with burn's attention: under autodiff,
/// on every device, its backward pass is the patched one (`vendor/burn-autodiff`), which
/// keeps no score matrix.
fn attend_causal(query: Tensor<4>, keys: Tensor<4>, values: Tensor<4>) -> Tensor<4> {
    let [batch, heads, new, _] = query.dims();
    let seen = keys.dims()[2] - new;
    // A fresh sequence is plainly causal; one new token may see everything cached;
    // several new tokens after a cache need the mask shifted by what was seen.
    let (mask, is_causal) = match (seen, new) {
        (0, _) => (None, true),
        (_, 1) => (None, false),
        _ => (
            Some(shifted_causal_mask(
                batch,
                heads,
                new,
                seen,
                seen + new,
                &query.device(),
            )),
            false,
        ),
    };
    attend(query, keys, values, mask, is_causal)
}

/// Causal attention over a fresh sequence, computed a chunk of queries at a time, each
/// against the keys up to its last position only. A backend's fused attention that
/// computes the masked upper triangle skips 3/8 of the work at T = 1024 this way, and a
/// chunk's scores are small enough to stay in cache. The backward pass (burn's
/// autodiff, patched in `vendor/burn-autodiff`) recomputes its scores in blocks of its
/// own either way. The CPU's f32 attention skips the triangle itself, forward and
/// backward, and the chunks' masks would only take it off that kernel
/// ([`cpu_kernels::attends_in_blocks`]).
fn causal_in_chunks(
    query: Tensor<4>,
    keys: Tensor<4>,
    values: Tensor<4>,
    chunk: usize,
) -> Tensor<4> {
    let length = query.dims()[2];
    let mut blocks = Vec::with_capacity(length.div_ceil(chunk));
    for start in (0..length).step_by(chunk) {
        let end = (start + chunk).min(length);
        let block_query = query.clone().narrow(2, start, end - start);
        let block_keys = keys.clone().narrow(2, 0, end);
        let block_values = values.clone().narrow(2, 0, end);
        blocks.push(attend_causal(block_query, block_keys, block_values));
    }
    Tensor::cat(blocks, 2)
}

/// `true` where a new position (of `new` after `seen`) must not look among `keys`
/// positions: those after it. Built on the device from two position ranges, so a GPU
/// never waits for a host-made mask (training at context 7000 would otherwise upload
/// hundreds of megabytes of them per step).
fn shifted_causal_mask(
    batch: usize,
    heads: usize,
    new: usize,
    seen: usize,
    keys: usize,
    device: &Device,
) -> Tensor<4, Bool> {
    let positions = |range: std::ops::Range<usize>| {
        Tensor::<1, Int>::arange(range.start as i64..range.end as i64, device)
    };
    let key_positions = positions(0..keys).reshape([1, keys]).expand([new, keys]);
    let query_positions = positions(seen..seen + new)
        .reshape([new, 1])
        .expand([new, keys]);
    key_positions
        .greater(query_positions)
        .reshape([1, 1, new, keys])
        .expand([batch, heads, new, keys])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard-normal `[2, 3, length, 16]`: two batch rows of three heads.
    fn two_rows_of_three_heads(length: usize, device: &Device) -> Tensor<4> {
        Tensor::<4>::random(
            [2, 3, length, 16],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            device,
        )
    }

    #[test]
    fn the_cpu_kernel_agrees_with_burns_attention_fresh_and_after_a_cache() {
        let device = Device::flex();
        let random = |length| two_rows_of_three_heads(length, &device);
        for (new, seen) in [(300, 0), (2, 40), (7, 40)] {
            let (query, keys, values) = (random(new), random(seen + new), random(seen + new));
            let ours = cpu_kernels::causal_attention(&query, &keys, &values)
                .expect("f32 on the CPU outside autodiff takes the kernel");
            let mask = (seen > 0 && new > 1)
                .then(|| shifted_causal_mask(2, 3, new, seen, seen + new, &device));
            let burns = attend(query, keys, values, mask, seen == 0);
            let difference = (ours - burns).abs().max().into_scalar::<f32>();
            assert!(difference < 1e-5, "new {new}, seen {seen}: {difference}");
        }
        let tracked = Tensor::<4>::zeros([1, 1, 2, 4], &device.autodiff());
        assert!(cpu_kernels::causal_attention(&tracked, &tracked, &tracked).is_none());
    }

    #[test]
    fn the_host_cache_and_the_tensor_cache_attend_alike() {
        let device = Device::flex();
        let random = |length| two_rows_of_three_heads(length, &device);
        // The GPU's cache, seeded so the CPU takes it too: grown a position at a time,
        // and by buckets of 16 that leave unfilled room the mask must hide.
        for bucket in [1, 16] {
            let mut tensors = Some(LayerCache::Tensors(Box::new(SeenTensors::new(bucket))));
            let mut host = None;
            // A prefill, decoding steps past the host buffer's first room and across
            // buckets, a few at once.
            for new in std::iter::once(40)
                .chain(std::iter::repeat_n(1, 30))
                .chain([5, 1])
            {
                let (query, keys, values) = (random(new), random(new), random(new));
                let from_tensors =
                    attend_cached(query.clone(), keys.clone(), values.clone(), &mut tensors);
                let from_host = attend_cached(query, keys, values, &mut host);
                let difference = (from_tensors - from_host).abs().max().into_scalar::<f32>();
                assert!(
                    difference < 1e-5,
                    "bucket {bucket}, {new} new positions: {difference}"
                );
            }
            assert!(matches!(host, Some(LayerCache::Host(ref buffer)) if buffer.seen() == 76));
            let Some(LayerCache::Tensors(seen)) = tensors else {
                panic!("the tensor cache stays a tensor cache")
            };
            let capacity = seen.filled.map(|(keys, _)| keys.dims()[2]);
            assert_eq!(
                (seen.seen, capacity),
                (76, Some(76usize.next_multiple_of(bucket)))
            );
        }
    }

    /// Asserts that `ours` has the values of `reference` (within 1e-5) and, under a loss
    /// that weighs every output element differently, the same gradients for the query,
    /// keys and values (within 1e-4 of the largest, or of 1 if that is smaller).
    fn assert_same_values_and_gradients(
        ours: Tensor<4>,
        reference: Tensor<4>,
        inputs: [&Tensor<4>; 3],
        case: &str,
    ) {
        let weights = Tensor::<4>::random(
            ours.dims(),
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &ours.device(),
        );
        let largest = |tensor: Tensor<4>| tensor.abs().max().into_scalar::<f32>();
        let value_difference = largest(ours.clone() - reference.clone());
        assert!(
            value_difference < 1e-5,
            "{case}: values differ by {value_difference}"
        );
        let ours_grads = (ours * weights.clone()).sum().backward();
        let reference_grads = (reference * weights).sum().backward();
        for (name, input) in ["query", "keys", "values"].into_iter().zip(inputs) {
            let ours = input.grad(&ours_grads).expect("a gradient");
            let reference = input.grad(&reference_grads).expect("a gradient");
            let scale = largest(reference.clone());
            let difference = largest(ours - reference);
            assert!(
                scale > 0.0 && difference < 1e-4 * scale.max(1.0),
                "{case}: {name} gradient differs by {difference} of {scale}"
            );
        }
    }

    /// burn's attention under autodiff takes a patched backward pass: burn-flex's fused
    /// kernel for f32 without a mask (`vendor/burn-flex`, a block of 64 queries at a
    /// time), else autodiff's own, which recomputes the probabilities in blocks of 2²⁵
    /// scores with tensor operations (`vendor/burn-autodiff`; the GPU's path, taken here
    /// by the masked cases). Both must give the plain decomposition's gradients.
    #[test]
    fn attention_backward_in_blocks_matches_the_decomposition() {
        let device = Device::flex().autodiff();
        let width = 8;
        let random = |length, seed: u64| {
            device.seed(seed);
            Tensor::<4>::random(
                [2, 4, length, width],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            )
            .require_grad()
        };
        // (new positions, cached ones, whether a mask is given):
        // - a fresh causal sequence, fused;
        // - the same with its causal mask given too, so autodiff's blocks take it (two
        //   blocks: 8 heads × 2,600 keys leave 1,613 queries a block);
        // - new positions after a cache (shifted mask), autodiff's blocks;
        // - one new position seeing every key, fused and not causal;
        // - a short masked one, whose forward pass is burn-flex's naive kernel (patched to
        //   leave a causal row's hidden keys out), not its tiled one.
        for (new, seen, masked) in [
            (2600, 0, false),
            (2600, 0, true),
            (1800, 800, true),
            (1, 40, false),
            (300, 0, true),
        ] {
            let (query, keys, values) =
                (random(new, 1), random(seen + new, 2), random(seen + new, 3));
            let mask = masked.then(|| shifted_causal_mask(2, 4, new, seen, seen + new, &device));
            let patched = attend(
                query.clone(),
                keys.clone(),
                values.clone(),
                mask.clone(),
                seen == 0,
            );
            let mut scores = query
                .clone()
                .matmul(keys.clone().swap_dims(2, 3))
                .div_scalar((width as f64).sqrt());
            if let Some(mask) = mask {
                scores = scores.mask_fill(mask, f32::NEG_INFINITY);
            }
            if seen == 0 {
                let future = shifted_causal_mask(2, 4, new, 0, new, &device);
                scores = scores.mask_fill(future, f32::NEG_INFINITY);
            }
            let decomposed = burn::tensor::activation::softmax(scores, 3).matmul(values.clone());
            assert_same_values_and_gradients(
                patched,
                decomposed,
                [&query, &keys, &values],
                &format!("new {new}, seen {seen}, masked {masked}"),
            );
        }
    }

    /// burn-flex's `exp` is patched to a vectorised one (`vendor/burn-flex`): the
    /// attention backward's probabilities and the loss's softmax go through it.
    #[test]
    fn the_cpu_backends_exp_is_expf_across_the_range() {
        let device = Device::flex();
        let inputs: Vec<f32> = (0..20_000).map(|i| -110.0 + 0.01 * i as f32).collect();
        let tensor = Tensor::<1>::from_floats(inputs.as_slice(), &device);
        // In place (the tensor is its own) and into a copy (a clone shares it).
        let shared = tensor.clone();
        for (case, result) in [("copy", shared.clone().exp()), ("in place", tensor.exp())] {
            let values = result.into_data().try_into_vec::<f32>().expect("f32");
            let mut worst = 0.0f64;
            for (&x, &got) in inputs.iter().zip(&values) {
                let exact = f64::from(x).exp();
                if exact > f64::from(f32::MIN_POSITIVE) && exact < f64::from(f32::MAX) {
                    worst = worst.max((f64::from(got) - exact).abs() / exact);
                } else if exact < f64::from(f32::MIN_POSITIVE) {
                    assert!(got < f32::MIN_POSITIVE, "{case}: e^{x} = {got}");
                } else {
                    assert_eq!(got, f32::INFINITY, "{case}: e^{x}");
                }
            }
            assert!(worst < 3e-7, "{case}: relative error {worst}");
        }
        let special =
            Tensor::<1>::from_floats([f32::NEG_INFINITY, f32::INFINITY, f32::NAN, 0.0], &device);
        let special = special
            .exp()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32");
        assert_eq!(special[..2], [0.0, f32::INFINITY]);
        assert!(special[2].is_nan());
        assert_eq!(special[3], 1.0);
    }

    #[test]
    fn shifted_mask_hides_exactly_the_keys_after_each_new_position() {
        // Without and with a bucket's unfilled room after the new positions.
        for keys in [5, 8] {
            let (new, seen) = (3, 2);
            let mask = shifted_causal_mask(2, 1, new, seen, keys, &Device::flex());
            assert_eq!(mask.dims(), [2, 1, new, keys]);
            let values = mask.into_data().try_to_vec::<bool>().expect("a bool mask");
            let expected: Vec<bool> = (0..2)
                .flat_map(|_| {
                    (0..new).flat_map(move |row| (0..keys).map(move |col| col > seen + row))
                })
                .collect();
            assert_eq!(values, expected, "{keys} key positions");
        }
    }
}
