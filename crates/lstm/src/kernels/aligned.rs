//! A buffer that starts on a cache line: packed weights live in one, so that no 64-byte load
//! of a panel row straddles two lines. (A `Vec<f32>` from the system allocator is only 16-byte
//! aligned; large ones come at 16 bytes past a page. Measured on one core, the one-row tile of a
//! streaming step over an L1-resident panel: 19–23 weights/ns misaligned, 38–41 aligned.)

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

/// One cache line of storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl Default for Line {
    fn default() -> Self {
        Line([0; 64])
    }
}

/// Element types an [`Aligned`] buffer may hold: plain values for which every bit pattern,
/// all zeros included, is valid, with an alignment dividing 64.
///
/// # Safety
/// Implement only for such types.
pub unsafe trait Plain: Copy {
    /// The value of all-zero bits.
    const ZERO: Self;
}
// SAFETY: every bit pattern is an f32 (all zeros is 0.0); align 4.
unsafe impl Plain for f32 {
    const ZERO: Self = 0.0;
}
// SAFETY: every bit pattern is an f16 (all zeros is 0.0); align 2.
unsafe impl Plain for half::f16 {
    const ZERO: Self = half::f16::ZERO;
}
// SAFETY: every bit pattern is an integer of these types (all zeros is 0); align ≤ 4.
unsafe impl Plain for i8 {
    const ZERO: Self = 0;
}
// SAFETY: as above.
unsafe impl Plain for u8 {
    const ZERO: Self = 0;
}
// SAFETY: as above.
unsafe impl Plain for i32 {
    const ZERO: Self = 0;
}

/// `len` values of `T`, the first on a 64-byte boundary; dereferences to `[T]`.
#[derive(Clone)]
pub struct Aligned<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Plain> Default for Aligned<T> {
    fn default() -> Self {
        Aligned {
            lines: Vec::new(),
            len: 0,
            _t: PhantomData,
        }
    }
}

impl<T: Plain> std::fmt::Debug for Aligned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Aligned[{}; {}]", std::any::type_name::<T>(), self.len)
    }
}

impl<T: Plain> Aligned<T> {
    /// Sets the length to `len`, every value zero bits (0.0 for f32); keeps the capacity.
    pub fn zeroed(&mut self, len: usize) {
        let lines = (len * size_of::<T>()).div_ceil(64);
        self.lines.clear();
        self.lines.resize(lines, Line::default());
        self.len = len;
    }

    /// Sets the length to `len`, keeping the values below both lengths and zeroing any new ones
    /// (as `Vec::resize`); keeps the capacity.
    pub fn resize(&mut self, len: usize) {
        let old = self.len.min(len);
        let lines = (len * size_of::<T>()).div_ceil(64);
        self.lines.resize(lines, Line::default());
        self.len = len;
        // The old last line may hold stale values past the old length. Nothing to clear is
        // skipped, not a `fill` of an empty slice: that is a `memset` of 0 bytes, which glibc
        // does with a masked store, and at an empty buffer's dangling address (no page behind
        // it) the masked store takes a microcode assist: 0.4 µs per call, 3 % of a streaming
        // step at H = 256 (the 8-bit scratch, sized to 0 on every f32 pass).
        if old < len {
            self[old..].fill(T::ZERO);
        }
    }

    /// Sets the values to `src`'s, each converted by `f`.
    pub fn fill_from<S: Copy>(&mut self, src: &[S], f: impl Fn(S) -> T) {
        self.zeroed(src.len());
        for (d, &s) in self.iter_mut().zip(src) {
            *d = f(s);
        }
    }
}

impl<T: Plain> Deref for Aligned<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `lines` holds at least `len · size_of::<T>()` initialised bytes, aligned to 64
        // (a multiple of `T`'s alignment), and every bit pattern is a valid `T` (`Plain`).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }
}

impl<T: Plain> DerefMut for Aligned<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_holds_its_values_and_zeroes_on_resize() {
        let mut a = Aligned::<f32>::default();
        assert!(a.is_empty());
        for len in [1, 15, 16, 17, 1000] {
            a.zeroed(len);
            assert_eq!(a.len(), len);
            assert_eq!(
                a.as_ptr() as usize % 64,
                0,
                "f32 buffer of {len} not aligned"
            );
            assert!(a.iter().all(|&v| v == 0.0), "len {len}: not zeroed");
            a.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
            assert_eq!(a[len - 1], (len - 1) as f32);
        }
        a.zeroed(20);
        a.iter_mut().for_each(|v| *v = 7.0);
        a.resize(10);
        a.resize(40);
        assert_eq!(a.as_ptr() as usize % 64, 0);
        assert!(
            a[..10].iter().all(|&v| v == 7.0),
            "resize keeps the values below both lengths"
        );
        assert!(
            a[10..].iter().all(|&v| v == 0.0),
            "resize zeroes the new values: {:?}",
            &a[10..]
        );
        let mut h = Aligned::<half::f16>::default();
        h.fill_from(&[1.5f32, 2.5, 3.5], half::f16::from_f32);
        assert_eq!(
            h.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
            [1.5, 2.5, 3.5]
        );
        assert_eq!(h.as_ptr() as usize % 64, 0);
        let c = h.clone();
        assert_eq!(&c[..], &h[..]);
        assert_eq!(c.as_ptr() as usize % 64, 0);
    }
}
