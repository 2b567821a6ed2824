//! sweep: one full pass of the pipeline for a configuration (`redress sweep`).
//!
//! Takes a validated [`Config`] and gives, per repository, the fix report, the pull requests
//! it wants, and either what reconciling them with the forge did, or (with `--dry-run`, or
//! without credentials) the plan: title, labels, body and diff of each, with nothing written.

use std::collections::HashSet;
use std::fmt::Write as _;

use anyhow::Context as _;

use crate::config::{ClusterSource, Config, Forge as ForgeConfig, RepoLocation};
use crate::engine::RuleSet;
use crate::engine::exceptions::Exceptions;
use crate::fix::{FixOptions, FixReport};
use crate::forge::Forge;
use crate::forge::content::{self, DesiredPr, PrContext};
use crate::forge::git::{Author, GitRemote};
use crate::forge::github::{GitHub, RetryPolicy};
use crate::forge::reconcile::{self, BRANCH_PREFIX, Limits, Outcome, Target};
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
}

/// Reads the live objects of every configured cluster.
fn live_inventory(config: &Config, rules: &RuleSet) -> anyhow::Result<Option<Inventory>> {
    if config.clusters.is_empty() {
        return Ok(None);
    }
    let mut all = Inventory::default();
    for cluster in &config.clusters {
        let inventory = match &cluster.source {
            ClusterSource::Snapshot(path) => {
                read_paths(std::slice::from_ref(path), FileLimits::default())
            }
            ClusterSource::Context(context) => read_cluster(Some(context), cluster, rules)?,
            ClusterSource::InCluster => read_cluster(None, cluster, rules)?,
        };
        all.extend(inventory);
    }
    Ok(Some(all))
}

fn read_cluster(
    context: Option<&str>,
    cluster: &crate::config::Cluster,
    rules: &RuleSet,
) -> anyhow::Result<Inventory> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(crate::inventory::live::read_cluster_with(
        context,
        cluster.namespace.as_deref(),
        rules,
        crate::locate::tracking::DEPLOYER_KINDS,
    ))?)
}

/// Runs one sweep.
pub fn run(config: &Config, dry_run: bool) -> anyhow::Result<Vec<RepoSweep>> {
    config.validate_secrets()?;
    let rules = RuleSet::load(
        config.rules.dir.as_deref(),
        config.rules.mappings.as_deref(),
    )
    .context("loading rules")?;
    let exceptions = match &config.exceptions {
        Some(path) => {
            let text = fs_err::read_to_string(path)?;
            Exceptions::parse(path, &text, |id| rules.rule(id).is_some())?
        }
        None => Exceptions::default(),
    };
    let live = live_inventory(config, &rules)?;
    let (live, findings) = match live {
        Some(inventory) => {
            let objects = inventory.objects.clone();
            let report = scan(&rules, inventory, &exceptions, &ScanOptions::default());
            (
                Some(Inventory {
                    objects,
                    errors: report.input_errors,
                    notes: report.notes,
                    files: report.files,
                }),
                report.findings,
            )
        }
        None => (None, Vec::new()),
    };
    let cluster = config.clusters.first().map(|c| c.name.clone());
    let renderer = crate::source::render::Renderer::new(crate::source::render::Tools::find());
    let mut sweeps = Vec::new();
    for repo in &config.repositories {
        let span = tracing::info_span!("repository", name = %repo.name);
        let _guard = span.enter();
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
        let live_copy = live.as_ref().map(|inv| Inventory {
            objects: inv.objects.clone(),
            errors: inv.errors.clone(),
            notes: inv.notes.clone(),
            files: inv.files,
        });
        let fix = crate::fix::run(&rules, &options, live_copy, findings.clone(), &renderer)
            .with_context(|| format!("repository {}", repo.name))?;
        let root = fix.root.clone();
        let read = |path: &std::path::Path| {
            fs_err::read_to_string(root.join(path)).map_err(|e| e.to_string())
        };
        let ctx = PrContext {
            cluster: cluster.as_deref(),
            repository: &location,
            base: &repo.branch,
        };
        let (desired, mut problems) =
            content::desired(&fix, &rules, config.pull_requests.grouping, &ctx, &read);
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
        let outcomes = match (&plan_only, github) {
            (None, Some(github_config)) => {
                let mut remote = GitRemote {
                    url: fix.url.clone().unwrap_or_default(),
                    token: None,
                    cache: config
                        .cache
                        .clone()
                        .unwrap_or_else(crate::source::repo::default_cache)
                        .join("push"),
                };
                let author = Author {
                    name: config.pull_requests.author.name.clone(),
                    email: config.pull_requests.author.email.clone(),
                };
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
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                let outcomes = runtime.block_on(async {
                    let forge = GitHub::connect(github_config).await?;
                    remote.token = Some(forge.push_token().await?);
                    let existing = forge.list_pull_requests(BRANCH_PREFIX).await?;
                    let actions =
                        reconcile::plan(&desired, &existing, &open, limits, chrono::Utc::now());
                    let target = Target {
                        remote: &remote,
                        base: &repo.branch,
                        author: &author,
                    };
                    Ok::<_, crate::forge::ForgeError>(
                        reconcile::apply(&forge, &target, &actions, &desired, &existing).await,
                    )
                })?;
                Some(outcomes)
            }
            _ => None,
        };
        sweeps.push(RepoSweep {
            name: repo.name.clone(),
            fix,
            desired,
            outcomes,
            plan_only,
            problems,
        });
    }
    Ok(sweeps)
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
