//! `PyO3` bindings: the private extension module `toktool._toktool`.
//!
//! Every method has one shape: convert Python inputs to owned Rust values (`convert.rs`), release
//! the GIL (`py.detach`) around the core call under a panic guard, convert the result back
//! (`convert.rs`; results with several parts are the frozen classes of `results.rs`). Functions
//! and classes carry the names of the core items they call. Core errors map to the exception
//! classes defined in `toktool/errors.py` (see `to_py_err`).

// PyO3 extracts every argument as an owned value (`Vec<u8>`, `PathBuf`): borrowing is not offered.
#![allow(clippy::needless_pass_by_value)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use toktool_core::Error;

mod convert;
mod corpus;
mod covers;
mod digits;
mod healing;
mod merge;
mod results;
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

pub(crate) fn error_class<'py>(
    py: Python<'py>,
    name: &str,
) -> PyResult<Bound<'py, pyo3::types::PyType>> {
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
pub(crate) fn catch_panic<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(Error::Internal(format!("panic in toktool core: {message}")))
    })
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
        return Err(convert::invalid_input(
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
    results::register(m)?;
    corpus::register(m)?;
    m.add(
        "BOUNDARIES",
        pyo3::types::PyTuple::new(m.py(), merge::boundary_names())?,
    )?;
    m.add_function(wrap_pyfunction!(merge::check_boundary, m)?)?;
    m.add_function(wrap_pyfunction!(merge::apply_merges, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge_batch, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge_batches, m)?)?;
    m.add_function(wrap_pyfunction!(merge::merge_units, m)?)?;
    m.add_function(wrap_pyfunction!(zett::zett_decompose, m)?)?;
    m.add_function(wrap_pyfunction!(zett::zett_decompose_vocab, m)?)?;
    m.add_function(wrap_pyfunction!(zett::zett_sample_unigram, m)?)?;
    Ok(())
}
