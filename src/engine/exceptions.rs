//! Exceptions: findings a person has accepted, declared by an annotation on the object
//! (`redress.dev/ignore: "rule-a,rule-b"` with `redress.dev/ignore-reason`) or in an exceptions
//! file (rule, object selector, reason, optional expiry). Excepted findings stay in the report,
//! marked; an exception past its expiry date no longer applies. Pure: the caller reads the file.

use super::LoadError;
use crate::model::{Exception, Finding, ObjectRef};
use chrono::NaiveDate;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The annotation listing ignored rules (comma-separated ids, or `*` for all).
pub const IGNORE_ANNOTATION: &str = "redress.dev/ignore";
/// The annotation giving the reason.
pub const REASON_ANNOTATION: &str = "redress.dev/ignore-reason";

/// Which objects an exception covers. Every field that is set must match; `name` may end
/// with `*` to match a prefix.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Kind, such as `DaemonSet`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Name, or a prefix ending in `*`.
    #[serde(default)]
    pub name: Option<String>,
}

impl Selector {
    fn matches(&self, object: &ObjectRef) -> bool {
        let kind = self.kind.as_deref().is_none_or(|k| k == object.kind);
        let namespace = self
            .namespace
            .as_deref()
            .is_none_or(|ns| ns == object.effective_namespace());
        let name = self
            .name
            .as_deref()
            .is_none_or(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => object.name.starts_with(prefix),
                None => pattern == object.name,
            });
        kind && namespace && name
    }
}

/// One entry of an exceptions file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceptionEntry {
    /// The rule id, or `*` for every rule.
    pub rule: String,
    /// The objects covered.
    #[serde(rename = "match", default)]
    pub selector: Selector,
    /// Why the risk is accepted.
    pub reason: String,
    /// The last day the exception applies (`YYYY-MM-DD`).
    #[serde(default)]
    pub expires: Option<NaiveDate>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExceptionsFile {
    exceptions: Vec<ExceptionEntry>,
}

/// Loaded exceptions.
#[derive(Debug, Clone, Default)]
pub struct Exceptions {
    /// Where they came from.
    pub path: Option<PathBuf>,
    /// The entries.
    pub entries: Vec<ExceptionEntry>,
}

impl Exceptions {
    /// Parses an exceptions file; every rule id must be known (or `*`).
    pub fn parse(
        path: &Path,
        text: &str,
        known_rule: impl Fn(&str) -> bool,
    ) -> Result<Exceptions, LoadError> {
        let file: ExceptionsFile = super::parse_data(path, text)?;
        for entry in &file.exceptions {
            if entry.rule != "*" && !known_rule(&entry.rule) {
                return Err(LoadError::Data {
                    path: path.to_path_buf(),
                    line: 0,
                    message: format!(
                        "exception names rule '{}', which does not exist",
                        entry.rule
                    ),
                });
            }
            if entry.reason.trim().is_empty() {
                return Err(LoadError::Data {
                    path: path.to_path_buf(),
                    line: 0,
                    message: format!("exception for rule '{}' has no reason", entry.rule),
                });
            }
        }
        Ok(Exceptions {
            path: Some(path.to_path_buf()),
            entries: file.exceptions,
        })
    }

    /// Marks the findings these exceptions (and the objects' annotations) cover, as of `today`.
    /// Returns the exceptions that have expired, so the report can say so.
    pub fn apply<'a>(
        &'a self,
        findings: &mut [Finding],
        annotations: impl Fn(&Finding) -> Option<(String, Option<String>)>,
        today: NaiveDate,
    ) -> Vec<&'a ExceptionEntry> {
        let source = self
            .path
            .as_ref()
            .map_or_else(|| "exceptions".to_owned(), |p| p.display().to_string());
        for finding in findings.iter_mut() {
            if let Some((rules, reason)) = annotations(finding)
                && rules
                    .split(',')
                    .map(str::trim)
                    .any(|r| r == "*" || r == &*finding.rule)
            {
                finding.excepted = Some(Exception {
                    source: format!("annotation {IGNORE_ANNOTATION}"),
                    reason: reason.unwrap_or_else(|| "no reason given".to_owned()),
                    expires: None,
                });
                continue;
            }
            let entry = self.entries.iter().find(|e| {
                (e.rule == "*" || e.rule == *finding.rule)
                    && e.selector.matches(&finding.object)
                    && e.expires.is_none_or(|d| d >= today)
            });
            if let Some(entry) = entry {
                finding.excepted = Some(Exception {
                    source: source.clone(),
                    reason: entry.reason.clone(),
                    expires: entry.expires,
                });
            }
        }
        self.entries
            .iter()
            .filter(|e| e.expires.is_some_and(|d| d < today))
            .collect()
    }
}
