//! One field of a JSONL record, without building the rest of the record.
//!
//! Other fields are skipped by serde's `IgnoredAny` (validated, never allocated); the text is
//! borrowed from the line when it has no escapes. Duplicate keys: the last one wins, as in
//! Python's `json.loads`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

/// What a JSONL line held instead of a string field `field`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    /// Not JSON, or not an object.
    Syntax(String),
    Missing,
    NotAString,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::Syntax(message) => write!(f, "not a JSON object ({message})"),
            FieldError::Missing => write!(f, "no such field"),
            FieldError::NotAString => write!(f, "the field is not a string"),
        }
    }
}

/// The string value of `field` in the JSON object `line`.
pub fn string_field<'a>(line: &'a [u8], field: &str) -> Result<Cow<'a, str>, FieldError> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let found = FieldSeed { field }
        .deserialize(&mut de)
        .and_then(|found| de.end().map(|()| found))
        .map_err(|e| FieldError::Syntax(e.to_string()))?;
    match found {
        None => Err(FieldError::Missing),
        Some(Value::Other) => Err(FieldError::NotAString),
        Some(Value::Text(text)) => Ok(text),
    }
}

/// The field's value: its text, or the note that it is some other JSON value.
enum Value<'de> {
    Text(Cow<'de, str>),
    Other,
}

struct FieldSeed<'f> {
    field: &'f str,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<Value<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Option<Value<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object with a string field {:?}", self.field)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == self.field {
                found = Some(map.next_value_seed(ValueSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Any JSON value: a string is kept (borrowed when the JSON spells it without escapes), the
/// rest is parsed and dropped.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Value::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Value::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Value::Text(Cow::Owned(v)))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Value::Other)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_field_among_others_and_borrows_plain_strings() {
        let line = br#"{"id": 3, "meta": {"text": [1, 2]}, "text": "hello", "n": null}"#;
        let got = string_field(line, "text").expect("has text");
        assert_eq!(got, "hello");
        assert!(matches!(got, Cow::Borrowed(_)));
    }

    #[test]
    fn unescapes_and_the_last_duplicate_wins_like_python() {
        let line = br#"{"text": "a", "text": "b\n\u00e9\ud83d\ude00"}"#;
        assert_eq!(string_field(line, "text").expect("has text"), "b\né😀");
    }

    #[test]
    fn tells_missing_wrong_type_and_bad_json_apart() {
        assert_eq!(
            string_field(br#"{"body": "x"}"#, "text"),
            Err(FieldError::Missing)
        );
        for value in ["1", "null", "true", "[\"x\"]", "{\"a\": \"x\"}", "2.5"] {
            let line = format!("{{\"text\": {value}}}");
            assert_eq!(
                string_field(line.as_bytes(), "text"),
                Err(FieldError::NotAString)
            );
        }
        for bad in [
            &b"{\"text\": \"x\""[..],
            b"[1]",
            b"\"text\"",
            b"{} {}",
            b"\xff",
        ] {
            assert!(
                matches!(string_field(bad, "text"), Err(FieldError::Syntax(_))),
                "{bad:?}"
            );
        }
    }
}
