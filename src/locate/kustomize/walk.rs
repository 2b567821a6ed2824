//! locate/kustomize/walk: maps a field of a rendered object into a source document.
//!
//! Takes the rendered object, a source document (a base resource, a strategic-merge patch, the
//! `value` of a JSON 6902 operation) and the field's path segments, and gives the longest
//! prefix of the path that the document writes, with the matching path inside the document.
//! List items are matched by their strategic-merge key (a container by `name`, a port by
//! `containerPort`, a mount by `mountPath`), other lists by position. Pure: no I/O.

use serde_json::Value;

use crate::model::escape_segment;
use crate::patch::Seg;

/// How the document relates to the rendered object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// A document written as it renders (a base resource, a JSON 6902 value).
    Document,
    /// A strategic-merge patch: `$patch` directives count, and lists without a merge key
    /// replace the rendered list whole.
    StrategicMerge,
}

/// Where a walk stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Mapped {
    /// How many leading segments of the field the document holds.
    pub len: usize,
    /// The path inside the document for those segments.
    pub path: Vec<Seg>,
    /// A strategic-merge patch replaces a node on the path whole (`$patch: replace`, or a list
    /// without a merge key), so it sets everything under it, present or not.
    pub owner: bool,
    /// A strategic-merge patch deletes a node on the path (`$patch: delete`).
    pub deleted: bool,
}

/// The strategic-merge key of the items of the list under `parent`, when Kubernetes merges
/// that list by key. Ports are keyed by `containerPort` in containers and by `port` in
/// Services; the items tell which.
pub(super) fn merge_key(
    parent: Option<&str>,
    items: &[Value],
    rendered: Option<&Value>,
) -> Option<&'static str> {
    match parent? {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "topologySpreadConstraints" => Some("topologyKey"),
        "ports" => {
            let has = |key: &str| {
                items
                    .iter()
                    .chain(rendered)
                    .any(|item| item.get(key).is_some())
            };
            if has("containerPort") {
                Some("containerPort")
            } else if has("port") {
                Some("port")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A list element that is only a directive (`- $patch: replace`), not an item.
fn is_directive(item: &Value) -> bool {
    item.as_object()
        .is_some_and(|map| map.contains_key("$patch") && map.keys().all(|k| k.starts_with('$')))
}

fn patch_directive(node: &Value) -> Option<&str> {
    node.get("$patch").and_then(Value::as_str)
}

/// The index in `items` of the item that renders at `index` of the rendered list.
fn map_index(
    parent: Option<&str>,
    index: usize,
    rendered_item: Option<&Value>,
    items: &[Value],
) -> Option<usize> {
    if let Some(key) = merge_key(parent, items, rendered_item)
        && let Some(wanted) = rendered_item.and_then(|item| item.get(key))
    {
        return items
            .iter()
            .position(|item| !is_directive(item) && item.get(key) == Some(wanted));
    }
    items
        .iter()
        .enumerate()
        .filter(|(_, item)| !is_directive(item))
        .nth(index)
        .map(|(at, _)| at)
}

/// Follows `segments` through `doc`, using `rendered` (the rendered node at the same place)
/// to map list items by merge key. `parent` is the key the document hangs under, when the
/// document is itself a list (a JSON 6902 value that replaces `containers`).
pub(super) fn walk(
    rendered: Option<&Value>,
    doc: &Value,
    segments: &[String],
    mode: Mode,
    parent: Option<&str>,
) -> Mapped {
    let smp = mode == Mode::StrategicMerge;
    let mut mapped = Mapped {
        len: 0,
        path: Vec::new(),
        owner: false,
        deleted: false,
    };
    let mut rendered = rendered;
    let mut node = doc;
    let mut parent = parent;
    if smp {
        note_directives(node, parent, &mut mapped);
    }
    for segment in segments {
        match node {
            Value::Object(map) => {
                let Some(next) = map.get(segment.as_str()) else {
                    break;
                };
                mapped.path.push(Seg::Key(segment.clone()));
                node = next;
                rendered = rendered.and_then(|r| r.get(segment.as_str()));
            }
            Value::Array(items) => {
                let Ok(index) = segment.parse::<usize>() else {
                    break;
                };
                let rendered_item = rendered.and_then(|r| r.get(index));
                let Some(at) = map_index(parent, index, rendered_item, items) else {
                    break;
                };
                mapped.path.push(Seg::Index(at));
                node = &items[at];
                rendered = rendered_item;
            }
            _ => break,
        }
        mapped.len += 1;
        parent = Some(segment.as_str());
        if smp {
            note_directives(node, parent, &mut mapped);
        }
    }
    mapped
}

fn note_directives(node: &Value, parent: Option<&str>, mapped: &mut Mapped) {
    match node {
        Value::Object(_) => match patch_directive(node) {
            Some("replace") => mapped.owner = true,
            Some("delete") => mapped.deleted = true,
            _ => {}
        },
        Value::Array(items) => {
            let replaces = items
                .iter()
                .any(|item| is_directive(item) && patch_directive(item) == Some("replace"));
            if replaces || merge_key(parent, items, None).is_none() {
                mapped.owner = true;
            }
        }
        _ => {}
    }
}

/// Whether the JSON 6902 operation path `op_path` (indices as the object was when the patch
/// applied, approximated by `before`, the base document) names the same place as the first
/// segments of `field` (indices of the rendered object). Items of keyed lists are compared by
/// merge key; for the last step of an `add` or `replace`, by the key of the value written.
pub(super) fn json6902_prefix(
    op_path: &[String],
    field: &[String],
    rendered: &Value,
    before: &Value,
    value: Option<&Value>,
) -> bool {
    if op_path.len() > field.len() {
        return false;
    }
    let mut rendered = Some(rendered);
    let mut before = Some(before);
    for (i, (step, wanted)) in op_path.iter().zip(field).enumerate() {
        let parent = i.checked_sub(1).map(|p| field[p].as_str());
        let is_list = matches!(rendered, Some(Value::Array(_)))
            || (rendered.is_none() && matches!(before, Some(Value::Array(_))));
        if !is_list {
            if step != wanted {
                return false;
            }
            rendered = rendered.and_then(|r| r.get(wanted.as_str()));
            before = before.and_then(|b| b.get(step.as_str()));
            continue;
        }
        let Ok(index) = wanted.parse::<usize>() else {
            return false;
        };
        let before_items: &[Value] = before.and_then(Value::as_array).map_or(&[], Vec::as_slice);
        let rendered_item = rendered.and_then(|r| r.get(index));
        let before_item = step
            .parse::<usize>()
            .ok()
            .and_then(|at| before_items.get(at));
        let key = merge_key(parent, before_items, rendered_item);
        let is_last = i + 1 == op_path.len();
        let by_key = key.and_then(|key| {
            let wanted_key = rendered_item?.get(key)?;
            let written = if is_last {
                value.and_then(|v| v.get(key))
            } else {
                None
            };
            let have = written.or_else(|| before_item.and_then(|b| b.get(key)))?;
            Some(have == wanted_key)
        });
        let same = match by_key {
            Some(same) => same,
            None if step == "-" => before.is_some() && index == before_items.len(),
            None => step.parse::<usize>().ok() == Some(index),
        };
        if !same {
            return false;
        }
        rendered = rendered_item;
        before = before_item;
    }
    true
}

/// The JSON pointer of `segments`.
pub(super) fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", escape_segment(s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn segs(pointer: &str) -> Vec<String> {
        crate::model::pointer_segments(pointer)
    }

    #[test]
    fn maps_containers_by_name_and_stops_at_the_deepest_existing_node() {
        let rendered = json!({"spec": {"containers": [
            {"name": "app", "securityContext": {"privileged": true}},
            {"name": "side"}
        ]}});
        let doc = json!({"spec": {"containers": [{"name": "side"}, {"name": "app", "securityContext": {}}]}});
        let field = segs("/spec/containers/0/securityContext/privileged");
        let mapped = walk(Some(&rendered), &doc, &field, Mode::Document, None);
        assert_eq!(mapped.len, 4);
        assert_eq!(
            mapped.path,
            vec![
                Seg::Key("spec".into()),
                Seg::Key("containers".into()),
                Seg::Index(1),
                Seg::Key("securityContext".into())
            ]
        );
        assert!(!mapped.owner);
    }

    #[test]
    fn a_replace_directive_or_an_unkeyed_list_owns_the_subtree() {
        let rendered = json!({"spec": {"securityContext": {"runAsUser": 1}, "args": ["a", "b"]}});
        let doc = json!({"spec": {"securityContext": {"$patch": "replace"}, "args": ["a"]}});
        let mapped = walk(
            Some(&rendered),
            &doc,
            &segs("/spec/securityContext/runAsUser"),
            Mode::StrategicMerge,
            None,
        );
        assert_eq!((mapped.len, mapped.owner), (2, true));
        let mapped = walk(
            Some(&rendered),
            &doc,
            &segs("/spec/args/1"),
            Mode::StrategicMerge,
            None,
        );
        assert_eq!((mapped.len, mapped.owner), (2, true));
        let plain = walk(
            Some(&rendered),
            &doc,
            &segs("/spec/args/1"),
            Mode::Document,
            None,
        );
        assert!(!plain.owner);
    }

    #[test]
    fn json6902_paths_compare_containers_by_name() {
        let rendered = json!({"spec": {"containers": [{"name": "b"}, {"name": "a"}]}});
        let before = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let field = segs("/spec/containers/1/image");
        assert!(json6902_prefix(
            &segs("/spec/containers/0"),
            &field,
            &rendered,
            &before,
            None
        ));
        assert!(!json6902_prefix(
            &segs("/spec/containers/1"),
            &field,
            &rendered,
            &before,
            None
        ));
        let added = json!({"name": "a"});
        assert!(json6902_prefix(
            &segs("/spec/containers/-"),
            &field,
            &rendered,
            &json!({"spec": {"containers": []}}),
            Some(&added)
        ));
    }
}
