//! Live inventory: lists, through the Kubernetes API (kube), every kind the rules need, page by
//! page, cluster-wide or in one namespace. It takes a kubeconfig context (or the in-cluster
//! configuration) and a rule set, and gives an `Inventory` of `Object`s whose origin names the
//! context. Kinds are resolved by API discovery at their preferred version, so custom resources
//! work like built-in ones; a kind the server does not serve is skipped. A list that fails (403,
//! 500) is reported as an input error and the other kinds go on; only an unreachable cluster
//! stops the run. It reads and never writes, and it knows nothing of how rules evaluate.

use super::{InputError, Inventory};
use crate::engine::RuleSet;
use crate::engine::rule::Scope;
use crate::model::{Object, Origin};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::core::params::ListParams;
use kube::core::{ApiResource, DynamicObject, GroupVersion, Resource, Version};
use kube::discovery::{self, Scope as ResourceScope, verbs};
use kube::{Client, Config};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tracing::Instrument as _;

/// How many objects one list request asks for; the API server may return fewer.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// The origin label of objects read through the in-cluster configuration.
pub const IN_CLUSTER: &str = "in-cluster";

/// Kinds the cross-object checks read even when no rule names them: namespaces and network
/// policies (namespace isolation), service accounts (whether a pod's token is mounted), and
/// RBAC (bindings and the roles they grant).
const CONTEXT_KINDS: [(&str, &str); 7] = [
    ("", "Namespace"),
    ("", "ServiceAccount"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
];

/// Why the live inventory could not run at all. A failure to list one kind is not one of these:
/// it becomes an `InputError` in the inventory.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The named kubeconfig context could not be loaded.
    #[error("loading kubeconfig context '{context}'")]
    Kubeconfig {
        /// The context asked for.
        context: String,
        /// The cause.
        #[source]
        source: KubeconfigError,
    },
    /// Neither a kubeconfig nor an in-cluster configuration was found.
    #[error(
        "no cluster configuration: kubeconfig: {kubeconfig}; in-cluster: {in_cluster} \
         (set KUBECONFIG, or run in a pod)"
    )]
    NoConfig {
        /// Why the kubeconfig could not be used.
        kubeconfig: String,
        /// Why the in-cluster configuration could not be used.
        in_cluster: String,
    },
    /// The client could not be built from the configuration (bad certificate, proxy, auth).
    #[error("building a client for {server}")]
    Client {
        /// The API server URL.
        server: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// The API server did not answer API discovery: unreachable, or refusing the credentials.
    #[error(
        "cannot reach the Kubernetes API of context '{context}'{}: {reason}",
        server.as_deref().map(|s| format!(" at {s}")).unwrap_or_default()
    )]
    Unreachable {
        /// The context label.
        context: String,
        /// The API server URL, when known (a ready `Client` does not tell it).
        server: Option<String>,
        /// What went wrong, status and message included.
        reason: String,
    },
}

/// Lists the objects the rules need from the cluster of kubeconfig `context` (the current
/// context when `None`, or the in-cluster configuration when there is no kubeconfig),
/// restricted to `namespace` when given (cluster-scoped kinds are still listed).
pub async fn read_cluster(
    context: Option<&str>,
    namespace: Option<&str>,
    rules: &RuleSet,
) -> Result<Inventory, LiveError> {
    read_cluster_with(context, namespace, rules, &[]).await
}

/// [`read_cluster`], also listing `extra` kinds (group, kind) when the server serves them:
/// `redress fix` reads the GitOps deployers (Argo CD Applications, Flux Kustomizations,
/// HelmReleases and GitRepositories) this way.
pub async fn read_cluster_with(
    context: Option<&str>,
    namespace: Option<&str>,
    rules: &RuleSet,
    extra: &[(&str, &str)],
) -> Result<Inventory, LiveError> {
    let target = match context {
        Some(name) => Target::Context {
            name,
            kubeconfig: None,
        },
        None => Target::Infer,
    };
    let connected = connect(target).await?;
    let kinds = needed_kinds_with(rules, extra);
    connected.list(&kinds, namespace).await
}

/// Which cluster to talk to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A kubeconfig context, from `kubeconfig` or else `$KUBECONFIG` / `~/.kube/config`.
    Context {
        /// The context's name.
        name: &'a str,
        /// The kubeconfig file, when not the default one.
        kubeconfig: Option<&'a std::path::Path>,
    },
    /// The current kubeconfig context, else the in-cluster configuration.
    Infer,
    /// The in-cluster configuration (the pod's service account) only.
    InCluster,
}

/// A ready client, the label its objects carry as their origin, and the server it talks to.
pub struct Connected {
    /// The client.
    pub client: Client,
    /// The context name, or `in-cluster`.
    pub label: String,
    /// The API server URL, for errors.
    pub server: String,
}

impl Connected {
    /// [`list_objects`] with this client, naming the server when it cannot be reached.
    pub async fn list(
        &self,
        kinds: &[(String, String)],
        namespace: Option<&str>,
    ) -> Result<Inventory, LiveError> {
        list_objects(
            &self.client,
            &self.label,
            kinds,
            namespace,
            DEFAULT_PAGE_SIZE,
        )
        .await
        .map_err(|error| match error {
            LiveError::Unreachable {
                context, reason, ..
            } => LiveError::Unreachable {
                context,
                server: Some(self.server.clone()),
                reason,
            },
            other => other,
        })
    }
}

/// Builds a client for `target`.
pub async fn connect(target: Target<'_>) -> Result<Connected, LiveError> {
    let (config, label) = load_config(target).await?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|source| LiveError::Client {
        server: server.clone(),
        source,
    })?;
    Ok(Connected {
        client,
        label,
        server,
    })
}

/// Loads the client configuration and the label objects will carry as their origin. Without a
/// context this follows `kube::Config::infer` (kubeconfig first, then in-cluster), done here by
/// hand because `infer` does not say which one it used, and the origin must name it.
async fn load_config(target: Target<'_>) -> Result<(Config, String), LiveError> {
    match target {
        Target::Context { name, kubeconfig } => {
            let options = KubeConfigOptions {
                context: Some(name.to_owned()),
                ..KubeConfigOptions::default()
            };
            let loaded = match kubeconfig {
                Some(path) => match Kubeconfig::read_from(path) {
                    Ok(file) => Config::from_custom_kubeconfig(file, &options).await,
                    Err(error) => Err(error),
                },
                None => Config::from_kubeconfig(&options).await,
            };
            let mut config = loaded.map_err(|source| LiveError::Kubeconfig {
                context: name.to_owned(),
                source,
            })?;
            config.apply_debug_overrides();
            return Ok((config, name.to_owned()));
        }
        Target::InCluster => {
            let mut config = Config::incluster().map_err(|error| LiveError::NoConfig {
                kubeconfig: "not used for an in-cluster configuration".to_owned(),
                in_cluster: error_chain(&error),
            })?;
            config.apply_debug_overrides();
            return Ok((config, IN_CLUSTER.to_owned()));
        }
        Target::Infer => {}
    }
    let from_kubeconfig = match Kubeconfig::read() {
        Ok(kubeconfig) => {
            let label = kubeconfig.current_context.clone().unwrap_or_default();
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map(|config| (config, label))
        }
        Err(error) => Err(error),
    };
    let (mut config, label) = match from_kubeconfig {
        Ok(found) => found,
        Err(kubeconfig) => match Config::incluster() {
            Ok(config) => (config, IN_CLUSTER.to_owned()),
            Err(in_cluster) => {
                return Err(LiveError::NoConfig {
                    kubeconfig: error_chain(&kubeconfig),
                    in_cluster: error_chain(&in_cluster),
                });
            }
        },
    };
    config.apply_debug_overrides();
    Ok((config, label))
}

/// Every (group, kind) the rules need: the kinds of object-scoped rules, every workload kind,
/// and the kinds cross-object checks read. Sorted, without duplicates.
pub fn needed_kinds(rules: &RuleSet) -> Vec<(String, String)> {
    needed_kinds_with(rules, &[])
}

/// [`needed_kinds`] and `extra` kinds (group, kind), without duplicates: what `redress fix`
/// and the sweeps read, with the GitOps deployers as `extra`.
pub fn needed_kinds_with(rules: &RuleSet, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut kinds = std::collections::BTreeSet::new();
    for rule in &rules.rules {
        if rule.matches.scope == Scope::Object {
            kinds.extend(rule.kinds.iter().cloned());
        }
    }
    for workload in &rules.kinds {
        kinds.insert((workload.group.clone(), workload.kind.clone()));
    }
    for (group, kind) in CONTEXT_KINDS.iter().chain(extra) {
        kinds.insert(((*group).to_owned(), (*kind).to_owned()));
    }
    kinds.into_iter().collect()
}

/// A kind the server serves, resolved by discovery.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// The resource at the version chosen.
    pub(crate) resource: ApiResource,
    /// Whether its objects live in namespaces.
    pub(crate) namespaced: bool,
}

/// Lists `kinds` (as (group, kind) pairs) through a ready `client`, `page_size` objects per
/// request, in `namespace` or cluster-wide; cluster-scoped kinds are always listed whole, except
/// `Namespace`, of which only `namespace` itself is read when one is given. Objects carry
/// `Origin::Cluster { context }`. Kinds the server does not serve are skipped; a kind that
/// fails to list is reported in `Inventory::errors`. Fails only when discovery itself fails.
pub async fn list_objects(
    client: &Client,
    context: &str,
    kinds: &[(String, String)],
    namespace: Option<&str>,
    page_size: u32,
) -> Result<Inventory, LiveError> {
    let span =
        tracing::info_span!("live_inventory", %context, namespace = namespace.unwrap_or("*"));
    async {
        let mut inventory = Inventory::default();
        let served = discover(client, context, kinds, &mut inventory).await?;
        for kind in &served {
            list_kind(client, context, kind, namespace, page_size, &mut inventory).await;
        }
        tracing::info!(
            objects = inventory.objects.len(),
            errors = inventory.errors.len(),
            "listed"
        );
        Ok(inventory)
    }
    .instrument(span)
    .await
}

/// Resolves each (group, kind) to a listable resource: the preferred version of its group
/// first, then the other versions from the most stable. A group version whose discovery fails
/// is reported and the others are tried.
pub(crate) async fn discover(
    client: &Client,
    context: &str,
    kinds: &[(String, String)],
    inventory: &mut Inventory,
) -> Result<Vec<Served>, LiveError> {
    let unreachable = |error: kube::Error| LiveError::Unreachable {
        context: context.to_owned(),
        server: None,
        reason: describe(&error),
    };
    let core = client.list_core_api_versions().await.map_err(unreachable)?;
    let groups = client.list_api_groups().await.map_err(unreachable)?;

    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (group, kind) in kinds {
        let kinds = wanted.entry(group.as_str()).or_default();
        if !kinds.contains(&kind.as_str()) {
            kinds.push(kind);
        }
    }
    let mut served = Vec::new();
    for (group, mut missing) in wanted {
        let (preferred, versions): (Option<String>, Vec<String>) = if group.is_empty() {
            (Some("v1".to_owned()), core.versions.clone())
        } else if let Some(found) = groups.groups.iter().find(|g| g.name == group) {
            (
                found.preferred_version.as_ref().map(|v| v.version.clone()),
                found.versions.iter().map(|v| v.version.clone()).collect(),
            )
        } else {
            tracing::debug!(group, kinds = ?missing, "group not served; skipped");
            continue;
        };
        for version in version_order(preferred, versions) {
            if missing.is_empty() {
                break;
            }
            let gv = GroupVersion::gv(group, &version);
            let resources = match discovery::pinned_group(client, &gv).await {
                Ok(resources) => resources,
                Err(error) => {
                    let path = if group.is_empty() {
                        format!("/api/{version}")
                    } else {
                        format!("/apis/{group}/{version}")
                    };
                    tracing::debug!(%path, reason = %describe(&error), "discovery failed");
                    inventory.errors.push(input_error(
                        path,
                        format!("API discovery failed: {}", describe(&error)),
                    ));
                    continue;
                }
            };
            missing.retain(|kind| {
                let Some((resource, caps)) = resources.recommended_kind(kind) else {
                    return true;
                };
                if caps.supports_operation(verbs::LIST) {
                    served.push(Served {
                        namespaced: caps.scope == ResourceScope::Namespaced,
                        resource,
                    });
                } else {
                    tracing::debug!(group, kind, "kind cannot be listed; skipped");
                }
                false
            });
        }
        for kind in missing {
            tracing::debug!(group, kind, "kind not served; skipped");
        }
    }
    Ok(served)
}

/// The versions of a group in the order to try them: the preferred one, then the rest from the
/// most stable and most recent (`v1`, `v1beta2`, `v1beta1`, `v1alpha1`).
fn version_order(preferred: Option<String>, mut versions: Vec<String>) -> Vec<String> {
    versions.sort_by_cached_key(|v| std::cmp::Reverse(Version::parse(v).priority()));
    versions.dedup();
    if let Some(preferred) = preferred {
        versions.retain(|v| *v != preferred);
        versions.insert(0, preferred);
    }
    versions
}

/// One page of a list response: the items as raw JSON, and the token for the next page.
#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    metadata: PageMeta,
    #[serde(default)]
    items: Option<Vec<Value>>,
}

#[derive(Deserialize, Default)]
struct PageMeta {
    #[serde(default, rename = "continue")]
    continue_token: Option<String>,
}

/// Lists one kind, following `continue` tokens until the last page. A failed page is reported
/// and ends this kind; the objects of the pages before it are kept.
async fn list_kind(
    client: &Client,
    context: &str,
    kind: &Served,
    namespace: Option<&str>,
    page_size: u32,
    inventory: &mut Inventory,
) {
    let resource = &kind.resource;
    let scoped = namespace.filter(|_| kind.namespaced);
    let path = <DynamicObject as Resource>::url_path(resource, scoped);
    let mut params = ListParams::default().limit(page_size);
    if let Some(fields) = field_selector(kind, namespace) {
        params = params.fields(&fields);
    }
    let mut pages = 0usize;
    let mut listed = 0usize;
    loop {
        let page = match list_page(client, &path, &params).await {
            Ok(page) => page,
            Err(error) => {
                tracing::debug!(%path, reason = %describe(&error), "list failed");
                inventory.errors.push(input_error(
                    path.clone(),
                    format!("listing {} failed: {}", resource.kind, describe(&error)),
                ));
                break;
            }
        };
        pages += 1;
        for item in page.items.unwrap_or_default() {
            match to_object(item, resource, context) {
                Some(object) => {
                    inventory.objects.push(object);
                    listed += 1;
                }
                None => inventory.errors.push(input_error(
                    path.clone(),
                    format!("a {} list item is not a JSON object", resource.kind),
                )),
            }
        }
        match page.metadata.continue_token.filter(|t| !t.is_empty()) {
            Some(token) => params.continue_token = Some(token),
            None => break,
        }
    }
    tracing::debug!(%path, pages, objects = listed, "kind listed");
}

/// The field selector a kind is read with: for `Namespace` when a namespace is scanned, only
/// that namespace (the others' namespace checks would see none of their network policies and
/// report them all); none otherwise.
pub(crate) fn field_selector(kind: &Served, namespace: Option<&str>) -> Option<String> {
    let namespace = namespace?;
    let resource = &kind.resource;
    (!kind.namespaced && resource.group.is_empty() && resource.kind == "Namespace")
        .then(|| format!("metadata.name={namespace}"))
}

async fn list_page(client: &Client, path: &str, params: &ListParams) -> Result<Page, kube::Error> {
    let request = kube::core::Request::new(path)
        .list(params)
        .map_err(kube::Error::BuildRequest)?;
    client.request::<Page>(request).await
}

/// Turns a list item into an `Object`: list items often lack `apiVersion` and `kind`, which
/// are set from the resource listed, and `metadata.managedFields` is dropped (it is large and
/// no rule reads it).
pub(crate) fn to_object(mut item: Value, resource: &ApiResource, context: &str) -> Option<Object> {
    let map = item.as_object_mut()?;
    map.insert(
        "apiVersion".to_owned(),
        Value::String(resource.api_version.clone()),
    );
    map.insert("kind".to_owned(), Value::String(resource.kind.clone()));
    if let Some(metadata) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
    Object::from_json(
        item,
        Origin::Cluster {
            context: context.to_owned(),
        },
    )
}

pub(crate) fn input_error(path: String, message: String) -> InputError {
    InputError {
        file: PathBuf::from(path),
        document: None,
        line: None,
        message,
    }
}

/// A short, readable account of a kube error: `403 Forbidden: <the server's message>` for API
/// statuses, the chain of causes otherwise.
pub(crate) fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let mut text = status.code.to_string();
            if !status.reason.is_empty() {
                text.push(' ');
                text.push_str(&status.reason);
            }
            if !status.message.is_empty() {
                text.push_str(": ");
                text.push_str(&status.message);
            }
            text
        }
        other => error_chain(other),
    }
}

/// An error and its causes, joined with `: `, skipping a cause already quoted by its parent.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preferred_version_first_then_most_stable() {
        let order = version_order(
            Some("v1beta2".to_owned()),
            ["v1alpha1", "v1", "v1beta1", "v1beta2", "v2"]
                .map(str::to_owned)
                .to_vec(),
        );
        assert_eq!(order, ["v1beta2", "v2", "v1", "v1beta1", "v1alpha1"]);
    }

    #[test]
    fn list_items_get_their_type_and_lose_managed_fields() {
        let resource = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        };
        let item = json!({"metadata": {"name": "web", "namespace": "prod",
            "managedFields": [{"manager": "kubectl"}]}, "spec": {}});
        let object = to_object(item, &resource, "dev").unwrap();
        assert_eq!(object.id.api_version, "apps/v1");
        assert_eq!(object.id.kind, "Deployment");
        assert_eq!(object.id.namespace.as_deref(), Some("prod"));
        assert!(object.json.pointer("/metadata/managedFields").is_none());
        assert_eq!(
            object.origin,
            Origin::Cluster {
                context: "dev".into()
            }
        );
        assert!(to_object(json!("text"), &resource, "dev").is_none());
    }

    #[test]
    fn needed_kinds_cover_workloads_custom_resources_and_rbac() {
        let rules = RuleSet::load(None, None).unwrap();
        let kinds = needed_kinds(&rules);
        for (group, kind) in [
            ("apps", "Deployment"),
            ("", "Pod"),
            ("batch", "CronJob"),
            ("argoproj.io", "Rollout"),
            ("", "Namespace"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ] {
            assert!(
                kinds.contains(&(group.to_owned(), kind.to_owned())),
                "{group}/{kind} missing from {kinds:?}"
            );
        }
        let mut sorted = kinds.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(kinds, sorted);
    }
}
