//! Keyed hashing of personal data (user names, e-mail addresses, IP addresses) before
//! logs go any further, so models are trained and alerts raised on pseudonyms.
//!
//! The same value always gets the same pseudonym under one key (HMAC-SHA-256), so a
//! user's logs from all three sources still meet under one key and a model still learns
//! per-user behaviour; without the key a pseudonym cannot be reversed or recomputed.

use hmac::{Hmac, Mac};
use schemas::{Envelope, Source};
use serde_json::Value;
use sha2::Sha256;

/// Which fields of each source to pseudonymise (dotted paths, matched case-insensitively).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PiiFields {
    /// Entra ID fields, e.g. `UserPrincipalName`, `IPAddress`.
    #[serde(default)]
    pub azure: Vec<String>,
    /// Confluence fields, e.g. `author.username`, `remoteAddress`.
    #[serde(default)]
    pub confluence: Vec<String>,
    /// CloudTrail fields, e.g. `userIdentity.userName`, `sourceIPAddress`.
    #[serde(default)]
    pub cloudtrail: Vec<String>,
}

impl PiiFields {
    fn of(&self, source: Source) -> &[String] {
        match source {
            Source::Azure => &self.azure,
            Source::Confluence => &self.confluence,
            Source::CloudTrail => &self.cloudtrail,
        }
    }

    /// No field configured.
    pub fn is_empty(&self) -> bool {
        self.azure.is_empty() && self.confluence.is_empty() && self.cloudtrail.is_empty()
    }
}

/// Replaces configured fields with keyed pseudonyms.
#[derive(Clone)]
pub struct PiiHasher {
    mac: Hmac<Sha256>,
    fields: PiiFields,
}

impl std::fmt::Debug for PiiHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("PiiHasher")
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

impl PiiHasher {
    /// A hasher with `key` (at least 16 bytes) for `fields`.
    pub fn new(key: &[u8], fields: PiiFields) -> Result<Self, String> {
        if key.len() < 16 {
            return Err(format!(
                "the PII key has {} bytes; use at least 16 random bytes",
                key.len()
            ));
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
        Ok(PiiHasher { mac, fields })
    }

    /// The pseudonym of `value`: `h:` and 16 hex digits of its keyed hash.
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("h:{hex}")
    }

    /// Pseudonymises the configured fields of `envelope` in place, and its user (the
    /// partitioning key) the same way, so hashed logs still group by person.
    pub fn apply(&self, envelope: &mut Envelope) {
        for path in self.fields.of(envelope.source) {
            if let Some(Value::String(text)) = lookup_mut(&mut envelope.json, path) {
                *text = self.pseudonym(text);
            }
        }
        if !self.fields.of(envelope.source).is_empty()
            && let Some(user) = &envelope.user
        {
            envelope.user = Some(self.pseudonym(user));
        }
    }
}

fn lookup_mut<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut current = root;
    for segment in path.split('.') {
        let object = current.as_object_mut()?;
        let key = object
            .keys()
            .find(|key| key.eq_ignore_ascii_case(segment))?
            .clone();
        current = object.get_mut(&key)?;
    }
    Some(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_stable_and_join_sources() {
        let fields = PiiFields {
            azure: vec!["UserPrincipalName".into(), "IPAddress".into()],
            cloudtrail: vec!["userIdentity.userName".into()],
            ..PiiFields::default()
        };
        let hasher = PiiHasher::new(b"0123456789abcdef0123", fields.clone()).unwrap();
        let mut azure = schemas::decode(
            Source::Azure,
            br#"{"TimeGenerated":"2024-01-01T00:00:00Z","UserPrincipalName":"alice","IPAddress":"1.2.3.4","Location":"DE"}"#,
        )
        .unwrap();
        let mut trail = schemas::decode(
            Source::CloudTrail,
            br#"{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"userName":"alice"}}"#,
        )
        .unwrap();
        hasher.apply(&mut azure);
        hasher.apply(&mut trail);
        let pseudonym = hasher.pseudonym("alice");
        assert!(pseudonym.starts_with("h:") && pseudonym.len() == 18);
        assert_eq!(azure.json["UserPrincipalName"], pseudonym.as_str());
        assert_eq!(trail.json["userIdentity"]["userName"], pseudonym.as_str());
        assert_eq!(azure.user, trail.user, "one person, one key across sources");
        assert_ne!(azure.json["IPAddress"], "1.2.3.4");
        assert_eq!(
            azure.json["Location"], "DE",
            "unlisted fields are untouched"
        );
        let other = PiiHasher::new(b"another key, 16+ bytes", fields).unwrap();
        assert_ne!(other.pseudonym("alice"), pseudonym);
        assert!(PiiHasher::new(b"short", PiiFields::default()).is_err());
        assert!(!format!("{hasher:?}").contains("0123456789"));
    }
}
