//! forge: what the pull requests should be (issue 4, point 3 and the grouping of point 4).
//!
//! Takes a [`FixReport`] and the rules, and gives the desired pull requests: one per group
//! (file, rule or workload) with its branch, title, body, labels, the new content of each
//! file it changes and the fingerprints it fixes. Pure: it reads repository files only
//! through the closure it is given, talks to no forge and writes nothing. Everything that
//! comes from the cluster or the repository is escaped before it reaches markdown, and no
//! Secret value appears: observed values of `sensitive` rules are left out, and the diff of
//! a file that holds a Secret (or of a fix of a `sensitive` rule) is withheld.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::RuleSet;
use crate::fix::{Classification, FixItem, FixReport, Remediation, describe};
use crate::model::{Origin, Severity};

/// How findings are grouped into pull requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grouping {
    /// One pull request per source file (the default).
    #[default]
    File,
    /// One pull request per rule.
    Rule,
    /// One pull request per live object (`Kind namespace/name`).
    Workload,
}

impl Grouping {
    /// The name used in configuration and in the marker.
    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::File => "file",
            Grouping::Rule => "rule",
            Grouping::Workload => "workload",
        }
    }
}

/// Where the pull requests go, for the body.
#[derive(Debug, Clone, Copy)]
pub struct PrContext<'a> {
    /// The configured clusters: where their objects come from and their name.
    pub clusters: &'a [ClusterName],
    /// The repository's display name or URL.
    pub repository: &'a str,
    /// The base branch.
    pub base: &'a str,
}

/// How a configured cluster's objects are recognised, and its name in pull requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterName {
    /// The kubeconfig context (or `in-cluster`) its objects were listed through, or the
    /// snapshot file or folder they were read from.
    pub source: String,
    /// The name in the configuration.
    pub name: String,
}

/// The name of the cluster an object came from: the one whose context or snapshot it was
/// read through, else the only cluster there is.
pub fn cluster_of<'a>(clusters: &'a [ClusterName], origin: &Origin) -> Option<&'a str> {
    let found = clusters.iter().find(|c| match origin {
        Origin::Cluster { context } => c.source == *context,
        Origin::File { path, .. } => path.starts_with(&c.source),
        Origin::Implied => false,
    });
    match (found, clusters) {
        (Some(c), _) | (None, [c]) => Some(&c.name),
        _ => None,
    }
}

/// A pull request as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredPr {
    /// The grouping key: the file path, the rule id, or `Kind namespace/name`.
    pub group: String,
    /// `redress/<slug>/<hash>`: the same for the same group in every run.
    pub branch: String,
    /// `[redress] <severity>: <what changes>`, at most [`TITLE_MAX`] characters.
    pub title: String,
    /// The markdown body; its last line is the hidden marker.
    pub body: String,
    /// `redress` and `severity/<level>`.
    pub labels: Vec<String>,
    /// Repository-relative path and its new full content.
    pub files: Vec<(PathBuf, String)>,
    /// Sorted fingerprints of the findings the pull request fixes.
    pub fingerprints: Vec<String>,
    /// The highest severity among them.
    pub severity: Severity,
}

/// The longest title, in characters.
pub const TITLE_MAX: usize = 100;

/// How the hidden marker starts.
pub const MARKER_PREFIX: &str = "<!-- redress:v1 ";

const MARKER_SUFFIX: &str = " -->";

/// The machine-readable part of a pull request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The grouping key.
    pub group: String,
    /// How the findings were grouped.
    pub grouping: Grouping,
    /// Fingerprints of the findings the pull request fixes.
    pub fingerprints: Vec<String>,
}

/// The marker as an HTML comment: `<!-- redress:v1 {json} -->`. Every `<`, `>` and `&` in
/// the JSON is written as a `\u` escape, so no data can close the comment early or read as
/// HTML.
pub fn marker(m: &Marker) -> String {
    let json = serde_json::to_string(m).unwrap_or_default();
    format!(
        "{MARKER_PREFIX}{}{MARKER_SUFFIX}",
        json.replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
    )
}

/// The marker of a pull request body (the last one when there are several), if any.
pub fn parse_marker(body: &str) -> Option<Marker> {
    let start = body.rfind(MARKER_PREFIX)? + MARKER_PREFIX.len();
    let rest = &body[start..];
    let end = rest.find(MARKER_SUFFIX)?;
    serde_json::from_str(&rest[..end]).ok()
}

/// Escapes text from the cluster or the repository for markdown: every character markdown
/// or HTML could read as syntax gets a backslash, and line breaks become spaces.
pub fn escape_md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '{' | '}' | '#' | '+' | '-' | '.'
            | '!' | '|' | '<' | '>' | '&' | '~' | '$' | '@' | '=' | ':' | '"' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            // Line and paragraph separators, zero-width and bidirectional controls.
            '\u{2028}'
            | '\u{2029}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A code fence longer than any run of backticks in `text`.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// The group key of an item with a verified edit.
fn group_of(item: &FixItem, r: &Remediation, grouping: Grouping) -> String {
    match grouping {
        Grouping::File => r.site.file.display().to_string(),
        Grouping::Rule => item.finding.rule.to_string(),
        Grouping::Workload => describe(&item.finding.object),
    }
}

/// `redress/<slug>/<hash>`: the slug keeps the group readable, the hash (of the grouping and
/// the group, never of the content) keeps it unique and stable.
pub fn branch_name(grouping: Grouping, group: &str) -> String {
    let mut slug = String::new();
    for c in group.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.chars().take(40).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        slug.push_str("group");
    }
    let mut hash = Sha256::new();
    hash.update(grouping.as_str().as_bytes());
    hash.update([0u8]);
    hash.update(group.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    format!("redress/{slug}/{hex}")
}

/// One group while it is being built.
#[derive(Default)]
struct Group<'r> {
    /// Items whose own edit the pull request carries (report order).
    primary: Vec<usize>,
    /// Items fixed by the edit of a primary item.
    riders: Vec<usize>,
    remediations: Vec<&'r Remediation>,
}

/// Whether an item goes into a pull request with its own edit.
fn verified(item: &FixItem) -> Option<&Remediation> {
    if !matches!(
        item.classification,
        Classification::SourceFix | Classification::GitOnly
    ) {
        return None;
    }
    item.remediation.as_ref().filter(|r| r.verified)
}

/// The desired pull requests of a report, in group order, and the problems that kept a
/// group out (a file that could not be read or edited).
pub fn desired(
    report: &FixReport,
    rules: &RuleSet,
    grouping: Grouping,
    ctx: &PrContext,
    read: &dyn Fn(&Path) -> Result<String, String>,
) -> (Vec<DesiredPr>, Vec<String>) {
    let items = &report.items;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut group_of_item: BTreeMap<usize, String> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(r) = verified(item) else { continue };
        if r.same_as.is_some() {
            continue;
        }
        let key = group_of(item, r, grouping);
        let g = groups.entry(key.clone()).or_default();
        g.primary.push(i);
        g.remediations.push(r);
        group_of_item.insert(i, key);
    }
    for (i, item) in items.iter().enumerate() {
        let Some(first) = verified(item).and_then(|r| r.same_as) else {
            continue;
        };
        if let Some(key) = group_of_item.get(&first)
            && let Some(g) = groups.get_mut(key)
        {
            g.riders.push(i);
        }
    }
    let mut prs = Vec::new();
    let mut problems = Vec::new();
    for (key, g) in groups {
        match build(report, rules, grouping, ctx, read, key, &g) {
            Ok(pr) => prs.push(pr),
            Err(e) => problems.push(e),
        }
    }
    (prs, problems)
}

/// A file of a group: its old and new text and the items that edit it.
struct FileChange {
    path: PathBuf,
    old: String,
    new: String,
    items: Vec<usize>,
}

fn build(
    report: &FixReport,
    rules: &RuleSet,
    grouping: Grouping,
    ctx: &PrContext,
    read: &dyn Fn(&Path) -> Result<String, String>,
    group: String,
    g: &Group,
) -> Result<DesiredPr, String> {
    let items = &report.items;
    let mut by_file: BTreeMap<PathBuf, (Vec<&Remediation>, Vec<usize>)> = BTreeMap::new();
    for (&i, &r) in g.primary.iter().zip(&g.remediations) {
        let entry = by_file.entry(r.site.file.clone()).or_default();
        entry.0.push(r);
        entry.1.push(i);
    }
    let mut changes = Vec::new();
    for (path, (rems, idx)) in by_file {
        let old = read(&path).map_err(|e| {
            format!(
                "pull request for {group}: {} could not be read: {e}",
                path.display()
            )
        })?;
        let new = crate::fix::apply_remediations(&old, &rems).map_err(|e| {
            format!(
                "pull request for {group}: {} could not be edited: {e}",
                path.display()
            )
        })?;
        changes.push(FileChange {
            path,
            old,
            new,
            items: idx,
        });
    }
    let all: Vec<usize> = g.primary.iter().chain(&g.riders).copied().collect();
    let severity = all
        .iter()
        .map(|&i| items[i].finding.severity)
        .max()
        .unwrap_or(Severity::Low);
    let fingerprints: Vec<String> = all
        .iter()
        .map(|&i| items[i].finding.fingerprint.0.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let title = title(report, rules, grouping, &group, &all, &changes, severity);
    let m = Marker {
        group: group.clone(),
        grouping,
        fingerprints: fingerprints.clone(),
    };
    let body =
        body_within_limit(|diffs| body(report, rules, ctx, &all, &changes, severity, &m, diffs));
    Ok(DesiredPr {
        branch: branch_name(grouping, &group),
        group,
        title,
        body,
        labels: vec![
            "redress".to_owned(),
            format!("severity/{}", severity.as_str()),
        ],
        files: changes.into_iter().map(|c| (c.path, c.new)).collect(),
        fingerprints,
        severity,
    })
}

/// One line of plain text: control characters become spaces.
fn plain(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn title(
    report: &FixReport,
    rules: &RuleSet,
    grouping: Grouping,
    group: &str,
    all: &[usize],
    changes: &[FileChange],
    severity: Severity,
) -> String {
    let items = &report.items;
    let ids: BTreeSet<&str> = all.iter().map(|&i| &*items[i].finding.rule).collect();
    let what = match ids.iter().next() {
        Some(id) if ids.len() == 1 => match rules.rule(id) {
            Some(rule) => format!("fix \"{}\"", rule.title.to_lowercase()),
            None => format!("fix {id}"),
        },
        _ => format!("fix {} findings", all.len()),
    };
    let place = match grouping {
        Grouping::File | Grouping::Workload => group.to_owned(),
        Grouping::Rule => match changes {
            [one] => one.path.display().to_string(),
            many => format!("{} files", many.len()),
        },
    };
    let full = plain(&format!(
        "[redress] {}: {what} in {place}",
        severity.as_str()
    ));
    if full.chars().count() <= TITLE_MAX {
        return full;
    }
    // Too long: the file's name alone, then a cut.
    let short_place = place.rsplit('/').next().unwrap_or(&place);
    let full = plain(&format!(
        "[redress] {}: {what} in {short_place}",
        severity.as_str()
    ));
    if full.chars().count() <= TITLE_MAX {
        return full;
    }
    let mut cut: String = full.chars().take(TITLE_MAX - 1).collect();
    cut.push('…');
    cut
}

/// Whether a file's text holds a Kubernetes Secret manifest.
fn holds_secret(text: &str) -> bool {
    text.lines().any(|line| {
        let Some(rest) = line.strip_prefix("kind:") else {
            return false;
        };
        let value = rest.split('#').next().unwrap_or("").trim();
        value.trim_matches(|c| c == '"' || c == '\'') == "Secret"
    })
}

/// An observed value for the body, shortened.
fn observed_text(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let mut cut: String = text.chars().take(119).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// The longest body, in bytes (GitHub refuses bodies over 65536 characters).
pub const BODY_MAX: usize = 60_000;

/// The body with diffs, or without them when that is too long, or cut short with its
/// marker kept as the last line when even that is too long.
fn body_within_limit(make: impl Fn(bool) -> String) -> String {
    let full = make(true);
    if full.len() <= BODY_MAX {
        return full;
    }
    let short = make(false);
    if short.len() <= BODY_MAX {
        return short;
    }
    let (text, marker) = short.rsplit_once('\n').unwrap_or(("", short.as_str()));
    let mut end = BODY_MAX.saturating_sub(marker.len() + 64).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text[..end].rfind('\n').unwrap_or(0);
    format!(
        "{}\n\n(truncated: too long for one pull request body)\n\n{marker}",
        &text[..cut]
    )
}

#[allow(clippy::too_many_arguments)]
fn body(
    report: &FixReport,
    rules: &RuleSet,
    ctx: &PrContext,
    all: &[usize],
    changes: &[FileChange],
    severity: Severity,
    m: &Marker,
    diffs: bool,
) -> String {
    let items = &report.items;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "redress found {} finding{} that this change fixes in {} (base {}).\n",
        all.len(),
        if all.len() == 1 { "" } else { "s" },
        escape_md(ctx.repository),
        escape_md(ctx.base)
    );
    let _ = writeln!(out, "**Severity:** {}\n", severity.as_str());
    // Rules, most severe first, then by id.
    let mut by_rule: BTreeMap<(std::cmp::Reverse<Severity>, String), Vec<usize>> = BTreeMap::new();
    for &i in all {
        let f = &items[i].finding;
        by_rule
            .entry((std::cmp::Reverse(f.severity), f.rule.to_string()))
            .or_default()
            .push(i);
    }
    for ((sev, id), idx) in &by_rule {
        let rule = rules.rule(id);
        let title = rule.map(|r| r.title.as_str()).unwrap_or(id.as_str());
        let _ = writeln!(
            out,
            "### {} ({}, {})\n",
            escape_md(title),
            escape_md(id),
            sev.0.as_str()
        );
        if let Some(rule) = rule {
            let _ = writeln!(
                out,
                "**Why it matters:** {}\n",
                rule.rationale.trim().replace('\n', " ")
            );
            let _ = writeln!(
                out,
                "**How to fix:** {}\n",
                rule.remediation.trim().replace('\n', " ")
            );
            let controls: Vec<String> = rules
                .mappings
                .controls_of(&rule.id)
                .map(|(f, c)| format!("{} {}: {}", f.name, c.id, c.title))
                .collect();
            if !controls.is_empty() {
                let _ = writeln!(out, "**Frameworks:**\n");
                for c in controls {
                    let _ = writeln!(out, "- {}", escape_md(&c));
                }
                out.push('\n');
            }
        }
        let rule_sensitive = rule.is_none_or(|r| r.sensitive);
        let _ = writeln!(out, "**Affected objects:**\n");
        for &i in idx {
            let item = &items[i];
            let f = &item.finding;
            let mut parts = Vec::new();
            if let Some(cluster) = cluster_of(ctx.clusters, &f.origin)
                && report.live
            {
                parts.push(format!("cluster {}", escape_md(cluster)));
            }
            parts.push(format!(
                "namespace {}",
                escape_md(f.object.namespace.as_deref().unwrap_or("(none)"))
            ));
            parts.push(format!("kind {}", escape_md(&f.object.kind)));
            parts.push(format!("name {}", escape_md(&f.object.name)));
            let _ = writeln!(out, "- {}", parts.join(" · "));
            let _ = writeln!(out, "  - {}", escape_md(&f.message));
            // A Secret's fields are its values: never shown, whatever the rule.
            let sensitive = rule_sensitive || f.object.kind == "Secret";
            if !sensitive && let Some(value) = &f.observed {
                let _ = writeln!(out, "  - observed: {}", escape_md(&observed_text(value)));
            }
            if let Some(r) = &item.remediation {
                let place = match r.line {
                    Some(line) => format!("{} line {line}", r.site.file.display()),
                    None => r.site.file.display().to_string(),
                };
                let _ = writeln!(
                    out,
                    "  - source: {} ({})",
                    escape_md(&place),
                    r.site.kind.as_str()
                );
            }
        }
        out.push('\n');
    }
    let _ = writeln!(out, "### Changes\n");
    for c in changes {
        let _ = writeln!(out, "**{}**\n", escape_md(&c.path.display().to_string()));
        let secret_rule = c.items.iter().any(|&i| {
            rules
                .rule(&items[i].finding.rule)
                .is_none_or(|r| r.sensitive)
        });
        if holds_secret(&c.old) || holds_secret(&c.new) || secret_rule {
            let _ = writeln!(out, "(diff withheld: the file holds a Secret)\n");
        } else if !diffs {
            let _ = writeln!(
                out,
                "(diff left out: the body would be too long; see the commit)\n"
            );
        } else {
            let diff = crate::patch::diff::unified(&c.path.display().to_string(), &c.old, &c.new);
            let fence = fence_for(&diff);
            let _ = writeln!(
                out,
                "{fence}diff\n{}\n{fence}\n",
                diff.trim_end_matches('\n')
            );
        }
        let _ = writeln!(out, "Verification:\n");
        for &i in &c.items {
            let Some(r) = &items[i].remediation else {
                continue;
            };
            let _ = writeln!(
                out,
                "- {} {}: {}",
                escape_md(&items[i].finding.rule),
                escape_md(&describe(&items[i].finding.object)),
                escape_md(&r.verification)
            );
            if r.blast_radius.is_empty() {
                let _ = writeln!(out, "  - blast radius: only this object");
            }
            for b in &r.blast_radius {
                let _ = writeln!(out, "  - blast radius: {}", escape_md(b));
            }
        }
        out.push('\n');
    }
    out.push_str(
        "### How to steer redress\n\n\
         Comment on this pull request:\n\n\
         - `/redress ignore <reason>`: stop proposing these fixes, with your reason\n\
         - `/redress recheck`: scan again and update or close this pull request\n\
         - `/redress rebase`: regenerate the change on the latest base branch\n\
         - `/redress explain`: explain the rules behind this change\n\n\
         Closing this pull request without merging means no: redress will not raise it again \
         until the findings change. Pushing your own commits to the branch is safe: redress \
         never overwrites them.\n\n",
    );
    out.push_str(&marker(m));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fix::{FixItem, RenderCounts};
    use crate::locate::{EditSite, SiteKind};
    use crate::model::{Finding, Fingerprint, ObjectRef, Origin};
    use crate::patch::{DocEdit, EditOp, Seg};
    use serde_json::{Value, json};
    use std::sync::Arc;

    const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
          securityContext:
            privileged: true
            runAsUser: 0
";

    const SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
  mode: debug
";

    fn object(kind: &str, ns: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "apps/v1".into(),
            kind: kind.into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }
    }

    /// A source-fix item whose verified edit sets `path` to `value` in document 0 of `file`.
    fn item(
        rule: &str,
        severity: Severity,
        obj: ObjectRef,
        file: &str,
        path: &[&str],
        value: Value,
    ) -> FixItem {
        let pointer = format!("/{}", path.join("/"));
        let finding = Finding {
            rule: Arc::from(rule),
            severity,
            fingerprint: Fingerprint::new(rule, &obj, &pointer),
            object: obj,
            origin: Origin::Cluster {
                context: "prod".into(),
            },
            path: pointer.clone(),
            field: pointer,
            observed: Some(json!(true)),
            message: format!("{rule} is violated"),
            fix: None,
            line: None,
            excepted: None,
        };
        let segs: Vec<Seg> = path
            .iter()
            .map(|s| match s.parse::<usize>() {
                Ok(n) => Seg::Index(n),
                Err(_) => Seg::Key((*s).to_owned()),
            })
            .collect();
        let remediation = Remediation {
            site: EditSite {
                kind: SiteKind::PlainDocument,
                file: PathBuf::from(file),
                document: 0,
                rendered_base: String::new(),
                base: Vec::new(),
            },
            line: Some(12),
            edits: vec![DocEdit {
                document: 0,
                op: EditOp::Set { path: segs, value },
            }],
            diff: String::new(),
            verified: true,
            verification: "re-rendered and re-scanned: the finding is gone".into(),
            blast_radius: Vec::new(),
            same_as: None,
            rendered: None,
        };
        FixItem {
            finding,
            classification: Classification::SourceFix,
            tracking: None,
            root: Some("plain apps".into()),
            source_file: Some(PathBuf::from(file)),
            remediation: Some(remediation),
            reason: None,
            rejected: Vec::new(),
            matched: None,
            live_json: None,
        }
    }

    const SC: [&str; 6] = [
        "spec",
        "template",
        "spec",
        "containers",
        "0",
        "securityContext",
    ];

    fn at(last: &str) -> Vec<&str> {
        let mut p = SC.to_vec();
        p.push(last);
        p
    }

    fn report(items: Vec<FixItem>) -> FixReport {
        FixReport {
            repository: "repo".into(),
            root: PathBuf::from("repo"),
            url: None,
            revision: None,
            live: true,
            roots: Vec::new(),
            items,
            problems: Vec::new(),
            written: Vec::new(),
            renders: RenderCounts::default(),
        }
    }

    fn rules() -> &'static RuleSet {
        static RULES: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
        RULES.get_or_init(|| RuleSet::load(None, None).expect("built-in rules load"))
    }

    fn files() -> impl Fn(&Path) -> Result<String, String> {
        |p: &Path| match p.file_name().and_then(|n| n.to_str()) {
            Some(n) if n.ends_with("web.yaml") || n == "api.yaml" => Ok(DEPLOY.to_owned()),
            Some("secret.yaml") => Ok(SECRET.to_owned()),
            other => Err(format!("no such file {other:?}")),
        }
    }

    /// One cluster, `prod`, listed through the context `prod`.
    static CLUSTERS: std::sync::LazyLock<[ClusterName; 1]> = std::sync::LazyLock::new(|| {
        [ClusterName {
            source: "prod".into(),
            name: "prod".into(),
        }]
    });

    #[test]
    fn each_object_names_the_cluster_it_came_from() {
        let clusters = [
            ClusterName {
                source: "prod-admin".into(),
                name: "prod".into(),
            },
            ClusterName {
                source: "/snapshots/staging.yaml".into(),
                name: "staging".into(),
            },
        ];
        let listed = Origin::Cluster {
            context: "prod-admin".into(),
        };
        let read = Origin::File {
            path: "/snapshots/staging.yaml".into(),
            document: 1,
            line: 1,
            item: Some(3),
        };
        assert_eq!(cluster_of(&clusters, &listed), Some("prod"));
        assert_eq!(cluster_of(&clusters, &read), Some("staging"));
        assert_eq!(cluster_of(&clusters, &Origin::Implied), None);
        // With one cluster, everything live is from it.
        assert_eq!(cluster_of(&clusters[1..], &listed), Some("staging"));
    }

    fn ctx() -> PrContext<'static> {
        PrContext {
            clusters: &*CLUSTERS,
            repository: "https://example.com/org/repo",
            base: "main",
        }
    }

    /// web.yaml: privileged + run-as-user-root on Deployment shop/web; api.yaml: privileged on
    /// Deployment shop/api.
    fn sample() -> FixReport {
        let web = object("Deployment", "shop", "web");
        let api = object("Deployment", "shop", "api");
        report(vec![
            item(
                "privileged-container",
                Severity::Critical,
                web.clone(),
                "apps/web.yaml",
                &at("privileged"),
                json!(false),
            ),
            item(
                "privileged-container",
                Severity::Critical,
                api,
                "apps/api.yaml",
                &at("privileged"),
                json!(false),
            ),
            item(
                "run-as-user-root",
                Severity::High,
                web,
                "apps/web.yaml",
                &at("runAsUser"),
                json!(1000),
            ),
        ])
    }

    fn run(report: &FixReport, grouping: Grouping) -> Vec<DesiredPr> {
        let read = files();
        let (prs, problems) = desired(report, rules(), grouping, &ctx(), &read);
        assert!(problems.is_empty(), "{problems:?}");
        prs
    }

    fn groups(prs: &[DesiredPr]) -> Vec<&str> {
        prs.iter().map(|p| p.group.as_str()).collect()
    }

    #[test]
    fn groups_by_file_rule_and_workload() {
        let r = sample();
        assert_eq!(
            groups(&run(&r, Grouping::File)),
            ["apps/api.yaml", "apps/web.yaml"]
        );
        assert_eq!(
            groups(&run(&r, Grouping::Rule)),
            ["privileged-container", "run-as-user-root"]
        );
        let by_workload = run(&r, Grouping::Workload);
        assert_eq!(
            groups(&by_workload),
            ["Deployment shop/api", "Deployment shop/web"]
        );
        // The web workload carries both of its findings, one file.
        assert_eq!(by_workload[1].fingerprints.len(), 2);
        assert_eq!(by_workload[1].files.len(), 1);
        let by_rule = run(&r, Grouping::Rule);
        assert_eq!(by_rule[0].files.len(), 2);
        assert!(by_rule[0].title.contains("2 files"), "{}", by_rule[0].title);
    }

    #[test]
    fn files_hold_the_verified_edits_applied() {
        let r = sample();
        let prs = run(&r, Grouping::File);
        let web = &prs[1];
        assert_eq!(web.files.len(), 1);
        assert_eq!(web.files[0].0, PathBuf::from("apps/web.yaml"));
        let expected = DEPLOY
            .replace("privileged: true", "privileged: false")
            .replace("runAsUser: 0", "runAsUser: 1000");
        assert_eq!(web.files[0].1, expected);
        let mut fps = vec![
            r.items[0].finding.fingerprint.0.clone(),
            r.items[2].finding.fingerprint.0.clone(),
        ];
        fps.sort();
        assert_eq!(web.fingerprints, fps);
        assert_eq!(web.severity, Severity::Critical);
        assert_eq!(web.labels, ["redress", "severity/critical"]);
        assert_eq!(
            web.title,
            "[redress] critical: fix 2 findings in apps/web.yaml"
        );
        assert!(web.body.contains("```diff\n"));
        assert!(web.body.contains("+            privileged: false"));
    }

    #[test]
    fn unverified_and_drift_items_are_left_out() {
        let mut r = sample();
        if let Some(rem) = r.items[1].remediation.as_mut() {
            rem.verified = false;
        }
        r.items[2].classification = Classification::LiveDrift;
        let prs = run(&r, Grouping::File);
        assert_eq!(groups(&prs), ["apps/web.yaml"]);
        assert_eq!(prs[0].fingerprints.len(), 1);
        assert_eq!(prs[0].labels, ["redress", "severity/critical"]);
        assert!(!prs[0].files[0].1.contains("runAsUser: 1000"));
    }

    #[test]
    fn same_as_items_add_their_fingerprints_to_the_first_items_pull_request() {
        let mut r = sample();
        // A second object fixed by the very same edit of web.yaml.
        let mut rider = item(
            "privileged-container",
            Severity::Critical,
            object("Deployment", "staging", "web"),
            "apps/web.yaml",
            &at("privileged"),
            json!(false),
        );
        if let Some(rem) = rider.remediation.as_mut() {
            rem.same_as = Some(0);
        }
        let rider_fp = rider.finding.fingerprint.0.clone();
        r.items.push(rider);
        let by_workload = run(&r, Grouping::Workload);
        // No group of its own: the edit is the first item's.
        assert!(!groups(&by_workload).contains(&"Deployment staging/web"));
        let web = &by_workload[1];
        assert!(web.fingerprints.contains(&rider_fp));
        assert!(web.body.contains("name web"));
        assert!(web.body.contains("namespace staging"));
        // The edit is applied once.
        assert_eq!(web.files[0].1.matches("privileged: false").count(), 1);
    }

    #[test]
    fn branches_are_stable_and_valid_ref_names() {
        let r = sample();
        for grouping in [Grouping::File, Grouping::Rule, Grouping::Workload] {
            let a = run(&r, grouping);
            let b = run(&r, grouping);
            assert_eq!(a, b);
            for pr in &a {
                assert_valid_ref(&pr.branch);
            }
        }
        let odd = "Deployment ns/..weird~^:?*[\\ name.lock/";
        let branch = branch_name(Grouping::Workload, odd);
        assert_valid_ref(&branch);
        assert_eq!(branch, branch_name(Grouping::Workload, odd));
        assert_ne!(branch, branch_name(Grouping::File, odd));
        assert_valid_ref(&branch_name(Grouping::File, "###"));
        let long = branch_name(Grouping::File, &"a".repeat(300));
        assert!(long.len() <= "redress/".len() + 40 + 1 + 10, "{long}");
        assert_eq!(
            branch_name(Grouping::File, "apps/web.yaml")
                .rsplit('/')
                .next()
                .map(str::len),
            Some(10)
        );
    }

    fn assert_valid_ref(name: &str) {
        assert!(name.starts_with("redress/"), "{name}");
        for bad in [" ", "..", "~", "^", ":", "?", "*", "[", "\\", "//", "@{"] {
            assert!(!name.contains(bad), "{name} contains {bad:?}");
        }
        assert!(!name.ends_with(".lock") && !name.ends_with('/') && !name.ends_with('.'));
        assert!(
            name.split('/')
                .all(|c| !c.is_empty() && !c.starts_with('.'))
        );
        assert!(name.chars().all(|c| c.is_ascii_graphic()), "{name}");
    }

    #[test]
    fn marker_round_trips_and_cannot_close_the_comment() {
        let m = Marker {
            group: "evil --> <b>x</b> \"q\"\n".into(),
            grouping: Grouping::Workload,
            fingerprints: vec!["aa".into(), "bb".into()],
        };
        let text = marker(&m);
        assert!(text.starts_with(MARKER_PREFIX));
        assert!(text.ends_with(" -->"));
        assert_eq!(text.matches("-->").count(), 1, "{text}");
        assert!(!text.contains('\n'));
        let body = format!("some body\n\n{text}");
        assert_eq!(parse_marker(&body), Some(m));
        assert_eq!(parse_marker("no marker here"), None);
        assert_eq!(parse_marker("<!-- redress:v1 {broken -->"), None);
    }

    #[test]
    fn marker_is_the_last_line_of_the_body() {
        let r = sample();
        for pr in run(&r, Grouping::File) {
            let last = pr.body.lines().last().unwrap_or_default();
            let m = parse_marker(last).expect("marker on the last line");
            assert_eq!(m.group, pr.group);
            assert_eq!(m.grouping, Grouping::File);
            assert_eq!(m.fingerprints, pr.fingerprints);
        }
    }

    #[test]
    fn grouping_deserializes_kebab_case_and_defaults_to_file() {
        let g: Grouping = serde_json::from_str("\"workload\"").expect("parses");
        assert_eq!(g, Grouping::Workload);
        assert!(serde_json::from_str::<Grouping>("\"Workload\"").is_err());
        assert_eq!(Grouping::default(), Grouping::File);
    }

    #[test]
    fn escape_md_neutralises_markdown_and_html() {
        assert_eq!(escape_md("a_b*c"), "a\\_b\\*c");
        assert_eq!(escape_md("x\n# y\r\nz"), "x \\# y  z");
        assert_eq!(escape_md("<img>"), "\\<img\\>");
        assert_eq!(escape_md("`code`"), "\\`code\\`");
        assert_eq!(escape_md("plain words 42"), "plain words 42");
    }

    const EVIL: &str = "evil](http://x) <img src=x onerror=alert(1)>\n# heading";

    #[test]
    fn malicious_object_name_is_escaped_in_the_body() {
        let mut r = sample();
        r.items[1].finding.object.name = EVIL.into();
        r.items[1].finding.object.namespace = Some("ns|<script>".into());
        r.items[1].finding.message = format!("container '{EVIL}' runs privileged");
        r.items[1].finding.observed = Some(json!(EVIL));
        if let Some(rem) = r.items[1].remediation.as_mut() {
            rem.blast_radius = vec![format!("apps: Deployment shop/{EVIL}")];
            rem.verification = EVIL.into();
        }
        for grouping in [Grouping::File, Grouping::Rule, Grouping::Workload] {
            for pr in run(&r, grouping) {
                // The marker (last line) is an HTML comment with JSON in it: no `<` or `>`
                // besides its own; the rest is markdown, checked for raw data.
                let (body, last) = pr.body.rsplit_once('\n').unwrap_or_default();
                assert!(last.starts_with(MARKER_PREFIX), "{last}");
                let inner = &last[MARKER_PREFIX.len()..last.len() - 4];
                assert!(!inner.contains(['<', '>']), "{last}");
                // Data reaches the body only escaped: no `<` without a backslash before it.
                assert!(
                    !body.contains(" <img") && !body.contains("|<script"),
                    "{body}"
                );
                assert!(!body.contains("=x onerror=alert"), "{body}");
                assert!(!body.contains("](http"), "{body}");
                assert!(!body.contains("evil]"), "{body}");
                for line in body.lines() {
                    assert!(!line.starts_with("# heading"), "{line}");
                    assert!(!line.trim_start().starts_with("# "), "{line}");
                }
                assert!(!pr.title.contains('\n'));
                assert!(pr.title.chars().count() <= TITLE_MAX, "{}", pr.title);
            }
        }
        let prs = run(&r, Grouping::File);
        assert!(prs[0].body.contains("evil\\]\\(http\\:"), "{}", prs[0].body);
    }

    #[test]
    fn a_diff_with_backticks_gets_a_longer_fence() {
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("a ```` b ` c"), "`````");
    }

    #[test]
    fn secret_files_withhold_their_diff_and_values() {
        let secret = object("Secret", "shop", "creds");
        let mut it = item(
            "privileged-container",
            Severity::High,
            secret,
            "apps/secret.yaml",
            &["stringData", "mode"],
            json!("production"),
        );
        it.finding.observed = Some(json!("hunter2"));
        let mut sensitive = item(
            "secret-in-env-literal",
            Severity::High,
            object("Deployment", "shop", "web"),
            "apps/web.yaml",
            &at("privileged"),
            json!(false),
        );
        sensitive.finding.observed = Some(json!("hunter2-too"));
        let r = report(vec![it, sensitive]);
        let prs = run(&r, Grouping::File);
        assert_eq!(groups(&prs), ["apps/secret.yaml", "apps/web.yaml"]);
        for pr in &prs {
            assert!(
                pr.body.contains("(diff withheld: the file holds a Secret)"),
                "{}",
                pr.body
            );
            assert!(!pr.body.contains("hunter2"), "{}", pr.body);
            assert!(!pr.body.contains("```diff"));
        }
        // The new content is still there for the commit.
        assert!(prs[0].files[0].1.contains("mode: production"));
    }

    #[test]
    fn an_unreadable_file_is_a_problem_not_a_pull_request() {
        let mut r = sample();
        if let Some(rem) = r.items[1].remediation.as_mut() {
            rem.site.file = PathBuf::from("apps/missing.yaml");
        }
        let read = files();
        let (prs, problems) = desired(&r, rules(), Grouping::File, &ctx(), &read);
        assert_eq!(groups(&prs), ["apps/web.yaml"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("apps/missing.yaml"), "{problems:?}");
    }

    #[test]
    fn body_names_rationale_frameworks_objects_and_steering() {
        let r = sample();
        let rules = rules();
        let prs = run(&r, Grouping::File);
        let body = &prs[0].body;
        let rule = rules.rule("privileged-container").expect("rule exists");
        assert!(body.contains(rule.rationale.trim().split('\n').next().unwrap_or("")));
        if let Some((f, c)) = rules.mappings.controls_of("privileged-container").next() {
            assert!(body.contains(&escape_md(&c.id)), "{body}");
            assert!(body.contains(&escape_md(&f.name)), "{body}");
        }
        assert!(body.contains("cluster prod"));
        assert!(body.contains("apps/api\\.yaml line 12"), "{body}");
        for cmd in [
            "/redress ignore",
            "/redress recheck",
            "/redress rebase",
            "/redress explain",
        ] {
            assert!(body.contains(cmd), "{cmd}");
        }
        assert!(body.contains("**Severity:** critical"));
    }

    #[test]
    fn a_long_body_drops_its_diffs_then_is_cut_keeping_the_marker() {
        let mut r = sample();
        r.items.truncate(1);
        if let Some(rem) = r.items[0].remediation.as_mut() {
            rem.edits[0].op = EditOp::Set {
                path: at("privileged")
                    .iter()
                    .map(|s| match s.parse() {
                        Ok(n) => Seg::Index(n),
                        Err(_) => Seg::Key((*s).to_owned()),
                    })
                    .collect(),
                value: json!("x".repeat(BODY_MAX)),
            }
        }
        let pr = &run(&r, Grouping::File)[0];
        assert!(pr.body.len() <= BODY_MAX);
        assert!(pr.body.contains("(diff left out"), "{}", &pr.body[..2000]);
        assert!(pr.files[0].1.contains(&"x".repeat(BODY_MAX)));
        let last = pr.body.lines().last().unwrap_or_default();
        assert!(parse_marker(last).is_some());

        if let Some(rem) = r.items[0].remediation.as_mut() {
            rem.blast_radius = (0..5000).map(|n| format!("apps: Pod shop/p{n}")).collect();
        }
        let pr = &run(&r, Grouping::File)[0];
        assert!(pr.body.len() <= BODY_MAX);
        assert!(pr.body.contains("(truncated"));
        let last = pr.body.lines().last().unwrap_or_default();
        assert_eq!(
            parse_marker(last).map(|m| m.fingerprints),
            Some(pr.fingerprints.clone())
        );
    }

    /// The real pipeline on the bundled GitOps example against its live snapshot.
    #[test]
    fn pull_requests_of_the_gitops_example() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tools = crate::source::render::Tools::find();
        assert!(
            tools.helm.is_file() && tools.kubectl.is_file(),
            "helm and kubectl are needed: run .ci/install-tools"
        );
        let repo = root.join("examples/gitops");
        let rules = rules();
        let live = crate::inventory::files::read_paths(
            &[root.join("examples/gitops-live.yaml")],
            crate::inventory::files::Limits::default(),
        );
        let objects = live.objects.clone();
        let scanned = crate::scan::scan(
            rules,
            live,
            &crate::engine::exceptions::Exceptions::default(),
            &crate::scan::ScanOptions::default(),
        );
        let live = crate::inventory::Inventory {
            objects,
            ..Default::default()
        };
        let options = crate::fix::FixOptions {
            repo: repo.display().to_string(),
            ..Default::default()
        };
        let renderer = crate::source::render::Renderer::new(tools);
        let report = crate::fix::run(rules, &options, Some(live), scanned.findings, &renderer)
            .expect("fix runs");
        let read = |p: &Path| fs_err::read_to_string(repo.join(p)).map_err(|e| e.to_string());
        let (prs, problems) = desired(&report, rules, Grouping::File, &ctx(), &read);
        assert!(problems.is_empty(), "{problems:?}");
        let files: BTreeSet<String> = report
            .items
            .iter()
            .filter_map(verified)
            .map(|r| r.site.file.display().to_string())
            .collect();
        assert!(!files.is_empty(), "the example has verified fixes");
        assert_eq!(
            groups(&prs),
            files.iter().map(String::as_str).collect::<Vec<_>>()
        );
        let fixed: BTreeSet<&str> = report
            .items
            .iter()
            .filter(|i| verified(i).is_some())
            .map(|i| i.finding.fingerprint.0.as_str())
            .collect();
        let mut branches = BTreeSet::new();
        for pr in &prs {
            assert!(branches.insert(pr.branch.clone()), "{}", pr.branch);
            assert_valid_ref(&pr.branch);
            assert!(pr.title.chars().count() <= TITLE_MAX);
            for (path, text) in &pr.files {
                let old = read(path).expect("readable");
                assert_ne!(&old, text, "{} unchanged", path.display());
            }
            for fp in &pr.fingerprints {
                assert!(fixed.contains(fp.as_str()), "{fp}");
            }
            let last = pr.body.lines().last().unwrap_or_default();
            assert_eq!(
                parse_marker(last),
                Some(Marker {
                    group: pr.group.clone(),
                    grouping: Grouping::File,
                    fingerprints: pr.fingerprints.clone(),
                })
            );
        }
        if std::env::var_os("REDRESS_SHOW_PRS").is_some() {
            for pr in &prs {
                eprintln!(
                    "{}\n{}\n{:?}\n{}\n",
                    pr.branch, pr.title, pr.labels, pr.body
                );
            }
        }
        // Every verified finding is in exactly one pull request.
        let all: Vec<&String> = prs.iter().flat_map(|p| &p.fingerprints).collect();
        assert_eq!(all.len(), fixed.len());
    }

    #[test]
    fn long_titles_name_the_file_alone_then_are_cut() {
        let mut r = sample();
        r.items.truncate(1);
        let deep = format!("{}web.yaml", "clusters/production/".repeat(4));
        if let Some(rem) = r.items[0].remediation.as_mut() {
            rem.site.file = PathBuf::from(&deep);
        }
        let pr = &run(&r, Grouping::File)[0];
        assert_eq!(
            pr.title,
            "[redress] critical: fix \"container runs privileged\" in web.yaml"
        );
        let very = format!("apps/{}-web.yaml", "x".repeat(200));
        if let Some(rem) = r.items[0].remediation.as_mut() {
            rem.site.file = PathBuf::from(&very);
        }
        let pr = &run(&r, Grouping::File)[0];
        assert_eq!(pr.title.chars().count(), TITLE_MAX);
        assert!(pr.title.ends_with('…'));
    }
}
