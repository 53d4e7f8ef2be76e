//! Causal attention for inference: each block of queries is multiplied only against
//! the keys it may see, the `1/sqrt(d)` scale is folded into that product, and the
//! softmax runs over the visible prefix of each row with a vectorised `exp`. burn-flex's
//! fused attention computes every score of a row, masked ones too, then a scalar softmax
//! with libm's `expf` over all of it: a third of `small`'s scoring time by `perf`.

use rayon::prelude::*;

use multiversion::multiversion;

use super::vector_math::{LANES, exp_of_non_positive};

/// Queries per block: a block's scores (`QUERY_BLOCK` × keys) stay in L2 at context 1024.
const QUERY_BLOCK: usize = 64;

/// Shape of one attention call: `heads` independent (batch × head) problems, each of
/// `queries` new positions attending over `keys` positions of which the first
/// `keys - queries` were seen before (a KV cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttentionShape {
    /// Batch rows times heads.
    pub heads: usize,
    /// New positions per head.
    pub queries: usize,
    /// Positions attended over per head, cached ones included.
    pub keys: usize,
    /// Width of one head.
    pub head_width: usize,
    /// Positions from one head's keys (and values) to the next's: `keys` when they are
    /// packed, more in a cache with room to grow ([`super::KvBuffer`]).
    pub key_stride: usize,
}

/// `softmax(q·kᵀ/sqrt(d) + causal mask)·v` for contiguous `q` (`[heads, queries, d]`),
/// `k` and `v` (`[heads, key_stride, d]`, of which the first `keys` positions count);
/// query `i` sees keys `0 ..= keys - queries + i`. Returns `[heads, queries, d]`.
pub fn causal_attention(q: &[f32], k: &[f32], v: &[f32], shape: AttentionShape) -> Vec<f32> {
    let AttentionShape {
        heads,
        queries,
        keys,
        head_width: d,
        key_stride,
    } = shape;
    assert!(
        queries <= keys && keys <= key_stride,
        "{queries} new positions cannot attend over {keys} of {key_stride}"
    );
    assert_eq!(q.len(), heads * queries * d, "query length");
    assert_eq!(k.len(), heads * key_stride * d, "key length");
    assert_eq!(v.len(), heads * key_stride * d, "value length");
    let mut output = vec![0.0; heads * queries * d];
    if output.is_empty() {
        return output;
    }
    let seen = keys - queries;
    let scale = 1.0 / (d as f32).sqrt();
    output
        .par_chunks_exact_mut(queries * d)
        .enumerate()
        .for_each_init(
            || vec![0.0f32; QUERY_BLOCK.min(queries) * keys],
            |scores, (head, out)| {
                let q = &q[head * queries * d..][..queries * d];
                let k = &k[head * key_stride * d..][..keys * d];
                let v = &v[head * key_stride * d..][..keys * d];
                for first in (0..queries).step_by(QUERY_BLOCK) {
                    let rows = QUERY_BLOCK.min(queries - first);
                    // The block's last query sees up to this many keys; earlier ones fewer.
                    let visible = seen + first + rows;
                    let scores = &mut scores[..rows * visible];
                    let block_q = Matrix::rows(&q[first * d..][..rows * d], rows, d);
                    product(scores, block_q, Matrix::transposed(k, visible, d), scale);
                    causal_softmax(scores, visible, seen + first);
                    let block_out = &mut out[first * d..][..rows * d];
                    product(
                        block_out,
                        Matrix::rows(scores, rows, visible),
                        Matrix::rows(&v[..visible * d], visible, d),
                        1.0,
                    );
                }
            },
        );
    output
}

/// A read-only matrix view: element `(i, j)` is `data[i * row_stride + j * column_stride]`.
#[derive(Clone, Copy)]
struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    columns: usize,
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Matrix<'a> {
    /// `data` as `rows` × `columns`, row-major.
    fn rows(data: &'a [f32], rows: usize, columns: usize) -> Self {
        Matrix {
            data,
            rows,
            columns,
            row_stride: columns,
            column_stride: 1,
        }
    }

    /// The transpose of the first `rows` rows of row-major `data` with `columns` columns:
    /// `columns` × `rows`.
    fn transposed(data: &'a [f32], rows: usize, columns: usize) -> Self {
        Matrix {
            data,
            rows: columns,
            columns: rows,
            row_stride: 1,
            column_stride: columns,
        }
    }

    /// Whether every element the view names lies inside `data`.
    fn in_bounds(&self) -> bool {
        self.rows == 0
            || self.columns == 0
            || (self.rows - 1) * self.row_stride + (self.columns - 1) * self.column_stride
                < self.data.len()
    }
}

/// `dst = scale · lhs · rhs`, `dst` row-major with `rhs.columns` columns, on the calling
/// thread (the caller already spreads heads over the cores).
fn product(dst: &mut [f32], lhs: Matrix, rhs: Matrix, scale: f32) {
    assert_eq!(lhs.columns, rhs.rows, "inner dimensions");
    assert_eq!(dst.len(), lhs.rows * rhs.columns, "destination size");
    assert!(
        lhs.in_bounds() && rhs.in_bounds(),
        "matrix view out of bounds"
    );
    if dst.is_empty() {
        return;
    }
    if lhs.columns == 0 {
        dst.fill(0.0);
        return;
    }
    let stride = |s: usize| s as isize;
    // SAFETY: the asserts above keep every element gemm reads within `lhs.data` and
    // `rhs.data` and every element it writes within `dst`; the slices do not overlap
    // since `dst` is borrowed mutably.
    unsafe {
        gemm::gemm(
            lhs.rows,
            rhs.columns,
            lhs.columns,
            dst.as_mut_ptr(),
            1,
            stride(rhs.columns),
            false,
            lhs.data.as_ptr(),
            stride(lhs.column_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.column_stride),
            stride(rhs.row_stride),
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Softmax of each `visible`-wide row of `scores` over its first `sees + row + 1` scores
/// (the keys that row's query may see); the rest of the row becomes 0.
#[multiversion(targets("x86_64+avx512f", "x86_64+avx2+fma"))]
fn causal_softmax(scores: &mut [f32], visible: usize, sees: usize) {
    for (row, line) in scores.chunks_exact_mut(visible).enumerate() {
        let (seen_keys, hidden) = line.split_at_mut(sees + row + 1);
        softmax_in_place(seen_keys);
        hidden.fill(0.0);
    }
}

/// `row = softmax(row)`, in plain loops over `LANES`-wide chunks that the compiler
/// vectorises for the instructions its caller is compiled for.
#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let mut maxima = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (max, &x) in maxima.iter_mut().zip(chunk) {
            // Not `f32::max`, whose NaN rule costs extra instructions per lane.
            *max = if x > *max { x } else { *max };
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&maxima)
        .fold(f32::NEG_INFINITY, |max, &x| max.max(x));

    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (sum, x) in sums.iter_mut().zip(chunk) {
            *x = exp_of_non_positive(*x - max);
            *sum += *x;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp_of_non_positive(*x - max);
        sum += *x;
    }
    let inverse = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inverse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook computation, one query at a time, in f64.
    fn reference(q: &[f32], k: &[f32], v: &[f32], shape: AttentionShape) -> Vec<f32> {
        let AttentionShape {
            heads,
            queries,
            keys,
            head_width: d,
            ..
        } = shape;
        let seen = keys - queries;
        let mut out = Vec::new();
        for head in 0..heads {
            for i in 0..queries {
                let query = &q[(head * queries + i) * d..][..d];
                let visible = seen + i + 1;
                let scores: Vec<f64> = (0..visible)
                    .map(|j| {
                        let key = &k[(head * keys + j) * d..][..d];
                        query
                            .iter()
                            .zip(key)
                            .map(|(&a, &b)| f64::from(a) * f64::from(b))
                            .sum::<f64>()
                            / (d as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = weights.iter().sum();
                for c in 0..d {
                    let value: f64 = (0..visible)
                        .map(|j| weights[j] * f64::from(v[(head * keys + j) * d + c]))
                        .sum();
                    out.push((value / total) as f32);
                }
            }
        }
        out
    }

    fn pseudo_random(len: usize, seed: u32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 4.0 - 2.0
            })
            .collect()
    }

    #[test]
    fn matches_the_textbook_attention_fresh_and_after_a_cache() {
        // Fresh sequences (queries == keys) across block boundaries, one decoding step,
        // and a few new positions after a cache.
        for (queries, keys) in [(1, 1), (70, 70), (130, 130), (1, 57), (5, 200)] {
            let shape = AttentionShape {
                heads: 3,
                queries,
                keys,
                head_width: 8,
                key_stride: keys,
            };
            let q = pseudo_random(3 * queries * 8, 1);
            let k = pseudo_random(3 * keys * 8, 2);
            let v = pseudo_random(3 * keys * 8, 3);
            let ours = causal_attention(&q, &k, &v, shape);
            let expected = reference(&q, &k, &v, shape);
            let worst = ours
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{shape:?}: largest difference {worst}");

            // The same keys and values spaced out as a cache with room holds them.
            let room = keys + 9;
            let spaced = |packed: &[f32]| -> Vec<f32> {
                packed
                    .chunks(keys * 8)
                    .flat_map(|head| {
                        head.iter()
                            .copied()
                            .chain(std::iter::repeat_n(f32::NAN, 9 * 8))
                    })
                    .collect()
            };
            let strided = AttentionShape {
                key_stride: room,
                ..shape
            };
            let from_cache = causal_attention(&q, &spaced(&k), &spaced(&v), strided);
            assert_eq!(from_cache, ours, "{strided:?}");
        }
    }
}
