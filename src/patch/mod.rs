//! patch: format-preserving edits of YAML files and their unified diffs.
//!
//! Takes the text of a file and the intended changes to its documents ([`DocEdit`]) and gives
//! the new text, changing nothing but the intended fields: comments, blank lines, key order,
//! quoting, indentation, CRLF line endings and `---` separators survive. Every edit is
//! checked by re-parsing the result and comparing it with the intended change. Pure: no I/O.

pub mod diff;
pub mod yaml;

use serde::Serialize;
use serde_json::Value;

/// One step of a path inside a YAML document: a mapping key or a sequence index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A 0-based sequence index.
    Index(usize),
}

impl std::fmt::Display for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seg::Key(k) => f.write_str(k),
            Seg::Index(i) => write!(f, "{i}"),
        }
    }
}

/// Renders a path as `a.b[0].c`, the way a person reads a values key.
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// One intended change at a path inside one YAML document.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum EditOp {
    /// Sets the value at `path`, creating missing parent mappings (and sequences for index
    /// steps). Setting a value equal to the current one changes nothing.
    Set { path: Vec<Seg>, value: Value },
    /// Removes the mapping key or sequence item at `path`. Removing what is absent changes
    /// nothing.
    Remove { path: Vec<Seg> },
    /// Appends `value` to the sequence at `path`, creating the sequence and its parents when
    /// missing. Appending an item that is already present changes nothing.
    Append { path: Vec<Seg>, value: Value },
}

impl EditOp {
    /// The path the operation is about.
    pub fn path(&self) -> &[Seg] {
        match self {
            EditOp::Set { path, .. } | EditOp::Remove { path } | EditOp::Append { path, .. } => {
                path
            }
        }
    }
}

/// A change to one document of a multi-document YAML file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocEdit {
    /// 0-based index of the document in the file (counting every `---`-separated document).
    pub document: usize,
    /// What to change.
    pub op: EditOp,
}
