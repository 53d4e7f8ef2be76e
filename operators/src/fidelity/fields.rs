//! The leaves of a log, and the text a categorical value is counted under.

use schemas::Source;
use serde_json::{Map, Value};

/// What an absent or `null` field is counted as, so a generator that leaves a field out
/// is measured as leaving it out rather than ignored.
pub const NULL: &str = "NULL";

/// Every leaf of `log` by dotted path: scalars, empty objects, and arrays taken whole
/// (their elements have no stable path).
pub fn leaves(log: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    let mut path = String::new();
    walk(log, &mut path, &mut found);
    found
}

fn walk<'a>(value: &'a Value, path: &mut String, found: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            for (key, child) in object {
                let length = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                walk(child, path, found);
                path.truncate(length);
            }
        }
        _ => found.push((path.clone(), value)),
    }
}

/// The category a field's value counts as: strings as they are, other values as compact
/// JSON, absent or `null` as [`NULL`].
pub fn category(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => NULL.to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// The value at a dotted `path` of `log`, keys matched exactly (paths come from
/// [`leaves`] of logs of the same source).
pub fn at<'a>(log: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(log, |value, key| value.as_object()?.get(key))
}

/// `log` without the fields `source` declares volatile (ids, timestamps): what is left is
/// its behaviour, the part two logs can honestly be called copies on.
pub fn without_volatile(source: Source, log: &Value) -> Value {
    let spec = source.spec();
    let mut path = String::new();
    strip(log, &mut path, &|path| spec.is_volatile(path))
}

fn strip(value: &Value, path: &mut String, volatile: &dyn Fn(&str) -> bool) -> Value {
    let Value::Object(object) = value else {
        return value.clone();
    };
    let mut kept = Map::new();
    for (key, child) in object {
        let length = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        if !volatile(path) {
            kept.insert(key.clone(), strip(child, path, volatile));
        }
        path.truncate(length);
    }
    Value::Object(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_walk_objects_and_take_arrays_whole() {
        let log = json!({"a": 1, "b": {"c": "x", "d": {}}, "e": [1, 2], "f": null});
        let paths: Vec<String> = leaves(&log).into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a", "b.c", "b.d", "e", "f"]);
        assert_eq!(at(&log, "b.c"), Some(&json!("x")));
        assert_eq!(at(&log, "b.x"), None);
        assert_eq!(category(at(&log, "f")), NULL);
        assert_eq!(category(at(&log, "zz")), NULL);
        assert_eq!(category(at(&log, "e")), "[1,2]");
        assert_eq!(category(at(&log, "b.c")), "x");
    }

    #[test]
    fn volatile_fields_are_stripped_at_any_depth() {
        let log = json!({"eventTime": "t", "eventName": "GetObject",
            "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIA1"}, "eventID": "e"});
        let kept = without_volatile(Source::CloudTrail, &log);
        assert_eq!(
            kept,
            json!({"eventName": "GetObject", "userIdentity": {"type": "IAMUser"}})
        );
    }
}
