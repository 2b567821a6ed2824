//! The command line: arguments parsed by clap, then validated into what the stages need, then
//! run. Exit codes: 0 clean; 1 findings at or above `--fail-on`; 2 inputs that could not be
//! read; 3 both; 4 redress could not run (bad arguments, rules or configuration).

use crate::engine::RuleSet;
use crate::inventory::Inventory;
use crate::inventory::files::{Limits, read_paths};
use crate::model::Severity;
use crate::scan::{ScanOptions, scan};
use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

/// Exit code: findings at or above `--fail-on`.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: some input could not be read (added to `EXIT_FINDINGS` when both happen).
pub const EXIT_INPUT_ERRORS: u8 = 2;
/// Exit code: redress could not run.
pub const EXIT_FATAL: u8 = 4;

/// redress: Kubernetes security posture, fixed at the source.
#[derive(Debug, Parser)]
#[command(name = "redress", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan manifests or a live cluster for security misconfigurations.
    Scan(ScanArgs),
    /// Trace findings to their Git source, write the smallest edit and verify it.
    Fix(FixArgs),
    /// One full sweep from a configuration file: scan, locate, patch, verify, pull requests.
    Sweep(SweepArgs),
    /// Run as a service: scheduled sweeps, webhooks, review commands, metrics.
    Serve(ServeArgs),
    /// List, explain or test rules.
    Rules(RulesArgs),
    /// List compliance frameworks and their controls.
    Frameworks(DataArgs),
}

/// Where rules and mappings come from.
#[derive(Debug, Args, Clone)]
pub struct DataArgs {
    /// A folder of rule files to use instead of the built-in rules.
    #[arg(long, value_name = "DIR", global = true)]
    pub rules: Option<PathBuf>,
    /// A folder of mapping files to use instead of the built-in mappings.
    #[arg(long, value_name = "DIR", global = true)]
    pub mappings: Option<PathBuf>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// A readable table grouped by severity.
    Table,
    /// JSON (schema in docs/json-output.md).
    Json,
    /// SARIF 2.1.0 (GitHub code scanning).
    Sarif,
}

/// `redress scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Manifest files or folders (`-` reads standard input).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Scan a live cluster through kubeconfig (optionally naming a context), or the in-cluster
    /// configuration when running in a pod.
    #[arg(long, value_name = "CONTEXT", num_args = 0..=1, default_missing_value = "")]
    pub cluster: Option<String>,
    /// With --cluster: only this namespace (cluster-scoped kinds are still listed).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Score against one framework and report only its rules.
    #[arg(long, value_name = "ID")]
    pub framework: Option<String>,
    /// Exit with 1 when a non-excepted finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<Severity>,
    /// An exceptions file.
    #[arg(long, value_name = "FILE")]
    pub exceptions: Option<PathBuf>,
    /// Write the output to a file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Refuse manifest files larger than this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    pub max_file_mib: u64,
    /// Rules and mappings.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `redress fix` output formats.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FixFormat {
    /// Readable text with the diffs.
    Table,
    /// JSON (docs/json-output.md).
    Json,
}

/// `redress fix`.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// The Git repository: a local folder, or a URL cloned into the cache.
    #[arg(long, value_name = "PATH_OR_URL")]
    pub repo: String,
    /// Branch, tag or commit to check out.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// Compare with a live cluster through kubeconfig (optionally naming a context).
    #[arg(
        long,
        value_name = "CONTEXT",
        num_args = 0..=1,
        default_missing_value = "",
        conflicts_with = "snapshot"
    )]
    pub cluster: Option<String>,
    /// With --cluster: only this namespace.
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Compare with a snapshot (`kubectl get -o yaml` output, or a folder of manifests).
    #[arg(long, value_name = "FILE")]
    pub snapshot: Vec<PathBuf>,
    /// Apply the verified edits to the repository's working tree.
    #[arg(long)]
    pub write: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FixFormat::Table)]
    pub format: FixFormat,
    /// An exceptions file for the live findings.
    #[arg(long, value_name = "FILE")]
    pub exceptions: Option<PathBuf>,
    /// A chart that a deployer takes from a Helm repository, found in a repository folder.
    #[arg(long = "chart", value_name = "NAME=DIR")]
    pub charts: Vec<String>,
    /// Where remote repositories are cloned (default: $REDRESS_CACHE or ~/.cache/redress).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Write the report to a file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rules and mappings.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `redress sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The configuration file (README: Configuration).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Print the plan (title, labels, body, diff of each pull request) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `redress serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file, with its `serve` section (README: Configuration).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

/// `redress rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// List (default), explain one rule, or run the rules' embedded tests.
    #[command(subcommand)]
    pub action: Option<RulesAction>,
    /// Rules and mappings.
    #[command(flatten)]
    pub data: DataArgs,
}

/// `redress rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// List every rule.
    List,
    /// Print one rule with its rationale, fix and mappings.
    Explain {
        /// The rule id.
        id: String,
    },
    /// Run the test cases embedded in each rule file.
    Test,
}

/// Parses arguments and runs; returns the process exit code.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = if error.use_stderr() { EXIT_FATAL } else { 0 };
            let _ = error.print();
            return code;
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            EXIT_FATAL
        }
    }
}

fn load_rules(data: &DataArgs) -> anyhow::Result<RuleSet> {
    RuleSet::load(data.rules.as_deref(), data.mappings.as_deref()).context("loading rules")
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Scan(args) => run_scan(args),
        Command::Fix(args) => run_fix(args),
        Command::Serve(args) => {
            let config = crate::config::Config::load(&args.config)?;
            crate::serve::main(config)
        }
        Command::Sweep(args) => {
            let config = crate::config::Config::load(&args.config)?;
            let sweeps = crate::sweep::run(&config, args.dry_run)?;
            print!("{}", crate::sweep::render(&sweeps));
            Ok(if crate::sweep::has_problems(&sweeps) {
                EXIT_INPUT_ERRORS
            } else {
                0
            })
        }
        Command::Rules(args) => {
            let rules = load_rules(&args.data)?;
            let text = match args.action.unwrap_or(RulesAction::List) {
                RulesAction::List => crate::report::rules::list(&rules),
                RulesAction::Explain { id } => match crate::report::rules::explain(&rules, &id) {
                    Some(text) => text,
                    None => bail!("no rule '{id}' (see `redress rules`)"),
                },
                RulesAction::Test => {
                    let (text, failures) = crate::engine::testing::run_all(&rules);
                    print!("{text}");
                    return Ok(if failures == 0 { 0 } else { EXIT_FINDINGS });
                }
            };
            print!("{text}");
            Ok(0)
        }
        Command::Frameworks(data) => {
            let rules = load_rules(&data)?;
            print!("{}", crate::report::rules::frameworks(&rules));
            Ok(0)
        }
    }
}

fn run_scan(args: ScanArgs) -> anyhow::Result<u8> {
    let rules = load_rules(&args.data)?;
    if let Some(id) = &args.framework
        && rules.mappings.framework(id).is_none()
    {
        let known: Vec<&str> = rules
            .mappings
            .frameworks
            .iter()
            .map(|f| f.id.as_str())
            .collect();
        bail!("no framework '{id}' (known: {})", known.join(", "));
    }
    let exceptions = rules.load_exceptions(args.exceptions.as_deref())?;
    if args.paths.is_empty() && args.cluster.is_none() {
        bail!("nothing to scan: give manifest paths, or --cluster");
    }
    let limits = Limits {
        max_file_bytes: args.max_file_mib.saturating_mul(1024 * 1024),
        ..Limits::default()
    };
    let mut inventory = Inventory::default();
    if !args.paths.is_empty() {
        let started = std::time::Instant::now();
        inventory.extend(read_paths(&args.paths, limits));
        tracing::info!(
            files = inventory.files,
            objects = inventory.objects.len(),
            read_ms = started.elapsed().as_millis(),
            "read manifests"
        );
    }
    if let Some(context) = &args.cluster {
        let live = read_live(context, args.namespace.as_deref(), &rules, &[])?;
        inventory.extend(live);
    }
    let options = ScanOptions {
        framework: args.framework.clone(),
        today: None,
    };
    let report = scan(&rules, inventory, &exceptions, &options);
    let rendering = std::time::Instant::now();
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(fs_err::File::create(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(&mut sink);
    match args.format {
        Format::Table => out.write_all(crate::report::table::render(&report, &rules).as_bytes())?,
        Format::Json => crate::report::json::render(&report, &rules, &mut out)?,
        Format::Sarif => crate::report::sarif::render(&report, &rules, &mut out)?,
    }
    out.flush()?;
    drop(out);
    tracing::info!(render_ms = rendering.elapsed().as_millis(), "wrote report");
    if args.format != Format::Table {
        // Structured output goes to stdout; problems are still worth a line on stderr.
        for error in &report.input_errors {
            eprintln!("error: {error}");
        }
    }
    let mut code = 0;
    if args.fail_on.is_some_and(|s| report.failing(s) > 0) {
        code |= EXIT_FINDINGS;
    }
    if !report.input_errors.is_empty() {
        code |= EXIT_INPUT_ERRORS;
    }
    Ok(code)
}

/// Reads a live cluster (`context` empty: the current one) on a runtime of its own.
fn read_live(
    context: &str,
    namespace: Option<&str>,
    rules: &RuleSet,
    extra: &[(&str, &str)],
) -> anyhow::Result<Inventory> {
    let context = (!context.is_empty()).then_some(context);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    Ok(runtime.block_on(crate::inventory::live::read_cluster_with(
        context, namespace, rules, extra,
    ))?)
}

fn run_fix(args: FixArgs) -> anyhow::Result<u8> {
    let rules = load_rules(&args.data)?;
    let exceptions = rules.load_exceptions(args.exceptions.as_deref())?;
    let mut charts = std::collections::BTreeMap::new();
    for c in &args.charts {
        let Some((name, dir)) = c.split_once('=') else {
            bail!("--chart {c}: expected NAME=DIR");
        };
        charts.insert(name.to_owned(), dir.to_owned());
    }
    let mut live: Option<Inventory> = None;
    if !args.snapshot.is_empty() {
        live = Some(read_paths(&args.snapshot, Limits::default()));
    }
    if let Some(context) = &args.cluster {
        live = Some(read_live(
            context,
            args.namespace.as_deref(),
            &rules,
            crate::locate::tracking::DEPLOYER_KINDS,
        )?);
    }
    let scanned = crate::sweep::scan_live(&rules, &exceptions, live);
    let options = crate::fix::FixOptions {
        repo: args.repo.clone(),
        revision: args.revision.clone(),
        cache: args.cache.clone(),
        write: args.write,
        charts,
    };
    let renderer = crate::source::render::Renderer::new(crate::source::render::Tools::find());
    let report = crate::fix::run(
        &rules,
        &options,
        scanned.inventory,
        scanned.findings,
        &renderer,
    )?;
    let text = match args.format {
        FixFormat::Table => crate::fix::report::table(&report),
        FixFormat::Json => {
            let mut s = serde_json::to_string_pretty(&crate::fix::report::json(&report))?;
            s.push('\n');
            s
        }
    };
    match &args.output {
        Some(path) => fs_err::write(path, text)?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(if report.problems.is_empty() {
        0
    } else {
        EXIT_INPUT_ERRORS
    })
}
