//! The token file and its index: appended chunk by chunk, synced before the manifest moves on.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::{io_error, Dtype};
use crate::error::{Error, Result};

/// The open token (`OUT`) and index (`OUT.idx`) files.
pub struct TokenWriter {
    tokens: BufWriter<File>,
    index: BufWriter<File>,
    tokens_path: PathBuf,
    index_path: PathBuf,
    /// Ids written so far: the value of the next index entry's start.
    written: u64,
}

const WRITE_BUFFER: usize = 1 << 22;

impl TokenWriter {
    /// Start both files afresh: no tokens, and the index's first entry, 0.
    pub fn create(tokens_path: &Path, index_path: &Path) -> Result<TokenWriter> {
        let tokens = File::create(tokens_path).map_err(|e| io_error(tokens_path, &e))?;
        let index = File::create(index_path).map_err(|e| io_error(index_path, &e))?;
        let mut writer = TokenWriter::wrap(tokens, index, tokens_path, index_path, 0);
        writer
            .index
            .write_all(&0u64.to_le_bytes())
            .map_err(|e| io_error(index_path, &e))?;
        writer.sync()?;
        Ok(writer)
    }

    /// Reopen both files after `documents` documents of `tokens` ids, cutting off whatever an
    /// interrupted run wrote after its last commit.
    pub fn resume(
        tokens_path: &Path,
        index_path: &Path,
        dtype: Dtype,
        documents: u64,
        tokens: u64,
    ) -> Result<TokenWriter> {
        let tokens_file = open_cut(tokens_path, tokens * dtype.width())?;
        let index_file = open_cut(index_path, (documents + 1) * 8)?;
        Ok(TokenWriter::wrap(
            tokens_file,
            index_file,
            tokens_path,
            index_path,
            tokens,
        ))
    }

    fn wrap(
        tokens: File,
        index: File,
        tokens_path: &Path,
        index_path: &Path,
        written: u64,
    ) -> TokenWriter {
        TokenWriter {
            tokens: BufWriter::with_capacity(WRITE_BUFFER, tokens),
            index: BufWriter::with_capacity(WRITE_BUFFER, index),
            tokens_path: tokens_path.to_path_buf(),
            index_path: index_path.to_path_buf(),
            written,
        }
    }

    /// Append documents: their ids end to end in the file's byte layout, and how many ids each
    /// has (one index entry each).
    pub fn push(&mut self, bytes: &[u8], lengths: &[u64]) -> Result<()> {
        self.tokens
            .write_all(bytes)
            .map_err(|e| io_error(&self.tokens_path, &e))?;
        for &length in lengths {
            self.written += length;
            self.index
                .write_all(&self.written.to_le_bytes())
                .map_err(|e| io_error(&self.index_path, &e))?;
        }
        Ok(())
    }

    /// Ids written so far.
    pub fn tokens(&self) -> u64 {
        self.written
    }

    /// Flush both files to the disk (before the manifest says they hold what was pushed).
    pub fn sync(&mut self) -> Result<()> {
        for (writer, path) in [
            (&mut self.tokens, &self.tokens_path),
            (&mut self.index, &self.index_path),
        ] {
            writer.flush().map_err(|e| io_error(path, &e))?;
            writer
                .get_ref()
                .sync_data()
                .map_err(|e| io_error(path, &e))?;
        }
        Ok(())
    }
}

/// Open `path` for appending after its first `len` bytes, which it must have.
fn open_cut(path: &Path, len: u64) -> Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io_error(path, &e))?;
    let have = file.metadata().map_err(|e| io_error(path, &e))?.len();
    if have < len {
        return Err(Error::Io {
            path: path.display().to_string(),
            message: format!(
                "holds {have} bytes, fewer than the {len} its manifest says were written; \
                 start over (resume=False, --no-resume)"
            ),
        });
    }
    file.set_len(len).map_err(|e| io_error(path, &e))?;
    file.seek(SeekFrom::Start(len))
        .map_err(|e| io_error(path, &e))?;
    Ok(file)
}
