//! Alerts as OCSF Detection Findings (class_uid 2004), the shape SIEMs ingest natively.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::Envelope;

/// OCSF schema version the findings follow.
pub const OCSF_VERSION: &str = "1.3.0";

/// Severity of a finding, with OCSF's `severity_id` numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// OCSF 1.
    Informational,
    /// OCSF 2.
    Low,
    /// OCSF 3.
    Medium,
    /// OCSF 4.
    High,
    /// OCSF 5.
    Critical,
}

impl Severity {
    /// OCSF `severity_id`.
    pub fn id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    /// OCSF `severity` caption.
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// Parses a Sigma `level` or a config value (`low`, `High`, ...).
    pub fn parse(text: &str) -> Option<Severity> {
        match text.to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Severity::Informational),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// A MITRE ATT&CK technique named by a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MitreAttack {
    /// Technique id as the rule tags it, upper-cased (`T1580`, `T1562.008`).
    pub technique_uid: String,
}

/// What a finding is about and which analytic produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingInfo {
    /// Unique id of this finding.
    pub uid: String,
    /// One-line title (the rule title, or the detector's summary).
    pub title: String,
    /// Longer description, where the analytic has one.
    pub desc: Option<String>,
    /// The analytic's id (a Sigma rule id, or `cyberlm-gpt`).
    pub analytic_uid: String,
    /// The analytic's name.
    pub analytic_name: String,
    /// OCSF analytic type caption: `Rule` or `Machine Learning`.
    pub analytic_type: String,
    /// Techniques the analytic names.
    pub attacks: Vec<MitreAttack>,
}

/// The offending log, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Source name (`azure`, `confluence`, `cloudtrail`).
    pub source: String,
    /// The log's event id.
    pub event_id: String,
    /// The acting user.
    pub user: Option<String>,
    /// The log itself.
    pub data: Value,
}

/// An alert: one OCSF Detection Finding.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionFinding {
    /// Severity.
    pub severity: Severity,
    /// Event time of the offending log, epoch milliseconds.
    pub time_ms: i64,
    /// What and why.
    pub finding_info: FindingInfo,
    /// The offending log.
    pub evidence: Evidence,
    /// Detector-specific detail OCSF has no attribute for (the GPT detector's
    /// per-field surprisal and expected values), rendered as OCSF's `unmapped` object.
    pub unmapped: Option<Value>,
}

impl DetectionFinding {
    /// A finding about `envelope`.
    pub fn about(envelope: &Envelope, severity: Severity, finding_info: FindingInfo) -> Self {
        DetectionFinding {
            severity,
            time_ms: envelope.event_time_ms(),
            finding_info,
            evidence: Evidence {
                source: envelope.source.name().to_string(),
                event_id: envelope.event_id.clone(),
                user: envelope.user.clone(),
                data: envelope.json.clone(),
            },
            unmapped: None,
        }
    }

    /// The OCSF JSON document.
    pub fn to_ocsf(&self) -> Value {
        let info = &self.finding_info;
        let attacks: Vec<Value> = info
            .attacks
            .iter()
            .map(|attack| serde_json::json!({"technique": {"uid": attack.technique_uid}}))
            .collect();
        let analytic_type_id = if info.analytic_type == "Rule" { 1 } else { 4 };
        let mut finding = serde_json::json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "category_name": "Findings",
            "activity_id": 1,
            "activity_name": "Create",
            "type_uid": 200401,
            "type_name": "Detection Finding: Create",
            "severity_id": self.severity.id(),
            "severity": self.severity.caption(),
            "status_id": 1,
            "status": "New",
            "time": self.time_ms,
            "metadata": {
                "version": OCSF_VERSION,
                "product": {"name": "cyberlm", "vendor_name": "cyberlm",
                            "version": env!("CARGO_PKG_VERSION")},
            },
            "finding_info": {
                "uid": info.uid,
                "title": info.title,
                "desc": info.desc,
                "analytic": {"uid": info.analytic_uid, "name": info.analytic_name,
                             "type_id": analytic_type_id, "type": info.analytic_type},
                "attacks": attacks,
            },
            "evidences": [{
                "actor": {"user": {"name": self.evidence.user}},
                "data": {"source": self.evidence.source, "event_id": self.evidence.event_id,
                         "log": self.evidence.data},
            }],
        });
        if let Some(unmapped) = &self.unmapped {
            finding["unmapped"] = unmapped.clone();
        }
        finding
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Source, decode};

    #[test]
    fn ocsf_has_the_detection_finding_identity() {
        let raw = br#"{"eventTime":"2024-01-01T00:00:00Z","eventID":"e1","userIdentity":{"userName":"bob"}}"#;
        let envelope = decode(Source::CloudTrail, raw).unwrap();
        let finding = DetectionFinding::about(
            &envelope,
            Severity::High,
            FindingInfo {
                uid: "f1".into(),
                title: "CloudTrail logging disabled".into(),
                desc: None,
                analytic_uid: "rule-1".into(),
                analytic_name: "AWS CloudTrail Important Change".into(),
                analytic_type: "Rule".into(),
                attacks: vec![MitreAttack {
                    technique_uid: "T1562.008".into(),
                }],
            },
        );
        let ocsf = finding.to_ocsf();
        assert_eq!(ocsf["class_uid"], 2004);
        assert_eq!(ocsf["type_uid"], 200401);
        assert_eq!(ocsf["severity_id"], 4);
        assert_eq!(ocsf["time"], 1704067200000_i64);
        assert_eq!(
            ocsf["finding_info"]["attacks"][0]["technique"]["uid"],
            "T1562.008"
        );
        assert_eq!(ocsf["evidences"][0]["data"]["event_id"], "e1");
        assert_eq!(ocsf["evidences"][0]["actor"]["user"]["name"], "bob");
    }
}
