//! Mixed precision: weights, the residual stream, layer norms, the loss and optimizer
//! state stay in the device's float type (f32), and the linear layers and attention
//! multiply in bfloat16, as PyTorch's autocast to bf16 does. A GPU's tensor cores then do
//! the bulk of the arithmetic at bf16 speed while AdamW's small updates are still added
//! to f32 weights, which pure bf16 (every tensor, `--float bf16`) loses to rounding.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

/// The float type the linear layers and attention multiply in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Products {
    /// In the device's float type, as the weights are stored.
    #[default]
    Stored,
    /// In bfloat16: inputs, weight and bias cast down, the result cast back up.
    Bf16,
}

impl Products {
    /// `tensor` as an operand of these products: cast down to bf16 for [`Products::Bf16`]
    /// (unless it is already), as it is otherwise.
    pub fn operand<const D: usize>(self, tensor: Tensor<D>) -> Tensor<D> {
        match self {
            Products::Bf16 if tensor.dtype() != DType::BF16 => tensor.cast(FloatDType::BF16),
            Products::Bf16 | Products::Stored => tensor,
        }
    }
}

/// `layer` applied to `input`, its product computed as `products` says and returned in
/// the layer's stored float type. The casts are differentiable, so gradients reach the
/// f32 weights through them.
pub fn linear<const D: usize>(layer: &Linear, input: Tensor<D>, products: Products) -> Tensor<D> {
    match products {
        Products::Stored => layer.forward(input),
        Products::Bf16 => {
            let weight = layer.weight.val();
            let stored = weight.dtype();
            let bias = layer.bias.as_ref().map(|bias| products.operand(bias.val()));
            let input = products.operand(input);
            burn::tensor::module::linear(input, products.operand(weight), bias).cast(stored)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    #[test]
    fn bf16_products_agree_with_f32_to_bf16_precision_and_pass_gradients() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let layer = LinearConfig::new(64, 32).init(&device);
        let normal = burn::tensor::Distribution::Normal(0.0, 1.0);
        let input = Tensor::<3>::random([2, 5, 64], normal, &device).require_grad();
        let exact = linear(&layer, input.clone(), Products::Stored);
        let mixed = linear(&layer, input.clone(), Products::Bf16);
        assert_eq!(mixed.dtype(), burn::tensor::DType::F32, "cast back up");
        let largest = |tensor: Tensor<3>| tensor.abs().max().into_scalar::<f32>();
        // bf16 keeps 8 bits of mantissa: a relative error near 2^-8 per term.
        let relative = largest(mixed.clone() - exact.clone()) / largest(exact.clone());
        assert!(relative < 0.02, "relative difference {relative}");
        assert!(relative > 0.0, "the product was not computed in bf16");
        let weight_gradient = |output: Tensor<3>| {
            let gradients = output.sum().backward();
            layer.weight.grad(&gradients).expect("a weight gradient")
        };
        let (exact, mixed) = (weight_gradient(exact), weight_gradient(mixed));
        assert_eq!(mixed.dtype(), burn::tensor::DType::F32, "f32 gradients");
        let difference = (mixed - exact.clone()).abs().max().into_scalar::<f32>();
        let scale = exact.abs().max().into_scalar::<f32>();
        assert!(
            difference / scale < 0.02,
            "gradient {difference} of {scale}"
        );
    }
}
