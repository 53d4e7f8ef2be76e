//! Confluence Cloud audit records in the audit REST API's shape (`author`, `creationDate`
//! in epoch milliseconds, `summary`, `category`, `affectedObject`, `changedValues`).

use chrono::{DateTime, Utc};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::enterprise::User;
use super::ids::hex;

/// One audit record, before it is written out.
pub struct AuditRecord<'a> {
    /// When.
    pub time: DateTime<Utc>,
    /// Who.
    pub user: &'a User,
    /// Caller address.
    pub ip: String,
    /// `Page created`, `Space exported`, ...
    pub summary: &'static str,
    /// `Pages`, `Import/Export`, `Permissions`, ...
    pub category: &'static str,
    /// (name, objectType) of the affected object.
    pub affected: (String, &'static str),
    /// (name, newValue) pairs of what changed.
    pub changed: Vec<(&'static str, String)>,
    /// (name, objectType) of associated objects (usually the space).
    pub associated: Vec<(String, &'static str)>,
}

impl AuditRecord<'_> {
    /// The audit REST record.
    pub fn to_json(&self, rng: &mut ChaCha8Rng) -> Value {
        let changed: Vec<Value> = self
            .changed
            .iter()
            .map(|(name, new)| json!({"name": name, "oldValue": "", "newValue": new, "hiddenOldValue": "", "hiddenNewValue": ""}))
            .collect();
        let associated: Vec<Value> = self
            .associated
            .iter()
            .map(|(name, kind)| json!({"name": name, "objectType": kind}))
            .collect();
        json!({
            "author": {
                "type": "user",
                "displayName": self.user.display_name,
                "operations": null,
                "isExternalCollaborator": false,
                "username": self.user.upn,
                "userKey": format!("8a7f8089{}", hex(rng, 24)),
                "accountId": self.user.atlassian_id,
                "accountType": "atlassian",
                "publicName": self.user.display_name,
                "externalCollaborator": false,
            },
            "remoteAddress": self.ip,
            "creationDate": self.time.timestamp_millis(),
            "summary": self.summary,
            "description": "",
            "category": self.category,
            "sysAdmin": false,
            "superAdmin": false,
            "affectedObject": {"name": self.affected.0, "objectType": self.affected.1},
            "changedValues": changed,
            "associatedObjects": associated,
        })
    }
}

/// Everyday audit actions: (summary, category, affected object type, weight).
pub const EVERYDAY: &[((&str, &str, &str), u32)] = &[
    (("Page created", "Pages", "Page"), 30),
    (("Page updated", "Pages", "Page"), 45),
    (("Page moved", "Pages", "Page"), 4),
    (("Page trashed", "Pages", "Page"), 5),
    (("Page restrictions updated", "Permissions", "Page"), 3),
    (("Attachment created", "Pages", "Attachment"), 8),
    (("Page exported to PDF", "Import/Export", "Page"), 3),
    (("Space permission added", "Permissions", "User"), 1),
    (("Space configuration updated", "Spaces", "Space"), 1),
];

/// Page titles people write about.
pub const PAGE_TOPICS: &[&str] = &[
    "Weekly sync",
    "Onboarding checklist",
    "Incident review",
    "Design doc",
    "Quarterly plan",
    "Runbook",
    "Release notes",
    "Retrospective",
    "Roadmap",
    "Meeting notes",
    "How-to",
];
