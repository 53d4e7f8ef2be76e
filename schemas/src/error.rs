//! Why a raw log could not be decoded.

/// A log that could not be decoded, naming the input problem precisely enough to fix it.
///
/// None of these is retryable: the same bytes fail the same way, so the log goes to the
/// dead-letter destination with this error as its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not valid JSON.
    #[error("not valid JSON: {reason}")]
    NotJson {
        /// What the JSON parser reported.
        reason: String,
    },
    /// The JSON is valid but is not an object.
    #[error("expected a JSON object, found {found}")]
    NotAnObject {
        /// The kind of JSON value found instead.
        found: &'static str,
    },
    /// The log is larger than the configured limit.
    #[error("log of {bytes} bytes exceeds the limit of {limit} bytes")]
    Oversize {
        /// Size of the log.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A required field is absent.
    #[error("{log_source} log has no {field} field")]
    MissingField {
        /// The source the log was decoded as.
        log_source: &'static str,
        /// The field (or the first of its accepted spellings) that is absent.
        field: &'static str,
    },
    /// A field is present but its value is unusable.
    #[error("{log_source} log has an invalid {field}: {reason}")]
    InvalidField {
        /// The source the log was decoded as.
        log_source: &'static str,
        /// The field path as found in the log.
        field: &'static str,
        /// What is wrong with the value.
        reason: String,
    },
    /// The source name is not one cyberlm knows.
    #[error("unknown source {name:?}; expected one of azure, confluence, cloudtrail")]
    UnknownSource {
        /// The name given.
        name: String,
    },
    /// The log's shape matches none of the known sources.
    #[error(
        "the log matches no known source (no CloudTrail eventSource, Confluence author/creationDate or Entra ID sign-in fields)"
    )]
    UnrecognisedShape,
}

impl DecodeError {
    /// A short, bounded label for metrics (`error_type`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotJson { .. } => "not_json",
            Self::NotAnObject { .. } => "not_an_object",
            Self::Oversize { .. } => "oversize",
            Self::MissingField { .. } => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
            Self::UnknownSource { .. } => "unknown_source",
            Self::UnrecognisedShape => "unrecognised_shape",
        }
    }
}
