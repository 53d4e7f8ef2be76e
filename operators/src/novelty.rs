//! The novelty baseline: what a SOC without a language model would do. For each user it
//! remembers the values seen in a few categorical fields (country, browser, operating
//! system, app, AWS service and region, Confluence category) and scores a log by how
//! many of them the user has never used before. The GPT detector has to beat it.

use std::collections::{HashMap, HashSet};

use schemas::{Envelope, Source};

/// The categorical fields the baseline watches, per source.
fn watched(source: Source) -> &'static [(&'static str, &'static str)] {
    match source {
        Source::Azure => &[
            ("country", "/Location"),
            ("browser", "/DeviceDetail/browser"),
            ("os", "/DeviceDetail/operatingSystem"),
            ("app", "/AppDisplayName"),
        ],
        Source::CloudTrail => &[
            ("service", "/eventSource"),
            ("region", "/awsRegion"),
            ("user_agent", "/userAgent"),
        ],
        Source::Confluence => &[("category", "/category")],
    }
}

/// Per-user seen values.
#[derive(Debug, Default)]
pub struct NoveltyBaseline {
    seen: HashMap<String, HashSet<(&'static str, String)>>,
}

impl NoveltyBaseline {
    /// Remembers `envelope`'s values without scoring it (history before the test).
    pub fn learn(&mut self, envelope: &Envelope) {
        self.observe(envelope, true);
    }

    /// The fields of `envelope` whose value its user has never used before; then
    /// remembers them. A user's very first log names nothing: there is no habit yet.
    pub fn score(&mut self, envelope: &Envelope) -> Vec<&'static str> {
        self.observe(envelope, false)
    }

    fn observe(&mut self, envelope: &Envelope, learn_only: bool) -> Vec<&'static str> {
        let values = self.seen.entry(envelope.key().to_string()).or_default();
        let first = values.is_empty();
        let mut novel = Vec::new();
        for &(name, pointer) in watched(envelope.source) {
            let Some(value) = envelope.json.pointer(pointer) else {
                continue;
            };
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            if values.insert((name, value)) && !first && !learn_only {
                novel.push(name);
            }
        }
        novel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn azure(user: &str, country: &str, browser: &str) -> Envelope {
        let raw = format!(
            r#"{{"TimeGenerated":"2024-01-01T00:00:00Z","UserPrincipalName":"{user}","Location":"{country}","DeviceDetail":{{"browser":"{browser}"}}}}"#
        );
        schemas::decode(Source::Azure, raw.as_bytes()).unwrap()
    }

    #[test]
    fn names_the_values_a_user_has_not_used() {
        let mut baseline = NoveltyBaseline::default();
        baseline.learn(&azure("a@x", "DE", "Edge"));
        assert!(baseline.score(&azure("a@x", "DE", "Edge")).is_empty());
        assert_eq!(baseline.score(&azure("a@x", "RU", "Edge")), vec!["country"]);
        assert!(baseline.score(&azure("a@x", "RU", "Edge")).is_empty());
        // Another user's habits are their own; a first log has none to break.
        assert!(baseline.score(&azure("b@x", "RU", "Chrome")).is_empty());
        assert_eq!(
            baseline.score(&azure("b@x", "DE", "Chrome")),
            vec!["country"]
        );
    }
}
