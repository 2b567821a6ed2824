//! Text about the rules themselves: `redress rules`, `redress rules explain ID` and
//! `redress frameworks`.

use crate::engine::RuleSet;
use std::fmt::Write;

/// One line per rule: id, severity, scope, title.
pub fn list(rules: &RuleSet) -> String {
    let mut out = String::new();
    for rule in &rules.rules {
        let fix = if rule.fix.is_empty() { " " } else { "*" };
        let _ = writeln!(
            out,
            "{:<40} {:<8} {fix} {}",
            rule.id,
            rule.severity.as_str(),
            rule.title
        );
    }
    let _ = writeln!(
        out,
        "\n{} rules ({} with an automatic fix, marked *). `redress rules explain ID` for one.",
        rules.rules.len(),
        rules.rules.iter().filter(|r| !r.fix.is_empty()).count()
    );
    out
}

/// Everything about one rule, or `None` when there is no such rule.
pub fn explain(rules: &RuleSet, id: &str) -> Option<String> {
    let rule = rules.rule(id)?;
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", rule.id, rule.severity);
    let _ = writeln!(out, "{}\n", rule.title);
    let _ = writeln!(
        out,
        "Why it matters:\n  {}\n",
        rule.rationale.replace('\n', "\n  ")
    );
    let _ = writeln!(
        out,
        "Remediation:\n  {}\n",
        rule.remediation.replace('\n', "\n  ")
    );
    let scope = format!("{:?}", rule.matches.scope).to_lowercase();
    let _ = write!(out, "Checks: {scope}");
    if !rule.matches.kinds.is_empty() {
        let _ = write!(out, " of kind {}", rule.matches.kinds.join(", "));
    }
    if let Some(each) = &rule.matches.each {
        let _ = write!(out, ", each item of {each}");
    }
    let _ = writeln!(
        out,
        "\nCondition (CEL, true when compliant):\n  {}",
        rule.check_source.trim()
    );
    if rule.fix.is_empty() {
        let _ = writeln!(out, "Automatic fix: none (needs a person's judgement)");
    } else {
        let _ = writeln!(out, "Automatic fix (JSON Patch, relative to the subject):");
        for op in &rule.fix {
            let value = op
                .value
                .as_ref()
                .map(|v| format!(" {v}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:?} {}{value}",
                op.op,
                if op.path.is_empty() { "/" } else { &op.path }
            );
        }
    }
    let controls: Vec<String> = rules
        .mappings
        .controls_of(&rule.id)
        .map(|(f, c)| format!("  {} {}: {}", f.name, c.id, c.title))
        .collect();
    if !controls.is_empty() {
        let _ = writeln!(out, "Frameworks:\n{}", controls.join("\n"));
    }
    let peers: Vec<String> = rules
        .mappings
        .peer_ids_of(&rule.id)
        .map(|(peer, id)| format!("{peer} {id}"))
        .collect();
    if !peers.is_empty() {
        let _ = writeln!(out, "Same as: {}", peers.join(", "));
    }
    let _ = writeln!(out, "Defined in: {}", rule.file.display());
    Some(out)
}

/// Every framework with its controls and rules.
pub fn frameworks(rules: &RuleSet) -> String {
    let mut out = String::new();
    for framework in &rules.mappings.frameworks {
        let _ = writeln!(
            out,
            "{} — {} ({})",
            framework.id, framework.name, framework.version
        );
        for control in &framework.controls {
            let _ = writeln!(
                out,
                "  {:<10} {:<60} {}",
                control.id,
                control.title,
                control.rules.join(", ")
            );
        }
        out.push('\n');
    }
    out
}
