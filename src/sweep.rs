//! sweep: one full pass of the pipeline for a configuration (`redress sweep`).
//!
//! Takes a validated [`Config`] and gives, per repository, the fix report, the pull requests
//! it wants, and either what reconciling them with the forge did, or (with `--dry-run`, or
//! without credentials) the plan: title, labels, body and diff of each, with nothing written.

use std::collections::HashSet;
use std::fmt::Write as _;

use anyhow::Context as _;

use crate::config::{ClusterSource, Config, Forge as ForgeConfig, RepoLocation, Repository};
use crate::engine::RuleSet;
use crate::engine::exceptions::Exceptions;
use crate::fix::{FixOptions, FixReport};
use crate::forge::Forge;
use crate::forge::content::{self, DesiredPr, PrContext};
use crate::forge::git::{Author, GitRemote};
use crate::forge::github::{GitHub, RetryPolicy};
use crate::forge::reconcile::{self, BRANCH_PREFIX, Limits, Outcome, Seen, Target};
use crate::inventory::Inventory;
use crate::inventory::files::{Limits as FileLimits, read_paths};
use crate::scan::{ScanOptions, scan};

/// What a sweep did for one repository.
pub struct RepoSweep {
    /// The repository's name in the configuration.
    pub name: String,
    /// `redress fix` on it.
    pub fix: FixReport,
    /// The pull requests it wants.
    pub desired: Vec<DesiredPr>,
    /// What reconciling did, when it wrote; `None` for a plan only.
    pub outcomes: Option<Vec<Outcome>>,
    /// Why nothing was written, for a plan.
    pub plan_only: Option<String>,
    /// Problems that did not stop the sweep.
    pub problems: Vec<String>,
    /// The redress pull requests the forge had before this sweep (empty for a plan).
    pub existing: Vec<crate::forge::PullRequest>,
    /// Findings left out because the repository's own exceptions file covers them.
    pub excepted_in_repository: usize,
}

/// Reads the live objects of every configured cluster; `watched` gives the current view of
/// a cluster that a watcher keeps (the service), `None` to read it now.
pub fn read_clusters(
    config: &Config,
    rules: &RuleSet,
    watched: &dyn Fn(&crate::config::Cluster) -> Option<Inventory>,
) -> anyhow::Result<Option<Inventory>> {
    if config.clusters.is_empty() {
        return Ok(None);
    }
    let mut all = Inventory::default();
    for cluster in &config.clusters {
        let inventory = match (&cluster.source, watched(cluster)) {
            (_, Some(view)) => view,
            (ClusterSource::Snapshot(path), None) => {
                read_paths(std::slice::from_ref(path), FileLimits::default())
            }
            (_, None) => read_cluster(cluster, rules)?,
        };
        all.extend(inventory);
    }
    Ok(Some(all))
}

/// A client for a live cluster: its kubeconfig context (and file), or the in-cluster
/// service account.
pub async fn cluster_client(
    cluster: &crate::config::Cluster,
) -> Result<crate::inventory::live::Connected, crate::inventory::live::LiveError> {
    use crate::inventory::live::{Target, connect};
    connect(match &cluster.source {
        ClusterSource::Context(name) => Target::Context {
            name,
            kubeconfig: cluster.kubeconfig.as_deref(),
        },
        _ => Target::InCluster,
    })
    .await
}

/// How each configured cluster's objects are recognised (context, `in-cluster`, or snapshot
/// path), with its name, for pull requests.
pub fn cluster_names(config: &Config) -> Vec<content::ClusterName> {
    config
        .clusters
        .iter()
        .map(|c| content::ClusterName {
            source: match &c.source {
                ClusterSource::Context(context) => context.clone(),
                ClusterSource::InCluster => crate::inventory::live::IN_CLUSTER.to_owned(),
                ClusterSource::Snapshot(path) => path.display().to_string(),
            },
            name: c.name.clone(),
        })
        .collect()
}

/// Every (group, kind) a sweep reads from a cluster: what the rules need and the GitOps
/// deployers.
pub fn live_kinds(rules: &RuleSet) -> Vec<(String, String)> {
    crate::inventory::live::needed_kinds_with(rules, crate::locate::tracking::DEPLOYER_KINDS)
}

fn read_cluster(cluster: &crate::config::Cluster, rules: &RuleSet) -> anyhow::Result<Inventory> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(async {
        cluster_client(cluster)
            .await?
            .list(&live_kinds(rules), cluster.namespace.as_deref())
            .await
    })?)
}

/// The live side of a sweep: the objects read from every cluster, their findings and the
/// posture score.
pub struct LiveScan {
    /// The objects, or `None` for a git-only sweep.
    pub inventory: Option<Inventory>,
    /// Non-excepted and excepted findings on them.
    pub findings: Vec<crate::model::Finding>,
    /// The overall posture score, when there is a live inventory.
    pub score: Option<f64>,
    /// The score per framework id.
    pub frameworks: Vec<(String, f64)>,
}

/// Scans a live inventory (`None`: git-only), keeping the objects for `redress fix`.
pub fn scan_live(rules: &RuleSet, exceptions: &Exceptions, live: Option<Inventory>) -> LiveScan {
    let Some(inventory) = live else {
        return LiveScan {
            inventory: None,
            findings: Vec::new(),
            score: None,
            frameworks: Vec::new(),
        };
    };
    let objects = inventory.objects.clone();
    let report = scan(rules, inventory, exceptions, &ScanOptions::default());
    LiveScan {
        inventory: Some(Inventory {
            objects,
            errors: report.input_errors,
            notes: report.notes,
            files: report.files,
        }),
        findings: report.findings,
        score: Some(report.score),
        frameworks: report
            .frameworks
            .iter()
            .map(|f| (f.id.clone(), f.score))
            .collect(),
    }
}

/// What every repository of a sweep shares: the rules and the configured exceptions, loaded
/// once (a service keeps one for its lifetime).
pub struct Sweeper {
    /// The rules.
    pub rules: RuleSet,
    exceptions: Exceptions,
}

impl Sweeper {
    /// Checks the secrets and loads the rules and the configured exceptions.
    pub fn new(config: &Config) -> anyhow::Result<Sweeper> {
        config.validate_secrets()?;
        let rules = RuleSet::load(
            config.rules.dir.as_deref(),
            config.rules.mappings.as_deref(),
        )
        .context("loading rules")?;
        let exceptions = rules.load_exceptions(config.exceptions.as_deref())?;
        Ok(Sweeper { rules, exceptions })
    }

    /// Reads every configured cluster now.
    pub fn read_live(&self, config: &Config) -> anyhow::Result<Option<Inventory>> {
        read_clusters(config, &self.rules, &|_| None)
    }

    /// Scans a live inventory (`None`: git-only).
    pub fn scan_live(&self, live: Option<Inventory>) -> LiveScan {
        scan_live(&self.rules, &self.exceptions, live)
    }

    /// Sweeps one repository against `live`: fix, the wanted pull requests, and (unless
    /// `dry_run` or without credentials) reconciling them with the forge.
    pub fn repository(
        &self,
        config: &Config,
        repo: &Repository,
        live: &LiveScan,
        dry_run: bool,
    ) -> anyhow::Result<RepoSweep> {
        let rules = &self.rules;
        let span = tracing::info_span!("repository", name = %repo.name);
        let _guard = span.enter();
        let clusters = cluster_names(config);
        let renderer = crate::source::render::Renderer::new(crate::source::render::Tools::find());
        let (location, revision) = match &repo.location {
            RepoLocation::Url(url) => (url.clone(), Some(repo.branch.clone())),
            RepoLocation::Path(path) => (path.display().to_string(), None),
        };
        let options = FixOptions {
            repo: location.clone(),
            revision,
            cache: config.cache.clone(),
            write: false,
            charts: repo.charts.clone(),
        };
        let live_copy = live.inventory.as_ref().map(|inv| Inventory {
            objects: inv.objects.clone(),
            errors: inv.errors.clone(),
            notes: inv.notes.clone(),
            files: inv.files,
        });
        let mut fix = crate::fix::run(rules, &options, live_copy, live.findings.clone(), &renderer)
            .with_context(|| format!("repository {}", repo.name))?;
        let mut problems = Vec::new();
        let excepted = match repository_exceptions(rules, &fix.root, &repo.exceptions_file) {
            Ok(Some(exceptions)) => drop_excepted(&mut fix, &exceptions),
            Ok(None) => 0,
            Err(error) => {
                problems.push(format!("{error:#}"));
                0
            }
        };
        let root = fix.root.clone();
        let read = |path: &std::path::Path| {
            fs_err::read_to_string(root.join(path)).map_err(|e| e.to_string())
        };
        let ctx = PrContext {
            clusters: &clusters,
            repository: &location,
            base: &repo.branch,
        };
        let (desired, content_problems) =
            content::desired(&fix, rules, config.pull_requests.grouping, &ctx, &read);
        problems.extend(content_problems);
        problems.extend(fix.problems.iter().cloned());
        let github = match &repo.forge {
            Some(ForgeConfig::GitHub(github)) => github.config(RetryPolicy::default())?,
            None => None,
        };
        let plan_only = if dry_run {
            Some("--dry-run: nothing written".to_owned())
        } else if repo.forge.is_none() {
            Some("no forge configured for this repository".to_owned())
        } else if github.is_none() {
            Some("no credentials (the token or app key is not set): nothing written".to_owned())
        } else if fix.url.is_none() {
            Some("the repository has no remote URL to push to".to_owned())
        } else {
            None
        };
        let mut existing = Vec::new();
        let outcomes = match (&plan_only, github) {
            (None, Some(github_config)) => {
                let remote = GitRemote {
                    url: fix.url.clone().unwrap_or_default(),
                    token: None,
                    cache: push_cache(config),
                };
                let author = author(config);
                let limits = Limits {
                    max_open: config.pull_requests.max_open as usize,
                    max_new: config.pull_requests.max_new_per_hour as usize,
                    critical_bypasses: config.pull_requests.critical_bypasses_limits,
                };
                let open: HashSet<String> = fix
                    .items
                    .iter()
                    .map(|i| i.finding.fingerprint.0.clone())
                    .collect();
                // A kind that could not be listed or a root that did not render hides its
                // findings: their pull requests must not look resolved.
                let seen = Seen {
                    open: &open,
                    complete: fix.problems.is_empty(),
                };
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                let (found, outcomes) = runtime.block_on(async {
                    let forge = GitHub::connect(github_config).await?;
                    let remote = GitRemote {
                        token: Some(forge.push_token().await?),
                        ..remote
                    };
                    let found = forge.list_pull_requests(BRANCH_PREFIX).await?;
                    let actions =
                        reconcile::plan(&desired, &found, seen, limits, chrono::Utc::now());
                    let target = Target {
                        remote: &remote,
                        base: &repo.branch,
                        author: &author,
                    };
                    let outcomes =
                        reconcile::apply(&forge, &target, &actions, &desired, &found).await;
                    Ok::<_, crate::forge::ForgeError>((found, outcomes))
                })?;
                existing = found;
                Some(outcomes)
            }
            _ => None,
        };
        Ok(RepoSweep {
            name: repo.name.clone(),
            fix,
            desired,
            outcomes,
            plan_only,
            problems,
            existing,
            excepted_in_repository: excepted,
        })
    }
}

/// Where bare clones for pushing live.
pub fn push_cache(config: &Config) -> std::path::PathBuf {
    config
        .cache
        .clone()
        .unwrap_or_else(crate::source::repo::default_cache)
        .join("push")
}

/// Who commits.
pub fn author(config: &Config) -> Author {
    Author {
        name: config.pull_requests.author.name.clone(),
        email: config.pull_requests.author.email.clone(),
    }
}

/// The exceptions a repository keeps in `file` (relative to its root `root`), if it has the
/// file.
fn repository_exceptions(
    rules: &RuleSet,
    root: &std::path::Path,
    file: &std::path::Path,
) -> anyhow::Result<Option<Exceptions>> {
    let path = root.join(file);
    if !path.is_file() {
        return Ok(None);
    }
    let text = fs_err::read_to_string(&path)?;
    let exceptions = Exceptions::parse(file, &text, |id| rules.rule(id).is_some())
        .with_context(|| format!("the repository's exceptions file {}", file.display()))?;
    Ok(Some(exceptions))
}

/// Removes the items a repository's exceptions cover; gives how many.
fn drop_excepted(fix: &mut FixReport, exceptions: &Exceptions) -> usize {
    let mut findings: Vec<crate::model::Finding> =
        fix.items.iter().map(|i| i.finding.clone()).collect();
    exceptions.apply(&mut findings, |_| None, chrono::Utc::now().date_naive());
    let before = fix.items.len();
    let mut excepted = findings.iter().map(|f| f.excepted.is_some());
    fix.items.retain(|_| !excepted.next().unwrap_or(false));
    before - fix.items.len()
}

/// Runs one sweep of every repository.
pub fn run(config: &Config, dry_run: bool) -> anyhow::Result<Vec<RepoSweep>> {
    let sweeper = Sweeper::new(config)?;
    let live = sweeper.scan_live(sweeper.read_live(config)?);
    config
        .repositories
        .iter()
        .map(|repo| sweeper.repository(config, repo, &live, dry_run))
        .collect()
}

/// The readable report of a sweep: per repository, the plan or what was done.
pub fn render(sweeps: &[RepoSweep]) -> String {
    let mut out = String::new();
    for s in sweeps {
        let _ = writeln!(out, "== repository {}", s.name);
        let _ = writeln!(out, "{}", crate::fix::report::summary(&s.fix));
        match (&s.outcomes, &s.plan_only) {
            (Some(outcomes), _) => {
                for o in outcomes {
                    let mark = if o.failed { "FAILED " } else { "" };
                    let _ = writeln!(out, "  {mark}{}", o.summary);
                }
                if outcomes.is_empty() {
                    let _ = writeln!(out, "  nothing to do");
                }
            }
            (None, reason) => {
                let _ = writeln!(
                    out,
                    "Plan ({}): {} pull request(s)",
                    reason.as_deref().unwrap_or("not written"),
                    s.desired.len()
                );
                for d in &s.desired {
                    let _ = writeln!(out, "\n--- pull request: {}", d.title);
                    let _ = writeln!(out, "branch: {}", d.branch);
                    let _ = writeln!(out, "labels: {}", d.labels.join(", "));
                    let _ = writeln!(out, "{}", d.body);
                }
            }
        }
        for p in &s.problems {
            let _ = writeln!(out, "  problem: {p}");
        }
        out.push('\n');
    }
    out
}

/// Whether anything failed or could not be read.
pub fn has_problems(sweeps: &[RepoSweep]) -> bool {
    sweeps.iter().any(|s| {
        !s.problems.is_empty()
            || s.outcomes
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o.failed))
    })
}
