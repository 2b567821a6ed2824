//! serve, live view: keeps an in-memory copy of one cluster's objects current with one kube
//! watcher per kind, so sweeps read memory instead of listing the whole cluster each time.
//!
//! Takes a ready kube `Client`, the context label objects carry, the (group, kind) pairs to
//! follow and an optional namespace; gives an [`Inventory`] shaped exactly like
//! [`list_objects`](crate::inventory::live::list_objects) gives (same origin, `apiVersion` and
//! `kind` filled, `managedFields` dropped, tracking annotations and labels kept). Each watcher
//! lists, then watches from the list's resourceVersion; when the watch expires (410 Gone) kube's
//! watcher lists again and the new list replaces the old set at once, so objects deleted while
//! the watch was away disappear. A kind that cannot be listed or watched is reported in
//! `Inventory::errors` and its last known objects are kept (dropping them would make every
//! finding on them look resolved). It reads and never writes, and knows nothing of rules.

use crate::inventory::live::{self, LiveError, Served};
use crate::inventory::{InputError, Inventory};
use crate::model::Object;
use kube::api::{Api, DynamicObject};
use kube::core::Resource as _;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// How long a watcher error is reported when no event came after it. A watcher that keeps
/// failing reports again after each backoff (at most 30 s apart in kube's default backoff); one
/// that recovered on a quiet kind sends no event to say so, and stops being reported after this.
const FAILING_WINDOW: Duration = Duration::from_secs(120);

/// An object's key within its kind: namespace (empty when cluster-scoped) and name.
type Key = (String, String);

/// A live view of one cluster, kept current by one kube watcher per kind.
#[derive(Clone)]
pub struct LiveView {
    inner: Arc<Inner>,
}

struct Inner {
    context: String,
    /// One entry per served kind, in discovery order.
    kinds: Vec<KindView>,
    /// Group versions whose discovery failed at start, reported as list_objects does.
    discovery_errors: Vec<InputError>,
    /// Whether every watcher has settled (listed, or failed its first list).
    ready: tokio::sync::watch::Sender<bool>,
    /// Completed lists, over all kinds.
    lists: AtomicU64,
}

struct KindView {
    served: Served,
    /// The API path listed and watched, named in errors.
    path: String,
    state: Mutex<KindState>,
}

#[derive(Default)]
struct KindState {
    /// The objects as of the last event.
    objects: BTreeMap<Key, Object>,
    /// A list in progress: filled by `InitApply`, swapped in at `InitDone`.
    pending: Option<BTreeMap<Key, Object>>,
    /// Whether the first list completed or failed.
    settled: bool,
    /// The last error, when no event came after it, and when it happened.
    failing: Option<(String, Instant)>,
}

impl LiveView {
    /// Discovers which of `kinds` (group, kind) the server serves (as `list_objects` does), and
    /// starts one `kube::runtime::watcher` per served kind (in `namespace` when given;
    /// cluster-scoped kinds cluster-wide, `Namespace` limited to that one namespace as
    /// `list_objects` does). Returns at once; the watchers run as tokio tasks until `shutdown`
    /// is cancelled. Fails only when discovery itself fails.
    pub async fn start(
        client: kube::Client,
        context: &str,
        kinds: &[(String, String)],
        namespace: Option<&str>,
        shutdown: CancellationToken,
    ) -> Result<LiveView, LiveError> {
        let mut discovered = Inventory::default();
        let served = live::discover(&client, context, kinds, &mut discovered).await?;
        let kinds: Vec<KindView> = served
            .into_iter()
            .map(|served| {
                let scoped = namespace.filter(|_| served.namespaced);
                KindView {
                    path: DynamicObject::url_path(&served.resource, scoped),
                    served,
                    state: Mutex::new(KindState::default()),
                }
            })
            .collect();
        let (ready, _) = tokio::sync::watch::channel(kinds.is_empty());
        let inner = Arc::new(Inner {
            context: context.to_owned(),
            kinds,
            discovery_errors: discovered.errors,
            ready,
            lists: AtomicU64::new(0),
        });
        for index in 0..inner.kinds.len() {
            let served = &inner.kinds[index].served;
            let api: Api<DynamicObject> = match namespace.filter(|_| served.namespaced) {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &served.resource),
                None => Api::all_with(client.clone(), &served.resource),
            };
            let mut config = watcher::Config::default();
            if let Some(fields) = live::field_selector(served, namespace) {
                config = config.fields(&fields);
            }
            let span = tracing::info_span!("live_view", %context, path = %inner.kinds[index].path);
            tokio::spawn(
                run_kind(inner.clone(), index, api, config, shutdown.clone()).instrument(span),
            );
        }
        tracing::info!(%context, kinds = inner.kinds.len(), "live view started");
        Ok(LiveView { inner })
    }

    /// Whether every watcher has settled: completed its initial list, or failed it (a kind
    /// that cannot be listed is then reported in [`LiveView::inventory`]'s errors, as
    /// `list_objects` reports it, so one forbidden kind does not keep the view from serving).
    pub fn is_ready(&self) -> bool {
        *self.inner.ready.borrow()
    }

    /// Waits until ready, at most `timeout`; gives whether it is ready.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let mut ready = self.inner.ready.subscribe();
        matches!(
            tokio::time::timeout(timeout, ready.wait_for(|ready| *ready)).await,
            Ok(Ok(_))
        )
    }

    /// The objects now, as an `Inventory` shaped exactly like `list_objects` gives (same
    /// origin, apiVersion/kind filled, tracking annotations and labels kept), sorted by
    /// apiVersion, kind, namespace and name. A kind whose watch is failing (403, 5xx) is
    /// reported in `Inventory::errors` like `list_objects` does, with its last known objects.
    pub fn inventory(&self) -> Inventory {
        let mut inventory = Inventory {
            errors: self.inner.discovery_errors.clone(),
            ..Inventory::default()
        };
        for kind in &self.inner.kinds {
            let state = lock(&kind.state);
            inventory.objects.extend(state.objects.values().cloned());
            if let Some((message, at)) = &state.failing
                && at.elapsed() < FAILING_WINDOW
            {
                inventory
                    .errors
                    .push(live::input_error(kind.path.clone(), message.clone()));
            }
        }
        inventory.objects.sort_by(|a, b| {
            (&a.id.api_version, &a.id.kind, &a.id.namespace, &a.id.name).cmp(&(
                &b.id.api_version,
                &b.id.kind,
                &b.id.namespace,
                &b.id.name,
            ))
        });
        inventory
    }

    /// How many times a watcher completed a list: the initial lists plus the re-lists after a
    /// watch expired or failed.
    pub fn lists(&self) -> u64 {
        self.inner.lists.load(Ordering::Relaxed)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drives one kind's watcher until `shutdown`.
async fn run_kind(
    inner: Arc<Inner>,
    index: usize,
    api: Api<DynamicObject>,
    config: watcher::Config,
    shutdown: CancellationToken,
) {
    let stream = watcher::watcher(api, config).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            next = next_item(&mut stream) => next,
        };
        match next {
            Some(Ok(event)) => inner.apply(index, event),
            Some(Err(error)) => inner.fail(index, &error),
            None => break,
        }
    }
    tracing::debug!("watcher stopped");
}

/// The next item of a stream. `futures` is not a dependency, and its `Stream` trait is reached
/// here through `WatchStreamExt`, of which it is the supertrait.
async fn next_item<S: WatchStreamExt + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

impl Inner {
    fn apply(&self, index: usize, event: Event<DynamicObject>) {
        let kind = &self.kinds[index];
        let mut state = lock(&kind.state);
        match event {
            // Before each list attempt; not yet a sign that the kind can be read.
            Event::Init => {
                state.pending = Some(BTreeMap::new());
                return;
            }
            Event::InitApply(object) => {
                if let Some((key, object)) = self.object(kind, object) {
                    state.pending.get_or_insert_default().insert(key, object);
                }
            }
            Event::InitDone => {
                state.objects = state.pending.take().unwrap_or_default();
                state.failing = None;
                let first = !state.settled;
                state.settled = true;
                let objects = state.objects.len();
                drop(state);
                let lists = self.lists.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::debug!(objects, lists, "listed");
                if first {
                    self.update_ready();
                }
                return;
            }
            Event::Apply(object) => {
                if let Some((key, object)) = self.object(kind, object) {
                    state.objects.insert(key, object);
                }
            }
            Event::Delete(object) => {
                state.objects.remove(&key_of(&object));
            }
        }
        state.failing = None;
    }

    fn fail(&self, index: usize, error: &watcher::Error) {
        let kind = &self.kinds[index];
        let name = &kind.served.resource.kind;
        let message = match error {
            watcher::Error::WatchError(status) if status.code == 410 => {
                tracing::debug!(reason = %status.message, "watch expired; listing again");
                return;
            }
            watcher::Error::InitialListFailed(error) => {
                format!("listing {name} failed: {}", live::describe(error))
            }
            watcher::Error::WatchStartFailed(error) | watcher::Error::WatchFailed(error) => {
                format!("watching {name} failed: {}", live::describe(error))
            }
            watcher::Error::WatchError(status) => {
                format!(
                    "watching {name} failed: {} {}: {}",
                    status.code, status.reason, status.message
                )
            }
            watcher::Error::NoResourceVersion => {
                format!("watching {name} failed: an object came without a resourceVersion")
            }
        };
        tracing::warn!(reason = %message, "watcher error; retrying after backoff");
        let mut state = lock(&kind.state);
        state.failing = Some((message, Instant::now()));
        let first = !state.settled;
        state.settled = true;
        drop(state);
        if first {
            self.update_ready();
        }
    }

    fn update_ready(&self) {
        let ready = self.kinds.iter().all(|kind| lock(&kind.state).settled);
        self.ready.send_if_modified(|current| {
            let changed = *current != ready;
            *current = ready;
            changed
        });
        if ready {
            tracing::info!(context = %self.context, "live view ready");
        }
    }

    /// The inventory object for a watched one, made exactly as `list_objects` makes it.
    fn object(&self, kind: &KindView, object: DynamicObject) -> Option<(Key, Object)> {
        let key = key_of(&object);
        let json = match serde_json::to_value(&object) {
            Ok(json) => json,
            Err(error) => {
                tracing::warn!(%error, name = %key.1, "watched object not serializable; skipped");
                return None;
            }
        };
        let made = live::to_object(json, &kind.served.resource, &self.context);
        if made.is_none() {
            tracing::warn!(name = %key.1, "watched object is not a JSON object; skipped");
        }
        made.map(|object| (key, object))
    }
}

fn key_of(object: &DynamicObject) -> Key {
    (
        object.metadata.namespace.clone().unwrap_or_default(),
        object.metadata.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::ApiResource;
    use serde_json::json;

    fn view(namespaced: bool) -> Inner {
        let resource = ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            plural: "deployments".into(),
        };
        let (ready, _) = tokio::sync::watch::channel(false);
        Inner {
            context: "dev".into(),
            kinds: vec![KindView {
                path: "/apis/apps/v1/deployments".into(),
                served: Served {
                    resource,
                    namespaced,
                },
                state: Mutex::new(KindState::default()),
            }],
            discovery_errors: Vec::new(),
            ready,
            lists: AtomicU64::new(0),
        }
    }

    fn deployment(name: &str, image: &str) -> DynamicObject {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "prod",
            "resourceVersion": "7"}, "spec": {"image": image}}))
        .unwrap()
    }

    fn names(inner: &Inner) -> Vec<String> {
        lock(&inner.kinds[0].state)
            .objects
            .keys()
            .map(|(_, name)| name.clone())
            .collect()
    }

    #[test]
    fn a_relist_replaces_the_set_only_when_done() {
        let inner = view(true);
        inner.apply(0, Event::Init);
        inner.apply(0, Event::InitApply(deployment("old", "a")));
        inner.apply(0, Event::InitApply(deployment("gone", "a")));
        inner.apply(0, Event::InitDone);
        assert_eq!(names(&inner), ["gone", "old"]);
        assert_eq!(inner.lists.load(Ordering::Relaxed), 1);
        assert!(*inner.ready.borrow());

        inner.apply(0, Event::Init);
        inner.apply(0, Event::InitApply(deployment("old", "b")));
        assert_eq!(
            names(&inner),
            ["gone", "old"],
            "the old set serves meanwhile"
        );
        inner.apply(0, Event::InitDone);
        assert_eq!(names(&inner), ["old"]);
        let state = lock(&inner.kinds[0].state);
        let object = &state.objects[&("prod".to_owned(), "old".to_owned())];
        assert_eq!(object.json["spec"]["image"], "b");
        assert_eq!(object.json["kind"], "Deployment");
        assert_eq!(object.id.api_version, "apps/v1");
    }

    #[test]
    fn failures_are_reported_until_the_next_event_and_expiry_is_not_one() {
        let inner = view(true);
        inner.apply(0, Event::Init);
        let status =
            kube::core::Status::failure("too old resource version", "Expired").with_code(410);
        inner.fail(0, &watcher::Error::WatchError(Box::new(status)));
        assert!(lock(&inner.kinds[0].state).failing.is_none());
        assert!(!*inner.ready.borrow());

        inner.fail(0, &watcher::Error::NoResourceVersion);
        assert!(
            *inner.ready.borrow(),
            "a failed first list settles the kind"
        );
        assert!(lock(&inner.kinds[0].state).failing.is_some());
        inner.apply(0, Event::Init);
        assert!(lock(&inner.kinds[0].state).failing.is_some());
        inner.apply(0, Event::Apply(deployment("web", "a")));
        assert!(lock(&inner.kinds[0].state).failing.is_none());
        inner.apply(0, Event::Delete(deployment("web", "a")));
        assert!(names(&inner).is_empty());
    }
}
