//! The Helm chart `charts/redress`, rendered with the real `helm` (found as the renderer finds
//! it): its ClusterRole reads exactly the kinds redress lists and nothing else, never Secrets,
//! never with a write verb; the rendered release passes redress's own rules at medium and
//! above; the optional ServiceMonitor and leader election render what the service expects.

use redress::config::Config;
use redress::engine::RuleSet;
use redress::engine::exceptions::Exceptions;
use redress::inventory::Inventory;
use redress::inventory::files::{Limits, parse_text};
use redress::model::Severity;
use redress::scan::{ScanOptions, scan};
use redress::source::Tools;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The release namespace every render uses.
const NAMESPACE: &str = "redress";

/// Values that turn every optional part on: leader election (two replicas), the
/// ServiceMonitor, a repository on GitHub (token) and one without a forge, pull request
/// settings and auto-merge.
const EVERYTHING: &str = "replicaCount: 2
serviceMonitor: {enabled: true}
repositories:
  - name: gitops
    url: https://github.com/acme/gitops.git
    charts: {podinfo: charts/podinfo}
    github: {owner: acme, repo: gitops}
  - name: other
    url: https://git.example.com/other.git
    branch: trunk
pullRequests: {grouping: rule, maxOpen: 3}
serve:
  autoMerge:
    - {severities: [low], rules: ['*']}
";

/// Plural resource names of the kinds redress lists, by API group. A kind the code starts
/// listing must be added here, and to the ClusterRole.
const RESOURCES: &[(&str, &str, &str)] = &[
    ("", "ConfigMap", "configmaps"),
    ("", "Namespace", "namespaces"),
    ("", "ServiceAccount", "serviceaccounts"),
    ("", "Pod", "pods"),
    ("", "PodTemplate", "podtemplates"),
    ("", "ReplicationController", "replicationcontrollers"),
    ("", "Service", "services"),
    ("apps", "DaemonSet", "daemonsets"),
    ("apps", "Deployment", "deployments"),
    ("apps", "ReplicaSet", "replicasets"),
    ("apps", "StatefulSet", "statefulsets"),
    ("extensions", "DaemonSet", "daemonsets"),
    ("extensions", "Deployment", "deployments"),
    ("extensions", "Ingress", "ingresses"),
    ("extensions", "ReplicaSet", "replicasets"),
    ("batch", "CronJob", "cronjobs"),
    ("batch", "Job", "jobs"),
    ("networking.k8s.io", "Ingress", "ingresses"),
    ("networking.k8s.io", "NetworkPolicy", "networkpolicies"),
    ("rbac.authorization.k8s.io", "ClusterRole", "clusterroles"),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings",
    ),
    ("rbac.authorization.k8s.io", "Role", "roles"),
    ("rbac.authorization.k8s.io", "RoleBinding", "rolebindings"),
    ("argoproj.io", "Application", "applications"),
    ("argoproj.io", "Rollout", "rollouts"),
    (
        "kustomize.toolkit.fluxcd.io",
        "Kustomization",
        "kustomizations",
    ),
    ("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases"),
    (
        "source.toolkit.fluxcd.io",
        "GitRepository",
        "gitrepositories",
    ),
];

/// [`EVERYTHING`] with a GitHub App instead of a token.
const APP: &str = "github: {auth: app, app: {id: 123, installationId: 456}}
repositories:
  - name: gitops
    url: https://github.com/acme/gitops.git
    github: {owner: acme, repo: gitops}
";

const READ_VERBS: [&str; 3] = ["get", "list", "watch"];

/// Renders the chart as release `redress` in namespace `redress`, with `values` (a values
/// file's text) when given, and reads the output as redress reads manifests.
fn render(values: Option<&str>) -> Inventory {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut command = Command::new(Tools::find().helm);
    command
        .args(["template", "redress"])
        .arg(crate_dir.join("charts/redress"))
        .args(["--namespace", NAMESPACE]);
    if let Some(values) = values {
        let file = dir.path().join("values.yaml");
        std::fs::write(&file, values).expect("write values");
        command.arg("--values").arg(&file);
    }
    let output = command
        .output()
        .expect("helm runs (install it with .ci/install-tools)");
    assert!(
        output.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("helm prints UTF-8");
    let mut inventory = Inventory::default();
    parse_text(
        Path::new("helm-template.yaml"),
        &text,
        Limits::default(),
        &mut inventory,
    );
    assert!(
        inventory.errors.is_empty(),
        "{:?}\n{text}",
        inventory.errors
    );
    inventory
}

/// Every object of `kind` in the render.
fn all<'a>(inventory: &'a Inventory, kind: &str) -> Vec<&'a Value> {
    inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == kind)
        .map(|o| o.json.as_ref())
        .collect()
}

/// The one object of `kind` in the render.
fn one<'a>(inventory: &'a Inventory, kind: &str) -> &'a Value {
    let found = all(inventory, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The strings of a list field of an RBAC rule (`apiGroups`, `resources`, `verbs`, ...).
fn strings<'a>(rule: &'a Value, field: &str) -> Vec<&'a str> {
    rule[field]
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The rules of an RBAC role.
fn rules_of(role: &Value) -> &Vec<Value> {
    role["rules"].as_array().expect("the role has rules")
}

/// The parsed `redress.yaml` of the rendered ConfigMap.
fn config(inventory: &Inventory) -> Value {
    let text = one(inventory, "ConfigMap")["data"]["redress.yaml"]
        .as_str()
        .expect("the ConfigMap holds redress.yaml");
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("redress.yaml: {e}\n{text}"))
}

#[test]
fn cluster_role_reads_exactly_the_kinds_redress_lists() {
    let rules = RuleSet::load(None, None).expect("built-in rules load");
    // What the service lists: the rules' kinds and the GitOps deployers.
    let kinds = redress::sweep::live_kinds(&rules);
    let mut unmapped = Vec::new();
    let mut needed = BTreeSet::new();
    for (group, kind) in &kinds {
        match RESOURCES.iter().find(|(g, k, _)| g == group && k == kind) {
            Some((_, _, plural)) => {
                needed.insert((group.clone(), (*plural).to_owned()));
            }
            None => unmapped.push(format!("{group}/{kind}")),
        }
    }
    assert!(
        unmapped.is_empty(),
        "kinds redress lists with no resource name in RESOURCES (add them here and to \
         charts/redress/templates/clusterrole.yaml): {unmapped:?}"
    );

    let inventory = render(None);
    let role = one(&inventory, "ClusterRole");
    let mut granted = BTreeSet::new();
    for rule in rules_of(role) {
        let verbs: BTreeSet<&str> = strings(rule, "verbs").into_iter().collect();
        assert_eq!(
            verbs,
            READ_VERBS.into_iter().collect(),
            "every rule grants get, list and watch: {rule}"
        );
        for group in strings(rule, "apiGroups") {
            for resource in strings(rule, "resources") {
                granted.insert((group.to_owned(), resource.to_owned()));
            }
        }
    }
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted.difference(&needed).collect();
    assert!(missing.is_empty(), "not granted: {missing:?}");
    assert!(extra.is_empty(), "granted but never listed: {extra:?}");

    let binding = one(&inventory, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(
        binding["subjects"][0]["name"],
        one(&inventory, "ServiceAccount")["metadata"]["name"]
    );
}

#[test]
fn cluster_roles_never_read_secrets_nor_write_nor_use_wildcards() {
    for values in [None, Some(EVERYTHING)] {
        let inventory = render(values);
        let roles = all(&inventory, "ClusterRole");
        assert!(!roles.is_empty());
        for role in roles {
            for rule in rules_of(role) {
                assert!(
                    !strings(rule, "resources").contains(&"secrets"),
                    "reads secrets: {rule}"
                );
                for field in [
                    "apiGroups",
                    "resources",
                    "verbs",
                    "resourceNames",
                    "nonResourceURLs",
                ] {
                    assert!(
                        !strings(rule, field).iter().any(|s| s.contains('*')),
                        "wildcard in {field}: {rule}"
                    );
                }
                for verb in strings(rule, "verbs") {
                    assert!(READ_VERBS.contains(&verb), "verb {verb}: {rule}");
                }
            }
        }
    }
}

#[test]
fn rendered_chart_has_no_finding_at_medium_or_above() {
    let rules = RuleSet::load(None, None).expect("built-in rules load");
    for values in [None, Some(EVERYTHING), Some(APP)] {
        let inventory = render(values);
        let objects = inventory.objects.len();
        let report = scan(
            &rules,
            inventory,
            &Exceptions::default(),
            &ScanOptions::default(),
        );
        assert!(objects >= 7, "only {objects} objects rendered");
        assert!(report.input_errors.is_empty(), "{:?}", report.input_errors);
        assert!(report.eval_errors.is_empty(), "{:?}", report.eval_errors);
        let serious: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.severity >= Severity::Medium)
            .map(|f| format!("{} {:?} {}: {}", f.rule, f.severity, f.path, f.message))
            .collect();
        assert!(serious.is_empty(), "{serious:#?}");
    }
}

#[test]
fn service_monitor_is_optional_and_the_config_has_a_serve_section() {
    let plain = render(None);
    assert!(all(&plain, "ServiceMonitor").is_empty());
    let config = config(&plain);
    assert_eq!(config["clusters"][0]["inCluster"], true);
    assert_eq!(config["cache"], "/var/cache/redress");
    let serve = &config["serve"];
    assert!(serve.is_object(), "no serve section: {config}");
    assert_eq!(serve["listen"], "0.0.0.0:8080");
    assert_eq!(serve["webhook"]["secret"]["env"], "REDRESS_WEBHOOK_SECRET");

    let monitored = render(Some("serviceMonitor: {enabled: true}"));
    let monitor = one(&monitored, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        one(&monitored, "Service")["spec"]["ports"][0]["name"]
    );
}

#[test]
fn leader_election_with_replicas_grants_only_the_lease() {
    let single = render(None);
    assert!(config(&single)["serve"].get("leaderElection").is_none());
    assert!(all(&single, "Role").is_empty());
    assert!(one(&single, "Deployment")["spec"].get("strategy").is_none());

    let replicated = render(Some(EVERYTHING));
    let election = &config(&replicated)["serve"]["leaderElection"];
    assert_eq!(election["namespace"], NAMESPACE);
    // Standby replicas are never ready: a rolling update could not finish.
    assert_eq!(
        one(&replicated, "Deployment")["spec"]["strategy"]["type"],
        "Recreate"
    );
    let role = one(&replicated, "Role");
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    let mut verbs = BTreeSet::new();
    for rule in rules_of(role) {
        assert_eq!(
            strings(rule, "apiGroups"),
            ["coordination.k8s.io"],
            "{rule}"
        );
        assert_eq!(strings(rule, "resources"), ["leases"], "{rule}");
        let names = strings(rule, "resourceNames");
        assert!(
            names.is_empty() || names == [election["lease"].as_str().unwrap_or_default()],
            "{rule}"
        );
        verbs.extend(strings(rule, "verbs"));
    }
    assert_eq!(verbs, BTreeSet::from(["create", "get", "update"]));
    let binding = one(&replicated, "RoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
}

#[test]
fn rendered_config_loads_as_redress_reads_it() {
    for values in [None, Some(EVERYTHING)] {
        let inventory = render(values);
        let text = one(&inventory, "ConfigMap")["data"]["redress.yaml"]
            .as_str()
            .expect("the ConfigMap holds redress.yaml")
            .to_owned();
        let dir = tempfile::tempdir().expect("temporary folder");
        let file = dir.path().join("redress.yaml");
        std::fs::write(&file, &text).expect("write redress.yaml");
        let config = Config::load(&file).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(config.clusters.len(), 1);
        assert_eq!(config.serve.listen.port(), 8080);
        assert!(config.serve.webhook.is_some());
        assert_eq!(
            config.serve.leader_election.is_some(),
            values.is_some(),
            "leader election only with replicas"
        );
    }
}

#[test]
fn github_app_key_is_mounted_where_the_config_reads_it() {
    let inventory = render(Some(APP));
    let config = config(&inventory);
    let key = config["repositories"][0]["forge"]["github"]["app"]["privateKey"]["file"]
        .as_str()
        .expect("the app's key is a file");
    let pod = &one(&inventory, "Deployment")["spec"]["template"]["spec"];
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .find(|m| m["name"] == "github-app")
        .expect("the app's key is mounted");
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == "github-app")
        .expect("the key's volume");
    let item = &volume["secret"]["items"][0];
    assert_eq!(
        format!(
            "{}/{}",
            mount["mountPath"].as_str().unwrap_or_default(),
            item["path"].as_str().unwrap_or_default()
        ),
        key
    );
    let env: Vec<&str> = pod["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(!env.contains(&"GITHUB_TOKEN"), "{env:?}");
}
