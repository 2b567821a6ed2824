//! Load generator for `redress serve`'s webhook endpoint: a measurement, not a gate.
//!
//! Sends a bounded burst of signed GitHub `push` deliveries for one repository at a fixed rate
//! (open loop: request `i` is due at `i * seconds / count` after the start, whatever the
//! answers before it), over plain HTTP/1.1 on loopback, one connection per delivery as GitHub
//! does. Each delivery has its own `X-GitHub-Delivery` id; optionally a share are replays of an
//! id already sent (expected `200`, a duplicate) and a share carry a wrong signature (expected
//! `401`); the rest are expected `202`. Prints the counts by kind and status and the latency
//! percentiles (from connecting to the last byte of the answer), optionally as JSON too, and
//! exits non-zero when a request got no answer or an unexpected status.
//!
//! ```text
//! cargo run --release --example webhook_load -- --url http://127.0.0.1:8080/webhooks/github \
//!   --secret-env REDRESS_WEBHOOK_SECRET --repo demo/gitops --count 1000 --seconds 10 \
//!   --concurrency 32
//! ```
//!
//! `--wrk-lua FILE` instead writes a script for `wrk` that sends the same signed body with a
//! fresh delivery id per request, paced to the same rate, and exits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use redress::forge::Secret;
use redress::serve::webhook::sign;
use serde_json::json;
use tokio::net::TcpStream;

/// Sends signed webhook deliveries at a fixed rate and reports the latencies.
#[derive(Debug, Parser)]
#[command(name = "webhook_load")]
struct Args {
    /// The endpoint, `http://HOST:PORT/PATH` (plain HTTP only).
    #[arg(long)]
    url: String,
    /// The environment variable holding the webhook secret.
    #[arg(long, value_name = "NAME")]
    secret_env: String,
    /// The repository pushed to, `owner/name` (the payload's `repository.full_name`).
    #[arg(long)]
    repo: String,
    /// The branch pushed to.
    #[arg(long, default_value = "main")]
    branch: String,
    /// How many deliveries to send.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Over how many seconds (the rate is count / seconds).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Share of deliveries (0 to 1) that replay an id already sent.
    #[arg(long, default_value_t = 0.0)]
    replays: f64,
    /// Share of deliveries (0 to 1) signed with a wrong secret.
    #[arg(long, default_value_t = 0.0)]
    bad_signatures: f64,
    /// Seconds to wait for one answer before counting it as unanswered.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a wrk Lua script for the same load to this file and exit.
    #[arg(long, value_name = "FILE")]
    wrk_lua: Option<PathBuf>,
    /// Connections the wrk script is paced for (wrk's `-c`).
    #[arg(long, default_value_t = 32)]
    wrk_connections: usize,
}

/// What one request is meant to test, and so which status it expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A new, well-signed delivery: 202.
    Fresh,
    /// The id of an earlier delivery again: 200 (duplicate).
    Replay,
    /// A wrong signature: 401.
    BadSignature,
}

impl Kind {
    fn expected(self) -> u16 {
        match self {
            Kind::Fresh => 202,
            Kind::Replay => 200,
            Kind::BadSignature => 401,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Fresh => "fresh",
            Kind::Replay => "replay",
            Kind::BadSignature => "bad-signature",
        }
    }
}

/// The value at percentile `p` (0-100) of sorted `values`, nearest-rank: the smallest value
/// with at least p% of the values at or below it. `None` when empty.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The kind of each of `count` requests: replays and bad signatures spread evenly by their
/// shares; where both land on the same index the bad signature goes first and the replay moves
/// to the next index.
fn kinds(count: usize, replays: f64, bad: f64) -> Vec<Kind> {
    let lands = |i: usize, share: f64| {
        share > 0.0 && ((i + 1) as f64 * share).floor() > (i as f64 * share).floor()
    };
    let mut pending = 0usize;
    (0..count)
        .map(|i| {
            if lands(i, replays) {
                pending += 1;
            }
            if lands(i, bad) {
                Kind::BadSignature
            } else if pending > 0 {
                pending -= 1;
                Kind::Replay
            } else {
                Kind::Fresh
            }
        })
        .collect()
}

/// The delivery id of request `i`.
fn delivery_id(run: &str, i: usize) -> String {
    format!("{run}-{i:08}")
}

/// A GitHub-shaped `push` payload for `full_name` and `branch`, different per index `i`.
fn push_body(full_name: &str, branch: &str, i: usize) -> String {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let after = format!("{:040x}", i as u128 * 0x9e37_79b9_7f4a_7c15 + 1);
    let before = format!("{:040x}", i as u128 * 0x9e37_79b9_7f4a_7c15);
    json!({
        "ref": format!("refs/heads/{branch}"),
        "before": before,
        "after": after,
        "created": false,
        "deleted": false,
        "forced": false,
        "repository": {
            "name": name,
            "full_name": full_name,
            "owner": {"login": owner, "name": owner},
            "private": true,
            "default_branch": branch,
            "html_url": format!("https://github.com/{full_name}"),
        },
        "pusher": {"name": "octocat", "email": "octocat@users.noreply.github.com"},
        "sender": {"login": "octocat", "type": "User"},
        "head_commit": {
            "id": after,
            "message": format!("Tighten the security context (load test {i})"),
            "author": {"name": "Octo Cat", "email": "octocat@users.noreply.github.com"},
            "added": [],
            "removed": [],
            "modified": ["apps/base/deployment.yaml"],
        },
        "commits": [{
            "id": after,
            "message": format!("Tighten the security context (load test {i})"),
            "modified": ["apps/base/deployment.yaml"],
        }],
    })
    .to_string()
}

/// Host, port and path of a plain `http://` URL.
fn parse_url(url: &str) -> anyhow::Result<(String, u16, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--url '{url}': only http:// URLs are supported");
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .with_context(|| format!("--url '{url}': bad port '{port}'"))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        bail!("--url '{url}': no host");
    }
    Ok((host.to_string(), port, path.to_string()))
}

/// The raw HTTP/1.1 request for one delivery.
fn request(host: &str, port: u16, path: &str, id: &str, signature: &str, body: &str) -> Vec<u8> {
    let head = format!(
        "POST {path} HTTP/1.1\r\n\
         Host: {host}:{port}\r\n\
         User-Agent: GitHub-Hookshot/redress-load\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\n\
         X-GitHub-Event: push\r\n\
         X-GitHub-Delivery: {id}\r\n\
         X-Hub-Signature-256: {signature}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// The status code of an HTTP/1.x answer's status line.
fn status_of(answer: &[u8]) -> Option<u16> {
    let line_end = answer.iter().position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(&answer[..line_end]).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Writes all of `bytes` (tokio's `io-util` is not among the crate's features, so through
/// readiness and `try_write`).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until the peer closes the connection.
async fn read_to_end(stream: &TcpStream, answer: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Sends one request on a new connection and reads the whole answer (the server closes the
/// connection after it, as asked).
async fn send(addr: &str, bytes: &[u8], timeout: Duration) -> Result<u16, String> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("nodelay: {e}"))?;
        write_all(&stream, bytes)
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::with_capacity(512);
        read_to_end(&stream, &mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        status_of(&answer)
            .ok_or_else(|| format!("no HTTP status line in {} bytes of answer", answer.len()))
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// One request's outcome.
struct Outcome {
    kind: Kind,
    status: Result<u16, String>,
    latency: Duration,
    /// How late it started after its due time (the generator's own lag).
    lag: Duration,
}

/// Latency figures in milliseconds.
fn millis(d: Option<Duration>) -> f64 {
    d.map(|d| d.as_secs_f64() * 1000.0).unwrap_or(f64::NAN)
}

/// A Lua script for wrk: the same signed body (that of request 0), a fresh delivery id per
/// request, each connection paced so `connections` of them make about `rate` requests a
/// second; `done` prints the answers by status.
fn wrk_script(path: &str, body: &str, signature: &str, rate: f64, connections: usize) -> String {
    let delay_ms = connections as f64 * 1000.0 / rate;
    // A JSON string literal is a valid Lua one for this ASCII text (no \u escapes in it).
    let quote = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut lua = format!(
        "-- Generated by `cargo run --example webhook_load -- --wrk-lua FILE`: one signed push\n\
         -- body, a fresh X-GitHub-Delivery per request, each connection paced to {delay_ms:.1} ms.\n\
         wrk.method = \"POST\"\n\
         wrk.path = {path}\n\
         wrk.body = {body}\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"X-GitHub-Event\"] = \"push\"\n\
         wrk.headers[\"X-Hub-Signature-256\"] = {signature}\n\
         local pacing = {delay_ms:.3}\n",
        path = quote(path),
        body = quote(body),
        signature = quote(signature),
    );
    lua.push_str(
        r#"local threads = {}
local run = "wrk-" .. os.time() .. "-"
function setup(thread)
  table.insert(threads, thread)
  thread:set("prefix", run .. #threads .. "-")
end
counter = 0
s200, s202, s401, other = 0, 0, 0, 0
function delay()
  return pacing
end
function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. counter
  return wrk.format()
end
function response(status, headers, body)
  if status == 202 then s202 = s202 + 1
  elseif status == 200 then s200 = s200 + 1
  elseif status == 401 then s401 = s401 + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local t = {s200 = 0, s202 = 0, s401 = 0, other = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format("statuses: 202 %d, 200 %d, 401 %d, other %d\n",
    t.s202, t.s200, t.s401, t.other))
  io.write(string.format("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
"#,
    );
    lua
}

async fn run(args: Args) -> anyhow::Result<bool> {
    if args.count == 0 || args.concurrency == 0 || args.seconds <= 0.0 || args.timeout <= 0.0 {
        bail!("--count, --concurrency, --seconds and --timeout must be positive");
    }
    if !(0.0..=1.0).contains(&args.replays) || !(0.0..=1.0).contains(&args.bad_signatures) {
        bail!("--replays and --bad-signatures are shares between 0 and 1");
    }
    let secret = Secret::new(
        std::env::var(&args.secret_env)
            .with_context(|| format!("environment variable {} is not set", args.secret_env))?,
    );
    let (host, port, path) = parse_url(&args.url)?;
    let rate = args.count as f64 / args.seconds;

    if let Some(file) = &args.wrk_lua {
        let body = push_body(&args.repo, &args.branch, 0);
        let signature = sign(&secret, body.as_bytes());
        let script = wrk_script(&path, &body, &signature, rate, args.wrk_connections);
        fs_err::write(file, script)?;
        println!(
            "wrote {} (paced to {rate:.0} requests/s over {} connections)",
            file.display(),
            args.wrk_connections
        );
        return Ok(true);
    }

    // Build every request before the clock starts: the load is only sending.
    let run_id = format!(
        "load-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let mut requests = Vec::with_capacity(args.count);
    let mut last_fresh: Vec<usize> = Vec::new();
    for (i, mut kind) in kinds(args.count, args.replays, args.bad_signatures)
        .into_iter()
        .enumerate()
    {
        // A replay repeats a fresh id sent well before (so it has been answered already).
        let replayed = last_fresh
            .iter()
            .rev()
            .find(|j| **j + 2 * args.concurrency <= i)
            .copied();
        if kind == Kind::Replay && replayed.is_none() {
            kind = Kind::Fresh;
        }
        let (id, body_index) = match (kind, replayed) {
            (Kind::Replay, Some(j)) => (delivery_id(&run_id, j), j),
            _ => (delivery_id(&run_id, i), i),
        };
        let body = push_body(&args.repo, &args.branch, body_index);
        let signature = if kind == Kind::BadSignature {
            sign(&Secret::new("not the secret"), body.as_bytes())
        } else {
            sign(&secret, body.as_bytes())
        };
        if kind == Kind::Fresh {
            last_fresh.push(i);
        }
        requests.push((kind, request(&host, port, &path, &id, &signature, &body)));
    }
    let body_bytes = push_body(&args.repo, &args.branch, 0).len();
    let requests = Arc::new(requests);
    let addr = format!("{host}:{port}");
    let timeout = Duration::from_secs_f64(args.timeout);
    let interval = Duration::from_secs_f64(args.seconds / args.count as f64);
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();

    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency.min(args.count) {
        let (requests, next, addr) = (requests.clone(), next.clone(), addr.clone());
        workers.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((kind, bytes)) = requests.get(i) else {
                    break;
                };
                let due = start + interval.mul_f64(i as f64);
                tokio::time::sleep_until(due).await;
                let began = Instant::now();
                let lag = tokio::time::Instant::now().saturating_duration_since(due);
                let status = send(&addr, bytes, timeout).await;
                outcomes.push(Outcome {
                    kind: *kind,
                    status,
                    latency: began.elapsed(),
                    lag,
                });
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::with_capacity(args.count);
    for worker in workers {
        outcomes.extend(worker.await.context("a worker panicked")?);
    }
    let wall = start.elapsed();

    // Report.
    let mut by_kind: BTreeMap<(&str, String), usize> = BTreeMap::new();
    let mut unexpected = 0;
    let mut unanswered = 0;
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        let status = match &o.status {
            Ok(code) => {
                if *code != o.kind.expected() {
                    unexpected += 1;
                }
                code.to_string()
            }
            Err(e) => {
                unanswered += 1;
                *errors.entry(e.clone()).or_default() += 1;
                "none".to_string()
            }
        };
        *by_kind.entry((o.kind.label(), status)).or_default() += 1;
    }
    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .filter(|o| o.status.is_ok())
        .map(|o| o.latency)
        .collect();
    latencies.sort();
    let max_lag = outcomes.iter().map(|o| o.lag).max().unwrap_or_default();
    let (p50, p90, p99, max) = (
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied(),
    );

    println!(
        "sent {} deliveries to {} in {:.2} s ({:.0}/s asked, {:.0}/s achieved; {} in flight at most; body {} bytes)",
        outcomes.len(),
        args.url,
        wall.as_secs_f64(),
        rate,
        outcomes.len() as f64 / wall.as_secs_f64(),
        args.concurrency,
        body_bytes,
    );
    for ((kind, status), n) in &by_kind {
        println!("  {kind:<14} status {status:<5} {n}");
    }
    for (error, n) in &errors {
        println!("  error: {error} ({n})");
    }
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}  (generator lag max {:.2} ms)",
        millis(p50),
        millis(p90),
        millis(p99),
        millis(max),
        max_lag.as_secs_f64() * 1000.0,
    );
    println!("unanswered {unanswered}, unexpected status {unexpected}");

    if let Some(file) = &args.json {
        let counts: Vec<_> = by_kind
            .iter()
            .map(|((kind, status), n)| json!({"kind": kind, "status": status, "count": n}))
            .collect();
        let summary = json!({
            "url": args.url,
            "count": outcomes.len(),
            "seconds_asked": args.seconds,
            "wall_seconds": wall.as_secs_f64(),
            "rate_asked": rate,
            "rate_achieved": outcomes.len() as f64 / wall.as_secs_f64(),
            "concurrency": args.concurrency,
            "body_bytes": body_bytes,
            "counts": counts,
            "unanswered": unanswered,
            "unexpected": unexpected,
            "latency_ms": {"p50": millis(p50), "p90": millis(p90), "p99": millis(p99), "max": millis(max)},
            "generator_lag_max_ms": max_lag.as_secs_f64() * 1000.0,
        });
        fs_err::write(file, format!("{summary:#}\n"))?;
    }
    Ok(unanswered == 0 && unexpected == 0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: tokio runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms = |n: u64| Duration::from_millis(n);
        let values: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&values, 50.0), Some(ms(50)));
        assert_eq!(percentile(&values, 90.0), Some(ms(90)));
        assert_eq!(percentile(&values, 99.0), Some(ms(99)));
        assert_eq!(percentile(&values, 100.0), Some(ms(100)));
        assert_eq!(percentile(&values, 0.0), Some(ms(1)));
        let few = [ms(1), ms(2), ms(3)];
        assert_eq!(percentile(&few, 50.0), Some(ms(2)));
        assert_eq!(percentile(&few, 99.0), Some(ms(3)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn shares_spread_kinds_evenly() {
        let kinds = kinds(95, 0.1, 0.05);
        let count = |k: Kind| kinds.iter().filter(|x| **x == k).count();
        assert_eq!(count(Kind::BadSignature), 4);
        // Indices 19, 39, 59 and 79 are both; their replays move to 20, 40, 60 and 80.
        assert_eq!(count(Kind::Replay), 9);
        assert_eq!(kinds[19], Kind::BadSignature);
        assert_eq!(kinds[20], Kind::Replay);
        assert!(super::kinds(50, 0.0, 0.0).iter().all(|k| *k == Kind::Fresh));
    }

    #[test]
    fn urls_and_status_lines() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/webhooks/github").ok(),
            Some((
                "127.0.0.1".to_string(),
                8080,
                "/webhooks/github".to_string()
            ))
        );
        assert_eq!(
            parse_url("http://localhost").ok(),
            Some(("localhost".to_string(), 80, "/".to_string()))
        );
        assert!(parse_url("https://127.0.0.1/x").is_err());
        assert!(parse_url("http://127.0.0.1:x/").is_err());
        assert_eq!(
            status_of(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"),
            Some(202)
        );
        assert_eq!(status_of(b"HTTP/1.1 401 Unauthorized\r\n\r\n"), Some(401));
        assert_eq!(status_of(b"garbage\r\n"), None);
        assert_eq!(status_of(b""), None);
    }

    #[test]
    fn requests_carry_the_signature_of_their_body() {
        let body = push_body("demo/gitops", "main", 7);
        let payload: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload["repository"]["full_name"], "demo/gitops");
        assert_eq!(payload["ref"], "refs/heads/main");
        let signature = sign(&Secret::new("s3cret"), body.as_bytes());
        let bytes = request(
            "127.0.0.1",
            8080,
            "/webhooks/github",
            "id-7",
            &signature,
            &body,
        );
        let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
        let (head, sent_body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head"));
        assert_eq!(sent_body, body);
        assert!(head.starts_with("POST /webhooks/github HTTP/1.1\r\n"));
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
        assert!(head.contains(&format!("\r\nX-Hub-Signature-256: {signature}\r\n")));
        assert!(head.contains("\r\nX-GitHub-Delivery: id-7\r\n"));
        assert!(head.contains("\r\nX-GitHub-Event: push\r\n"));
    }

    /// A one-shot server on 127.0.0.1 that reads a request of `len` bytes and answers `answer`.
    async fn one_shot(
        len: usize,
        answer: &'static [u8],
    ) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"))
            .to_string();
        let task = tokio::spawn(async move {
            let (stream, _) = listener
                .accept()
                .await
                .unwrap_or_else(|e| panic!("accept: {e}"));
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while got.len() < len {
                stream
                    .readable()
                    .await
                    .unwrap_or_else(|e| panic!("readable: {e}"));
                match stream.try_read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
            write_all(&stream, answer)
                .await
                .unwrap_or_else(|e| panic!("write: {e}"));
            got
        });
        (addr, task)
    }

    #[tokio::test]
    async fn send_writes_the_request_and_reads_the_status() {
        let bytes = request("127.0.0.1", 1, "/x", "id", "sha256=00", &"x".repeat(20_000));
        let (addr, server) = one_shot(
            bytes.len(),
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        let status = send(&addr, &bytes, Duration::from_secs(10)).await;
        assert_eq!(status, Ok(202));
        assert_eq!(server.await.unwrap_or_else(|e| panic!("{e}")), bytes);

        let (addr, _server) = one_shot(bytes.len(), b"nonsense").await;
        let status = send(&addr, &bytes, Duration::from_secs(10)).await;
        assert!(status.is_err_and(|e| e.contains("no HTTP status line")));
    }

    #[test]
    fn wrk_script_sets_the_signed_body_and_paces() {
        let body = push_body("demo/gitops", "main", 0);
        let signature = sign(&Secret::new("s3cret"), body.as_bytes());
        let lua = wrk_script("/webhooks/github", &body, &signature, 100.0, 32);
        assert!(lua.contains(&format!(
            "wrk.headers[\"X-Hub-Signature-256\"] = \"{signature}\""
        )));
        assert!(lua.contains("local pacing = 320.000"));
        // The Lua string holds the body exactly (quotes escaped as Lua reads them).
        let quoted = serde_json::Value::String(body.clone()).to_string();
        assert!(lua.contains(&format!("wrk.body = {quoted}")));
        assert!(!quoted.contains("\\u"));
    }
}
