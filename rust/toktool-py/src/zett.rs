//! `ZeTT` data functions: vocabulary decomposition and the training tokenizer sampler. The Python
//! layer (`toktool.zett.decompose`, `toktool.zett.sampler`) pads or splits the arrays of the
//! results.

use std::sync::Arc;

use pyo3::prelude::*;

use toktool_core::zett::{self, SamplerConfig};
use toktool_core::Tokenizer;

use crate::convert::{invalid_input, non_negative, owned_bytes, owned_text};
use crate::detached;
use crate::results::{PyDecomposition, PySampledTokenizer};
use crate::tokenizer::PyTokenizer;

/// Spell each piece (raw bytes) in the tokenizer's ids, cut to `max_len` ids.
#[pyfunction]
#[pyo3(signature = (tokenizer, pieces, max_len))]
pub(crate) fn zett_decompose(
    py: Python<'_>,
    tokenizer: PyRef<'_, PyTokenizer>,
    pieces: &Bound<'_, PyAny>,
    max_len: i64,
) -> PyResult<PyDecomposition> {
    let max_len = non_negative(py, "max_len", max_len)?;
    let owned: Vec<Vec<u8>> = pieces
        .try_iter()?
        .enumerate()
        .map(|(i, item)| owned_bytes(&format!("piece {i}"), &item?))
        .collect::<PyResult<_>>()?;
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let result = detached(py, move || {
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        zett::decompose(&tok, &refs, max_len)
    })?;
    Ok(PyDecomposition::new(py, result))
}

/// Spell every token of `new` in `original`'s ids, cut to `max_len` ids.
#[pyfunction]
#[pyo3(signature = (new, original, max_len))]
pub(crate) fn zett_decompose_vocab(
    py: Python<'_>,
    new: PyRef<'_, PyTokenizer>,
    original: PyRef<'_, PyTokenizer>,
    max_len: i64,
) -> PyResult<PyDecomposition> {
    let max_len = non_negative(py, "max_len", max_len)?;
    let (new, original) = (Arc::clone(&new.inner), Arc::clone(&original.inner));
    let result = detached(py, move || zett::decompose_vocab(&new, &original, max_len))?;
    Ok(PyDecomposition::new(py, result))
}

/// Draw a `UnigramLM` tokenizer from the batch and segment the batch with it.
#[pyfunction]
#[pyo3(signature = (tokenizer, texts, vocab_size, max_token_bytes, noise, min_count, seed))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn zett_sample_unigram(
    py: Python<'_>,
    tokenizer: PyRef<'_, PyTokenizer>,
    texts: &Bound<'_, PyAny>,
    vocab_size: i64,
    max_token_bytes: i64,
    noise: f64,
    min_count: i64,
    seed: i128,
) -> PyResult<PySampledTokenizer> {
    let config = SamplerConfig {
        vocab_size: non_negative(py, "vocab_size", vocab_size)?,
        max_token_bytes: non_negative(py, "max_token_bytes", max_token_bytes)?,
        noise,
        min_count: u32::try_from(min_count).map_err(|_| {
            invalid_input(
                py,
                format!("min_count must be in 0..2**32, got {min_count}"),
            )
        })?,
        seed: u64::try_from(seed)
            .map_err(|_| invalid_input(py, format!("seed must be in 0..2**64, got {seed}")))?,
    };
    let owned: Vec<String> = texts
        .try_iter()?
        .map(|t| owned_text(py, &t?))
        .collect::<PyResult<_>>()?;
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let sampled = detached(py, move || {
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        zett::sample_unigram(&tok, &refs, &config)
    })?;
    Ok(PySampledTokenizer::new(py, sampled))
}
