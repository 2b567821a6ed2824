//! Benchmark input: writes N realistic, varied Kubernetes objects into multi-document YAML
//! files (100 objects per file by default) for `bench/run.sh`. Workloads of every common kind
//! (Deployments, StatefulSets, DaemonSets, Jobs, CronJobs, bare Pods) with one to three
//! containers, init containers, hardened, default and risky security contexts, resources,
//! probes and images of every shape, plus the Services, ConfigMaps, NetworkPolicies, Roles and
//! RoleBindings an application ships with, spread over several namespaces.
//!
//! The output is a function of N, the seed and the options only (a small xorshift generator,
//! no clock, no hash-map order), so two runs write the same bytes. A summary of what was
//! written (objects per kind, containers) is printed to standard output as one JSON line; it is
//! not written into the folder, which holds only manifests.
//!
//! ```text
//! cargo run --release --example gen_workloads -- N OUT_DIR [--per-file K] [--seed S] [--json]
//! ```
//!
//! `--json` writes each file as one JSON `List` instead of multi-document YAML (the same
//! objects), shaped like the output of `kubectl get -o json`.

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

/// xorshift64* (Vigna): tiny, fast and good enough to vary test data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // The state must not be zero.
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // Slices here are short constant tables; the index always fits.
        &items[self.below(items.len() as u64) as usize]
    }

    /// Picks from `(weight, item)` pairs.
    fn weighted<'a, T>(&mut self, items: &'a [(u64, T)]) -> &'a T {
        let total: u64 = items.iter().map(|(w, _)| w).sum();
        let mut roll = self.below(total);
        for (weight, item) in items {
            if roll < *weight {
                return item;
            }
            roll -= weight;
        }
        &items[items.len() - 1].1
    }

    fn hex(&mut self, len: usize) -> String {
        let mut out = String::with_capacity(len);
        while out.len() < len {
            out.push_str(&format!("{:016x}", self.next()));
        }
        out.truncate(len);
        out
    }
}

const NAMESPACES: &[&str] = &[
    "payments",
    "checkout",
    "search",
    "identity",
    "data-platform",
    "observability",
    "ingest",
    "web",
    "batch",
    "platform-system",
];

const TEAMS: &[&str] = &["core", "growth", "infra", "data", "sre", "security"];

const APP_WORDS: &[&str] = &[
    "api",
    "worker",
    "gateway",
    "cache",
    "indexer",
    "billing",
    "ledger",
    "auth",
    "session",
    "catalog",
    "cart",
    "notifier",
    "exporter",
    "scheduler",
    "router",
    "profile",
    "report",
    "sync",
    "uploader",
    "thumbnailer",
];

/// How careful the authors of an application were.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Care {
    /// Everything the guides ask for.
    Hardened,
    /// Some of it.
    Partial,
    /// Nothing set; defaults everywhere.
    Default,
    /// Something dangerous on purpose (or by accident).
    Risky,
}

/// What one container is in its pod.
struct ContainerPlan<'a> {
    name: &'a str,
    care: Care,
    /// The application's own container (it gets the ports).
    main: bool,
    /// Whether probes make sense (not for init containers and jobs).
    probes: bool,
    /// Whether to publish a host port (a risky choice).
    host_port: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    Pod,
}

impl WorkloadKind {
    fn name(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Pod => "Pod",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet => {
                "apps/v1"
            }
            WorkloadKind::Job | WorkloadKind::CronJob => "batch/v1",
            WorkloadKind::Pod => "v1",
        }
    }

    fn runs_to_completion(self) -> bool {
        matches!(self, WorkloadKind::Job | WorkloadKind::CronJob)
    }
}

/// Counts of what was written, printed at the end.
#[derive(Default)]
struct Summary {
    kinds: BTreeMap<&'static str, u64>,
    workloads: u64,
    containers: u64,
    init_containers: u64,
    files: u64,
}

struct Generator {
    rng: Rng,
    apps: u64,
}

impl Generator {
    fn image(&mut self, app: &str, team: &str) -> String {
        let rng = &mut self.rng;
        match rng.below(12) {
            0 => "nginx:latest".to_owned(),
            1 => "nginx".to_owned(),
            2 => format!("nginx:1.{}.{}", rng.range(24, 27), rng.range(0, 3)),
            3 => format!("redis:7.{}-alpine", rng.range(0, 4)),
            4 => format!("postgres:{}.{}", rng.range(14, 17), rng.range(0, 6)),
            5 => format!("registry.example.com/{team}/{app}@sha256:{}", rng.hex(64)),
            6 => "docker.io/library/busybox:1.36".to_owned(),
            7 => "gcr.io/distroless/static:nonroot".to_owned(),
            8 => format!("quay.io/prometheus/node-exporter:v1.8.{}", rng.range(0, 2)),
            9 => format!("ghcr.io/acme/{app}:latest"),
            _ => format!(
                "ghcr.io/acme/{app}:v{}.{}.{}",
                rng.range(0, 4),
                rng.range(0, 30),
                rng.range(0, 12)
            ),
        }
    }

    fn resources(&mut self, care: Care) -> Option<Value> {
        let rng = &mut self.rng;
        let cpu = *rng.pick(&["50m", "100m", "250m", "500m", "1"]);
        let mem = *rng.pick(&["64Mi", "128Mi", "256Mi", "512Mi", "1Gi"]);
        let full = json!({
            "requests": {"cpu": cpu, "memory": mem},
            "limits": {"cpu": rng.pick(&["500m", "1", "2"]), "memory": mem},
        });
        match care {
            Care::Hardened => Some(full),
            Care::Partial | Care::Default if rng.chance(40) => {
                Some(json!({"requests": {"cpu": cpu, "memory": mem}}))
            }
            Care::Partial if rng.chance(50) => Some(full),
            Care::Risky if rng.chance(30) => Some(json!({"limits": {"memory": mem}})),
            _ => None,
        }
    }

    fn probe(&mut self, port: u64) -> Value {
        let rng = &mut self.rng;
        let mut probe = match rng.below(3) {
            0 => {
                json!({"httpGet": {"path": rng.pick(&["/healthz", "/ready", "/livez"]), "port": port}})
            }
            1 => json!({"tcpSocket": {"port": port}}),
            _ => json!({"exec": {"command": ["/bin/sh", "-c", "test -f /tmp/healthy"]}}),
        };
        if rng.chance(60) {
            probe["initialDelaySeconds"] = json!(rng.range(0, 30));
            probe["periodSeconds"] = json!(rng.pick(&[5, 10, 15, 30]));
        }
        probe
    }

    fn container_security(&mut self, care: Care) -> Option<Value> {
        let rng = &mut self.rng;
        match care {
            Care::Hardened => Some(json!({
                "allowPrivilegeEscalation": false,
                "readOnlyRootFilesystem": true,
                "runAsNonRoot": true,
                "runAsUser": rng.range(1000, 65000),
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            })),
            Care::Partial => {
                let mut sc = Map::new();
                if rng.chance(70) {
                    sc.insert("allowPrivilegeEscalation".into(), json!(false));
                }
                if rng.chance(50) {
                    sc.insert("runAsNonRoot".into(), json!(true));
                }
                if rng.chance(40) {
                    sc.insert("readOnlyRootFilesystem".into(), json!(rng.chance(70)));
                }
                if rng.chance(40) {
                    sc.insert("capabilities".into(), json!({"drop": ["ALL"]}));
                }
                (!sc.is_empty()).then_some(Value::Object(sc))
            }
            Care::Default => None,
            Care::Risky => {
                let mut sc = Map::new();
                for _ in 0..rng.range(1, 3) {
                    match rng.below(8) {
                        0 => sc.insert("privileged".into(), json!(true)),
                        1 => sc.insert("allowPrivilegeEscalation".into(), json!(true)),
                        2 => sc.insert("runAsUser".into(), json!(0)),
                        3 => sc.insert("runAsNonRoot".into(), json!(false)),
                        4 => sc.insert(
                            "capabilities".into(),
                            json!({"add": [rng.pick(&["NET_ADMIN", "SYS_ADMIN", "NET_RAW", "SYS_PTRACE"])]}),
                        ),
                        5 => sc.insert("readOnlyRootFilesystem".into(), json!(false)),
                        6 => sc.insert("seccompProfile".into(), json!({"type": "Unconfined"})),
                        _ => sc.insert("procMount".into(), json!("Unmasked")),
                    };
                }
                Some(Value::Object(sc))
            }
        }
    }

    fn container(&mut self, app: &str, team: &str, plan: ContainerPlan<'_>) -> Value {
        let ContainerPlan {
            name,
            care,
            main,
            probes,
            host_port: risky_host_port,
        } = plan;
        let image = self.image(app, team);
        let mut c = Map::new();
        c.insert("name".into(), json!(name));
        c.insert("image".into(), json!(image));
        if self.rng.chance(35) {
            let policy = *self.rng.pick(&["IfNotPresent", "Always", "Never"]);
            c.insert("imagePullPolicy".into(), json!(policy));
        }
        let port = *self.rng.pick(&[80u64, 3000, 8080, 8443, 9090, 5432, 6379]);
        if !main && self.rng.chance(40) {
            c.insert(
                "command".into(),
                json!([
                    "/bin/sh",
                    "-c",
                    format!("exec /usr/local/bin/{name} --config /etc/{app}/config.yaml")
                ]),
            );
        } else if self.rng.chance(30) {
            c.insert(
                "args".into(),
                json!([format!("--port={port}"), "--log-level=info"]),
            );
        }
        if main {
            let mut port_spec = json!({"name": "http", "containerPort": port, "protocol": "TCP"});
            if risky_host_port {
                port_spec["hostPort"] = json!(port);
            }
            c.insert("ports".into(), json!([port_spec]));
        }
        let mut env = vec![json!({"name": "APP_NAME", "value": app})];
        for i in 0..self.rng.below(4) {
            env.push(match self.rng.below(4) {
                0 => json!({"name": format!("DB_PASSWORD_{i}"), "valueFrom": {"secretKeyRef": {"name": format!("{app}-db"), "key": "password"}}}),
                1 => json!({"name": format!("FEATURE_FLAGS_{i}"), "valueFrom": {"configMapKeyRef": {"name": format!("{app}-config"), "key": "flags"}}}),
                2 => json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
                _ => json!({"name": format!("LOG_LEVEL_{i}"), "value": "info"}),
            });
        }
        if care == Care::Risky && self.rng.chance(30) {
            env.push(json!({"name": "API_TOKEN", "value": format!("tok_{}", self.rng.hex(24))}));
        }
        c.insert("env".into(), Value::Array(env));
        if let Some(resources) = self.resources(care) {
            c.insert("resources".into(), resources);
        }
        if probes {
            let want = match care {
                Care::Hardened => 95,
                Care::Partial => 70,
                Care::Default => 40,
                Care::Risky => 25,
            };
            if self.rng.chance(want) {
                let probe = self.probe(port);
                c.insert("livenessProbe".into(), probe);
            }
            if self.rng.chance(want) {
                let probe = self.probe(port);
                c.insert("readinessProbe".into(), probe);
            }
        }
        let mut mounts = Vec::new();
        if self.rng.chance(50) {
            mounts.push(
                json!({"name": "config", "mountPath": format!("/etc/{app}"), "readOnly": true}),
            );
        }
        if care == Care::Hardened || self.rng.chance(30) {
            mounts.push(json!({"name": "tmp", "mountPath": "/tmp"}));
        }
        if !mounts.is_empty() {
            c.insert("volumeMounts".into(), Value::Array(mounts));
        }
        if let Some(sc) = self.container_security(care) {
            c.insert("securityContext".into(), sc);
        }
        Value::Object(c)
    }

    fn care(&mut self) -> Care {
        *self.rng.weighted(&[
            (30, Care::Hardened),
            (30, Care::Partial),
            (25, Care::Default),
            (15, Care::Risky),
        ])
    }

    fn pod_spec(&mut self, kind: WorkloadKind, app: &str, team: &str, care: Care) -> Value {
        let mut spec = Map::new();
        let risky_host =
            care == Care::Risky && (kind == WorkloadKind::DaemonSet || self.rng.chance(25));
        if risky_host {
            match self.rng.below(4) {
                0 => spec.insert("hostPID".into(), json!(true)),
                1 => spec.insert("hostIPC".into(), json!(true)),
                _ => spec.insert("hostNetwork".into(), json!(true)),
            };
        }
        if self.rng.chance(70) {
            spec.insert("serviceAccountName".into(), json!(app));
        }
        if care == Care::Hardened || (care == Care::Partial && self.rng.chance(40)) {
            spec.insert("automountServiceAccountToken".into(), json!(false));
        }
        if care == Care::Hardened || (care == Care::Partial && self.rng.chance(50)) {
            spec.insert(
                "securityContext".into(),
                json!({
                    "runAsNonRoot": true,
                    "runAsUser": self.rng.range(1000, 65000),
                    "fsGroup": 2000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                }),
            );
        } else if care == Care::Risky && self.rng.chance(30) {
            spec.insert("securityContext".into(), json!({"runAsUser": 0}));
        }
        let probes = !kind.runs_to_completion();
        if self.rng.chance(30) {
            let inits = self.rng.range(1, 2);
            let mut list = Vec::new();
            for i in 0..inits {
                let name = format!(
                    "init-{}",
                    self.rng
                        .pick(&["migrate", "wait-db", "fetch-config", "chown"])
                );
                let name = if i > 0 { format!("{name}-{i}") } else { name };
                let care = if self.rng.chance(80) {
                    care
                } else {
                    self.care()
                };
                list.push(self.container(
                    app,
                    team,
                    ContainerPlan {
                        name: &name,
                        care,
                        main: false,
                        probes: false,
                        host_port: false,
                    },
                ));
            }
            spec.insert("initContainers".into(), Value::Array(list));
        }
        let count = *self.rng.weighted(&[(55, 1u64), (35, 2), (10, 3)]);
        let mut containers = Vec::new();
        let host_port = care == Care::Risky && self.rng.chance(20);
        containers.push(self.container(
            app,
            team,
            ContainerPlan {
                name: app,
                care,
                main: true,
                probes,
                host_port,
            },
        ));
        for _ in 1..count {
            let name = *self.rng.pick(&[
                "envoy",
                "log-shipper",
                "metrics-exporter",
                "oauth-proxy",
                "cloudsql-proxy",
            ]);
            let care = if self.rng.chance(70) {
                care
            } else {
                self.care()
            };
            containers.push(self.container(
                app,
                team,
                ContainerPlan {
                    name,
                    care,
                    main: false,
                    probes,
                    host_port: false,
                },
            ));
        }
        spec.insert("containers".into(), Value::Array(containers));
        let mut volumes = vec![
            json!({"name": "config", "configMap": {"name": format!("{app}-config")}}),
            json!({"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}),
        ];
        if self.rng.chance(30) {
            volumes.push(json!({"name": "credentials", "secret": {"secretName": format!("{app}-credentials")}}));
        }
        if care == Care::Risky && (kind == WorkloadKind::DaemonSet || self.rng.chance(30)) {
            let path = *self.rng.pick(&[
                "/var/log",
                "/var/run/docker.sock",
                "/",
                "/etc",
                "/var/lib/kubelet",
            ]);
            volumes.push(json!({"name": "host", "hostPath": {"path": path}}));
        }
        spec.insert("volumes".into(), Value::Array(volumes));
        if kind.runs_to_completion() {
            spec.insert(
                "restartPolicy".into(),
                json!(self.rng.pick(&["Never", "OnFailure"])),
            );
        }
        if self.rng.chance(30) {
            spec.insert("nodeSelector".into(), json!({"kubernetes.io/os": "linux"}));
        }
        if kind == WorkloadKind::DaemonSet || self.rng.chance(10) {
            spec.insert(
                "tolerations".into(),
                json!([{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]),
            );
        }
        if self.rng.chance(20) {
            spec.insert(
                "priorityClassName".into(),
                json!(self.rng.pick(&["high-priority", "batch-low"])),
            );
        }
        if self.rng.chance(25) {
            spec.insert(
                "terminationGracePeriodSeconds".into(),
                json!(self.rng.pick(&[10, 30, 60])),
            );
        }
        Value::Object(spec)
    }

    fn labels(&mut self, app: &str, team: &str, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/component": component,
            "app.kubernetes.io/part-of": team,
            "team": team,
        })
    }

    fn workload(&mut self, kind: WorkloadKind, app: &str, namespace: &str, team: &str) -> Value {
        let care = self.care();
        let labels = self.labels(app, team, "server");
        let selector = json!({"matchLabels": {"app.kubernetes.io/name": app}});
        let mut meta = json!({"name": app, "namespace": namespace, "labels": labels.clone()});
        if self.rng.chance(25) {
            meta["annotations"] = json!({"owner": format!("{team}@example.com"), "deploy.example.com/revision": self.rng.range(1, 400).to_string()});
        }
        let mut template_meta = json!({"labels": labels});
        if self.rng.chance(30) {
            template_meta["annotations"] =
                json!({"prometheus.io/scrape": "true", "prometheus.io/port": "9090"});
        }
        let pod_spec = self.pod_spec(kind, app, team, care);
        let template = json!({"metadata": template_meta, "spec": pod_spec});
        let spec = match kind {
            WorkloadKind::Deployment => {
                let mut spec = json!({"replicas": self.rng.range(1, 6), "selector": selector, "template": template});
                if self.rng.chance(40) {
                    spec["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}});
                }
                spec
            }
            WorkloadKind::StatefulSet => json!({
                "serviceName": app,
                "replicas": self.rng.range(1, 5),
                "selector": selector,
                "template": template,
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": self.rng.pick(&["1Gi", "10Gi", "50Gi"])}}},
                }],
            }),
            WorkloadKind::DaemonSet => json!({
                "selector": selector,
                "updateStrategy": {"type": "RollingUpdate"},
                "template": template,
            }),
            WorkloadKind::Job => json!({
                "backoffLimit": self.rng.range(0, 6),
                "ttlSecondsAfterFinished": 3600,
                "template": template,
            }),
            WorkloadKind::CronJob => json!({
                "schedule": format!("{} {} * * *", self.rng.below(60), self.rng.below(24)),
                "concurrencyPolicy": self.rng.pick(&["Forbid", "Allow", "Replace"]),
                "successfulJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {"backoffLimit": self.rng.range(0, 6), "template": template}},
            }),
            WorkloadKind::Pod => {
                meta["labels"] = template["metadata"]["labels"].clone();
                template["spec"].clone()
            }
        };
        json!({"apiVersion": kind.api_version(), "kind": kind.name(), "metadata": meta, "spec": spec})
    }

    fn service(&mut self, app: &str, namespace: &str, team: &str, headless: bool) -> Value {
        let labels = self.labels(app, team, "server");
        let port = *self.rng.pick(&[80u64, 443, 8080]);
        let mut spec = json!({
            "selector": {"app.kubernetes.io/name": app},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        });
        if headless {
            spec["clusterIP"] = json!("None");
        } else {
            let kind =
                *self
                    .rng
                    .weighted(&[(80, "ClusterIP"), (12, "NodePort"), (8, "LoadBalancer")]);
            spec["type"] = json!(kind);
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": namespace, "labels": labels}, "spec": spec})
    }

    fn config_map(&mut self, app: &str, namespace: &str) -> Value {
        let level = *self.rng.pick(&["debug", "info", "warn"]);
        let workers = self.rng.range(1, 32);
        let config = format!(
            "server:\n  port: 8080\n  workers: {workers}\nlogging:\n  level: {level}\n  format: json\nfeatures:\n  - checkout-v2\n  - fast-search\n"
        );
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{app}-config"), "namespace": namespace},
            "data": {"config.yaml": config, "flags": "checkout-v2,fast-search", "LOG_LEVEL": level},
        })
    }

    fn network_policy(&mut self, app: &str, namespace: &str) -> Value {
        if self.rng.chance(30) {
            return json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": format!("{app}-default-deny"), "namespace": namespace},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            });
        }
        let from = *self.rng.pick(&["gateway", "web", "api"]);
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": format!("{app}-allow"), "namespace": namespace},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}},
                "policyTypes": ["Ingress"],
                "ingress": [{
                    "from": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": from}}},
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}},
                    ],
                    "ports": [{"protocol": "TCP", "port": 8080}],
                }],
            },
        })
    }

    fn role_and_binding(&mut self, app: &str, namespace: &str, care: Care) -> (Value, Value) {
        let rules = match care {
            Care::Risky => match self.rng.below(3) {
                0 => json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
                1 => {
                    json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}])
                }
                _ => {
                    json!([{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}])
                }
            },
            _ => json!([
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
            ]),
        };
        let role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": app, "namespace": namespace},
            "rules": rules,
        });
        let role_ref = if care == Care::Risky && self.rng.chance(30) {
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": self.rng.pick(&["cluster-admin", "edit", "admin"])})
        } else {
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": app})
        };
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": app, "namespace": namespace},
            "roleRef": role_ref,
            "subjects": [{"kind": "ServiceAccount", "name": app, "namespace": namespace}],
        });
        (role, binding)
    }

    /// One application: a workload and what usually ships with it.
    fn app(&mut self) -> Vec<Value> {
        self.apps += 1;
        let namespace = *self.rng.pick(NAMESPACES);
        let team = *self.rng.pick(TEAMS);
        let word = *self.rng.pick(APP_WORDS);
        let app = format!("{word}-{}", self.apps);
        let kind = *self.rng.weighted(&[
            (45, WorkloadKind::Deployment),
            (10, WorkloadKind::StatefulSet),
            (7, WorkloadKind::DaemonSet),
            (10, WorkloadKind::Job),
            (13, WorkloadKind::CronJob),
            (15, WorkloadKind::Pod),
        ]);
        let mut objects = vec![self.workload(kind, &app, namespace, team)];
        let serves = matches!(kind, WorkloadKind::Deployment | WorkloadKind::StatefulSet);
        if serves && self.rng.chance(75) {
            objects.push(self.service(&app, namespace, team, kind == WorkloadKind::StatefulSet));
        }
        if self.rng.chance(40) {
            objects.push(self.config_map(&app, namespace));
        }
        if self.rng.chance(30) {
            objects.push(self.network_policy(&app, namespace));
        }
        if self.rng.chance(20) {
            let care = self.care();
            let (role, binding) = self.role_and_binding(&app, namespace, care);
            objects.push(role);
            objects.push(binding);
        }
        objects
    }
}

struct Options {
    count: u64,
    out: PathBuf,
    per_file: usize,
    seed: u64,
    json: bool,
}

fn parse_args() -> anyhow::Result<Options> {
    let mut positional = Vec::new();
    let mut options = Options {
        count: 0,
        out: PathBuf::new(),
        per_file: 100,
        seed: 42,
        json: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--per-file" => {
                let value = args.next().context("--per-file needs a number")?;
                options.per_file = value.parse().context("--per-file needs a number")?;
            }
            "--seed" => {
                let value = args.next().context("--seed needs a number")?;
                options.seed = value.parse().context("--seed needs a number")?;
            }
            "--json" => options.json = true,
            _ if arg.starts_with("--") => bail!("unknown option {arg}"),
            _ => positional.push(arg),
        }
    }
    let [count, out] = positional.as_slice() else {
        bail!("usage: gen_workloads N OUT_DIR [--per-file K] [--seed S] [--json]");
    };
    options.count = count.parse().context("N must be a number")?;
    options.out = PathBuf::from(out);
    if options.per_file == 0 {
        bail!("--per-file must be at least 1");
    }
    Ok(options)
}

fn write_file(out: &Path, index: u64, objects: &[Value], json: bool) -> anyhow::Result<()> {
    let (name, text) = if json {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        (
            format!("part-{index:05}.json"),
            serde_json::to_string(&list)?,
        )
    } else {
        let mut text = String::new();
        for object in objects {
            text.push_str("---\n");
            text.push_str(&serde_saphyr::to_string(object)?);
        }
        (format!("part-{index:05}.yaml"), text)
    };
    fs_err::write(out.join(name), text)?;
    Ok(())
}

/// Adds one written object to the summary.
fn tally(object: &Value, summary: &mut Summary) {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let pod_spec = match kind {
        "Pod" => "/spec",
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => "",
    };
    let known = [
        "Namespace",
        "Service",
        "ConfigMap",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Pod",
    ];
    let name = known
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("other");
    *summary.kinds.entry(name).or_default() += 1;
    if pod_spec.is_empty() {
        return;
    }
    summary.workloads += 1;
    let count = |list: &str| {
        object
            .pointer(&format!("{pod_spec}/{list}"))
            .and_then(Value::as_array)
            .map_or(0, |items| items.len() as u64)
    };
    summary.containers += count("containers");
    summary.init_containers += count("initContainers");
}

fn main() -> anyhow::Result<()> {
    let options = parse_args()?;
    fs_err::create_dir_all(&options.out)?;
    let mut generator = Generator {
        rng: Rng::new(options.seed),
        apps: 0,
    };
    let mut summary = Summary::default();
    let mut pending: Vec<Value> = Vec::with_capacity(options.per_file);
    let mut written = 0u64;
    // The namespaces first, as a repository declares them; then one application after another.
    let mut queue: VecDeque<Value> = NAMESPACES
        .iter()
        .map(|ns| {
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            })
        })
        .collect();
    while written < options.count {
        let Some(object) = queue.pop_front() else {
            queue.extend(generator.app());
            continue;
        };
        tally(&object, &mut summary);
        pending.push(object);
        written += 1;
        if pending.len() == options.per_file {
            write_file(&options.out, summary.files, &pending, options.json)?;
            summary.files += 1;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        write_file(&options.out, summary.files, &pending, options.json)?;
        summary.files += 1;
    }
    println!(
        "{}",
        json!({
            "objects": written,
            "files": summary.files,
            "workloads": summary.workloads,
            "containers": summary.containers,
            "initContainers": summary.init_containers,
            "kinds": summary.kinds,
            "seed": options.seed,
        })
    );
    Ok(())
}
