//! forge/github: the `Forge` interface over the GitHub REST API, through octocrab.
//!
//! Takes a `GitHubConfig` (API base URL, one repository, a token or GitHub App credentials, a
//! retry policy) and gives a `GitHub` that lists, opens, updates, comments on, labels and closes
//! pull requests and deletes branches. Every call goes through one place that waits out rate
//! limits (`Retry-After`, `x-ratelimit-reset`), retries server errors with exponential backoff
//! and turns the final answer into a `ForgeError`. App credentials become an installation token
//! that octocrab caches and renews before it expires.
//!
//! Answers are read into small structs holding only the fields redress uses, so a forge that adds
//! or drops unrelated fields (GitHub Enterprise versions) still parses.
//!
//! It must not log, return or format a credential, and it does not touch Git: branches are
//! pushed by `forge::git`.

use super::{Comment, Forge, ForgeError, NewPullRequest, Permission, PrState, PullRequest, Secret};
use octocrab::Octocrab;
use octocrab::jsonwebtoken;
use octocrab::models::{AppId, InstallationId};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use tracing::Instrument;

/// How long and how often calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Longest rate-limit wait redress accepts; a longer one fails at once with `RateLimited`.
    pub max_wait: Duration,
    /// Rate-limit waits per call before giving up.
    pub rate_limit_attempts: u32,
    /// Attempts per call when the forge answers 5xx (the first try included).
    pub server_attempts: u32,
    /// First backoff after a server or connection error; doubled after each further one.
    pub backoff: Duration,
    /// Longest wait for a connection, and for an answer once connected.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_wait: Duration::from_secs(60),
            rate_limit_attempts: 3,
            server_attempts: 4,
            backoff: Duration::from_millis(500),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How redress authenticates to GitHub.
#[derive(Debug, Clone)]
pub enum GitHubAuth {
    /// A personal access token or fine-grained token.
    Token(Secret),
    /// A GitHub App: a JWT signed with the private key is exchanged for an installation token.
    App {
        /// The app's id.
        app_id: u64,
        /// The app's RSA private key, PEM.
        private_key_pem: Secret,
        /// The installation on the repository's owner; looked up from the repository if absent.
        installation_id: Option<u64>,
    },
}

/// Where and as whom to talk to GitHub.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// API base URL: `https://api.github.com`, a GitHub Enterprise `https://host/api/v3`, or a
    /// test server.
    pub api_url: String,
    /// Repository owner (user or organisation).
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// Credentials.
    pub auth: GitHubAuth,
    /// Retries and waits.
    pub retry: RetryPolicy,
}

/// The default public API base URL.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// One GitHub repository seen as a forge.
pub struct GitHub {
    client: Octocrab,
    owner: String,
    repo: String,
    retry: RetryPolicy,
    /// The personal token, when that is the credential (an App's token comes from octocrab).
    token: Option<Secret>,
}

/// Shows the repository only: the client holds credentials.
impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// Builds the client; with App credentials and no installation id, asks GitHub which
    /// installation covers the repository.
    pub async fn connect(config: GitHubConfig) -> Result<Self, ForgeError> {
        let builder = Octocrab::builder()
            .base_uri(config.api_url.as_str())
            .map_err(|_| ForgeError::Other(format!("invalid api url {}", config.api_url)))?
            .set_connect_timeout(Some(config.retry.request_timeout))
            .set_read_timeout(Some(config.retry.request_timeout))
            .set_write_timeout(Some(config.retry.request_timeout));
        let client = match &config.auth {
            GitHubAuth::Token(token) => {
                builder
                    .personal_token(token.expose().to_owned())
                    .build()
                    .map_err(|error| ForgeError::Other(format!("building the client: {error}")))?
            }
            GitHubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => {
                let key =
                    jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.expose().as_bytes())
                        .map_err(|_| {
                            ForgeError::Other(format!(
                                "the private key of app {app_id} is not an RSA key in PEM form"
                            ))
                        })?;
                let app = builder
                    .app(AppId(*app_id), key)
                    .build()
                    .map_err(|error| ForgeError::Other(format!("building the client: {error}")))?;
                let id = match installation_id {
                    Some(id) => *id,
                    None => {
                        let path = format!("/repos/{}/{}/installation", config.owner, config.repo);
                        let body = send(
                            &app,
                            &config.retry,
                            "find installation",
                            Verb::Get,
                            &path,
                            None,
                        )
                        .await?;
                        let found: WireInstallation = parse(&body, "installation")?;
                        found.id
                    }
                };
                app.installation(InstallationId(id))
                    .map_err(|error| ForgeError::Other(format!("building the client: {error}")))?
            }
        };
        let token = match &config.auth {
            GitHubAuth::Token(token) => Some(token.clone()),
            GitHubAuth::App { .. } => None,
        };
        Ok(GitHub {
            client,
            owner: config.owner,
            repo: config.repo,
            retry: config.retry,
            token,
        })
    }

    /// The token to push with over HTTPS: the personal token, or a current installation
    /// token of the App (cached by octocrab, renewed before it expires).
    pub async fn push_token(&self) -> Result<Secret, ForgeError> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        use octocrab::secrecy::ExposeSecret as _;
        let token = self.client.installation_token().await.map_err(|error| {
            ForgeError::Other(format!(
                "getting an installation token to push with: {}",
                first_line(&error.to_string())
            ))
        })?;
        Ok(Secret::new(token.expose_secret()))
    }

    fn path(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    /// The open pull request whose head is `branch` in this repository, if any.
    async fn open_pull_request_from(
        &self,
        branch: &str,
    ) -> Result<Option<PullRequest>, ForgeError> {
        let body = self
            .call(
                &format!("find the open pull request from {branch}"),
                Verb::Get,
                &format!("pulls?state=open&head={}:{branch}&per_page=100", self.owner),
                None,
            )
            .await?;
        let pulls: Vec<WirePull> = parse(&body, "pull request list")?;
        Ok(pulls
            .into_iter()
            .find(|pull| pull.head.branch == branch && pull.state == "open")
            .map(WirePull::into_pull_request))
    }

    /// Every item of a paged list at `rest` (which has a query already), 100 a page.
    async fn get_all<T: for<'de> Deserialize<'de>>(
        &self,
        what: &str,
        rest: &str,
        list: &str,
    ) -> Result<Vec<T>, ForgeError> {
        const PER_PAGE: usize = 100;
        let sep = if rest.contains('?') { '&' } else { '?' };
        let mut found = Vec::new();
        for page in 1.. {
            let body = self
                .call(
                    what,
                    Verb::Get,
                    &format!("{rest}{sep}per_page={PER_PAGE}&page={page}"),
                    None,
                )
                .await?;
            let items: Vec<T> = parse(&body, list)?;
            let count = items.len();
            found.extend(items);
            if count < PER_PAGE {
                break;
            }
        }
        Ok(found)
    }

    async fn call(
        &self,
        what: &str,
        verb: Verb,
        rest: &str,
        body: Option<Value>,
    ) -> Result<String, ForgeError> {
        send(
            &self.client,
            &self.retry,
            what,
            verb,
            &self.path(rest),
            body,
        )
        .await
    }
}

impl Forge for GitHub {
    async fn list_pull_requests(&self, head_prefix: &str) -> Result<Vec<PullRequest>, ForgeError> {
        // GitHub filters `head` by exact name only, so the prefix is matched here.
        let pulls: Vec<WirePull> = self
            .get_all("list pull requests", "pulls?state=all", "pull request list")
            .await?;
        Ok(pulls
            .into_iter()
            .filter(|pull| pull.head.branch.starts_with(head_prefix))
            .map(WirePull::into_pull_request)
            .collect())
    }

    async fn create_pull_request(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError> {
        let answer = self
            .call(
                "create pull request",
                Verb::Post,
                "pulls",
                Some(json!({"title": pr.title, "body": pr.body, "head": pr.head, "base": pr.base})),
            )
            .await;
        let mut created = match answer {
            Ok(body) => parse::<WirePull>(&body, "created pull request")?.into_pull_request(),
            // GitHub answers 422 when an open pull request from this head exists already.
            Err(error @ ForgeError::Rejected { status: 422, .. }) => {
                match self.open_pull_request_from(&pr.head).await? {
                    Some(existing) => {
                        tracing::info!(number = existing.number, head = %pr.head, "pull request already open");
                        existing
                    }
                    None => return Err(error),
                }
            }
            Err(error) => return Err(error),
        };
        let missing: Vec<String> = pr
            .labels
            .iter()
            .filter(|label| !created.labels.contains(label))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.add_labels(created.number, &missing).await?;
            created.labels.extend(missing);
        }
        Ok(created)
    }

    async fn update_pull_request(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<(), ForgeError> {
        self.call(
            &format!("update pull request #{number}"),
            Verb::Patch,
            &format!("pulls/{number}"),
            Some(json!({"title": title, "body": body})),
        )
        .await
        .map(drop)
    }

    async fn close_pull_request(&self, number: u64) -> Result<(), ForgeError> {
        self.call(
            &format!("close pull request #{number}"),
            Verb::Patch,
            &format!("pulls/{number}"),
            Some(json!({"state": "closed"})),
        )
        .await
        .map(drop)
    }

    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError> {
        self.call(
            &format!("comment on pull request #{number}"),
            Verb::Post,
            &format!("issues/{number}/comments"),
            Some(json!({"body": body})),
        )
        .await
        .map(drop)
    }

    async fn comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError> {
        let comments: Vec<WireComment> = self
            .get_all(
                &format!("list comments of pull request #{number}"),
                &format!("issues/{number}/comments"),
                "comment list",
            )
            .await?;
        Ok(comments
            .into_iter()
            .map(|comment| Comment {
                id: comment.id,
                author: comment.user.map(|user| user.login).unwrap_or_default(),
                body: comment.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError> {
        self.call(
            &format!("label pull request #{number}"),
            Verb::Post,
            &format!("issues/{number}/labels"),
            Some(json!({"labels": labels})),
        )
        .await
        .map(drop)
    }

    async fn merge_pull_request(&self, number: u64, head_sha: &str) -> Result<(), ForgeError> {
        self.call(
            &format!("merge pull request #{number}"),
            Verb::Put,
            &format!("pulls/{number}/merge"),
            Some(json!({"merge_method": "squash", "sha": head_sha})),
        )
        .await
        .map(drop)
    }

    async fn permission(&self, login: &str) -> Result<Permission, ForgeError> {
        #[derive(serde::Deserialize)]
        struct Wire {
            permission: String,
        }
        let answer = self
            .call(
                &format!("read the permission of {login}"),
                Verb::Get,
                &format!("collaborators/{login}/permission"),
                None,
            )
            .await;
        match answer {
            Ok(body) => Ok(Permission::from_name(
                &parse::<Wire>(&body, "collaborator permission")?.permission,
            )),
            // Not a collaborator at all.
            Err(ForgeError::NotFound { .. }) => Ok(Permission::None),
            Err(error) => Err(error),
        }
    }

    async fn delete_branch(&self, branch: &str) -> Result<(), ForgeError> {
        let result = self
            .call(
                &format!("delete branch {branch}"),
                Verb::Delete,
                &format!("git/refs/heads/{branch}"),
                None,
            )
            .await;
        match result {
            // Already gone (GitHub answers 422 "Reference does not exist"), or never pushed.
            Ok(_)
            | Err(ForgeError::NotFound { .. })
            | Err(ForgeError::Rejected { status: 422, .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// The HTTP methods redress uses.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Patch => "PATCH",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
        }
    }
}

/// What one answer means for the retry loop.
enum Outcome {
    Done(String),
    Wait(Duration),
    Backoff(u16),
    /// No answer (connection refused or reset, timeout): retried like a server error.
    Unreachable(String),
    Fail(ForgeError),
}

/// Sends one call, retrying as the policy allows; gives the body of the successful answer.
async fn send(
    client: &Octocrab,
    policy: &RetryPolicy,
    what: &str,
    verb: Verb,
    path: &str,
    body: Option<Value>,
) -> Result<String, ForgeError> {
    let span = tracing::info_span!("github", method = verb.as_str(), path, what);
    async {
        let mut rate_limit_waits = 0;
        let mut server_attempts = 1;
        loop {
            let outcome = match attempt(client, verb, path, body.as_ref()).await {
                Ok((status, headers, text)) => classify(status, &headers, text, what),
                Err(error) => classify_client_error(error, what),
            };
            let failure = match outcome {
                Outcome::Done(text) => return Ok(text),
                Outcome::Fail(error) => {
                    // The error goes back to the caller, which reports it once.
                    tracing::debug!(%error, "github call failed");
                    return Err(error);
                }
                Outcome::Wait(wait) => {
                    let secs = wait.as_secs();
                    if wait > policy.max_wait || rate_limit_waits >= policy.rate_limit_attempts {
                        tracing::warn!(retry_after_secs = secs, "github rate limit, giving up");
                        return Err(ForgeError::RateLimited {
                            retry_after_secs: secs,
                        });
                    }
                    rate_limit_waits += 1;
                    tracing::info!(retry_after_secs = secs, "github rate limit, waiting");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                Outcome::Backoff(status) => ForgeError::Server {
                    status,
                    what: what.to_owned(),
                },
                Outcome::Unreachable(message) => ForgeError::Other(message),
            };
            if server_attempts >= policy.server_attempts {
                tracing::warn!(error = %failure, attempts = server_attempts, "github call failed, giving up");
                return Err(failure);
            }
            let wait = policy.backoff * 2u32.saturating_pow(server_attempts - 1);
            tracing::info!(
                error = %failure,
                attempt = server_attempts,
                wait_ms = wait.as_millis(),
                "github call failed, retrying"
            );
            server_attempts += 1;
            tokio::time::sleep(wait).await;
        }
    }
    .instrument(span)
    .await
}

/// One HTTP exchange: status, headers and body text.
async fn attempt(
    client: &Octocrab,
    verb: Verb,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, RateHeaders, String), octocrab::Error> {
    // A path without scheme and host: octocrab adds the base URL and only then the credentials.
    let response = match verb {
        Verb::Get => client._get(path).await?,
        Verb::Post => client._post(path, body).await?,
        Verb::Patch => client._patch(path, body).await?,
        Verb::Put => client._put(path, body).await?,
        Verb::Delete => client._delete(path, body).await?,
    };
    let status = response.status().as_u16();
    let found = response.headers();
    let headers = RateHeaders::read(|name| found.get(name).and_then(|value| value.to_str().ok()));
    let text = client.body_to_string(response).await?;
    Ok((status, headers, text))
}

fn classify(status: u16, headers: &RateHeaders, text: String, what: &str) -> Outcome {
    match status {
        200..=299 => Outcome::Done(text),
        401 => Outcome::Fail(ForgeError::Unauthorized),
        403 | 429 => match rate_limit_wait(headers) {
            Some(wait) => Outcome::Wait(wait),
            // A rate limit without a wait header: GitHub asks for at least a minute.
            None if status == 429 || message_of(&text).to_lowercase().contains("rate limit") => {
                Outcome::Wait(Duration::from_secs(60))
            }
            None => Outcome::Fail(ForgeError::Forbidden {
                what: what.to_owned(),
            }),
        },
        404 => Outcome::Fail(ForgeError::NotFound {
            what: what.to_owned(),
        }),
        500..=599 => Outcome::Backoff(status),
        _ => Outcome::Fail(ForgeError::Rejected {
            what: what.to_owned(),
            status,
            message: message_of(&text),
        }),
    }
}

/// The first line of a message (octocrab errors carry backtraces).
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// An error octocrab raised before giving an answer: the installation token exchange, or the
/// transport.
fn classify_client_error(error: octocrab::Error, what: &str) -> Outcome {
    match error {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let headers = RateHeaders::read(|name| {
                source
                    .headers
                    .as_ref()
                    .and_then(|found| found.get(name))
                    .and_then(|value| value.to_str().ok())
            });
            let text = json!({"message": source.message}).to_string();
            classify(
                status,
                &headers,
                text,
                &format!("{what} (installation token)"),
            )
        }
        other => Outcome::Unreachable(format!("{what}: {other}")),
    }
}

/// The response headers that say how long to wait.
#[derive(Debug, Default)]
struct RateHeaders {
    retry_after: Option<String>,
    remaining: Option<String>,
    reset: Option<String>,
}

impl RateHeaders {
    fn read<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Self {
        RateHeaders {
            retry_after: header("retry-after").map(str::to_owned),
            remaining: header("x-ratelimit-remaining").map(str::to_owned),
            reset: header("x-ratelimit-reset").map(str::to_owned),
        }
    }
}

/// How long a 403 or 429 asks to wait, from `Retry-After` or the rate-limit reset time.
fn rate_limit_wait(headers: &RateHeaders) -> Option<Duration> {
    if let Some(secs) = headers
        .retry_after
        .as_deref()
        .and_then(|value| value.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(secs.max(1)));
    }
    if headers.remaining.as_deref().map(str::trim) == Some("0") {
        let reset = headers.reset.as_deref()?.trim().parse::<i64>().ok()?;
        let now = chrono::Utc::now().timestamp();
        let secs = u64::try_from(reset.saturating_sub(now)).unwrap_or(0).max(1);
        return Some(Duration::from_secs(secs));
    }
    None
}

/// The `message` of a GitHub error body, or a short note when there is none.
fn message_of(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|value| {
            value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unexpected answer".to_owned())
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> Result<T, ForgeError> {
    serde_json::from_str(text)
        .map_err(|error| ForgeError::Other(format!("reading the {what} from the forge: {error}")))
}

#[derive(Deserialize)]
struct WireInstallation {
    id: u64,
}

#[derive(Deserialize)]
struct WireRef {
    #[serde(rename = "ref")]
    branch: String,
    sha: String,
}

#[derive(Deserialize)]
struct WireLabel {
    name: String,
}

#[derive(Deserialize)]
struct WirePull {
    number: u64,
    title: Option<String>,
    body: Option<String>,
    state: String,
    merged_at: Option<String>,
    #[serde(default)]
    merged: bool,
    html_url: Option<String>,
    head: WireRef,
    base: WireRef,
    #[serde(default)]
    labels: Vec<WireLabel>,
    created_at: Option<String>,
}

impl WirePull {
    fn into_pull_request(self) -> PullRequest {
        let state = if self.merged || self.merged_at.is_some() {
            PrState::Merged
        } else if self.state == "open" {
            PrState::Open
        } else {
            PrState::Closed
        };
        PullRequest {
            number: self.number,
            title: self.title.unwrap_or_default(),
            body: self.body.unwrap_or_default(),
            head: self.head.branch,
            head_sha: self.head.sha,
            base: self.base.branch,
            state,
            labels: self.labels.into_iter().map(|label| label.name).collect(),
            url: self.html_url.unwrap_or_default(),
            created_at: self
                .created_at
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                .map(|t| t.with_timezone(&chrono::Utc)),
        }
    }
}

#[derive(Deserialize)]
struct WireUser {
    login: String,
}

#[derive(Deserialize)]
struct WireComment {
    id: u64,
    user: Option<WireUser>,
    body: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> RateHeaders {
        RateHeaders::read(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        })
    }

    #[test]
    fn retry_after_wins_over_reset() {
        let wait = rate_limit_wait(&headers(&[
            ("retry-after", "7"),
            ("x-ratelimit-remaining", "0"),
        ]));
        assert_eq!(wait, Some(Duration::from_secs(7)));
    }

    #[test]
    fn forbidden_without_rate_limit_signs_is_a_permission_error() {
        let outcome = classify(
            403,
            &headers(&[("x-ratelimit-remaining", "12")]),
            "{\"message\":\"Resource not accessible by integration\"}".into(),
            "close pull request #3",
        );
        assert!(
            matches!(outcome, Outcome::Fail(ForgeError::Forbidden { what }) if what == "close pull request #3")
        );
    }

    #[test]
    fn rate_limit_message_without_headers_waits_a_minute() {
        let outcome = classify(
            403,
            &headers(&[]),
            "{\"message\":\"You have exceeded a secondary rate limit\"}".into(),
            "list pull requests",
        );
        assert!(matches!(outcome, Outcome::Wait(wait) if wait == Duration::from_secs(60)));
    }

    #[test]
    fn reset_in_the_past_waits_one_second() {
        let wait = rate_limit_wait(&headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1000"),
        ]));
        assert_eq!(wait, Some(Duration::from_secs(1)));
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("ghp_abc");
        assert_eq!(format!("{secret} {secret:?}"), "*** ***");
        let auth = GitHubAuth::Token(secret);
        assert!(!format!("{auth:?}").contains("ghp_abc"));
    }
}
