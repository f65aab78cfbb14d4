//! `PyO3` bindings: the private extension module `toktool._toktool`.
//!
//! Every method has one shape: convert Python inputs to owned Rust values, release the GIL
//! (`py.detach`) around the core call under a panic guard, convert the result back. Core errors
//! map to the exception classes defined in `toktool/errors.py` (see `to_py_err`).

// PyO3 extracts every argument as an owned value (`Vec<u8>`, `PathBuf`): borrowing is not offered.
#![allow(clippy::needless_pass_by_value)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

use toktool_core::Error;

mod covers;
mod digits;
mod healing;
mod merge;
mod tokenizer;
mod zett;

/// Map a core error to the matching `toktool.errors` class.
pub(crate) fn to_py_err(py: Python<'_>, err: &Error) -> PyErr {
    let class = match err {
        Error::Json { .. } => "TokenizerFormatError",
        Error::Unsupported { .. } => "UnsupportedComponentError",
        Error::Regex { .. } => "TokenizerRegexError",
        Error::InvalidId { .. } => "InvalidTokenIdError",
        Error::UnknownToken { .. } => "UnknownTokenError",
        Error::InvalidInput(_) => "InvalidInputError",
        Error::Io { .. } => "ToktoolIOError",
        Error::Gguf { .. } => "GgufFormatError",
        Error::Internal(_) => "InternalError",
    };
    error_class(py, class).map_or_else(|e| e, |cls| PyErr::from_type(cls, err.to_string()))
}

fn error_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, pyo3::types::PyType>> {
    static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = ERRORS.get_or_try_init(py, || py.import("toktool.errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into()?)
}

/// Run `f` without the GIL; a panic becomes `toktool.InternalError` instead of crossing over.
pub(crate) fn detached<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> Result<T, Error> + Send,
) -> PyResult<T> {
    py.detach(|| catch_panic(f)).map_err(|e| to_py_err(py, &e))
}

/// `detached` for cheap lookups that are not worth releasing the GIL for.
pub(crate) fn guarded<T>(py: Python<'_>, f: impl FnOnce() -> Result<T, Error>) -> PyResult<T> {
    catch_panic(f).map_err(|e| to_py_err(py, &e))
}

/// The panic guard: a panic in `f` becomes `Error::Internal` with the panic's message.
fn catch_panic<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Error::Internal(format!("panic in toktool core: {message}")))
    })
}

/// One Python int as a token id; out-of-range values are an `InvalidTokenIdError`.
pub(crate) fn owned_id(py: Python<'_>, id: i128, vocab_size: usize) -> PyResult<u32> {
    u32::try_from(id).map_err(|_| id_out_of_range(py, id, None, Some(vocab_size)))
}

/// The `InvalidTokenIdError` of an id that is not a `u32` at all (negative or at least 2^32),
/// said as the caller wrote it: the core's `Error::InvalidId` only holds ids that fit.
pub(crate) fn id_out_of_range(
    py: Python<'_>,
    id: i128,
    position: Option<usize>,
    vocab_size: Option<usize>,
) -> PyErr {
    let at = position.map_or_else(String::new, |i| format!(" at position {i}"));
    let why = if id < 0 {
        "is negative".to_owned()
    } else {
        format!(
            "is not below 2^32 (the largest id toktool accepts is {})",
            u32::MAX
        )
    };
    let size = vocab_size.map_or_else(String::new, |n| format!(" (vocab_size = {n})"));
    let message = format!("token id {id}{at} {why}{size}");
    error_class(py, "InvalidTokenIdError").map_or_else(|e| e, |cls| PyErr::from_type(cls, message))
}

/// Packed little-endian `u32`s, for results Python reads with `np.frombuffer(..., "<u4")`.
pub(crate) fn u32_bytes(
    py: Python<'_>,
    values: impl Iterator<Item = u32>,
) -> Bound<'_, pyo3::types::PyBytes> {
    let out: Vec<u8> = values.flat_map(u32::to_le_bytes).collect();
    pyo3::types::PyBytes::new(py, &out)
}

pub(crate) fn invalid_input(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, &Error::InvalidInput(message))
}

/// A Python `str` as an owned Rust string; lone surrogates are an `InvalidInputError`.
pub(crate) fn owned_text(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = text.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "expected str, got {}",
            text.get_type()
                .name()
                .map_or_else(|_| "?".into(), |n| n.to_string())
        ))
    })?;
    s.to_cow().map(std::borrow::Cow::into_owned).map_err(|e| {
        invalid_input(
            py,
            format!("text is not valid Unicode (lone surrogate?): {e}"),
        )
    })
}

/// A sequence of Python ints as token ids; out-of-range values are an `InvalidTokenIdError`.
pub(crate) fn owned_ids(py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    let values: Vec<i128> = match array_values(ids) {
        Some(values) => values,
        None => ids.extract().map_err(|_| {
            PyTypeError::new_err("expected a sequence of ints (list, tuple or 1-D integer array)")
        })?,
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| u32::try_from(v).map_err(|_| id_out_of_range(py, v, Some(i), None)))
        .collect()
}

/// The values of a 1-D integer numpy array, read without a Python object per element (a
/// vocabulary-sized candidate array costs milliseconds the other way); `None` for anything else.
fn array_values(obj: &Bound<'_, PyAny>) -> Option<Vec<i128>> {
    fn values<T: Copy + numpy::Element>(
        obj: &Bound<'_, PyAny>,
        widen: impl Fn(T) -> i128,
    ) -> Option<Vec<i128>> {
        let array = obj.extract::<numpy::PyReadonlyArray1<'_, T>>().ok()?;
        Some(array.as_array().iter().map(|&v| widen(v)).collect())
    }
    values::<i64>(obj, i128::from)
        .or_else(|| values::<i32>(obj, i128::from))
        .or_else(|| values::<u32>(obj, i128::from))
        .or_else(|| values::<u64>(obj, i128::from))
}

/// Turn batch parallelism on or off for the whole process (off in children after `fork()`).
#[pyfunction]
fn set_parallelism(enabled: bool) {
    toktool_core::set_parallelism(enabled);
}

/// Whether batch calls run on the thread pool.
#[pyfunction]
fn parallelism() -> bool {
    toktool_core::parallelism()
}

/// Turn the pre-token -> ids cache on or off for the whole process (ids never change; for
/// benchmarks).
#[pyfunction]
fn set_pretoken_cache(enabled: bool) {
    toktool_core::set_pretoken_cache(enabled);
}

/// Whether encoding uses the pre-token -> ids cache.
#[pyfunction]
fn pretoken_cache() -> bool {
    toktool_core::pretoken_cache()
}

/// Panic inside the core on purpose, to test the panic guard. Needs `TOKTOOL_TEST_PANIC=1`.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    if std::env::var_os("TOKTOOL_TEST_PANIC").is_none() {
        return Err(invalid_input(
            py,
            "set TOKTOOL_TEST_PANIC=1 to use this test hook".into(),
        ));
    }
    detached(py, || -> Result<(), Error> {
        panic!("deliberate test panic")
    })
}

#[pymodule]
fn _toktool(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<tokenizer::PyTokenizer>()?;
    m.add_class::<covers::PyCoverSearch>()?;
    m.add_class::<healing::PyTokenHealer>()?;
    digits::register(m)?;
    m.add_function(wrap_pyfunction!(set_parallelism, m)?)?;
    m.add_function(wrap_pyfunction!(parallelism, m)?)?;
    m.add_function(wrap_pyfunction!(set_pretoken_cache, m)?)?;
    m.add_function(wrap_pyfunction!(pretoken_cache, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(merge::apply_merges, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge_batch, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge_batches, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge_units, m)?)?;
    m.add_function(wrap_pyfunction!(merge::_time_merge_units, m)?)?;
    m.add_function(wrap_pyfunction!(zett::zett_decompose, m)?)?;
    m.add_function(wrap_pyfunction!(zett::zett_decompose_vocab, m)?)?;
    m.add_function(wrap_pyfunction!(zett::zett_sample_unigram, m)?)?;
    Ok(())
}
