//! fix: the locate-and-patch pipeline behind `redress fix`.
//!
//! Takes a repository and, optionally, a live inventory (a cluster or a snapshot) and gives a
//! [`FixReport`]: every finding classified (`source-fix`, `live-drift`, `unmanaged`,
//! `git-only`), its source located, the smallest edit written, and that edit verified by
//! re-rendering and re-scanning in a scratch copy. It reads the repository and writes to it
//! only with `write`, and then only the verified edits.

mod plan;
pub mod report;
mod verify;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::engine::RuleSet;
use crate::engine::eval::stable_pointer;
use crate::inventory::Inventory;
use crate::locate::EditSite;
use crate::locate::tracking::{self, Deploy, Tracking};
use crate::model::{Finding, Object, ObjectRef, Origin};
use crate::patch::DocEdit;
use crate::source::render::{RenderStats, Renderer};
use crate::source::repo::Repository;
use crate::source::{RenderRoot, Rendered};

/// How a finding relates to Git.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Classification {
    /// The source renders the same violation: fix it in Git.
    SourceFix,
    /// The source renders a compliant object: the live one was changed outside Git.
    LiveDrift,
    /// No source in the repository produces the object.
    Unmanaged,
    /// Found in the repository's renders (no live input).
    GitOnly,
}

impl Classification {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Classification::SourceFix => "source-fix",
            Classification::LiveDrift => "live-drift",
            Classification::Unmanaged => "unmanaged",
            Classification::GitOnly => "git-only",
        }
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct FixOptions {
    /// A local path or a remote URL.
    pub repo: String,
    /// Branch, tag or commit to check out (remote repositories).
    pub revision: Option<String>,
    /// Where remote repositories are cloned.
    pub cache: Option<PathBuf>,
    /// Apply the verified edits to the working tree.
    pub write: bool,
    /// Charts that deployers take from a Helm repository, found in local folders instead
    /// (`name` -> repository-relative folder).
    pub charts: BTreeMap<String, String>,
}

/// The edit of one finding and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct Remediation {
    /// The site the edit goes to.
    pub site: EditSite,
    /// The 1-based line of the site in its file.
    pub line: Option<usize>,
    /// The edits, as given to the YAML editor.
    pub edits: Vec<DocEdit>,
    /// The unified diff.
    pub diff: String,
    /// Whether the edit verified.
    pub verified: bool,
    /// What verification saw (or why it failed).
    pub verification: String,
    /// Other rendered objects the edit changes, as `root: kind namespace/name`.
    pub blast_radius: Vec<String>,
    /// Index (into the report's items) of the first finding with the very same edit.
    pub same_as: Option<usize>,
    /// For a template site: the rendered object the edits' paths refer to.
    #[serde(skip)]
    pub(crate) rendered: Option<Arc<Value>>,
}

/// One finding and its way back to Git.
#[derive(Debug, Clone)]
pub struct FixItem {
    /// The finding (on the live object, or on the rendered one for `git-only`).
    pub finding: Finding,
    /// How it relates to Git.
    pub classification: Classification,
    /// Who deployed the live object, from its tracking metadata.
    pub tracking: Option<Tracking>,
    /// The render root and source file of the matching rendered object.
    pub root: Option<String>,
    /// The source file the rendered object came from (template file for Helm).
    pub source_file: Option<PathBuf>,
    /// The edit, when one was found.
    pub remediation: Option<Remediation>,
    /// Why no verified edit is proposed, when none is.
    pub reason: Option<String>,
    /// Other sites that were tried and did not verify, with the reason.
    pub rejected: Vec<String>,
    /// The rendered object that stands for the finding's object.
    pub(crate) matched: Option<Match>,
    /// The live object's JSON, for live findings.
    pub(crate) live_json: Option<Arc<Value>>,
}

/// Everything `redress fix` found and did.
#[derive(Debug)]
pub struct FixReport {
    /// The repository as given, and its commit when known.
    pub repository: String,
    /// The repository's work tree on disk (the folder given, or the clone in the cache).
    pub root: PathBuf,
    /// The repository's remote URL, when it has one (given, or the local clone's origin).
    pub url: Option<String>,
    /// The commit checked out, when the repository is a Git repository.
    pub revision: Option<String>,
    /// Whether a live inventory was compared.
    pub live: bool,
    /// Render roots and whether they rendered.
    pub roots: Vec<RootSummary>,
    /// One item per open finding.
    pub items: Vec<FixItem>,
    /// Problems that did not stop the run (render failures, broken files, live read errors).
    pub problems: Vec<String>,
    /// Files written with `write`.
    pub written: Vec<PathBuf>,
    /// Renders done and reused.
    pub renders: RenderCounts,
}

/// A render root in the report.
#[derive(Debug, Serialize)]
pub struct RootSummary {
    /// Its label.
    pub label: String,
    /// Objects rendered, or `None` when it failed.
    pub objects: Option<usize>,
    /// Who deploys it, for roots made from a deployer.
    pub deployer: Option<String>,
}

/// Render counts for the report and the benchmark.
#[derive(Debug, Default, Serialize, Clone, Copy)]
pub struct RenderCounts {
    /// `kubectl kustomize`/`helm template` runs.
    pub renders: usize,
    /// Renders answered from the cache.
    pub cache_hits: usize,
    /// Seconds spent rendering.
    pub seconds: f64,
    /// Renders of the roots as they are (one per root, reused by every finding of the root).
    pub baseline: usize,
    /// Renders with marked values, to find Helm values keys (shared by a chart's findings).
    pub probes: usize,
    /// Renders of edited scratch copies, to verify edits.
    pub verification: usize,
}

impl From<RenderStats> for RenderCounts {
    fn from(s: RenderStats) -> Self {
        RenderCounts {
            renders: s.renders,
            cache_hits: s.cache_hits,
            seconds: s.seconds,
            ..RenderCounts::default()
        }
    }
}

/// Why `redress fix` could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// The repository could not be opened.
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    /// `write` on a repository that is not a local folder.
    #[error("--write needs a local repository; {0} is a remote clone")]
    WriteRemote(String),
}

/// A render root and what it gave.
pub(crate) struct Root {
    pub root: RenderRoot,
    /// Who deploys it, when a deployer names it.
    pub deployer: Option<(Tracking, Deploy)>,
    /// Whether discovery found it (as opposed to a deployer naming it).
    pub discovered: bool,
    /// The render, or why it failed.
    pub rendered: Result<Arc<Rendered>, String>,
    /// The rendered objects as scan objects (same order as `rendered.objects`).
    pub objects: Vec<Object>,
    /// Findings on the rendered objects.
    pub findings: Vec<Finding>,
}

/// Scans objects rendered by one root.
pub(crate) fn scan_objects(rules: &RuleSet, objects: &[Object]) -> Vec<Finding> {
    rules.evaluator().evaluate(objects).findings
}

/// Turns a render into scan objects. A render is read like a `kind: List`: each object's
/// origin names its position in the render (`item`), so findings tell apart two objects of
/// the same identity; lines come from edit sites, not from here.
pub(crate) fn objects_of(rendered: &Rendered) -> Vec<Object> {
    rendered
        .objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let origin = Origin::File {
                path: o.file.clone().unwrap_or_default(),
                document: 0,
                line: 0,
                item: Some(i),
            };
            Object::from_json(o.json.clone(), origin)
        })
        .collect()
}

fn render_root(
    renderer: &Renderer,
    tree: &Path,
    rules: &RuleSet,
    root: RenderRoot,
    deployer: Option<(Tracking, Deploy)>,
) -> Root {
    match renderer.render(tree, &root) {
        Ok(rendered) => {
            let objects = objects_of(&rendered);
            let findings = scan_objects(rules, &objects);
            Root {
                discovered: deployer.is_none(),
                root,
                deployer,
                rendered: Ok(rendered),
                objects,
                findings,
            }
        }
        Err(e) => Root {
            discovered: deployer.is_none(),
            rendered: Err(match e {
                // Render errors name their root already.
                crate::source::SourceError::Render { .. } => e.to_string(),
                other => format!("{}: {other}", root.label()),
            }),
            root,
            deployer,
            objects: Vec::new(),
            findings: Vec::new(),
        },
    }
}

/// The key that says two findings are the same problem on the same field, whatever the
/// object's namespace (rendered objects often have none).
fn finding_key(f: &Finding, json: &Value) -> (String, String) {
    (f.rule.to_string(), stable_pointer(json, &f.field))
}

/// Runs `redress fix`.
pub fn run(
    rules: &RuleSet,
    options: &FixOptions,
    live: Option<Inventory>,
    live_findings: Vec<Finding>,
    renderer: &Renderer,
) -> Result<FixReport, FixError> {
    let cache = options
        .cache
        .clone()
        .unwrap_or_else(crate::source::repo::default_cache);
    let repo = Repository::open(&options.repo, options.revision.as_deref(), &cache)?;
    let local = Path::new(&options.repo).exists();
    if options.write && !local {
        return Err(FixError::WriteRemote(options.repo.clone()));
    }
    let mut problems = Vec::new();
    let (discovered, discover_problems) = crate::source::roots::discover(&repo);
    problems.extend(discover_problems);
    let tree = repo.root.clone();
    let mut roots: Vec<Root> = discovered
        .into_par_iter()
        .map(|root| render_root(renderer, &tree, rules, root, None))
        .collect();
    let is_live = live.is_some();
    let live = live.unwrap_or_default();
    for e in &live.errors {
        problems.push(format!("live input: {e}"));
    }
    // Roots for the deployers the live objects name.
    let deployers = plan::deployer_roots(&repo, &roots, &live.objects, options, &mut problems);
    // A deployer whose source is a root already rendered adopts it (same render, one root);
    // the others get a root of their own.
    let mut fresh = Vec::new();
    for (root, deployer) in deployers {
        match roots
            .iter_mut()
            .find(|r| r.root == root && r.deployer.is_none())
        {
            Some(existing) => existing.deployer = Some(deployer),
            None => fresh.push((root, deployer)),
        }
    }
    let extra: Vec<Root> = fresh
        .into_par_iter()
        .map(|(root, deployer)| render_root(renderer, &tree, rules, root, Some(deployer)))
        .collect();
    roots.extend(extra);
    for r in &roots {
        if let Err(e) = &r.rendered {
            problems.push(e.clone());
        }
        if let Ok(rendered) = &r.rendered {
            for p in &rendered.problems {
                problems.push(format!("{}: {p}", r.root.label()));
            }
        }
    }
    let mut items = if is_live {
        classify_live(rules, &roots, &live.objects, live_findings)
    } else {
        git_only(&roots)
    };
    let baseline = renderer.stats().renders;
    let mut planner = plan::Planner::new(&repo, renderer, &roots, &live.objects);
    let mut verifier = verify::Verifier::new(&repo, rules);
    let mut done: HashMap<String, usize> = HashMap::new();
    for i in 0..items.len() {
        if matches!(
            items[i].classification,
            Classification::SourceFix | Classification::GitOnly
        ) {
            plan::remediate(&mut items, i, &mut planner, &mut verifier, &mut done);
        }
    }
    let mut written = Vec::new();
    if options.write {
        written = verify::write_verified(&repo, &items, &mut problems);
    }
    let report = FixReport {
        repository: options.repo.clone(),
        root: repo.root.clone(),
        url: repo.url.clone(),
        revision: repo.revision.clone(),
        live: is_live,
        roots: roots
            .iter()
            .map(|r| RootSummary {
                label: r.root.label(),
                objects: r.rendered.as_ref().ok().map(|_| r.objects.len()),
                deployer: r.deployer.as_ref().map(|(t, _)| t.to_string()),
            })
            .collect(),
        items,
        problems,
        written,
        renders: RenderCounts {
            baseline,
            probes: planner.probe_renders(),
            verification: verifier.renders(),
            ..renderer.stats().into()
        },
    };
    Ok(report)
}

/// `git-only`: every finding of every root, on the rendered objects.
fn git_only(roots: &[Root]) -> Vec<FixItem> {
    let mut items = Vec::new();
    for (ri, r) in roots.iter().enumerate() {
        for f in &r.findings {
            items.push(FixItem {
                finding: f.clone(),
                classification: Classification::GitOnly,
                tracking: None,
                root: Some(r.root.label()),
                source_file: f.origin.item().and_then(|oi| source_file_of(r, oi)),
                remediation: None,
                reason: None,
                rejected: Vec::new(),
                matched: f.origin.item().map(|oi| (ri, oi)),
                live_json: None,
            });
        }
    }
    items
}

fn source_file_of(root: &Root, oi: usize) -> Option<PathBuf> {
    let rendered = root.rendered.as_ref().ok()?;
    rendered.objects.get(oi).and_then(|o| o.file.clone())
}

/// A rendered object that stands for a live one: root index and object index.
pub(crate) type Match = (usize, usize);

/// Classifies every open live finding.
fn classify_live(
    rules: &RuleSet,
    roots: &[Root],
    live: &[Object],
    findings: Vec<Finding>,
) -> Vec<FixItem> {
    let by_id: HashMap<&ObjectRef, &Object> = live.iter().map(|o| (&o.id, o)).collect();
    let mut items = Vec::new();
    for finding in findings {
        if finding.excepted.is_some() {
            continue;
        }
        let Some(object) = by_id.get(&finding.object) else {
            continue;
        };
        let tracking = tracking::tracking_of(&object.json);
        let found = plan::find_source(roots, object, tracking.as_ref());
        let mut item = FixItem {
            finding,
            classification: Classification::Unmanaged,
            tracking,
            root: None,
            source_file: None,
            remediation: None,
            reason: None,
            rejected: Vec::new(),
            matched: found,
            live_json: Some(object.json.clone()),
        };
        match found {
            None => {
                item.reason = Some(match &item.tracking {
                    Some(t) => format!(
                        "deployed by {t}, but no render of the repository produces {}",
                        describe(&item.finding.object)
                    ),
                    None => "no render root of the repository produces this object".to_owned(),
                });
            }
            Some((ri, oi)) => {
                let root = &roots[ri];
                let rendered = &root.objects[oi];
                let key = finding_key(&item.finding, &object.json);
                let same = root
                    .findings
                    .iter()
                    .any(|f| f.origin.item() == Some(oi) && finding_key(f, &rendered.json) == key);
                item.root = Some(root.root.label());
                item.source_file = source_file_of(root, oi);
                if same {
                    item.classification = Classification::SourceFix;
                } else {
                    item.classification = Classification::LiveDrift;
                    item.reason = Some(format!(
                        "the repository renders this field compliant ({}); the live object was \
                         changed outside Git",
                        root.root.label()
                    ));
                }
            }
        }
        items.push(item);
    }
    in_context(rules, roots, live, &mut items);
    items.sort_by(|a, b| {
        b.finding
            .severity
            .cmp(&a.finding.severity)
            .then_with(|| a.classification.cmp(&b.classification))
            .then_with(|| a.finding.object.cmp(&b.finding.object))
            .then_with(|| a.finding.rule.cmp(&b.finding.rule))
    });
    items
}

/// Rules that look at other objects (a namespace's policies, a binding's role) see the
/// rendered object alone differently than in the cluster. Before calling a finding drift,
/// the rendered object is put in its live twin's place (with the live namespace) and the
/// live inventory is evaluated once: a finding that appears there comes from the source.
fn in_context(rules: &RuleSet, roots: &[Root], live: &[Object], items: &mut [FixItem]) {
    let mut swapped: HashMap<ObjectRef, Value> = HashMap::new();
    for item in items.iter() {
        if item.classification != Classification::LiveDrift {
            continue;
        }
        let Some((ri, oi)) = item.matched else {
            continue;
        };
        let mut json = (*roots[ri].objects[oi].json).clone();
        if let (Some(ns), Some(meta)) = (
            &item.finding.object.namespace,
            json.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
        swapped.insert(item.finding.object.clone(), json);
    }
    if swapped.is_empty() {
        return;
    }
    let objects: Vec<Object> = live
        .iter()
        .map(|o| match swapped.get(&o.id) {
            Some(json) => Object {
                id: o.id.clone(),
                json: Arc::new(json.clone()),
                origin: o.origin.clone(),
            },
            None => o.clone(),
        })
        .collect();
    let findings = scan_objects(rules, &objects);
    let keys: std::collections::HashSet<(ObjectRef, String, String)> = findings
        .iter()
        .filter_map(|f| {
            let json = swapped.get(&f.object)?;
            Some((
                f.object.clone(),
                f.rule.to_string(),
                stable_pointer(json, &f.field),
            ))
        })
        .collect();
    for item in items.iter_mut() {
        if item.classification != Classification::LiveDrift {
            continue;
        }
        let Some(json) = swapped.get(&item.finding.object) else {
            continue;
        };
        let key = (
            item.finding.object.clone(),
            item.finding.rule.to_string(),
            stable_pointer(json, &item.finding.field),
        );
        if keys.contains(&key) {
            item.classification = Classification::SourceFix;
            item.reason = Some(
                "the source renders this too, once deployed with the objects around it (the \
                 rule looks beyond the object)"
                    .into(),
            );
        }
    }
}

/// Applies remediations of one file, in order, to its text (the YAML editor, or the template
/// editor for a chart template): the new text.
pub fn apply_remediations(text: &str, remediations: &[&Remediation]) -> Result<String, String> {
    verify::apply_all(text, remediations)
}

/// `Deployment shop/api` for messages.
pub fn describe(id: &ObjectRef) -> String {
    match &id.namespace {
        Some(ns) => format!("{} {ns}/{}", id.kind, id.name),
        None => format!("{} {}", id.kind, id.name),
    }
}

/// How many items have a given classification (for summaries).
pub(crate) fn count(items: &[FixItem], class: Classification) -> usize {
    items.iter().filter(|i| i.classification == class).count()
}
