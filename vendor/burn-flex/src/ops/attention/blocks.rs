//! f32 attention a block of queries at a time, forward and backward, one `(batch, head)`
//! a task (cyberlm's patch, `vendor/README.md`).
//!
//! Upstream's kernels compute every key's score for every query and hide the causal
//! upper triangle afterwards, and autodiff differentiates attention with a dozen tensor
//! operations, each a pass through `[batch, heads, queries, keys]` tensors in memory.
//! Here a block of [`QUERY_BLOCK`] queries takes only the keys up to its last query, its
//! scores and their gradients stay in two buffers of a block's size, which fit in a
//! core's cache, and the products of FlashAttention's backward pass are `gemm` calls on
//! them. Each block recomputes its probabilities in the backward pass from the query and
//! keys; nothing but the output is kept from the forward pass.
//!
//! Applies to f32 tensors without a mask, bias or softcap, each query head with a key
//! head of its own ([`applies`]); the callers keep upstream's paths for the rest.

use alloc::vec;
use alloc::vec::Vec;
use burn_backend::DType;
use burn_backend::ops::AttentionModuleOptions;
use burn_std::Bytes;
use multiversion::multiversion;

use super::{BlockGemmArgs, FlashGemm};
use crate::simd::softmax::{exp_shifted_sum_f32, scale_mask_max_f32};
use crate::{FlexTensor, Layout};

/// Queries a block. A block's scores and their gradients (two buffers of this many rows
/// of the keys it sees, 512 KiB at 1,024 keys) stay in a core's L2 cache.
const QUERY_BLOCK: usize = 64;

/// Whether these inputs are ones this module computes: f32, no mask, bias or softcap,
/// as many key heads as query heads, a query width of at least one (upstream's kernels
/// refuse zero).
pub(crate) fn applies(
    query: &FlexTensor,
    key: &FlexTensor,
    value: &FlexTensor,
    masked: bool,
    options: &AttentionModuleOptions,
) -> bool {
    let dim = |tensor: &FlexTensor, dim: usize| tensor.layout().shape()[dim];
    !masked
        && options.softcap.is_none()
        && [query, key, value].iter().all(|t| t.dtype() == DType::F32)
        && dim(query, 1) == dim(key, 1)
        && dim(query, 3) > 0
}

/// `softmax(scale · Q Kᵗ) V` over `[batch, heads, positions, width]` tensors.
pub(crate) fn forward(
    query: FlexTensor,
    key: FlexTensor,
    value: FlexTensor,
    options: AttentionModuleOptions,
) -> FlexTensor {
    let inputs = Inputs::new(query, key, value, &options);
    let dims = inputs.dims;
    let mut output = vec![0.0f32; inputs.heads * dims.queries * dims.value_width];
    for_each_head(
        inputs.heads,
        [&mut output[..]],
        &dims,
        |head, [out], scratch| {
            let one = inputs.head(head);
            for block in dims.blocks() {
                let probabilities = scratch.probabilities(&block, &one, &dims);
                // O = P V
                let out = &mut out[block.start * dims.value_width..];
                product(
                    [block.rows, dims.value_width, block.seen],
                    (out, dims.value_width, false),
                    (probabilities, block.seen, 1),
                    (one.value, dims.value_width, 1),
                );
            }
        },
    );
    let [batch, heads, queries, _] = inputs.shape;
    tensor(output, [batch, heads, queries, dims.value_width])
}

/// The gradients of the query, key and value, given the forward pass's `output` and its
/// gradient. With `P = softmax(scale · Q Kᵗ)` and `O = P V`: `dV = Pᵗ dO`,
/// `dS = scale · P ∘ (dO Vᵗ − rowsum(dO ∘ O))`, `dQ = dS K`, `dK = dSᵗ Q`. Each block of
/// queries adds its part of `dK` and `dV` to the keys it sees.
pub(crate) fn backward(
    query: FlexTensor,
    key: FlexTensor,
    value: FlexTensor,
    output: FlexTensor,
    output_grad: FlexTensor,
    options: AttentionModuleOptions,
) -> [FlexTensor; 3] {
    let inputs = Inputs::new(query, key, value, &options);
    let dims = inputs.dims;
    let (output, output_grad) = (output.to_contiguous(), output_grad.to_contiguous());
    let (output, output_grad): (&[f32], &[f32]) = (output.storage(), output_grad.storage());
    let (width, value_width, heads) = (dims.width, dims.value_width, inputs.heads);
    let mut query_grad = vec![0.0f32; heads * dims.queries * width];
    let mut key_grad = vec![0.0f32; heads * dims.keys * width];
    let mut value_grad = vec![0.0f32; heads * dims.keys * value_width];

    let grads = [&mut query_grad[..], &mut key_grad[..], &mut value_grad[..]];
    for_each_head(
        heads,
        grads,
        &dims,
        |head, [d_query, d_key, d_value], scratch| {
            let one = inputs.head(head);
            let rows = dims.queries * value_width;
            let output = &output[head * rows..][..rows];
            let output_grad = &output_grad[head * rows..][..rows];
            for block in dims.blocks() {
                let seen = block.seen;
                scratch.probabilities(&block, &one, &dims);
                let probabilities = &scratch.scores[..block.rows * seen];
                let score_grads = &mut scratch.grads[..block.rows * seen];
                let block_query = &one.query[block.start * width..];
                let block_output_grad = &output_grad[block.start * value_width..];
                // dV[..seen] += Pᵗ dO
                product(
                    [seen, value_width, block.rows],
                    (&mut *d_value, value_width, true),
                    (probabilities, 1, seen),
                    (block_output_grad, value_width, 1),
                );
                // dP = dO Vᵗ, then dS in its place
                product(
                    [block.rows, seen, value_width],
                    (&mut *score_grads, seen, false),
                    (block_output_grad, value_width, 1),
                    (one.value, 1, value_width),
                );
                for row in 0..block.rows {
                    let at =
                        (block.start + row) * value_width..(block.start + row + 1) * value_width;
                    let term = dot(&output_grad[at.clone()], &output[at]);
                    let range = row * seen..(row + 1) * seen;
                    softmax_grad(
                        &mut score_grads[range.clone()],
                        &probabilities[range],
                        term,
                        dims.scale,
                    );
                }
                // dQ = dS K
                product(
                    [block.rows, width, seen],
                    (&mut d_query[block.start * width..], width, false),
                    (&*score_grads, seen, 1),
                    (one.key, width, 1),
                );
                // dK[..seen] += dSᵗ Q
                product(
                    [seen, width, block.rows],
                    (&mut *d_key, width, true),
                    (&*score_grads, 1, seen),
                    (block_query, width, 1),
                );
            }
        },
    );
    let [batch, heads, queries, _] = inputs.shape;
    [
        tensor(query_grad, [batch, heads, queries, width]),
        tensor(key_grad, [batch, heads, dims.keys, width]),
        tensor(value_grad, [batch, heads, dims.keys, value_width]),
    ]
}

/// The inputs, contiguous, and the sizes every head shares.
struct Inputs {
    query: FlexTensor,
    key: FlexTensor,
    value: FlexTensor,
    shape: [usize; 4],
    heads: usize,
    dims: Dims,
}

/// One head's rows of the inputs.
struct Head<'a> {
    query: &'a [f32],
    key: &'a [f32],
    value: &'a [f32],
}

impl Inputs {
    fn new(
        query: FlexTensor,
        key: FlexTensor,
        value: FlexTensor,
        options: &AttentionModuleOptions,
    ) -> Self {
        let (query, key, value) = (
            query.to_contiguous(),
            key.to_contiguous(),
            value.to_contiguous(),
        );
        let q = query.layout().shape();
        let shape = [q[0], q[1], q[2], q[3]];
        let (queries, keys, width) = (shape[2], key.layout().shape()[2], shape[3]);
        let dims = Dims {
            queries,
            keys,
            width,
            value_width: value.layout().shape()[3],
            scale: options.scale.unwrap_or_else(|| 1.0 / (width as f64).sqrt()) as f32,
            causal_offset: options
                .is_causal
                .then_some(keys as isize - queries as isize),
        };
        Inputs {
            query,
            key,
            value,
            shape,
            heads: shape[0] * shape[1],
            dims,
        }
    }

    fn head(&self, head: usize) -> Head<'_> {
        let Dims {
            queries,
            keys,
            width,
            value_width,
            ..
        } = self.dims;
        fn rows(tensor: &FlexTensor, head: usize, count: usize, width: usize) -> &[f32] {
            let all: &[f32] = tensor.storage();
            &all[head * count * width..][..count * width]
        }
        Head {
            query: rows(&self.query, head, queries, width),
            key: rows(&self.key, head, keys, width),
            value: rows(&self.value, head, keys, value_width),
        }
    }
}

/// The sizes of one head's attention, and its causal alignment.
#[derive(Clone, Copy)]
struct Dims {
    queries: usize,
    keys: usize,
    width: usize,
    value_width: usize,
    scale: f32,
    /// `Some(keys - queries)` for causal attention: query `i` sees keys `0..=i + offset`,
    /// its last query aligned with the last key, as in upstream's kernels.
    causal_offset: Option<isize>,
}

/// A block of queries, and the keys the last of them sees.
struct Block {
    start: usize,
    rows: usize,
    seen: usize,
}

impl Dims {
    /// The keys query `row` sees.
    fn visible(&self, row: usize) -> usize {
        super::visible_keys(row, self.causal_offset, self.keys)
    }

    /// The blocks of queries that see a key at all: a query that sees none attends to
    /// nothing, its output and gradients zero, as upstream's.
    fn blocks(&self) -> impl Iterator<Item = Block> + '_ {
        (0..self.queries)
            .step_by(QUERY_BLOCK)
            .map(|start| {
                let rows = QUERY_BLOCK.min(self.queries - start);
                let seen = self.visible(start + rows - 1);
                Block { start, rows, seen }
            })
            .filter(|block| block.seen > 0)
    }
}

/// A task's two buffers of a block's size: its probabilities, and their gradients.
struct Scratch {
    scores: Vec<f32>,
    grads: Vec<f32>,
}

impl Scratch {
    fn new(dims: &Dims) -> Self {
        let size = QUERY_BLOCK.min(dims.queries) * dims.keys;
        Scratch {
            scores: vec![0.0; size],
            grads: vec![0.0; size],
        }
    }

    /// The block's rows of `softmax(scale · Q Kᵗ)` over the keys it sees, a row's keys
    /// after its query zero.
    fn probabilities(&mut self, block: &Block, head: &Head, dims: &Dims) -> &[f32] {
        let seen = block.seen;
        let scores = &mut self.scores[..block.rows * seen];
        product(
            [block.rows, seen, dims.width],
            (&mut *scores, seen, false),
            (&head.query[block.start * dims.width..], dims.width, 1),
            (head.key, 1, dims.width),
        );
        for (row, scores) in scores.chunks_exact_mut(seen).enumerate() {
            let (visible, hidden) = scores.split_at_mut(dims.visible(block.start + row));
            hidden.fill(0.0);
            let max = scale_mask_max_f32(visible, None, dims.scale);
            let sum = exp_shifted_sum_f32(visible, max);
            scale_in_place(visible, 1.0 / sum);
        }
        scores
    }
}

/// Runs `task` on every head, in parallel where rayon is on, each with its own scratch
/// buffers and its own rows of every output.
fn for_each_head<const N: usize, F>(heads: usize, outputs: [&mut [f32]; N], dims: &Dims, task: F)
where
    F: Fn(usize, [&mut [f32]; N], &mut Scratch) + Send + Sync,
{
    if heads == 0 || outputs.iter().any(|output| output.is_empty()) {
        return; // no query or no key: the outputs stay zero
    }
    let mut chunks = outputs.map(|output| {
        let per_head = output.len() / heads;
        output.chunks_mut(per_head)
    });
    let tasks: Vec<[&mut [f32]; N]> = (0..heads)
        .map(|_| {
            chunks
                .each_mut()
                .map(|chunks| chunks.next().expect("every output has a chunk a head"))
        })
        .collect();
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        tasks.into_par_iter().enumerate().for_each_init(
            || Scratch::new(dims),
            |scratch, (head, outputs)| task(head, outputs, scratch),
        );
    }
    #[cfg(not(feature = "rayon"))]
    {
        let mut scratch = Scratch::new(dims);
        for (head, outputs) in tasks.into_iter().enumerate() {
            task(head, outputs, &mut scratch);
        }
    }
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`, one thread, for
/// `[rows, cols, inner]`: `dst` given with its row stride, `lhs` and `rhs` with their
/// row and column strides (a transposed operand swaps them).
fn product(
    [rows, cols, inner]: [usize; 3],
    (dst, dst_row_stride, accumulate): (&mut [f32], usize, bool),
    (lhs, lhs_row_stride, lhs_col_stride): (&[f32], usize, usize),
    (rhs, rhs_row_stride, rhs_col_stride): (&[f32], usize, usize),
) {
    if rows == 0 || cols == 0 {
        return;
    }
    // Whether a `[rows, cols]` matrix of these strides lies in `len` elements.
    let fits = |len: usize, rows: usize, cols: usize, row_stride: usize, col_stride: usize| {
        (rows - 1) * row_stride + (cols - 1) * col_stride < len
    };
    // What makes the raw pointers below sound: every element gemm touches is in its
    // slice (with no inner dimension it reads no operand, and writes zeros or nothing).
    assert!(
        fits(dst.len(), rows, cols, dst_row_stride, 1)
            && (inner == 0
                || fits(lhs.len(), rows, inner, lhs_row_stride, lhs_col_stride)
                    && fits(rhs.len(), inner, cols, rhs_row_stride, rhs_col_stride)),
        "attention block product out of its buffers"
    );
    // SAFETY: the pointers are valid for the extents checked above, and `dst` is a
    // unique borrow that overlaps neither operand.
    unsafe {
        f32::block_gemm(BlockGemmArgs {
            m: rows,
            n: cols,
            k: inner,
            dst: dst.as_mut_ptr(),
            dst_cs: 1,
            dst_rs: dst_row_stride as isize,
            read_dst: accumulate,
            lhs: lhs.as_ptr(),
            lhs_cs: lhs_col_stride as isize,
            lhs_rs: lhs_row_stride as isize,
            rhs: rhs.as_ptr(),
            rhs_cs: rhs_col_stride as isize,
            rhs_rs: rhs_row_stride as isize,
            alpha: 1.0,
            beta: 1.0,
        });
    }
}

fn tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(burn_std::Shape::from(shape.to_vec())),
        DType::F32,
    )
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn scale_in_place(values: &mut [f32], factor: f32) {
    for value in values {
        *value *= factor;
    }
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `dP` becomes `dS = scale · P ∘ (dP − term)`, a row at a time.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn softmax_grad(grads: &mut [f32], probabilities: &[f32], term: f32, scale: f32) {
    for (grad, probability) in grads.iter_mut().zip(probabilities) {
        *grad = scale * probability * (*grad - term);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Attention and its gradients for one head, dense and in f64, written from the
    /// definitions: `dS = P ∘ (dP − rowsum(P ∘ dP))`, where the kernel takes the row
    /// term from `dO ∘ O`.
    fn dense_head(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        d_o: &[f32],
        [queries, keys, width, value_width]: [usize; 4],
        causal: bool,
    ) -> [Vec<f64>; 4] {
        let scale = 1.0 / (width as f64).sqrt();
        let offset = keys as isize - queries as isize;
        let mut p = vec![0.0f64; queries * keys];
        for i in 0..queries {
            let seen = if causal {
                (i as isize + offset + 1).clamp(0, keys as isize) as usize
            } else {
                keys
            };
            if seen == 0 {
                continue;
            }
            let scores: Vec<f64> = (0..seen)
                .map(|j| {
                    scale
                        * (0..width)
                            .map(|c| q[i * width + c] as f64 * k[j * width + c] as f64)
                            .sum::<f64>()
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = scores.iter().map(|s| (s - max).exp()).sum();
            for (j, s) in scores.iter().enumerate() {
                p[i * keys + j] = (s - max).exp() / sum;
            }
        }
        let mut o = vec![0.0; queries * value_width];
        let mut d_v = vec![0.0; keys * value_width];
        let mut d_q = vec![0.0; queries * width];
        let mut d_k = vec![0.0; keys * width];
        for i in 0..queries {
            let d_p: Vec<f64> = (0..keys)
                .map(|j| {
                    (0..value_width)
                        .map(|c| d_o[i * value_width + c] as f64 * v[j * value_width + c] as f64)
                        .sum()
                })
                .collect();
            let term: f64 = (0..keys).map(|j| p[i * keys + j] * d_p[j]).sum();
            for j in 0..keys {
                let pij = p[i * keys + j];
                let d_s = pij * (d_p[j] - term);
                for c in 0..value_width {
                    o[i * value_width + c] += pij * v[j * value_width + c] as f64;
                    d_v[j * value_width + c] += pij * d_o[i * value_width + c] as f64;
                }
                for c in 0..width {
                    d_q[i * width + c] += scale * d_s * k[j * width + c] as f64;
                    d_k[j * width + c] += scale * d_s * q[i * width + c] as f64;
                }
            }
        }
        [o, d_q, d_k, d_v]
    }

    fn assert_close(label: &str, got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{label}: length");
        let largest = want.iter().fold(1e-3f64, |m, w| m.max(w.abs()));
        for (at, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * largest.max(1.0),
                "{label}[{at}]: {g} against {w}"
            );
        }
    }

    /// The `[batch, heads, rows, columns]` values of `data` as a tensor, contiguous or
    /// (`strided`) as a view of positions first, each row padded with NaN on both sides
    /// (a start offset, a row stride over all heads): how the query, key and value lie
    /// once split from one projection and swapped to heads first.
    fn laid_out(
        data: &[f32],
        [batch, heads, rows, columns]: [usize; 4],
        strided: bool,
    ) -> FlexTensor {
        if !strided {
            return tensor(data.to_vec(), [batch, heads, rows, columns]);
        }
        let padded = columns + 2;
        let mut buffer = vec![f32::NAN; batch * rows * heads * padded];
        for b in 0..batch {
            for h in 0..heads {
                for r in 0..rows {
                    for c in 0..columns {
                        buffer[((b * rows + r) * heads + h) * padded + 1 + c] =
                            data[((b * heads + h) * rows + r) * columns + c];
                    }
                }
            }
        }
        let layout = Layout::contiguous(burn_std::Shape::from(vec![batch, rows, heads, padded]))
            .narrow(3, 1, columns)
            .transpose(1, 2);
        FlexTensor::new(Bytes::from_elems(buffer), layout, DType::F32)
    }

    /// Forward and backward against the dense definitions, for causal sequences that
    /// span several blocks and end in a partial one, with more keys than queries (a
    /// cache) and fewer (queries that see nothing), and without the causal mask; the
    /// inputs contiguous, and strided views.
    #[test]
    fn blocks_match_the_dense_definitions() {
        let (batch, heads, width, value_width) = (2, 3, 8, 5);
        let cases = [
            (150, 150, true),
            (130, 170, true),
            (170, 130, true),
            (70, 90, false),
            (1, 33, false),
            (3, 0, false),
        ];
        for ((queries, keys, causal), strided) in cases
            .into_iter()
            .flat_map(|case| [(case, false), (case, true)])
        {
            let label =
                format!("{queries} queries, {keys} keys, causal {causal}, strided {strided}");
            let count = batch * heads;
            let q = values(count * queries * width, 1);
            let k = values(count * keys * width, 2);
            let v = values(count * keys * value_width, 3);
            let d_o = values(count * queries * value_width, 4);
            let flex = |data: &[f32], rows: usize, columns: usize| {
                laid_out(data, [batch, heads, rows, columns], strided)
            };
            let options = AttentionModuleOptions {
                scale: None,
                softcap: None,
                is_causal: causal,
            };
            let (query, key, value) = (
                flex(&q, queries, width),
                flex(&k, keys, width),
                flex(&v, keys, value_width),
            );
            assert!(applies(&query, &key, &value, false, &options));
            let output = forward(query.clone(), key.clone(), value.clone(), options);
            let grads = backward(
                query,
                key,
                value,
                output.clone(),
                flex(&d_o, queries, value_width),
                options,
            );
            let mut want: [Vec<f64>; 4] = Default::default();
            for head in 0..count {
                let rows = |data: &[f32], count: usize, width: usize| {
                    data[head * count * width..][..count * width].to_vec()
                };
                let dense = dense_head(
                    &rows(&q, queries, width),
                    &rows(&k, keys, width),
                    &rows(&v, keys, value_width),
                    &rows(&d_o, queries, value_width),
                    [queries, keys, width, value_width],
                    causal,
                );
                for (all, part) in want.iter_mut().zip(dense) {
                    all.extend(part);
                }
            }
            let [o, d_q, d_k, d_v] = &want;
            assert_close(&format!("output, {label}"), output.storage(), o);
            assert_close(&format!("query grad, {label}"), grads[0].storage(), d_q);
            assert_close(&format!("key grad, {label}"), grads[1].storage(), d_k);
            assert_close(&format!("value grad, {label}"), grads[2].storage(), d_v);
        }
    }
}
