//! Manifest files and folders: multi-document YAML, JSON, `kind: List` (and any `*List`), and
//! `kubectl get -o yaml` output. Each document is parsed on its own, so one broken document is
//! reported with its file, document and line and the rest of the file is still read. Folders are
//! walked in a stable order without following symbolic links; files are parsed in parallel.

use super::{InputError, Inventory, Note};
use crate::model::{Object, Origin};
use rayon::prelude::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Limits that keep a hostile or accidental input from exhausting the machine.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Files larger than this are refused.
    pub max_file_bytes: u64,
    /// YAML alias expansions allowed per document (alias bombs stop here).
    pub max_aliases: usize,
    /// Parser events allowed per document.
    pub max_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_aliases: 1_000,
            max_events: 5_000_000,
        }
    }
}

/// Reads every manifest under `paths` (files, or folders walked recursively for `.yaml`,
/// `.yml` and `.json`). A path that does not exist is an input error, not a failure.
pub fn read_paths(paths: &[PathBuf], limits: Limits) -> Inventory {
    let mut inventory = Inventory::default();
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            files.push(path.clone());
            continue;
        }
        match fs_err::metadata(path) {
            Ok(meta) if meta.is_dir() => collect_folder(path, &mut files, &mut inventory),
            Ok(_) => files.push(path.clone()),
            Err(error) => inventory.errors.push(InputError {
                file: path.clone(),
                document: None,
                line: None,
                message: io_message(&error),
            }),
        }
    }
    let parsed: Vec<Inventory> = files
        .par_iter()
        .map(|file| read_file(file, limits))
        .collect();
    for one in parsed {
        inventory.extend(one);
    }
    inventory
}

fn collect_folder(root: &Path, files: &mut Vec<PathBuf>, inventory: &mut Inventory) {
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| entry.depth() == 0 || !is_hidden(entry.file_name()));
    for entry in walker {
        match entry {
            Ok(entry) if entry.file_type().is_file() && is_manifest_name(entry.path()) => {
                files.push(entry.into_path());
            }
            Ok(_) => {}
            Err(error) => inventory.errors.push(InputError {
                file: error
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf()),
                document: None,
                line: None,
                message: error.to_string(),
            }),
        }
    }
}

fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.to_str().is_some_and(|n| n.starts_with('.'))
}

/// Whether a file name is one manifests are read from (`.yaml`, `.yml`, `.json`).
pub(crate) fn is_manifest_name(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

fn io_message(error: &std::io::Error) -> String {
    // fs-err puts the path in its message; the path is already in the error's `file`.
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// Reads one file (or standard input, named `-`).
pub fn read_file(path: &Path, limits: Limits) -> Inventory {
    let mut inventory = Inventory {
        files: 1,
        ..Inventory::default()
    };
    let fail = |message: String| InputError {
        file: path.to_path_buf(),
        document: None,
        line: None,
        message,
    };
    let text = if path.as_os_str() == "-" {
        let mut text = String::new();
        match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            Ok(_) => text,
            Err(error) => {
                inventory.errors.push(fail(error.to_string()));
                return inventory;
            }
        }
    } else {
        match fs_err::metadata(path) {
            Ok(meta) if meta.len() > limits.max_file_bytes => {
                inventory.errors.push(fail(format!(
                    "file is {} bytes, over the limit of {} bytes",
                    meta.len(),
                    limits.max_file_bytes
                )));
                return inventory;
            }
            Ok(_) => {}
            Err(error) => {
                inventory.errors.push(fail(io_message(&error)));
                return inventory;
            }
        }
        match fs_err::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(error) => {
                    inventory.errors.push(fail(format!(
                        "not UTF-8 text (invalid byte at offset {})",
                        error.utf8_error().valid_up_to()
                    )));
                    return inventory;
                }
            },
            Err(error) => {
                inventory.errors.push(fail(io_message(&error)));
                return inventory;
            }
        }
    };
    parse_text(path, &text, limits, &mut inventory);
    inventory
}

/// Parses a manifest text into `inventory`, naming `path` in errors.
pub fn parse_text(path: &Path, text: &str, limits: Limits, inventory: &mut Inventory) {
    let is_json =
        path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if is_json && let Ok(value) = serde_json::from_str::<Value>(text) {
        add_document(path, 1, 1, value, inventory);
        return;
    }
    // Not JSON after all (or broken JSON): YAML is a superset, and its errors carry lines.
    for doc in split_documents(text) {
        if doc.is_empty {
            continue;
        }
        match parse_yaml_document(doc.text, limits) {
            Ok(value) => add_document(path, doc.index, doc.line, value, inventory),
            Err((mut message, line)) => {
                let source_line = line.and_then(|l| doc.text.lines().nth(l - 1)).unwrap_or("");
                if source_line.contains("{{") {
                    message.push_str(" (this looks like an unrendered template placeholder)");
                }
                inventory.errors.push(InputError {
                    file: path.to_path_buf(),
                    document: Some(doc.index),
                    line: Some(line.map_or(doc.line, |l| doc.line + l - 1)),
                    message,
                });
            }
        }
    }
}

/// Parses one YAML document into JSON. On failure gives the message and the 1-based line
/// within the document, when the parser knows it.
pub fn parse_yaml_document(text: &str, limits: Limits) -> Result<Value, (String, Option<usize>)> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: limits.max_aliases,
            max_events: limits.max_events,
            max_documents: 1,
        },
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|error| {
        let line = error
            .location()
            .map(|l| usize::try_from(l.line()).unwrap_or(usize::MAX))
            .filter(|l| *l > 0);
        (yaml_message(&error), line)
    })
}

/// The parser's message, reworded for a person editing manifests: the position is given
/// separately, and advice about the library's own options is dropped.
fn yaml_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let mut first = text.lines().next().unwrap_or("invalid YAML").trim();
    if let Some(at) = first.rfind(" at line ") {
        first = &first[..at];
    }
    if let Some(key) = first.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        return format!("duplicate key '{key}'");
    }
    if first == "expected string scalar" {
        return "a mapping key is not a plain string".to_owned();
    }
    first.to_owned()
}

fn add_document(path: &Path, index: usize, line: usize, value: Value, inventory: &mut Inventory) {
    let note = |message: &str| Note {
        file: path.to_path_buf(),
        document: index,
        line,
        message: message.to_owned(),
    };
    if value.is_null() {
        return;
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let is_list = kind.ends_with("List") && value.get("items").is_some_and(Value::is_array);
    if is_list {
        let Value::Object(mut map) = value else {
            return;
        };
        let Some(Value::Array(items)) = map.remove("items") else {
            return;
        };
        for (item_index, item) in items.into_iter().enumerate() {
            let origin = Origin::File {
                path: path.to_path_buf(),
                document: index,
                line,
                item: Some(item_index),
            };
            match Object::from_json(item, origin) {
                Some(object) => inventory.objects.push(object),
                None => inventory.notes.push(note(&format!(
                    "item {item_index} of the {kind} is not a Kubernetes object (no apiVersion and kind); skipped"
                ))),
            }
        }
        return;
    }
    let origin = Origin::File {
        path: path.to_path_buf(),
        document: index,
        line,
        item: None,
    };
    match Object::from_json(value, origin) {
        Some(object) => inventory.objects.push(object),
        None => inventory.notes.push(note(
            "not a Kubernetes object (no apiVersion and kind); skipped",
        )),
    }
}

/// One document of a multi-document YAML text.
#[derive(Debug, PartialEq, Eq)]
pub struct Document<'a> {
    /// 1-based index in the file, counting every `---`-separated document.
    pub index: usize,
    /// 1-based line where the document's text starts.
    pub line: usize,
    /// The document's text, its `---` line included.
    pub text: &'a str,
    /// Whether it holds nothing but blank lines, comments and markers.
    pub is_empty: bool,
}

/// Splits a YAML stream at `---` lines (as `kubectl` does), so each document parses alone.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        if is_document_marker(line) && offset > start {
            docs.push((start, offset, start_line));
            start = offset;
            start_line = line_no;
        }
        offset += line.len();
    }
    docs.push((start, text.len(), start_line));
    let mut index = 0;
    docs.into_iter()
        .filter_map(|(from, to, line)| {
            let body = &text[from..to];
            let is_empty = body.lines().all(|l| {
                let t = l.trim();
                t.is_empty()
                    || t.starts_with('#')
                    || t == "---"
                    || t == "..."
                    || t.starts_with("--- #")
            });
            // Text before the first `---` that holds nothing is not a document.
            if from == 0 && is_empty && to < text.len() {
                return None;
            }
            index += 1;
            Some(Document {
                index,
                line,
                text: body,
                is_empty,
            })
        })
        .collect()
}

fn is_document_marker(line: &str) -> bool {
    let line = line.trim_end_matches(['\n', '\r']);
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Inventory {
        let mut inv = Inventory::default();
        parse_text(Path::new("t.yaml"), text, Limits::default(), &mut inv);
        inv
    }

    #[test]
    fn splits_documents_and_keeps_lines() {
        let docs = split_documents("# head\n---\na: 1\n---\n# only comment\n---\nb: 2\n");
        let summary: Vec<_> = docs.iter().map(|d| (d.index, d.line, d.is_empty)).collect();
        assert_eq!(summary, vec![(1, 2, false), (2, 4, true), (3, 6, false)]);
    }

    #[test]
    fn broken_document_is_reported_and_the_rest_is_read() {
        let inv = parse(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: [unclosed\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\n",
        );
        assert_eq!(inv.objects.len(), 2);
        assert_eq!(inv.errors.len(), 1);
        let error = &inv.errors[0];
        assert_eq!(error.document, Some(2));
        let line = error.line.unwrap();
        assert!(
            (5..=8).contains(&line),
            "line {line} should fall in document 2"
        );
    }

    #[test]
    fn duplicate_keys_are_reported() {
        let inv = parse("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n");
        assert!(inv.objects.is_empty());
        assert_eq!(inv.errors.len(), 1);
        assert!(
            inv.errors[0].message.contains("duplicate"),
            "{}",
            inv.errors[0].message
        );
        assert_eq!(inv.errors[0].line, Some(5));
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let inv = parse(&text);
        assert!(inv.objects.is_empty());
        assert_eq!(inv.errors.len(), 1, "{:?}", inv.notes);
    }

    #[test]
    fn lists_are_unpacked_with_item_origins() {
        let inv = parse(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: b}\n",
        );
        assert_eq!(inv.objects.len(), 2);
        assert!(matches!(
            inv.objects[1].origin,
            Origin::File { item: Some(1), .. }
        ));
    }

    #[test]
    fn non_kubernetes_documents_are_noted() {
        let inv = parse("name: chart\nversion: 1.0\n");
        assert!(inv.objects.is_empty() && inv.errors.is_empty());
        assert_eq!(inv.notes.len(), 1);
    }

    #[test]
    fn json_files_are_read() {
        let mut inv = Inventory::default();
        parse_text(
            Path::new("x.json"),
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"}}"#,
            Limits::default(),
            &mut inv,
        );
        assert_eq!(inv.objects[0].id.name, "j");
    }
}
