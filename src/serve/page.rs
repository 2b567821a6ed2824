//! page: the posture page (`GET /`), a plain HTML summary of each repository's last sweep.
//!
//! Takes the configuration and what the workers kept of their last sweeps, and gives one
//! self-contained HTML document: the posture score overall and per framework, open findings
//! by severity and classification, the pull requests redress wants and the problems the sweep
//! reported. Every piece of cluster or repository data is HTML-escaped. Reads no network.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::Shared;

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page for the service's current state.
pub(crate) fn render(shared: &Shared) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>redress posture</title>\n\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
         td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}</style></head><body>\n\
         <h1>redress posture</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p>Leader: {}. Metrics at <a href=\"/metrics\">/metrics</a>.</p>",
        if shared.leadership.is_leader() {
            "this replica"
        } else {
            "another replica (this one stands by)"
        }
    );
    for (repo, slot) in shared.config.repositories.iter().zip(&shared.slots) {
        let _ = writeln!(out, "<h2>{}</h2>", escape_html(&repo.name));
        let (Some(posture), Some(sweep)) = (slot.posture(), slot.last()) else {
            out.push_str("<p>Not swept yet.</p>\n");
            continue;
        };
        let _ = writeln!(
            out,
            "<p>Last sweep {} ({}).</p>",
            posture.at.format("%Y-%m-%d %H:%M:%S UTC"),
            posture.trigger
        );
        if let Some(score) = posture.score {
            out.push_str("<table><tr><th>Framework</th><th>Score</th></tr>\n");
            let _ = writeln!(out, "<tr><td>overall</td><td>{score:.1}</td></tr>");
            for (framework, score) in &posture.frameworks {
                let _ = writeln!(
                    out,
                    "<tr><td>{}</td><td>{score:.1}</td></tr>",
                    escape_html(framework)
                );
            }
            out.push_str("</table>\n");
        }
        let mut counts: BTreeMap<(std::cmp::Reverse<crate::model::Severity>, &str), usize> =
            BTreeMap::new();
        for item in &sweep.fix.items {
            *counts
                .entry((
                    std::cmp::Reverse(item.finding.severity),
                    item.classification.as_str(),
                ))
                .or_default() += 1;
        }
        out.push_str("<table><tr><th>Severity</th><th>Classification</th><th>Findings</th></tr>\n");
        for ((severity, classification), n) in &counts {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{classification}</td><td>{n}</td></tr>",
                severity.0
            );
        }
        out.push_str("</table>\n<table><tr><th>Pull request</th><th>Branch</th></tr>\n");
        for pr in &sweep.desired {
            let url = sweep
                .existing
                .iter()
                .find(|e| e.head == pr.branch && e.state == crate::forge::PrState::Open)
                .map(|e| e.url.clone());
            let title = escape_html(&pr.title);
            let title = match url {
                Some(url) => format!("<a href=\"{}\">{title}</a>", escape_html(&url)),
                None => title,
            };
            let _ = writeln!(
                out,
                "<tr><td>{title}</td><td>{}</td></tr>",
                escape_html(&pr.branch)
            );
        }
        out.push_str("</table>\n");
        if let Some(reason) = &sweep.plan_only {
            let _ = writeln!(out, "<p>Plan only: {}.</p>", escape_html(reason));
        }
        if !sweep.problems.is_empty() {
            out.push_str("<p>Problems:</p><ul>\n");
            for problem in &sweep.problems {
                let _ = writeln!(out, "<li>{}</li>", escape_html(problem));
            }
            out.push_str("</ul>\n");
        }
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape_html("<img src=x onerror='a'>&\""),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;"
        );
    }
}
