//! serve, leader election: several replicas of `redress serve` agree, through one
//! `coordination.k8s.io/v1` Lease, on the one that writes (opens pull requests, comments).
//!
//! Takes a kube `Client`, the Lease's namespace and name, this replica's identity and the
//! timings; gives a [`Leadership`] that tells, at any moment, whether this replica leads. The
//! loop creates the Lease when absent, takes it when it is free or expired, and renews it while
//! leading. Every write is a replace carrying the resourceVersion just read, so of two replicas
//! racing for the Lease one gets 409 Conflict and stays a follower. A leader that cannot renew
//! steps down when its last successful renewal is a lease duration old, which is before anyone
//! else may take the Lease: a follower takes an expired Lease only when its `renewTime` plus
//! `leaseDurationSeconds` is past by the wall clock *and* the follower itself has seen the
//! Lease unchanged for that long (so a follower whose clock runs ahead cannot steal it). On
//! shutdown the leader steps down first, then clears `holderIdentity` so another replica takes
//! over at its next poll. It touches no other object and logs no credentials.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where the Lease is, who this replica is, and the timings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity (its pod name), written as `holderIdentity`.
    pub identity: String,
    /// How long a Lease stays valid after its last renewal (`leaseDurationSeconds`, rounded up
    /// to whole seconds).
    pub lease_duration: std::time::Duration,
    /// How often the leader renews and followers look at the Lease; must be shorter than
    /// `lease_duration` (a third of it is used otherwise).
    pub renew_every: std::time::Duration,
}

/// Whether this replica leads now; cheap to clone and query.
#[derive(Clone, Debug)]
pub struct Leadership {
    leading: tokio::sync::watch::Receiver<bool>,
    /// For [`Leadership::always`]: the sender, kept so the answer stays true.
    _always: Option<std::sync::Arc<tokio::sync::watch::Sender<bool>>>,
}

impl Leadership {
    /// A single replica: always the leader.
    pub fn always() -> Leadership {
        let (sender, leading) = tokio::sync::watch::channel(true);
        Leadership {
            leading,
            _always: Some(std::sync::Arc::new(sender)),
        }
    }

    /// Whether this replica leads now. Once the election task has ended (shut down, or died
    /// without stepping down) this replica does not lead.
    pub fn is_leader(&self) -> bool {
        *self.leading.borrow() && self.leading.has_changed().is_ok()
    }

    /// Waits for the next change. Once the election has stopped (or for
    /// [`Leadership::always`]) there is none, and this waits forever.
    pub async fn changed(&mut self) {
        if self.leading.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Starts the election loop: create the `coordination.k8s.io/v1` Lease if absent, else take it
/// when it is free or expired (renewTime + leaseDurationSeconds in the past), renew it every
/// `renew_every` while leading; all writes are replaces carrying the read resourceVersion, so a
/// 409 Conflict means someone else won. Losing the ability to renew before the lease expires
/// means stepping down (is_leader false) before another can take it. On `shutdown` the leader
/// releases the lease (clears holderIdentity) so another replica takes over fast.
pub fn spawn(
    client: kube::Client,
    config: LeaseConfig,
    shutdown: CancellationToken,
) -> (Leadership, tokio::task::JoinHandle<()>) {
    let (sender, leading) = tokio::sync::watch::channel(false);
    let span = tracing::info_span!("lease", namespace = %config.namespace, lease = %config.name,
        identity = %config.identity);
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let elector = Elector::new(api, config, sender);
    let task = tokio::spawn(tracing::Instrument::instrument(elector.run(shutdown), span));
    let leadership = Leadership {
        leading,
        _always: None,
    };
    (leadership, task)
}

/// What one look at the Lease came to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// This replica holds the Lease, renewed by a request sent at this instant.
    Leading(Instant),
    /// Another replica holds it.
    Following,
    /// A write lost a race (409): look again at once.
    Conflict,
    /// The API could not be asked.
    Failed,
}

/// Who holds a Lease, seen from this replica.
#[derive(Debug, PartialEq, Eq)]
enum Holder {
    /// Nobody.
    Free,
    /// This replica.
    Me,
    /// Another replica, named.
    Other(String),
}

struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    /// `lease_duration` in whole seconds, as written.
    seconds: i32,
    leading: tokio::sync::watch::Sender<bool>,
    /// While leading: the instant the leadership lapses unless renewed before.
    leading_until: Option<Instant>,
    /// The resourceVersion last seen and since when it has not changed.
    observed: Option<(String, Instant)>,
}

impl Elector {
    fn new(
        api: Api<Lease>,
        mut config: LeaseConfig,
        leading: tokio::sync::watch::Sender<bool>,
    ) -> Self {
        if config.renew_every >= config.lease_duration || config.renew_every.is_zero() {
            let renew_every = config.lease_duration / 3;
            tracing::warn!(
                renew_every = ?config.renew_every,
                lease_duration = ?config.lease_duration,
                using = ?renew_every,
                "renewal interval not shorter than the lease duration"
            );
            config.renew_every = renew_every;
        }
        Elector {
            api,
            seconds: whole_seconds(config.lease_duration),
            config,
            leading,
            leading_until: None,
            observed: None,
        }
    }

    async fn run(mut self, shutdown: CancellationToken) {
        let mut retry_now = false;
        loop {
            let limit = self
                .leading_until
                .unwrap_or_else(|| Instant::now() + self.config.lease_duration);
            let outcome = tokio::select! {
                () = shutdown.cancelled() => break,
                outcome = tokio::time::timeout_at(limit, self.attempt()) => {
                    outcome.unwrap_or_else(|_| {
                        tracing::warn!("lease request timed out");
                        Outcome::Failed
                    })
                }
            };
            let conflict = outcome == Outcome::Conflict;
            match outcome {
                Outcome::Leading(sent) => {
                    self.leading_until = Some(sent + self.config.lease_duration);
                }
                Outcome::Following => self.leading_until = None,
                Outcome::Conflict | Outcome::Failed => {}
            }
            if self
                .leading_until
                .is_some_and(|until| Instant::now() >= until)
            {
                tracing::warn!("lease not renewed in time");
                self.leading_until = None;
            }
            self.publish();
            // After a lost race look again at once, but only once in a row.
            retry_now = conflict && !retry_now;
            if retry_now {
                continue;
            }
            let mut wake = Instant::now() + self.config.renew_every;
            if let Some(until) = self.leading_until {
                wake = wake.min(until);
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        if self.leading_until.take().is_some() {
            self.publish();
            self.release().await;
        }
    }

    /// Tells the `Leadership` handles, logging transitions.
    fn publish(&self) {
        let leading = self.leading_until.is_some();
        let changed = self.leading.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
        if changed {
            if leading {
                tracing::info!("leading");
            } else {
                tracing::info!("stepped down");
            }
        }
    }

    /// Reads the Lease and creates, takes or renews it when this replica may.
    async fn attempt(&mut self) -> Outcome {
        let name = self.config.name.clone();
        let lease = match self.api.get_opt(&name).await {
            Ok(lease) => lease,
            Err(error) => {
                tracing::warn!(reason = %crate::inventory::live::describe(&error), "reading the lease failed");
                return Outcome::Failed;
            }
        };
        let Some(mut lease) = lease else {
            let now = Timestamp::now();
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(self.seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            let sent = Instant::now();
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Outcome::Leading(sent),
                Err(error) => self.write_failed("creating", &error),
            };
        };
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        let seen_since = match &self.observed {
            Some((seen, since)) if *seen == version => *since,
            _ => {
                let now = Instant::now();
                self.observed = Some((version, now));
                now
            }
        };
        let mut spec = lease.spec.take().unwrap_or_default();
        let holder = holder_of(&spec, &self.config.identity);
        let now = Timestamp::now();
        match holder {
            Holder::Me => {}
            Holder::Free => {
                tracing::debug!("lease is free");
                spec = taken(spec, &self.config.identity, now);
            }
            Holder::Other(other) => {
                let held_for = lease_duration(&spec, self.config.lease_duration);
                if expired(spec.renew_time.as_ref(), held_for, now)
                    && seen_since.elapsed() >= held_for
                {
                    tracing::info!(previous = %other, "lease expired; taking it");
                    spec = taken(spec, &self.config.identity, now);
                } else {
                    return Outcome::Following;
                }
            }
        }
        spec.renew_time = Some(MicroTime(now));
        spec.lease_duration_seconds = Some(self.seconds);
        lease.spec = Some(spec);
        let sent = Instant::now();
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(written) => {
                self.observed = written
                    .metadata
                    .resource_version
                    .map(|version| (version, Instant::now()));
                Outcome::Leading(sent)
            }
            Err(error) => self.write_failed("writing", &error),
        }
    }

    fn write_failed(&self, doing: &str, error: &kube::Error) -> Outcome {
        if let kube::Error::Api(status) = error
            && status.is_conflict()
        {
            tracing::debug!(doing, "another replica wrote the lease first");
            return Outcome::Conflict;
        }
        let reason = crate::inventory::live::describe(error);
        tracing::warn!(doing, %reason, "writing the lease failed");
        Outcome::Failed
    }

    /// Clears `holderIdentity` when this replica still holds the Lease, within one renewal
    /// interval (at least a second); failing that, the Lease simply expires.
    async fn release(&self) {
        let limit = self.config.renew_every.max(Duration::from_secs(1));
        let release = async {
            let mut lease = self.api.get_opt(&self.config.name).await?;
            let Some(lease) = lease.as_mut() else {
                return Ok(false);
            };
            let Some(spec) = lease.spec.as_mut() else {
                return Ok(false);
            };
            if holder_of(spec, &self.config.identity) != Holder::Me {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.acquire_time = None;
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            self.api
                .replace(&self.config.name, &PostParams::default(), lease)
                .await
                .map(|_| true)
        };
        match tokio::time::timeout(limit, release).await {
            Ok(Ok(true)) => tracing::info!("lease released"),
            Ok(Ok(false)) => tracing::debug!("lease held by another; nothing to release"),
            Ok(Err(error)) => {
                let reason = crate::inventory::live::describe(&error);
                tracing::warn!(%reason, "releasing the lease failed; it will expire");
            }
            Err(_) => tracing::warn!("releasing the lease timed out; it will expire"),
        }
    }
}

/// Who holds the Lease described by `spec`, seen from `me`.
fn holder_of(spec: &LeaseSpec, me: &str) -> Holder {
    match spec.holder_identity.as_deref() {
        None | Some("") => Holder::Free,
        Some(holder) if holder == me => Holder::Me,
        Some(holder) => Holder::Other(holder.to_owned()),
    }
}

/// The Lease with `me` as its new holder, acquired `now`, one more transition counted.
fn taken(mut spec: LeaseSpec, me: &str, now: Timestamp) -> LeaseSpec {
    spec.holder_identity = Some(me.to_owned());
    spec.acquire_time = Some(MicroTime(now));
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
    spec
}

/// How long the Lease's holder asked to hold it, `fallback` when it did not say.
fn lease_duration(spec: &LeaseSpec, fallback: Duration) -> Duration {
    spec.lease_duration_seconds
        .and_then(|seconds| u64::try_from(seconds).ok())
        .filter(|&seconds| seconds > 0)
        .map_or(fallback, Duration::from_secs)
}

/// Whether a Lease renewed at `renewed` and held for `duration` has expired at `now`: its
/// renewal plus its duration is in the past. A Lease never renewed has expired.
fn expired(renewed: Option<&MicroTime>, duration: Duration, now: Timestamp) -> bool {
    let Some(MicroTime(renewed)) = renewed else {
        return true;
    };
    let duration = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
    renewed.as_millisecond().saturating_add(duration) < now.as_millisecond()
}

/// A duration as whole seconds for `leaseDurationSeconds`, rounded up, at least one.
fn whole_seconds(duration: Duration) -> i32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn a_lease_expires_once_renewal_plus_duration_is_past() {
        let renewed = MicroTime(at(0));
        let duration = Duration::from_secs(15);
        assert!(!expired(Some(&renewed), duration, at(10)));
        assert!(
            !expired(Some(&renewed), duration, at(15)),
            "exactly at the end"
        );
        assert!(expired(Some(&renewed), duration, at(16)));
        assert!(expired(None, duration, at(0)), "never renewed");
    }

    #[test]
    fn the_holder_is_free_mine_or_another() {
        let spec = |holder: Option<&str>| LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            ..LeaseSpec::default()
        };
        assert_eq!(holder_of(&spec(None), "a"), Holder::Free);
        assert_eq!(holder_of(&spec(Some("")), "a"), Holder::Free);
        assert_eq!(holder_of(&spec(Some("a")), "a"), Holder::Me);
        assert_eq!(
            holder_of(&spec(Some("b")), "a"),
            Holder::Other("b".to_owned())
        );
    }

    #[test]
    fn taking_counts_a_transition_and_the_duration_is_the_holders() {
        let spec = taken(
            LeaseSpec {
                holder_identity: Some("b".into()),
                lease_duration_seconds: Some(40),
                lease_transitions: Some(2),
                ..LeaseSpec::default()
            },
            "a",
            at(5),
        );
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.lease_transitions, Some(3));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(5))));
        let fallback = Duration::from_secs(15);
        assert_eq!(lease_duration(&spec, fallback), Duration::from_secs(40));
        assert_eq!(lease_duration(&LeaseSpec::default(), fallback), fallback);
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(15)), 15);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }

    #[tokio::test]
    async fn a_single_replica_always_leads() {
        let mut leadership = Leadership::always();
        assert!(leadership.is_leader());
        let changed = tokio::time::timeout(Duration::from_millis(10), leadership.changed()).await;
        assert!(changed.is_err(), "no change ever comes");
    }
}
