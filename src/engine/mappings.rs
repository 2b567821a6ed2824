//! Mappings as data: compliance frameworks (control id -> the rules that implement it) and the
//! crosswalk from other scanners' ids to ours. Every rule id named must exist. Pure data.

use super::{LoadError, parse_data};
use crate::engine::rule::Rule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A compliance framework.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    /// Short id used on the command line (`--framework cis`).
    pub id: String,
    /// Full name.
    pub name: String,
    /// The edition the control ids come from.
    pub version: String,
    /// Where the framework is published.
    #[serde(default)]
    pub url: Option<String>,
    /// Controls, in the framework's order.
    pub controls: Vec<Control>,
}

/// One control of a framework.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// The framework's id for it (`5.2.2`, `T1611`).
    pub id: String,
    /// The framework's title for it.
    pub title: String,
    /// The redress rules that implement it.
    pub rules: Vec<String>,
}

/// The crosswalk file: peer -> peer id -> redress rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrosswalkFile {
    crosswalk: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// Every framework and the crosswalk.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    /// Frameworks by id, in load order.
    pub frameworks: Vec<Framework>,
    /// Peer scanner -> its id -> our rule ids.
    pub crosswalk: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// The file name of the crosswalk.
pub const CROSSWALK_FILE: &str = "crosswalk.yaml";

impl Mappings {
    /// Loads mapping files; every rule id they name must be one of `rules`.
    pub fn load<'a>(
        files: impl Iterator<Item = (&'a Path, &'a str)>,
        rules: &[Rule],
    ) -> Result<Mappings, LoadError> {
        let mut mappings = Mappings::default();
        let known = |path: &Path, id: &str, context: &str| {
            if rules.iter().any(|r| &*r.id == id) {
                Ok(())
            } else {
                Err(LoadError::Data {
                    path: path.to_path_buf(),
                    line: 0,
                    message: format!("{context} names rule '{id}', which does not exist"),
                })
            }
        };
        for (path, text) in files {
            if path.file_name().is_some_and(|n| n == CROSSWALK_FILE) {
                let file: CrosswalkFile = parse_data(path, text)?;
                for (peer, ids) in &file.crosswalk {
                    for (peer_id, ours) in ids {
                        for id in ours {
                            known(path, id, &format!("{peer} {peer_id}"))?;
                        }
                    }
                }
                mappings.crosswalk.extend(file.crosswalk);
            } else {
                let framework: Framework = parse_data(path, text)?;
                for control in &framework.controls {
                    for id in &control.rules {
                        known(
                            path,
                            id,
                            &format!("{} control {}", framework.id, control.id),
                        )?;
                    }
                }
                if mappings.frameworks.iter().any(|f| f.id == framework.id) {
                    return Err(LoadError::Data {
                        path: path.to_path_buf(),
                        line: 0,
                        message: format!("framework id '{}' is declared twice", framework.id),
                    });
                }
                mappings.frameworks.push(framework);
            }
        }
        Ok(mappings)
    }

    /// The framework with this id.
    pub fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks.iter().find(|f| f.id == id)
    }

    /// The (framework, control) pairs a rule implements.
    pub fn controls_of<'a>(
        &'a self,
        rule: &'a str,
    ) -> impl Iterator<Item = (&'a Framework, &'a Control)> + 'a {
        self.frameworks.iter().flat_map(move |f| {
            f.controls
                .iter()
                .filter(move |c| c.rules.iter().any(|r| r == rule))
                .map(move |c| (f, c))
        })
    }

    /// The (peer, peer id) pairs that map to a rule.
    pub fn peer_ids_of<'a>(
        &'a self,
        rule: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.crosswalk.iter().flat_map(move |(peer, ids)| {
            ids.iter()
                .filter(move |(_, ours)| ours.iter().any(|r| r == rule))
                .map(move |(id, _)| (peer.as_str(), id.as_str()))
        })
    }
}
