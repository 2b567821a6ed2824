//! SARIF 2.1.0 output, as GitHub code scanning loads it: one run, every rule as a reporting
//! descriptor with a `security-severity`, one result per finding with its file and line (or a
//! logical location for cluster objects), a partial fingerprint, and excepted findings carried
//! as suppressed results.

use crate::engine::RuleSet;
use crate::model::Severity;
use crate::scan::ScanReport;
use serde_json::{Value, json};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub maps `security-severity` to critical (9.0+), high (7.0+), medium (4.0+), low.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// Renders the report as SARIF 2.1.0.
pub fn render(
    report: &ScanReport,
    rules: &RuleSet,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let positions: std::collections::HashMap<&str, usize> = rules
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (&*r.id, i))
        .collect();
    let descriptors: Vec<Value> = rules
        .rules
        .iter()
        .map(|rule| {
            let mut tags = vec!["security".to_owned(), "kubernetes".to_owned()];
            tags.extend(
                rules
                    .mappings
                    .controls_of(&rule.id)
                    .map(|(f, c)| format!("{}/{}", f.id, c.id)),
            );
            json!({
                "id": &*rule.id,
                "name": &*rule.id,
                "shortDescription": {"text": rule.title},
                "fullDescription": {"text": rule.rationale},
                "help": {"text": rule.remediation, "markdown": format!("**Why:** {}\n\n**Fix:** {}", rule.rationale, rule.remediation)},
                "defaultConfiguration": {"level": level(rule.severity)},
                "properties": {
                    "security-severity": security_severity(rule.severity),
                    "tags": tags,
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let rule_index = positions.get(&*finding.rule);
            let logical = json!([{
                "fullyQualifiedName": format!("{}{}", finding.object, finding.path),
                "kind": "object",
            }]);
            let location = match super::file_of(finding) {
                Some(file) => json!({
                    "physicalLocation": {
                        "artifactLocation": {"uri": file.trim_start_matches("./")},
                        "region": {"startLine": finding.line.unwrap_or(1)},
                    },
                    "logicalLocations": logical,
                }),
                None => json!({"logicalLocations": logical}),
            };
            let mut result = json!({
                "ruleId": &*finding.rule,
                "ruleIndex": rule_index,
                "level": level(finding.severity),
                "message": {"text": format!("{}: {}", finding.object, finding.message)},
                "locations": [location],
                "partialFingerprints": {"redress/v1": finding.fingerprint.0},
            });
            if let Some(exception) = &finding.excepted {
                result["suppressions"] = json!([{
                    "kind": if exception.source.starts_with("annotation") { "inSource" } else { "external" },
                    "justification": exception.reason,
                }]);
            }
            result
        })
        .collect();
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "redress",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/redress-dev/redress",
                "rules": descriptors,
            }},
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    out.write_all(b"\n")
}
