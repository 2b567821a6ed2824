//! Tests of the Helm values probe: a fake renderer for the attribution logic, and the real
//! `helm template` on small charts written into temporary folders.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use super::*;

fn key(path: &str) -> Vec<Seg> {
    path.split('.').map(|k| Seg::Key(k.to_string())).collect()
}

fn layer(label: &str, yaml: &str) -> ValuesLayer {
    ValuesLayer {
        label: label.to_string(),
        values: serde_saphyr::from_str(yaml).unwrap_or(Value::Null),
    }
}

// ---- attribution with a fake renderer ----

const FAKE_VALUES: &str = "
a: x
b: x
flags: {f0: false, f1: false, f2: false, f3: false, f4: false, f5: false, f6: false, f7: false}
";

/// A stand-in for a chart: `joined` is `a/b`, `copy` repeats `a`, `flag` is `flags.f5`, and
/// the render fails whenever `flags.f2` is true.
fn fake_render(extra: &[Value]) -> Result<Vec<Value>, String> {
    let mut v = layer("values.yaml", FAKE_VALUES).values;
    for doc in extra {
        crate::locate::tracking::merge_values(&mut v, doc);
    }
    if v["flags"]["f2"] == json!(true) {
        return Err("f2 breaks the chart".to_string());
    }
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    Ok(vec![json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
        "data": {"joined": format!("{}/{}", text("a"), text("b")), "copy": text("a"),
                 "flag": v["flags"]["f5"]},
    })])
}

const CM: Target = Target {
    kind: "ConfigMap",
    namespace: None,
    name: "cm",
};

#[test]
fn of_two_keys_on_a_field_the_one_moving_nothing_else_wins() {
    let mut probe = HelmProbe::new(vec![layer("values.yaml", FAKE_VALUES)]);
    let site = probe.find_site(&mut fake_render, &CM, "/data/joined");
    assert_eq!(site.map(|s| s.key), Ok(key("b")));
}

#[test]
fn booleans_are_bisected_past_a_failing_render() {
    let mut probe = HelmProbe::new(vec![layer("values.yaml", FAKE_VALUES)]);
    let site = probe.find_site(&mut fake_render, &CM, "/data/flag");
    assert_eq!(site.map(|s| s.key), Ok(key("flags.f5")));
}

// ---- the real helm ----

/// The helm the renderer uses; the test fails without it (`.ci/install-tools`).
fn helm() -> PathBuf {
    let path = crate::source::render::Tools::find().helm;
    assert!(
        path.is_file(),
        "no helm binary: set REDRESS_HELM or run .ci/install-tools"
    );
    path
}

/// Writes a chart named `web` with `files` (relative path, text) into a temporary folder.
fn chart(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let chart_yaml = "apiVersion: v2\nname: web\nversion: 0.1.0\n";
    for (path, text) in [("Chart.yaml", chart_yaml)].iter().chain(files) {
        let path = dir.path().join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    dir
}

/// `helm template rel <chart> -f <file>... -f <extra>...`, parsed into objects.
fn helm_render(
    helm: PathBuf,
    chart: PathBuf,
    files: Vec<PathBuf>,
) -> impl FnMut(&[Value]) -> Result<Vec<Value>, String> + use<> {
    move |extra: &[Value]| {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut command = Command::new(&helm);
        command.arg("template").arg("rel").arg(&chart);
        for file in &files {
            command.arg("-f").arg(file);
        }
        for (i, doc) in extra.iter().enumerate() {
            let path = scratch.path().join(format!("extra-{i}.yaml"));
            fs_err::write(&path, doc.to_string()).map_err(|e| e.to_string())?;
            command.arg("-f").arg(path);
        }
        let output = command.output().map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
        }
        let text = String::from_utf8(output.stdout).map_err(|e| e.to_string())?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).map_err(|e| e.to_string())?;
        Ok(docs.into_iter().filter(Value::is_object).collect())
    }
}

const VALUES: &str = "\
replicas: 2
mode: a
hostNetwork: true
image:
  repository: nginx
  tag: \"1.27\"
  pullPolicy: IfNotPresent
securityContext: {}
podSecurityContext:
  fsGroup: 2000
app:
  container:
    privileged: false
worker:
  enabled: true
";

const DEPLOYMENT: &str = r#"
{{- if gt (int .Values.replicas) 50 }}{{ fail "replicas must be 50 or fewer" }}{{ end }}
{{- if not (has .Values.mode (list "a" "b")) }}{{ fail "mode must be a or b" }}{{ end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      hostNetwork: {{ .Values.hostNetwork }}
      hostIPC: true
      {{- with .Values.podSecurityContext }}
      securityContext:
{{ toYaml . | indent 8 }}
      {{- end }}
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          {{- with .Values.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        - name: sidecar
          image: busybox
          securityContext:
            privileged: {{ .Values.app.container.privileged }}
"#;

const WORKER: &str = r#"
{{- if .Values.worker.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-worker
spec:
  selector:
    matchLabels:
      app: worker
  template:
    metadata:
      labels:
        app: worker
    spec:
      containers:
        - name: worker
          image: busybox
{{- end }}
"#;

const PROD: &str = "app:\n  container:\n    privileged: true\nhostNetwork: false\n";

const WEB: Target = Target {
    kind: "Deployment",
    namespace: None,
    name: "rel-web",
};

/// The test chart, and a probe plus renderer over `values.yaml` and the `extra` layers,
/// each (label, yaml) written to a file and passed with `-f`.
fn setup(
    helm: PathBuf,
    extra: &[(&str, &str)],
) -> (tempfile::TempDir, HelmProbe, Box<RenderFn<'static>>) {
    let dir = chart(&[
        ("values.yaml", VALUES),
        ("templates/deployment.yaml", DEPLOYMENT),
        ("templates/worker.yaml", WORKER),
    ]);
    let mut layers = vec![layer("values.yaml", VALUES)];
    let mut files = Vec::new();
    for (label, yaml) in extra {
        let path = dir.path().join(format!("{label}.yaml"));
        fs_err::write(&path, yaml).unwrap();
        files.push(path);
        layers.push(layer(label, yaml));
    }
    let render = helm_render(helm, dir.path().to_path_buf(), files);
    (dir, HelmProbe::new(layers), Box::new(render))
}

#[test]
fn missing_fields_go_under_the_values_maps_rendered_whole_and_reuse_the_map_batch() {
    let helm = helm();
    let (_dir, mut probe, mut render) = setup(helm, &[]);

    let container = "/spec/template/spec/containers/0/securityContext";
    let site = probe.find_site(
        &mut *render,
        &WEB,
        &format!("{container}/allowPrivilegeEscalation"),
    );
    assert_eq!(
        site,
        Ok(HelmSite {
            layer: 0,
            key: key("securityContext.allowPrivilegeEscalation"),
            rendered_base: container.to_string(),
            defined: false,
        })
    );

    let after_first = probe.renders();
    let pod = "/spec/template/spec/securityContext";
    let site = probe.find_site(&mut *render, &WEB, &format!("{pod}/runAsNonRoot"));
    assert_eq!(
        site,
        Ok(HelmSite {
            layer: 0,
            key: key("podSecurityContext.runAsNonRoot"),
            rendered_base: pod.to_string(),
            defined: false,
        })
    );
    assert!(
        probe.renders() <= after_first + 1,
        "the second finding took {} renders",
        probe.renders() - after_first
    );
}

#[test]
fn a_scalar_field_is_traced_to_its_key() {
    let helm = helm();
    let (_dir, mut probe, mut render) = setup(helm, &[]);
    let site = probe.find_site(&mut *render, &WEB, "/spec/template/spec/hostNetwork");
    assert_eq!(
        site,
        Ok(HelmSite {
            layer: 0,
            key: key("hostNetwork"),
            rendered_base: "/spec/template/spec/hostNetwork".to_string(),
            defined: true,
        })
    );
}

#[test]
fn the_layer_is_the_highest_one_defining_the_key() {
    let helm = helm();
    let (_dir, mut probe, mut render) = setup(helm, &[("values-prod", PROD)]);
    let field = "/spec/template/spec/containers/1/securityContext/privileged";
    let site = probe.find_site(&mut *render, &WEB, field);
    assert_eq!(
        site.map(|s| (s.layer, s.key)),
        Ok((1, key("app.container.privileged")))
    );
}

#[test]
fn inline_values_of_a_release_win_over_values_files() {
    let helm = helm();
    let inline = "hostNetwork: true\n";
    let (_dir, mut probe, mut render) =
        setup(helm, &[("values-prod", PROD), ("helmrelease", inline)]);
    let site = probe.find_site(&mut *render, &WEB, "/spec/template/spec/hostNetwork");
    assert_eq!(site.map(|s| (s.layer, s.key)), Ok((2, key("hostNetwork"))));
}

#[test]
fn a_batch_broken_by_value_checks_is_bisected() {
    let helm = helm();
    let (_dir, mut probe, mut render) = setup(helm, &[]);
    let field = "/spec/template/spec/containers/0/imagePullPolicy";
    let site = probe.find_site(&mut *render, &WEB, field);
    assert_eq!(site.map(|s| s.key), Ok(key("image.pullPolicy")));
    // The range check rejects the number marker; the key is still found with a small change.
    let site = probe.find_site(&mut *render, &WEB, "/spec/replicas");
    assert_eq!(site.map(|s| s.key), Ok(key("replicas")));
}

#[test]
fn a_literal_field_has_no_site() {
    let helm = helm();
    let (_dir, mut probe, mut render) = setup(helm, &[]);
    let field = "/spec/template/spec/hostIPC";
    let reason = probe
        .find_site(&mut *render, &WEB, field)
        .unwrap_err()
        .reason;
    assert!(reason.contains("writes it literally"), "{reason}");
    assert!(reason.contains(field), "{reason}");

    let worker = Target {
        kind: "Deployment",
        namespace: None,
        name: "rel-worker",
    };
    let field = "/spec/template/spec/containers/0/securityContext/allowPrivilegeEscalation";
    let reason = probe
        .find_site(&mut *render, &worker, field)
        .unwrap_err()
        .reason;
    assert!(reason.contains("no values map renders into"), "{reason}");
}
