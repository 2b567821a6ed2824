//! Integration tests of repositories and render roots: a small repository written by each
//! test (plain folder, Kustomize base with two overlays, a Helm chart with two values files),
//! discovered and rendered with the real `kubectl` and `helm`; and a remote repository served
//! by `git daemon` on loopback.

use crate::support::{GitDaemon, git};
use std::path::{Path, PathBuf};

use redress::source::{RenderRoot, Renderer, Repository, SourceError, Tools, discover};
use serde_json::Value;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
";

const CHART_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include \"app.name\" . }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
        securityContext:
          {{- toYaml .Values.securityContext | nindent 10 }}
";

/// Writes the test repository into `root`.
fn small_repository(root: &Path) {
    write(
        root,
        "plain/app.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata: {a: b}\n---\n# not Kubernetes\nnotes: true\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: tools\n",
    );
    write(
        root,
        "deploy/base/kustomization.yaml",
        "resources:\n- deployment.yaml\n- service.yaml\n",
    );
    write(root, "deploy/base/deployment.yaml", DEPLOYMENT);
    write(root, "deploy/base/service.yaml", SERVICE);
    for (env, replicas) in [("staging", 2), ("prod", 5)] {
        write(
            root,
            &format!("deploy/overlays/{env}/kustomization.yaml"),
            &format!(
                "namespace: {env}\nresources:\n- ../../base\npatches:\n- path: replicas.yaml\n"
            ),
        );
        write(
            root,
            &format!("deploy/overlays/{env}/replicas.yaml"),
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: {replicas}\n"
            ),
        );
    }
    write(
        root,
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    );
    write(
        root,
        "charts/app/values.yaml",
        "replicas: 1\nimage: nginx:1.27\nsecurityContext:\n  runAsNonRoot: true\n",
    );
    write(root, "charts/app/values-prod.yaml", "replicas: 3\n");
    write(
        root,
        "charts/app/templates/_helpers.tpl",
        "{{- define \"app.name\" -}}{{ .Release.Name }}-web{{- end -}}\n",
    );
    write(
        root,
        "charts/app/templates/deployment.yaml",
        CHART_DEPLOYMENT,
    );
}

fn open(dir: &Path) -> Repository {
    let cache = dir.join(".cache-unused");
    Repository::open(&dir.to_string_lossy(), None, &cache).unwrap()
}

fn root<'a>(roots: &'a [RenderRoot], label: &str) -> &'a RenderRoot {
    roots
        .iter()
        .find(|r| r.label() == label)
        .unwrap_or_else(|| panic!("no root {label} in {roots:?}"))
}

fn find<'a>(
    objects: &'a [redress::source::RenderedObject],
    kind: &str,
) -> &'a redress::source::RenderedObject {
    objects
        .iter()
        .find(|o| o.json["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn discovers_and_renders_a_small_repository() {
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    let repo = open(dir.path());
    let (roots, problems) = discover(&repo);
    assert!(problems.is_empty(), "{problems:?}");
    let labels: Vec<String> = roots.iter().map(RenderRoot::label).collect();
    assert_eq!(
        labels,
        vec![
            "charts/app (helm)",
            "charts/app + charts/app/values-prod.yaml (helm)",
            "deploy/overlays/prod (kustomize)",
            "deploy/overlays/staging (kustomize)",
            "plain (plain)",
        ]
    );
    let renderer = Renderer::new(Tools::find());

    // Kustomize: the overlay's patch applies, and each object points at its base file.
    let prod = renderer
        .render(&repo.root, root(&roots, "deploy/overlays/prod (kustomize)"))
        .unwrap();
    let deployment = find(&prod.objects, "Deployment");
    assert_eq!(deployment.json["spec"]["replicas"], 5);
    assert_eq!(deployment.json["metadata"]["namespace"], "prod");
    assert_eq!(
        deployment.file.as_deref(),
        Some(Path::new("deploy/base/deployment.yaml"))
    );
    assert!(
        deployment.json["metadata"].get("annotations").is_none(),
        "the origin annotation is removed: {}",
        deployment.json
    );
    let service = find(&prod.objects, "Service");
    assert_eq!(
        service.file.as_deref(),
        Some(Path::new("deploy/base/service.yaml"))
    );
    assert!(
        prod.inputs
            .contains(&PathBuf::from("deploy/base/service.yaml"))
    );
    assert!(
        prod.inputs
            .contains(&PathBuf::from("deploy/overlays/prod/replicas.yaml"))
    );
    assert!(
        !prod
            .inputs
            .iter()
            .any(|p| p.starts_with("deploy/overlays/staging"))
    );

    // Helm: `# Source:` names the template; the values file is layered.
    let helm = renderer
        .render(
            &repo.root,
            root(&roots, "charts/app + charts/app/values-prod.yaml (helm)"),
        )
        .unwrap();
    let deployment = find(&helm.objects, "Deployment");
    assert_eq!(deployment.json["metadata"]["name"], "app-web");
    assert_eq!(deployment.json["spec"]["replicas"], 3);
    assert_eq!(
        deployment.file.as_deref(),
        Some(Path::new("charts/app/templates/deployment.yaml"))
    );

    // Plain: documents keep their 0-based index; the non-Kubernetes one is skipped.
    let plain = renderer
        .render(&repo.root, root(&roots, "plain (plain)"))
        .unwrap();
    let places: Vec<_> = plain
        .objects
        .iter()
        .map(|o| (o.json["kind"].clone(), o.document))
        .collect();
    assert_eq!(
        places,
        vec![
            (Value::from("ConfigMap"), Some(0)),
            (Value::from("Namespace"), Some(2))
        ]
    );
    // Nothing was written into the repository.
    let mut after = Vec::new();
    for entry in walkdir::WalkDir::new(&repo.root).sort_by_file_name() {
        after.push(entry.unwrap().into_path());
    }
    let fresh = tempfile::tempdir().unwrap();
    small_repository(fresh.path());
    assert_eq!(
        after.len(),
        walkdir::WalkDir::new(fresh.path()).into_iter().count(),
        "{after:?}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&target).unwrap();
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_scratch_copy_hits_the_cache_and_an_edit_misses_it() {
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    let repo = open(dir.path());
    let (roots, _) = discover(&repo);
    let renderer = Renderer::new(Tools::find());
    let staging = root(&roots, "deploy/overlays/staging (kustomize)");
    let first = renderer.render(&repo.root, staging).unwrap();
    assert_eq!(
        (renderer.stats().renders, renderer.stats().cache_hits),
        (1, 0)
    );

    let scratch = tempfile::tempdir().unwrap();
    copy_tree(&repo.root, scratch.path());
    let again = renderer.render(scratch.path(), staging).unwrap();
    assert_eq!(
        (renderer.stats().renders, renderer.stats().cache_hits),
        (1, 1)
    );
    assert_eq!(again.objects.len(), first.objects.len());

    // An edit to the base (outside the overlay folder) is an input too.
    write(
        scratch.path(),
        "deploy/base/deployment.yaml",
        &DEPLOYMENT.replace("nginx:1.27", "nginx:1.28"),
    );
    let edited = renderer.render(scratch.path(), staging).unwrap();
    assert_eq!(
        (renderer.stats().renders, renderer.stats().cache_hits),
        (2, 1)
    );
    let deployment = find(&edited.objects, "Deployment");
    assert_eq!(
        deployment.json["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );
    // Paths stay relative to the tree rendered, so scratch results line up with the repository.
    assert_eq!(
        deployment.file.as_deref(),
        Some(Path::new("deploy/base/deployment.yaml"))
    );

    // Differential Helm renders are cached by their extra values too.
    let chart = root(&roots, "charts/app (helm)");
    let extra = [serde_json::json!({"securityContext": {"runAsNonRoot": false}})];
    let perturbed = renderer
        .render_helm_with(&repo.root, chart, &extra)
        .unwrap();
    let context = &perturbed[0]["spec"]["template"]["spec"]["containers"][0]["securityContext"];
    assert_eq!(context["runAsNonRoot"], false);
    let before = renderer.stats();
    renderer
        .render_helm_with(&repo.root, chart, &extra)
        .unwrap();
    assert_eq!(renderer.stats().cache_hits, before.cache_hits + 1);
    assert_eq!(renderer.stats().renders, before.renders);
}

#[test]
fn a_missing_tool_fails_its_roots_only() {
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    let repo = open(dir.path());
    let (roots, _) = discover(&repo);
    let renderer = Renderer::new(Tools {
        helm: dir.path().join("no-such-helm"),
        kubectl: Tools::find().kubectl,
    });
    let error = renderer
        .render(&repo.root, root(&roots, "charts/app (helm)"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::MissingTool {
                tool: "helm",
                env: "REDRESS_HELM",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("REDRESS_HELM"), "{error}");
    for label in ["deploy/overlays/prod (kustomize)", "plain (plain)"] {
        let rendered = renderer.render(&repo.root, root(&roots, label)).unwrap();
        assert!(!rendered.objects.is_empty(), "{label}");
    }
}

#[test]
fn a_remote_base_is_reported_without_running_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    write(
        dir.path(),
        "deploy/overlays/remote/kustomization.yaml",
        "resources:\n- https://github.com/example/config//deploy?ref=v1.0.0\n- ../../base\n",
    );
    let repo = open(dir.path());
    let (roots, problems) = discover(&repo);
    assert!(
        problems.iter().any(
            |p| p.contains("deploy/overlays/remote/kustomization.yaml") && p.contains("remote")
        ),
        "{problems:?}"
    );
    // kubectl is never started: a path that cannot run proves it.
    let renderer = Renderer::new(Tools {
        helm: Tools::find().helm,
        kubectl: dir.path().join("no-such-kubectl"),
    });
    let error = renderer
        .render(
            &repo.root,
            root(&roots, "deploy/overlays/remote (kustomize)"),
        )
        .unwrap_err();
    assert!(matches!(error, SourceError::Render { .. }), "{error}");
    assert!(
        error.to_string().contains("cannot render offline"),
        "{error}"
    );
    let good = Renderer::new(Tools::find());
    assert!(
        good.render(
            &repo.root,
            root(&roots, "deploy/overlays/staging (kustomize)")
        )
        .is_ok()
    );
    assert!(
        good.render(&repo.root, root(&roots, "charts/app (helm)"))
            .is_ok()
    );
}

#[test]
fn a_broken_chart_reports_helms_reason() {
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    write(
        dir.path(),
        "charts/app/templates/broken.yaml",
        "kind: {{ .Values.nope.deeper }}\n",
    );
    let repo = open(dir.path());
    let (roots, _) = discover(&repo);
    let renderer = Renderer::new(Tools::find());
    let error = renderer
        .render(&repo.root, root(&roots, "charts/app (helm)"))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("charts/app (helm): render failed:"),
        "{text}"
    );
    assert!(text.contains("broken.yaml"), "{text}");

    write(
        dir.path(),
        "charts/deps/Chart.yaml",
        "apiVersion: v2\nname: deps\nversion: 0.1.0\ndependencies:\n- name: redis\n  version: 1.0.0\n  repository: https://charts.example.com\n",
    );
    let (roots, _) = discover(&repo);
    let error = renderer
        .render(&repo.root, root(&roots, "charts/deps (helm)"))
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("missing in charts/ directory: redis"),
        "{text}"
    );
}

#[test]
fn a_broken_overlay_reports_kubectls_reason_with_repository_paths() {
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    write(
        dir.path(),
        "deploy/overlays/broken/kustomization.yaml",
        "resources:\n- ../../base\n- missing.yaml\n",
    );
    let repo = open(dir.path());
    let (roots, problems) = discover(&repo);
    assert!(
        problems.iter().any(|p| p.contains("missing.yaml")),
        "{problems:?}"
    );
    let renderer = Renderer::new(Tools::find());
    let error = renderer
        .render(
            &repo.root,
            root(&roots, "deploy/overlays/broken (kustomize)"),
        )
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("deploy/overlays/broken (kustomize): render failed:"),
        "{text}"
    );
    assert!(text.contains("missing.yaml"), "{text}");
    assert!(!text.contains("redress-kustomize-"), "{text}");
}

#[cfg(unix)]
#[test]
fn a_symlink_leaving_the_repository_is_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: outside\n",
    );
    let dir = tempfile::tempdir().unwrap();
    small_repository(dir.path());
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        dir.path().join("plain/secret.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("elsewhere")).unwrap();
    let repo = open(dir.path());
    let (roots, problems) = discover(&repo);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("plain/secret.yaml") && p.contains("leaves the repository")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("elsewhere")),
        "{problems:?}"
    );
    assert!(!roots.iter().any(|r| r.path.starts_with("elsewhere")));
    let renderer = Renderer::new(Tools::find());
    let plain = renderer
        .render(&repo.root, root(&roots, "plain (plain)"))
        .unwrap();
    assert!(
        plain.objects.iter().all(|o| o.json["kind"] != "Secret"),
        "{:?}",
        plain.objects
    );
    assert!(matches!(
        repo.resolve(Path::new("plain/secret.yaml")),
        Err(SourceError::OutsideRepository { .. })
    ));
}

#[test]
fn a_remote_repository_is_cloned_then_fetched() {
    let tmp = tempfile::tempdir().unwrap();
    let served = tmp.path().join("served");
    fs_err::create_dir_all(&served).unwrap();
    git(&served, &["init", "--bare", "--quiet", "config.git"]);
    let work = tmp.path().join("work");
    fs_err::create_dir_all(&work).unwrap();
    git(&work, &["init", "--quiet"]);
    write(
        &work,
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: main}\n",
    );
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "main"]);
    let bare = served.join("config.git");
    let bare = bare.to_string_lossy();
    git(&work, &["push", "--quiet", &bare, "main"]);
    git(&work, &["checkout", "--quiet", "-b", "feature"]);
    write(
        &work,
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: feature}\n",
    );
    git(&work, &["commit", "--quiet", "-am", "feature"]);
    git(&work, &["push", "--quiet", &bare, "feature"]);
    let feature_commit = git(&work, &["rev-parse", "HEAD"]);

    let daemon = GitDaemon::start(&served);
    let url = format!("git://127.0.0.1:{}/config.git", daemon.port);
    let cache = tmp.path().join("cache");

    let repo = Repository::open(&url, Some("feature"), &cache).unwrap();
    assert!(
        repo.root
            .starts_with(fs_err::canonicalize(&cache).unwrap().join("repos"))
    );
    assert_eq!(repo.revision.as_deref(), Some(feature_commit.as_str()));
    assert_eq!(repo.url.as_deref(), Some(url.as_str()));
    let text = fs_err::read_to_string(repo.root.join("app/cm.yaml")).unwrap();
    assert!(text.contains("name: feature"), "{text}");
    let (roots, _) = discover(&repo);
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].label(), "app (plain)");

    // A new commit on the branch is fetched by the next open, into the same folder.
    write(
        &work,
        "app/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: newer}\n",
    );
    git(&work, &["commit", "--quiet", "-am", "newer"]);
    git(&work, &["push", "--quiet", &bare, "feature"]);
    let newer_commit = git(&work, &["rev-parse", "HEAD"]);
    let again = Repository::open(&url, Some("feature"), &cache).unwrap();
    assert_eq!(again.root, repo.root);
    assert_eq!(again.revision.as_deref(), Some(newer_commit.as_str()));
    let text = fs_err::read_to_string(again.root.join("app/cm.yaml")).unwrap();
    assert!(text.contains("name: newer"), "{text}");

    // Without a revision: the remote's default branch, in a folder of its own, so the
    // feature branch's tree stays as it was.
    let main = Repository::open(&url, None, &cache).unwrap();
    assert_ne!(main.root, repo.root);
    let text = fs_err::read_to_string(repo.root.join("app/cm.yaml")).unwrap();
    assert!(text.contains("name: newer"), "{text}");
    let text = fs_err::read_to_string(main.root.join("app/cm.yaml")).unwrap();
    assert!(text.contains("name: main"), "{text}");

    let error = Repository::open(&url, Some("no-such-branch"), &cache).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&url) && text.contains("no-such-branch"),
        "{text}"
    );

    // A local repository asked for at a revision is cloned into the cache; the work tree the
    // user named is left alone.
    let local = Repository::open(&work.to_string_lossy(), Some("main"), &cache).unwrap();
    assert!(
        local
            .root
            .starts_with(fs_err::canonicalize(&cache).unwrap())
    );
    let text = fs_err::read_to_string(local.root.join("app/cm.yaml")).unwrap();
    assert!(text.contains("name: main"), "{text}");
    assert_eq!(
        git(&work, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "feature"
    );
    let in_place = Repository::open(&work.to_string_lossy(), None, &cache).unwrap();
    assert_eq!(in_place.revision.as_deref(), Some(newer_commit.as_str()));
}
