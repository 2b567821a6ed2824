//! Outputs of a scan: a readable table, a stable JSON document and SARIF 2.1.0. Each takes a
//! `ScanReport` and the rule set (for titles and mappings) and gives text; none does I/O.

pub mod json;
pub mod rules;
pub mod sarif;
pub mod table;

use crate::model::{Finding, Origin};

/// The file of a finding, when its object came from one.
pub fn file_of(finding: &Finding) -> Option<String> {
    match &finding.origin {
        Origin::File { path, .. } => Some(path.display().to_string()),
        _ => None,
    }
}
