//! Typed access to the engine's inspect JSON that reports a [`SpecError`] naming the field
//! instead of panicking, and the engine's notions of "not set" and "zero".

use serde_json::{Map, Value};

use super::SpecError;

pub(super) fn missing(field: &str) -> SpecError {
    SpecError::Missing {
        field: field.to_owned(),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn wrong(field: &str, expected: &'static str, found: &Value) -> SpecError {
    SpecError::WrongType {
        field: if field.is_empty() {
            "(root)".into()
        } else {
            field.to_owned()
        },
        expected,
        found: type_name(found),
    }
}

pub(super) fn as_obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, SpecError> {
    v.as_object().ok_or_else(|| wrong(field, "an object", v))
}

/// An object, or `None` for null.
pub(super) fn value_obj<'a>(
    v: &'a Value,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, SpecError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(wrong(field, "an object", other)),
    }
}

/// A string, or `None` for null.
pub(super) fn value_str<'a>(v: &'a Value, field: &str) -> Result<Option<&'a str>, SpecError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(wrong(field, "a string", other)),
    }
}

/// An array (empty for null).
pub(super) fn value_list<'a>(v: &'a Value, field: &str) -> Result<&'a [Value], SpecError> {
    match v {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        other => Err(wrong(field, "an array", other)),
    }
}

/// An array of strings (empty for null).
pub(super) fn value_str_list<'a>(v: &'a Value, field: &str) -> Result<Vec<&'a str>, SpecError> {
    value_list(v, field)?
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str()
                .ok_or_else(|| wrong(&format!("{field}.{i}"), "a string", item))
        })
        .collect()
}

pub(super) fn get_obj<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, SpecError> {
    m.get(key).map_or(Ok(None), |v| value_obj(v, field))
}

pub(super) fn get_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, SpecError> {
    m.get(key).map_or(Ok(None), |v| value_str(v, field))
}

pub(super) fn req_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<&'a str, SpecError> {
    get_str(m, key, field)?.ok_or_else(|| missing(field))
}

pub(super) fn get_bool(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<bool>, SpecError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong(field, "a boolean", other)),
    }
}

/// null, "", [] and {}: what the engine reports for "not set".
pub(crate) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// false and 0: the zero values of settings that default to them.
pub(super) fn is_zero(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Equal, with every kind of "not set" equal to the others.
pub(super) fn same(a: &Value, b: &Value) -> bool {
    a == b || (is_empty(a) && is_empty(b))
}
