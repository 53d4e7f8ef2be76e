//! GELU for inference, vectorised and spread over the cores. burn-flex maps libm's scalar
//! `erff` over the MLP's whole `[batch, tokens, 4 × width]` activation on one core: a
//! fifth of `small`'s scoring time by `perf` once attention was fast.

use rayon::prelude::*;

use multiversion::multiversion;

use super::vector_math::erf;

/// Elements per parallel task: large enough to amortise a task, small enough to spread
/// one layer's activation over every core.
const CHUNK: usize = 1 << 14;

/// `x = x/2 · (1 + erf(x/√2))` for every element (GELU exactly as PyTorch's default,
/// not its tanh approximation).
pub fn gelu_in_place(values: &mut [f32]) {
    values.par_chunks_mut(CHUNK).for_each(gelu_chunk);
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn gelu_chunk(values: &mut [f32]) {
    for x in values.iter_mut() {
        *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_burns_gelu() {
        use burn::prelude::*;
        let device = Device::flex();
        let inputs: Vec<f32> = (-40_000..40_000).map(|i| i as f32 / 4_000.0).collect();
        let expected =
            burn::tensor::activation::gelu(Tensor::<1>::from_floats(inputs.as_slice(), &device))
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32");
        let mut ours = inputs;
        gelu_in_place(&mut ours);
        let worst = ours
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 2e-6, "largest difference {worst}");
    }
}
