//! Pins no training log held together. `ListBuckets` was only ever called by an
//! assumed role, and a rule asks for it from any other caller: some pinned fields have
//! to be freed (the combinations stop choosing their values, [`Shape::recode_rows`]),
//! and which ones decides whether the logs still read as if one system wrote them.
//!
//! Each pin is tried last, the others held first. In the rows left, the fields a freed
//! one determines across the training combinations ([`Combinations::dependency`]:
//! `eventName` decides `readOnly`, the TLS version, whether `requestParameters` is
//! `null`) take the value the pinned one comes with, where every admitted value comes
//! with the same one. The fields that determine a freed one (a role's `sessionIssuer`
//! determines `userIdentity.type`, a TLS host header the `eventSource`) contradict it
//! in the rows where they name a value the pin does not admit; there they are written
//! as each value that names an admitted one instead (each S3 host header, one row
//! each). The choice with the fewest contradictions per row wins: freeing the caller's
//! type contradicts a role's `sessionIssuer`, `arn` and `principalId` in every row;
//! freeing the call (`eventSource` and `eventName`, where no other caller used S3)
//! keeps the other callers' identities and contradicts their host header.
//!
//! A value no training log had tells nothing of what follows it or agrees with it: the
//! rows keep their own values there.

use std::collections::{BTreeSet, HashMap};

use super::combinations::{
    Combinations, FALSE, TRUE, UNLISTED, code_at, number_codes, string_codes,
};
use super::pin::FieldPin;
use super::shape::Shape;

/// A column freed: which of its codes its pin admits (by this shape's numbering), and
/// the unheld columns that determine it, each with its rule.
struct Freed {
    column: usize,
    admitted: Box<dyn Fn(u16) -> bool>,
    determined_by: Vec<(usize, HashMap<u16, u16>)>,
}

impl Shape {
    /// `order`'s pins held with the fewest fields per row contradicting a freed pin,
    /// the fields the freed ones determine set, and the contradicting ones written as
    /// values that agree (see the module). `in_order` is this shape already held to
    /// `order` as it is, and ties go to it (the pin later in `order` tried last).
    pub(super) fn freeing_least(&self, order: &[&FieldPin], in_order: (Shape, Vec<u32>)) -> Shape {
        let Some(before) = self.combinations.as_ref() else {
            return in_order.0;
        };
        // Fields a pin names, or objects on the way to one: their codes are the pins'.
        let held: BTreeSet<usize> = order
            .iter()
            .flat_map(|pin| self.nodes_to(&pin.field).unwrap_or_default())
            .filter_map(|node| before.column(node))
            .collect();
        let mut best = self.judged(before, &held, order, in_order);
        for index in (0..order.len().saturating_sub(1)).rev() {
            let mut tried: Vec<&FieldPin> = order.to_vec();
            let last = tried.remove(index);
            tried.push(last);
            let Ok(held_in_turn) = self.pinned_in(&tried) else {
                continue;
            };
            let candidate = self.judged(before, &held, &tried, held_in_turn);
            if candidate.0 < best.0 {
                best = candidate;
            }
        }
        best.1
    }

    /// `pinned`, this shape held to `tried` in turn with the nodes freed on the way,
    /// with the fields the freed ones determine set and the contradicting ones split;
    /// and the contradictions per row, which [`Self::freeing_least`] minimises.
    fn judged(
        &self,
        before: &Combinations,
        held: &BTreeSet<usize>,
        tried: &[&FieldPin],
        (mut shape, freed): (Shape, Vec<u32>),
    ) -> (f64, Shape) {
        let freed: Vec<Freed> = freed
            .iter()
            .filter_map(|&node| self.freed_column(before, node, tried, held))
            .collect();
        let Some(now) = shape.combinations.as_mut() else {
            return (0.0, shape);
        };
        let (mut held_to, mut cells) = (Vec::new(), 0);
        for freed in &freed {
            let (set, written) = follow(before, now, freed, held);
            held_to.extend(set);
            cells += written;
        }
        held_to.extend(freed);
        let rows = now.rows.len().max(1);
        cells += free_contradictions(now, &held_to);
        (cells as f64 / rows as f64, shape)
    }

    /// `node`'s column as freed by the last of `pins` that names it: which of its codes
    /// that pin admits, its listed strings, numbers and booleans by their text, and for
    /// a negated pin every other code too (the key absent, `null`). `None` for a node
    /// no pin names (an object on the way to one).
    fn freed_column(
        &self,
        before: &Combinations,
        node: u32,
        pins: &[&FieldPin],
        held: &BTreeSet<usize>,
    ) -> Option<Freed> {
        let column = before.column(node)?;
        let pin = pins.iter().rev().find(|pin| {
            self.nodes_to(&pin.field)
                .is_ok_and(|path| path.last() == Some(&node))
        })?;
        let node = &self.nodes[node as usize];
        let listed = string_codes(node).start..number_codes(node).end;
        let (mut admitted, numbers) = pin.admitted_listed(node);
        admitted.extend(numbers);
        let others = pin.negated;
        let booleans = [true, false].map(|value| pin.admits_boolean(value));
        Some(Freed {
            column,
            determined_by: determiners(before, column, held),
            admitted: Box::new(move |code| match code {
                _ if listed.contains(&code) => admitted[usize::from(code - listed.start)],
                TRUE => booleans[0],
                FALSE => booleans[1],
                _ => others,
            }),
        })
    }
}

/// Sets a row's code at `column`, lengthening the row only for a key present.
fn set_code(row: &mut Vec<u16>, column: usize, value: u16) {
    if row.len() <= column + 1 {
        if value == 0 {
            return;
        }
        row.resize(column + 2, 0);
    }
    row[column + 1] = value;
}

/// The columns no pin holds, other than `freed`.
fn unheld(before: &Combinations, freed: usize, held: &BTreeSet<usize>) -> Vec<usize> {
    (0..before.nodes.len())
        .filter(|c| *c != freed && !held.contains(c))
        .collect()
}

/// The one value every admitted value of the `freed` column comes with under `rule`.
fn follows_all(admitted: &BTreeSet<u16>, rule: &HashMap<u16, u16>) -> Option<u16> {
    let follows = admitted
        .iter()
        .map(|value| rule.get(value).copied())
        .collect::<Option<BTreeSet<u16>>>()?;
    let mut follows = follows.into_iter();
    match (follows.next(), follows.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// The unheld columns that determine `column` in `before`, each with its rule.
fn determiners(
    before: &Combinations,
    column: usize,
    held: &BTreeSet<usize>,
) -> Vec<(usize, HashMap<u16, u16>)> {
    unheld(before, column, held)
        .into_iter()
        .filter_map(|from| Some((from, before.dependency(from, column)?)))
        .collect()
}

/// Sets, in every row `now` has, each field the `freed` column determines in `before`
/// (and no pin holds) to the value every admitted value seen there comes with, and
/// leaves out those it decides are not written. Returns the fields set to a value, each
/// as one more column held (to that value), for [`free_contradictions`], and how many
/// fields the rows lack that it decides are written (there is no one value to write).
fn follow(
    before: &Combinations,
    now: &mut Combinations,
    freed: &Freed,
    held: &BTreeSet<usize>,
) -> (Vec<Freed>, usize) {
    let admitted: BTreeSet<u16> = before
        .rows
        .iter()
        .map(|row| code_at(row, freed.column))
        .filter(|&value| (freed.admitted)(value))
        .collect();
    let (mut set, mut cells) = (Vec::new(), 0);
    if admitted.is_empty() {
        return (set, cells);
    }
    for column in unheld(before, freed.column, held) {
        let (value, written) = match before.dependency(freed.column, column) {
            Some(rule) => (follows_all(&admitted, &rule), None),
            None => {
                let rule = before.presence_dependency(freed.column, column);
                (None, rule.and_then(|rule| follows_all(&admitted, &rule)))
            }
        };
        if (value, written) == (None, None) {
            continue;
        }
        for row in &mut now.rows {
            match (value, written) {
                (Some(value), _) => set_code(row, column, value),
                (None, Some(0)) => set_code(row, column, 0),
                (None, Some(_)) if code_at(row, column) == 0 => cells += 1,
                _ => {}
            }
        }
        if let Some(value) = value.filter(|&value| value != 0) {
            set.push(Freed {
                column,
                admitted: Box::new(move |code| code == value),
                determined_by: determiners(before, column, held),
            });
        }
    }
    (set, cells)
}

/// The most rows one row becomes when the fields it frees are written as each value
/// that agrees with the pins rather than left to the model.
const MAX_SPLIT: usize = 16;

/// Frees, in each row, the fields that determine a freed column and name a value of it
/// that its pin does not admit (another service's TLS host header beside a pinned
/// `eventSource`), so that they agree with it; returns how many contradicted. The row
/// becomes one row for each value that determines an admitted one (each S3 host
/// header), at most [`MAX_SPLIT`]; past that the model writes them. Where no value
/// does, the row keeps its own.
fn free_contradictions(now: &mut Combinations, freed: &[Freed]) -> usize {
    let mut cells = 0;
    let mut rows = Vec::with_capacity(now.rows.len());
    for row in std::mem::take(&mut now.rows) {
        let (contradicting, options) = contradictions(&row, freed);
        cells += contradicting;
        rows.extend(split(row, &options));
    }
    now.rows = rows;
    cells
}

/// How many fields of `row` contradict a freed column, and each that some values would
/// not, with those values (sorted): the codes that name an admitted value of every freed
/// column the field determines. A field no value would mend is counted and left out:
/// the pin's value is one no training log had, and the row keeps its own value, which
/// the model would not better.
fn contradictions(row: &[u16], freed: &[Freed]) -> (usize, Vec<(usize, Vec<u16>)>) {
    let mut contradicting: Vec<usize> = Vec::new();
    let mut options = Vec::new();
    for held in freed {
        for (column, rule) in &held.determined_by {
            let contradicts = rule
                .get(&code_at(row, *column))
                .is_some_and(|&value| !(held.admitted)(value));
            if !contradicts || contradicting.contains(column) {
                continue;
            }
            contradicting.push(*column);
            let mut agreeing: Vec<u16> = rule
                .iter()
                .filter(|&(&code, &follows)| {
                    (held.admitted)(follows) && agrees_with_all(freed, *column, code)
                })
                .map(|(&code, _)| code)
                .collect();
            agreeing.sort_unstable();
            if !agreeing.is_empty() {
                options.push((*column, agreeing));
            }
        }
    }
    (contradicting.len(), options)
}

/// `row` once for each combination of `options`' values, or, past [`MAX_SPLIT`] rows,
/// once with those fields [`UNLISTED`].
fn split(row: Vec<u16>, options: &[(usize, Vec<u16>)]) -> Vec<Vec<u16>> {
    let count: usize = options.iter().map(|(_, codes)| codes.len()).product();
    if count > MAX_SPLIT {
        let mut row = row;
        for (column, _) in options {
            set_code(&mut row, *column, UNLISTED);
        }
        return vec![row];
    }
    options.iter().fold(vec![row], |rows, (column, codes)| {
        rows.iter()
            .flat_map(|row| {
                codes.iter().map(move |&code| {
                    let mut row = row.clone();
                    set_code(&mut row, *column, code);
                    row
                })
            })
            .collect()
    })
}

/// Whether `code` at `column` names, by each rule of it, an admitted value of every
/// freed column it determines.
fn agrees_with_all(freed: &[Freed], column: usize, code: u16) -> bool {
    freed.iter().all(|held| {
        held.determined_by
            .iter()
            .filter(|(from, _)| *from == column)
            .all(|(_, rule)| rule.get(&code).is_none_or(|&value| (held.admitted)(value)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_format::pin::ValuePattern;
    use crate::text_format::string_code;
    use serde_json::{Value, json};

    /// S3 and IAM calls in two regions: `ListBuckets` only ever by one assumed role,
    /// `GetObject` only by IAM users, `PutObject` by all.
    fn calls() -> Shape {
        let role = |name: &str| json!({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"userName": name}}});
        let users = [
            json!({"type": "IAMUser", "userName": "svc-ci"}),
            json!({"type": "IAMUser", "userName": "svc-backup"}),
        ];
        let call = |identity: &Value, source: &str, name: &str, read_only: bool, region: &str| {
            let mut log = json!({"userIdentity": identity, "eventSource": source,
                "eventName": name, "readOnly": read_only, "awsRegion": region});
            if name == "PutObject" {
                log["requestParameters"] = json!({"bucketName": "reports"});
            }
            log
        };
        let mut logs = Vec::new();
        for region in ["eu-central-1", "us-east-1"] {
            logs.push(call(
                &role("ops"),
                "s3.amazonaws.com",
                "ListBuckets",
                true,
                region,
            ));
            for name in ["ops", "audit"] {
                logs.push(call(
                    &role(name),
                    "s3.amazonaws.com",
                    "PutObject",
                    false,
                    region,
                ));
            }
            for user in &users {
                logs.push(call(user, "s3.amazonaws.com", "PutObject", false, region));
                logs.push(call(user, "s3.amazonaws.com", "GetObject", true, region));
                logs.push(call(user, "iam.amazonaws.com", "ListUsers", true, region));
            }
        }
        Shape::fit(logs.iter())
    }

    fn pin(field: &str, value: &str, negated: bool) -> FieldPin {
        FieldPin {
            field: field.to_string(),
            patterns: vec![ValuePattern(value.to_string())],
            all: false,
            negated,
        }
    }

    /// Each row's code at `field`.
    fn column_codes(shape: &Shape, field: &str) -> Vec<u16> {
        let node = *shape.nodes_to(field).unwrap().last().unwrap();
        let combinations = shape.combinations.as_ref().unwrap();
        let column = combinations.column(node).unwrap();
        combinations
            .rows
            .iter()
            .map(|row| code_at(row, column))
            .collect()
    }

    #[test]
    fn a_field_is_determined_by_another_across_the_rows_or_not() {
        let shape = calls();
        let combinations = shape.combinations.as_ref().unwrap();
        let column = |field: &str| {
            let node = *shape.nodes_to(field).unwrap().last().unwrap();
            combinations.column(node).unwrap()
        };
        let (name, read_only, kind, region) = (
            column("eventName"),
            column("readOnly"),
            column("userIdentity.type"),
            column("awsRegion"),
        );
        let rule = combinations.dependency(name, read_only).unwrap();
        let list_buckets = string_code(
            &shape,
            shape.nodes_to("eventName").unwrap()[0],
            "ListBuckets",
        );
        assert_eq!(rule.get(&list_buckets.unwrap()), Some(&TRUE));
        assert!(
            combinations
                .dependency(column("userIdentity.userName"), kind)
                .is_some()
        );
        assert!(combinations.dependency(read_only, name).is_none());
        assert!(combinations.dependency(kind, name).is_none());
        // One value of the region with every call: no rule either way.
        assert!(combinations.dependency(region, name).is_none());
    }

    #[test]
    fn the_call_is_freed_not_the_caller_and_what_the_call_decides_follows_it() {
        // In the rule's order the call is held first, and the caller's type would be
        // freed within the assumed role's rows: an assumed role's identity as an IAM user.
        let freed_by_order = calls()
            .pinned_in(&[
                &pin("eventName", "ListBuckets", false),
                &pin("userIdentity.type", "IAMUser", false),
            ])
            .unwrap()
            .0;
        assert!(
            column_codes(&freed_by_order, "userIdentity.type")
                .iter()
                .all(|&c| c == UNLISTED)
        );

        for pins in [
            vec![
                pin("eventName", "ListBuckets", false),
                pin("userIdentity.type", "IAMUser", false),
            ],
            vec![
                pin("eventSource", "s3.amazonaws.com", false),
                pin("eventName", "ListBuckets", false),
                pin("userIdentity.type", "AssumedRole", true),
            ],
        ] {
            let pinned = calls().pinned(&pins).unwrap();
            let kinds = column_codes(&pinned, "userIdentity.type");
            let user = string_code(
                &pinned,
                pinned.nodes_to("userIdentity.type").unwrap()[1],
                "IAMUser",
            );
            assert!(
                kinds.iter().all(|&c| Some(c) == user),
                "{pins:?}: {kinds:?}"
            );
            assert!(
                column_codes(&pinned, "eventName")
                    .iter()
                    .all(|&c| c == UNLISTED)
            );
            // ListBuckets reads and sends no request parameters, whichever call the
            // user's rows had.
            assert!(
                column_codes(&pinned, "readOnly").iter().all(|&c| c == TRUE),
                "{pins:?}"
            );
            assert!(
                column_codes(&pinned, "requestParameters")
                    .iter()
                    .all(|&c| c == 0)
            );
            assert!(!column_codes(&pinned, "readOnly").is_empty());
        }
    }

    #[test]
    fn a_rule_may_have_one_exception_in_twenty_rows_which_it_then_says_nothing_of() {
        let rows = |exceptions: u16| -> Vec<Vec<u16>> {
            let mut rows: Vec<Vec<u16>> = (1..=20u16)
                .flat_map(|value| {
                    [
                        vec![0, value, value + 100, 1],
                        vec![0, value, value + 100, 2],
                    ]
                })
                .collect();
            for value in 21..21 + exceptions {
                rows.push(vec![0, value, 1, 1]);
                rows.push(vec![0, value, 2, 2]);
            }
            rows
        };
        let combinations = |rows| Combinations {
            nodes: vec![1, 2, 3],
            keys: String::new(),
            tags: vec![String::new()],
            rows,
        };
        let near = combinations(rows(1));
        let rule = near.dependency(0, 1).unwrap();
        assert_eq!(rule.get(&7), Some(&107));
        assert_eq!(rule.get(&21), None, "the exception says nothing");
        assert!(combinations(rows(3)).dependency(0, 1).is_none());
        // The third column varies within every value of the first.
        assert!(near.dependency(0, 2).is_none());
    }

    #[test]
    fn a_field_that_names_another_service_is_split_into_the_values_naming_the_pinned_one() {
        // Only roles used S3; roles and users called IAM and EC2. Pinned to ListBuckets
        // by a user, the call is freed in the users' rows, and their TLS host header,
        // which names the service, becomes each S3 host in turn.
        let log = |identity: Value, source: &str, name: &str, region: &str| {
            let service = source.trim_end_matches(".amazonaws.com");
            let host = match service {
                "iam" => "iam.amazonaws.com".to_string(),
                _ => format!("{service}.{region}.amazonaws.com"),
            };
            json!({"userIdentity": identity, "eventSource": source, "eventName": name,
                "awsRegion": region, "tlsDetails": {"clientProvidedHostHeader": host}})
        };
        let roles = ["ops", "audit"].map(|role| {
            json!({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"userName": role}}})
        });
        let users =
            ["svc-ci", "svc-backup"].map(|user| json!({"type": "IAMUser", "userName": user}));
        let mut logs = Vec::new();
        for region in ["eu-central-1", "us-east-1"] {
            for identity in roles.iter().chain(&users) {
                if identity["type"] == "AssumedRole" {
                    logs.push(log(
                        identity.clone(),
                        "s3.amazonaws.com",
                        "ListBuckets",
                        region,
                    ));
                }
                logs.push(log(
                    identity.clone(),
                    "iam.amazonaws.com",
                    "ListUsers",
                    region,
                ));
                logs.push(log(
                    identity.clone(),
                    "ec2.amazonaws.com",
                    "DescribeInstances",
                    region,
                ));
            }
        }
        let shape = Shape::fit(logs.iter());
        let pinned = shape
            .pinned(&[
                pin("eventSource", "s3.amazonaws.com", false),
                pin("eventName", "ListBuckets", false),
                pin("userIdentity.type", "AssumedRole", true),
            ])
            .unwrap();
        let host = *pinned
            .nodes_to("tlsDetails.clientProvidedHostHeader")
            .unwrap()
            .last()
            .unwrap();
        let s3_hosts: Vec<u16> = [
            "s3.eu-central-1.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
        ]
        .iter()
        .map(|name| string_code(&pinned, host, name).unwrap())
        .collect();
        let hosts = column_codes(&pinned, "tlsDetails.clientProvidedHostHeader");
        // Eight users' rows, each once per S3 host.
        assert_eq!(hosts.len(), 16, "{hosts:?}");
        for code in &s3_hosts {
            assert_eq!(hosts.iter().filter(|&host| host == code).count(), 8);
        }
        let kinds = column_codes(&pinned, "userIdentity.type");
        let user = string_code(
            &pinned,
            pinned.nodes_to("userIdentity.type").unwrap()[1],
            "IAMUser",
        );
        assert!(kinds.iter().all(|&c| Some(c) == user));
    }
}
