//! `Tokenizer.encode_files`: the core's corpus encoder (`toktool_core::corpus`), with the GIL
//! released for the whole run.
//!
//! One exception to the crate's rule that no Python object is touched in the released section:
//! between chunks the run re-attaches to call the progress callback and check for Ctrl-C
//! (`check_signals`). A run of minutes must show progress and stop on Ctrl-C; the alternative,
//! a Python loop driving a mutable encoder object one chunk at a time, would trade this for a
//! non-frozen class holding open files. The callback and the pending error are `Send` values
//! (`Py`, `PyErr`); nothing Python enters the core.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;

use toktool_core::corpus::{
    self, Dtype, EncodeFilesOptions, EncodeFilesSummary, InputFormat, Progress, Split,
};
use toktool_core::{Error, Tokenizer};

use crate::convert::invalid_input;
use crate::detached;

/// How far `Tokenizer.encode_files` got; passed to its `progress` callback after each chunk.
#[pyclass(
    frozen,
    get_all,
    module = "toktool._toktool",
    name = "EncodeFilesProgress"
)]
pub(crate) struct PyEncodeFilesProgress {
    /// On-disk bytes of the inputs read (compressed bytes for `.gz`), of `bytes_total`.
    bytes_done: u64,
    bytes_total: u64,
    /// `bytes_done` when this call started (more than 0 when it continues a run).
    bytes_at_start: u64,
    /// Documents and ids written so far (all runs together).
    documents: u64,
    tokens: u64,
}

/// What `Tokenizer.encode_files` wrote.
#[pyclass(
    frozen,
    get_all,
    module = "toktool._toktool",
    name = "EncodeFilesSummary"
)]
pub(crate) struct PyEncodeFilesSummary {
    /// The token file, its index (`uint64` document starts, `documents + 1` of them) and its
    /// manifest.
    tokens_path: PathBuf,
    index_path: PathBuf,
    manifest_path: PathBuf,
    /// `"uint16"` or `"uint32"` (little-endian).
    dtype: &'static str,
    /// Totals of the output, over every run that wrote it.
    documents: u64,
    tokens: u64,
    files: usize,
    /// Text bytes this call read, and the seconds it took.
    text_bytes: u64,
    seconds: f64,
    /// Whether this call continued an earlier, interrupted run.
    resumed: bool,
    /// Whether every input was encoded (false after an interruption: call again to finish).
    complete: bool,
}

#[pymethods]
impl PyEncodeFilesSummary {
    /// Text megabytes (10^6 bytes) per second of this call.
    #[getter]
    #[allow(clippy::cast_precision_loss)] // a rate for display: 52 bits of bytes are plenty
    fn mb_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.text_bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "EncodeFilesSummary(documents={}, tokens={}, files={}, dtype='{}', complete={}, \
             resumed={}, tokens_path='{}')",
            self.documents,
            self.tokens,
            self.files,
            self.dtype,
            if self.complete { "True" } else { "False" },
            if self.resumed { "True" } else { "False" },
            self.tokens_path.display()
        )
    }
}

impl From<EncodeFilesSummary> for PyEncodeFilesSummary {
    fn from(s: EncodeFilesSummary) -> Self {
        PyEncodeFilesSummary {
            tokens_path: s.tokens_path,
            index_path: s.index_path,
            manifest_path: s.manifest_path,
            dtype: s.dtype.name(),
            documents: s.documents,
            tokens: s.tokens,
            files: s.files,
            text_bytes: s.text_bytes,
            seconds: s.seconds,
            resumed: s.resumed,
            complete: s.complete,
        }
    }
}

// `Tokenizer.encode_files`'s text signature spells the default chunk size out.
const _: () = assert!(corpus::DEFAULT_CHUNK_BYTES == 16_777_216);

/// The arguments of `Tokenizer.encode_files` after the conversion to owned Rust values.
pub(crate) struct EncodeFilesArgs<'py> {
    pub paths: Vec<PathBuf>,
    pub out: PathBuf,
    pub split: String,
    pub jsonl_field: String,
    pub format: Option<String>,
    pub dtype: String,
    pub bos: Option<Bound<'py, PyAny>>,
    pub eos: Option<Bound<'py, PyAny>>,
    pub chunk_bytes: usize,
    pub resume: bool,
    pub progress: Option<Bound<'py, PyAny>>,
    pub name: Option<String>,
    pub fingerprint: String,
}

/// Run the core's `encode_files` without the GIL (see the module docs for the callback).
pub(crate) fn encode_files(
    py: Python<'_>,
    tokenizer: &Arc<Tokenizer>,
    args: EncodeFilesArgs<'_>,
) -> PyResult<PyEncodeFilesSummary> {
    let options = options(py, tokenizer, &args)?;
    let callback: Option<Py<PyAny>> = match &args.progress {
        None => None,
        Some(p) if p.is_instance_of::<pyo3::types::PyBool>() => p
            .extract::<bool>()?
            .then(|| py.import("toktool.corpus")?.getattr("ProgressBar")?.call0())
            .transpose()?
            .map(Bound::unbind),
        Some(p) => Some(p.clone().unbind()),
    };
    let tok = Arc::clone(tokenizer);
    let (paths, out) = (args.paths, args.out);
    let mut pending: Option<PyErr> = None;
    let result = detached(py, || {
        corpus::encode_files(&tok, &paths, &out, &options, &mut |progress| {
            Python::attach(|py| report(py, callback.as_ref(), progress)).map_or_else(
                |err| {
                    pending = Some(err);
                    ControlFlow::Break(())
                },
                |()| ControlFlow::Continue(()),
            )
        })
    });
    if let Some(bar) = &callback {
        if bar.bind(py).hasattr("close")? {
            bar.bind(py).call_method0("close")?;
        }
    }
    if let Some(err) = pending {
        return Err(err);
    }
    result.map(PyEncodeFilesSummary::from)
}

/// Call the progress callback, then let a pending Ctrl-C (or any signal handler's error) out.
fn report(py: Python<'_>, callback: Option<&Py<PyAny>>, progress: &Progress) -> PyResult<()> {
    if let Some(callback) = callback {
        let progress = PyEncodeFilesProgress {
            bytes_done: progress.bytes_done,
            bytes_total: progress.bytes_total,
            bytes_at_start: progress.bytes_at_start,
            documents: progress.documents,
            tokens: progress.tokens,
        };
        callback.bind(py).call1((progress,))?;
    }
    py.check_signals()
}

/// The core's options from the Python arguments (names parsed by the core's enums).
fn options(
    py: Python<'_>,
    tokenizer: &Tokenizer,
    args: &EncodeFilesArgs<'_>,
) -> PyResult<EncodeFilesOptions> {
    if args.chunk_bytes == 0 {
        return Err(invalid_input(py, "chunk_bytes must be at least 1".into()));
    }
    Ok(EncodeFilesOptions {
        format: args
            .format
            .as_deref()
            .map(InputFormat::from_name)
            .transpose()
            .map_err(|e| crate::to_py_err(py, &e))?,
        split: core(py, Split::from_name(&args.split))?,
        jsonl_field: args.jsonl_field.clone(),
        dtype: match args.dtype.as_str() {
            "auto" => None,
            name => Some(core(py, Dtype::from_name(name))?),
        },
        bos: special_id(py, tokenizer, args.bos.as_ref())?,
        eos: special_id(py, tokenizer, args.eos.as_ref())?,
        chunk_bytes: args.chunk_bytes,
        resume: args.resume,
        tokenizer_name: args.name.clone().unwrap_or_default(),
        tokenizer_fingerprint: args.fingerprint.clone(),
    })
}

/// A core result as a Python result.
fn core<T>(py: Python<'_>, result: Result<T, Error>) -> PyResult<T> {
    result.map_err(|e| crate::to_py_err(py, &e))
}

/// A BOS/EOS argument: an id, or a token spelled as in the tokenizer file.
fn special_id(
    py: Python<'_>,
    tokenizer: &Tokenizer,
    value: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<u32>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let result = if let Ok(token) = value.extract::<String>() {
        tokenizer.token_to_id(&token)
    } else {
        let id: i128 = value.extract()?;
        u32::try_from(id)
            .map_err(|_| Error::InvalidId {
                id: u64::try_from(id).unwrap_or(u64::MAX),
                vocab_size: tokenizer.vocab_size(),
            })
            .and_then(|id| tokenizer.token_bytes(id).map(|_| id))
    };
    result.map(Some).map_err(|e| crate::to_py_err(py, &e))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEncodeFilesProgress>()?;
    m.add_class::<PyEncodeFilesSummary>()?;
    Ok(())
}
