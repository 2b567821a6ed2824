//! source: Git repositories and the render roots inside them.
//!
//! Takes a local path or a remote URL (cloned and fetched with git2 into a cache folder) and
//! gives the repository's render roots (plain YAML folders, Kustomize roots, Helm charts with
//! their values files) and their rendered objects (`kubectl kustomize` with origin
//! annotations, `helm template`), cached by content. Nothing outside the repository is read
//! or written; symlinks that leave it are not followed. A root that fails to render is
//! reported with its reason and the others go on.

pub mod render;
pub mod repo;
pub mod roots;

pub use render::{RenderStats, Renderer, Tools};
pub use repo::{Repository, default_cache};
pub use roots::discover;

use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

/// What kind of render root this is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RootKind {
    /// A folder of plain manifests, read as they are.
    Plain,
    /// A folder with a kustomization file that no other kustomization uses as a base.
    Kustomize,
    /// A Helm chart rendered with `helm template`.
    Helm {
        /// Release name given to `helm template`.
        release: String,
        /// Namespace given to `helm template --namespace`.
        namespace: Option<String>,
        /// Values files given with `-f`, repository-relative, in order (later wins). The
        /// chart's own `values.yaml` is implied and not listed.
        values_files: Vec<PathBuf>,
        /// Inline values given last (a Flux HelmRelease's `spec.values`, an Argo CD
        /// Application's Helm values and parameters), already merged into one map.
        inline_values: Option<Value>,
    },
}

/// A folder of the repository that renders to Kubernetes objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RenderRoot {
    /// Repository-relative folder (the chart folder for Helm).
    pub path: PathBuf,
    /// How it renders.
    #[serde(flatten)]
    pub kind: RootKind,
}

impl RenderRoot {
    /// A short name for messages: `deploy/overlays/prod (kustomize)`,
    /// `charts/app + values-prod.yaml (helm)`.
    pub fn label(&self) -> String {
        let path = if self.path.as_os_str().is_empty() {
            ".".to_string()
        } else {
            self.path.display().to_string()
        };
        match &self.kind {
            RootKind::Plain => format!("{path} (plain)"),
            RootKind::Kustomize => format!("{path} (kustomize)"),
            RootKind::Helm {
                values_files,
                inline_values,
                ..
            } => {
                let mut s = path;
                for f in values_files {
                    s.push_str(" + ");
                    s.push_str(&f.display().to_string());
                }
                if inline_values.is_some() {
                    s.push_str(" + inline values");
                }
                s.push_str(" (helm)");
                s
            }
        }
    }
}

/// One object a root rendered.
#[derive(Clone, Debug)]
pub struct RenderedObject {
    /// The object as rendered, with the annotations redress added for tracing removed.
    pub json: Value,
    /// The repository-relative file the object came from, when known (Kustomize origin
    /// annotation, Helm `# Source:` comment, the file itself for plain roots). For Helm it is
    /// the template file.
    pub file: Option<PathBuf>,
    /// 0-based document index inside `file`, for plain roots.
    pub document: Option<usize>,
}

/// The result of rendering one root.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The objects, in output order.
    pub objects: Vec<RenderedObject>,
    /// Repository-relative files the root reads (an edit to any of them means a re-render).
    pub inputs: Vec<PathBuf>,
    /// Problems that did not stop the render (a plain file with a broken document, named
    /// with file, document and line).
    pub problems: Vec<String>,
}

/// Why a repository could not be opened or a root could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The repository could not be opened, cloned or fetched.
    #[error("repository {location}: {reason}")]
    Repository { location: String, reason: String },
    /// A path leaves the repository (`..` or a symlink pointing outside).
    #[error("{path}: leaves the repository, not followed")]
    OutsideRepository { path: String },
    /// A binary redress renders with is missing or does not run.
    #[error("{tool} not found or not runnable ({reason}); install it or set {env}")]
    MissingTool {
        tool: &'static str,
        env: &'static str,
        reason: String,
    },
    /// A root failed to render.
    #[error("{root}: render failed: {reason}")]
    Render { root: String, reason: String },
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
