//! source, render roots: finds what in a repository renders to Kubernetes objects.
//!
//! Takes an opened [`Repository`] and gives its render roots, sorted: every Helm chart (once
//! with its own `values.yaml`, and once per extra values file beside it), every Kustomize
//! folder that no other kustomization uses, and every folder of plain manifests that no
//! kustomization uses whole. Also gives the problems met on the way (a kustomization that does
//! not parse, a reference that leaves the repository, a remote reference, a symlink that
//! leaves the repository), and goes on after each. It reads files and runs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::repo::{Repository, normalize, walk};
use super::{RenderRoot, RootKind};
use crate::inventory::files;

/// File names that make a folder a Kustomize folder, in the order kustomize looks for them.
pub const KUSTOMIZATION_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The kustomization file in `dir`, if it has one.
pub fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// What a kustomization file refers to, as written in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KustomizationRefs {
    /// Files and folders relative to the kustomization's folder.
    pub local: Vec<String>,
    /// Remote references (URLs): never followed.
    pub remote: Vec<String>,
}

/// Reads the references of the kustomization `text`: resources, bases, components, patch
/// files, generator files, CRDs, configurations, transformer/generator/validator files,
/// replacements and the OpenAPI schema. On a parse error gives the message and its line.
pub fn parse_kustomization(text: &str) -> Result<KustomizationRefs, (String, Option<usize>)> {
    let value = files::parse_yaml_document(text, files::Limits::default())?;
    let mut refs = KustomizationRefs::default();
    let mut add = |entry: &str| {
        let entry = entry.trim();
        // Inline YAML (a patch or transformer written in place) is not a reference.
        if entry.is_empty() || entry.contains('\n') || entry.contains(": ") {
            return;
        }
        if is_remote(entry) {
            refs.remote.push(entry.to_owned());
        } else {
            refs.local.push(entry.to_owned());
        }
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    for key in [
        "resources",
        "bases",
        "components",
        "crds",
        "configurations",
        "patchesStrategicMerge",
        "transformers",
        "generators",
        "validators",
    ] {
        for entry in strings(value.get(key)) {
            add(&entry);
        }
    }
    for key in ["patches", "patchesJson6902", "replacements"] {
        for item in value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = item.get("path").and_then(Value::as_str) {
                add(path);
            }
        }
    }
    for key in ["configMapGenerator", "secretGenerator"] {
        for item in value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for entry in strings(item.get("files")) {
                // `key=path` names the data key; the file is after the `=`.
                let path = entry.split_once('=').map_or(entry.as_str(), |(_, p)| p);
                add(path);
            }
            for entry in strings(item.get("envs")) {
                add(&entry);
            }
            if let Some(env) = item.get("env").and_then(Value::as_str) {
                add(env);
            }
        }
    }
    if let Some(path) = value.pointer("/openapi/path").and_then(Value::as_str) {
        add(path);
    }
    Ok(refs)
}

/// Whether a kustomization entry names a remote repository or URL rather than a local path.
pub fn is_remote(entry: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "github.com/",
        "gitlab.com/",
        "bitbucket.org/",
        "git@",
        "git::",
        "ssh:",
        "gh:",
    ];
    entry.contains("://")
        || PREFIXES.iter().any(|p| entry.starts_with(p))
        || entry.contains("?ref=")
        || entry.contains(".git//")
}

/// Names of extra Helm values files: `values-*.yaml`, `values.*.yaml`, `*.values.yaml`,
/// `*-values.yaml` (and `.yml`), but not `values.yaml` nor the schema.
pub fn is_values_file(name: &str) -> bool {
    let Some(stem) = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"))
    else {
        return false;
    };
    if stem == "values" || stem.starts_with("values.schema") {
        return false;
    }
    (stem.starts_with("values-") && stem.len() > 7)
        || (stem.starts_with("values.") && stem.len() > 7)
        || (stem.ends_with(".values") && stem.len() > 7)
        || (stem.ends_with("-values") && stem.len() > 7)
}

/// Finds the render roots of `repo`, sorted by path, with the problems met on the way.
pub fn discover(repo: &Repository) -> (Vec<RenderRoot>, Vec<String>) {
    let root = &repo.root;
    let (entries, mut problems) = walk(root, root, true);
    // The canonical repository-relative path, as references are resolved: a folder the walk
    // reached through a symlink inside the repository is the folder it points to.
    let canonical_rel = |path: &Path| {
        std::fs::canonicalize(path)
            .ok()
            .and_then(|abs| abs.strip_prefix(root).ok().map(Path::to_path_buf))
    };
    // Folder (canonical, repository-relative) -> its files (as reached).
    let mut dirs: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    dirs.insert(PathBuf::new(), Vec::new());
    for entry in &entries {
        if entry.is_dir {
            if let Some(rel) = canonical_rel(&entry.path) {
                dirs.entry(rel).or_default();
            }
        } else if let Some(parent) = entry.path.parent().and_then(canonical_rel) {
            dirs.entry(parent).or_default().push(entry.path.clone());
        }
    }
    let has_file = |files: &[PathBuf], name: &str| {
        files
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == name))
    };
    let charts: Vec<PathBuf> = dirs
        .iter()
        .filter(|(_, files)| has_file(files, "Chart.yaml"))
        .map(|(dir, _)| dir.clone())
        .collect();
    let in_chart = |dir: &Path| charts.iter().any(|c| dir.starts_with(c));

    let mut roots = Vec::new();
    for chart in charts
        .iter()
        .filter(|c| !charts.iter().any(|o| o != *c && c.starts_with(o)))
    {
        roots.extend(helm_roots(repo, chart, &dirs[chart], &mut problems));
    }

    // Kustomize folders and what they reference.
    let mut kustomize_dirs = BTreeSet::new();
    let mut referenced_dirs = BTreeSet::new();
    let mut referenced_files = BTreeSet::new();
    for dir in dirs.keys().filter(|d| !in_chart(d)) {
        let abs = root.join(dir);
        let Some(file) = kustomization_file(&abs) else {
            continue;
        };
        kustomize_dirs.insert(dir.clone());
        let rel_file = dir.join(file.file_name().unwrap_or_default());
        let text = match fs_err::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                problems.push(format!("{}: {error}", rel_file.display()));
                continue;
            }
        };
        let refs = match parse_kustomization(&text) {
            Ok(refs) => refs,
            Err((message, line)) => {
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                problems.push(format!(
                    "{}{at}: kustomization does not parse: {message}",
                    rel_file.display()
                ));
                continue;
            }
        };
        for remote in &refs.remote {
            problems.push(format!(
                "{}: remote reference {remote} not followed",
                rel_file.display()
            ));
        }
        for local in &refs.local {
            let target = normalize(&abs.join(local));
            let resolved = match std::fs::canonicalize(&target) {
                Ok(path) => path,
                Err(_) => {
                    problems.push(format!(
                        "{}: references {local}, which does not exist",
                        rel_file.display()
                    ));
                    continue;
                }
            };
            let Some(rel) = resolved
                .strip_prefix(root)
                .ok()
                .filter(|_| target.starts_with(root))
            else {
                problems.push(format!(
                    "{}: references {local}, which leaves the repository; not followed",
                    rel_file.display()
                ));
                continue;
            };
            if resolved.is_dir() {
                referenced_dirs.insert(rel.to_path_buf());
            } else {
                referenced_files.insert(rel.to_path_buf());
            }
        }
    }
    for dir in &kustomize_dirs {
        if !referenced_dirs.contains(dir) {
            roots.push(RenderRoot {
                path: dir.clone(),
                kind: RootKind::Kustomize,
            });
        }
    }

    // Plain folders: Kubernetes files that no kustomization takes in whole.
    for (dir, dir_files) in &dirs {
        if in_chart(dir) || kustomize_dirs.contains(dir) {
            continue;
        }
        let kube_files: Vec<PathBuf> = dir_files
            .iter()
            .filter(|f| crate::inventory::files::is_manifest_name(f) && is_kubernetes_file(f))
            .filter_map(|f| canonical_rel(f))
            .collect();
        if !kube_files.is_empty() && !kube_files.iter().all(|f| referenced_files.contains(f)) {
            roots.push(RenderRoot {
                path: dir.clone(),
                kind: RootKind::Plain,
            });
        }
    }
    roots.sort_by_key(|r| (r.path.clone(), r.label()));
    (roots, problems)
}

fn helm_roots(
    repo: &Repository,
    chart: &Path,
    files: &[PathBuf],
    problems: &mut Vec<String>,
) -> Vec<RenderRoot> {
    let chart_file = chart.join("Chart.yaml");
    let fallback = || {
        chart
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "release".to_owned())
    };
    let release = match fs_err::read_to_string(repo.root.join(&chart_file)) {
        Ok(text) => match files::parse_yaml_document(&text, files::Limits::default()) {
            Ok(value) => value
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(fallback),
            Err((message, line)) => {
                let at = line.map(|l| format!(":{l}")).unwrap_or_default();
                problems.push(format!("{}{at}: {message}", chart_file.display()));
                fallback()
            }
        },
        Err(error) => {
            problems.push(format!("{}: {error}", chart_file.display()));
            fallback()
        }
    };
    let root = |values_files: Vec<PathBuf>| RenderRoot {
        path: chart.to_path_buf(),
        kind: RootKind::Helm {
            release: release.clone(),
            namespace: None,
            values_files,
            inline_values: None,
        },
    };
    let mut values: Vec<PathBuf> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_values_file)
        })
        .filter_map(|f| f.file_name().map(|n| chart.join(n)))
        .collect();
    values.sort();
    let mut roots = vec![root(Vec::new())];
    roots.extend(values.into_iter().map(|v| root(vec![v])));
    roots
}

/// Whether a manifest file holds at least one Kubernetes document (one with `apiVersion` and
/// `kind`), or a broken one that looks like it was meant to.
fn is_kubernetes_file(path: &Path) -> bool {
    let inventory = files::read_file(path, files::Limits::default());
    if !inventory.objects.is_empty() {
        return true;
    }
    !inventory.errors.is_empty()
        && fs_err::read_to_string(path).is_ok_and(|text| {
            text.lines().any(|l| l.starts_with("apiVersion:"))
                && text.lines().any(|l| l.starts_with("kind:"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n";

    fn repo(dir: &Path) -> Repository {
        Repository {
            root: fs_err::canonicalize(dir).unwrap(),
            location: dir.display().to_string(),
            url: None,
            revision: None,
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_base_reached_through_a_symlink_is_not_a_root_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "z/kustomization.yaml",
            "resources: [pod.yaml]\n",
        );
        write(dir.path(), "z/pod.yaml", POD);
        write(
            dir.path(),
            "overlay/kustomization.yaml",
            "resources: [../z]\n",
        );
        // Sorts before `z`, so the walk reaches the base through the link first.
        std::os::unix::fs::symlink(dir.path().join("z"), dir.path().join("a_link")).unwrap();
        let (roots, _) = discover(&repo(dir.path()));
        let labels: Vec<String> = roots.iter().map(RenderRoot::label).collect();
        assert_eq!(labels, ["overlay (kustomize)"]);
    }

    #[test]
    fn kustomization_references_are_read() {
        let refs = parse_kustomization(
            "resources:\n- ../base\n- https://github.com/o/r//k?ref=v1\npatches:\n- path: p.yaml\n- patch: |\n    - op: add\n      path: /a\n      value: 1\npatchesStrategicMerge:\n- |-\n  apiVersion: v1\n  kind: X\n- psm.yaml\nconfigMapGenerator:\n- name: c\n  files:\n  - k=conf.txt\n  envs: [e.env]\n",
        )
        .unwrap();
        assert_eq!(
            refs.local,
            vec!["../base", "psm.yaml", "p.yaml", "conf.txt", "e.env"]
        );
        assert_eq!(refs.remote, vec!["https://github.com/o/r//k?ref=v1"]);
        let error = parse_kustomization("resources:\n- a\n  bad: [\n").unwrap_err();
        assert!(error.1.is_some(), "{error:?}");
    }

    #[test]
    fn values_file_names() {
        for yes in [
            "values-prod.yaml",
            "values.prod.yaml",
            "prod.values.yaml",
            "prod-values.yml",
        ] {
            assert!(is_values_file(yes), "{yes}");
        }
        for no in [
            "values.yaml",
            "values.schema.json",
            "values.schema.yaml",
            "Chart.yaml",
            "my-values.txt",
        ] {
            assert!(!is_values_file(no), "{no}");
        }
    }

    #[test]
    fn roots_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "plain/pod.yaml", POD);
        write(d, "plain/notes.yaml", "just: data\n");
        write(d, "docs/readme.yaml", "just: data\n");
        write(d, "k/base/kustomization.yaml", "resources: [pod.yaml]\n");
        write(d, "k/base/pod.yaml", POD);
        write(
            d,
            "k/dev/kustomization.yaml",
            "resources: [../base, ../shared/extra.yaml]\n",
        );
        write(d, "k/shared/extra.yaml", POD);
        write(d, "k/broken/kustomization.yaml", "resources: [\n");
        write(
            d,
            "c/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\n",
        );
        write(d, "c/values.yaml", "a: 1\n");
        write(d, "c/values-prod.yaml", "a: 2\n");
        write(d, "c/templates/pod.yaml", POD);
        write(
            d,
            "c/charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        );
        write(d, ".hidden/pod.yaml", POD);
        let (roots, problems) = discover(&repo(d));
        let labels: Vec<String> = roots.iter().map(RenderRoot::label).collect();
        assert_eq!(
            labels,
            vec![
                "c (helm)",
                "c + c/values-prod.yaml (helm)",
                "k/broken (kustomize)",
                "k/dev (kustomize)",
                "plain (plain)",
            ]
        );
        assert!(
            matches!(&roots[0].kind, RootKind::Helm { release, .. } if release == "app"),
            "{roots:?}"
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("k/broken/kustomization.yaml:"),
            "{problems:?}"
        );
    }
}
