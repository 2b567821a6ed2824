//! Tests of locate/kustomize on small repositories written to temporary folders; one renders
//! them with the real `kubectl kustomize` to check the site mapping against the tool.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    dir
}

fn keys(path: &[&str]) -> Vec<Seg> {
    path.iter()
        .map(|s| match s.parse::<usize>() {
            Ok(i) => Seg::Index(i),
            Err(_) => Seg::Key((*s).to_owned()),
        })
        .collect()
}

fn site(
    kind: SiteKind,
    file: &str,
    document: usize,
    rendered_base: &str,
    base: &[&str],
) -> EditSite {
    EditSite {
        kind,
        file: PathBuf::from(file),
        document,
        rendered_base: rendered_base.to_owned(),
        base: keys(base),
    }
}

const BASE_KUSTOMIZATION: &str = "resources:\n  - deployment.yaml\n";

const BASE_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  labels:
    tier: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: app:1
          securityContext:
            runAsUser: 1000
        - name: side
          image: side:1
";

/// The rendered object of BASE_DEPLOYMENT with `privileged` set on container `app`.
fn rendered(name: &str, namespace: Option<&str>, privileged: Value) -> Value {
    let mut object = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"tier": "web"}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "app:1", "securityContext": {"runAsUser": 1000, "privileged": privileged}},
            {"name": "side", "image": "side:1"}
        ]}}}
    });
    if let Some(ns) = namespace {
        object["metadata"]["namespace"] = json!(ns);
    }
    object
}

const PRIVILEGED: &str = "/spec/template/spec/containers/0/securityContext/privileged";

/// The sites of `field` of the rendered `object` for the root `overlay`, whose object
/// comes from `base/deployment.yaml` (the shape most cases share).
fn overlay_sites(
    tree: &Path,
    object: &Value,
    field: &str,
) -> Result<KustomizeSites, KustomizeError> {
    sites(
        tree,
        Path::new("overlay"),
        object,
        Path::new("base/deployment.yaml"),
        field,
    )
}

#[test]
fn overlay_patch_is_found_with_its_container_index_mapped_by_name() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - ../base\npatches:\n  - path: privileged.yaml\n",
        ),
        (
            "overlay/privileged.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: side\n          image: side:2\n        - name: app\n          securityContext:\n            privileged: true\n",
        ),
    ]);
    let object = rendered("app", None, json!(true));
    let found = overlay_sites(t.path(), &object, PRIVILEGED).unwrap();
    assert_eq!(
        found.sites,
        vec![
            site(
                SiteKind::KustomizePatch,
                "overlay/privileged.yaml",
                0,
                PRIVILEGED,
                &[
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "1",
                    "securityContext",
                    "privileged"
                ]
            ),
            site(
                SiteKind::KustomizeBase,
                "base/deployment.yaml",
                0,
                "/spec/template/spec/containers/0/securityContext",
                &[
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "0",
                    "securityContext"
                ]
            ),
        ]
    );
    assert!(found.skipped.is_empty());
}

/// base <- staging <- production, which also uses a component: production's own patch is
/// applied last, then the component's, then staging's.
fn chained_tree() -> tempfile::TempDir {
    let smp = |value: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext:\n            privileged: {value}\n"
        )
    };
    tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "staging/kustomization.yaml",
            "resources:\n  - ../base\npatchesStrategicMerge:\n  - privileged.yaml\n",
        ),
        ("staging/privileged.yaml", &smp("true")),
        (
            "components/hardening/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n  - path: privileged.yaml\n",
        ),
        ("components/hardening/privileged.yaml", &smp("false")),
        (
            "production/kustomization.yaml",
            "resources:\n  - ../staging\ncomponents:\n  - ../components/hardening\npatches:\n  - path: privileged.yaml\n    target:\n      kind: Deployment\n      name: app\n",
        ),
        ("production/privileged.yaml", &smp("true")),
    ])
}

#[test]
fn chained_overlays_list_the_last_applied_patch_first() {
    let t = chained_tree();
    let object = rendered("app", None, json!(true));
    let found = sites(
        t.path(),
        Path::new("production"),
        &object,
        Path::new("base/deployment.yaml"),
        PRIVILEGED,
    )
    .unwrap();
    let files: Vec<_> = found
        .sites
        .iter()
        .map(|s| (s.kind, s.file.clone()))
        .collect();
    assert_eq!(
        files,
        vec![
            (
                SiteKind::KustomizePatch,
                PathBuf::from("production/privileged.yaml")
            ),
            (
                SiteKind::KustomizePatch,
                PathBuf::from("components/hardening/privileged.yaml")
            ),
            (
                SiteKind::KustomizePatch,
                PathBuf::from("staging/privileged.yaml")
            ),
            (
                SiteKind::KustomizeBase,
                PathBuf::from("base/deployment.yaml")
            ),
        ]
    );
    // The staging root alone sees only its own patch.
    let found = sites(
        t.path(),
        Path::new("staging"),
        &object,
        Path::new("base/deployment.yaml"),
        PRIVILEGED,
    )
    .unwrap();
    assert_eq!(found.sites.len(), 2);
    assert_eq!(
        found.sites[0].file,
        PathBuf::from("staging/privileged.yaml")
    );
}

#[test]
fn patches_match_the_base_name_under_a_prefix_and_namespace() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "prod/kustomization.yaml",
            "namePrefix: prod-\nnamespace: prod\nresources:\n  - ../base\npatches:\n  - path: by-base-name.yaml\n  - path: other.yaml\npatchesJson6902:\n  - target: {group: apps, version: v1, kind: Deployment, name: prod-app, namespace: prod}\n    path: by-rendered-name.yaml\n",
        ),
        (
            "prod/by-base-name.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext:\n            privileged: true\n",
        ),
        (
            "prod/other.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: other\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext:\n            privileged: true\n",
        ),
        (
            "prod/by-rendered-name.yaml",
            "- op: replace\n  path: /spec/template/spec/containers/0/securityContext/privileged\n  value: true\n",
        ),
    ]);
    let object = rendered("prod-app", Some("prod"), json!(true));
    let found = sites(
        t.path(),
        Path::new("prod"),
        &object,
        Path::new("base/deployment.yaml"),
        PRIVILEGED,
    )
    .unwrap();
    let files: Vec<_> = found
        .sites
        .iter()
        .map(|s| (s.file.clone(), s.base.clone()))
        .collect();
    assert_eq!(
        files,
        vec![
            (
                PathBuf::from("prod/by-rendered-name.yaml"),
                keys(&["0", "value"])
            ),
            (
                PathBuf::from("prod/by-base-name.yaml"),
                keys(&[
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "0",
                    "securityContext",
                    "privileged"
                ])
            ),
            (
                PathBuf::from("base/deployment.yaml"),
                keys(&[
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "0",
                    "securityContext"
                ])
            ),
        ]
    );
    assert_eq!(found.sites[0].kind, SiteKind::KustomizeJson6902);
    assert_eq!(found.sites[0].rendered_base, PRIVILEGED);
}

#[test]
fn json6902_operations_map_by_container_name_and_into_an_added_map() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - ../base\npatches:\n  - path: side.yaml\n    target: {kind: Deployment}\n  - path: ops.yaml\n    target: {kind: Deployment, name: app}\n",
        ),
        (
            "overlay/side.yaml",
            "- op: add\n  path: /spec/template/spec/containers/1/securityContext\n  value: {privileged: false}\n",
        ),
        (
            "overlay/ops.yaml",
            "- op: add\n  path: /spec/template/spec/containers/0/securityContext\n  value:\n    runAsUser: 1000\n    privileged: true\n- op: replace\n  path: /spec/template/spec/containers/0/securityContext/privileged\n  value: true\n",
        ),
    ]);
    // A patch earlier in the base order moved `app` to index 1 of the rendered list.
    let mut object = rendered("app", None, json!(true));
    let containers = object["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap();
    containers.reverse();
    containers[0]["securityContext"] = json!({"privileged": false});
    let field = "/spec/template/spec/containers/1/securityContext/privileged";
    let found = overlay_sites(t.path(), &object, field).unwrap();
    assert_eq!(
        found.sites[..2],
        [
            site(
                SiteKind::KustomizeJson6902,
                "overlay/ops.yaml",
                0,
                field,
                &["1", "value"]
            ),
            site(
                SiteKind::KustomizeJson6902,
                "overlay/ops.yaml",
                0,
                field,
                &["0", "value", "privileged"]
            ),
        ]
    );
    assert_eq!(found.sites.len(), 3, "{:?}", found.sites);
    // The side container's field is set by the other patch only.
    let side = "/spec/template/spec/containers/0/securityContext/privileged";
    let found = overlay_sites(t.path(), &object, side).unwrap();
    assert_eq!(
        found.sites[0],
        site(
            SiteKind::KustomizeJson6902,
            "overlay/side.yaml",
            0,
            side,
            &["0", "value", "privileged"]
        )
    );
}

#[test]
fn inline_patches_and_removals_are_skipped_with_a_reason() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - ../base\npatches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: app\n      spec:\n        template:\n          spec:\n            containers:\n              - name: app\n                securityContext:\n                  privileged: true\n  - path: drop.yaml\n    target:\n      kind: Deployment\n",
        ),
        (
            "overlay/drop.yaml",
            "- op: remove\n  path: /spec/template/spec/containers/0/securityContext/runAsUser\n",
        ),
    ]);
    let object = rendered("app", None, json!(true));
    let found = overlay_sites(t.path(), &object, PRIVILEGED).unwrap();
    assert_eq!(found.sites.len(), 1);
    assert_eq!(found.sites[0].kind, SiteKind::KustomizeBase);
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert!(
        found.skipped[0]
            .starts_with("overlay/kustomization.yaml: patches[0]: an inline patch sets")
    );

    let removed = "/spec/template/spec/containers/0/securityContext/runAsUser";
    let found = overlay_sites(t.path(), &object, removed).unwrap();
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert!(found.skipped[0].contains("overlay/drop.yaml: JSON 6902 operation 0"));
    assert!(found.skipped[0].ends_with("removes the field"));
}

#[test]
fn a_missing_field_goes_to_the_base_at_its_deepest_existing_ancestor() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - ../base\npatches:\n  - path: image.yaml\n",
        ),
        (
            "overlay/image.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: side\n          image: side:2\n",
        ),
    ]);
    let object = rendered("app", None, json!(true));
    let field = "/spec/template/spec/containers/1/securityContext/readOnlyRootFilesystem";
    let found = overlay_sites(t.path(), &object, field).unwrap();
    assert_eq!(
        found.sites,
        vec![site(
            SiteKind::KustomizeBase,
            "base/deployment.yaml",
            0,
            "/spec/template/spec/containers/1",
            &["spec", "template", "spec", "containers", "1"]
        )]
    );
}

#[test]
fn a_replacing_map_owns_a_missing_field_and_a_deleted_item_is_no_site() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - ../base\npatches:\n  - path: delete.yaml\n  - path: replace.yaml\n",
        ),
        (
            "overlay/replace.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext:\n            $patch: replace\n            runAsUser: 1000\n",
        ),
        (
            "overlay/delete.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext:\n            $patch: delete\n",
        ),
    ]);
    let mut object = rendered("app", None, json!(true));
    object["spec"]["template"]["spec"]["containers"][0]["securityContext"] =
        json!({"runAsUser": 1000});
    let field = "/spec/template/spec/containers/0/securityContext/runAsNonRoot";
    let found = overlay_sites(t.path(), &object, field).unwrap();
    let sc = "/spec/template/spec/containers/0/securityContext";
    assert_eq!(
        found.sites,
        vec![
            site(
                SiteKind::KustomizePatch,
                "overlay/replace.yaml",
                0,
                sc,
                &[
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "0",
                    "securityContext"
                ]
            ),
            site(
                SiteKind::KustomizeBase,
                "base/deployment.yaml",
                0,
                sc,
                &[
                    "spec",
                    "template",
                    "spec",
                    "containers",
                    "0",
                    "securityContext"
                ]
            ),
        ]
    );
}

#[test]
fn the_base_document_is_picked_from_a_multi_document_file() {
    let base = format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: app\n---\n# a comment only\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-worker\nspec: {{}}\n---\n{BASE_DEPLOYMENT}"
    );
    let t = tree(&[
        (
            "app/kustomization.yaml",
            "nameSuffix: -v2\nresources:\n  - all.yaml\n",
        ),
        ("app/all.yaml", &base),
    ]);
    let object = rendered("app-v2", None, json!(true));
    let found = sites(
        t.path(),
        Path::new("app"),
        &object,
        Path::new("app/all.yaml"),
        "/spec/template/spec/containers/1/image",
    )
    .unwrap();
    assert_eq!(
        found.sites,
        vec![site(
            SiteKind::KustomizeBase,
            "app/all.yaml",
            3,
            "/spec/template/spec/containers/1/image",
            &["spec", "template", "spec", "containers", "1", "image"]
        )]
    );
}

#[test]
fn targets_select_by_name_pattern_and_label_selector() {
    let t = tree(&[
        ("base/kustomization.yaml", BASE_KUSTOMIZATION),
        ("base/deployment.yaml", BASE_DEPLOYMENT),
        (
            "overlay/kustomization.yaml",
            "resources:\n  - ../base\npatches:\n  - path: p.yaml\n    target:\n      name: ap.*\n      labelSelector: tier in (web, api)\n  - path: p.yaml\n    target:\n      name: a\n  - path: p.yaml\n    target:\n      labelSelector: tier=db\n  - path: p.yaml\n    target:\n      kind: Deployment\n      name: app|api\n      labelSelector: tier,!team\n",
        ),
        (
            "overlay/p.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          securityContext:\n            privileged: true\n",
        ),
    ]);
    let object = rendered("app", None, json!(true));
    let found = overlay_sites(t.path(), &object, PRIVILEGED).unwrap();
    // Entries 0 and 3 select the object; 1 (name not anchored) and 2 (label) do not.
    assert_eq!(found.sites.len(), 3);
    assert!(
        found.sites[..2]
            .iter()
            .all(|s| s.file == Path::new("overlay/p.yaml"))
    );
}

#[test]
fn references_leaving_the_repository_are_not_followed() {
    let t = tree(&[(
        "root/kustomization.yaml",
        "resources:\n  - ../../elsewhere\n  - /etc/app\n",
    )]);
    let object = rendered("app", None, json!(true));
    let error = sites(
        t.path(),
        Path::new("root"),
        &object,
        Path::new("base/deployment.yaml"),
        PRIVILEGED,
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "root/kustomization.yaml: ../../elsewhere leaves the repository, not followed"
    );
    let error = sites(
        t.path(),
        Path::new("../root"),
        &object,
        Path::new("x.yaml"),
        PRIVILEGED,
    )
    .unwrap_err();
    assert!(matches!(error, KustomizeError::NotRelative { .. }));
}

#[test]
fn plain_site_is_the_whole_document() {
    let s = plain_site(Path::new("deploy/app.yaml"), 2);
    assert_eq!(
        s,
        site(SiteKind::PlainDocument, "deploy/app.yaml", 2, "", &[])
    );
}

// ---- against the real tool ------------------------------------------------------------

/// The kubectl the renderer uses; the test fails without it (`.ci/install-tools`).
fn kubectl() -> PathBuf {
    let path = crate::source::render::Tools::find().kubectl;
    assert!(
        path.is_file(),
        "no kubectl binary: set REDRESS_KUBECTL or run .ci/install-tools"
    );
    path
}

/// Renders `root` with origin annotations; gives each object (annotation removed) with its
/// repository-relative origin file, leaving out generated objects (no origin file).
fn render(kubectl: &Path, tree: &Path, root: &str) -> Vec<(Value, PathBuf)> {
    let file = tree.join(root).join("kustomization.yaml");
    let mut text = fs_err::read_to_string(&file).unwrap();
    text.push_str("buildMetadata: [originAnnotations]\n");
    fs_err::write(&file, text).unwrap();
    let output = std::process::Command::new(kubectl)
        .arg("kustomize")
        .arg(tree.join(root))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).unwrap();
    documents(Path::new("out"), &yaml)
        .unwrap()
        .into_iter()
        .filter_map(|(_, mut object)| {
            let annotations = object["metadata"]["annotations"].as_object_mut().unwrap();
            let origin = annotations.remove("config.kubernetes.io/origin").unwrap();
            if annotations.is_empty() {
                object["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("annotations");
            }
            let origin: Value = serde_saphyr::from_str(origin.as_str().unwrap()).unwrap();
            let path = normalize(&Path::new(root).join(origin["path"].as_str()?)).unwrap();
            Some((object, path))
        })
        .collect()
}

/// The value at `base + rest` in the site's document, stepping into lists by index.
fn value_at_site(tree: &Path, site: &EditSite, rest: &[String]) -> Option<Value> {
    let text = fs_err::read_to_string(tree.join(&site.file)).ok()?;
    let docs = documents(&site.file, &text).ok()?;
    let (_, doc) = docs.into_iter().find(|(i, _)| *i == site.document)?;
    let mut node = &doc;
    for seg in &site.base {
        node = match seg {
            Seg::Key(k) => node.get(k.as_str())?,
            Seg::Index(i) => node.get(*i)?,
        };
    }
    for seg in rest {
        node = match node {
            Value::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
            _ => node.get(seg.as_str())?,
        };
    }
    Some(node.clone())
}

#[test]
fn the_first_site_holds_the_value_kubectl_kustomize_renders() {
    let kubectl = kubectl();
    let t = chained_tree();
    // Add a JSON 6902 patch of a sibling container, a prefix and a namespace to the mix.
    let production = t.path().join("production/kustomization.yaml");
    let mut text = fs_err::read_to_string(&production).unwrap();
    text.push_str("namePrefix: prod-\nnamespace: prod\npatchesJson6902:\n  - target: {group: apps, version: v1, kind: Deployment, name: app}\n    path: side.yaml\n");
    fs_err::write(&production, text).unwrap();
    fs_err::write(
        t.path().join("production/side.yaml"),
        "- op: add\n  path: /spec/template/spec/containers/1/securityContext\n  value:\n    readOnlyRootFilesystem: true\n    runAsUser: 2000\n",
    )
    .unwrap();
    let objects = render(&kubectl, t.path(), "production");
    let (object, origin) = objects
        .iter()
        .find(|(o, _)| o["kind"] == "Deployment")
        .expect("the deployment renders");
    assert_eq!(object["metadata"]["name"], "prod-app");
    let fields = [
        (
            "/spec/template/spec/containers/0/securityContext/privileged",
            "production/privileged.yaml",
        ),
        (
            "/spec/template/spec/containers/0/securityContext/runAsUser",
            "base/deployment.yaml",
        ),
        (
            "/spec/template/spec/containers/0/image",
            "base/deployment.yaml",
        ),
        (
            "/spec/template/spec/containers/1/securityContext/runAsUser",
            "production/side.yaml",
        ),
        (
            "/spec/template/spec/containers/1/securityContext",
            "production/side.yaml",
        ),
        (
            "/spec/template/spec/containers/1/image",
            "base/deployment.yaml",
        ),
    ];
    for (field, file) in fields {
        let rendered_value = crate::model::lookup(object, field).cloned();
        assert!(rendered_value.is_some(), "{field} renders");
        let found = sites(t.path(), Path::new("production"), object, origin, field).unwrap();
        let first = &found.sites[0];
        assert_eq!(first.file, Path::new(file), "{field}: {:?}", found.sites);
        let rest = &pointer_segments(field)[pointer_segments(&first.rendered_base).len()..];
        assert_eq!(
            value_at_site(t.path(), first, rest),
            rendered_value,
            "{field}: {first:?}"
        );
    }
}
