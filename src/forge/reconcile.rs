//! forge: reconcile the pull requests a sweep wants with the ones the forge has.
//!
//! Takes the desired pull requests (from `content`) and the existing ones (found by branch
//! prefix and the hidden marker, no database) and gives a plan: open, update in place, close
//! (every fingerprint resolved), or leave (a person said no by closing it unmerged; held back
//! by limits). `plan` is pure; `apply` carries a plan out through a [`Forge`] and git pushes,
//! reporting each failure and going on. A sweep with nothing changed makes no write call.

use std::collections::{BTreeSet, HashSet};

use super::content::{DesiredPr, parse_marker};
use super::git::{Author, BranchOutcome, GitRemote, sync_branch};
use super::{Forge, NewPullRequest, PrState, PullRequest};
use crate::model::Severity;

/// The branch prefix of every redress pull request.
pub const BRANCH_PREFIX: &str = "redress/";

/// The label of a pull request a reviewer turned into an exception (`/redress ignore`): its
/// branch records the exception instead of the fix, and sweeps leave it for review.
pub const EXCEPTION_LABEL: &str = "redress/exception";

/// Limits on what a sweep may open.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Open redress pull requests at most.
    pub max_open: usize,
    /// New pull requests in any hour at most (those the forge says were opened in the last
    /// hour count).
    pub max_new: usize,
    /// Critical findings are opened whatever the limits say.
    pub critical_bypasses: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_open: 10,
            max_new: 5,
            critical_bypasses: true,
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Push the branch and open a pull request for `desired[index]`.
    Open { index: usize },
    /// Bring pull request `number` in line with `desired[index]` (branch, title, body,
    /// labels); writes nothing when it already is.
    Update { number: u64, index: usize },
    /// Comment why, close pull request `number` and delete its branch.
    Close {
        number: u64,
        branch: String,
        reason: String,
    },
    /// Do nothing, for the reason given.
    Leave { number: Option<u64>, reason: String },
}

fn fingerprints_of(pr: &PullRequest) -> Option<BTreeSet<String>> {
    parse_marker(&pr.body).map(|m| m.fingerprints.into_iter().collect())
}

/// What a sweep saw of the findings still open (live or in Git).
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Fingerprints of every finding still open.
    pub open: &'a HashSet<String>,
    /// Whether everything could be read and rendered. When it could not, a finding missing
    /// from `open` may only be unread, so no pull request is closed as resolved.
    pub complete: bool,
}

/// Plans the sweep. A pull request none of whose fingerprints is among `seen.open` is
/// resolved, if the sweep saw everything.
pub fn plan(
    desired: &[DesiredPr],
    existing: &[PullRequest],
    seen: Seen<'_>,
    limits: Limits,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Action> {
    let ours: Vec<&PullRequest> = existing
        .iter()
        .filter(|pr| pr.head.starts_with(BRANCH_PREFIX) && parse_marker(&pr.body).is_some())
        .collect();
    let mut actions = Vec::new();
    let mut open_count = ours.iter().filter(|pr| pr.state == PrState::Open).count();
    let hour_ago = now - chrono::Duration::hours(1);
    let mut opened = ours
        .iter()
        .filter(|pr| pr.created_at.is_some_and(|t| t > hour_ago))
        .count();
    // Most severe first, so limits hold back the least severe.
    let mut order: Vec<usize> = (0..desired.len()).collect();
    order.sort_by(|a, b| desired[*b].severity.cmp(&desired[*a].severity));
    for index in order {
        let want = &desired[index];
        let wanted: BTreeSet<String> = want.fingerprints.iter().cloned().collect();
        let same_branch: Vec<&&PullRequest> =
            ours.iter().filter(|pr| pr.head == want.branch).collect();
        if let Some(pr) = same_branch.iter().find(|pr| pr.state == PrState::Open) {
            if pr.labels.iter().any(|l| l == EXCEPTION_LABEL) {
                actions.push(Action::Leave {
                    number: Some(pr.number),
                    reason: "a reviewer turned it into an exception (/redress ignore); left for \
                             review"
                        .into(),
                });
                continue;
            }
            actions.push(Action::Update {
                number: pr.number,
                index,
            });
            continue;
        }
        // The newest closed one speaks for the group.
        if let Some(pr) = same_branch.iter().max_by_key(|pr| pr.number)
            && fingerprints_of(pr).as_ref() == Some(&wanted)
        {
            let reason = match pr.state {
                PrState::Merged => "merged; the findings stay until the GitOps engine syncs",
                _ => "closed unmerged by a person: not raised again until its findings change",
            };
            actions.push(Action::Leave {
                number: Some(pr.number),
                reason: reason.into(),
            });
            continue;
        }
        let bypass = limits.critical_bypasses && want.severity == Severity::Critical;
        if !bypass && (open_count >= limits.max_open || opened >= limits.max_new) {
            actions.push(Action::Leave {
                number: None,
                reason: format!(
                    "held back by the limits ({open_count} open of {}, {opened} opened in the \
                     last hour of {}): {}",
                    limits.max_open, limits.max_new, want.title
                ),
            });
            continue;
        }
        open_count += 1;
        opened += 1;
        actions.push(Action::Open { index });
    }
    let wanted_branches: HashSet<&str> = desired.iter().map(|d| d.branch.as_str()).collect();
    for pr in ours.iter().filter(|pr| pr.state == PrState::Open) {
        if wanted_branches.contains(pr.head.as_str()) {
            continue;
        }
        let fingerprints = fingerprints_of(pr).unwrap_or_default();
        let still: Vec<&String> = fingerprints
            .iter()
            .filter(|f| seen.open.contains(*f))
            .collect();
        if still.is_empty() && !seen.complete {
            actions.push(Action::Leave {
                number: Some(pr.number),
                reason: "its findings were not seen, but this sweep could not read or render \
                         everything; not closed until a complete sweep says they are resolved"
                    .into(),
            });
        } else if still.is_empty() {
            actions.push(Action::Close {
                number: pr.number,
                branch: pr.head.clone(),
                reason: "every finding this pull request fixes is resolved (the live object \
                         is compliant or gone, or the source was fixed another way); redress \
                         closes it and deletes its branch"
                    .into(),
            });
        } else {
            actions.push(Action::Leave {
                number: Some(pr.number),
                reason: format!(
                    "{} of its findings are still open but no verified edit is proposed for \
                     them now; left as it is",
                    still.len()
                ),
            });
        }
    }
    actions
}

/// What became of one action.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The action.
    pub action: Action,
    /// What happened, for the report.
    pub summary: String,
    /// Whether it failed (the sweep went on).
    pub failed: bool,
}

/// Where pushes go and who writes the commits.
pub struct Target<'a> {
    /// The Git remote of the repository.
    pub remote: &'a GitRemote,
    /// The base branch.
    pub base: &'a str,
    /// The commit author.
    pub author: &'a Author,
}

/// The comment left once on a branch a person pushed to.
pub const FOREIGN_COMMENT: &str = "redress sees commits by someone else on this branch and \
     leaves it as it is; close this pull request to let redress propose it again.";

async fn update<F: Forge>(
    forge: &F,
    target: &Target<'_>,
    pr: &PullRequest,
    want: &DesiredPr,
) -> Result<String, String> {
    let mut did = Vec::new();
    let outcome = push(target, want)?;
    match &outcome {
        BranchOutcome::Foreign { authors, .. } => {
            let comments = forge.comments(pr.number).await.map_err(|e| e.to_string())?;
            if !comments.iter().any(|c| c.body == FOREIGN_COMMENT) {
                forge
                    .comment(pr.number, FOREIGN_COMMENT)
                    .await
                    .map_err(|e| e.to_string())?;
                did.push("commented".to_owned());
            }
            return Ok(format!(
                "#{}: a person pushed to {} ({}); left as it is{}",
                pr.number,
                want.branch,
                authors.join(", "),
                if did.is_empty() { "" } else { ", commented" }
            ));
        }
        BranchOutcome::Created { .. } | BranchOutcome::Updated { .. } => {
            did.push("pushed a regenerated commit".into());
        }
        BranchOutcome::Unchanged { .. } => {}
    }
    if pr.title != want.title || pr.body != want.body {
        forge
            .update_pull_request(pr.number, &want.title, &want.body)
            .await
            .map_err(|e| e.to_string())?;
        did.push("updated the title and body".into());
    }
    let missing: Vec<String> = want
        .labels
        .iter()
        .filter(|l| !pr.labels.contains(l))
        .cloned()
        .collect();
    if !missing.is_empty() {
        forge
            .add_labels(pr.number, &missing)
            .await
            .map_err(|e| e.to_string())?;
        did.push("labelled".into());
    }
    Ok(if did.is_empty() {
        format!("#{}: up to date", pr.number)
    } else {
        format!("#{}: {}", pr.number, did.join(", "))
    })
}

fn push(target: &Target<'_>, want: &DesiredPr) -> Result<BranchOutcome, String> {
    sync_branch(
        target.remote,
        target.base,
        &want.branch,
        &want.files,
        &want.title,
        target.author,
    )
    .map_err(|e| e.to_string())
}

/// Carries out a plan. One failed action is reported and the others go on.
pub async fn apply<F: Forge>(
    forge: &F,
    target: &Target<'_>,
    actions: &[Action],
    desired: &[DesiredPr],
    existing: &[PullRequest],
) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    for action in actions {
        let result: Result<String, String> = match action {
            Action::Open { index } => {
                let want = &desired[*index];
                match push(target, want) {
                    Ok(BranchOutcome::Foreign { authors, .. }) => Err(format!(
                        "{} already carries commits by {}; not opened",
                        want.branch,
                        authors.join(", ")
                    )),
                    Ok(_) => forge
                        .create_pull_request(&NewPullRequest {
                            title: want.title.clone(),
                            body: want.body.clone(),
                            head: want.branch.clone(),
                            base: target.base.to_owned(),
                            labels: want.labels.clone(),
                        })
                        .await
                        .map(|pr| format!("opened #{}: {}", pr.number, want.title))
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                }
            }
            Action::Update { number, index } => {
                match existing.iter().find(|pr| pr.number == *number) {
                    Some(pr) => update(forge, target, pr, &desired[*index]).await,
                    None => Err(format!("#{number} is gone")),
                }
            }
            Action::Close {
                number,
                branch,
                reason,
            } => {
                async {
                    forge
                        .comment(*number, reason)
                        .await
                        .map_err(|e| e.to_string())?;
                    forge
                        .close_pull_request(*number)
                        .await
                        .map_err(|e| e.to_string())?;
                    forge
                        .delete_branch(branch)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok(format!("closed #{number} and deleted {branch}"))
                }
                .await
            }
            Action::Leave { number, reason } => Ok(match number {
                Some(n) => format!("#{n}: {reason}"),
                None => reason.clone(),
            }),
        };
        let failed = result.is_err();
        if let Err(e) = &result {
            tracing::warn!(error = %e, ?action, "pull request action failed");
        }
        outcomes.push(Outcome {
            action: action.clone(),
            summary: result.unwrap_or_else(|e| format!("failed: {e}")),
            failed,
        });
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::content::{Grouping, Marker, marker};

    /// A complete sweep that saw `open` still open.
    fn all(open: &HashSet<String>) -> Seen<'_> {
        Seen {
            open,
            complete: true,
        }
    }

    fn want(group: &str, fingerprints: &[&str], severity: Severity) -> DesiredPr {
        DesiredPr {
            group: group.into(),
            branch: format!("redress/{group}/0123456789"),
            title: format!("[redress] fix {group}"),
            body: format!(
                "body\n{}",
                marker(&Marker {
                    group: group.into(),
                    grouping: Grouping::File,
                    fingerprints: fingerprints.iter().map(|s| (*s).to_owned()).collect(),
                })
            ),
            labels: vec!["redress".into()],
            files: Vec::new(),
            fingerprints: fingerprints.iter().map(|s| (*s).to_owned()).collect(),
            severity,
        }
    }

    fn existing(number: u64, want: &DesiredPr, state: PrState) -> PullRequest {
        PullRequest {
            number,
            title: want.title.clone(),
            body: want.body.clone(),
            head: want.branch.clone(),
            head_sha: "abc".into(),
            base: "main".into(),
            state,
            labels: want.labels.clone(),
            url: String::new(),
            created_at: None,
        }
    }

    #[test]
    fn new_groups_open_and_existing_ones_update_in_place() {
        let a = want("a", &["f1"], Severity::High);
        let b = want("b", &["f2"], Severity::Medium);
        let prs = [existing(7, &a, PrState::Open)];
        let actions = plan(
            &[a, b],
            &prs,
            all(&HashSet::new()),
            Limits::default(),
            chrono::Utc::now(),
        );
        assert_eq!(
            actions,
            [
                Action::Update {
                    number: 7,
                    index: 0
                },
                Action::Open { index: 1 }
            ]
        );
    }

    #[test]
    fn a_person_closing_it_is_a_no_until_the_findings_change() {
        let a = want("a", &["f1"], Severity::High);
        let prs = [existing(3, &a, PrState::Closed)];
        let actions = plan(
            std::slice::from_ref(&a),
            &prs,
            all(&HashSet::new()),
            Limits::default(),
            chrono::Utc::now(),
        );
        assert!(matches!(
            actions[..],
            [Action::Leave {
                number: Some(3),
                ..
            }]
        ));
        let changed = want("a", &["f1", "f9"], Severity::High);
        let actions = plan(
            &[changed],
            &prs,
            all(&HashSet::new()),
            Limits::default(),
            chrono::Utc::now(),
        );
        assert_eq!(actions, [Action::Open { index: 0 }]);
    }

    #[test]
    fn resolved_pull_requests_close_and_others_are_left() {
        let gone = want("gone", &["f1"], Severity::High);
        let stuck = want("stuck", &["f2"], Severity::High);
        let mut foreign = existing(9, &gone, PrState::Open);
        foreign.head = "feature/x".into();
        let prs = [
            existing(1, &gone, PrState::Open),
            existing(2, &stuck, PrState::Open),
            foreign,
        ];
        let still_open: HashSet<String> = ["f2".to_owned()].into();
        let actions = plan(
            &[],
            &prs,
            all(&still_open),
            Limits::default(),
            chrono::Utc::now(),
        );
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert!(
            matches!(&actions[0], Action::Close { number: 1, branch, .. } if branch == "redress/gone/0123456789")
        );
        assert!(matches!(
            actions[1],
            Action::Leave {
                number: Some(2),
                ..
            }
        ));
    }

    #[test]
    fn an_incomplete_sweep_closes_nothing() {
        let a = want("a", &["f1"], Severity::High);
        let prs = [existing(7, &a, PrState::Open)];
        let seen = Seen {
            open: &HashSet::new(),
            complete: false,
        };
        let actions = plan(&[], &prs, seen, Limits::default(), chrono::Utc::now());
        assert!(
            matches!(&actions[..], [Action::Leave { number: Some(7), reason }] if reason.contains("could not read")),
            "{actions:?}"
        );
        let actions = plan(
            &[],
            &prs,
            all(&HashSet::new()),
            Limits::default(),
            chrono::Utc::now(),
        );
        assert!(
            matches!(&actions[..], [Action::Close { number: 7, .. }]),
            "{actions:?}"
        );
    }

    #[test]
    fn pull_requests_opened_in_the_last_hour_count_against_the_hourly_limit() {
        let now = chrono::Utc::now();
        let old = want("old", &["f0"], Severity::High);
        let mut recent = existing(4, &old, PrState::Closed);
        recent.created_at = Some(now - chrono::Duration::minutes(10));
        let new = want("new", &["f1"], Severity::High);
        let limits = Limits {
            max_open: 10,
            max_new: 1,
            critical_bypasses: true,
        };
        let actions = plan(
            std::slice::from_ref(&new),
            &[recent.clone()],
            all(&HashSet::new()),
            limits,
            now,
        );
        assert!(
            matches!(actions[..], [Action::Leave { number: None, .. }]),
            "{actions:?}"
        );
        recent.created_at = Some(now - chrono::Duration::minutes(90));
        let actions = plan(&[new], &[recent], all(&HashSet::new()), limits, now);
        assert_eq!(actions, [Action::Open { index: 0 }]);
    }

    #[test]
    fn limits_hold_back_the_least_severe_and_critical_bypasses() {
        let desired = [
            want("low", &["f1"], Severity::Low),
            want("crit", &["f2"], Severity::Critical),
            want("high", &["f3"], Severity::High),
        ];
        let limits = Limits {
            max_open: 10,
            max_new: 1,
            critical_bypasses: true,
        };
        let actions = plan(
            &desired,
            &[],
            all(&HashSet::new()),
            limits,
            chrono::Utc::now(),
        );
        assert_eq!(actions[0], Action::Open { index: 1 });
        assert_eq!(
            actions[1..]
                .iter()
                .filter(|a| matches!(a, Action::Leave { number: None, .. }))
                .count(),
            2,
            "{actions:?}"
        );
        let strict = Limits {
            critical_bypasses: false,
            ..limits
        };
        let actions = plan(
            &desired,
            &[],
            all(&HashSet::new()),
            strict,
            chrono::Utc::now(),
        );
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, Action::Open { .. }))
                .count(),
            1
        );
    }
}
