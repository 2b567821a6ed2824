//! source, repositories: opens the repository a scan reads its sources from.
//!
//! Takes a location as the user wrote it (a local folder, or a remote URL) and an optional
//! revision; gives a [`Repository`] whose work tree is on disk. A local folder is used in
//! place (it need not be a Git repository); a remote URL, or a local repository asked for at
//! another revision, is fetched with git2 into a cache folder and checked out detached. Also
//! gives the walker the other source modules list files with: it never follows a symlink that
//! leaves the repository and never enters `.git`. Nothing here writes into a local folder the
//! user named, and no credential written inside a URL reaches an error message.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SourceError;

/// A repository whose work tree is on disk.
#[derive(Clone, Debug)]
pub struct Repository {
    /// The canonical work tree folder (for a local folder, the folder itself).
    pub root: PathBuf,
    /// The location as the user gave it (may hold credentials: never print it; see
    /// [`redact_url`]).
    pub location: String,
    /// The remote URL (the one given, or the local repository's `origin`), credentials removed.
    pub url: Option<String>,
    /// The checked-out commit id, when the work tree belongs to a Git repository.
    pub revision: Option<String>,
}

impl Repository {
    /// Opens `location`: a local folder in place, or a remote URL cloned (or fetched, when the
    /// cache already holds it) into `<cache>/repos/<hash>`. `rev` selects a branch, tag or
    /// commit; without it a remote's default branch is checked out and a local folder is used
    /// as it is.
    pub fn open(
        location: &str,
        rev: Option<&str>,
        cache: &Path,
    ) -> Result<Repository, SourceError> {
        let local = Path::new(location);
        if local.is_dir() || !is_url(location) {
            return open_local(location, rev, cache);
        }
        let work = fetch_into_cache(location, location, rev, cache)?;
        Ok(Repository {
            root: work.root,
            location: location.to_owned(),
            url: Some(redact_url(location)),
            revision: Some(work.commit),
        })
    }

    /// The canonical path of the repository-relative `rel`. A path that leaves the work tree
    /// (through `..` or a symlink) is refused; a missing one is an I/O error.
    pub fn resolve(&self, rel: &Path) -> Result<PathBuf, SourceError> {
        resolve_in(&self.root, rel)
    }
}

/// The canonical path of `rel` inside the canonical folder `root`, refused when it leaves
/// `root`.
pub fn resolve_in(root: &Path, rel: &Path) -> Result<PathBuf, SourceError> {
    let joined = root.join(rel);
    let outside = || SourceError::OutsideRepository {
        path: rel.display().to_string(),
    };
    // `..` that climbs out is refused before touching the disk.
    if !normalize(&joined).starts_with(root) {
        return Err(outside());
    }
    let canonical = fs_err::canonicalize(&joined)?;
    if canonical.starts_with(root) {
        Ok(canonical)
    } else {
        Err(outside())
    }
}

/// A folder name for `key` in a cache: 16 hex digits of its SHA-256.
pub(crate) fn short_hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The folder redress caches clones and renders in: `$REDRESS_CACHE`, else
/// `$XDG_CACHE_HOME/redress`, else `~/.cache/redress`, else one under the temporary folder.
pub fn default_cache() -> PathBuf {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = from_env("REDRESS_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = from_env("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("redress");
    }
    if let Some(home) = from_env("HOME") {
        return PathBuf::from(home).join(".cache").join("redress");
    }
    std::env::temp_dir().join("redress")
}

/// Whether `location` is a URL git understands rather than a local path: a scheme
/// (`https://`, `http://`, `git://`, `ssh://`, `file://`) or the scp form `user@host:path`.
pub fn is_url(location: &str) -> bool {
    const SCHEMES: [&str; 5] = ["https://", "http://", "git://", "ssh://", "file://"];
    if SCHEMES.iter().any(|s| location.starts_with(s)) {
        return true;
    }
    // user@host:path, with no slash before the colon.
    match (location.find('@'), location.find(':')) {
        (Some(at), Some(colon)) => at < colon && !location[..colon].contains('/'),
        _ => false,
    }
}

/// `url` without a `user:password@` (or token) part, safe to print.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// `message` with the credentials of `url` (its `user:password@` part) removed.
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let redacted = redact_url(url);
    let message = message.replace(url, &redacted);
    let Some(rest) = url.split_once("://").map(|(_, rest)| rest) else {
        return message;
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let mut message = message.replace(&format!("{userinfo}@"), "");
            if let Some((_, secret)) = userinfo.split_once(':')
                && !secret.is_empty()
            {
                message = message.replace(secret, "***");
            }
            message
        }
        None => message,
    }
}

/// `path` with `.` and `..` resolved without touching the disk.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The relative path that leads from folder `from` to `to` (both absolute).
pub fn path_between(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn open_local(location: &str, rev: Option<&str>, cache: &Path) -> Result<Repository, SourceError> {
    let fail = |reason: String| SourceError::Repository {
        location: redact_url(location),
        reason,
    };
    let root = fs_err::canonicalize(location).map_err(|e| fail(e.to_string()))?;
    if !root.is_dir() {
        return Err(fail("not a folder".to_owned()));
    }
    let git = git2::Repository::discover(&root).ok();
    let origin = git.as_ref().and_then(|g| {
        g.find_remote("origin")
            .ok()
            .and_then(|r| r.url().ok().map(redact_url))
    });
    let Some(rev) = rev else {
        let revision = git.as_ref().and_then(|g| {
            g.head()
                .ok()
                .and_then(|h| h.peel_to_commit().ok())
                .map(|c| c.id().to_string())
        });
        return Ok(Repository {
            root,
            location: location.to_owned(),
            url: origin,
            revision,
        });
    };
    let Some(git) = git else {
        return Err(fail(format!(
            "revision {rev} asked for, but this folder is not a Git repository"
        )));
    };
    let Some(workdir) = git.workdir() else {
        return Err(fail("a bare repository has no work tree".to_owned()));
    };
    let top = fs_err::canonicalize(workdir).map_err(|e| fail(e.to_string()))?;
    let sub = root
        .strip_prefix(&top)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let source = top.to_string_lossy().into_owned();
    let work = fetch_into_cache(&source, location, Some(rev), cache)?;
    let root = work.root.join(&sub);
    if !root.is_dir() {
        return Err(fail(format!(
            "{} does not exist at revision {rev}",
            sub.display()
        )));
    }
    Ok(Repository {
        root,
        location: location.to_owned(),
        url: origin,
        revision: Some(work.commit),
    })
}

struct WorkTree {
    root: PathBuf,
    commit: String,
}

/// Fetches every branch and tag of `url` into `<cache>/repos/<hash of the URL and rev>`
/// (created on first use)
/// and checks out `rev` (or the remote's default branch) detached, discarding local changes.
/// `shown` is what errors name the repository by.
fn fetch_into_cache(
    url: &str,
    shown: &str,
    rev: Option<&str>,
    cache: &Path,
) -> Result<WorkTree, SourceError> {
    let redacted = redact_url(shown);
    let fail = |reason: String| SourceError::Repository {
        location: redacted.clone(),
        reason,
    };
    let git_fail =
        |what: &str, e: git2::Error| fail(format!("{what}: {}", scrub(e.message(), url)));
    // One folder per URL and revision: two repositories of a configuration on the same URL
    // at different branches are swept at the same time, and a checkout rewrites the tree.
    let key = format!("{}\0{}", redact_url(url), rev.unwrap_or(""));
    let dir = cache.join("repos").join(short_hash(&key));
    fs_err::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
    let git = match git2::Repository::open(&dir) {
        Ok(git) => git,
        Err(_) => {
            git2::Repository::init(&dir).map_err(|e| git_fail("cannot create the clone", e))?
        }
    };
    // An anonymous remote keeps a URL's credentials out of the clone's config on disk.
    let mut remote = git
        .remote_anonymous(url)
        .map_err(|e| git_fail("bad URL", e))?;
    let mut options = git2::FetchOptions::new();
    options
        .download_tags(git2::AutotagOption::All)
        .prune(git2::FetchPrune::On);
    remote
        .fetch(
            &[
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            ],
            Some(&mut options),
            None,
        )
        .map_err(|e| git_fail("fetch failed", e))?;
    let object = match rev {
        Some(rev) => find_revision(&git, rev)
            .ok_or_else(|| fail(format!("no branch, tag or commit named {rev}")))?,
        None => {
            let head = remote
                .default_branch()
                .map_err(|e| git_fail("cannot tell the default branch", e))?;
            let head = head.as_str().unwrap_or("");
            let branch = head.strip_prefix("refs/heads/").unwrap_or(head);
            find_revision(&git, branch)
                .ok_or_else(|| fail(format!("default branch {branch} was not fetched")))?
        }
    };
    let commit = object
        .peel_to_commit()
        .map_err(|e| git_fail("not a commit", e))?;
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    git.checkout_tree(commit.as_object(), Some(&mut checkout))
        .map_err(|e| git_fail("checkout failed", e))?;
    git.set_head_detached(commit.id())
        .map_err(|e| git_fail("checkout failed", e))?;
    let root = fs_err::canonicalize(&dir).map_err(|e| fail(e.to_string()))?;
    Ok(WorkTree {
        root,
        commit: commit.id().to_string(),
    })
}

/// A branch (as fetched from origin), a tag, or any revision git can parse (a commit id).
fn find_revision<'r>(git: &'r git2::Repository, rev: &str) -> Option<git2::Object<'r>> {
    for name in [
        format!("refs/remotes/origin/{rev}"),
        format!("refs/tags/{rev}"),
    ] {
        if let Ok(reference) = git.find_reference(&name)
            && let Ok(object) = reference.peel(git2::ObjectType::Any)
        {
            return Some(object);
        }
    }
    git.revparse_single(rev).ok()
}

/// One file or folder the walker reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path as reached (under the walked root, symlinks not resolved).
    pub path: PathBuf,
    /// The path relative to the repository root.
    pub rel: PathBuf,
    /// Whether it is a folder (or a symlink to one inside the repository).
    pub is_dir: bool,
}

/// Lists the files and folders under `start` (a folder inside the canonical repository root
/// `root`), sorted by path, `start` itself excluded. Never enters `.git`, hidden folders when
/// `skip_hidden`, or a symlink whose target leaves `root` (each such symlink is a problem in
/// the second list); a symlink inside `root` is followed once (no cycles).
pub fn walk(root: &Path, start: &Path, skip_hidden: bool) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    if let Ok(canonical) = std::fs::canonicalize(start) {
        seen.insert(canonical);
    }
    walk_into(
        root,
        start,
        skip_hidden,
        Some(&mut seen),
        &mut entries,
        &mut problems,
    );
    (entries, problems)
}

/// Like [`walk`], but lists only the direct children of `dir`, hidden folders included.
pub fn list(root: &Path, dir: &Path) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    walk_into(root, dir, false, None, &mut entries, &mut problems);
    (entries, problems)
}

fn walk_into(
    root: &Path,
    dir: &Path,
    skip_hidden: bool,
    mut seen: Option<&mut HashSet<PathBuf>>,
    entries: &mut Vec<Entry>,
    problems: &mut Vec<String>,
) {
    let rel_of = |path: &Path| path.strip_prefix(root).unwrap_or(path).to_path_buf();
    let mut children: Vec<PathBuf> = match fs_err::read_dir(dir) {
        Ok(list) => list.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(error) => {
            problems.push(error.to_string());
            return;
        }
    };
    children.sort();
    for path in children {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name == ".git" {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let rel = rel_of(&path);
        let mut is_dir = meta.is_dir();
        if meta.file_type().is_symlink() {
            match std::fs::canonicalize(&path) {
                Ok(target) if target.starts_with(root) => is_dir = target.is_dir(),
                Ok(_) => {
                    problems.push(
                        SourceError::OutsideRepository {
                            path: rel.display().to_string(),
                        }
                        .to_string(),
                    );
                    continue;
                }
                Err(_) => {
                    problems.push(format!("{}: broken symlink, skipped", rel.display()));
                    continue;
                }
            }
        }
        if is_dir {
            if skip_hidden && name.starts_with('.') {
                continue;
            }
            entries.push(Entry {
                path: path.clone(),
                rel,
                is_dir: true,
            });
            let Some(seen) = seen.as_deref_mut() else {
                continue;
            };
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.insert(canonical) {
                walk_into(root, &path, skip_hidden, Some(seen), entries, problems);
            } else {
                entries.pop();
            }
        } else if meta.file_type().is_symlink() || meta.is_file() {
            entries.push(Entry {
                path,
                rel,
                is_dir: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("https://example.com/a.git"));
        assert!(is_url("git@github.com:org/repo.git"));
        assert!(is_url("file:///srv/repo"));
        assert!(!is_url("deploy/overlays"));
        assert!(!is_url("./a@b:c/d"));
        assert!(!is_url("/srv/x@y/z:w"));
    }

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_url("https://user:s3cret@example.com/org/r.git"),
            "https://example.com/org/r.git"
        );
        assert_eq!(
            redact_url("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(redact_url("git@host:org/r"), "git@host:org/r");
        assert_eq!(
            scrub(
                "cannot reach https://u:tok@example.com/r as u:tok (tok)",
                "https://u:tok@example.com/r"
            ),
            "cannot reach https://example.com/r as u:*** (***)"
        );
    }

    #[test]
    fn paths_are_normalized_and_related() {
        assert_eq!(normalize(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert_eq!(
            path_between(Path::new("/tmp/x"), Path::new("/work/r/d")),
            Path::new("../../work/r/d")
        );
    }

    #[test]
    fn local_folder_is_used_in_place() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir_all(dir.path().join("a")).unwrap();
        fs_err::write(dir.path().join("a/f.yaml"), "x: 1\n").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let repo = Repository::open(&dir.path().to_string_lossy(), None, cache.path()).unwrap();
        assert_eq!(repo.root, fs_err::canonicalize(dir.path()).unwrap());
        assert_eq!(repo.revision, None);
        assert!(repo.resolve(Path::new("a/f.yaml")).is_ok());
        assert!(matches!(
            repo.resolve(Path::new("../x")),
            Err(SourceError::OutsideRepository { .. })
        ));
        // A revision needs a Git repository.
        let error = Repository::open(&dir.path().to_string_lossy(), Some("main"), cache.path())
            .unwrap_err();
        assert!(
            error.to_string().contains("not a Git repository"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn walker_skips_git_and_symlinks_that_leave() {
        let outside = tempfile::tempdir().unwrap();
        fs_err::write(outside.path().join("secret.yaml"), "x: 1\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(dir.path()).unwrap();
        fs_err::create_dir_all(root.join(".git")).unwrap();
        fs_err::write(root.join(".git/config"), "").unwrap();
        fs_err::create_dir_all(root.join("a")).unwrap();
        fs_err::write(root.join("a/f.yaml"), "x: 1\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), root.join("a/out.yaml"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("b")).unwrap();
        std::os::unix::fs::symlink(&root, root.join("a/loop")).unwrap();
        let (entries, problems) = walk(&root, &root, true);
        let rels: Vec<_> = entries.iter().map(|e| e.rel.clone()).collect();
        assert_eq!(
            rels,
            vec![PathBuf::from("a"), PathBuf::from("a/f.yaml")],
            "a folder reached again through b or a/loop is not walked twice"
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("a/out.yaml"), "{problems:?}");
    }
}
