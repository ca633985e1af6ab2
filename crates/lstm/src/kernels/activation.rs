//! Scalar activation functions shared by the fused kernels and their references.
//!
//! `sigmoid` and `tanh` are built on [`exp_fast`], a branch-free `exp` (Cephes' polynomial after
//! range reduction, then an exact power of two from the exponent bits) that the compiler
//! vectorises inside the fused loops; `libm`'s `expf` is a function call per element. Max abs
//! error vs the exact functions, over the whole f32 range, is tested below (≤ 1e-6, in practice
//! ≈ 1e-7); NaN passes through; ±∞ saturate.
//!
//! Each comes in two roundings, picked by `FMA`: the variants of the fused kernels compiled for
//! AVX2/AVX-512 (which have FMA) evaluate the polynomial with fused multiply-adds (`*_with::<true>`,
//! ≈ 1.3× faster cells); the portable variant with separate products and sums
//! (`*_with::<false>`, the plain names), since a fused multiply-add without the hardware
//! instruction is a library call per value. Both are tested to the same bound.

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding and subtracting it rounds to the nearest integer (|v| < 2²²).
const ROUND: f32 = 12_582_912.0;

/// `e^x` for `x` clamped to `[−87, 88]` (results in the normal range); NaN → NaN.
/// Branch-free (min/max and a final select), so loops over it vectorise.
#[inline(always)]
pub fn exp_fast(x_in: f32) -> f32 {
    exp_fast_with::<false>(x_in)
}

/// `a·b + c`: one fused multiply-add (one rounding) if `FMA`, else a product and a sum.
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// [`exp_fast`] with fused multiply-adds if `FMA` (see the module docs).
#[inline(always)]
#[allow(clippy::manual_clamp)] // `clamp` compiles to branches here; max/min + select vectorise
pub fn exp_fast_with<const FMA: bool>(x_in: f32) -> f32 {
    // `max`/`min` drop a NaN operand; the select at the end restores it.
    let x = x_in.max(-87.0).min(88.0);
    let t = madd::<FMA>(x, LOG2E, ROUND);
    let n = t - ROUND;
    let r = madd::<FMA>(-n, LN2_LO, madd::<FMA>(-n, LN2_HI, x));
    let mut p = 1.987_569_1e-4f32;
    p = madd::<FMA>(p, r, 1.398_199_9e-3);
    p = madd::<FMA>(p, r, 8.333_452e-3);
    p = madd::<FMA>(p, r, 4.166_579_6e-2);
    p = madd::<FMA>(p, r, 1.666_666_5e-1);
    p = madd::<FMA>(p, r, 0.5);
    let e = madd::<FMA>(p * r, r, r + 1.0);
    // n ∈ [−126, 127] after the clamp, and it sits in the low mantissa bits of `t`
    // (`t = 1.5·2²³ + n`): reading it from the bits avoids a float→int conversion, which the
    // compiler cannot vectorise with Rust's saturating `as` semantics. (For NaN the bits are
    // garbage, and the select below returns NaN.)
    let ni = (t.to_bits() as i32).wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits((ni.wrapping_add(127) as u32) << 23);
    let y = e * scale;
    if x_in.is_nan() {
        x_in
    } else {
        y
    }
}

/// Logistic sigmoid `1 / (1 + e^−x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    sigmoid_with::<false>(x)
}

/// [`sigmoid`] with fused multiply-adds if `FMA`.
#[inline(always)]
pub fn sigmoid_with<const FMA: bool>(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast_with::<FMA>(-x))
}

/// Hyperbolic tangent, as `sign(x) · (1 − e^{−2|x|}) / (1 + e^{−2|x|})`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    tanh_with::<false>(x)
}

/// [`tanh`] with fused multiply-adds if `FMA`.
#[inline(always)]
pub fn tanh_with<const FMA: bool>(x: f32) -> f32 {
    let t = exp_fast_with::<FMA>(-2.0 * x.abs());
    ((1.0 - t) / (1.0 + t)).copysign(x)
}

/// f64 sigmoid for references.
#[inline(always)]
pub fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 97th f32 bit pattern (≈ 44 M values over the whole range, both signs), plus the
    /// special values: max abs error ≤ 1e-6 against f64, in both roundings.
    #[test]
    fn sigmoid_and_tanh_are_within_1e6_of_exact_over_the_whole_f32_range() {
        check_accuracy::<false>();
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("fma") {
            #[target_feature(enable = "fma")]
            fn fused() {
                check_accuracy::<true>();
            }
            // SAFETY: the CPU has FMA (checked above).
            unsafe { fused() };
        }
        #[cfg(not(target_arch = "x86_64"))]
        check_accuracy::<true>();
    }

    #[inline(always)]
    fn check_accuracy<const FMA: bool>() {
        let (sigmoid, tanh, exp_fast) =
            (sigmoid_with::<FMA>, tanh_with::<FMA>, exp_fast_with::<FMA>);
        let (mut worst_s, mut worst_t) = ((0.0f64, 0.0f32), (0.0f64, 0.0f32));
        let specials = [
            0.0f32,
            -0.0,
            1e-30,
            -1e-30,
            1e-8,
            0.5,
            9.0,
            15.9,
            17.0,
            44.0,
            88.5,
            89.0,
            1e30,
            f32::MAX,
            f32::MIN_POSITIVE,
        ];
        let check = |x: f32, worst_s: &mut (f64, f32), worst_t: &mut (f64, f32)| {
            let es = (sigmoid(x) as f64 - sigmoid64(x as f64)).abs();
            let et = (tanh(x) as f64 - (x as f64).tanh()).abs();
            if es > worst_s.0 {
                *worst_s = (es, x);
            }
            if et > worst_t.0 {
                *worst_t = (et, x);
            }
        };
        for bits in (0..=u32::MAX).step_by(97) {
            let x = f32::from_bits(bits);
            if x.is_finite() {
                check(x, &mut worst_s, &mut worst_t);
            }
        }
        for &x in &specials {
            check(x, &mut worst_s, &mut worst_t);
            check(-x, &mut worst_s, &mut worst_t);
        }
        assert!(
            worst_s.0 <= 1e-6,
            "sigmoid (FMA {FMA}): max abs error {:.3e} at x = {:e}",
            worst_s.0,
            worst_s.1
        );
        assert!(
            worst_t.0 <= 1e-6,
            "tanh (FMA {FMA}): max abs error {:.3e} at x = {:e}",
            worst_t.0,
            worst_t.1
        );
        // Saturation at ±∞, NaN passes through.
        assert_eq!(
            (
                sigmoid(f32::INFINITY),
                tanh(f32::INFINITY),
                tanh(f32::NEG_INFINITY)
            ),
            (1.0, 1.0, -1.0)
        );
        assert!(sigmoid(f32::NEG_INFINITY) < 1e-37);
        assert!(
            sigmoid(f32::NAN).is_nan() && tanh(f32::NAN).is_nan() && exp_fast(f32::NAN).is_nan()
        );
        // exp_fast itself: relative error over its whole domain.
        let mut worst_e = 0.0f64;
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            worst_e = worst_e.max(((exp_fast(x) as f64) / (x as f64).exp() - 1.0).abs());
        }
        assert!(
            worst_e < 3e-7,
            "exp_fast (FMA {FMA}): max relative error {worst_e:.3e}"
        );
    }
}
