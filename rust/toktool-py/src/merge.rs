//! Dynamic batch merging: `merge_batch`, `merge_batches` (with a tokenizer) and `merge_units`
//! (the bare algorithm on ids and unit ids). The Python layer (`toktool.merge`) wraps the raw
//! dicts these return in `MergeResult`.

use std::sync::Arc;

use numpy::PyReadonlyArray2;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use toktool_core::boundary::{
    apply_tokenized, merge_tokenized, merge_tokenized_batches, Boundary, TokenizedMerge,
};
use toktool_core::merge::{merge_batch as core_merge_batch, MergeOptions, NO_UNIT};
use toktool_core::Tokenizer;

use crate::tokenizer::PyTokenizer;
use crate::{detached, id_out_of_range, invalid_input, owned_ids, to_py_err, u32_bytes};

fn options(max_merges: Option<i64>, min_count: i64, py: Python<'_>) -> PyResult<MergeOptions> {
    let max_merges = match max_merges {
        None => usize::MAX,
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => {
            return Err(invalid_input(
                py,
                format!("max_merges must be >= 0 or None, got {n}"),
            ))
        }
    };
    let min_count = u32::try_from(min_count)
        .ok()
        .filter(|&c| c >= 1)
        .ok_or_else(|| invalid_input(py, format!("min_count must be >= 1, got {min_count}")))?;
    Ok(MergeOptions {
        max_merges,
        min_count,
    })
}

/// A batch of id sequences: a list of sequences, or a 2-D integer numpy array.
fn owned_batch(py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<u32>>> {
    if let Some(rows) = array_rows(batch) {
        return rows
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        u32::try_from(v)
                            .map_err(|_| id_out_of_range(py, i128::from(v), Some(i), None))
                    })
                    .collect()
            })
            .collect();
    }
    batch
        .try_iter()?
        .map(|seq| sequence_ids(py, &seq?))
        .collect()
}

/// `owned_ids` with a fast path: 64-bit extraction is cheaper than the 128-bit one, and
/// batches are large. Anything unusual goes through `owned_ids` for its errors.
fn sequence_ids(py: Python<'_>, seq: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    if let Ok(values) = seq.extract::<Vec<i64>>() {
        if let Ok(ids) = values.into_iter().map(u32::try_from).collect() {
            return Ok(ids);
        }
    }
    owned_ids(py, seq)
}

/// The rows of a 2-D integer numpy array (a padded batch, a tensor's `.numpy()`), read without
/// a Python object per element; `None` for anything else.
fn array_rows(obj: &Bound<'_, PyAny>) -> Option<Vec<Vec<i64>>> {
    fn rows<T: Copy + numpy::Element>(
        obj: &Bound<'_, PyAny>,
        widen: impl Fn(T) -> i64,
    ) -> Option<Vec<Vec<i64>>> {
        let array = obj.extract::<PyReadonlyArray2<'_, T>>().ok()?;
        let view = array.as_array();
        Some(
            view.rows()
                .into_iter()
                .map(|row| row.iter().map(|&v| widen(v)).collect())
                .collect(),
        )
    }
    rows::<i64>(obj, |v| v)
        .or_else(|| rows::<i32>(obj, i64::from))
        .or_else(|| rows::<u32>(obj, i64::from))
        .or_else(|| rows::<u16>(obj, i64::from))
}

/// Word ids per token: ints >= 0 are words; `None` or negative values are never merged.
fn owned_word_ids(words: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Option<u32>>>> {
    let values: Vec<Vec<Option<i64>>> = match array_rows(words) {
        Some(rows) => rows
            .into_iter()
            .map(|row| row.into_iter().map(Some).collect())
            .collect(),
        None => words.extract()?,
    };
    Ok(values
        .into_iter()
        .map(|seq| {
            seq.into_iter()
                .map(|w| {
                    w.and_then(|w| u32::try_from(w).ok())
                        .filter(|&w| w != NO_UNIT)
                })
                .collect()
        })
        .collect())
}

fn parse_boundary(py: Python<'_>, boundary: &str) -> PyResult<Boundary> {
    boundary.parse().map_err(|e| to_py_err(py, &e))
}

/// The merged batch. Everything but `ids` comes as packed little-endian `u32`s, so that a call
/// pays for Python objects only for what the caller reads: `merges` (left, right, count
/// triplets), `new_tokens` (laid end to end; `new_token_lengths` says where each ends), and one
/// value per merged token for `starts`, `units` and `byte_starts` (sequences end to end).
fn tokenized_dict<'py>(py: Python<'py>, result: &TokenizedMerge) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let batch = &result.merged;
    let n = batch.ids.len();
    d.set_item("ids", &batch.ids)?;
    let triplets = batch.merges.iter().flat_map(|m| [m.left, m.right, m.count]);
    d.set_item("merges", u32_bytes(py, triplets))?;
    let (flat, lengths) = batch.new_tokens_flat();
    d.set_item("new_tokens", u32_bytes(py, flat.into_iter()))?;
    d.set_item("new_token_lengths", u32_bytes(py, lengths.into_iter()))?;
    d.set_item(
        "starts",
        u32_bytes(py, batch.starts.iter().flatten().copied()),
    )?;
    let units = (0..n).flat_map(|s| result.merged_units(s));
    d.set_item("units", u32_bytes(py, units))?;
    let byte_starts = (0..n).flat_map(|s| {
        let seq = &result.units[s];
        batch.starts[s]
            .iter()
            .map(move |&i| seq.byte_starts[i as usize])
    });
    d.set_item("byte_starts", u32_bytes(py, byte_starts))?;
    let units = &result.units;
    d.set_item(
        "n_units",
        units.iter().map(|u| u.n_units).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "n_words",
        units.iter().map(|u| u.n_words).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "n_bytes",
        units.iter().map(|u| u.n_bytes).collect::<Vec<_>>(),
    )?;
    d.set_item(
        "recovery",
        units
            .iter()
            .map(|u| u.recovery.as_str())
            .collect::<Vec<_>>(),
    )?;
    d.set_item("first_new_id", batch.first_new_id)?;
    Ok(d)
}

/// Learn BPE merges on a tokenized batch and apply them (see `toktool.merge.merge_batch`).
#[pyfunction]
#[pyo3(signature = (tokenizer, batch, max_merges=None, boundary="pretoken", min_count=1, word_ids=None))]
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn merge_batch<'py>(
    py: Python<'py>,
    tokenizer: PyRef<'_, PyTokenizer>,
    batch: &Bound<'_, PyAny>,
    max_merges: Option<i64>,
    boundary: &str,
    min_count: i64,
    word_ids: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = options(max_merges, min_count, py)?;
    let boundary = parse_boundary(py, boundary)?;
    let batch = owned_batch(py, batch)?;
    let words = word_ids.map(owned_word_ids).transpose()?;
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let result = detached(py, move || {
        merge_tokenized(&tok, &batch, words.as_deref(), boundary, options)
    })?;
    tokenized_dict(py, &result)
}

/// Apply merges learned on another batch (see `toktool.merge.apply_merges`).
#[pyfunction]
#[pyo3(signature = (tokenizer, batch, merges, boundary="pretoken", word_ids=None))]
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn apply_merges<'py>(
    py: Python<'py>,
    tokenizer: PyRef<'_, PyTokenizer>,
    batch: &Bound<'_, PyAny>,
    merges: Vec<(u32, u32)>,
    boundary: &str,
    word_ids: Option<&Bound<'_, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let boundary = parse_boundary(py, boundary)?;
    let batch = owned_batch(py, batch)?;
    let words = word_ids.map(owned_word_ids).transpose()?;
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let result = detached(py, move || {
        apply_tokenized(&tok, &batch, words.as_deref(), boundary, &merges)
    })?;
    tokenized_dict(py, &result)
}

/// `merge_batch` on independent batches, in parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (tokenizer, batches, max_merges=None, boundary="pretoken", min_count=1))]
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn merge_batches<'py>(
    py: Python<'py>,
    tokenizer: PyRef<'_, PyTokenizer>,
    batches: &Bound<'_, PyAny>,
    max_merges: Option<i64>,
    boundary: &str,
    min_count: i64,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let options = options(max_merges, min_count, py)?;
    let boundary = parse_boundary(py, boundary)?;
    let batches: Vec<Vec<Vec<u32>>> = batches
        .try_iter()?
        .map(|b| owned_batch(py, &b?))
        .collect::<PyResult<_>>()?;
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let results = detached(py, move || {
        merge_tokenized_batches(&tok, &batches, boundary, options)
    })?;
    results.iter().map(|r| tokenized_dict(py, r)).collect()
}

/// The bare algorithm: ids and unit ids per token (`None`/negative: never merged), new ids from
/// `first_new_id`. Returns `(ids, starts, merges)`.
#[pyfunction]
#[pyo3(signature = (batch, units, first_new_id, max_merges=None, min_count=1))]
#[allow(clippy::type_complexity)]
pub(crate) fn merge_units(
    py: Python<'_>,
    batch: &Bound<'_, PyAny>,
    units: &Bound<'_, PyAny>,
    first_new_id: u32,
    max_merges: Option<i64>,
    min_count: i64,
) -> PyResult<(Vec<Vec<u32>>, Vec<Vec<u32>>, Vec<(u32, u32, u32)>)> {
    let options = options(max_merges, min_count, py)?;
    let batch = owned_batch(py, batch)?;
    let units: Vec<Vec<u32>> = owned_word_ids(units)?
        .into_iter()
        .map(|seq| seq.into_iter().map(|u| u.unwrap_or(NO_UNIT)).collect())
        .collect();
    let out = detached(py, move || {
        core_merge_batch(&batch, &units, first_new_id, options)
    })?;
    let merges = out
        .merges
        .iter()
        .map(|m| (m.left, m.right, m.count))
        .collect();
    Ok((out.ids, out.starts, merges))
}

/// Benchmark hook: the best wall time in seconds of `repeats` runs of the merger on input
/// converted once (what `merge_units` costs without its Python conversions).
#[pyfunction]
#[pyo3(signature = (batch, units, first_new_id, max_merges=None, repeats=10))]
pub(crate) fn _time_merge_units(
    py: Python<'_>,
    batch: &Bound<'_, PyAny>,
    units: &Bound<'_, PyAny>,
    first_new_id: u32,
    max_merges: Option<i64>,
    repeats: usize,
) -> PyResult<f64> {
    let options = options(max_merges, 1, py)?;
    let batch = owned_batch(py, batch)?;
    let units: Vec<Vec<u32>> = owned_word_ids(units)?
        .into_iter()
        .map(|seq| seq.into_iter().map(|u| u.unwrap_or(NO_UNIT)).collect())
        .collect();
    detached(py, move || {
        let mut best = f64::INFINITY;
        for _ in 0..repeats.max(1) {
            let start = std::time::Instant::now();
            let merged = core_merge_batch(&batch, &units, first_new_id, options)?;
            best = best.min(start.elapsed().as_secs_f64());
            drop(merged);
        }
        Ok(best)
    })
}
