//! A group of fields with a model of its own: the Dual-GPT.
//!
//! One model writing a whole log mixes what a user does with where they are: asked for a
//! user in a country they never visited, it writes their home city with the new
//! country's code. A group model is trained on a few fields only (the location: city,
//! state, country, coordinates, address), conditioned on a few header fields (the
//! country), so it learns which values occur together; generation then takes the rest of
//! the log from the main model and these fields from the group's.

use schemas::Source;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Header;
use crate::source_fields::{SourceFields, find_key, lookup_mut};

/// A header field a group model may be conditioned on (the source always is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderField {
    /// `u=`
    User,
    /// `c=`
    Country,
    /// `t=`
    Technique,
    /// `d=`
    Weekday,
    /// `h=`
    Hour,
}

impl HeaderField {
    /// Its key in the header ([`super::HEADER_KEYS`]).
    pub fn key(self) -> u8 {
        match self {
            HeaderField::User => b'u',
            HeaderField::Country => b'c',
            HeaderField::Technique => b't',
            HeaderField::Weekday => b'd',
            HeaderField::Hour => b'h',
        }
    }
}

/// Fields that get their own model, and what that model is conditioned on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldGroup {
    /// The group's name (`location`).
    pub name: String,
    /// Header fields the group's model reads besides the source.
    #[serde(default)]
    pub header: Vec<HeaderField>,
    /// The group's fields per source: a path names a whole value (an object with
    /// everything in it, or a leaf).
    pub fields: SourceFields,
}

impl FieldGroup {
    /// The location group of the Dual-GPT, conditioned on the country alone: where an
    /// Entra ID sign-in came from (country, city, state, coordinates, address and the
    /// address's network, its autonomous system: a traveller's sign-in from Bengaluru
    /// does not come from their Munich provider), and the
    /// address of a CloudTrail call (with its region: consoles and CLIs default to one
    /// near the user) or a Confluence request, whose country is the user's latest
    /// sign-in's ([`super::CountryCarry`]).
    pub fn location() -> Self {
        let fields = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
        FieldGroup {
            name: "location".to_string(),
            header: vec![HeaderField::Country],
            fields: SourceFields {
                azure: fields(&[
                    "Location",
                    "LocationDetails",
                    "IPAddress",
                    "AutonomousSystemNumber",
                ]),
                cloudtrail: fields(&["sourceIPAddress", "awsRegion"]),
                confluence: fields(&["remoteAddress"]),
            },
        }
    }

    /// Whether the group owns fields of `source`.
    pub fn covers(&self, source: Source) -> bool {
        !self.fields.of(source).is_empty()
    }

    /// The group's fields of `log`, nested and ordered as in `log`; `None` when it holds
    /// none of them.
    pub fn select(&self, source: Source, log: &Value) -> Option<Value> {
        let paths: Vec<Vec<&str>> = self
            .fields
            .of(source)
            .iter()
            .map(|path| path.split('.').collect())
            .collect();
        select_paths(log, &paths)
    }

    /// Writes the group's fields of `group_log` (a log the group's model wrote) into
    /// `log`: a field `group_log` holds replaces `log`'s (or is added at the end of its
    /// object), a field it lacks is removed from `log`. A replaced text value that other
    /// fields repeat is replaced there too: a CloudTrail call's region is also in its S3
    /// `Host` and its ARNs, and a call moved to `ap-southeast-2` must not keep
    /// `s3.eu-central-1.amazonaws.com`.
    pub fn overlay(&self, source: Source, log: &mut Value, group_log: &Value) {
        let mut renames = Vec::new();
        for path in self.fields.of(source) {
            match lookup(group_log, path) {
                Some(value) => {
                    if let (Some(Value::String(old)), Value::String(new)) =
                        (lookup(log, path), value)
                        && old != new
                        && old.len() >= MIN_RENAMED_LEN
                    {
                        renames.push((old.clone(), new.clone()));
                    }
                    set_path(log, path, value.clone());
                }
                None => remove_path(log, path),
            }
        }
        if !renames.is_empty() {
            let owned: Vec<&str> = self.fields.of(source).iter().map(String::as_str).collect();
            rename_in_strings(log, "", &owned, &renames);
        }
    }

    /// `header` with only the fields the group's model reads.
    pub fn mask(&self, header: &Header) -> Header {
        let keep = |field: HeaderField| self.header.contains(&field);
        Header {
            source: header.source,
            user: header.user.clone().filter(|_| keep(HeaderField::User)),
            country: header
                .country
                .clone()
                .filter(|_| keep(HeaderField::Country)),
            technique: header
                .technique
                .clone()
                .filter(|_| keep(HeaderField::Technique)),
            detected: header.detected.filter(|_| keep(HeaderField::Technique)),
            weekday: header.weekday.filter(|_| keep(HeaderField::Weekday)),
            hour: header.hour.filter(|_| keep(HeaderField::Hour)),
        }
    }
}

/// The parts of `value` the paths reach, keeping `value`'s key order.
fn select_paths(value: &Value, paths: &[Vec<&str>]) -> Option<Value> {
    if paths.iter().any(|path| path.is_empty()) {
        return Some(value.clone());
    }
    let object = value.as_object()?;
    let mut selected = Map::new();
    for (key, child) in object {
        let below: Vec<Vec<&str>> = paths
            .iter()
            .filter(|path| path[0].eq_ignore_ascii_case(key))
            .map(|path| path[1..].to_vec())
            .collect();
        if below.is_empty() {
            continue;
        }
        if let Some(part) = select_paths(child, &below) {
            selected.insert(key.clone(), part);
        }
    }
    (!selected.is_empty()).then_some(Value::Object(selected))
}

/// Shortest replaced value whose repetitions elsewhere are renamed: a region
/// (`us-east-1`) or an address is distinctive, a two-letter country code is not.
const MIN_RENAMED_LEN: usize = 7;

/// Replaces each `(old, new)` inside every string of `value` outside the `owned` paths
/// (the group's own fields, already written); `at` is `value`'s dotted path.
fn rename_in_strings(value: &mut Value, at: &str, owned: &[&str], renames: &[(String, String)]) {
    if owned.iter().any(|path| path.eq_ignore_ascii_case(at)) {
        return;
    }
    let child_path = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(text) => {
            for (old, new) in renames {
                if text.contains(old.as_str()) {
                    *text = text.replace(old.as_str(), new);
                }
            }
        }
        Value::Object(object) => {
            for (key, child) in object.iter_mut() {
                rename_in_strings(child, &child_path(key), owned, renames);
            }
        }
        Value::Array(items) => {
            for item in items {
                rename_in_strings(item, at, owned, renames);
            }
        }
        _ => {}
    }
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |current, segment| {
        let object = current.as_object()?;
        object.get(find_key(object, segment)?)
    })
}

/// Sets the dotted `path` of `root` to `value`, creating the objects on the way.
fn set_path(root: &mut Value, path: &str, value: Value) {
    let (parent_path, last) = match path.rsplit_once('.') {
        Some((parent, last)) => (Some(parent), last),
        None => (None, path),
    };
    let mut parent = root;
    if let Some(parent_path) = parent_path {
        for segment in parent_path.split('.') {
            let Some(object) = parent.as_object_mut() else {
                return;
            };
            let key = find_key(object, segment)
                .cloned()
                .unwrap_or_else(|| segment.to_string());
            parent = object
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    if let Some(object) = parent.as_object_mut() {
        let key = find_key(object, last)
            .cloned()
            .unwrap_or_else(|| last.to_string());
        object.insert(key, value);
    }
}

/// Removes the dotted `path` from `root`, where it is.
fn remove_path(root: &mut Value, path: &str) {
    let (parent, last) = match path.rsplit_once('.') {
        Some((parent_path, last)) => (lookup_mut(root, parent_path), last),
        None => (Some(root), path),
    };
    if let Some(object) = parent.and_then(Value::as_object_mut)
        && let Some(key) = find_key(object, last).cloned()
    {
        object.shift_remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign_in(city: &str, country: &str) -> Value {
        json!({
            "TimeGenerated": "2026-11-02T09:00:00Z",
            "UserPrincipalName": "alice@contoso.com",
            "Location": country,
            "LocationDetails": {"city": city, "countryOrRegion": country,
                "geoCoordinates": {"latitude": 52.52, "longitude": 13.4}},
            "IPAddress": "198.51.100.7",
            "AppDisplayName": "Teams"
        })
    }

    #[test]
    fn the_location_group_selects_and_overlays_only_its_fields() {
        let group = FieldGroup::location();
        assert!(Source::ALL.iter().all(|&source| group.covers(source)));
        let berlin = sign_in("Berlin", "DE");
        let selected = group.select(Source::Azure, &berlin).unwrap();
        assert_eq!(
            selected.to_string(),
            r#"{"Location":"DE","LocationDetails":{"city":"Berlin","countryOrRegion":"DE","geoCoordinates":{"latitude":52.52,"longitude":13.4}},"IPAddress":"198.51.100.7"}"#
        );
        assert_eq!(
            group.select(Source::Azure, &json!({"AppDisplayName": "x"})),
            None
        );
        assert_eq!(group.select(Source::CloudTrail, &berlin), None);
        let call = json!({"eventName": "DescribeInstances", "awsRegion": "eu-west-3",
            "sourceIPAddress": "203.0.113.9", "userAgent": "aws-cli"});
        assert_eq!(
            group.select(Source::CloudTrail, &call).unwrap().to_string(),
            r#"{"awsRegion":"eu-west-3","sourceIPAddress":"203.0.113.9"}"#
        );

        let mut log = berlin.clone();
        let madrid = json!({"Location": "ES", "LocationDetails": {"city": "Madrid", "countryOrRegion": "ES"}});
        group.overlay(Source::Azure, &mut log, &madrid);
        assert_eq!(log["Location"], "ES");
        assert_eq!(log["LocationDetails"], madrid["LocationDetails"]);
        assert!(
            log.get("IPAddress").is_none(),
            "a field the group log lacks goes"
        );
        assert_eq!(log["AppDisplayName"], "Teams");
        let keys: Vec<&String> = log.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..3],
            ["TimeGenerated", "UserPrincipalName", "Location"]
        );
    }

    #[test]
    fn a_moved_region_is_moved_in_the_fields_that_repeat_it() {
        let group = FieldGroup::location();
        let mut call = json!({"eventName": "GetBucketLocation", "awsRegion": "eu-central-1",
            "sourceIPAddress": "203.0.113.9",
            "requestParameters": {"bucketName": "b", "Host": "s3.eu-central-1.amazonaws.com"},
            "resources": [{"ARN": "arn:aws:lambda:eu-central-1:1:function:f"}],
            "userAgent": "aws-cli", "recipientAccountId": "1"});
        let sydney = json!({"sourceIPAddress": "101.160.130.77", "awsRegion": "ap-southeast-2"});
        group.overlay(Source::CloudTrail, &mut call, &sydney);
        assert_eq!(call["awsRegion"], "ap-southeast-2");
        assert_eq!(
            call["requestParameters"]["Host"],
            "s3.ap-southeast-2.amazonaws.com"
        );
        assert_eq!(
            call["resources"][0]["ARN"],
            "arn:aws:lambda:ap-southeast-2:1:function:f"
        );
        assert_eq!(call["sourceIPAddress"], "101.160.130.77");
        assert_eq!(
            call["recipientAccountId"], "1",
            "short values are never renamed"
        );

        // A sign-in's two-letter country is too short to rename elsewhere.
        let mut log = sign_in("Berlin", "DE");
        log["AppDisplayName"] = json!("DE portal");
        group.overlay(
            Source::Azure,
            &mut log,
            &json!({"Location": "ES", "IPAddress": "203.0.113.1"}),
        );
        assert_eq!(log["AppDisplayName"], "DE portal");
    }

    #[test]
    fn dotted_paths_select_and_overlay_leaves() {
        let group = FieldGroup {
            name: "city".into(),
            header: vec![HeaderField::Country, HeaderField::Hour],
            fields: SourceFields {
                azure: vec!["locationdetails.city".into(), "Missing.leaf".into()],
                ..SourceFields::default()
            },
        };
        let log = sign_in("Berlin", "DE");
        assert_eq!(
            group.select(Source::Azure, &log),
            Some(json!({"LocationDetails": {"city": "Berlin"}}))
        );
        let mut written = log.clone();
        group.overlay(
            Source::Azure,
            &mut written,
            &json!({"LocationDetails": {"city": "Potsdam"}, "Missing": {"leaf": 1}}),
        );
        assert_eq!(written["LocationDetails"]["city"], "Potsdam");
        assert_eq!(written["LocationDetails"]["countryOrRegion"], "DE");
        assert_eq!(written["Missing"]["leaf"], 1);

        let header = Header {
            source: Some(Source::Azure),
            user: Some("alice".into()),
            country: Some("DE".into()),
            technique: Some("T1078".into()),
            detected: Some(true),
            weekday: Some(1),
            hour: Some(9),
        };
        let masked = group.mask(&header);
        assert_eq!(masked.render(), "[azure c=DE h=09] ");
    }
}
