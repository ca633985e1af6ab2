//! Gradient clipping by global norm, as `torch.nn.utils.clip_grad_norm_`.

/// Scales every gradient by `min(1, max_norm / (‖g‖ + 1e-6))` where `‖g‖` is the L2 norm over
/// all groups together; returns the norm before clipping (NaN/inf if a gradient is not finite).
pub fn clip_grad_norm(grads: &mut [&mut [f32]], max_norm: f32) -> f32 {
    let total = global_norm(grads);
    let coef = (max_norm as f64 / (total as f64 + 1e-6)).min(1.0) as f32;
    if coef < 1.0 {
        grads
            .iter_mut()
            .for_each(|g| g.iter_mut().for_each(|v| *v *= coef));
    }
    total
}

/// The L2 norm over all groups (accumulated in f64).
pub fn global_norm(grads: &[&mut [f32]]) -> f32 {
    grads
        .iter()
        .flat_map(|g| g.iter())
        .map(|&v| v as f64 * v as f64)
        .sum::<f64>()
        .sqrt() as f32
}
