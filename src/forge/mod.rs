//! forge: pull requests that open, update and close themselves.
//!
//! Takes the verified remediations of `redress fix` and gives pull requests on a Git forge:
//! `github` talks to the GitHub REST API through octocrab, `git` builds one commit per pull
//! request on the latest base branch and pushes it with git2.
pub mod content;
pub mod git;
pub mod github;
pub mod reconcile;

use std::fmt;

/// A credential (token, private key) that never prints: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a pull request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrState {
    /// Open for review.
    Open,
    /// Closed without being merged.
    Closed,
    /// Closed by a merge.
    Merged,
}

/// A pull request as the forge reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Number within the repository.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body (markdown); empty when the forge has none.
    pub body: String,
    /// Head branch name (without `refs/heads/`).
    pub head: String,
    /// Commit the head branch points at.
    pub head_sha: String,
    /// Base branch name.
    pub base: String,
    /// Open, closed or merged.
    pub state: PrState,
    /// Label names.
    pub labels: Vec<String>,
    /// Web address for people.
    pub url: String,
    /// When it was opened, when the forge says.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A pull request to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPullRequest {
    /// Title.
    pub title: String,
    /// Body (markdown).
    pub body: String,
    /// Head branch, already pushed.
    pub head: String,
    /// Base branch.
    pub base: String,
    /// Labels to set once it is open.
    pub labels: Vec<String>,
}

/// A comment on a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Comment id.
    pub id: u64,
    /// Login of the author.
    pub author: String,
    /// Body (markdown).
    pub body: String,
}

/// Why a forge call failed, after any retries.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The token or app credentials were refused.
    #[error(
        "the forge refused the credentials: check that the token (or the app id, private key \
         and installation) is valid, not expired, and meant for this forge"
    )]
    Unauthorized,
    /// The credentials lack a permission.
    #[error(
        "permission denied for {what}: the token or app needs write access to pull requests, issues and contents"
    )]
    Forbidden {
        /// The call that was denied.
        what: String,
    },
    /// Still rate limited after waiting as long as allowed.
    #[error("rate limited by the forge; retry after {retry_after_secs}s")]
    RateLimited {
        /// Seconds the forge asked to wait.
        retry_after_secs: u64,
    },
    /// The forge answered a server error after every retry.
    #[error("forge server error {status} for {what}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The call that failed.
        what: String,
    },
    /// The pull request, branch or repository does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// The forge refused the request as invalid (422 and other 4xx), with its message.
    #[error("the forge rejected {what}: {status} {message}")]
    Rejected {
        /// The call that was refused.
        what: String,
        /// HTTP status.
        status: u16,
        /// The forge's own explanation.
        message: String,
    },
    /// Anything else: transport, unexpected answer, bad configuration.
    #[error("forge call failed: {0}")]
    Other(String),
}

/// A Git forge that holds pull requests for one repository.
///
/// Plain `async fn` in the trait: callers are generic over the forge, no `dyn` needed.
#[allow(async_fn_in_trait)]
pub trait Forge {
    /// Open and closed pull requests whose head branch starts with `head_prefix`.
    async fn list_pull_requests(&self, head_prefix: &str) -> Result<Vec<PullRequest>, ForgeError>;
    /// Opens a pull request and sets its labels. When an open pull request from the same head
    /// already exists (a retried request that had in fact succeeded, or a race), that one is
    /// given back instead of an error, so a call never leaves a duplicate.
    async fn create_pull_request(&self, pr: &NewPullRequest) -> Result<PullRequest, ForgeError>;
    /// Replaces the title and body of a pull request.
    async fn update_pull_request(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<(), ForgeError>;
    /// Closes a pull request without merging it.
    async fn close_pull_request(&self, number: u64) -> Result<(), ForgeError>;
    /// Adds a comment to a pull request.
    async fn comment(&self, number: u64, body: &str) -> Result<(), ForgeError>;
    /// The comments on a pull request, oldest first.
    async fn comments(&self, number: u64) -> Result<Vec<Comment>, ForgeError>;
    /// Adds labels to a pull request (existing labels stay).
    async fn add_labels(&self, number: u64, labels: &[String]) -> Result<(), ForgeError>;
    /// Deletes a branch; a branch already gone is not an error.
    async fn delete_branch(&self, branch: &str) -> Result<(), ForgeError>;
    /// Merges a pull request (squash), only if its head is still `head_sha`.
    async fn merge_pull_request(&self, number: u64, head_sha: &str) -> Result<(), ForgeError>;
    /// What `login` may do in the repository.
    async fn permission(&self, login: &str) -> Result<Permission, ForgeError>;
}

/// What a person may do in a repository, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Not a collaborator.
    None,
    /// May read.
    Read,
    /// May triage issues and pull requests.
    Triage,
    /// May push.
    Write,
    /// May manage the repository without admin rights.
    Maintain,
    /// Everything.
    Admin,
}

impl Permission {
    /// From the forge's name (`read`, `write`, `admin`...; GitHub's legacy `pull`/`push`
    /// too); anything unknown is [`Permission::None`].
    pub fn from_name(name: &str) -> Permission {
        match name {
            "admin" => Permission::Admin,
            "maintain" => Permission::Maintain,
            "write" | "push" => Permission::Write,
            "triage" => Permission::Triage,
            "read" | "pull" => Permission::Read,
            _ => Permission::None,
        }
    }

    /// Whether the person can push to the repository.
    pub fn can_write(self) -> bool {
        self >= Permission::Write
    }
}
