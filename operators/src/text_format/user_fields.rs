//! Which listed fields name the log's own user.
//!
//! The header carries the user, but a small model does not copy it across a kilobyte of
//! JSON into `UserPrincipalName` or a role session's ARN: asked for one user it writes
//! another's name, most often a heavier user's. Where a source's listed values name the
//! user of their log (a UPN, an ARN ending in the session name, a principal id), the
//! shape remembers those fields, and generation for a user holds them to the values
//! naming that user, and the combinations to that user's own, so the rest of the log
//! follows what that user did. A user no listed value names (a joiner since training)
//! keeps every value: their name is not in the lists to be written.
//!
//! Asked for no user, generation draws one from the source's training mix
//! ([`super::header_mix`]) and generates for them.

use std::collections::HashMap;

use serde_json::Value;

use super::combinations::string_codes;
use super::shape::{Shape, escaped};

/// Logs of a field that must name their user before the field counts as the user's:
/// too few and a coincidence would do.
const MIN_LOGS: usize = 20;

/// Share of a field's logs whose value names their user.
const MIN_SHARE: f64 = 0.9;

/// The listed string nodes outside arrays whose value names the header user of at least
/// [`MIN_SHARE`] of the `logs` (projected, each with its header user) that have them,
/// sorted.
pub fn fit<'a>(shape: &Shape, logs: impl IntoIterator<Item = (&'a Value, &'a str)>) -> Vec<u32> {
    let mut counts: HashMap<u32, (usize, usize)> = HashMap::new();
    for (log, user) in logs {
        if user.is_empty() {
            continue;
        }
        let user = user.to_lowercase();
        shape.visit(log, &mut |id, node, value| {
            if let Value::String(text) = value
                && !node.values.is_empty()
            {
                let (present, named) = counts.entry(id).or_default();
                *present += 1;
                *named += usize::from(names(text, &user));
            }
        });
    }
    let mut nodes: Vec<u32> = counts
        .into_iter()
        .filter(|&(_, (present, named))| {
            present >= MIN_LOGS && named as f64 >= MIN_SHARE * present as f64
        })
        .map(|(node, _)| node)
        .collect();
    nodes.sort_unstable();
    nodes
}

/// The codes ([`string_codes`]) of the values of `node` that name `user`.
pub fn codes_naming(shape: &Shape, node: u32, user: &str) -> Vec<u16> {
    let user = escaped(&user.to_lowercase());
    shape.node(node).map_or_else(Vec::new, |node| {
        string_codes(node)
            .zip(&node.values)
            .filter(|(_, value)| names(value, &user))
            .map(|(code, _)| code)
            .collect()
    })
}

/// Whether `value` holds `user` (lower-case) as a whole name: not inside a longer one
/// (`anna.jones` is not in `joanna.jones`).
fn names(value: &str, user: &str) -> bool {
    let value = value.to_lowercase();
    let part_of_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    value.match_indices(user).any(|(at, _)| {
        !part_of_name(value[..at].chars().next_back())
            && !part_of_name(value[at + user.len()..].chars().next())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_whose_values_name_their_logs_user_are_the_users() {
        let users = [
            "anna.jones@contoso.com",
            "joanna.jones@contoso.com",
            "bob@contoso.com",
        ];
        let logs: Vec<(Value, &str)> = (0..30)
            .map(|i| {
                let user = users[i % 3];
                let upn = if i % 3 == 2 {
                    "Bob@Contoso.com".to_string()
                } else {
                    user.to_string()
                };
                let log = json!({
                    "upn": upn,
                    "arn": format!("arn:aws:sts::1:assumed-role/Dev/{user}"),
                    "app": (["Teams", "Outlook"][i % 2]),
                });
                (log, user)
            })
            .collect();
        let shape = Shape::fit(logs.iter().map(|(log, _)| log));
        let fields = fit(&shape, logs.iter().map(|(log, user)| (log, *user)));
        let node = |key: &str| {
            shape.nodes[0]
                .keys
                .iter()
                .find(|k| k.name == key)
                .unwrap()
                .node
        };
        let mut expected = vec![node("upn"), node("arn")];
        expected.sort_unstable();
        assert_eq!(fields, expected, "the app names no one");
        let anna = codes_naming(&shape, node("arn"), "Anna.Jones@contoso.com");
        assert_eq!(anna.len(), 1, "not joanna's");
        let value = &shape.node(node("arn")).unwrap().values[usize::from(anna[0]) - 1];
        assert!(value.ends_with("/anna.jones@contoso.com"), "{value}");
        assert_eq!(
            codes_naming(&shape, node("upn"), "bob@contoso.com").len(),
            1
        );
        assert!(codes_naming(&shape, node("upn"), "carol@contoso.com").is_empty());
    }
}
