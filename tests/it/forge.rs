//! Integration tests of the forge: the GitHub implementation against a stateful fake GitHub API
//! on loopback (lifecycle, retries, rate limits, credentials, GitHub App tokens).

use crate::fake_github::{BOT_LOGIN, FakeGitHub, INSTALLATION_ID, sha_for};
use redress::forge::github::{GitHub, GitHubAuth, GitHubConfig, RetryPolicy};
use redress::forge::{Forge, ForgeError, NewPullRequest, PrState, Secret};
use std::time::Duration;

const TOKEN: &str = "ghp_testtoken0123456789";

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_wait: Duration::from_secs(3),
        rate_limit_attempts: 2,
        server_attempts: 3,
        backoff: Duration::from_millis(10),
        request_timeout: Duration::from_secs(10),
    }
}

fn config(fake: &FakeGitHub, auth: GitHubAuth) -> GitHubConfig {
    GitHubConfig {
        api_url: fake.url.clone(),
        owner: "acme".to_owned(),
        repo: "gitops".to_owned(),
        auth,
        retry: quick_retries(),
    }
}

async fn connect(fake: &FakeGitHub, token: &str) -> GitHub {
    GitHub::connect(config(fake, GitHubAuth::Token(Secret::new(token))))
        .await
        .expect("client for the fake")
}

fn new_pull(branch: &str) -> NewPullRequest {
    NewPullRequest {
        title: "[high] drop privileged from api".to_owned(),
        body: "first body".to_owned(),
        head: branch.to_owned(),
        base: "main".to_owned(),
        labels: vec!["redress".to_owned(), "severity/high".to_owned()],
    }
}

/// A fake GitHub with `branch` pushed, a client, and a pull request opened from it.
async fn opened(branch: &str) -> (FakeGitHub, GitHub, redress::forge::PullRequest) {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    fake.push(branch, &sha_for("a"));
    let forge = connect(&fake, TOKEN).await;
    let created = forge
        .create_pull_request(&new_pull(branch))
        .await
        .expect("opens");
    (fake, forge, created)
}

#[tokio::test]
async fn pull_request_lifecycle_open_find_update_comment_close() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let branch = "redress/deploy-api/0a1b2c3";
    fake.push(branch, &sha_for("fix-1"));
    fake.push("feature/other", &sha_for("other"));
    let forge = connect(&fake, TOKEN).await;

    let created = forge
        .create_pull_request(&new_pull(branch))
        .await
        .expect("opens");
    assert_eq!(created.state, PrState::Open);
    assert_eq!(created.head_sha, sha_for("fix-1"));
    let stored = fake.pull(created.number).expect("stored");
    assert_eq!(stored.labels, vec!["redress", "severity/high"]);
    assert_eq!(created.labels, stored.labels);
    assert_eq!(
        fake.writes().len(),
        2,
        "one call opens, one sets the labels"
    );

    // A pull request of someone else is not ours.
    forge
        .create_pull_request(&NewPullRequest {
            head: "feature/other".to_owned(),
            labels: Vec::new(),
            ..new_pull("feature/other")
        })
        .await
        .expect("opens the other");
    let found = forge.list_pull_requests("redress/").await.expect("lists");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].number, created.number);
    assert_eq!(found[0].head, branch);
    assert_eq!(found[0].labels, vec!["redress", "severity/high"]);

    forge
        .update_pull_request(created.number, "[high] new title", "second body")
        .await
        .expect("updates");
    let stored = fake.pull(created.number).expect("stored");
    assert_eq!(
        (stored.title.as_str(), stored.body.as_str()),
        ("[high] new title", "second body")
    );
    assert_eq!(fake.pulls().len(), 2, "updated in place, not superseded");

    fake.comment_as(created.number, "alice", "please wait");
    forge
        .comment(created.number, "resolved: the live object is compliant")
        .await
        .expect("comments");
    assert_eq!(fake.comments(created.number).len(), 2);
    let comments = forge
        .comments(created.number)
        .await
        .expect("reads comments");
    let seen: Vec<(&str, &str)> = comments
        .iter()
        .map(|c| (c.author.as_str(), c.body.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("alice", "please wait"),
            (BOT_LOGIN, "resolved: the live object is compliant")
        ]
    );

    forge
        .close_pull_request(created.number)
        .await
        .expect("closes");
    forge.delete_branch(branch).await.expect("deletes branch");
    assert!(!fake.branches().contains_key(branch));
    // Deleting again is not an error: the branch is gone either way.
    forge.delete_branch(branch).await.expect("already gone");

    let found = forge.list_pull_requests("redress/").await.expect("lists");
    assert_eq!(found.len(), 1, "closed pull requests are listed too");
    assert_eq!(found[0].state, PrState::Closed);
}

#[tokio::test]
async fn merged_pull_request_is_reported_as_merged() {
    let (fake, forge, created) = opened("redress/a/1").await;
    fake.merge(created.number);
    let found = forge.list_pull_requests("redress/").await.expect("lists");
    assert_eq!(found[0].state, PrState::Merged);
}

#[tokio::test]
async fn listing_reads_closed_pull_requests_and_writes_nothing() {
    let (fake, forge, created) = opened("redress/a/1").await;
    fake.close_by_person(created.number);
    let writes_before = fake.writes().len();
    let found = forge.list_pull_requests("redress/").await.expect("lists");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].state, PrState::Closed);
    assert_eq!(fake.writes().len(), writes_before, "listing writes nothing");
    let listed = fake.requests_to("/repos/acme/gitops/pulls");
    let query = listed
        .last()
        .and_then(|seen| seen.query.clone())
        .unwrap_or_default();
    assert!(query.contains("state=all"), "{query}");
    assert_eq!(listed.last().map(|seen| seen.method.as_str()), Some("GET"));
}

#[tokio::test]
async fn opening_again_gives_the_open_pull_request_instead_of_a_duplicate() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    fake.push("redress/a/1", &sha_for("a"));
    let forge = connect(&fake, TOKEN).await;
    let first = forge
        .create_pull_request(&new_pull("redress/a/1"))
        .await
        .expect("opens");
    let writes_before = fake.writes().len();
    let again = forge
        .create_pull_request(&new_pull("redress/a/1"))
        .await
        .expect("gives the open one");
    assert_eq!(again.number, first.number);
    assert_eq!(fake.pulls().len(), 1);
    assert_eq!(
        fake.writes().len(),
        writes_before + 1,
        "only the refused POST, no label call: the labels are already there"
    );
}

#[tokio::test]
async fn rejected_request_carries_the_forge_message() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let forge = connect(&fake, TOKEN).await;
    // The head branch was never pushed.
    let error = forge
        .create_pull_request(&new_pull("redress/never/pushed"))
        .await
        .expect_err("refused");
    assert!(
        matches!(&error, ForgeError::Rejected { status: 422, message, .. } if message == "Validation Failed"),
        "{error:?}"
    );
}

#[tokio::test]
async fn rate_limit_longer_than_allowed_fails_at_once() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let mut settings = config(&fake, GitHubAuth::Token(Secret::new(TOKEN)));
    settings.retry.max_wait = Duration::ZERO;
    let forge = GitHub::connect(settings).await.expect("connects");
    fake.rate_limit_next_429();
    let error = forge
        .list_pull_requests("redress/")
        .await
        .expect_err("not waited");
    assert!(
        matches!(
            error,
            ForgeError::RateLimited {
                retry_after_secs: 1
            }
        ),
        "{error:?}"
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let forge = connect(&fake, TOKEN).await;
    fake.fail_next(2);
    let found = forge
        .list_pull_requests("redress/")
        .await
        .expect("third try works");
    assert!(found.is_empty());
    assert_eq!(fake.requests_to("/repos/acme/gitops/pulls").len(), 3);
}

#[tokio::test]
async fn server_errors_give_up_after_the_allowed_attempts() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let forge = connect(&fake, TOKEN).await;
    fake.fail_next(10);
    let error = forge
        .close_pull_request(7)
        .await
        .expect_err("never succeeds");
    assert!(
        matches!(error, ForgeError::Server { status: 502, .. }),
        "{error:?}"
    );
    assert_eq!(fake.seen().len(), 3, "server_attempts is 3");
}

#[tokio::test]
async fn unreachable_forge_is_retried_then_reported() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let settings = GitHubConfig {
        api_url: format!("http://127.0.0.1:{port}"),
        owner: "acme".to_owned(),
        repo: "gitops".to_owned(),
        auth: GitHubAuth::Token(Secret::new(TOKEN)),
        retry: quick_retries(),
    };
    let forge = GitHub::connect(settings).await.expect("connects lazily");
    let error = forge
        .list_pull_requests("redress/")
        .await
        .expect_err("nothing answers");
    let message = error.to_string();
    assert!(matches!(error, ForgeError::Other(_)), "{error:?}");
    assert!(message.contains("list pull requests"), "{message}");
    assert!(!message.contains(TOKEN));
}

#[tokio::test]
async fn app_with_a_known_installation_skips_the_lookup() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let auth = GitHubAuth::App {
        app_id: 12345,
        private_key_pem: Secret::new(app_key()),
        installation_id: Some(INSTALLATION_ID),
    };
    let forge = GitHub::connect(config(&fake, auth))
        .await
        .expect("connects");
    forge.list_pull_requests("redress/").await.expect("lists");
    assert!(
        fake.requests_to("/repos/acme/gitops/installation")
            .is_empty()
    );
    assert_eq!(
        fake.requests_to(&format!(
            "/app/installations/{INSTALLATION_ID}/access_tokens"
        ))
        .len(),
        1
    );
}

#[tokio::test]
async fn rate_limit_reset_is_waited_out() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let forge = connect(&fake, TOKEN).await;
    fake.rate_limit_next_403();
    forge
        .list_pull_requests("redress/")
        .await
        .expect("succeeds after the reset");
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn retry_after_is_waited_out() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    fake.push("redress/a/1", &sha_for("a"));
    let forge = connect(&fake, TOKEN).await;
    fake.rate_limit_next_429();
    forge
        .create_pull_request(&NewPullRequest {
            labels: Vec::new(),
            ..new_pull("redress/a/1")
        })
        .await
        .expect("succeeds after Retry-After");
    assert_eq!(fake.requests_to("/repos/acme/gitops/pulls").len(), 2);
    assert_eq!(fake.pulls().len(), 1);
}

#[tokio::test]
async fn bad_token_is_one_clear_error_that_names_no_token() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let wrong = "ghp_wrongtoken_must_not_leak";
    let forge = connect(&fake, wrong).await;
    let error = forge
        .list_pull_requests("redress/")
        .await
        .expect_err("refused");
    assert!(matches!(error, ForgeError::Unauthorized), "{error:?}");
    let message = format!("{error} {error:?}");
    assert!(message.contains("token"), "tells what to check: {message}");
    assert!(!message.contains(wrong));
    assert_eq!(fake.seen().len(), 1, "a 401 is not retried");
}

/// A fresh RSA key in PKCS#1 PEM, the form GitHub hands out for apps.
fn app_key() -> String {
    let output = std::process::Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .expect("openssl is installed");
    assert!(output.status.success(), "openssl genrsa failed");
    String::from_utf8(output.stdout).expect("PEM is text")
}

#[tokio::test]
async fn app_credentials_become_an_installation_token() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let auth = GitHubAuth::App {
        app_id: 12345,
        private_key_pem: Secret::new(app_key()),
        installation_id: None,
    };
    let forge = GitHub::connect(config(&fake, auth))
        .await
        .expect("connects");
    forge.list_pull_requests("redress/").await.expect("lists");
    forge
        .list_pull_requests("redress/")
        .await
        .expect("lists again");

    let lookup = fake.requests_to("/repos/acme/gitops/installation");
    assert_eq!(lookup.len(), 1);
    let exchange = fake.requests_to(&format!(
        "/app/installations/{INSTALLATION_ID}/access_tokens"
    ));
    assert_eq!(exchange.len(), 1, "the installation token is cached");
    for seen in lookup.iter().chain(&exchange) {
        let header = seen.authorization.as_deref().unwrap_or_default();
        assert!(
            header.starts_with("Bearer ey"),
            "signed with the app JWT: {header}"
        );
    }
    let listed = fake.requests_to("/repos/acme/gitops/pulls");
    assert_eq!(listed.len(), 2);
    for seen in listed {
        assert_eq!(
            seen.authorization.as_deref(),
            Some("Bearer ghs_fakeinstallation1")
        );
    }
}

#[tokio::test]
async fn app_key_that_is_not_rsa_is_refused_without_echoing_it() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let auth = GitHubAuth::App {
        app_id: 12345,
        private_key_pem: Secret::new("not a key at all"),
        installation_id: Some(INSTALLATION_ID),
    };
    let error = GitHub::connect(config(&fake, auth))
        .await
        .expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("12345"), "{message}");
    assert!(!message.contains("not a key at all"));
}

#[tokio::test]
async fn the_push_token_is_the_token_or_the_apps_installation_token() {
    let fake = FakeGitHub::start("acme", "gitops", TOKEN);
    let forge = connect(&fake, TOKEN).await;
    assert_eq!(forge.push_token().await.unwrap().expose(), TOKEN);
    let auth = GitHubAuth::App {
        app_id: 12345,
        private_key_pem: Secret::new(app_key()),
        installation_id: Some(INSTALLATION_ID),
    };
    let app = GitHub::connect(config(&fake, auth))
        .await
        .expect("connects");
    let token = app.push_token().await.expect("an installation token");
    assert!(
        token.expose().starts_with("ghs_fakeinstallation"),
        "{}",
        token.expose()
    );
}
