//! Rules as data: one YAML file per rule in a rules folder, deserialized strictly (an unknown
//! key fails with the file and line) and compiled once (a bad CEL expression, an unknown
//! variable or a malformed fix fails with the file and the expression). Takes files, gives
//! `Rule`s; evaluates nothing.

use super::cel::Program;
use crate::model::Severity;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Whole objects of the kinds listed in `match.kinds`.
    Object,
    /// The pod spec of every workload (wherever its pod template sits).
    Pod,
    /// Every container of every workload, of the container kinds in `match.containers`.
    Container,
    /// Every namespace the input declares or places objects in.
    Namespace,
}

/// The kinds of container a container-scoped rule sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerKind {
    /// `spec.containers`.
    Containers,
    /// `spec.initContainers`.
    InitContainers,
    /// `spec.ephemeralContainers`.
    EphemeralContainers,
}

impl ContainerKind {
    /// Every container kind.
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Containers,
        ContainerKind::InitContainers,
        ContainerKind::EphemeralContainers,
    ];

    /// The pod spec field holding these containers.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Containers => "containers",
            ContainerKind::InitContainers => "initContainers",
            ContainerKind::EphemeralContainers => "ephemeralContainers",
        }
    }
}

/// The `match` section of a rule file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// What the rule looks at.
    pub scope: Scope,
    /// For `object` scope: the kinds, as `Kind` or `group/Kind` (core group: `Kind` alone).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// For `container` scope: which containers (default: all three kinds).
    #[serde(default)]
    pub containers: Option<Vec<ContainerKind>>,
    /// Optional: a relative path (`a/b`) to a list under the subject; the check then runs once
    /// per item, with `item` and `index` bound.
    #[serde(default)]
    pub each: Option<String>,
}

/// One JSON Patch operation of a fix, relative to the subject (or item).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixOp {
    /// `add`, `replace` or `remove`.
    pub op: FixKind,
    /// A JSON pointer relative to the subject (`""` is the subject itself).
    pub path: String,
    /// The value for `add` and `replace`.
    #[serde(default)]
    pub value: Option<Value>,
}

/// The JSON Patch operations a fix may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixKind {
    /// Add a member or array element (creating missing parents).
    Add,
    /// Replace a value (added when missing).
    Replace,
    /// Remove a value (nothing when already missing).
    Remove,
}

/// One embedded test case: an object and the pointers the rule must report on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTest {
    /// What the case shows.
    pub name: String,
    /// The Kubernetes object.
    pub object: Value,
    /// Other objects the case needs (NetworkPolicies, Roles); not themselves checked.
    #[serde(default)]
    pub with: Vec<Value>,
    /// The pointers of the expected findings; empty when the object passes.
    #[serde(default)]
    pub expect: Vec<String>,
}

/// A rule file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: String,
    title: String,
    severity: Severity,
    rationale: String,
    remediation: String,
    #[serde(rename = "match")]
    matches: MatchSpec,
    check: String,
    #[serde(default)]
    field: String,
    message: String,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    fix: Vec<FixOp>,
    #[serde(default)]
    tests: Vec<RuleTest>,
}

/// A loaded, compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Readable slug id, such as `privileged-container`.
    pub id: Arc<str>,
    /// One-line title.
    pub title: String,
    /// How bad a violation is.
    pub severity: Severity,
    /// Why it matters, for a reviewer.
    pub rationale: String,
    /// What to do about it.
    pub remediation: String,
    /// What it looks at.
    pub matches: MatchSpec,
    /// The `match.kinds` split into (group, kind).
    pub kinds: Vec<(String, String)>,
    /// The CEL source of the check; true means compliant.
    pub check_source: String,
    /// The compiled check.
    pub check: Program,
    /// The pointer (segments) of the field at fault, relative to the subject unless
    /// `field_is_absolute`.
    pub field: Vec<String>,
    /// Whether `field` was written with a leading `/`: a pointer from the object's root.
    pub field_is_absolute: bool,
    /// Message template: `{container}`, `{kind}`, `{name}`, `{namespace}`, `{value}`.
    pub message: String,
    /// The field may hold a secret: findings never carry its value (`observed`, `{value}`,
    /// `{item}`).
    pub sensitive: bool,
    /// The fix, when the rule has a safe one.
    pub fix: Vec<FixOp>,
    /// Embedded test cases.
    pub tests: Vec<RuleTest>,
    /// Which file it came from.
    pub file: PathBuf,
    /// Which variables the check reads (to skip building those it does not).
    pub uses: Uses,
}

/// The optional variables a check reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uses {
    /// `role`: the Role or ClusterRole a binding refers to.
    pub role: bool,
    /// `selectingPolicies`: NetworkPolicies whose pod selector selects the pod.
    pub selecting_policies: bool,
    /// `networkPolicies`: every NetworkPolicy of the namespace.
    pub network_policies: bool,
    /// `serviceAccount`: the ServiceAccount the pod runs as.
    pub service_account: bool,
}

/// A rule that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The YAML did not match the rule schema.
    #[error("{path}:{line}: {message}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// 1-based line, 0 when unknown.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A rule is inconsistent (bad CEL, unknown variable, bad fix).
    #[error("{path}: rule '{id}': {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The rule id.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// Variables every scope binds.
const COMMON_VARIABLES: &[&str] = &["object", "role", "networkPolicies"];

fn scope_variables(scope: Scope) -> &'static [&'static str] {
    match scope {
        Scope::Object => &[],
        Scope::Pod => &["pod", "podMeta", "selectingPolicies", "serviceAccount"],
        Scope::Container => &[
            "pod",
            "podMeta",
            "selectingPolicies",
            "serviceAccount",
            "container",
            "containerType",
        ],
        Scope::Namespace => &["workloadCount"],
    }
}

/// Parses and compiles one rule file's text.
pub fn parse_rule(path: &Path, text: &str) -> Result<Rule, RuleError> {
    let file: RuleFile = serde_saphyr::from_str(text).map_err(|error| {
        let (line, message) = super::yaml_error(&error);
        RuleError::Schema {
            path: path.to_path_buf(),
            line,
            message,
        }
    })?;
    let invalid = |message: String| RuleError::Invalid {
        path: path.to_path_buf(),
        id: file.id.clone(),
        message,
    };
    if file.id.is_empty()
        || !file
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(invalid(
            "id must be a slug of lowercase letters, digits and dashes".into(),
        ));
    }
    let parsed = super::cel::parse(&file.check)
        .map_err(|errors| invalid(format!("check does not parse: {errors}")))?;
    let check = super::cel::compile(parsed.expression())
        .map_err(|error| invalid(format!("check does not compile: {error}")))?;
    let variables = check.variables();
    let allowed: Vec<&str> = COMMON_VARIABLES
        .iter()
        .chain(scope_variables(file.matches.scope))
        .chain(if file.matches.each.is_some() {
            &["item", "index"][..]
        } else {
            &[][..]
        })
        .copied()
        .collect();
    for variable in variables {
        if !allowed.contains(variable) {
            return Err(invalid(format!(
                "check uses '{variable}', which {:?} scope does not bind (it binds: {})",
                file.matches.scope,
                allowed.join(", ")
            )));
        }
    }
    let uses = Uses {
        role: variables.contains(&"role"),
        selecting_policies: variables.contains(&"selectingPolicies"),
        network_policies: variables.contains(&"networkPolicies"),
        service_account: variables.contains(&"serviceAccount"),
    };
    let mut kinds = Vec::new();
    match file.matches.scope {
        Scope::Object if file.matches.kinds.is_empty() => {
            return Err(invalid("object scope needs match.kinds".into()));
        }
        Scope::Object => {
            for kind in &file.matches.kinds {
                kinds.push(match kind.rsplit_once('/') {
                    Some((group, kind)) => (group.to_owned(), kind.to_owned()),
                    None => (String::new(), kind.clone()),
                });
            }
        }
        _ if !file.matches.kinds.is_empty() => {
            return Err(invalid(
                "match.kinds applies to object scope only (pod and container scopes see every workload)".into(),
            ));
        }
        _ => {}
    }
    if file.matches.containers.is_some() && file.matches.scope != Scope::Container {
        return Err(invalid(
            "match.containers applies to container scope only".into(),
        ));
    }
    for op in &file.fix {
        if !(op.path.is_empty() || op.path.starts_with('/')) {
            return Err(invalid(format!(
                "fix path '{}' must be empty or start with '/'",
                op.path
            )));
        }
        if op.op != FixKind::Remove && op.value.is_none() {
            return Err(invalid(format!(
                "fix '{:?}' at '{}' needs a value",
                op.op, op.path
            )));
        }
    }
    let field_is_absolute = file.field.starts_with('/');
    let relative = file.field.trim_start_matches('/');
    let field = if relative.is_empty() {
        Vec::new()
    } else {
        relative.split('/').map(str::to_owned).collect()
    };
    Ok(Rule {
        id: Arc::from(file.id.as_str()),
        title: file.title,
        severity: file.severity,
        rationale: file.rationale.trim().to_owned(),
        remediation: file.remediation.trim().to_owned(),
        kinds,
        matches: file.matches,
        check_source: file.check,
        check,
        field,
        field_is_absolute,
        message: file.message,
        sensitive: file.sensitive,
        fix: file.fix,
        tests: file.tests,
        file: path.to_path_buf(),
        uses,
    })
}

impl Rule {
    /// Whether this object-scoped rule applies to objects of `group`/`kind`.
    pub fn matches_kind(&self, group: &str, kind: &str) -> bool {
        self.kinds
            .iter()
            .any(|(g, k)| k == kind && (g == group || g == "*"))
    }

    /// The container kinds this rule sees.
    pub fn container_kinds(&self) -> &[ContainerKind] {
        self.matches
            .containers
            .as_deref()
            .unwrap_or(&ContainerKind::ALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id: sample-rule
title: Sample
severity: high
rationale: Because.
remediation: Do it.
match:
  scope: container
check: "!container.?securityContext.?privileged.orValue(false)"
field: securityContext/privileged
message: "container {container} is privileged"
fix:
  - op: replace
    path: /securityContext/privileged
    value: false
"#;

    #[test]
    fn loads_a_valid_rule() {
        let rule = parse_rule(Path::new("r.yaml"), GOOD).unwrap();
        assert_eq!(&*rule.id, "sample-rule");
        assert_eq!(rule.field, vec!["securityContext", "privileged"]);
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = GOOD.replace("title: Sample", "title: Sample\ntitel: typo");
        let error = parse_rule(Path::new("r.yaml"), &text).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("r.yaml:4:"), "{message}");
        assert!(message.contains("titel"), "{message}");
    }

    #[test]
    fn bad_expression_fails() {
        let text = GOOD.replace("orValue(false)\"", "orValue(false) &&& x\"");
        let error = parse_rule(Path::new("r.yaml"), &text).unwrap_err();
        assert!(error.to_string().contains("does not parse"), "{error}");
    }

    #[test]
    fn macro_loop_variables_are_not_free() {
        let parsed = crate::engine::cel::parse(
            "object.rules.exists(r, r.verbs.all(v, v != '*')) && role == null",
        )
        .unwrap();
        let program = crate::engine::cel::compile(parsed.expression()).unwrap();
        assert_eq!(program.variables(), ["object", "role"]);
    }

    #[test]
    fn variable_outside_scope_fails() {
        let text = GOOD.replace("scope: container", "scope: pod");
        let error = parse_rule(Path::new("r.yaml"), &text).unwrap_err();
        assert!(error.to_string().contains("'container'"), "{error}");
    }
}
