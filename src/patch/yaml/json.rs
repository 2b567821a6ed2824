//! patch, verification side: the intended edits applied to plain JSON, and the first place
//! where two JSON values differ. The YAML editor's result is checked against this; it reads
//! no text and knows nothing of formatting.

use crate::patch::{EditOp, Seg, dotted};
use serde_json::{Map, Value};

/// Applies `op` to `doc` the way the editor promises to: `Set` creates missing parents (a
/// mapping for a key step, a sequence for index 0, or one past the end), `Append` skips an item
/// already present, `Remove` of something absent changes nothing. Gives the reason when the
/// operation cannot apply (a step through a scalar, an index past the end).
pub(crate) fn apply_op(doc: &mut Value, op: &EditOp) -> Result<(), String> {
    match op {
        EditOp::Set { path, value } => {
            *slot(doc, path)? = value.clone();
            Ok(())
        }
        EditOp::Append { path, value } => {
            let target = slot(doc, path)?;
            if target.is_null() {
                *target = Value::Array(Vec::new());
            }
            match target {
                Value::Array(items) => {
                    if !items.contains(value) {
                        items.push(value.clone());
                    }
                    Ok(())
                }
                _ => Err(format!("{} is not a sequence", dotted(path))),
            }
        }
        EditOp::Remove { path } => {
            let Some((last, parents)) = path.split_last() else {
                return Err("cannot remove the whole document".to_owned());
            };
            let mut node = doc;
            for seg in parents {
                let next = match (seg, node) {
                    (Seg::Key(k), Value::Object(map)) => map.get_mut(k),
                    (Seg::Index(i), Value::Array(items)) => items.get_mut(*i),
                    _ => None,
                };
                match next {
                    Some(next) => node = next,
                    None => return Ok(()),
                }
            }
            match (last, node) {
                (Seg::Key(k), Value::Object(map)) => {
                    map.shift_remove(k);
                }
                (Seg::Index(i), Value::Array(items)) if *i < items.len() => {
                    items.remove(*i);
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// The value at `path`, created (as null) with its parents when missing.
fn slot<'a>(doc: &'a mut Value, path: &[Seg]) -> Result<&'a mut Value, String> {
    let mut node = doc;
    for (depth, seg) in path.iter().enumerate() {
        if node.is_null() {
            *node = match seg {
                Seg::Key(_) => Value::Object(Map::new()),
                Seg::Index(_) => Value::Array(Vec::new()),
            };
        }
        let here = || dotted(&path[..depth]);
        node = match (seg, node) {
            (Seg::Key(k), Value::Object(map)) => map.entry(k.clone()).or_insert(Value::Null),
            (Seg::Index(i), Value::Array(items)) => {
                if *i == items.len() {
                    items.push(Value::Null);
                }
                let len = items.len();
                items.get_mut(*i).ok_or_else(|| {
                    format!("index {i} is past the end of {} ({len} items)", here())
                })?
            }
            (Seg::Key(_), _) => return Err(format!("{} is not a mapping", here())),
            (Seg::Index(_), _) => return Err(format!("{} is not a sequence", here())),
        };
    }
    Ok(node)
}

/// The JSON pointer of the first place where `a` and `b` differ, with both values there.
pub(crate) fn first_difference(a: &Value, b: &Value) -> Option<String> {
    fn walk(a: &Value, b: &Value, at: &mut String) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, va) in x {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&crate::model::escape_segment(k));
                    let found = match y.get(k) {
                        Some(vb) => walk(va, vb, at),
                        None => Some(format!("{at}: expected {}, found nothing", short(va))),
                    };
                    if found.is_some() {
                        return found;
                    }
                    at.truncate(len);
                }
                y.iter().find(|(k, _)| !x.contains_key(*k)).map(|(k, vb)| {
                    let pointer = format!("{at}/{}", crate::model::escape_segment(k));
                    format!("{pointer}: expected nothing, found {}", short(vb))
                })
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    let len = at.len();
                    at.push_str(&format!("/{i}"));
                    if let Some(found) = walk(va, vb, at) {
                        return Some(found);
                    }
                    at.truncate(len);
                }
                None
            }
            _ if a == b => None,
            _ => Some(format!("{at}: expected {}, found {}", short(a), short(b))),
        }
    }
    let mut at = String::new();
    walk(a, b, &mut at).map(|d| {
        if d.starts_with(':') {
            format!("/{d}")
        } else {
            d
        }
    })
}

/// A value as compact JSON, cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }

    #[test]
    fn set_creates_parents_and_sequences() {
        let mut doc = json!({"a": null});
        let op = EditOp::Set {
            path: vec![key("a"), key("b"), Seg::Index(0), key("c")],
            value: json!(1),
        };
        apply_op(&mut doc, &op).unwrap();
        assert_eq!(doc, json!({"a": {"b": [{"c": 1}]}}));
        let past = EditOp::Set {
            path: vec![key("a"), key("b"), Seg::Index(3)],
            value: json!(1),
        };
        assert!(apply_op(&mut doc, &past).is_err());
        let through = EditOp::Set {
            path: vec![key("a"), key("b"), Seg::Index(0), key("c"), key("d")],
            value: json!(1),
        };
        assert!(apply_op(&mut doc, &through).is_err());
    }

    #[test]
    fn append_skips_present_items_and_remove_skips_absent_ones() {
        let mut doc = json!({"drop": ["ALL"]});
        let append = EditOp::Append {
            path: vec![key("drop")],
            value: json!("ALL"),
        };
        apply_op(&mut doc, &append).unwrap();
        assert_eq!(doc, json!({"drop": ["ALL"]}));
        let remove = EditOp::Remove {
            path: vec![key("x"), key("y")],
        };
        apply_op(&mut doc, &remove).unwrap();
        assert_eq!(doc, json!({"drop": ["ALL"]}));
    }

    #[test]
    fn difference_names_the_pointer() {
        let a = json!({"a": {"b": [1, 2]}, "c": 1});
        let b = json!({"a": {"b": [1, 3]}, "c": 1});
        assert_eq!(
            first_difference(&a, &b).as_deref(),
            Some("/a/b/1: expected 2, found 3")
        );
        assert_eq!(first_difference(&a, &a), None);
        assert_eq!(
            first_difference(&json!(1), &json!(2)).as_deref(),
            Some("/: expected 1, found 2")
        );
    }
}
