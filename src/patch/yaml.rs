//! patch: the format-preserving YAML editor.
//!
//! Takes the text of a (multi-document) YAML file and [`DocEdit`]s, gives the edited text.
//! Only the bytes of the edited nodes change: comments, blank lines, key order, quoting,
//! indentation (width, flush or indented sequences), CRLF line endings, a missing final line
//! break, `---` and `...` markers and every other document stay byte for byte. After the
//! edits every document is parsed again and compared with the original plus the intended
//! operations applied to JSON ([`EditError::Verify`] when they differ). Pure: no I/O.
//!
//! # Why our own splicing editor
//!
//! The editor finds nodes and their byte ranges through `granit_parser` events (already in
//! the tree through serde-saphyr) and splices text at those ranges. `yaml-edit` 0.3 was tried
//! first on the hard cases: it turned `securityContext: {}` into the flow mapping
//! `{runAsNonRoot: 'true'}`, wrote `\n` into CRLF files, dropped quotes from a replaced
//! single-quoted string, and takes values as strings, so every case needed a workaround on top
//! of it. The splicer is about as much code as those workarounds, adds no dependency and
//! decides every byte it writes. It stays behind [`apply`], so it can be replaced.
//!
//! # Choices
//!
//! - Documents are numbered as [`split_documents`] splits a file (0-based here, 1-based in
//!   inventory errors): a leading `---` does not shift the numbering.
//! - A new key goes after the last entry of its mapping and after comment lines right below
//!   that entry indented deeper than the mapping (they belong to it), before blank lines and
//!   comments that lead to the next section; at the mapping's indentation. Missing parents
//!   are created as block mappings with the document's indentation width (default 2).
//! - An empty parent (`key:`, `key: null`, `~`, `{}`, `[]`) becomes a block collection; a
//!   non-empty flow collection gets the new entry inside the flow.
//! - Setting a mapping or sequence onto an existing one of the same kind changes it entry by
//!   entry (what stays keeps its comments); a scalar replaced by a scalar keeps its quoting
//!   when the new value is a string, and a plain one stays plain when that reads back as the
//!   same string.
//! - Removing an entry removes its lines, including comments between its first and last
//!   line; comment lines above it stay (they often head a section, not the key). Removing the
//!   last entry leaves the parent as `key: {}` (or `key: []`) rather than removing the parent.
//! - Refused as [`EditError::Unsupported`]: paths through anchors, aliases or merge keys,
//!   paths inside block scalars, values with explicit tags, replacing a whole document.

mod edit;
pub(crate) mod json;
mod render;
mod tree;

use crate::inventory::files::{Document, Limits, parse_yaml_document, split_documents};
use crate::patch::{DocEdit, Seg, dotted};
use edit::{Failure, FileStyle};

/// The result of applying edits to a file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The edited text.
    pub text: String,
    /// Whether `text` differs from the input (false when every edit was already in place).
    pub changed: bool,
}

/// Why edits could not be applied. `document` is the 0-based index of [`DocEdit`]; messages
/// show it 1-based, as inventory errors do.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The document does not parse as YAML.
    #[error("document {} does not parse (line {line}): {message}", .document + 1)]
    Parse {
        /// 0-based document index.
        document: usize,
        /// 1-based line in the file.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// The file has no document with that index.
    #[error("the file has no document {}", .document + 1)]
    NoDocument {
        /// 0-based document index.
        document: usize,
    },
    /// The document's shape contradicts the path (a key under a scalar, an index past the end).
    #[error("cannot edit '{}': {reason}", dotted(.path))]
    Conflict {
        /// The path of the edit.
        path: Vec<Seg>,
        /// What is in the way.
        reason: String,
    },
    /// The edit goes where this editor does not write (anchors, aliases, block scalars, tags).
    #[error("cannot edit '{}': {reason}", dotted(.path))]
    Unsupported {
        /// The path of the edit.
        path: Vec<Seg>,
        /// What is not supported.
        reason: String,
    },
    /// The edited text does not say what the edits intended (an editor bug caught).
    #[error("the edit of document {} did not verify: {reason}", .document + 1)]
    Verify {
        /// 0-based document index.
        document: usize,
        /// What differs.
        reason: String,
    },
}

/// Applies `edits` in order to the YAML file `text` and verifies the result.
pub fn apply(text: &str, edits: &[DocEdit]) -> Result<Applied, EditError> {
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let seq = split_documents(text)
        .iter()
        .find_map(|doc| edit::seq_style_of(doc.text));
    let style = FileStyle { eol, seq };
    let mut current = text.to_owned();
    for one in edits {
        let docs = split_documents(&current);
        let Some(doc) = find(&docs, one.document) else {
            return Err(EditError::NoDocument {
                document: one.document,
            });
        };
        let offset = doc.text.as_ptr() as usize - current.as_ptr() as usize;
        let range = offset..offset + doc.text.len();
        let new = edit::apply_op(doc.text, &one.op, style).map_err(|failure| match failure {
            Failure::Parse { line, message } => EditError::Parse {
                document: one.document,
                line: doc.line + line - 1,
                message,
            },
            Failure::Conflict { path, reason } => EditError::Conflict { path, reason },
            Failure::Unsupported { path, reason } => EditError::Unsupported { path, reason },
        })?;
        current.replace_range(range, &new);
    }
    verify(text, &current, edits)?;
    Ok(Applied {
        changed: current != text,
        text: current,
    })
}

fn find<'a, 'b>(docs: &'b [Document<'a>], index: usize) -> Option<&'b Document<'a>> {
    docs.iter().find(|d| d.index == index + 1)
}

/// Checks that `edited` is `original` with `edits` applied: every edited document parses to
/// the original document's JSON with the operations applied, every other document is byte for
/// byte the same, and the number of documents did not change.
pub fn verify(original: &str, edited: &str, edits: &[DocEdit]) -> Result<(), EditError> {
    let before = split_documents(original);
    let after = split_documents(edited);
    if before.len() != after.len() {
        return Err(EditError::Verify {
            document: before.len().min(after.len()),
            reason: format!(
                "the file had {} documents and now has {}",
                before.len(),
                after.len()
            ),
        });
    }
    for (old, new) in before.iter().zip(&after) {
        let document = old.index - 1;
        let ops: Vec<_> = edits.iter().filter(|e| e.document == document).collect();
        let fail = |reason: String| EditError::Verify { document, reason };
        if ops.is_empty() {
            if old.text != new.text {
                return Err(fail("a document that was not to change changed".to_owned()));
            }
            continue;
        }
        let mut expected =
            parse_yaml_document(old.text, Limits::default()).map_err(|(message, line)| {
                EditError::Parse {
                    document,
                    line: old.line + line.unwrap_or(1) - 1,
                    message,
                }
            })?;
        for op in ops {
            json::apply_op(&mut expected, &op.op)
                .map_err(|reason| fail(format!("the intended change does not apply: {reason}")))?;
        }
        let got = parse_yaml_document(new.text, Limits::default()).map_err(|(message, line)| {
            fail(format!(
                "the edited document does not parse (line {}): {message}",
                new.line + line.unwrap_or(1) - 1
            ))
        })?;
        if let Some(difference) = json::first_difference(&expected, &got) {
            return Err(fail(format!(
                "the result differs from the intent at {difference}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::EditOp;
    use serde_json::json;

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }

    fn set(document: usize, path: &[&str], value: serde_json::Value) -> DocEdit {
        DocEdit {
            document,
            op: EditOp::Set {
                path: path.iter().map(|k| key(k)).collect(),
                value,
            },
        }
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: true # why\n";

    #[test]
    fn verify_catches_a_wrong_edit() {
        let edits = [set(0, &["spec", "hostPID"], json!(false))];
        // What a buggy editor might write: the wrong value, the wrong key, a broken document.
        for wrong in [
            "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: 'false' # why\n",
            "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: true # why\n  hostpid: false\n",
            "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: false # why\n  other: 1\n",
            "apiVersion: v1\nkind: Pod\nspec:\n hostPID: false\n  x: 1\n",
            "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: false\n---\na: 1\n",
        ] {
            let result = verify(POD, wrong, &edits);
            assert!(
                matches!(result, Err(EditError::Verify { .. })),
                "{wrong:?} passed: {result:?}"
            );
        }
        let right = "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: false # why\n";
        verify(POD, right, &edits).unwrap();
    }

    #[test]
    fn verify_catches_a_change_to_another_document() {
        let two = "a: 1\n---\nb: 2 # same value, other text\n";
        let edits = [set(0, &["a"], json!(3))];
        let touched = "a: 3\n---\nb: 2\n";
        let result = verify(two, touched, &edits);
        assert!(
            matches!(result, Err(EditError::Verify { document: 1, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn edits_keep_the_rest_and_rerunning_changes_nothing() {
        let edits = [set(0, &["spec", "hostPID"], json!(false))];
        let once = apply(POD, &edits).unwrap();
        assert!(once.changed);
        assert_eq!(
            once.text,
            "apiVersion: v1\nkind: Pod\nspec:\n  hostPID: false # why\n"
        );
        let twice = apply(&once.text, &edits).unwrap();
        assert!(!twice.changed);
        assert_eq!(twice.text, once.text);
    }

    #[test]
    fn documents_are_counted_like_the_inventory() {
        let text = "---\na: 1\n---\nb: 1\n";
        let out = apply(text, &[set(1, &["b"], json!(2))]).unwrap();
        assert_eq!(out.text, "---\na: 1\n---\nb: 2\n");
        let missing = apply(text, &[set(2, &["b"], json!(2))]);
        assert!(matches!(
            missing,
            Err(EditError::NoDocument { document: 2 })
        ));
    }

    #[test]
    fn json_files_stay_json() {
        let text = "{\"kind\": \"Pod\", \"spec\": {\"hostPID\": true, \"n\": 1, \"l\": [\"a\"]}}";
        let edits = [
            set(0, &["spec", "hostPID"], json!(false)),
            set(0, &["spec", "n"], json!("two")),
            set(0, &["spec", "sc"], json!({"runAsNonRoot": true})),
            DocEdit {
                document: 0,
                op: EditOp::Append {
                    path: vec![key("spec"), key("l")],
                    value: json!("b"),
                },
            },
        ];
        let out = apply(text, &edits).unwrap();
        assert_eq!(
            out.text,
            "{\"kind\": \"Pod\", \"spec\": {\"hostPID\": false, \"n\": \"two\", \"l\": [\"a\", \"b\"], \"sc\": {\"runAsNonRoot\": true}}}"
        );
        serde_json::from_str::<serde_json::Value>(&out.text).unwrap();
    }

    #[test]
    fn a_block_scalar_value_is_replaced_whole() {
        let text = "data:\n  script: |\n    echo one\n    echo two\n\n  mode: x\n";
        let out = apply(text, &[set(0, &["data", "script"], json!("true"))]).unwrap();
        assert_eq!(out.text, "data:\n  script: \"true\"\n\n  mode: x\n");
    }

    #[test]
    fn an_empty_document_gets_a_mapping() {
        let text = "a: 1\n---\n# nothing here yet\n";
        let out = apply(text, &[set(1, &["b", "c"], json!(true))]).unwrap();
        assert_eq!(out.text, "a: 1\n---\n# nothing here yet\nb:\n  c: true\n");
    }

    #[test]
    fn index_steps_append_or_conflict() {
        let text = "args:\n- --port=80\n";
        let edits = [DocEdit {
            document: 0,
            op: EditOp::Set {
                path: vec![key("args"), Seg::Index(1)],
                value: json!("--secure"),
            },
        }];
        assert_eq!(
            apply(text, &edits).unwrap().text,
            "args:\n- --port=80\n- --secure\n"
        );
        let past = [DocEdit {
            document: 0,
            op: EditOp::Set {
                path: vec![key("args"), Seg::Index(3)],
                value: json!("x"),
            },
        }];
        assert!(matches!(
            apply(text, &past),
            Err(EditError::Conflict { .. })
        ));
    }

    #[test]
    fn refused_paths_name_the_reason() {
        let text = "base: &b\n  x: 1\nuse: *b\ns: |\n  text\nn: 1\n";
        let cases = [
            (&["use", "x"][..], "anchor or alias"),
            (&["base", "x"][..], "anchor or alias"),
            (&["s", "x"][..], "block scalar"),
        ];
        for (path, reason) in cases {
            match apply(text, &[set(0, path, json!(2))]) {
                Err(EditError::Unsupported { reason: r, .. }) => {
                    assert!(r.contains(reason), "{path:?}: {r}");
                }
                other => panic!("{path:?}: {other:?}"),
            }
        }
        assert!(matches!(
            apply(text, &[set(0, &["n", "x"], json!(2))]),
            Err(EditError::Conflict { .. })
        ));
    }

    #[test]
    fn broken_documents_name_document_and_line() {
        let text = "a: 1\n---\nb: [\n";
        match apply(text, &[set(1, &["b"], json!(1))]) {
            Err(EditError::Parse {
                document: 1, line, ..
            }) => assert!(line >= 3, "{line}"),
            other => panic!("{other:?}"),
        }
    }
}
