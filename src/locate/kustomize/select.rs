//! locate/kustomize/select: whether a Kustomize patch applies to an object.
//!
//! Takes a patch `target` (or a strategic-merge patch document without one) and the object's
//! identity as it may have been when the patch applied, and says whether the patch selects
//! it. Names and namespaces are anchored regular expressions, as in kustomize; group, version
//! and kind compare exactly; label and annotation selectors take `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k` and `!k`. Pure: no I/O.

use regex::Regex;
use serde_json::{Map, Value};

/// What a patch can select an object by. Names and namespaces hold every value the object
/// may have had when the patch applied (as written in its origin file, after the inner
/// kustomizations' transformations, as rendered); a selector matches if any does.
#[derive(Clone, Debug, Default)]
pub(super) struct Ident {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub names: Vec<String>,
    pub namespaces: Vec<String>,
    pub labels: Vec<Map<String, Value>>,
    pub annotations: Vec<Map<String, Value>>,
}

/// Splits an `apiVersion` into group and version.
pub(super) fn group_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// kustomize compares names as regular expressions matching the whole name; a pattern that
/// is not a valid expression compares literally.
fn name_matches(pattern: &str, name: &str) -> bool {
    match Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => re.is_match(name),
        Err(_) => pattern == name,
    }
}

/// Whether a patch `target` selects the object.
pub(super) fn target_selects(target: &Value, ident: &Ident) -> bool {
    if text(target, "group").is_some_and(|g| g != ident.group)
        || text(target, "version").is_some_and(|v| v != ident.version)
        || text(target, "kind").is_some_and(|k| k != ident.kind)
    {
        return false;
    }
    if let Some(name) = text(target, "name")
        && !ident.names.iter().any(|n| name_matches(name, n))
    {
        return false;
    }
    if let Some(namespace) = text(target, "namespace")
        && !ident.namespaces.iter().any(|n| name_matches(namespace, n))
    {
        return false;
    }
    if let Some(selector) = text(target, "labelSelector")
        && !ident.labels.iter().any(|l| selector_matches(selector, l))
    {
        return false;
    }
    if let Some(selector) = text(target, "annotationSelector")
        && !ident
            .annotations
            .iter()
            .any(|a| selector_matches(selector, a))
    {
        return false;
    }
    true
}

/// Whether a strategic-merge patch document without a target names the object: same group,
/// kind and name, and namespace when the patch gives one.
pub(super) fn document_names(doc: &Value, ident: &Ident) -> bool {
    if text(doc, "kind") != Some(ident.kind.as_str()) {
        return false;
    }
    if let Some(api_version) = text(doc, "apiVersion")
        && group_version(api_version).0 != ident.group
    {
        return false;
    }
    let metadata = doc.get("metadata").unwrap_or(&Value::Null);
    let Some(name) = text(metadata, "name") else {
        return false;
    };
    if !ident.names.iter().any(|n| n == name) {
        return false;
    }
    match text(metadata, "namespace") {
        Some(namespace) => ident.namespaces.iter().any(|n| n == namespace),
        None => true,
    }
}

/// Whether a Kubernetes label selector string holds for `labels`. A selector that does not
/// parse selects nothing.
pub(super) fn selector_matches(selector: &str, labels: &Map<String, Value>) -> bool {
    let Some(requirements) = parse_selector(selector) else {
        return false;
    };
    requirements.iter().all(|r| r.holds(labels))
}

#[derive(Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn holds(&self, labels: &Map<String, Value>) -> bool {
        let get = |key: &str| labels.get(key).and_then(Value::as_str);
        match self {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|have| vs.iter().any(|v| v == have)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|have| vs.iter().any(|v| v == have)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        }
    }
}

/// Splits at commas outside parentheses.
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (at, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                terms.push(&selector[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

fn parse_selector(selector: &str) -> Option<Vec<Requirement>> {
    let mut out = Vec::new();
    for term in split_terms(selector) {
        let term = term.trim();
        if term.is_empty() {
            continue;
        }
        out.push(parse_term(term)?);
    }
    Some(out)
}

fn parse_term(term: &str) -> Option<Requirement> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
        return Some(Requirement::Equals(k.trim().into(), v.trim().into()));
    }
    if let Some(open) = term.find('(') {
        let close = term.rfind(')')?;
        let values: Vec<String> = term
            .get(open + 1..close)?
            .split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        let mut words = term[..open].split_whitespace();
        let key = words.next()?.to_owned();
        return match (words.next()?, words.next()) {
            ("in", None) => Some(Requirement::In(key, values)),
            ("notin", None) => Some(Requirement::NotIn(key, values)),
            _ => None,
        };
    }
    if let Some(key) = term.strip_prefix('!') {
        return Some(Requirement::NotExists(key.trim().into()));
    }
    if term.contains(char::is_whitespace) {
        return None;
    }
    Some(Requirement::Exists(term.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn label_selectors_cover_equality_sets_and_existence() {
        let l = labels(json!({"app": "web", "tier": "front"}));
        assert!(selector_matches("app=web,tier==front", &l));
        assert!(!selector_matches("app=web,tier!=front", &l));
        assert!(selector_matches("app in (api, web),tier", &l));
        assert!(!selector_matches("app notin (web)", &l));
        assert!(selector_matches("!team", &l));
        assert!(!selector_matches("app in web", &l));
    }

    #[test]
    fn target_names_are_anchored_regular_expressions() {
        let ident = Ident {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            names: vec!["web-api".into()],
            namespaces: vec!["default".into()],
            ..Ident::default()
        };
        assert!(target_selects(
            &json!({"kind": "Deployment", "name": "web-.*"}),
            &ident
        ));
        assert!(!target_selects(&json!({"name": "web"}), &ident));
        assert!(!target_selects(&json!({"group": "batch"}), &ident));
        assert!(!target_selects(&json!({"kind": "StatefulSet"}), &ident));
    }
}
