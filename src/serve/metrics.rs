//! serve::metrics: what `GET /metrics` shows, in the OpenMetrics text format Prometheus reads.
//!
//! Takes the service's figures as they change (posture scores after a sweep, findings and pull
//! requests per repository, sweep durations, webhook deliveries, coalesced rescans, leadership)
//! and gives the text of a scrape. Gauges that describe a repository's current state are
//! replaced as a whole on each update, so a label set that no longer applies disappears instead
//! of lingering with its old value. It holds no secrets and does no I/O; serving the text over
//! HTTP is the router's job.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The Content-Type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PostureLabels {
    cluster: String,
    framework: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FindingLabels {
    repository: String,
    severity: String,
    classification: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PullRequestLabels {
    repository: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RepositoryLabels {
    repository: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SweepLabels {
    repository: String,
    trigger: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    result: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// A gauge family whose label sets are owned by a key (a cluster or a repository) and
/// replaced as a whole for that key.
struct Replaced<L, M> {
    family: Family<L, M>,
    by_key: Mutex<HashMap<String, Vec<L>>>,
}

impl<L, M> Replaced<L, M>
where
    L: Clone + std::hash::Hash + Eq,
    M: Default,
{
    fn new() -> Self {
        Replaced {
            family: Family::default(),
            by_key: Mutex::new(HashMap::new()),
        }
    }

    /// Sets `key`'s values to exactly `values` with `set`, removing its label sets not among
    /// them.
    fn replace<V>(&self, key: &str, values: Vec<(L, V)>, set: impl Fn(&M, V)) {
        let mut by_key = self
            .by_key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now: Vec<L> = values.iter().map(|(l, _)| l.clone()).collect();
        if let Some(previous) = by_key.get(key) {
            for labels in previous.iter().filter(|l| !now.contains(l)) {
                self.family.remove(labels);
            }
        }
        for (labels, value) in values {
            set(&self.family.get_or_create(&labels), value);
        }
        by_key.insert(key.to_string(), now);
    }
}

/// Sets an integer gauge to a count (saturating at `i64::MAX`).
fn set_count(gauge: &Gauge, n: u64) {
    gauge.set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// The service's metrics; shared across tasks (`Send + Sync`).
pub struct Metrics {
    registry: Registry,
    posture: Replaced<PostureLabels, FloatGauge>,
    findings: Replaced<FindingLabels, Gauge>,
    pull_requests: Replaced<PullRequestLabels, Gauge>,
    sweep_duration: HistogramFamily<RepositoryLabels>,
    sweeps: Family<SweepLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    coalesced: Family<RepositoryLabels, Counter>,
    leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Sweep duration buckets: 0.1 s doubling to about 14 minutes.
fn sweep_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.1, 2.0, 14))
}

impl Metrics {
    /// Registers every metric, all empty (the leader gauge at 0).
    pub fn new() -> Metrics {
        let posture = Replaced::new();
        let findings = Replaced::new();
        let pull_requests = Replaced::new();
        let sweep_duration: HistogramFamily<RepositoryLabels> =
            Family::new_with_constructor(sweep_histogram);
        let sweeps = Family::<SweepLabels, Counter>::default();
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let coalesced = Family::<RepositoryLabels, Counter>::default();
        let leader = Gauge::default();

        let mut registry = Registry::default();
        registry.register(
            "redress_posture_score",
            "Posture score (0-100) per cluster, overall and per compliance framework",
            posture.family.clone(),
        );
        registry.register(
            "redress_findings",
            "Findings per repository by severity and classification, from the last sweep",
            findings.family.clone(),
        );
        registry.register(
            "redress_pull_requests",
            "Pull requests redress knows per repository, by state",
            pull_requests.family.clone(),
        );
        registry.register_with_unit(
            "redress_sweep_duration",
            "Duration of a repository's sweep",
            Unit::Seconds,
            sweep_duration.clone(),
        );
        registry.register(
            "redress_sweeps",
            "Sweeps per repository by trigger (schedule, webhook, startup, command) and result",
            sweeps.clone(),
        );
        registry.register(
            "redress_webhook_deliveries",
            "Webhook deliveries by result (accepted, duplicate, unauthorized, too_large, \
             bad_request, ignored)",
            deliveries.clone(),
        );
        registry.register(
            "redress_rescans_coalesced",
            "Rescan requests folded into one already pending for the repository",
            coalesced.clone(),
        );
        registry.register(
            "redress_leader",
            "1 when this replica holds the leader lease",
            leader.clone(),
        );
        Metrics {
            registry,
            posture,
            findings,
            pull_requests,
            sweep_duration,
            sweeps,
            deliveries,
            coalesced,
            leader,
        }
    }

    /// `redress_posture_score{cluster,framework}`: the overall score as `framework="overall"`
    /// and one per framework id; replaces the cluster's previous scores.
    pub fn set_posture(&self, cluster: &str, overall: f64, frameworks: &[(String, f64)]) {
        let labels = |framework: &str| PostureLabels {
            cluster: cluster.to_string(),
            framework: framework.to_string(),
        };
        let mut values = vec![(labels("overall"), overall)];
        values.extend(frameworks.iter().map(|(id, score)| (labels(id), *score)));
        self.posture.replace(cluster, values, |g, v| {
            g.set(v);
        });
    }

    /// `redress_findings{repository,severity,classification}`; replaces every previous value
    /// of that repository (label sets not given anymore go away).
    pub fn set_findings(&self, repository: &str, counts: &[(String, String, u64)]) {
        let values = counts
            .iter()
            .map(|(severity, classification, n)| {
                let labels = FindingLabels {
                    repository: repository.to_string(),
                    severity: severity.clone(),
                    classification: classification.clone(),
                };
                (labels, *n)
            })
            .collect();
        self.findings.replace(repository, values, set_count);
    }

    /// `redress_pull_requests{repository,state}` (states such as open, closed, merged, held);
    /// replaces that repository's previous values.
    pub fn set_pull_requests(&self, repository: &str, counts: &[(String, u64)]) {
        let values = counts
            .iter()
            .map(|(state, n)| {
                let labels = PullRequestLabels {
                    repository: repository.to_string(),
                    state: state.clone(),
                };
                (labels, *n)
            })
            .collect();
        self.pull_requests.replace(repository, values, set_count);
    }

    /// `redress_sweep_duration_seconds{repository}` histogram and
    /// `redress_sweeps_total{repository,trigger,result}` counter (result `ok` or `failed`;
    /// trigger `schedule`, `webhook`, `startup` or `command`).
    pub fn observe_sweep(&self, repository: &str, trigger: &str, seconds: f64, ok: bool) {
        let repo = RepositoryLabels {
            repository: repository.to_string(),
        };
        self.sweep_duration.get_or_create(&repo).observe(seconds);
        let labels = SweepLabels {
            repository: repository.to_string(),
            trigger: trigger.to_string(),
            result: if ok { "ok" } else { "failed" }.to_string(),
        };
        self.sweeps.get_or_create(&labels).inc();
    }

    /// `redress_webhook_deliveries_total{result}` (accepted, duplicate, unauthorized,
    /// too_large, bad_request, ignored).
    pub fn webhook_delivery(&self, result: &str) {
        let labels = DeliveryLabels {
            result: result.to_string(),
        };
        self.deliveries.get_or_create(&labels).inc();
    }

    /// `redress_rescans_coalesced_total{repository}`: rescan requests folded into a pending one.
    pub fn rescan_coalesced(&self, repository: &str) {
        let labels = RepositoryLabels {
            repository: repository.to_string(),
        };
        self.coalesced.get_or_create(&labels).inc();
    }

    /// `redress_leader`: 1 when this replica leads, else 0.
    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The OpenMetrics text of every metric (served with [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would leave a partial text,
        // which is still the best answer a scrape can get.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "metrics encoding failed");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(metrics: &Metrics) -> Vec<String> {
        metrics.encode().lines().map(str::to_string).collect()
    }

    fn has(metrics: &Metrics, line: &str) -> bool {
        lines(metrics).iter().any(|l| l == line)
    }

    #[test]
    fn is_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<Metrics>();
    }

    #[test]
    fn every_metric_is_typed_once_it_has_a_value() {
        let m = Metrics::new();
        // prometheus-client leaves a family without label sets out of the text.
        assert_eq!(
            m.encode(),
            "# HELP redress_leader 1 when this replica holds the leader lease.\n\
             # TYPE redress_leader gauge\n\
             redress_leader 0\n\
             # EOF\n"
        );
        m.set_posture("prod", 1.0, &[]);
        m.set_findings("r", &[("high".to_string(), "source-fix".to_string(), 1)]);
        m.set_pull_requests("r", &[("open".to_string(), 1)]);
        m.observe_sweep("r", "startup", 1.0, true);
        m.webhook_delivery("accepted");
        m.rescan_coalesced("r");
        let text = m.encode();
        for (name, kind) in [
            ("redress_posture_score", "gauge"),
            ("redress_findings", "gauge"),
            ("redress_pull_requests", "gauge"),
            ("redress_sweep_duration_seconds", "histogram"),
            ("redress_sweeps", "counter"),
            ("redress_webhook_deliveries", "counter"),
            ("redress_rescans_coalesced", "counter"),
            ("redress_leader", "gauge"),
        ] {
            assert!(
                text.contains(&format!("# TYPE {name} {kind}\n")),
                "{name}:\n{text}"
            );
        }
        assert!(text.contains("# UNIT redress_sweep_duration_seconds seconds\n"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn posture_scores_per_framework_and_overall() {
        let m = Metrics::new();
        m.set_posture(
            "prod",
            72.5,
            &[("cis".to_string(), 80.0), ("nsa".to_string(), 65.25)],
        );
        assert!(has(
            &m,
            r#"redress_posture_score{cluster="prod",framework="overall"} 72.5"#
        ));
        assert!(has(
            &m,
            r#"redress_posture_score{cluster="prod",framework="cis"} 80.0"#
        ));
        assert!(has(
            &m,
            r#"redress_posture_score{cluster="prod",framework="nsa"} 65.25"#
        ));
        // A framework no longer configured disappears; another cluster is untouched.
        m.set_posture("dev", 50.0, &[]);
        m.set_posture("prod", 90.0, &[("cis".to_string(), 91.0)]);
        let text = m.encode();
        assert!(!text.contains(r#"framework="nsa""#), "{text}");
        assert!(has(
            &m,
            r#"redress_posture_score{cluster="prod",framework="overall"} 90.0"#
        ));
        assert!(has(
            &m,
            r#"redress_posture_score{cluster="dev",framework="overall"} 50.0"#
        ));
    }

    #[test]
    fn replacing_findings_drops_the_old_label_sets() {
        let m = Metrics::new();
        m.set_findings(
            "gitops",
            &[
                ("high".to_string(), "source-fix".to_string(), 3),
                ("low".to_string(), "live-drift".to_string(), 1),
            ],
        );
        m.set_findings(
            "other",
            &[("critical".to_string(), "unmanaged".to_string(), 2)],
        );
        assert!(has(
            &m,
            r#"redress_findings{repository="gitops",severity="high",classification="source-fix"} 3"#
        ));
        assert!(has(
            &m,
            r#"redress_findings{repository="gitops",severity="low",classification="live-drift"} 1"#
        ));

        m.set_findings(
            "gitops",
            &[("high".to_string(), "source-fix".to_string(), 1)],
        );
        let text = m.encode();
        assert!(has(
            &m,
            r#"redress_findings{repository="gitops",severity="high",classification="source-fix"} 1"#
        ));
        assert!(!text.contains(r#"severity="low""#), "{text}");
        assert!(has(
            &m,
            r#"redress_findings{repository="other",severity="critical",classification="unmanaged"} 2"#
        ));

        m.set_findings("gitops", &[]);
        assert!(!m.encode().contains(r#"repository="gitops""#));
    }

    #[test]
    fn pull_requests_by_state_are_replaced() {
        let m = Metrics::new();
        m.set_pull_requests(
            "gitops",
            &[("open".to_string(), 4), ("held".to_string(), 1)],
        );
        assert!(has(
            &m,
            r#"redress_pull_requests{repository="gitops",state="open"} 4"#
        ));
        m.set_pull_requests(
            "gitops",
            &[("open".to_string(), 2), ("merged".to_string(), 2)],
        );
        assert!(has(
            &m,
            r#"redress_pull_requests{repository="gitops",state="open"} 2"#
        ));
        assert!(has(
            &m,
            r#"redress_pull_requests{repository="gitops",state="merged"} 2"#
        ));
        assert!(!m.encode().contains(r#"state="held""#));
    }

    #[test]
    fn sweeps_count_and_time_by_repository() {
        let m = Metrics::new();
        m.observe_sweep("gitops", "schedule", 0.3, true);
        m.observe_sweep("gitops", "webhook", 2.0, false);
        m.observe_sweep("gitops", "webhook", 1.0, false);
        assert!(has(
            &m,
            r#"redress_sweeps_total{repository="gitops",trigger="schedule",result="ok"} 1"#
        ));
        assert!(has(
            &m,
            r#"redress_sweeps_total{repository="gitops",trigger="webhook",result="failed"} 2"#
        ));
        assert!(has(
            &m,
            r#"redress_sweep_duration_seconds_count{repository="gitops"} 3"#
        ));
        assert!(has(
            &m,
            r#"redress_sweep_duration_seconds_sum{repository="gitops"} 3.3"#
        ));
        assert!(has(
            &m,
            r#"redress_sweep_duration_seconds_bucket{le="0.4",repository="gitops"} 1"#
        ));
    }

    #[test]
    fn deliveries_coalesced_rescans_and_leadership() {
        let m = Metrics::new();
        m.webhook_delivery("accepted");
        m.webhook_delivery("accepted");
        m.webhook_delivery("unauthorized");
        m.rescan_coalesced("gitops");
        m.set_leader(true);
        assert!(has(
            &m,
            r#"redress_webhook_deliveries_total{result="accepted"} 2"#
        ));
        assert!(has(
            &m,
            r#"redress_webhook_deliveries_total{result="unauthorized"} 1"#
        ));
        assert!(has(
            &m,
            r#"redress_rescans_coalesced_total{repository="gitops"} 1"#
        ));
        assert!(has(&m, "redress_leader 1"));
        m.set_leader(false);
        assert!(has(&m, "redress_leader 0"));
    }
}
