//! Are generated locations real places? A city, state, country and coordinates are each
//! plausible alone; only together do they name a place, and a generated log whose city
//! lies in another country than its country code is a location no sign-in ever had.

use std::collections::HashSet;

use schemas::Source;
use serde_json::Value;

/// The location tuples (every location field of the source, `NULL` where absent) that
/// occur in real logs.
#[derive(Debug, Clone, Default)]
pub struct KnownLocations {
    seen: HashSet<Vec<String>>,
}

impl KnownLocations {
    /// The tuples of `logs` of `source`.
    pub fn fit<'a>(source: Source, logs: impl IntoIterator<Item = &'a Value>) -> Self {
        KnownLocations {
            seen: logs
                .into_iter()
                .filter_map(|log| location_of(source, log))
                .collect(),
        }
    }

    /// Places known.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// No place known.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Whether `log`'s location occurs in the real logs; `None` when it records none.
    pub fn contains(&self, source: Source, log: &Value) -> Option<bool> {
        location_of(source, log).map(|location| self.seen.contains(&location))
    }
}

/// The values of the source's location fields, `None` when the log has none of them.
fn location_of(source: Source, log: &Value) -> Option<Vec<String>> {
    let paths = source.spec().location;
    let values: Vec<Option<String>> = paths
        .iter()
        .map(|path| match path.lookup(log)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        })
        .collect();
    values.iter().any(Option::is_some).then(|| {
        values
            .into_iter()
            .map(|value| value.unwrap_or_else(|| "NULL".to_string()))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sign_in(city: &str, country: &str, latitude: f64) -> Value {
        json!({"LocationDetails": {"city": city, "state": "", "countryOrRegion": country,
            "geoCoordinates": {"latitude": latitude, "longitude": 13.4}}})
    }

    #[test]
    fn only_tuples_seen_together_are_known_places() {
        let real = [
            sign_in("Berlin", "DE", 52.52),
            sign_in("Madrid", "ES", 40.4),
        ];
        let known = KnownLocations::fit(Source::Azure, &real);
        assert_eq!(known.len(), 2);
        assert_eq!(known.contains(Source::Azure, &real[1]), Some(true));
        assert_eq!(
            known.contains(Source::Azure, &sign_in("Berlin", "ES", 52.52)),
            Some(false),
            "Berlin with Spain's code is no place"
        );
        assert_eq!(
            known.contains(Source::Azure, &sign_in("Berlin", "DE", 40.4)),
            Some(false)
        );
        assert_eq!(
            known.contains(Source::Azure, &json!({"AppDisplayName": "x"})),
            None
        );
        assert!(KnownLocations::fit(Source::CloudTrail, &real).is_empty());
    }
}
