//! `toktool._toktool.CoverSearch`: the cover bookkeeping behind `toktool.ByteLM`.

use std::sync::Arc;

use numpy::{PyArray1, ToPyArray};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use toktool_core::covers::CoverSearch;

use crate::tokenizer::PyTokenizer;
use crate::{detached, guarded, owned_ids};

/// Finds the covers of a byte string (see `toktool.bytes`).
#[pyclass(frozen, module = "toktool._toktool", name = "CoverSearch")]
pub(crate) struct PyCoverSearch {
    inner: Arc<CoverSearch>,
}

#[pymethods]
impl PyCoverSearch {
    #[new]
    fn new(py: Python<'_>, tokenizer: &PyTokenizer) -> PyResult<Self> {
        let tok = Arc::clone(&tokenizer.inner);
        let inner = detached(py, move || Ok(CoverSearch::new(tok)))?;
        Ok(PyCoverSearch {
            inner: Arc::new(inner),
        })
    }

    /// Covers of `y` as a dict: head, boundary, groups [(prefix, start, last)] (`last` a uint32
    /// array), exact, canonical.
    #[pyo3(signature = (y, validate=true))]
    fn covers<'py>(
        &self,
        py: Python<'py>,
        y: Vec<u8>,
        validate: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let search = Arc::clone(&self.inner);
        let c = detached(py, move || search.covers_with(&y, validate))?;
        let d = PyDict::new(py);
        d.set_item("head", c.head)?;
        d.set_item("boundary", c.boundary)?;
        // The last tokens as arrays: a group can hold thousands of candidates, and one Python
        // int each would cost more than the search.
        let groups = c
            .groups
            .into_iter()
            .map(|g| (g.prefix, g.start, g.last.to_pyarray(py)))
            .collect::<Vec<_>>();
        d.set_item("groups", groups)?;
        d.set_item("exact", c.exact)?;
        d.set_item("canonical", c.canonical)?;
        Ok(d)
    }

    /// `mask[t]`: token `t` may follow the tail ids `prefix` whose bytes are `tail`.
    fn valid_next<'py>(
        &self,
        py: Python<'py>,
        tail: Vec<u8>,
        prefix: &Bound<'_, PyAny>,
        at_start: bool,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let prefix = owned_ids(py, prefix)?;
        let search = Arc::clone(&self.inner);
        let mask = detached(py, move || search.valid_next(&tail, &prefix, at_start))?;
        Ok(mask.to_pyarray(py))
    }

    /// `valid[i]`: token `ids[i]` may follow the tail ids `prefix` whose bytes are `tail`.
    fn valid_among<'py>(
        &self,
        py: Python<'py>,
        tail: Vec<u8>,
        prefix: &Bound<'_, PyAny>,
        at_start: bool,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let (prefix, ids) = (owned_ids(py, prefix)?, owned_ids(py, ids)?);
        let search = Arc::clone(&self.inner);
        let mask = detached(py, move || {
            search.valid_among(&tail, &prefix, at_start, &ids)
        })?;
        Ok(mask.to_pyarray(py))
    }

    /// Ids of all tokens whose bytes start with `prefix`.
    fn tokens_with_prefix(&self, py: Python<'_>, prefix: Vec<u8>) -> PyResult<Vec<u32>> {
        guarded(py, || Ok(self.inner.tokens_with_prefix(&prefix).to_vec()))
    }
}
