//! Which fields of each source the model reads.
//!
//! A real Entra ID sign-in record runs to about 4 KB, much of it fields that hold the same
//! value in every record of a tenant (tenant id, resource tenant, app display names of a
//! single-app estate, empty arrays). They cost context and teach the model nothing, so a
//! projection fitted on the training logs drops every field that never varies, and puts
//! it back (at its original position) when a generated log is written out. A field that
//! was constant in training but differs in a new log is kept: that difference is exactly
//! what the detector should see.

use std::collections::{BTreeMap, HashMap};

use schemas::Source;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A field that held one value in every training log of its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstantField {
    /// Keys from the root to the field.
    pub path: Vec<String>,
    /// Its position among its parent's keys, so a restored log keeps the key order.
    pub index: usize,
    /// The value it always held.
    pub value: Value,
}

/// Per source, the fields the model does not read. Stored with the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Constant fields by source name, shallowest first.
    pub constants: BTreeMap<String, Vec<ConstantField>>,
}

impl Projection {
    /// Fits a projection: every field (or whole object) present with one value in every
    /// log of its source is dropped. A source seen fewer than `min_logs` times keeps all
    /// its fields, since a handful of logs says nothing about what never varies.
    pub fn fit<'a>(logs: impl IntoIterator<Item = (Source, &'a Value)>, min_logs: usize) -> Self {
        let mut stats: HashMap<Source, SourceStats> = HashMap::new();
        for (source, log) in logs {
            let entry = stats.entry(source).or_default();
            entry.logs += 1;
            let mut path = Vec::new();
            entry.observe(&mut path, log);
        }
        let mut constants = BTreeMap::new();
        for (source, stats) in stats {
            if stats.logs < min_logs.max(1) {
                continue;
            }
            constants.insert(source.name().to_string(), stats.into_constants());
        }
        Projection { constants }
    }

    /// Removes the constant fields of `source` from `log` where they hold their constant
    /// value.
    pub fn apply(&self, source: Source, log: &mut Value) {
        let Some(fields) = self.constants.get(source.name()) else {
            return;
        };
        // Deepest first, so removing a field never shifts a path still to be visited.
        for field in fields.iter().rev() {
            let Some((last, parents)) = field.path.split_last() else {
                continue;
            };
            if let Some(parent) = object_at_mut(log, parents)
                && parent.get(last) == Some(&field.value)
            {
                parent.shift_remove(last);
            }
        }
    }

    /// Puts the constant fields of `source` back into a generated `log` where absent.
    pub fn restore(&self, source: Source, log: &mut Value) {
        let Some(fields) = self.constants.get(source.name()) else {
            return;
        };
        for field in fields {
            let Some((last, parents)) = field.path.split_last() else {
                continue;
            };
            let Some(parent) = object_at_mut_creating(log, parents) else {
                continue;
            };
            if !parent.contains_key(last) {
                let index = field.index.min(parent.len());
                parent.shift_insert(index, last.clone(), field.value.clone());
            }
        }
    }

    /// How many fields are dropped for `source`.
    pub fn dropped(&self, source: Source) -> usize {
        self.constants.get(source.name()).map_or(0, Vec::len)
    }
}

#[derive(Default)]
struct SourceStats {
    logs: usize,
    paths: HashMap<Vec<String>, PathStats>,
}

struct PathStats {
    first: Value,
    index: usize,
    seen: usize,
    constant: bool,
}

impl SourceStats {
    fn observe(&mut self, path: &mut Vec<String>, value: &Value) {
        let Value::Object(object) = value else { return };
        for (index, (key, child)) in object.iter().enumerate() {
            path.push(key.clone());
            match self.paths.get_mut(path.as_slice()) {
                Some(stats) => {
                    stats.seen += 1;
                    stats.constant &= stats.first == *child;
                }
                None => {
                    self.paths.insert(
                        path.clone(),
                        PathStats {
                            first: child.clone(),
                            index,
                            seen: 1,
                            constant: true,
                        },
                    );
                }
            }
            // A subtree already known to vary still has children that may not.
            self.observe(path, child);
            path.pop();
        }
    }

    fn into_constants(self) -> Vec<ConstantField> {
        let logs = self.logs;
        let is_constant = |stats: &PathStats| stats.constant && stats.seen == logs;
        let mut constants: Vec<ConstantField> = self
            .paths
            .iter()
            .filter(|(_, stats)| is_constant(stats))
            // Only the outermost constant: its children go with it.
            .filter(|(path, _)| {
                (1..path.len())
                    .all(|depth| !self.paths.get(&path[..depth]).is_some_and(&is_constant))
            })
            .map(|(path, stats)| ConstantField {
                path: path.clone(),
                index: stats.index,
                value: stats.first.clone(),
            })
            .collect();
        constants.sort_by(|a, b| (a.path.len(), &a.path).cmp(&(b.path.len(), &b.path)));
        constants
    }
}

fn object_at_mut<'a>(root: &'a mut Value, path: &[String]) -> Option<&'a mut Map<String, Value>> {
    let mut current = root;
    for key in path {
        current = current.as_object_mut()?.get_mut(key)?;
    }
    current.as_object_mut()
}

fn object_at_mut_creating<'a>(
    root: &'a mut Value,
    path: &[String],
) -> Option<&'a mut Map<String, Value>> {
    let mut current = root;
    for key in path {
        let object = current.as_object_mut()?;
        if !object.contains_key(key) {
            object.insert(key.clone(), Value::Object(Map::new()));
        }
        current = object.get_mut(key)?;
    }
    current.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_only_what_never_varies_and_restores_it_in_place() {
        let logs = [
            json!({"Tenant": "t1", "App": "Teams", "Loc": {"country": "DE", "geo": {"lat": 1}}}),
            json!({"Tenant": "t1", "App": "Outlook", "Loc": {"country": "FR", "geo": {"lat": 1}}}),
        ];
        let projection = Projection::fit(logs.iter().map(|log| (Source::Azure, log)), 1);
        assert_eq!(projection.dropped(Source::Azure), 2, "{projection:?}");

        let original = logs[1].clone();
        let mut projected = original.clone();
        projection.apply(Source::Azure, &mut projected);
        assert_eq!(
            projected,
            json!({"App": "Outlook", "Loc": {"country": "FR"}})
        );
        projection.restore(Source::Azure, &mut projected);
        assert_eq!(
            serde_json::to_string(&projected).unwrap(),
            serde_json::to_string(&original).unwrap()
        );
    }

    #[test]
    fn a_constant_field_with_a_new_value_is_kept() {
        let logs = [
            json!({"Tenant": "t1", "A": 1}),
            json!({"Tenant": "t1", "A": 2}),
        ];
        let projection = Projection::fit(logs.iter().map(|log| (Source::Azure, log)), 1);
        let mut intruder = json!({"Tenant": "evil", "A": 3});
        projection.apply(Source::Azure, &mut intruder);
        assert_eq!(intruder["Tenant"], "evil");
    }
}
