//! Corpus-scale encoding: text and JSONL files streamed into one flat token file.
//!
//! [`encode_files`] reads the inputs in chunks of whole documents (`chunk_bytes` of text at a
//! time, so memory stays bounded whatever the size of the files), encodes each chunk's documents
//! on the thread pool (through [`crate::parallel`], so the fork and environment switches hold)
//! while the next chunk is read and the last one written (`pipeline.rs`), and appends their ids
//! in input order to three files:
//!
//! - `OUT`: the ids of every document end to end, little-endian `uint16` or `uint32`
//!   ([`Dtype`]); a document's ids are exactly [`Tokenizer::encode`] of its text, with the
//!   optional BOS id before and EOS id after;
//! - `OUT.idx` (the extension of `OUT` replaced): little-endian `uint64`, `n_docs + 1` entries;
//!   document `i` is `tokens[idx[i]..idx[i + 1]]`;
//! - `OUT.manifest.json`: the tokenizer's fingerprint, the options, every input's size and mtime
//!   and how far the run got ([`manifest::Manifest`]).
//!
//! After each chunk both data files are synced and the manifest is replaced atomically, so an
//! interrupted run (Ctrl-C, a crash, a killed job) resumes where the last chunk ended, and the
//! result is byte-identical to an uninterrupted run: chunk boundaries fall between documents and
//! never change a document's ids. The per-document reference is `Tokenizer::encode` itself; the
//! tests compare against it.

mod jsonl;
pub mod manifest;
mod output;
mod pipeline;
mod reader;

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::parallel::{maybe_par_map, parallelism};
use crate::tokenizer::Tokenizer;

pub use jsonl::{string_field, FieldError};
use manifest::{InputRecord, Manifest, Position, TokenizerRecord};
use output::TokenWriter;
use reader::{Chunk, DocRef, DocumentReader};

/// A chunk as read, with where the reader stood after it.
struct ReadChunk {
    chunk: Chunk,
    read: u64,
    position: Position,
    disk_bytes_done: u64,
}

/// A chunk's documents in the token file's layout, by group (see [`groups`]), and how many
/// came from each input file.
struct EncodedChunk {
    groups: Vec<EncodedGroup>,
    files: Vec<(usize, u64)>,
    documents: u64,
    read: u64,
    position: Position,
    disk_bytes_done: u64,
}

/// The ids of consecutive documents end to end, and how many each has.
struct EncodedGroup {
    bytes: Vec<u8>,
    lengths: Vec<u64>,
}

/// Text bytes per unit of work on the thread pool. Documents are encoded in groups of about
/// this size, each into one buffer: one buffer per document would cost more in allocations
/// and bookkeeping than in ids for files of short lines (about 60 bytes per document).
const GROUP_BYTES: usize = 1 << 16;

/// `docs` cut into runs of at least [`GROUP_BYTES`] of text (the last one may be shorter).
fn groups(docs: &[DocRef]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut size) = (0, 0);
    for (i, doc) in docs.iter().enumerate() {
        size += doc.end - doc.start + 1;
        if size >= GROUP_BYTES {
            groups.push(start..i + 1);
            (start, size) = (i + 1, 0);
        }
    }
    if start < docs.len() {
        groups.push(start..docs.len());
    }
    groups
}

/// Documents per input file, in order, as `(input index, documents)` runs.
fn documents_per_file(docs: &[DocRef]) -> Vec<(usize, u64)> {
    let mut runs: Vec<(usize, u64)> = Vec::new();
    for doc in docs {
        match runs.last_mut() {
            Some((file, count)) if *file == doc.file => *count += 1,
            _ => runs.push((doc.file, 1)),
        }
    }
    runs
}

/// How an input file holds its documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// Plain UTF-8 text: one document per file, or per line with [`Split::Lines`].
    Text,
    /// One JSON object per line; the document is one string field of it.
    Jsonl,
}

/// The value of `all` that `name_of` spells `given`, or an error listing the known names.
fn by_name<T: Copy>(
    all: &[T],
    name_of: fn(T) -> &'static str,
    what: &str,
    given: &str,
) -> Result<T> {
    all.iter()
        .copied()
        .find(|&v| name_of(v) == given)
        .ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|&v| name_of(v)).collect();
            Error::InvalidInput(format!(
                "unknown {what} {given:?} (known: {})",
                known.join(", ")
            ))
        })
}

impl InputFormat {
    pub const ALL: [InputFormat; 2] = [InputFormat::Text, InputFormat::Jsonl];

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Text => "text",
            InputFormat::Jsonl => "jsonl",
        }
    }

    pub fn from_name(name: &str) -> Result<InputFormat> {
        by_name(&Self::ALL, Self::name, "input format", name)
    }

    /// The format a file name says (`.jsonl`/`.ndjson`, optionally `.gz`: JSONL; else text),
    /// and whether the file is gzip-compressed (`.gz`).
    pub fn of_path(path: &Path) -> (InputFormat, bool) {
        let is = |p: &Path, ext: &str| p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext));
        let gzip = is(path, "gz");
        let inner = if gzip {
            path.with_extension("")
        } else {
            path.to_path_buf()
        };
        let format = if is(&inner, "jsonl") || is(&inner, "ndjson") {
            InputFormat::Jsonl
        } else {
            InputFormat::Text
        };
        (format, gzip)
    }
}

/// What a document is in a text file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// The whole file.
    #[default]
    File,
    /// Each line (`\n` or `\r\n`, not part of the document; empty lines are empty documents).
    Lines,
}

impl Split {
    pub const ALL: [Split; 2] = [Split::File, Split::Lines];

    pub fn name(self) -> &'static str {
        match self {
            Split::File => "file",
            Split::Lines => "lines",
        }
    }

    pub fn from_name(name: &str) -> Result<Split> {
        by_name(&Self::ALL, Self::name, "split", name)
    }
}

/// The element type of the token file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    U16,
    U32,
}

impl Dtype {
    pub const ALL: [Dtype; 2] = [Dtype::U16, Dtype::U32];

    pub fn name(self) -> &'static str {
        match self {
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
        }
    }

    pub fn from_name(name: &str) -> Result<Dtype> {
        by_name(&Self::ALL, Self::name, "dtype", name)
    }

    /// The narrowest type that holds every id of a vocabulary of `vocab_size`.
    pub fn for_vocab(vocab_size: usize) -> Dtype {
        if vocab_size <= 1 << 16 {
            Dtype::U16
        } else {
            Dtype::U32
        }
    }

    /// Bytes per id.
    pub fn width(self) -> u64 {
        match self {
            Dtype::U16 => 2,
            Dtype::U32 => 4,
        }
    }

    /// Append `bos`, `ids`, `eos` to `out` in the file's layout (little-endian); ids must fit
    /// (checked against the vocabulary size when the run starts).
    fn append(self, bos: Option<u32>, ids: &[u32], eos: Option<u32>, out: &mut Vec<u8>) {
        let count = ids.len() + usize::from(bos.is_some()) + usize::from(eos.is_some());
        out.reserve(count * self.width() as usize);
        let all = bos.iter().chain(ids).chain(eos.iter());
        match self {
            Dtype::U16 => all.for_each(|&id| out.extend_from_slice(&(id as u16).to_le_bytes())),
            Dtype::U32 => all.for_each(|&id| out.extend_from_slice(&id.to_le_bytes())),
        }
    }
}

/// Everything [`encode_files`] takes besides the tokenizer, the inputs and the output path.
#[derive(Debug, Clone)]
pub struct EncodeFilesOptions {
    /// `None`: by file name ([`InputFormat::of_path`]).
    pub format: Option<InputFormat>,
    pub split: Split,
    /// The JSONL field holding each document's text.
    pub jsonl_field: String,
    /// `None`: [`Dtype::for_vocab`].
    pub dtype: Option<Dtype>,
    /// An id put before / after every document.
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    /// Text bytes per chunk: the unit of parallel work, of memory and of resuming.
    pub chunk_bytes: usize,
    /// Continue the run recorded in the manifest (if any) instead of starting over.
    pub resume: bool,
    /// Recorded in the manifest: a name for the tokenizer, and its [`fingerprint`].
    pub tokenizer_name: String,
    pub tokenizer_fingerprint: String,
}

impl Default for EncodeFilesOptions {
    fn default() -> Self {
        EncodeFilesOptions {
            format: None,
            split: Split::File,
            jsonl_field: "text".into(),
            dtype: None,
            bos: None,
            eos: None,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            resume: true,
            tokenizer_name: String::new(),
            tokenizer_fingerprint: String::new(),
        }
    }
}

/// 16 MiB: a few thousand documents to spread over the cores, a commit every fraction of a
/// second, and about 4 x 16 MiB of memory (the text being read and the text being encoded,
/// the ids being made and the ids being written; more when one document is larger, and up to
/// twice that for files of very short lines, whose documents cost about 40 bytes each to track).
pub const DEFAULT_CHUNK_BYTES: usize = 16 << 20;

/// How far a run got, after each chunk.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// On-disk bytes of the inputs read (compressed bytes for `.gz`), of `bytes_total`.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// `bytes_done` when this call started (more than 0 when it continues a run).
    pub bytes_at_start: u64,
    pub documents: u64,
    pub tokens: u64,
}

/// What [`encode_files`] did.
#[derive(Debug, Clone)]
pub struct EncodeFilesSummary {
    pub tokens_path: PathBuf,
    pub index_path: PathBuf,
    pub manifest_path: PathBuf,
    pub dtype: Dtype,
    /// Totals of the output (over every run that wrote it).
    pub documents: u64,
    pub tokens: u64,
    pub files: usize,
    /// Text bytes read by this call, and its seconds (for throughput).
    pub text_bytes: u64,
    pub seconds: f64,
    /// Whether this call continued an earlier run.
    pub resumed: bool,
    /// Whether every input was encoded (false when the progress callback stopped the run).
    pub complete: bool,
}

/// The index and manifest paths of token file `out`: `out` with the extension `idx`, and with
/// `manifest.json`.
pub fn output_paths(out: &Path) -> Result<(PathBuf, PathBuf)> {
    let index = out.with_extension("idx");
    let manifest = out.with_extension("manifest.json");
    if index == out || manifest == out || out.file_name().is_none() {
        return Err(Error::InvalidInput(format!(
            "{}: name the token file something like tokens.bin (its index is written to \
             NAME.idx, its manifest to NAME.manifest.json)",
            out.display()
        )));
    }
    Ok((index, manifest))
}

/// A short stable hash of a tokenizer's JSON text (64-bit FNV-1a), for the manifest.
pub fn fingerprint(json: &str) -> String {
    let hash = json.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("fnv1a64:{hash:016x}")
}

/// Encode every document of `inputs` into the token file `out` (see the module docs).
/// `on_chunk` runs after each committed chunk; `ControlFlow::Break` stops the run there (it can
/// be resumed later), and the summary says `complete: false`.
pub fn encode_files(
    tokenizer: &Tokenizer,
    inputs: &[PathBuf],
    out: &Path,
    options: &EncodeFilesOptions,
    on_chunk: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<EncodeFilesSummary> {
    let started = Instant::now();
    let (index_path, manifest_path) = output_paths(out)?;
    let dtype = check_options(tokenizer, options)?;
    let records = describe_inputs(inputs, options.format, &[out, &index_path, &manifest_path])?;
    let fresh = Manifest::new(
        TokenizerRecord {
            name: options.tokenizer_name.clone(),
            fingerprint: options.tokenizer_fingerprint.clone(),
            vocab_size: tokenizer.vocab_size(),
        },
        dtype,
        options,
        records,
    );
    let mut run = Run {
        summary: EncodeFilesSummary {
            tokens_path: out.to_path_buf(),
            index_path,
            manifest_path,
            dtype,
            documents: 0,
            tokens: 0,
            files: inputs.len(),
            text_bytes: 0,
            seconds: 0.0,
            resumed: false,
            complete: false,
        },
        manifest: fresh,
        started,
    };
    if let Some(mut writer) = run.open(options, dtype)? {
        run.encode(tokenizer, options, dtype, &mut writer, on_chunk)?;
    }
    Ok(run.finish())
}

/// The state of one call of [`encode_files`].
struct Run {
    summary: EncodeFilesSummary,
    manifest: Manifest,
    started: Instant,
}

impl Run {
    /// Open the output files: continue the run the manifest on disk describes (if `resume` and
    /// it is the same run), or start afresh. `None` when that run is already complete.
    fn open(&mut self, options: &EncodeFilesOptions, dtype: Dtype) -> Result<Option<TokenWriter>> {
        let (out, index, manifest) = (
            &self.summary.tokens_path,
            &self.summary.index_path,
            &self.summary.manifest_path,
        );
        // A run that committed nothing has nothing to continue (say it failed on a bad first
        // chunk and the file was fixed since): it starts over.
        let previous = if options.resume {
            Manifest::load(manifest)?.filter(|old| old.position != Position::default())
        } else {
            None
        };
        let Some(old) = previous else {
            let writer = TokenWriter::create(out, index)?;
            self.manifest.save(manifest)?;
            return Ok(Some(writer));
        };
        if let Some(why) = old.resume_conflict(&self.manifest) {
            return Err(Error::InvalidInput(format!(
                "{}: cannot continue that run: {why}; start over with resume=False \
                 (--no-resume) or choose another output",
                manifest.display()
            )));
        }
        self.manifest = old;
        self.summary.resumed = true;
        if self.manifest.complete {
            return Ok(None);
        }
        let (documents, tokens) = (self.manifest.documents, self.manifest.tokens);
        TokenWriter::resume(out, index, dtype, documents, tokens).map(Some)
    }

    /// Encode from the manifest's position to the end (or until `on_chunk` says stop), reading,
    /// encoding and writing as [`pipeline::run_stages`] schedules them.
    fn encode(
        &mut self,
        tokenizer: &Tokenizer,
        options: &EncodeFilesOptions,
        dtype: Dtype,
        writer: &mut TokenWriter,
        on_chunk: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<()> {
        let inputs = self.manifest.inputs.clone();
        let bytes_total = inputs.iter().map(|input| input.size).sum();
        let mut reader = DocumentReader::new(&inputs, options.split, self.manifest.position);
        let bytes_at_start = reader.disk_bytes_done();
        let read = move || -> Result<Option<ReadChunk>> {
            // Room for the line that crosses the chunk's end without doubling the buffer.
            let capacity = options.chunk_bytes + options.chunk_bytes / 8 + (64 << 10);
            let mut chunk = Chunk {
                text: Vec::with_capacity(capacity.min(DEFAULT_CHUNK_BYTES * 4)),
                docs: Vec::new(),
            };
            let read = reader.next_chunk(&mut chunk, options.chunk_bytes)?;
            if chunk.docs.is_empty() && reader.at_end() {
                return Ok(None);
            }
            let (position, disk_bytes_done) = (reader.position(), reader.disk_bytes_done());
            Ok(Some(ReadChunk {
                chunk,
                read,
                position,
                disk_bytes_done,
            }))
        };
        let encode = |read: ReadChunk| -> Result<EncodedChunk> {
            let (text, docs) = (&read.chunk.text, &read.chunk.docs);
            let encoded = maybe_par_map(&groups(docs), |range| {
                encode_group(
                    tokenizer,
                    text,
                    &docs[range.clone()],
                    &inputs,
                    options,
                    dtype,
                )
            });
            Ok(EncodedChunk {
                groups: encoded.into_iter().collect::<Result<_>>()?,
                files: documents_per_file(docs),
                documents: docs.len() as u64,
                read: read.read,
                position: read.position,
                disk_bytes_done: read.disk_bytes_done,
            })
        };
        let commit = |encoded: EncodedChunk| -> Result<ControlFlow<()>> {
            self.commit(writer, &encoded)?;
            Ok(on_chunk(&Progress {
                bytes_done: encoded.disk_bytes_done,
                bytes_total,
                bytes_at_start,
                documents: self.manifest.documents,
                tokens: self.manifest.tokens,
            }))
        };
        if pipeline::run_stages(parallelism(), read, encode, commit)? {
            self.manifest.position = Position {
                file: inputs.len(),
                ..Position::default()
            };
            self.manifest.complete = true;
            self.manifest.save(&self.summary.manifest_path)?;
        }
        Ok(())
    }

    /// Append a chunk's documents, sync, and move the manifest past them.
    fn commit(&mut self, writer: &mut TokenWriter, encoded: &EncodedChunk) -> Result<()> {
        for group in &encoded.groups {
            writer.push(&group.bytes, &group.lengths)?;
        }
        writer.sync()?;
        for &(file, documents) in &encoded.files {
            self.manifest.inputs[file].documents += documents;
        }
        self.manifest.position = encoded.position;
        self.manifest.documents += encoded.documents;
        self.manifest.tokens = writer.tokens();
        self.manifest.text_bytes += encoded.read;
        self.summary.text_bytes += encoded.read;
        self.manifest.save(&self.summary.manifest_path)
    }

    fn finish(mut self) -> EncodeFilesSummary {
        self.summary.documents = self.manifest.documents;
        self.summary.tokens = self.manifest.tokens;
        self.summary.complete = self.manifest.complete;
        self.summary.seconds = self.started.elapsed().as_secs_f64();
        self.summary
    }
}

/// The dtype of the run, after checking that it and the BOS/EOS ids fit the vocabulary.
fn check_options(tokenizer: &Tokenizer, options: &EncodeFilesOptions) -> Result<Dtype> {
    let vocab_size = tokenizer.vocab_size();
    let dtype = options.dtype.unwrap_or(Dtype::for_vocab(vocab_size));
    if dtype == Dtype::U16 && vocab_size > 1 << 16 {
        return Err(Error::InvalidInput(format!(
            "dtype uint16 cannot hold the ids of a vocabulary of {vocab_size}; use uint32"
        )));
    }
    for id in [options.bos, options.eos].into_iter().flatten() {
        tokenizer.token_bytes(id)?;
    }
    if options.jsonl_field.is_empty() {
        return Err(Error::InvalidInput("the JSONL field name is empty".into()));
    }
    Ok(dtype)
}

/// Each input as it is now; missing files and inputs that are also outputs are refused.
fn describe_inputs(
    inputs: &[PathBuf],
    format: Option<InputFormat>,
    outputs: &[&Path],
) -> Result<Vec<InputRecord>> {
    if inputs.is_empty() {
        return Err(Error::InvalidInput("no input files".into()));
    }
    let outputs: Vec<PathBuf> = outputs
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .collect();
    inputs
        .iter()
        .map(|path| {
            let absolute = std::path::absolute(path).map_err(|e| io_error(path, &e))?;
            let (by_name, gzip) = InputFormat::of_path(path);
            let record = InputRecord::of(&absolute, format.unwrap_or(by_name), gzip)?;
            if std::fs::canonicalize(path).is_ok_and(|p| outputs.contains(&p)) {
                return Err(Error::InvalidInput(format!(
                    "{}: is both an input and an output",
                    path.display()
                )));
            }
            Ok(record)
        })
        .collect()
}

/// Consecutive documents' ids (with BOS/EOS) in the token file's layout, one buffer for all.
fn encode_group(
    tokenizer: &Tokenizer,
    text: &[u8],
    docs: &[DocRef],
    inputs: &[InputRecord],
    options: &EncodeFilesOptions,
    dtype: Dtype,
) -> Result<EncodedGroup> {
    let mut group = EncodedGroup {
        bytes: Vec::new(),
        lengths: Vec::with_capacity(docs.len()),
    };
    for doc in docs {
        let before = group.bytes.len();
        encode_document(
            tokenizer,
            text,
            doc,
            inputs,
            options,
            dtype,
            &mut group.bytes,
        )?;
        group
            .lengths
            .push((group.bytes.len() - before) as u64 / dtype.width());
    }
    Ok(group)
}

/// Append one document's ids (with BOS/EOS) to `out` in the token file's layout.
fn encode_document(
    tokenizer: &Tokenizer,
    text: &[u8],
    doc: &DocRef,
    inputs: &[InputRecord],
    options: &EncodeFilesOptions,
    dtype: Dtype,
    out: &mut Vec<u8>,
) -> Result<()> {
    let raw = &text[doc.start..doc.end];
    // Where the document is, for error messages only (formatted when one is raised).
    let at = || {
        let path = inputs[doc.file].path.display();
        if doc.line > 0 {
            format!("{path}:{}", doc.line)
        } else {
            path.to_string()
        }
    };
    let content: Cow<str> = if doc.jsonl {
        let field = &options.jsonl_field;
        string_field(raw, field).map_err(|e| {
            let at = at();
            Error::InvalidInput(match e {
                FieldError::Missing => {
                    format!("{at}: no {field:?} field (the JSONL field option names it)")
                }
                FieldError::NotAString => format!("{at}: the {field:?} field is not a string"),
                FieldError::Syntax(message) => format!("{at}: not a JSON object ({message})"),
            })
        })?
    } else {
        Cow::Borrowed(std::str::from_utf8(raw).map_err(|e| {
            Error::InvalidInput(format!(
                "{}: not UTF-8 text (at byte {} of the {})",
                at(),
                e.valid_up_to(),
                if doc.line > 0 { "line" } else { "file" }
            ))
        })?)
    };
    let ids = tokenizer.encode(&content)?;
    dtype.append(options.bos, &ids, options.eos, out);
    Ok(())
}

/// An I/O error on `path`, as the core reports it.
fn io_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(sizes: &[(usize, usize)]) -> Vec<DocRef> {
        let mut start = 0;
        sizes
            .iter()
            .map(|&(file, size)| {
                start += size;
                DocRef {
                    file,
                    line: 1,
                    start: start - size,
                    end: start,
                    jsonl: false,
                }
            })
            .collect()
    }

    #[test]
    fn groups_cover_every_document_once_in_order() {
        let small = docs(&vec![(0, 10); 20_000]);
        let big = docs(&[(0, 200_000), (0, 5), (1, 70_000), (1, 0)]);
        for docs in [small, big, Vec::new()] {
            let groups = groups(&docs);
            let flat: Vec<usize> = groups.iter().flat_map(Clone::clone).collect();
            assert_eq!(flat, (0..docs.len()).collect::<Vec<_>>());
            for range in &groups[..groups.len().saturating_sub(1)] {
                let text: usize = docs[range.clone()]
                    .iter()
                    .map(|d| d.end - d.start + 1)
                    .sum();
                assert!(text >= GROUP_BYTES);
            }
        }
    }

    #[test]
    fn documents_are_counted_per_file_in_runs() {
        let docs = docs(&[(0, 1), (0, 1), (2, 1), (3, 1), (3, 1), (3, 1)]);
        assert_eq!(documents_per_file(&docs), vec![(0, 2), (2, 1), (3, 3)]);
    }
}
