//! The live inventory against a fake Kubernetes API (`fake_kube`): discovery, pagination,
//! namespace restriction, a forbidden kind, a custom resource, and `redress scan --cluster`
//! end to end through a kubeconfig file.

use crate::fake_kube::{FakeCluster, FakeKube, FakeResource};
use redress::engine::RuleSet;
use redress::engine::exceptions::Exceptions;
use redress::inventory::Inventory;
use redress::inventory::live::{LiveError, list_objects, needed_kinds};
use redress::model::Origin;
use redress::scan::{ScanOptions, scan};
use serde_json::{Value, json};
use std::process::{Command, Output};

fn pod_spec(privileged: bool) -> Value {
    json!({"containers": [{"name": "app", "image": "nginx:1.27",
        "securityContext": {"privileged": privileged}}]})
}

fn deployment(namespace: &str, name: &str, privileged: bool) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace,
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}]},
        "spec": {"template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec(privileged)}}})
}

fn rollout(namespace: &str, name: &str, privileged: bool) -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": pod_spec(privileged)}}})
}

fn cronjob(namespace: &str, name: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": namespace},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {
            "spec": pod_spec(false)}}}}})
}

fn named(namespace: Option<&str>, name: &str) -> Value {
    match namespace {
        Some(ns) => json!({"metadata": {"name": name, "namespace": ns}}),
        None => json!({"metadata": {"name": name}}),
    }
}

/// Seven Deployments (one privileged) over two namespaces, a privileged Rollout, CronJobs
/// served at two versions, namespaces, RBAC and network policies; no `extensions` group.
fn cluster() -> FakeCluster {
    let mut deployments: Vec<Value> = (0..6)
        .map(|i| {
            deployment(
                if i % 2 == 0 { "prod" } else { "dev" },
                &format!("web-{i}"),
                false,
            )
        })
        .collect();
    deployments.push(deployment("prod", "root", true));
    FakeCluster {
        resources: vec![
            FakeResource::new("v1", "Namespace", "namespaces", false)
                .with([named(None, "prod"), named(None, "dev")]),
            FakeResource::new("v1", "Pod", "pods", true).with([json!({
                "metadata": {"name": "loose", "namespace": "dev"}, "spec": pod_spec(false)})]),
            FakeResource::new("apps/v1", "Deployment", "deployments", true).with(deployments),
            FakeResource::new("batch/v1", "Job", "jobs", true),
            FakeResource::new("batch/v1", "CronJob", "cronjobs", true)
                .with([cronjob("prod", "nightly")]),
            FakeResource::new("batch/v1beta1", "CronJob", "cronjobs", true)
                .with([cronjob("prod", "nightly")]),
            FakeResource::new("argoproj.io/v1alpha1", "Rollout", "rollouts", true)
                .with([rollout("prod", "canary", true)]),
            FakeResource::new(
                "networking.k8s.io/v1",
                "NetworkPolicy",
                "networkpolicies",
                true,
            )
            .with([json!({"metadata": {"name": "deny", "namespace": "prod"},
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})]),
            FakeResource::new(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "clusterroles",
                false,
            )
            .with([named(None, "view")]),
            FakeResource::new("rbac.authorization.k8s.io/v1", "Role", "roles", true)
                .with([named(Some("dev"), "reader")]),
            FakeResource::new(
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
                "clusterrolebindings",
                false,
            ),
            FakeResource::new(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                "rolebindings",
                true,
            ),
        ],
        ..FakeCluster::default()
    }
}

fn rules() -> RuleSet {
    RuleSet::load(None, None).expect("built-in rules load")
}

async fn inventory(fake: &FakeKube, namespace: Option<&str>, page_size: u32) -> Inventory {
    list_objects(
        &fake.client(),
        "fake",
        &needed_kinds(&rules()),
        namespace,
        page_size,
    )
    .await
    .expect("the fake cluster answers discovery")
}

fn count(inventory: &Inventory, kind: &str) -> usize {
    inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == kind)
        .count()
}

#[tokio::test]
async fn pagination_collects_every_page() {
    let fake = FakeKube::start(cluster());
    let inventory = inventory(&fake, None, 3).await;

    let requests = fake.requests_to("/apis/apps/v1/deployments");
    assert_eq!(requests.len(), 3, "7 deployments by 3: {requests:#?}");
    assert!(requests.iter().all(|r| r.uri.contains("limit=3")));
    assert!(!requests[0].uri.contains("continue="));
    assert!(requests[1].uri.contains("continue=next-3"));
    assert!(requests[2].uri.contains("continue=next-6"));

    let deployments: Vec<_> = inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == "Deployment")
        .collect();
    let mut names: Vec<&str> = deployments.iter().map(|o| o.id.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["root", "web-0", "web-1", "web-2", "web-3", "web-4", "web-5"]
    );
    for object in &deployments {
        assert_eq!(object.id.api_version, "apps/v1");
        assert_eq!(
            object.json["apiVersion"], "apps/v1",
            "set on the item itself"
        );
        assert_eq!(object.json["kind"], "Deployment");
        assert!(object.json.pointer("/metadata/managedFields").is_none());
        assert_eq!(
            object.origin,
            Origin::Cluster {
                context: "fake".into()
            }
        );
    }
    assert!(inventory.errors.is_empty(), "{:?}", inventory.errors);
}

#[tokio::test]
async fn short_pages_from_the_server_are_followed() {
    // The server may return fewer items than asked for; the continue token still leads on.
    let fake = FakeKube::start(FakeCluster {
        max_page: 2,
        ..cluster()
    });
    let inventory = inventory(&fake, None, 500).await;
    assert_eq!(fake.requests_to("/apis/apps/v1/deployments").len(), 4);
    assert_eq!(count(&inventory, "Deployment"), 7);
}

#[tokio::test]
async fn namespace_restriction_lists_namespaced_paths() {
    let fake = FakeKube::start(cluster());
    let inventory = inventory(&fake, Some("prod"), 500).await;

    assert_eq!(
        fake.requests_to("/apis/apps/v1/namespaces/prod/deployments")
            .len(),
        1
    );
    assert!(fake.requests_to("/apis/apps/v1/deployments").is_empty());
    assert!(fake.requests_to("/api/v1/pods").is_empty());
    assert_eq!(fake.requests_to("/api/v1/namespaces/prod/pods").len(), 1);
    // Cluster-scoped kinds are still listed.
    assert_eq!(
        fake.requests_to("/apis/rbac.authorization.k8s.io/v1/clusterroles")
            .len(),
        1
    );
    assert_eq!(count(&inventory, "ClusterRole"), 1);
    // Of the namespaces, only the one scanned.
    let namespaces = fake.requests_to("/api/v1/namespaces");
    assert_eq!(namespaces.len(), 1);
    assert!(
        namespaces[0]
            .uri
            .contains("fieldSelector=metadata.name%3Dprod")
    );
    let listed: Vec<&str> = inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == "Namespace")
        .map(|o| o.id.name.as_str())
        .collect();
    assert_eq!(listed, ["prod"]);

    assert_eq!(count(&inventory, "Deployment"), 4);
    for object in &inventory.objects {
        assert!(
            matches!(object.id.namespace.as_deref(), None | Some("prod")),
            "{} is outside prod",
            object.id
        );
    }
}

#[tokio::test]
async fn forbidden_kind_is_reported_and_the_rest_listed() {
    let fake = FakeKube::start(FakeCluster {
        forbidden: vec!["/apis/apps/v1/deployments".into()],
        ..cluster()
    });
    let inventory = inventory(&fake, None, 500).await;

    assert_eq!(inventory.errors.len(), 1, "{:?}", inventory.errors);
    let error = &inventory.errors[0];
    assert_eq!(error.file.to_str(), Some("/apis/apps/v1/deployments"));
    assert!(error.message.contains("403 Forbidden"), "{}", error.message);
    assert!(
        error.message.contains("cannot list resource"),
        "{}",
        error.message
    );
    assert!(error.message.contains("Deployment"), "{}", error.message);

    assert_eq!(count(&inventory, "Deployment"), 0);
    assert_eq!(count(&inventory, "Pod"), 1);
    assert_eq!(count(&inventory, "Rollout"), 1);
    assert_eq!(count(&inventory, "CronJob"), 1);
}

#[tokio::test]
async fn server_errors_in_discovery_and_lists_are_reported_and_the_rest_listed() {
    let fake = FakeKube::start(FakeCluster {
        broken: vec!["/apis/argoproj.io/v1alpha1".into(), "/api/v1/pods".into()],
        ..cluster()
    });
    let inventory = inventory(&fake, None, 500).await;

    let mut errors: Vec<(String, &str)> = inventory
        .errors
        .iter()
        .map(|e| (e.file.display().to_string(), e.message.as_str()))
        .collect();
    errors.sort();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].0, "/api/v1/pods");
    assert!(
        errors[0]
            .1
            .starts_with("listing Pod failed: 500 InternalError: "),
        "{errors:?}"
    );
    assert_eq!(errors[1].0, "/apis/argoproj.io/v1alpha1");
    assert!(
        errors[1]
            .1
            .starts_with("API discovery failed: 500 InternalError: "),
        "{errors:?}"
    );
    assert!(errors[1].1.contains("etcdserver"), "{errors:?}");

    assert_eq!(count(&inventory, "Rollout"), 0);
    assert_eq!(count(&inventory, "Pod"), 0);
    assert_eq!(count(&inventory, "Deployment"), 7);
    assert_eq!(count(&inventory, "ClusterRole"), 1);
}

#[tokio::test]
async fn custom_resource_declared_in_kinds_is_listed() {
    let fake = FakeKube::start(cluster());
    let inventory = inventory(&fake, None, 500).await;

    assert_eq!(fake.requests_to("/apis/argoproj.io/v1alpha1").len(), 1);
    let rollouts: Vec<_> = inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == "Rollout")
        .collect();
    assert_eq!(rollouts.len(), 1);
    assert_eq!(rollouts[0].id.api_version, "argoproj.io/v1alpha1");
    assert_eq!(rollouts[0].id.name, "canary");
}

#[tokio::test]
async fn preferred_version_is_listed_and_unserved_kinds_are_skipped() {
    let fake = FakeKube::start(cluster());
    let inventory = inventory(&fake, None, 500).await;

    assert_eq!(fake.requests_to("/apis/batch/v1/cronjobs").len(), 1);
    assert!(fake.requests_to("/apis/batch/v1beta1/cronjobs").is_empty());
    assert!(
        fake.requests_to("/apis/batch/v1beta1").is_empty(),
        "preferred version sufficed"
    );
    let cronjobs: Vec<_> = inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == "CronJob")
        .collect();
    assert_eq!(cronjobs.len(), 1);
    assert_eq!(cronjobs[0].id.api_version, "batch/v1");

    // `extensions` Deployments and core ReplicationControllers are declared but not served:
    // no request, no error.
    assert!(fake.seen().iter().all(|s| !s.path.contains("extensions")));
    assert!(
        fake.seen()
            .iter()
            .all(|s| !s.path.contains("replicationcontrollers"))
    );
    assert!(inventory.errors.is_empty(), "{:?}", inventory.errors);
}

#[tokio::test]
async fn kind_missing_from_the_preferred_version_is_found_in_another() {
    // Kubernetes 1.20: batch/v1 is preferred and serves Job; CronJob is only in batch/v1beta1.
    let mut old = cluster();
    old.resources
        .retain(|r| !(r.group == "batch" && r.version == "v1" && r.kind == "CronJob"));
    let fake = FakeKube::start(old);
    let inventory = inventory(&fake, None, 500).await;

    assert_eq!(fake.requests_to("/apis/batch/v1beta1/cronjobs").len(), 1);
    assert!(fake.requests_to("/apis/batch/v1/cronjobs").is_empty());
    assert_eq!(fake.requests_to("/apis/batch/v1/jobs").len(), 1);
    let cronjobs: Vec<_> = inventory
        .objects
        .iter()
        .filter(|o| o.id.kind == "CronJob")
        .collect();
    assert_eq!(cronjobs.len(), 1);
    assert_eq!(cronjobs[0].id.api_version, "batch/v1beta1");
}

#[tokio::test]
async fn listed_objects_produce_findings() {
    let fake = FakeKube::start(cluster());
    let rules = rules();
    let inventory = inventory(&fake, None, 3).await;
    let report = scan(
        &rules,
        inventory,
        &Exceptions::default(),
        &ScanOptions::default(),
    );
    let mut privileged: Vec<String> = report
        .findings
        .iter()
        .filter(|f| &*f.rule == "privileged-container")
        .map(|f| {
            assert_eq!(
                f.origin,
                Origin::Cluster {
                    context: "fake".into()
                }
            );
            format!("{}/{} {}", f.object.kind, f.object.name, f.path)
        })
        .collect();
    privileged.sort();
    assert_eq!(
        privileged,
        [
            "Deployment/root /spec/template/spec/containers/0/securityContext/privileged",
            "Rollout/canary /spec/template/spec/containers/0/securityContext/privileged",
        ]
    );
}

#[tokio::test]
async fn unreachable_cluster_is_one_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let error = list_objects(&client, "gone", &needed_kinds(&rules()), None, 500)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(error, LiveError::Unreachable { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("cannot reach the Kubernetes API of context 'gone'"),
        "{text}"
    );
}

#[test]
fn https_clusters_get_a_tls_client() {
    // Building a client for an https server needs a rustls crypto provider compiled in.
    let config = kube::Config::new("https://127.0.0.1:6443".parse().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    kube::Client::try_from(config).expect("an https client");
}

// `redress scan --cluster` as a user runs it, through a kubeconfig file.

fn kubeconfig(dir: &std::path::Path, server: &str) -> std::path::PathBuf {
    let text = format!(
        "apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster: {{server: \"{server}\"}}
users:
  - name: tester
    user: {{token: fake-token-123}}
contexts:
  - name: fake-ctx
    context: {{cluster: fake, user: tester}}
  - name: current-ctx
    context: {{cluster: fake, user: tester}}
current-context: current-ctx
"
    );
    let path = dir.join("kubeconfig");
    std::fs::write(&path, text).expect("write kubeconfig");
    path
}

fn redress_with_kubeconfig(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBE_RS_DEBUG_OVERRIDE_URL")
        .env_remove("KUBE_RS_DEBUG_IMPERSONATE_USER")
        .env_remove("KUBE_RS_DEBUG_IMPERSONATE_GROUP")
        .output()
        .expect("redress runs")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "json output: {e}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn privileged_findings(report: &Value) -> Vec<(String, String, String)> {
    let mut found: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "privileged-container")
        .map(|f| {
            (
                f["cluster"].as_str().unwrap_or("-").to_owned(),
                format!(
                    "{}/{}",
                    f["object"]["kind"].as_str().unwrap_or("-"),
                    f["object"]["name"].as_str().unwrap_or("-")
                ),
                f["path"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn scan_cluster_through_a_kubeconfig_context() {
    let fake = FakeKube::start(cluster());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &fake.url);
    let output = redress_with_kubeconfig(
        &kubeconfig,
        &[
            "scan",
            "--cluster",
            "fake-ctx",
            "--format",
            "json",
            "--fail-on",
            "critical",
        ],
    );
    let report = json_of(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "critical findings fail the run"
    );
    let path = "/spec/template/spec/containers/0/securityContext/privileged";
    assert_eq!(
        privileged_findings(&report),
        [
            ("fake-ctx".into(), "Deployment/root".into(), path.into()),
            ("fake-ctx".into(), "Rollout/canary".into(), path.into()),
        ]
    );
    assert_eq!(report["summary"]["inputErrors"], 0);
    // Every object the fake serves (namespaces, RBAC, policies included) was evaluated.
    assert_eq!(report["summary"]["objects"], 15);
    // The kubeconfig user's credentials were sent.
    let seen = fake.seen();
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer fake-token-123")),
        "{seen:#?}"
    );
}

#[test]
fn scan_cluster_without_a_context_uses_the_current_one_and_a_namespace() {
    let fake = FakeKube::start(cluster());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &fake.url);
    let output = redress_with_kubeconfig(
        &kubeconfig,
        &["scan", "--cluster", "-n", "dev", "--format", "json"],
    );
    let report = json_of(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The privileged workloads are in prod: none seen from dev.
    assert_eq!(privileged_findings(&report), []);
    let clusters: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["cluster"].as_str())
        .collect();
    assert!(!clusters.is_empty(), "dev's workloads have other findings");
    assert!(clusters.iter().all(|c| *c == "current-ctx"), "{clusters:?}");
    assert_eq!(
        fake.requests_to("/apis/apps/v1/namespaces/dev/deployments")
            .len(),
        1
    );
    assert!(fake.requests_to("/apis/apps/v1/deployments").is_empty());
}

#[test]
fn scan_cluster_reports_a_forbidden_kind_and_goes_on() {
    let fake = FakeKube::start(FakeCluster {
        forbidden: vec!["/apis/argoproj.io/v1alpha1/rollouts".into()],
        ..cluster()
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &fake.url);
    let output = redress_with_kubeconfig(
        &kubeconfig,
        &["scan", "--cluster", "fake-ctx", "--format", "json"],
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(2), "an input error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/apis/argoproj.io/v1alpha1/rollouts") && stderr.contains("403 Forbidden"),
        "{stderr}"
    );
    assert_eq!(
        report["inputErrors"][0]["file"],
        "/apis/argoproj.io/v1alpha1/rollouts"
    );
    let path = "/spec/template/spec/containers/0/securityContext/privileged";
    assert_eq!(
        privileged_findings(&report),
        [("fake-ctx".into(), "Deployment/root".into(), path.into())]
    );
}

#[test]
fn scan_cluster_that_is_down_fails_with_one_message() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &url);
    let output = redress_with_kubeconfig(&kubeconfig, &["scan", "--cluster", "fake-ctx"]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // kube's own request log may add a line; redress says one thing.
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0]
            .contains("cannot reach the Kubernetes API of context 'fake-ctx' at http://127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn scan_cluster_with_an_unknown_context_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), "http://127.0.0.1:9");
    let output = redress_with_kubeconfig(&kubeconfig, &["scan", "--cluster", "nope"]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("context 'nope'"), "{stderr}");
}

// `redress fix --cluster`: the GitOps demo's snapshot served by the fake API server.

/// Serves every object of `examples/gitops-live.yaml` under its kind's API path.
fn demo_cluster() -> FakeCluster {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops-live.yaml");
    let text = std::fs::read_to_string(path).expect("demo snapshot");
    let list: Value = serde_saphyr::from_str(&text).expect("demo snapshot parses");
    let mut resources: Vec<FakeResource> = Vec::new();
    for item in list["items"].as_array().expect("items") {
        let api = item["apiVersion"].as_str().expect("apiVersion");
        let kind = item["kind"].as_str().expect("kind");
        let plural = match kind {
            "NetworkPolicy" => "networkpolicies".to_owned(),
            "GitRepository" => "gitrepositories".to_owned(),
            other => format!("{}s", other.to_ascii_lowercase()),
        };
        let namespaced = kind != "Namespace";
        match resources
            .iter_mut()
            .find(|r| r.kind == kind && r.plural == plural)
        {
            Some(r) => r.items.push(item.clone()),
            None => resources
                .push(FakeResource::new(api, kind, &plural, namespaced).with([item.clone()])),
        }
    }
    FakeCluster {
        resources,
        ..FakeCluster::default()
    }
}

#[test]
fn fix_against_a_cluster_classifies_through_tracking_metadata() {
    let fake = FakeKube::start(demo_cluster());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &fake.url);
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops");
    let output = redress_with_kubeconfig(
        &kubeconfig,
        &[
            "fix",
            "--repo",
            repo.to_str().unwrap(),
            "--cluster",
            "fake-ctx",
            "--format",
            "json",
        ],
    );
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(0), "{:#}", report["problems"]);
    let find = |rule: &str, name: &str, namespace: &str| {
        report["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["rule"] == rule
                    && i["object"]["name"] == name
                    && i["object"]["namespace"] == namespace
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {rule} on {namespace}/{name}"))
    };
    // The Argo CD Application was listed from the cluster (it is not in the repository):
    // its tracking annotation leads to the production overlay and its patch.
    let privileged = find("privileged-container", "api", "shop-production");
    assert_eq!(privileged["classification"], "source-fix");
    assert_eq!(privileged["tracking"]["kind"], "argo-application");
    assert_eq!(
        privileged["remediation"]["file"],
        "apps/shop/overlays/production/security.yaml"
    );
    assert_eq!(privileged["remediation"]["verified"], true);
    let drift = find("privileged-container", "status-page", "status");
    assert_eq!(drift["classification"], "live-drift");
    assert!(drift["remediation"].is_null());
    let shell = find("privileged-container", "debug-shell", "shop-production");
    assert_eq!(shell["classification"], "unmanaged");
    let host = find("host-network", "web", "web");
    assert_eq!(host["remediation"]["siteKind"], "flux-helmrelease-values");
    // The deployers were read from the API.
    assert!(
        !fake
            .requests_to("/apis/argoproj.io/v1alpha1/applications")
            .is_empty()
    );
}
