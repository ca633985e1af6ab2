//! Scalar activation functions shared by the fused kernels and their references.

/// Logistic sigmoid `1 / (1 + e^-x)`; saturates cleanly to 0 and 1, passes NaN through.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Hyperbolic tangent.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    x.tanh()
}

/// f64 sigmoid for references.
#[inline(always)]
pub fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
