//! The posture score, overall and per framework.
//!
//! Every (rule, subject) pair the engine checked is one check; a check fails when it produced a
//! finding that is not excepted. Each check weighs its rule's severity (low 1, medium 3,
//! high 7, critical 15), and the score is the weighted share of checks that passed:
//!
//! ```text
//! score = 100 × Σ weight(rule) × passed(rule) / Σ weight(rule) × checks(rule)
//! ```
//!
//! over every rule (overall) or over the rules a framework maps to its controls. A framework
//! control passes when none of its rules failed a check, fails when one did, and is not
//! evaluated when none of its rules saw anything to check. With no checks at all the score is
//! 100. Pure arithmetic over counts.

use super::mappings::Framework;
use crate::model::{Finding, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Per-rule counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RuleCount {
    /// Subjects checked.
    pub checks: usize,
    /// Checks that failed (non-excepted findings).
    pub failed: usize,
    /// Findings excepted.
    pub excepted: usize,
}

/// A framework's score and controls.
#[derive(Debug, Clone, Serialize)]
pub struct FrameworkScore {
    /// Framework id.
    pub id: String,
    /// Framework name.
    pub name: String,
    /// 0 to 100, one decimal.
    pub score: f64,
    /// Control ids that passed.
    pub passed: Vec<String>,
    /// Control ids that failed.
    pub failed: Vec<String>,
    /// Control ids none of whose rules had anything to check.
    pub not_evaluated: Vec<String>,
}

/// Counts checks and failures per rule.
pub fn count(
    checks: &BTreeMap<String, usize>,
    findings: &[Finding],
) -> BTreeMap<String, RuleCount> {
    let mut counts: BTreeMap<String, RuleCount> = checks
        .iter()
        .map(|(rule, n)| {
            (
                rule.clone(),
                RuleCount {
                    checks: *n,
                    ..RuleCount::default()
                },
            )
        })
        .collect();
    for finding in findings {
        let entry = counts.entry(finding.rule.to_string()).or_default();
        if finding.excepted.is_some() {
            entry.excepted += 1;
        } else {
            entry.failed += 1;
        }
    }
    counts
}

/// The weighted score over `rules` (all rules when `None`).
pub fn score(
    counts: &BTreeMap<String, RuleCount>,
    severity: impl Fn(&str) -> Option<Severity>,
    rules: Option<&BTreeSet<&str>>,
) -> f64 {
    let mut total = 0u64;
    let mut passed = 0u64;
    for (rule, count) in counts {
        if rules.is_some_and(|set| !set.contains(rule.as_str())) {
            continue;
        }
        let Some(severity) = severity(rule) else {
            continue;
        };
        let weight = u64::from(severity.weight());
        let checks = count.checks.max(count.failed) as u64;
        total += weight * checks;
        passed += weight * (checks - count.failed as u64);
    }
    if total == 0 {
        return 100.0;
    }
    (1000.0 * passed as f64 / total as f64).round() / 10.0
}

/// Scores one framework.
pub fn framework_score(
    framework: &Framework,
    counts: &BTreeMap<String, RuleCount>,
    severity: impl Fn(&str) -> Option<Severity> + Copy,
) -> FrameworkScore {
    let rules: BTreeSet<&str> = framework
        .controls
        .iter()
        .flat_map(|c| c.rules.iter().map(String::as_str))
        .collect();
    let mut result = FrameworkScore {
        id: framework.id.clone(),
        name: framework.name.clone(),
        score: score(counts, severity, Some(&rules)),
        passed: Vec::new(),
        failed: Vec::new(),
        not_evaluated: Vec::new(),
    };
    for control in &framework.controls {
        let of = |r: &String| counts.get(r).copied().unwrap_or_default();
        let checks: usize = control.rules.iter().map(|r| of(r).checks).sum();
        let failed: usize = control.rules.iter().map(|r| of(r).failed).sum();
        if failed > 0 {
            result.failed.push(control.id.clone());
        } else if checks == 0 {
            result.not_evaluated.push(control.id.clone());
        } else {
            result.passed.push(control.id.clone());
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_by_severity() {
        let mut counts = BTreeMap::new();
        counts.insert(
            "crit".to_owned(),
            RuleCount {
                checks: 10,
                failed: 1,
                excepted: 0,
            },
        );
        counts.insert(
            "low".to_owned(),
            RuleCount {
                checks: 10,
                failed: 10,
                excepted: 0,
            },
        );
        let severity = |r: &str| {
            Some(if r == "crit" {
                Severity::Critical
            } else {
                Severity::Low
            })
        };
        // passed = 15*9 + 1*0 = 135; total = 150 + 10 = 160 -> 84.375
        assert_eq!(score(&counts, severity, None), 84.4);
        assert_eq!(score(&BTreeMap::new(), severity, None), 100.0);
    }
}
