//! locate: from a live finding to the place in Git a person would edit.
//!
//! Takes findings on live objects, the repository's rendered objects and tracking metadata
//! (Argo CD, Flux), and gives each finding a classification (`source-fix`, `live-drift`,
//! `unmanaged`, `git-only`) and, for source fixes, the edit sites to try, most specific first:
//! the Kustomize patch that sets the field, the base document, the Helm values key found by
//! differential rendering, a Flux HelmRelease's or Argo CD Application's inline values.

pub mod helm;
pub mod kustomize;
pub mod template;
pub mod tracking;

use std::path::PathBuf;

use serde::Serialize;

use crate::patch::Seg;

/// The kind of place an edit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SiteKind {
    /// A document in a folder of plain manifests.
    PlainDocument,
    /// The resource document a Kustomize root builds from.
    KustomizeBase,
    /// A strategic-merge patch of a Kustomize root or overlay.
    KustomizePatch,
    /// A JSON 6902 patch of a Kustomize root or overlay.
    KustomizeJson6902,
    /// A key of a Helm chart's values file.
    HelmValues,
    /// A key under a Flux HelmRelease's `spec.values`.
    FluxHelmReleaseValues,
    /// A key of an Argo CD Application's Helm values.
    ArgoHelmValues,
    /// A chart template that writes the field literally (no values key reaches it).
    HelmTemplate,
}

impl SiteKind {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::PlainDocument => "plain-document",
            SiteKind::KustomizeBase => "kustomize-base",
            SiteKind::KustomizePatch => "kustomize-patch",
            SiteKind::KustomizeJson6902 => "kustomize-json6902",
            SiteKind::HelmValues => "helm-values",
            SiteKind::FluxHelmReleaseValues => "flux-helmrelease-values",
            SiteKind::ArgoHelmValues => "argo-helm-values",
            SiteKind::HelmTemplate => "helm-template",
        }
    }
}

impl Serialize for SiteKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A place in a source file where the part of a rendered object at `rendered_base` is
/// written at `base`: an edit at `rendered_base + REST` in the rendered object becomes an
/// edit at `base + REST` in document `document` of `file`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct EditSite {
    /// What kind of place this is.
    pub kind: SiteKind,
    /// Repository-relative file.
    pub file: PathBuf,
    /// 0-based document index in `file`.
    pub document: usize,
    /// JSON pointer into the rendered object that this site writes.
    pub rendered_base: String,
    /// The path in the document that corresponds to `rendered_base`.
    pub base: Vec<Seg>,
}
