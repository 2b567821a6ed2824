//! forge, git: one commit per pull request on the latest base branch, pushed with git2.
//!
//! Takes a remote (URL, token, cache folder), a base branch, a branch name, the files to write
//! and an author; gives what happened to the branch ([`BranchOutcome`]). It keeps a bare clone
//! per remote under the cache folder, fetches on every call, builds the tree from the base
//! commit without a work tree, and pushes over HTTPS with the token as the password of the user
//! `x-access-token`.
//!
//! It must not: rewrite a branch that carries anyone else's commit, push when nothing changed,
//! put the token in the clone's config, a log line or an error message, or talk to the forge's
//! API (opening pull requests and deleting branches belong to the forge client).

use git2::build::TreeUpdateBuilder;
use git2::{
    AutotagOption, Cred, CredentialType, ErrorClass, ErrorCode, FetchOptions, FetchPrune, FileMode,
    Oid, PushOptions, RemoteCallbacks, Repository, Signature, Sort,
};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::forge::Secret;
use crate::source::repo::redact_url;

/// The user name GitHub expects with an installation or personal token over HTTPS.
const TOKEN_USER: &str = "x-access-token";

/// Where to push: the remote's URL, the token (if any) and the folder holding bare clones.
/// Its `Debug` shows the URL without credentials.
#[derive(Clone)]
pub struct GitRemote {
    /// `https://host/owner/repo.git` (or `http://` on loopback in tests); credentials in the
    /// URL are used by libgit2 but never printed.
    pub url: String,
    /// Sent as the password of the user `x-access-token` when the server asks.
    pub token: Option<Secret>,
    /// Folder for the bare clones, one per remote URL (`<cache>/<hash of the URL>`).
    pub cache: PathBuf,
}

impl fmt::Debug for GitRemote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitRemote")
            .field("url", &redact_url(&self.url))
            .field("token", &self.token)
            .field("cache", &self.cache)
            .finish()
    }
}

/// Who redress commits as, for example `redress <redress@users.noreply.example>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Author {
    /// Name on the commits.
    pub name: String,
    /// Email on the commits; a commit with another author or committer email is not ours.
    pub email: String,
}

/// What [`sync_branch`] did to the branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BranchOutcome {
    /// The branch did not exist; it was pushed with one commit.
    Created {
        /// The commit now at the branch tip.
        sha: String,
    },
    /// The branch was ours and out of date (content or base changed); it was force-pushed.
    Updated {
        /// The commit now at the branch tip.
        sha: String,
    },
    /// The branch already holds the wanted commit on the base tip; nothing was pushed.
    Unchanged {
        /// The branch tip.
        sha: String,
    },
    /// The branch carries someone else's commit (or more than one commit); nothing was pushed.
    Foreign {
        /// The other authors and committers, as `Name <email>`, sorted and without duplicates.
        authors: Vec<String>,
        /// The branch tip, left as it is.
        sha: String,
    },
}

/// A step of [`sync_branch`] that failed. The remote is named without credentials, and no
/// message carries the token.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The bare clone under the cache folder could not be created or opened.
    #[error("cannot prepare the clone of {remote} in {path}: {reason}")]
    Cache {
        /// The remote, redacted.
        remote: String,
        /// The clone's folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The server refused the credentials (or asked for some and there were none).
    #[error("{remote} refused the credentials during {step}: check the token and its permissions")]
    Auth {
        /// The remote, redacted.
        remote: String,
        /// `fetch` or `push`.
        step: &'static str,
    },
    /// Fetching failed for another reason.
    #[error("fetch from {remote} failed: {reason}")]
    Fetch {
        /// The remote, redacted.
        remote: String,
        /// git's reason.
        reason: String,
    },
    /// The base branch does not exist on the remote.
    #[error("{remote} has no branch {base}")]
    NoBase {
        /// The remote, redacted.
        remote: String,
        /// The base branch asked for.
        base: String,
    },
    /// A file path is not a plain relative path inside the repository.
    #[error("cannot write {path}: not a relative path inside the repository")]
    BadPath {
        /// The path as given.
        path: PathBuf,
    },
    /// Building the tree or the commit failed.
    #[error("commit for {branch} of {remote} failed: {reason}")]
    Commit {
        /// The remote, redacted.
        remote: String,
        /// The branch.
        branch: String,
        /// git's reason.
        reason: String,
    },
    /// Pushing failed (network, protocol).
    #[error("push of {branch} to {remote} failed: {reason}")]
    Push {
        /// The remote, redacted.
        remote: String,
        /// The branch.
        branch: String,
        /// git's reason.
        reason: String,
    },
    /// The server answered the push but refused the update (protected branch, hook).
    #[error("{remote} rejected the push of {branch}: {reason}")]
    Rejected {
        /// The remote, redacted.
        remote: String,
        /// The branch.
        branch: String,
        /// The server's reason.
        reason: String,
    },
    /// The branch moved on the remote between the fetch and the push; nothing was overwritten.
    #[error("{branch} on {remote} moved while redress was pushing; left as it is")]
    Moved {
        /// The remote, redacted.
        remote: String,
        /// The branch.
        branch: String,
    },
}

/// Makes `branch` hold exactly one commit by `author` on top of the latest `base`, whose tree is
/// the base tree with `files` (repository-relative path, new content) written.
///
/// The commit is regenerated only when the content changes or the base changed one of its
/// files since its parent (it would conflict); a base that moved elsewhere keeps the commit (no
/// rebase storms), and nothing is pushed ([`BranchOutcome::Unchanged`]). The message
/// alone changing does not regenerate it. A branch with a commit above the base whose author or
/// committer email is not `author.email`, or with more than one commit above the base, is left
/// alone ([`BranchOutcome::Foreign`]). The force-push carries a lease: if the branch moved on
/// the server since the fetch, the push is aborted ([`GitError::Moved`]).
///
/// Calls for the same remote must not run at the same time (they share the bare clone).
pub fn sync_branch(
    remote: &GitRemote,
    base: &str,
    branch: &str,
    files: &[(PathBuf, String)],
    message: &str,
    author: &Author,
) -> Result<BranchOutcome, GitError> {
    sync(remote, base, branch, files, message, author, false)
}

/// [`sync_branch`], except that an existing commit is kept only when it already sits on the
/// base tip with the wanted content: a reviewer's `/redress rebase` regenerates it on the
/// latest base. A branch carrying someone else's commits is still left alone.
pub fn rebase_branch(
    remote: &GitRemote,
    base: &str,
    branch: &str,
    files: &[(PathBuf, String)],
    message: &str,
    author: &Author,
) -> Result<BranchOutcome, GitError> {
    sync(remote, base, branch, files, message, author, true)
}

fn sync(
    remote: &GitRemote,
    base: &str,
    branch: &str,
    files: &[(PathBuf, String)],
    message: &str,
    author: &Author,
    rebase: bool,
) -> Result<BranchOutcome, GitError> {
    let shown = redact_url(&remote.url);
    let scrub = |e: &git2::Error| scrub(e.message(), remote);
    let repo = open_cache(remote, &shown)?;
    fetch(&repo, remote, &shown)?;

    let base_ref = format!("refs/remotes/origin/{base}");
    let base_commit = repo
        .find_reference(&base_ref)
        .and_then(|r| r.peel_to_commit())
        .map_err(|_| GitError::NoBase {
            remote: shown.clone(),
            base: base.to_owned(),
        })?;
    let commit_fail = |e: &git2::Error| GitError::Commit {
        remote: shown.clone(),
        branch: branch.to_owned(),
        reason: scrub(e),
    };
    let tree = build_tree(&repo, &base_commit, files).map_err(|e| match e {
        TreeError::Path(path) => GitError::BadPath { path },
        TreeError::Git(e) => commit_fail(&e),
    })?;

    let current = repo
        .find_reference(&format!("refs/remotes/origin/{branch}"))
        .ok()
        .and_then(|r| r.target());
    if let Some(tip) = current {
        let above = commits_above(&repo, tip, base_commit.id()).map_err(|e| commit_fail(&e))?;
        let mut strangers = Vec::new();
        for id in &above {
            let commit = repo.find_commit(*id).map_err(|e| commit_fail(&e))?;
            for person in [commit.author(), commit.committer()] {
                if person.email_bytes() != author.email.as_bytes() {
                    strangers.push(format!(
                        "{} <{}>",
                        String::from_utf8_lossy(person.name_bytes()),
                        String::from_utf8_lossy(person.email_bytes())
                    ));
                }
            }
        }
        if !strangers.is_empty() || above.len() > 1 {
            if strangers.is_empty() {
                strangers.push(format!("{} <{}>", author.name, author.email));
            }
            strangers.sort();
            strangers.dedup();
            return Ok(BranchOutcome::Foreign {
                authors: strangers,
                sha: tip.to_string(),
            });
        }
        if let [only] = above.as_slice() {
            let commit = repo.find_commit(*only).map_err(|e| commit_fail(&e))?;
            let on_tip = commit.parent_id(0).ok() == Some(base_commit.id());
            if commit.parent_count() == 1
                && ((on_tip && commit.tree_id() == tree)
                    || (!rebase && still_good(&commit, &base_commit, files).unwrap_or(false)))
            {
                return Ok(BranchOutcome::Unchanged {
                    sha: tip.to_string(),
                });
            }
        }
    }

    let signature = Signature::now(&author.name, &author.email).map_err(|e| commit_fail(&e))?;
    let tree = repo.find_tree(tree).map_err(|e| commit_fail(&e))?;
    let new = repo
        .commit(
            None,
            &signature,
            &signature,
            message,
            &tree,
            &[&base_commit],
        )
        .map_err(|e| commit_fail(&e))?;
    push(&repo, remote, &shown, branch, new, current)?;
    let sha = new.to_string();
    Ok(match current {
        None => BranchOutcome::Created { sha },
        Some(_) => BranchOutcome::Updated { sha },
    })
}

/// No rebase storms: an existing commit whose base has moved is kept when it still writes
/// exactly the wanted content of every file and the base did not touch those files since the
/// commit's parent (so the pull request still merges cleanly and shows the same change).
fn still_good(
    commit: &git2::Commit<'_>,
    base: &git2::Commit<'_>,
    files: &[(PathBuf, String)],
) -> Result<bool, git2::Error> {
    let ours = commit.tree()?;
    let parent = commit.parent(0)?.tree()?;
    let tip = base.tree()?;
    let entry = |tree: &git2::Tree<'_>, path: &Path| tree.get_path(path).ok().map(|e| e.id());
    for (path, content) in files {
        let wanted = git2::Oid::hash_object(git2::ObjectType::Blob, content.as_bytes())?;
        if entry(&ours, path) != Some(wanted) || entry(&parent, path) != entry(&tip, path) {
            return Ok(false);
        }
    }
    Ok(!files.is_empty())
}

/// Opens `<cache>/<hash of the redacted URL>` as a bare repository, creating it on first use.
fn open_cache(remote: &GitRemote, shown: &str) -> Result<Repository, GitError> {
    let path = remote.cache.join(crate::source::repo::short_hash(shown));
    let fail = |reason: String| GitError::Cache {
        remote: shown.to_owned(),
        path: path.clone(),
        reason,
    };
    fs_err::create_dir_all(&path).map_err(|e| fail(e.to_string()))?;
    match Repository::open_bare(&path) {
        Ok(repo) => Ok(repo),
        Err(_) => Repository::init_bare(&path).map_err(|e| fail(scrub(e.message(), remote))),
    }
}

/// Callbacks answering a credentials request once with the token; a second request means the
/// server refused it, and `refused` records that.
fn callbacks<'a>(remote: &'a GitRemote, refused: &'a Cell<bool>) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    let asked = Cell::new(false);
    callbacks.credentials(move |_url, _user, allowed| {
        if asked.replace(true) {
            refused.set(true);
            return Err(git2::Error::from_str("the credentials were refused"));
        }
        match &remote.token {
            Some(token) if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => {
                Cred::userpass_plaintext(TOKEN_USER, token.expose())
            }
            _ => {
                refused.set(true);
                Err(git2::Error::from_str("the server asks for credentials"))
            }
        }
    });
    callbacks
}

/// Whether `error` (with the callback's record) means the server refused the credentials.
fn is_auth(error: &git2::Error, refused: bool) -> bool {
    refused
        || error.code() == ErrorCode::Auth
        || error.class() == ErrorClass::Http && error.message().contains("401")
}

/// Fetches every branch into `refs/remotes/origin/*`, pruning deleted ones.
fn fetch(repo: &Repository, remote: &GitRemote, shown: &str) -> Result<(), GitError> {
    let refused = Cell::new(false);
    let mut options = FetchOptions::new();
    options
        .remote_callbacks(callbacks(remote, &refused))
        .download_tags(AutotagOption::None)
        .prune(FetchPrune::On);
    // An anonymous remote keeps the URL (and any credentials in it) out of the clone's config.
    let result = repo.remote_anonymous(&remote.url).and_then(|mut origin| {
        origin.fetch(
            &["+refs/heads/*:refs/remotes/origin/*"],
            Some(&mut options),
            None,
        )
    });
    result.map_err(|e| {
        if is_auth(&e, refused.get()) {
            GitError::Auth {
                remote: shown.to_owned(),
                step: "fetch",
            }
        } else {
            GitError::Fetch {
                remote: shown.to_owned(),
                reason: scrub(e.message(), remote),
            }
        }
    })
}

enum TreeError {
    Path(PathBuf),
    Git(git2::Error),
}

impl From<git2::Error> for TreeError {
    fn from(e: git2::Error) -> Self {
        TreeError::Git(e)
    }
}

/// The base commit's tree with `files` written (an existing file keeps its mode).
fn build_tree(
    repo: &Repository,
    base: &git2::Commit<'_>,
    files: &[(PathBuf, String)],
) -> Result<Oid, TreeError> {
    let baseline = base.tree()?;
    let mut update = TreeUpdateBuilder::new();
    for (path, content) in files {
        let name = git_path(path).ok_or_else(|| TreeError::Path(path.clone()))?;
        let blob = repo.blob(content.as_bytes())?;
        let mode = match baseline.get_path(Path::new(&name)) {
            Ok(entry) if entry.filemode() == i32::from(FileMode::BlobExecutable) => {
                FileMode::BlobExecutable
            }
            _ => FileMode::Blob,
        };
        update.upsert(name, blob, mode);
    }
    Ok(update.create_updated(repo, &baseline)?)
}

/// `path` as a `/`-separated repository path, if it is relative and stays inside.
fn git_path(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => {
                let part = part.to_str()?;
                if part == ".git" {
                    return None;
                }
                parts.push(part);
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The commits reachable from `tip` but not from `base`, newest first.
fn commits_above(repo: &Repository, tip: Oid, base: Oid) -> Result<Vec<Oid>, git2::Error> {
    let mut walk = repo.revwalk()?;
    walk.set_sorting(Sort::TOPOLOGICAL)?;
    walk.push(tip)?;
    walk.hide(base)?;
    walk.collect()
}

/// Force-pushes `new` to `branch`, with a lease: the push is aborted if the branch on the
/// server is not at `expected` (absent when `None`).
fn push(
    repo: &Repository,
    remote: &GitRemote,
    shown: &str,
    branch: &str,
    new: Oid,
    expected: Option<Oid>,
) -> Result<(), GitError> {
    let fail = |reason: String| GitError::Push {
        remote: shown.to_owned(),
        branch: branch.to_owned(),
        reason,
    };
    // libgit2 pushes references, not bare commit ids: stage the commit under a private ref.
    let staged = format!("refs/redress/{branch}");
    repo.reference(&staged, new, true, "redress: stage the commit to push")
        .map_err(|e| fail(scrub(e.message(), remote)))?;

    let refused = Cell::new(false);
    let moved = Cell::new(false);
    let rejected: RefCell<Option<String>> = RefCell::new(None);
    let target = format!("refs/heads/{branch}");
    let mut callbacks = callbacks(remote, &refused);
    callbacks.push_negotiation(|updates| {
        let expected = expected.unwrap_or(Oid::ZERO_SHA1);
        if updates.iter().any(|u| u.src() != expected) {
            moved.set(true);
            return Err(git2::Error::from_str("the branch moved on the remote"));
        }
        Ok(())
    });
    callbacks.push_update_reference(|_refname, status| {
        if let Some(status) = status {
            *rejected.borrow_mut() = Some(status.to_owned());
        }
        Ok(())
    });
    let mut options = PushOptions::new();
    options.remote_callbacks(callbacks);
    let result = repo
        .remote_anonymous(&remote.url)
        .and_then(|mut origin| origin.push(&[format!("+{staged}:{target}")], Some(&mut options)));
    drop(options);
    if let Err(e) = result {
        return Err(if moved.get() {
            GitError::Moved {
                remote: shown.to_owned(),
                branch: branch.to_owned(),
            }
        } else if is_auth(&e, refused.get()) {
            GitError::Auth {
                remote: shown.to_owned(),
                step: "push",
            }
        } else {
            fail(scrub(e.message(), remote))
        });
    }
    if let Some(reason) = rejected.into_inner() {
        return Err(GitError::Rejected {
            remote: shown.to_owned(),
            branch: branch.to_owned(),
            reason: scrub(&reason, remote),
        });
    }
    // Record what the server now holds, as the next fetch would.
    let _ = repo.reference(
        &format!("refs/remotes/origin/{branch}"),
        new,
        true,
        "redress: pushed",
    );
    Ok(())
}

/// `message` without the remote's credentials or the token.
fn scrub(message: &str, remote: &GitRemote) -> String {
    let mut message = crate::source::repo::scrub(message, &remote.url);
    if let Some(token) = &remote.token
        && !token.expose().is_empty()
    {
        message = message.replace(token.expose(), "***");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_stay_inside_the_repository() {
        assert_eq!(
            git_path(Path::new("apps/./web.yaml")).as_deref(),
            Some("apps/web.yaml")
        );
        assert_eq!(git_path(Path::new("../etc/passwd")), None);
        assert_eq!(git_path(Path::new("/etc/passwd")), None);
        assert_eq!(git_path(Path::new(".git/config")), None);
        assert_eq!(git_path(Path::new("")), None);
    }

    #[test]
    fn the_token_is_never_printed() {
        let remote = GitRemote {
            url: "https://u:hunter2@example.com/o/r.git".to_owned(),
            token: Some(Secret::new("s3cret")),
            cache: PathBuf::from("/tmp"),
        };
        let shown = format!(
            "{remote:?} {}",
            scrub(
                "failed at https://u:hunter2@example.com/o/r.git with s3cret",
                &remote
            )
        );
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
