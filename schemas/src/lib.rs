//! What cyberlm's data is, with no I/O and no model.
//!
//! Three raw log sources arrive on the wire: Entra ID (Azure AD) sign-in logs, Confluence
//! audit records and AWS CloudTrail records. Each [`Source`] declares where its event
//! time, user, location and volatile ids live ([`SourceSpec`]); [`decode`] turns raw bytes
//! into an [`Envelope`] that keeps the original JSON (with its key order) or a
//! [`DecodeError`] that names the field that is wrong. Detectors emit alerts as OCSF
//! Detection Findings ([`DetectionFinding`]). Recorded logs are stored in Parquet with
//! the Arrow schema in [`recorded`].
//!
//! ```
//! use schemas::{decode, Source};
//!
//! let raw = br#"{"eventTime":"2024-07-30T21:31:21Z","eventSource":"s3.amazonaws.com",
//!   "eventName":"ListBuckets","userIdentity":{"type":"IAMUser","userName":"alice"}}"#;
//! let envelope = decode(Source::CloudTrail, raw).unwrap();
//! assert_eq!(envelope.user.as_deref(), Some("alice"));
//! assert_eq!(envelope.event_time.to_rfc3339(), "2024-07-30T21:31:21+00:00");
//! ```
#![deny(missing_docs)]

mod alert;
mod envelope;
mod error;
mod path;
pub mod recorded;
mod source;
mod time;

pub use alert::{DetectionFinding, Evidence, FindingInfo, MitreAttack, Severity};
pub use envelope::{DEFAULT_MAX_EVENT_BYTES, Envelope, decode, decode_any, decode_from};
pub use error::DecodeError;
pub use path::FieldPath;
pub use source::{Source, SourceSpec};
pub use time::{format_event_time_like, parse_event_time};
