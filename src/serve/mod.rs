//! serve: redress as a service (`redress serve`): scheduled sweeps, webhook rescans, review
//! commands, a continuous live view of the clusters, leader election, health and metrics.
//!
//! Takes a validated [`Config`] with its `serve` section and runs until shut down.
//! [`start`] checks everything a running service needs (the webhook secret, the schedule, the
//! rules, the credentials files) and fails with one clear message before it binds anything;
//! then it starts the watchers, the leader election, one worker per repository, the schedule
//! and the HTTP server. Requests only check and queue: the work happens in the workers, one
//! at a time per repository, so sweeps and pushes to one remote never overlap, and rescans
//! asked for while one runs fold into one. Only the leader sweeps and writes.
//!
//! Sub-modules: `webhook` (signature and replay checks), `commands` (what reviewers write),
//! `worker` (sweeps and commands of one repository), `schedule` (crontab and jitter),
//! `metrics` (Prometheus text), `page` (the posture page at `/`), `watch` (the kube watcher's view), `lease` (leader election).

pub mod commands;
pub mod lease;
pub mod metrics;
pub mod page;
pub mod schedule;
pub mod watch;
pub mod webhook;
mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::{ClusterSource, Config};
use crate::forge::Secret;
use crate::sweep::Sweeper;

use lease::Leadership;
use metrics::Metrics;
use watch::LiveView;
use webhook::Deliveries;
use worker::Slot;

/// How many delivery ids are remembered against replays.
const REMEMBERED_DELIVERIES: usize = 10_000;

/// What every task of the service shares.
pub(crate) struct Shared {
    config: Config,
    sweeper: Sweeper,
    metrics: Metrics,
    secret: Option<Secret>,
    deliveries: Deliveries,
    leadership: Leadership,
    /// Watched clusters, by cluster name.
    views: Vec<(String, LiveView)>,
    /// One per configured repository, in order.
    slots: Vec<Slot>,
    /// The last scan of the live objects and when its read began: the sweeps of several
    /// repositories asked for at one time share it.
    live: std::sync::Mutex<Option<(std::time::Instant, Arc<crate::sweep::LiveScan>)>>,
    shutdown: CancellationToken,
}

/// A running service.
pub struct Running {
    /// The address the HTTP server listens on.
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// The token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the service has stopped (after its token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the service task failed")?
    }

    /// Stops the service: no new requests, the current sweep finished or abandoned after the
    /// grace period.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Checks the configuration, starts every part of the service and gives it running.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let secret = config.serve.webhook_secret(&config.file)?;
    let schedule = config.serve.schedule.clone();
    let sweeper = Sweeper::new(&config)?;
    let shutdown = CancellationToken::new();

    let mut views = Vec::new();
    let mut election_client = None;
    for cluster in &config.clusters {
        if matches!(cluster.source, ClusterSource::Snapshot(_)) {
            continue;
        }
        let crate::inventory::live::Connected { client, label, .. } =
            crate::sweep::cluster_client(cluster)
                .await
                .with_context(|| format!("cluster {}", cluster.name))?;
        if election_client.is_none() {
            election_client = Some(client.clone());
        }
        if config.serve.watch {
            let view = LiveView::start(
                client,
                &label,
                &crate::sweep::live_kinds(&sweeper.rules),
                cluster.namespace.as_deref(),
                shutdown.child_token(),
            )
            .await
            .with_context(|| format!("watching cluster {}", cluster.name))?;
            views.push((cluster.name.clone(), view));
        }
    }

    let mut election_task = None;
    let leadership = match &config.serve.leader_election {
        None => Leadership::always(),
        Some(election) => {
            let client = match election_client {
                Some(client) => client,
                None => kube::Client::try_default()
                    .await
                    .context("leader election needs a Kubernetes client")?,
            };
            let identity = election.identity.clone().unwrap_or_else(|| {
                std::env::var("POD_NAME")
                    .or_else(|_| std::env::var("HOSTNAME"))
                    .unwrap_or_else(|_| format!("redress-{}", std::process::id()))
            });
            let (leadership, task) = lease::spawn(
                client,
                lease::LeaseConfig {
                    namespace: election.namespace.clone(),
                    name: election.lease.clone(),
                    identity,
                    lease_duration: election.lease_duration,
                    renew_every: election.lease_duration / 3,
                },
                shutdown.child_token(),
            );
            election_task = Some((task, election.lease_duration));
            leadership
        }
    };

    let listener = tokio::net::TcpListener::bind(config.serve.listen)
        .await
        .with_context(|| format!("binding {}", config.serve.listen))?;
    let addr = listener.local_addr()?;
    let slots = config
        .repositories
        .iter()
        .map(|_| Slot::default())
        .collect();
    let shared = Arc::new(Shared {
        config,
        sweeper,
        metrics: Metrics::new(),
        secret,
        deliveries: Deliveries::new(REMEMBERED_DELIVERIES),
        leadership,
        views,
        slots,
        live: std::sync::Mutex::new(None),
        shutdown: shutdown.clone(),
    });

    let mut workers = Vec::new();
    for index in 0..shared.slots.len() {
        workers.push(tokio::spawn(worker::run(shared.clone(), index)));
    }
    {
        let shared = shared.clone();
        let mut leadership = shared.leadership.clone();
        tokio::spawn(async move {
            // On becoming the leader (at once for a single replica), sweep everything once the
            // live view is loaded, without waiting for the schedule.
            let mut leading = false;
            loop {
                let now = leadership.is_leader();
                shared.metrics.set_leader(now);
                if now && !leading && shared.config.serve.sweep_on_start {
                    for (_, view) in &shared.views {
                        view.wait_ready(Duration::from_secs(120)).await;
                    }
                    for index in 0..shared.slots.len() {
                        shared.request_rescan(index, "startup");
                    }
                }
                leading = now;
                tokio::select! {
                    _ = leadership.changed() => {}
                    _ = shared.shutdown.cancelled() => break,
                }
            }
        });
    }
    if let Some(schedule) = schedule {
        let shared = shared.clone();
        let jitter = shared.config.serve.jitter;
        tokio::spawn(schedule::run(
            schedule,
            jitter,
            shutdown.child_token(),
            move || {
                for index in 0..shared.slots.len() {
                    shared.request_rescan(index, "schedule");
                }
            },
        ));
    }

    let app = Router::new()
        .route("/", get(posture_page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/webhooks/github", post(github_webhook))
        .with_state(shared.clone());
    tracing::info!(%addr, "redress serve listening");
    let grace = shared.config.serve.shutdown_grace;
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.clone().cancelled_owned())
            .await
            .context("the HTTP server failed")?;
        stop.cancel();
        let all = futures_join(workers);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "the current sweep did not finish within the grace period; abandoned (the next \
                 sweep starts again from what the forge holds)"
            );
        }
        // Let the election release the Lease, so another replica takes over at once rather
        // than after the lease duration (the runtime stops right after this task).
        if let Some((task, bound)) = election_task
            && tokio::time::timeout(bound, task).await.is_err()
        {
            tracing::warn!(
                "the Lease was not released in time; another replica waits for it to expire"
            );
        }
        tracing::info!("redress serve stopped");
        Ok(())
    });
    Ok(Running {
        addr,
        shutdown,
        task,
    })
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        let _ = handle.await;
    }
}

impl Shared {
    /// Asks for a sweep of repository `index`; folded into one already waiting.
    pub(crate) fn request_rescan(&self, index: usize, trigger: &'static str) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        if !slot.request_rescan(trigger) {
            self.metrics
                .rescan_coalesced(&self.config.repositories[index].name);
        }
    }

    /// The repository whose forge is `full_name` (`owner/repo`, any case).
    fn repository_index(&self, full_name: &str) -> Option<usize> {
        self.config
            .repositories
            .iter()
            .position(|repo| match &repo.forge {
                Some(crate::config::Forge::GitHub(github)) => {
                    format!("{}/{}", github.owner, github.repo).eq_ignore_ascii_case(full_name)
                }
                None => false,
            })
    }

    /// The live objects scanned, read no earlier than `asked`: the last scan when it is recent
    /// enough, else a new one (watched clusters from their view, others read now). Blocking.
    pub(crate) fn live_scan(
        &self,
        asked: std::time::Instant,
    ) -> anyhow::Result<Arc<crate::sweep::LiveScan>> {
        let mut last = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, scan)) = &*last
            && *at >= asked
        {
            return Ok(scan.clone());
        }
        let at = std::time::Instant::now();
        let live = crate::sweep::read_clusters(&self.config, &self.sweeper.rules, &|cluster| {
            self.views
                .iter()
                .find(|(name, _)| *name == cluster.name)
                .map(|(_, view)| view.inventory())
        })?;
        let scan = Arc::new(self.sweeper.scan_live(live));
        *last = Some((at, scan.clone()));
        Ok(scan)
    }

    fn views_ready(&self) -> bool {
        self.views.iter().all(|(_, view)| view.is_ready())
    }
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if !shared.views_ready() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the live view is still loading\n",
        )
            .into_response();
    }
    if !shared.leadership.is_leader() {
        // Webhooks must reach the replica that writes: only the leader takes traffic.
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "standby: another replica leads\n",
        )
            .into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}

async fn posture_page(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page::render(&shared),
    )
        .into_response()
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        shared.metrics.encode(),
    )
        .into_response()
}

async fn github_webhook(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let answer = |shared: &Shared, status: StatusCode, result: &str, message: String| {
        shared.metrics.webhook_delivery(result);
        (status, message + "\n").into_response()
    };
    let Some(secret) = &shared.secret else {
        return (StatusCode::NOT_FOUND, "webhooks are not configured\n").into_response();
    };
    let limit = shared
        .config
        .serve
        .webhook
        .as_ref()
        .map_or(1 << 20, |w| w.max_body_bytes);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || format!("the body is larger than {limit} bytes");
    if declared.is_some_and(|n| n > limit) {
        return answer(
            &shared,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            too_large(),
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return answer(
            &shared,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            too_large(),
        );
    };
    match webhook::check(secret, &shared.deliveries, &headers, &bytes) {
        Err(refusal) => answer(&shared, refusal.status, refusal.result, refusal.message),
        Ok(delivery) => {
            let (result, message) = worker::route(&shared, &delivery);
            let status = if result == "accepted" {
                StatusCode::ACCEPTED
            } else {
                StatusCode::OK
            };
            answer(&shared, status, result, message)
        }
    }
}

/// `redress serve`: runs until SIGTERM or Ctrl-C, then stops gracefully. Gives the exit code.
pub fn main(config: Config) -> anyhow::Result<u8> {
    let grace = config.serve.shutdown_grace;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async {
        // Handlers first: a signal that arrives once the address is printed must stop us
        // gracefully, not kill the process.
        let signals = Signals::install()?;
        let running = start(config).await?;
        eprintln!("redress serve: listening on {}", running.addr);
        let token = running.shutdown_token();
        tokio::select! {
            _ = signals.recv() => tracing::info!("shutdown signal received"),
            _ = token.cancelled() => {}
        }
        running.stop().await
    });
    // A sweep abandoned after the grace period runs on a blocking thread: do not wait for it.
    runtime.shutdown_timeout(grace.min(Duration::from_secs(5)));
    result.map(|()| 0)
}

/// SIGTERM (what Kubernetes sends) and Ctrl-C, listened to from the moment they are
/// installed.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .context("listening for SIGTERM")?,
        })
    }

    async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
