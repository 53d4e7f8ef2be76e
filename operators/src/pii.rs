//! Keyed hashing of personal data (user names, e-mail addresses, IP addresses) before
//! logs go any further, so models are trained and alerts raised on pseudonyms.
//!
//! The same value always gets the same pseudonym under one key (HMAC-SHA-256), so a
//! user's logs from all three sources still meet under one key and a model still learns
//! per-user behaviour; without the key a pseudonym cannot be reversed or recomputed.

use hmac::{Hmac, Mac};
use schemas::{Envelope, FieldPath, Source};
use serde_json::Value;
use sha2::Sha256;

use crate::source_fields::{SourceFields, lookup_mut};

/// Which fields of each source to pseudonymise (dotted paths, matched case-insensitively).
pub type PiiFields = SourceFields;

/// Replaces configured fields with keyed pseudonyms.
#[derive(Clone)]
pub struct PiiHasher {
    mac: Hmac<Sha256>,
    fields: PiiFields,
    /// Per source (by [`Source::index`]), for each of its `fields`: whether decoding
    /// reads the user from it, so it is hashed as the user is.
    names_user: [Vec<bool>; 3],
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
        let names_user = Source::ALL.map(|source| {
            let user_paths = source.spec().user;
            let names = |path: &String| {
                let names = |user: &FieldPath| user.as_str().eq_ignore_ascii_case(path);
                user_paths.iter().any(names)
            };
            fields.of(source).iter().map(names).collect()
        });
        Ok(PiiHasher {
            mac,
            fields,
            names_user,
        })
    }

    /// Names the key without revealing it: the keyed hash of a fixed label. A model
    /// stores it so that logs pseudonymised under another key (or not at all) are refused
    /// instead of scored as strangers.
    pub fn key_id(&self) -> String {
        format!("hmac-sha256:{}", self.keyed_hex(b"cyberlm pii key id"))
    }

    /// The fields this hasher pseudonymises.
    pub fn fields(&self) -> &PiiFields {
        &self.fields
    }

    /// The pseudonym of `value`: `h:` and 16 hex digits of its keyed hash.
    pub fn pseudonym(&self, value: &str) -> String {
        format!("h:{}", self.keyed_hex(value.as_bytes()))
    }

    /// 16 hex digits of the keyed hash of `bytes`.
    fn keyed_hex(&self, bytes: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(bytes);
        let digest = mac.finalize().into_bytes();
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Pseudonymises the configured fields of `envelope` in place, and its user (the
    /// partitioning key) the same way, so hashed logs still group by person.
    pub fn apply(&self, envelope: &mut Envelope) {
        let source = envelope.source;
        let names_user = &self.names_user[source.index()];
        for (path, &names_user) in self.fields.of(source).iter().zip(names_user) {
            if let Some(Value::String(text)) = lookup_mut(&mut envelope.json, path) {
                *text = self.pseudonymised(text, names_user);
            }
        }
        if !self.fields.of(envelope.source).is_empty()
            && let Some(user) = &envelope.user
        {
            envelope.user = Some(self.pseudonym(user));
        }
    }

    /// Which way [`Self::apply`] writes pseudonyms. A model records it, and one trained on
    /// another way's logs is refused: the same log would read otherwise.
    /// 1: each value hashed whole. 2 (2026-12-07): ARNs and role principal ids keep
    /// their structure, and user names are hashed lower-cased ([`Self::pseudonymised`]).
    pub const SCHEME: u32 = 2;

    /// `text` with its personal part replaced by a pseudonym, written so that a
    /// pseudonymised log still names its pseudonymised user as decoding reads one
    /// (`schemas::decode`: an ARN's last segment, lower-cased):
    /// - an ARN keeps its account and role, and its last segment (the IAM user or the
    ///   role session, a person's UPN) is hashed: `arn:aws:sts::1:assumed-role/Dev/h:…`.
    ///   Hashed whole, every assumed-role call would name a user of its own, and a
    ///   generated call could not be told apart by user;
    /// - a role's principal id (`AROA…:alice@contoso.com`) keeps the role's id;
    /// - a field decoding reads the user from (`names_user`) is hashed lower-cased, as
    ///   the user is;
    /// - anything else (an address, a display name) is hashed whole.
    fn pseudonymised(&self, text: &str, names_user: bool) -> String {
        if text.starts_with("arn:")
            && let Some((resource, name)) = text.rsplit_once('/')
        {
            return format!("{resource}/{}", self.pseudonym(&name.to_lowercase()));
        }
        if let Some((id, session)) = text.split_once(':')
            && is_unique_id(id)
        {
            return format!("{id}:{}", self.pseudonym(&session.to_lowercase()));
        }
        match names_user {
            true => self.pseudonym(&text.to_lowercase()),
            false => self.pseudonym(text),
        }
    }
}

/// Whether `text` is an AWS unique id (`AROAJQABLZS4A3QDU576Q`, `AIDA…`): an `A`, then
/// capitals and digits, 16 or more in all.
fn is_unique_id(text: &str) -> bool {
    text.len() >= 16
        && text.starts_with("A")
        && text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Whether `value` is a pseudonym as [`PiiHasher::pseudonym`] writes them.
pub fn is_pseudonym(value: &str) -> bool {
    value
        .strip_prefix("h:")
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
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
        assert!(is_pseudonym(&pseudonym) && !is_pseudonym("h:alice"));
        assert_eq!(azure.json["UserPrincipalName"], pseudonym.as_str());
        assert_eq!(trail.json["userIdentity"]["userName"], pseudonym.as_str());
        assert_eq!(azure.user, trail.user, "one person, one key across sources");
        assert_ne!(azure.json["IPAddress"], "1.2.3.4");
        assert_eq!(
            azure.json["Location"], "DE",
            "unlisted fields are untouched"
        );
        let other = PiiHasher::new(b"another key, 16+ bytes", fields.clone()).unwrap();
        assert_ne!(other.pseudonym("alice"), pseudonym);
        let same_key = PiiHasher::new(b"0123456789abcdef0123", fields).unwrap();
        assert_eq!(hasher.key_id(), same_key.key_id());
        assert_ne!(hasher.key_id(), other.key_id());
        assert!(
            !hasher.key_id().contains(&pseudonym[2..]),
            "the key id is not a pseudonym"
        );
        assert!(PiiHasher::new(b"short", PiiFields::default()).is_err());
        assert!(!format!("{hasher:?}").contains("0123456789"));
    }

    #[test]
    fn a_pseudonymised_log_decodes_to_its_pseudonymised_user() {
        let fields = PiiFields {
            azure: vec!["UserPrincipalName".into(), "IPAddress".into()],
            cloudtrail: vec![
                "userIdentity.userName".into(),
                "userIdentity.arn".into(),
                "userIdentity.principalId".into(),
            ],
            confluence: vec!["author.username".into()],
        };
        let hasher = PiiHasher::new(b"0123456789abcdef0123", fields).unwrap();
        let role = r#""type":"AssumedRole","principalId":"AROAJQABLZS4A3QDU576Q:Karim.Kim@contoso.com","arn":"arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/Karim.Kim@contoso.com""#;
        let logs = [
            (
                Source::Azure,
                r#"{"TimeGenerated":"2024-01-01T00:00:00Z","UserPrincipalName":"Karim.Kim@contoso.com","IPAddress":"1.2.3.4"}"#.to_string(),
            ),
            (
                Source::CloudTrail,
                format!(r#"{{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{{{role}}}}}"#),
            ),
            (
                Source::CloudTrail,
                r#"{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::123456789012:user/svc-ci","userName":"svc-ci"}}"#.to_string(),
            ),
            (
                Source::Confluence,
                r#"{"creationDate":1704067200000,"author":{"username":"Karim.Kim"}}"#.to_string(),
            ),
        ];
        for (source, raw) in logs {
            let mut envelope = schemas::decode(source, raw.as_bytes()).unwrap();
            hasher.apply(&mut envelope);
            let again = schemas::decode(source, envelope.json.to_string().as_bytes()).unwrap();
            assert_eq!(again.user, envelope.user, "{}", envelope.json);
            assert!(envelope.user.as_deref().is_some_and(is_pseudonym));
        }
        let mut trail = schemas::decode(
            Source::CloudTrail,
            format!(r#"{{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{{{role}}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        hasher.apply(&mut trail);
        let karim = hasher.pseudonym("karim.kim@contoso.com");
        let identity = &trail.json["userIdentity"];
        assert_eq!(
            identity["arn"],
            format!("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev/{karim}"),
            "the role is kept, the person hashed"
        );
        assert_eq!(
            identity["principalId"],
            format!("AROAJQABLZS4A3QDU576Q:{karim}")
        );
        assert!(!trail.json.to_string().to_lowercase().contains("karim"));
    }
}
