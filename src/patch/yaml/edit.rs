//! patch, editing side: one [`EditOp`] applied to the text of one YAML document by splicing
//! bytes at the positions [`tree`](super::tree) found. Every step re-reads the document, so a
//! compound change (a mapping set key by key) is a series of small splices. It never
//! re-serializes a document and never touches text outside the edited node's lines.

use super::render::{self, Layout, SeqStyle};
use super::tree::{self, Kind, Node};
use crate::inventory::files::{Limits, parse_yaml_document};
use crate::patch::{EditOp, Seg, dotted};
use serde_json::{Map, Value};
use serde_saphyr::granit_parser::ScalarStyle;
use std::ops::Range;

/// Why one operation could not be applied to one document.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The document does not parse (1-based line within the document).
    Parse { line: usize, message: String },
    /// The document's shape contradicts the path (a key under a scalar, an index past the end).
    Conflict { path: Vec<Seg>, reason: String },
    /// The path goes where this editor does not write (aliases, anchors, block scalars, tags).
    Unsupported { path: Vec<Seg>, reason: String },
}

/// What the editor knows about the whole file.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileStyle {
    /// The line ending to write.
    pub eol: &'static str,
    /// The sequence style found in another document of the file, for documents without one.
    pub seq: Option<SeqStyle>,
}

/// Applies `op` to the document `text` and gives the new text (equal to `text` when the
/// document already says what `op` asks for).
pub(crate) fn apply_op(text: &str, op: &EditOp, style: FileStyle) -> Result<String, Failure> {
    match op {
        EditOp::Set { path, value } => set(text.to_owned(), path, value, style),
        EditOp::Append { path, value } => append(text.to_owned(), path, value, style),
        EditOp::Remove { path } => remove(text.to_owned(), path, style),
    }
}

/// A document read both ways: its JSON value and its nodes with positions.
struct Snapshot<'t> {
    text: &'t str,
    json: Value,
    root: Node,
    layout: Layout,
}

impl<'t> Snapshot<'t> {
    fn read(text: &'t str, style: FileStyle) -> Result<Self, Failure> {
        let json = parse_yaml_document(text, Limits::default()).map_err(|(message, line)| {
            Failure::Parse {
                line: line.unwrap_or(1),
                message,
            }
        })?;
        let root = tree::parse(text).map_err(|(message, line)| Failure::Parse { line, message })?;
        let layout = detect_layout(text, &root, style);
        Ok(Snapshot {
            text,
            json,
            root,
            layout,
        })
    }
}

/// The nodes along a path: `nodes[k]` is the node at `path[..k]`. When `missing` is `Some(k)`,
/// `path[k]` is not in `nodes[k]` (the walk stopped there).
struct Walk<'n> {
    nodes: Vec<&'n Node>,
    missing: Option<usize>,
}

impl<'n> Walk<'n> {
    fn target(&self) -> &'n Node {
        self.nodes[self.nodes.len() - 1]
    }
}

fn unsupported(path: &[Seg], reason: impl Into<String>) -> Failure {
    Failure::Unsupported {
        path: path.to_vec(),
        reason: reason.into(),
    }
}

fn conflict(path: &[Seg], reason: impl Into<String>) -> Failure {
    Failure::Conflict {
        path: path.to_vec(),
        reason: reason.into(),
    }
}

/// Follows `path` from `root` as far as it exists. Anchors, aliases, merge keys and block
/// scalars on the way are refused: an edit there would change other places too, or land
/// inside a string.
fn walk<'n>(root: &'n Node, path: &[Seg]) -> Result<Walk<'n>, Failure> {
    let mut nodes = vec![root];
    for (k, seg) in path.iter().enumerate() {
        let node = nodes[k];
        let here = &path[..k];
        if node.anchored || matches!(node.kind, Kind::Alias) {
            return Err(unsupported(
                path,
                format!(
                    "the path goes through an anchor or alias at '{}'",
                    dotted(here)
                ),
            ));
        }
        if node.is_block_scalar() {
            return Err(unsupported(
                path,
                format!(
                    "the path goes inside the block scalar at '{}'",
                    dotted(here)
                ),
            ));
        }
        if node.entry("<<").is_some() {
            return Err(unsupported(
                path,
                format!("the mapping at '{}' has a merge key (<<)", dotted(here)),
            ));
        }
        let next = match (&node.kind, seg) {
            (Kind::Map { .. }, Seg::Key(key)) => node.entry(key).map(|(_, _, v)| v),
            (Kind::Seq { items, .. }, Seg::Index(i)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(next) => nodes.push(next),
            None => {
                return Ok(Walk {
                    nodes,
                    missing: Some(k),
                });
            }
        }
    }
    let found = Walk {
        nodes,
        missing: None,
    };
    let target = found.target();
    if target.anchored || matches!(target.kind, Kind::Alias) {
        return Err(unsupported(path, "the value is an anchor or an alias"));
    }
    Ok(found)
}

fn lookup<'v>(value: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter().try_fold(value, |node, seg| match (seg, node) {
        (Seg::Key(k), Value::Object(map)) => map.get(k),
        (Seg::Index(i), Value::Array(items)) => items.get(*i),
        _ => None,
    })
}

/// `value` wrapped in the collections that `segs` name (a mapping per key, a one-item
/// sequence per index 0).
fn nest(segs: &[Seg], value: &Value, path: &[Seg]) -> Result<Value, Failure> {
    segs.iter()
        .rev()
        .try_fold(value.clone(), |inner, seg| match seg {
            Seg::Key(k) => {
                let mut map = Map::new();
                map.insert(k.clone(), inner);
                Ok(Value::Object(map))
            }
            Seg::Index(0) => Ok(Value::Array(vec![inner])),
            Seg::Index(i) => Err(conflict(
                path,
                format!("index {i} of a sequence that does not exist yet"),
            )),
        })
}

fn set(text: String, path: &[Seg], value: &Value, style: FileStyle) -> Result<String, Failure> {
    let snap = Snapshot::read(&text, style)?;
    if lookup(&snap.json, path) == Some(value) {
        return Ok(text);
    }
    let found = walk(&snap.root, path)?;
    let Some(k) = found.missing else {
        let target = found.target();
        // Same kind of collection on both sides: change it entry by entry, so everything
        // that stays keeps its comments and layout.
        match (&target.kind, value) {
            (Kind::Map { entries, .. }, Value::Object(new)) if !entries.is_empty() => {
                let old: Vec<String> = entries
                    .iter()
                    .filter_map(|(k, _)| match &k.kind {
                        Kind::Scalar { value, .. } => Some(value.clone()),
                        _ => None,
                    })
                    .collect();
                let mut text = text.clone();
                for (key, v) in new {
                    text = set(text, &child(path, Seg::Key(key.clone())), v, style)?;
                }
                for key in old.iter().filter(|k| !new.contains_key(*k)) {
                    text = remove(text, &child(path, Seg::Key(key.clone())), style)?;
                }
                return Ok(text);
            }
            (Kind::Seq { items, .. }, Value::Array(new)) if !items.is_empty() => {
                let old_len = items.len();
                let mut text = text.clone();
                for (i, v) in new.iter().enumerate() {
                    text = set(text, &child(path, Seg::Index(i)), v, style)?;
                }
                for i in (new.len()..old_len).rev() {
                    text = remove(text, &child(path, Seg::Index(i)), style)?;
                }
                return Ok(text);
            }
            _ => return replace_value(&snap, &found.nodes, path, value),
        }
    };
    let parent = found.nodes[k];
    let here = &path[..k];
    let new = nest(&path[k + 1..], value, path)?;
    match (&parent.kind, &path[k]) {
        (Kind::Map { .. }, Seg::Key(key)) => insert_entry(&snap, &found.nodes, here, key, &new),
        (Kind::Seq { items, .. }, Seg::Index(i)) if *i == items.len() => {
            push_item(&snap, &found.nodes, here, &new)
        }
        (Kind::Seq { items, .. }, Seg::Index(i)) => Err(conflict(
            path,
            format!(
                "index {i} is past the end of '{}' ({} items)",
                dotted(here),
                items.len()
            ),
        )),
        (Kind::Scalar { .. }, _) if parent.is_null() => {
            let new = nest(&path[k..], value, path)?;
            replace_value(&snap, &found.nodes, here, &new)
        }
        _ => Err(conflict(
            path,
            format!(
                "'{}' is {}, so it cannot hold '{}'",
                dotted(here),
                parent.describe(),
                path[k]
            ),
        )),
    }
}

fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut out = path.to_vec();
    out.push(seg);
    out
}

fn append(text: String, path: &[Seg], item: &Value, style: FileStyle) -> Result<String, Failure> {
    let snap = Snapshot::read(&text, style)?;
    if let Some(Value::Array(items)) = lookup(&snap.json, path)
        && items.contains(item)
    {
        return Ok(text);
    }
    let found = walk(&snap.root, path)?;
    if found.missing.is_some() || found.target().is_null() {
        return set(text.clone(), path, &Value::Array(vec![item.clone()]), style);
    }
    let target = found.target();
    match &target.kind {
        Kind::Seq { .. } => push_item(&snap, &found.nodes, path, item),
        _ => Err(conflict(
            path,
            format!(
                "'{}' is {}, not a sequence",
                dotted(path),
                target.describe()
            ),
        )),
    }
}

fn remove(text: String, path: &[Seg], style: FileStyle) -> Result<String, Failure> {
    let snap = Snapshot::read(&text, style)?;
    let Some((last, parents)) = path.split_last() else {
        return Err(unsupported(path, "cannot remove the whole document"));
    };
    let found = walk(&snap.root, path)?;
    if found.missing.is_some() {
        return Ok(text);
    }
    let target = found.target();
    if target.has_anchor() {
        return Err(unsupported(path, "the value holds an anchor or an alias"));
    }
    let parent = found.nodes[found.nodes.len() - 2];
    let t = snap.text;
    // The node's extent: for a mapping entry from its key, for an item from the item.
    let (index, start, end, count) = match (&parent.kind, last) {
        (Kind::Map { entries, .. }, Seg::Key(key)) => {
            let Some((i, k, v)) = parent.entry(key) else {
                return Ok(text);
            };
            (i, k.start, k.end.max(v.end), entries.len())
        }
        (Kind::Seq { items, .. }, Seg::Index(i)) => (*i, target.start, target.end, items.len()),
        _ => return Ok(text),
    };
    let starts: Vec<usize> = match &parent.kind {
        Kind::Map { entries, .. } => entries.iter().map(|(k, _)| k.start).collect(),
        Kind::Seq { items, .. } => items.iter().map(|n| n.start).collect(),
        _ => Vec::new(),
    };
    let ends: Vec<usize> = match &parent.kind {
        Kind::Map { entries, .. } => entries.iter().map(|(k, v)| k.end.max(v.end)).collect(),
        Kind::Seq { items, .. } => items.iter().map(|n| n.end).collect(),
        _ => Vec::new(),
    };
    let empty = if matches!(parent.kind, Kind::Map { .. }) {
        "{}"
    } else {
        "[]"
    };
    if parent.is_flow_collection() {
        let range = if count == 1 {
            start..end
        } else if index + 1 < count {
            start..starts[index + 1]
        } else {
            ends[index - 1]..end
        };
        return Ok(splice(t, vec![(range, String::new())]));
    }
    // Block collections: the item's own lines go (with the comments between its first and
    // last line); comments above and below it stay.
    let lead = match &parent.kind {
        Kind::Seq { .. } => match dash_before(t, start) {
            Some(dash) => dash,
            None => return Err(unsupported(path, "cannot find the item's dash")),
        },
        _ => start,
    };
    let at_line_start = t[line_start(t, lead)..lead].trim().is_empty();
    if count > 1 {
        if at_line_start {
            return Ok(splice(t, vec![(whole_lines(t, lead, end), String::new())]));
        }
        if index == 0 {
            // The first key of a mapping written after a dash (`- name: x`): the next key
            // moves up behind the dash.
            return Ok(splice(t, vec![(start..starts[1], String::new())]));
        }
        return Err(unsupported(path, "the item shares its line with another"));
    }
    // The last entry goes: the collection stays, empty (`key: {}` or `key: []`).
    if !at_line_start {
        let from = if matches!(parent.kind, Kind::Seq { .. }) {
            lead
        } else {
            start
        };
        return Ok(splice(t, vec![(from..end, empty.to_owned())]));
    }
    let lines = whole_lines(t, lead, end);
    let nodes = &found.nodes;
    if nodes.len() >= 3
        && let Some(Seg::Key(parent_key)) = parents.last()
        && let Some((_, key, _)) = nodes[nodes.len() - 3].entry(parent_key)
        && let Some(colon) = colon_after(t, key.end)
    {
        return Ok(splice(
            t,
            vec![
                (colon + 1..colon + 1, format!(" {empty}")),
                (lines, String::new()),
            ],
        ));
    }
    if nodes.len() == 2 {
        let pad = " ".repeat(column(t, lead));
        let eol = if t[lines.clone()].ends_with('\n') {
            snap.layout.eol
        } else {
            ""
        };
        return Ok(splice(t, vec![(lines, format!("{pad}{empty}{eol}"))]));
    }
    Err(unsupported(
        path,
        "cannot leave an empty collection in this place",
    ))
}

/// Replaces the node at the end of `nodes` (the node at `path`) with `value`.
fn replace_value(
    snap: &Snapshot<'_>,
    nodes: &[&Node],
    path: &[Seg],
    value: &Value,
) -> Result<String, Failure> {
    let t = snap.text;
    let layout = &snap.layout;
    let target = nodes[nodes.len() - 1];
    if target.tagged {
        return Err(unsupported(path, "the value has an explicit tag"));
    }
    if target.has_anchor() {
        return Err(unsupported(path, "the value holds an anchor or an alias"));
    }
    let prefer = match &target.kind {
        Kind::Scalar { style, .. } if !target.is_block_scalar() && !target.is_null() => {
            Some(*style)
        }
        _ => None,
    };
    let simple_scalar = matches!(target.kind, Kind::Scalar { .. })
        && !target.is_block_scalar()
        && target.start < target.end;
    let Some(parent) = nodes.len().checked_sub(2).map(|i| nodes[i]) else {
        // The whole document: only an empty one is filled (with a mapping).
        return match value {
            Value::Object(map) if target.is_null() && target.start == target.end => {
                let lines: Vec<String> = map
                    .iter()
                    .flat_map(|(k, v)| render::entry_lines(k, v, 0, layout))
                    .collect();
                let mut out = t.to_owned();
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push_str(layout.eol);
                }
                out.push_str(&lines.join(layout.eol));
                if t.ends_with('\n') {
                    out.push_str(layout.eol);
                }
                Ok(out)
            }
            _ => Err(unsupported(path, "cannot replace a whole document")),
        };
    };
    // A non-empty flow collection stays flow (the file's style there); an empty one (`{}`,
    // `[]`) in block context becomes a block collection, as a person would write it.
    let keep_flow = target.in_flow || (target.is_flow_collection() && !is_empty(target));
    let json = target.in_flow && parent.is_json_like();
    let inline = if json {
        Some(render::flow(value, true))
    } else if render::is_inline(value) {
        Some(render::scalar(value, prefer))
    } else if keep_flow {
        Some(render::flow(value, false))
    } else {
        None
    };
    if let Some(inline) = &inline
        && target.start < target.end
        && (target.in_flow || simple_scalar || target.is_flow_collection())
    {
        return Ok(splice(t, vec![(target.start..target.end, inline.clone())]));
    }
    match &parent.kind {
        Kind::Map { .. } => {
            let Some(Seg::Key(key)) = path.last() else {
                return Err(unsupported(path, "not a mapping entry"));
            };
            let Some((_, key_node, _)) = parent.entry(key) else {
                return Err(unsupported(path, "cannot find the key"));
            };
            let Some(colon) = colon_after(t, key_node.end) else {
                return Err(unsupported(path, "cannot find the ':' after the key"));
            };
            let from = colon + 1;
            let to = target.end.max(from);
            if let Some(inline) = inline {
                return Ok(splice(t, vec![(from..to, format!(" {inline}"))]));
            }
            // A block value under the key: whatever followed the old value on its line (a
            // comment) stays on the key's line.
            let line_end = line_content_end(t, to);
            let rest = &t[to..line_end];
            let rest = if rest.trim().is_empty() { "" } else { rest };
            let lines = render::value_lines(value, column(t, key_node.start), layout);
            let new = format!("{rest}{}{}", layout.eol, lines.join(layout.eol));
            Ok(splice(t, vec![(from..line_end, new)]))
        }
        Kind::Seq { .. } => {
            if target.start == target.end {
                return Err(unsupported(path, "the sequence item is empty"));
            }
            if target.is_block_scalar() {
                return Err(unsupported(path, "the sequence item is a block scalar"));
            }
            let text = match inline {
                Some(inline) => inline,
                None => {
                    let col = column(t, target.start);
                    let lines = render::content_lines(value, col, layout);
                    let joined = lines.join(layout.eol);
                    joined.get(col..).unwrap_or_default().to_owned()
                }
            };
            Ok(splice(t, vec![(target.start..target.end, text)]))
        }
        _ => Err(unsupported(path, "the parent is not a collection")),
    }
}

fn is_empty(node: &Node) -> bool {
    match &node.kind {
        Kind::Map { entries, .. } => entries.is_empty(),
        Kind::Seq { items, .. } => items.is_empty(),
        _ => false,
    }
}

/// Adds `key: value` at the end of the mapping at the end of `nodes` (the node at `path`).
fn insert_entry(
    snap: &Snapshot<'_>,
    nodes: &[&Node],
    path: &[Seg],
    key: &str,
    value: &Value,
) -> Result<String, Failure> {
    let t = snap.text;
    let map = nodes[nodes.len() - 1];
    let Kind::Map { entries, flow } = &map.kind else {
        return Err(unsupported(path, "not a mapping"));
    };
    let Some((first_key, _)) = entries.first() else {
        let mut new = Map::new();
        new.insert(key.to_owned(), value.clone());
        return replace_value(snap, nodes, path, &Value::Object(new));
    };
    if *flow {
        let json = matches!(
            first_key.kind,
            Kind::Scalar {
                style: ScalarStyle::DoubleQuoted,
                ..
            }
        );
        let at = entries.last().map_or(map.end, |(k, v)| k.end.max(v.end));
        let new = format!(
            ", {}: {}",
            render::key(key, json),
            render::flow(value, json)
        );
        return Ok(splice(t, vec![(at..at, new)]));
    }
    let col = column(t, first_key.start);
    let at = insertion_point(t, map.end, col);
    let lines = render::entry_lines(key, value, col, &snap.layout);
    let new = format!("{}{}", snap.layout.eol, lines.join(snap.layout.eol));
    Ok(splice(t, vec![(at..at, new)]))
}

/// Adds `item` at the end of the sequence at the end of `nodes` (the node at `path`).
fn push_item(
    snap: &Snapshot<'_>,
    nodes: &[&Node],
    path: &[Seg],
    item: &Value,
) -> Result<String, Failure> {
    let t = snap.text;
    let seq = nodes[nodes.len() - 1];
    let Kind::Seq { items, flow } = &seq.kind else {
        return Err(unsupported(path, "not a sequence"));
    };
    let Some(first) = items.first() else {
        return replace_value(snap, nodes, path, &Value::Array(vec![item.clone()]));
    };
    if *flow {
        let at = items.last().map_or(seq.end, |n| n.end);
        let new = format!(", {}", render::flow(item, seq.is_json_like()));
        return Ok(splice(t, vec![(at..at, new)]));
    }
    let dash = dash_before(t, first.start).map_or_else(
        || column(t, first.start).saturating_sub(2),
        |d| column(t, d),
    );
    let at = insertion_point(t, seq.end, dash);
    let lines = render::item_lines(item, dash, &snap.layout);
    let new = format!("{}{}", snap.layout.eol, lines.join(snap.layout.eol));
    Ok(splice(t, vec![(at..at, new)]))
}

/// Where new lines go after a block collection whose last content ends at `end` and whose
/// entries sit at column `col`: after that line and any comment lines right below it that are
/// indented deeper (they belong to the last entry), before blank lines and comments that lead
/// to what follows.
fn insertion_point(t: &str, end: usize, col: usize) -> usize {
    let mut at = line_content_end(t, end);
    loop {
        let next = next_line_start(t, at);
        if next >= t.len() {
            return at;
        }
        let line = &t[next..line_content_end(t, next)];
        let indent = line.len() - line.trim_start().len();
        if line.trim_start().starts_with('#') && indent > col {
            at = line_content_end(t, next);
        } else {
            return at;
        }
    }
}

/// The lines from the one holding `from` to the one holding `to`, with the last line break;
/// at the end of a text without a final line break, the line break before them instead.
fn whole_lines(t: &str, from: usize, to: usize) -> Range<usize> {
    let start = line_start(t, from);
    let end = next_line_start(t, line_content_end(t, to));
    if end == t.len() && !t.ends_with('\n') && start > 0 {
        let before = if t[..start].ends_with("\r\n") { 2 } else { 1 };
        return start - before..end;
    }
    start..end
}

/// Offset of the `-` of the block sequence item that starts at `item`.
fn dash_before(t: &str, item: usize) -> Option<usize> {
    let start = line_start(t, item);
    let before = t[start..item].trim_end();
    if before.ends_with('-') {
        return Some(start + before.len() - 1);
    }
    if !before.trim().is_empty() {
        return None;
    }
    // `-` alone on an earlier line, the item below it.
    let mut end = start;
    while end > 0 {
        let line_from = line_start(t, end - 1);
        let line = t[line_from..end].trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            end = line_from;
            continue;
        }
        return line.ends_with('-').then(|| line_from + line.len() - 1);
    }
    None
}

/// Offset of the `:` after a key ending at `key_end`.
fn colon_after(t: &str, key_end: usize) -> Option<usize> {
    let rest = &t[key_end..];
    let skipped = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    (rest[skipped..].starts_with(':')).then_some(key_end + skipped)
}

fn line_start(t: &str, at: usize) -> usize {
    t[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// The end of the line holding `at`, before its line break.
fn line_content_end(t: &str, at: usize) -> usize {
    let end = t[at..].find('\n').map_or(t.len(), |i| at + i);
    if end > at && t[..end].ends_with('\r') {
        end - 1
    } else {
        end
    }
}

/// The start of the line after the one holding `at` (or the end of the text).
fn next_line_start(t: &str, at: usize) -> usize {
    t[at..].find('\n').map_or(t.len(), |i| at + i + 1)
}

fn column(t: &str, at: usize) -> usize {
    at - line_start(t, at)
}

/// Applies non-overlapping replacements, from the end of the text backwards (a removal
/// before an insertion at the same offset).
fn splice(t: &str, mut edits: Vec<(Range<usize>, String)>) -> String {
    edits.sort_by_key(|(range, _)| std::cmp::Reverse((range.start, range.end)));
    let mut out = t.to_owned();
    for (range, new) in edits {
        out.replace_range(range, &new);
    }
    out
}

/// The indentation width and sequence style a person used in this document.
fn detect_layout(t: &str, root: &Node, style: FileStyle) -> Layout {
    let mut widths = Vec::new();
    let mut offsets = Vec::new();
    measure(t, root, &mut widths, &mut offsets);
    let width = most_common(&widths).unwrap_or(2);
    let seq = match most_common(&offsets) {
        Some(0) => SeqStyle::Flush,
        Some(n) => SeqStyle::Indented(n),
        None => style.seq.unwrap_or(SeqStyle::Indented(width)),
    };
    Layout {
        width,
        seq,
        eol: style.eol,
    }
}

/// The sequence style of a document, when it has a block sequence under a key.
pub(crate) fn seq_style_of(text: &str) -> Option<SeqStyle> {
    let root = tree::parse(text).ok()?;
    let mut widths = Vec::new();
    let mut offsets = Vec::new();
    measure(text, &root, &mut widths, &mut offsets);
    most_common(&offsets).map(|n| {
        if n == 0 {
            SeqStyle::Flush
        } else {
            SeqStyle::Indented(n)
        }
    })
}

fn measure(t: &str, node: &Node, widths: &mut Vec<usize>, offsets: &mut Vec<usize>) {
    match &node.kind {
        Kind::Map { entries, flow } => {
            for (key, value) in entries {
                if !flow {
                    let key_col = column(t, key.start);
                    match &value.kind {
                        Kind::Map {
                            entries,
                            flow: false,
                        } => {
                            if let Some((first, _)) = entries.first()
                                && line_start(t, first.start) != line_start(t, key.start)
                            {
                                let col = column(t, first.start);
                                if col > key_col {
                                    widths.push(col - key_col);
                                }
                            }
                        }
                        Kind::Seq { items, flow: false } => {
                            if let Some(first) = items.first()
                                && let Some(dash) = dash_before(t, first.start)
                                && line_start(t, dash) != line_start(t, key.start)
                            {
                                offsets.push(column(t, dash).saturating_sub(key_col));
                            }
                        }
                        _ => {}
                    }
                }
                measure(t, value, widths, offsets);
            }
        }
        Kind::Seq { items, .. } => {
            for item in items {
                measure(t, item, widths, offsets);
            }
        }
        _ => {}
    }
}

/// The most frequent value (the smallest among equals).
fn most_common(values: &[usize]) -> Option<usize> {
    let mut counts = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(*v).or_insert(0usize) += 1;
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|(_, c)| *c == best).map(|(v, _)| v)
}
