//! worker: everything the service does to one repository, one thing at a time.
//!
//! Takes verified webhook deliveries ([`route`]) and schedule ticks, and gives queued work:
//! reviewer commands and merges first, then at most one pending sweep (every rescan asked for
//! while one waits or runs folds into it). The worker of a repository is the only task that
//! sweeps it or pushes to its remote. Sweeps run on a blocking thread (the pipeline is
//! synchronous); only the leader runs any of it. The last sweep's result is kept so commands
//! can name the findings of a pull request.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Notify;

use super::Shared;
use super::commands::{self, Command};
use super::webhook::Delivery;
use crate::config::Forge as ForgeConfig;
use crate::fix::FixItem;
use crate::forge::content::{branch_name, parse_marker};
use crate::forge::git::{BranchOutcome, GitRemote, rebase_branch};
use crate::forge::github::{GitHub, RetryPolicy};
use crate::forge::reconcile::{Action, BRANCH_PREFIX, EXCEPTION_LABEL};
use crate::forge::{Forge, PrState};
use crate::sweep::RepoSweep;

/// Work waiting for one repository.
#[derive(Default)]
struct Pending {
    /// What first asked for the waiting sweep, and when the last request folded into it
    /// came (the live objects it reads must be at least that recent).
    rescan: Option<(&'static str, Instant)>,
    jobs: VecDeque<Job>,
}

/// Work other than a sweep.
#[derive(Debug)]
enum Job {
    /// A reviewer's command (or a malformed one, to answer with usage).
    Command {
        pr: PrRef,
        login: String,
        command: Result<Command, String>,
    },
    /// An approval: merge when the configuration allows it.
    Approved {
        pr: PrRef,
        reviewer: String,
        head_sha: String,
    },
}

/// The pull request a delivery is about.
#[derive(Debug, Clone)]
struct PrRef {
    number: u64,
    title: String,
    body: String,
    labels: Vec<String>,
}

impl PrRef {
    fn from_json(pr: &Value) -> Option<PrRef> {
        Some(PrRef {
            number: pr["number"].as_u64()?,
            title: pr["title"].as_str().unwrap_or_default().to_owned(),
            body: pr["body"].as_str().unwrap_or_default().to_owned(),
            labels: pr["labels"]
                .as_array()
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|l| l["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The fingerprints and branch named by its marker, when redress opened it.
    fn marker(&self) -> Option<(Vec<String>, String)> {
        let marker = parse_marker(&self.body)?;
        let branch = branch_name(marker.grouping, &marker.group);
        Some((marker.fingerprints, branch))
    }
}

/// One repository's queue and its last sweep.
#[derive(Default)]
pub(crate) struct Slot {
    pending: Mutex<Pending>,
    notify: Notify,
    last: Mutex<Option<Arc<RepoSweep>>>,
    /// When the last sweep ended and the posture score it saw (overall, per framework).
    posture: Mutex<Option<Posture>>,
}

/// What the posture page shows of a repository's last sweep.
#[derive(Clone)]
pub(crate) struct Posture {
    /// When the sweep ended.
    pub(crate) at: chrono::DateTime<chrono::Utc>,
    /// What asked for it.
    pub(crate) trigger: &'static str,
    /// The live score, when there is a cluster.
    pub(crate) score: Option<f64>,
    /// The score per framework.
    pub(crate) frameworks: Vec<(String, f64)>,
}

impl Slot {
    /// Asks for a sweep; false when one was already waiting (the two fold into one).
    pub(crate) fn request_rescan(&self, trigger: &'static str) -> bool {
        let fresh = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            match &mut pending.rescan {
                Some((_, asked)) => {
                    *asked = now;
                    false
                }
                None => {
                    pending.rescan = Some((trigger, now));
                    true
                }
            }
        };
        self.notify.notify_one();
        fresh
    }

    fn push(&self, job: Job) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .push_back(job);
        self.notify.notify_one();
    }

    fn next(&self) -> Option<Result<Job, (&'static str, Instant)>> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = pending.jobs.pop_front() {
            return Some(Ok(job));
        }
        pending.rescan.take().map(Err)
    }

    pub(crate) fn last(&self) -> Option<Arc<RepoSweep>> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn posture(&self) -> Option<Posture> {
        self.posture
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Decides what a verified delivery asks for and queues it; gives the result label
/// (`accepted` or `ignored`) and the answer's message. Does no I/O.
pub(crate) fn route(shared: &Arc<Shared>, delivery: &Delivery) -> (&'static str, String) {
    let payload = &delivery.payload;
    if delivery.event == "ping" {
        return ("accepted", "pong".into());
    }
    let full_name = payload["repository"]["full_name"]
        .as_str()
        .unwrap_or_default();
    let Some(index) = shared.repository_index(full_name) else {
        return (
            "ignored",
            format!("{full_name} is not a configured repository"),
        );
    };
    let repo = &shared.config.repositories[index];
    let slot = &shared.slots[index];
    let is_ours = |pr: &Value| {
        pr["head"]["ref"]
            .as_str()
            .is_some_and(|r| r.starts_with(BRANCH_PREFIX))
    };
    match delivery.event.as_str() {
        "push" => {
            if payload["ref"].as_str() == Some(&format!("refs/heads/{}", repo.branch)) {
                // Now for the source, and again once the GitOps engine has synced the change
                // to the cluster (until then a fixed source shows as live drift).
                shared.request_rescan(index, "webhook");
                rescan_later(shared, index, "synced");
                ("accepted", format!("rescan of {} queued", repo.name))
            } else {
                ("ignored", "not a push to the watched branch".into())
            }
        }
        "pull_request" if payload["action"] == "closed" && is_ours(&payload["pull_request"]) => {
            let number = payload["pull_request"]["number"].as_u64().unwrap_or(0);
            if payload["pull_request"]["merged"] == true {
                let delay = shared.config.serve.sync_delay;
                rescan_later(shared, index, "merged");
                (
                    "accepted",
                    format!(
                        "#{number} merged: {} is checked again in {}s, once the GitOps engine \
                         has synced",
                        repo.name,
                        delay.as_secs()
                    ),
                )
            } else {
                // The closed pull request is the record: sweeps find it by its branch and
                // marker and do not raise it again until its findings change.
                tracing::info!(number, repository = %repo.name, "closed unmerged by a person: recorded");
                (
                    "accepted",
                    format!(
                        "#{number} closed unmerged: not raised again until its findings change"
                    ),
                )
            }
        }
        "pull_request_review"
            if payload["action"] == "submitted"
                && payload["review"]["state"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case("approved"))
                && is_ours(&payload["pull_request"]) =>
        {
            let (Some(pr), Some(head_sha)) = (
                PrRef::from_json(&payload["pull_request"]),
                payload["pull_request"]["head"]["sha"].as_str(),
            ) else {
                return ("ignored", "the review names no pull request".into());
            };
            // Nothing to merge: no auto-merge policy, or a reviewer's exception.
            if shared.config.serve.auto_merge.is_empty()
                || pr.labels.iter().any(|l| l == EXCEPTION_LABEL)
            {
                return ("ignored", "auto-merge does not apply".into());
            }
            slot.push(Job::Approved {
                pr,
                reviewer: payload["review"]["user"]["login"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                head_sha: head_sha.to_owned(),
            });
            ("accepted", "approval queued".into())
        }
        "issue_comment"
            if payload["action"] == "created" && payload["issue"]["pull_request"].is_object() =>
        {
            let comment = &payload["comment"];
            if comment["user"]["type"] == "Bot" {
                return ("ignored", "comments by bots are not commands".into());
            }
            let Some(command) = commands::parse(comment["body"].as_str().unwrap_or_default())
            else {
                return ("ignored", "no /redress command".into());
            };
            let Some(pr) = PrRef::from_json(&payload["issue"]) else {
                return ("ignored", "the comment names no pull request".into());
            };
            slot.push(Job::Command {
                pr,
                login: comment["user"]["login"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                command,
            });
            ("accepted", "command queued".into())
        }
        _ => ("ignored", format!("nothing to do for {}", delivery.event)),
    }
}

/// Asks for a sweep of repository `index` once the configured sync delay has passed.
fn rescan_later(shared: &Arc<Shared>, index: usize, trigger: &'static str) {
    let shared = shared.clone();
    let delay = shared.config.serve.sync_delay;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::time::sleep(delay) => shared.request_rescan(index, trigger),
            _ = shared.shutdown.cancelled() => {}
        }
    });
}

/// The worker of repository `index`: runs until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, index: usize) {
    let slot = &shared.slots[index];
    loop {
        tokio::select! {
            _ = slot.notify.notified() => {}
            _ = shared.shutdown.cancelled() => return,
        }
        while let Some(work) = slot.next() {
            if shared.shutdown.is_cancelled() {
                return;
            }
            if !shared.leadership.is_leader() {
                tracing::info!(
                    repository = %shared.config.repositories[index].name,
                    "not the leader: nothing done"
                );
                continue;
            }
            match work {
                Err((trigger, asked)) => sweep(&shared, index, trigger, asked).await,
                Ok(job) => {
                    if let Err(error) = job_run(&shared, index, job).await {
                        tracing::warn!(
                            repository = %shared.config.repositories[index].name,
                            "{error}"
                        );
                    }
                }
            }
        }
    }
}

async fn sweep(shared: &Arc<Shared>, index: usize, trigger: &'static str, asked: Instant) {
    let started = Instant::now();
    let name = shared.config.repositories[index].name.clone();
    let inner = shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let config = &inner.config;
        let live = inner.live_scan(asked)?;
        let sweep = inner
            .sweeper
            .repository(config, &config.repositories[index], &live, false)?;
        anyhow::Ok((live.score, live.frameworks.clone(), sweep))
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let result = match result {
        Ok(result) => result,
        Err(error) => Err(anyhow::anyhow!("the sweep panicked: {error}")),
    };
    match result {
        Ok((score, frameworks, sweep)) => {
            let failed = crate::sweep::has_problems(std::slice::from_ref(&sweep));
            tracing::info!(
                repository = %name,
                trigger,
                seconds,
                findings = sweep.fix.items.len(),
                pull_requests = sweep.desired.len(),
                "sweep done{}",
                if failed { " with problems" } else { "" }
            );
            for problem in &sweep.problems {
                tracing::warn!(repository = %name, "{problem}");
            }
            record(shared, &name, score, &frameworks, &sweep);
            shared.metrics.observe_sweep(&name, trigger, seconds, true);
            *shared.slots[index]
                .posture
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Posture {
                at: chrono::Utc::now(),
                trigger,
                score,
                frameworks,
            });
            *shared.slots[index]
                .last
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(sweep));
        }
        Err(error) => {
            tracing::warn!(repository = %name, trigger, "sweep failed: {error:#}");
            shared.metrics.observe_sweep(&name, trigger, seconds, false);
        }
    }
}

/// Puts a sweep's figures into the metrics.
fn record(
    shared: &Shared,
    repository: &str,
    score: Option<f64>,
    frameworks: &[(String, f64)],
    sweep: &RepoSweep,
) {
    if let Some(score) = score {
        // The score is over every configured cluster's objects together.
        let cluster = match shared.config.clusters.as_slice() {
            [one] => one.name.as_str(),
            _ => "all",
        };
        shared.metrics.set_posture(cluster, score, frameworks);
    }
    let mut findings: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for item in &sweep.fix.items {
        *findings
            .entry((
                item.finding.severity.as_str().to_owned(),
                item.classification.as_str().to_owned(),
            ))
            .or_default() += 1;
    }
    let findings: Vec<(String, String, u64)> =
        findings.into_iter().map(|((s, c), n)| (s, c, n)).collect();
    shared.metrics.set_findings(repository, &findings);

    let count = |state: PrState| sweep.existing.iter().filter(|p| p.state == state).count() as i64;
    let (mut open, mut closed, merged) = (
        count(PrState::Open),
        count(PrState::Closed),
        count(PrState::Merged),
    );
    let mut held = 0;
    for outcome in sweep.outcomes.iter().flatten() {
        match (&outcome.action, outcome.failed) {
            (Action::Open { .. }, false) => open += 1,
            (Action::Close { .. }, false) => {
                open -= 1;
                closed += 1;
            }
            (Action::Leave { number: None, .. }, _) => held += 1,
            _ => {}
        }
    }
    // A sweep that only planned (no credentials) reports what it would open.
    let planned = if sweep.outcomes.is_none() {
        sweep.desired.len() as i64
    } else {
        0
    };
    let states = [
        ("open", open),
        ("closed", closed),
        ("merged", merged),
        ("held", held),
        ("planned", planned),
    ];
    let states: Vec<(String, u64)> = states
        .iter()
        .map(|(s, n)| ((*s).to_owned(), (*n).max(0) as u64))
        .collect();
    shared.metrics.set_pull_requests(repository, &states);
}

/// The last sweep's items whose fingerprints are `fingerprints`.
fn items_of<'a>(sweep: &'a RepoSweep, fingerprints: &[String]) -> Vec<&'a FixItem> {
    sweep
        .fix
        .items
        .iter()
        .filter(|item| fingerprints.contains(&item.finding.fingerprint.0))
        .collect()
}

async fn job_run(shared: &Arc<Shared>, index: usize, job: Job) -> Result<(), String> {
    let repo = &shared.config.repositories[index];
    let Some(ForgeConfig::GitHub(github)) = &repo.forge else {
        return Err("no forge configured: the command cannot be answered".into());
    };
    let Some(github_config) = github
        .config(RetryPolicy::default())
        .map_err(|e| e.to_string())?
    else {
        return Err("no forge credentials: the command cannot be answered".into());
    };
    let forge = GitHub::connect(github_config)
        .await
        .map_err(|e| e.to_string())?;
    let slot = &shared.slots[index];
    match job {
        Job::Approved {
            pr,
            reviewer,
            head_sha,
        } => approved(shared, &forge, slot, &pr, &reviewer, &head_sha).await,
        Job::Command { pr, login, command } => {
            let permission = forge.permission(&login).await.map_err(|e| e.to_string())?;
            let reply = if !permission.can_write() {
                format!(
                    "@{login}: only people with write access to this repository can steer \
                     redress; nothing was done."
                )
            } else {
                match command {
                    Err(usage) => format!("@{login}: {usage}"),
                    Ok(command) => command_run(shared, index, &forge, &pr, &login, command).await,
                }
            };
            forge
                .comment(pr.number, &reply)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

async fn approved(
    shared: &Shared,
    forge: &GitHub,
    slot: &Slot,
    pr: &PrRef,
    reviewer: &str,
    head_sha: &str,
) -> Result<(), String> {
    let policy = &shared.config.serve.auto_merge;
    let Some((fingerprints, _)) = pr.marker() else {
        return Ok(());
    };
    let Some(last) = slot.last() else {
        return Ok(());
    };
    let items = items_of(&last, &fingerprints);
    let allowed = !items.is_empty()
        && items.len() == fingerprints.len()
        && items.iter().all(|item| {
            policy
                .iter()
                .any(|entry| entry.allows(&item.finding.rule, item.finding.severity))
        });
    if !allowed {
        tracing::info!(
            number = pr.number,
            "approved; auto-merge does not cover its findings"
        );
        return Ok(());
    }
    let permission = forge
        .permission(reviewer)
        .await
        .map_err(|e| e.to_string())?;
    if !permission.can_write() {
        tracing::info!(
            number = pr.number,
            "approved by someone without write access: not merged"
        );
        return Ok(());
    }
    forge
        .merge_pull_request(pr.number, head_sha)
        .await
        .map_err(|e| e.to_string())?;
    forge
        .comment(
            pr.number,
            &format!(
                "Merged after @{reviewer}'s approval: the auto-merge configuration allows every \
                 finding it fixes. redress checks again once the GitOps engine has synced."
            ),
        )
        .await
        .map_err(|e| e.to_string())
}

/// Carries out a permitted command; gives the reply.
async fn command_run(
    shared: &Arc<Shared>,
    index: usize,
    forge: &GitHub,
    pr: &PrRef,
    login: &str,
    command: Command,
) -> String {
    let repo = &shared.config.repositories[index];
    let slot = &shared.slots[index];
    let Some((fingerprints, branch)) = pr.marker() else {
        return format!("@{login}: this pull request was not opened by redress.");
    };
    let last = slot.last();
    match command {
        Command::Recheck => {
            shared.request_rescan(index, "command");
            format!("@{login}: rechecking {} now.", repo.name)
        }
        Command::Explain => match &last {
            Some(last) => commands::explain(&shared.sweeper.rules, &items_of(last, &fingerprints)),
            None => "redress has not swept this repository since it started; try \
                     `/redress recheck` first."
                .to_owned(),
        },
        Command::Rebase => {
            let Some(last) = last else {
                return format!("@{login}: no sweep yet; try `/redress recheck` first.");
            };
            let Some(want) = last.desired.iter().find(|d| d.branch == branch) else {
                return format!(
                    "@{login}: the last sweep proposes no change for this pull request; nothing \
                     to rebase."
                );
            };
            match push(
                shared,
                forge,
                &last,
                &repo.branch,
                &branch,
                want.files.clone(),
                &want.title,
            )
            .await
            {
                Ok(outcome) => format!("@{login}: {}", describe(&outcome, &repo.branch)),
                Err(error) => format!("@{login}: the rebase failed: {error}"),
            }
        }
        Command::Ignore { reason, until } => {
            let Some(last) = last else {
                return format!("@{login}: no sweep yet; try `/redress recheck` first.");
            };
            let items = items_of(&last, &fingerprints);
            if items.is_empty() {
                return format!(
                    "@{login}: none of this pull request's findings is open in the last sweep; \
                     nothing to record."
                );
            }
            let file = repo.exceptions_file.clone();
            let current = fs_err::read_to_string(last.fix.root.join(&file)).ok();
            let entries = commands::exception_entries(&items, &reason, until);
            let text = match commands::add_exceptions(current.as_deref(), &entries) {
                Ok(text) => text,
                Err(error) => return format!("@{login}: {error}"),
            };
            let message = format!("redress: record an exception ({})", reason);
            match push(
                shared,
                forge,
                &last,
                &repo.branch,
                &branch,
                vec![(file.clone(), text)],
                &message,
            )
            .await
            {
                Ok(BranchOutcome::Foreign { authors, .. }) => format!(
                    "@{login}: the branch carries commits by {}; redress leaves it as it is.",
                    authors.join(", ")
                ),
                Ok(_) => {
                    let body =
                        commands::exception_body(&pr.body, login, &reason, until, &file, &items);
                    let title = commands::exception_title(&pr.title);
                    let updated = async {
                        forge.update_pull_request(pr.number, &title, &body).await?;
                        forge
                            .add_labels(pr.number, &[EXCEPTION_LABEL.to_owned()])
                            .await
                    }
                    .await;
                    match updated {
                        Ok(()) => format!(
                            "@{login}: this pull request now records an exception in `{}` \
                             instead of the fix ({} finding(s){}); review and merge it to \
                             accept the risk, or close it.",
                            file.display(),
                            items.len(),
                            until.map(|d| format!(", until {d}")).unwrap_or_default()
                        ),
                        Err(error) => format!(
                            "@{login}: the exception was pushed but the pull request could not \
                             be updated: {error}"
                        ),
                    }
                }
                Err(error) => format!("@{login}: recording the exception failed: {error}"),
            }
        }
    }
}

fn describe(outcome: &BranchOutcome, base: &str) -> String {
    match outcome {
        BranchOutcome::Created { sha } | BranchOutcome::Updated { sha } => {
            format!("regenerated the commit on the latest {base} ({sha:.12}).")
        }
        BranchOutcome::Unchanged { sha } => {
            format!("already on the latest {base} ({sha:.12}); nothing pushed.")
        }
        BranchOutcome::Foreign { authors, .. } => format!(
            "the branch carries commits by {}; redress leaves it as it is.",
            authors.join(", ")
        ),
    }
}

/// Regenerates `branch` on the latest base with `files` (on a blocking thread).
async fn push(
    shared: &Arc<Shared>,
    forge: &GitHub,
    last: &RepoSweep,
    base: &str,
    branch: &str,
    files: Vec<(std::path::PathBuf, String)>,
    message: &str,
) -> Result<BranchOutcome, String> {
    let Some(url) = last.fix.url.clone() else {
        return Err("the repository has no remote URL to push to".into());
    };
    let token = forge.push_token().await.map_err(|e| e.to_string())?;
    let remote = GitRemote {
        url,
        token: Some(token),
        cache: crate::sweep::push_cache(&shared.config),
    };
    let base = base.to_owned();
    let author = crate::sweep::author(&shared.config);
    let branch = branch.to_owned();
    let message = message.to_owned();
    tokio::task::spawn_blocking(move || {
        rebase_branch(&remote, &base, &branch, &files, &message, &author).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
