//! Small helpers for reading `tokenizer.json` values with JSON paths in every error.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// A JSON object together with its path in the file, for error messages.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    pub path: &'a str,
    pub map: &'a Map<String, Value>,
}

impl<'a> Node<'a> {
    pub fn new(path: &'a str, value: &'a Value) -> Result<Node<'a>> {
        match value {
            Value::Object(map) => Ok(Node { path, map }),
            other => Err(Error::json(
                path,
                format!("expected an object, found {}", kind(other)),
            )),
        }
    }

    pub fn child_path(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn type_name(&self) -> Result<&'a str> {
        self.str("type")
    }

    pub fn str(&self, key: &str) -> Result<&'a str> {
        match self.get(key) {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(Error::json(
                self.child_path(key),
                format!("expected a string, found {}", kind(other)),
            )),
            None => Err(Error::json(self.child_path(key), "missing")),
        }
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key).map(|_| self.str(key)).transpose()
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(Error::json(
                self.child_path(key),
                format!("expected a boolean, found {}", kind(other)),
            )),
        }
    }

    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Number(n)) => {
                n.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| {
                        Error::json(self.child_path(key), "expected a non-negative integer")
                    })
            }
            Some(other) => Err(Error::json(
                self.child_path(key),
                format!("expected an integer, found {}", kind(other)),
            )),
        }
    }

    pub fn array(&self, key: &str) -> Result<&'a Vec<Value>> {
        match self.get(key) {
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(Error::json(
                self.child_path(key),
                format!("expected an array, found {}", kind(other)),
            )),
            None => Err(Error::json(self.child_path(key), "missing")),
        }
    }

    pub fn object(&self, key: &str) -> Result<&'a Map<String, Value>> {
        match self.get(key) {
            Some(Value::Object(m)) => Ok(m),
            Some(other) => Err(Error::json(
                self.child_path(key),
                format!("expected an object, found {}", kind(other)),
            )),
            None => Err(Error::json(self.child_path(key), "missing")),
        }
    }
}

/// A short name of a JSON value's kind.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A `{"String": s}` or `{"Regex": r}` pattern, as normalizers and pre-tokenizers spell them.
pub enum PatternSpec<'a> {
    Literal(&'a str),
    Regex(&'a str),
}

pub fn pattern_spec<'a>(node: Node<'a>, key: &str) -> Result<PatternSpec<'a>> {
    let path = node.child_path(key);
    let Some(Value::Object(inner)) = node.get(key) else {
        return Err(Error::json(
            path,
            "expected {\"String\": ...} or {\"Regex\": ...}",
        ));
    };
    match (inner.get("String"), inner.get("Regex")) {
        (Some(Value::String(s)), _) => Ok(PatternSpec::Literal(s)),
        (_, Some(Value::String(r))) => Ok(PatternSpec::Regex(r)),
        _ => Err(Error::json(
            path,
            "expected {\"String\": ...} or {\"Regex\": ...}",
        )),
    }
}

/// Compile a regex from a file with Oniguruma, the engine HF compiles it with.
pub fn compile_regex(pattern: &str, path: &str) -> Result<crate::regex::Regex> {
    crate::regex::Regex::new(pattern, path)
}
