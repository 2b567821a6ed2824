//! Integration tests of the forge's git stage: `sync_branch` with real git2 against a bare
//! repository served over smart HTTP on loopback (`git_http`), checked with the git CLI.

use crate::git_http::GitHttp;
use crate::support::git;
use redress::forge::Secret;
use redress::forge::git::{Author, BranchOutcome, GitError, GitRemote, sync_branch};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const TOKEN: &str = "t0ken-for-tests";
const BRANCH: &str = "redress/apps-web/abc123";

struct Fixture {
    _tmp: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
    server: GitHttp,
    remote: GitRemote,
}

impl Fixture {
    /// A bare `r.git` whose `main` holds `apps/web.yaml` and `run.sh` (executable), served
    /// over HTTP, and a CLI clone of it.
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("remotes");
        fs_err::create_dir_all(&root).unwrap();
        git(&root, &["init", "--bare", "r.git"]);
        let bare = root.join("r.git");
        git(&bare, &["config", "http.receivepack", "true"]);
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &["clone", bare.to_str().unwrap(), work.to_str().unwrap()],
        );
        fs_err::create_dir_all(work.join("apps")).unwrap();
        fs_err::write(work.join("apps/web.yaml"), "replicas: 1\n").unwrap();
        fs_err::write(work.join("run.sh"), "#!/bin/sh\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["update-index", "--chmod=+x", "run.sh"]);
        git(&work, &["commit", "-m", "first"]);
        git(&work, &["push", "origin", "HEAD:main"]);
        let server = GitHttp::start(root, TOKEN);
        let remote = GitRemote {
            url: format!("{}/r.git", server.url),
            token: Some(Secret::new(TOKEN)),
            cache: tmp.path().join("cache"),
        };
        Fixture {
            _tmp: tmp,
            bare,
            work,
            server,
            remote,
        }
    }

    fn sync(&self, content: &str) -> Result<BranchOutcome, GitError> {
        sync_branch(
            &self.remote,
            "main",
            BRANCH,
            &files(content),
            "fix(apps/web.yaml): set replicas",
            &author(),
        )
    }

    /// What the bare repository says about `rev`.
    fn show(&self, args: &[&str]) -> String {
        git(&self.bare, args)
    }

    /// Checks that the branch is one commit by redress on the current main, holding `content`.
    fn assert_branch(&self, sha: &str, content: &str) {
        assert_eq!(self.show(&["rev-parse", BRANCH]), sha);
        assert_eq!(
            self.show(&["rev-list", &format!("main..{BRANCH}")]),
            sha,
            "exactly one commit above main"
        );
        assert_eq!(
            self.show(&["log", "-1", "--format=%P", BRANCH]),
            self.show(&["rev-parse", "main"]),
            "the parent is the tip of main"
        );
        assert_eq!(
            self.show(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", BRANCH]),
            "redress <redress@users.noreply.example>|redress <redress@users.noreply.example>"
        );
        assert_eq!(
            self.show(&["show", &format!("{BRANCH}:apps/web.yaml")]),
            content.trim_end()
        );
    }
}

fn author() -> Author {
    Author {
        name: "redress".to_owned(),
        email: "redress@users.noreply.example".to_owned(),
    }
}

fn files(content: &str) -> Vec<(PathBuf, String)> {
    vec![(PathBuf::from("apps/web.yaml"), content.to_owned())]
}

fn sha_of(outcome: &BranchOutcome) -> String {
    match outcome {
        BranchOutcome::Created { sha }
        | BranchOutcome::Updated { sha }
        | BranchOutcome::Unchanged { sha }
        | BranchOutcome::Foreign { sha, .. } => sha.clone(),
    }
}

#[test]
fn first_sync_creates_one_commit_and_a_second_pushes_nothing() {
    let fx = Fixture::new();
    let created = fx.sync("replicas: 2\n").unwrap();
    let BranchOutcome::Created { sha } = &created else {
        panic!("expected Created, got {created:?}");
    };
    fx.assert_branch(sha, "replicas: 2\n");
    assert_eq!(
        fx.show(&["ls-tree", BRANCH, "run.sh"]).split(' ').next(),
        Some("100755"),
        "untouched files keep their mode"
    );
    assert_eq!(fx.server.pushes(), 1);

    let again = fx.sync("replicas: 2\n").unwrap();
    assert_eq!(again, BranchOutcome::Unchanged { sha: sha.clone() });
    assert_eq!(fx.server.pushes(), 1, "no push when nothing changed");
}

#[test]
fn changed_content_replaces_the_commit() {
    let fx = Fixture::new();
    let first = sha_of(&fx.sync("replicas: 2\n").unwrap());
    let updated = fx.sync("replicas: 3\n").unwrap();
    let BranchOutcome::Updated { sha } = &updated else {
        panic!("expected Updated, got {updated:?}");
    };
    assert_ne!(sha, &first);
    fx.assert_branch(sha, "replicas: 3\n");
    assert_eq!(fx.server.pushes(), 2);
}

#[test]
fn a_base_moved_elsewhere_keeps_the_commit_and_one_that_touches_the_file_regenerates_it() {
    let fx = Fixture::new();
    let first = sha_of(&fx.sync("replicas: 2\n").unwrap());
    // main moves, but not in our file: no rebase storm, nothing pushed.
    fs_err::write(fx.work.join("README.md"), "hello\n").unwrap();
    git(&fx.work, &["add", "README.md"]);
    git(&fx.work, &["commit", "-m", "docs"]);
    git(&fx.work, &["push", "origin", "HEAD:main"]);
    let pushes = fx.server.pushes();
    let kept = fx.sync("replicas: 2\n").unwrap();
    assert_eq!(kept, BranchOutcome::Unchanged { sha: first.clone() });
    assert_eq!(fx.server.pushes(), pushes);

    // main changes our file: the commit is regenerated on the new tip.
    fs_err::write(fx.work.join("apps/web.yaml"), "replicas: 1 # pinned\n").unwrap();
    git(&fx.work, &["commit", "-am", "pin"]);
    git(&fx.work, &["push", "origin", "HEAD:main"]);
    let updated = fx.sync("replicas: 2\n").unwrap();
    let BranchOutcome::Updated { sha } = &updated else {
        panic!("expected Updated, got {updated:?}");
    };
    assert_ne!(sha, &first);
    fx.assert_branch(sha, "replicas: 2\n");
    assert_eq!(fx.show(&["show", &format!("{BRANCH}:README.md")]), "hello");
}

#[test]
fn a_branch_with_a_persons_commit_is_left_alone() {
    let fx = Fixture::new();
    fx.sync("replicas: 2\n").unwrap();
    git(&fx.work, &["fetch", "origin"]);
    git(
        &fx.work,
        &["checkout", "-b", "theirs", &format!("origin/{BRANCH}")],
    );
    fs_err::write(fx.work.join("apps/web.yaml"), "replicas: 5\n").unwrap();
    git(&fx.work, &["commit", "-am", "a person's tweak"]);
    git(&fx.work, &["push", "origin", &format!("HEAD:{BRANCH}")]);
    let tip = fx.show(&["rev-parse", BRANCH]);
    let pushes = fx.server.pushes();

    let outcome = fx.sync("replicas: 3\n").unwrap();
    assert_eq!(
        outcome,
        BranchOutcome::Foreign {
            authors: vec!["t <t@example.com>".to_owned()],
            sha: tip.clone(),
        }
    );
    assert_eq!(fx.server.pushes(), pushes, "nothing pushed");
    assert_eq!(fx.show(&["rev-parse", BRANCH]), tip, "branch untouched");
}

#[test]
fn a_commit_amended_by_a_person_is_theirs() {
    let fx = Fixture::new();
    fx.sync("replicas: 2\n").unwrap();
    git(&fx.work, &["fetch", "origin"]);
    git(
        &fx.work,
        &["checkout", "-b", "theirs", &format!("origin/{BRANCH}")],
    );
    fs_err::write(fx.work.join("apps/web.yaml"), "replicas: 4\n").unwrap();
    // The author stays redress; the committer becomes the person.
    git(&fx.work, &["commit", "-a", "--amend", "--no-edit"]);
    git(
        &fx.work,
        &["push", "--force", "origin", &format!("HEAD:{BRANCH}")],
    );
    let tip = fx.show(&["rev-parse", BRANCH]);

    let outcome = fx.sync("replicas: 2\n").unwrap();
    assert!(
        matches!(&outcome, BranchOutcome::Foreign { authors, .. } if authors == &["t <t@example.com>"]),
        "{outcome:?}"
    );
    assert_eq!(fx.show(&["rev-parse", BRANCH]), tip);
}

#[test]
fn a_wrong_token_is_one_clear_error_without_the_token() {
    let mut fx = Fixture::new();
    fx.remote.token = Some(Secret::new("wrong-secret"));
    let error = fx.sync("replicas: 2\n").unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, GitError::Auth { step: "fetch", .. }),
        "{error:?}"
    );
    assert!(message.contains(&fx.remote.url), "{message}");
    assert!(message.contains("refused the credentials"), "{message}");
    assert!(!message.contains("wrong-secret"), "{message}");
    assert!(!format!("{error:?}").contains("wrong-secret"));
    assert!(fx.server.refused() > 0);
    assert_eq!(fx.server.pushes(), 0);
}

#[test]
fn a_missing_base_branch_is_named() {
    let fx = Fixture::new();
    let error = sync_branch(
        &fx.remote,
        "release",
        BRANCH,
        &files("replicas: 2\n"),
        "m",
        &author(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("{} has no branch release", fx.remote.url)
    );
}

#[test]
fn a_path_outside_the_repository_is_refused() {
    let fx = Fixture::new();
    let error = sync_branch(
        &fx.remote,
        "main",
        BRANCH,
        &[(PathBuf::from("../escape.yaml"), "x".to_owned())],
        "m",
        &author(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, GitError::BadPath { path } if path == Path::new("../escape.yaml")),
        "{error:?}"
    );
    assert_eq!(fx.server.pushes(), 0);
}

#[test]
fn a_push_refused_by_the_server_is_a_clear_error() {
    let fx = Fixture::new();
    let hook = fx.bare.join("hooks/pre-receive");
    fs_err::write(&hook, "#!/bin/sh\necho 'branch is protected' >&2\nexit 1\n").unwrap();
    fs_err::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let error = fx.sync("replicas: 2\n").unwrap_err();
    assert!(matches!(error, GitError::Rejected { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "{} rejected the push of {BRANCH}: ",
            fx.remote.url
        )),
        "{message}"
    );
    assert!(!message.contains(TOKEN), "{message}");
}

#[test]
fn a_branch_that_moves_during_the_push_is_not_overwritten() {
    let fx = Fixture::new();
    fx.sync("replicas: 2\n").unwrap();
    git(&fx.work, &["fetch", "origin"]);
    git(
        &fx.work,
        &["checkout", "-b", "theirs", &format!("origin/{BRANCH}")],
    );
    fs_err::write(fx.work.join("apps/web.yaml"), "replicas: 5\n").unwrap();
    git(&fx.work, &["commit", "-am", "a person's tweak"]);
    let work = fx.work.clone();
    fx.server.before_next_push(move || {
        git(&work, &["push", "origin", &format!("HEAD:{BRANCH}")]);
    });

    let error = fx.sync("replicas: 3\n").unwrap_err();
    assert!(matches!(error, GitError::Moved { .. }), "{error:?}");
    assert_eq!(
        fx.show(&["rev-parse", BRANCH]),
        git(&fx.work, &["rev-parse", "HEAD"]),
        "the person's commit stays"
    );
}

#[test]
fn no_token_for_a_server_that_asks_is_an_auth_error() {
    let mut fx = Fixture::new();
    fx.remote.token = None;
    let error = fx.sync("replicas: 2\n").unwrap_err();
    assert!(
        matches!(error, GitError::Auth { step: "fetch", .. }),
        "{error:?}"
    );
}
