//! The JSON output. Its schema is stable and documented in `docs/json-output.md`; fields are
//! only ever added. `schemaVersion` changes if a field's meaning changes.

use crate::engine::RuleSet;
use crate::model::{Finding, Origin};
use crate::scan::ScanReport;
use serde_json::{Value, json};

/// The schema version of the JSON output.
pub const SCHEMA_VERSION: u32 = 1;

fn finding_json(finding: &Finding, rules: &RuleSet) -> Value {
    let rule = rules.rule(&finding.rule);
    let (document, item) = match &finding.origin {
        Origin::File { document, item, .. } => (Some(*document), *item),
        _ => (None, None),
    };
    let cluster = match &finding.origin {
        Origin::Cluster { context } => Some(context.clone()),
        _ => None,
    };
    let frameworks: Vec<Value> = rules
        .mappings
        .controls_of(&finding.rule)
        .map(|(f, c)| json!({"framework": f.id, "control": c.id}))
        .collect();
    json!({
        "rule": &*finding.rule,
        "title": rule.map(|r| r.title.as_str()),
        "severity": finding.severity,
        "object": {
            "apiVersion": finding.object.api_version,
            "kind": finding.object.kind,
            "namespace": finding.object.namespace,
            "name": finding.object.name,
        },
        "path": finding.path,
        "field": finding.field,
        "observed": finding.observed,
        "message": finding.message,
        "file": super::file_of(finding),
        "line": finding.line,
        "document": document,
        "item": item,
        "cluster": cluster,
        "excepted": finding.excepted,
        "fingerprint": finding.fingerprint,
        "fix": finding.fix,
        "frameworks": frameworks,
    })
}

/// Renders the report as a JSON document.
pub fn render(report: &ScanReport, rules: &RuleSet) -> String {
    let by_severity: serde_json::Map<String, Value> = report
        .open_by_severity()
        .into_iter()
        .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
        .collect();
    let document = json!({
        "schemaVersion": SCHEMA_VERSION,
        "tool": {"name": "redress", "version": env!("CARGO_PKG_VERSION")},
        "summary": {
            "objects": report.objects,
            "files": report.files,
            "rules": rules.rules.len(),
            "findings": report.findings.iter().filter(|f| f.excepted.is_none()).count(),
            "excepted": report.findings.iter().filter(|f| f.excepted.is_some()).count(),
            "bySeverity": by_severity,
            "score": report.score,
            "inputErrors": report.input_errors.len(),
        },
        "frameworks": report.frameworks,
        "findings": report.findings.iter().map(|f| finding_json(f, rules)).collect::<Vec<_>>(),
        "inputErrors": report.input_errors,
        "notes": report.notes,
        "evaluationErrors": report.eval_errors,
        "expiredExceptions": report.expired.iter().map(|e| json!({
            "rule": e.rule, "reason": e.reason, "expires": e.expires,
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}
