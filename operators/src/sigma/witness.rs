//! What a log must hold for a rule to fire: its detection read as alternatives, each a
//! set of [`FieldPin`]s that together make the condition true. Rule-guided generation
//! pins a shape to one and lets the model write the rest, so red-team logs can exercise
//! a detection that no recorded log of the technique fires (Stratus's T1136.003 creates
//! an IAM user; the one rule tagged with it watches ElastiCache security groups).
//!
//! The condition is expanded into a disjunction of conjunctions (`not` pushed down to
//! the selections), a selection giving one pin per field (a list of selections, one
//! alternative each) and a negated one one alternative per field it names: for
//! `selection and not filter`, a log fires when it matches the selection and differs
//! from the filter in one field. Selections a pin cannot express (regular expressions,
//! CIDR ranges, numeric comparisons, field references, keyword searches, `null`) leave
//! out the alternatives that need them; a rule left with none has no witness.

use serde_norway::Value as Yaml;

use crate::text_format::{FieldPin, ValuePattern};

/// Most alternatives kept: a condition over many selections expands combinatorially,
/// and the first few that a shape can hold are all generation needs.
pub const MAX_ALTERNATIVES: usize = 64;

/// The alternatives of `detection` (a rule's `detection` block, numbers already text);
/// why there are none when there are none.
pub fn witnesses(detection: &Yaml) -> Result<Vec<Vec<FieldPin>>, String> {
    let condition = match detection.get("condition") {
        Some(Yaml::String(text)) => Condition::parse(text)?,
        Some(Yaml::Sequence(items)) => {
            let parts = items
                .iter()
                .map(|item| Condition::parse(item.as_str().ok_or("a condition is not text")?))
                .collect::<Result<Vec<_>, String>>()?;
            Condition::Or(parts)
        }
        _ => return Err("the detection has no condition".into()),
    };
    let mut gaps = Vec::new();
    let alternatives = expand(&condition, false, detection, &mut gaps);
    match alternatives.is_empty() {
        false => Ok(alternatives),
        true if gaps.is_empty() => Err("its condition can never be true".into()),
        true => Err(gaps.join("; ")),
    }
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    Selection(String),
    /// `1 of x*` (`any`), or with `all` `all of x*`; `them` is `*`.
    Of {
        all: bool,
        pattern: String,
    },
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    fn parse(text: &str) -> Result<Condition, String> {
        if text.contains('|') {
            return Err(format!(
                "its condition {text:?} aggregates over many logs, which no one log can show"
            ));
        }
        let spaced = text.replace('(', " ( ").replace(')', " ) ");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        let mut parser = Parser { tokens, at: 0 };
        let condition = parser.or()?;
        match parser.at == parser.tokens.len() {
            true => Ok(condition),
            false => Err(format!("cannot read its condition {text:?}")),
        }
    }
}

struct Parser<'a> {
    tokens: Vec<&'a str>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).copied()
    }

    fn next(&mut self) -> Result<&'a str, String> {
        let token = self.peek().ok_or("its condition ends too early")?;
        self.at += 1;
        Ok(token)
    }

    fn or(&mut self) -> Result<Condition, String> {
        self.joined("or", Self::and, Condition::Or)
    }

    fn and(&mut self) -> Result<Condition, String> {
        self.joined("and", Self::factor, Condition::And)
    }

    /// One or more `part`s joined by `word`, as `many` when more than one.
    fn joined(
        &mut self,
        word: &str,
        part: fn(&mut Self) -> Result<Condition, String>,
        many: fn(Vec<Condition>) -> Condition,
    ) -> Result<Condition, String> {
        let mut parts = vec![part(self)?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word)) {
            self.at += 1;
            parts.push(part(self)?);
        }
        Ok(one_or(parts, many))
    }

    fn factor(&mut self) -> Result<Condition, String> {
        let token = self.next()?;
        if token.eq_ignore_ascii_case("not") {
            return Ok(Condition::Not(Box::new(self.factor()?)));
        }
        if token == "(" {
            let inner = self.or()?;
            return match self.next()? {
                ")" => Ok(inner),
                other => Err(format!("expected ) in its condition, found {other}")),
            };
        }
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("of")) {
            self.at += 1;
            let all = match token.to_ascii_lowercase().as_str() {
                "all" => true,
                "1" | "any" => false,
                other => return Err(format!("cannot read {other:?} of in its condition")),
            };
            let target = self.next()?;
            let pattern = match target.eq_ignore_ascii_case("them") {
                true => "*".to_string(),
                false => target.to_string(),
            };
            return Ok(Condition::Of { all, pattern });
        }
        Ok(Condition::Selection(token.to_string()))
    }
}

fn one_or(mut parts: Vec<Condition>, many: fn(Vec<Condition>) -> Condition) -> Condition {
    match parts.len() {
        1 => parts.remove(0),
        _ => many(parts),
    }
}

/// The alternatives that make `condition` (or, `negated`, its negation) true.
fn expand(
    condition: &Condition,
    negated: bool,
    detection: &Yaml,
    gaps: &mut Vec<String>,
) -> Vec<Vec<FieldPin>> {
    let named = |pattern: &str| -> Vec<Condition> {
        let glob = ValuePattern(pattern.to_string());
        detection
            .as_mapping()
            .into_iter()
            .flat_map(|map| map.keys())
            .filter_map(Yaml::as_str)
            .filter(|name| !matches!(*name, "condition" | "timeframe") && glob.matches(name))
            .map(|name| Condition::Selection(name.to_string()))
            .collect()
    };
    match (condition, negated) {
        (Condition::Selection(name), _) => match detection.get(name.as_str()) {
            Some(selection) => selection_alternatives(name, selection, negated, gaps),
            None => {
                gaps.push(format!(
                    "its condition names {name}, which it does not define"
                ));
                Vec::new()
            }
        },
        (Condition::Not(inner), _) => expand(inner, !negated, detection, gaps),
        // `1 of` is an `or` of the selections it names, `all of` an `and`.
        (Condition::Of { all, pattern }, _) => {
            let parts = named(pattern);
            let joined = match all {
                true => Condition::And(parts),
                false => Condition::Or(parts),
            };
            expand(&joined, negated, detection, gaps)
        }
        (Condition::And(parts), false) | (Condition::Or(parts), true) => product(
            parts
                .iter()
                .map(|part| expand(part, negated, detection, gaps)),
        ),
        (Condition::Or(parts), false) | (Condition::And(parts), true) => parts
            .iter()
            .flat_map(|part| expand(part, negated, detection, gaps))
            .take(MAX_ALTERNATIVES)
            .collect(),
    }
}

/// Every way to pick one alternative of each part, pins together.
fn product(parts: impl Iterator<Item = Vec<Vec<FieldPin>>>) -> Vec<Vec<FieldPin>> {
    let mut combined: Vec<Vec<FieldPin>> = vec![Vec::new()];
    for part in parts {
        combined = combined
            .iter()
            .flat_map(|pins| {
                part.iter().map(move |more| {
                    let mut pins = pins.clone();
                    pins.extend(more.iter().cloned());
                    pins
                })
            })
            .take(MAX_ALTERNATIVES)
            .collect();
    }
    combined
}

/// The alternatives of one named selection: a map is one (every field), a list of maps
/// one per map; negated, one per field (a map) or every way of picking one field of
/// each map (a list).
fn selection_alternatives(
    name: &str,
    selection: &Yaml,
    negated: bool,
    gaps: &mut Vec<String>,
) -> Vec<Vec<FieldPin>> {
    let maps: Vec<&Yaml> = match selection {
        Yaml::Mapping(_) => vec![selection],
        Yaml::Sequence(items) if items.iter().all(Yaml::is_mapping) => items.iter().collect(),
        _ => {
            gaps.push(format!(
                "{name} searches keywords over the whole log, which no field can be pinned to"
            ));
            return Vec::new();
        }
    };
    let mut alternatives_of_maps = Vec::new();
    for map in maps {
        let mut pins = Vec::new();
        let mut expressible = true;
        for (key, value) in map.as_mapping().into_iter().flatten() {
            match field_pin(key, value, negated) {
                Ok(pin) => pins.push(pin),
                Err(gap) => {
                    gaps.push(format!("{name}: {gap}"));
                    expressible = false;
                }
            }
        }
        alternatives_of_maps.push(match (negated, expressible) {
            // Every field must hold: one pin that cannot be written loses the map.
            (false, true) => vec![pins],
            (false, false) => Vec::new(),
            // Any one field differing is enough: each expressible pin alone.
            (true, _) => pins.into_iter().map(|pin| vec![pin]).collect(),
        });
    }
    match negated {
        false => alternatives_of_maps.into_iter().flatten().collect(),
        true => product(alternatives_of_maps.into_iter()),
    }
}

/// The pin of one `field|modifiers: value(s)` entry.
fn field_pin(key: &Yaml, value: &Yaml, negated: bool) -> Result<FieldPin, String> {
    let key = key.as_str().ok_or("a field name is not text")?;
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or(key).to_string();
    let (mut wrap, mut all): (fn(&str) -> String, bool) = (str::to_string, false);
    for modifier in parts {
        match modifier {
            "contains" => wrap = |text| format!("*{text}*"),
            "startswith" => wrap = |text| format!("{text}*"),
            "endswith" => wrap = |text| format!("*{text}"),
            "all" => all = true,
            "cased" => {}
            other => return Err(format!("{field}|{other} cannot be pinned")),
        }
    }
    let values: Vec<&Yaml> = match value {
        Yaml::Sequence(items) => items.iter().collect(),
        other => vec![other],
    };
    let patterns = values
        .into_iter()
        .map(|value| match value {
            Yaml::String(text) => Ok(ValuePattern(wrap(text))),
            Yaml::Number(number) => Ok(ValuePattern(wrap(&number.to_string()))),
            Yaml::Bool(flag) => Ok(ValuePattern(wrap(&flag.to_string()))),
            Yaml::Null => Err(format!("{field}: null (the field absent) cannot be pinned")),
            _ => Err(format!("{field} has a value that cannot be pinned")),
        })
        .collect::<Result<Vec<_>, String>>()?;
    if patterns.is_empty() {
        return Err(format!("{field} lists no value"));
    }
    Ok(FieldPin {
        field,
        patterns,
        all,
        negated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(yaml: &str) -> Yaml {
        serde_norway::from_str(yaml).unwrap()
    }

    fn summary(alternatives: &[Vec<FieldPin>]) -> Vec<Vec<String>> {
        alternatives
            .iter()
            .map(|pins| {
                pins.iter()
                    .map(|pin| {
                        let values: Vec<&str> = pin.patterns.iter().map(|p| p.0.as_str()).collect();
                        let not = if pin.negated { "!" } else { "" };
                        format!("{}{not}={}", pin.field, values.join("|"))
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_selection_and_not_a_filter_is_the_selection_with_the_filter_field_differing() {
        let alternatives = witnesses(&detection(
            "selection: {eventSource: s3.amazonaws.com, eventName: ListBuckets}\nfilter: {userIdentity.type: AssumedRole}\ncondition: selection and not filter",
        ))
        .unwrap();
        assert_eq!(
            summary(&alternatives),
            [[
                "eventSource=s3.amazonaws.com",
                "eventName=ListBuckets",
                "userIdentity.type!=AssumedRole"
            ]]
        );
    }

    #[test]
    fn one_of_is_an_alternative_per_selection_and_modifiers_become_wildcards() {
        let alternatives = witnesses(&detection(
            "selection_event: {eventName|startswith: Delete}\nselection_status_null: {errorCode: null}\nselection_status_ok: {errorCode: [Success, OK]}\ncondition: selection_event and 1 of selection_status_*",
        ))
        .unwrap();
        // The `null` alternative cannot be pinned; the other is kept.
        assert_eq!(
            summary(&alternatives),
            [["eventName=Delete*", "errorCode=Success|OK"]]
        );
    }

    #[test]
    fn a_negated_list_of_maps_differs_from_each_map() {
        let alternatives = witnesses(&detection(
            "selection: {a|contains: x}\nfilter:\n  - {b: 1, c: 2}\n  - {d: 3}\ncondition: selection and not filter",
        ))
        .unwrap();
        assert_eq!(
            summary(&alternatives),
            [["a=*x*", "b!=1", "d!=3"], ["a=*x*", "c!=2", "d!=3"]]
        );
        let or = witnesses(&detection(
            "a: {x: 1}\nb: {y: 2}\ncondition: (a or b) and not (a and b)",
        ))
        .unwrap();
        assert_eq!(
            summary(&or),
            [
                ["x=1", "x!=1"],
                ["x=1", "y!=2"],
                ["y=2", "x!=1"],
                ["y=2", "y!=2"]
            ]
        );
    }

    #[test]
    fn a_rule_no_pin_can_express_says_why() {
        let regex = witnesses(&detection(
            "selection: {userIdentity.arn|re: '.+:assumed-role/.+'}\ncondition: selection",
        ));
        assert!(regex.unwrap_err().contains("|re cannot be pinned"));
        let keywords = witnesses(&detection("keywords: [mimikatz]\ncondition: keywords"));
        assert!(keywords.unwrap_err().contains("keywords"));
        let count = witnesses(&detection(
            "selection: {a: 1}\ncondition: selection | count() > 5",
        ));
        assert!(count.unwrap_err().contains("aggregates"));
    }
}
