//! A list of fields for each source: the fields to pseudonymise, the fields a group
//! model owns.

use schemas::Source;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Dotted field paths per source, matched segment by segment ignoring ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFields {
    /// Entra ID fields, e.g. `UserPrincipalName`, `LocationDetails.city`.
    #[serde(default)]
    pub azure: Vec<String>,
    /// Confluence fields, e.g. `author.username`, `remoteAddress`.
    #[serde(default)]
    pub confluence: Vec<String>,
    /// CloudTrail fields, e.g. `userIdentity.userName`, `sourceIPAddress`.
    #[serde(default)]
    pub cloudtrail: Vec<String>,
}

impl SourceFields {
    /// The fields of `source`.
    pub fn of(&self, source: Source) -> &[String] {
        match source {
            Source::Azure => &self.azure,
            Source::Confluence => &self.confluence,
            Source::CloudTrail => &self.cloudtrail,
        }
    }

    /// No field listed for any source.
    pub fn is_empty(&self) -> bool {
        self.azure.is_empty() && self.confluence.is_empty() && self.cloudtrail.is_empty()
    }
}

/// The key of `object` that `segment` names: itself, else one equal ignoring ASCII case.
pub(crate) fn find_key<'a>(object: &'a Map<String, Value>, segment: &str) -> Option<&'a String> {
    match object.get_key_value(segment) {
        Some((key, _)) => Some(key),
        None => object.keys().find(|key| key.eq_ignore_ascii_case(segment)),
    }
}

/// The value at the dotted `path` of `root`, for writing; each segment matched as
/// [`SourceFields`] matches them.
pub fn lookup_mut<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut current = root;
    for segment in path.split('.') {
        let object = current.as_object_mut()?;
        let key = find_key(object, segment)?.clone();
        current = object.get_mut(&key)?;
    }
    Some(current)
}
