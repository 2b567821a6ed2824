//! A fake Kubernetes API server on 127.0.0.1 for the live inventory, live view and lease tests:
//! it answers discovery (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) and list
//! requests with real `limit`/`continue` pagination, namespaced paths, a `metadata.name` field
//! selector, and 403s or 500s for the paths a test names. Objects can change while it serves
//! (`apply`, `delete`, or a client's POST/PUT with resourceVersion checks, as leases need);
//! `?watch=true` streams the changes as newline-delimited JSON from a resourceVersion, and
//! `expire_watches` makes watches end with 410 Expired as a compacted etcd would. It records
//! every request so tests can count them. It runs on its own thread and runtime, so both async
//! tests and tests that run the `redress` binary can use it; it stops when dropped.

use crate::support::json_response;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

/// One resource the fake serves: its group, version, kind, plural, scope and objects.
#[derive(Clone, Debug)]
pub struct FakeResource {
    /// API group, `""` for the core group.
    pub group: String,
    /// Version, such as `v1`.
    pub version: String,
    /// Kind, such as `Deployment`.
    pub kind: String,
    /// Plural resource name, as in the URL path.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Objects as stored; list items are served without `apiVersion` and `kind`, as a real
    /// server does for built-in kinds.
    pub items: Vec<Value>,
}

impl FakeResource {
    /// A resource with no objects yet.
    pub fn new(group_version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        let (group, version) = match group_version.split_once('/') {
            Some((group, version)) => (group.to_owned(), version.to_owned()),
            None => (String::new(), group_version.to_owned()),
        };
        FakeResource {
            group,
            version,
            kind: kind.to_owned(),
            plural: plural.to_owned(),
            namespaced,
            items: Vec::new(),
        }
    }

    /// Adds objects.
    pub fn with(mut self, items: impl IntoIterator<Item = Value>) -> Self {
        self.items.extend(items);
        self
    }

    fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    fn base_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

/// What the fake cluster holds at start.
#[derive(Clone, Default)]
pub struct FakeCluster {
    /// Resources; a group's preferred version is the first one registered for it.
    pub resources: Vec<FakeResource>,
    /// List paths (without query) answered with 403 Forbidden.
    pub forbidden: Vec<String>,
    /// Paths (discovery or list, without query) answered with 500 Internal Server Error.
    pub broken: Vec<String>,
    /// Largest page the server returns, whatever `limit` asks (0: no cap). Real servers may
    /// return fewer items than asked for.
    pub max_page: usize,
    /// Longest a watch stays open, whatever `timeoutSeconds` asks (0: no cap). Real servers
    /// end watches on their own schedule too.
    pub max_watch_seconds: u64,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// The method, such as `GET`.
    pub method: String,
    /// Path and query, as sent.
    pub uri: String,
    /// The path alone.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl Seen {
    /// Whether this is a watch request.
    pub fn is_watch(&self) -> bool {
        self.uri.contains("watch=true") || self.uri.contains("watch=1")
    }
}

/// The first resourceVersion; lists before any change report it.
const FIRST_VERSION: u64 = 12345;

struct Shared {
    /// The description at start: discovery, failures and limits come from it; objects are in
    /// `state`.
    cluster: FakeCluster,
    seen: Mutex<Vec<Seen>>,
    state: Mutex<ClusterState>,
}

/// The cluster as it changes.
struct ClusterState {
    /// Each resource's objects, by the index of the resource in `FakeCluster::resources`.
    items: Vec<Vec<Value>>,
    /// The resourceVersion of the last change.
    version: u64,
    /// Changes since the last compaction, replayed to watches that start from an older version.
    history: Vec<Change>,
    /// Watches from a version older than this are answered 410 Gone.
    compacted: u64,
    /// Open watch streams.
    watches: Vec<OpenWatch>,
    /// While set, open watches receive nothing (a stalled connection).
    paused: bool,
}

struct Change {
    version: u64,
    resource: usize,
    kind: &'static str,
    object: Value,
}

struct OpenWatch {
    resource: usize,
    namespace: Option<String>,
    name: Option<String>,
    lines: mpsc::UnboundedSender<String>,
}

impl OpenWatch {
    fn wants(&self, resource: usize, object: &Value) -> bool {
        resource == self.resource
            && matches(object, self.namespace.as_deref(), self.name.as_deref())
    }
}

fn matches(object: &Value, namespace: Option<&str>, name: Option<&str>) -> bool {
    namespace.is_none_or(|ns| object.pointer("/metadata/namespace") == Some(&json!(ns)))
        && name.is_none_or(|name| object.pointer("/metadata/name") == Some(&json!(name)))
}

fn same_object(a: &Value, b: &Value) -> bool {
    a.pointer("/metadata/namespace") == b.pointer("/metadata/namespace")
        && a.pointer("/metadata/name") == b.pointer("/metadata/name")
}

impl ClusterState {
    /// Records a change made at `self.version` and sends it to the watches that want it.
    fn publish(&mut self, resource: usize, kind: &'static str, object: Value) {
        let line = event_line(kind, &object);
        if !self.paused {
            self.watches.retain(|watch| {
                !watch.wants(resource, &object) || watch.lines.send(line.clone()).is_ok()
            });
        }
        self.history.push(Change {
            version: self.version,
            resource,
            kind,
            object,
        });
    }
}

fn event_line(kind: &str, object: &Value) -> String {
    format!("{}\n", json!({"type": kind, "object": object}))
}

fn expired_line(from: u64, now: u64) -> String {
    event_line(
        "ERROR",
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("too old resource version: {from} ({now})"),
            "reason": "Expired", "code": 410}),
    )
}

/// A running fake API server.
pub struct FakeKube {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shared: Arc<Shared>,
    _server: crate::support::Served,
}

impl FakeKube {
    /// Starts serving `cluster` on a free loopback port.
    pub fn start(cluster: FakeCluster) -> FakeKube {
        let state = ClusterState {
            items: cluster.resources.iter().map(|r| r.items.clone()).collect(),
            version: FIRST_VERSION,
            history: Vec::new(),
            compacted: 0,
            watches: Vec::new(),
            paused: false,
        };
        let shared = Arc::new(Shared {
            cluster,
            seen: Mutex::new(Vec::new()),
            state: Mutex::new(state),
        });
        let server =
            crate::support::serve(Router::new().fallback(handle).with_state(shared.clone()));
        FakeKube {
            url: server.url.clone(),
            shared,
            _server: server,
        }
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("request log").clone()
    }

    /// The requests whose path is `path` (query ignored).
    pub fn requests_to(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// The list requests (GETs that are not watches) to `path`.
    pub fn lists_of(&self, path: &str) -> Vec<Seen> {
        self.requests_to(path)
            .into_iter()
            .filter(|s| s.method == "GET" && !s.is_watch())
            .collect()
    }

    /// The watch requests to `path`.
    pub fn watches_of(&self, path: &str) -> Vec<Seen> {
        self.requests_to(path)
            .into_iter()
            .filter(Seen::is_watch)
            .collect()
    }

    /// A kube client for this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().expect("server url"));
        kube::Client::try_from(config).expect("client for the fake server")
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClusterState> {
        self.shared.state.lock().expect("cluster state")
    }

    fn resource(&self, group_version: &str, plural: &str) -> usize {
        self.shared
            .cluster
            .resources
            .iter()
            .position(|r| r.group_version() == group_version && r.plural == plural)
            .unwrap_or_else(|| panic!("the fake serves no {group_version} {plural}"))
    }

    /// Creates or replaces (same namespace and name) an object of the resource `plural` at
    /// `group_version`, as a client's write would: the cluster's resourceVersion moves on, the
    /// object gets it, and open watches receive ADDED or MODIFIED.
    pub fn apply(&self, group_version: &str, plural: &str, object: Value) {
        let resource = self.resource(group_version, plural);
        let object = with_type(&self.shared.cluster.resources[resource], object);
        let mut state = self.state();
        state.version += 1;
        let mut object = object;
        object["metadata"]["resourceVersion"] = json!(state.version.to_string());
        let items = &mut state.items[resource];
        let kind = match items.iter_mut().find(|item| same_object(item, &object)) {
            Some(item) => {
                *item = object.clone();
                "MODIFIED"
            }
            None => {
                items.push(object.clone());
                "ADDED"
            }
        };
        state.publish(resource, kind, object);
    }

    /// Deletes an object; open watches receive DELETED. Panics when there is no such object.
    pub fn delete(&self, group_version: &str, plural: &str, namespace: Option<&str>, name: &str) {
        let resource = self.resource(group_version, plural);
        let mut state = self.state();
        let position = state.items[resource]
            .iter()
            .position(|item| {
                item.pointer("/metadata/name") == Some(&json!(name))
                    && item.pointer("/metadata/namespace").and_then(Value::as_str) == namespace
            })
            .unwrap_or_else(|| panic!("no {plural} {namespace:?}/{name} to delete"));
        state.version += 1;
        let mut object = state.items[resource].remove(position);
        object["metadata"]["resourceVersion"] = json!(state.version.to_string());
        let object = with_type(&self.shared.cluster.resources[resource], object);
        state.publish(resource, "DELETED", object);
    }

    /// An object as stored now, if it exists.
    pub fn object(
        &self,
        group_version: &str,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let resource = self.resource(group_version, plural);
        self.state().items[resource]
            .iter()
            .find(|item| matches(item, namespace, Some(name)))
            .cloned()
    }

    /// Stalls the open watches: until [`FakeKube::expire_watches`], they receive no events
    /// (the changes are still recorded).
    pub fn pause_watches(&self) {
        self.state().paused = true;
    }

    /// Compacts the history, as etcd does: open watches receive `ERROR` 410 Expired and end,
    /// and new watches from any version before now are answered the same, so a client must
    /// list again. Also ends a pause.
    pub fn expire_watches(&self) {
        let mut state = self.state();
        state.version += 1;
        state.compacted = state.version;
        state.history.clear();
        state.paused = false;
        let now = state.version;
        for watch in state.watches.drain(..) {
            let _ = watch.lines.send(expired_line(now - 1, now));
        }
    }
}

/// An object with the `apiVersion` and `kind` of `resource`, as single objects and watch
/// events carry them.
fn with_type(resource: &FakeResource, mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(resource.group_version()));
        map.insert("kind".into(), json!(resource.kind));
    }
    object
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

fn not_found() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    shared.seen.lock().expect("request log").push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        path: uri.path().to_owned(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let cluster = &shared.cluster;
    let path = uri.path().trim_end_matches('/');
    if cluster.broken.iter().any(|p| p == path) {
        return status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "an error on the server (\"etcdserver: request timed out\") has prevented the request from succeeding",
        );
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["api"] => {
            let mut versions: Vec<String> = Vec::new();
            for r in cluster.resources.iter().filter(|r| r.group.is_empty()) {
                if !versions.contains(&r.version) {
                    versions.push(r.version.clone());
                }
            }
            json_response(
                StatusCode::OK,
                json!({"kind": "APIVersions", "versions": versions,
                       "serverAddressByClientCIDRs": [
                           {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
            )
        }
        ["apis"] => json_response(StatusCode::OK, group_list(cluster)),
        ["api", version] => resource_list(cluster, "", version),
        ["apis", group, version] => resource_list(cluster, group, version),
        _ => objects(&shared, &method, path, &query, &body),
    }
}

/// What a resource path names: the resource (by index), the namespace, the object's name.
struct Target<'a> {
    resource: usize,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

fn target<'a>(cluster: &FakeCluster, path: &'a str) -> Option<Target<'a>> {
    cluster.resources.iter().enumerate().find_map(|(index, r)| {
        let base = r.base_path();
        let rest = path.strip_prefix(base.as_str())?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        let (namespace, name) = match parts.as_slice() {
            [plural] if *plural == r.plural => (None, None),
            [plural, name] if *plural == r.plural && !r.namespaced => (None, Some(*name)),
            ["namespaces", ns, plural] if *plural == r.plural && r.namespaced => (Some(*ns), None),
            ["namespaces", ns, plural, name] if *plural == r.plural && r.namespaced => {
                (Some(*ns), Some(*name))
            }
            _ => return None,
        };
        Some(Target {
            resource: index,
            namespace,
            name,
        })
    })
}

/// Requests on objects: list, watch, get, create, replace.
fn objects(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let cluster = &shared.cluster;
    let Some(target) = target(cluster, path) else {
        return not_found();
    };
    let resource = &cluster.resources[target.resource];
    if cluster.forbidden.iter().any(|p| p == path) {
        let verb = match (method.as_str(), target.name) {
            ("GET", None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
            ("GET", None) => "list",
            ("GET", Some(_)) => "get",
            ("POST", _) => "create",
            _ => "update",
        };
        let message = format!(
            "{}.{} is forbidden: User \"tester\" cannot {verb} resource \"{}\"",
            resource.plural, resource.group, resource.plural
        );
        return status(StatusCode::FORBIDDEN, "Forbidden", &message);
    }
    let name_field = match query.get("fieldSelector") {
        None => None,
        Some(selector) => match selector.strip_prefix("metadata.name=") {
            Some(name) => Some(name.to_owned()),
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "unsupported field selector",
                );
            }
        },
    };
    match (method.as_str(), target.name) {
        ("GET", None) if query.get("watch").is_some_and(|w| w == "true" || w == "1") => {
            watch(shared, &target, name_field, query)
        }
        ("GET", None) => list(shared, &target, name_field.as_deref(), query),
        ("GET", Some(name)) => {
            let state = shared.state.lock().expect("cluster state");
            match state.items[target.resource]
                .iter()
                .find(|item| matches(item, target.namespace, Some(name)))
            {
                Some(item) => json_response(StatusCode::OK, with_type(resource, item.clone())),
                None => status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!(
                        "{}.{} \"{name}\" not found",
                        resource.plural, resource.group
                    ),
                ),
            }
        }
        ("POST", None) => create(shared, &target, body),
        ("PUT", Some(name)) => replace(shared, &target, name, body),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
    }
}

fn create(shared: &Arc<Shared>, target: &Target<'_>, body: &[u8]) -> Response {
    let resource = &shared.cluster.resources[target.resource];
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
        return status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            "metadata.name: Required value",
        );
    };
    let name = name.to_owned();
    let mut state = shared.state.lock().expect("cluster state");
    if state.items[target.resource]
        .iter()
        .any(|item| matches(item, target.namespace, Some(&name)))
    {
        let message = format!(
            "{}.{} \"{name}\" already exists",
            resource.plural, resource.group
        );
        return status(StatusCode::CONFLICT, "AlreadyExists", &message);
    }
    state.version += 1;
    let version = state.version;
    if let Some(namespace) = target.namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    object["metadata"]["resourceVersion"] = json!(version.to_string());
    object["metadata"]["uid"] = json!(format!("uid-{version}"));
    object["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    let object = with_type(resource, object);
    state.items[target.resource].push(object.clone());
    state.publish(target.resource, "ADDED", object.clone());
    json_response(StatusCode::CREATED, object)
}

fn replace(shared: &Arc<Shared>, target: &Target<'_>, name: &str, body: &[u8]) -> Response {
    let resource = &shared.cluster.resources[target.resource];
    let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not JSON",
        );
    };
    if object.pointer("/metadata/name") != Some(&json!(name)) {
        return status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        );
    }
    let mut state = shared.state.lock().expect("cluster state");
    let Some(position) = state.items[target.resource]
        .iter()
        .position(|item| matches(item, target.namespace, Some(name)))
    else {
        let message = format!(
            "{}.{} \"{name}\" not found",
            resource.plural, resource.group
        );
        return status(StatusCode::NOT_FOUND, "NotFound", &message);
    };
    let stored = &state.items[target.resource][position];
    let sent = object.pointer("/metadata/resourceVersion").cloned();
    if sent.is_some_and(|sent| Some(&sent) != stored.pointer("/metadata/resourceVersion")) {
        let message = format!(
            "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; \
             please apply your changes to the latest version and try again",
            resource.plural, resource.group
        );
        return status(StatusCode::CONFLICT, "Conflict", &message);
    }
    let uid = stored.pointer("/metadata/uid").cloned();
    let created = stored.pointer("/metadata/creationTimestamp").cloned();
    state.version += 1;
    let version = state.version;
    if let Some(namespace) = target.namespace {
        object["metadata"]["namespace"] = json!(namespace);
    }
    object["metadata"]["resourceVersion"] = json!(version.to_string());
    if let Some(uid) = uid {
        object["metadata"]["uid"] = uid;
    }
    if let Some(created) = created {
        object["metadata"]["creationTimestamp"] = created;
    }
    let object = with_type(resource, object);
    state.items[target.resource][position] = object.clone();
    state.publish(target.resource, "MODIFIED", object.clone());
    json_response(StatusCode::OK, object)
}

/// A watch: the changes after `resourceVersion` (or every object as ADDED when none is given),
/// then each change as it happens, as newline-delimited JSON, until `timeoutSeconds`. From a
/// compacted version, one `ERROR` 410 event.
fn watch(
    shared: &Arc<Shared>,
    target: &Target<'_>,
    name: Option<String>,
    query: &HashMap<String, String>,
) -> Response {
    let resource = &shared.cluster.resources[target.resource];
    let from = match query.get("resourceVersion").map(String::as_str) {
        None | Some("" | "0") => None,
        Some(version) => match version.parse::<u64>() {
            Ok(version) => Some(version),
            Err(_) => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "invalid resourceVersion",
                );
            }
        },
    };
    let mut seconds = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(1800);
    if shared.cluster.max_watch_seconds > 0 {
        seconds = seconds.min(shared.cluster.max_watch_seconds);
    }
    let bookmarks = query
        .get("allowWatchBookmarks")
        .is_some_and(|b| b == "true");
    let (lines, receiver) = mpsc::unbounded_channel::<String>();
    {
        let mut state = shared.state.lock().expect("cluster state");
        let open = OpenWatch {
            resource: target.resource,
            namespace: target.namespace.map(str::to_owned),
            name,
            lines,
        };
        match from {
            Some(from) if from < state.compacted => {
                let _ = open.lines.send(expired_line(from, state.version));
            }
            _ => {
                if !state.paused {
                    let replay: Vec<String> = match from {
                        None => state.items[target.resource]
                            .iter()
                            .filter(|item| open.wants(target.resource, item))
                            .map(|item| event_line("ADDED", &with_type(resource, item.clone())))
                            .collect(),
                        Some(from) => state
                            .history
                            .iter()
                            .filter(|c| c.version > from && open.wants(c.resource, &c.object))
                            .map(|c| event_line(c.kind, &c.object))
                            .collect(),
                    };
                    for line in replay {
                        let _ = open.lines.send(line);
                    }
                }
                state.watches.push(open);
            }
        }
    }
    let (writer, reader) = UnixStream::pair().expect("a socket pair for the watch stream");
    let bookmark = bookmarks.then(|| (shared.clone(), resource.clone()));
    tokio::spawn(pump(
        receiver,
        writer,
        Duration::from_secs(seconds),
        bookmark,
    ));
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Body::from_stream(tokio_util::io::ReaderStream::new(reader)),
    )
        .into_response()
}

/// Writes a watch's events until its deadline (then a BOOKMARK with the current version, when
/// asked for, as a real server does before it ends a watch), until its channel closes, or until
/// the client goes away.
async fn pump(
    mut lines: mpsc::UnboundedReceiver<String>,
    writer: UnixStream,
    timeout: Duration,
    bookmark: Option<(Arc<Shared>, FakeResource)>,
) {
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    if write_all(&writer, line.as_bytes()).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            () = &mut deadline => {
                if let Some((shared, resource)) = bookmark {
                    let version = shared.state.lock().expect("cluster state").version;
                    let line = event_line("BOOKMARK", &json!({
                        "kind": resource.kind, "apiVersion": resource.group_version(),
                        "metadata": {"resourceVersion": version.to_string()}}));
                    let _ = write_all(&writer, line.as_bytes()).await;
                }
                return;
            }
        }
    }
}

/// `write_all` for a socket, with the `net` feature's own methods (tokio's `io-util` is not
/// enabled here).
async fn write_all(writer: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        writer.writable().await?;
        match writer.try_write(bytes) {
            Ok(written) => bytes = &bytes[written..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

fn group_list(cluster: &FakeCluster) -> Value {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for r in cluster.resources.iter().filter(|r| !r.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => {
                versions.push(r.version.clone());
            }
            Some(_) => {}
            None => groups.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    let groups: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let entry = |v: &String| json!({"groupVersion": format!("{group}/{v}"), "version": v});
            json!({"name": group, "versions": versions.iter().map(entry).collect::<Vec<_>>(),
                   "preferredVersion": entry(&versions[0])})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(cluster: &FakeCluster, group: &str, version: &str) -> Response {
    let served: Vec<&FakeResource> = cluster
        .resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .collect();
    if served.is_empty() {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    }
    let mut resources = Vec::new();
    for r in &served {
        let verbs = [
            "create", "delete", "get", "list", "patch", "update", "watch",
        ];
        resources.push(
            json!({"name": r.plural, "singularName": r.kind.to_lowercase(),
            "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs}),
        );
        // A subresource, as real servers list them: it must not be taken for the kind.
        resources.push(
            json!({"name": format!("{}/status", r.plural), "singularName": "",
            "namespaced": r.namespaced, "kind": r.kind, "verbs": ["get", "patch", "update"]}),
        );
    }
    json_response(
        StatusCode::OK,
        json!({"kind": "APIResourceList", "apiVersion": "v1",
               "groupVersion": served[0].group_version(), "resources": resources}),
    )
}

fn list(
    shared: &Arc<Shared>,
    target: &Target<'_>,
    name_field: Option<&str>,
    query: &HashMap<String, String>,
) -> Response {
    let cluster = &shared.cluster;
    let resource = &cluster.resources[target.resource];
    let state = shared.state.lock().expect("cluster state");
    let matching: Vec<&Value> = state.items[target.resource]
        .iter()
        .filter(|item| matches(item, target.namespace, name_field))
        .collect();
    let start = match query.get("continue") {
        None => 0,
        Some(token) => match token
            .strip_prefix("next-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(start) => start,
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "invalid continue token",
                );
            }
        },
    };
    let mut size = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(usize::MAX);
    if cluster.max_page > 0 {
        size = size.min(cluster.max_page);
    }
    let end = start.saturating_add(size).min(matching.len());
    let items: Vec<Value> = matching[start.min(end)..end]
        .iter()
        .map(|item| {
            let mut item = (*item).clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            item
        })
        .collect();
    let mut metadata = json!({"resourceVersion": state.version.to_string()});
    if end < matching.len() {
        metadata["continue"] = json!(format!("next-{end}"));
        metadata["remainingItemCount"] = json!(matching.len() - end);
    }
    json_response(
        StatusCode::OK,
        json!({"kind": format!("{}List", resource.kind), "apiVersion": resource.group_version(),
               "metadata": metadata, "items": items}),
    )
}
