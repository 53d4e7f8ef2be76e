//! GELU, vectorised and spread over the cores. burn-flex maps libm's scalar `erff` over
//! the MLP's whole `[batch, tokens, 4 × width]` activation on one core: a fifth of
//! `small`'s scoring time by `perf` once attention was fast; in training, with its
//! backward (`erff` and `expf` again, scalar), 12% of `small`'s step.

use rayon::prelude::*;

use multiversion::multiversion;

use super::vector_math::{erf, exp_of_non_positive};

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

/// As [`gelu_in_place`], and returns GELU's derivative at each input,
/// `Φ(x) + x·φ(x)` (`Φ`, `φ`: the standard normal's distribution and density).
pub fn gelu_and_slope_in_place(values: &mut [f32]) -> Vec<f32> {
    let mut slopes = vec![0.0; values.len()];
    values
        .par_chunks_mut(CHUNK)
        .zip(slopes.par_chunks_mut(CHUNK))
        .for_each(|(values, slopes)| gelu_and_slope_chunk(values, slopes));
    slopes
}

#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn gelu_and_slope_chunk(values: &mut [f32], slopes: &mut [f32]) {
    // 1/√(2π)
    const DENSITY_SCALE: f32 = 0.398_942_3;
    for (x, slope) in values.iter_mut().zip(slopes.iter_mut()) {
        let distribution = 0.5 * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
        let density = DENSITY_SCALE * exp_of_non_positive(-0.5 * *x * *x);
        *slope = distribution + *x * density;
        *x *= distribution;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_kernels::vector_math::reference_erf;

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

    #[test]
    fn slope_is_gelus_derivative_and_values_are_gelus() {
        let inputs: Vec<f32> = (-2_000..2_000).map(|i| i as f32 / 200.0).collect();
        let mut values = inputs.clone();
        let slopes = gelu_and_slope_in_place(&mut values);
        let mut plain = inputs.clone();
        gelu_in_place(&mut plain);
        let distribution =
            |x: f64| 0.5 * (1.0 + reference_erf(x * std::f64::consts::FRAC_1_SQRT_2));
        let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        for ((x, slope), (value, plain)) in
            inputs.iter().zip(&slopes).zip(values.iter().zip(&plain))
        {
            assert_eq!(value, plain, "value at {x}");
            let x = f64::from(*x);
            let exact = distribution(x) + x * density(x);
            assert!(
                (f64::from(*slope) - exact).abs() < 2e-6,
                "slope at {x}: {slope} vs {exact}"
            );
        }
    }
}
