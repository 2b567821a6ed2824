//! Pull request reconciliation end to end: plans carried out against the fake GitHub API and
//! a real git remote (git http-backend) on loopback: open, a re-run that writes nothing, a
//! resolved finding that closes, a person's "no" that is respected, a person's commit that
//! is not overwritten.

use crate::fake_github::FakeGitHub;
use crate::git_http::GitHttp;
use crate::support::git;
use redress::forge::content::{DesiredPr, Grouping, Marker, marker};
use redress::forge::git::{Author, GitRemote};
use redress::forge::github::{GitHub, GitHubAuth, GitHubConfig, RetryPolicy};
use redress::forge::reconcile::{Action, Limits, Seen, Target, apply, plan};
use redress::forge::{
    Comment, Forge, ForgeError, NewPullRequest, Permission, PrState, PullRequest, Secret,
};
use redress::model::Severity;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

const TOKEN: &str = "ghp_reconcile_token";

/// GitHub learns of a branch when it is pushed; this forge tells the fake at PR creation,
/// as GitHub would already know.
struct Linked<'a> {
    github: GitHub,
    fake: &'a FakeGitHub,
    bare: PathBuf,
}

impl Forge for Linked<'_> {
    async fn list_pull_requests(&self, prefix: &str) -> Result<Vec<PullRequest>, ForgeError> {
        self.github.list_pull_requests(prefix).await
    }
    async fn create_pull_request(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
        let sha = git(&self.bare, &["rev-parse", &pr.head]);
        self.fake.push(&pr.head, &sha);
        self.github.create_pull_request(pr).await
    }
    async fn update_pull_request(&self, n: u64, t: &str, b: &str) -> Result<(), ForgeError> {
        self.github.update_pull_request(n, t, b).await
    }
    async fn close_pull_request(&self, n: u64) -> Result<(), ForgeError> {
        self.github.close_pull_request(n).await
    }
    async fn comment(&self, n: u64, body: &str) -> Result<(), ForgeError> {
        self.github.comment(n, body).await
    }
    async fn comments(&self, n: u64) -> Result<Vec<Comment>, ForgeError> {
        self.github.comments(n).await
    }
    async fn add_labels(&self, n: u64, labels: &[String]) -> Result<(), ForgeError> {
        self.github.add_labels(n, labels).await
    }
    async fn delete_branch(&self, branch: &str) -> Result<(), ForgeError> {
        self.github.delete_branch(branch).await
    }
    async fn merge_pull_request(&self, n: u64, sha: &str) -> Result<(), ForgeError> {
        self.github.merge_pull_request(n, sha).await
    }
    async fn permission(&self, login: &str) -> Result<Permission, ForgeError> {
        self.github.permission(login).await
    }
}

fn desired(fingerprints: &[&str], content: &str) -> DesiredPr {
    let fingerprints: Vec<String> = fingerprints.iter().map(|s| (*s).to_owned()).collect();
    DesiredPr {
        group: "apps/web.yaml".into(),
        branch: "redress/apps-web-yaml/0123abcd45".into(),
        title: "[redress] high: stop running web privileged in apps/web.yaml".into(),
        body: format!(
            "Severity: high\n\n{}",
            marker(&Marker {
                group: "apps/web.yaml".into(),
                grouping: Grouping::File,
                fingerprints: fingerprints.clone(),
            })
        ),
        labels: vec!["redress".into(), "severity/high".into()],
        files: vec![(PathBuf::from("apps/web.yaml"), content.to_owned())],
        fingerprints,
        severity: Severity::High,
    }
}

struct World {
    _tmp: tempfile::TempDir,
    bare: PathBuf,
    work: PathBuf,
    fake: FakeGitHub,
    _server: GitHttp,
    remote: GitRemote,
    author: Author,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("remotes");
        fs_err::create_dir_all(&root).unwrap();
        git(&root, &["init", "--bare", "--quiet", "r.git"]);
        let bare = root.join("r.git");
        git(&bare, &["config", "http.receivepack", "true"]);
        let work = tmp.path().join("work");
        git(
            tmp.path(),
            &[
                "clone",
                "--quiet",
                bare.to_str().unwrap(),
                work.to_str().unwrap(),
            ],
        );
        fs_err::create_dir_all(work.join("apps")).unwrap();
        fs_err::write(work.join("apps/web.yaml"), "privileged: true # why\n").unwrap();
        git(&work, &["add", "."]);
        git(&work, &["commit", "--quiet", "-m", "first"]);
        git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
        let server = GitHttp::start(root, TOKEN);
        let remote = GitRemote {
            url: format!("{}/r.git", server.url),
            token: Some(Secret::new(TOKEN)),
            cache: tmp.path().join("cache"),
        };
        World {
            _tmp: tmp,
            bare,
            work,
            fake: FakeGitHub::start("acme", "gitops", TOKEN),
            _server: server,
            remote,
            author: Author {
                name: "redress".into(),
                email: "redress@users.noreply.example".into(),
            },
        }
    }

    async fn forge(&self) -> Linked<'_> {
        let github = GitHub::connect(GitHubConfig {
            api_url: self.fake.url.clone(),
            owner: "acme".into(),
            repo: "gitops".into(),
            auth: GitHubAuth::Token(Secret::new(TOKEN)),
            retry: RetryPolicy {
                max_wait: Duration::from_secs(3),
                rate_limit_attempts: 2,
                server_attempts: 3,
                backoff: Duration::from_millis(10),
                request_timeout: Duration::from_secs(10),
            },
        })
        .await
        .expect("client");
        Linked {
            github,
            fake: &self.fake,
            bare: self.bare.clone(),
        }
    }

    /// One sweep: list, plan, apply. Returns the actions.
    async fn sweep(&self, want: &[DesiredPr], open: &[&str]) -> Vec<Action> {
        let forge = self.forge().await;
        let existing = forge.list_pull_requests("redress/").await.expect("list");
        let open: HashSet<String> = open.iter().map(|s| (*s).to_owned()).collect();
        let actions = plan(
            want,
            &existing,
            Seen {
                open: &open,
                complete: true,
            },
            Limits::default(),
            chrono::Utc::now(),
        );
        let target = Target {
            remote: &self.remote,
            base: "main",
            author: &self.author,
        };
        let outcomes = apply(&forge, &target, &actions, want, &existing).await;
        assert!(outcomes.iter().all(|o| !o.failed), "{outcomes:#?}");
        actions
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn open_then_nothing_then_close_when_resolved() {
    let world = World::new();
    let want = [desired(&["fp1"], "privileged: false # why\n")];
    let actions = world.sweep(&want, &["fp1"]).await;
    assert_eq!(actions, [Action::Open { index: 0 }]);
    let pulls = world.fake.pulls();
    assert_eq!(pulls.len(), 1);
    assert_eq!(
        git(
            &world.bare,
            &["show", "redress/apps-web-yaml/0123abcd45:apps/web.yaml"]
        ),
        "privileged: false # why"
    );

    // Nothing changed: zero write calls to the forge, and no push.
    let writes = world.fake.writes().len();
    let pushed = git(
        &world.bare,
        &["rev-parse", "redress/apps-web-yaml/0123abcd45"],
    );
    let actions = world.sweep(&want, &["fp1"]).await;
    assert!(matches!(actions[..], [Action::Update { .. }]));
    assert_eq!(
        world.fake.writes().len(),
        writes,
        "a second sweep writes nothing"
    );
    assert_eq!(
        git(
            &world.bare,
            &["rev-parse", "redress/apps-web-yaml/0123abcd45"]
        ),
        pushed
    );

    // The finding is resolved: the pull request is closed with a comment, its branch deleted.
    let actions = world.sweep(&[], &[]).await;
    assert!(matches!(actions[..], [Action::Close { .. }]), "{actions:?}");
    let pr = &world.fake.pulls()[0];
    assert_eq!(pr.state, "closed");
    assert!(
        !world
            .fake
            .branches()
            .contains_key("redress/apps-web-yaml/0123abcd45")
    );
    assert!(
        world.fake.comments(pr.number)[0].body.contains("resolved"),
        "{:?}",
        world.fake.comments(pr.number)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persons_no_and_a_persons_commit_are_respected() {
    let world = World::new();
    let want = [desired(&["fp1"], "privileged: false # why\n")];
    world.sweep(&want, &["fp1"]).await;
    let number = world.fake.pulls()[0].number;

    // A person pushes onto the branch: redress comments once and never overwrites it.
    git(&world.work, &["fetch", "--quiet", "origin"]);
    git(
        &world.work,
        &[
            "checkout",
            "--quiet",
            "-b",
            "mine",
            "origin/redress/apps-web-yaml/0123abcd45",
        ],
    );
    fs_err::write(
        world.work.join("apps/web.yaml"),
        "privileged: false # reviewed\n",
    )
    .unwrap();
    git(&world.work, &["commit", "--quiet", "-am", "tweak"]);
    git(
        &world.work,
        &[
            "push",
            "--quiet",
            "origin",
            "HEAD:redress/apps-web-yaml/0123abcd45",
        ],
    );
    let theirs = git(
        &world.bare,
        &["rev-parse", "redress/apps-web-yaml/0123abcd45"],
    );
    let changed = [desired(&["fp1"], "privileged: false # why, again\n")];
    world.sweep(&changed, &["fp1"]).await;
    world.sweep(&changed, &["fp1"]).await;
    assert_eq!(
        git(
            &world.bare,
            &["rev-parse", "redress/apps-web-yaml/0123abcd45"]
        ),
        theirs,
        "the person's commit stays"
    );
    assert_eq!(
        world.fake.comments(number).len(),
        1,
        "one comment, not one per sweep"
    );

    // A person closes it unmerged: not raised again while the findings are the same.
    world.fake.close_by_person(number);
    let actions = world.sweep(&want, &["fp1"]).await;
    assert!(matches!(actions[..], [Action::Leave { number: Some(n), .. }] if n == number));
    assert_eq!(world.fake.pulls().len(), 1);
    assert_eq!(
        world.fake.pull(number).map(|p| p.state),
        Some("closed".to_owned())
    );
    let _ = PrState::Open;
}
