//! `toktool._toktool.CoverSearch`: the cover bookkeeping behind `toktool.ByteLM`.

use std::sync::Arc;

use numpy::PyArray1;
use pyo3::prelude::*;

use toktool_core::covers::CoverSearch;

use crate::convert::{array, owned_ids};
use crate::results::PyCovers;
use crate::tokenizer::PyTokenizer;
use crate::{detached, guarded};

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

    /// Covers of `y` (`validate`: check the candidates' canonicity).
    #[pyo3(signature = (y, validate=true))]
    fn covers(&self, py: Python<'_>, y: Vec<u8>, validate: bool) -> PyResult<PyCovers> {
        let search = Arc::clone(&self.inner);
        let covers = detached(py, move || search.covers_with(&y, validate))?;
        PyCovers::new(py, covers)
    }

    /// `mask[t]`: token `t` may follow the tail ids `prefix` whose bytes are `tail`.
    fn valid_next(
        &self,
        py: Python<'_>,
        tail: Vec<u8>,
        prefix: &Bound<'_, PyAny>,
        at_start: bool,
    ) -> PyResult<Py<PyArray1<bool>>> {
        let prefix = owned_ids(py, prefix)?;
        let search = Arc::clone(&self.inner);
        let mask = detached(py, move || search.valid_next(&tail, &prefix, at_start))?;
        Ok(array(py, mask))
    }

    /// `valid[i]`: token `ids[i]` may follow the tail ids `prefix` whose bytes are `tail`.
    fn valid_among(
        &self,
        py: Python<'_>,
        tail: Vec<u8>,
        prefix: &Bound<'_, PyAny>,
        at_start: bool,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyArray1<bool>>> {
        let (prefix, ids) = (owned_ids(py, prefix)?, owned_ids(py, ids)?);
        let search = Arc::clone(&self.inner);
        let mask = detached(py, move || {
            search.valid_among(&tail, &prefix, at_start, &ids)
        })?;
        Ok(array(py, mask))
    }

    /// Ids of all tokens whose bytes start with `prefix`.
    fn tokens_with_prefix(&self, py: Python<'_>, prefix: Vec<u8>) -> PyResult<Vec<u32>> {
        guarded(py, || Ok(self.inner.tokens_with_prefix(&prefix).to_vec()))
    }
}
