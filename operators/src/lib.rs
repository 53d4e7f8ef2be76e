//! Pure stream logic for cyberlm: synchronous, deterministic and testable without Kafka
//! or a model.
//!
//! The [`Detector`] interface every detector implements, Sigma rule evaluation over the
//! three sources ([`sigma`]), MITRE ATT&CK id handling ([`attack`]), anomaly-score
//! calibration into tail probabilities ([`calibration`]), unusual logs adding up per user
//! and address ([`entity_evidence`]), precision, recall and curve
//! areas of a detector ([`detection_metrics`]), the per-user novelty baseline the GPT
//! must beat ([`novelty`]), the fidelity of generated logs ([`fidelity`]), the event-time merge
//! with watermarks ([`merge`]), the commit-safe offset tracker ([`offsets`]), keyed
//! pseudonymisation of personal data ([`pii`]) and the text format the language model
//! reads and writes ([`text_format`]).
//!
//! ```
//! use operators::sigma::{RuleSet, RuleOverrides};
//! use operators::Detector;
//!
//! let rule = r#"
//! title: CloudTrail logging stopped
//! id: 4db60cc0-36fb-4c1d-a7f8-5d3c6e2d1f11
//! tags: [attack.t1562.008]
//! level: high
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!   selection: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
//!   condition: selection
//! "#;
//! let rules = RuleSet::from_yaml_documents([("stop.yml", rule)], &RuleOverrides::default()).unwrap();
//! let mut detector = operators::sigma::SigmaDetector::new(rules);
//! let log = br#"{"eventTime":"2024-07-30T21:31:21Z","eventSource":"cloudtrail.amazonaws.com",
//!   "eventName":"StopLogging","userIdentity":{"type":"IAMUser","userName":"mallory"}}"#;
//! let envelope = schemas::decode(schemas::Source::CloudTrail, log).unwrap();
//! let findings = detector.detect(&envelope);
//! assert_eq!(findings[0].finding_info.attacks[0].technique_uid, "T1562.008");
//! ```
#![deny(missing_docs)]

pub mod attack;
pub mod calibration;
pub mod detection_metrics;
mod detector;
pub mod entity_evidence;
pub mod fidelity;
pub mod merge;
pub mod novelty;
pub mod offsets;
pub mod pii;
pub mod sigma;
pub mod source_fields;
pub mod text_format;

pub use detector::Detector;
