//! Integration tests of `redress fix`: the binary end to end on repositories the tests write
//! into temporary folders (plain folders, a Kustomize base and overlay, a Helm chart deployed by
//! an Argo CD Application), on the bundled GitOps demo, and on a repository served by
//! `git daemon` on loopback. Renders use the real `kubectl` and `helm` that the binary finds.

use crate::support::{GitDaemon, git};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs the binary from the crate folder with extra environment variables.
fn redress_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_redress"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("redress runs")
}

fn redress(args: &[&str]) -> Output {
    redress_env(args, &[])
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `redress fix --format json ARGS` with extra environment variables: the parsed report and
/// the process output.
fn fix_json_env(args: &[&str], env: &[(&str, &str)]) -> (Value, Output) {
    let mut all = vec!["fix", "--format", "json"];
    all.extend_from_slice(args);
    let output = redress_env(&all, env);
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "fix {args:?}: the output is not JSON: {e}\nstdout:\n{}\nstderr:\n{}",
            stdout(&output),
            stderr(&output)
        )
    });
    (report, output)
}

/// `redress fix --format json ARGS`.
fn fix_json(args: &[&str]) -> (Value, Output) {
    fix_json_env(args, &[])
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs_err::create_dir_all(path.parent().expect("a parent folder")).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A temporary repository holding `files` (repository-relative path, text).
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        write(dir.path(), rel, text);
    }
    dir
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Every file under `root` with its bytes, by relative path.
fn tree_bytes(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
            (rel, fs_err::read(e.path()).unwrap())
        })
        .collect()
}

/// The files whose bytes differ between two trees (or that exist in one only).
fn changed_files(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> BTreeSet<PathBuf> {
    before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect()
}

/// `redress fix --format json` on `repo` against a snapshot holding `live_objects`, asserted
/// to exit 0.
fn fix_against_live(repo: &Path, live_objects: &[&str]) -> Value {
    let live = tempfile::tempdir().unwrap();
    let snapshot = live.path().join("live.yaml");
    fs_err::write(&snapshot, list_of(live_objects)).unwrap();
    let (report, output) = fix_json(&["--repo", path_str(repo), "--snapshot", path_str(&snapshot)]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    report
}

/// Wraps YAML documents into a `kind: List`, as `kubectl get -o yaml` writes it.
fn list_of(documents: &[&str]) -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for doc in documents {
        let mut first = true;
        for line in doc.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() || line == "---" {
                continue;
            }
            out.push_str(if first { "  - " } else { "    " });
            out.push_str(line);
            out.push('\n');
            first = false;
        }
    }
    out
}

/// A snapshot of what `kubectl kustomize DIR` renders, as a `kind: List`.
fn kustomize_snapshot(dir: &Path) -> String {
    let kubectl = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/bin/kubectl");
    let output = Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", kubectl.display()));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let docs: Vec<&str> = text.split("\n---\n").collect();
    list_of(&docs)
}

fn items(report: &Value) -> &[Value] {
    report["items"].as_array().expect("items array")
}

fn problems(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .expect("problems array")
        .iter()
        .map(|p| p.as_str().expect("a problem is text").to_owned())
        .collect()
}

/// `namespace/name`, or `name` for an object without a namespace.
fn object_of(item: &Value) -> String {
    let o = &item["object"];
    match o["namespace"].as_str() {
        Some(ns) => format!("{ns}/{}", o["name"].as_str().unwrap_or_default()),
        None => o["name"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The index of the one item with this rule, object (`namespace/name`) and field.
fn index_of(report: &Value, rule: &str, object: &str, field: &str) -> usize {
    let found: Vec<usize> = items(report)
        .iter()
        .enumerate()
        .filter(|(_, i)| i["rule"] == rule && object_of(i) == object && i["field"] == field)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {rule} on {object} at {field} expected in:\n{report:#}"
    );
    found[0]
}

/// The one item with this rule, object (`namespace/name`) and field.
fn find<'a>(report: &'a Value, rule: &str, object: &str, field: &str) -> &'a Value {
    &items(report)[index_of(report, rule, object, field)]
}

/// The item's remediation, asserted to be verified.
fn verified(item: &Value) -> &Value {
    let r = &item["remediation"];
    assert!(r.is_object(), "a remediation expected: {item:#}");
    assert_eq!(r["verified"], true, "a verified edit expected: {item:#}");
    assert!(
        r["verification"]
            .as_str()
            .is_some_and(|v| v.contains("the finding is gone")),
        "{item:#}"
    );
    r
}

/// The item's verified remediation, asserted to edit `file` at a site of `kind`.
fn verified_at<'a>(item: &'a Value, kind: &str, file: &str) -> &'a Value {
    let r = verified(item);
    assert_eq!(r["siteKind"], kind, "{item:#}");
    assert_eq!(r["file"], file, "{item:#}");
    r
}

/// The comments of a YAML text: whole comment lines, and the `# ...` tail of other lines.
fn comments(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.find('#').map(|i| l[i..].trim_end()))
        .collect()
}

/// Every comment of `before` is still in `after`: whole comment lines unchanged, trailing
/// comments at the end of a line.
fn assert_comments_kept(file: &Path, before: &str, after: &str) {
    for line in before.lines() {
        if line.trim_start().starts_with('#') {
            assert!(
                after.lines().any(|l| l == line),
                "{}: comment line {line:?} lost:\n{after}",
                file.display()
            );
        }
    }
    for comment in comments(before) {
        assert!(
            after.lines().any(|l| l.trim_end().ends_with(comment)),
            "{}: comment {comment:?} lost:\n{after}",
            file.display()
        );
    }
    assert_eq!(
        comments(before).len(),
        comments(after).len(),
        "{}: comments",
        file.display()
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A Deployment with two containers and no securityContext anywhere.
const API_DEPLOYMENT: &str = "\
# The API server and its proxy.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
        - name: api
          image: registry.example.com/shop/api:1.4.0
          ports:
            - containerPort: 8080
        - name: sidecar
          image: registry.example.com/shop/proxy:2.1.0
";

/// A privileged Deployment in a plain folder.
const PRIVILEGED_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
        - name: api
          image: registry.example.com/shop/api:1.4.0
          securityContext:
            privileged: true # needs the GPU
";

const WORKER_BASE_KUSTOMIZATION: &str = "\
# Base of the worker.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml # the only resource
";

const WORKER_BASE_DEPLOYMENT: &str = "\
# The queue worker; overlays set the environment.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker # keep in sync with the selector
spec:
  replicas: 1
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      containers:
        # The worker itself.
        - name: worker
          image: registry.example.com/jobs/worker:3.2.1
          securityContext:
            allowPrivilegeEscalation: false # PSS restricted
            runAsNonRoot: true
";

const WORKER_PROD_KUSTOMIZATION: &str = "\
# Production: namespace jobs, one patch.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: jobs
resources:
  - ../../base
patches:
  # Needs the host's devices (ticket OPS-42).
  - path: privileged.yaml
";

const WORKER_PROD_PATCH: &str = "\
# Temporary: the worker reads a device.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  template:
    spec:
      containers:
        - name: worker
          securityContext:
            # TODO: drop once the device plugin lands.
            privileged: true # OPS-42
";

/// The Kustomize base and production overlay of the worker.
fn worker_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("deploy/base/kustomization.yaml", WORKER_BASE_KUSTOMIZATION),
        ("deploy/base/deployment.yaml", WORKER_BASE_DEPLOYMENT),
        (
            "deploy/overlays/prod/kustomization.yaml",
            WORKER_PROD_KUSTOMIZATION,
        ),
        ("deploy/overlays/prod/privileged.yaml", WORKER_PROD_PATCH),
    ]
}

const BILLING_NAMESPACE: &str = "\
apiVersion: v1
kind: Namespace
metadata:
  name: billing
  labels:
    pod-security.kubernetes.io/enforce: restricted
";

const BILLING_DEFAULT_DENY: &str = "\
# Nothing in or out unless another policy allows it.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: billing
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
";

/// A Deployment that passes every rule.
const BILLING_DEPLOYMENT: &str = "\
# Invoices; hardened to the restricted profile.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: invoices
  namespace: billing
spec:
  replicas: 2
  selector:
    matchLabels:
      app: invoices
  template:
    metadata:
      labels:
        app: invoices
    spec:
      serviceAccountName: invoices
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: invoices
          image: registry.example.com/billing/invoices:5.0.2@sha256:040d34e0c4c61066921089964021dcbdba933cdf90bf5f15b4feb3bf16cc94cf
          imagePullPolicy: Always
          readinessProbe:
            httpGet: {path: /ready, port: 8080}
          livenessProbe:
            httpGet: {path: /healthz, port: 8080}
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {cpu: 500m, memory: 128Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [\"ALL\"]
";

/// A Pod started by hand, in no Git source.
const DEBUG_POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: debug-shell
  namespace: billing
spec:
  containers:
    - name: sh
      image: busybox:1.36
      securityContext:
        privileged: true
";

/// `deployment` as the cluster holds it after `kubectl edit` made its container privileged.
fn made_privileged(deployment: &str) -> String {
    deployment.replace(
        "            allowPrivilegeEscalation: false\n",
        "            allowPrivilegeEscalation: false\n            privileged: true\n",
    )
}

// ---------------------------------------------------------------------------------------------
// 1. The bundled demo
// ---------------------------------------------------------------------------------------------

/// One run of the demo (`--snapshot`), shared by the tests that read it: the report and the
/// exit code.
fn demo() -> &'static (Value, Option<i32>) {
    static DEMO: OnceLock<(Value, Option<i32>)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let (report, output) = fix_json(&[
            "--repo",
            "examples/gitops",
            "--snapshot",
            "examples/gitops-live.yaml",
        ]);
        (report, output.status.code())
    })
}

#[test]
fn demo_matches_the_readme_table_and_leaves_the_repository_alone() {
    let gitops = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops");
    let before = tree_bytes(&gitops);
    let (report, code) = demo();
    assert_eq!(*code, Some(0), "{report:#}");
    assert_eq!(problems(report), Vec::<String>::new());
    assert_eq!(report["live"], true);
    assert_eq!(report["written"], serde_json::json!([]));

    // 34 findings: 14 from the source, 1 drift, the debug shell's 19.
    let count = |class: &str| {
        items(report)
            .iter()
            .filter(|i| i["classification"] == class)
            .count()
    };
    assert_eq!(items(report).len(), 34);
    assert_eq!(count("source-fix"), 14);
    assert_eq!(count("live-drift"), 1);
    assert_eq!(count("unmanaged"), 19);
    assert_eq!(count("git-only"), 0);

    // The production patch makes the log-shipper privileged.
    let privileged = find(
        report,
        "privileged-container",
        "shop-production/api",
        "/spec/template/spec/containers/1/securityContext/privileged",
    );
    assert_eq!(privileged["classification"], "source-fix");
    let r = verified_at(
        privileged,
        "kustomize-patch",
        "apps/shop/overlays/production/security.yaml",
    );
    let diff = r["diff"].as_str().unwrap();
    assert!(diff.contains("\n-            privileged: true\n"), "{diff}");
    assert!(
        diff.contains("\n+            privileged: false\n"),
        "{diff}"
    );

    // The same patch allows privilege escalation.
    let escalation = find(
        report,
        "allow-privilege-escalation",
        "shop-production/api",
        "/spec/template/spec/containers/1/securityContext/allowPrivilegeEscalation",
    );
    verified_at(
        escalation,
        "kustomize-patch",
        "apps/shop/overlays/production/security.yaml",
    );

    // The status page was made privileged by hand: drift, nothing to edit.
    let drift = find(
        report,
        "privileged-container",
        "status/status-page",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(drift["classification"], "live-drift");
    assert!(drift["remediation"].is_null(), "{drift:#}");
    assert!(
        drift["reason"]
            .as_str()
            .unwrap()
            .contains("changed outside Git"),
        "{drift:#}"
    );
    // Its other findings come from the plain file.
    for (rule, key) in [
        ("allow-privilege-escalation", "allowPrivilegeEscalation"),
        ("run-as-non-root", "runAsNonRoot"),
    ] {
        let field = format!("/spec/template/spec/containers/0/securityContext/{key}");
        let item = find(report, rule, "status/status-page", &field);
        assert_eq!(item["classification"], "source-fix");
        verified_at(item, "plain-document", "apps/status/deployment.yaml");
    }

    // The debug shell is in no source.
    let debug: Vec<&Value> = items(report)
        .iter()
        .filter(|i| object_of(i) == "shop-production/debug-shell")
        .collect();
    assert_eq!(debug.len(), 19);
    for item in &debug {
        assert_eq!(item["classification"], "unmanaged", "{item:#}");
        assert!(item["remediation"].is_null(), "{item:#}");
        assert!(
            item["reason"].as_str().unwrap().contains("no render root"),
            "{item:#}"
        );
    }
    assert!(
        debug.iter().any(|i| i["rule"] == "privileged-container"),
        "{debug:#?}"
    );

    // The HelmRelease turns the host network on.
    let host = find(
        report,
        "host-network",
        "web/web",
        "/spec/template/spec/hostNetwork",
    );
    assert_eq!(host["classification"], "source-fix");
    let r = verified_at(host, "flux-helmrelease-values", "apps/web/release.yaml");
    assert_eq!(r["path"], "spec.values.hostNetwork");
    let diff = r["diff"].as_str().unwrap();
    assert!(diff.contains("\n-    hostNetwork: true\n"), "{diff}");
    assert!(diff.contains("\n+    hostNetwork: false\n"), "{diff}");

    // No values file sets the web container's securityContext: the chart's default does.
    let web = find(
        report,
        "allow-privilege-escalation",
        "web/web",
        "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
    );
    let r = verified_at(web, "helm-values", "charts/web/values.yaml");
    assert_eq!(r["path"], "securityContext");

    // Staging's JSON 6902 patch turns privilege escalation back on.
    let staging = find(
        report,
        "allow-privilege-escalation",
        "shop-staging/api",
        "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
    );
    assert_eq!(staging["classification"], "source-fix");
    let r = verified_at(
        staging,
        "kustomize-json6902",
        "apps/shop/overlays/staging/allow-ptrace.yaml",
    );
    let diff = r["diff"].as_str().unwrap();
    assert!(diff.contains("\n-  value: true\n"), "{diff}");
    assert!(diff.contains("\n+  value: false\n"), "{diff}");

    // run-as-non-root on the api container: one base edit for both overlays.
    let field = "/spec/template/spec/containers/0/securityContext/runAsNonRoot";
    let prod = index_of(report, "run-as-non-root", "shop-production/api", field);
    let stag = index_of(report, "run-as-non-root", "shop-staging/api", field);
    let (first, second) = if items(report)[prod]["remediation"]["sameAs"].is_null() {
        (prod, stag)
    } else {
        (stag, prod)
    };
    let (a, b) = (&items(report)[first], &items(report)[second]);
    let (ra, rb) = (verified(a), verified(b));
    assert!(ra["sameAs"].is_null(), "{a:#}");
    assert_eq!(rb["sameAs"], first, "{b:#}");
    for r in [ra, rb] {
        assert_eq!(r["siteKind"], "kustomize-base");
        assert_eq!(r["file"], "apps/shop/base/deployment.yaml");
    }
    assert_eq!(ra["diff"], rb["diff"]);
    let other = object_of(b);
    assert!(
        ra["blastRadius"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x.as_str().unwrap().contains(&other)),
        "the first edit's blast radius names {other}: {a:#}"
    );

    // Nothing was written.
    assert_eq!(tree_bytes(&gitops), before);
}

#[test]

fn demo_same_edit_names_the_other_overlay_in_its_blast_radius() {
    let (report, _) = demo();
    let field = "/spec/template/spec/containers/0/securityContext/runAsNonRoot";
    for (me, other) in [
        ("shop-production/api", "shop-staging/api"),
        ("shop-staging/api", "shop-production/api"),
    ] {
        let item = find(report, "run-as-non-root", me, field);
        let blast: Vec<&str> = item["remediation"]["blastRadius"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        assert!(blast.iter().any(|b| b.contains(other)), "{me}: {blast:?}");
        assert!(!blast.iter().any(|b| b.contains(me)), "{me}: {blast:?}");
    }
}

#[test]

fn demo_status_page_source_fixes_carry_no_in_context_reason() {
    let (report, _) = demo();
    let item = find(
        report,
        "run-as-non-root",
        "status/status-page",
        "/spec/template/spec/containers/0/securityContext/runAsNonRoot",
    );
    assert_eq!(item["classification"], "source-fix");
    assert!(item["reason"].is_null(), "{item:#}");
}

// ---------------------------------------------------------------------------------------------
// 2. git-only
// ---------------------------------------------------------------------------------------------

#[test]
fn without_live_input_every_finding_is_git_only_with_plain_edits() {
    let dir = repo(&[("apps/api/deployment.yaml", API_DEPLOYMENT)]);
    let before = tree_bytes(dir.path());
    let (report, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["live"], false);
    assert!(report["revision"].is_null(), "{report:#}");
    assert!(!items(&report).is_empty());
    for item in items(&report) {
        assert_eq!(item["classification"], "git-only", "{item:#}");
        if !item["remediation"].is_null() {
            verified_at(item, "plain-document", "apps/api/deployment.yaml");
        }
    }
    // Each container gets each fixable field.
    for container in 0..2 {
        for field in [
            "allowPrivilegeEscalation",
            "capabilities/drop",
            "runAsNonRoot",
            "seccompProfile/type",
        ] {
            let pointer =
                format!("/spec/template/spec/containers/{container}/securityContext/{field}");
            let item = items(&report)
                .iter()
                .find(|i| i["field"] == pointer.as_str())
                .unwrap_or_else(|| panic!("a finding at {pointer}: {report:#}"));
            verified(item);
        }
    }

    // The field goes under the container that lacks it.
    let api = find(
        &report,
        "allow-privilege-escalation",
        "shop/api",
        "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
    );
    let r = verified(api);
    assert_eq!(r["line"], 23);
    let diff = r["diff"].as_str().unwrap();
    assert!(
        diff.contains(concat!(
            "             - containerPort: 8080\n",
            "+          securityContext:\n",
            "+            allowPrivilegeEscalation: false\n",
            "         - name: sidecar\n",
        )),
        "{diff}"
    );
    let sidecar = find(
        &report,
        "allow-privilege-escalation",
        "shop/api",
        "/spec/template/spec/containers/1/securityContext/allowPrivilegeEscalation",
    );
    let diff = verified(sidecar)["diff"].as_str().unwrap();
    assert!(
        diff.contains(concat!(
            "           image: registry.example.com/shop/proxy:2.1.0\n",
            "+          securityContext:\n",
            "+            allowPrivilegeEscalation: false\n",
        )),
        "{diff}"
    );
    // Rules without a fix say so.
    let probe = find(
        &report,
        "liveness-probe-missing",
        "shop/api",
        "/spec/template/spec/containers/0/livenessProbe",
    );
    assert!(probe["remediation"].is_null());
    assert!(
        probe["reason"]
            .as_str()
            .unwrap()
            .contains("has no automatic fix"),
        "{probe:#}"
    );
    assert_eq!(tree_bytes(dir.path()), before);
}

// ---------------------------------------------------------------------------------------------
// 3. --write
// ---------------------------------------------------------------------------------------------

#[test]
fn write_changes_only_the_written_files_keeps_comments_and_is_idempotent() {
    let dir = repo(&worker_files());
    let overlay = dir.path().join("deploy/overlays/prod");
    let live = tempfile::tempdir().unwrap();
    let snapshot = live.path().join("live.yaml");
    fs_err::write(&snapshot, kustomize_snapshot(&overlay)).unwrap();
    let before = tree_bytes(dir.path());

    let args = [
        "--repo",
        path_str(dir.path()),
        "--snapshot",
        path_str(&snapshot),
        "--write",
    ];
    let (report, output) = fix_json(&args);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let privileged = find(
        &report,
        "privileged-container",
        "jobs/worker",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(privileged["classification"], "source-fix");
    verified_at(
        privileged,
        "kustomize-patch",
        "deploy/overlays/prod/privileged.yaml",
    );

    let written: BTreeSet<PathBuf> = report["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| PathBuf::from(w.as_str().unwrap()))
        .collect();
    let expected: BTreeSet<PathBuf> = [
        "deploy/base/deployment.yaml",
        "deploy/overlays/prod/privileged.yaml",
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(written, expected, "{report:#}");
    let after = tree_bytes(dir.path());
    assert_eq!(changed_files(&before, &after), written);
    for file in &written {
        let old = String::from_utf8(before[file].clone()).unwrap();
        let new = String::from_utf8(after[file].clone()).unwrap();
        assert_comments_kept(file, &old, &new);
    }
    let patch = String::from_utf8(after[Path::new("deploy/overlays/prod/privileged.yaml")].clone())
        .unwrap();
    assert!(
        patch.contains("            privileged: false # OPS-42\n"),
        "{patch}"
    );

    // Re-rendered, the fixed findings are gone.
    let (again, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0), "{again:#}");
    for item in items(&again) {
        assert!(item["remediation"].is_null(), "{item:#}");
        for gone in [
            "privileged-container",
            "capabilities-not-dropped",
            "seccomp-profile-missing",
        ] {
            assert_ne!(item["rule"], gone, "{item:#}");
        }
    }

    // A snapshot of the new render: nothing left to write.
    fs_err::write(&snapshot, kustomize_snapshot(&overlay)).unwrap();
    let (third, output) = fix_json(&args);
    assert_eq!(output.status.code(), Some(0), "{third:#}");
    assert_eq!(third["written"], serde_json::json!([]));
    assert!(
        items(&third).iter().all(|i| i["remediation"].is_null()),
        "{third:#}"
    );
    assert!(
        items(&third)
            .iter()
            .all(|i| i["classification"] == "source-fix"),
        "{third:#}"
    );
    assert_eq!(tree_bytes(dir.path()), after);
}

// ---------------------------------------------------------------------------------------------
// 4. Helm
// ---------------------------------------------------------------------------------------------

const CHART: &str = "\
apiVersion: v2
name: app
description: The catalogue service.
version: 0.3.0
appVersion: \"2.4.1\"
";

const CHART_VALUES: &str = "\
# Default values for the catalogue.

replicaCount: 2 # two for availability

image:
  repository: registry.example.com/shop/catalogue
  tag: \"2.4.1\" # pinned by the release job

# Container security context, rendered whole.
securityContext: {}
  # capabilities:
  #   drop: [ALL]
  # readOnlyRootFilesystem: true

# Port the service listens on.
port: 8080
";

const CHART_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
    app.kubernetes.io/instance: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .Chart.Name }}
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {{ .Chart.Name }}
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: \"{{ .Values.image.repository }}:{{ .Values.image.tag }}\"
          ports:
            - containerPort: {{ .Values.port }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
";

const CATALOGUE_APPLICATION: &str = "\
# The catalogue, deployed from this repository's chart.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: catalogue
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://git.example.com/shop/deploy.git
    targetRevision: main
    path: charts/app
    helm:
      valueFiles:
        - values.yaml
  destination:
    server: https://kubernetes.default.svc
    namespace: shop
";

/// What Argo CD applied: the chart's render in namespace `shop`, with its tracking metadata.
const CATALOGUE_LIVE: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalogue
  namespace: shop
  labels:
    app.kubernetes.io/name: app
    app.kubernetes.io/instance: catalogue
  annotations:
    argocd.argoproj.io/tracking-id: \"catalogue:apps/Deployment:shop/catalogue\"
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app
      app.kubernetes.io/instance: catalogue
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app
        app.kubernetes.io/instance: catalogue
    spec:
      containers:
        - name: app
          image: registry.example.com/shop/catalogue:2.4.1
          ports:
            - containerPort: 8080
          securityContext: {}
";

#[test]
fn helm_values_map_rendered_whole_gets_the_key_and_keeps_comments() {
    let dir = repo(&[
        ("charts/app/Chart.yaml", CHART),
        ("charts/app/values.yaml", CHART_VALUES),
        ("charts/app/templates/deployment.yaml", CHART_DEPLOYMENT),
        ("argocd/catalogue.yaml", CATALOGUE_APPLICATION),
    ]);
    let live = tempfile::tempdir().unwrap();
    let snapshot = live.path().join("live.yaml");
    fs_err::write(&snapshot, list_of(&[CATALOGUE_LIVE])).unwrap();
    let before = tree_bytes(dir.path());

    let args = [
        "--repo",
        path_str(dir.path()),
        "--snapshot",
        path_str(&snapshot),
    ];
    let (report, output) = fix_json(&args);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let item = find(
        &report,
        "allow-privilege-escalation",
        "shop/catalogue",
        "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
    );
    assert_eq!(item["classification"], "source-fix");
    assert_eq!(item["tracking"]["kind"], "argo-application");
    assert_eq!(item["tracking"]["name"], "catalogue");
    let r = verified_at(item, "helm-values", "charts/app/values.yaml");
    assert_eq!(r["path"], "securityContext");
    let diff = r["diff"].as_str().unwrap();
    assert!(
        diff.contains(concat!(
            " # Container security context, rendered whole.\n",
            "-securityContext: {}\n",
            "+securityContext:\n",
            "+  allowPrivilegeEscalation: false\n",
            "   # capabilities:\n",
        )),
        "{diff}"
    );
    assert_eq!(tree_bytes(dir.path()), before, "a run without --write");

    // Written together, the edits of the same map keep the commented-out keys.
    let mut write_args = args.to_vec();
    write_args.push("--write");
    let (report, output) = fix_json(&write_args);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(
        report["written"],
        serde_json::json!(["charts/app/values.yaml"])
    );
    let after = tree_bytes(dir.path());
    let values = Path::new("charts/app/values.yaml");
    assert_eq!(
        changed_files(&before, &after),
        BTreeSet::from([values.to_path_buf()])
    );
    let text = String::from_utf8(after[values].clone()).unwrap();
    assert_comments_kept(values, CHART_VALUES, &text);
    assert!(!text.contains("securityContext: {}"), "{text}");
    let parsed: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(
        parsed["securityContext"]["allowPrivilegeEscalation"], false,
        "{text}"
    );
    assert_eq!(parsed["port"], 8080, "{text}");
}

// ---------------------------------------------------------------------------------------------
// 5. Bad input
// ---------------------------------------------------------------------------------------------

/// The privileged finding of the plain Deployment has a verified plain-document edit.
fn assert_plain_fix(report: &Value, classification: &str) {
    let item = find(
        report,
        "privileged-container",
        "shop/api",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(item["classification"], classification, "{item:#}");
    let r = verified_at(item, "plain-document", "plain/api.yaml");
    assert!(
        r["diff"]
            .as_str()
            .unwrap()
            .contains("+            privileged: false # needs the GPU\n"),
        "{item:#}"
    );
}

#[test]
fn a_remote_kustomize_base_is_reported_and_the_plain_folder_still_fixed() {
    let dir = repo(&[
        (
            "vendor/kustomization.yaml",
            "# Pulls the vendor's base.\nresources:\n  - https://github.com/example/base?ref=v1\nnamespace: vendor\n",
        ),
        ("plain/api.yaml", PRIVILEGED_DEPLOYMENT),
    ]);
    let (report, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(2), "{report:#}");
    let problems = problems(&report);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("vendor") && p.contains("remote")),
        "{problems:?}"
    );
    let failed: Vec<&Value> = report["roots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["objects"].is_null())
        .collect();
    assert_eq!(failed.len(), 1, "{report:#}");
    assert_eq!(failed[0]["label"], "vendor (kustomize)");
    assert_plain_fix(&report, "git-only");
}

#[test]
fn a_rendered_document_without_a_string_api_version_is_named_and_the_rest_fixed() {
    // Kustomize passes `apiVersion: 1` through; redress used to misalign the render's objects
    // and panic (or match the wrong object) when it dropped that document.
    let dir = repo(&[
        (
            "app/kustomization.yaml",
            "resources:\n  - odd.yaml\n  - api.yaml\n",
        ),
        (
            "app/odd.yaml",
            "apiVersion: 1\nkind: Thing\nmetadata:\n  name: odd\n",
        ),
        ("app/api.yaml", PRIVILEGED_DEPLOYMENT),
    ]);
    let (report, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{report:#} {}",
        stderr(&output)
    );
    let problems = problems(&report);
    assert!(
        problems.iter().any(|p| p.contains("apiVersion and kind")),
        "{problems:?}"
    );
    let item = find(
        &report,
        "privileged-container",
        "shop/api",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    verified_at(item, "kustomize-base", "app/api.yaml");
}

#[test]
fn a_missing_kubectl_is_named_and_the_plain_folder_still_fixed() {
    let mut files = worker_files();
    files.push(("plain/api.yaml", PRIVILEGED_DEPLOYMENT));
    let dir = repo(&files);
    let (report, output) = fix_json_env(
        &["--repo", path_str(dir.path())],
        &[("REDRESS_KUBECTL", "/nonexistent/kubectl")],
    );
    assert_eq!(output.status.code(), Some(2), "{report:#}");
    let problems = problems(&report);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("kubectl") && p.contains("REDRESS_KUBECTL")),
        "{problems:?}"
    );
    assert!(
        items(&report).iter().all(|i| object_of(i) != "jobs/worker"),
        "{report:#}"
    );
    assert_plain_fix(&report, "git-only");
}

#[test]

fn a_missing_kubectl_problem_names_the_root() {
    let mut files = worker_files();
    files.push(("plain/api.yaml", PRIVILEGED_DEPLOYMENT));
    let dir = repo(&files);
    let (report, _) = fix_json_env(
        &["--repo", path_str(dir.path())],
        &[("REDRESS_KUBECTL", "/nonexistent/kubectl")],
    );
    let problems = problems(&report);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("deploy/overlays/prod") && p.contains("REDRESS_KUBECTL")),
        "{problems:?}"
    );
}

const BROKEN_CONFIG: &str = "\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
data:
  key: value: other
";

#[test]
fn a_yaml_syntax_error_names_file_document_and_line_and_the_rest_is_fixed() {
    let dir = repo(&[
        ("plain/api.yaml", PRIVILEGED_DEPLOYMENT),
        ("plain/config.yaml", BROKEN_CONFIG),
    ]);
    let (report, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(2), "{report:#}");
    let problems = problems(&report);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("plain/config.yaml:13") && p.contains("document 2")),
        "{problems:?}"
    );
    // The first document of the broken file and the other file are still read.
    let roots = report["roots"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "{report:#}");
    assert_eq!(roots[0]["label"], "plain (plain)");
    assert_eq!(roots[0]["objects"], 2);
    assert_plain_fix(&report, "git-only");
}

#[test]
fn a_broken_snapshot_document_is_named_and_the_rest_is_used() {
    let dir = repo(&[("plain/api.yaml", PRIVILEGED_DEPLOYMENT)]);
    let live = tempfile::tempdir().unwrap();
    let snapshot = live.path().join("live.yaml");
    // The cluster's copy of the Deployment, a document that does not parse (line 27), and a
    // Pod that no source has.
    let text = format!(
        "{}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: oops\n  namespace: shop\nspec: [unclosed\n---\n{}",
        list_of(&[PRIVILEGED_DEPLOYMENT]),
        DEBUG_POD.replace("namespace: billing", "namespace: shop"),
    );
    assert_eq!(
        text.lines().position(|l| l == "spec: [unclosed"),
        Some(26),
        "{text}"
    );
    fs_err::write(&snapshot, text).unwrap();
    let (report, output) = fix_json(&[
        "--repo",
        path_str(dir.path()),
        "--snapshot",
        path_str(&snapshot),
    ]);
    assert_eq!(output.status.code(), Some(2), "{report:#}");
    let problems = problems(&report);
    let named = format!("{}:27 (document 2)", snapshot.display());
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("live input:") && p.contains(&named)),
        "{named} in {problems:?}"
    );
    assert_plain_fix(&report, "source-fix");
    let debug = find(
        &report,
        "privileged-container",
        "shop/debug-shell",
        "/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(debug["classification"], "unmanaged");
}

// ---------------------------------------------------------------------------------------------
// 6. Drift and unmanaged
// ---------------------------------------------------------------------------------------------

fn billing_repo(deployment: &str) -> tempfile::TempDir {
    repo(&[
        ("apps/billing/namespace.yaml", BILLING_NAMESPACE),
        ("apps/billing/networkpolicy.yaml", BILLING_DEFAULT_DENY),
        ("apps/billing/deployment.yaml", deployment),
    ])
}

/// The billing app as the cluster holds it: the Deployment made privileged by hand, and a
/// debug Pod.
fn billing_snapshot(dir: &Path, deployment: &str) -> PathBuf {
    let snapshot = dir.join("live.yaml");
    let live = made_privileged(deployment);
    fs_err::write(
        &snapshot,
        list_of(&[BILLING_NAMESPACE, BILLING_DEFAULT_DENY, &live, DEBUG_POD]),
    )
    .unwrap();
    snapshot
}

#[test]
fn drift_and_unmanaged_objects_get_no_edit_and_say_why() {
    let dir = billing_repo(BILLING_DEPLOYMENT);
    let live = tempfile::tempdir().unwrap();
    let snapshot = billing_snapshot(live.path(), BILLING_DEPLOYMENT);
    let before = tree_bytes(dir.path());

    // The repository itself is clean.
    let (clean, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0), "{clean:#}");
    assert_eq!(items(&clean).len(), 0, "{clean:#}");

    let (report, output) = fix_json(&[
        "--repo",
        path_str(dir.path()),
        "--snapshot",
        path_str(&snapshot),
        "--write",
    ]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let on_invoices: Vec<&Value> = items(&report)
        .iter()
        .filter(|i| object_of(i) == "billing/invoices")
        .collect();
    assert_eq!(on_invoices.len(), 1, "{report:#}");
    let drift = on_invoices[0];
    assert_eq!(drift["rule"], "privileged-container");
    assert_eq!(drift["classification"], "live-drift");
    assert!(drift["remediation"].is_null(), "{drift:#}");
    let reason = drift["reason"].as_str().unwrap();
    assert!(reason.contains("changed outside Git"), "{reason}");
    assert!(reason.contains("apps/billing (plain)"), "{reason}");

    let on_pod: Vec<&Value> = items(&report)
        .iter()
        .filter(|i| object_of(i) == "billing/debug-shell")
        .collect();
    assert!(
        on_pod.iter().any(|i| i["rule"] == "privileged-container"),
        "{report:#}"
    );
    assert_eq!(on_pod.len() + 1, items(&report).len(), "{report:#}");
    for item in on_pod {
        assert_eq!(item["classification"], "unmanaged", "{item:#}");
        assert!(item["remediation"].is_null(), "{item:#}");
        assert!(
            item["reason"].as_str().unwrap().contains("no render root"),
            "{item:#}"
        );
    }
    // Nothing to fix in Git: nothing written.
    assert_eq!(report["written"], serde_json::json!([]));
    assert_eq!(tree_bytes(dir.path()), before);
}

#[test]

fn a_source_fix_next_to_drift_carries_no_in_context_reason() {
    // The source never requires non-root; the live copy is also privileged by hand.
    let deployment = BILLING_DEPLOYMENT.replace("        runAsNonRoot: true\n", "");
    let dir = billing_repo(&deployment);
    let live = tempfile::tempdir().unwrap();
    let snapshot = billing_snapshot(live.path(), &deployment);
    let (report, _) = fix_json(&[
        "--repo",
        path_str(dir.path()),
        "--snapshot",
        path_str(&snapshot),
    ]);
    let drift = find(
        &report,
        "privileged-container",
        "billing/invoices",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(drift["classification"], "live-drift");
    let item = find(
        &report,
        "run-as-non-root",
        "billing/invoices",
        "/spec/template/spec/containers/0/securityContext/runAsNonRoot",
    );
    assert_eq!(item["classification"], "source-fix");
    verified(item);
    assert!(item["reason"].is_null(), "{item:#}");
}

// ---------------------------------------------------------------------------------------------
// 7. A remote repository
// ---------------------------------------------------------------------------------------------

#[test]
fn a_remote_repository_is_fixed_in_git_only_mode_and_refuses_write() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    fs_err::create_dir_all(&served).unwrap();
    git(&served, &["init", "--bare", "--quiet", "shop.git"]);
    let work = tmp.path().join("work");
    write(&work, "apps/api/deployment.yaml", API_DEPLOYMENT);
    git(&work, &["init", "--quiet"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "api"]);
    let bare = served.join("shop.git");
    git(&work, &["push", "--quiet", path_str(&bare), "main"]);
    let commit = git(&work, &["rev-parse", "HEAD"]);

    let daemon = GitDaemon::start(&served);
    let url = format!("git://127.0.0.1:{}/shop.git", daemon.port);
    let cache = tmp.path().join("cache");
    let (report, output) = fix_json(&["--repo", &url, "--cache", path_str(&cache)]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["repository"], url.as_str());
    assert_eq!(report["revision"], commit.as_str());
    assert_eq!(report["live"], false);
    let api = find(
        &report,
        "allow-privilege-escalation",
        "shop/api",
        "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation",
    );
    assert_eq!(api["classification"], "git-only");
    let r = verified_at(api, "plain-document", "apps/api/deployment.yaml");
    assert!(
        r["diff"]
            .as_str()
            .unwrap()
            .contains("+            allowPrivilegeEscalation: false\n"),
        "{api:#}"
    );

    // --write needs a work tree of the user's.
    let output = redress(&[
        "fix",
        "--repo",
        &url,
        "--cache",
        path_str(&cache),
        "--write",
    ]);
    assert_eq!(output.status.code(), Some(4), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains("--write needs a local repository") && message.contains(&url),
        "{message}"
    );
    drop(daemon);
}

// ---------------------------------------------------------------------------------------------
// 8. Output formats
// ---------------------------------------------------------------------------------------------

#[test]
fn json_has_schema_version_and_table_shows_verification_and_diff() {
    let dir = repo(&[("apps/api/deployment.yaml", API_DEPLOYMENT)]);
    let (report, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(report["schemaVersion"], 1);
    assert_eq!(report["repository"], path_str(dir.path()));
    for key in ["items", "problems", "written", "roots"] {
        assert!(report[key].is_array(), "{key}: {report:#}");
    }
    assert!(report["renders"]["renders"].as_u64().unwrap() >= 1);
    assert!(report["summary"].as_str().unwrap().contains("git-only"));
    for item in items(&report) {
        for key in ["rule", "severity", "fingerprint", "message"] {
            assert!(item[key].is_string(), "{key}: {item:#}");
        }
    }

    let output = redress(&["fix", "--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0));
    let table = stdout(&output);
    assert!(table.contains("against its own renders"), "{table}");
    assert!(
        table.contains("edit: apps/api/deployment.yaml:23 (plain-document)"),
        "{table}"
    );
    assert!(
        table.contains("verified: re-rendered 1 root: the finding is gone"),
        "{table}"
    );
    assert!(table.contains("--- a/apps/api/deployment.yaml"), "{table}");
    assert!(table.contains("+++ b/apps/api/deployment.yaml"), "{table}");
    assert!(
        table.contains("+            allowPrivilegeEscalation: false"),
        "{table}"
    );
}

// Regression: a clone of the demo whose `origin` names another URL than the deployers do (as
// any checkout of this project does) must still follow the deployers into it.
#[test]
fn a_repository_whose_remote_url_differs_from_the_deployers_is_still_followed() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops");
    let dir = tempfile::tempdir().unwrap();
    for (rel, bytes) in tree_bytes(&demo) {
        let path = dir.path().join(&rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, bytes).unwrap();
    }
    git(dir.path(), &["init", "--quiet"]);
    git(
        dir.path(),
        &[
            "remote",
            "add",
            "origin",
            "https://example.invalid/someone/fork.git",
        ],
    );
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "--quiet", "-m", "demo"]);
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops-live.yaml");
    let (report, output) = fix_json(&[
        "--repo",
        path_str(dir.path()),
        "--snapshot",
        path_str(&snapshot),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let host = items(&report)
        .iter()
        .find(|i| i["rule"] == "host-network")
        .expect("host-network finding");
    assert_eq!(host["classification"], "source-fix", "{host:#}");
    assert_eq!(host["remediation"]["siteKind"], "flux-helmrelease-values");
    assert_eq!(host["tracking"]["kind"], "flux-helm-release");
}

// An Argo CD Application whose `valuesObject` sets the value: the Application file is the site.
#[test]
fn argo_application_values_object_is_the_site_when_it_sets_the_value() {
    let application = CATALOGUE_APPLICATION.replace(
        "        - values.yaml\n",
        "        - values.yaml\n      # Debugging the image cache on the node (CAT-17).\n      valuesObject:\n        securityContext:\n          privileged: true\n",
    );
    let dir = repo(&[
        ("charts/app/Chart.yaml", CHART),
        ("charts/app/values.yaml", CHART_VALUES),
        ("charts/app/templates/deployment.yaml", CHART_DEPLOYMENT),
        ("argocd/catalogue.yaml", &application),
    ]);
    let live_object = CATALOGUE_LIVE.replace(
        "          securityContext: {}\n",
        "          securityContext:\n            privileged: true\n",
    );
    assert_ne!(live_object, CATALOGUE_LIVE, "the live fixture changed");
    let report = fix_against_live(dir.path(), &[&live_object]);
    let item = find(
        &report,
        "privileged-container",
        "shop/catalogue",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(item["classification"], "source-fix");
    let r = verified_at(item, "argo-helm-values", "argocd/catalogue.yaml");
    let diff = r["diff"].as_str().unwrap();
    assert!(
        diff.contains("-          privileged: true\n+          privileged: false\n"),
        "{diff}"
    );
}

// A Flux Kustomization that prefixes names: the live `blue-api` comes from the file's `api`.
#[test]
fn a_deployer_name_prefix_is_minded_when_matching() {
    const KUSTOMIZATION: &str = "\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: shop-blue
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/shop
  namePrefix: blue-
  prune: true
  sourceRef:
    kind: GitRepository
    name: shop
";
    let dir = repo(&[
        ("apps/shop/deployment.yaml", PRIVILEGED_DEPLOYMENT),
        ("clusters/prod/shop-blue.yaml", KUSTOMIZATION),
    ]);
    let live_object = PRIVILEGED_DEPLOYMENT
        .replace("  name: api\n", "  name: blue-api\n  labels:\n    kustomize.toolkit.fluxcd.io/name: shop-blue\n    kustomize.toolkit.fluxcd.io/namespace: flux-system\n");
    let report = fix_against_live(dir.path(), &[&live_object]);
    let item = find(
        &report,
        "privileged-container",
        "shop/blue-api",
        "/spec/template/spec/containers/0/securityContext/privileged",
    );
    assert_eq!(item["classification"], "source-fix", "{item:#}");
    assert_eq!(verified(item)["file"], "apps/shop/deployment.yaml");
}

// Regression: two files of one folder define the same Pod (examples often do). Each finding
// is verified against its own object, not its twin.
#[test]
fn two_objects_of_one_identity_in_a_root_are_told_apart() {
    const POD: &str = "\
apiVersion: v1
kind: Pod
metadata:
  name: nginx
spec:
  containers:
    - name: nginx
      image: nginx:1.27
      securityContext:
        privileged: true
";
    let other = POD.replace("nginx:1.27", "nginx:1.27-alpine");
    let dir = repo(&[("pods/a.yaml", POD), ("pods/b.yaml", &other)]);
    let (report, output) = fix_json(&["--repo", path_str(dir.path())]);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    let mut files: Vec<String> = items(&report)
        .iter()
        .filter(|i| i["rule"] == "privileged-container")
        .map(|i| {
            let r = verified(i);
            r["file"].as_str().unwrap().to_owned()
        })
        .collect();
    files.sort();
    assert_eq!(files, ["pods/a.yaml", "pods/b.yaml"]);
}
