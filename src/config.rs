//! config: the `redress.yaml` file that `redress sweep` (and later `redress serve`) reads.
//!
//! Takes the path of the file and gives a validated [`Config`]: clusters (where live objects
//! come from), repositories (where the sources are, and the forge that receives pull
//! requests), rules and exceptions, pull request grouping and limits. The file is parsed
//! strictly (unknown keys fail) into raw structs that keep each value's line, then validated
//! once into the richer public types; every error names the file, the line and the key.
//! Paths are resolved against the folder of the file. Credentials are only *referenced*
//! here ([`SecretRef`]); [`SecretRef::resolve`] reads them and hands out a [`Secret`], whose
//! value never reaches an error, a log or `Debug` output. This module reads no cluster, no
//! repository and no network.
//!
//! A new top-level section is a new optional field of `RawConfig`; unknown keys stay
//! errors. The `serve` section's crontab is parsed here, once.

use crate::forge::Secret;
use crate::forge::content::Grouping;
use crate::forge::github::{DEFAULT_API_URL, GitHubAuth, GitHubConfig, RetryPolicy};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// A configuration problem: the file, the line when known, and what is wrong (naming the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", .file.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The configuration file (or the secret file that could not be read).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<u64>,
    /// What is wrong, naming the key.
    pub message: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// Where live objects come from; empty for a git-only sweep.
    pub clusters: Vec<Cluster>,
    /// The repositories holding the sources.
    pub repositories: Vec<Repository>,
    /// Rules and mappings folders; the built-in ones when absent.
    pub rules: RulesConfig,
    /// The exceptions file, if any.
    pub exceptions: Option<PathBuf>,
    /// Grouping, limits and commit author of pull requests.
    pub pull_requests: PullRequestPolicy,
    /// Where remote repositories are cloned; the default cache when absent.
    pub cache: Option<PathBuf>,
    /// How `redress serve` runs; the defaults when the section is absent.
    pub serve: ServeConfig,
}

/// The `serve` section: how `redress serve` listens, schedules, and decides.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address the HTTP server binds.
    pub listen: std::net::SocketAddr,
    /// Crontab of scheduled sweeps, parsed; none: only webhooks and
    /// the start-up sweep.
    pub schedule: Option<crate::serve::schedule::Schedule>,
    /// Largest random delay added to each scheduled sweep.
    pub jitter: std::time::Duration,
    /// How long after a merged pull request the repository is checked again (the GitOps
    /// engine syncs meanwhile).
    pub sync_delay: std::time::Duration,
    /// How long a shutdown waits for the current sweep before abandoning it.
    pub shutdown_grace: std::time::Duration,
    /// Whether live clusters (`context`, `inCluster`) are kept current by a watcher.
    pub watch: bool,
    /// Whether every repository is swept once the service starts leading (at start-up for a
    /// single replica), without waiting for the schedule.
    pub sweep_on_start: bool,
    /// GitHub webhooks; none: `/webhooks/github` answers 404.
    pub webhook: Option<WebhookConfig>,
    /// Leader election through a Lease; none: a single replica that always leads.
    pub leader_election: Option<LeaderElection>,
    /// Approved pull requests merged by redress when all their findings match one entry.
    pub auto_merge: Vec<AutoMerge>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: std::net::SocketAddr::from(([0, 0, 0, 0], 8080)),
            schedule: None,
            jitter: std::time::Duration::from_secs(60),
            sync_delay: std::time::Duration::from_secs(90),
            shutdown_grace: std::time::Duration::from_secs(25),
            watch: true,
            sweep_on_start: true,
            webhook: None,
            leader_election: None,
            auto_merge: Vec::new(),
        }
    }
}

/// GitHub webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The shared secret deliveries are signed with.
    pub secret: SecretRef,
    /// Largest body accepted; larger ones get 413.
    pub max_body_bytes: usize,
}

/// Leader election settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderElection {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease: String,
    /// How long a lease holds without renewal.
    pub lease_duration: std::time::Duration,
    /// Who this replica is in the Lease; `$POD_NAME`, else `$HOSTNAME`, when absent.
    pub identity: Option<String>,
}

/// One auto-merge entry: findings of these severities and rules may be merged once approved.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoMerge {
    /// Severities allowed.
    pub severities: Vec<crate::model::Severity>,
    /// Rule ids allowed; `*` for every rule.
    pub rules: Vec<String>,
}

impl AutoMerge {
    /// Whether a finding of `rule` at `severity` may be merged under this entry.
    pub fn allows(&self, rule: &str, severity: crate::model::Severity) -> bool {
        self.severities.contains(&severity) && self.rules.iter().any(|r| r == "*" || r == rule)
    }
}

/// One cluster whose live objects are scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Name shown in pull requests.
    pub name: String,
    /// Where the objects come from.
    pub source: ClusterSource,
    /// Only this namespace, when set.
    pub namespace: Option<String>,
    /// The kubeconfig file for `context` (resolved against the configuration's folder);
    /// `$KUBECONFIG` or `~/.kube/config` when absent.
    pub kubeconfig: Option<PathBuf>,
}

/// Where a cluster's live objects come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterSource {
    /// A kubeconfig context.
    Context(String),
    /// The in-cluster service account.
    InCluster,
    /// A snapshot file (`kubectl get -o yaml` output) or folder of manifests.
    Snapshot(PathBuf),
}

/// One repository holding sources.
#[derive(Debug, Clone)]
pub struct Repository {
    /// Name shown in reports.
    pub name: String,
    /// Where it is.
    pub location: RepoLocation,
    /// Base branch of pull requests.
    pub branch: String,
    /// Charts a deployer takes from a Helm repository, mapped to a folder of this repository
    /// (relative to its root, as `--chart NAME=DIR`).
    pub charts: BTreeMap<String, String>,
    /// The forge that receives pull requests; none means report only.
    pub forge: Option<Forge>,
    /// Exceptions kept in the repository itself (`/redress ignore` adds to it), relative to
    /// its root.
    pub exceptions_file: PathBuf,
}

/// Where a repository keeps its own exceptions unless configured otherwise.
pub const DEFAULT_REPO_EXCEPTIONS: &str = ".redress/exceptions.yaml";

/// Where a repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    /// A remote, cloned into the cache.
    Url(String),
    /// A local working tree (resolved against the configuration's folder).
    Path(PathBuf),
}

/// A forge that receives pull requests.
#[derive(Debug, Clone)]
pub enum Forge {
    /// GitHub or GitHub Enterprise.
    GitHub(GitHubForge),
}

/// A GitHub repository and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct GitHubForge {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub repo: String,
    /// API base URL.
    pub api_url: String,
    /// Where the credentials are.
    pub credentials: GitHubCredentials,
    /// The configuration file, the line and the key of the credentials, for errors.
    origin: (PathBuf, u64, String),
}

/// Where GitHub credentials are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitHubCredentials {
    /// A token.
    Token(SecretRef),
    /// A GitHub App.
    App {
        /// The app's id.
        app_id: u64,
        /// The app's private key (PEM).
        private_key: SecretRef,
        /// The installation; looked up from the repository when absent.
        installation_id: Option<u64>,
    },
}

/// Where a secret is: an environment variable or a file. Holds no secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file (resolved against the configuration's folder).
    File(PathBuf),
}

/// Rules and mappings folders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RulesConfig {
    /// Rules folder; built-in rules when absent.
    pub dir: Option<PathBuf>,
    /// Mappings folder; built-in mappings when absent.
    pub mappings: Option<PathBuf>,
}

/// Pull request grouping, limits and commit author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestPolicy {
    /// How findings are grouped.
    pub grouping: Grouping,
    /// Open redress pull requests at most, per repository.
    pub max_open: u32,
    /// New pull requests per hour at most, per repository.
    pub max_new_per_hour: u32,
    /// Whether critical findings may exceed the limits.
    pub critical_bypasses_limits: bool,
    /// Commit author.
    pub author: Author,
}

/// A commit author.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
}

impl Default for PullRequestPolicy {
    fn default() -> Self {
        PullRequestPolicy {
            grouping: Grouping::File,
            max_open: 10,
            max_new_per_hour: 5,
            critical_bypasses_limits: true,
            author: Author {
                name: "redress".to_owned(),
                email: "redress@users.noreply.github.com".to_owned(),
            },
        }
    }
}

// ---- raw file shape ---------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    clusters: Vec<Spanned<RawCluster>>,
    #[serde(default)]
    repositories: Vec<Spanned<RawRepository>>,
    rules: Option<RawRules>,
    exceptions: Option<Spanned<PathBuf>>,
    pull_requests: Option<RawPullRequests>,
    cache: Option<Spanned<PathBuf>>,
    serve: Option<Spanned<RawServe>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawServe {
    listen: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    jitter_seconds: Option<u64>,
    sync_delay_seconds: Option<u64>,
    shutdown_grace_seconds: Option<u64>,
    watch: Option<bool>,
    sweep_on_start: Option<bool>,
    webhook: Option<Spanned<RawWebhook>>,
    leader_election: Option<Spanned<RawLeaderElection>>,
    #[serde(default)]
    auto_merge: Vec<Spanned<AutoMerge>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawWebhook {
    secret: Spanned<SecretRef>,
    max_body_bytes: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLeaderElection {
    namespace: Spanned<String>,
    lease: Option<Spanned<String>>,
    lease_duration_seconds: Option<Spanned<u32>>,
    identity: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCluster {
    name: Spanned<String>,
    context: Option<Spanned<String>>,
    in_cluster: Option<Spanned<bool>>,
    snapshot: Option<Spanned<PathBuf>>,
    namespace: Option<String>,
    kubeconfig: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRepository {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    path: Option<Spanned<PathBuf>>,
    branch: Option<Spanned<String>>,
    #[serde(default)]
    charts: BTreeMap<String, String>,
    forge: Option<RawForge>,
    exceptions_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawForge {
    github: Spanned<RawGitHub>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawGitHub {
    owner: Spanned<String>,
    repo: Spanned<String>,
    api_url: Option<String>,
    token: Option<Spanned<SecretRef>>,
    app: Option<Spanned<RawApp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawApp {
    id: u64,
    private_key: SecretRef,
    installation_id: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRules {
    dir: Option<Spanned<PathBuf>>,
    mappings: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPullRequests {
    grouping: Option<Grouping>,
    max_open: Option<Spanned<u32>>,
    max_new_per_hour: Option<Spanned<u32>>,
    critical_bypasses_limits: Option<bool>,
    author: Option<Spanned<Author>>,
}

// ---- loading and validation -------------------------------------------------------------

/// Builds errors that name the configuration file.
struct At<'a> {
    file: &'a Path,
}

impl At<'_> {
    fn err(&self, line: u64, message: impl fmt::Display) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: (line > 0).then_some(line),
            message: message.to_string(),
        }
    }
}

impl Config {
    /// Reads, parses and validates a configuration file. Secrets are not read: see
    /// [`Config::validate_secrets`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = fs_err::read_to_string(path).map_err(|error| ConfigError {
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read the configuration: {error}"),
        })?;
        Config::parse(path, &text)
    }

    /// Parses and validates configuration text as if read from `path` (relative paths are
    /// resolved against its folder).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = At { file: path };
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|error| {
            let (line, message) = crate::engine::yaml_error(&error);
            at.err(line, strip_position(&message))
        })?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let resolve = |p: &Path| resolve_path(&base, p);

        let mut names = BTreeSet::new();
        let mut clusters = Vec::new();
        for (i, spanned) in raw.clusters.into_iter().enumerate() {
            let c = spanned.value;
            let key = format!("clusters[{i}]");
            let name = nonempty(&at, &c.name, &format!("{key}.name"))?;
            if !names.insert(name.clone()) {
                return Err(at.err(
                    c.name.referenced.line(),
                    format!("{key}.name: duplicate cluster name '{name}'"),
                ));
            }
            let mut sources = Vec::new();
            if let Some(context) = &c.context {
                let context_name = nonempty(&at, context, &format!("{key}.context"))?;
                sources.push((
                    "context",
                    context.referenced.line(),
                    ClusterSource::Context(context_name),
                ));
            }
            if let Some(flag) = &c.in_cluster {
                if !flag.value {
                    return Err(at.err(
                        flag.referenced.line(),
                        format!("{key}.inCluster: only `true` is meaningful; remove the key"),
                    ));
                }
                sources.push((
                    "inCluster",
                    flag.referenced.line(),
                    ClusterSource::InCluster,
                ));
            }
            if let Some(snapshot) = &c.snapshot {
                let file = resolve(&snapshot.value);
                exists(
                    &at,
                    snapshot.referenced.line(),
                    &format!("{key}.snapshot"),
                    &file,
                )?;
                sources.push((
                    "snapshot",
                    snapshot.referenced.line(),
                    ClusterSource::Snapshot(file),
                ));
            }
            let source = match sources.len() {
                0 => {
                    return Err(at.err(
                        spanned.referenced.line(),
                        format!(
                            "{key} ({name}): no source; set one of `context`, `inCluster: true` or `snapshot`"
                        ),
                    ));
                }
                1 => sources.remove(0).2,
                _ => {
                    let (second, line, _) = &sources[1];
                    return Err(at.err(
                        *line,
                        format!(
                            "{key}.{second} ({name}): a cluster has exactly one source, but `{}` is also set",
                            sources[0].0
                        ),
                    ));
                }
            };
            let kubeconfig = match &c.kubeconfig {
                None => None,
                Some(file) => {
                    if !matches!(source, ClusterSource::Context(_)) {
                        return Err(at.err(
                            file.referenced.line(),
                            format!("{key}.kubeconfig ({name}): only meaningful with `context`"),
                        ));
                    }
                    let resolved = resolve(&file.value);
                    exists(
                        &at,
                        file.referenced.line(),
                        &format!("{key}.kubeconfig"),
                        &resolved,
                    )?;
                    Some(resolved)
                }
            };
            clusters.push(Cluster {
                name,
                source,
                namespace: c.namespace,
                kubeconfig,
            });
        }

        let mut names = BTreeSet::new();
        let mut repositories = Vec::new();
        for (i, spanned) in raw.repositories.into_iter().enumerate() {
            let r = spanned.value;
            let key = format!("repositories[{i}]");
            let name = nonempty(&at, &r.name, &format!("{key}.name"))?;
            if !names.insert(name.clone()) {
                return Err(at.err(
                    r.name.referenced.line(),
                    format!("{key}.name: duplicate repository name '{name}'"),
                ));
            }
            let location = match (&r.url, &r.path) {
                (Some(url), None) => RepoLocation::Url(nonempty(&at, url, &format!("{key}.url"))?),
                (None, Some(path)) => {
                    let dir = resolve(&path.value);
                    exists(&at, path.referenced.line(), &format!("{key}.path"), &dir)?;
                    RepoLocation::Path(dir)
                }
                (Some(_), Some(path)) => {
                    return Err(at.err(
                        path.referenced.line(),
                        format!(
                            "{key}.path ({name}): set exactly one of `url` and `path`, not both"
                        ),
                    ));
                }
                (None, None) => {
                    return Err(at.err(
                        spanned.referenced.line(),
                        format!("{key} ({name}): set one of `url` or `path`"),
                    ));
                }
            };
            let branch = match &r.branch {
                Some(branch) => nonempty(&at, branch, &format!("{key}.branch"))?,
                None => "main".to_owned(),
            };
            let forge = match r.forge {
                None => None,
                Some(forge) => Some(Forge::GitHub(github(
                    &at,
                    &base,
                    &format!("{key}.forge.github"),
                    forge.github,
                )?)),
            };
            let exceptions_file = match r.exceptions_file {
                None => PathBuf::from(DEFAULT_REPO_EXCEPTIONS),
                Some(file) => {
                    let inside = file.value.is_relative()
                        && file
                            .value
                            .components()
                            .all(|c| matches!(c, std::path::Component::Normal(_)));
                    if !inside {
                        return Err(at.err(
                            file.referenced.line(),
                            format!(
                                "{key}.exceptionsFile: must be a relative path inside the repository"
                            ),
                        ));
                    }
                    file.value
                }
            };
            repositories.push(Repository {
                name,
                location,
                branch,
                charts: r.charts,
                forge,
                exceptions_file,
            });
        }

        let mut rules = RulesConfig::default();
        if let Some(raw_rules) = raw.rules {
            if let Some(dir) = raw_rules.dir {
                let folder = resolve(&dir.value);
                exists(&at, dir.referenced.line(), "rules.dir", &folder)?;
                rules.dir = Some(folder);
            }
            if let Some(dir) = raw_rules.mappings {
                let folder = resolve(&dir.value);
                exists(&at, dir.referenced.line(), "rules.mappings", &folder)?;
                rules.mappings = Some(folder);
            }
        }
        let exceptions = match raw.exceptions {
            None => None,
            Some(file) => {
                let resolved = resolve(&file.value);
                exists(&at, file.referenced.line(), "exceptions", &resolved)?;
                Some(resolved)
            }
        };

        let mut pull_requests = PullRequestPolicy::default();
        if let Some(p) = raw.pull_requests {
            if let Some(grouping) = p.grouping {
                pull_requests.grouping = grouping;
            }
            if let Some(n) = p.max_open {
                pull_requests.max_open = positive(&at, &n, "pullRequests.maxOpen")?;
            }
            if let Some(n) = p.max_new_per_hour {
                pull_requests.max_new_per_hour = positive(&at, &n, "pullRequests.maxNewPerHour")?;
            }
            if let Some(b) = p.critical_bypasses_limits {
                pull_requests.critical_bypasses_limits = b;
            }
            if let Some(author) = p.author {
                if author.value.name.trim().is_empty() || !author.value.email.contains('@') {
                    return Err(at.err(
                        author.referenced.line(),
                        "pullRequests.author: needs a `name` and an `email` address",
                    ));
                }
                pull_requests.author = author.value;
            }
        }

        let cache = raw.cache.map(|c| expand_home(&base, &c.value));
        let serve = match raw.serve {
            None => ServeConfig::default(),
            Some(raw_serve) => serve_section(&at, &base, raw_serve.value)?,
        };
        Ok(Config {
            file: path.to_path_buf(),
            clusters,
            repositories,
            rules,
            exceptions,
            pull_requests,
            cache,
            serve,
        })
    }

    /// Reads every referenced secret once, so a missing or unreadable credentials file fails
    /// at start. An unset environment variable is not an error (no credentials: the sweep
    /// prints its plan).
    pub fn validate_secrets(&self) -> Result<(), ConfigError> {
        for repository in &self.repositories {
            if let Some(Forge::GitHub(github)) = &repository.forge {
                github.auth()?;
            }
        }
        Ok(())
    }
}

impl GitHubForge {
    /// The credentials, read now: `None` when they are absent (an unset environment
    /// variable), an error naming the configuration line when a file cannot be read.
    pub fn auth(&self) -> Result<Option<GitHubAuth>, ConfigError> {
        let (file, line, key) = &self.origin;
        let wrap = |error: ConfigError| ConfigError {
            file: file.clone(),
            line: Some(*line),
            message: format!("{key}: {error}"),
        };
        Ok(match &self.credentials {
            GitHubCredentials::Token(token) => {
                token.resolve().map_err(wrap)?.map(GitHubAuth::Token)
            }
            GitHubCredentials::App {
                app_id,
                private_key,
                installation_id,
            } => private_key
                .resolve()
                .map_err(wrap)?
                .map(|pem| GitHubAuth::App {
                    app_id: *app_id,
                    private_key_pem: pem,
                    installation_id: *installation_id,
                }),
        })
    }

    /// The client configuration with the credentials read now; `None` when they are absent.
    pub fn config(&self, retry: RetryPolicy) -> Result<Option<GitHubConfig>, ConfigError> {
        Ok(self.auth()?.map(|auth| GitHubConfig {
            api_url: self.api_url.clone(),
            owner: self.owner.clone(),
            repo: self.repo.clone(),
            auth,
            retry,
        }))
    }
}

impl SecretRef {
    /// Reads the secret: `Ok(None)` when the environment variable is unset or empty (no
    /// credentials), an error naming the file when it cannot be read or is empty. Surrounding
    /// whitespace (a file's final newline) is trimmed. The value never appears in an error.
    pub fn resolve(&self) -> Result<Option<Secret>, ConfigError> {
        match self {
            SecretRef::Env(name) => Ok(std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(Secret::new)),
            SecretRef::File(path) => {
                let fail = |message: String| ConfigError {
                    file: path.clone(),
                    line: None,
                    message,
                };
                // std, not fs_err: the error already names the file once.
                let text = std::fs::read_to_string(path)
                    .map_err(|error| fail(format!("cannot read the secret file: {error}")))?;
                let value = text.trim();
                if value.is_empty() {
                    return Err(fail("the secret file is empty".to_owned()));
                }
                Ok(Some(Secret::new(value)))
            }
        }
    }
}

fn github(
    at: &At<'_>,
    base: &Path,
    key: &str,
    spanned: Spanned<RawGitHub>,
) -> Result<GitHubForge, ConfigError> {
    let g = spanned.value;
    let owner = nonempty(at, &g.owner, &format!("{key}.owner"))?;
    let repo = nonempty(at, &g.repo, &format!("{key}.repo"))?;
    let resolve_ref = |r: SecretRef| match r {
        SecretRef::File(p) => SecretRef::File(resolve_path(base, &p)),
        env => env,
    };
    let (credentials, line, secret_key) = match (g.token, g.app) {
        (Some(token), None) => (
            GitHubCredentials::Token(resolve_ref(token.value)),
            token.referenced.line(),
            format!("{key}.token"),
        ),
        (None, Some(app)) => (
            GitHubCredentials::App {
                app_id: app.value.id,
                private_key: resolve_ref(app.value.private_key),
                installation_id: app.value.installation_id,
            },
            app.referenced.line(),
            format!("{key}.app.privateKey"),
        ),
        (Some(_), Some(app)) => {
            return Err(at.err(
                app.referenced.line(),
                format!("{key}.app: set exactly one of `token` and `app`, not both"),
            ));
        }
        (None, None) => {
            return Err(at.err(
                spanned.referenced.line(),
                format!("{key}: credentials missing; set `token` or `app`"),
            ));
        }
    };
    Ok(GitHubForge {
        owner,
        repo,
        api_url: g
            .api_url
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
        credentials,
        origin: (at.file.to_path_buf(), line, secret_key),
    })
}

fn serve_section(at: &At<'_>, base: &Path, raw: RawServe) -> Result<ServeConfig, ConfigError> {
    let mut serve = ServeConfig::default();
    if let Some(listen) = raw.listen {
        serve.listen = listen.value.trim().parse().map_err(|_| {
            at.err(
                listen.referenced.line(),
                format!(
                    "serve.listen: '{}' is not an address and port such as 0.0.0.0:8080",
                    listen.value
                ),
            )
        })?;
    }
    if let Some(schedule) = raw.schedule {
        let expression = nonempty(at, &schedule, "serve.schedule")?;
        let parsed = crate::serve::schedule::Schedule::parse(&expression).map_err(|error| {
            at.err(
                schedule.referenced.line(),
                format!("serve.schedule: {error}"),
            )
        })?;
        serve.schedule = Some(parsed);
    }
    let seconds = std::time::Duration::from_secs;
    if let Some(n) = raw.jitter_seconds {
        serve.jitter = seconds(n);
    }
    if let Some(n) = raw.sync_delay_seconds {
        serve.sync_delay = seconds(n);
    }
    if let Some(n) = raw.shutdown_grace_seconds {
        serve.shutdown_grace = seconds(n);
    }
    if let Some(watch) = raw.watch {
        serve.watch = watch;
    }
    if let Some(sweep) = raw.sweep_on_start {
        serve.sweep_on_start = sweep;
    }
    if let Some(webhook) = raw.webhook {
        let w = webhook.value;
        let secret = match w.secret.value {
            SecretRef::File(p) => SecretRef::File(resolve_path(base, &p)),
            env => env,
        };
        let max_body_bytes = match w.max_body_bytes {
            Some(n) => positive(at, &n, "serve.webhook.maxBodyBytes")? as usize,
            None => 1024 * 1024,
        };
        serve.webhook = Some(WebhookConfig {
            secret,
            max_body_bytes,
        });
    }
    if let Some(election) = raw.leader_election {
        let e = election.value;
        let namespace = nonempty(at, &e.namespace, "serve.leaderElection.namespace")?;
        let lease = match &e.lease {
            Some(lease) => nonempty(at, lease, "serve.leaderElection.lease")?,
            None => "redress".to_owned(),
        };
        let lease_duration = match &e.lease_duration_seconds {
            Some(n) => seconds(u64::from(positive(
                at,
                n,
                "serve.leaderElection.leaseDurationSeconds",
            )?)),
            None => seconds(15),
        };
        let identity = match &e.identity {
            Some(identity) => Some(nonempty(at, identity, "serve.leaderElection.identity")?),
            None => None,
        };
        serve.leader_election = Some(LeaderElection {
            namespace,
            lease,
            lease_duration,
            identity,
        });
    }
    for (i, entry) in raw.auto_merge.into_iter().enumerate() {
        if entry.value.severities.is_empty() || entry.value.rules.is_empty() {
            return Err(at.err(
                entry.referenced.line(),
                format!(
                    "serve.autoMerge[{i}]: needs `severities` and `rules` (`*` for every rule)"
                ),
            ));
        }
        serve.auto_merge.push(entry.value);
    }
    Ok(serve)
}

impl ServeConfig {
    /// Reads the webhook secret now: an error when the section names a secret that is unset
    /// or unreadable (a service that cannot check signatures must not start).
    pub fn webhook_secret(&self, file: &Path) -> Result<Option<Secret>, ConfigError> {
        let Some(webhook) = &self.webhook else {
            return Ok(None);
        };
        match webhook.secret.resolve()? {
            Some(secret) => Ok(Some(secret)),
            None => Err(ConfigError {
                file: file.to_path_buf(),
                line: None,
                message: match &webhook.secret {
                    SecretRef::Env(name) => {
                        format!("serve.webhook.secret: the environment variable {name} is not set")
                    }
                    SecretRef::File(path) => {
                        format!("serve.webhook.secret: {} is empty", path.display())
                    }
                },
            }),
        }
    }
}

fn nonempty(at: &At<'_>, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
    let v = value.value.trim();
    if v.is_empty() {
        return Err(at.err(value.referenced.line(), format!("{key}: must not be empty")));
    }
    Ok(v.to_owned())
}

fn positive(at: &At<'_>, value: &Spanned<u32>, key: &str) -> Result<u32, ConfigError> {
    if value.value == 0 {
        return Err(at.err(
            value.referenced.line(),
            format!("{key}: must be greater than 0"),
        ));
    }
    Ok(value.value)
}

fn exists(at: &At<'_>, line: u64, key: &str, path: &Path) -> Result<(), ConfigError> {
    if path.exists() {
        Ok(())
    } else {
        Err(at.err(line, format!("{key}: {} does not exist", path.display())))
    }
}

/// The parser's message without its own `error: line N column M: ` prefix (the error
/// already starts with the file and line).
fn strip_position(message: &str) -> &str {
    let rest = message.strip_prefix("error: ").unwrap_or(message);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((position, tail)) if position.contains(" column ") => tail,
        _ => rest,
    }
}

fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// `~/x` is under the home folder; anything else resolves like other paths.
fn expand_home(base: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~")
        && let Some(home) = std::env::var_os("HOME")
    {
        return PathBuf::from(home).join(rest);
    }
    resolve_path(base, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/redress/redress.yaml"), text)
    }

    /// The error for `text`, with its line and message.
    fn error(text: &str) -> ConfigError {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e,
        }
    }

    const REMOTE: &str = "\
repositories:
  - name: gitops
    url: https://github.com/acme/gitops.git
";

    #[test]
    fn example_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/redress.yaml");
        let config = Config::load(&path).unwrap();
        let examples = path.parent().unwrap();
        assert_eq!(config.clusters.len(), 1);
        assert_eq!(
            config.clusters[0].source,
            ClusterSource::Snapshot(examples.join("gitops-live.yaml"))
        );
        let repo = &config.repositories[0];
        assert_eq!(repo.location, RepoLocation::Path(examples.join("gitops")));
        assert_eq!(repo.branch, "main");
        let Some(Forge::GitHub(github)) = &repo.forge else {
            panic!("no forge");
        };
        assert_eq!(
            (github.owner.as_str(), github.repo.as_str()),
            ("demo", "gitops")
        );
        assert_eq!(github.api_url, DEFAULT_API_URL);
        assert_eq!(
            github.credentials,
            GitHubCredentials::Token(SecretRef::Env("GITHUB_TOKEN".into()))
        );
        assert_eq!(config.pull_requests, PullRequestPolicy::default());
    }

    #[test]
    fn serve_example_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/serve.yaml");
        let config = Config::load(&path).unwrap();
        assert_eq!(
            config.serve.schedule.as_ref().map(|s| s.expression()),
            Some("*/5 * * * *")
        );
        assert_eq!(
            config.serve.webhook.map(|w| w.secret),
            Some(SecretRef::Env("REDRESS_WEBHOOK_SECRET".into()))
        );
    }

    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../README.md");
        let section = readme
            .split_once("## Configuration (redress.yaml)")
            .unwrap()
            .1;
        let yaml = section.split_once("```yaml\n").unwrap().1;
        let yaml = yaml.split_once("```").unwrap().0;
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("rules")).unwrap();
        fs_err::create_dir(dir.path().join("mappings")).unwrap();
        fs_err::write(dir.path().join("exceptions.yaml"), "exceptions: []\n").unwrap();
        fs_err::write(dir.path().join("kubeconfig"), "apiVersion: v1\n").unwrap();
        let config = Config::parse(&dir.path().join("redress.yaml"), yaml).unwrap();
        assert_eq!(
            config.serve.schedule.as_ref().map(|s| s.expression()),
            Some("*/30 * * * *")
        );
        assert_eq!(config.serve.auto_merge.len(), 1);
        assert!(config.serve.leader_election.is_some());
        assert_eq!(
            config.repositories[0].exceptions_file,
            PathBuf::from(DEFAULT_REPO_EXCEPTIONS)
        );
        assert_eq!(
            config.clusters[0].source,
            ClusterSource::Context("prod-admin".into())
        );
        assert_eq!(config.repositories[0].charts.len(), 1);
        assert_eq!(config.rules.dir, Some(dir.path().join("./rules")));
    }

    #[test]
    fn serve_section_is_checked() {
        let config = parse("serve:\n  schedule: \"0 3 * * 1-5\"\n  jitterSeconds: 5\n").unwrap();
        assert_eq!(config.serve.jitter, std::time::Duration::from_secs(5));
        assert!(config.serve.webhook.is_none());
        let e = error("serve:\n  listen: 8080\n");
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("serve.listen"), "{e}");
        let e = error("serve:\n  jitterSeconds: 1\n  schedule: \"* * * *\"\n");
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("serve.schedule"), "{e}");
        let e = error("serve:\n  autoMerge:\n    - severities: []\n      rules: [\"*\"]\n");
        assert!(e.message.contains("serve.autoMerge[0]"), "{e}");
        let e = error("serve:\n  autoMerge:\n    - severities: [urgent]\n      rules: [\"*\"]\n");
        assert!(e.message.contains("urgent"), "{e}");
        let e = error(&format!("{REMOTE}    exceptionsFile: ../outside.yaml\n"));
        assert!(e.message.contains("inside the repository"), "{e}");
        let secretless =
            parse("serve:\n  webhook: {secret: {env: REDRESS_NEVER_SET_VARIABLE}}\n").unwrap();
        let e = secretless
            .serve
            .webhook_secret(&secretless.file)
            .unwrap_err();
        assert!(
            e.message.contains("REDRESS_NEVER_SET_VARIABLE is not set"),
            "{e}"
        );
    }

    #[test]
    fn defaults_apply() {
        let config = parse(REMOTE).unwrap();
        assert!(config.clusters.is_empty());
        assert_eq!(config.repositories[0].branch, "main");
        assert!(config.repositories[0].forge.is_none());
        assert_eq!(config.rules, RulesConfig::default());
        assert_eq!(config.pull_requests.grouping, Grouping::File);
        assert_eq!(config.pull_requests.max_open, 10);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = error("clusters:\n  - name: prod\n    contxt: prod-admin\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("contxt"), "{e}");
        assert!(
            e.to_string().starts_with("/etc/redress/redress.yaml:3:"),
            "{e}"
        );
    }

    #[test]
    fn unknown_top_level_section_fails() {
        let e = error(&format!("{REMOTE}schedul: '0 3 * * *'\n"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("schedul"), "{e}");
    }

    #[test]
    fn two_sources_for_a_cluster() {
        let e = error("clusters:\n  - name: prod\n    context: a\n    inCluster: true\n");
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("clusters[0].inCluster"), "{e}");
        assert!(e.message.contains("`context`"), "{e}");
    }

    #[test]
    fn cluster_without_source() {
        let e = error("clusters:\n  - name: prod\n    namespace: shop\n");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("no source"), "{e}");
    }

    #[test]
    fn url_and_path_together() {
        let e = error(&format!("{REMOTE}    path: /tmp\n"));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("repositories[0].path"), "{e}");
    }

    #[test]
    fn duplicate_names() {
        let e = error(&format!(
            "{REMOTE}  - name: gitops\n    url: https://x/y.git\n"
        ));
        assert_eq!(e.line, Some(4), "{e}");
        assert!(
            e.message.contains("duplicate repository name 'gitops'"),
            "{e}"
        );
        let e = error("clusters:\n  - {name: a, context: x}\n  - {name: a, inCluster: true}\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("clusters[1].name"), "{e}");
    }

    #[test]
    fn max_open_zero() {
        let e = error(&format!(
            "{REMOTE}pullRequests:\n  grouping: rule\n  maxOpen: 0\n"
        ));
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("pullRequests.maxOpen"), "{e}");
    }

    #[test]
    fn bad_grouping_names_line() {
        let e = error(&format!("{REMOTE}pullRequests:\n  grouping: folder\n"));
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.message.contains("folder"), "{e}");
    }

    #[test]
    fn token_and_app_together() {
        let e = error(&format!(
            "{REMOTE}    forge:\n      github:\n        owner: a\n        repo: b\n        \
             token: {{env: T}}\n        app: {{id: 1, privateKey: {{file: k.pem}}}}\n"
        ));
        assert_eq!(e.line, Some(9), "{e}");
        assert!(e.message.contains("forge.github.app"), "{e}");
    }

    #[test]
    fn missing_token_file_fails_at_start_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redress.yaml");
        let text = format!(
            "{REMOTE}    forge:\n      github:\n        owner: a\n        repo: b\n        \
             token: {{file: secrets/token}}\n"
        );
        fs_err::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        let e = config.validate_secrets().unwrap_err();
        assert_eq!(e.file, path);
        assert_eq!(e.line, Some(8), "{e}");
        let shown = e.to_string();
        assert!(
            shown.contains("repositories[0].forge.github.token"),
            "{shown}"
        );
        assert!(
            shown.contains(&dir.path().join("secrets/token").display().to_string()),
            "{shown}"
        );
    }

    #[test]
    fn secrets_resolve_without_showing() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("secrets")).unwrap();
        fs_err::write(dir.path().join("secrets/key.pem"), "s3cr3t-value\n").unwrap();
        let path = dir.path().join("redress.yaml");
        let text = format!(
            "{REMOTE}    forge:\n      github:\n        owner: a\n        repo: b\n        \
             apiUrl: http://127.0.0.1:9/\n        \
             app: {{id: 7, privateKey: {{file: secrets/key.pem}}, installationId: 8}}\n"
        );
        fs_err::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        config.validate_secrets().unwrap();
        let Some(Forge::GitHub(github)) = &config.repositories[0].forge else {
            panic!("no forge");
        };
        let client = github.config(RetryPolicy::default()).unwrap().unwrap();
        assert_eq!(client.api_url, "http://127.0.0.1:9");
        let GitHubAuth::App {
            app_id,
            private_key_pem,
            installation_id,
        } = &client.auth
        else {
            panic!("not an app");
        };
        assert_eq!((*app_id, *installation_id), (7, Some(8)));
        assert_eq!(private_key_pem.expose(), "s3cr3t-value");
        assert!(!format!("{client:?}").contains("s3cr3t"));
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn empty_secret_file_error_does_not_show_content() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        fs_err::write(&file, "  \n").unwrap();
        let e = SecretRef::File(file.clone()).resolve().unwrap_err();
        assert_eq!(e.file, file);
        assert!(e.message.contains("empty"), "{e}");
    }

    #[test]
    fn set_env_resolves_and_prints_masked() {
        // PATH is set in every test environment; it stands in for a token.
        let secret = SecretRef::Env("PATH".into()).resolve().unwrap().unwrap();
        assert!(!secret.expose().is_empty());
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
    }

    #[test]
    fn unset_env_means_no_credentials() {
        let name = "REDRESS_TEST_CONFIG_UNSET_VARIABLE_4F2A";
        assert!(std::env::var_os(name).is_none());
        assert_eq!(SecretRef::Env(name.into()).resolve().unwrap(), None);
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["live", "repo", "my-rules", "my-mappings"] {
            fs_err::create_dir(dir.path().join(folder)).unwrap();
        }
        fs_err::write(dir.path().join("live/list.yaml"), "items: []\n").unwrap();
        fs_err::write(dir.path().join("exc.yaml"), "exceptions: []\n").unwrap();
        let path = dir.path().join("redress.yaml");
        let text = "\
clusters:
  - {name: c, snapshot: live/list.yaml}
repositories:
  - {name: r, path: ./repo, charts: {podinfo: charts/podinfo}}
rules: {dir: my-rules, mappings: my-mappings}
exceptions: exc.yaml
cache: /var/cache/redress
";
        fs_err::write(&path, text).unwrap();
        let config = Config::load(&path).unwrap();
        let d = dir.path();
        assert_eq!(
            config.clusters[0].source,
            ClusterSource::Snapshot(d.join("live/list.yaml"))
        );
        assert_eq!(
            config.repositories[0].location,
            RepoLocation::Path(d.join("./repo"))
        );
        assert_eq!(config.repositories[0].charts["podinfo"], "charts/podinfo");
        assert_eq!(config.rules.dir, Some(d.join("my-rules")));
        assert_eq!(config.rules.mappings, Some(d.join("my-mappings")));
        assert_eq!(config.exceptions, Some(d.join("exc.yaml")));
        assert_eq!(config.cache, Some(PathBuf::from("/var/cache/redress")));
    }

    #[test]
    fn missing_local_path_names_key_and_line() {
        let e = error("clusters:\n  - name: c\n    snapshot: nowhere.yaml\n");
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("clusters[0].snapshot"), "{e}");
        assert!(e.message.contains("/etc/redress/nowhere.yaml"), "{e}");
    }
}
