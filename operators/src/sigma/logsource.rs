//! Which Sigma logsource a decoded log belongs to.

use schemas::{Envelope, FieldPath, Source};

/// A Sigma `logsource` as far as routing needs it: product and service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Logsource {
    /// `aws`, `azure`, ...
    pub product: String,
    /// `cloudtrail`, `signinlogs`, `auditlogs`, ...
    pub service: String,
}

impl Logsource {
    fn new(product: &str, service: &str) -> Self {
        Logsource {
            product: product.to_string(),
            service: service.to_string(),
        }
    }

    /// The logsources a source's logs can belong to ([`Self::of`]).
    pub fn of_source(source: Source) -> Vec<Logsource> {
        match source {
            Source::CloudTrail => vec![Logsource::new("aws", "cloudtrail")],
            Source::Confluence => Vec::new(),
            Source::Azure => ["signinlogs", "riskdetection", "auditlogs"]
                .into_iter()
                .map(|service| Logsource::new("azure", service))
                .collect(),
        }
    }

    /// The logsource of a decoded log, or `None` where no Sigma rules exist for its kind
    /// (Confluence).
    ///
    /// Entra ID logs carry their kind in `Category` (Log Analytics) or `category` (Azure
    /// Monitor export): the sign-in categories map to `signinlogs`, risk detections to
    /// `riskdetection`, everything else that came through the Entra ID source (directory
    /// audit categories such as `Policy` or `ApplicationManagement`) to `auditlogs`.
    pub fn of(envelope: &Envelope) -> Option<Logsource> {
        match envelope.source {
            Source::CloudTrail => Some(Logsource::new("aws", "cloudtrail")),
            Source::Confluence => None,
            Source::Azure => {
                let category = FieldPath("Category")
                    .lookup(&envelope.json)
                    .and_then(|value| value.as_str())
                    .unwrap_or("SignInLogs")
                    .to_ascii_lowercase();
                let service = if category.contains("signin") {
                    "signinlogs"
                } else if category.contains("risk") {
                    "riskdetection"
                } else {
                    "auditlogs"
                };
                Some(Logsource::new("azure", service))
            }
        }
    }
}
