//! A stateful fake GitHub REST API on 127.0.0.1 for the forge tests: pull requests (with
//! head/base refs and shas, open/closed/merged, labels), comments per issue, branches, and the
//! GitHub App token exchange. It answers in GitHub's JSON shapes, checks the `Authorization`
//! header on every call (401 with GitHub's error body otherwise), records every request so tests
//! can count write calls, and injects faults: 502s, a rate-limit 403 with reset headers, a 429
//! with `Retry-After`. Tests change its state directly to play a person (closing, merging,
//! pushing, commenting). It runs on its own thread and runtime and stops when dropped.

use crate::support::json_response;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// A pull request as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePull {
    /// Number, shared with issues.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Head branch.
    pub head: String,
    /// Head commit.
    pub head_sha: String,
    /// Base branch.
    pub base: String,
    /// Base commit.
    pub base_sha: String,
    /// `open` or `closed`.
    pub state: String,
    /// Closed by a merge.
    pub merged: bool,
    /// Label names.
    pub labels: Vec<String>,
    /// When it was opened (RFC 3339).
    pub created_at: String,
}

/// A comment as the fake stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeComment {
    /// Comment id.
    pub id: u64,
    /// Author login.
    pub author: String,
    /// Body.
    pub body: String,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Seen {
    /// Whether the request changes state (anything but GET).
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
}

/// A fault to answer the next request with.
#[derive(Debug, Clone, Copy)]
enum Fault {
    BadGateway,
    RateLimit403,
    RateLimit429,
}

#[derive(Default)]
struct Repo {
    pulls: Vec<FakePull>,
    comments: HashMap<u64, Vec<FakeComment>>,
    branches: BTreeMap<String, String>,
    next_number: u64,
    next_comment: u64,
    faults: Vec<Fault>,
    /// Tokens accepted on repository calls: the configured one and installation tokens issued.
    tokens: Vec<String>,
    issued: u64,
    /// A bare repository whose branches GitHub sees, as it sees pushes to itself.
    mirror: Option<std::path::PathBuf>,
    /// Collaborators and their permission (`read`, `write`, `admin`...).
    permissions: HashMap<String, String>,
}

struct Shared {
    owner: String,
    repo: String,
    installation_id: u64,
    state: Mutex<Repo>,
    seen: Mutex<Vec<Seen>>,
}

/// A running fake GitHub for one repository.
pub struct FakeGitHub {
    /// `http://127.0.0.1:<port>`, the API base URL.
    pub url: String,
    shared: Arc<Shared>,
    _server: crate::support::Served,
}

/// The login the fake gives the bot's own comments and pull requests.
pub const BOT_LOGIN: &str = "redress[bot]";
/// The installation id the fake's app is installed as.
pub const INSTALLATION_ID: u64 = 4242;

impl FakeGitHub {
    /// Serves repository `owner/repo` with a `main` branch, accepting `token`.
    pub fn start(owner: &str, repo: &str, token: &str) -> FakeGitHub {
        let mut state = Repo {
            next_number: 1,
            next_comment: 9001,
            tokens: vec![token.to_owned()],
            ..Repo::default()
        };
        state.branches.insert("main".to_owned(), sha_for("main-0"));
        let shared = Arc::new(Shared {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            installation_id: INSTALLATION_ID,
            state: Mutex::new(state),
            seen: Mutex::new(Vec::new()),
        });
        let server =
            crate::support::serve(Router::new().fallback(handle).with_state(shared.clone()));
        FakeGitHub {
            url: server.url.clone(),
            shared,
            _server: server,
        }
    }

    fn state(&self) -> MutexGuard<'_, Repo> {
        self.shared.state.lock().expect("fake state")
    }

    /// Makes the fake see the branches of a bare repository (where redress pushes), as
    /// GitHub sees the branches pushed to it.
    pub fn mirror(&self, bare: &std::path::Path) {
        self.state().mirror = Some(bare.to_path_buf());
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("request log").clone()
    }

    /// The requests that change state.
    pub fn writes(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(Seen::is_write).collect()
    }

    /// The requests to `path` (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// The pull requests, in number order.
    pub fn pulls(&self) -> Vec<FakePull> {
        self.state().pulls.clone()
    }

    /// One pull request.
    pub fn pull(&self, number: u64) -> Option<FakePull> {
        self.state()
            .pulls
            .iter()
            .find(|pull| pull.number == number)
            .cloned()
    }

    /// The comments on issue or pull request `number`.
    pub fn comments(&self, number: u64) -> Vec<FakeComment> {
        self.state()
            .comments
            .get(&number)
            .cloned()
            .unwrap_or_default()
    }

    /// Branch names and the commits they point at.
    pub fn branches(&self) -> BTreeMap<String, String> {
        self.state().branches.clone()
    }

    /// Someone pushes `sha` to `branch` (creating it); open pull requests from it follow.
    pub fn push(&self, branch: &str, sha: &str) {
        let mut state = self.state();
        state.branches.insert(branch.to_owned(), sha.to_owned());
        for pull in state.pulls.iter_mut().filter(|pull| pull.head == branch) {
            pull.head_sha = sha.to_owned();
        }
    }

    /// A person closes pull request `number` without merging.
    pub fn close_by_person(&self, number: u64) {
        if let Some(pull) = self.state().pulls.iter_mut().find(|p| p.number == number) {
            pull.state = "closed".to_owned();
        }
    }

    /// A person merges pull request `number`.
    pub fn merge(&self, number: u64) {
        if let Some(pull) = self.state().pulls.iter_mut().find(|p| p.number == number) {
            pull.state = "closed".to_owned();
            pull.merged = true;
        }
    }

    /// `author` comments on issue or pull request `number`.
    pub fn comment_as(&self, number: u64, author: &str, body: &str) {
        let mut state = self.state();
        let id = state.next_comment;
        state.next_comment += 1;
        state.comments.entry(number).or_default().push(FakeComment {
            id,
            author: author.to_owned(),
            body: body.to_owned(),
        });
    }

    /// Makes `login` a collaborator with `permission` (`read`, `write`, `admin`...).
    pub fn set_permission(&self, login: &str, permission: &str) {
        self.state()
            .permissions
            .insert(login.to_owned(), permission.to_owned());
    }

    /// The next `count` requests answer 502 Bad Gateway.
    pub fn fail_next(&self, count: usize) {
        let mut state = self.state();
        for _ in 0..count {
            state.faults.push(Fault::BadGateway);
        }
    }

    /// The next request answers 403 with `x-ratelimit-remaining: 0` and a reset one second on.
    pub fn rate_limit_next_403(&self) {
        self.state().faults.push(Fault::RateLimit403);
    }

    /// The next request answers 429 with `Retry-After: 1`.
    pub fn rate_limit_next_429(&self) {
        self.state().faults.push(Fault::RateLimit429);
    }
}

/// A stable fake commit id for a name.
pub fn sha_for(name: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for salt in 0..3u8 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (salt, name).hash(&mut hasher);
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(40);
    out
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        json!({"message": message, "documentation_url": "https://docs.github.com/rest",
               "status": status.as_u16().to_string()}),
    )
}

fn user(login: &str) -> Value {
    json!({
        "login": login, "id": 1, "node_id": "U_1", "avatar_url": "https://example.invalid/a.png",
        "gravatar_id": "", "url": format!("https://example.invalid/users/{login}"),
        "html_url": format!("https://example.invalid/{login}"),
        "followers_url": "", "following_url": "", "gists_url": "", "starred_url": "",
        "subscriptions_url": "", "organizations_url": "", "repos_url": "", "events_url": "",
        "received_events_url": "", "type": "Bot", "site_admin": false
    })
}

fn label(name: &str) -> Value {
    json!({"id": 1, "node_id": "LA_1", "url": format!("https://example.invalid/labels/{name}"),
           "name": name, "color": "ededed", "default": false, "description": null})
}

fn pull_json(shared: &Shared, pull: &FakePull) -> Value {
    let repo_url = format!(
        "https://example.invalid/repos/{}/{}",
        shared.owner, shared.repo
    );
    let closed = pull.state == "closed";
    let when = "2026-11-01T00:00:00Z";
    json!({
        "url": format!("{repo_url}/pulls/{}", pull.number),
        "id": 100_000 + pull.number,
        "node_id": format!("PR_{}", pull.number),
        "html_url": format!("https://example.invalid/{}/{}/pull/{}", shared.owner, shared.repo, pull.number),
        "number": pull.number,
        "state": pull.state,
        "locked": false,
        "title": pull.title,
        "body": pull.body,
        "user": user(BOT_LOGIN),
        "labels": pull.labels.iter().map(|name| label(name)).collect::<Vec<_>>(),
        "created_at": pull.created_at,
        "updated_at": when,
        "closed_at": if closed { Value::from(when) } else { Value::Null },
        "merged_at": if pull.merged { Value::from(when) } else { Value::Null },
        "merged": pull.merged,
        "merge_commit_sha": null,
        "draft": false,
        "head": {"label": format!("{}:{}", shared.owner, pull.head), "ref": pull.head, "sha": pull.head_sha},
        "base": {"label": format!("{}:{}", shared.owner, pull.base), "ref": pull.base, "sha": pull.base_sha},
    })
}

fn comment_json(comment: &FakeComment) -> Value {
    json!({"id": comment.id, "node_id": format!("IC_{}", comment.id),
           "url": format!("https://example.invalid/comments/{}", comment.id),
           "html_url": format!("https://example.invalid/comments/{}", comment.id),
           "body": comment.body, "user": user(&comment.author),
           "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
           "author_association": "NONE"})
}

/// The credential after `token ` or `Bearer `.
fn credential(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?;
    value
        .strip_prefix("token ")
        .or_else(|| value.strip_prefix("Bearer "))
}

/// A JWT has three dot-separated parts, the first a base64url JSON header (`ey...`).
fn looks_like_jwt(value: &str) -> bool {
    value.starts_with("ey") && value.split('.').count() == 3
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    shared.seen.lock().expect("request log").push(Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        authorization: authorization.clone(),
    });
    let mut state = shared.state.lock().expect("fake state");
    if !state.faults.is_empty() {
        let fault = state.faults.remove(0);
        return match fault {
            Fault::BadGateway => error(StatusCode::BAD_GATEWAY, "Server Error"),
            Fault::RateLimit403 => {
                let reset = chrono::Utc::now().timestamp() + 1;
                let mut response = error(
                    StatusCode::FORBIDDEN,
                    "API rate limit exceeded for installation ID 1.",
                );
                let headers = response.headers_mut();
                headers.insert("x-ratelimit-limit", 5000.into());
                headers.insert("x-ratelimit-remaining", 0.into());
                headers.insert("x-ratelimit-reset", reset.into());
                response
            }
            Fault::RateLimit429 => {
                let mut response = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "You have exceeded a secondary rate limit.",
                );
                response.headers_mut().insert("retry-after", 1.into());
                response
            }
        };
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    let given = credential(authorization.as_deref()).map(str::to_owned);
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) => return error(StatusCode::BAD_REQUEST, "Problems parsing JSON"),
        }
    };

    // App endpoints take the app's JWT.
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            if !given.as_deref().is_some_and(looks_like_jwt) {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "A JSON web token could not be decoded",
                );
            }
            if *id != shared.installation_id.to_string() {
                return error(StatusCode::NOT_FOUND, "Not Found");
            }
            state.issued += 1;
            let token = format!("ghs_fakeinstallation{}", state.issued);
            state.tokens.push(token.clone());
            let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
            return json_response(
                StatusCode::CREATED,
                json!({"token": token, "expires_at": expires,
                       "permissions": {"pull_requests": "write", "contents": "write", "issues": "write"},
                       "repository_selection": "all"}),
            );
        }
        ("GET", ["repos", owner, repo, "installation"]) => {
            if !given.as_deref().is_some_and(looks_like_jwt) {
                return error(
                    StatusCode::UNAUTHORIZED,
                    "A JSON web token could not be decoded",
                );
            }
            if *owner != shared.owner || *repo != shared.repo {
                return error(StatusCode::NOT_FOUND, "Not Found");
            }
            return json_response(
                StatusCode::OK,
                json!({"id": shared.installation_id, "app_id": 1, "target_type": "Organization",
                       "account": user(owner)}),
            );
        }
        _ => {}
    }

    if !given
        .as_ref()
        .is_some_and(|token| state.tokens.contains(token))
    {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let ["repos", owner, repo, rest @ ..] = segments.as_slice() else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    if *owner != shared.owner || *repo != shared.repo {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    let state = &mut *state;
    match (method.as_str(), rest) {
        ("GET", ["pulls"]) => {
            let wanted = query.get("state").map(String::as_str).unwrap_or("open");
            let head = query.get("head");
            let items: Vec<Value> = state
                .pulls
                .iter()
                .filter(|pull| wanted == "all" || pull.state == wanted)
                .filter(|pull| {
                    head.is_none_or(|head| *head == format!("{}:{}", shared.owner, pull.head))
                })
                .map(|pull| pull_json(&shared, pull))
                .collect();
            json_response(StatusCode::OK, Value::Array(items))
        }
        ("POST", ["pulls"]) => {
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            let (Some(title), Some(head), Some(base)) =
                (field("title"), field("head"), field("base"))
            else {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            if let Some(bare) = state.mirror.clone() {
                for branch in [&head, &base] {
                    let out = std::process::Command::new("git")
                        .args(["rev-parse", "--verify", "--quiet", branch])
                        .current_dir(&bare)
                        .output();
                    if let Ok(out) = out
                        && out.status.success()
                    {
                        let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                        state.branches.insert(branch.clone(), sha);
                    }
                }
            }
            let (Some(head_sha), Some(base_sha)) = (
                state.branches.get(&head).cloned(),
                state.branches.get(&base).cloned(),
            ) else {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            if state
                .pulls
                .iter()
                .any(|pull| pull.head == head && pull.state == "open")
            {
                return error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "A pull request already exists for this branch.",
                );
            }
            let number = state.next_number;
            state.next_number += 1;
            let pull = FakePull {
                number,
                title,
                body: field("body").unwrap_or_default(),
                head,
                head_sha,
                base,
                base_sha,
                state: "open".to_owned(),
                merged: false,
                labels: Vec::new(),
                created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            };
            let answer = pull_json(&shared, &pull);
            state.pulls.push(pull);
            json_response(StatusCode::CREATED, answer)
        }
        (verb @ ("GET" | "PATCH"), ["pulls", number]) => {
            let Some(pull) = state
                .pulls
                .iter_mut()
                .find(|pull| pull.number.to_string() == *number)
            else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if verb == "PATCH" {
                if let Some(title) = body.get("title").and_then(Value::as_str) {
                    pull.title = title.to_owned();
                }
                if let Some(text) = body.get("body").and_then(Value::as_str) {
                    pull.body = text.to_owned();
                }
                if let Some(new_state @ ("open" | "closed")) =
                    body.get("state").and_then(Value::as_str)
                {
                    pull.state = new_state.to_owned();
                }
            }
            json_response(StatusCode::OK, pull_json(&shared, pull))
        }
        ("PUT", ["pulls", number, "merge"]) => {
            let Some(pull) = state
                .pulls
                .iter_mut()
                .find(|pull| pull.number.to_string() == *number)
            else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if pull.state != "open" {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "Pull Request is not mergeable",
                );
            }
            if body.get("sha").and_then(Value::as_str) != Some(pull.head_sha.as_str()) {
                return error(StatusCode::CONFLICT, "Head branch was modified");
            }
            pull.state = "closed".to_owned();
            pull.merged = true;
            json_response(
                StatusCode::OK,
                json!({"merged": true, "message": "Pull Request successfully merged",
                       "sha": sha_for(&format!("merge-{number}"))}),
            )
        }
        ("GET", ["collaborators", login, "permission"]) => match state.permissions.get(*login) {
            Some(permission) => json_response(
                StatusCode::OK,
                json!({"permission": permission, "user": user(login)}),
            ),
            None => error(StatusCode::NOT_FOUND, "Not Found"),
        },
        (verb @ ("GET" | "POST"), ["issues", number, "comments"]) => {
            let Some(number) = number
                .parse::<u64>()
                .ok()
                .filter(|n| state.pulls.iter().any(|pull| pull.number == *n))
            else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            if verb == "GET" {
                let items: Vec<Value> = state
                    .comments
                    .get(&number)
                    .map(|list| list.iter().map(comment_json).collect())
                    .unwrap_or_default();
                return json_response(StatusCode::OK, Value::Array(items));
            }
            let Some(text) = body.get("body").and_then(Value::as_str) else {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            let comment = FakeComment {
                id: state.next_comment,
                author: BOT_LOGIN.to_owned(),
                body: text.to_owned(),
            };
            state.next_comment += 1;
            let answer = comment_json(&comment);
            state.comments.entry(number).or_default().push(comment);
            json_response(StatusCode::CREATED, answer)
        }
        ("POST", ["issues", number, "labels"]) => {
            let Some(pull) = state
                .pulls
                .iter_mut()
                .find(|pull| pull.number.to_string() == *number)
            else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let Some(labels) = body.get("labels").and_then(Value::as_array) else {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed");
            };
            for name in labels.iter().filter_map(Value::as_str) {
                if !pull.labels.iter().any(|have| have == name) {
                    pull.labels.push(name.to_owned());
                }
            }
            let answer: Vec<Value> = pull.labels.iter().map(|name| label(name)).collect();
            json_response(StatusCode::OK, Value::Array(answer))
        }
        ("DELETE", ["git", "refs", "heads", branch @ ..]) if !branch.is_empty() => {
            let branch = branch.join("/");
            if state.branches.remove(&branch).is_some() {
                StatusCode::NO_CONTENT.into_response()
            } else {
                error(StatusCode::UNPROCESSABLE_ENTITY, "Reference does not exist")
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}
