//! A results document as read from disk: JSON in which no object repeats a
//! key (where `serde_json::Value` keeps the last silently: an appended
//! `"cases": []` would empty the report) and no text is longer than any
//! ditbench writes (a 200 MiB host name would be copied into every row of
//! a report).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The longest text (string or key) a results file may hold. ditbench's
/// longest are a failed case's error (its worker's last lines, each cut) and
/// a note; a command-line argument is a path.
pub const MAX_TEXT_BYTES: usize = 64 << 10;

/// Parse `text` as a JSON document, refusing a repeated key or an overlong
/// text with the line and column where it occurs.
pub fn parse(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str::<Strict>(text).map(|s| s.0)
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

fn bounded<E: de::Error>(text: &str) -> Result<(), E> {
    match text.len() > MAX_TEXT_BYTES {
        true => Err(E::custom(format!(
            "a text of {} KiB; ditbench writes none over {} KiB",
            text.len() >> 10,
            MAX_TEXT_BYTES >> 10
        ))),
        false => Ok(()),
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity: every parsed f64 is finite.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        bounded(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        bounded(&v)?;
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            bounded(&key)?;
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key \"{}\" appears twice in one object",
                    key.escape_debug()
                )));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_read_as_serde_json_reads_them() {
        let text =
            r#"{"a": [1, -2, 0.1, 1e300, true, null, "x"], "b": {"c": 18446744073709551615}}"#;
        assert_eq!(
            parse(text).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn a_repeated_key_is_refused_where_it_occurs() {
        let e = parse(r#"{"cases": [1], "x": {"a": 1}, "cases": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the key \"cases\" appears twice"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        assert!(parse(r#"{"x": {"a": 1, "a": 2}}"#).is_err());
        // The same key in two objects is not a repeat.
        assert!(parse(r#"[{"a": 1}, {"a": 2}]"#).is_ok());
    }

    #[test]
    fn an_overlong_text_is_refused_as_a_value_or_a_key() {
        let long = "h".repeat(MAX_TEXT_BYTES + 1);
        let e = parse(&format!(r#"{{"host": "{long}"}}"#))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a text of 64 KiB; ditbench writes none over 64 KiB"),
            "{e}"
        );
        assert!(parse(&format!(r#"{{"{long}": 1}}"#)).is_err());
        let longest = "h".repeat(MAX_TEXT_BYTES);
        assert!(parse(&format!(r#"{{"host": "{longest}"}}"#)).is_ok());
    }
}
