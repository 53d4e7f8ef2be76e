//! Attention with a backward pass of its own (cyberlm's patch, `vendor/README.md`).
//!
//! Upstream 0.22.1 differentiates `attention` by running `attention_fallback` on the
//! autodiff backend: every intermediate of the decomposition (scores, mask fill, the
//! softmax's exponentials and quotient) is a tracked node kept until the backward pass,
//! several `[batch, heads, queries, keys]` tensors per layer. Here the forward pass is the
//! inner backend's own `attention` (a fused or flash kernel where it has one) and keeps
//! only the query, keys, values and output; the backward pass is the inner backend's
//! `attention_backward` where it has one (burn-flex's for f32, also patched), else it
//! recomputes the probabilities a block of queries at a time with the backend's tensor
//! operations, as FlashAttention's backward does, so at most one block's scores are
//! alive at once, and a causal block skips the keys after its last query.

use crate::Autodiff;
use crate::checkpoint::base::Checkpointer;
use crate::checkpoint::strategy::CheckpointStrategy;
use crate::grads::Gradients;
use crate::graph::NodeId;
use crate::ops::{Backward, Ops, OpsKind};
use crate::tensor::AutodiffTensor;

use alloc::vec::Vec;
use burn_backend::ops::AttentionModuleOptions;
use burn_backend::ops::attention::attention_fallback;
use burn_backend::tensor::{BoolTensor, FloatTensor};
use burn_backend::{Backend, TensorMetadata, get_or_init_device_settings};
use burn_std::{Shape, Slice};

/// Score elements (`batch × heads × queries × keys`) one block of the backward pass
/// computes at once: 128 MiB of f32. A block holds about four tensors of this size
/// (probabilities, their gradient, the scores' gradient and a product's output).
const BLOCK_SCORES: usize = 1 << 25;

/// Attention over autodiff tensors: see the module's documentation. A bias or a softcap
/// still takes upstream's differentiated fallback.
pub(crate) fn attention<B: Backend, C: CheckpointStrategy>(
    query: AutodiffTensor<B>,
    key: AutodiffTensor<B>,
    value: AutodiffTensor<B>,
    mask: Option<BoolTensor<B>>,
    attn_bias: Option<AutodiffTensor<B>>,
    options: AttentionModuleOptions,
) -> AutodiffTensor<B> {
    if attn_bias.is_some() || options.softcap.is_some() {
        return attention_fallback::<Autodiff<B, C>>(query, key, value, mask, attn_bias, options);
    }

    #[derive(Debug)]
    struct Attention;

    impl<B: Backend> Backward<B, 3> for Attention {
        type State = (
            NodeId,
            NodeId,
            NodeId,
            FloatTensor<B>,
            Option<BoolTensor<B>>,
            AttentionModuleOptions,
        );

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_query, node_key, node_value] = ops.parents;
            let output_grad = grads.consume::<B>(&ops.node);
            let (query_state, key_state, value_state, output, mask, options) = ops.state;
            let query: FloatTensor<B> = checkpointer.retrieve_node_output(query_state);
            let key: FloatTensor<B> = checkpointer.retrieve_node_output(key_state);
            let value: FloatTensor<B> = checkpointer.retrieve_node_output(value_state);

            // The backend's fused kernel where it has one, else blocks of tensor ops.
            let [query_grad, key_grad, value_grad] = B::attention_backward(
                query.clone(),
                key.clone(),
                value.clone(),
                output.clone(),
                output_grad.clone(),
                mask.clone(),
                options,
            )
            .unwrap_or_else(|| {
                attention_backward::<B>(query, key, value, output, output_grad, mask, options)
            });
            for (node, grad) in [
                (node_query, query_grad),
                (node_key, key_grad),
                (node_value, value_grad),
            ] {
                if let Some(node) = node {
                    grads.register::<B>(node.id, grad);
                }
            }
        }
    }

    match Attention
        .prepare::<C>([query.node(), key.node(), value.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let query_state = prep.checkpoint(&query);
            let key_state = prep.checkpoint(&key);
            let value_state = prep.checkpoint(&value);
            let output = B::attention(
                query.primitive,
                key.primitive,
                value.primitive,
                mask.clone(),
                None,
                options,
            );
            prep.finish(
                (
                    query_state,
                    key_state,
                    value_state,
                    output.clone(),
                    mask,
                    options,
                ),
                output,
            )
        }
        OpsKind::UnTracked(prep) => prep.finish(B::attention(
            query.primitive,
            key.primitive,
            value.primitive,
            mask,
            None,
            options,
        )),
    }
}

/// The gradients of the query, keys and values, a block of queries at a time. With
/// `P = softmax(scale · Q Kᵗ)` (masked) and `O = P V`:
/// `dV = Pᵗ dO`, `dS = P ∘ (dO Vᵗ − rowsum(dO ∘ O))`, `dQ = scale · dS K`,
/// `dK = scale · dSᵗ Q`. Each block of queries recomputes its own rows of `P`.
fn attention_backward<B: Backend>(
    query: FloatTensor<B>,
    key: FloatTensor<B>,
    value: FloatTensor<B>,
    output: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    mask: Option<BoolTensor<B>>,
    options: AttentionModuleOptions,
) -> [FloatTensor<B>; 3] {
    let [batch, heads, queries, width] = query.shape().dims::<4>();
    let keys = key.shape().dims::<4>()[2];
    let device = query.device();
    let scale = options.scale.unwrap_or_else(|| 1.0 / (width as f64).sqrt());
    // rowsum(dO ∘ O) equals rowsum(P ∘ dP): the softmax backward's per-row term, taken
    // from the output so no block needs the whole row of P for it.
    let row_terms = B::float_sum_dim(B::float_mul(output_grad.clone(), output), 3);
    // Causal attention aligns its last query with its last key, as upstream's does.
    let offset = keys as i64 - queries as i64;
    let rows = (BLOCK_SCORES / (batch * heads * keys).max(1)).max(1);

    let mut key_grad = B::float_zeros(key.shape(), &device, key.dtype().into());
    let mut value_grad = B::float_zeros(value.shape(), &device, value.dtype().into());
    let mut query_grads = Vec::with_capacity(queries.div_ceil(rows));
    for start in (0..queries).step_by(rows) {
        let end = (start + rows).min(queries);
        let visible = if options.is_causal {
            (end as i64 + offset).clamp(0, keys as i64) as usize
        } else {
            keys
        };
        if visible == 0 {
            // Every key is in these rows' future: their output is zero, as is its gradient.
            let shape = Shape::new([batch, heads, end - start, width]);
            query_grads.push(B::float_zeros(shape, &device, query.dtype().into()));
            continue;
        }
        let block_query = narrowed::<B>(query.clone(), start..end);
        let block_keys = narrowed::<B>(key.clone(), 0..visible);
        let block_values = narrowed::<B>(value.clone(), 0..visible);
        let block_output_grad = narrowed::<B>(output_grad.clone(), start..end);
        let block_terms = narrowed::<B>(row_terms.clone(), start..end);

        let scores = B::float_mul_scalar(
            B::float_matmul(block_query.clone(), B::float_transpose(block_keys.clone())),
            scale.into(),
        );
        let scores = match &mask {
            Some(mask) => {
                let block_mask = bool_block::<B>(mask.clone(), start..end, visible);
                B::float_mask_fill(scores, block_mask, f32::NEG_INFINITY.into())
            }
            None => scores,
        };
        let scores = if options.is_causal {
            let future = causal_block_mask::<B>(batch, heads, start..end, visible, offset, &device);
            B::float_mask_fill(scores, future, f32::NEG_INFINITY.into())
        } else {
            scores
        };
        let probabilities = softmax_last_dim::<B>(scores);

        let block_value_grad = B::float_matmul(
            B::float_transpose(probabilities.clone()),
            block_output_grad.clone(),
        );
        value_grad = add_to_prefix::<B>(value_grad, visible, block_value_grad);

        let probability_grad = B::float_matmul(block_output_grad, B::float_transpose(block_values));
        let score_grad = B::float_mul_scalar(
            B::float_mul(probabilities, B::float_sub(probability_grad, block_terms)),
            scale.into(),
        );
        query_grads.push(B::float_matmul(score_grad.clone(), block_keys));
        let block_key_grad = B::float_matmul(B::float_transpose(score_grad), block_query);
        key_grad = add_to_prefix::<B>(key_grad, visible, block_key_grad);
    }
    [B::float_cat(query_grads, 2), key_grad, value_grad]
}

/// The slices of a `[batch, heads, positions, last]` tensor of shape `dims` that keep
/// `positions` along dimension 2 and `last` along dimension 3, the rest whole.
fn window(
    dims: [usize; 4],
    positions: core::ops::Range<usize>,
    last: core::ops::Range<usize>,
) -> [Slice; 4] {
    [
        Slice::from(0..dims[0]),
        Slice::from(0..dims[1]),
        Slice::from(positions),
        Slice::from(last),
    ]
}

/// `tensor` (`[batch, heads, positions, width]`) restricted to `positions`.
fn narrowed<B: Backend>(
    tensor: FloatTensor<B>,
    positions: core::ops::Range<usize>,
) -> FloatTensor<B> {
    let dims = tensor.shape().dims::<4>();
    if positions == (0..dims[2]) {
        return tensor;
    }
    B::float_slice(tensor, &window(dims, positions, 0..dims[3]))
}

/// The rows `rows` and first `visible` keys of a `[batch, heads, queries, keys]` mask
/// (whose batch and head dimensions may be broadcast, of size one).
fn bool_block<B: Backend>(
    mask: BoolTensor<B>,
    rows: core::ops::Range<usize>,
    visible: usize,
) -> BoolTensor<B> {
    let dims = mask.shape().dims::<4>();
    if rows == (0..dims[2]) && visible == dims[3] {
        return mask;
    }
    B::bool_slice(mask, &window(dims, rows, 0..visible))
}

/// `true` where query `row` (of `rows`) must not see key `col` (of the first `visible`):
/// `col > row + offset`.
fn causal_block_mask<B: Backend>(
    batch: usize,
    heads: usize,
    rows: core::ops::Range<usize>,
    visible: usize,
    offset: i64,
    device: &B::Device,
) -> BoolTensor<B> {
    let settings = get_or_init_device_settings::<B>(device);
    let count = rows.end - rows.start;
    let rows = B::int_reshape(
        B::int_arange(
            rows.start as i64 + offset..rows.end as i64 + offset,
            device,
            settings.int_dtype,
        ),
        Shape::new([count, 1]),
    );
    let cols = B::int_reshape(
        B::int_arange(0..visible as i64, device, settings.int_dtype),
        Shape::new([1, visible]),
    );
    let future = B::int_lower(rows, cols, settings.bool_dtype);
    let future = B::bool_reshape(future, Shape::new([1, 1, count, visible]));
    B::bool_expand(future, Shape::new([batch, heads, count, visible]))
}

/// Softmax over the last dimension, a row whose every score is masked giving zeros (as
/// upstream's fallback does, clamping the maximum and the sum).
fn softmax_last_dim<B: Backend>(scores: FloatTensor<B>) -> FloatTensor<B> {
    let finfo = scores.dtype().finfo().expect("attention scores are floats");
    let max = B::float_clamp_min(B::float_max_dim(scores.clone(), 3), finfo.min.into());
    let exponentials = B::float_exp(B::float_sub(scores, max));
    let sum = B::float_clamp_min(
        B::float_sum_dim(exponentials.clone(), 3),
        finfo.min_positive.into(),
    );
    B::float_div(exponentials, sum)
}

/// `total` with `part` added to its first `length` positions along dimension 2.
fn add_to_prefix<B: Backend>(
    total: FloatTensor<B>,
    length: usize,
    part: FloatTensor<B>,
) -> FloatTensor<B> {
    let dims = total.shape().dims::<4>();
    if length == dims[2] {
        return B::float_add(total, part);
    }
    let prefix = window(dims, 0..length, 0..dims[3]);
    let sum = B::float_add(B::float_slice(total.clone(), &prefix), part);
    B::float_slice_assign(total, &prefix, sum)
}
