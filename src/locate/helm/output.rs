//! locate (helm), output side: reading a chart's rendered objects for the probe: finding the
//! target object, reading the probe markers out of rendered values, and counting how many
//! rendered fields two renders disagree on.
//!
//! Takes rendered objects as `serde_json::Value`; gives plain data. Pure: no rendering, no I/O.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Target;
use crate::model::escape_segment;

/// The prefix of every string marker a probe writes into values.
pub(super) const MARKER: &str = "redress-probe-";

/// The key a map probe adds into a values map.
pub(super) const PROBE_KEY: &str = "redressProbe";

/// The kind, namespace and name of a rendered object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Ident {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Ident {
    /// The identity of a rendered object; `None` for something that is not an object.
    pub fn of(object: &Value) -> Option<Ident> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        Some(Ident {
            kind: text("/kind")?.to_string(),
            namespace: text("/metadata/namespace")
                .filter(|ns| !ns.is_empty())
                .map(str::to_string),
            name: text("/metadata/name")?.to_string(),
        })
    }

    /// How well this identity matches `target`: `None` when it does not, `Some(true)` for an
    /// exact namespace match, `Some(false)` when one side leaves the namespace to defaulting.
    pub fn matches(&self, target: &Target) -> Option<bool> {
        if self.kind != target.kind || self.name != target.name {
            return None;
        }
        match (
            self.namespace.as_deref(),
            target.namespace.filter(|n| !n.is_empty()),
        ) {
            (Some(ours), Some(theirs)) if ours != theirs => None,
            (Some(_), Some(_)) => Some(true),
            _ => Some(false),
        }
    }
}

/// The rendered object that `target` names: an exact namespace match first, else the first
/// one whose namespace is left to defaulting.
pub(super) fn find_target<'a>(objects: &'a [Value], target: &Target) -> Option<&'a Value> {
    let mut loose = None;
    for object in objects {
        match Ident::of(object).and_then(|ident| ident.matches(target)) {
            Some(true) => return Some(object),
            Some(false) if loose.is_none() => loose = Some(object),
            _ => {}
        }
    }
    loose
}

/// The numbers `n` of every `redress-probe-<n>` marker in `text`.
pub(super) fn markers_in(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(MARKER) {
        rest = &rest[at + MARKER.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(n) = rest[..digits].parse() {
            found.push(n);
        }
        rest = &rest[digits..];
    }
    found
}

/// Whether `text` holds `number` as a whole run of digits (not part of a longer number).
pub(super) fn holds_number(text: &str, number: u64) -> bool {
    let wanted = number.to_string();
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run == wanted)
}

/// Where a map probe's key showed up: in which object, directly under which pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Landing {
    pub object: Ident,
    pub under: String,
}

/// Every `redressProbe: "redress-probe-<n>"` in `objects`, as `(n, landing)`.
pub(super) fn probe_landings(objects: &[Value]) -> Vec<(usize, Landing)> {
    fn walk(node: &Value, pointer: &mut String, ident: &Ident, out: &mut Vec<(usize, Landing)>) {
        let len = pointer.len();
        match node {
            Value::Object(map) => {
                if let Some(Value::String(text)) = map.get(PROBE_KEY) {
                    for n in markers_in(text) {
                        let landing = Landing {
                            object: ident.clone(),
                            under: pointer.clone(),
                        };
                        out.push((n, landing));
                    }
                }
                for (key, child) in map {
                    pointer.push('/');
                    pointer.push_str(&escape_segment(key));
                    walk(child, pointer, ident, out);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    pointer.push_str(&format!("/{index}"));
                    walk(child, pointer, ident, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for object in objects {
        if let Some(ident) = Ident::of(object) {
            walk(object, &mut String::new(), &ident, &mut out);
        }
    }
    out
}

/// Every scalar of every object, keyed by object and pointer.
fn flatten(objects: &[Value]) -> BTreeMap<(Ident, String), &Value> {
    fn walk<'a>(
        node: &'a Value,
        pointer: &mut String,
        ident: &Ident,
        out: &mut BTreeMap<(Ident, String), &'a Value>,
    ) {
        let len = pointer.len();
        match node {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    pointer.push('/');
                    pointer.push_str(&escape_segment(key));
                    walk(child, pointer, ident, out);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (index, child) in items.iter().enumerate() {
                    pointer.push_str(&format!("/{index}"));
                    walk(child, pointer, ident, out);
                    pointer.truncate(len);
                }
            }
            leaf => {
                out.insert((ident.clone(), pointer.clone()), leaf);
            }
        }
    }
    let mut out = BTreeMap::new();
    for object in objects {
        if let Some(ident) = Ident::of(object) {
            walk(object, &mut String::new(), &ident, &mut out);
        }
    }
    out
}

/// How many rendered fields differ between `before` and `after` (present in one only, or
/// with another value), not counting `field` of `target` and what lies below it.
pub(super) fn changes(before: &[Value], after: &[Value], target: &Target, field: &str) -> usize {
    let before = flatten(before);
    let after = flatten(after);
    let counted = |(ident, pointer): &(Ident, String)| {
        let in_field = pointer == field
            || pointer
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with('/'));
        !(in_field && ident.matches(target).is_some())
    };
    let changed = before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(*value) && counted(key))
        .count();
    let added = after
        .keys()
        .filter(|key| !before.contains_key(*key) && counted(key))
        .count();
    changed + added
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn markers_are_read_whole() {
        assert_eq!(
            markers_in("a redress-probe-12:redress-probe-1 redress-probe-"),
            vec![12, 1]
        );
        assert!(holds_number("--port=100017", 100_017));
        assert!(!holds_number("--port=1000171", 100_017));
    }

    #[test]
    fn landings_name_the_map_the_probe_key_sits_in() {
        let objects = [json!({"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"containers": [{"securityContext": {"redressProbe": "redress-probe-3"}}]}})];
        let found = probe_landings(&objects);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 3);
        assert_eq!(found[0].1.under, "/spec/containers/0/securityContext");
    }

    #[test]
    fn changes_skip_the_target_field() {
        let target = Target {
            kind: "Deployment",
            namespace: None,
            name: "web",
        };
        let before = [json!({"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"a": 1, "b": {"c": 2}}})];
        let after = [json!({"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"a": 5, "b": {"c": 3, "d": 4}}})];
        assert_eq!(changes(&before, &after, &target, "/spec/b"), 1);
        assert_eq!(changes(&before, &after, &target, "/spec/a"), 2);
    }
}
