//! locate/kustomize: the edit sites of a field of an object a Kustomize root rendered.
//!
//! Takes the repository folder, the root's folder, the rendered object, the file it came
//! from (kustomize's `config.kubernetes.io/origin`) and a field (a JSON pointer), and gives
//! the places a person would edit, most specific first: the patches that set the field, the
//! last applied first, then the base document.
//!
//! How: the kustomizations from the root down to the one that lists the origin file
//! (through `resources`, `bases` and `components`) make the chain. Patches of the chain apply
//! inner first; within one kustomization its components first, then
//! `patchesStrategicMerge`, `patches` and `patchesJson6902` in listed order (kustomize's own
//! order). A patch applies when its `target` selects the object (or, for a strategic-merge
//! document without target, when its group, kind and name are the object's) by the name
//! and namespace in the origin file, after the inner kustomizations' prefixes, suffixes and
//! namespaces, or as rendered.
//!
//! A patch is a site only when it holds the field itself, or replaces a node above it whole:
//! a `$patch: replace` map, a list that strategic merge replaces (no merge key), the `value`
//! of a JSON 6902 `add` or `replace` at the field or above it. A patch that only mentions the
//! parent of a missing field is not a site: a missing field goes to the base document, at its
//! deepest existing ancestor, so the editor creates the rest. Inline patches in a
//! kustomization file, JSON 6902 `remove`, `copy` and `move` operations, and patch files or
//! components that cannot be read are reported in `skipped`, never returned as sites.
//!
//! Reads files under `tree` only: a reference that leaves the repository (`..` above its
//! top, an absolute path, a symbolic link pointing outside) is not followed, and remote
//! resources are ignored. Writes nothing.

mod select;
mod walk;

use std::path::{Path, PathBuf};

use serde_json::Value;

use self::select::{Ident, document_names, group_version, target_selects};
use self::walk::{Mode, json6902_prefix, pointer, walk};
use super::{EditSite, SiteKind};
use crate::inventory::files::{Limits, parse_yaml_document, split_documents};
use crate::model::pointer_segments;
use crate::patch::Seg;

/// The names kustomize looks for in a kustomization folder, in its order.
/// How deep kustomizations may nest before the search gives up (a guard against cycles).
const MAX_DEPTH: usize = 64;

/// The edit sites of one field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KustomizeSites {
    /// The patches that set the field (the last applied first), then the base document.
    pub sites: Vec<EditSite>,
    /// Why a patch that sets the field is not a site (an inline patch in a kustomization
    /// file, a JSON 6902 operation that removes the field), the last applied first.
    pub skipped: Vec<String>,
}

/// Why the sites of a field could not be found.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// A path given is not repository-relative.
    #[error("{}: not a path inside the repository", path.display())]
    NotRelative { path: PathBuf },
    /// A kustomization folder has no kustomization file.
    #[error("{}: no kustomization.yaml, kustomization.yml or Kustomization", dir.display())]
    NoKustomization { dir: PathBuf },
    /// A reference that would have been followed leaves the repository.
    #[error("{}: {reference} leaves the repository, not followed", kustomization.display())]
    OutsideRepository {
        kustomization: PathBuf,
        reference: String,
    },
    /// No kustomization reachable from the root lists the origin file.
    #[error("{}: not a resource of the kustomization in {}", origin.display(), root.display())]
    NotInRoot { origin: PathBuf, root: PathBuf },
    /// A file could not be read.
    #[error("{}: {reason}", file.display())]
    Read { file: PathBuf, reason: String },
    /// A document of a file is not valid YAML.
    #[error("{}:{line}: {reason}", file.display())]
    Parse {
        file: PathBuf,
        line: usize,
        reason: String,
    },
    /// The origin file has no document that is the object.
    #[error("{}: no document is {kind} {name}", origin.display())]
    NoBaseDocument {
        origin: PathBuf,
        kind: String,
        name: String,
    },
}

/// The site of an object from a plain folder: document `document` of `file`, the whole
/// document (`rendered_base` "" and `base` empty).
pub fn plain_site(file: &Path, document: usize) -> EditSite {
    EditSite {
        kind: SiteKind::PlainDocument,
        file: file.to_path_buf(),
        document,
        rendered_base: String::new(),
        base: Vec::new(),
    }
}

/// Edit sites for `field` (a JSON pointer into `object`, the rendered object) of an object
/// that the kustomize root `root_dir` (repository-relative folder) rendered. `origin` is the
/// repository-relative file the object came from (kustomize's `config.kubernetes.io/origin`
/// annotation, already parsed and removed from the object). `tree` is the repository folder
/// on disk. Gives the patches that set the field (the last applied first), then the base
/// document.
pub fn sites(
    tree: &Path,
    root_dir: &Path,
    object: &Value,
    origin: &Path,
    field: &str,
) -> Result<KustomizeSites, KustomizeError> {
    let root_dir = normalize(root_dir).ok_or_else(|| KustomizeError::NotRelative {
        path: root_dir.to_path_buf(),
    })?;
    let origin = normalize(origin).ok_or_else(|| KustomizeError::NotRelative {
        path: origin.to_path_buf(),
    })?;
    let repo = Repo::new(tree);
    let chain = find_chain(&repo, &root_dir, &origin)?;
    let base = base_document(&repo, &origin, object)?;
    let segments = pointer_segments(field);

    let mut hits = Vec::new();
    for step in application_order(&repo, &chain, object, &base.value) {
        match step {
            Step::Patch(patch) => {
                evaluate(&repo, &patch, object, &base.value, &segments, &mut hits)
            }
            Step::Unread(reason) => hits.push(Hit::Skipped(reason)),
        }
    }
    let mut found = KustomizeSites::default();
    for hit in hits.into_iter().rev() {
        match hit {
            Hit::Site(site) => found.sites.push(site),
            Hit::Skipped(reason) => found.skipped.push(reason),
        }
    }
    let mapped = walk(Some(object), &base.value, &segments, Mode::Document, None);
    let mut path = base.prefix.clone();
    path.extend(mapped.path);
    found.sites.push(EditSite {
        kind: SiteKind::KustomizeBase,
        file: origin,
        document: base.document,
        rendered_base: pointer(&segments[..mapped.len]),
        base: path,
    });
    Ok(found)
}

/// The repository on disk, for reading files without leaving it.
struct Repo<'a> {
    tree: &'a Path,
    canonical: Option<PathBuf>,
}

impl<'a> Repo<'a> {
    fn new(tree: &'a Path) -> Repo<'a> {
        Repo {
            tree,
            canonical: fs_err::canonicalize(tree).ok(),
        }
    }

    /// The repository-relative path of `reference` written in folder `dir`, or `None` when it
    /// leaves the repository (lexically or through a symbolic link).
    fn resolve(&self, dir: &Path, reference: &str) -> Option<PathBuf> {
        let reference = Path::new(reference);
        if reference.is_absolute() {
            return None;
        }
        let rel = normalize(&dir.join(reference))?;
        if let (Some(top), Ok(real)) = (&self.canonical, fs_err::canonicalize(self.tree.join(&rel)))
            && !real.starts_with(top)
        {
            return None;
        }
        Some(rel)
    }

    fn is_dir(&self, rel: &Path) -> bool {
        self.tree.join(rel).is_dir()
    }

    fn is_file(&self, rel: &Path) -> bool {
        self.tree.join(rel).is_file()
    }

    fn read(&self, rel: &Path) -> Result<String, KustomizeError> {
        fs_err::read_to_string(self.tree.join(rel)).map_err(|error| KustomizeError::Read {
            file: rel.to_path_buf(),
            reason: match error.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_owned(),
                _ => error.to_string(),
            },
        })
    }
}

/// Removes `.` and resolves `..` lexically; `None` for absolute paths and paths that climb
/// above their start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let out = crate::source::repo::normalize(path);
    (!out.has_root() && !out.starts_with("..")).then_some(out)
}

/// The documents of a YAML text: 0-based index (counting every `---`-separated document)
/// and value; empty documents left out.
fn documents(file: &Path, text: &str) -> Result<Vec<(usize, Value)>, KustomizeError> {
    let mut out = Vec::new();
    for doc in split_documents(text) {
        if doc.is_empty {
            continue;
        }
        let value =
            parse_yaml_document(doc.text, Limits::default()).map_err(|(reason, line)| {
                KustomizeError::Parse {
                    file: file.to_path_buf(),
                    line: line.map_or(doc.line, |l| doc.line + l - 1),
                    reason,
                }
            })?;
        if !value.is_null() {
            out.push((doc.index.saturating_sub(1), value));
        }
    }
    Ok(out)
}

/// One kustomization folder and its file.
#[derive(Clone, Debug)]
struct Kustomization {
    dir: PathBuf,
    file: PathBuf,
    doc: Value,
}

impl Kustomization {
    fn read(repo: &Repo<'_>, dir: &Path) -> Result<Kustomization, KustomizeError> {
        let Some(file) = crate::source::roots::KUSTOMIZATION_NAMES
            .iter()
            .map(|name| dir.join(name))
            .find(|file| repo.is_file(file))
        else {
            return Err(KustomizeError::NoKustomization {
                dir: dir.to_path_buf(),
            });
        };
        let text = repo.read(&file)?;
        let doc = documents(&file, &text)?
            .into_iter()
            .next()
            .map_or(Value::Null, |(_, doc)| doc);
        Ok(Kustomization {
            dir: dir.to_path_buf(),
            file,
            doc,
        })
    }

    fn list(&self, key: &str) -> &[Value] {
        self.doc
            .get(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.doc
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// How a kustomization of the chain reaches the next, inner step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// It lists the origin file itself.
    Listed,
    /// Through a `resources` (or `bases`) folder.
    Resource,
    /// Through its component at this index of `components`.
    Component(usize),
}

/// A kustomization of the chain from the root to the origin file.
#[derive(Debug)]
struct Level {
    kustomization: Kustomization,
    via: Via,
}

struct ChainSearch<'r, 'a> {
    repo: &'r Repo<'a>,
    origin: &'r Path,
    refused: Vec<(PathBuf, String)>,
    visiting: Vec<PathBuf>,
}

/// The kustomizations from the root down to the one that lists `origin`, root first.
fn find_chain(repo: &Repo<'_>, root: &Path, origin: &Path) -> Result<Vec<Level>, KustomizeError> {
    let mut search = ChainSearch {
        repo,
        origin,
        refused: Vec::new(),
        visiting: Vec::new(),
    };
    if let Some(chain) = search.find(root)? {
        return Ok(chain);
    }
    match search.refused.into_iter().next() {
        Some((kustomization, reference)) => Err(KustomizeError::OutsideRepository {
            kustomization,
            reference,
        }),
        None => Err(KustomizeError::NotInRoot {
            origin: origin.to_path_buf(),
            root: root.to_path_buf(),
        }),
    }
}

impl ChainSearch<'_, '_> {
    fn find(&mut self, dir: &Path) -> Result<Option<Vec<Level>>, KustomizeError> {
        if self.visiting.len() > MAX_DEPTH || self.visiting.iter().any(|d| d == dir) {
            return Ok(None);
        }
        let kustomization = Kustomization::read(self.repo, dir)?;
        self.visiting.push(dir.to_path_buf());
        let found = self.find_in(&kustomization);
        self.visiting.pop();
        Ok(found?.map(|(via, mut inner)| {
            inner.insert(0, Level { kustomization, via });
            inner
        }))
    }

    fn find_in(&mut self, k: &Kustomization) -> Result<Option<(Via, Vec<Level>)>, KustomizeError> {
        let resources = k.list("resources").iter().chain(k.list("bases"));
        let components = k.list("components").iter().enumerate();
        let entries = resources
            .map(|entry| (None, entry))
            .chain(components.map(|(at, entry)| (Some(at), entry)));
        for (component, entry) in entries {
            let Some(reference) = entry.as_str() else {
                continue;
            };
            if crate::source::roots::is_remote(reference) {
                continue;
            }
            let Some(rel) = self.repo.resolve(&k.dir, reference) else {
                self.refused.push((k.file.clone(), reference.to_owned()));
                continue;
            };
            if component.is_none() && rel == self.origin {
                return Ok(Some((Via::Listed, Vec::new())));
            }
            if self.repo.is_dir(&rel)
                && let Some(inner) = self.find(&rel)?
            {
                let via = component.map_or(Via::Resource, Via::Component);
                return Ok(Some((via, inner)));
            }
        }
        Ok(None)
    }
}

/// The list a patch is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum List {
    StrategicMerge,
    Patches,
    Json6902,
}

impl List {
    fn key(self) -> &'static str {
        match self {
            List::StrategicMerge => "patchesStrategicMerge",
            List::Patches => "patches",
            List::Json6902 => "patchesJson6902",
        }
    }
}

/// One patch entry of a kustomization, with the object's identity when it applies.
struct PatchRef {
    kustomization: PathBuf,
    dir: PathBuf,
    list: List,
    index: usize,
    entry: Value,
    ident: Ident,
}

/// The object's identity as a patch sees it: the origin document's name and namespace, the
/// current ones (after inner transformations), the rendered ones.
fn ident(object: &Value, base: &Value, name: &str, namespace: &str) -> Ident {
    let text = |doc: &Value, ptr: &str| {
        doc.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let api_version = text(object, "/apiVersion");
    let (group, version) = group_version(&api_version);
    let mut names = vec![text(base, "/metadata/name"), name.to_owned()];
    names.push(text(object, "/metadata/name"));
    let mut namespaces = vec![
        text(base, "/metadata/namespace"),
        namespace.to_owned(),
        text(object, "/metadata/namespace"),
    ];
    for ns in &mut namespaces {
        if ns.is_empty() {
            "default".clone_into(ns);
        }
    }
    names.dedup();
    namespaces.dedup();
    let maps = |key: &str| {
        [base, object]
            .iter()
            .filter_map(|doc| {
                doc.pointer(&format!("/metadata/{key}"))?
                    .as_object()
                    .cloned()
            })
            .collect()
    };
    Ident {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: text(object, "/kind"),
        names,
        namespaces,
        labels: maps("labels"),
        annotations: maps("annotations"),
    }
}

/// A step of the application order: a patch, or a component that could not be read (its
/// patches might set the field).
enum Step {
    Patch(Box<PatchRef>),
    Unread(String),
}

/// Every patch of the chain that may apply to the object, in the order kustomize applies
/// them.
fn application_order(repo: &Repo<'_>, chain: &[Level], object: &Value, base: &Value) -> Vec<Step> {
    let text = |ptr: &str| base.pointer(ptr).and_then(Value::as_str).unwrap_or("");
    let mut name = text("/metadata/name").to_owned();
    let mut namespace = text("/metadata/namespace").to_owned();
    let mut out = Vec::new();
    for level in chain.iter().rev() {
        let k = &level.kustomization;
        let before = ident(object, base, &name, &namespace);
        let components = k.list("components");
        let first = match level.via {
            Via::Component(at) => at + 1,
            Via::Listed | Via::Resource => 0,
        };
        for entry in components.iter().skip(first) {
            component_patches(repo, k, entry, &before, 0, &mut out);
        }
        own_patches(k, &[List::StrategicMerge, List::Patches], &before, &mut out);
        if let Some(ns) = k.text("namespace") {
            ns.clone_into(&mut namespace);
        }
        name = format!(
            "{}{name}{}",
            k.text("namePrefix").unwrap_or(""),
            k.text("nameSuffix").unwrap_or("")
        );
        let after = ident(object, base, &name, &namespace);
        own_patches(k, &[List::Json6902], &after, &mut out);
    }
    out
}

/// The patches of the component `entry` of `parent`, not on the chain: its own components
/// first.
fn component_patches(
    repo: &Repo<'_>,
    parent: &Kustomization,
    entry: &Value,
    ident: &Ident,
    depth: usize,
    out: &mut Vec<Step>,
) {
    let Some(reference) = entry.as_str() else {
        return;
    };
    if depth > MAX_DEPTH || crate::source::roots::is_remote(reference) {
        return;
    }
    let unread = |reason: String| {
        Step::Unread(format!(
            "{}: component {reference} {reason}; its patches may set the field",
            parent.file.display()
        ))
    };
    let Some(dir) = repo.resolve(&parent.dir, reference) else {
        out.push(unread("leaves the repository, not read".to_owned()));
        return;
    };
    let k = match Kustomization::read(repo, &dir) {
        Ok(k) => k,
        Err(error) => {
            out.push(unread(format!("not read ({error})")));
            return;
        }
    };
    for entry in k.list("components") {
        component_patches(repo, &k, entry, ident, depth + 1, out);
    }
    own_patches(
        &k,
        &[List::StrategicMerge, List::Patches, List::Json6902],
        ident,
        out,
    );
}

fn own_patches(k: &Kustomization, lists: &[List], ident: &Ident, out: &mut Vec<Step>) {
    for &list in lists {
        for (index, entry) in k.list(list.key()).iter().enumerate() {
            out.push(Step::Patch(Box::new(PatchRef {
                kustomization: k.file.clone(),
                dir: k.dir.clone(),
                list,
                index,
                entry: entry.clone(),
                ident: ident.clone(),
            })));
        }
    }
}

/// What a patch that sets the field gives.
enum Hit {
    Site(EditSite),
    Skipped(String),
}

/// Where a patch's text is.
enum Source {
    File(PathBuf),
    Inline,
}

/// Whether the patch sets the field; a hit is added to `hits`.
fn evaluate(
    repo: &Repo<'_>,
    patch: &PatchRef,
    object: &Value,
    base: &Value,
    segments: &[String],
    hits: &mut Vec<Hit>,
) {
    let label = format!(
        "{}: {}[{}]",
        patch.kustomization.display(),
        patch.list.key(),
        patch.index
    );
    let (source, text, target) = match (&patch.list, &patch.entry) {
        (List::StrategicMerge, Value::String(entry)) => {
            let looks_like_path = !entry.contains('\n') && !entry.contains(": ");
            match repo.resolve(&patch.dir, entry) {
                Some(rel) if looks_like_path && repo.is_file(&rel) => {
                    (Source::File(rel), None, None)
                }
                None if looks_like_path => {
                    hits.push(Hit::Skipped(format!(
                        "{label}: patch file {entry} leaves the repository, not read"
                    )));
                    return;
                }
                _ => (Source::Inline, Some(entry.clone()), None),
            }
        }
        (List::Patches | List::Json6902, Value::Object(map)) => {
            let target = map.get("target").filter(|t| t.is_object());
            if let Some(inline) = map.get("patch").and_then(Value::as_str) {
                (Source::Inline, Some(inline.to_owned()), target)
            } else if let Some(path) = map.get("path").and_then(Value::as_str) {
                match repo.resolve(&patch.dir, path) {
                    Some(rel) => (Source::File(rel), None, target),
                    None => {
                        if target.is_none_or(|t| target_selects(t, &patch.ident)) {
                            hits.push(Hit::Skipped(format!(
                                "{label}: patch file {path} leaves the repository, not read"
                            )));
                        }
                        return;
                    }
                }
            } else {
                return;
            }
        }
        _ => return,
    };
    if target.is_some_and(|t| !target_selects(t, &patch.ident)) {
        return;
    }
    let (file_label, docs) = match (&source, text) {
        (_, Some(inline)) => (label.clone(), documents(&patch.kustomization, &inline)),
        (Source::File(rel), None) => (
            rel.display().to_string(),
            repo.read(rel).and_then(|text| documents(rel, &text)),
        ),
        (Source::Inline, None) => return,
    };
    let docs = match docs {
        Ok(docs) => docs,
        Err(error) => {
            hits.push(Hit::Skipped(format!("{label}: patch not read: {error}")));
            return;
        }
    };
    let is_6902 = patch.list == List::Json6902
        || (patch.list == List::Patches && docs.first().is_some_and(|(_, d)| d.is_array()));
    let site = |kind: SiteKind, document: usize, len: usize, path: Vec<Seg>| match &source {
        Source::File(rel) => Hit::Site(EditSite {
            kind,
            file: rel.clone(),
            document,
            rendered_base: pointer(&segments[..len]),
            base: path,
        }),
        Source::Inline => Hit::Skipped(format!(
            "{label}: an inline patch sets {}; only patches in their own files are edited",
            pointer(segments)
        )),
    };
    if is_6902 {
        // A JSON 6902 patch without a target applies to nothing.
        if target.is_none() {
            return;
        }
        let Some((document, Value::Array(ops))) = docs.first() else {
            return;
        };
        for (at, op) in ops.iter().enumerate() {
            let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
            let Some(path) = op.get("path").and_then(Value::as_str) else {
                continue;
            };
            let op_path = pointer_segments(path);
            let value = op.get("value");
            if !json6902_prefix(&op_path, segments, object, base, value) {
                continue;
            }
            match (kind, value) {
                ("add" | "replace", Some(value)) => {
                    let rendered = crate::model::lookup(object, &pointer(&segments[..op_path.len()]));
                    let rest = &segments[op_path.len()..];
                    let mapped = walk(rendered, value, rest, Mode::Document, op_path.last().map(String::as_str));
                    let mut path = vec![Seg::Index(at), Seg::Key("value".to_owned())];
                    path.extend(mapped.path);
                    hits.push(site(SiteKind::KustomizeJson6902, *document, op_path.len() + mapped.len, path));
                }
                ("remove", _) => hits.push(Hit::Skipped(format!(
                    "{file_label}: JSON 6902 operation {at} (remove {path}) removes the field"
                ))),
                ("copy" | "move", _) => hits.push(Hit::Skipped(format!(
                    "{file_label}: JSON 6902 operation {at} ({kind} to {path}) sets the field from another one"
                ))),
                _ => {}
            }
        }
        return;
    }
    if is_identity(segments) {
        return;
    }
    for (document, doc) in &docs {
        if !doc.is_object() || (target.is_none() && !document_names(doc, &patch.ident)) {
            continue;
        }
        let mapped = walk(Some(object), doc, segments, Mode::StrategicMerge, None);
        if mapped.deleted || (mapped.len < segments.len() && !mapped.owner) {
            continue;
        }
        hits.push(site(
            SiteKind::KustomizePatch,
            *document,
            mapped.len,
            mapped.path,
        ));
    }
}

/// Fields a strategic-merge patch writes to say what it patches, not to set them.
fn is_identity(segments: &[String]) -> bool {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    matches!(
        s.as_slice(),
        [] | ["apiVersion"]
            | ["kind"]
            | ["metadata"]
            | ["metadata", "name"]
            | ["metadata", "namespace"]
    )
}

/// The document of the origin file that is the object.
struct BaseDocument {
    document: usize,
    /// The path of the object inside the document (`items/N` in a `List`).
    prefix: Vec<Seg>,
    value: Value,
}

/// Finds the object's document in `origin`: same group and kind, and a name that the
/// rendered name contains (kustomize adds prefixes, suffixes and hashes), the longest such
/// name, an exact one first, a matching namespace breaking ties.
fn base_document(
    repo: &Repo<'_>,
    origin: &Path,
    object: &Value,
) -> Result<BaseDocument, KustomizeError> {
    let text = repo.read(origin)?;
    let docs = documents(origin, &text)?;
    let get = |doc: &Value, ptr: &str| {
        doc.pointer(ptr)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let kind = get(object, "/kind");
    let name = get(object, "/metadata/name");
    let namespace = get(object, "/metadata/namespace");
    let api_version = get(object, "/apiVersion");
    let group = group_version(&api_version).0;

    let mut candidates = Vec::new();
    for (document, doc) in docs {
        let is_list = get(&doc, "/kind").ends_with("List");
        match doc
            .get("items")
            .and_then(Value::as_array)
            .filter(|_| is_list)
        {
            Some(items) => {
                for (at, item) in items.iter().enumerate() {
                    let prefix = vec![Seg::Key("items".to_owned()), Seg::Index(at)];
                    candidates.push((document, prefix, item.clone()));
                }
            }
            None => candidates.push((document, Vec::new(), doc)),
        }
    }
    let best = candidates
        .into_iter()
        .filter(|(_, _, doc)| {
            get(doc, "/kind") == kind && group_version(&get(doc, "/apiVersion")).0 == group
        })
        .filter_map(|(document, prefix, doc)| {
            let own = get(&doc, "/metadata/name");
            if !name.contains(own.as_str()) {
                return None;
            }
            let own_namespace = get(&doc, "/metadata/namespace");
            let score = (own == name, own.len(), own_namespace == namespace);
            Some((score, document, prefix, doc))
        })
        // The first of equally good documents wins; `max_by_key` keeps the last.
        .rev()
        .max_by_key(|candidate| candidate.0);
    match best {
        Some((_, document, prefix, value)) => Ok(BaseDocument {
            document,
            prefix,
            value,
        }),
        None => Err(KustomizeError::NoBaseDocument {
            origin: origin.to_path_buf(),
            kind,
            name,
        }),
    }
}

#[cfg(test)]
mod tests;
