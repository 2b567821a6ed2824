//! A fake Kubernetes API server on 127.0.0.1 for the live inventory tests: it answers discovery
//! (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) and list requests with real
//! `limit`/`continue` pagination, namespaced paths, a `metadata.name` field selector, and 403s
//! or 500s for the paths a test names. It records every request so tests can count them. It runs on
//! its own thread and runtime, so both async tests and tests that run the `redress` binary can
//! use it; it stops when dropped.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One resource the fake serves: its group, version, kind, plural, scope and objects.
#[derive(Clone)]
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

/// What the fake cluster holds.
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
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Path and query, as sent.
    pub uri: String,
    /// The path alone.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

struct Shared {
    cluster: FakeCluster,
    seen: Mutex<Vec<Seen>>,
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
        let shared = Arc::new(Shared {
            cluster,
            seen: Mutex::new(Vec::new()),
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

    /// A kube client for this server.
    pub fn client(&self) -> kube::Client {
        let config = kube::Config::new(self.url.parse().expect("server url"));
        kube::Client::try_from(config).expect("client for the fake server")
    }
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code.as_u16()}),
    )
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    shared.seen.lock().expect("request log").push(Seen {
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
        _ => list(cluster, path, &query),
    }
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

fn list(cluster: &FakeCluster, path: &str, query: &HashMap<String, String>) -> Response {
    let Some((resource, namespace)) = cluster.resources.iter().find_map(|r| {
        let rest = path.strip_prefix(&r.base_path())?.strip_prefix('/')?;
        if rest == r.plural {
            return Some((r, None));
        }
        let rest = rest.strip_prefix("namespaces/")?;
        let (namespace, plural) = rest.split_once('/')?;
        (r.namespaced && plural == r.plural).then_some((r, Some(namespace)))
    }) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    if cluster.forbidden.iter().any(|p| p == path) {
        let message = format!(
            "{}.{} is forbidden: User \"tester\" cannot list resource \"{}\"",
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
    let matching: Vec<&Value> = resource
        .items
        .iter()
        .filter(|item| {
            namespace.is_none_or(|ns| item.pointer("/metadata/namespace") == Some(&json!(ns)))
        })
        .filter(|item| {
            name_field
                .as_ref()
                .is_none_or(|name| item.pointer("/metadata/name") == Some(&json!(name)))
        })
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
    let mut metadata = json!({"resourceVersion": "12345"});
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
