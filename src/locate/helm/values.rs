//! locate (helm), values side: the plain-data operations on Helm values trees that the probe
//! needs: merging layers, listing the leaves and maps a probe may change, and building the
//! sparse values documents that carry the changes.
//!
//! Takes and gives `serde_json::Value` trees and [`Seg`] paths. Pure: no rendering, no I/O.

use serde_json::{Map, Value};

use crate::patch::Seg;

/// The value at `path`, descending through maps and lists.
pub(super) fn get<'a>(value: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(value, |node, seg| match (node, seg) {
        (Value::Object(map), Seg::Key(key)) => map.get(key),
        (Value::Array(items), Seg::Index(index)) => items.get(*index),
        _ => None,
    })
}

/// Every scalar (null included) of `value` with its path, descending through maps and lists,
/// sorted by path.
pub(super) fn leaves(value: &Value) -> Vec<(Vec<Seg>, Value)> {
    fn walk(node: &Value, path: &mut Vec<Seg>, out: &mut Vec<(Vec<Seg>, Value)>) {
        match node {
            Value::Object(map) => {
                for (key, child) in map {
                    path.push(Seg::Key(key.clone()));
                    walk(child, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    path.push(Seg::Index(index));
                    walk(child, path, out);
                    path.pop();
                }
            }
            scalar => out.push((path.clone(), scalar.clone())),
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The paths of every map (empty ones included) and every null-valued key of `value` that is
/// reached through maps only, the root excluded, sorted. A null can be set to a map.
pub(super) fn maps(value: &Value) -> Vec<Vec<Seg>> {
    fn walk(map: &Map<String, Value>, path: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
        for (key, child) in map {
            path.push(Seg::Key(key.clone()));
            match child {
                Value::Object(inner) => {
                    out.push(path.clone());
                    walk(inner, path, out);
                }
                Value::Null => out.push(path.clone()),
                _ => {}
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        walk(map, &mut Vec::new(), &mut out);
    }
    out.sort();
    out
}

/// Sets `path` to `value` in the sparse values document `doc`, which Helm layers over
/// `merged`. Helm replaces lists whole, so a path through a list copies that list from
/// `merged` into `doc` first; maps are created as needed. Does nothing when `path` does not
/// exist in `merged` below a list.
pub(super) fn set_sparse(doc: &mut Value, merged: &Value, path: &[Seg], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *doc = value;
        return;
    };
    let mut node = doc;
    for (depth, seg) in parents.iter().enumerate() {
        let next_is_index = matches!(path.get(depth + 1), Some(Seg::Index(_)));
        node = match seg {
            Seg::Key(key) => {
                if !node.is_object() {
                    *node = Value::Object(Map::new());
                }
                let Value::Object(map) = node else { return };
                let child = map.entry(key.clone()).or_insert(Value::Null);
                if next_is_index && !child.is_array() {
                    match get(merged, &path[..=depth]) {
                        Some(list @ Value::Array(_)) => *child = list.clone(),
                        _ => return,
                    }
                }
                child
            }
            Seg::Index(index) => match node {
                Value::Array(items) => match items.get_mut(*index) {
                    Some(child) => child,
                    None => return,
                },
                _ => return,
            },
        };
    }
    match (node, last) {
        (node, Seg::Key(key)) => {
            if !node.is_object() {
                *node = Value::Object(Map::new());
            }
            if let Value::Object(map) = node {
                map.insert(key.clone(), value);
            }
        }
        (Value::Array(items), Seg::Index(index)) => {
            if let Some(slot) = items.get_mut(*index) {
                *slot = value;
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_string())
    }

    #[test]
    fn later_layers_win_and_lists_are_replaced() {
        let mut merged = json!({"a": {"b": 1, "c": [1, 2]}, "d": {}});
        crate::locate::tracking::merge_values(
            &mut merged,
            &json!({"a": {"c": [3], "e": null}, "d": "x"}),
        );
        assert_eq!(
            merged,
            json!({"a": {"b": 1, "c": [3], "e": null}, "d": "x"})
        );
    }

    #[test]
    fn leaves_descend_into_lists_and_maps_do_not() {
        let values = json!({"z": null, "a": {"hosts": [{"host": "h"}], "m": {}}});
        let leaves: Vec<Vec<Seg>> = leaves(&values).into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            leaves,
            vec![
                vec![key("a"), key("hosts"), Seg::Index(0), key("host")],
                vec![key("z")]
            ]
        );
        assert_eq!(
            maps(&values),
            vec![vec![key("a")], vec![key("a"), key("m")], vec![key("z")]]
        );
    }

    #[test]
    fn a_sparse_path_through_a_list_copies_the_list() {
        let merged = json!({"a": {"hosts": [{"host": "h", "port": 1}, {"host": "g"}]}});
        let mut doc = json!({});
        set_sparse(
            &mut doc,
            &merged,
            &[key("a"), key("hosts"), Seg::Index(1), key("host")],
            json!("x"),
        );
        set_sparse(&mut doc, &merged, &[key("b"), key("c")], json!(true));
        assert_eq!(
            doc,
            json!({"a": {"hosts": [{"host": "h", "port": 1}, {"host": "x"}]}, "b": {"c": true}})
        );
    }
}
