//! The three log sources and where each keeps the fields the pipeline needs.
//!
//! Field paths are listed in order of preference; each covers one export shape seen in
//! the real data: Log Analytics / Sentinel (`TimeGenerated`, `UserPrincipalName`), the
//! Graph API (`createdDateTime`, `userPrincipalName`) and Azure Monitor diagnostic export
//! (`time`, `properties.*`) for Entra ID; the Cloud audit REST shape for Confluence; the
//! CloudTrail record for AWS.

use crate::error::DecodeError;
use crate::path::FieldPath;

/// A log source cyberlm reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// Entra ID (Azure AD) sign-in logs.
    Azure,
    /// Confluence audit records.
    Confluence,
    /// AWS CloudTrail records.
    CloudTrail,
}

impl Source {
    /// Every source, in a fixed order.
    pub const ALL: [Source; 3] = [Source::Azure, Source::Confluence, Source::CloudTrail];

    /// Its place in [`Source::ALL`], for per-source tables.
    pub fn index(self) -> usize {
        match self {
            Source::Azure => 0,
            Source::Confluence => 1,
            Source::CloudTrail => 2,
        }
    }

    /// The short name used in file names, topics, config and the text format.
    pub fn name(self) -> &'static str {
        match self {
            Source::Azure => "azure",
            Source::Confluence => "confluence",
            Source::CloudTrail => "cloudtrail",
        }
    }

    /// Where this source keeps its event time, user, location and volatile ids.
    pub fn spec(self) -> &'static SourceSpec {
        match self {
            Source::Azure => &AZURE,
            Source::Confluence => &CONFLUENCE,
            Source::CloudTrail => &CLOUDTRAIL,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Source {
    type Err = DecodeError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "azure" | "entra" | "entraid" | "signin" => Ok(Source::Azure),
            "confluence" => Ok(Source::Confluence),
            "cloudtrail" | "aws" => Ok(Source::CloudTrail),
            _ => Err(DecodeError::UnknownSource {
                name: name.to_string(),
            }),
        }
    }
}

/// Where one source keeps the fields the pipeline reads. Each list is in order of
/// preference; the first path present wins.
#[derive(Debug)]
pub struct SourceSpec {
    /// The event time.
    pub event_time: &'static [FieldPath],
    /// The acting user (a UPN, IAM user name or role session name).
    pub user: &'static [FieldPath],
    /// The ISO 3166 country code of the request, where the source records one.
    pub country: &'static [FieldPath],
    /// City, state and coordinates: the fields a location model owns.
    pub location: &'static [FieldPath],
    /// The source's own unique id for the event, where it has one.
    pub event_id: &'static [FieldPath],
    /// The address the request came from: a second entity, beside the user, whose
    /// recent unusual logs add up (one address spraying passwords at many users).
    pub client_ip: &'static [FieldPath],
    /// Where the source says whether the request succeeded, each path with the value
    /// that means it did (Entra ID's result code 0): a failed sign-in is often someone
    /// else's (a password spray from abroad) and says nothing of where the user is.
    pub success: &'static [(FieldPath, &'static str)],
    /// Fields that differ on every event (ids, timestamps, durations): they carry no
    /// behaviour, so scoring ignores them.
    pub volatile: &'static [FieldPath],
    /// What kind of event a log records (the app signed in to, the API called, the
    /// audit action): anomaly scores are calibrated per kind.
    pub event_type: &'static [FieldPath],
}

impl SourceSpec {
    /// The kind of event `log` records, or `other` where none of the paths is present.
    pub fn event_type_of(&self, log: &serde_json::Value) -> String {
        self.event_type
            .iter()
            .find_map(|path| match path.lookup(log)? {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .unwrap_or_else(|| "other".to_string())
    }

    /// The ISO 3166 country `log` records, upper-cased: the first country path that
    /// holds a non-empty string. Read from the JSON alone, so a log that does not decode
    /// (a group model's location fields, without an event time) still has one.
    pub fn country_of(&self, log: &serde_json::Value) -> Option<String> {
        self.country.iter().find_map(|path| {
            let text = path.lookup(log)?.as_str()?.trim();
            (!text.is_empty()).then(|| text.to_ascii_uppercase())
        })
    }

    /// Whether the dotted `path` is volatile or lies inside a volatile field.
    pub fn is_volatile(&self, path: &str) -> bool {
        self.volatile.iter().any(|volatile| {
            // Compared as bytes: a path from a log may hold any character, and slicing a
            // `str` inside one would panic.
            let (path, volatile) = (path.as_bytes(), volatile.as_str().as_bytes());
            path.len() >= volatile.len()
                && path[..volatile.len()].eq_ignore_ascii_case(volatile)
                && (path.len() == volatile.len() || path[volatile.len()] == b'.')
        })
    }
}

static AZURE: SourceSpec = SourceSpec {
    event_time: &[
        FieldPath("TimeGenerated"),
        FieldPath("createdDateTime"),
        FieldPath("properties.createdDateTime"),
        FieldPath("properties.activityDateTime"),
        FieldPath("time"),
    ],
    user: &[
        FieldPath("UserPrincipalName"),
        FieldPath("properties.userPrincipalName"),
        FieldPath("properties.initiatedBy.user.userPrincipalName"),
        FieldPath("properties.servicePrincipalName"),
        FieldPath("identity"),
    ],
    country: &[
        FieldPath("Location"),
        FieldPath("LocationDetails.countryOrRegion"),
        FieldPath("location.countryOrRegion"),
        FieldPath("properties.location.countryOrRegion"),
    ],
    location: &[
        FieldPath("LocationDetails.city"),
        FieldPath("LocationDetails.state"),
        FieldPath("LocationDetails.countryOrRegion"),
        FieldPath("LocationDetails.geoCoordinates.latitude"),
        FieldPath("LocationDetails.geoCoordinates.longitude"),
    ],
    event_id: &[FieldPath("Id"), FieldPath("properties.id")],
    client_ip: &[FieldPath("IPAddress"), FieldPath("properties.ipAddress")],
    success: &[
        (FieldPath("ResultType"), "0"),
        (FieldPath("Status.errorCode"), "0"),
        (FieldPath("resultType"), "0"),
        (FieldPath("properties.status.errorCode"), "0"),
    ],
    volatile: &[
        FieldPath("TimeGenerated"),
        FieldPath("CreatedDateTime"),
        FieldPath("Id"),
        FieldPath("CorrelationId"),
        FieldPath("OriginalRequestId"),
        FieldPath("UniqueTokenIdentifier"),
        FieldPath("SessionId"),
        FieldPath("DurationMs"),
        FieldPath("ProcessingTimeInMilliseconds"),
        FieldPath("time"),
        FieldPath("correlationId"),
        FieldPath("properties.id"),
        FieldPath("properties.correlationId"),
        FieldPath("properties.createdDateTime"),
        FieldPath("properties.activityDateTime"),
        FieldPath("properties.uniqueTokenIdentifier"),
        FieldPath("properties.originalRequestId"),
    ],
    event_type: &[
        FieldPath("AppDisplayName"),
        FieldPath("properties.appDisplayName"),
        FieldPath("OperationName"),
        FieldPath("operationName"),
    ],
};

static CONFLUENCE: SourceSpec = SourceSpec {
    event_time: &[FieldPath("creationDate")],
    user: &[
        FieldPath("author.username"),
        FieldPath("author.accountId"),
        FieldPath("author.displayName"),
    ],
    country: &[],
    location: &[],
    event_id: &[],
    client_ip: &[FieldPath("remoteAddress")],
    success: &[],
    volatile: &[FieldPath("creationDate")],
    event_type: &[FieldPath("summary")],
};

static CLOUDTRAIL: SourceSpec = SourceSpec {
    event_time: &[FieldPath("eventTime")],
    user: &[
        FieldPath("userIdentity.userName"),
        FieldPath("userIdentity.arn"),
        FieldPath("userIdentity.principalId"),
        FieldPath("userIdentity.invokedBy"),
    ],
    country: &[],
    location: &[],
    event_id: &[FieldPath("eventID")],
    client_ip: &[FieldPath("sourceIPAddress")],
    success: &[],
    volatile: &[
        FieldPath("eventTime"),
        FieldPath("eventID"),
        FieldPath("requestID"),
        FieldPath("sharedEventID"),
        FieldPath("userIdentity.accessKeyId"),
        FieldPath("userIdentity.sessionContext.attributes.creationDate"),
        FieldPath("responseElements.credentials"),
        FieldPath("tlsDetails.clientProvidedHostHeader"),
    ],
    event_type: &[FieldPath("eventName")],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_and_volatile_paths() {
        let log = serde_json::json!({"eventName": "GetObject", "eventID": "e1"});
        let spec = Source::CloudTrail.spec();
        assert_eq!(spec.event_type_of(&log), "GetObject");
        assert_eq!(spec.event_type_of(&serde_json::json!({})), "other");
        assert!(spec.is_volatile("eventID"));
        assert!(spec.is_volatile("responseElements.credentials.sessionToken"));
        assert!(!spec.is_volatile("responseElements.credentialsX"));
        assert!(!spec.is_volatile("eventName"));
        // A key from a log may hold multi-byte characters where a volatile path would end.
        assert!(!spec.is_volatile("eventTimㇾ"));
        assert!(!spec.is_volatile("eventIㇾ.x"));
    }

    #[test]
    fn names_round_trip() {
        for source in Source::ALL {
            assert_eq!(source.name().parse::<Source>().unwrap(), source);
        }
        let error = "syslog".parse::<Source>().unwrap_err();
        assert!(error.to_string().contains("syslog"));
    }
}
