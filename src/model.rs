//! Plain data shared by every stage: objects, their identity and origin, severities, findings
//! and fingerprints. No I/O happens here, and nothing here knows about kube, git or HTTP.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// How bad a finding is. Ordered from least to most severe, so `>=` compares thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Hardening that reduces the blast radius of another problem.
    Low,
    /// A weakness an attacker can use once inside.
    Medium,
    /// A direct path to privilege or data.
    High,
    /// A node or cluster compromise on its own.
    Critical,
}

impl Severity {
    /// Every severity, most severe first (the order reports use).
    pub const ALL_DESC: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    /// The weight of this severity in the posture score (see `engine::score`).
    pub fn weight(self) -> u32 {
        match self {
            Severity::Low => 1,
            Severity::Medium => 3,
            Severity::High => 7,
            Severity::Critical => 15,
        }
    }

    /// The lowercase name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity '{other}' (expected low, medium, high or critical)"
            )),
        }
    }
}

/// The identity of a Kubernetes object: what a person types after `kubectl get`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `group/version`, or `version` for the core group.
    pub api_version: String,
    /// The kind, such as `Deployment`.
    pub kind: String,
    /// The namespace; `None` for cluster-scoped objects and for manifests that leave it unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name (or `generateName` when the name is unset).
    pub name: String,
}

impl ObjectRef {
    /// The API group (empty for the core group).
    pub fn group(&self) -> &str {
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }

    /// The namespace an object lands in when applied without `-n`: its own, else `default`.
    pub fn effective_namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{} {}/{}", self.api_version, self.kind, ns, self.name),
            None => write!(f, "{}/{} {}", self.api_version, self.kind, self.name),
        }
    }
}

/// Where an object was read from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Origin {
    /// A document in a manifest file.
    File {
        /// The file as the user named it (or as found under a folder the user named).
        path: PathBuf,
        /// The index of the YAML document in the file, from 1 (as `split_documents` counts).
        document: usize,
        /// The 1-based line where the document starts.
        line: usize,
        /// For items of a `kind: List` document, the item's index.
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
    },
    /// An object listed from a live cluster.
    Cluster {
        /// The kubeconfig context, or `in-cluster`.
        context: String,
    },
    /// Synthesised by redress (a namespace that no input declared, for example).
    Implied,
}

impl Origin {
    /// For an item of a `kind: List` document (or an object of a render), its index.
    pub fn item(&self) -> Option<usize> {
        match self {
            Origin::File { item, .. } => *item,
            _ => None,
        }
    }
}

/// A Kubernetes object: its JSON, its identity and its origin.
#[derive(Debug, Clone)]
pub struct Object {
    /// Identity, read from the JSON once.
    pub id: ObjectRef,
    /// The object as JSON.
    pub json: Arc<Value>,
    /// Where it came from.
    pub origin: Origin,
}

impl Object {
    /// Builds an object from JSON, reading its identity. Returns `None` when the JSON is not a
    /// Kubernetes object (no string `apiVersion` and `kind`).
    pub fn from_json(json: Value, origin: Origin) -> Option<Object> {
        let id = object_ref(&json)?;
        Some(Object {
            id,
            json: Arc::new(json),
            origin,
        })
    }

    /// The object's labels (`metadata.labels`), empty when unset.
    pub fn labels(&self) -> Option<&serde_json::Map<String, Value>> {
        self.json.pointer("/metadata/labels")?.as_object()
    }

    /// The object's annotation `key`, if set to a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.json
            .get("metadata")?
            .get("annotations")?
            .get(key)?
            .as_str()
    }
}

/// Reads the identity of a JSON object, or `None` when it is not a Kubernetes object.
pub fn object_ref(json: &Value) -> Option<ObjectRef> {
    let api_version = json.get("apiVersion")?.as_str()?.to_owned();
    let kind = json.get("kind")?.as_str()?.to_owned();
    if api_version.is_empty() || kind.is_empty() {
        return None;
    }
    let meta = json.get("metadata");
    let text = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let name = text("name")
        .or_else(|| text("generateName"))
        .unwrap_or_default();
    Some(ObjectRef {
        api_version,
        kind,
        namespace: text("namespace"),
        name,
    })
}

/// A stable hash of rule, object identity and pointer: the same problem has the same fingerprint
/// in every run, whatever else changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    /// Computes the fingerprint. The API version is left out on purpose (a Deployment moved
    /// from `extensions/v1beta1` to `apps/v1` is the same problem), and so is the namespace
    /// default: an unset namespace and `default` are the same place.
    pub fn new(rule: &str, object: &ObjectRef, pointer: &str) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in [
            rule,
            object.group(),
            &object.kind,
            object.effective_namespace(),
            &object.name,
            pointer,
        ] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        let digest = hash.finalize();
        Fingerprint(digest[..10].iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// Why a finding does not count against the posture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    /// Where the exception was declared: `annotation` or the exceptions file's path.
    pub source: String,
    /// The reason a person gave.
    pub reason: String,
    /// The last day it applies, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<chrono::NaiveDate>,
}

/// One violation of one rule at one place in one object.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The rule id.
    pub rule: Arc<str>,
    /// The rule's severity.
    pub severity: Severity,
    /// The object at fault.
    pub object: ObjectRef,
    /// Where the object came from.
    pub origin: Origin,
    /// JSON pointer of the offending field, or of the nearest existing parent when a required
    /// field is missing.
    pub path: String,
    /// The pointer of the field the rule is about, even when it does not exist.
    pub field: String,
    /// The value found at `field`, if any.
    pub observed: Option<Value>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The fix as JSON Patch operations on the object, when the rule has a safe one.
    pub fix: Option<Vec<Value>>,
    /// The 1-based line of `path` in its file, when the object came from a file.
    pub line: Option<usize>,
    /// Set when an exception covers this finding.
    pub excepted: Option<Exception>,
    /// The stable identity of this finding.
    pub fingerprint: Fingerprint,
}

/// Splits a JSON pointer into its unescaped segments.
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// The value at a JSON pointer, like `Value::pointer`, without allocating for segments that
/// need no unescaping (the common case, and a hot path: every finding and pod is located so).
pub fn lookup<'a>(json: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(json);
    }
    let mut current = json;
    for raw in pointer.strip_prefix('/')?.split('/') {
        let unescaped;
        let segment = if raw.contains('~') {
            unescaped = raw.replace("~1", "/").replace("~0", "~");
            unescaped.as_str()
        } else {
            raw
        };
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Escapes one JSON pointer segment (`~` and `/`).
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprint_ignores_api_version_and_default_namespace() {
        let a = object_ref(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"}}))
        .unwrap();
        let b = object_ref(&json!({"apiVersion": "apps/v1beta2", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"}}))
        .unwrap();
        assert_eq!(
            Fingerprint::new("r", &a, "/spec"),
            Fingerprint::new("r", &b, "/spec")
        );
        assert_ne!(
            Fingerprint::new("r", &a, "/spec"),
            Fingerprint::new("r", &a, "/spec/x")
        );
    }

    #[test]
    fn non_kubernetes_json_has_no_identity() {
        assert!(object_ref(&json!({"name": "x"})).is_none());
        assert!(object_ref(&json!({"apiVersion": "v1", "kind": ""})).is_none());
    }

    #[test]
    fn lookup_agrees_with_serde_json_pointer() {
        let doc = json!({"a": {"b/c": [1, {"d~e": true}]}, "": 3});
        for pointer in [
            "",
            "/a",
            "/a/b~1c/1/d~0e",
            "/a/b~1c/2",
            "/x",
            "/a/b~1c/x",
            "/",
        ] {
            assert_eq!(lookup(&doc, pointer), doc.pointer(pointer), "{pointer}");
        }
    }

    #[test]
    fn escaped_pointer_segments() {
        assert_eq!(pointer_segments("/a~1b/c~0d"), vec!["a/b", "c~d"]);
        assert_eq!(escape_segment("a/b~"), "a~1b~0");
    }

    #[test]
    fn severities_order_and_parse() {
        assert!(Severity::Critical > Severity::High);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("severe".parse::<Severity>().is_err());
    }
}
