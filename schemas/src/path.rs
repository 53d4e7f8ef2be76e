//! Dotted field paths looked up case-insensitively.
//!
//! The same source reaches us in several casings (`eventTime` in CloudTrail, `eventtime`
//! in some SIEM exports; `UserPrincipalName` in Log Analytics, `userPrincipalName` in the
//! Graph API), so every lookup tries the exact key first and falls back to a
//! case-insensitive match.

use serde_json::Value;

/// A path into a JSON object, such as `userIdentity.sessionContext.sessionIssuer.userName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPath(pub &'static str);

impl FieldPath {
    /// The dotted path as written.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The value at this path, or `None` when any segment is absent.
    pub fn lookup<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        lookup(root, self.0)
    }
}

impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Looks a dotted path up in `root`, matching each segment exactly or, failing that,
/// ignoring ASCII case.
pub(crate) fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = root;
    for segment in path.split('.') {
        let object = current.as_object()?;
        current = match object.get(segment) {
            Some(value) => value,
            None => {
                object
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(segment))?
                    .1
            }
        };
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lookup_falls_back_to_case_insensitive_keys() {
        let value = json!({"userIdentity": {"UserName": "alice"}, "eventtime": "x"});
        assert_eq!(
            lookup(&value, "userIdentity.userName"),
            Some(&json!("alice"))
        );
        assert_eq!(lookup(&value, "eventTime"), Some(&json!("x")));
        assert_eq!(lookup(&value, "userIdentity.arn"), None);
        assert_eq!(lookup(&json!([1]), "a"), None);
    }
}
