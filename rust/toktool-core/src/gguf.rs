//! Reading the metadata of a GGUF file (llama.cpp's model format), versions 2 and 3.
//!
//! Only the header and the key/value metadata are read, through a buffered reader: a model file
//! of many gigabytes costs the size of its metadata (the vocabulary), never its tensors. Reading
//! stops before the tensor infos. Every length read from the file is checked against the bytes
//! left before anything is allocated, so a garbled file is an [`Error::Gguf`] naming the byte
//! offset, not an out-of-memory abort.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md> (little-endian only).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    /// Elements all of one type (arrays may nest).
    Array(Vec<GgufValue>),
}

impl GgufValue {
    /// The value as an integer, for any integer type.
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            GgufValue::U8(v) => v.into(),
            GgufValue::I8(v) => v.into(),
            GgufValue::U16(v) => v.into(),
            GgufValue::I16(v) => v.into(),
            GgufValue::U32(v) => v.into(),
            GgufValue::I32(v) => v.into(),
            GgufValue::U64(v) => v.into(),
            GgufValue::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The value as a float, for float and integer types.
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            GgufValue::F32(v) => Some(v),
            GgufValue::F64(v) => Some(v as f32),
            _ => self.as_i128().map(|v| v as f32),
        }
    }

    /// The GGUF name of the value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            GgufValue::U8(_) => "uint8",
            GgufValue::I8(_) => "int8",
            GgufValue::U16(_) => "uint16",
            GgufValue::I16(_) => "int16",
            GgufValue::U32(_) => "uint32",
            GgufValue::I32(_) => "int32",
            GgufValue::F32(_) => "float32",
            GgufValue::Bool(_) => "bool",
            GgufValue::Str(_) => "string",
            GgufValue::U64(_) => "uint64",
            GgufValue::I64(_) => "int64",
            GgufValue::F64(_) => "float64",
            GgufValue::Array(_) => "array",
        }
    }
}

/// The header and metadata of a GGUF file.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufMetadata {
    /// Where it was read from (for error messages).
    pub path: String,
    pub version: u32,
    pub tensor_count: u64,
    /// Key/value pairs in file order.
    pub entries: Vec<(String, GgufValue)>,
}

impl GgufMetadata {
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Arrays nested deeper than this are refused (the format allows nesting; no real file needs it).
const MAX_DEPTH: usize = 8;

/// Read the metadata of the GGUF file at `path` (its tensors are never read).
pub fn read_metadata(path: &Path) -> Result<GgufMetadata> {
    let shown = path.display().to_string();
    let io = |e: std::io::Error| Error::Io {
        path: shown.clone(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    read_metadata_from(BufReader::with_capacity(1 << 20, file), len, &shown)
}

/// Read GGUF metadata from `reader`, which holds `len` bytes; `path` names it in errors.
pub fn read_metadata_from<R: Read>(reader: R, len: u64, path: &str) -> Result<GgufMetadata> {
    let mut r = Reader {
        inner: reader,
        offset: 0,
        len,
        path,
    };
    let magic = r.bytes(4, "the magic number")?;
    if magic != b"GGUF" {
        return Err(r.error(
            0,
            format!("not a GGUF file (magic {magic:?}, expected \"GGUF\")"),
        ));
    }
    let version = r.u32("the version")?;
    if version != 2 && version != 3 {
        return Err(r.error(
            4,
            format!("GGUF version {version} is not supported (toktool reads versions 2 and 3)"),
        ));
    }
    let tensor_count = r.u64("the tensor count")?;
    let kv_count = r.u64("the metadata count")?;
    // Each entry takes at least 8 (key length) + 4 (type) + 1 bytes.
    r.check_count(kv_count, 13, "metadata entries")?;
    let mut entries = Vec::with_capacity(usize::try_from(kv_count).unwrap_or(0));
    for _ in 0..kv_count {
        let key = r.string("a metadata key")?;
        let at = r.offset;
        let kind = r.u32("a value type")?;
        let value = r
            .value(kind, 0)
            .map_err(|e| Reader::<R>::in_key(e, &key, at))?;
        entries.push((key, value));
    }
    Ok(GgufMetadata {
        path: path.to_owned(),
        version,
        tensor_count,
        entries,
    })
}

struct Reader<'p, R> {
    inner: R,
    offset: u64,
    len: u64,
    path: &'p str,
}

impl<R: Read> Reader<'_, R> {
    fn error(&self, offset: u64, message: impl Into<String>) -> Error {
        Error::Gguf {
            path: self.path.to_owned(),
            offset,
            message: message.into(),
        }
    }

    fn in_key(err: Error, key: &str, at: u64) -> Error {
        match err {
            Error::Gguf {
                path,
                offset,
                message,
            } => Error::Gguf {
                path,
                offset,
                message: format!("{message} (in the value of {key:?}, which starts at byte {at})"),
            },
            other => other,
        }
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>> {
        if n > self.len.saturating_sub(self.offset) {
            return Err(self.error(
                self.offset,
                format!(
                    "truncated: {what} needs {n} bytes, {} are left",
                    self.len.saturating_sub(self.offset)
                ),
            ));
        }
        let mut buf = vec![0; usize::try_from(n).map_err(|_| self.error(self.offset, "too big"))?];
        self.inner
            .read_exact(&mut buf)
            .map_err(|e| self.error(self.offset, format!("truncated while reading {what}: {e}")))?;
        self.offset += n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let v = self.bytes(N as u64, what)?;
        let mut out = [0; N];
        out.copy_from_slice(&v);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Refuse a count of items (each at least `min_size` bytes) that cannot fit in the file.
    fn check_count(&self, count: u64, min_size: u64, what: &str) -> Result<()> {
        let left = self.len.saturating_sub(self.offset);
        if count.saturating_mul(min_size) > left {
            return Err(self.error(
                self.offset,
                format!(
                    "{count} {what} cannot fit in the {left} bytes left (garbled or truncated)"
                ),
            ));
        }
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let at = self.offset;
        let n = self.u64(what)?;
        let bytes = self.bytes(n, what)?;
        String::from_utf8(bytes).map_err(|e| {
            self.error(
                at + 8 + e.utf8_error().valid_up_to() as u64,
                format!("{what} is not UTF-8"),
            )
        })
    }

    fn value(&mut self, kind: u32, depth: usize) -> Result<GgufValue> {
        Ok(match kind {
            0 => GgufValue::U8(u8::from_le_bytes(self.array("a uint8")?)),
            1 => GgufValue::I8(i8::from_le_bytes(self.array("an int8")?)),
            2 => GgufValue::U16(u16::from_le_bytes(self.array("a uint16")?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array("an int16")?)),
            4 => GgufValue::U32(self.u32("a uint32")?),
            5 => GgufValue::I32(i32::from_le_bytes(self.array("an int32")?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array("a float32")?)),
            7 => {
                let at = self.offset;
                match self.array::<1>("a bool")?[0] {
                    0 => GgufValue::Bool(false),
                    1 => GgufValue::Bool(true),
                    b => return Err(self.error(at, format!("bool byte {b} is neither 0 nor 1"))),
                }
            }
            8 => GgufValue::Str(self.string("a string")?),
            9 => self.array_value(depth)?,
            10 => GgufValue::U64(self.u64("a uint64")?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array("an int64")?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array("a float64")?)),
            other => {
                return Err(self.error(
                    self.offset - 4,
                    format!("unknown value type {other} (GGUF defines 0..=12)"),
                ))
            }
        })
    }

    fn array_value(&mut self, depth: usize) -> Result<GgufValue> {
        if depth >= MAX_DEPTH {
            return Err(self.error(
                self.offset,
                format!("arrays nested deeper than {MAX_DEPTH}"),
            ));
        }
        let kind = self.u32("an array element type")?;
        let count = self.u64("an array length")?;
        let min_size = match kind {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            8 | 10..=12 => 8,
            9 => 12,
            other => {
                return Err(self.error(
                    self.offset - 12,
                    format!("unknown array element type {other} (GGUF defines 0..=12)"),
                ))
            }
        };
        self.check_count(count, min_size, "array elements")?;
        let mut items = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for _ in 0..count {
            items.push(self.value(kind, depth + 1)?);
        }
        Ok(GgufValue::Array(items))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny GGUF writer for tests (the Python tests use the `gguf` package's writer instead).
    pub(crate) fn encode(version: u32, entries: &[(&str, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(version.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend((entries.len() as u64).to_le_bytes());
        for (key, kind, payload) in entries {
            out.extend(string(key));
            out.extend(kind.to_le_bytes());
            out.extend(payload);
        }
        out
    }

    pub(crate) fn string(s: &str) -> Vec<u8> {
        let mut out = (s.len() as u64).to_le_bytes().to_vec();
        out.extend(s.as_bytes());
        out
    }

    pub(crate) fn str_array(items: &[&str]) -> Vec<u8> {
        let mut out = 8u32.to_le_bytes().to_vec();
        out.extend((items.len() as u64).to_le_bytes());
        for s in items {
            out.extend(string(s));
        }
        out
    }

    fn read(bytes: &[u8]) -> Result<GgufMetadata> {
        read_metadata_from(bytes, bytes.len() as u64, "t.gguf")
    }

    fn all_types() -> Vec<u8> {
        let mut nested = 9u32.to_le_bytes().to_vec(); // array of arrays of int16
        nested.extend(2u64.to_le_bytes());
        for row in [[1i16, -2], [3, 4]] {
            nested.extend(3u32.to_le_bytes());
            nested.extend(2u64.to_le_bytes());
            for v in row {
                nested.extend(v.to_le_bytes());
            }
        }
        encode(
            3,
            &[
                ("u8", 0, vec![200]),
                ("i8", 1, vec![0xff]),
                ("u16", 2, 60000u16.to_le_bytes().to_vec()),
                ("i16", 3, (-5i16).to_le_bytes().to_vec()),
                ("u32", 4, 7u32.to_le_bytes().to_vec()),
                ("i32", 5, (-7i32).to_le_bytes().to_vec()),
                ("f32", 6, 1.5f32.to_le_bytes().to_vec()),
                ("bool", 7, vec![1]),
                ("str", 8, string("héllo")),
                ("strs", 9, str_array(&["a", "b c"])),
                ("u64", 10, u64::MAX.to_le_bytes().to_vec()),
                ("i64", 11, i64::MIN.to_le_bytes().to_vec()),
                ("f64", 12, 0.25f64.to_le_bytes().to_vec()),
                ("nested", 9, nested),
            ],
        )
    }

    #[test]
    fn reads_every_value_type_in_v2_and_v3() {
        for version in [2, 3] {
            let mut bytes = all_types();
            bytes[4..8].copy_from_slice(&u32::to_le_bytes(version));
            let md = read(&bytes).unwrap();
            assert_eq!(md.version, version);
            assert_eq!(md.get("u8"), Some(&GgufValue::U8(200)));
            assert_eq!(md.get("i8"), Some(&GgufValue::I8(-1)));
            assert_eq!(md.get("u16"), Some(&GgufValue::U16(60000)));
            assert_eq!(md.get("i16"), Some(&GgufValue::I16(-5)));
            assert_eq!(md.get("u32"), Some(&GgufValue::U32(7)));
            assert_eq!(md.get("i32"), Some(&GgufValue::I32(-7)));
            assert_eq!(md.get("f32"), Some(&GgufValue::F32(1.5)));
            assert_eq!(md.get("bool"), Some(&GgufValue::Bool(true)));
            assert_eq!(md.get("str"), Some(&GgufValue::Str("héllo".into())));
            assert_eq!(
                md.get("strs"),
                Some(&GgufValue::Array(vec![
                    GgufValue::Str("a".into()),
                    GgufValue::Str("b c".into())
                ]))
            );
            assert_eq!(md.get("u64"), Some(&GgufValue::U64(u64::MAX)));
            assert_eq!(md.get("i64"), Some(&GgufValue::I64(i64::MIN)));
            assert_eq!(md.get("f64"), Some(&GgufValue::F64(0.25)));
            let row = |a, b| GgufValue::Array(vec![GgufValue::I16(a), GgufValue::I16(b)]);
            assert_eq!(
                md.get("nested"),
                Some(&GgufValue::Array(vec![row(1, -2), row(3, 4)]))
            );
        }
    }

    #[test]
    fn every_truncation_is_an_error_with_an_offset() {
        let bytes = all_types();
        for cut in 0..bytes.len() {
            match read(&bytes[..cut]) {
                Err(Error::Gguf { offset, .. }) => assert!(offset <= cut as u64, "cut {cut}"),
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn garbled_headers_and_values_are_refused() {
        let mut bad_magic = all_types();
        bad_magic[0] = b'X';
        let mut v1 = all_types();
        v1[4] = 1;
        let mut huge_count = all_types();
        huge_count[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        let bad_type = encode(3, &[("k", 13, vec![0; 8])]);
        let bad_bool = encode(3, &[("k", 7, vec![2])]);
        let huge_string = encode(3, &[("k", 8, (1u64 << 60).to_le_bytes().to_vec())]);
        let mut huge_array = 4u32.to_le_bytes().to_vec();
        huge_array.extend((1u64 << 40).to_le_bytes());
        let huge_array = encode(3, &[("k", 9, huge_array)]);
        let not_utf8 = encode(
            3,
            &[("k", 8, [1u64.to_le_bytes().to_vec(), vec![0xff]].concat())],
        );
        for (name, bytes, needle) in [
            ("magic", bad_magic, "not a GGUF file"),
            ("version", v1, "version 1"),
            ("count", huge_count, "cannot fit"),
            ("type", bad_type, "unknown value type 13"),
            ("bool", bad_bool, "neither 0 nor 1"),
            ("string", huge_string, "truncated"),
            ("array", huge_array, "cannot fit"),
            ("utf8", not_utf8, "not UTF-8"),
        ] {
            let err = read(&bytes).expect_err(name);
            assert!(
                matches!(err, Error::Gguf { .. }) && err.to_string().contains(needle),
                "{name}: {err}"
            );
        }
    }
}
