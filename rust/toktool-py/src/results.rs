//! The frozen result classes of the extension: one per core result type, with the core's name
//! and fields (see `convert.rs` for how each field crosses over). The Python layer wraps them in
//! the public classes (`toktool.MergeResult`, `HealedPrompt`, ...); read-only attributes, so a
//! misspelt field is an `AttributeError` here and a mypy error through `_toktool.pyi`.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, ToPyArray};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use toktool_core::boundary::TokenizedMerge;
use toktool_core::covers::{CoverGroup, Covers};
use toktool_core::merge::{Merge, MergedBatch};
use toktool_core::zett::{Decomposition, SampledTokenizer};
use toktool_core::Healed;

use crate::convert::{array, ragged, u32_len};

/// `(left, right, count)` per merge, as a `(merges, 3)` array.
fn merge_table(py: Python<'_>, merges: &[Merge]) -> Py<PyArray2<u32>> {
    let flat: Vec<u32> = merges
        .iter()
        .flat_map(|m| [m.left, m.right, m.count])
        .collect();
    Array2::from_shape_vec((merges.len(), 3), flat)
        .expect("three values per merge")
        .into_pyarray(py)
        .unbind()
}

/// The bare merger's result (`merge_units`): every per-token array holds the sequences end to
/// end, `lengths[s]` tokens each.
#[pyclass(frozen, get_all, module = "toktool._toktool", name = "MergedBatch")]
pub(crate) struct PyMergedBatch {
    /// The merged ids.
    ids: Py<PyArray1<u32>>,
    /// Merged tokens per sequence.
    lengths: Py<PyArray1<u32>>,
    /// Per merged token: its first position in the original sequence.
    starts: Py<PyArray1<u32>>,
    /// `(left, right, count)` per merge, in order; merge `k` made id `first_new_id + k`.
    merges: Py<PyArray2<u32>>,
    first_new_id: u32,
}

impl PyMergedBatch {
    pub(crate) fn new(py: Python<'_>, batch: &MergedBatch) -> Self {
        let (ids, lengths) = ragged(py, batch.ids.iter().map(Vec::as_slice));
        let (starts, _) = ragged(py, batch.starts.iter().map(Vec::as_slice));
        PyMergedBatch {
            ids,
            lengths,
            starts,
            merges: merge_table(py, &batch.merges),
            first_new_id: batch.first_new_id,
        }
    }
}

/// A merged tokenized batch (`merge_batch`, `apply_merges`, `merge_batches`): the merged batch
/// (`merged`) plus what the units of each sequence say. Per-token arrays hold the sequences end
/// to end, `merged.lengths[s]` merged tokens each; per-sequence arrays have one value each.
#[pyclass(frozen, get_all, module = "toktool._toktool", name = "TokenizedMerge")]
pub(crate) struct PyTokenizedMerge {
    merged: Py<PyMergedBatch>,
    /// Per merged token: its unit within the sequence (`2**32 - 1` for special tokens).
    units: Py<PyArray1<u32>>,
    /// Per merged token: its byte offset in `decode_bytes` of the original sequence.
    byte_starts: Py<PyArray1<u32>>,
    /// The original ids of every new token, end to end; `new_token_lengths[k]` of them each.
    new_tokens: Py<PyArray1<u32>>,
    new_token_lengths: Py<PyArray1<u32>>,
    /// Per sequence: units (length at saturation), words and bytes.
    n_units: Py<PyArray1<u32>>,
    n_words: Py<PyArray1<u32>>,
    n_bytes: Py<PyArray1<u64>>,
    /// Per sequence: how its units were found (`"exact"`, `"aligned"`, `"whitespace"`, `"given"`).
    recovery: Vec<&'static str>,
}

impl PyTokenizedMerge {
    pub(crate) fn new(py: Python<'_>, result: &TokenizedMerge) -> PyResult<Self> {
        let batch = &result.merged;
        let sequences = 0..batch.ids.len();
        let units = sequences.clone().flat_map(|s| result.merged_units(s));
        let byte_starts = sequences.flat_map(|s| result.merged_byte_starts(s));
        let (new_tokens, new_token_lengths) = batch.new_tokens_flat();
        let per_sequence = |f: fn(&toktool_core::boundary::SequenceUnits) -> usize| {
            array(py, result.units.iter().map(|u| u32_len(f(u))).collect())
        };
        Ok(PyTokenizedMerge {
            merged: Py::new(py, PyMergedBatch::new(py, batch))?,
            units: array(py, units.collect()),
            byte_starts: array(py, byte_starts.collect()),
            new_tokens: array(py, new_tokens),
            new_token_lengths: array(py, new_token_lengths),
            n_units: per_sequence(|u| u.n_units),
            n_words: per_sequence(|u| u.n_words),
            n_bytes: array(py, result.units.iter().map(|u| u.n_bytes as u64).collect()),
            recovery: result.units.iter().map(|u| u.recovery.as_str()).collect(),
        })
    }
}

/// One family of straddling covers: `head + prefix + [t]` for each `t` in `last`.
#[pyclass(frozen, module = "toktool._toktool", name = "CoverGroup")]
pub(crate) struct PyCoverGroup {
    inner: CoverGroup,
    /// `inner.last` as an array, made once.
    last: Py<PyArray1<u32>>,
}

#[pymethods]
impl PyCoverGroup {
    /// Tail ids before the last token.
    #[getter]
    fn prefix(&self) -> Vec<u32> {
        self.inner.prefix.clone()
    }

    /// Byte offset (in the tail) where the last token starts.
    #[getter]
    fn start(&self) -> usize {
        self.inner.start
    }

    /// Valid last tokens, ascending (thousands, at a short tail).
    #[getter]
    fn last(&self, py: Python<'_>) -> Py<PyArray1<u32>> {
        self.last.clone_ref(py)
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let g = &self.inner;
        format!(
            "CoverGroup(prefix={:?}, start={}, last=<{} ids>)",
            g.prefix,
            g.start,
            g.last.len()
        )
    }
}

/// All covers of a byte string `y` (see `toktool.bytes`).
#[pyclass(frozen, module = "toktool._toktool", name = "Covers")]
pub(crate) struct PyCovers {
    inner: Covers,
    /// `inner.groups` as Python objects, made once.
    groups: Vec<Py<PyCoverGroup>>,
}

impl PyCovers {
    pub(crate) fn new(py: Python<'_>, covers: Covers) -> PyResult<Self> {
        let groups = covers
            .groups
            .iter()
            .map(|g| {
                let last = g.last.to_pyarray(py).unbind();
                Py::new(
                    py,
                    PyCoverGroup {
                        inner: g.clone(),
                        last,
                    },
                )
            })
            .collect::<PyResult<_>>()?;
        Ok(PyCovers {
            inner: covers,
            groups,
        })
    }
}

#[pymethods]
impl PyCovers {
    /// Ids of `y[:boundary]`, shared by every cover.
    #[getter]
    fn head(&self) -> Vec<u32> {
        self.inner.head.clone()
    }

    #[getter]
    fn boundary(&self) -> usize {
        self.inner.boundary
    }

    /// The straddling covers, one group per tail prefix.
    #[getter]
    fn groups(&self, py: Python<'_>) -> Vec<Py<PyCoverGroup>> {
        self.groups.iter().map(|g| g.clone_ref(py)).collect()
    }

    /// Tail id sequences whose bytes are exactly `y[boundary:]`.
    #[getter]
    fn exact(&self) -> Vec<Vec<u32>> {
        self.inner.exact.clone()
    }

    /// The canonical encoding of the tail, if `y` has one.
    #[getter]
    fn canonical(&self) -> Option<Vec<u32>> {
        self.inner.canonical.clone()
    }

    fn __eq__(&self, other: &Self) -> bool {
        self.inner == other.inner
    }

    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "Covers(head={:?}, boundary={}, groups=<{}>, exact={:?}, canonical={:?})",
            c.head,
            c.boundary,
            c.groups.len(),
            c.exact,
            c.canonical
        )
    }
}

/// A healed prompt (see `toktool.HealedPrompt`).
#[pyclass(frozen, eq, module = "toktool._toktool", name = "Healed")]
#[derive(PartialEq, Eq)]
pub(crate) struct PyHealed(Healed);

impl PyHealed {
    pub(crate) fn new(healed: Healed) -> Self {
        PyHealed(healed)
    }
}

#[pymethods]
impl PyHealed {
    /// The healed prompt's ids: a canonical prefix of `prompt_ids`.
    #[getter]
    fn ids(&self) -> Vec<u32> {
        self.0.ids.clone()
    }

    /// The backed-off tokens: `prompt_ids == ids + removed`.
    #[getter]
    fn removed(&self) -> Vec<u32> {
        self.0.removed.clone()
    }

    /// The bytes generation must reproduce first.
    #[getter]
    fn constraint<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.0.constraint)
    }

    /// Canonical ids of the prompt's complete UTF-8 part.
    #[getter]
    fn prompt_ids(&self) -> Vec<u32> {
        self.0.prompt_ids.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Healed(ids={:?}, removed={:?}, constraint={:?}, prompt_ids={:?})",
            self.0.ids,
            self.0.removed,
            String::from_utf8_lossy(&self.0.constraint),
            self.0.prompt_ids
        )
    }
}

/// Pieces spelled in a tokenizer's ids (`zett_decompose`, `zett_decompose_vocab`).
#[pyclass(frozen, get_all, module = "toktool._toktool", name = "Decomposition")]
pub(crate) struct PyDecomposition {
    /// Every piece's ids, end to end; `lengths[i]` of them each (at most `max_len`).
    ids: Py<PyArray1<u32>>,
    lengths: Py<PyArray1<u32>>,
    /// Pieces cut to `max_len` ids.
    truncated: usize,
    /// Pieces left empty because the tokenizer cannot spell them exactly.
    unspellable: usize,
}

impl PyDecomposition {
    pub(crate) fn new(py: Python<'_>, d: Decomposition) -> Self {
        let lengths = d.offsets.windows(2).map(|w| u32_len(w[1] - w[0])).collect();
        PyDecomposition {
            ids: array(py, d.ids),
            lengths: array(py, lengths),
            truncated: d.truncated,
            unspellable: d.unspellable,
        }
    }
}

/// A sampled `UnigramLM` tokenizer and its segmentation of the batch (`zett_sample_unigram`).
#[pyclass(
    frozen,
    get_all,
    module = "toktool._toktool",
    name = "SampledTokenizer"
)]
pub(crate) struct PySampledTokenizer {
    /// Token bytes by id.
    vocab: Vec<Py<PyBytes>>,
    /// Per id: the token's log frequency in the batch.
    scores: Py<PyArray1<f64>>,
    /// Every text's ids, end to end; `lengths[i]` of them each.
    ids: Py<PyArray1<u32>>,
    lengths: Py<PyArray1<u32>>,
}

impl PySampledTokenizer {
    pub(crate) fn new(py: Python<'_>, sampled: SampledTokenizer) -> Self {
        let (ids, lengths) = ragged(py, sampled.ids.iter().map(Vec::as_slice));
        PySampledTokenizer {
            vocab: sampled
                .vocab
                .iter()
                .map(|t| PyBytes::new(py, t).unbind())
                .collect(),
            scores: array(py, sampled.scores),
            ids,
            lengths,
        }
    }
}

/// Register the result classes (for `isinstance` and the stub test).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMergedBatch>()?;
    m.add_class::<PyTokenizedMerge>()?;
    m.add_class::<PyCoverGroup>()?;
    m.add_class::<PyCovers>()?;
    m.add_class::<PyHealed>()?;
    m.add_class::<PyDecomposition>()?;
    m.add_class::<PySampledTokenizer>()?;
    Ok(())
}
