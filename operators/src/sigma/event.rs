//! Building the sigma-rust event a rule expects from a raw JSON log.
//!
//! Each of sigma-rust's gaps is closed here rather than in the rules, so SigmaHQ rules run
//! unmodified:
//! - **Nested fields**: every leaf is inserted under its dotted path
//!   (`userIdentity.type`), which sigma-rust looks up directly.
//! - **Field-name case**: rules spell fields as the Log Analytics schema does
//!   (`ResultType`), logs arrive in other casings (`resultType`); each path is inserted
//!   under every spelling the rules use for it ([`FieldNames`]).
//! - **Types**: numbers are compared as text on both sides (see
//!   [`super::RuleSet`]), because exports disagree on whether `ResultType` is `0` or `"0"`.
//! - **Objects and arrays**: an object or array is also inserted as its compact JSON text,
//!   which is how a SIEM's `contains` sees a dynamic column (`Status|contains: 'MFA Denied'`).
//! - **Arrays**: where a rule field points into an array, the event is expanded into one
//!   variant per element (capped at [`MAX_VARIANTS`]), and a rule matches the log when it
//!   matches any variant: Sigma's "any element" semantics.
//! - **Azure Monitor export**: its `properties.*` fields are also offered at the top level,
//!   where rules written for the Log Analytics shape look for them.

use std::collections::HashMap;

use serde_json::Value;
use sigma_rust::Event;

/// Most variants one log expands into; further array elements are not expanded.
pub const MAX_VARIANTS: usize = 64;

/// The field names the rules use, by lower-cased dotted path.
#[derive(Debug, Default, Clone)]
pub struct FieldNames {
    spellings: HashMap<String, Vec<String>>,
    /// Lower-cased proper prefixes of the names (`useridentity` for `userIdentity.type`).
    prefixes: std::collections::HashSet<String>,
    /// Some rule searches keywords over every value, so every field must be offered.
    pub all_fields: bool,
}

impl FieldNames {
    /// Records one field name a rule uses.
    pub fn add(&mut self, name: &str) {
        let lower = name.to_ascii_lowercase();
        for (index, _) in lower.match_indices('.') {
            self.prefixes.insert(lower[..index].to_string());
        }
        let spellings = self.spellings.entry(lower).or_default();
        if !spellings.iter().any(|known| known == name) {
            spellings.push(name.to_string());
        }
    }

    /// Adds every name `other` knows.
    pub fn merge(&mut self, other: &FieldNames) {
        for spellings in other.spellings.values() {
            for name in spellings {
                self.add(name);
            }
        }
        self.all_fields |= other.all_fields;
    }

    /// Whether a rule names the field at `path_lower` itself.
    fn named(&self, path_lower: &str) -> bool {
        self.all_fields || self.spellings.contains_key(path_lower)
    }

    /// Whether the field at `path_lower` (or something inside it) can matter to a rule.
    fn wanted(&self, path_lower: &str) -> bool {
        self.all_fields
            || path_lower.is_empty()
            || self.spellings.contains_key(path_lower)
            || self.prefixes.contains(path_lower)
    }

    /// Whether some rule field lies inside `path` (lower-cased), so an array there must
    /// be expanded.
    fn refers_into(&self, path_lower: &str) -> bool {
        self.prefixes.contains(path_lower) || self.spellings.contains_key(path_lower)
    }
}

#[derive(Debug, Clone)]
enum Scalar {
    Text(String),
    Bool(bool),
    Null,
}

type Fields = Vec<(String, Scalar)>;

/// The sigma-rust events one log is evaluated as (at least one).
pub fn sigma_events(json: &Value, names: &FieldNames, hoist_properties: bool) -> Vec<Event> {
    let mut base = Fields::new();
    let mut groups: Vec<Vec<Fields>> = Vec::new();
    flatten(json, "", names, &mut base, &mut groups);
    if hoist_properties && let Some(properties) = json.get("properties") {
        let mut hoisted = Fields::new();
        flatten(properties, "", names, &mut hoisted, &mut groups);
        let present: std::collections::HashSet<String> = base
            .iter()
            .map(|(key, _)| key.to_ascii_lowercase())
            .collect();
        base.extend(
            hoisted
                .into_iter()
                .filter(|(key, _)| !present.contains(&key.to_ascii_lowercase())),
        );
    }
    let mut variants: Vec<Vec<&Fields>> = vec![Vec::new()];
    for group in &groups {
        let mut next = Vec::new();
        for variant in &variants {
            for alternative in group {
                if next.len() == MAX_VARIANTS {
                    break;
                }
                let mut extended = variant.clone();
                extended.push(alternative);
                next.push(extended);
            }
        }
        if !next.is_empty() {
            variants = next;
        }
    }
    variants
        .into_iter()
        .map(|chosen| {
            let mut event = Event::new();
            for (key, value) in base.iter().chain(chosen.into_iter().flatten()) {
                insert(&mut event, key, value, names);
            }
            event
        })
        .collect()
}

fn insert(event: &mut Event, key: &str, value: &Scalar, names: &FieldNames) {
    match names.spellings.get(&key.to_ascii_lowercase()) {
        Some(spellings) => {
            for spelling in spellings {
                insert_scalar(event, spelling.clone(), value);
            }
            if !spellings.iter().any(|spelling| spelling == key) {
                insert_scalar(event, key.to_string(), value);
            }
        }
        None => insert_scalar(event, key.to_string(), value),
    }
}

fn insert_scalar(event: &mut Event, key: String, value: &Scalar) {
    match value {
        Scalar::Text(text) => event.insert(key, text.clone()),
        Scalar::Bool(flag) => event.insert(key, *flag),
        Scalar::Null => event.insert(key, None::<i32>),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn flatten(
    value: &Value,
    path: &str,
    names: &FieldNames,
    out: &mut Fields,
    groups: &mut Vec<Vec<Fields>>,
) {
    // Fields no rule names are left out: building them is most of the cost of a log.
    let path_lower = path.to_ascii_lowercase();
    if !names.wanted(&path_lower) {
        return;
    }
    match value {
        Value::Object(map) => {
            if !path.is_empty() && names.named(&path_lower) {
                out.push((path.to_string(), Scalar::Text(value.to_string())));
            }
            for (key, child) in map {
                flatten(child, &join(path, key), names, out, groups);
            }
        }
        Value::Array(items) => {
            if names.named(&path_lower) {
                out.push((path.to_string(), Scalar::Text(value.to_string())));
            }
            if !items.is_empty() && names.refers_into(&path_lower) {
                let alternatives = items
                    .iter()
                    .map(|item| {
                        let mut alternative = Fields::new();
                        // Arrays nested in arrays are offered as text only.
                        let mut nested = Vec::new();
                        flatten(item, path, names, &mut alternative, &mut nested);
                        alternative
                    })
                    .collect();
                groups.push(alternatives);
            }
        }
        Value::String(text) => out.push((path.to_string(), Scalar::Text(text.clone()))),
        Value::Number(number) => out.push((path.to_string(), Scalar::Text(number.to_string()))),
        Value::Bool(flag) => out.push((path.to_string(), Scalar::Bool(*flag))),
        Value::Null => out.push((path.to_string(), Scalar::Null)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(fields: &[&str]) -> FieldNames {
        let mut names = FieldNames::default();
        for field in fields {
            names.add(field);
        }
        names
    }

    fn text(event: &Event, key: &str) -> Option<String> {
        event.get(key).map(|value| value.value_to_string())
    }

    #[test]
    fn inserts_under_the_rules_spelling_with_numbers_as_text() {
        let log = json!({"resultType": 50053, "status": {"errorCode": 50053}});
        let events = sigma_events(
            &log,
            &names(&["ResultType", "status", "status.errorCode"]),
            false,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(text(&events[0], "ResultType").as_deref(), Some("50053"));
        assert_eq!(
            text(&events[0], "status.errorCode").as_deref(),
            Some("50053")
        );
        assert_eq!(
            text(&events[0], "status").as_deref(),
            Some(r#"{"errorCode":50053}"#)
        );
    }

    #[test]
    fn arrays_referenced_by_rules_expand_into_variants() {
        let log = json!({"resources": [{"type": "AWS::S3::Bucket"}, {"type": "AWS::IAM::Role"}]});
        let events = sigma_events(&log, &names(&["resources.type"]), false);
        let types: Vec<_> = events
            .iter()
            .filter_map(|e| text(e, "resources.type"))
            .collect();
        assert_eq!(types, ["AWS::S3::Bucket", "AWS::IAM::Role"]);
        let unreferenced = sigma_events(&log, &names(&["eventName"]), false);
        assert_eq!(unreferenced.len(), 1);
        assert!(
            unreferenced[0].get("resources.type").is_none(),
            "unnamed fields are left out"
        );
    }

    #[test]
    fn variants_are_capped() {
        let many: Vec<_> = (0..100).map(|i| json!({"k": i})).collect();
        let log = json!({"a": many.clone(), "b": many});
        let events = sigma_events(&log, &names(&["a.k", "b.k"]), false);
        assert_eq!(events.len(), MAX_VARIANTS);
    }

    #[test]
    fn azure_monitor_properties_are_hoisted_without_overriding() {
        let log = json!({"resultType": "0", "properties": {"resultType": "1",
            "authenticationRequirement": "singleFactorAuthentication"}});
        let events = sigma_events(
            &log,
            &names(&["ResultType", "AuthenticationRequirement"]),
            true,
        );
        assert_eq!(text(&events[0], "ResultType").as_deref(), Some("0"));
        assert_eq!(
            text(&events[0], "AuthenticationRequirement").as_deref(),
            Some("singleFactorAuthentication")
        );
    }
}
