//! locate: GitOps tracking metadata, read from objects as a cluster returns them.
//!
//! Takes a live object's JSON and gives who deployed it (an Argo CD Application, a Flux
//! Kustomization or HelmRelease); takes those deployer objects and gives where in Git their
//! source lives (path, revision, Helm release settings and values). Pure: no I/O.

use serde::Serialize;
use serde_json::{Map, Value};

/// Argo CD's tracking annotation: `<app>:<group>/<kind>:<namespace>/<name>`.
pub const ARGO_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// The label Argo CD sets in its default (label) tracking mode.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const FLUX_KS_NAME: &str = "kustomize.toolkit.fluxcd.io/name";
const FLUX_KS_NAMESPACE: &str = "kustomize.toolkit.fluxcd.io/namespace";
const FLUX_HR_NAME: &str = "helm.toolkit.fluxcd.io/name";
const FLUX_HR_NAMESPACE: &str = "helm.toolkit.fluxcd.io/namespace";

/// The (group, kind) of the objects that tell where a live object's source is: read from a
/// live cluster along with the workloads.
pub const DEPLOYER_KINDS: &[(&str, &str)] = &[
    ("argoproj.io", "Application"),
    ("kustomize.toolkit.fluxcd.io", "Kustomization"),
    ("helm.toolkit.fluxcd.io", "HelmRelease"),
    ("source.toolkit.fluxcd.io", "GitRepository"),
];

/// The kind of GitOps object that deploys others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployerKind {
    /// `argoproj.io` Application.
    ArgoApplication,
    /// `kustomize.toolkit.fluxcd.io` Kustomization.
    FluxKustomization,
    /// `helm.toolkit.fluxcd.io` HelmRelease.
    FluxHelmRelease,
}

impl DeployerKind {
    /// The API group and kind of the deployer object.
    pub fn group_kind(self) -> (&'static str, &'static str) {
        match self {
            DeployerKind::ArgoApplication => ("argoproj.io", "Application"),
            DeployerKind::FluxKustomization => ("kustomize.toolkit.fluxcd.io", "Kustomization"),
            DeployerKind::FluxHelmRelease => ("helm.toolkit.fluxcd.io", "HelmRelease"),
        }
    }

    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            DeployerKind::ArgoApplication => "Argo CD Application",
            DeployerKind::FluxKustomization => "Flux Kustomization",
            DeployerKind::FluxHelmRelease => "Flux HelmRelease",
        }
    }
}

/// Who deployed an object, read from its tracking metadata.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Tracking {
    /// The deployer's kind.
    pub kind: DeployerKind,
    /// The deployer's name.
    pub name: String,
    /// The deployer's namespace, when the metadata says (Argo CD's default is `argocd`).
    pub namespace: Option<String>,
}

impl std::fmt::Display for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.label(), self.name),
            None => write!(f, "{} {}", self.kind.label(), self.name),
        }
    }
}

fn meta_str<'a>(json: &'a Value, field: &str, key: &str) -> Option<&'a str> {
    json.get("metadata")?
        .get(field)?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// Who deployed `json`, from (in this order) Flux's Helm labels, Argo CD's tracking annotation,
/// Flux's Kustomize labels, and Argo CD's instance label. A HelmRelease-managed object also
/// carries no Kustomize labels; the HelmRelease itself carries the Kustomize ones.
pub fn tracking_of(json: &Value) -> Option<Tracking> {
    if let Some(name) = meta_str(json, "labels", FLUX_HR_NAME) {
        return Some(Tracking {
            kind: DeployerKind::FluxHelmRelease,
            name: name.to_owned(),
            namespace: meta_str(json, "labels", FLUX_HR_NAMESPACE).map(str::to_owned),
        });
    }
    if let Some(id) = meta_str(json, "annotations", ARGO_TRACKING_ID)
        && let Some((app, _)) = id.split_once(':')
    {
        // Applications outside Argo CD's own namespace are written `<namespace>_<name>`.
        let (namespace, name) = match app.split_once('_') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, app.to_owned()),
        };
        return Some(Tracking {
            kind: DeployerKind::ArgoApplication,
            name,
            namespace,
        });
    }
    if let Some(name) = meta_str(json, "labels", FLUX_KS_NAME) {
        return Some(Tracking {
            kind: DeployerKind::FluxKustomization,
            name: name.to_owned(),
            namespace: meta_str(json, "labels", FLUX_KS_NAMESPACE).map(str::to_owned),
        });
    }
    meta_str(json, "labels", INSTANCE_LABEL).map(|name| Tracking {
        kind: DeployerKind::ArgoApplication,
        name: name.to_owned(),
        namespace: None,
    })
}

/// True when `json` is a deployer of `tracking` (same kind, name and, when known, namespace).
pub fn is_deployer(json: &Value, tracking: &Tracking) -> bool {
    let (group, kind) = tracking.kind.group_kind();
    let api = json.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if json.get("kind").and_then(Value::as_str) != Some(kind) || !api.starts_with(group) {
        return false;
    }
    if json.pointer("/metadata/name").and_then(Value::as_str) != Some(tracking.name.as_str()) {
        return false;
    }
    match &tracking.namespace {
        Some(ns) => json.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns),
        None => true,
    }
}

/// Looks up a Flux GitRepository by namespace and name: its URL and revision.
pub type GitUrlLookup<'a> = dyn Fn(&str, &str) -> Option<(String, Option<String>)> + 'a;

/// Where a Helm chart comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ChartSource {
    /// A folder of the Git repository (repository-relative, `./` stripped).
    Path { path: String },
    /// A chart from a Helm repository or OCI registry, by name.
    Remote { name: String, repository: String },
}

/// How a deployer renders a Helm chart.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HelmDeploy {
    /// The chart.
    pub chart: ChartSource,
    /// Release name.
    pub release: String,
    /// Release namespace.
    pub namespace: Option<String>,
    /// Values files, repository-relative, lowest precedence first.
    pub values_files: Vec<String>,
    /// Inline values (HelmRelease `spec.values`, Application `valuesObject`/`values`), merged,
    /// with Argo CD parameters applied.
    pub inline: Option<Value>,
    /// The pointer in the deployer object under which inline values are written, when they
    /// are a YAML map there (`/spec/values`, `/spec/source/helm/valuesObject`).
    pub inline_pointer: Option<String>,
    /// Why some inline values cannot be edited (a `values` string, `valuesFrom`).
    pub notes: Vec<String>,
}

/// Where a deployer's source lives in Git.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Deploy {
    /// The Git repository URL (Argo CD `repoURL`; Flux: the GitRepository's URL when known).
    pub repo_url: Option<String>,
    /// Revision (Argo CD `targetRevision`, Flux GitRepository ref).
    pub revision: Option<String>,
    /// Repository-relative folder of a Kustomize or plain source.
    pub path: Option<String>,
    /// The namespace objects without one land in.
    pub target_namespace: Option<String>,
    /// Helm rendering, when the source is a chart.
    pub helm: Option<HelmDeploy>,
    /// A prefix the deployer adds to every name (Flux `spec.namePrefix`, Argo CD
    /// `spec.source.kustomize.namePrefix`).
    pub name_prefix: Option<String>,
    /// A suffix the deployer adds to every name.
    pub name_suffix: Option<String>,
}

impl Deploy {
    /// The name an object rendered as `name` has once this deployer applied it.
    pub fn deployed_name(&self, name: &str) -> String {
        format!(
            "{}{name}{}",
            self.name_prefix.as_deref().unwrap_or(""),
            self.name_suffix.as_deref().unwrap_or("")
        )
    }
}

fn text(json: &Value, pointer: &str) -> Option<String> {
    json.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `./a/b/` -> `a/b`; `.` -> ``.
pub fn clean_path(path: &str) -> String {
    let trimmed = path.trim().trim_start_matches("./").trim_end_matches('/');
    if trimmed == "." {
        String::new()
    } else {
        trimmed.to_owned()
    }
}

fn join_path(base: &str, rel: &str) -> String {
    let rel = clean_path(rel);
    if base.is_empty() {
        rel
    } else {
        format!("{base}/{rel}")
    }
}

/// Deep-merges `over` into `base` the way Helm merges values: maps merge, anything else
/// replaces.
pub fn merge_values(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_values(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

/// Sets a dotted Helm `--set` style name (`a.b.c`) to `value` inside `values`.
fn set_dotted(values: &mut Value, name: &str, value: Value) {
    let mut current = values;
    let parts: Vec<&str> = name.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        let Some(map) = current.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        current = map
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A Helm parameter value as `--set` reads it: booleans and integers are typed unless
/// `forceString`.
fn parameter_value(raw: &str, force_string: bool) -> Value {
    if force_string {
        return Value::String(raw.to_owned());
    }
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.to_owned())),
    }
}

/// Reads where an Argo CD Application's source lives.
pub fn argo_deploy(app: &Value) -> Option<Deploy> {
    let source = match app.pointer("/spec/source") {
        Some(s) => s,
        None => app
            .pointer("/spec/sources")?
            .as_array()?
            .iter()
            .find(|s| s.get("path").is_some() || s.get("chart").is_some())?,
    };
    let path = text(source, "/path").map(|p| clean_path(&p));
    let target_namespace = text(app, "/spec/destination/namespace");
    let app_name = text(app, "/metadata/name").unwrap_or_default();
    let helm_spec = source.get("helm");
    let remote_chart = text(source, "/chart");
    let helm = if helm_spec.is_some() || remote_chart.is_some() {
        let mut notes = Vec::new();
        let mut inline = Value::Object(Map::new());
        let mut inline_pointer = None;
        if let Some(object) = helm_spec.and_then(|h| h.get("valuesObject")) {
            merge_values(&mut inline, object);
            inline_pointer = Some("/spec/source/helm/valuesObject".to_owned());
        }
        if let Some(values) = helm_spec
            .and_then(|h| h.get("values"))
            .and_then(Value::as_str)
        {
            match serde_saphyr::from_str::<Value>(values) {
                Ok(parsed) => merge_values(&mut inline, &parsed),
                Err(e) => notes.push(format!("helm.values does not parse: {e}")),
            }
            notes.push(
                "spec.source.helm.values is a string block; redress edits valuesObject and \
                 values files, not strings"
                    .to_owned(),
            );
        }
        for p in helm_spec
            .and_then(|h| h.get("parameters"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(value)) = (text(p, "/name"), text(p, "/value")) {
                let force = p.get("forceString").and_then(Value::as_bool) == Some(true);
                set_dotted(&mut inline, &name, parameter_value(&value, force));
            }
        }
        let base = path.clone().unwrap_or_default();
        let values_files = helm_spec
            .and_then(|h| h.get("valueFiles"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|f| join_path(&base, f))
            .collect();
        let chart = match &remote_chart {
            Some(name) => ChartSource::Remote {
                name: name.clone(),
                repository: text(source, "/repoURL").unwrap_or_default(),
            },
            None => ChartSource::Path { path: base },
        };
        let empty = inline.as_object().is_some_and(Map::is_empty);
        Some(HelmDeploy {
            chart,
            release: helm_spec
                .and_then(|h| text(h, "/releaseName"))
                .unwrap_or(app_name),
            namespace: target_namespace.clone(),
            values_files,
            inline: (!empty).then_some(inline),
            inline_pointer,
            notes,
        })
    } else {
        None
    };
    Some(Deploy {
        repo_url: text(source, "/repoURL"),
        revision: text(source, "/targetRevision"),
        path: if remote_chart.is_some() { None } else { path },
        target_namespace,
        helm,
        name_prefix: text(source, "/kustomize/namePrefix"),
        name_suffix: text(source, "/kustomize/nameSuffix"),
    })
}

/// Reads where a Flux Kustomization's source lives. `git_url` gives a GitRepository's URL
/// from its namespace and name, when the caller has it.
pub fn flux_kustomization_deploy(ks: &Value, git_url: &GitUrlLookup<'_>) -> Option<Deploy> {
    let namespace = text(ks, "/metadata/namespace").unwrap_or_else(|| "flux-system".into());
    let source_ns = text(ks, "/spec/sourceRef/namespace").unwrap_or(namespace);
    let source = text(ks, "/spec/sourceRef/name").and_then(|name| git_url(&source_ns, &name));
    Some(Deploy {
        repo_url: source.as_ref().map(|s| s.0.clone()),
        revision: source.and_then(|s| s.1),
        path: Some(clean_path(&text(ks, "/spec/path").unwrap_or_default())),
        target_namespace: text(ks, "/spec/targetNamespace"),
        helm: None,
        name_prefix: text(ks, "/spec/namePrefix"),
        name_suffix: text(ks, "/spec/nameSuffix"),
    })
}

/// Reads how a Flux HelmRelease renders its chart.
pub fn flux_helmrelease_deploy(hr: &Value, git_url: &GitUrlLookup<'_>) -> Option<Deploy> {
    let name = text(hr, "/metadata/name")?;
    let namespace = text(hr, "/metadata/namespace");
    let target_namespace = text(hr, "/spec/targetNamespace");
    let chart_spec = hr.pointer("/spec/chart/spec")?;
    let chart_name = text(chart_spec, "/chart")?;
    let source_kind = text(chart_spec, "/sourceRef/kind").unwrap_or_default();
    let source_name = text(chart_spec, "/sourceRef/name").unwrap_or_default();
    let source_ns = text(chart_spec, "/sourceRef/namespace")
        .or_else(|| namespace.clone())
        .unwrap_or_default();
    let mut repo_url = None;
    let mut revision = None;
    let chart = if source_kind == "GitRepository" || source_kind == "Bucket" {
        if let Some((url, rev)) = git_url(&source_ns, &source_name) {
            repo_url = Some(url);
            revision = rev;
        }
        ChartSource::Path {
            path: clean_path(&chart_name),
        }
    } else {
        ChartSource::Remote {
            name: chart_name,
            repository: format!("{source_kind} {source_ns}/{source_name}"),
        }
    };
    let values_files = chart_spec
        .get("valuesFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(clean_path)
        .collect();
    let mut notes = Vec::new();
    if hr.pointer("/spec/valuesFrom").is_some() {
        notes.push("spec.valuesFrom reads values from the cluster; redress ignores them".into());
    }
    let inline = hr
        .pointer("/spec/values")
        .filter(|v| v.is_object())
        .cloned();
    // Flux names the release `<targetNamespace>-<name>` when a target namespace is set.
    let release = text(hr, "/spec/releaseName").unwrap_or_else(|| match &target_namespace {
        Some(t) => format!("{t}-{name}"),
        None => name.clone(),
    });
    Some(Deploy {
        repo_url,
        revision,
        path: None,
        target_namespace: target_namespace.clone(),
        helm: Some(HelmDeploy {
            chart,
            release,
            namespace: target_namespace.or(namespace),
            values_files,
            inline,
            inline_pointer: Some("/spec/values".to_owned()),
            notes,
        }),
        name_prefix: None,
        name_suffix: None,
    })
}

/// Two repository URLs name the same repository (scheme, credentials, `.git` and case of
/// the host ignored).
pub fn same_repo(a: &str, b: &str) -> bool {
    fn norm(url: &str) -> String {
        let mut s = url.trim().to_ascii_lowercase();
        for scheme in ["https://", "http://", "ssh://", "git://", "file://"] {
            if let Some(rest) = s.strip_prefix(scheme) {
                s = rest.to_owned();
            }
        }
        if let Some((_, rest)) = s.split_once('@') {
            s = rest.to_owned();
        }
        s = s.replacen(':', "/", 1);
        s.trim_end_matches('/').trim_end_matches(".git").to_owned()
    }
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tracking_reads_each_tool() {
        let argo = json!({"metadata": {"annotations": {ARGO_TRACKING_ID: "shop:apps/Deployment:shop/api"}}});
        assert_eq!(
            tracking_of(&argo),
            Some(Tracking {
                kind: DeployerKind::ArgoApplication,
                name: "shop".into(),
                namespace: None
            })
        );
        let scoped =
            json!({"metadata": {"annotations": {ARGO_TRACKING_ID: "team_shop:/Service:shop/api"}}});
        assert_eq!(
            tracking_of(&scoped).unwrap().namespace.as_deref(),
            Some("team")
        );
        let flux = json!({"metadata": {"labels": {
            FLUX_KS_NAME: "apps", FLUX_KS_NAMESPACE: "flux-system"}}});
        let t = tracking_of(&flux).unwrap();
        assert_eq!(
            (t.kind, t.name.as_str()),
            (DeployerKind::FluxKustomization, "apps")
        );
        let helm = json!({"metadata": {"labels": {
            FLUX_HR_NAME: "web", FLUX_HR_NAMESPACE: "web", INSTANCE_LABEL: "web"}}});
        assert_eq!(
            tracking_of(&helm).unwrap().kind,
            DeployerKind::FluxHelmRelease
        );
        assert_eq!(tracking_of(&json!({"metadata": {}})), None);
    }

    #[test]
    fn argo_helm_sources_merge_values_and_parameters() {
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "destination": {"namespace": "web"},
                "source": {
                    "repoURL": "https://git.example.com/demo.git", "path": "./charts/web/",
                    "targetRevision": "main",
                    "helm": {
                        "valueFiles": ["values-prod.yaml"],
                        "valuesObject": {"a": {"b": 1}},
                        "parameters": [{"name": "a.c", "value": "true"},
                                       {"name": "n", "value": "7", "forceString": true}]
                    }
                }
            }
        });
        let d = argo_deploy(&app).unwrap();
        assert_eq!(d.path.as_deref(), Some("charts/web"));
        let h = d.helm.unwrap();
        assert_eq!(h.values_files, vec!["charts/web/values-prod.yaml"]);
        assert_eq!(h.release, "web");
        assert_eq!(h.inline, Some(json!({"a": {"b": 1, "c": true}, "n": "7"})));
        assert!(is_deployer(
            &app,
            &Tracking {
                kind: DeployerKind::ArgoApplication,
                name: "web".into(),
                namespace: None
            }
        ));
    }

    #[test]
    fn flux_helmrelease_from_git_or_remote() {
        let hr = json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "web"},
            "spec": {"chart": {"spec": {"chart": "./charts/web",
                "sourceRef": {"kind": "GitRepository", "name": "demo", "namespace": "flux-system"},
                "valuesFiles": ["./charts/web/values.yaml"]}},
                "values": {"hostNetwork": true}}
        });
        let url = |ns: &str, name: &str| {
            (ns == "flux-system" && name == "demo").then(|| {
                (
                    "https://git.example.com/demo.git".to_owned(),
                    Some("main".into()),
                )
            })
        };
        let d = flux_helmrelease_deploy(&hr, &url).unwrap();
        let h = d.helm.unwrap();
        assert_eq!(
            h.chart,
            ChartSource::Path {
                path: "charts/web".into()
            }
        );
        assert_eq!(h.release, "web");
        assert_eq!(h.namespace.as_deref(), Some("web"));
        assert_eq!(h.inline, Some(json!({"hostNetwork": true})));
        let mut remote = hr.clone();
        remote["spec"]["chart"]["spec"]["sourceRef"]["kind"] = json!("HelmRepository");
        remote["spec"]["targetNamespace"] = json!("apps");
        let d = flux_helmrelease_deploy(&remote, &url).unwrap();
        let h = d.helm.unwrap();
        assert!(matches!(h.chart, ChartSource::Remote { .. }));
        assert_eq!(h.release, "apps-web");
    }

    #[test]
    fn deployers_name_prefixes_and_suffixes() {
        let ks = json!({"metadata": {"name": "apps", "namespace": "flux-system"},
                        "spec": {"path": "./apps", "namePrefix": "blue-", "nameSuffix": "-v2"}});
        let d = flux_kustomization_deploy(&ks, &|_, _| None).unwrap();
        assert_eq!(d.deployed_name("api"), "blue-api-v2");
        let app = json!({"metadata": {"name": "shop"},
                         "spec": {"source": {"path": "apps", "kustomize": {"namePrefix": "green-"}}}});
        assert_eq!(argo_deploy(&app).unwrap().deployed_name("api"), "green-api");
    }

    #[test]
    fn repository_urls_compare_loosely() {
        assert!(same_repo(
            "https://github.com/org/repo.git",
            "git@github.com:org/repo"
        ));
        assert!(!same_repo(
            "https://github.com/org/a",
            "https://github.com/org/b"
        ));
    }
}
