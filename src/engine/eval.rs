//! Evaluation: runs compiled rules over a set of objects and gives findings, each with the JSON
//! pointer of the field at fault (or of its nearest existing parent), the observed value and
//! the fix made concrete for that object. Objects are evaluated in parallel; each is converted
//! to a CEL value once, and the pod spec, container and item are bound by reference into it.
//! Rules that need other objects (a namespace's NetworkPolicies, a binding's role) read them
//! from an index built once per evaluation. No I/O.

use super::kinds::{WorkloadKind, pod_labels, workload_kind};
use super::rule::{FixKind, Rule, Scope};
use crate::model::{Finding, Fingerprint, Object, ObjectRef, Origin};
use cel::common::types::{CelInt, CelList, CelNull, CelString};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Env};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

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

/// Converts JSON to a CEL value. JSON always converts; a failure would be a library bug, so it
/// becomes `null` rather than a panic.
fn to_val(json: &Value) -> Box<dyn Val> {
    cel::to_value(json)
        .ok()
        .and_then(|v| Box::<dyn Val>::try_from(v).ok())
        .unwrap_or_else(|| Box::new(CelNull))
}

fn list_val(items: Vec<Box<dyn Val>>) -> Box<dyn Val> {
    Box::new(CelList::from(items))
}

/// Follows `segments` from `val`, using `json` (the same tree) to tell lists from maps.
fn child<'a>(mut val: &'a dyn Val, mut json: &Value, segments: &[String]) -> Option<&'a dyn Val> {
    for segment in segments {
        let indexer = val.as_indexer()?;
        let got = match json {
            Value::Array(items) => {
                let index: usize = segment.parse().ok()?;
                json = items.get(index)?;
                indexer.get(&CelInt::from(i64::try_from(index).ok()?))
            }
            Value::Object(map) => {
                json = map.get(segment)?;
                indexer.get(&CelString::from(segment.clone()))
            }
            _ => return None,
        };
        match got {
            Ok(CowVal::Borrowed(inner)) => val = inner,
            _ => return None,
        }
    }
    Some(val)
}

/// Escapes one JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

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
    crate::inventory::lines::pointer_segments(pointer)
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

/// A related object: its JSON and its CEL value.
type Related = (Arc<Value>, Box<dyn Val>);

/// Objects other rules need, indexed once per evaluation.
struct Index {
    /// (group, kind, effective namespace, name) of every object, for owner lookups.
    present: HashSet<(String, String, String, String)>,
    /// NetworkPolicies by effective namespace.
    policies: BTreeMap<String, Vec<Related>>,
    /// Roles by (namespace, name), ClusterRoles by name.
    roles: HashMap<(String, String), Box<dyn Val>>,
    /// ServiceAccounts by (namespace, name).
    service_accounts: HashMap<(String, String), Box<dyn Val>>,
    cluster_roles: HashMap<String, Box<dyn Val>>,
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
            service_accounts: HashMap::new(),
            cluster_roles: HashMap::new(),
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
            match (id.group(), id.kind.as_str()) {
                ("", "Namespace") => {
                    index.namespaces.insert(id.name.clone(), Some(i));
                }
                ("networking.k8s.io", "NetworkPolicy") => index
                    .policies
                    .entry(ns)
                    .or_default()
                    .push((object.json.clone(), to_val(&object.json))),
                ("", "ServiceAccount") => {
                    index
                        .service_accounts
                        .insert((ns, id.name.clone()), to_val(&object.json));
                }
                ("rbac.authorization.k8s.io", "Role") => {
                    index
                        .roles
                        .insert((ns, id.name.clone()), to_val(&object.json));
                }
                ("rbac.authorization.k8s.io", "ClusterRole") => {
                    index
                        .cluster_roles
                        .insert(id.name.clone(), to_val(&object.json));
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
            .pointer("/metadata/ownerReferences")
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
    fn service_account_for(&self, object: &Object, pod: Option<&Value>) -> Option<&dyn Val> {
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

    fn role_for(&self, object: &Object) -> Option<&dyn Val> {
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
    match policy.pointer("/spec/podSelector") {
        None | Some(Value::Null) => true,
        Some(selector) => selector_matches(selector, labels),
    }
}

/// The variables bound for one evaluation.
#[derive(Default)]
struct Vars<'a> {
    object: Option<&'a dyn Val>,
    pod: Option<&'a dyn Val>,
    pod_meta: Option<&'a dyn Val>,
    container: Option<&'a dyn Val>,
    container_type: Option<Box<dyn Val>>,
    item: Option<&'a dyn Val>,
    index: Option<Box<dyn Val>>,
    role: Option<&'a dyn Val>,
    service_account: Option<&'a dyn Val>,
    network_policies: Option<Box<dyn Val>>,
    selecting_policies: Option<Box<dyn Val>>,
    workload_count: Option<Box<dyn Val>>,
}

static NULL: CelNull = CelNull;

impl VariableResolver for Vars<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        let borrowed = |v: Option<&'b dyn Val>| Some(CowVal::Borrowed(v.unwrap_or(&NULL)));
        let boxed = |v: &'b Option<Box<dyn Val>>| borrowed(v.as_deref());
        match variable {
            "object" => borrowed(self.object),
            "pod" => borrowed(self.pod),
            "podMeta" => borrowed(self.pod_meta),
            "container" => borrowed(self.container),
            "containerType" => boxed(&self.container_type),
            "item" => borrowed(self.item),
            "index" => boxed(&self.index),
            "role" => borrowed(self.role),
            "serviceAccount" => borrowed(self.service_account),
            "networkPolicies" => boxed(&self.network_policies),
            "selectingPolicies" => boxed(&self.selecting_policies),
            "workloadCount" => boxed(&self.workload_count),
            _ => None,
        }
    }
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
    env: Arc<Env>,
}

impl<'r> Evaluator<'r> {
    /// An evaluator for these rules and workload kinds.
    pub fn new(rules: &'r [Rule], kinds: &'r [WorkloadKind], env: Arc<Env>) -> Self {
        Evaluator { rules, kinds, env }
    }

    /// Evaluates every rule over `objects`.
    pub fn evaluate(&self, objects: &[Object]) -> Evaluation {
        let index = Index::build(objects, self.kinds);
        let per_object: Vec<Out> = objects
            .par_iter()
            .map(|object| self.evaluate_object(object, &index))
            .collect();
        let mut evaluation = Evaluation {
            objects: objects.len(),
            ..Evaluation::default()
        };
        let mut all = Out::default();
        for out in per_object {
            all.merge(out);
        }
        self.evaluate_namespaces(objects, &index, &mut all);
        evaluation.findings = all.findings;
        evaluation.errors = all.errors;
        evaluation.checks = all
            .checks
            .into_iter()
            .map(|(rule, n)| (rule.to_string(), n))
            .collect();
        evaluation
    }

    fn evaluate_object(&self, object: &Object, index: &Index) -> Out {
        let group = object.id.group();
        let workload = workload_kind(self.kinds, group, &object.id.kind)
            .filter(|_| !index.controller_present(object));
        let applicable: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|rule| match rule.matches.scope {
                Scope::Object => rule.matches_kind(group, &object.id.kind),
                Scope::Pod | Scope::Container => workload.is_some(),
                Scope::Namespace => false,
            })
            .collect();
        let mut out = Out::default();
        if applicable.is_empty() {
            return out;
        }
        let root = to_val(&object.json);
        let pod_pointer = workload.map(WorkloadKind::pod_spec_pointer);
        let pod_json = pod_pointer.as_deref().and_then(|p| object.json.pointer(p));
        let pod_val = pod_pointer
            .as_deref()
            .and_then(|p| child(root.as_ref(), &object.json, &segments_of(p)));
        let meta_pointer = workload.map(WorkloadKind::pod_meta_pointer);
        let meta_val = meta_pointer
            .as_deref()
            .and_then(|p| child(root.as_ref(), &object.json, &segments_of(p)));
        let policies = index.policies.get(object.id.effective_namespace());
        let labels = workload.and_then(|w| pod_labels(w, &object.json));
        for rule in applicable {
            let mut vars = Vars {
                object: Some(root.as_ref()),
                pod: pod_val,
                pod_meta: meta_val,
                ..Vars::default()
            };
            if rule.uses.role {
                vars.role = index.role_for(object);
            }
            if rule.uses.service_account {
                vars.service_account = index.service_account_for(object, pod_json);
            }
            if rule.uses.network_policies {
                vars.network_policies = Some(list_val(
                    policies
                        .map(|p| p.iter().map(|(_, v)| v.clone()).collect())
                        .unwrap_or_default(),
                ));
            }
            if rule.uses.selecting_policies {
                vars.selecting_policies = Some(list_val(
                    policies
                        .map(|p| {
                            p.iter()
                                .filter(|(json, _)| policy_selects(json, labels))
                                .map(|(_, v)| v.clone())
                                .collect()
                        })
                        .unwrap_or_default(),
                ));
            }
            match rule.matches.scope {
                Scope::Object => {
                    let subject = Subject {
                        pointer: String::new(),
                        json: &object.json,
                        container_name: None,
                    };
                    self.check_subject(rule, object, &vars, root.as_ref(), subject, &mut out);
                }
                Scope::Pod => {
                    if let (Some(pointer), Some(json), Some(val)) =
                        (&pod_pointer, pod_json, pod_val)
                    {
                        let subject = Subject {
                            pointer: pointer.clone(),
                            json,
                            container_name: None,
                        };
                        self.check_subject(rule, object, &vars, val, subject, &mut out);
                    }
                }
                Scope::Container => {
                    let (Some(pointer), Some(pod_json), Some(pod_val)) =
                        (&pod_pointer, pod_json, pod_val)
                    else {
                        continue;
                    };
                    for kind in rule.container_kinds() {
                        let Some(list) = pod_json.get(kind.field()).and_then(Value::as_array)
                        else {
                            continue;
                        };
                        let container_type: Box<dyn Val> =
                            Box::new(CelString::from(kind.field().to_owned()));
                        for (i, container) in list.iter().enumerate() {
                            let segments = [kind.field().to_owned(), i.to_string()];
                            let Some(val) = child(pod_val, pod_json, &segments) else {
                                continue;
                            };
                            let mut vars = Vars {
                                container: Some(val),
                                container_type: Some(container_type.clone()),
                                ..vars.share()
                            };
                            vars.role = None;
                            let subject = Subject {
                                pointer: join(pointer, &segments),
                                json: container,
                                container_name: container.get("name").and_then(Value::as_str),
                            };
                            self.check_subject(rule, object, &vars, val, subject, &mut out);
                        }
                    }
                }
                Scope::Namespace => {}
            }
        }
        out
    }

    /// Checks one subject, once or once per item of `match.each`.
    fn check_subject(
        &self,
        rule: &Rule,
        object: &Object,
        vars: &Vars<'_>,
        subject_val: &dyn Val,
        subject: Subject<'_>,
        out: &mut Out,
    ) {
        let Some(each) = &rule.matches.each else {
            self.check_one(rule, object, vars, &subject, out);
            return;
        };
        let each_segments: Vec<String> = each.split('/').map(str::to_owned).collect();
        let mut list_json = subject.json;
        for segment in &each_segments {
            match list_json.get(segment) {
                Some(next) => list_json = next,
                None => return,
            }
        }
        let Some(list_val) = child(subject_val, subject.json, &each_segments) else {
            return;
        };
        // A list gives (index, item); a map gives (key, value), with `index` bound to the key.
        let entries: Vec<(String, &Value, Box<dyn Val>)> = match list_json {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let index: Box<dyn Val> =
                        Box::new(CelInt::from(i64::try_from(i).unwrap_or(i64::MAX)));
                    (i.to_string(), item, index)
                })
                .collect(),
            Value::Object(map) => map
                .iter()
                .map(|(key, item)| {
                    let index: Box<dyn Val> = Box::new(CelString::from(key.clone()));
                    (key.clone(), item, index)
                })
                .collect(),
            _ => return,
        };
        for (segment, item, index) in entries {
            let Some(item_val) = child(list_val, list_json, std::slice::from_ref(&segment)) else {
                continue;
            };
            let vars = Vars {
                item: Some(item_val),
                index: Some(index),
                ..vars.share()
            };
            let mut item_segments = each_segments.clone();
            item_segments.push(segment);
            let item_subject = Subject {
                pointer: join(&subject.pointer, &item_segments),
                json: item,
                container_name: subject.container_name,
            };
            self.check_one(rule, object, &vars, &item_subject, out);
        }
    }

    fn check_one(
        &self,
        rule: &Rule,
        object: &Object,
        vars: &Vars<'_>,
        subject: &Subject<'_>,
        out: &mut Out,
    ) {
        *out.checks.entry(rule.id.clone()).or_default() += 1;
        let mut context = Context::with_env(self.env.clone());
        context.set_variable_resolver(vars);
        match rule.check.execute(&context) {
            Ok(cel::Value::Bool(true)) => {}
            Ok(cel::Value::Bool(false)) => {
                out.findings.push(self.finding(rule, object, subject));
            }
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
        let observed = object.json.pointer(&field).cloned();
        let path = deepest_existing(&object.json, &field);
        let fix =
            (!rule.fix.is_empty()).then(|| concrete_fix(rule, &subject.pointer, &object.json));
        let message = render_message(&rule.message, object, subject, observed.as_ref());
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
            let root = to_val(&object.json);
            let policies = index.policies.get(name.as_str());
            for rule in &rules {
                let vars = Vars {
                    object: Some(root.as_ref()),
                    network_policies: Some(list_val(
                        policies
                            .map(|p| p.iter().map(|(_, v)| v.clone()).collect())
                            .unwrap_or_default(),
                    )),
                    workload_count: Some(Box::new(CelInt::from(
                        index.workload_counts.get(name).copied().unwrap_or(0),
                    ))),
                    ..Vars::default()
                };
                let subject = Subject {
                    pointer: String::new(),
                    json: &object.json,
                    container_name: None,
                };
                self.check_one(rule, &object, &vars, &subject, out);
            }
        }
    }
}

impl<'a> Vars<'a> {
    /// A copy sharing the borrowed values (owned ones are cloned).
    fn share(&self) -> Vars<'a> {
        Vars {
            object: self.object,
            pod: self.pod,
            pod_meta: self.pod_meta,
            container: self.container,
            container_type: self.container_type.clone(),
            item: self.item,
            index: self.index.clone(),
            role: self.role,
            service_account: self.service_account,
            network_policies: self.network_policies.clone(),
            selecting_policies: self.selecting_policies.clone(),
            workload_count: self.workload_count.clone(),
        }
    }
}

fn render_message(
    template: &str,
    object: &Object,
    subject: &Subject<'_>,
    observed: Option<&Value>,
) -> String {
    let value = match observed {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "unset".to_owned(),
    };
    let item = match subject.json {
        Value::String(s) => s.clone(),
        Value::Object(map) => map
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| subject.json.to_string(), str::to_owned),
        other => other.to_string(),
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
            !matches!(json.pointer(&path), None | Some(Value::Null)) || created.contains(&path);
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
                    let missing = matches!(json.pointer(&prefix), None | Some(Value::Null));
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
