//! The `redress` command as a user runs it: exit codes, the three output formats, bad input,
//! exceptions and the rule commands. Each test runs the real binary on files it writes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn redress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("redress runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fixture");
    path
}

const PRIVILEGED_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: bad
  namespace: team
spec:
  containers:
    - name: app
      image: nginx:1.27
      securityContext:
        privileged: true
";

fn json_scan(args: &[&str]) -> (Value, Output) {
    let mut all = vec!["scan", "--format", "json"];
    all.extend_from_slice(args);
    let output = redress(&all);
    let value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "json output: {e}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (value, output)
}

fn findings_of<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

#[test]
fn json_finding_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pod.yaml", PRIVILEGED_POD);
    let (report, output) = json_scan(&[file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(report["schemaVersion"], 1);
    let found = findings_of(&report, "privileged-container");
    assert_eq!(found.len(), 1, "{report:#}");
    let finding = found[0];
    assert_eq!(finding["severity"], "critical");
    assert_eq!(finding["object"]["apiVersion"], "v1");
    assert_eq!(finding["object"]["kind"], "Pod");
    assert_eq!(finding["object"]["namespace"], "team");
    assert_eq!(finding["object"]["name"], "bad");
    assert_eq!(
        finding["path"],
        "/spec/containers/0/securityContext/privileged"
    );
    assert_eq!(finding["file"], file.to_str().unwrap());
    assert_eq!(finding["line"], 11);
    assert_eq!(finding["excepted"], Value::Null);
    assert!(finding["message"].as_str().unwrap().contains("app"));
    assert_eq!(finding["fingerprint"].as_str().unwrap().len(), 20);
}

#[test]
fn fail_on_and_input_errors_have_distinct_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "pod.yaml", PRIVILEGED_POD);
    let broken = write(
        dir.path(),
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: [oops\n",
    );
    let good = good.to_str().unwrap();
    let broken = broken.to_str().unwrap();
    assert_eq!(redress(&["scan", good]).status.code(), Some(0));
    assert_eq!(
        redress(&["scan", good, "--fail-on", "high"]).status.code(),
        Some(1)
    );
    assert_eq!(redress(&["scan", good, broken]).status.code(), Some(2));
    assert_eq!(
        redress(&["scan", good, broken, "--fail-on", "critical"])
            .status
            .code(),
        Some(3)
    );
    assert_eq!(
        redress(&["scan", "--fail-on", "severe", good])
            .status
            .code(),
        Some(4)
    );
}

#[test]
fn a_broken_document_is_named_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{PRIVILEGED_POD}---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  name: y\n---\n{}",
        PRIVILEGED_POD.replace("name: bad", "name: bad2")
    );
    let file = write(dir.path(), "multi.yaml", &text);
    let (report, output) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(findings_of(&report, "privileged-container").len(), 2);
    let errors = report["inputErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["file"], file.to_str().unwrap());
    assert_eq!(errors[0]["document"], 2);
    assert_eq!(errors[0]["line"], 17);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate key 'name'")
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("multi.yaml:17 (document 2)"), "{stderr}");
}

#[test]
fn exceptions_mark_findings_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let annotated = PRIVILEGED_POD.replace(
        "  namespace: team\n",
        "  namespace: team\n  annotations:\n    redress.dev/ignore: \"privileged-container\"\n    redress.dev/ignore-reason: lab machine\n",
    );
    write(dir.path(), "a.yaml", &annotated);
    write(
        dir.path(),
        "b.yaml",
        &PRIVILEGED_POD.replace("name: bad", "name: other"),
    );
    write(
        dir.path(),
        "c.yaml",
        &PRIVILEGED_POD.replace("name: bad", "name: third"),
    );
    let exceptions = dir.path().join("exceptions.yml.txt");
    std::fs::write(
        &exceptions,
        "exceptions:\n  - rule: privileged-container\n    match: {name: other}\n    reason: accepted\n    expires: 2999-12-31\n  - rule: privileged-container\n    match: {name: third}\n    reason: was accepted\n    expires: 2000-01-01\n",
    )
    .unwrap();
    let (report, _) = json_scan(&[
        dir.path().to_str().unwrap(),
        "--exceptions",
        exceptions.to_str().unwrap(),
    ]);
    let by_name = |name: &str| {
        findings_of(&report, "privileged-container")
            .into_iter()
            .find(|f| f["object"]["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("bad")["excepted"]["reason"], "lab machine");
    assert_eq!(by_name("other")["excepted"]["reason"], "accepted");
    assert_eq!(
        by_name("third")["excepted"],
        Value::Null,
        "expired exception must not apply"
    );
    assert_eq!(report["expiredExceptions"][0]["reason"], "was accepted");
}

#[test]
fn sarif_is_2_1_0_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pod.yaml", PRIVILEGED_POD);
    let output = redress(&["scan", "--format", "sarif", file.to_str().unwrap()]);
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let result = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "privileged-container")
        .unwrap();
    let index = result["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "privileged-container");
    assert!(
        rules[index]["properties"]["security-severity"]
            .as_str()
            .is_some()
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["region"]["startLine"], 11);
    assert!(
        location["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("pod.yaml")
    );
}

#[test]
fn bad_rule_fails_start_up_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let rule = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/privileged-container.yaml"),
    )
    .unwrap();
    write(
        dir.path(),
        "r.yaml",
        &rule.replacen("severity: critical", "severity: critical\nseverty: high", 1),
    );
    let output = redress(&["rules", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("r.yaml:4"), "{stderr}");
    assert!(stderr.contains("severty"), "{stderr}");
}

#[test]
fn rules_list_and_explain() {
    let list = stdout(&redress(&["rules"]));
    assert!(list.contains("privileged-container"));
    let explained = redress(&["rules", "explain", "privileged-container"]);
    assert_eq!(explained.status.code(), Some(0));
    let text = stdout(&explained);
    assert!(text.contains("Why it matters"), "{text}");
    assert_eq!(
        redress(&["rules", "explain", "no-such-rule"]).status.code(),
        Some(4)
    );
}

#[test]
fn non_kubernetes_yaml_is_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "Chart.yaml",
        "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
    );
    let (report, output) = json_scan(&[dir.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(report["notes"].as_array().unwrap().len(), 1);
    assert_eq!(report["summary"]["objects"], 0);
}

#[test]
fn secret_values_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "leaky.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: leaky, namespace: team}\nspec:\n  containers:\n    - name: app\n      image: nginx:1.27\n      env:\n        - {name: DB_PASSWORD, value: hunter2-s3cret}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team}\ndata:\n  api_token: tok-9f8e7d6c5b4a\n",
    );
    for format in ["json", "sarif", "table"] {
        let output = redress(&["scan", "--format", format, dir.path().to_str().unwrap()]);
        let text = stdout(&output);
        assert!(text.contains("secret-in-env-literal"), "{format}: {text}");
        assert!(
            text.contains("sensitive-configmap-content"),
            "{format}: {text}"
        );
        assert!(
            !text.contains("hunter2-s3cret"),
            "{format} leaks the env value"
        );
        assert!(
            !text.contains("tok-9f8e7d6c5b4a"),
            "{format} leaks the ConfigMap value"
        );
    }
}
