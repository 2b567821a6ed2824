//! Lines of fields: given the text of a YAML (or JSON) document and a JSON pointer into it, find
//! the 1-based line where that field is written. Used only for findings, after the scan, so the
//! fast path (parsing into JSON) carries no positions. For a mapping entry the line is the key's.

use super::files::{Limits, split_documents};
use crate::model::{Finding, Origin};
use serde_saphyr::granit_parser::{Event, Parser};
use std::collections::HashMap;
use std::path::PathBuf;

/// Splits a JSON pointer into its unescaped segments.
pub fn pointer_segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

enum Frame {
    Map { key: Option<(String, usize)> },
    Seq { next: usize },
}

/// The 1-based line (within `text`) of the node at `segments`, or of its nearest ancestor that
/// exists. `None` when the text does not parse.
pub fn line_of(text: &str, segments: &[String]) -> Option<usize> {
    let parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    // How many leading segments the current path matches, and the best line found so far.
    let mut path: Vec<String> = Vec::new();
    let mut best: Option<(usize, usize)> = None; // (matched depth, line)
    let mut events = 0usize;
    for item in parser {
        events += 1;
        if events > Limits::default().max_events {
            return best.map(|(_, l)| l);
        }
        let Ok((event, span)) = item else {
            return best.map(|(_, l)| l);
        };
        let line = span.start.line();
        // Is this event a key of the current mapping?
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
                    path.pop();
                    close_value(&mut stack);
                    continue;
                }
                // A complex key: not addressable by a pointer; skip its node.
                _ => {}
            }
        }
        // This event starts or ends a node that is a value.
        let node_line = match stack.last() {
            Some(Frame::Map {
                key: Some((_, key_line)),
            }) => *key_line,
            _ => line,
        };
        let entering = |stack: &mut Vec<Frame>, path: &mut Vec<String>| match stack.last_mut() {
            Some(Frame::Map { key: Some((k, _)) }) => path.push(k.clone()),
            Some(Frame::Seq { next }) => path.push(next.to_string()),
            _ => {}
        };
        match event {
            Event::Scalar(..) | Event::Alias(..) => {
                entering(&mut stack, &mut path);
                record(&path, segments, node_line, &mut best);
                if best.is_some_and(|(d, _)| d == segments.len()) {
                    return best.map(|(_, l)| l);
                }
                if !stack.is_empty() {
                    path.pop();
                }
                close_value(&mut stack);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                entering(&mut stack, &mut path);
                if stack.is_empty() {
                    path.clear();
                }
                record(&path, segments, node_line, &mut best);
                if best.is_some_and(|(d, _)| d == segments.len()) {
                    return best.map(|(_, l)| l);
                }
                stack.push(if matches!(event, Event::MappingStart(..)) {
                    Frame::Map { key: None }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
                if !stack.is_empty() {
                    path.pop();
                }
                close_value(&mut stack);
            }
            Event::DocumentEnd | Event::StreamEnd => break,
            _ => {}
        }
    }
    best.map(|(_, l)| l)
}

fn close_value(stack: &mut [Frame]) {
    match stack.last_mut() {
        Some(Frame::Map { key }) => *key = None,
        Some(Frame::Seq { next }) => *next += 1,
        None => {}
    }
}

fn record(path: &[String], target: &[String], line: usize, best: &mut Option<(usize, usize)>) {
    if path.len() <= target.len() && path.iter().zip(target).all(|(a, b)| a == b) {
        let depth = path.len();
        if best.is_none_or(|(d, _)| depth > d) {
            *best = Some((depth, line));
        }
    }
}

/// Fills in `line` for every finding whose object came from a file, reading each file once.
pub fn attach_lines(findings: &mut [Finding]) {
    let mut by_file: HashMap<PathBuf, Vec<usize>> = HashMap::new();
    for (i, finding) in findings.iter().enumerate() {
        if let Origin::File { path, .. } = &finding.origin
            && path.as_os_str() != "-"
        {
            by_file.entry(path.clone()).or_default().push(i);
        }
    }
    for (path, indexes) in by_file {
        let Ok(text) = fs_err::read_to_string(&path) else {
            continue;
        };
        let docs = split_documents(&text);
        for i in indexes {
            let finding = &mut findings[i];
            let Origin::File { document, item, .. } = &finding.origin else {
                continue;
            };
            let Some(doc) = docs.iter().find(|d| d.index == *document) else {
                continue;
            };
            let mut segments = Vec::new();
            if let Some(item) = item {
                segments.push("items".to_owned());
                segments.push(item.to_string());
            }
            segments.extend(pointer_segments(&finding.path));
            finding.line = line_of(doc.text, &segments).map(|l| doc.line + l - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web # c\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: x\n      - name: b\n        securityContext:\n          privileged: true\n";

    fn at(pointer: &str) -> Option<usize> {
        line_of(DOC, &pointer_segments(pointer))
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
        assert_eq!(line_of(json, &pointer_segments("/spec/hostPID")), Some(4));
    }

    #[test]
    fn escaped_pointer_segments() {
        assert_eq!(pointer_segments("/a~1b/c~0d"), vec!["a/b", "c~d"]);
    }
}
