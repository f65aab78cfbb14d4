//! The manifest next to a token file: what was encoded with what, and how far the run got.
//!
//! It is rewritten atomically (temporary file, `fsync`, rename) after the data of each chunk is
//! on disk, so after a crash or Ctrl-C it describes a prefix of the token and index files; a rerun
//! of the same command cuts both back to that prefix and continues from the recorded position.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_error, Dtype, EncodeFilesOptions, InputFormat};
use crate::error::{Error, Result};

/// The value of the manifest's `format` field.
pub const MANIFEST_FORMAT: &str = "toktool-tokens";
/// Bumped when the layout of the output files changes.
pub const MANIFEST_VERSION: u32 = 1;

/// The JSON document written to `OUT.manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub tokenizer: TokenizerRecord,
    /// `uint16` or `uint32`: the element type of the token file (little-endian).
    pub dtype: String,
    pub options: OptionsRecord,
    pub inputs: Vec<InputRecord>,
    /// Where the next chunk starts.
    pub position: Position,
    /// Totals over everything committed so far.
    pub documents: u64,
    pub tokens: u64,
    /// Text bytes read (after decompression).
    pub text_bytes: u64,
    pub complete: bool,
}

/// Which tokenizer wrote the ids: a resumed run must use the same one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerRecord {
    /// What the caller called it (a bundled name or a path); informational.
    pub name: String,
    /// A hash of the tokenizer's JSON text (see [`super::fingerprint`]).
    pub fingerprint: String,
    pub vocab_size: usize,
}

/// The options that change the output; a resumed run must use the same ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionsRecord {
    pub split: String,
    pub jsonl_field: String,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

/// One input file as it was when the run started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub path: PathBuf,
    /// `text` or `jsonl`, and whether it is gzip-compressed.
    pub format: String,
    pub gzip: bool,
    pub size: u64,
    pub mtime_ns: u64,
    /// Documents of this file committed so far (all of them once `position.file` is past it).
    pub documents: u64,
}

/// A place between two documents of the inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Index into `inputs`; `inputs.len()` when everything was read.
    pub file: usize,
    /// Bytes of that file's (decompressed) text already read.
    pub offset: u64,
    /// Lines of that file already read.
    pub line: u64,
}

impl InputRecord {
    /// Describe `path` as it is now.
    pub fn of(path: &Path, format: InputFormat, gzip: bool) -> Result<InputRecord> {
        let meta = fs::metadata(path).map_err(|e| io_error(path, &e))?;
        if !meta.is_file() {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: "not a regular file".into(),
            });
        }
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(InputRecord {
            path: path.to_path_buf(),
            format: format.name().into(),
            gzip,
            size: meta.len(),
            mtime_ns,
            documents: 0,
        })
    }

    /// Whether `other` (described now) is the same file, unchanged, read the same way.
    fn same_file(&self, other: &InputRecord) -> bool {
        self.path == other.path
            && self.format == other.format
            && self.gzip == other.gzip
            && self.size == other.size
            && self.mtime_ns == other.mtime_ns
    }
}

impl Manifest {
    /// The manifest of a run that has not written anything yet.
    pub fn new(
        tokenizer: TokenizerRecord,
        dtype: Dtype,
        options: &EncodeFilesOptions,
        inputs: Vec<InputRecord>,
    ) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            version: MANIFEST_VERSION,
            tokenizer,
            dtype: dtype.name().into(),
            options: OptionsRecord {
                split: options.split.name().into(),
                jsonl_field: options.jsonl_field.clone(),
                bos: options.bos,
                eos: options.eos,
            },
            inputs,
            position: Position::default(),
            documents: 0,
            tokens: 0,
            text_bytes: 0,
            complete: false,
        }
    }

    /// Read a manifest; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Manifest>> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(path, &e)),
        };
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Io {
            path: path.display().to_string(),
            message: format!("not a toktool manifest ({e}); remove it or start over"),
        })?;
        if manifest.format != MANIFEST_FORMAT || manifest.version != MANIFEST_VERSION {
            return Err(Error::Io {
                path: path.display().to_string(),
                message: format!(
                    "a manifest of format {:?} version {}; this toktool writes {MANIFEST_FORMAT:?} \
                     version {MANIFEST_VERSION}",
                    manifest.format, manifest.version
                ),
            });
        }
        Ok(Some(manifest))
    }

    /// Write to `path` atomically: a synced temporary file in the same directory, renamed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json =
            serde_json::to_string_pretty(self).map_err(|e| Error::Internal(e.to_string()))?;
        let name = path
            .file_name()
            .map_or_else(|| "manifest".into(), |n| n.to_string_lossy().into_owned());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(json.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(path, &e)
        })
    }

    /// Why a run described by `fresh` may not continue this one, if it may not: another
    /// tokenizer, other options, other or changed inputs.
    pub fn resume_conflict(&self, fresh: &Manifest) -> Option<String> {
        if self.tokenizer.fingerprint != fresh.tokenizer.fingerprint {
            return Some(format!(
                "it was written with another tokenizer ({} {}, this one is {} {})",
                self.tokenizer.name,
                self.tokenizer.fingerprint,
                fresh.tokenizer.name,
                fresh.tokenizer.fingerprint
            ));
        }
        if self.dtype != fresh.dtype {
            return Some(format!("its dtype is {}, not {}", self.dtype, fresh.dtype));
        }
        if self.options != fresh.options {
            return Some(format!(
                "it was written with other options ({:?}, now {:?})",
                self.options, fresh.options
            ));
        }
        if self.inputs.len() != fresh.inputs.len() {
            return Some(format!(
                "it lists {} input files, this run {}",
                self.inputs.len(),
                fresh.inputs.len()
            ));
        }
        self.inputs
            .iter()
            .zip(&fresh.inputs)
            .find(|(old, new)| !old.same_file(new))
            .map(|(old, new)| {
                if old.path == new.path {
                    format!(
                        "{} changed since the run started (size {} -> {}, mtime {} -> {})",
                        new.path.display(),
                        old.size,
                        new.size,
                        old.mtime_ns,
                        new.mtime_ns
                    )
                } else {
                    format!(
                        "its inputs differ: {} where it had {}",
                        new.path.display(),
                        old.path.display()
                    )
                }
            })
    }
}
