//! Layer normalisation with a backward pass of its own (cyberlm's patch,
//! `vendor/README.md`).
//!
//! Upstream 0.22.1 has no `layer_norm` for the autodiff backend, so the trait's default
//! decomposition runs on it: its mean, centring, square, variance, square root, quotient,
//! scale and shift are each a tracked node, and the centred input and the normalised one
//! (both the input's full size) are kept until the backward pass. Here the forward pass is
//! the inner backend's own `layer_norm` (one fused kernel where it has one) and keeps only
//! the input and the scale; the backward pass recomputes the row statistics.

use crate::checkpoint::base::Checkpointer;
use crate::checkpoint::strategy::CheckpointStrategy;
use crate::grads::Gradients;
use crate::graph::{NodeId, NodeRef};
use crate::ops::{Backward, Ops, OpsKind};
use crate::tensor::AutodiffTensor;

use burn_backend::tensor::FloatTensor;
use burn_backend::{Backend, TensorMetadata};
use burn_std::Shape;

/// Layer normalisation over the last dimension of autodiff tensors: see the module's
/// documentation.
pub(crate) fn layer_norm<B: Backend, C: CheckpointStrategy>(
    tensor: AutodiffTensor<B>,
    gamma: AutodiffTensor<B>,
    beta: Option<AutodiffTensor<B>>,
    epsilon: f64,
) -> AutodiffTensor<B> {
    #[derive(Debug)]
    struct LayerNormWithBeta;
    #[derive(Debug)]
    struct LayerNormNoBeta;

    impl<B: Backend> Backward<B, 3> for LayerNormWithBeta {
        type State = (NodeId, NodeId, f64);

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_tensor, node_gamma, node_beta] = ops.parents;
            let output_grad = grads.consume::<B>(&ops.node);
            let (tensor_state, gamma_state, epsilon) = ops.state;
            if let Some(node) = node_beta {
                grads.register::<B>(node.id, sum_over_rows::<B>(output_grad.clone()));
            }
            register_tensor_and_gamma::<B>(
                [node_tensor, node_gamma],
                checkpointer.retrieve_node_output(tensor_state),
                checkpointer.retrieve_node_output(gamma_state),
                output_grad,
                epsilon,
                grads,
            );
        }
    }

    impl<B: Backend> Backward<B, 2> for LayerNormNoBeta {
        type State = (NodeId, NodeId, f64);

        fn backward(
            self,
            ops: Ops<Self::State, 2>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let output_grad = grads.consume::<B>(&ops.node);
            let (tensor_state, gamma_state, epsilon) = ops.state;
            register_tensor_and_gamma::<B>(
                ops.parents,
                checkpointer.retrieve_node_output(tensor_state),
                checkpointer.retrieve_node_output(gamma_state),
                output_grad,
                epsilon,
                grads,
            );
        }
    }

    match beta {
        Some(beta) => match LayerNormWithBeta
            .prepare::<C>([tensor.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let tensor_state = prep.checkpoint(&tensor);
                let gamma_state = prep.checkpoint(&gamma);
                let output = B::layer_norm(
                    tensor.primitive,
                    gamma.primitive,
                    Some(beta.primitive),
                    epsilon,
                );
                prep.finish((tensor_state, gamma_state, epsilon), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::layer_norm(
                tensor.primitive,
                gamma.primitive,
                Some(beta.primitive),
                epsilon,
            )),
        },
        None => match LayerNormNoBeta
            .prepare::<C>([tensor.node(), gamma.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let tensor_state = prep.checkpoint(&tensor);
                let gamma_state = prep.checkpoint(&gamma);
                let output = B::layer_norm(tensor.primitive, gamma.primitive, None, epsilon);
                prep.finish((tensor_state, gamma_state, epsilon), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::layer_norm(
                tensor.primitive,
                gamma.primitive,
                None,
                epsilon,
            )),
        },
    }
}

/// Registers the gradients of the input and the scale. With `x̂ = (x − μ) · r`,
/// `r = 1 / √(σ² + ε)` per row and `g = dy ∘ γ`:
/// `dx = r · (g − mean(g) − x̂ ∘ mean(g ∘ x̂))` and `dγ = Σ_rows dy ∘ x̂`.
fn register_tensor_and_gamma<B: Backend>(
    [node_tensor, node_gamma]: [Option<NodeRef>; 2],
    tensor: FloatTensor<B>,
    gamma: FloatTensor<B>,
    output_grad: FloatTensor<B>,
    epsilon: f64,
    grads: &mut Gradients,
) {
    let shape = tensor.shape();
    let last = shape.num_dims() - 1;
    let mean = B::float_mean_dim(tensor.clone(), last);
    let centred = B::float_sub(tensor, mean);
    let variance = B::float_mean_dim(B::float_mul(centred.clone(), centred.clone()), last);
    let reciprocal_std =
        B::float_recip(B::float_sqrt(B::float_add_scalar(variance, epsilon.into())));
    let normalised = B::float_mul(centred, reciprocal_std.clone());

    if let Some(node) = node_gamma {
        let weighted = B::float_mul(output_grad.clone(), normalised.clone());
        grads.register::<B>(node.id, sum_over_rows::<B>(weighted));
    }
    if let Some(node) = node_tensor {
        let width = shape[last];
        let broadcast = Shape::from(
            (0..=last)
                .map(|dim| if dim == last { width } else { 1 })
                .collect::<alloc::vec::Vec<_>>(),
        );
        let scaled_grad = B::float_mul(output_grad, B::float_reshape(gamma, broadcast));
        let mean_grad = B::float_mean_dim(scaled_grad.clone(), last);
        let projection =
            B::float_mean_dim(B::float_mul(scaled_grad.clone(), normalised.clone()), last);
        let centred_grad = B::float_sub(
            B::float_sub(scaled_grad, mean_grad),
            B::float_mul(normalised, projection),
        );
        grads.register::<B>(node.id, B::float_mul(centred_grad, reciprocal_std));
    }
}

/// `tensor` summed over every dimension but the last, as a vector of the last's length
/// (the shape of the scale and the shift).
fn sum_over_rows<B: Backend>(tensor: FloatTensor<B>) -> FloatTensor<B> {
    let shape = tensor.shape();
    let width = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / width.max(1);
    let matrix = B::float_reshape(tensor, Shape::new([rows, width]));
    B::float_reshape(B::float_sum_dim(matrix, 0), Shape::new([width]))
}
