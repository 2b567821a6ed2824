//! Lines of fields: given the text of a YAML (or JSON) document and a JSON pointer into it, find
//! the 1-based line where that field is written. Used only for findings, after the scan, so the
//! fast path (parsing into JSON) carries no positions. For a mapping entry the line is the key's.

use super::files::{Limits, split_documents};
use crate::model::{Finding, Origin, escape_segment};
use rayon::prelude::*;
use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::HashMap;
use std::path::PathBuf;

enum Frame {
    Map { key: Option<(String, usize)> },
    Seq { next: usize },
}

/// The 1-based line (within `text`) of every node of a YAML document, keyed by JSON pointer.
/// For a mapping entry the line is the key's. Stops quietly at the first parse error (the
/// document parsed before, so that does not happen in practice) or at the event limit.
pub fn line_map(text: &str) -> HashMap<String, usize> {
    let mut lines = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    // The pointer of the current container, and the length of each level's prefix in it.
    let mut pointer = String::new();
    let mut lengths: Vec<usize> = Vec::new();
    let limit = Limits::default().max_events;
    for (events, item) in Parser::new_from_str(text).enumerate() {
        if events > limit {
            break;
        }
        let Ok((event, span)) = item else {
            break;
        };
        let line = span.start.line();
        if let Some(Frame::Map { key }) = stack.last_mut()
            && key.is_none()
        {
            match event {
                Event::Scalar(ref value, ..) => {
                    *key = Some((value.to_string(), line));
                    continue;
                }
                Event::MappingEnd => {
                    stack.pop();
                    if let Some(len) = lengths.pop() {
                        pointer.truncate(len);
                    }
                    close_value(&mut stack);
                    continue;
                }
                _ => {}
            }
        }
        // The pointer and line of the node this event starts.
        let (segment, node_line) = match stack.last() {
            Some(Frame::Map {
                key: Some((k, key_line)),
            }) => (Some(escape_segment(k)), *key_line),
            Some(Frame::Seq { next }) => (Some(next.to_string()), line),
            _ => (None, line),
        };
        match event {
            Event::Scalar(..) | Event::Alias(..) => {
                let len = pointer.len();
                if let Some(segment) = &segment {
                    pointer.push('/');
                    pointer.push_str(segment);
                }
                lines.entry(pointer.clone()).or_insert(node_line);
                pointer.truncate(len);
                close_value(&mut stack);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                lengths.push(pointer.len());
                if let Some(segment) = &segment {
                    pointer.push('/');
                    pointer.push_str(segment);
                }
                lines.entry(pointer.clone()).or_insert(node_line);
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map { key: None }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                if let Some(len) = lengths.pop() {
                    pointer.truncate(len);
                }
                close_value(&mut stack);
            }
            Event::DocumentEnd | Event::StreamEnd => break,
            _ => {}
        }
    }
    lines
}

fn close_value(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key }) => *key = None,
        Some(Frame::Seq { next }) => *next += 1,
        None => {}
    }
}

/// The line of `pointer`, or of its nearest ancestor that the map knows.
pub fn line_in(lines: &HashMap<String, usize>, pointer: &str) -> Option<usize> {
    let mut current = pointer;
    loop {
        if let Some(line) = lines.get(current) {
            return Some(*line);
        }
        if current.is_empty() {
            return None;
        }
        current = current.rfind('/').map_or("", |at| &current[..at]);
    }
}

/// The 1-based line (within `text`) of the node at `pointer`, or of its nearest ancestor.
pub fn line_of(text: &str, pointer: &str) -> Option<usize> {
    line_in(&line_map(text), pointer)
}

/// Fills in `line` for every finding whose object came from a file, reading each file once
/// and mapping each document once; files are handled in parallel.
pub fn attach_lines(findings: &mut [Finding]) {
    let mut by_file: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, finding) in findings.iter().enumerate() {
        if let Origin::File { path, .. } = &finding.origin
            && path.as_os_str() != "-"
        {
            by_file.entry(path.clone()).or_default().push(i);
        }
    }
    let located: Vec<(usize, usize)> = by_file
        .into_par_iter()
        .flat_map_iter(|(path, indexes)| lines_for(&path, &indexes, findings))
        .collect();
    for (i, line) in located {
        findings[i].line = Some(line);
    }
}

/// The (finding index, line) pairs for the findings of one file.
fn lines_for(path: &PathBuf, indexes: &[usize], findings: &[Finding]) -> Vec<(usize, usize)> {
    let Ok(text) = fs_err::read_to_string(path) else {
        return Vec::new();
    };
    let docs = split_documents(&text);
    let mut maps: HashMap<usize, HashMap<String, usize>> = HashMap::new();
    let mut out = Vec::with_capacity(indexes.len());
    for &i in indexes {
        let finding = &findings[i];
        let Origin::File { document, item, .. } = &finding.origin else {
            continue;
        };
        let Some(doc) = docs.iter().find(|d| d.index == *document) else {
            continue;
        };
        let lines = maps.entry(*document).or_insert_with(|| line_map(doc.text));
        let pointer = match item {
            Some(item) => format!("/items/{item}{}", finding.path),
            None => finding.path.clone(),
        };
        if let Some(line) = line_in(lines, &pointer) {
            out.push((i, doc.line + line - 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # c\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n      - name: b\n        securityContext:\n          privileged: true\n";

    fn at(pointer: &str) -> Option<usize> {
        line_of(DOC, pointer)
    }

    #[test]
    fn finds_fields_items_and_nearest_parents() {
        assert_eq!(at("/metadata/name"), Some(5));
        assert_eq!(at("/spec/template/spec/containers/1"), Some(12));
        assert_eq!(
            at("/spec/template/spec/containers/1/securityContext/privileged"),
            Some(14)
        );
        // Missing field: the nearest existing parent.
        assert_eq!(
            at("/spec/template/spec/containers/0/securityContext/privileged"),
            Some(10)
        );
        assert_eq!(at(""), Some(2));
    }

    #[test]
    fn flow_style_and_json() {
        let json = "{\n  \"kind\": \"Pod\",\n  \"spec\": {\n    \"hostPID\": true\n  }\n}";
        assert_eq!(line_of(json, "/spec/hostPID"), Some(4));
    }
}
