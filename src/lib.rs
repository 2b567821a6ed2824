//! redress keeps Kubernetes security posture true at the source.
//!
//! ```text
//!  inventory ─► engine ─► findings ─► report
//!  live API     rules/    fingerprint, table, json, sarif
//!  or files     mappings/ exceptions, score
//! ```
//!
//! - [`model`]: plain data shared by every stage.
//! - [`inventory`]: objects from manifest files or a live cluster.
//! - [`engine`]: rules and mappings as data, evaluation, exceptions, posture score.
//! - [`report`]: the table, JSON and SARIF outputs.
//! - [`cli`]: the command line, validated once.

pub mod cli;
pub mod config;
pub mod engine;
pub mod fix;
pub mod forge;
pub mod inventory;
pub mod locate;
pub mod model;
pub mod patch;
pub mod report;
pub mod scan;
pub mod serve;
pub mod source;
pub mod sweep;
