//! `toktool._toktool.TokenHealer`: token healing over a loaded tokenizer.

use std::sync::Arc;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use toktool_core::Healer;

use crate::convert::{array, owned_id};
use crate::results::PyHealed;
use crate::tokenizer::PyTokenizer;
use crate::{detached, guarded};

/// Token healing for one tokenizer: the back-off rule and a prefix index over its token bytes.
#[pyclass(frozen, module = "toktool._toktool", name = "TokenHealer")]
pub(crate) struct PyTokenHealer {
    inner: Arc<Healer>,
}

#[pymethods]
impl PyTokenHealer {
    /// Index `tokenizer`'s token bytes; `max_backoff` caps how many tokens are removed.
    #[new]
    #[pyo3(signature = (tokenizer, max_backoff = None))]
    fn new(py: Python<'_>, tokenizer: &PyTokenizer, max_backoff: Option<usize>) -> PyResult<Self> {
        let tok = Arc::clone(&tokenizer.inner);
        let healer = detached(py, move || Healer::new(tok, max_backoff))?;
        Ok(PyTokenHealer {
            inner: Arc::new(healer),
        })
    }

    /// Heal `prompt`.
    fn heal(&self, py: Python<'_>, prompt: Vec<u8>) -> PyResult<PyHealed> {
        let inner = Arc::clone(&self.inner);
        let healed = detached(py, move || inner.heal(&prompt))?;
        Ok(PyHealed::new(healed))
    }

    /// Naive ids of `prompt`: `encode` of its UTF-8 part plus single-byte tokens for a cut char.
    fn encode_bytes(&self, py: Python<'_>, prompt: Vec<u8>) -> PyResult<Vec<u32>> {
        let healer = Arc::clone(&self.inner);
        detached(py, move || healer.encode_bytes(&prompt))
    }

    /// Boolean mask over the vocabulary of the tokens allowed under `constraint`.
    fn allowed(&self, py: Python<'_>, constraint: Vec<u8>) -> PyResult<Py<PyArray1<bool>>> {
        let healer = Arc::clone(&self.inner);
        let mask = detached(py, move || Ok(healer.index().allowed_mask(&constraint)))?;
        Ok(array(py, mask))
    }

    /// The allowed ids, ascending.
    fn allowed_ids(&self, py: Python<'_>, constraint: Vec<u8>) -> PyResult<Py<PyArray1<u32>>> {
        let healer = Arc::clone(&self.inner);
        let ids = detached(py, move || Ok(healer.index().allowed_ids(&constraint)))?;
        Ok(array(py, ids))
    }

    /// The allowed ids as 32-bit words: bit `id % 32` of word `id // 32`.
    fn allowed_bitmask(&self, py: Python<'_>, constraint: Vec<u8>) -> PyResult<Py<PyArray1<u32>>> {
        let healer = Arc::clone(&self.inner);
        let words = detached(py, move || Ok(healer.index().allowed_bitmask(&constraint)))?;
        Ok(array(py, words))
    }

    /// The rest of `constraint` after generating `token`; `None` if `token` is not allowed.
    fn advance<'py>(
        &self,
        py: Python<'py>,
        constraint: Vec<u8>,
        token: i64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let id = owned_id(py, i128::from(token), self.inner.index().vocab_size())?;
        let rest = guarded(py, || Ok(self.inner.index().advance(&constraint, id)))?;
        Ok(rest.map(|r| PyBytes::new(py, &r)))
    }

    /// Ids of the tokens whose bytes start with `prefix`, in byte order (special tokens excluded).
    fn extensions(&self, py: Python<'_>, prefix: Vec<u8>) -> PyResult<Py<PyArray1<u32>>> {
        let healer = Arc::clone(&self.inner);
        let ids = detached(py, move || Ok(healer.index().extensions(&prefix).to_vec()))?;
        Ok(array(py, ids))
    }

    /// Ids of the tokens whose bytes are a non-empty prefix of `text`, shortest first.
    fn prefixes_of(&self, py: Python<'_>, text: Vec<u8>) -> PyResult<Vec<u32>> {
        let healer = Arc::clone(&self.inner);
        detached(py, move || Ok(healer.index().prefixes_of(&text)))
    }

    /// The most tokens `heal` removes (`None`: as many as the last word has).
    #[getter]
    fn max_backoff(&self) -> Option<usize> {
        self.inner.max_backoff()
    }

    /// Length of every mask: the tokenizer's `vocab_size`.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.index().vocab_size()
    }

    /// Byte length of the longest non-special token.
    #[getter]
    fn max_token_len(&self) -> usize {
        self.inner.index().max_token_len()
    }

    fn __repr__(&self) -> String {
        format!(
            "TokenHealer(vocab_size={}, max_backoff={:?})",
            self.inner.index().vocab_size(),
            self.inner.max_backoff()
        )
    }
}
