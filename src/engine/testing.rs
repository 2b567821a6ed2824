//! The rules' embedded tests: each case's object must give exactly the expected pointers, and
//! where the rule has a fix, applying each finding's fix (RFC 6902, with json-patch) must make
//! that finding go away without adding another of the same rule. Used by `redress rules test`
//! and by the crate's own unit tests.

use super::RuleSet;
use super::rule::Rule;
use crate::model::{Object, Origin};
use std::fmt::Write;

/// The result of one rule's tests: failures as messages.
pub fn test_rule(rules: &RuleSet, rule: &Rule) -> Vec<String> {
    let mut failures = Vec::new();
    let evaluator = super::eval::Evaluator::new(std::slice::from_ref(rule), &rules.kinds);
    for case in &rule.tests {
        let mut objects = Vec::new();
        let Some(object) = Object::from_json(case.object.clone(), Origin::Implied) else {
            failures.push(format!(
                "{}: case '{}': object has no apiVersion and kind",
                rule.id, case.name
            ));
            continue;
        };
        let subject_id = object.id.clone();
        objects.push(object);
        for other in &case.with {
            if let Some(o) = Object::from_json(other.clone(), Origin::Implied) {
                objects.push(o);
            }
        }
        let evaluation = evaluator.evaluate(&objects);
        for error in &evaluation.errors {
            failures.push(format!(
                "{}: case '{}': evaluation error at {}: {}",
                rule.id, case.name, error.path, error.message
            ));
        }
        let mut got: Vec<&str> = evaluation
            .findings
            .iter()
            .filter(|f| f.object == subject_id)
            .map(|f| f.path.as_str())
            .collect();
        got.sort_unstable();
        let mut want: Vec<&str> = case.expect.iter().map(String::as_str).collect();
        want.sort_unstable();
        if got != want {
            failures.push(format!(
                "{}: case '{}': expected findings at {:?}, got {:?}",
                rule.id, case.name, want, got
            ));
            continue;
        }
        for finding in evaluation
            .findings
            .iter()
            .filter(|f| f.object == subject_id)
        {
            let Some(fix) = &finding.fix else { continue };
            let mut fixed = case.object.clone();
            let patch: Result<json_patch::Patch, _> =
                serde_json::from_value(serde_json::Value::Array(fix.clone()));
            let applied = patch
                .map_err(|e| e.to_string())
                .and_then(|p| json_patch::patch(&mut fixed, &p).map_err(|e| e.to_string()));
            if let Err(error) = applied {
                failures.push(format!(
                    "{}: case '{}': fix for {} does not apply: {error}",
                    rule.id, case.name, finding.path
                ));
                continue;
            }
            let mut objects_after = objects.clone();
            if let Some(o) = Object::from_json(fixed, Origin::Implied) {
                objects_after[0] = o;
            }
            let after = evaluator.evaluate(&objects_after);
            if after
                .findings
                .iter()
                .any(|f| f.fingerprint == finding.fingerprint)
            {
                failures.push(format!(
                    "{}: case '{}': fix for {} leaves the finding in place",
                    rule.id, case.name, finding.path
                ));
            }
            if after
                .findings
                .iter()
                .filter(|f| f.object == subject_id)
                .count()
                >= got.len()
            {
                failures.push(format!(
                    "{}: case '{}': fix for {} does not reduce the findings",
                    rule.id, case.name, finding.path
                ));
            }
        }
    }
    let passing = rule.tests.iter().any(|c| c.expect.is_empty());
    let failing = rule.tests.iter().any(|c| !c.expect.is_empty());
    if !passing || !failing {
        failures.push(format!(
            "{}: needs at least one passing and one failing test case",
            rule.id
        ));
    }
    failures
}

/// Runs every rule's tests; gives a report and the number of failures.
pub fn run_all(rules: &RuleSet) -> (String, usize) {
    let mut out = String::new();
    let mut failures = 0;
    for rule in &rules.rules {
        let result = test_rule(rules, rule);
        if result.is_empty() {
            let _ = writeln!(out, "ok    {} ({} cases)", rule.id, rule.tests.len());
        } else {
            failures += result.len();
            let _ = writeln!(out, "FAIL  {}", rule.id);
            for failure in result {
                let _ = writeln!(out, "      {failure}");
            }
        }
    }
    let _ = writeln!(out, "\n{} rules, {} failures", rules.rules.len(), failures);
    (out, failures)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_rule_passes_its_own_tests() {
        let rules = super::RuleSet::load(None, None).expect("built-in rules load");
        let (report, failures) = super::run_all(&rules);
        assert_eq!(failures, 0, "{report}");
    }
}
