//! Every conversion between Python values and Rust values, in one place.
//!
//! In: `str` (`owned_text`), one id (`owned_id`), a sequence of ids as a list, tuple or 1-D
//! integer array (`owned_ids`), a batch of sequences as a list of those or a 2-D integer array
//! (`owned_batch`), unit ids per token with `None`/negative for "never merged" (`owned_units`).
//! Integer arrays are read without a Python object per element, for every dtype in
//! [`int_array`].
//!
//! Out: numbers and `bytes` as themselves; bulk data (masks, candidate sets, merged batches,
//! vocabularies) as `NumPy` arrays (`array`), ragged data (one sequence per text, token or piece)
//! as one flat array plus a `lengths` array (`ragged`); the few ids of one cover or one healed
//! prompt, which Python walks one by one, as lists. Results with several parts are the frozen
//! classes of `results.rs`, never dicts or tuples.

use std::borrow::Cow;

use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArrayDyn, PyUntypedArray};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyString;

use toktool_core::merge::NO_UNIT;
use toktool_core::Error;

use crate::{error_class, to_py_err};

/// An `InvalidInputError` with `message`.
pub(crate) fn invalid_input(py: Python<'_>, message: String) -> PyErr {
    to_py_err(py, &Error::InvalidInput(message))
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

/// A non-negative count or length; a negative one is an `InvalidInputError` naming `name`.
pub(crate) fn non_negative(py: Python<'_>, name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .map_err(|_| invalid_input(py, format!("{name} must be >= 0, got {value}")))
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".into(), |n| n.to_string())
}

/// A Python `str` as an owned Rust string; lone surrogates are an `InvalidInputError`.
pub(crate) fn owned_text(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<String> {
    borrowed_text(py, text).map(Cow::into_owned)
}

/// A Python `str` as UTF-8 borrowed from the object (errors as `owned_text`). `str` is
/// immutable and the borrow lives no longer than `text`, so other threads may read it with the
/// GIL released. `CPython` hands out a compact ASCII string's own bytes and caches any other
/// string's UTF-8 in the object: a second call is free, and the cache lives as long as the `str`.
pub(crate) fn borrowed_text<'a>(
    py: Python<'_>,
    text: &'a Bound<'_, PyAny>,
) -> PyResult<Cow<'a, str>> {
    let s = text
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("expected str, got {}", type_name(text))))?;
    s.to_cow().map_err(|e| {
        invalid_input(
            py,
            format!("text is not valid Unicode (lone surrogate?): {e}"),
        )
    })
}

/// `bytes` as an owned byte string; anything else is a `TypeError` naming `what`.
pub(crate) fn owned_bytes(what: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    obj.cast::<pyo3::types::PyBytes>()
        .map(|b| b.as_bytes().to_vec())
        .map_err(|_| {
            PyTypeError::new_err(format!("{what}: expected bytes, got {}", type_name(obj)))
        })
}

/// One Python int as a token id; out-of-range values are an `InvalidTokenIdError`.
pub(crate) fn owned_id(py: Python<'_>, id: i128, vocab_size: usize) -> PyResult<u32> {
    u32::try_from(id).map_err(|_| id_out_of_range(py, id, None, Some(vocab_size)))
}

/// The values of an integer `NumPy` array, row-major, with its shape; `None` for anything else
/// (another dtype, or not an array). Read without a Python object per element: a
/// vocabulary-sized candidate array costs milliseconds the other way. Every dtype widens to
/// `i128`, so errors can say any value as written.
fn int_array(obj: &Bound<'_, PyAny>) -> Option<(Vec<i128>, Vec<usize>)> {
    fn read<T: Copy + Element + Into<i128>>(
        obj: &Bound<'_, PyAny>,
    ) -> Option<(Vec<i128>, Vec<usize>)> {
        let array = obj.extract::<PyReadonlyArrayDyn<'_, T>>().ok()?;
        let view = array.as_array();
        Some((
            view.iter().map(|&v| v.into()).collect(),
            view.shape().to_vec(),
        ))
    }
    // One cheap type check first: a list or tuple would otherwise fail every dtype below.
    if !obj.is_instance_of::<PyUntypedArray>() {
        return None;
    }
    read::<i64>(obj)
        .or_else(|| read::<i32>(obj))
        .or_else(|| read::<u32>(obj))
        .or_else(|| read::<u16>(obj))
        .or_else(|| read::<i16>(obj))
        .or_else(|| read::<u8>(obj))
        .or_else(|| read::<i8>(obj))
        .or_else(|| read::<u64>(obj))
}

/// `values` as token ids; the first one outside `u32` is an `InvalidTokenIdError` at its
/// position (`row_len`: positions count within rows of that length).
fn checked_ids<T: Copy + Into<i128>>(
    py: Python<'_>,
    values: &[T],
    row_len: Option<usize>,
) -> PyResult<Vec<u32>> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let v: i128 = v.into();
            u32::try_from(v).map_err(|_| {
                let position = row_len.map_or(i, |n| i % n);
                id_out_of_range(py, v, Some(position), None)
            })
        })
        .collect()
}

/// A sequence of Python ints (list, tuple or 1-D integer array) as token ids; out-of-range
/// values are an `InvalidTokenIdError` at their position.
pub(crate) fn owned_ids(py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<Vec<u32>> {
    if let Some((values, shape)) = int_array(ids) {
        if shape.len() == 1 {
            return checked_ids(py, &values, None);
        }
    }
    // The 64-bit extraction is cheaper than the 128-bit one; ints beyond it take the slow path
    // so that their errors say them as written.
    if let Ok(values) = ids.extract::<Vec<i64>>() {
        return checked_ids(py, &values, None);
    }
    let values: Vec<i128> = ids.extract().map_err(|_| {
        PyTypeError::new_err("expected a sequence of ints (list, tuple or 1-D integer array)")
    })?;
    checked_ids(py, &values, None)
}

/// A batch of id sequences: an iterable of sequences (see `owned_ids`) or a 2-D integer array.
pub(crate) fn owned_batch(py: Python<'_>, batch: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<u32>>> {
    if let Some((values, shape)) = int_array(batch) {
        if let [rows, cols] = shape[..] {
            if cols == 0 {
                return Ok(vec![Vec::new(); rows]);
            }
            let ids = checked_ids(py, &values, Some(cols))?;
            return Ok(ids.chunks(cols).map(<[u32]>::to_vec).collect());
        }
    }
    batch.try_iter()?.map(|seq| owned_ids(py, &seq?)).collect()
}

/// Unit ids per token of a batch (a list of lists or a 2-D integer array): ints >= 0 are
/// units; `None` or negative values become `NO_UNIT`, never merged.
pub(crate) fn owned_units(units: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Option<u32>>>> {
    let unit = |w: Option<i128>| {
        w.and_then(|w| u32::try_from(w).ok())
            .filter(|&w| w != NO_UNIT)
    };
    if let Some((values, shape)) = int_array(units) {
        if let [rows, cols] = shape[..] {
            if cols == 0 {
                return Ok(vec![Vec::new(); rows]);
            }
            return Ok(values
                .chunks(cols)
                .map(|row| row.iter().map(|&w| unit(Some(w))).collect())
                .collect());
        }
    }
    let values: Vec<Vec<Option<i64>>> = units.extract()?;
    Ok(values
        .into_iter()
        .map(|seq| seq.into_iter().map(|w| unit(w.map(i128::from))).collect())
        .collect())
}

/// `values` as a 1-D `NumPy` array that takes the vector over without a copy.
pub(crate) fn array<T: Element>(py: Python<'_>, values: Vec<T>) -> Py<PyArray1<T>> {
    values.into_pyarray(py).unbind()
}

/// A length as a `u32` (saturating: no sequence the core makes is that long).
pub(crate) fn u32_len(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Ragged data as `(flat, lengths)`: the sequences end to end, and one length each.
pub(crate) fn ragged<'a>(
    py: Python<'_>,
    sequences: impl Iterator<Item = &'a [u32]>,
) -> (Py<PyArray1<u32>>, Py<PyArray1<u32>>) {
    let mut flat = Vec::new();
    let mut lengths = Vec::new();
    for seq in sequences {
        flat.extend_from_slice(seq);
        lengths.push(u32_len(seq.len()));
    }
    (array(py, flat), array(py, lengths))
}
