//! Reads the input files into chunks of whole documents, a bounded number of bytes at a time.
//!
//! A chunk holds the raw bytes of its documents (a line of text, a JSONL line, or a whole file)
//! end to end in one buffer, and where each one lies; decoding (UTF-8, JSON) happens later, in
//! parallel. Chunks run across file boundaries, so many small files still fill the cores.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::manifest::{InputRecord, Position};
use super::{io_error, InputFormat, Split};
use crate::error::{Error, Result};

/// One document of a chunk.
#[derive(Debug, Clone, Copy)]
pub struct DocRef {
    /// Index of its input file.
    pub file: usize,
    /// Its 1-based line number in that file; 0 for a whole-file document.
    pub line: u64,
    /// Its bytes in [`Chunk::text`] (line ends removed).
    pub start: usize,
    pub end: usize,
    pub jsonl: bool,
}

/// Whole documents read from the inputs; reused from chunk to chunk.
#[derive(Debug, Default)]
pub struct Chunk {
    pub text: Vec<u8>,
    pub docs: Vec<DocRef>,
}

/// An open input file with the number of its on-disk bytes read so far.
struct OpenFile {
    reader: Box<dyn BufRead + Send>,
    disk_read: Arc<AtomicU64>,
    gzip: bool,
}

/// Reads documents from `inputs` starting at a [`Position`].
pub struct DocumentReader<'a> {
    inputs: &'a [InputRecord],
    split: Split,
    position: Position,
    open: Option<OpenFile>,
}

const READ_BUFFER: usize = 1 << 20;

impl<'a> DocumentReader<'a> {
    pub fn new(inputs: &'a [InputRecord], split: Split, position: Position) -> Self {
        DocumentReader {
            inputs,
            split,
            position,
            open: None,
        }
    }

    /// Whether every input was read to its end.
    pub fn at_end(&self) -> bool {
        self.position.file >= self.inputs.len()
    }

    /// Where the next document starts.
    pub fn position(&self) -> Position {
        self.position
    }

    /// On-disk bytes of the inputs read so far (for progress bars).
    pub fn disk_bytes_done(&self) -> u64 {
        let finished: u64 = self.inputs[..self.position.file]
            .iter()
            .map(|input| input.size)
            .sum();
        let current = match (&self.open, self.inputs.get(self.position.file)) {
            (Some(open), _) if open.gzip => open.disk_read.load(Ordering::Relaxed),
            (None, Some(input)) if input.gzip => 0, // not reopened yet
            _ => self.position.offset,
        };
        finished + current
    }

    /// Refill `chunk` with the next documents, up to `chunk_bytes` of text read (more when one
    /// document alone is larger). Returns the bytes read. `chunk` may be empty before the end
    /// (a run of blank JSONL lines); [`DocumentReader::at_end`] says when the inputs are done.
    /// Bytes read, not kept, bound the chunk: a file of empty lines still makes small chunks.
    pub fn next_chunk(&mut self, chunk: &mut Chunk, chunk_bytes: usize) -> Result<u64> {
        chunk.text.clear();
        chunk.docs.clear();
        let mut read = 0;
        while read < chunk_bytes.max(1) as u64 && self.position.file < self.inputs.len() {
            if let Some(n) = self.next_document(chunk)? {
                read += n;
            } else {
                self.open = None;
                self.position = Position {
                    file: self.position.file + 1,
                    offset: 0,
                    line: 0,
                };
            }
        }
        Ok(read)
    }

    /// Append the next document of the current file to `chunk` (a blank JSONL line appends
    /// nothing). Returns the bytes consumed, or `None` at the end of the file.
    fn next_document(&mut self, chunk: &mut Chunk) -> Result<Option<u64>> {
        let file = self.position.file;
        let input = &self.inputs[file];
        if self.open.is_none() {
            self.open = Some(open_at(input, self.position.offset)?);
        }
        let Some(open) = self.open.as_mut() else {
            return Err(Error::Internal("the input file is not open".into()));
        };
        let jsonl = input.format == InputFormat::Jsonl.name();
        let start = chunk.text.len();
        let whole_file = !jsonl && self.split == Split::File;
        let n = if whole_file {
            if self.position.line > 0 {
                return Ok(None); // the whole-file document was read
            }
            open.reader.read_to_end(&mut chunk.text)
        } else {
            open.reader.read_until(b'\n', &mut chunk.text)
        }
        .map_err(|e| io_error(&input.path, &e))?;
        if n == 0 && !whole_file {
            return Ok(None);
        }
        self.position.offset += n as u64;
        self.position.line += 1;
        let mut end = chunk.text.len();
        if !whole_file {
            if chunk.text[start..end].ends_with(b"\n") {
                end -= 1;
            }
            if !jsonl && chunk.text[start..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        if jsonl && chunk.text[start..end].iter().all(u8::is_ascii_whitespace) {
            chunk.text.truncate(start); // blank lines separate nothing in JSONL
            return Ok(Some(n as u64));
        }
        chunk.docs.push(DocRef {
            file,
            line: if whole_file { 0 } else { self.position.line },
            start,
            end,
            jsonl,
        });
        Ok(Some(n as u64))
    }
}

/// Open `input` and skip `offset` bytes of its (decompressed) text.
fn open_at(input: &InputRecord, offset: u64) -> Result<OpenFile> {
    let path = &input.path;
    let mut file = File::open(path).map_err(|e| io_error(path, &e))?;
    let disk_read = Arc::new(AtomicU64::new(0));
    if !input.gzip {
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(path, &e))?;
        disk_read.store(offset, Ordering::Relaxed);
        return Ok(OpenFile {
            reader: Box::new(BufReader::with_capacity(READ_BUFFER, file)),
            disk_read,
            gzip: false,
        });
    }
    let counted = Counting {
        inner: file,
        count: Arc::clone(&disk_read),
    };
    let decoder = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(READ_BUFFER, counted));
    let mut reader = BufReader::with_capacity(READ_BUFFER, decoder);
    let skipped = io::copy(&mut (&mut reader).take(offset), &mut io::sink())
        .map_err(|e| io_error(path, &e))?;
    if skipped != offset {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: format!("holds {skipped} bytes of text, fewer than the {offset} already read"),
        });
    }
    Ok(OpenFile {
        reader: Box::new(reader),
        disk_read,
        gzip: true,
    })
}

/// A reader that counts the bytes it returns.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}
