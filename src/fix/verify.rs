//! fix: proves an edit before it is proposed. The edit is written into a scratch copy of the
//! repository, every root that reads the edited file (or whose deployer object it changes)
//! is re-rendered and re-scanned, and the edit is accepted only when the finding is gone, no
//! finding is added, the target object changed exactly as the fix says, and every other
//! changed object is reported as blast radius. Also writes verified edits with `--write`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::plan::Planner;
use super::{FixItem, Match, Remediation, describe, objects_of, scan_objects};
use crate::engine::RuleSet;
use crate::engine::eval::stable_pointer;
use crate::locate::tracking::is_deployer;
use crate::locate::{EditSite, SiteKind};
use crate::model::{Finding, Object, ObjectRef, escape_segment};
use crate::patch::{DocEdit, EditOp, Seg, diff, yaml};
use crate::source::repo::Repository;
use crate::source::{RenderRoot, RootKind};

/// Verifies edits in a scratch copy of the repository.
pub(crate) struct Verifier<'a> {
    repo: &'a Repository,
    rules: &'a RuleSet,
    /// The scratch copy, made at the first edit to verify (most sweeps have none).
    scratch: std::cell::OnceCell<tempfile::TempDir>,
    renders: std::cell::Cell<usize>,
}

/// Copies the work tree (without `.git`) into `to`. Symlinks are copied as links.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in walkdir::WalkDir::new(from)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
    {
        let entry = entry.map_err(std::io::Error::other)?;
        let Ok(rel) = entry.path().strip_prefix(from) else {
            continue;
        };
        let dest = to.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            fs_err::create_dir_all(&dest)?;
        } else if kind.is_symlink() {
            let target = fs_err::read_link(entry.path())?;
            std::os::unix::fs::symlink(target, &dest)?;
        } else if kind.is_file() {
            fs_err::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Where two JSON values differ, as pointers (at most `limit`).
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>, limit: usize) {
    if out.len() >= limit || a == b {
        return;
    }
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let next = format!("{at}/{}", escape_segment(k));
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) => differences(v, w, &next, out, limit),
                    _ => out.push(next),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{at}/{i}"), out, limit);
            }
        }
        _ => out.push(if at.is_empty() {
            "/".into()
        } else {
            at.to_owned()
        }),
    }
}

/// A rendered root after the edit.
struct After {
    objects: Vec<Object>,
    findings: Vec<Finding>,
}

/// A finding as compared before and after an edit: object, its position in the render,
/// rule, and the field by stable pointer.
type Key = (ObjectRef, Option<usize>, String, String);

fn keys(objects: &[Object], findings: &[Finding]) -> HashSet<Key> {
    findings
        .iter()
        .map(|f| {
            let item = f.origin.item();
            let pointer = item
                .and_then(|i| objects.get(i))
                .map_or_else(|| f.field.clone(), |o| stable_pointer(&o.json, &f.field));
            (f.object.clone(), item, f.rule.to_string(), pointer)
        })
        .collect()
}

/// Pairs the objects of a render before and after an edit: by position when the edit left
/// the list of identities as it was (so two objects of one identity stay apart), else by
/// identity. `Err` names an object the edit added or removed.
fn pair_objects<'o>(
    before: &'o [Object],
    after: &'o [Object],
) -> Result<Vec<(usize, &'o Object, &'o Object)>, String> {
    if before.len() == after.len() && before.iter().zip(after).all(|(b, a)| b.id == a.id) {
        return Ok(before
            .iter()
            .zip(after)
            .enumerate()
            .map(|(i, (b, a))| (i, b, a))
            .collect());
    }
    let after_ids: HashMap<&ObjectRef, &Object> = after.iter().map(|o| (&o.id, o)).collect();
    let before_ids: HashSet<&ObjectRef> = before.iter().map(|o| &o.id).collect();
    if let Some(new) = after.iter().find(|o| !before_ids.contains(&o.id)) {
        return Err(format!("the edit adds {}", describe(&new.id)));
    }
    before
        .iter()
        .enumerate()
        .map(|(i, b)| match after_ids.get(&b.id) {
            Some(a) => Ok((i, b, *a)),
            None => Err(format!("the edit removes {}", describe(&b.id))),
        })
        .collect()
}

/// An edit applied to a text: the new text, whether it changed, and the line when known.
pub(crate) struct Edited {
    pub text: String,
    pub changed: bool,
    pub line: Option<usize>,
}

/// Applies a remediation's edits to `text`: the YAML editor for YAML sites, the template
/// editor for a chart template.
pub(crate) fn apply_edits(text: &str, rem: &Remediation) -> Result<Edited, String> {
    match &rem.rendered {
        Some(rendered) if rem.site.kind == SiteKind::HelmTemplate => {
            let ops: Vec<EditOp> = rem.edits.iter().map(|e| e.op.clone()).collect();
            let edit = crate::locate::template::edit_template(text, rendered, &ops)
                .map_err(|e| e.to_string())?;
            Ok(Edited {
                text: edit.text,
                changed: edit.changed,
                line: Some(edit.line),
            })
        }
        _ => {
            let applied = yaml::apply(text, &rem.edits).map_err(|e| e.to_string())?;
            Ok(Edited {
                text: applied.text,
                changed: applied.changed,
                line: None,
            })
        }
    }
}

/// Applies several remediations of one file in order. A template edit refers to the
/// rendered object; after each one, that object is updated with the edit, so the next edit
/// of the same template sees what the template now writes.
pub(crate) fn apply_all(text: &str, remediations: &[&Remediation]) -> Result<String, String> {
    let mut text = text.to_owned();
    let mut current: Vec<(Value, Value)> = Vec::new();
    for r in remediations {
        let mut r = (*r).clone();
        if let Some(original) = r.rendered.clone() {
            let slot = match current.iter().position(|(o, _)| *o == *original) {
                Some(i) => i,
                None => {
                    current.push(((*original).clone(), (*original).clone()));
                    current.len() - 1
                }
            };
            r.rendered = Some(std::sync::Arc::new(current[slot].1.clone()));
            for e in &r.edits {
                crate::patch::yaml::json::apply_op(&mut current[slot].1, &e.op)?;
            }
        }
        text = apply_edits(&text, &r)?.text;
    }
    Ok(text)
}

/// Whether some security context of `json` says `privileged: true` together with
/// `allowPrivilegeEscalation: false`, which the API server refuses.
fn rejected_pair(json: &Value) -> bool {
    match json {
        Value::Object(map) => {
            let bad = map.get("securityContext").is_some_and(|sc| {
                sc.get("privileged") == Some(&Value::Bool(true))
                    && sc.get("allowPrivilegeEscalation") == Some(&Value::Bool(false))
            });
            bad || map.values().any(rejected_pair)
        }
        Value::Array(items) => items.iter().any(rejected_pair),
        _ => false,
    }
}

/// The 1-based line in `text` of `path` inside document `document` (0-based).
pub(crate) fn site_line(text: &str, document: usize, path: &[Seg]) -> Option<usize> {
    let docs = crate::inventory::files::split_documents(text);
    let doc = docs.iter().find(|d| d.index == document + 1)?;
    let mut pointer = String::new();
    for seg in path {
        pointer.push('/');
        pointer.push_str(&escape_segment(&seg.to_string()));
    }
    crate::inventory::lines::line_of(doc.text, &pointer).map(|l| doc.line + l - 1)
}

impl<'a> Verifier<'a> {
    /// A verifier; the scratch copy of the repository is made when it is first needed.
    pub fn new(repo: &'a Repository, rules: &'a RuleSet) -> Self {
        Verifier {
            repo,
            rules,
            scratch: std::cell::OnceCell::new(),
            renders: std::cell::Cell::new(0),
        }
    }

    /// The scratch copy's folder, copied from the repository on first use.
    fn scratch(&self) -> std::io::Result<&Path> {
        if let Some(dir) = self.scratch.get() {
            return Ok(dir.path());
        }
        let dir = tempfile::Builder::new()
            .prefix("redress-verify-")
            .tempdir()?;
        copy_tree(&self.repo.root, dir.path())?;
        Ok(self.scratch.get_or_init(|| dir).path())
    }

    /// Writes `edits` to the site's file in the scratch copy, re-renders, re-scans and judges.
    pub fn verify(
        &mut self,
        planner: &Planner<'_>,
        target: Match,
        finding: &Finding,
        site: &EditSite,
        edits: Vec<DocEdit>,
    ) -> Remediation {
        let mut rem = Remediation {
            site: site.clone(),
            line: None,
            edits: edits.clone(),
            diff: String::new(),
            verified: false,
            verification: String::new(),
            blast_radius: Vec::new(),
            same_as: None,
            rendered: None,
        };
        let original = match self
            .repo
            .resolve(&site.file)
            .map_err(|e| e.to_string())
            .and_then(|p| fs_err::read_to_string(p).map_err(|e| e.to_string()))
        {
            Ok(text) => text,
            Err(e) => {
                rem.verification = format!("cannot read the site: {e}");
                return rem;
            }
        };
        if site.kind == SiteKind::HelmTemplate {
            rem.rendered = Some(planner.roots[target.0].objects[target.1].json.clone());
        }
        let applied = match apply_edits(&original, &rem) {
            Ok(applied) => applied,
            Err(e) => {
                rem.verification = format!("the edit cannot be written: {e}");
                return rem;
            }
        };
        if !applied.changed {
            rem.verification =
                "the file already holds this value; the rendered value comes from elsewhere".into();
            return rem;
        }
        let file = site.file.display().to_string();
        rem.diff = diff::unified(&file, &original, &applied.text);
        rem.line = match applied.line {
            Some(line) => Some(line),
            None => {
                let at = edits.first().map_or(site.base.as_slice(), |e| e.op.path());
                site_line(&applied.text, site.document, at)
            }
        };
        let scratch_file = match self.scratch() {
            Ok(dir) => dir.join(&site.file),
            Err(e) => {
                rem.verification = format!("cannot make the scratch copy: {e}");
                return rem;
            }
        };
        if let Err(e) = fs_err::write(&scratch_file, &applied.text) {
            rem.verification = format!("cannot write the scratch copy: {e}");
            return rem;
        }
        tracing::debug!(file = %file, diff = %rem.diff, "verifying");
        let outcome = self.judge(planner, target, finding, &site.file);
        if let Err(e) = fs_err::write(&scratch_file, &original) {
            tracing::warn!(error = %e, "restoring the scratch copy failed");
        }
        match outcome {
            Ok((summary, blast)) => {
                rem.verified = true;
                rem.verification = summary;
                rem.blast_radius = blast;
            }
            Err(reason) => rem.verification = reason,
        }
        rem
    }

    /// Renders of edited scratch copies so far.
    pub fn renders(&self) -> usize {
        self.renders.get()
    }

    fn render_after(&self, planner: &Planner<'_>, root: &RenderRoot) -> Result<After, String> {
        self.renders.set(self.renders.get() + 1);
        let scratch = self
            .scratch()
            .map_err(|e| format!("cannot make the scratch copy: {e}"))?;
        let rendered = planner
            .renderer
            .render(scratch, root)
            .map_err(|e| format!("after the edit, {e}"))?;
        let objects = objects_of(&rendered);
        let findings = scan_objects(self.rules, &objects);
        Ok(After { objects, findings })
    }

    fn judge(
        &mut self,
        planner: &Planner<'_>,
        target: Match,
        finding: &Finding,
        file: &Path,
    ) -> Result<(String, Vec<String>), String> {
        let roots = planner.roots;
        let mut after: BTreeMap<usize, After> = BTreeMap::new();
        for (ri, root) in roots.iter().enumerate() {
            // The files the render read; a root that did not render is not judged.
            let Ok(rendered) = &root.rendered else {
                continue;
            };
            if rendered.inputs.iter().any(|p| p == file) {
                let rendered = self.render_after(planner, &root.root)?;
                after.insert(ri, rendered);
            }
        }
        // Roots made from a deployer whose object (HelmRelease values) the edit changed.
        for (rj, r) in roots.iter().enumerate() {
            let Some((tracking, _)) = &r.deployer else {
                continue;
            };
            let RootKind::Helm { inline_values, .. } = &r.root.kind else {
                continue;
            };
            let changed = after.values().find_map(|a| {
                a.objects
                    .iter()
                    .find(|o| is_deployer(&o.json, tracking))
                    .map(|o| o.json.clone())
            });
            let Some(json) = changed else { continue };
            let Some(deploy) = super::plan::deploy_of(tracking.kind, &json, roots, planner.live)
            else {
                continue;
            };
            let inline = deploy.helm.and_then(|h| h.inline);
            if &inline == inline_values {
                continue;
            }
            let mut root = r.root.clone();
            if let RootKind::Helm { inline_values, .. } = &mut root.kind {
                *inline_values = inline;
            }
            let rendered = self.render_after(planner, &root)?;
            after.insert(rj, rendered);
        }
        let (tri, toi) = target;
        let target_id = &roots[tri].objects[toi].id;
        if !after.contains_key(&tri) {
            return Err(format!(
                "no root that renders {} reads {}",
                describe(target_id),
                file.display()
            ));
        }
        let mut blast = Vec::new();
        let mut target_changed = false;
        let mut notes = Vec::new();
        for (ri, a) in &after {
            let root = &roots[*ri];
            let label = root.root.label();
            let pairs =
                pair_objects(&root.objects, &a.objects).map_err(|e| format!("{label}: {e}"))?;
            let before_keys = keys(&root.objects, &root.findings);
            let after_keys = keys(&a.objects, &a.findings);
            if let Some((id, _, rule, _)) = after_keys.difference(&before_keys).next() {
                return Err(format!(
                    "{label}: the edit adds a finding ({rule} on {})",
                    describe(id)
                ));
            }
            for (index, before_object, after_object) in pairs {
                let id = &before_object.id;
                let before_json = &*before_object.json;
                let after_json = &*after_object.json;
                if before_json == after_json {
                    continue;
                }
                if *ri == tri && index == toi {
                    target_changed = true;
                    let key = (
                        id.clone(),
                        after_object.origin.item(),
                        finding.rule.to_string(),
                        stable_pointer(before_json, &finding.field),
                    );
                    if after_keys.contains(&key) {
                        return Err(
                            "the finding is still there after the edit (something later \
                             overrides this site)"
                                .into(),
                        );
                    }
                    let mut expected = (*before_json).clone();
                    let ops = Value::Array(finding.fix.clone().unwrap_or_default());
                    let patched = serde_json::from_value::<json_patch::Patch>(ops)
                        .map_err(|e| e.to_string())
                        .and_then(|p| {
                            json_patch::patch(&mut expected, &p).map_err(|e| e.to_string())
                        });
                    if let Err(e) = patched {
                        return Err(format!("the rule's fix does not apply to the render: {e}"));
                    }
                    if rejected_pair(after_json) && !rejected_pair(before_json) {
                        notes.push(
                            "the API server rejects allowPrivilegeEscalation: false on a \
                             privileged container: apply it with the privileged-container fix",
                        );
                    }
                    if expected != *after_json {
                        let mut out = Vec::new();
                        differences(&expected, after_json, "", &mut out, 3);
                        return Err(format!(
                            "the edit changes more than the fix on {}: {}",
                            describe(id),
                            out.join(", ")
                        ));
                    }
                } else {
                    let at = Some(index);
                    let fixed_here = before_keys
                        .iter()
                        .any(|(_, i, r, _)| *i == at && *r == *finding.rule)
                        && !after_keys
                            .iter()
                            .any(|(_, i, r, _)| *i == at && *r == *finding.rule);
                    let deployer = roots[tri]
                        .deployer
                        .as_ref()
                        .is_some_and(|(t, _)| is_deployer(before_json, t));
                    blast.push(format!(
                        "{label}: {}{}",
                        describe(id),
                        if fixed_here {
                            " (fixed the same way)"
                        } else if deployer {
                            " (the deployer, whose values change)"
                        } else {
                            ""
                        }
                    ));
                }
            }
        }
        if !target_changed {
            return Err(format!(
                "the edit does not change the rendered {}",
                describe(target_id)
            ));
        }
        blast.sort();
        let summary = format!(
            "re-rendered {} root{}: the finding is gone, no finding added, {}",
            after.len(),
            if after.len() == 1 { "" } else { "s" },
            if blast.is_empty() {
                "no other object changed".to_owned()
            } else {
                format!("{} other object(s) changed", blast.len())
            }
        );
        let summary = if notes.is_empty() {
            summary
        } else {
            format!("{summary}; note: {}", notes.join("; "))
        };
        Ok((summary, blast))
    }
}

/// Applies every verified edit to the working tree, file by file, in report order. Returns
/// the files written.
pub(crate) fn write_verified(
    repo: &Repository,
    items: &[FixItem],
    problems: &mut Vec<String>,
) -> Vec<PathBuf> {
    let mut by_file: BTreeMap<PathBuf, Vec<&Remediation>> = BTreeMap::new();
    for item in items {
        if let Some(r) = &item.remediation
            && r.verified
            && r.same_as.is_none()
        {
            by_file.entry(r.site.file.clone()).or_default().push(r);
        }
    }
    let mut written = Vec::new();
    for (file, edits) in by_file {
        let result = repo
            .resolve(&file)
            .map_err(|e| e.to_string())
            .and_then(|path| {
                let mut text = fs_err::read_to_string(&path).map_err(|e| e.to_string())?;
                let original = text.clone();
                text = apply_all(&text, &edits)?;
                if text != original {
                    fs_err::write(&path, &text).map_err(|e| e.to_string())?;
                    Ok(true)
                } else {
                    Ok(false)
                }
            });
        match result {
            Ok(true) => written.push(file),
            Ok(false) => {}
            Err(e) => problems.push(format!("{}: not written: {e}", file.display())),
        }
    }
    written
}
