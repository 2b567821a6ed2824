//! The readable table: findings grouped by severity with counts, then the score per framework,
//! then what could not be read.

use crate::engine::RuleSet;
use crate::model::{ObjectRef, Severity};
use crate::scan::ScanReport;
use std::fmt::Write;

/// `Kind namespace/name`, or `Kind name` when the object names no namespace (cluster-scoped
/// objects, and manifests that leave it to `kubectl apply`).
fn object_label(object: &ObjectRef) -> String {
    match &object.namespace {
        Some(ns) => format!("{} {ns}/{}", object.kind, object.name),
        None => format!("{} {}", object.kind, object.name),
    }
}

/// Renders the report as text for a terminal.
pub fn render(report: &ScanReport, rules: &RuleSet) -> String {
    let mut out = String::new();
    let excepted = report
        .findings
        .iter()
        .filter(|f| f.excepted.is_some())
        .count();
    for severity in Severity::ALL_DESC {
        let group: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity && f.excepted.is_none())
            .collect();
        if group.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "{} ({})",
            severity.as_str().to_uppercase(),
            group.len()
        );
        for finding in group {
            let place = match (super::file_of(finding), finding.line) {
                (Some(file), Some(line)) => format!("{file}:{line}"),
                (Some(file), None) => file,
                (None, _) => "(cluster)".to_owned(),
            };
            let _ = writeln!(
                out,
                "  {:<34} {}",
                finding.rule,
                object_label(&finding.object)
            );
            let path = if finding.path.is_empty() {
                "(the whole object)"
            } else {
                &finding.path
            };
            let _ = writeln!(out, "      {place}  {path}");
            let _ = writeln!(out, "      {}", finding.message);
        }
        out.push('\n');
    }
    if excepted > 0 {
        let _ = writeln!(out, "EXCEPTED ({excepted})");
        for finding in report.findings.iter().filter(|f| f.excepted.is_some()) {
            let reason = finding.excepted.as_ref().map_or("", |e| e.reason.as_str());
            let _ = writeln!(
                out,
                "  {:<34} {}: {}",
                finding.rule,
                object_label(&finding.object),
                reason
            );
        }
        out.push('\n');
    }
    let counts: Vec<String> = report
        .open_by_severity()
        .into_iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    let _ = writeln!(
        out,
        "Scanned {} objects from {} files with {} rules: {} ({} excepted)",
        report.objects,
        report.files,
        rules.rules.len(),
        counts.join(", "),
        excepted
    );
    let _ = writeln!(out, "Posture score: {:.1}/100", report.score);
    for framework in &report.frameworks {
        let _ = writeln!(
            out,
            "  {:<14} {:>5.1}  controls: {} passed, {} failed, {} not evaluated",
            framework.id,
            framework.score,
            framework.passed.len(),
            framework.failed.len(),
            framework.not_evaluated.len()
        );
    }
    for entry in &report.expired {
        let _ = writeln!(
            out,
            "note: exception for rule '{}' expired on {} and no longer applies",
            entry.rule,
            entry.expires.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    if !report.notes.is_empty() {
        let _ = writeln!(
            out,
            "\nSkipped {} non-Kubernetes documents:",
            report.notes.len()
        );
        for note in &report.notes {
            let _ = writeln!(
                out,
                "  {}:{} (document {}): {}",
                note.file.display(),
                note.line,
                note.document,
                note.message
            );
        }
    }
    if !report.eval_errors.is_empty() {
        let _ = writeln!(
            out,
            "\n{} checks could not be evaluated:",
            report.eval_errors.len()
        );
        for error in report.eval_errors.iter().take(20) {
            let _ = writeln!(
                out,
                "  {} on {} at {}: {}",
                error.rule, error.object, error.path, error.message
            );
        }
    }
    if !report.input_errors.is_empty() {
        let _ = writeln!(
            out,
            "\n{} input{} could not be read:",
            report.input_errors.len(),
            if report.input_errors.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        for error in &report.input_errors {
            let _ = writeln!(out, "  error: {error}");
        }
    }
    out
}
