//! source, rendering: turns a render root into the objects it produces.
//!
//! Takes a work tree (the repository's, or a scratch copy with the same layout) and a
//! [`RenderRoot`]; gives the rendered objects, each with the repository-relative file it came
//! from. Plain folders are read with the inventory's file reader; Kustomize roots run
//! `kubectl kustomize` through a wrapper kustomization in a temporary folder that asks for
//! origin annotations; Helm roots run `helm template`. Results are cached by the content of
//! every file a root reads, so a scratch copy with the same content is not rendered twice.
//! It never writes into the work tree, never reads outside it, never follows a remote
//! reference (no network), and stops a tool after 60 seconds.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::repo::{list, normalize, path_between, resolve_in, walk};
use super::roots::{kustomization_file, parse_kustomization};
use super::{RenderRoot, Rendered, RenderedObject, RootKind, SourceError};
use crate::inventory::files;

/// How long one tool run may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The annotation kustomize writes the origin of each object into.
const ORIGIN: &str = "config.kubernetes.io/origin";

/// The binaries roots are rendered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tools {
    /// `helm` (4.x).
    pub helm: PathBuf,
    /// `kubectl` (with kustomize 5).
    pub kubectl: PathBuf,
}

impl Tools {
    /// Finds each tool: the path in `REDRESS_HELM` / `REDRESS_KUBECTL`, else the copy in this
    /// crate's `.ci/bin` when it exists, else the name looked up on `PATH` (the bare name when
    /// not found: running it then fails with [`SourceError::MissingTool`]).
    pub fn find() -> Tools {
        Tools {
            helm: find_tool("helm", "REDRESS_HELM"),
            kubectl: find_tool("kubectl", "REDRESS_KUBECTL"),
        }
    }
}

fn find_tool(name: &str, env: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return PathBuf::from(path);
    }
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".ci")
        .join("bin")
        .join(name);
    if bundled.is_file() {
        return bundled;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Counters of a renderer's work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RenderStats {
    /// Renders actually run (cache misses).
    pub renders: usize,
    /// Renders answered from the cache.
    pub cache_hits: usize,
    /// Seconds spent rendering (cache misses only).
    pub seconds: f64,
}

/// Renders roots, caching results by content. Shareable between threads.
#[derive(Debug)]
pub struct Renderer {
    tools: Tools,
    rendered: Mutex<HashMap<[u8; 32], Arc<Rendered>>>,
    helm_with: Mutex<HashMap<[u8; 32], Arc<Vec<Value>>>>,
    renders: AtomicUsize,
    cache_hits: AtomicUsize,
    nanos: AtomicU64,
}

#[derive(Clone, Copy)]
enum Tool {
    Helm,
    Kubectl,
}

impl Renderer {
    /// A renderer that runs `tools`, with an empty cache.
    pub fn new(tools: Tools) -> Renderer {
        Renderer {
            tools,
            rendered: Mutex::default(),
            helm_with: Mutex::default(),
            renders: AtomicUsize::new(0),
            cache_hits: AtomicUsize::new(0),
            nanos: AtomicU64::new(0),
        }
    }

    /// Renders `root` as it is in `tree` (the repository work tree, or a scratch copy with the
    /// same layout). Files in the result are relative to `tree`.
    pub fn render(&self, tree: &Path, root: &RenderRoot) -> Result<Arc<Rendered>, SourceError> {
        let tree = fs_err::canonicalize(tree)?;
        // A kustomization's graph gives both its inputs and what the render must refuse.
        let graph = match &root.kind {
            RootKind::Kustomize => Some(kustomize_graph(&tree, &resolve_in(&tree, &root.path)?)?),
            _ => None,
        };
        let inputs = match &graph {
            Some(graph) => graph.files.iter().cloned().collect(),
            None => self.inputs(&tree, root)?,
        };
        let key = cache_key(&tree, root, &inputs, &[])?;
        if let Some(hit) = lock(&self.rendered).get(&key).cloned() {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        let started = Instant::now();
        let result = match (&root.kind, &graph) {
            (RootKind::Kustomize, Some(graph)) => self.render_kustomize(&tree, root, graph),
            (RootKind::Helm { .. }, _) => self.render_helm(&tree, root, &[]),
            _ => Ok(render_plain(&tree, &inputs)),
        };
        self.count(started);
        let (objects, problems) = result?;
        let rendered = Arc::new(Rendered {
            objects,
            inputs,
            problems,
        });
        lock(&self.rendered).insert(key, Arc::clone(&rendered));
        Ok(rendered)
    }

    /// Renders a Helm root with `extra` values layered last (differential rendering); cached
    /// like [`Renderer::render`]. Gives the rendered objects' JSON in output order.
    pub fn render_helm_with(
        &self,
        tree: &Path,
        root: &RenderRoot,
        extra: &[Value],
    ) -> Result<Vec<Value>, SourceError> {
        if !matches!(root.kind, RootKind::Helm { .. }) {
            return Err(SourceError::Render {
                root: root.label(),
                reason: "not a helm root".to_owned(),
            });
        }
        let tree = fs_err::canonicalize(tree)?;
        let inputs = self.inputs(&tree, root)?;
        let key = cache_key(&tree, root, &inputs, extra)?;
        if let Some(hit) = lock(&self.helm_with).get(&key).cloned() {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit.as_ref().clone());
        }
        let started = Instant::now();
        let result = self.render_helm(&tree, root, extra);
        self.count(started);
        let objects: Vec<Value> = result?.0.into_iter().map(|o| o.json).collect();
        lock(&self.helm_with).insert(key, Arc::new(objects.clone()));
        Ok(objects)
    }

    /// The files `root` reads in `tree`, relative to it, sorted; found without rendering.
    /// Kustomize: every file under the root folder and under every folder its kustomizations
    /// reach, plus the single files they name. Helm: every file of the chart and the values
    /// files. Plain: the folder's manifest files.
    fn inputs(&self, tree: &Path, root: &RenderRoot) -> Result<Vec<PathBuf>, SourceError> {
        let tree = fs_err::canonicalize(tree)?;
        let dir = resolve_in(&tree, &root.path)?;
        let mut inputs = BTreeSet::new();
        match &root.kind {
            RootKind::Plain => {
                let (entries, _) = list(&tree, &dir);
                for entry in entries.into_iter().filter(|e| !e.is_dir) {
                    if crate::inventory::files::is_manifest_name(&entry.path) {
                        inputs.insert(canonical_rel(&tree, &entry.path)?);
                    }
                }
            }
            RootKind::Kustomize => {
                inputs = kustomize_graph(&tree, &dir)?.files;
            }
            RootKind::Helm { values_files, .. } => {
                let (entries, problems) = walk(&tree, &dir, false);
                if let Some(problem) = problems.into_iter().next() {
                    return Err(SourceError::Render {
                        root: root.label(),
                        reason: problem,
                    });
                }
                for entry in entries.into_iter().filter(|e| !e.is_dir) {
                    inputs.insert(canonical_rel(&tree, &entry.path)?);
                }
                for values in values_files {
                    let path = resolve_in(&tree, values)?;
                    inputs.insert(canonical_rel(&tree, &path)?);
                }
            }
        }
        Ok(inputs.into_iter().collect())
    }

    /// What this renderer has done so far.
    pub fn stats(&self) -> RenderStats {
        RenderStats {
            renders: self.renders.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            seconds: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)).as_secs_f64(),
        }
    }

    fn count(&self, started: Instant) {
        self.renders.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    fn render_kustomize(
        &self,
        tree: &Path,
        root: &RenderRoot,
        graph: &Graph,
    ) -> Result<(Vec<RenderedObject>, Vec<String>), SourceError> {
        let fail = |reason: String| SourceError::Render {
            root: root.label(),
            reason,
        };
        let dir = resolve_in(tree, &root.path)?;
        if let Some(remote) = graph.remote.first() {
            return Err(fail(format!(
                "remote base {}, cannot render offline",
                super::repo::redact_url(remote)
            )));
        }
        // A wrapper kustomization outside the tree asks for origin annotations without
        // writing into the repository. kustomize refuses an absolute resource path, so the
        // wrapper names the root relative to itself.
        let scratch = scratch_dir("redress-kustomize-", tree, root)?;
        let wrapper = fs_err::canonicalize(scratch.path())?;
        let target = path_between(&wrapper, &dir);
        let kustomization = serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [target.to_string_lossy()],
            "buildMetadata": ["originAnnotations"],
        });
        fs_err::write(
            wrapper.join("kustomization.yaml"),
            kustomization.to_string(),
        )?;
        // A root that reaches files outside its folder renders as Flux renders it: without
        // kustomize's load restrictions. The graph above already checked that every file it
        // reads lies inside the tree.
        let args: Vec<OsString> = vec![
            "kustomize".into(),
            wrapper.clone().into(),
            "--load-restrictor".into(),
            "LoadRestrictionsNone".into(),
        ];
        let output = self.run(Tool::Kubectl, &args, &wrapper, root);
        // kubectl names files by the wrapper's way to them: name them from the tree instead.
        let output = output.map_err(|error| match error {
            SourceError::Render {
                root: label,
                reason,
            } => {
                let shown = if root.path.as_os_str().is_empty() {
                    ".".to_owned()
                } else {
                    root.path.display().to_string()
                };
                let reason = reason
                    .replace(&*target.to_string_lossy(), &shown)
                    .replace(&format!("{}/", tree.display()), "");
                SourceError::Render {
                    root: label,
                    reason,
                }
            }
            other => other,
        })?;
        let mut objects = Vec::new();
        let mut problems = Vec::new();
        for (mut json, _) in parse_stream(&output, &root.label(), &mut problems) {
            let file = take_origin(&mut json).and_then(|origin| {
                let abs = normalize(&wrapper.join(origin));
                abs.strip_prefix(tree).ok().map(Path::to_path_buf)
            });
            objects.push(RenderedObject {
                json,
                file,
                document: None,
            });
        }
        Ok((objects, problems))
    }

    fn render_helm(
        &self,
        tree: &Path,
        root: &RenderRoot,
        extra: &[Value],
    ) -> Result<(Vec<RenderedObject>, Vec<String>), SourceError> {
        let RootKind::Helm {
            release,
            namespace,
            values_files,
            inline_values,
        } = &root.kind
        else {
            return Err(SourceError::Render {
                root: root.label(),
                reason: "not a helm root".to_owned(),
            });
        };
        let chart = resolve_in(tree, &root.path)?;
        let scratch = scratch_dir("redress-helm-", tree, root)?;
        // Test hooks are not deployed by Argo CD or Flux (and their names are often random).
        let mut args: Vec<OsString> = vec![
            "template".into(),
            release.into(),
            chart.clone().into(),
            "--skip-tests".into(),
        ];
        if let Some(namespace) = namespace {
            args.push("--namespace".into());
            args.push(namespace.into());
        }
        for values in values_files {
            args.push("-f".into());
            args.push(resolve_in(tree, values)?.into());
        }
        for (index, values) in inline_values.iter().chain(extra).enumerate() {
            // JSON is YAML: helm reads it as a values file.
            let path = scratch.path().join(format!("values-{index}.yaml"));
            fs_err::write(&path, values.to_string())?;
            args.push("-f".into());
            args.push(path.into());
        }
        let output = self.run(Tool::Helm, &args, scratch.path(), root)?;
        let mut problems = Vec::new();
        let objects = parse_stream(&output, &root.label(), &mut problems)
            .into_iter()
            .map(|(json, source)| RenderedObject {
                json,
                file: source.and_then(|s| {
                    // `# Source: <chart name>/templates/x.yaml`, sub-charts under
                    // `<chart name>/charts/<sub>/templates/...`; none for a template inside
                    // a packaged (`.tgz`) sub-chart.
                    let (_, inside) = s.split_once('/')?;
                    let file = normalize(&root.path.join(inside));
                    tree.join(&file).is_file().then_some(file)
                }),
                document: None,
            })
            .collect();
        Ok((objects, problems))
    }

    /// Runs a tool in `cwd` (outside the tree) and gives its standard output.
    fn run(
        &self,
        tool: Tool,
        args: &[OsString],
        cwd: &Path,
        root: &RenderRoot,
    ) -> Result<String, SourceError> {
        let (path, name, env) = match tool {
            Tool::Helm => (&self.tools.helm, "helm", "REDRESS_HELM"),
            Tool::Kubectl => (&self.tools.kubectl, "kubectl", "REDRESS_KUBECTL"),
        };
        let fail = |reason: String| SourceError::Render {
            root: root.label(),
            reason,
        };
        let mut child = Command::new(path)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| SourceError::MissingTool {
                tool: name,
                env,
                reason: format!("{}: {error}", path.display()),
            })?;
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    // Best effort: the child may have exited just now.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(fail(format!(
                        "{name} did not finish within {} s",
                        TIMEOUT.as_secs()
                    )));
                }
                Err(error) => return Err(fail(format!("{name}: {error}"))),
            }
        };
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        if !status.success() {
            return Err(fail(first_lines(&String::from_utf8_lossy(&stderr))));
        }
        String::from_utf8(stdout)
            .map_err(|_| fail(format!("{name} printed text that is not UTF-8")))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error leaves what was read so far; the exit status tells the rest.
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// The first few non-blank lines of a tool's error output, trimmed, on one line.
fn first_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(5)
        .collect();
    if lines.is_empty() {
        "the tool failed without a message".to_owned()
    } else {
        lines.join("; ")
    }
}

/// A temporary folder that does not lie inside `tree`.
fn scratch_dir(
    prefix: &str,
    tree: &Path,
    root: &RenderRoot,
) -> Result<tempfile::TempDir, SourceError> {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
    let canonical = fs_err::canonicalize(dir.path())?;
    if canonical.starts_with(tree) {
        return Err(SourceError::Render {
            root: root.label(),
            reason: "the temporary folder lies inside the repository".to_owned(),
        });
    }
    Ok(dir)
}

/// Files and remote references a kustomization folder reaches.
struct Graph {
    files: BTreeSet<PathBuf>,
    remote: Vec<String>,
}

/// Follows kustomization references from `dir` (canonical, inside `tree`): every file under
/// each folder reached, plus single files named. A reference leaving the tree is an error.
fn kustomize_graph(tree: &Path, dir: &Path) -> Result<Graph, SourceError> {
    let mut graph = Graph {
        files: BTreeSet::new(),
        remote: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    let mut queue = vec![dir.to_path_buf()];
    while let Some(dir) = queue.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let (entries, _) = walk(tree, &dir, true);
        for entry in entries.into_iter().filter(|e| !e.is_dir) {
            graph.files.insert(canonical_rel(tree, &entry.path)?);
        }
        let Some(file) = kustomization_file(&dir) else {
            continue;
        };
        let text = fs_err::read_to_string(&file)?;
        // A kustomization that does not parse is kubectl's to report when it runs.
        let Ok(refs) = parse_kustomization(&text) else {
            continue;
        };
        graph.remote.extend(refs.remote);
        for local in refs.local {
            let rel_dir = dir.strip_prefix(tree).unwrap_or(Path::new(""));
            let path = match resolve_in(tree, &rel_dir.join(&local)) {
                Ok(path) => path,
                // Missing: kubectl names it when it runs.
                Err(SourceError::Io(_)) => continue,
                Err(error) => return Err(error),
            };
            if path.is_dir() {
                queue.push(path);
            } else {
                graph.files.insert(canonical_rel(tree, &path)?);
            }
        }
    }
    Ok(graph)
}

fn canonical_rel(tree: &Path, path: &Path) -> Result<PathBuf, SourceError> {
    let canonical = fs_err::canonicalize(path)?;
    canonical
        .strip_prefix(tree)
        .map(Path::to_path_buf)
        .map_err(|_| SourceError::OutsideRepository {
            path: path.display().to_string(),
        })
}

/// The cache key: the root's spec, every input's relative path and content, and the extra
/// values.
fn cache_key(
    tree: &Path,
    root: &RenderRoot,
    inputs: &[PathBuf],
    extra: &[Value],
) -> Result<[u8; 32], SourceError> {
    let mut hasher = Sha256::new();
    let spec = serde_json::to_vec(root).unwrap_or_default();
    hasher.update(spec.len().to_le_bytes());
    hasher.update(&spec);
    for input in inputs {
        let name = input.to_string_lossy();
        let content = fs_err::read(tree.join(input))?;
        hasher.update(name.len().to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(content.len().to_le_bytes());
        hasher.update(&content);
    }
    for value in extra {
        let bytes = value.to_string();
        hasher.update(bytes.len().to_le_bytes());
        hasher.update(bytes.as_bytes());
    }
    Ok(hasher.finalize().into())
}

/// Reads a plain folder's manifest files with the inventory's reader.
fn render_plain(tree: &Path, inputs: &[PathBuf]) -> (Vec<RenderedObject>, Vec<String>) {
    let mut objects = Vec::new();
    let mut problems = Vec::new();
    for rel in inputs {
        let inventory = files::read_file(&tree.join(rel), files::Limits::default());
        for object in inventory.objects {
            let document = match object.origin {
                // The inventory counts documents from 1.
                crate::model::Origin::File { document, .. } => Some(document.saturating_sub(1)),
                _ => None,
            };
            objects.push(RenderedObject {
                json: Arc::unwrap_or_clone(object.json),
                file: Some(rel.clone()),
                document,
            });
        }
        for mut error in inventory.errors {
            error.file.clone_from(rel);
            problems.push(error.to_string());
        }
    }
    (objects, problems)
}

/// Parses a tool's multi-document output: each Kubernetes object with the path of its
/// `# Source:` comment, when it has one. A document that does not parse is a problem.
fn parse_stream(
    text: &str,
    label: &str,
    problems: &mut Vec<String>,
) -> Vec<(Value, Option<String>)> {
    let mut out = Vec::new();
    for doc in files::split_documents(text) {
        if doc.is_empty {
            continue;
        }
        let source = doc
            .text
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .map(|s| s.trim().to_owned());
        match files::parse_yaml_document(doc.text, files::Limits::default()) {
            // Only documents with an identity: every later stage indexes the objects of a
            // render and the objects built from them alike.
            Ok(value) if crate::model::object_ref(&value).is_some() => {
                out.push((value, source));
            }
            Ok(value) if value.get("apiVersion").is_some() || value.get("kind").is_some() => {
                problems.push(format!(
                    "{label}: output document {} (line {}): apiVersion and kind must be \
                     non-empty strings; the document is skipped",
                    doc.index, doc.line
                ));
            }
            Ok(_) => {}
            Err((message, line)) => problems.push(format!(
                "{label}: output document {} (line {}): {message}",
                doc.index,
                line.map_or(doc.line, |l| doc.line + l - 1)
            )),
        }
    }
    out
}

/// Removes kustomize's origin annotation (and an annotations map it leaves empty) and gives
/// the path it names: `path` for a resource, `configuredIn` for a generated object; none for
/// a remote origin.
fn take_origin(json: &mut Value) -> Option<String> {
    let metadata = json.get_mut("metadata")?.as_object_mut()?;
    let annotations = metadata.get_mut("annotations")?.as_object_mut()?;
    let origin = annotations.remove(ORIGIN)?;
    if annotations.is_empty() {
        metadata.remove("annotations");
    }
    let origin = files::parse_yaml_document(origin.as_str()?, files::Limits::default()).ok()?;
    if origin.get("repo").is_some() {
        return None;
    }
    origin
        .get("path")
        .or_else(|| origin.get("configuredIn"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }

    #[test]
    fn origin_annotation_is_taken_and_emptied_map_removed() {
        let mut json = serde_json::json!({
            "metadata": {"name": "a", "annotations": {ORIGIN: "path: ../x/a.yaml\n"}}
        });
        assert_eq!(take_origin(&mut json).as_deref(), Some("../x/a.yaml"));
        assert_eq!(json, serde_json::json!({"metadata": {"name": "a"}}));
        let mut generated = serde_json::json!({
            "metadata": {"annotations": {"keep": "1", ORIGIN: "configuredIn: k/kustomization.yaml\nconfiguredBy:\n  kind: ConfigMapGenerator\n"}}
        });
        assert_eq!(
            take_origin(&mut generated).as_deref(),
            Some("k/kustomization.yaml")
        );
        assert_eq!(
            generated["metadata"]["annotations"],
            serde_json::json!({"keep": "1"})
        );
        let mut remote = serde_json::json!({
            "metadata": {"annotations": {ORIGIN: "path: a.yaml\nrepo: https://example.com/r\nref: v1\n"}}
        });
        assert_eq!(take_origin(&mut remote), None);
    }

    #[test]
    fn plain_folder_reads_documents_and_reports_broken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let tree = fs_err::canonicalize(dir.path()).unwrap();
        write(
            &tree,
            "p/a.yaml",
            "name: not-kubernetes\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Pod\nmetadata: [broken\n",
        );
        write(
            &tree,
            "p/sub/b.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: nested}\n",
        );
        let renderer = Renderer::new(Tools {
            helm: "/nonexistent/helm".into(),
            kubectl: "/nonexistent/kubectl".into(),
        });
        let root = RenderRoot {
            path: "p".into(),
            kind: RootKind::Plain,
        };
        let rendered = renderer.render(&tree, &root).unwrap();
        assert_eq!(rendered.objects.len(), 1, "sub-folders are their own roots");
        assert_eq!(
            rendered.objects[0].file.as_deref(),
            Some(Path::new("p/a.yaml"))
        );
        assert_eq!(rendered.objects[0].document, Some(1));
        assert_eq!(rendered.problems.len(), 1);
        assert!(
            rendered.problems[0].starts_with("p/a.yaml:")
                && rendered.problems[0].contains("document 3"),
            "{:?}",
            rendered.problems
        );
        assert_eq!(rendered.inputs, vec![PathBuf::from("p/a.yaml")]);
    }

    #[test]
    fn renderer_is_shareable_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Renderer>();
    }

    #[test]
    fn kustomize_files_beside_the_root_render_without_load_restrictions() {
        let dir = tempfile::tempdir().unwrap();
        let tree = fs_err::canonicalize(dir.path()).unwrap();
        write(
            &tree,
            "shared/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        write(
            &tree,
            "app/kustomization.yaml",
            "resources: [../shared/cm.yaml]\n",
        );
        let renderer = Renderer::new(Tools::find());
        let root = RenderRoot {
            path: "app".into(),
            kind: RootKind::Kustomize,
        };
        let rendered = renderer.render(&tree, &root).unwrap();
        assert_eq!(rendered.objects.len(), 1);
        assert_eq!(
            rendered.objects[0].file.as_deref(),
            Some(Path::new("shared/cm.yaml"))
        );
        assert_eq!(
            rendered.inputs,
            vec![
                PathBuf::from("app/kustomization.yaml"),
                PathBuf::from("shared/cm.yaml")
            ]
        );
    }

    #[test]
    fn kustomize_reference_leaving_the_tree_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        write(
            outside.path(),
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        let dir = tempfile::tempdir().unwrap();
        let tree = fs_err::canonicalize(dir.path()).unwrap();
        let escape = super::super::repo::path_between(
            &tree.join("app"),
            &fs_err::canonicalize(outside.path())
                .unwrap()
                .join("cm.yaml"),
        );
        write(
            &tree,
            "app/kustomization.yaml",
            &format!("resources: [{}]\n", escape.display()),
        );
        let renderer = Renderer::new(Tools {
            helm: "/nonexistent/helm".into(),
            kubectl: "/nonexistent/kubectl".into(),
        });
        let root = RenderRoot {
            path: "app".into(),
            kind: RootKind::Kustomize,
        };
        let error = renderer.render(&tree, &root).unwrap_err();
        assert!(
            matches!(error, SourceError::OutsideRepository { .. }),
            "{error}"
        );
    }

    #[test]
    fn kustomize_output_equals_plain_kubectl_but_for_the_origin() {
        let dir = tempfile::tempdir().unwrap();
        let tree = fs_err::canonicalize(dir.path()).unwrap();
        write(
            &tree,
            "base/kustomization.yaml",
            "resources: [cm.yaml]\nconfigMapGenerator:\n- name: gen\n  literals: [a=b]\n",
        );
        write(
            &tree,
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations: {keep: \"yes\"}\n",
        );
        write(
            &tree,
            "app/kustomization.yaml",
            "resources: [../base]\nnamePrefix: app-\n",
        );
        let tools = Tools::find();
        let renderer = Renderer::new(tools.clone());
        let root = RenderRoot {
            path: "app".into(),
            kind: RootKind::Kustomize,
        };
        let rendered = renderer.render(&tree, &root).unwrap();
        let plain = Command::new(&tools.kubectl)
            .arg("kustomize")
            .arg(tree.join("app"))
            .output()
            .unwrap();
        assert!(plain.status.success());
        let mut problems = Vec::new();
        let expected: Vec<Value> = parse_stream(
            &String::from_utf8(plain.stdout).unwrap(),
            "t",
            &mut problems,
        )
        .into_iter()
        .map(|(v, _)| v)
        .collect();
        let got: Vec<Value> = rendered.objects.iter().map(|o| o.json.clone()).collect();
        assert_eq!(got, expected);
        let files: Vec<_> = rendered.objects.iter().map(|o| o.file.clone()).collect();
        assert!(
            files.contains(&Some(PathBuf::from("base/cm.yaml"))),
            "{files:?}"
        );
        assert!(
            files.contains(&Some(PathBuf::from("base/kustomization.yaml"))),
            "the generated ConfigMap points at its kustomization: {files:?}"
        );
        assert!(!tree.join("app/kustomization.yaml.bak").exists());
    }
}
