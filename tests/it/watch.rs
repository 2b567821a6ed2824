//! The service's live view (kube watchers) and leader election (a Lease) against the fake
//! Kubernetes API (`fake_kube`): the view matches a one-off list, follows changes, lists again
//! after its watches expire, reports a forbidden kind; of two electors one leads, and the other
//! takes over when the leader shuts down or dies.

use crate::fake_kube::{FakeCluster, FakeKube, FakeResource};
use redress::inventory::Inventory;
use redress::inventory::live::list_objects;
use redress::serve::lease::{self, Leadership, LeaseConfig};
use redress::serve::watch::LiveView;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(20);

fn deployment(namespace: &str, name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace,
            "creationTimestamp": "2026-03-01T10:00:00Z", "generation": 3,
            "annotations": {
                "argocd.argoproj.io/tracking-id": format!("shop:apps/Deployment:{namespace}/{name}")},
            "labels": {"app": name, "kustomize.toolkit.fluxcd.io/name": "apps",
                "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
            "managedFields": [{"manager": "argocd-controller", "operation": "Apply"}]},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]}}}})
}

fn pod(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}})
}

fn cluster() -> FakeCluster {
    FakeCluster {
        resources: vec![
            FakeResource::new("v1", "Namespace", "namespaces", false).with([
                json!({"metadata": {"name": "prod", "labels": {"team": "shop"}}}),
                json!({"metadata": {"name": "dev"}}),
            ]),
            FakeResource::new("v1", "Pod", "pods", true).with([pod("dev", "loose")]),
            FakeResource::new("apps/v1", "Deployment", "deployments", true).with([
                deployment("prod", "web", "nginx:1.27"),
                deployment("prod", "api", "api:2"),
                deployment("dev", "web", "nginx:1.28"),
            ]),
            FakeResource::new(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "clusterroles",
                false,
            )
            .with([json!({"metadata": {"name": "view"}, "rules": []})]),
        ],
        ..FakeCluster::default()
    }
}

/// What the view follows: served kinds, and one the fake does not serve.
fn kinds() -> Vec<(String, String)> {
    [
        ("", "Namespace"),
        ("", "Pod"),
        ("apps", "Deployment"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("argoproj.io", "Rollout"),
    ]
    .map(|(group, kind)| (group.to_owned(), kind.to_owned()))
    .to_vec()
}

async fn start(fake: &FakeKube, namespace: Option<&str>, shutdown: &CancellationToken) -> LiveView {
    let view = LiveView::start(fake.client(), "fake", &kinds(), namespace, shutdown.clone())
        .await
        .expect("the fake answers discovery");
    assert!(
        view.wait_ready(PATIENCE).await,
        "the view did not get ready"
    );
    view
}

/// The objects as comparable data, sorted by identity: identity, origin and JSON (compared as
/// maps: key order aside).
fn shape(inventory: &Inventory) -> Vec<(String, String, Value)> {
    let mut shaped: Vec<(String, String, Value)> = inventory
        .objects
        .iter()
        .map(|o| {
            (
                o.id.to_string(),
                format!("{:?}", o.origin),
                (*o.json).clone(),
            )
        })
        .collect();
    shaped.sort_by(|a, b| a.0.cmp(&b.0));
    shaped
}

/// Polls `done` until it holds or `PATIENCE` runs out; gives whether it held.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    done()
}

fn find<'a>(
    inventory: &'a Inventory,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<&'a Value> {
    inventory
        .objects
        .iter()
        .find(|o| {
            o.id.kind == kind && o.id.namespace.as_deref() == Some(namespace) && o.id.name == name
        })
        .map(|o| o.json.as_ref())
}

#[tokio::test]
async fn the_view_holds_what_a_list_gives() {
    let fake = FakeKube::start(cluster());
    let shutdown = CancellationToken::new();
    for namespace in [None, Some("prod")] {
        let view = start(&fake, namespace, &shutdown).await;
        let listed = list_objects(&fake.client(), "fake", &kinds(), namespace, 500)
            .await
            .unwrap();
        let watched = view.inventory();
        assert_eq!(shape(&watched), shape(&listed), "namespace {namespace:?}");
        assert!(watched.errors.is_empty(), "{:?}", watched.errors);
        let mut sorted = watched
            .objects
            .iter()
            .map(|o| o.id.to_string())
            .collect::<Vec<_>>();
        sorted.sort();
        let order: Vec<String> = watched.objects.iter().map(|o| o.id.to_string()).collect();
        assert_eq!(order, sorted, "sorted by identity");
    }
    let view = start(&fake, None, &shutdown).await;
    let inventory = view.inventory();
    let web = find(&inventory, "Deployment", "prod", "web").expect("prod/web");
    assert_eq!(
        web.pointer("/metadata/annotations/argocd.argoproj.io~1tracking-id"),
        Some(&json!("shop:apps/Deployment:prod/web"))
    );
    assert_eq!(
        web.pointer("/metadata/labels/kustomize.toolkit.fluxcd.io~1name"),
        Some(&json!("apps"))
    );
    assert_eq!(web["apiVersion"], "apps/v1");
    assert!(web.pointer("/metadata/managedFields").is_none());
    // Scoped to prod, the namespaces are read through a field selector, as lists are.
    let watches = fake.watches_of("/api/v1/namespaces");
    assert!(
        watches
            .iter()
            .any(|w| w.uri.contains("fieldSelector=metadata.name%3Dprod")),
        "{watches:#?}"
    );
    assert!(
        fake.seen().iter().all(|s| !s.path.contains("rollouts")),
        "an unserved kind is not watched"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn added_modified_and_deleted_objects_show_up() {
    let fake = FakeKube::start(cluster());
    let shutdown = CancellationToken::new();
    let view = start(&fake, None, &shutdown).await;
    let lists = view.lists();
    assert_eq!(lists, 4, "one list per served kind");

    fake.apply(
        "apps/v1",
        "deployments",
        deployment("prod", "cart", "cart:1"),
    );
    fake.apply(
        "apps/v1",
        "deployments",
        deployment("prod", "web", "nginx:1.29"),
    );
    fake.delete("apps/v1", "deployments", Some("dev"), "web");
    fake.apply("v1", "pods", pod("prod", "debug"));

    assert!(
        eventually(|| {
            let inventory = view.inventory();
            find(&inventory, "Deployment", "prod", "cart").is_some()
                && find(&inventory, "Deployment", "dev", "web").is_none()
                && find(&inventory, "Pod", "prod", "debug").is_some()
                && find(&inventory, "Deployment", "prod", "web").is_some_and(|web| {
                    web.pointer("/spec/template/spec/containers/0/image")
                        == Some(&json!("nginx:1.29"))
                })
        })
        .await,
        "{:#?}",
        shape(&view.inventory())
    );
    let inventory = view.inventory();
    let cart = find(&inventory, "Deployment", "prod", "cart").unwrap();
    assert_eq!(cart["kind"], "Deployment");
    assert!(cart.pointer("/metadata/managedFields").is_none());
    assert_eq!(
        view.lists(),
        lists,
        "changes came through the watch, not lists"
    );
    assert_eq!(
        shape(&inventory),
        shape(
            &list_objects(&fake.client(), "fake", &kinds(), None, 500)
                .await
                .unwrap()
        )
    );
    shutdown.cancel();
}

#[tokio::test]
async fn an_expired_watch_lists_again_and_drops_what_it_missed() {
    let fake = FakeKube::start(cluster());
    let shutdown = CancellationToken::new();
    let view = start(&fake, None, &shutdown).await;
    let lists = view.lists();
    let listed = fake.lists_of("/apis/apps/v1/deployments").len();
    assert!(
        eventually(|| fake.watches_of("/apis/apps/v1/deployments").len() == 1).await,
        "the watch did not start"
    );

    // The watches stall, a deletion and an addition happen, and the history is compacted:
    // the view can only learn of them by listing again.
    fake.pause_watches();
    fake.delete("apps/v1", "deployments", Some("prod"), "api");
    fake.apply(
        "apps/v1",
        "deployments",
        deployment("dev", "late", "late:1"),
    );
    assert!(find(&view.inventory(), "Deployment", "prod", "api").is_some());
    fake.expire_watches();

    assert!(
        eventually(|| {
            let inventory = view.inventory();
            view.lists() >= lists + 4
                && find(&inventory, "Deployment", "prod", "api").is_none()
                && find(&inventory, "Deployment", "dev", "late").is_some()
        })
        .await,
        "lists {} (before {lists}): {:#?}",
        view.lists(),
        shape(&view.inventory())
    );
    assert!(fake.lists_of("/apis/apps/v1/deployments").len() > listed);
    assert!(view.inventory().errors.is_empty(), "expiry is not an error");

    // And it watches again from the new list.
    fake.apply(
        "apps/v1",
        "deployments",
        deployment("dev", "later", "later:1"),
    );
    assert!(eventually(|| find(&view.inventory(), "Deployment", "dev", "later").is_some()).await);
    shutdown.cancel();
}

#[tokio::test]
async fn a_watch_that_times_out_resumes_without_listing() {
    let fake = FakeKube::start(FakeCluster {
        max_watch_seconds: 1,
        ..cluster()
    });
    let shutdown = CancellationToken::new();
    let view = start(&fake, None, &shutdown).await;
    let lists = view.lists();
    assert!(
        eventually(|| fake.watches_of("/api/v1/pods").len() >= 3).await,
        "the watch was not resumed"
    );
    assert_eq!(view.lists(), lists);
    let resumed = fake.watches_of("/api/v1/pods");
    assert!(resumed.iter().all(|w| w.uri.contains("resourceVersion=")));
    fake.apply("v1", "pods", pod("dev", "fresh"));
    assert!(eventually(|| find(&view.inventory(), "Pod", "dev", "fresh").is_some()).await);
    shutdown.cancel();
}

#[tokio::test]
async fn a_forbidden_kind_is_reported_and_the_others_followed() {
    let fake = FakeKube::start(FakeCluster {
        forbidden: vec!["/apis/apps/v1/deployments".into()],
        ..cluster()
    });
    let shutdown = CancellationToken::new();
    let view = start(&fake, None, &shutdown).await;
    let listed = list_objects(&fake.client(), "fake", &kinds(), None, 500)
        .await
        .unwrap();
    let inventory = view.inventory();
    assert_eq!(
        inventory.errors, listed.errors,
        "reported as a list reports it"
    );
    assert_eq!(inventory.errors.len(), 1);
    assert!(
        inventory.errors[0].message.contains("403 Forbidden"),
        "{:?}",
        inventory.errors
    );
    assert_eq!(shape(&inventory), shape(&listed));

    fake.apply("v1", "pods", pod("prod", "debug"));
    assert!(eventually(|| find(&view.inventory(), "Pod", "prod", "debug").is_some()).await);
    assert_eq!(view.inventory().errors.len(), 1, "still failing");
    shutdown.cancel();
}

// Leader election.

fn lease_cluster() -> FakeCluster {
    FakeCluster {
        resources: vec![FakeResource::new(
            "coordination.k8s.io/v1",
            "Lease",
            "leases",
            true,
        )],
        ..FakeCluster::default()
    }
}

fn elector(
    fake: &FakeKube,
    identity: &str,
    lease_duration: Duration,
) -> (Leadership, tokio::task::JoinHandle<()>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let config = LeaseConfig {
        namespace: "redress".into(),
        name: "redress-leader".into(),
        identity: identity.into(),
        lease_duration,
        renew_every: Duration::from_millis(200),
    };
    let (leadership, task) = lease::spawn(fake.client(), config, shutdown.clone());
    (leadership, task, shutdown)
}

fn holder(fake: &FakeKube) -> Option<String> {
    fake.object(
        "coordination.k8s.io/v1",
        "leases",
        Some("redress"),
        "redress-leader",
    )?
    .pointer("/spec/holderIdentity")?
    .as_str()
    .map(str::to_owned)
}

#[tokio::test]
async fn of_two_electors_exactly_one_leads() {
    let fake = FakeKube::start(lease_cluster());
    let (a, _task_a, stop_a) = elector(&fake, "pod-a", Duration::from_secs(2));
    let (b, _task_b, stop_b) = elector(&fake, "pod-b", Duration::from_secs(2));
    assert!(
        eventually(|| a.is_leader() || b.is_leader()).await,
        "nobody leads"
    );
    // Through several renewals: never both, and the Lease names whoever leads.
    for _ in 0..30 {
        let (a_leads, b_leads) = (a.is_leader(), b.is_leader());
        assert!(!(a_leads && b_leads), "both lead");
        let named = holder(&fake);
        if a_leads {
            assert_eq!(named.as_deref(), Some("pod-a"));
        }
        if b_leads {
            assert_eq!(named.as_deref(), Some("pod-b"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lease = fake
        .object(
            "coordination.k8s.io/v1",
            "leases",
            Some("redress"),
            "redress-leader",
        )
        .unwrap();
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2);
    assert!(lease.pointer("/spec/renewTime").is_some());
    assert!(
        fake.seen().iter().any(|s| s.method == "PUT"),
        "renewals are replaces"
    );
    stop_a.cancel();
    stop_b.cancel();
}

#[tokio::test]
async fn a_leader_that_shuts_down_hands_over_at_once() {
    let fake = FakeKube::start(lease_cluster());
    // A lease far longer than the test waits: only a release lets the other take over.
    let long = Duration::from_secs(300);
    let (mut a, task_a, stop_a) = elector(&fake, "pod-a", long);
    assert!(
        eventually(|| a.is_leader()).await,
        "the first elector leads"
    );
    let (b, _task_b, stop_b) = elector(&fake, "pod-b", long);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.is_leader(), "the lease is held");

    stop_a.cancel();
    tokio::time::timeout(PATIENCE, task_a)
        .await
        .expect("the elector stops")
        .unwrap();
    assert!(!a.is_leader(), "stepped down");
    tokio::time::timeout(PATIENCE, a.changed())
        .await
        .expect("the step-down is a change");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), a.changed())
            .await
            .is_err(),
        "no change after the election stopped"
    );
    assert!(
        eventually(|| b.is_leader()).await,
        "the other did not take over"
    );
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"));
    stop_b.cancel();
}

#[tokio::test]
async fn a_dead_leader_is_replaced_once_its_lease_expires() {
    let fake = FakeKube::start(lease_cluster());
    let (a, task_a, _stop_a) = elector(&fake, "pod-a", Duration::from_secs(1));
    assert!(
        eventually(|| a.is_leader()).await,
        "the first elector leads"
    );
    let (mut b, _task_b, stop_b) = elector(&fake, "pod-b", Duration::from_secs(1));
    // Killed: no release, the Lease still names it.
    task_a.abort();
    let _ = task_a.await;
    assert!(!a.is_leader(), "a dead election does not lead");
    assert_eq!(holder(&fake).as_deref(), Some("pod-a"));

    tokio::time::timeout(PATIENCE, b.changed())
        .await
        .expect("the other did not take over");
    assert!(b.is_leader());
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"));
    let lease = fake
        .object(
            "coordination.k8s.io/v1",
            "leases",
            Some("redress"),
            "redress-leader",
        )
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    stop_b.cancel();
}
