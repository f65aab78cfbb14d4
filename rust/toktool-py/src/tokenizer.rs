//! `toktool._toktool.Tokenizer`: the HF-exact BPE engine.

use std::borrow::Cow;
use std::sync::Arc;

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

use toktool_core::gguf_tokenizer::GgufTokenizerInfo;
use toktool_core::parallel::par_map_streamed;
use toktool_core::{Error, Tokenizer};

use crate::convert::{borrowed_text, owned_id, owned_ids, owned_text};
use crate::{catch_panic, detached, guarded, to_py_err};

/// A BPE tokenizer loaded from a Hugging Face `tokenizer.json`, giving HF-exact ids.
#[pyclass(frozen, module = "toktool._toktool", name = "Tokenizer")]
pub(crate) struct PyTokenizer {
    pub(crate) inner: Arc<Tokenizer>,
    json: Arc<str>,
    gguf: Option<Arc<GgufTokenizerInfo>>,
    /// One Python int per id, made on the first list result: a list of ids is then pointers to
    /// shared ints instead of one new int object per id (the list's main cost).
    ints: PyOnceLock<Vec<Py<PyAny>>>,
}

#[pymethods]
impl PyTokenizer {
    /// Load a `tokenizer.json` file.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let json = detached(py, || {
            let bytes = std::fs::read(&path).map_err(|e| Error::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            String::from_utf8(bytes).map_err(|e| Error::Json {
                path: format!("{} byte {}", path.display(), e.utf8_error().valid_up_to()),
                message: "the file is not UTF-8 text".into(),
            })
        })?;
        Self::load(py, json)
    }

    /// Load the tokenizer of a GGUF model file (only its metadata is read).
    #[staticmethod]
    fn from_gguf(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let (json, info) = detached(py, || {
            let md = toktool_core::gguf::read_metadata(&path)?;
            let (doc, info) = toktool_core::gguf_tokenizer::tokenizer_from_gguf(&md)?;
            let json = serde_json::to_string(&doc).map_err(|e| Error::Internal(e.to_string()))?;
            Ok((json, info))
        })?;
        let mut tok = Self::load(py, json)?;
        tok.gguf = Some(Arc::new(info));
        Ok(tok)
    }

    /// Load from the text of a `tokenizer.json`.
    #[staticmethod]
    fn from_str(py: Python<'_>, json: String) -> PyResult<Self> {
        Self::load(py, json)
    }

    /// Load from a `tokenizers.Tokenizer` object (any object with a `to_str()` method).
    #[staticmethod]
    fn from_hf(py: Python<'_>, tokenizer: &Bound<'_, PyAny>) -> PyResult<Self> {
        let json: String = tokenizer.call_method0("to_str")?.extract()?;
        Self::load(py, json)
    }

    /// The same tokenizer as a `tokenizers.Tokenizer`.
    fn to_hf<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("tokenizers")?
            .getattr("Tokenizer")?
            .call_method1("from_str", (&*self.json,))
    }

    /// The `tokenizer.json` text this tokenizer was loaded from.
    fn to_str(&self) -> &str {
        &self.json
    }

    /// Token ids of `text`, exactly as HF's `encode(text, add_special_tokens=False).ids`: a list,
    /// or with `as_array = true` a `NumPy` `uint32` array that takes over the ids without a copy.
    #[pyo3(signature = (text, as_array = false))]
    fn encode(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        as_array: bool,
    ) -> PyResult<Py<PyAny>> {
        let text = owned_text(py, text)?;
        let tok = Arc::clone(&self.inner);
        let ids = detached(py, move || tok.encode(&text))?;
        self.ids_to_py(py, ids, as_array)
    }

    /// `encode` of each text, in parallel with the GIL released (`as_array`: see `encode`).
    ///
    /// Ids become Python objects on this thread (they need the GIL) while the pool's threads
    /// keep encoding: `par_map_streamed` hands this thread every finished block between blocks
    /// it encodes itself, and the GIL is taken only around that conversion. The texts are read
    /// in place (`borrowed_text`); `texts` keeps the objects alive until the end.
    #[pyo3(signature = (texts, as_array = false))]
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: &Bound<'_, PyAny>,
        as_array: bool,
    ) -> PyResult<Vec<Py<PyAny>>> {
        // Checked in one pass so that the first bad item raises, as `encode` of it would.
        let objects: Vec<Bound<'_, PyAny>> = texts
            .try_iter()?
            .map(|item| {
                let item = item?;
                borrowed_text(py, &item)?;
                Ok(item)
            })
            .collect::<PyResult<_>>()?;
        let texts: Vec<Cow<'_, str>> = objects
            .iter()
            .map(|text| borrowed_text(py, text))
            .collect::<PyResult<_>>()?;
        let mut batch = BatchIds {
            slots: std::iter::repeat_with(|| None).take(texts.len()).collect(),
            failed: None,
        };
        let tok = &*self.inner;
        detached(py, || {
            Ok(par_map_streamed(
                &texts,
                |text| catch_panic(|| tok.encode(text)),
                |ready| Python::attach(|py| batch.store(py, self, ready, as_array)),
            ))
        })??;
        batch.into_result(py)
    }

    /// Encode text and JSONL files into one flat token file `out` (plus `out.idx` and
    /// `out.manifest.json`), in chunks on all cores with the GIL released; see
    /// `toktool.corpus` for the format and the options. Resumes an interrupted run.
    #[pyo3(signature = (
        paths, out, *, split = "file".to_owned(), jsonl_field = "text".to_owned(), format = None,
        dtype = "auto".to_owned(), bos = None, eos = None,
        chunk_bytes = toktool_core::corpus::DEFAULT_CHUNK_BYTES, resume = true, progress = None,
        name = None,
    ))]
    // The defaults written out (PyO3 shows expressions as `...`).
    #[pyo3(
        text_signature = "(self, paths, out, *, split='file', jsonl_field='text', \
        format=None, dtype='auto', bos=None, eos=None, chunk_bytes=16777216, resume=True, \
        progress=None, name=None)"
    )]
    #[allow(clippy::too_many_arguments)] // the keyword arguments of one Python method
    fn encode_files<'py>(
        &self,
        py: Python<'py>,
        paths: Vec<std::path::PathBuf>,
        out: std::path::PathBuf,
        split: String,
        jsonl_field: String,
        format: Option<String>,
        dtype: String,
        bos: Option<Bound<'py, PyAny>>,
        eos: Option<Bound<'py, PyAny>>,
        chunk_bytes: usize,
        resume: bool,
        progress: Option<Bound<'py, PyAny>>,
        name: Option<String>,
    ) -> PyResult<crate::corpus::PyEncodeFilesSummary> {
        let args = crate::corpus::EncodeFilesArgs {
            paths,
            out,
            split,
            jsonl_field,
            format,
            dtype,
            bos,
            eos,
            chunk_bytes,
            resume,
            progress,
            name,
            fingerprint: toktool_core::corpus::fingerprint(&self.json),
        };
        crate::corpus::encode_files(py, &self.inner, args)
    }

    /// `(ids, pretoken_index)`: which pre-token (or added token) produced each id.
    fn encode_with_pretokens(
        &self,
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
    ) -> PyResult<(Vec<u32>, Vec<u32>)> {
        let text = owned_text(py, text)?;
        let tok = Arc::clone(&self.inner);
        detached(py, move || tok.encode_with_pretokens(&text))
    }

    /// Run only the BPE model on one pre-token given as text bytes.
    fn bpe_bytes(&self, py: Python<'_>, piece: Vec<u8>) -> PyResult<Vec<u32>> {
        let tok = Arc::clone(&self.inner);
        detached(py, move || tok.bpe_bytes(&piece))
    }

    /// The exact bytes of `ids` (no lossy UTF-8 step).
    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids = owned_ids(py, ids)?;
        let tok = Arc::clone(&self.inner);
        let bytes = detached(py, move || tok.decode_bytes(&ids))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The text bytes of one token.
    fn token_bytes<'py>(&self, py: Python<'py>, id: i128) -> PyResult<Bound<'py, PyBytes>> {
        let id = owned_id(py, id, self.inner.vocab_size())?;
        let bytes = guarded(py, || self.inner.token_bytes(id))?;
        Ok(PyBytes::new(py, bytes))
    }

    /// The token bytes of every id (`None` for ids the file does not define).
    fn all_token_bytes<'py>(&self, py: Python<'py>) -> Vec<Option<Bound<'py, PyBytes>>> {
        self.inner
            .all_token_bytes()
            .iter()
            .map(|b| b.as_deref().map(|b| PyBytes::new(py, b)))
            .collect()
    }

    /// True iff `encode(decode_bytes(ids)) == ids`.
    fn is_canonical(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<bool> {
        let ids = owned_ids(py, ids)?;
        let tok = Arc::clone(&self.inner);
        detached(py, move || tok.is_canonical(&ids))
    }

    /// The token as the file spells it.
    fn id_to_token(&self, py: Python<'_>, id: i128) -> PyResult<String> {
        let id = owned_id(py, id, self.inner.vocab_size())?;
        guarded(py, || self.inner.id_to_token(id).map(str::to_owned))
    }

    /// The id of a token spelled as in the file.
    fn token_to_id(&self, py: Python<'_>, token: &str) -> PyResult<u32> {
        guarded(py, || self.inner.token_to_id(token))
    }

    /// Bytes that decoding drops at the start of a document (b" " for SentencePiece-style files).
    #[getter]
    fn implicit_prefix<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.implicit_prefix())
    }

    /// Number of ids: one more than the largest id in the file.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }

    /// Ids of the special tokens, by content.
    #[getter]
    fn special_tokens<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for t in self.inner.added_tokens().iter().filter(|t| t.special) {
            d.set_item(&t.content, t.id)?;
        }
        Ok(d)
    }

    /// A summary of the file's pipeline.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.summary();
        let d = PyDict::new(py);
        d.set_item("model_type", &s.model_type)?;
        d.set_item("vocab_size", self.inner.vocab_size())?;
        d.set_item("normalizer", &s.normalizer)?;
        d.set_item("pre_tokenizer", &s.pre_tokenizer)?;
        d.set_item("pre_tokenizer_path", &s.pre_tokenizer_path)?;
        d.set_item("decoder", &s.decoder)?;
        d.set_item("byte_level", s.byte_level)?;
        d.set_item("byte_fallback", s.byte_fallback)?;
        d.set_item("num_merges", s.num_merges)?;
        d.set_item("num_added_tokens", s.num_added_tokens)?;
        d.set_item("num_special_tokens", s.num_special_tokens)?;
        if let Some(g) = &self.gguf {
            d.set_item("gguf_model", &g.model)?;
            d.set_item("gguf_pre", &g.pre)?;
            d.set_item("bos_id", g.bos_id)?;
            d.set_item("eos_id", g.eos_id)?;
            d.set_item("eot_id", g.eot_id)?;
            d.set_item("eom_id", g.eom_id)?;
            d.set_item("pad_id", g.pad_id)?;
            d.set_item("unk_id", g.unk_id)?;
            d.set_item("sep_id", g.sep_id)?;
            d.set_item("add_bos", g.add_bos)?;
            d.set_item("add_eos", g.add_eos)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = self.inner.summary();
        format!(
            "Tokenizer(vocab_size={}, pre_tokenizer={:?}, byte_level={})",
            self.inner.vocab_size(),
            s.pre_tokenizer,
            s.byte_level
        )
    }
}

impl PyTokenizer {
    fn load(py: Python<'_>, json: String) -> PyResult<Self> {
        let (tokenizer, json) = detached(py, move || {
            let t = Tokenizer::from_json_str(&json)?;
            Ok((t, json))
        })?;
        Ok(PyTokenizer {
            inner: Arc::new(tokenizer),
            json: json.into(),
            gguf: None,
            ints: PyOnceLock::new(),
        })
    }
}

/// A new Python int.
fn py_int(py: Python<'_>, i: u32) -> Py<PyAny> {
    i.into_pyobject(py)
        .map_or_else(|never| match never {}, |int| int.into_any().unbind())
}

impl PyTokenizer {
    /// Ids as a Python list, or as a `NumPy` `uint32` array owning the vector (no copy).
    fn ids_to_py(&self, py: Python<'_>, ids: Vec<u32>, as_array: bool) -> PyResult<Py<PyAny>> {
        if as_array {
            return Ok(ids.into_pyarray(py).into_any().unbind());
        }
        let ints = self.ints.get_or_init(py, || {
            (0..u32::try_from(self.inner.vocab_size()).unwrap_or(u32::MAX))
                .map(|i| py_int(py, i))
                .collect()
        });
        ints_list(py, ints, &ids)
    }
}

/// A new list of `ints[id]` for each id (a new int where `ids` has an id past `ints`).
///
/// Without the limited API each item is an inline reference-count increment and a store into
/// the list's item array (`Py_INCREF`, `PyList_SET_ITEM`), as `list.copy` does. Measured as
/// `encode`'s list time minus its array time (Llama 3, stdlib code, 4 KB calls): 4.7-6.6 ns an
/// id, against 9.4-11.2 ns with the limited API's two function calls per item and
/// `PyList::new`'s checks. The list is created with every item set before Python can see it.
#[cfg(not(feature = "abi3"))]
fn ints_list(py: Python<'_>, ints: &[Py<PyAny>], ids: &[u32]) -> PyResult<Py<PyAny>> {
    use pyo3::ffi;
    let n = ffi::Py_ssize_t::try_from(ids.len())
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("too many ids for a list"))?;
    // SAFETY: `PyList_New(n)` returns a new list of `n` NULL items (or NULL with an exception
    // set, which `from_owned_ptr_or_err` turns into an error). Every index below `n` is then set
    // exactly once to a new reference (an incremented shared int, or a new int), which the list
    // steals, before the list is returned; the GIL is held throughout (`py`).
    unsafe {
        let list = ffi::PyList_New(n);
        let list = Bound::from_owned_ptr_or_err(py, list)?;
        for (i, &id) in (0..n).zip(ids) {
            let item = match ints.get(id as usize) {
                Some(int) => {
                    let ptr = int.as_ptr();
                    ffi::Py_INCREF(ptr);
                    ptr
                }
                None => py_int(py, id).into_ptr(),
            };
            ffi::PyList_SET_ITEM(list.as_ptr(), i, item);
        }
        Ok(list.into_any().unbind())
    }
}

/// The limited-API (abi3) build: `PyList::new` of shared ints.
#[cfg(feature = "abi3")]
fn ints_list(py: Python<'_>, ints: &[Py<PyAny>], ids: &[u32]) -> PyResult<Py<PyAny>> {
    let items = ids.iter().map(|&i| {
        ints.get(i as usize)
            .map_or_else(|| py_int(py, i), |int| int.clone_ref(py))
    });
    Ok(pyo3::types::PyList::new(py, items)?.into_any().unbind())
}

/// Consecutive texts' encodings from `par_map_streamed`: the first text's index and the results.
type EncodedBlock = (usize, Vec<Result<Vec<u32>, Error>>);

/// The results of `encode_batch` as they come in, one slot per text.
struct BatchIds {
    slots: Vec<Option<Py<PyAny>>>,
    /// The failed text with the lowest index and its error: the one a serial loop meets first.
    failed: Option<(usize, Error)>,
}

impl BatchIds {
    /// Convert a batch of finished blocks (`(first index, results)`) into their slots.
    fn store(
        &mut self,
        py: Python<'_>,
        tok: &PyTokenizer,
        ready: Vec<EncodedBlock>,
        as_array: bool,
    ) -> PyResult<()> {
        for (start, results) in ready {
            for (i, result) in (start..).zip(results) {
                match result {
                    // After a failure the call raises: converting more is wasted work.
                    Ok(ids) if self.failed.is_none() => {
                        self.slots[i] = Some(tok.ids_to_py(py, ids, as_array)?);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        if self.failed.as_ref().is_none_or(|(first, _)| i < *first) {
                            self.failed = Some((i, e));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The list of every text's ids, or the error of the first failed text.
    fn into_result(self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        if let Some((_, e)) = self.failed {
            return Err(to_py_err(py, &e));
        }
        self.slots
            .into_iter()
            .collect::<Option<_>>()
            .ok_or_else(|| {
                to_py_err(
                    py,
                    &Error::Internal("encode_batch: a text was not encoded".into()),
                )
            })
    }
}
