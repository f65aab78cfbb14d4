//! The one error type of the core. The binding crate maps each variant to a Python exception.

use thiserror::Error;

/// Everything that can go wrong in the core, with enough context to act on it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The input is not valid JSON, or not shaped like a `tokenizer.json`.
    #[error("invalid tokenizer JSON at {path}: {message}")]
    Json { path: String, message: String },
    /// The file uses a component toktool does not implement exactly.
    #[error("unsupported {component} at {path}: {detail}")]
    Unsupported {
        component: String,
        path: String,
        detail: String,
    },
    /// A token id outside the vocabulary, or a hole in it.
    #[error("token id {id} is not in the vocabulary (vocab_size = {vocab_size})")]
    InvalidId { id: u64, vocab_size: usize },
    /// A token string that is not in the vocabulary.
    #[error("token {token:?} is not in the vocabulary")]
    UnknownToken { token: String },
    /// Input text or arguments that the operation cannot accept.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A regular expression in the file does not compile.
    #[error("invalid regex {pattern:?} at {path}: {message}")]
    Regex {
        pattern: String,
        path: String,
        message: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A GGUF file that is truncated or garbled (byte `offset` is where reading failed).
    #[error("{path}: invalid GGUF at byte {offset}: {message}")]
    Gguf {
        path: String,
        offset: u64,
        message: String,
    },
    /// A bug in toktool: an invariant did not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn json(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Json {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(
        component: impl Into<String>,
        path: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Error::Unsupported {
            component: component.into(),
            path: path.into(),
            detail: detail.into(),
        }
    }
}

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
