//! Inventory: the objects a scan looks at, from manifest files and folders (`files`) or from a
//! live cluster (`live`). It gives `Object`s with their origin and reports, without stopping,
//! every input it could not read. It knows nothing of rules.

pub mod files;
pub mod lines;
pub mod live;

use crate::model::Object;
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;

/// An input that could not be read, with the place a person must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// The file (or, for live input, the API path).
    pub file: PathBuf,
    /// The 1-based document index within the file, when the problem is in one document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// The 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(doc) = self.document {
            write!(f, " (document {doc})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Something skipped on purpose, worth telling the user about (a non-Kubernetes document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The file.
    pub file: PathBuf,
    /// The 1-based document index.
    pub document: usize,
    /// The 1-based line where the document starts.
    pub line: usize,
    /// Why it was skipped.
    pub message: String,
}

/// What an inventory produced: the objects, and what it could not or would not read.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Every Kubernetes object read.
    pub objects: Vec<Object>,
    /// Inputs that failed, each naming its place.
    pub errors: Vec<InputError>,
    /// Documents skipped on purpose.
    pub notes: Vec<Note>,
    /// How many files were read.
    pub files: usize,
}

impl Inventory {
    /// Appends another inventory's contents to this one.
    pub fn extend(&mut self, other: Inventory) {
        self.objects.extend(other.objects);
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
        self.files += other.files;
    }
}
