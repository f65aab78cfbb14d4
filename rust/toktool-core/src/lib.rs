//! toktool-core: the pure-Rust core of toktool.
//!
//! An exact re-implementation of Hugging Face `tokenizers`' BPE pipeline (added tokens,
//! normalizers, pre-tokenizers, BPE with byte fallback) with fast paths for the common cases, and
//! the tokenizer algorithms built on it. Nothing here links Python; `toktool-py` wraps it.

pub mod added;
pub mod boundary;
pub mod bpe;
pub mod byte_level;
pub mod corpus;
pub mod covers;
pub mod cuts;
pub mod digits;
pub mod error;
pub mod gguf;
pub mod gguf_tokenizer;
pub mod healing;
pub mod json;
pub mod merge;
pub(crate) mod merge_tree;
pub mod normalizer;
pub mod parallel;
pub mod piece_cache;
pub mod prefix_index;
pub mod pretokenizer;
pub mod regex;
pub(crate) mod scan_blocks;
pub mod scanner;
pub mod tokenizer;
pub mod unicode_class;
pub mod zett;

pub use error::{Error, Result};
pub use healing::{Healed, Healer, TokenIndex};
pub use parallel::{parallelism, set_parallelism};
pub use piece_cache::{pretoken_cache, set_pretoken_cache};
pub use tokenizer::{Summary, Tokenizer};
