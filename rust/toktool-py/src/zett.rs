//! `ZeTT` data functions: vocabulary decomposition and the training tokenizer sampler. The Python
//! layer (`toktool.zett.decompose`, `toktool.zett.sampler`) turns the packed little-endian
//! arrays these return into `NumPy` arrays.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use toktool_core::zett::{self, Decomposition, SamplerConfig};
use toktool_core::Tokenizer;

use crate::tokenizer::PyTokenizer;
use crate::{detached, invalid_input, owned_text, u32_bytes};

/// `(ids, lengths, truncated, unspellable)`: ids end to end and one length per piece, as packed
/// `u32`s, and the two counts.
type DecompositionTuple<'py> = (Bound<'py, PyBytes>, Bound<'py, PyBytes>, usize, usize);

fn decomposition_tuple<'py>(py: Python<'py>, d: &Decomposition) -> DecompositionTuple<'py> {
    let lengths = d
        .offsets
        .windows(2)
        .map(|w| u32::try_from(w[1] - w[0]).unwrap_or(u32::MAX));
    (
        u32_bytes(py, d.ids.iter().copied()),
        u32_bytes(py, lengths),
        d.truncated,
        d.unspellable,
    )
}

fn non_negative(py: Python<'_>, name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .map_err(|_| invalid_input(py, format!("{name} must be >= 0, got {value}")))
}

/// Spell each piece (raw bytes) in the tokenizer's ids, cut to `max_len` ids.
#[pyfunction]
#[pyo3(signature = (tokenizer, pieces, max_len))]
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn zett_decompose<'py>(
    py: Python<'py>,
    tokenizer: PyRef<'_, PyTokenizer>,
    pieces: &Bound<'_, PyAny>,
    max_len: i64,
) -> PyResult<DecompositionTuple<'py>> {
    let max_len = non_negative(py, "max_len", max_len)?;
    let mut owned: Vec<Vec<u8>> = Vec::new();
    for (i, item) in pieces.try_iter()?.enumerate() {
        let item = item?;
        let bytes = item.cast::<PyBytes>().map_err(|_| {
            PyTypeError::new_err(format!(
                "piece {i}: expected bytes, got {}",
                item.get_type()
                    .name()
                    .map_or_else(|_| "?".into(), |n| n.to_string())
            ))
        })?;
        owned.push(bytes.as_bytes().to_vec());
    }
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let result = detached(py, move || {
        let refs: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        zett::decompose(&tok, &refs, max_len)
    })?;
    Ok(decomposition_tuple(py, &result))
}

/// Spell every token of `new` in `original`'s ids, cut to `max_len` ids.
#[pyfunction]
#[pyo3(signature = (new, original, max_len))]
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn zett_decompose_vocab<'py>(
    py: Python<'py>,
    new: PyRef<'_, PyTokenizer>,
    original: PyRef<'_, PyTokenizer>,
    max_len: i64,
) -> PyResult<DecompositionTuple<'py>> {
    let max_len = non_negative(py, "max_len", max_len)?;
    let (new, original) = (Arc::clone(&new.inner), Arc::clone(&original.inner));
    let result = detached(py, move || zett::decompose_vocab(&new, &original, max_len))?;
    Ok(decomposition_tuple(py, &result))
}

/// The sampled tokenizer as `(vocab, scores, ids, lengths)`: token bytes by id, packed
/// little-endian `f64` scores, every text's ids end to end and one length per text (packed
/// `u32`s).
type SampledTuple<'py> = (
    Vec<Bound<'py, PyBytes>>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
);

/// Draw a `UnigramLM` tokenizer from the batch and segment the batch with it.
#[pyfunction]
#[pyo3(signature = (tokenizer, texts, vocab_size, max_token_bytes, noise, min_count, seed))]
#[allow(clippy::needless_pass_by_value, clippy::too_many_arguments)]
pub(crate) fn zett_sample_unigram<'py>(
    py: Python<'py>,
    tokenizer: PyRef<'_, PyTokenizer>,
    texts: &Bound<'_, PyAny>,
    vocab_size: i64,
    max_token_bytes: i64,
    noise: f64,
    min_count: i64,
    seed: i128,
) -> PyResult<SampledTuple<'py>> {
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
    let vocab = sampled.vocab.iter().map(|t| PyBytes::new(py, t)).collect();
    let scores: Vec<u8> = sampled
        .scores
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let lengths = sampled
        .ids
        .iter()
        .map(|ids| u32::try_from(ids.len()).unwrap_or(u32::MAX));
    Ok((
        vocab,
        PyBytes::new(py, &scores),
        u32_bytes(py, sampled.ids.iter().flatten().copied()),
        u32_bytes(py, lengths),
    ))
}
