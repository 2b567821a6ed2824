//! Test support: a git remote over smart HTTP on 127.0.0.1, for git2 and the git CLI alike.
//!
//! An axum handler runs `git http-backend` as CGI for each request (body read whole, then
//! piped in; the CGI answer's `Status:` and headers parsed and the body sent back). Every
//! request must carry HTTP basic auth with the user `x-access-token` and the expected token,
//! or it gets `401` with `WWW-Authenticate: Basic`. It counts the pushes (`POST
//! .../git-receive-pack`) it served, so tests can tell that nothing was pushed. It runs on its
//! own thread and runtime and stops when dropped.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

struct Shared {
    root: PathBuf,
    authorization: String,
    pushes: AtomicUsize,
    refused: AtomicUsize,
    before_push: Mutex<Option<BeforePush>>,
}

type BeforePush = Box<dyn FnOnce() + Send>;

/// A running smart-HTTP git server for the bare repositories under a folder.
pub struct GitHttp {
    /// `http://127.0.0.1:<port>`; a repository `<root>/r.git` is at `<url>/r.git`.
    pub url: String,
    shared: Arc<Shared>,
    _server: crate::support::Served,
}

impl GitHttp {
    /// Serves the bare repositories under `root` to clients that send `token`.
    pub fn start(root: PathBuf, token: &str) -> GitHttp {
        let shared = Arc::new(Shared {
            root,
            authorization: format!("Basic {}", base64(&format!("x-access-token:{token}"))),
            pushes: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            before_push: Mutex::new(None),
        });
        let server =
            crate::support::serve(Router::new().fallback(handle).with_state(shared.clone()));
        GitHttp {
            url: server.url.clone(),
            shared,
            _server: server,
        }
    }

    /// Pushes served so far (authorised `POST .../git-receive-pack` requests).
    pub fn pushes(&self) -> usize {
        self.shared.pushes.load(Ordering::SeqCst)
    }

    /// Runs `action` when the next push asks for the server's references (after the client's
    /// fetch, before its push), to simulate someone pushing in between.
    pub fn before_next_push(&self, action: impl FnOnce() + Send + 'static) {
        *self.shared.before_push.lock().expect("hook slot") = Some(Box::new(action));
    }

    /// Requests answered with 401 so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let authorised = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(shared.authorization.as_str());
    if !authorised {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "authentication required",
        )
            .into_response();
    }
    let path = parts.uri.path().to_owned();
    if parts.method == axum::http::Method::POST && path.ends_with("/git-receive-pack") {
        shared.pushes.fetch_add(1, Ordering::SeqCst);
    }
    if parts.uri.query() == Some("service=git-receive-pack") {
        let action = shared.before_push.lock().expect("hook slot").take();
        if let Some(action) = action {
            let _ = tokio::task::spawn_blocking(action).await;
        }
    }
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
    };
    let header_text = |name: HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", &path)
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_text(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env(
            "HTTP_CONTENT_ENCODING",
            header_text(header::CONTENT_ENCODING),
        )
        .env(
            "HTTP_GIT_PROTOCOL",
            header_text(HeaderName::from_static("git-protocol")),
        )
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&body)?;
        }
        child.wait_with_output()
    })
    .await;
    let Ok(Ok(output)) = output else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "git http-backend failed").into_response();
    };
    cgi_response(&output.stdout)
}

/// Turns a CGI answer (headers, blank line, body) into a response.
fn cgi_response(out: &[u8]) -> Response {
    let (head, body) = match find(out, b"\r\n\r\n") {
        Some(at) => (&out[..at], &out[at + 4..]),
        None => match find(out, b"\n\n") {
            Some(at) => (&out[..at], &out[at + 2..]),
            None => (&out[..0], out),
        },
    };
    let mut response = Response::new(Body::from(body.to_vec()));
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().unwrap_or("500");
            *response.status_mut() = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Standard base64 with padding, for the expected `Authorization` header.
fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_the_standard_examples() {
    assert_eq!(base64("Man"), "TWFu");
    assert_eq!(base64("Ma"), "TWE=");
    assert_eq!(base64("M"), "TQ==");
    assert_eq!(base64("x-access-token:t"), "eC1hY2Nlc3MtdG9rZW46dA==");
}
