//! The engine: loads rules, workload kinds and mappings (from a folder, or the copies built
//! into the binary), evaluates them over objects, applies exceptions and scores the posture.
//! Pure: it takes objects and gives findings; reading files of data is its only I/O.

pub mod cel;
pub mod eval;
pub mod exceptions;
pub mod kinds;
pub mod mappings;
pub mod rule;
pub mod score;
pub mod testing;

use include_dir::{Dir, include_dir};
use kinds::{KindsFile, WorkloadKind};
use mappings::Mappings;
use rule::{Rule, RuleError, parse_rule};
use std::path::{Path, PathBuf};

/// The rules shipped with redress.
pub static BUILTIN_RULES: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/rules");
/// The mappings shipped with redress.
pub static BUILTIN_MAPPINGS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/mappings");

/// The name of the file, in a rules folder, that declares workload kinds.
pub const KINDS_FILE: &str = "kinds.yaml";

/// Rules, the workload kinds they see, and the mappings that place them in frameworks.
pub struct RuleSet {
    /// Rules, sorted by id.
    pub rules: Vec<Rule>,
    /// Workload kinds.
    pub kinds: Vec<WorkloadKind>,
    /// Frameworks and the crosswalk.
    pub mappings: Mappings,
}

/// A data file (rule, kinds or mapping) that failed to load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A rule file.
    #[error(transparent)]
    Rule(#[from] RuleError),
    /// A kinds or mapping file.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line, 0 when unknown.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A folder or file could not be read (the cause follows in the error's chain).
    #[error("cannot read {path}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A text file from a folder or from the binary.
struct DataFile {
    path: PathBuf,
    text: String,
}

fn builtin_files(dir: &Dir<'_>, label: &str) -> Vec<DataFile> {
    let mut files: Vec<DataFile> = dir
        .files()
        .filter_map(|f| {
            Some(DataFile {
                path: Path::new(label).join(f.path()),
                text: f.contents_utf8()?.to_owned(),
            })
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn folder_files(dir: &Path) -> Result<Vec<DataFile>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs_err::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fs_err::read_to_string(&path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(DataFile { path, text })
        })
        .collect()
}

/// The line (0 when unknown) and the one-sentence message of a YAML deserialization error.
pub(crate) fn yaml_error(error: &serde_saphyr::Error) -> (u64, String) {
    let text = error.to_string();
    let message = text.lines().next().unwrap_or("invalid YAML").to_owned();
    (error.location().map_or(0, |l| l.line()), message)
}

/// Deserializes a data file strictly, naming the file and line on failure.
pub(crate) fn parse_data<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, LoadError> {
    serde_saphyr::from_str(text).map_err(|error| {
        let (line, message) = yaml_error(&error);
        LoadError::Data {
            path: path.to_path_buf(),
            line,
            message,
        }
    })
}

impl RuleSet {
    /// Loads rules from `rules_dir` (or the built-in rules) and mappings from `mappings_dir`
    /// (or the built-in mappings). Every problem fails the load, naming its file.
    pub fn load(
        rules_dir: Option<&Path>,
        mappings_dir: Option<&Path>,
    ) -> Result<RuleSet, LoadError> {
        let rule_files = match rules_dir {
            Some(dir) => folder_files(dir)?,
            None => builtin_files(&BUILTIN_RULES, "rules"),
        };
        let mapping_files = match mappings_dir {
            Some(dir) => folder_files(dir)?,
            None => builtin_files(&BUILTIN_MAPPINGS, "mappings"),
        };
        let mut rules = Vec::new();
        let mut kinds: Vec<WorkloadKind> = Vec::new();
        // A user's folder without a kinds file still sees the built-in workload kinds.
        let has_kinds = rule_files
            .iter()
            .any(|f| f.path.file_name().is_some_and(|n| n == KINDS_FILE));
        if !has_kinds && let Some(file) = BUILTIN_RULES.get_file(KINDS_FILE) {
            let text = file.contents_utf8().unwrap_or_default();
            kinds.extend(parse_data::<KindsFile>(Path::new("rules/kinds.yaml"), text)?.workloads);
        }
        for file in &rule_files {
            if file.path.file_name().is_some_and(|n| n == KINDS_FILE) {
                kinds.extend(parse_data::<KindsFile>(&file.path, &file.text)?.workloads);
            } else {
                rules.push(parse_rule(&file.path, &file.text)?);
            }
        }
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        for pair in rules.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(LoadError::Rule(RuleError::Invalid {
                    path: pair[1].file.clone(),
                    id: pair[1].id.to_string(),
                    message: format!("duplicate rule id (also in {})", pair[0].file.display()),
                }));
            }
        }
        let mappings = Mappings::load(
            mapping_files
                .iter()
                .map(|f| (f.path.as_path(), f.text.as_str())),
            &rules,
        )?;
        Ok(RuleSet {
            rules,
            kinds,
            mappings,
        })
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| &*r.id == id)
    }

    /// Reads and checks an exceptions file against these rules; none when `path` is none.
    pub fn load_exceptions(
        &self,
        path: Option<&std::path::Path>,
    ) -> Result<exceptions::Exceptions, LoadError> {
        let Some(path) = path else {
            return Ok(exceptions::Exceptions::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        exceptions::Exceptions::parse(path, &text, |id| self.rule(id).is_some())
    }

    /// An evaluator over these rules.
    pub fn evaluator(&self) -> eval::Evaluator<'_> {
        eval::Evaluator::new(&self.rules, &self.kinds)
    }
}
