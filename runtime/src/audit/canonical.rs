//! Canonical JSON text for entry details: what is stored and what is hashed.
//!
//! Objects are written with their keys sorted (by their UTF-8 bytes), no whitespace, and
//! serde_json's escaping and number formatting. That is exactly what `serde_json::to_string`
//! produces while serde_json's `preserve_order` feature is off (its maps are then `BTreeMap`s),
//! but sorting here does not depend on that feature staying off: a dependency that switched it on
//! would otherwise silently change the bytes hashed for new entries.
//!
//! The text is computed once, at append, stored verbatim, and verification hashes the stored
//! text, never a re-serialization of parsed JSON (floats need not survive a parse/print round
//! trip bit for bit without serde_json's `float_roundtrip`).

use std::fmt::Write;

use serde_json::Value;

/// The canonical text of `value`.
pub(crate) fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
        // Scalars: serde_json's own compact formatting (Display of a Value cannot fail).
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    let _ = write!(out, "{}", Value::String(s.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": true}], "c": "d"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"d","z":[3,{"x":true,"y":null}]},"b":1}"#
        );
    }

    #[test]
    fn matches_serde_json_without_preserve_order() {
        // Keys already in order, so the comparison holds whichever map serde_json uses.
        let v = json!({"big": u64::MAX, "k": [1.0, 0.1, -0], "n": -1.5e300, "é": "\u{1b}[31m\n"});
        assert_eq!(canonical_json(&v), serde_json::to_string(&v).unwrap());
    }

    #[test]
    fn escapes_control_characters() {
        let text = canonical_json(&json!({"line": "a\nb\u{0}"}));
        assert_eq!(text, r#"{"line":"a\nb\u0000"}"#);
    }
}
