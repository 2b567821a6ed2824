//! fix: which rendered object stands for a live one, which sites to try, and the edits for
//! each site. Sites come from `locate` (Kustomize patches and bases, plain documents, Helm
//! values by differential rendering); this file maps a finding's JSON Patch on the rendered
//! object to edits of the site's document.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::verify::Verifier;
use super::{FixItem, FixOptions, Match, Remediation, Root};
use crate::locate::helm::{HelmProbe, Target, ValuesLayer};
use crate::locate::tracking::{
    self, ChartSource, Deploy, DeployerKind, Tracking, is_deployer, same_repo,
};
use crate::locate::{EditSite, SiteKind, kustomize};
use crate::model::{Finding, Object, ObjectRef, escape_segment, lookup, pointer_segments};
use crate::patch::{DocEdit, EditOp, Seg};
use crate::source::render::Renderer;
use crate::source::repo::Repository;
use crate::source::{RenderRoot, RootKind};

/// The deployer object for `tracking`: the one in the repository's renders first (that is
/// what an edit changes), else the live one.
pub(crate) fn deployer_object<'a>(
    roots: &'a [Root],
    live: &'a [Object],
    tracking: &Tracking,
) -> Option<&'a Value> {
    roots
        .iter()
        .filter(|r| r.discovered)
        .flat_map(|r| r.objects.iter())
        .chain(live.iter())
        .map(|o| &*o.json)
        .find(|json| is_deployer(json, tracking))
}

/// A Flux GitRepository's URL and revision, from the renders or the live objects.
fn git_repositories(
    roots: &[Root],
    live: &[Object],
) -> HashMap<(String, String), (String, Option<String>)> {
    let mut out = HashMap::new();
    for o in live.iter().chain(
        roots
            .iter()
            .filter(|r| r.discovered)
            .flat_map(|r| r.objects.iter()),
    ) {
        if o.id.kind != "GitRepository" || !o.id.api_version.starts_with("source.toolkit.fluxcd.io")
        {
            continue;
        }
        let Some(url) = o.json.pointer("/spec/url").and_then(Value::as_str) else {
            continue;
        };
        let rev = ["branch", "tag", "semver", "commit", "name"]
            .iter()
            .find_map(|k| {
                o.json
                    .pointer(&format!("/spec/ref/{k}"))
                    .and_then(Value::as_str)
            })
            .map(str::to_owned);
        let ns =
            o.id.namespace
                .clone()
                .unwrap_or_else(|| "flux-system".into());
        out.entry((ns, o.id.name.clone()))
            .or_insert((url.to_owned(), rev));
    }
    out
}

/// Reads a deployer object into where its source is.
pub(crate) fn deploy_of(
    kind: DeployerKind,
    json: &Value,
    roots: &[Root],
    live: &[Object],
) -> Option<Deploy> {
    let repos = git_repositories(roots, live);
    let url = |ns: &str, name: &str| repos.get(&(ns.to_owned(), name.to_owned())).cloned();
    match kind {
        DeployerKind::ArgoApplication => tracking::argo_deploy(json),
        DeployerKind::FluxKustomization => tracking::flux_kustomization_deploy(json, &url),
        DeployerKind::FluxHelmRelease => tracking::flux_helmrelease_deploy(json, &url),
    }
}

/// The render root a deployer's source makes, or why there is none.
pub(crate) fn root_for_deploy(
    repo: &Repository,
    deploy: &Deploy,
    options_charts: &std::collections::BTreeMap<String, String>,
) -> Result<RenderRoot, String> {
    if let Some(helm) = &deploy.helm {
        let chart = match &helm.chart {
            ChartSource::Path { path } => path.clone(),
            ChartSource::Remote { name, repository } => match options_charts.get(name) {
                Some(path) => tracking::clean_path(path),
                None => {
                    return Err(format!(
                        "chart '{name}' comes from {repository}, not from this repository \
                         (map it to a folder with --chart {name}=DIR)"
                    ));
                }
            },
        };
        if repo.resolve(Path::new(&chart)).is_err() {
            return Err(format!("chart folder {chart} is not in the repository"));
        }
        let default_values = format!("{chart}/values.yaml");
        let values_files = helm
            .values_files
            .iter()
            .filter(|f| **f != default_values)
            .map(PathBuf::from)
            .collect();
        return Ok(RenderRoot {
            path: PathBuf::from(chart),
            kind: RootKind::Helm {
                release: helm.release.clone(),
                namespace: helm.namespace.clone(),
                values_files,
                inline_values: helm.inline.clone(),
            },
        });
    }
    let path = deploy.path.clone().unwrap_or_default();
    let dir = repo
        .resolve(Path::new(&path))
        .map_err(|e| format!("source path {path}: {e}"))?;
    let kustomize = crate::source::roots::kustomization_file(&dir).is_some();
    Ok(RenderRoot {
        path: PathBuf::from(path),
        kind: if kustomize {
            RootKind::Kustomize
        } else {
            RootKind::Plain
        },
    })
}

/// Render roots for the deployers that the live objects name.
pub(crate) fn deployer_roots(
    repo: &Repository,
    roots: &[Root],
    live: &[Object],
    options: &FixOptions,
    problems: &mut Vec<String>,
) -> Vec<(RenderRoot, (Tracking, Deploy))> {
    let trackings: BTreeSet<Tracking> = live
        .iter()
        .filter_map(|o| tracking::tracking_of(&o.json))
        .collect();
    let mut out = Vec::new();
    for t in trackings {
        let Some(json) = deployer_object(roots, live, &t) else {
            problems.push(format!(
                "{t} is named by live objects but is neither in the live input nor in the \
                 repository; its objects are matched by name"
            ));
            continue;
        };
        let Some(deploy) = deploy_of(t.kind, json, roots, live) else {
            problems.push(format!("{t}: its source could not be read"));
            continue;
        };
        // The repository was named by the user; its remote URL may differ from the one the
        // deployer names (a fork, a mirror, ssh against https, a local clone, a folder inside
        // another repository), so a different URL is not a reason to look away. The source
        // path must exist in it, which `root_for_deploy` checks.
        if let (Some(url), Some(ours)) = (&deploy.repo_url, &repo.url)
            && !same_repo(url, ours)
        {
            tracing::info!(deployer = %t, %url, ours = %ours, "deployer names another URL");
        }
        match root_for_deploy(repo, &deploy, &options.charts) {
            Ok(root) => out.push((root, (t, deploy))),
            Err(reason) => problems.push(format!("{t}: {reason}")),
        }
    }
    out
}

/// The namespace a rendered object lands in when its root deploys it.
fn landing_namespace<'a>(root: &'a Root, object: &'a Object) -> Option<&'a str> {
    let target = root
        .deployer
        .as_ref()
        .and_then(|(_, d)| d.target_namespace.as_deref());
    match (&root.deployer, target) {
        // Flux's targetNamespace overrides every object's namespace.
        (Some((t, _)), Some(ns)) if t.kind == DeployerKind::FluxKustomization => Some(ns),
        _ => object.id.namespace.as_deref().or(target),
    }
}

/// Whether a rendered object is the live one, by group, kind and name (with the prefix and
/// suffix the root's deployer adds).
fn same_identity(root: &Root, rendered: &ObjectRef, live: &ObjectRef) -> bool {
    let name_matches = match &root.deployer {
        Some((_, deploy)) => deploy.deployed_name(&rendered.name) == live.name,
        None => rendered.name == live.name,
    };
    name_matches && rendered.kind == live.kind && rendered.group() == live.group()
}

/// How many scalar leaves two objects share (same pointer, same value): the rendered object
/// most like the live one is its source when several roots render the same name.
fn likeness(a: &Value, b: &Value) -> usize {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .filter_map(|(k, v)| y.get(k).map(|w| likeness(v, w)))
            .sum(),
        (Value::Array(x), Value::Array(y)) => x.iter().zip(y).map(|(v, w)| likeness(v, w)).sum(),
        (x, y) => usize::from(x == y),
    }
}

/// The rendered object that produced `live`: within the roots its deployer renders when it
/// is tracked, else across all roots, by group, kind, name and namespace.
pub(crate) fn find_source(
    roots: &[Root],
    live: &Object,
    tracking: Option<&Tracking>,
) -> Option<Match> {
    let tracked: Vec<usize> = match tracking {
        Some(t) => roots
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.deployer.as_ref().is_some_and(|(d, _)| {
                    d.kind == t.kind
                        && d.name == t.name
                        && (d.namespace.is_none()
                            || t.namespace.is_none()
                            || d.namespace == t.namespace)
                })
            })
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    };
    let candidates: Vec<usize> = if tracked.is_empty() {
        (0..roots.len()).filter(|&i| roots[i].discovered).collect()
    } else {
        tracked
    };
    let live_ns = live.id.namespace.as_deref();
    let mut best: Option<(usize, Match)> = None;
    for ri in candidates {
        let root = &roots[ri];
        for (oi, o) in root.objects.iter().enumerate() {
            if !same_identity(root, &o.id, &live.id) {
                continue;
            }
            let ns = landing_namespace(root, o);
            if ns.is_some() && live_ns.is_some() && ns != live_ns {
                continue;
            }
            let score = likeness(&o.json, &live.json);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, (ri, oi)));
            }
        }
    }
    best.map(|(_, m)| m)
}

/// The rendered finding on a matched object that is the same problem as `live`.
pub(crate) fn rendered_finding<'a>(
    root: &'a Root,
    oi: usize,
    live: &Finding,
    live_json: Option<&Value>,
) -> Option<&'a Finding> {
    let object = &root.objects[oi];
    let key = match live_json {
        Some(json) => (
            live.rule.to_string(),
            crate::engine::eval::stable_pointer(json, &live.field),
        ),
        None => (
            live.rule.to_string(),
            crate::engine::eval::stable_pointer(&object.json, &live.field),
        ),
    };
    root.findings.iter().find(|f| {
        f.origin.item() == Some(oi)
            && (
                f.rule.to_string(),
                crate::engine::eval::stable_pointer(&object.json, &f.field),
            ) == key
    })
}

/// Edit sites for `field` of rendered object `oi` of root `ri`, most specific first.
pub(crate) struct Planner<'a> {
    pub repo: &'a Repository,
    pub renderer: &'a Renderer,
    pub roots: &'a [Root],
    pub live: &'a [Object],
    /// Per Helm root: its probe and the values file of each layer (read once per root).
    probes: HashMap<usize, (HelmProbe, Vec<Option<PathBuf>>)>,
}

impl<'a> Planner<'a> {
    pub fn new(
        repo: &'a Repository,
        renderer: &'a Renderer,
        roots: &'a [Root],
        live: &'a [Object],
    ) -> Self {
        Planner {
            repo,
            renderer,
            roots,
            live,
            probes: HashMap::new(),
        }
    }

    /// Renders done by Helm probes.
    pub fn probe_renders(&self) -> usize {
        self.probes.values().map(|(probe, _)| probe.renders()).sum()
    }

    /// Sites for a field of a rendered object, with notes on patches that could not be.
    pub fn sites(
        &mut self,
        ri: usize,
        oi: usize,
        field: &str,
    ) -> Result<(Vec<EditSite>, Vec<String>), String> {
        let root = &self.roots[ri];
        let rendered = root
            .rendered
            .as_ref()
            .map_err(|e| format!("the root does not render: {e}"))?;
        let object = rendered
            .objects
            .get(oi)
            .ok_or_else(|| "the rendered object is gone".to_owned())?;
        match &root.root.kind {
            RootKind::Plain => {
                let file = object
                    .file
                    .clone()
                    .ok_or_else(|| "the plain document has no file".to_owned())?;
                Ok((
                    vec![kustomize::plain_site(&file, object.document.unwrap_or(0))],
                    Vec::new(),
                ))
            }
            RootKind::Kustomize => {
                let origin = object.file.clone().ok_or_else(|| {
                    "kustomize gave no origin for this object (generated?)".to_owned()
                })?;
                let found = kustomize::sites(
                    &self.repo.root,
                    &root.root.path,
                    &object.json,
                    &origin,
                    field,
                )
                .map_err(|e| e.to_string())?;
                if found.sites.is_empty() {
                    let mut why = "no patch or base document writes this field".to_owned();
                    if !found.skipped.is_empty() {
                        why = found.skipped.join("; ");
                    }
                    return Err(why);
                }
                Ok((found.sites, found.skipped))
            }
            RootKind::Helm { .. } => self.helm_sites(ri, oi, field),
        }
    }

    fn helm_layers(&self, ri: usize) -> Result<(Vec<ValuesLayer>, Vec<Option<PathBuf>>), String> {
        let root = &self.roots[ri].root;
        let RootKind::Helm {
            values_files,
            inline_values,
            ..
        } = &root.kind
        else {
            return Err("not a chart".into());
        };
        let mut layers = Vec::new();
        let mut files = Vec::new();
        let default = root.path.join("values.yaml");
        let read = |file: &Path| -> Result<Value, String> {
            let path = self.repo.resolve(file).map_err(|e| e.to_string())?;
            if !path.is_file() {
                return Ok(Value::Object(Default::default()));
            }
            let text = fs_err::read_to_string(&path).map_err(|e| e.to_string())?;
            let value: Value =
                serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
            Ok(if value.is_null() {
                Value::Object(Default::default())
            } else {
                value
            })
        };
        layers.push(ValuesLayer {
            label: default.display().to_string(),
            values: read(&default)?,
        });
        files.push(Some(default.clone()));
        for f in values_files {
            layers.push(ValuesLayer {
                label: f.display().to_string(),
                values: read(f)?,
            });
            files.push(Some(f.clone()));
        }
        if let Some(inline) = inline_values {
            layers.push(ValuesLayer {
                label: "inline values".into(),
                values: inline.clone(),
            });
            files.push(None);
        }
        Ok((layers, files))
    }

    fn helm_sites(
        &mut self,
        ri: usize,
        oi: usize,
        field: &str,
    ) -> Result<(Vec<EditSite>, Vec<String>), String> {
        if !self.probes.contains_key(&ri) {
            let (layers, files) = self.helm_layers(ri)?;
            self.probes.insert(ri, (HelmProbe::new(layers), files));
        }
        let root = &self.roots[ri];
        let object = &root.objects[oi];
        let Some((probe, _)) = self.probes.get_mut(&ri) else {
            return Err("no Helm probe for the root".to_owned());
        };
        let renderer = self.renderer;
        let tree = self.repo.root.clone();
        let render_root = root.root.clone();
        let mut render = |extra: &[Value]| -> Result<Vec<Value>, String> {
            renderer
                .render_helm_with(&tree, &render_root, extra)
                .map_err(|e| e.to_string())
        };
        let target = Target {
            kind: &object.id.kind,
            namespace: object.id.namespace.as_deref(),
            name: &object.id.name,
        };
        let site = match probe.find_site(&mut render, &target, field) {
            Ok(site) => site,
            Err(no_site) => return self.template_site(ri, oi, no_site.reason),
        };
        // The key names the field; the site writes the values map at `rendered_base`.
        let below = pointer_segments(field.get(site.rendered_base.len()..).unwrap_or("")).len();
        let mut site = site;
        let keep = site.key.len().saturating_sub(below);
        site.key.truncate(keep);
        let in_repo = |p: &Path| {
            self.repo
                .resolve(p)
                .map(|abs| abs.is_file())
                .unwrap_or(false)
        };
        // A chart from a Helm repository (mapped to a local copy with --chart) is not the
        // user's to edit: its values files are not sites, the deployer's values are.
        let remote_chart = root.deployer.as_ref().is_some_and(|(_, d)| {
            d.helm
                .as_ref()
                .is_some_and(|h| matches!(h.chart, ChartSource::Remote { .. }))
        });
        let file = self
            .probes
            .get(&ri)
            .and_then(|(_, files)| files.get(site.layer))
            .cloned()
            .flatten()
            .filter(|_| !remote_chart);
        match file {
            Some(file) if in_repo(&file) => Ok((
                vec![EditSite {
                    kind: SiteKind::HelmValues,
                    file,
                    document: 0,
                    rendered_base: site.rendered_base,
                    base: site.key,
                }],
                Vec::new(),
            )),
            _ => self.inline_site(ri, &site.key, &site.rendered_base),
        }
    }

    /// When no values key reaches the field, the chart's template writes it: the template
    /// file is the site, if the chart is the repository's own.
    fn template_site(
        &self,
        ri: usize,
        oi: usize,
        why: String,
    ) -> Result<(Vec<EditSite>, Vec<String>), String> {
        let root = &self.roots[ri];
        let remote = root.deployer.as_ref().is_some_and(|(_, d)| {
            d.helm
                .as_ref()
                .is_some_and(|h| matches!(h.chart, ChartSource::Remote { .. }))
        });
        let file = root
            .rendered
            .as_ref()
            .ok()
            .and_then(|r| r.objects.get(oi))
            .and_then(|o| o.file.clone());
        match file {
            Some(file) if !remote && self.repo.resolve(&file).is_ok_and(|p| p.is_file()) => Ok((
                vec![EditSite {
                    kind: SiteKind::HelmTemplate,
                    file,
                    document: 0,
                    rendered_base: String::new(),
                    base: Vec::new(),
                }],
                vec![format!("no values key: {why}")],
            )),
            _ => Err(format!(
                "{why}; the template is not in the repository (a HelmRelease postRenderer \
                 patch, or a fork of the chart, would be needed)"
            )),
        }
    }

    /// The site of a values key inside the deployer object (HelmRelease `spec.values`,
    /// Application `valuesObject`) as written in the repository.
    fn inline_site(
        &mut self,
        ri: usize,
        key: &[Seg],
        rendered_base: &str,
    ) -> Result<(Vec<EditSite>, Vec<String>), String> {
        let Some((tracking, deploy)) = self.roots[ri].deployer.clone() else {
            return Err("the values key is not in a file of the repository".into());
        };
        let helm = deploy.helm.as_ref().ok_or("not a Helm deployer")?;
        let Some(pointer) = &helm.inline_pointer else {
            return Err(format!(
                "the values come from {tracking}'s inline values, which redress cannot edit: {}",
                helm.notes.join("; ")
            ));
        };
        // The deployer object as the repository renders it.
        let mut found = None;
        for (rj, r) in self.roots.iter().enumerate() {
            if !r.discovered {
                continue;
            }
            if let Some(oj) = r
                .objects
                .iter()
                .position(|o| is_deployer(&o.json, &tracking))
            {
                found = Some((rj, oj));
                break;
            }
        }
        let Some((rj, oj)) = found else {
            return Err(format!(
                "{tracking} sets these values but is not in the repository"
            ));
        };
        let mut full = pointer.clone();
        for seg in key {
            full.push('/');
            full.push_str(&escape_segment(&seg.to_string()));
        }
        let (sites, notes) = self.sites(rj, oj, &full)?;
        let kind = match tracking.kind {
            DeployerKind::ArgoApplication => SiteKind::ArgoHelmValues,
            _ => SiteKind::FluxHelmReleaseValues,
        };
        let sites = sites
            .into_iter()
            .filter(|s| {
                full == s.rendered_base
                    || full.starts_with(&format!("{}/", s.rendered_base))
                    || s.rendered_base.is_empty()
            })
            .map(|s| {
                let mut base = s.base.clone();
                base.extend(
                    pointer_segments(&full[s.rendered_base.len()..])
                        .into_iter()
                        .map(Seg::Key),
                );
                EditSite {
                    kind,
                    file: s.file,
                    document: s.document,
                    rendered_base: rendered_base.to_owned(),
                    base,
                }
            })
            .collect();
        Ok((sites, notes))
    }
}

/// The edits that make `ops` (a finding's fix, JSON Patch on the rendered object `json`) at
/// `site`. Operations that only create parents are dropped: the editor creates parents.
pub(crate) fn edits_for(
    site: &EditSite,
    ops: &[Value],
    json: &Value,
) -> Result<Vec<DocEdit>, String> {
    let text = |op: &Value, k: &str| op.get(k).and_then(Value::as_str).map(str::to_owned);
    let paths: Vec<String> = ops.iter().filter_map(|op| text(op, "path")).collect();
    let mut edits = Vec::new();
    for op in ops {
        let kind = text(op, "op").unwrap_or_default();
        let path = text(op, "path").unwrap_or_default();
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        let creates_parent = kind == "add"
            && (value == Value::Object(Default::default()) || value == Value::Array(Vec::new()))
            && paths.iter().any(|p| p.starts_with(&format!("{path}/")));
        if creates_parent {
            continue;
        }
        let base = &site.rendered_base;
        let rest = if path == *base {
            ""
        } else if base.is_empty() || path.starts_with(&format!("{base}/")) {
            &path[base.len()..]
        } else {
            return Err(format!(
                "the fix changes {path}, outside what this site writes ({base})"
            ));
        };
        let mut current = lookup(json, base);
        let mut target = site.base.clone();
        let segments = pointer_segments(rest);
        let mut append = false;
        for (i, seg) in segments.iter().enumerate() {
            if seg == "-" && i + 1 == segments.len() {
                append = true;
                continue;
            }
            match current {
                Some(Value::Array(items)) => {
                    let index: usize = seg
                        .parse()
                        .map_err(|_| format!("{path}: '{seg}' is not a list index"))?;
                    current = items.get(index);
                    target.push(Seg::Index(index));
                }
                Some(Value::Object(map)) => {
                    current = map.get(seg);
                    target.push(Seg::Key(seg.clone()));
                }
                _ => {
                    current = None;
                    target.push(Seg::Key(seg.clone()));
                }
            }
        }
        let edit = match (kind.as_str(), append) {
            ("remove", _) => EditOp::Remove { path: target },
            ("add", true) => EditOp::Append {
                path: target,
                value,
            },
            ("add" | "replace", false) => EditOp::Set {
                path: target,
                value,
            },
            (other, _) => return Err(format!("fix operation '{other}' is not supported")),
        };
        edits.push(DocEdit {
            document: site.document,
            op: edit,
        });
    }
    if edits.is_empty() {
        return Err("the fix has no operation to write".into());
    }
    Ok(edits)
}

/// Locates, edits and verifies item `i`.
pub(crate) fn remediate(
    items: &mut [FixItem],
    i: usize,
    planner: &mut Planner<'_>,
    verifier: &mut Verifier<'_>,
    done: &mut HashMap<String, usize>,
) {
    if items[i].finding.fix.is_none() {
        items[i].reason = Some(format!(
            "rule {} has no automatic fix",
            items[i].finding.rule
        ));
        return;
    }
    let Some((ri, oi)) = items[i].matched else {
        items[i].reason = Some("no rendered object to edit".into());
        return;
    };
    let roots = planner.roots;
    let live_json = items[i].live_json.clone();
    let Some(finding) =
        rendered_finding(&roots[ri], oi, &items[i].finding, live_json.as_deref()).cloned()
    else {
        items[i].reason = Some("the rendered object does not show this finding".into());
        return;
    };
    let Some(ops) = finding.fix.clone() else {
        items[i].reason = Some(format!("rule {} has no automatic fix", finding.rule));
        return;
    };
    let (sites, notes) = match planner.sites(ri, oi, &finding.field) {
        Ok(found) => found,
        Err(reason) => {
            items[i].reason = Some(format!("no edit site: {reason}"));
            return;
        }
    };
    items[i].rejected.extend(notes);
    let json = roots[ri].objects[oi].json.clone();
    for site in sites {
        let edits = match edits_for(&site, &ops, &json) {
            Ok(e) => e,
            Err(reason) => {
                items[i]
                    .rejected
                    .push(format!("{}: {reason}", site_label(&site)));
                continue;
            }
        };
        let key = format!(
            "{}\u{0}{}",
            site.file.display(),
            serde_json::to_string(&edits).unwrap_or_default()
        );
        if let Some(&first) = done.get(&key)
            && let Some(mut r) = items[first].remediation.clone()
        {
            // Seen from this finding, the first one's object is the blast radius, and this
            // one's own object is not.
            let own = crate::fix::describe(&items[i].finding.object);
            r.blast_radius
                .retain(|b| !b.ends_with(&own) && !b.contains(&format!("{own} (")));
            r.blast_radius.insert(
                0,
                format!(
                    "{}: {} (fixed the same way)",
                    items[first].root.as_deref().unwrap_or("?"),
                    crate::fix::describe(&items[first].finding.object)
                ),
            );
            r.same_as = Some(first);
            items[i].remediation = Some(r);
            return;
        }
        let result: Remediation = verifier.verify(planner, (ri, oi), &finding, &site, edits);
        if result.verified {
            done.insert(key, i);
            items[i].remediation = Some(result);
            return;
        }
        items[i]
            .rejected
            .push(format!("{}: {}", site_label(&site), result.verification));
    }
    items[i].reason = Some(if items[i].rejected.is_empty() {
        "no edit site found".into()
    } else {
        "no candidate edit verified".into()
    });
}

/// `file (kind)` for messages.
pub(crate) fn site_label(site: &EditSite) -> String {
    format!("{} ({})", site.file.display(), site.kind.as_str())
}
