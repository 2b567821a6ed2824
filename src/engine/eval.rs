//! Evaluation: runs compiled rules over a set of objects and gives findings, each with the JSON
//! pointer of the field at fault (or of its nearest existing parent), the observed value and
//! the fix made concrete for that object. Objects are evaluated in parallel, and checks read
//! the objects' JSON in place (see `engine::cel`): nothing is converted or copied per rule.
//! Rules that need other objects (a namespace's NetworkPolicies, a binding's role, a pod's
//! ServiceAccount) read them from an index built once per evaluation. No I/O.

use super::cel::{Activation, V, slot};
use super::kinds::{WorkloadKind, pod_labels, workload_kind};
use super::rule::{FixKind, Rule, Scope};
use crate::model::{
    Finding, Fingerprint, Object, ObjectRef, Origin, escape_segment as escape, lookup,
    pointer_segments,
};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, LazyLock};

/// A rule that could not be evaluated on an object (a check error, not a finding).
#[derive(Debug, Clone, Serialize)]
pub struct EvalError {
    /// The rule.
    pub rule: String,
    /// The object.
    pub object: ObjectRef,
    /// The subject's pointer.
    pub path: String,
    /// The CEL error.
    pub message: String,
}

/// What an evaluation produced.
#[derive(Debug, Default)]
pub struct Evaluation {
    /// Every violation found.
    pub findings: Vec<Finding>,
    /// Checks that failed to evaluate.
    pub errors: Vec<EvalError>,
    /// How many objects were evaluated.
    pub objects: usize,
    /// How many subjects each rule checked.
    pub checks: BTreeMap<String, usize>,
}

/// What evaluating some objects produced, before merging.
#[derive(Default)]
struct Out {
    findings: Vec<Finding>,
    errors: Vec<EvalError>,
    checks: HashMap<Arc<str>, usize>,
}

impl Out {
    fn merge(&mut self, other: Out) {
        self.findings.extend(other.findings);
        self.errors.extend(other.errors);
        for (rule, n) in other.checks {
            *self.checks.entry(rule).or_default() += n;
        }
    }
}

/// Variable slots, resolved once.
struct Slots {
    object: usize,
    pod: usize,
    pod_meta: usize,
    container: usize,
    container_type: usize,
    item: usize,
    index: usize,
    role: usize,
    service_account: usize,
    network_policies: usize,
    selecting_policies: usize,
    workload_count: usize,
}

static SLOTS: LazyLock<Slots> = LazyLock::new(|| {
    let s = |name: &str| slot(name).unwrap_or(0);
    Slots {
        object: s("object"),
        pod: s("pod"),
        pod_meta: s("podMeta"),
        container: s("container"),
        container_type: s("containerType"),
        item: s("item"),
        index: s("index"),
        role: s("role"),
        service_account: s("serviceAccount"),
        network_policies: s("networkPolicies"),
        selecting_policies: s("selectingPolicies"),
        workload_count: s("workloadCount"),
    }
});

/// Joins a pointer and relative segments.
pub fn join(base: &str, segments: &[String]) -> String {
    let mut out = base.to_owned();
    for segment in segments {
        out.push('/');
        out.push_str(&escape(segment));
    }
    out
}

fn segments_of(pointer: &str) -> Vec<String> {
    pointer_segments(pointer)
}

/// `pointer` with each list index replaced by the item's identity where it has one: its `name`
/// (containers, volumes, ports, env vars) or its value when it is a string (capabilities). A
/// fingerprint built on it survives reordering and removal of other items.
pub fn stable_pointer(json: &Value, pointer: &str) -> String {
    let mut current = Some(json);
    let mut out = String::new();
    for segment in segments_of(pointer) {
        out.push('/');
        let next = match current {
            Some(Value::Array(items)) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            Some(Value::Object(map)) => map.get(&segment),
            _ => None,
        };
        let identity = match (current, next) {
            (Some(Value::Array(_)), Some(Value::Object(item))) => item
                .get("name")
                .and_then(Value::as_str)
                .map(|name| format!("[name={}]", escape(name))),
            (Some(Value::Array(_)), Some(Value::String(value))) => {
                Some(format!("[={}]", escape(value)))
            }
            _ => None,
        };
        out.push_str(&identity.unwrap_or_else(|| escape(&segment)));
        current = next;
    }
    out
}

/// The deepest prefix of `pointer` that exists in `json`.
pub fn deepest_existing(json: &Value, pointer: &str) -> String {
    let mut current = json;
    let mut out = String::new();
    for segment in segments_of(pointer) {
        let next = match current {
            Value::Object(map) => map.get(&segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(value) => {
                current = value;
                out.push('/');
                out.push_str(&escape(&segment));
            }
            None => break,
        }
    }
    out
}

/// The NetworkPolicies of one namespace, indexed by what their pod selector requires, so that
/// finding the policies that select a pod does not test every policy of the namespace.
#[derive(Default)]
struct Policies {
    all: Vec<Arc<Value>>,
    /// Policies whose selector requires nothing of `matchLabels` (empty, missing, or
    /// `matchExpressions` only): always candidates.
    unkeyed: Vec<usize>,
    /// Policies by one (label, value) pair their `matchLabels` requires.
    by_label: HashMap<(String, String), Vec<usize>>,
}

impl Policies {
    fn add(&mut self, policy: Arc<Value>) {
        let i = self.all.len();
        let first_label = policy
            .get("spec")
            .and_then(|s| s.get("podSelector"))
            .and_then(|s| s.get("matchLabels"))
            .and_then(Value::as_object)
            .and_then(|m| m.iter().next())
            .and_then(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())));
        match first_label {
            Some(key) => self.by_label.entry(key).or_default().push(i),
            None => self.unkeyed.push(i),
        }
        self.all.push(policy);
    }

    /// The policies that select a pod with `labels`, in input order.
    fn selecting<'a>(
        &'a self,
        labels: Option<&serde_json::Map<String, Value>>,
    ) -> impl Iterator<Item = &'a Value> {
        let mut candidates = self.unkeyed.clone();
        for (key, value) in labels.into_iter().flatten() {
            if let Some(value) = value.as_str()
                && let Some(found) = self.by_label.get(&(key.clone(), value.to_owned()))
            {
                candidates.extend(found);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .map(|i| self.all[i].as_ref())
            .filter(move |p| policy_selects(p, labels))
            .collect::<Vec<_>>()
            .into_iter()
    }
}

/// Objects other rules need, indexed once per evaluation.
struct Index {
    /// (group, kind, effective namespace, name) of every object, for owner lookups.
    present: HashSet<(String, String, String, String)>,
    /// NetworkPolicies by effective namespace.
    policies: BTreeMap<String, Policies>,
    /// Roles by (namespace, name), ClusterRoles by name.
    roles: HashMap<(String, String), Arc<Value>>,
    cluster_roles: HashMap<String, Arc<Value>>,
    /// ServiceAccounts by (namespace, name).
    service_accounts: HashMap<(String, String), Arc<Value>>,
    /// Workload objects by effective namespace (for namespace-scoped rules).
    workload_counts: BTreeMap<String, i64>,
    /// Namespaces declared or used explicitly, with the Namespace object when present.
    namespaces: BTreeMap<String, Option<usize>>,
}

impl Index {
    fn build(objects: &[Object], kinds: &[WorkloadKind]) -> Index {
        let mut index = Index {
            present: HashSet::new(),
            policies: BTreeMap::new(),
            roles: HashMap::new(),
            cluster_roles: HashMap::new(),
            service_accounts: HashMap::new(),
            workload_counts: BTreeMap::new(),
            namespaces: BTreeMap::new(),
        };
        for (i, object) in objects.iter().enumerate() {
            let id = &object.id;
            let ns = id.effective_namespace().to_owned();
            index.present.insert((
                id.group().to_owned(),
                id.kind.clone(),
                ns.clone(),
                id.name.clone(),
            ));
            if let Some(explicit) = &id.namespace {
                index.namespaces.entry(explicit.clone()).or_insert(None);
            }
            let json = object.json.clone();
            match (id.group(), id.kind.as_str()) {
                ("", "Namespace") => {
                    index.namespaces.insert(id.name.clone(), Some(i));
                }
                ("networking.k8s.io", "NetworkPolicy") => {
                    index.policies.entry(ns).or_default().add(json);
                }
                ("", "ServiceAccount") => {
                    index.service_accounts.insert((ns, id.name.clone()), json);
                }
                ("rbac.authorization.k8s.io", "Role") => {
                    index.roles.insert((ns, id.name.clone()), json);
                }
                ("rbac.authorization.k8s.io", "ClusterRole") => {
                    index.cluster_roles.insert(id.name.clone(), json);
                }
                (group, kind) => {
                    if workload_kind(kinds, group, kind).is_some() && id.namespace.is_some() {
                        *index.workload_counts.entry(ns).or_default() += 1;
                    }
                }
            }
        }
        index
    }

    /// Whether the object's controller is itself in the input (then the controller is checked
    /// instead, and the object is not reported twice).
    fn controller_present(&self, object: &Object) -> bool {
        let Some(owners) = object
            .json
            .get("metadata")
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
        else {
            return false;
        };
        owners.iter().any(|owner| {
            let controller = owner.get("controller").and_then(Value::as_bool) == Some(true);
            let text = |k: &str| owner.get(k).and_then(Value::as_str).unwrap_or("");
            let group = text("apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
            controller
                && self.present.contains(&(
                    group.to_owned(),
                    text("kind").to_owned(),
                    object.id.effective_namespace().to_owned(),
                    text("name").to_owned(),
                ))
        })
    }

    /// The ServiceAccount a pod spec runs as, when it is in the input.
    fn service_account_for(&self, object: &Object, pod: Option<&Value>) -> Option<&Value> {
        let pod = pod?;
        let name = pod
            .get("serviceAccountName")
            .or_else(|| pod.get("serviceAccount"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        self.service_accounts
            .get(&(object.id.effective_namespace().to_owned(), name.to_owned()))
            .map(AsRef::as_ref)
    }

    fn role_for(&self, object: &Object) -> Option<&Value> {
        let role_ref = object.json.get("roleRef")?;
        let name = role_ref.get("name")?.as_str()?;
        match role_ref.get("kind")?.as_str()? {
            "ClusterRole" => self.cluster_roles.get(name).map(AsRef::as_ref),
            "Role" => self
                .roles
                .get(&(object.id.effective_namespace().to_owned(), name.to_owned()))
                .map(AsRef::as_ref),
            _ => None,
        }
    }
}

/// Whether a label selector selects `labels`. An empty selector selects everything; a missing
/// selector (`null`) selects nothing, as for NetworkPolicy pod selectors.
pub fn selector_matches(selector: &Value, labels: Option<&serde_json::Map<String, Value>>) -> bool {
    let Some(selector) = selector.as_object() else {
        return false;
    };
    let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
    if let Some(match_labels) = selector.get("matchLabels").and_then(Value::as_object)
        && !match_labels.iter().all(|(k, v)| label(k) == v.as_str())
    {
        return false;
    }
    let expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    expressions.iter().all(|expr| {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = expr
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match expr.get("operator").and_then(Value::as_str) {
            Some("In") => label(key).is_some_and(|v| values.contains(&v)),
            Some("NotIn") => label(key).is_none_or(|v| !values.contains(&v)),
            Some("Exists") => label(key).is_some(),
            Some("DoesNotExist") => label(key).is_none(),
            _ => false,
        }
    })
}

/// Whether a NetworkPolicy applies to a pod with `labels`. A missing or null `podSelector`
/// selects every pod of the namespace, as an empty one does (the API server defaults it so).
pub fn policy_selects(policy: &Value, labels: Option<&serde_json::Map<String, Value>>) -> bool {
    match policy.get("spec").and_then(|s| s.get("podSelector")) {
        None | Some(Value::Null) => true,
        Some(selector) => selector_matches(selector, labels),
    }
}

/// Whether a value is a scalar or a list of scalars.
fn is_plain(value: &Value) -> bool {
    match value {
        Value::Object(_) => false,
        Value::Array(items) => items.iter().all(|i| !i.is_object() && !i.is_array()),
        _ => true,
    }
}

/// `Some(json)` as a CEL value, `None` as `null`.
fn json_or_null(json: Option<&Value>) -> V<'_> {
    json.map_or(V::Null, V::Json)
}

fn list_of<'a>(items: impl Iterator<Item = &'a Value>) -> V<'a> {
    V::List(Rc::new(items.map(V::Json).collect()))
}

/// One place a rule is checked: a subject (object, pod spec, container) and optionally an item.
struct Subject<'a> {
    /// Pointer of the subject (or item) inside the object.
    pointer: String,
    json: &'a Value,
    container_name: Option<&'a str>,
}

/// Runs rules over objects.
pub struct Evaluator<'r> {
    rules: &'r [Rule],
    kinds: &'r [WorkloadKind],
}

impl<'r> Evaluator<'r> {
    /// An evaluator for these rules and workload kinds.
    pub fn new(rules: &'r [Rule], kinds: &'r [WorkloadKind]) -> Self {
        Evaluator { rules, kinds }
    }

    /// Evaluates every rule over `objects`.
    pub fn evaluate(&self, objects: &[Object]) -> Evaluation {
        let index = Index::build(objects, self.kinds);
        let per_object: Vec<Out> = objects
            .par_iter()
            .map(|object| self.evaluate_object(object, &index))
            .collect();
        let mut all = Out::default();
        for out in per_object {
            all.merge(out);
        }
        self.evaluate_namespaces(objects, &index, &mut all);
        Evaluation {
            objects: objects.len(),
            findings: all.findings,
            errors: all.errors,
            checks: all
                .checks
                .into_iter()
                .map(|(rule, n)| (rule.to_string(), n))
                .collect(),
        }
    }

    fn evaluate_object(&self, object: &Object, index: &Index) -> Out {
        let group = object.id.group();
        let workload = workload_kind(self.kinds, group, &object.id.kind)
            .filter(|_| !index.controller_present(object));
        let mut out = Out::default();
        let slots = &*SLOTS;
        let pod_pointer = workload.map(WorkloadKind::pod_spec_pointer);
        let pod_json = pod_pointer.as_deref().and_then(|p| lookup(&object.json, p));
        let meta_json = workload.and_then(|w| lookup(&object.json, &w.pod_meta_pointer()));
        let policies = index.policies.get(object.id.effective_namespace());
        let labels = workload.and_then(|w| pod_labels(w, &object.json));
        // Built on first use, shared by every rule of this object.
        let mut all_policies: Option<V<'_>> = None;
        let mut selecting: Option<V<'_>> = None;
        for rule in self.rules {
            let applies = match rule.matches.scope {
                Scope::Object => rule.matches_kind(group, &object.id.kind),
                Scope::Pod | Scope::Container => workload.is_some() && pod_json.is_some(),
                Scope::Namespace => false,
            };
            if !applies {
                continue;
            }
            let mut act = Activation::default();
            act.set(slots.object, V::Json(&object.json));
            if let Some(pod) = pod_json {
                act.set(slots.pod, V::Json(pod));
                act.set(slots.pod_meta, json_or_null(meta_json));
            }
            if rule.uses.role {
                act.set(slots.role, json_or_null(index.role_for(object)));
            }
            if rule.uses.service_account {
                act.set(
                    slots.service_account,
                    json_or_null(index.service_account_for(object, pod_json)),
                );
            }
            if rule.uses.network_policies {
                let value = all_policies
                    .get_or_insert_with(|| {
                        let all = policies.map(|p| p.all.as_slice()).unwrap_or_default();
                        list_of(all.iter().map(AsRef::as_ref))
                    })
                    .clone();
                act.set(slots.network_policies, value);
            }
            if rule.uses.selecting_policies {
                let value = selecting
                    .get_or_insert_with(|| match policies {
                        Some(p) => list_of(p.selecting(labels)),
                        None => V::List(Rc::new(Vec::new())),
                    })
                    .clone();
                act.set(slots.selecting_policies, value);
            }
            match rule.matches.scope {
                Scope::Object => {
                    let subject = Subject {
                        pointer: String::new(),
                        json: &object.json,
                        container_name: None,
                    };
                    self.check_subject(rule, object, &mut act, &subject, &mut out);
                }
                Scope::Pod => {
                    if let (Some(pointer), Some(json)) = (&pod_pointer, pod_json) {
                        let subject = Subject {
                            pointer: pointer.clone(),
                            json,
                            container_name: None,
                        };
                        self.check_subject(rule, object, &mut act, &subject, &mut out);
                    }
                }
                Scope::Container => {
                    let (Some(pointer), Some(pod)) = (&pod_pointer, pod_json) else {
                        continue;
                    };
                    for kind in rule.container_kinds() {
                        let Some(list) = pod.get(kind.field()).and_then(Value::as_array) else {
                            continue;
                        };
                        act.set(slots.container_type, V::Str(kind.field()));
                        for (i, container) in list.iter().enumerate() {
                            act.set(slots.container, V::Json(container));
                            let subject = Subject {
                                pointer: join(pointer, &[kind.field().to_owned(), i.to_string()]),
                                json: container,
                                container_name: container.get("name").and_then(Value::as_str),
                            };
                            self.check_subject(rule, object, &mut act, &subject, &mut out);
                        }
                    }
                }
                Scope::Namespace => {}
            }
        }
        out
    }

    /// Checks one subject, once or once per item (or map entry) of `match.each`.
    fn check_subject<'a>(
        &self,
        rule: &'a Rule,
        object: &Object,
        act: &mut Activation<'a>,
        subject: &Subject<'a>,
        out: &mut Out,
    ) {
        let Some(each) = &rule.matches.each else {
            self.check_one(rule, object, act, subject, out);
            return;
        };
        let mut list = subject.json;
        for segment in each.split('/') {
            match list.get(segment) {
                Some(next) => list = next,
                None => return,
            }
        }
        let slots = &*SLOTS;
        // A list gives (index, item); a map gives (key, value), with `index` bound to the key.
        let entries: Vec<(String, &Value, V<'_>)> = match list {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    (
                        i.to_string(),
                        item,
                        V::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                    )
                })
                .collect(),
            Value::Object(map) => map
                .iter()
                .map(|(k, item)| (k.clone(), item, V::Str(k)))
                .collect(),
            _ => return,
        };
        for (segment, item, index) in entries {
            act.set(slots.item, V::from_json(item));
            act.set(slots.index, index);
            let item_subject = Subject {
                pointer: format!("{}/{each}/{}", subject.pointer, escape(&segment)),
                json: item,
                container_name: subject.container_name,
            };
            self.check_one(rule, object, act, &item_subject, out);
        }
        act.clear(slots.item);
        act.clear(slots.index);
    }

    fn check_one<'a>(
        &self,
        rule: &'a Rule,
        object: &Object,
        act: &mut Activation<'a>,
        subject: &Subject<'_>,
        out: &mut Out,
    ) {
        match out.checks.get_mut(&rule.id) {
            Some(n) => *n += 1,
            None => {
                out.checks.insert(rule.id.clone(), 1);
            }
        }
        match rule.check.eval(act) {
            Ok(V::Bool(true)) => {}
            Ok(V::Bool(false)) => out.findings.push(self.finding(rule, object, subject)),
            Ok(other) => out.errors.push(EvalError {
                rule: rule.id.to_string(),
                object: object.id.clone(),
                path: subject.pointer.clone(),
                message: format!("check returned {other:?}, not a bool"),
            }),
            Err(error) => out.errors.push(EvalError {
                rule: rule.id.to_string(),
                object: object.id.clone(),
                path: subject.pointer.clone(),
                message: error.to_string(),
            }),
        }
    }

    fn finding(&self, rule: &Rule, object: &Object, subject: &Subject<'_>) -> Finding {
        let field = if rule.field_is_absolute {
            join("", &rule.field)
        } else {
            join(&subject.pointer, &rule.field)
        };
        // Only scalars and lists of scalars are echoed: a whole pod spec or container would
        // copy unrelated (and possibly secret) values into the report.
        let observed = lookup(&object.json, &field)
            .filter(|v| is_plain(v))
            .cloned();
        let path = deepest_existing(&object.json, &field);
        let fix =
            (!rule.fix.is_empty()).then(|| concrete_fix(rule, &subject.pointer, &object.json));
        // A field that may hold a secret is never copied into the finding.
        let (observed, shown) = if rule.sensitive {
            (None, Some(Value::String("(redacted)".to_owned())))
        } else {
            (observed.clone(), observed)
        };
        let message = render_message(
            &rule.message,
            object,
            subject,
            shown.as_ref(),
            rule.sensitive,
        );
        Finding {
            fingerprint: Fingerprint::new(
                &rule.id,
                &object.id,
                &stable_pointer(&object.json, &field),
            ),
            rule: rule.id.clone(),
            severity: rule.severity,
            object: object.id.clone(),
            origin: object.origin.clone(),
            path,
            field,
            observed,
            message,
            fix,
            line: None,
            excepted: None,
        }
    }

    fn evaluate_namespaces(&self, objects: &[Object], index: &Index, out: &mut Out) {
        let rules: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.matches.scope == Scope::Namespace)
            .collect();
        if rules.is_empty() {
            return;
        }
        let slots = &*SLOTS;
        for (name, declared) in &index.namespaces {
            let object = match declared {
                Some(i) => objects[*i].clone(),
                None => {
                    let json = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
                    match Object::from_json(json, Origin::Implied) {
                        Some(object) => object,
                        None => continue,
                    }
                }
            };
            let policies = index.policies.get(name.as_str());
            for rule in &rules {
                let mut act = Activation::default();
                act.set(slots.object, V::Json(&object.json));
                let all = policies.map(|p| p.all.as_slice()).unwrap_or_default();
                act.set(
                    slots.network_policies,
                    list_of(all.iter().map(AsRef::as_ref)),
                );
                act.set(
                    slots.workload_count,
                    V::Int(index.workload_counts.get(name).copied().unwrap_or(0)),
                );
                let subject = Subject {
                    pointer: String::new(),
                    json: &object.json,
                    container_name: None,
                };
                self.check_one(rule, &object, &mut act, &subject, out);
            }
        }
    }
}

fn render_message(
    template: &str,
    object: &Object,
    subject: &Subject<'_>,
    observed: Option<&Value>,
    sensitive: bool,
) -> String {
    let value = match observed {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "unset".to_owned(),
    };
    // An item is shown by its name; a sensitive rule's item without a name may be the secret.
    let name = subject.json.get("name").and_then(Value::as_str);
    let item = match (subject.json, name) {
        (_, Some(name)) => name.to_owned(),
        _ if sensitive => "(redacted)".to_owned(),
        (Value::String(s), None) => s.clone(),
        (other, None) => other.to_string(),
    };
    template
        .replace("{container}", subject.container_name.unwrap_or("?"))
        .replace("{kind}", &object.id.kind)
        .replace("{name}", &object.id.name)
        .replace("{namespace}", object.id.effective_namespace())
        .replace("{value}", &value)
        .replace("{item}", &item)
        .trim()
        .to_owned()
}

/// Makes a rule's relative fix concrete for one object: absolute paths, missing parents
/// created, `replace` of a missing value turned into `add`, `remove` of a missing value dropped.
/// The result applies cleanly with any RFC 6902 implementation.
pub fn concrete_fix(rule: &Rule, subject_pointer: &str, json: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    for op in &rule.fix {
        let path = format!("{subject_pointer}{}", op.path);
        let exists =
            !matches!(lookup(json, &path), None | Some(Value::Null)) || created.contains(&path);
        match op.op {
            FixKind::Remove => {
                if exists {
                    ops.push(json!({"op": "remove", "path": path}));
                }
            }
            FixKind::Add | FixKind::Replace => {
                let segments = segments_of(&path);
                let mut prefix = String::new();
                for (i, segment) in segments
                    .iter()
                    .enumerate()
                    .take(segments.len().saturating_sub(1))
                {
                    prefix.push('/');
                    prefix.push_str(&escape(segment));
                    // A missing parent, or one that is null (`securityContext:` left empty), is
                    // created; `add` on an existing member replaces it.
                    let missing = matches!(lookup(json, &prefix), None | Some(Value::Null));
                    if missing && created.insert(prefix.clone()) {
                        let next = &segments[i + 1];
                        let empty = if next == "-" || next.parse::<usize>().is_ok() {
                            json!([])
                        } else {
                            json!({})
                        };
                        ops.push(json!({"op": "add", "path": prefix, "value": empty}));
                    }
                }
                let kind = if op.op == FixKind::Replace && exists {
                    "replace"
                } else {
                    "add"
                };
                ops.push(json!({"op": kind, "path": path, "value": op.value.clone().unwrap_or(Value::Null)}));
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let labels = json!({"app": "web", "tier": "front"});
        let labels = labels.as_object();
        assert!(selector_matches(&json!({}), labels));
        assert!(!selector_matches(&Value::Null, labels));
        assert!(selector_matches(
            &json!({"matchLabels": {"app": "web"}}),
            labels
        ));
        assert!(!selector_matches(
            &json!({"matchLabels": {"app": "db"}}),
            labels
        ));
        assert!(selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]}),
            labels
        ));
        assert!(!selector_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            labels
        ));
    }

    #[test]
    fn stable_pointers_name_list_items() {
        let doc = json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "securityContext":
            {"capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"]}}}]}});
        assert_eq!(
            stable_pointer(
                &doc,
                "/spec/containers/1/securityContext/capabilities/add/1"
            ),
            "/spec/containers/[name=b]/securityContext/capabilities/add/[=SYS_ADMIN]"
        );
        assert_eq!(
            stable_pointer(&doc, "/spec/containers/5/x"),
            "/spec/containers/5/x"
        );
    }

    #[test]
    fn fixes_create_missing_and_null_parents() {
        let rules = crate::engine::RuleSet::load(None, None).unwrap();
        let rule = rules.rule("privileged-container").unwrap();
        let doc = json!({"spec": {"containers": [{"name": "a", "securityContext": null}]}});
        let ops = concrete_fix(rule, "/spec/containers/0", &doc);
        let mut fixed = doc.clone();
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
        json_patch::patch(&mut fixed, &patch).unwrap();
        assert_eq!(
            fixed["spec"]["containers"][0]["securityContext"]["privileged"],
            json!(false)
        );
    }

    #[test]
    fn deepest_existing_stops_at_the_missing_part() {
        let doc = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            deepest_existing(&doc, "/spec/containers/0/securityContext/privileged"),
            "/spec/containers/0"
        );
        assert_eq!(
            deepest_existing(&doc, "/spec/containers/0/name"),
            "/spec/containers/0/name"
        );
    }
}
