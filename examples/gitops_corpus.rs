//! Measures `redress fix` on real GitOps repositories: a measurement, not a gate.
//!
//! For each repository given, in a scratch copy (the repository is never written):
//! 1. discover and render every root, as `redress fix` does;
//! 2. build a live view from the renders, as Argo CD would deploy them: one Application per
//!    root (Helm roots into a namespace of their own), objects given their namespace and the
//!    `argocd.argoproj.io/tracking-id` annotation; Flux HelmReleases found in the renders are
//!    deployed too, their objects labelled `helm.toolkit.fluxcd.io/*`. A chart that a
//!    HelmRelease takes from a Helm repository cannot be fetched offline: `--vendor-chart
//!    NAME=DIR` copies a local copy of it into the scratch copy and maps it with `--chart`;
//! 3. scan the live view, run `redress fix` against it, and count: findings, findings with an
//!    automatic fix, how many were located, how many got a verified edit and at which kind of
//!    site, why the rest did not, and whether every edited file keeps all its comments (all
//!    verified edits of a file applied together).
//!
//! ```text
//! cargo run --release --example gitops_corpus -- \
//!   ../shared/corpus/gitops/podinfo ../shared/corpus/gitops/flux2-kustomize-helm-example \
//!   --vendor-chart podinfo=../shared/corpus/gitops/podinfo/charts/podinfo \
//!   -o docs/gitops-corpus.md
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Parser;
use redress::engine::RuleSet;
use redress::engine::exceptions::Exceptions;
use redress::fix::{Classification, FixOptions, FixReport};
use redress::inventory::Inventory;
use redress::locate::tracking::{self, ChartSource};
use redress::model::{Object, Origin};
use redress::scan::{ScanOptions, scan};
use redress::source::render::{Renderer, Tools};
use redress::source::repo::Repository;
use redress::source::{RenderRoot, RootKind};
use serde_json::{Value, json};

/// Measures `redress fix` on GitOps repositories and writes a Markdown report.
#[derive(Debug, Parser)]
#[command(name = "gitops_corpus")]
struct Args {
    /// Repository folders.
    #[arg(value_name = "REPO", required = true)]
    repos: Vec<PathBuf>,
    /// A chart a HelmRelease takes from a Helm repository, as a local folder (NAME=DIR).
    #[arg(long, value_name = "NAME=DIR")]
    vendor_chart: Vec<String>,
    /// Where to write the report (standard output when absent).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Kinds that have no namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "StorageClass",
    "PriorityClass",
    "PersistentVolume",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ClusterIssuer",
    "GatewayClass",
    "APIService",
    "IngressClass",
    "RuntimeClass",
];

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in walkdir::WalkDir::new(from)
        .into_iter()
        .filter_entry(|e| e.file_name() != ".git")
    {
        let entry = entry?;
        let rel = entry.path().strip_prefix(from)?;
        let dest = to.join(rel);
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&dest)?;
        } else if entry.file_type().is_file() {
            fs_err::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

/// Comments of a YAML text: the text from each `#` that starts a comment (at the start of a
/// line or after a blank, outside quotes) to the end of its line.
fn comments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (i, c) in line.char_indices() {
            match (quote, c) {
                (None, '\'' | '"') if prev == ' ' || prev == ':' || prev == '[' => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '#') if prev.is_whitespace() || i == 0 => {
                    out.push(line[i..].trim_end().to_owned());
                    break;
                }
                _ => {}
            }
            prev = c;
        }
    }
    out.sort();
    out
}

fn slug(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').chars().take(40).collect()
}

/// Gives an object its namespace and tracking metadata, as the deployer would.
fn deployed(mut json: Value, namespace: &str, track: &dyn Fn(&Value) -> Value) -> Value {
    let kind = json
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if !CLUSTER_SCOPED.contains(&kind.as_str())
        && json.pointer("/metadata/namespace").is_none()
        && let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("namespace".into(), json!(namespace));
    }
    let extra = track(&json);
    if let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut) {
        for (field, values) in extra.as_object().into_iter().flatten() {
            let slot = meta.entry(field.clone()).or_insert_with(|| json!({}));
            if !slot.is_object() {
                *slot = json!({});
            }
            if let (Some(slot), Some(values)) = (slot.as_object_mut(), values.as_object()) {
                for (k, v) in values {
                    slot.insert(k.clone(), v.clone());
                }
            }
        }
    }
    json
}

fn group_of(json: &Value) -> String {
    let api = json.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    api.rsplit_once('/')
        .map(|(g, _)| g.to_owned())
        .unwrap_or_default()
}

struct Measured {
    name: String,
    report: FixReport,
    live_objects: usize,
    shadowed: usize,
    fixable: usize,
    seconds: f64,
    comments_kept: Vec<(String, usize, usize)>,
    vendored: Vec<String>,
}

fn measure(
    repo_dir: &Path,
    vendor: &BTreeMap<String, PathBuf>,
    rules: &RuleSet,
) -> anyhow::Result<Measured> {
    let name = repo_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scratch = tempfile::tempdir()?;
    let work = scratch.path().join(&name);
    copy_tree(repo_dir, &work).with_context(|| format!("copying {}", repo_dir.display()))?;
    let repo = Repository::open(&work.display().to_string(), None, scratch.path())?;
    let renderer = Renderer::new(Tools::find());
    let (roots, _) = redress::source::roots::discover(&repo);

    let mut live: BTreeMap<(String, String, String, String), Value> = BTreeMap::new();
    let mut shadowed = 0;
    let mut add = |json: Value, live: &mut BTreeMap<_, _>| {
        let key = (
            group_of(&json),
            json.get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            json.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            json.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        );
        if live.insert(key, json).is_some() {
            shadowed += 1;
        }
    };
    let mut rendered_objects = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let app = format!("corpus-{i}-{}", slug(&root.path.display().to_string()));
        let (namespace, deploy_root, helm) = match &root.kind {
            RootKind::Helm {
                release,
                values_files,
                ..
            } => {
                let ns = format!("{}-{i}", slug(release));
                let mut r = root.clone();
                if let RootKind::Helm { namespace, .. } = &mut r.kind {
                    *namespace = Some(ns.clone());
                }
                let files: Vec<String> = values_files
                    .iter()
                    .filter_map(|f| f.strip_prefix(&root.path).ok())
                    .map(|f| f.display().to_string())
                    .collect();
                (
                    ns,
                    r,
                    Some(json!({"releaseName": release, "valueFiles": files})),
                )
            }
            _ => ("default".to_owned(), root.clone(), None),
        };
        let Ok(rendered) = renderer.render(&repo.root, &deploy_root) else {
            continue;
        };
        let mut source = json!({"repoURL": "https://corpus.invalid/repo.git", "path": root.path.display().to_string(), "targetRevision": "HEAD"});
        if let Some(h) = helm {
            source["helm"] = h;
        }
        add(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                   "metadata": {"name": app, "namespace": "argocd"},
                   "spec": {"source": source, "destination": {"namespace": namespace}}}),
            &mut live,
        );
        for o in &rendered.objects {
            let track = |json: &Value| {
                let kind = json.get("kind").and_then(Value::as_str).unwrap_or("");
                let ns = json
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let name = json
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                json!({"annotations": {tracking::ARGO_TRACKING_ID: format!("{app}:{}/{kind}:{ns}/{name}", group_of(json))}})
            };
            let json = deployed(o.json.clone(), &namespace, &track);
            rendered_objects.push(json.clone());
            add(json, &mut live);
        }
    }
    // Flux HelmReleases in the renders deploy their charts.
    let mut charts = BTreeMap::new();
    let mut vendored = Vec::new();
    for hr in rendered_objects
        .iter()
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("HelmRelease"))
    {
        let Some(deploy) = tracking::flux_helmrelease_deploy(hr, &|_, _| None) else {
            continue;
        };
        let Some(helm) = &deploy.helm else { continue };
        let chart_path = match &helm.chart {
            ChartSource::Path { path } => path.clone(),
            ChartSource::Remote { name, .. } => match vendor.get(name) {
                Some(dir) => {
                    let rel = format!(".vendored-charts/{name}");
                    if !work.join(&rel).exists() {
                        copy_tree(dir, &work.join(&rel))?;
                        vendored.push(format!("{name} from {}", dir.display()));
                    }
                    charts.insert(name.clone(), rel.clone());
                    rel
                }
                None => continue,
            },
        };
        let root = RenderRoot {
            path: PathBuf::from(&chart_path),
            kind: RootKind::Helm {
                release: helm.release.clone(),
                namespace: helm.namespace.clone(),
                values_files: helm.values_files.iter().map(PathBuf::from).collect(),
                inline_values: helm.inline.clone(),
            },
        };
        let Ok(rendered) = renderer.render(&repo.root, &root) else {
            continue;
        };
        let hr_name = hr
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let hr_ns = hr
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ns = helm.namespace.clone().unwrap_or_else(|| hr_ns.to_owned());
        for o in &rendered.objects {
            let track = |_: &Value| {
                json!({"labels": {"helm.toolkit.fluxcd.io/name": hr_name,
                                  "helm.toolkit.fluxcd.io/namespace": hr_ns}})
            };
            add(deployed(o.json.clone(), &ns, &track), &mut live);
        }
    }
    let objects: Vec<Object> = live
        .into_values()
        .filter_map(|json| {
            Object::from_json(
                json,
                Origin::Cluster {
                    context: "corpus-live-view".into(),
                },
            )
        })
        .collect();
    let live_objects = objects.len();
    let inventory = Inventory {
        objects: objects.clone(),
        ..Inventory::default()
    };
    let scanned = scan(
        rules,
        inventory,
        &Exceptions::default(),
        &ScanOptions::default(),
    );
    let fixable = scanned.findings.iter().filter(|f| f.fix.is_some()).count();
    let options = FixOptions {
        repo: repo.root.display().to_string(),
        charts,
        ..FixOptions::default()
    };
    let renderer = Renderer::new(Tools::find());
    let started = Instant::now();
    let live_inventory = Inventory {
        objects,
        ..Inventory::default()
    };
    let report = redress::fix::run(
        rules,
        &options,
        Some(live_inventory),
        scanned.findings,
        &renderer,
    )?;
    let seconds = started.elapsed().as_secs_f64();
    // Every verified edit of a file, applied together: are all comments still there?
    let mut by_file: BTreeMap<PathBuf, Vec<_>> = BTreeMap::new();
    for item in &report.items {
        if let Some(r) = &item.remediation
            && r.verified
            && r.same_as.is_none()
        {
            by_file.entry(r.site.file.clone()).or_default().push(r);
        }
    }
    let mut comments_kept = Vec::new();
    for (file, edits) in by_file {
        let original = fs_err::read_to_string(repo.root.join(&file))?;
        let text =
            redress::fix::apply_remediations(&original, &edits).map_err(anyhow::Error::msg)?;
        let before = comments(&original);
        let after = comments(&text);
        let kept = before.iter().filter(|c| after.contains(c)).count();
        comments_kept.push((file.display().to_string(), before.len(), kept));
    }
    Ok(Measured {
        name,
        report,
        live_objects,
        shadowed,
        fixable,
        seconds,
        comments_kept,
        vendored,
    })
}

fn write_report(out: &mut String, m: &Measured) {
    let r = &m.report;
    let items = &r.items;
    let _ = writeln!(out, "## {}\n", m.name);
    let failed: Vec<_> = r.roots.iter().filter(|x| x.objects.is_none()).collect();
    let _ = writeln!(
        out,
        "- Render roots: {} ({} failed). Live view: {} objects ({} shadowed by a later root with the same identity).",
        r.roots.len(),
        failed.len(),
        m.live_objects,
        m.shadowed
    );
    for v in &m.vendored {
        let _ = writeln!(out, "- Chart vendored into the scratch copy: {v}.");
    }
    let mut classes = BTreeMap::new();
    for i in items {
        *classes.entry(i.classification.as_str()).or_insert(0) += 1;
    }
    let _ = writeln!(
        out,
        "- Open findings on the live view: {} ({}).",
        items.len(),
        classes
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let drift: Vec<_> = items
        .iter()
        .filter(|i| i.classification == Classification::LiveDrift)
        .collect();
    if !drift.is_empty() {
        let _ = writeln!(
            out,
            "- Live drift in a view built from the renders (each one is a finding the live view has and the matched render does not):"
        );
        for i in drift {
            let _ = writeln!(
                out,
                "  - {} on {} (matched in {})",
                i.finding.rule,
                redress::fix::describe(&i.finding.object),
                i.root.as_deref().unwrap_or("?")
            );
        }
    }
    let with_fix: Vec<_> = items.iter().filter(|i| i.finding.fix.is_some()).collect();
    let located = with_fix
        .iter()
        .filter(|i| i.classification == Classification::SourceFix)
        .count();
    let verified: Vec<_> = with_fix
        .iter()
        .filter(|i| i.remediation.as_ref().is_some_and(|r| r.verified))
        .collect();
    let _ = writeln!(
        out,
        "- Findings with an automatic fix: {} (the scan counted {}); located in Git: {located}; with a verified edit: **{}** ({:.1}%).",
        with_fix.len(),
        m.fixable,
        verified.len(),
        if with_fix.is_empty() {
            100.0
        } else {
            100.0 * verified.len() as f64 / with_fix.len() as f64
        }
    );
    let mut kinds: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for i in &verified {
        if let Some(rem) = &i.remediation {
            let e = kinds.entry(rem.site.kind.as_str()).or_default();
            e.0 += 1;
            if rem.same_as.is_none() {
                e.1 += 1;
            }
        }
    }
    let _ = writeln!(
        out,
        "\n| Edit site kind | Findings | Distinct edits |\n|---|---:|---:|"
    );
    for (k, (n, d)) in &kinds {
        let _ = writeln!(out, "| {k} | {n} | {d} |");
    }
    let mut why: BTreeMap<String, usize> = BTreeMap::new();
    for i in &with_fix {
        if i.remediation.as_ref().is_some_and(|r| r.verified) {
            continue;
        }
        let mut reason = i
            .reason
            .clone()
            .unwrap_or_else(|| i.classification.as_str().to_owned());
        if let Some(first) = i.rejected.first() {
            reason = format!("{reason} — {first}");
        }
        *why.entry(reason).or_default() += 1;
    }
    if !why.is_empty() {
        let _ = writeln!(out, "\nWhy the rest have no verified edit:\n");
        for (reason, n) in &why {
            let _ = writeln!(out, "- {n} × {reason}");
        }
    }
    let files = m.comments_kept.len();
    let all_kept = m.comments_kept.iter().all(|(_, b, k)| b == k);
    let total: usize = m.comments_kept.iter().map(|(_, b, _)| b).sum();
    let kept: usize = m.comments_kept.iter().map(|(_, _, k)| k).sum();
    let _ = writeln!(
        out,
        "\nEdited files: {files}; comments before {total}, kept {kept}{}.",
        if all_kept {
            " (every file keeps all its comments)"
        } else {
            ""
        }
    );
    for (f, b, k) in &m.comments_kept {
        if b != k {
            let _ = writeln!(out, "- {f}: {k} of {b} comments kept");
        }
    }
    let distinct = verified
        .iter()
        .filter(|i| i.remediation.as_ref().is_some_and(|r| r.same_as.is_none()))
        .count();
    let _ = writeln!(
        out,
        "\nCost: `redress fix` took {:.1} s for {} findings ({} distinct verified edits). Renders: {} in all: {} of the roots (reused by every finding of a root), {} Helm probes (shared by every finding of a chart), {} of edited scratch copies to verify; {} answered from the content cache; {:.1} s of render time summed over parallel renders. {:.2} s per finding with a fix.\n",
        m.seconds,
        items.len(),
        distinct,
        r.renders.renders,
        r.renders.baseline,
        r.renders.probes,
        r.renders.verification,
        r.renders.cache_hits,
        r.renders.seconds,
        if with_fix.is_empty() {
            0.0
        } else {
            m.seconds / with_fix.len() as f64
        }
    );
    if !failed.is_empty() || !r.problems.is_empty() {
        let _ = writeln!(out, "Problems reported (the run went on):\n");
        for p in r.problems.iter().take(20) {
            let _ = writeln!(out, "- {}", p.replace('\n', " "));
        }
        out.push('\n');
    }
    let mut seen = BTreeSet::new();
    let _ = writeln!(out, "One verified edit of each site kind:\n");
    for i in &verified {
        let Some(rem) = &i.remediation else { continue };
        if rem.same_as.is_some() || !seen.insert(rem.site.kind.as_str()) {
            continue;
        }
        let _ = writeln!(
            out,
            "{} on {} ({}):\n\n```diff\n{}```\n",
            i.finding.rule,
            redress::fix::describe(&i.finding.object),
            rem.site.kind.as_str(),
            rem.diff
        );
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    let rules = RuleSet::load(None, None)?;
    let mut vendor = BTreeMap::new();
    for v in &args.vendor_chart {
        let Some((name, dir)) = v.split_once('=') else {
            bail!("--vendor-chart {v}: expected NAME=DIR");
        };
        vendor.insert(name.to_owned(), fs_err::canonicalize(dir)?);
    }
    let mut out = String::from(
        "# redress fix on real GitOps repositories\n\nGenerated by `cargo run --release --example gitops_corpus` (see the file's header). Each repository is copied to a scratch folder, rendered, deployed into a live view as Argo CD (and Flux, for HelmReleases) would, and `redress fix` runs against that view. A measurement, not a gate.\n\n",
    );
    for repo in &args.repos {
        let m = measure(repo, &vendor, &rules).with_context(|| repo.display().to_string())?;
        eprintln!("{}: {}", m.name, redress::fix::report::summary(&m.report));
        write_report(&mut out, &m);
    }
    match &args.output {
        Some(path) => fs_err::write(path, out)?,
        None => print!("{out}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
