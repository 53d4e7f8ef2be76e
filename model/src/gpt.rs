//! The GPT, readable in one sitting: token and position embeddings, pre-LayerNorm blocks
//! of causal self-attention and an MLP, a final norm and the head that predicts the next
//! byte.

use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, LayerNorm, LayerNormConfig,
    Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::activation::{gelu, log_softmax};

use crate::attention::{CausalSelfAttention, LayerCache};
use crate::config::GptConfig;
use crate::precision::{Products, linear};

/// A GPT over byte tokens.
#[derive(Module, Debug)]
pub struct Gpt {
    token_embedding: Embedding,
    position_embedding: Embedding,
    dropout: Dropout,
    blocks: Vec<Block>,
    final_norm: LayerNorm,
    head: Linear,
    context: usize,
    /// How the linear layers and attention multiply: a run-time choice, not stored with
    /// the weights.
    #[module(skip)]
    products: Products,
}

#[derive(Module, Debug)]
struct Block {
    attention_norm: LayerNorm,
    attention: CausalSelfAttention,
    mlp_norm: LayerNorm,
    mlp: Mlp,
}

#[derive(Module, Debug)]
struct Mlp {
    expand: Linear,
    project: Linear,
    dropout: Dropout,
}

/// Every block's keys and values for a batch being decoded one step at a time.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<LayerCache>>,
    seen: usize,
}

impl KvCache {
    /// An empty cache for a model with `layers` blocks.
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![None; layers],
            seen: 0,
        }
    }

    /// Positions already in the cache.
    pub fn seen(&self) -> usize {
        self.seen
    }
}

impl Gpt {
    /// A freshly initialised model (GPT-2's initialisation: normal(0, 0.02), residual
    /// projections scaled by 1/sqrt(2 * layers)).
    pub fn new(config: &GptConfig, device: &Device) -> Self {
        let normal = |std| Initializer::Normal { mean: 0.0, std };
        let residual_std = 0.02 / (2.0 * config.layers as f64).sqrt();
        let width = config.width;
        let blocks = (0..config.layers)
            .map(|_| Block {
                attention_norm: LayerNormConfig::new(width).init(device),
                attention: CausalSelfAttention::new(
                    width,
                    config.heads,
                    config.dropout,
                    residual_std,
                    device,
                ),
                mlp_norm: LayerNormConfig::new(width).init(device),
                mlp: Mlp {
                    expand: LinearConfig::new(width, 4 * width)
                        .with_initializer(normal(0.02))
                        .init(device),
                    project: LinearConfig::new(4 * width, width)
                        .with_initializer(normal(residual_std))
                        .init(device),
                    dropout: DropoutConfig::new(config.dropout).init(),
                },
            })
            .collect();
        Gpt {
            token_embedding: EmbeddingConfig::new(config.vocab_size, width)
                .with_initializer(normal(0.02))
                .init(device),
            position_embedding: EmbeddingConfig::new(config.context, width)
                .with_initializer(normal(0.02))
                .init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
            blocks,
            final_norm: LayerNormConfig::new(width).init(device),
            head: LinearConfig::new(width, config.vocab_size)
                .with_initializer(normal(0.02))
                .init(device),
            context: config.context,
            products: Products::Stored,
        }
    }

    /// The model with its linear layers and attention multiplying as `products` says
    /// (mixed precision: [`Products::Bf16`]).
    pub fn with_products(mut self, products: Products) -> Self {
        self.products = products;
        self
    }

    /// Transformer blocks.
    pub fn layers(&self) -> usize {
        self.blocks.len()
    }

    /// The longest sequence the model attends over.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Next-token logits, `[batch, tokens, vocab]`, for `tokens` (`[batch, tokens]`).
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.forward_from(tokens, 0, None)
    }

    /// Logits for `tokens` that continue the sequence in `cache`, which is extended.
    /// Equal (up to rounding) to the last rows of a full recompute.
    pub fn forward_cached(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<3> {
        let start = cache.seen;
        cache.seen += tokens.dims()[1];
        self.forward_from(tokens, start, Some(&mut cache.layers))
    }

    fn forward_from(
        &self,
        tokens: Tensor<2, Int>,
        start: usize,
        mut cache: Option<&mut Vec<Option<LayerCache>>>,
    ) -> Tensor<3> {
        let [batch, length] = tokens.dims();
        assert!(
            start + length <= self.context,
            "{} positions do not fit the context of {}",
            start + length,
            self.context
        );
        let device = tokens.device();
        let positions = Tensor::<1, Int>::arange(start as i64..(start + length) as i64, &device)
            .reshape([1, length]);
        let mut x = self.token_embedding.forward(tokens)
            + self
                .position_embedding
                .forward(positions)
                .expand([batch, length, self.width()]);
        x = self.dropout.forward(x);
        for (index, block) in self.blocks.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|layers| &mut layers[index]);
            x = block.forward(x, layer_cache, self.products);
        }
        linear(&self.head, self.final_norm.forward(x), self.products)
    }

    /// Mean negative log-likelihood (nats per token) of `targets` given `tokens`, over
    /// the positions where `weights` (`[batch, tokens]`, 0 or 1) is 1.
    pub fn loss(
        &self,
        tokens: Tensor<2, Int>,
        targets: Tensor<2, Int>,
        weights: Tensor<2>,
    ) -> Tensor<1> {
        let nll = -self.log_likelihood(tokens, targets);
        let total = weights.clone().sum().clamp_min(1.0);
        (nll * weights).sum() / total
    }

    /// Log-probability of each target token, `[batch, tokens]`.
    pub fn log_likelihood(&self, tokens: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<2> {
        let [batch, length] = targets.dims();
        let log_probs = log_softmax(self.forward(tokens), 2);
        log_probs
            .gather(2, targets.reshape([batch, length, 1]))
            .reshape([batch, length])
    }

    fn width(&self) -> usize {
        self.final_norm.gamma.val().dims()[0]
    }
}

impl Block {
    fn forward(
        &self,
        x: Tensor<3>,
        cache: Option<&mut Option<LayerCache>>,
        products: Products,
    ) -> Tensor<3> {
        let x = x.clone()
            + self
                .attention
                .forward(self.attention_norm.forward(x), cache, products);
        x.clone() + self.mlp.forward(self.mlp_norm.forward(x), products)
    }
}

impl Mlp {
    fn forward(&self, x: Tensor<3>, products: Products) -> Tensor<3> {
        let expanded = linear(&self.expand, x, products);
        let activated = crate::cpu_kernels::gelu(&expanded).unwrap_or_else(|| gelu(expanded));
        self.dropout
            .forward(linear(&self.project, activated, products))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// burn's layer norm under autodiff takes the patched backward pass
    /// (`vendor/burn-autodiff`), which keeps the input and recomputes the row statistics;
    /// its values and gradients must be those of the plain decomposition.
    #[test]
    fn layer_norm_backward_matches_the_decomposition() {
        let device = Device::flex().autodiff();
        device.seed(7);
        let normal = Distribution::Normal(0.0, 1.0);
        // Rows of a wide offset and spread, as a residual stream has.
        let input = Tensor::<3>::random([3, 17, 48], Distribution::Normal(2.0, 5.0), &device)
            .require_grad();
        let gamma = Tensor::<1>::random([48], normal, &device).require_grad();
        let beta = Tensor::<1>::random([48], normal, &device).require_grad();
        let weights = Tensor::<3>::random([3, 17, 48], normal, &device);
        let epsilon = 1e-5;

        let patched = burn::tensor::module::layer_norm(
            input.clone(),
            gamma.clone(),
            Some(beta.clone()),
            epsilon,
        );
        let centred = input.clone() - input.clone().mean_dim(2);
        let variance = (centred.clone() * centred.clone()).mean_dim(2);
        let decomposed = centred / (variance + epsilon).sqrt() * gamma.clone().reshape([1, 1, 48])
            + beta.clone().reshape([1, 1, 48]);

        let largest = |tensor: Tensor<3>| tensor.abs().max().into_scalar::<f32>();
        let value_difference = largest(patched.clone() - decomposed.clone());
        assert!(value_difference < 1e-5, "values: {value_difference}");
        let patched_grads = (patched * weights.clone()).sum().backward();
        let decomposed_grads = (decomposed * weights).sum().backward();
        let input_grads = [&patched_grads, &decomposed_grads]
            .map(|grads| input.grad(grads).expect("an input gradient"));
        let [patched_input, decomposed_input] = input_grads;
        let scale = largest(decomposed_input.clone());
        let difference = largest(patched_input - decomposed_input);
        assert!(
            scale > 0.0 && difference < 1e-5 * scale.max(1.0),
            "input gradient: {difference} of {scale}"
        );
        for (name, parameter) in [("gamma", &gamma), ("beta", &beta)] {
            let [patched, decomposed] = [&patched_grads, &decomposed_grads]
                .map(|grads| parameter.grad(grads).expect("a parameter gradient"));
            let scale = decomposed.clone().abs().max().into_scalar::<f32>();
            let difference = (patched - decomposed).abs().max().into_scalar::<f32>();
            assert!(
                scale > 0.0 && difference < 1e-5 * scale.max(1.0),
                "{name} gradient: {difference} of {scale}"
            );
        }
    }
}
