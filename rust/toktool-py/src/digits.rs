//! The digit-pattern grammar for Python: `toktool.digits` builds and reads its canonical `Split`
//! regexes through these two functions, so the grammar lives only in `toktool_core::digits`.

use pyo3::prelude::*;

use toktool_core::digits::{DigitSplitter, Order, OtherNumeric};

use crate::convert::invalid_input;
use crate::guarded;

fn other_numeric(py: Python<'_>, other: &str) -> PyResult<OtherNumeric> {
    match other {
        "ignore" => Ok(OtherNumeric::Ignore),
        "single" => Ok(OtherNumeric::Single),
        "run" => Ok(OtherNumeric::Run),
        _ => Err(invalid_input(
            py,
            format!("other must be 'ignore', 'single' or 'run', got {other:?}"),
        )),
    }
}

fn order(py: Python<'_>, mode: &str) -> PyResult<(Order, bool)> {
    match mode {
        "r2l" => Ok((Order::RightToLeft, false)),
        "l2r" => Ok((Order::LeftToRight, false)),
        "single" => Ok((Order::LeftToRight, true)),
        _ => Err(invalid_input(
            py,
            format!("digit mode must be one of r2l, l2r, single, got {mode:?}"),
        )),
    }
}

/// The canonical `Split` regex of a digit mode (`"r2l"`, `"l2r"`, `"single"`), group size and
/// treatment of other numeric characters (`"ignore"`, `"single"`, `"run"`).
#[pyfunction]
pub(crate) fn digit_pattern(
    py: Python<'_>,
    mode: &str,
    group: usize,
    other: &str,
) -> PyResult<String> {
    let (order, single) = order(py, mode)?;
    let other = other_numeric(py, other)?;
    let group = if single { 1 } else { group };
    guarded(py, || DigitSplitter::new(order, group, other)).map(|s| s.pattern())
}

/// `(mode, group, other)` of a canonical digit pattern; `None` for any other string.
#[pyfunction]
pub(crate) fn parse_digit_pattern(pattern: &str) -> Option<(&'static str, usize, &'static str)> {
    let s = DigitSplitter::for_pattern(pattern)?;
    let mode = match (s.group(), s.order()) {
        (1, _) => "single",
        (_, Order::LeftToRight) => "l2r",
        (_, Order::RightToLeft) => "r2l",
    };
    let other = match s.other() {
        OtherNumeric::Ignore => "ignore",
        OtherNumeric::Single => "single",
        OtherNumeric::Run => "run",
    };
    Some((mode, s.group(), other))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DIGIT", toktool_core::digits::DIGIT)?;
    m.add("OTHER_NUMERIC", toktool_core::digits::OTHER_NUMERIC)?;
    m.add("MAX_GROUP", toktool_core::digits::MAX_GROUP)?;
    m.add_function(wrap_pyfunction!(digit_pattern, m)?)?;
    m.add_function(wrap_pyfunction!(parse_digit_pattern, m)?)?;
    Ok(())
}
