//! The JSON output. Its schema is stable and documented in `docs/json-output.md`; fields are
//! only ever added. `schemaVersion` changes if a field's meaning changes. Findings are
//! serialized one at a time straight to the writer, so a scan with hundreds of thousands of
//! findings never holds the whole document in memory.

use crate::engine::RuleSet;
use crate::model::{Finding, Origin};
use crate::scan::ScanReport;
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;

/// The schema version of the JSON output.
pub const SCHEMA_VERSION: u32 = 1;

/// What every finding of a rule shares: its title and framework controls.
pub(crate) struct RuleFacts<'a> {
    pub(crate) title: &'a str,
    pub(crate) frameworks: Vec<Value>,
}

/// Rule facts by rule id, computed once per report instead of once per finding.
pub(crate) fn rule_facts(rules: &RuleSet) -> HashMap<&str, RuleFacts<'_>> {
    rules
        .rules
        .iter()
        .map(|rule| {
            let frameworks = rules
                .mappings
                .controls_of(&rule.id)
                .map(|(f, c)| json!({"framework": f.id, "control": c.id}))
                .collect();
            (
                &*rule.id,
                RuleFacts {
                    title: &rule.title,
                    frameworks,
                },
            )
        })
        .collect()
}

fn finding_json(finding: &Finding, facts: &HashMap<&str, RuleFacts<'_>>) -> Value {
    let fact = facts.get(&*finding.rule);
    let (document, item) = match &finding.origin {
        Origin::File { document, item, .. } => (Some(*document), *item),
        _ => (None, None),
    };
    let cluster = match &finding.origin {
        Origin::Cluster { context } => Some(context.clone()),
        _ => None,
    };
    json!({
        "rule": &*finding.rule,
        "title": fact.map(|f| f.title),
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
        "frameworks": fact.map(|f| f.frameworks.as_slice()).unwrap_or_default(),
    })
}

/// The findings array, serialized element by element.
struct Findings<'a> {
    findings: &'a [Finding],
    facts: HashMap<&'a str, RuleFacts<'a>>,
}

impl Serialize for Findings<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.findings.len()))?;
        for finding in self.findings {
            seq.serialize_element(&finding_json(finding, &self.facts))?;
        }
        seq.end()
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    schema_version: u32,
    tool: Value,
    summary: Value,
    frameworks: &'a [crate::engine::score::FrameworkScore],
    findings: Findings<'a>,
    input_errors: &'a [crate::inventory::InputError],
    notes: &'a [crate::inventory::Note],
    evaluation_errors: &'a [crate::engine::eval::EvalError],
    expired_exceptions: Vec<Value>,
}

/// Writes the report as a JSON document.
pub fn render(report: &ScanReport, rules: &RuleSet, out: &mut dyn Write) -> std::io::Result<()> {
    let by_severity: serde_json::Map<String, Value> = report
        .open_by_severity()
        .into_iter()
        .map(|(s, n)| (s.as_str().to_owned(), json!(n)))
        .collect();
    let excepted = report
        .findings
        .iter()
        .filter(|f| f.excepted.is_some())
        .count();
    let document = Document {
        schema_version: SCHEMA_VERSION,
        tool: json!({"name": "redress", "version": env!("CARGO_PKG_VERSION")}),
        summary: json!({
            "objects": report.objects,
            "files": report.files,
            "rules": rules.rules.len(),
            "findings": report.findings.len() - excepted,
            "excepted": excepted,
            "bySeverity": by_severity,
            "score": report.score,
            "inputErrors": report.input_errors.len(),
        }),
        frameworks: &report.frameworks,
        findings: Findings {
            findings: &report.findings,
            facts: rule_facts(rules),
        },
        input_errors: &report.input_errors,
        notes: &report.notes,
        evaluation_errors: &report.eval_errors,
        expired_exceptions: report
            .expired
            .iter()
            .map(|e| json!({"rule": e.rule, "reason": e.reason, "expires": e.expires}))
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    out.write_all(b"\n")
}
