//! MITRE ATT&CK technique ids: reading them from Sigma tags and comparing them across
//! ATT&CK versions.
//!
//! Since 2026-04-29 SigmaHQ tags use ATT&CK v19 ids, where some cloud defence-evasion
//! techniques moved (stopping CloudTrail logging went from T1562.008 to T1685.002), while
//! Stratus Red Team, Panther and the simulator's labels use the older ids. Comparisons
//! go through [`canonical`], which maps the new ids back to the old ones.

/// v19 ids and the pre-v19 ids they replaced.
const RENAMED: &[(&str, &str)] = &[("T1685.002", "T1562.008"), ("T1685", "T1562")];

/// The technique id in a Sigma tag (`attack.t1580` gives `T1580`), or `None` for tactic
/// and other tags.
pub fn technique_from_tag(tag: &str) -> Option<String> {
    let id = tag.strip_prefix("attack.")?;
    let mut chars = id.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    let well_formed = first.eq_ignore_ascii_case(&'t')
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_digit() || c == '.');
    well_formed.then(|| format!("T{rest}"))
}

/// The pre-v19 spelling of a technique id, upper-cased; a name that is no ATT&CK id
/// (a Stratus Red Team technique such as `aws.execution.ec2-user-data`) as it is.
pub fn canonical(technique: &str) -> String {
    let trimmed = technique.trim();
    let is_attack_id = trimmed.len() > 1
        && trimmed.as_bytes()[0].eq_ignore_ascii_case(&b't')
        && trimmed.as_bytes()[1..]
            .iter()
            .all(|&b| b.is_ascii_digit() || b == b'.');
    if !is_attack_id {
        return trimmed.to_string();
    }
    let upper = trimmed.to_ascii_uppercase();
    RENAMED
        .iter()
        .find(|(new, _)| *new == upper)
        .map(|(_, old)| (*old).to_string())
        .unwrap_or(upper)
}

/// The parent technique of a sub-technique (`T1110.003` gives `T1110`).
pub fn parent(technique: &str) -> Option<&str> {
    technique.split_once('.').map(|(parent, _)| parent)
}

/// Whether a rule tagged with `rule_technique` detects `technique`: the same technique
/// (across ATT&CK versions), or its parent, since a rule tagged T1110 (brute force) is
/// meant to catch password spraying (T1110.003).
pub fn covers(rule_technique: &str, technique: &str) -> bool {
    let rule = canonical(rule_technique);
    let wanted = canonical(technique);
    rule == wanted || parent(&wanted) == Some(rule.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_techniques_from_tags() {
        assert_eq!(technique_from_tag("attack.t1580").as_deref(), Some("T1580"));
        assert_eq!(
            technique_from_tag("attack.t1110.003").as_deref(),
            Some("T1110.003")
        );
        assert_eq!(technique_from_tag("attack.persistence"), None);
        assert_eq!(technique_from_tag("attack.ta0001").as_deref(), None);
        assert_eq!(technique_from_tag("cve.2021-1"), None);
    }

    #[test]
    fn only_attack_ids_are_respelled() {
        assert_eq!(canonical(" t1685.002 "), "T1562.008");
        assert_eq!(canonical("t1530"), "T1530");
        assert_eq!(
            canonical("aws.execution.ec2-user-data"),
            "aws.execution.ec2-user-data"
        );
        assert_eq!(canonical("T"), "T");
    }

    #[test]
    fn coverage_table() {
        let cases = [
            ("T1685.002", "T1562.008", true),
            ("T1110", "T1110.003", true),
            ("t1078.004", "T1078.004", true),
            ("T1110.003", "T1110", false),
            ("T1098", "T1098.001", true),
            ("T1580", "T1530", false),
            ("T1580", "aws.discovery.ec2-download-user-data", false),
        ];
        for (rule, technique, expected) in cases {
            assert_eq!(
                covers(rule, technique),
                expected,
                "{rule} covers {technique}"
            );
        }
    }
}
