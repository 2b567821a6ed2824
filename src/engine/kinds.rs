//! Pod-template kinds as data: where each workload kind keeps its pod template. The built-in
//! kinds and any custom resource (an Argo Rollout, say) are declared the same way, in a
//! `kinds.yaml` beside the rules. Pure data; no evaluation here.

use serde::Deserialize;
use serde_json::Value;

/// One workload kind and where its pod template sits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadKind {
    /// API group (`""` for the core group).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// JSON pointer of the pod template (an object with `metadata` and `spec`); `""` for a Pod,
    /// which is its own template.
    pub template: String,
}

/// The `kinds.yaml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindsFile {
    /// Workload kinds.
    pub workloads: Vec<WorkloadKind>,
}

impl WorkloadKind {
    /// The pointer of the pod spec.
    pub fn pod_spec_pointer(&self) -> String {
        format!("{}/spec", self.template)
    }

    /// The pointer of the pod metadata.
    pub fn pod_meta_pointer(&self) -> String {
        format!("{}/metadata", self.template)
    }
}

/// Finds the workload kind of an object, if it is one.
pub fn workload_kind<'a>(
    kinds: &'a [WorkloadKind],
    group: &str,
    kind: &str,
) -> Option<&'a WorkloadKind> {
    kinds.iter().find(|w| w.kind == kind && w.group == group)
}

/// The pod's labels of a workload object.
pub fn pod_labels<'a>(
    kind: &WorkloadKind,
    json: &'a Value,
) -> Option<&'a serde_json::Map<String, Value>> {
    crate::model::lookup(json, &format!("{}/labels", kind.pod_meta_pointer()))?.as_object()
}
