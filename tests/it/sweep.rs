//! `redress sweep` as a user runs it: the bundled demo repository pushed to a real git remote
//! (git http-backend on loopback), pull requests on the fake GitHub API, the demo snapshot as
//! the cluster.

use crate::fake_github::FakeGitHub;
use crate::git_http::GitHttp;
use crate::support::git;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOKEN: &str = "ghp_sweep_token_42";

struct Demo {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    bare: PathBuf,
    fake: FakeGitHub,
    server: GitHttp,
}

fn copy(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let dest = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(&dest).unwrap();
        } else {
            fs_err::copy(entry.path(), &dest).unwrap();
        }
    }
}

impl Demo {
    fn new() -> Demo {
        Demo::with(None)
    }

    /// The demo, or (with `files`) a repository of those files swept without a cluster.
    fn with(files: Option<&[(&str, &str)]>) -> Demo {
        let tmp = tempfile::tempdir().unwrap();
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = tmp.path().join("remotes");
        fs_err::create_dir_all(&root).unwrap();
        git(&root, &["init", "--bare", "--quiet", "gitops.git"]);
        let bare = root.join("gitops.git");
        git(&bare, &["config", "http.receivepack", "true"]);
        let work = tmp.path().join("gitops");
        match files {
            None => copy(&manifest.join("examples/gitops"), &work),
            Some(files) => {
                for (rel, text) in files {
                    let path = work.join(rel);
                    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
                    fs_err::write(path, text).unwrap();
                }
            }
        }
        git(&work, &["init", "--quiet"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "--quiet", "-m", "demo"]);
        git(
            &work,
            &["push", "--quiet", bare.to_str().unwrap(), "HEAD:main"],
        );
        let server = GitHttp::start(root, TOKEN);
        git(
            &work,
            &[
                "remote",
                "add",
                "origin",
                &format!("{}/gitops.git", server.url),
            ],
        );
        let fake = FakeGitHub::start("demo", "gitops", TOKEN);
        fake.mirror(&bare);
        let config = tmp.path().join("redress.yaml");
        let snapshot = manifest.join("examples/gitops-live.yaml");
        fs_err::write(
            &config,
            format!(
                "{clusters}repositories:
  - name: gitops
    path: gitops
    branch: main
    forge:
      github:
        owner: demo
        repo: gitops
        apiUrl: {api}
        token: {{env: GITHUB_TOKEN}}
pullRequests:
  grouping: file
  maxOpen: 10
  maxNewPerHour: 10
  author: {{name: redress, email: redress@users.noreply.example}}
cache: {cache}
",
                clusters = if files.is_none() {
                    format!(
                        "clusters:\n  - name: demo\n    snapshot: {}\n",
                        snapshot.display()
                    )
                } else {
                    String::new()
                },
                api = fake.url,
                cache = tmp.path().join("cache").display(),
            ),
        )
        .unwrap();
        Demo {
            _tmp: tmp,
            config,
            bare,
            fake,
            server,
        }
    }

    fn sweep(&self, token: Option<&str>, extra: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_redress"));
        command
            .args(["sweep", "--config", self.config.to_str().unwrap()])
            .args(extra)
            .env_remove("GITHUB_TOKEN");
        if let Some(token) = token {
            command.env("GITHUB_TOKEN", token);
        }
        command.output().expect("redress runs")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_sweep_opens_pull_requests_and_a_second_writes_nothing() {
    let demo = Demo::new();
    let output = demo.sweep(Some(TOKEN), &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    let pulls = demo.fake.pulls();
    assert_eq!(pulls.len(), 6, "{}", stdout(&output));
    assert!(
        pulls.iter().all(|p| p.head.starts_with("redress/")
            && p.labels.iter().any(|l| l == "redress")
            && p.body.contains("<!-- redress:v1 ")),
        "{pulls:#?}"
    );
    // Every branch is one commit on main, on the real remote.
    for p in &pulls {
        assert_eq!(
            git(
                &demo.bare,
                &["rev-list", "--count", &format!("main..{}", p.head)]
            ),
            "1"
        );
    }
    let writes = demo.fake.writes().len();
    let pushes = demo.server.pushes();

    let output = demo.sweep(Some(TOKEN), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert_eq!(
        demo.fake.writes().len(),
        writes,
        "no write call the second time"
    );
    assert_eq!(demo.server.pushes(), pushes, "no push the second time");
    assert_eq!(demo.fake.pulls().len(), 6);
}

#[test]
fn without_credentials_or_with_dry_run_the_plan_is_printed_and_nothing_written() {
    let demo = Demo::new();
    let output = demo.sweep(None, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("no credentials"), "{text}");
    assert!(text.contains("--- pull request: [redress]"), "{text}");
    assert!(text.contains("```diff"), "{text}");
    let output = demo.sweep(Some(TOKEN), &["--dry-run"]);
    assert!(stdout(&output).contains("--dry-run: nothing written"));
    assert!(demo.fake.writes().is_empty());
    assert_eq!(demo.server.pushes(), 0);
}

#[test]
fn a_bad_token_is_one_clear_error_and_writes_nothing() {
    let demo = Demo::new();
    let output = demo.sweep(Some("ghp_wrong"), &[]);
    assert_eq!(output.status.code(), Some(4), "{}", stdout(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("refused the credentials").count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("ghp_wrong"), "{stderr}");
    assert!(demo.fake.writes().is_empty());
    assert_eq!(demo.server.pushes(), 0);
}

#[test]
fn a_finding_resolved_in_the_cluster_closes_its_pull_request() {
    let demo = Demo::new();
    assert_eq!(demo.sweep(Some(TOKEN), &[]).status.code(), Some(0));
    let release = demo
        .fake
        .pulls()
        .into_iter()
        .find(|p| p.body.contains("apps/web/release"))
        .expect("a pull request for the HelmRelease values");
    assert_eq!(release.state, "open");
    // Someone fixed the live Deployment (and Flux would keep it so once Git says it): the
    // host-network finding is gone from the cluster.
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gitops-live.yaml");
    let text = fs_err::read_to_string(&snapshot).unwrap();
    let fixed = text.replace("hostNetwork: true", "hostNetwork: false");
    assert_ne!(fixed, text);
    let config = fs_err::read_to_string(&demo.config).unwrap();
    let local = demo.config.with_file_name("live.yaml");
    fs_err::write(&local, fixed).unwrap();
    fs_err::write(
        &demo.config,
        config.replace(
            &snapshot.display().to_string(),
            &local.display().to_string(),
        ),
    )
    .unwrap();
    let output = demo.sweep(Some(TOKEN), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let closed = demo.fake.pull(release.number).expect("still there");
    assert_eq!(closed.state, "closed", "{}", stdout(&output));
    assert!(!demo.fake.branches().contains_key(&release.head));
    assert!(
        demo.fake.comments(release.number)[0]
            .body
            .contains("resolved")
    );
}

#[test]
fn a_malicious_object_name_is_escaped_in_the_pull_request() {
    const EVIL: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: \"evil](http://x.invalid) <img src=x onerror=alert(1)>\"
  namespace: shop
spec:
  selector:
    matchLabels: {app: evil}
  template:
    metadata:
      labels: {app: evil}
    spec:
      containers:
        - name: app
          image: registry.example.com/app:1.0.0
          securityContext:
            privileged: true
";
    let demo = Demo::with(Some(&[("apps/evil/deployment.yaml", EVIL)]));
    let output = demo.sweep(Some(TOKEN), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let pulls = demo.fake.pulls();
    assert_eq!(pulls.len(), 1, "{}", stdout(&output));
    let body = &pulls[0].body;
    // Outside code fences (where the diff is shown raw and cannot close its fence), every
    // character that could start markup from the name is escaped.
    let mut prose = String::new();
    let mut fenced = false;
    for line in body.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    assert!(prose.contains("evil\\]\\(http"), "{prose}");
    let unescaped = |needle: &str| {
        prose
            .match_indices(needle)
            .any(|(at, _)| !prose[..at].ends_with('\\'))
    };
    assert!(!unescaped("<img"), "{prose}");
    assert!(!unescaped("](http"), "{prose}");
}
