//! Masking environment values, so that differences and inspects can be shown without leaking
//! secrets (`show`, `diff`, `restore --dry-run`, `update`).

use serde_json::Value;

use super::Difference;

/// A copy of `v` with every value of the environment replaced by `***` (`KEY=value` ->
/// `KEY=***`; a bare `KEY` stays): in `Config.Env` of an inspect, in `Env` of a create body, or in
/// `v` itself when it is a list of such strings or one such string.
#[must_use]
pub fn mask_env(v: &Value) -> Value {
    let mut out = v.clone();
    match &mut out {
        Value::Object(root) => {
            if let Some(env) = root.get_mut("Env") {
                *env = mask_entries(env);
            }
            if let Some(env) = root.get_mut("Config").and_then(|c| c.get_mut("Env")) {
                *env = mask_entries(env);
            }
        }
        other => *other = mask_entries(other),
    }
    out
}

/// Per-container differences as they may be shown: environment values masked unless
/// `show_secrets`.
#[must_use]
pub fn shown_differences(
    differences: &[(String, Vec<Difference>)],
    show_secrets: bool,
) -> Vec<(String, Vec<Difference>)> {
    differences
        .iter()
        .map(|(name, diffs)| {
            let d = if show_secrets {
                diffs.clone()
            } else {
                diffs.iter().map(mask_difference).collect()
            };
            (name.clone(), d)
        })
        .collect()
}

/// A copy of `d` with environment values masked when its field is (under) an `Env`. When both
/// sides are lists, only the entries that differ are kept, so that which variables changed stays
/// visible once their values are hidden.
pub fn mask_difference(d: &Difference) -> Difference {
    let under_env = d.field.split('.').any(|part| part == "Env");
    if !under_env {
        return d.clone();
    }
    let (expected, actual) = match (&d.expected, &d.actual) {
        (Value::Array(e), Value::Array(a)) => (
            Value::Array(e.iter().filter(|x| !a.contains(x)).cloned().collect()),
            Value::Array(a.iter().filter(|x| !e.contains(x)).cloned().collect()),
        ),
        (e, a) => (e.clone(), a.clone()),
    };
    Difference {
        field: d.field.clone(),
        expected: mask_entries(&expected),
        actual: mask_entries(&actual),
    }
}

/// One environment entry as it may be shown: `KEY=value` → `KEY=***`; a bare `KEY` stays. The
/// one place values are hidden (`show`, `diff`, `restore --dry-run`, `update`).
pub fn mask_entry(entry: &str) -> String {
    match entry.split_once('=') {
        Some((key, _)) => format!("{key}=***"),
        None => entry.to_string(),
    }
}

fn mask_entries(v: &Value) -> Value {
    match v {
        Value::String(entry) => Value::String(mask_entry(entry)),
        Value::Array(items) => Value::Array(items.iter().map(mask_entries).collect()),
        other => other.clone(),
    }
}
