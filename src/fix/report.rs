//! fix: renders a [`FixReport`] as a readable table or as JSON (`docs/json-output.md`,
//! `redress fix` section). Sensitive values never appear: findings of `sensitive` rules
//! carry no observed value, and diffs touch security fields only.

use std::fmt::Write;

use serde_json::{Value, json};

use super::{Classification, FixItem, FixReport, count, describe};

/// The readable report.
pub fn table(report: &FixReport) -> String {
    let mut out = String::new();
    let against = if report.live {
        "live objects"
    } else {
        "its own renders (no live input: git-only)"
    };
    let _ = writeln!(
        out,
        "redress fix: {}{} against {against}",
        report.repository,
        report
            .revision
            .as_deref()
            .map(|r| format!(" at {}", &r[..r.len().min(12)]))
            .unwrap_or_default()
    );
    let failed = report.roots.iter().filter(|r| r.objects.is_none()).count();
    let _ = writeln!(
        out,
        "render roots: {} rendered, {failed} failed",
        report.roots.len() - failed
    );
    let mut unmanaged: std::collections::BTreeMap<String, Vec<&FixItem>> = Default::default();
    for (n, item) in report.items.iter().enumerate() {
        if item.classification == Classification::Unmanaged {
            unmanaged
                .entry(describe(&item.finding.object))
                .or_default()
                .push(item);
            continue;
        }
        out.push('\n');
        item_text(&mut out, n, item);
    }
    if !unmanaged.is_empty() {
        let _ = writeln!(
            out,
            "\nUnmanaged: no render of the repository produces these objects (adopt them into \
             Git, or remove them):"
        );
        for (object, items) in &unmanaged {
            let mut rules: Vec<String> = items
                .iter()
                .map(|i| format!("{} ({})", i.finding.rule, i.finding.severity.as_str()))
                .collect();
            rules.dedup();
            let _ = writeln!(
                out,
                "  {object}: {} finding(s): {}",
                items.len(),
                rules.join(", ")
            );
            if let Some(t) = &items[0].tracking {
                let _ = writeln!(out, "    deployed by {t}, which renders no such object");
            }
        }
    }
    if !report.problems.is_empty() {
        let _ = writeln!(out, "\nProblems ({}):", report.problems.len());
        for p in &report.problems {
            let _ = writeln!(out, "  {p}");
        }
    }
    if !report.written.is_empty() {
        let _ = writeln!(out, "\nWritten:");
        for f in &report.written {
            let _ = writeln!(out, "  {}", f.display());
        }
    }
    let _ = writeln!(out, "\n{}", summary(report));
    out
}

fn item_text(out: &mut String, n: usize, item: &FixItem) {
    let f = &item.finding;
    let _ = writeln!(
        out,
        "#{} {} {}  {}",
        n + 1,
        f.severity.as_str().to_uppercase(),
        f.rule,
        describe(&f.object)
    );
    let _ = writeln!(out, "   {}", f.message);
    let mut how = vec![item.classification.as_str().to_owned()];
    if let Some(t) = &item.tracking {
        how.push(format!("deployed by {t}"));
    }
    if let Some(root) = &item.root {
        how.push(format!("rendered by {root}"));
    }
    if let Some(file) = &item.source_file {
        how.push(format!("from {}", file.display()));
    }
    let _ = writeln!(out, "   {}", how.join(" · "));
    if let Some(r) = &item.remediation {
        let place = match r.line {
            Some(line) => format!("{}:{line}", r.site.file.display()),
            None => r.site.file.display().to_string(),
        };
        let _ = writeln!(out, "   edit: {place} ({})", r.site.kind.as_str());
        match r.same_as {
            Some(first) => {
                let _ = writeln!(out, "   the same edit as #{}", first + 1);
            }
            None => {
                let _ = writeln!(out, "   verified: {}", r.verification);
                for b in &r.blast_radius {
                    let _ = writeln!(out, "   blast radius: {b}");
                }
                for line in r.diff.lines() {
                    let _ = writeln!(out, "     {line}");
                }
            }
        }
    }
    if let Some(reason) = &item.reason {
        let _ = writeln!(out, "   {reason}");
    }
    for r in &item.rejected {
        let _ = writeln!(out, "   tried: {r}");
    }
}

/// One line: counts by classification, verified edits, renders.
pub fn summary(report: &FixReport) -> String {
    let items = &report.items;
    let verified: Vec<_> = items
        .iter()
        .filter_map(|i| i.remediation.as_ref())
        .filter(|r| r.verified)
        .collect();
    let distinct = verified.iter().filter(|r| r.same_as.is_none()).count();
    let files: std::collections::BTreeSet<_> = verified.iter().map(|r| &r.site.file).collect();
    let fixable = items
        .iter()
        .filter(|i| {
            matches!(
                i.classification,
                Classification::SourceFix | Classification::GitOnly
            )
        })
        .count();
    let mut parts = Vec::new();
    for class in [
        Classification::SourceFix,
        Classification::GitOnly,
        Classification::LiveDrift,
        Classification::Unmanaged,
    ] {
        let n = count(items, class);
        if n > 0 {
            parts.push(format!("{n} {}", class.as_str()));
        }
    }
    format!(
        "{} finding{}: {}. {} of {fixable} to fix in Git have a verified edit ({distinct} distinct \
         edit{} in {} file{}). Renders: {} ({} of the roots, {} Helm probes, {} to verify), {} reused, {:.1} s.",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        },
        verified.len(),
        if distinct == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        report.renders.renders,
        report.renders.baseline,
        report.renders.probes,
        report.renders.verification,
        report.renders.cache_hits,
        report.renders.seconds,
    )
}

/// The report as JSON.
pub fn json(report: &FixReport) -> Value {
    let items: Vec<Value> = report
        .items
        .iter()
        .map(|item| {
            let f = &item.finding;
            json!({
                "rule": &*f.rule,
                "severity": f.severity.as_str(),
                "object": f.object,
                "field": f.field,
                "message": f.message,
                "fingerprint": f.fingerprint,
                "classification": item.classification,
                "tracking": item.tracking,
                "root": item.root,
                "sourceFile": item.source_file,
                "remediation": item.remediation.as_ref().map(|r| json!({
                    "siteKind": r.site.kind,
                    "file": r.site.file,
                    "document": r.site.document,
                    "path": crate::patch::dotted(&r.site.base),
                    "line": r.line,
                    "edits": r.edits,
                    "diff": r.diff,
                    "verified": r.verified,
                    "verification": r.verification,
                    "blastRadius": r.blast_radius,
                    "sameAs": r.same_as,
                })),
                "reason": item.reason,
                "rejected": item.rejected,
            })
        })
        .collect();
    json!({
        "schemaVersion": 1,
        "repository": report.repository,
        "revision": report.revision,
        "live": report.live,
        "roots": report.roots,
        "items": items,
        "problems": report.problems,
        "written": report.written,
        "renders": report.renders,
        "summary": summary(report),
    })
}
