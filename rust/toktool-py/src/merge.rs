//! Dynamic batch merging, named as in the core: `merge_batch`, `apply_merges` and
//! `merge_batches` (tokenized batches, `toktool_core::boundary`) and `merge_units` (the bare
//! algorithm on ids and unit ids, `toktool_core::merge`). The Python layer (`toktool.merge`)
//! wraps the results in `MergeResult`.

use std::sync::Arc;

use pyo3::prelude::*;

use toktool_core::boundary::{self, Boundary};
use toktool_core::merge::{self, MergeOptions, NO_UNIT};
use toktool_core::Tokenizer;

use crate::convert::{invalid_input, owned_batch, owned_units};
use crate::results::{PyMergedBatch, PyTokenizedMerge};
use crate::tokenizer::PyTokenizer;
use crate::{detached, to_py_err};

fn options(
    max_merges: Option<i64>,
    min_count: i64,
    whole_chars: bool,
    py: Python<'_>,
) -> PyResult<MergeOptions> {
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
        whole_chars,
    })
}

/// The boundary named `name`; an unknown name is an `InvalidInputError` listing the names.
pub(crate) fn parse_boundary(py: Python<'_>, name: &str) -> PyResult<Boundary> {
    name.parse().map_err(|e| to_py_err(py, &e))
}

/// The boundary names, in the order users see them.
pub(crate) fn boundary_names() -> Vec<&'static str> {
    Boundary::ALL.iter().map(|b| b.name()).collect()
}

/// Check a boundary name without merging (for constructors that merge later).
#[pyfunction]
pub(crate) fn check_boundary(py: Python<'_>, boundary: &str) -> PyResult<()> {
    parse_boundary(py, boundary).map(|_| ())
}

/// The inputs every tokenized merge reads, owned.
struct TokenizedInput {
    tok: Arc<Tokenizer>,
    batch: Vec<Vec<u32>>,
    words: Option<Vec<Vec<Option<u32>>>>,
    boundary: Boundary,
}

impl TokenizedInput {
    fn new(
        py: Python<'_>,
        tokenizer: &PyTokenizer,
        batch: &Bound<'_, PyAny>,
        boundary: &str,
        word_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let boundary = parse_boundary(py, boundary)?;
        Ok(TokenizedInput {
            tok: Arc::clone(&tokenizer.inner),
            batch: owned_batch(py, batch)?,
            words: word_ids.map(owned_units).transpose()?,
            boundary,
        })
    }
}

/// Learn BPE merges on a tokenized batch and apply them (see `toktool.merge.merge_batch`).
#[pyfunction]
#[pyo3(signature = (tokenizer, batch, max_merges=None, boundary="pretoken", min_count=1, word_ids=None, whole_chars=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn merge_batch(
    py: Python<'_>,
    tokenizer: PyRef<'_, PyTokenizer>,
    batch: &Bound<'_, PyAny>,
    max_merges: Option<i64>,
    boundary: &str,
    min_count: i64,
    word_ids: Option<&Bound<'_, PyAny>>,
    whole_chars: bool,
) -> PyResult<PyTokenizedMerge> {
    let options = options(max_merges, min_count, whole_chars, py)?;
    let input = TokenizedInput::new(py, &tokenizer, batch, boundary, word_ids)?;
    let result = detached(py, move || {
        let words = input.words.as_deref();
        boundary::merge_batch(&input.tok, &input.batch, words, input.boundary, options)
    })?;
    PyTokenizedMerge::new(py, &result)
}

/// Apply merges learned on another batch (see `toktool.merge.apply_merges`).
#[pyfunction]
#[pyo3(signature = (tokenizer, batch, merges, boundary="pretoken", word_ids=None))]
pub(crate) fn apply_merges(
    py: Python<'_>,
    tokenizer: PyRef<'_, PyTokenizer>,
    batch: &Bound<'_, PyAny>,
    merges: Vec<(u32, u32)>,
    boundary: &str,
    word_ids: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTokenizedMerge> {
    let input = TokenizedInput::new(py, &tokenizer, batch, boundary, word_ids)?;
    let result = detached(py, move || {
        let words = input.words.as_deref();
        boundary::apply_merges(&input.tok, &input.batch, words, input.boundary, &merges)
    })?;
    PyTokenizedMerge::new(py, &result)
}

/// `merge_batch` on independent batches, in parallel with the GIL released.
#[pyfunction]
#[pyo3(signature = (tokenizer, batches, max_merges=None, boundary="pretoken", min_count=1, whole_chars=false))]
pub(crate) fn merge_batches(
    py: Python<'_>,
    tokenizer: PyRef<'_, PyTokenizer>,
    batches: &Bound<'_, PyAny>,
    max_merges: Option<i64>,
    boundary: &str,
    min_count: i64,
    whole_chars: bool,
) -> PyResult<Vec<PyTokenizedMerge>> {
    let options = options(max_merges, min_count, whole_chars, py)?;
    let boundary = parse_boundary(py, boundary)?;
    let batches: Vec<Vec<Vec<u32>>> = batches
        .try_iter()?
        .map(|b| owned_batch(py, &b?))
        .collect::<PyResult<_>>()?;
    let tok: Arc<Tokenizer> = Arc::clone(&tokenizer.inner);
    let results = detached(py, move || {
        boundary::merge_batches(&tok, &batches, boundary, options)
    })?;
    results
        .iter()
        .map(|r| PyTokenizedMerge::new(py, r))
        .collect()
}

/// The bare algorithm: ids and unit ids per token (`None`/negative: never merged), new ids from
/// `first_new_id`.
#[pyfunction]
#[pyo3(signature = (batch, units, first_new_id, max_merges=None, min_count=1))]
pub(crate) fn merge_units(
    py: Python<'_>,
    batch: &Bound<'_, PyAny>,
    units: &Bound<'_, PyAny>,
    first_new_id: u32,
    max_merges: Option<i64>,
    min_count: i64,
) -> PyResult<PyMergedBatch> {
    let options = options(max_merges, min_count, false, py)?;
    let batch = owned_batch(py, batch)?;
    let units: Vec<Vec<u32>> = owned_units(units)?
        .into_iter()
        .map(|seq| seq.into_iter().map(|u| u.unwrap_or(NO_UNIT)).collect())
        .collect();
    let out = detached(py, move || {
        merge::merge_units(&batch, &units, first_new_id, options)
    })?;
    Ok(PyMergedBatch::new(py, &out))
}
