//! commands: what reviewers write in a pull request's comments to steer redress.
//!
//! Takes a comment body and gives the [`Command`] it asks for (`/redress ignore <reason>
//! [until YYYY-MM-DD]`, `/redress recheck`, `/redress rebase`, `/redress explain`), and for
//! the pure parts of carrying them out: the exception entries an ignore records in the
//! repository's exceptions file (appended without touching the rest of the file), the exception
//! pull request's title and body, and the explanation of a pull request's findings. Who may
//! run a command and the forge calls are the service's (`serve`); nothing here does I/O.

use chrono::NaiveDate;
use serde_json::json;

use crate::engine::RuleSet;
use crate::fix::FixItem;
use crate::forge::content::escape_md;
use crate::patch::{DocEdit, EditOp, Seg};

/// A reviewer's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Record the findings as accepted risks instead of fixing them.
    Ignore {
        /// Why the risk is accepted.
        reason: String,
        /// The last day the exception applies.
        until: Option<NaiveDate>,
    },
    /// Sweep the repository again now.
    Recheck,
    /// Regenerate the pull request's commit on the latest base branch.
    Rebase,
    /// Explain the findings and the chosen edit.
    Explain,
}

/// How to use the commands, for replies to a malformed one.
pub const USAGE: &str = "commands: `/redress ignore <reason> [until YYYY-MM-DD]`, \
     `/redress recheck`, `/redress rebase`, `/redress explain`";

/// The command in a comment: its first line that starts with `/redress`. `None` when there is
/// none; `Some(Err(message))` when the line is not a valid command.
pub fn parse(body: &str) -> Option<Result<Command, String>> {
    let line = body
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("/redress"))?;
    let rest = line.strip_prefix("/redress")?;
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let words: Vec<&str> = rest.split_whitespace().collect();
    Some(match words.as_slice() {
        ["recheck"] => Ok(Command::Recheck),
        ["rebase"] => Ok(Command::Rebase),
        ["explain"] => Ok(Command::Explain),
        ["ignore", reason @ ..] => parse_ignore(reason),
        [] => Err(format!("no command given; {USAGE}")),
        [other, ..] => Err(format!(
            "unknown command `{}`; {USAGE}",
            other.replace('`', "'")
        )),
    })
}

fn parse_ignore(words: &[&str]) -> Result<Command, String> {
    let (reason, until) = match words {
        [head @ .., "until", date] => {
            let date = NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .map_err(|_| format!("`until` wants a date as YYYY-MM-DD; {USAGE}"))?;
            (head, Some(date))
        }
        all => (all, None),
    };
    let reason = reason.join(" ");
    if reason.trim().is_empty() {
        return Err(format!("`/redress ignore` needs a reason; {USAGE}"));
    }
    Ok(Command::Ignore { reason, until })
}

/// The exception entries (as JSON values of the exceptions file's shape) for `items`: one per
/// rule and object, most specific selector (kind, namespace, name).
pub fn exception_entries(
    items: &[&FixItem],
    reason: &str,
    until: Option<NaiveDate>,
) -> Vec<serde_json::Value> {
    let mut entries: Vec<serde_json::Value> = Vec::new();
    for item in items {
        let object = &item.finding.object;
        let mut selector = serde_json::Map::new();
        selector.insert("kind".into(), json!(object.kind));
        selector.insert("namespace".into(), json!(object.effective_namespace()));
        selector.insert("name".into(), json!(object.name));
        let mut entry = serde_json::Map::new();
        entry.insert("rule".into(), json!(&*item.finding.rule));
        entry.insert("match".into(), serde_json::Value::Object(selector));
        entry.insert("reason".into(), json!(reason));
        if let Some(date) = until {
            entry.insert("expires".into(), json!(date.format("%Y-%m-%d").to_string()));
        }
        let entry = serde_json::Value::Object(entry);
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries
}

/// The exceptions file with `entries` appended: a new file when `current` is `None`, else the
/// same text with the entries added to its `exceptions` list and nothing else changed.
pub fn add_exceptions(
    current: Option<&str>,
    entries: &[serde_json::Value],
) -> Result<String, String> {
    let text = match current {
        Some(text) if !text.trim().is_empty() => text.to_owned(),
        _ => "# Accepted risks of this repository, read by redress on every sweep. Each entry \
              names a rule,\n# the objects it covers, why, and until when.\nexceptions:\n"
            .to_owned(),
    };
    let edits: Vec<DocEdit> = entries
        .iter()
        .map(|entry| DocEdit {
            document: 0,
            op: EditOp::Append {
                path: vec![Seg::Key("exceptions".into())],
                value: entry.clone(),
            },
        })
        .collect();
    crate::patch::yaml::apply(&text, &edits)
        .map(|applied| applied.text)
        .map_err(|error| format!("cannot add to the exceptions file: {error}"))
}

/// The title of a pull request turned into an exception.
pub fn exception_title(original: &str) -> String {
    let what = original.strip_prefix("[redress] ").unwrap_or(original);
    format!("[redress] exception: {what}")
}

/// The body of a pull request turned into an exception: who asked, why, until when, the
/// findings it covers, and the original marker (so sweeps still recognise it).
pub fn exception_body(
    original_body: &str,
    requested_by: &str,
    reason: &str,
    until: Option<NaiveDate>,
    file: &std::path::Path,
    items: &[&FixItem],
) -> String {
    let mut body = format!(
        "**Exception requested by @{}** with `/redress ignore`.\n\n\
         Merging this pull request records the findings below as accepted risks in `{}`; \
         redress then stops proposing a fix for them{}. Close it to keep the fix instead.\n\n\
         Reason: {}\n\nFindings covered:\n",
        escape_md(requested_by),
        escape_md(&file.display().to_string()),
        match until {
            Some(date) => format!(" until {date} (the exception expires after that day)"),
            None => String::new(),
        },
        escape_md(reason),
    );
    for item in items {
        let o = &item.finding.object;
        body.push_str(&format!(
            "- {} {}: {} {}/{}\n",
            item.finding.severity,
            escape_md(&item.finding.rule),
            escape_md(&o.kind),
            escape_md(o.effective_namespace()),
            escape_md(&o.name),
        ));
    }
    if let Some(at) = original_body.rfind(crate::forge::content::MARKER_PREFIX) {
        body.push('\n');
        body.push_str(&original_body[at..]);
    }
    body
}

/// What `/redress explain` answers: per finding, the rule and why it matters, the object, the
/// source site chosen and how the edit was verified.
pub fn explain(rules: &RuleSet, items: &[&FixItem]) -> String {
    if items.is_empty() {
        return "redress has no current finding for this pull request (the last sweep found \
                none of its findings open)."
            .to_owned();
    }
    let mut out = String::from("What this pull request fixes:\n");
    for item in items {
        let f = &item.finding;
        let o = &f.object;
        out.push_str(&format!(
            "\n**{} {}** on {} {}/{} (`{}`): {}\n",
            f.severity,
            escape_md(&f.rule),
            escape_md(&o.kind),
            escape_md(o.effective_namespace()),
            escape_md(&o.name),
            escape_md(&f.field),
            escape_md(&f.message),
        ));
        if let Some(rule) = rules.rule(&f.rule) {
            out.push_str(&format!(
                "- Why it matters: {}\n",
                escape_md(&rule.rationale)
            ));
        }
        out.push_str(&format!(
            "- Classification: {}\n",
            item.classification.as_str()
        ));
        match &item.remediation {
            Some(r) => {
                out.push_str(&format!(
                    "- Edited at: {} `{}`{} ({})\n- Verification: {}\n",
                    r.site.kind.as_str(),
                    escape_md(&r.site.file.display().to_string()),
                    r.line.map(|l| format!(" line {l}")).unwrap_or_default(),
                    "the place a person would edit for this field",
                    escape_md(&r.verification),
                ));
                if !r.blast_radius.is_empty() {
                    out.push_str(&format!(
                        "- Also changes: {}\n",
                        escape_md(&r.blast_radius.join(", "))
                    ));
                }
            }
            None => out.push_str(&format!(
                "- No verified edit: {}\n",
                escape_md(item.reason.as_deref().unwrap_or("none proposed"))
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse("/redress recheck"), Some(Ok(Command::Recheck)));
        assert_eq!(
            parse("thanks!\n  /redress rebase  \n"),
            Some(Ok(Command::Rebase))
        );
        assert_eq!(parse("/redress explain"), Some(Ok(Command::Explain)));
        assert_eq!(
            parse("/redress ignore the node agent needs it until 2027-01-31"),
            Some(Ok(Command::Ignore {
                reason: "the node agent needs it".into(),
                until: NaiveDate::from_ymd_opt(2027, 1, 31),
            }))
        );
        assert_eq!(
            parse("/redress ignore legacy app, isolated"),
            Some(Ok(Command::Ignore {
                reason: "legacy app, isolated".into(),
                until: None,
            }))
        );
        assert!(matches!(parse("/redress ignore"), Some(Err(m)) if m.contains("needs a reason")));
        assert!(
            matches!(parse("/redress ignore x until soon"), Some(Err(m)) if m.contains("YYYY-MM-DD"))
        );
        assert!(
            matches!(parse("/redress frobnicate"), Some(Err(m)) if m.contains("unknown command"))
        );
        assert_eq!(parse("looks good to me"), None);
        assert_eq!(parse("/redressing the balance"), None);
    }

    #[test]
    fn exceptions_are_appended_without_touching_the_rest() {
        let entry = json!({"rule": "privileged", "match": {"kind": "Deployment", "namespace": "shop", "name": "web"}, "reason": "needs <b>it</b>: really", "expires": "2027-01-31"});
        let created = add_exceptions(None, std::slice::from_ref(&entry)).unwrap();
        assert!(created.starts_with("# Accepted risks"), "{created}");
        let parsed: serde_json::Value = serde_saphyr::from_str(&created).unwrap();
        assert_eq!(parsed["exceptions"][0], entry);

        let existing = "# ours\nexceptions:\n  # the agent\n  - rule: host-network\n    match: {kind: DaemonSet}\n    reason: metrics\n";
        let added = add_exceptions(Some(existing), std::slice::from_ref(&entry)).unwrap();
        assert!(added.starts_with(existing), "{added}");
        let parsed: serde_json::Value = serde_saphyr::from_str(&added).unwrap();
        assert_eq!(parsed["exceptions"][1], entry);
        assert_eq!(parsed["exceptions"][0]["rule"], "host-network");
        // Adding the same entry again changes nothing.
        assert_eq!(add_exceptions(Some(&added), &[entry]).unwrap(), added);
    }

    #[test]
    fn exception_title_and_body_keep_the_marker_and_escape_data() {
        assert_eq!(
            exception_title("[redress] high: stop running web privileged"),
            "[redress] exception: high: stop running web privileged"
        );
        let body = exception_body(
            "text\n<!-- redress:v1 {\"group\":\"g\"} -->",
            "al<script>",
            "needs *it*",
            None,
            std::path::Path::new(".redress/exceptions.yaml"),
            &[],
        );
        assert!(
            body.ends_with("<!-- redress:v1 {\"group\":\"g\"} -->"),
            "{body}"
        );
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("needs \\*it\\*"), "{body}");
    }
}
