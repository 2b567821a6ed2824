//! `redress serve` end to end: the real server (in this process, on its own runtime) with the
//! fake Kubernetes API (watched), the fake GitHub and a real git remote over smart HTTP on
//! loopback. A scheduled sweep opens pull requests; webhooks, replays, wrong signatures and
//! reviewer commands arrive as GitHub sends them; `/metrics` tells what happened.

use crate::fake_github::{FakeGitHub, FakePull};
use crate::fake_kube::{FakeCluster, FakeKube, FakeResource};
use crate::git_http::GitHttp;
use crate::support::git;
use redress::forge::Secret;
use redress::serve::webhook::sign;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOKEN: &str = "ghp_serve_token_7";
const WEBHOOK_SECRET: &str = "whsec-serve-test";

fn manifest(name: &str, privileged: bool) -> String {
    format!(
        "# {name}: the shop's {name} service
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: registry.example/{name}:1.4.2
          securityContext:
            privileged: {privileged}  # reviewed in SEC-12
"
    )
}

/// The live object a cluster holds for a manifest: server-set fields added.
fn live(text: &str) -> Value {
    let mut object: Value = serde_saphyr::from_str(text).unwrap();
    object["metadata"]["uid"] = json!(format!("uid-{}", object["metadata"]["name"]));
    object["metadata"]["generation"] = json!(1);
    object["status"] = json!({"replicas": 2});
    object
}

/// A blocking HTTP/1.1 request on loopback; gives the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn wait_until(what: &str, seconds: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of a metric line starting with `prefix` (name and labels), if present.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

struct World {
    tmp: tempfile::TempDir,
    bare: PathBuf,
    kube: FakeKube,
    github: FakeGitHub,
    _git: GitHttp,
    config: PathBuf,
}

impl World {
    /// Sweeps on the schedule only.
    fn new() -> World {
        World::with("  sweepOnStart: false\n")
    }

    /// The world, with `serve_extra` (YAML lines indented by two spaces) added to `serve`.
    fn with(serve_extra: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let remotes = tmp.path().join("remotes");
        fs_err::create_dir_all(&remotes).unwrap();
        git(&remotes, &["init", "--bare", "--quiet", "gitops.git"]);
        let bare = remotes.join("gitops.git");
        git(&bare, &["config", "http.receivepack", "true"]);
        let work = tmp.path().join("work");
        fs_err::create_dir_all(work.join("apps")).unwrap();
        for name in ["web", "api"] {
            fs_err::write(work.join(format!("apps/{name}.yaml")), manifest(name, true)).unwrap();
        }
        git(&work, &["init", "--quiet"]);
        git(&work, &["add", "."]);
        git(&work, &["commit", "--quiet", "-m", "shop"]);
        git(
            &work,
            &["push", "--quiet", bare.to_str().unwrap(), "HEAD:main"],
        );
        let server = GitHttp::start(remotes, TOKEN);
        let github = FakeGitHub::start("demo", "gitops", TOKEN);
        github.mirror(&bare);
        github.set_permission("rita", "read");
        github.set_permission("wanda", "write");

        let kube = FakeKube::start(FakeCluster {
            resources: vec![
                FakeResource::new("v1", "Namespace", "namespaces", false)
                    .with([json!({"metadata": {"name": "shop"}})]),
                FakeResource::new("apps/v1", "Deployment", "deployments", true)
                    .with([live(&manifest("web", true)), live(&manifest("api", true))]),
                FakeResource::new("coordination.k8s.io/v1", "Lease", "leases", true),
            ],
            ..FakeCluster::default()
        });
        let kubeconfig = tmp.path().join("kubeconfig");
        fs_err::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n  - name: fake\n    cluster: {{server: \"{}\"}}\nusers:\n  - name: t\n    user: {{token: kube-token}}\ncontexts:\n  - name: fake-ctx\n    context: {{cluster: fake, user: t}}\ncurrent-context: fake-ctx\n",
                kube.url
            ),
        )
        .unwrap();
        fs_err::write(tmp.path().join("token.txt"), format!("{TOKEN}\n")).unwrap();
        fs_err::write(tmp.path().join("webhook-secret.txt"), WEBHOOK_SECRET).unwrap();
        // Every four seconds (6 fields: seconds first); sweeps with nothing new write nothing.
        let schedule = "*/4 * * * * *";
        let url = server
            .url
            .replace("http://", &format!("http://x-access-token:{TOKEN}@"));
        let config = tmp.path().join("redress.yaml");
        fs_err::write(
            &config,
            format!(
                "clusters:
  - name: shop-prod
    context: fake-ctx
    kubeconfig: kubeconfig
repositories:
  - name: gitops
    url: {url}/gitops.git
    branch: main
    forge:
      github: {{owner: demo, repo: gitops, apiUrl: {api}, token: {{file: token.txt}}}}
pullRequests:
  author: {{name: redress, email: redress@users.noreply.example}}
cache: {cache}
serve:
  listen: 127.0.0.1:0
  schedule: \"{schedule}\"
  jitterSeconds: 0
  syncDelaySeconds: 1
  shutdownGraceSeconds: 10
  webhook: {{secret: {{file: webhook-secret.txt}}, maxBodyBytes: 65536}}
{serve_extra}",
                api = github.url,
                cache = tmp.path().join("cache").display(),
            ),
        )
        .unwrap();
        World {
            tmp,
            bare,
            kube,
            github,
            _git: server,
            config,
        }
    }
}

impl World {
    /// The pull requests of apps/web.yaml and apps/api.yaml.
    fn web_and_api(&self) -> (FakePull, FakePull) {
        let pulls = self.github.pulls();
        let find = |name: &str| {
            pulls
                .iter()
                .find(|p| p.title.contains(name))
                .unwrap_or_else(|| panic!("no pull request for {name}: {pulls:?}"))
                .clone()
        };
        (find("web"), find("api"))
    }
}

struct Hook<'a> {
    addr: &'a str,
}

impl Hook<'_> {
    fn send(&self, event: &str, delivery: &str, payload: &Value, secret: &str) -> (u16, String) {
        let body = serde_json::to_vec(payload).unwrap();
        http(
            self.addr,
            "POST",
            "/webhooks/github",
            &[
                ("Content-Type", "application/json".into()),
                ("X-GitHub-Event", event.into()),
                ("X-GitHub-Delivery", delivery.into()),
                ("X-Hub-Signature-256", sign(&Secret::new(secret), &body)),
            ],
            &body,
        )
    }

    /// `login` comments `text` on `pull`, as GitHub delivers it.
    fn say(&self, delivery: &str, pull: &FakePull, login: &str, text: &str) -> (u16, String) {
        let payload = comment_payload(pull, login, text);
        self.send("issue_comment", delivery, &payload, WEBHOOK_SECRET)
    }

    fn metrics(&self) -> String {
        http(self.addr, "GET", "/metrics", &[], b"").1
    }
}

fn comment_payload(pull: &FakePull, login: &str, body: &str) -> Value {
    json!({
        "action": "created",
        "issue": {"number": pull.number, "title": pull.title, "body": pull.body,
                  "labels": pull.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
                  "pull_request": {"url": "x"}},
        "comment": {"body": body, "user": {"login": login, "type": "User"}},
        "repository": {"full_name": "demo/gitops"},
    })
}

fn sweeps(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("redress_sweeps_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn the_service_sweeps_on_schedule_and_answers_webhooks_and_reviewers() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,kube_client=warn")
        .with_test_writer()
        .try_init();
    let world = World::new();
    let config = redress::config::Config::load(&world.config).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let running = runtime.block_on(redress::serve::start(config)).unwrap();
    let addr = running.addr.to_string();
    let hook = Hook { addr: &addr };

    assert_eq!(http(&addr, "GET", "/healthz", &[], b"").0, 200);
    wait_until("the live view is ready", 30, || {
        http(&addr, "GET", "/readyz", &[], b"").0 == 200
    });

    // The scheduled sweep opens one pull request per file.
    wait_until("the scheduled sweep opened two pull requests", 120, || {
        world.github.pulls().len() == 2
    });
    wait_until("the sweep is in the metrics", 60, || {
        sweeps(&hook.metrics()) >= 1.0
    });
    let (web, api) = world.web_and_api();
    assert!(web.title.starts_with("[redress]"), "{}", web.title);
    let metrics = hook.metrics();
    assert!(
        metric(
            &metrics,
            "redress_posture_score{cluster=\"shop-prod\",framework=\"overall\"}"
        )
        .is_some(),
        "{metrics}"
    );
    assert!(metrics.contains("redress_pull_requests{"), "{metrics}");
    assert!(
        metrics.contains("classification=\"source-fix\""),
        "{metrics}"
    );
    // The posture page.
    let (status, page) = http(&addr, "GET", "/", &[], b"");
    assert_eq!(status, 200);
    assert!(page.contains("<h2>gitops</h2>"), "{page}");
    assert!(page.contains("<td>overall</td>"), "{page}");
    assert!(page.contains("source-fix"), "{page}");
    assert!(page.contains(&web.head), "{page}");

    // A wrongly signed push is refused and changes nothing.
    let push = json!({"ref": "refs/heads/main", "repository": {"full_name": "demo/gitops"}});
    // Rescans are asked for by accepted deliveries only; counting sweeps instead raced the
    // sweeps still running or scheduled.
    let asked = |metrics: &str| {
        metric(
            metrics,
            "redress_webhook_deliveries_total{result=\"accepted\"}",
        )
        .unwrap_or(0.0)
    };
    let before = asked(&hook.metrics());
    let writes_before = world.github.writes().len();
    let (status, _) = hook.send("push", "d-forged", &push, "not-the-secret");
    assert_eq!(status, 401);
    let (status, _) = http(
        &addr,
        "POST",
        "/webhooks/github",
        &[
            ("X-GitHub-Event", "push".into()),
            ("X-GitHub-Delivery", "d-unsigned".into()),
        ],
        b"{}",
    );
    assert_eq!(status, 401);
    let (status, _) = hook.send(
        "push",
        "d-huge",
        &json!({"pad": "x".repeat(70_000)}),
        WEBHOOK_SECRET,
    );
    assert_eq!(status, 413);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(asked(&hook.metrics()), before);
    // Scheduled sweeps went on meanwhile and, with nothing changed, wrote nothing.
    assert_eq!(world.github.writes().len(), writes_before);

    // The fix of web lands on main and the GitOps engine syncs it: a signed push rescans, and
    // the pull request is closed with its branch deleted.
    let fixed = git(&world.bare, &["rev-parse", &web.head]);
    git(&world.bare, &["update-ref", "refs/heads/main", &fixed]);
    let text = git(&world.bare, &["show", &format!("{fixed}:apps/web.yaml")]);
    assert!(text.contains("# reviewed in SEC-12"), "{text}");
    world.kube.apply("apps/v1", "deployments", live(&text));
    let (status, answer) = hook.send("push", "d-1", &push, WEBHOOK_SECRET);
    assert_eq!(status, 202, "{answer}");
    // Closing comments, closes, then deletes the branch: wait for the whole action.
    wait_until("the resolved pull request is closed", 120, || {
        world.github.pull(web.number).unwrap().state == "closed"
            && !world.github.branches().contains_key(&web.head)
    });
    assert!(!world.github.branches().contains_key(&web.head));
    assert!(
        world
            .github
            .comments(web.number)
            .iter()
            .any(|c| c.body.contains("resolved")),
        "{:?}",
        world.github.comments(web.number)
    );

    // A replayed delivery is ignored: no rescan is asked for.
    let settled = asked(&hook.metrics());
    let (status, answer) = hook.send("push", "d-1", &push, WEBHOOK_SECRET);
    assert_eq!(status, 200);
    assert!(answer.contains("already received"), "{answer}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(asked(&hook.metrics()), settled);

    // `/redress ignore` from a reader is refused; the branch does not move.
    let api_sha = git(&world.bare, &["rev-parse", &api.head]);
    let (status, _) = hook.say("d-2", &api, "rita", "/redress ignore legacy image");
    assert_eq!(status, 202);
    wait_until("the reader is answered", 60, || {
        world
            .github
            .comments(api.number)
            .iter()
            .any(|c| c.body.contains("@rita: only people with write access"))
    });
    assert_eq!(git(&world.bare, &["rev-parse", &api.head]), api_sha);

    // From a writer it becomes an exception change on the pull request's branch.
    let (status, _) = hook.say(
        "d-3",
        &api,
        "wanda",
        "/redress ignore legacy image, isolated node pool until 2027-06-30",
    );
    assert_eq!(status, 202);
    wait_until("the writer is answered", 60, || {
        world.github.comments(api.number).iter().any(|c| {
            c.body
                .contains("@wanda: this pull request now records an exception")
        })
    });
    let changed = git(&world.bare, &["diff", "--name-only", "main", &api.head]);
    assert_eq!(changed.trim(), ".redress/exceptions.yaml");
    let exceptions = git(
        &world.bare,
        &["show", &format!("{}:.redress/exceptions.yaml", api.head)],
    );
    assert!(
        exceptions.contains("legacy image, isolated node pool"),
        "{exceptions}"
    );
    assert!(exceptions.contains("2027-06-30"), "{exceptions}");
    assert!(
        exceptions.contains("name: api") || exceptions.contains("\"api\""),
        "{exceptions}"
    );
    let api_now = world.github.pull(api.number).unwrap();
    assert!(
        api_now.title.starts_with("[redress] exception:"),
        "{}",
        api_now.title
    );
    assert!(api_now.labels.contains(&"redress/exception".to_owned()));

    // A later sweep leaves the exception pull request as the reviewer made it.
    let exception_sha = git(&world.bare, &["rev-parse", &api.head]);
    let (status, _) = hook.send("push", "d-4", &push, WEBHOOK_SECRET);
    assert_eq!(status, 202);
    let swept = sweeps(&hook.metrics());
    wait_until("the rescan ran", 120, || sweeps(&hook.metrics()) > swept);
    assert_eq!(git(&world.bare, &["rev-parse", &api.head]), exception_sha);
    assert_eq!(world.github.pull(api.number).unwrap().state, "open");

    // The exception is merged: the repository's exceptions file now covers api's findings, so
    // they leave the counts and no pull request proposes their fix again.
    let findings = |metrics: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with("redress_findings{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before = findings(&hook.metrics());
    git(
        &world.bare,
        &["update-ref", "refs/heads/main", &exception_sha],
    );
    world.github.merge(api.number);
    let (status, _) = hook.send("push", "d-5", &push, WEBHOOK_SECRET);
    assert_eq!(status, 202);
    wait_until("the excepted findings leave the counts", 120, || {
        findings(&hook.metrics()) < before
    });
    assert_eq!(world.github.pulls().len(), 2, "{:?}", world.github.pulls());

    let metrics = hook.metrics();
    assert_eq!(
        metric(
            &metrics,
            "redress_webhook_deliveries_total{result=\"unauthorized\"}"
        ),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "redress_webhook_deliveries_total{result=\"duplicate\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "redress_webhook_deliveries_total{result=\"too_large\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "redress_pull_requests{repository=\"gitops\",state=\"closed\"}"
        ) >= Some(1.0),
        "{metrics}"
    );

    runtime.block_on(running.stop()).unwrap();
    drop(world.tmp);
}

#[test]
fn a_configuration_error_stops_start_up_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("redress.yaml");
    fs_err::write(&config, "serve:\n  schedule: \"61 * * * *\"\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("redress.yaml:2: serve.schedule"),
        "{stderr}"
    );

    fs_err::write(
        &config,
        "serve:\n  webhook: {secret: {env: REDRESS_TEST_UNSET_SECRET}}\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env_remove("REDRESS_TEST_UNSET_SECRET")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the environment variable REDRESS_TEST_UNSET_SECRET is not set"),
        "{stderr}"
    );
}

#[test]
fn sigterm_stops_the_service_cleanly_and_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("redress.yaml");
    fs_err::write(
        &config,
        "serve:\n  listen: 127.0.0.1:0\n  webhook: {secret: {env: REDRESS_TEST_WEBHOOK_SECRET}}\n",
    )
    .unwrap();
    let secret = "s3cret-that-must-not-be-logged";
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_redress"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("REDRESS_TEST_WEBHOOK_SECRET", secret)
        .env("REDRESS_LOG", "debug")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    let addr = loop {
        let text = String::from_utf8_lossy(&seen);
        if let Some(rest) = text.split("listening on ").nth(1)
            && rest.contains('\n')
        {
            break rest.lines().next().unwrap().trim().to_owned();
        }
        assert_eq!(
            stderr.read(&mut byte).unwrap(),
            1,
            "the service exited early"
        );
        seen.push(byte[0]);
    };
    let hook = Hook { addr: &addr };
    let push = json!({"ref": "refs/heads/main", "repository": {"full_name": "a/b"}});
    assert_eq!(hook.send("push", "p-1", &push, secret).0, 200);
    assert_eq!(hook.send("push", "p-2", &push, "wrong").0, 401);
    // The shell's own `kill`: a fresh machine may have no kill binary.
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the service did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    stderr.read_to_end(&mut seen).unwrap();
    let log = String::from_utf8_lossy(&seen);
    assert!(log.contains("shutdown signal received"), "{log}");
    assert!(!log.contains(secret), "{log}");
}

fn review_payload(pull: &FakePull, login: &str) -> Value {
    json!({
        "action": "submitted",
        "review": {"state": "approved", "user": {"login": login}},
        "pull_request": {"number": pull.number, "title": pull.title, "body": pull.body,
                         "labels": pull.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(),
                         "head": {"ref": pull.head, "sha": pull.head_sha}},
        "repository": {"full_name": "demo/gitops"},
    })
}

/// Waits for a comment on `number` containing `text`; gives it.
fn reply(world: &World, number: u64, text: &str) -> String {
    let mut found = String::new();
    wait_until(&format!("a reply containing '{text}'"), 60, || match world
        .github
        .comments(number)
        .iter()
        .find(|c| c.body.contains(text))
    {
        Some(c) => {
            found = c.body.clone();
            true
        }
        None => false,
    });
    found
}

#[test]
fn of_two_replicas_only_the_leader_writes_and_reviewers_steer_it() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("info,kube_client=warn")
        .with_test_writer()
        .try_init();
    let world = World::with(
        "  sweepOnStart: true
  leaderElection: {namespace: redress, lease: redress, leaseDurationSeconds: 2, identity: replica-a}
  autoMerge:
    - severities: [critical, high, medium, low]
      rules: [\"*\"]
",
    );
    let text = fs_err::read_to_string(&world.config).unwrap();
    let config_b = world.tmp.path().join("redress-b.yaml");
    fs_err::write(
        &config_b,
        text.replace("identity: replica-a", "identity: replica-b"),
    )
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let load = |path: &Path| redress::config::Config::load(path).unwrap();
    let a = runtime
        .block_on(redress::serve::start(load(&world.config)))
        .unwrap();
    let b = runtime
        .block_on(redress::serve::start(load(&config_b)))
        .unwrap();
    let (addr_a, addr_b) = (a.addr.to_string(), b.addr.to_string());
    let ready = |addr: &str| http(addr, "GET", "/readyz", &[], b"").0 == 200;
    wait_until("one replica leads", 30, || ready(&addr_a) || ready(&addr_b));
    let (leader, follower, leader_addr, follower_addr) = if ready(&addr_a) {
        (a, b, addr_a, addr_b)
    } else {
        (b, a, addr_b, addr_a)
    };
    wait_until("the follower says it stands by", 30, || {
        let (status, body) = http(&follower_addr, "GET", "/readyz", &[], b"");
        status == 503 && body.contains("another replica leads")
    });

    wait_until("the leader opened two pull requests", 120, || {
        world.github.pulls().len() == 2
    });
    let hook = Hook { addr: &leader_addr };
    let follower_hook = Hook {
        addr: &follower_addr,
    };
    wait_until("the leader's sweep is in its metrics", 60, || {
        sweeps(&hook.metrics()) >= 1.0
    });
    assert_eq!(sweeps(&follower_hook.metrics()), 0.0);
    // The leader swept once on taking the lead, before any schedule.
    assert!(
        hook.metrics().contains("trigger=\"startup\""),
        "{}",
        hook.metrics()
    );
    assert!(hook.metrics().contains("redress_leader 1"));
    assert!(follower_hook.metrics().contains("redress_leader 0"));

    let (web, api) = world.web_and_api();

    // explain and recheck answer the writer.
    hook.say("c-1", &web, "wanda", "/redress explain");
    let explained = reply(&world, web.number, "What this pull request fixes");
    assert!(explained.contains("privileged"), "{explained}");
    assert!(explained.contains("Why it matters"), "{explained}");
    hook.say("c-2", &web, "wanda", "/redress recheck");
    reply(&world, web.number, "@wanda: rechecking gitops");
    hook.say("c-3", &web, "wanda", "/redress frobnicate");
    reply(&world, web.number, "unknown command");

    // rebase: nothing to do on the current base; after main moves, a new commit on its tip.
    hook.say("c-4", &web, "wanda", "/redress rebase");
    reply(&world, web.number, "already on the latest main");
    let work = world.tmp.path().join("other");
    git(
        world.tmp.path(),
        &["clone", "--quiet", world.bare.to_str().unwrap(), "other"],
    );
    fs_err::write(work.join("README.md"), "shop\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "readme"]);
    git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
    let main = git(&world.bare, &["rev-parse", "main"]);
    hook.say("c-5", &web, "wanda", "/redress rebase");
    reply(
        &world,
        web.number,
        "regenerated the commit on the latest main",
    );
    assert_eq!(
        git(&world.bare, &["rev-parse", &format!("{}^", web.head)]),
        main
    );

    // An approval by a reader merges nothing; by a writer, auto-merge takes it.
    let api_now = world.github.pull(api.number).unwrap();
    hook.send(
        "pull_request_review",
        "r-1",
        &review_payload(&api_now, "rita"),
        WEBHOOK_SECRET,
    );
    hook.send(
        "pull_request_review",
        "r-2",
        &review_payload(&api_now, "wanda"),
        WEBHOOK_SECRET,
    );
    reply(&world, api.number, "Merged after @wanda's approval");
    let merged = world.github.pull(api.number).unwrap();
    assert!(merged.merged);
    assert!(
        !world
            .github
            .comments(api.number)
            .iter()
            .any(|c| c.body.contains("@rita")),
        "{:?}",
        world.github.comments(api.number)
    );

    // GitHub tells of the merge: the repository is checked again after the sync delay.
    let merged_event = json!({"action": "closed",
        "pull_request": {"number": api.number, "merged": true, "head": {"ref": api.head}},
        "repository": {"full_name": "demo/gitops"}});
    let (status, answer) = hook.send("pull_request", "m-1", &merged_event, WEBHOOK_SECRET);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("checked again in 1s"), "{answer}");
    wait_until("the check after the merge ran", 60, || {
        hook.metrics().contains("trigger=\"merged\"")
    });

    // A person closes web unmerged: that is their "no"; later sweeps do not raise it again.
    world.github.close_by_person(web.number);
    let closed_event = json!({"action": "closed",
        "pull_request": {"number": web.number, "merged": false, "head": {"ref": web.head}},
        "repository": {"full_name": "demo/gitops"}});
    let (status, answer) = hook.send("pull_request", "m-2", &closed_event, WEBHOOK_SECRET);
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains("not raised again"), "{answer}");
    let swept = sweeps(&hook.metrics());
    wait_until("two more sweeps ran", 60, || {
        sweeps(&hook.metrics()) >= swept + 2.0
    });
    assert_eq!(world.github.pulls().len(), 2, "{:?}", world.github.pulls());
    assert_eq!(world.github.pull(web.number).unwrap().state, "closed");

    // The leader stops; the other replica takes over and becomes ready.
    runtime.block_on(leader.stop()).unwrap();
    wait_until("the other replica leads", 30, || ready(&follower_addr));
    runtime.block_on(follower.stop()).unwrap();
}
