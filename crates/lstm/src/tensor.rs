//! A minimal owned tensor: a shape and a row-major `Vec<f32>`. It exists for the public API's
//! edges (inputs, outputs, gradients); kernels work on slices with documented shapes.

use crate::error::{Error, Result};

/// An owned, row-major (C order), `f32` tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor from a shape and its data; fails if `data.len()` is not the product of `shape`.
    /// `name` is used in the error.
    pub fn new(name: &str, shape: &[usize], data: Vec<f32>) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(Error::Length {
                tensor: name.to_string(),
                shape: shape.to_vec(),
                expected,
                found: data.len(),
            });
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The data, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The data, row-major, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Takes the data out.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Checks that this tensor has exactly `expected` as its shape.
    pub fn expect_shape(&self, name: &str, expected: &[usize]) -> Result<()> {
        if self.shape != expected {
            return Err(Error::shape(name, expected, &self.shape));
        }
        Ok(())
    }
}
