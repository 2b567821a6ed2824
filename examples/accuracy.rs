//! Accuracy against Polaris's own check cases: a measurement, not a gate.
//!
//! Takes the folder `test/checks` of a Polaris checkout (one folder per Polaris check, holding
//! `success*.yaml`, `failure*.yaml` and `mutated*.yaml` cases) and gives, on standard output, a
//! Markdown report of how redress judges each case through the crosswalk (`polaris` peer of
//! `mappings/crosswalk.yaml`, Polaris check id -> redress rule ids):
//!
//! - a `success*` case agrees when no mapped rule reports a non-excepted finding on it;
//! - a `failure*` case agrees when at least one mapped rule does;
//! - for a failure case whose findings carry fixes, the fixes are applied (RFC 6902, one
//!   finding at a time, re-scanning after each) and the case must come out clean;
//! - `mutated*` files (Polaris's fixer output for the failure case of the same name) are
//!   scanned too, and compared with what redress's own fix made of that failure case.
//!
//! Each case file is scanned on its own, as Polaris's test harness does. Folders holding a
//! `check.yaml` test a custom check defined there, not Polaris's built-in check of that name,
//! so they are listed but not scored. Disagreements kept on purpose are read from
//! `docs/accuracy-deliberate.yaml` and counted apart from unexplained ones.
//!
//! ```text
//! cargo run --release --example accuracy -- /path/to/polaris/test/checks > docs/accuracy.md
//! ```
//!
//! Exit code 0 whenever the report was written (a one-line summary goes to standard error);
//! 2 when it could not be (a missing corpus, rules or data files that do not load).

use anyhow::{Context as _, bail};
use clap::Parser;
use redress::engine::exceptions::Exceptions;
use redress::engine::{BUILTIN_MAPPINGS, BUILTIN_RULES, RuleSet};
use redress::inventory::Inventory;
use redress::inventory::files::{Limits, read_file};
use redress::model::{Finding, Object};
use redress::scan::{ScanOptions, ScanReport, scan};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The peer name of Polaris in the crosswalk.
const PEER: &str = "polaris";
/// Fix steps tried on one case before giving up (each step fixes one finding).
const MAX_FIX_STEPS: usize = 64;

/// Measures redress against Polaris's check cases and prints a Markdown report.
#[derive(Debug, Parser)]
#[command(name = "accuracy")]
struct Args {
    /// The `test/checks` folder of a Polaris checkout.
    #[arg(value_name = "CHECKS_DIR")]
    corpus: PathBuf,
    /// A crosswalk file (`crosswalk: {polaris: {checkId: [rule-id]}}`) to use instead of the
    /// one in the mappings.
    #[arg(long, value_name = "FILE")]
    crosswalk: Option<PathBuf>,
    /// A folder of rule files to use instead of the built-in rules.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// A folder of mapping files to use instead of the built-in mappings.
    #[arg(long, value_name = "DIR")]
    mappings: Option<PathBuf>,
    /// The list of deliberate disagreements.
    #[arg(long, value_name = "FILE", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/accuracy-deliberate.yaml"))]
    deliberate: PathBuf,
}

/// A disagreement kept on purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Deliberate {
    /// The Polaris check (its folder name).
    check: String,
    /// The case file name, such as `failure.pod.yaml`.
    case: String,
    /// Why redress judges it differently.
    reason: String,
}

/// A crosswalk file given with `--crosswalk`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CrosswalkFile {
    crosswalk: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// What Polaris expects of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Pass,
    Fail,
}

/// The files of one check folder.
#[derive(Debug, Default)]
struct CheckFolder {
    name: String,
    success: Vec<PathBuf>,
    failure: Vec<PathBuf>,
    mutated: Vec<PathBuf>,
    custom_check: bool,
    other: Vec<String>,
}

/// What redress made of one case file.
#[derive(Debug)]
struct CaseResult {
    file: String,
    expect: Expect,
    /// Non-excepted findings of the mapped rules.
    findings: Vec<Finding>,
    /// Findings of the mapped rules that an exception covered.
    excepted: usize,
    /// Subjects the mapped rules checked.
    checks: usize,
    /// Input and evaluation errors.
    problems: Vec<String>,
    /// For failure cases with a fixable finding: what applying the fixes did.
    fix: Option<FixOutcome>,
}

impl CaseResult {
    fn agrees(&self) -> bool {
        self.problems.is_empty()
            && match self.expect {
                Expect::Pass => self.findings.is_empty(),
                Expect::Fail => !self.findings.is_empty(),
            }
    }

    /// A passing case that no mapped rule looked at: Polaris's harness would call that a
    /// failure of its own (the check must run at least once).
    fn vacuous(&self) -> bool {
        self.checks == 0
    }
}

/// The result of applying redress's fixes to a failure case.
#[derive(Debug)]
enum FixOutcome {
    Resolved { steps: usize, fixed: Vec<Value> },
    Unresolved(String),
}

/// Polaris's fixer output for one failure case, as redress sees it.
#[derive(Debug)]
struct MutatedResult {
    file: String,
    failure: String,
    findings: Vec<Finding>,
    problems: Vec<String>,
    objects: Vec<Value>,
}

/// Everything measured for one mapped check.
#[derive(Debug)]
struct CheckResult {
    name: String,
    rules: Vec<String>,
    cases: Vec<CaseResult>,
    mutated: Vec<MutatedResult>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok((report, summary)) => {
            print!("{report}");
            eprintln!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("accuracy: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<(String, String)> {
    if !args.corpus.is_dir() {
        bail!(
            "{}: not a folder; pass the test/checks folder of a Polaris checkout \
             (for example /work/shared/corpus/polaris-checks/test/checks)",
            args.corpus.display()
        );
    }
    let rules = RuleSet::load(args.rules.as_deref(), args.mappings.as_deref())
        .context("loading rules and mappings")?;
    let (crosswalk, crosswalk_source) = crosswalk(args, &rules)?;
    let deliberate =
        load_deliberate(&args.deliberate).context("reading the deliberate disagreements")?;
    let folders = read_folders(&args.corpus).context("reading the corpus")?;
    let mut warnings = Vec::new();
    if args.rules.is_none() {
        warnings.extend(stale_builtin(&BUILTIN_RULES, "rules"));
    }
    if args.mappings.is_none() && args.crosswalk.is_none() {
        warnings.extend(stale_builtin(&BUILTIN_MAPPINGS, "mappings"));
    }
    for warning in &warnings {
        eprintln!("accuracy: warning: {warning}");
    }

    let mut results = Vec::new();
    for folder in &folders {
        if folder.custom_check {
            continue;
        }
        let Some(mapped) = crosswalk.get(&folder.name) else {
            continue;
        };
        results.push(measure(&rules, folder, mapped));
    }

    let context = ReportContext {
        args,
        rules: &rules,
        crosswalk: &crosswalk,
        crosswalk_source: &crosswalk_source,
        deliberate: &deliberate,
        folders: &folders,
        corpus_commit: corpus_commit(&args.corpus),
        warnings: &warnings,
    };
    Ok(render(&context, &results))
}

/// The Polaris part of the crosswalk, and a sentence saying where it came from.
fn crosswalk(
    args: &Args,
    rules: &RuleSet,
) -> anyhow::Result<(BTreeMap<String, Vec<String>>, String)> {
    let Some(path) = &args.crosswalk else {
        let source = match &args.mappings {
            Some(dir) => format!("`{}`", dir.join("crosswalk.yaml").display()),
            None => "`mappings/crosswalk.yaml` (built in)".to_owned(),
        };
        let map = rules
            .mappings
            .crosswalk
            .get(PEER)
            .cloned()
            .unwrap_or_default();
        return Ok((map, source));
    };
    let text = fs_err::read_to_string(path).context("reading the crosswalk")?;
    let file: CrosswalkFile = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), first_line(&e.to_string())))?;
    let map = file.crosswalk.get(PEER).cloned().unwrap_or_default();
    for (check, ids) in &map {
        for id in ids {
            if rules.rule(id).is_none() {
                bail!(
                    "{}: polaris {check} names rule '{id}', which does not exist",
                    path.display()
                );
            }
        }
    }
    Ok((
        map,
        format!("`{}` (given with --crosswalk)", path.display()),
    ))
}

fn load_deliberate(path: &Path) -> anyhow::Result<Vec<Deliberate>> {
    let text = fs_err::read_to_string(path)?;
    let entries: Option<Vec<Deliberate>> = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), first_line(&e.to_string())))?;
    Ok(entries.unwrap_or_default())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Compares the data built into the binary with the folder it was built from. Cargo rebuilds
/// when a file it embedded changes, but not when a file is added to or removed from the
/// folder, so a fresh rule can be missing from the binary until something else changes.
fn stale_builtin(dir: &include_dir::Dir<'_>, folder: &str) -> Option<String> {
    let disk = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let entries = fs_err::read_dir(&disk).ok()?;
    let mut on_disk = BTreeMap::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            on_disk.insert(file_name(&path), fs_err::read(&path).unwrap_or_default());
        }
    }
    let built: BTreeMap<String, Vec<u8>> = dir
        .files()
        .map(|f| (file_name(f.path()), f.contents().to_vec()))
        .collect();
    let mut differences: Vec<String> = Vec::new();
    for (name, bytes) in &on_disk {
        match built.get(name) {
            None => differences.push(format!("`{name}` is not built in")),
            Some(b) if b != bytes => differences.push(format!("`{name}` changed")),
            Some(_) => {}
        }
    }
    for name in built.keys().filter(|n| !on_disk.contains_key(*n)) {
        differences.push(format!("`{name}` is built in but gone from {folder}/"));
    }
    (!differences.is_empty()).then(|| {
        format!(
            "the built-in {folder} differ from {folder}/ on disk ({}): rebuild after touching a \
             source file, or pass --{folder} {folder}",
            differences.join(", ")
        )
    })
}

/// Lists the check folders and sorts their files by role.
fn read_folders(corpus: &Path) -> anyhow::Result<Vec<CheckFolder>> {
    let mut folders = Vec::new();
    for entry in fs_err::read_dir(corpus)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let mut folder = CheckFolder {
            name: entry.file_name().to_string_lossy().into_owned(),
            ..CheckFolder::default()
        };
        for file in fs_err::read_dir(entry.path())? {
            let file = file?;
            let name = file.file_name().to_string_lossy().into_owned();
            let path = file.path();
            let manifest = matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            );
            if name == "check.yaml" {
                folder.custom_check = true;
            } else if manifest && name.starts_with("success") {
                folder.success.push(path);
            } else if manifest && name.starts_with("failure") {
                folder.failure.push(path);
            } else if manifest && name.starts_with("mutated") {
                folder.mutated.push(path);
            } else {
                folder.other.push(name);
            }
        }
        folder.success.sort();
        folder.failure.sort();
        folder.mutated.sort();
        folder.other.sort();
        folders.push(folder);
    }
    folders.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(folders)
}

/// The upstream commit of `polaris-checks` in a corpus README above the checks folder.
fn corpus_commit(corpus: &Path) -> Option<String> {
    let absolute = fs_err::canonicalize(corpus).ok()?;
    for dir in absolute.ancestors().skip(1) {
        let Ok(text) = fs_err::read_to_string(dir.join("README.md")) else {
            continue;
        };
        for line in text.lines() {
            if !line.trim_start().starts_with("| `polaris-checks") {
                continue;
            }
            // The upstream cell reads: owner/repo (`commit`, date).
            let cell = line.split('|').nth(2)?.trim();
            return cell.contains('`').then(|| cell.to_owned());
        }
    }
    None
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Scans one check folder's cases with the mapped rules.
fn measure(rules: &RuleSet, folder: &CheckFolder, mapped: &[String]) -> CheckResult {
    let mut cases = Vec::new();
    for (paths, expect) in [
        (&folder.success, Expect::Pass),
        (&folder.failure, Expect::Fail),
    ] {
        for path in paths {
            cases.push(measure_case(rules, path, expect, mapped));
        }
    }
    let mut mutated = Vec::new();
    for path in &folder.mutated {
        let name = file_name(path);
        let inventory = read_file(path, Limits::default());
        let objects: Vec<Value> = inventory
            .objects
            .iter()
            .map(|o| (*o.json).clone())
            .collect();
        let scanned = Scanned::of(rules, inventory, mapped);
        mutated.push(MutatedResult {
            failure: name.replace("mutated", "failure"),
            file: name,
            findings: scanned.findings,
            problems: scanned.problems,
            objects,
        });
    }
    CheckResult {
        name: folder.name.clone(),
        rules: mapped.to_vec(),
        cases,
        mutated,
    }
}

/// The mapped rules' view of one scan.
struct Scanned {
    findings: Vec<Finding>,
    excepted: usize,
    checks: usize,
    problems: Vec<String>,
}

impl Scanned {
    fn of(rules: &RuleSet, inventory: Inventory, mapped: &[String]) -> Scanned {
        let report = scan_without_exceptions(rules, inventory);
        Scanned::from_report(report, mapped)
    }

    fn from_report(report: ScanReport, mapped: &[String]) -> Scanned {
        let is_mapped = |rule: &str| mapped.iter().any(|m| m == rule);
        let mut problems: Vec<String> = report
            .input_errors
            .iter()
            .map(|e| format!("could not read: {}", e.message))
            .collect();
        problems.extend(
            report
                .eval_errors
                .iter()
                .filter(|e| is_mapped(&e.rule))
                .map(|e| {
                    format!(
                        "`{}` failed to evaluate at {}: {}",
                        e.rule, e.path, e.message
                    )
                }),
        );
        let checks = report
            .counts
            .iter()
            .filter(|(rule, _)| is_mapped(rule))
            .map(|(_, c)| c.checks)
            .sum();
        let (excepted, findings): (Vec<Finding>, Vec<Finding>) = report
            .findings
            .into_iter()
            .filter(|f| is_mapped(&f.rule))
            .partition(|f| f.excepted.is_some());
        Scanned {
            findings,
            excepted: excepted.len(),
            checks,
            problems,
        }
    }
}

/// Scans with no exceptions file (annotations on the objects still apply).
fn scan_without_exceptions(rules: &RuleSet, inventory: Inventory) -> ScanReport {
    scan(
        rules,
        inventory,
        &Exceptions::default(),
        &ScanOptions::default(),
    )
}

fn measure_case(rules: &RuleSet, path: &Path, expect: Expect, mapped: &[String]) -> CaseResult {
    let inventory = read_file(path, Limits::default());
    let objects = inventory.objects.clone();
    let scanned = Scanned::of(rules, inventory, mapped);
    let fix = (expect == Expect::Fail && scanned.findings.iter().any(|f| f.fix.is_some()))
        .then(|| apply_fixes(rules, objects, mapped));
    CaseResult {
        file: file_name(path),
        expect,
        findings: scanned.findings,
        excepted: scanned.excepted,
        checks: scanned.checks,
        problems: scanned.problems,
        fix,
    }
}

/// Applies the mapped findings' fixes one at a time, re-scanning after each, until no mapped
/// finding is left (resolved) or one is left that has no fix, whose fix fails to apply or
/// leaves it in place (unresolved).
fn apply_fixes(rules: &RuleSet, mut objects: Vec<Object>, mapped: &[String]) -> FixOutcome {
    let mut tried = BTreeSet::new();
    for steps in 0..MAX_FIX_STEPS {
        let inventory = Inventory {
            objects: objects.clone(),
            ..Inventory::default()
        };
        let scanned = Scanned::of(rules, inventory, mapped);
        if scanned.findings.is_empty() {
            return FixOutcome::Resolved {
                steps,
                fixed: objects.iter().map(|o| (*o.json).clone()).collect(),
            };
        }
        let Some(finding) = scanned.findings.iter().find(|f| f.fix.is_some()) else {
            let left: Vec<String> = scanned.findings.iter().map(describe_finding).collect();
            return FixOutcome::Unresolved(format!("left without a fix: {}", left.join("; ")));
        };
        if !tried.insert(finding.fingerprint.clone()) {
            return FixOutcome::Unresolved(format!(
                "the fix leaves the finding in place: {}",
                describe_finding(finding)
            ));
        }
        let Some(index) = objects
            .iter()
            .position(|o| o.id == finding.object && o.origin == finding.origin)
        else {
            return FixOutcome::Unresolved(format!(
                "the object of {} is not in the input",
                describe_finding(finding)
            ));
        };
        let ops = Value::Array(finding.fix.clone().unwrap_or_default());
        let mut json = (*objects[index].json).clone();
        let applied = serde_json::from_value::<json_patch::Patch>(ops)
            .map_err(|e| e.to_string())
            .and_then(|patch| json_patch::patch(&mut json, &patch).map_err(|e| e.to_string()));
        if let Err(error) = applied {
            return FixOutcome::Unresolved(format!(
                "the fix of {} does not apply: {error}",
                describe_finding(finding)
            ));
        }
        let origin = objects[index].origin.clone();
        let Some(object) = Object::from_json(json, origin) else {
            return FixOutcome::Unresolved(format!(
                "the fix of {} removed the object's apiVersion or kind",
                describe_finding(finding)
            ));
        };
        objects[index] = object;
    }
    FixOutcome::Unresolved(format!("still not clean after {MAX_FIX_STEPS} fixes"))
}

fn describe_finding(finding: &Finding) -> String {
    let mut text = format!(
        "`{}` at `{}` ({}",
        finding.rule, finding.path, finding.message
    );
    if let Some(line) = finding.line {
        let _ = write!(text, ", line {line}");
    }
    text.push(')');
    text
}

/// Everything the report needs besides the results.
struct ReportContext<'a> {
    args: &'a Args,
    rules: &'a RuleSet,
    crosswalk: &'a BTreeMap<String, Vec<String>>,
    crosswalk_source: &'a str,
    deliberate: &'a [Deliberate],
    folders: &'a [CheckFolder],
    corpus_commit: Option<String>,
    warnings: &'a [String],
}

impl ReportContext<'_> {
    fn deliberate_for(&self, check: &str, case: &str) -> Option<&Deliberate> {
        self.deliberate
            .iter()
            .find(|d| d.check == check && d.names(case))
    }

    /// The deliberate-disagreements file, as the report names it.
    fn deliberate_name(&self) -> String {
        let path = &self.args.deliberate;
        path.strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Built-in check folders without a crosswalk entry.
    fn unmapped(&self) -> impl Iterator<Item = &CheckFolder> {
        self.folders
            .iter()
            .filter(|f| !f.custom_check && !self.crosswalk.contains_key(&f.name))
    }
}

impl Deliberate {
    /// Whether this entry names the case file `file` (with or without its extension).
    fn names(&self, file: &str) -> bool {
        self.case == file
            || file
                .rsplit_once('.')
                .is_some_and(|(stem, _)| stem == self.case)
    }
}

/// The command line that produced the report, as a person would type it.
fn command_line() -> String {
    let mut line = String::from("cargo run --release --example accuracy --");
    for arg in std::env::args_os().skip(1) {
        let arg = arg.to_string_lossy();
        line.push(' ');
        if !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,".contains(c))
        {
            line.push_str(&arg);
        } else {
            let _ = write!(line, "'{}'", arg.replace('\'', r"'\''"));
        }
    }
    line
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn ratio(n: usize, total: usize) -> String {
    if total == 0 {
        "—".to_owned()
    } else {
        format!("{n}/{total}")
    }
}

/// What redress said about a case, in one line.
fn reported(case: &CaseResult) -> String {
    let mut parts: Vec<String> = case.problems.clone();
    if case.findings.is_empty() {
        if case.checks == 0 {
            parts.push(
                "no finding: the mapped rules had no subject to check in this file".to_owned(),
            );
        } else {
            parts.push(format!(
                "no finding: the mapped rules checked {} subject{} and passed {}",
                case.checks,
                if case.checks == 1 { "" } else { "s" },
                if case.checks == 1 { "it" } else { "them all" }
            ));
        }
    } else {
        parts.extend(case.findings.iter().map(describe_finding));
    }
    if case.excepted > 0 {
        parts.push(format!("{} excepted finding(s)", case.excepted));
    }
    parts.join("; ")
}

fn expectation(expect: Expect) -> &'static str {
    match expect {
        Expect::Pass => "should pass",
        Expect::Fail => "should fail",
    }
}

/// A Markdown document being written.
#[derive(Default)]
struct Md(String);

impl Md {
    fn line(&mut self, text: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{text}");
    }

    fn lines(&mut self, text: &[&str]) {
        for line in text {
            self.line(line);
        }
    }
}

/// The counts the report and the summary share.
struct Tally<'a> {
    cases: Vec<(&'a CheckResult, &'a CaseResult)>,
    agreeing: usize,
    vacuous: usize,
    deliberate: Vec<(&'a CheckResult, &'a CaseResult)>,
    unexplained: Vec<(&'a CheckResult, &'a CaseResult)>,
    fixes: usize,
    fixes_ok: usize,
}

impl<'a> Tally<'a> {
    fn new(context: &ReportContext<'_>, results: &'a [CheckResult]) -> Tally<'a> {
        let cases: Vec<(&CheckResult, &CaseResult)> = results
            .iter()
            .flat_map(|r| r.cases.iter().map(move |c| (r, c)))
            .collect();
        let (deliberate, unexplained) = cases
            .iter()
            .copied()
            .filter(|(_, c)| !c.agrees())
            .partition(|(r, c)| context.deliberate_for(&r.name, &c.file).is_some());
        Tally {
            agreeing: cases.iter().filter(|(_, c)| c.agrees()).count(),
            vacuous: cases
                .iter()
                .filter(|(_, c)| c.expect == Expect::Pass && c.agrees() && c.vacuous())
                .count(),
            fixes: cases.iter().filter(|(_, c)| c.fix.is_some()).count(),
            fixes_ok: cases
                .iter()
                .filter(|(_, c)| matches!(c.fix, Some(FixOutcome::Resolved { .. })))
                .count(),
            cases,
            deliberate,
            unexplained,
        }
    }

    fn disagreeing(&self) -> usize {
        self.deliberate.len() + self.unexplained.len()
    }

    fn summary(&self, checks: usize) -> String {
        format!(
            "accuracy: {checks} checks mapped, {} cases, {} agree, {} disagree ({} deliberate, {} unexplained), fixes verified {}",
            self.cases.len(),
            self.agreeing,
            self.disagreeing(),
            self.deliberate.len(),
            self.unexplained.len(),
            ratio(self.fixes_ok, self.fixes)
        )
    }
}

fn render(context: &ReportContext<'_>, results: &[CheckResult]) -> (String, String) {
    let tally = Tally::new(context, results);
    let mut md = Md::default();
    header(&mut md, context);
    totals(&mut md, context, &tally, results);
    per_check(&mut md, results);
    disagreements(&mut md, context, &tally);
    deliberate(&mut md, context, &tally, results);
    fixes(&mut md, results);
    fixer_output(&mut md, results);
    coverage(&mut md, context);
    (md.0, tally.summary(results.len()))
}

fn header(md: &mut Md, context: &ReportContext<'_>) {
    md.lines(&[
        "# Accuracy against Polaris's check cases",
        "",
        "<!-- Generated: do not edit by hand. Re-run the command below. -->",
        "",
        "Produced by:",
        "",
        "```text",
    ]);
    md.line(format_args!("{} > docs/accuracy.md", command_line()));
    md.lines(&["```", ""]);
    match &context.corpus_commit {
        Some(c) => md.line(format_args!(
            "- Corpus: `test/checks` of {c}, as the corpus README records it."
        )),
        None => md.line(
            "- Corpus: upstream commit unknown (no corpus README naming `polaris-checks` was \
             found above the folder).",
        ),
    }
    md.line(format_args!(
        "- redress {}: {} rules ({}); crosswalk: {}.",
        env!("CARGO_PKG_VERSION"),
        context.rules.rules.len(),
        match &context.args.rules {
            Some(dir) => format!("from `{}`", dir.display()),
            None => "built in".to_owned(),
        },
        context.crosswalk_source
    ));
    for warning in context.warnings {
        md.line(format_args!("- **Warning**: {warning}."));
    }
    md.lines(&[
        "",
        "Each Polaris check id maps to one or more redress rules through the crosswalk. Each case",
        "file is scanned on its own, with redress's full rule set, and only the findings of the",
        "mapped rules count:",
        "",
        "- a `success*` case agrees when no mapped rule reports a (non-excepted) finding on it;",
        "- a `failure*` case agrees when at least one mapped rule reports a finding;",
        "- a case that redress could not read, or where a mapped rule failed to evaluate, disagrees;",
        "- *fixes verified*: for each failure case where redress reports a finding with a fix, the",
        "  fixes are applied (JSON Patch, one finding at a time, re-scanning after each) and the",
        "  case must come out with no finding of the mapped rules.",
        "",
        "A passing success case is *vacuous* when the mapped rules had no subject in it (no object",
        "of their kinds, or, for a rule that checks each item of a list, an empty list): it passes",
        "without exercising the rule, where Polaris's harness requires its check to run once.",
        "",
    ]);
}

fn totals(md: &mut Md, context: &ReportContext<'_>, tally: &Tally<'_>, results: &[CheckResult]) {
    let custom = context.folders.iter().filter(|f| f.custom_check).count();
    let scorable: usize = context
        .folders
        .iter()
        .filter(|f| !f.custom_check)
        .map(|f| f.success.len() + f.failure.len())
        .sum();
    md.lines(&["## Totals", "", "| measure | value |", "|---|---|"]);
    md.line(format_args!(
        "| Polaris checks in the corpus | {} |",
        context.folders.len()
    ));
    md.line(format_args!(
        "| checks mapped and scored | {} |",
        results.len()
    ));
    md.line(format_args!(
        "| checks not mapped | {} |",
        context.unmapped().count()
    ));
    md.line(format_args!(
        "| folders testing a custom check (not scored) | {custom} |"
    ));
    md.line(format_args!(
        "| cases scored | {} (of {scorable} success and failure cases of built-in checks) |",
        tally.cases.len()
    ));
    md.line(format_args!("| agreeing cases | {} |", tally.agreeing));
    md.line(format_args!(
        "| of which vacuous success cases | {} |",
        tally.vacuous
    ));
    md.line(format_args!(
        "| disagreeing cases | {} ({} deliberate, {} unexplained) |",
        tally.disagreeing(),
        tally.deliberate.len(),
        tally.unexplained.len()
    ));
    md.line(format_args!(
        "| fixes verified | {} |",
        ratio(tally.fixes_ok, tally.fixes)
    ));
    md.line("");
}

fn per_check(md: &mut Md, results: &[CheckResult]) {
    md.lines(&["## Per check", ""]);
    if results.is_empty() {
        md.lines(&[
            "No Polaris check is mapped yet: the crosswalk has no `polaris` entry for a check",
            "in this corpus.",
            "",
        ]);
        return;
    }
    md.lines(&[
        "| Polaris check | redress rules | success cases passing | failure cases failing | fixes verified |",
        "|---|---|---|---|---|",
    ]);
    for result in results {
        let of = |expect: Expect| result.cases.iter().filter(move |c| c.expect == expect);
        let mut passing = ratio(
            of(Expect::Pass).filter(|c| c.agrees()).count(),
            of(Expect::Pass).count(),
        );
        let vacuous = of(Expect::Pass)
            .filter(|c| c.agrees() && c.vacuous())
            .count();
        if vacuous > 0 {
            let _ = write!(passing, " ({vacuous} vacuous)");
        }
        let failing = ratio(
            of(Expect::Fail).filter(|c| c.agrees()).count(),
            of(Expect::Fail).count(),
        );
        let fixed = ratio(
            result
                .cases
                .iter()
                .filter(|c| matches!(c.fix, Some(FixOutcome::Resolved { .. })))
                .count(),
            result.cases.iter().filter(|c| c.fix.is_some()).count(),
        );
        md.line(format_args!(
            "| `{}` | {} | {passing} | {failing} | {fixed} |",
            result.name,
            code_list(&result.rules)
        ));
    }
    md.line("");
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|r| format!("`{r}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn disagreements(md: &mut Md, context: &ReportContext<'_>, tally: &Tally<'_>) {
    md.lines(&["## Disagreements", ""]);
    if tally.unexplained.is_empty() {
        md.lines(&["None unexplained.", ""]);
        return;
    }
    md.line(format_args!(
        "Cases where redress and Polaris disagree and `{}` gives no reason:",
        context.deliberate_name()
    ));
    md.line("");
    for (result, case) in &tally.unexplained {
        md.line(format_args!(
            "- `{}/{}` ({}): {}",
            result.name,
            case.file,
            expectation(case.expect),
            reported(case)
        ));
    }
    md.line("");
}

fn deliberate(
    md: &mut Md,
    context: &ReportContext<'_>,
    tally: &Tally<'_>,
    results: &[CheckResult],
) {
    md.lines(&["## Deliberate disagreements", ""]);
    if tally.deliberate.is_empty() {
        md.line("None recorded that still disagree.");
    } else {
        md.line(format_args!(
            "Disagreements kept on purpose, with the reason given in `{}`:",
            context.deliberate_name()
        ));
        md.line("");
        for (result, case) in &tally.deliberate {
            let reason = context
                .deliberate_for(&result.name, &case.file)
                .map(|d| d.reason.trim().replace('\n', " "))
                .unwrap_or_default();
            md.line(format_args!(
                "- `{}/{}` ({}): {}  \n  Why: {reason}",
                result.name,
                case.file,
                expectation(case.expect),
                reported(case),
            ));
        }
    }
    md.line("");
    let stale: Vec<(&Deliberate, &str)> = context
        .deliberate
        .iter()
        .filter_map(|d| {
            let result = results.iter().find(|r| r.name == d.check);
            let case = result.and_then(|r| r.cases.iter().find(|c| d.names(&c.file)));
            match (result, case) {
                (None, _) => Some((d, "the check is not mapped and scored")),
                (Some(_), None) => Some((d, "no such case in this corpus")),
                (Some(_), Some(c)) if c.agrees() => Some((d, "redress now agrees with Polaris")),
                _ => None,
            }
        })
        .collect();
    if stale.is_empty() {
        return;
    }
    md.lines(&["### Stale entries", ""]);
    md.line(format_args!(
        "Entries of `{}` that no longer match a disagreement:",
        context.deliberate_name()
    ));
    md.line("");
    for (entry, why) in stale {
        md.line(format_args!("- `{}/{}`: {why}", entry.check, entry.case));
    }
    md.line("");
}

fn fixes(md: &mut Md, results: &[CheckResult]) {
    md.lines(&["## Fixes", ""]);
    let rows: Vec<(&CheckResult, &CaseResult, &FixOutcome)> = results
        .iter()
        .flat_map(|r| {
            r.cases
                .iter()
                .filter_map(move |c| c.fix.as_ref().map(|f| (r, c, f)))
        })
        .collect();
    if rows.is_empty() {
        md.lines(&["No failure case gave a finding with a fix.", ""]);
        return;
    }
    md.lines(&[
        "Failure cases where redress reports a finding with a fix, and what applying the fixes",
        "did. Where Polaris ships its own fixer output (`mutated*`), the last column compares",
        "the two fixed manifests (parsed, so layout does not count).",
        "",
        "| case | our fix resolves it | compared with Polaris's fixer output |",
        "|---|---|---|",
    ]);
    for (result, case, outcome) in rows {
        let mutated = result.mutated.iter().find(|m| m.failure == case.file);
        let (resolves, comparison) = match outcome {
            FixOutcome::Resolved { steps, fixed } => (
                format!("yes ({steps} fix{})", if *steps == 1 { "" } else { "es" }),
                mutated.map_or("—".to_owned(), |m| {
                    compare_fixed(fixed, &m.objects, &m.file)
                }),
            ),
            FixOutcome::Unresolved(why) => (
                format!("no: {}", cell(why)),
                mutated.map_or("—".to_owned(), |m| format!("`{}` exists", m.file)),
            ),
        };
        md.line(format_args!(
            "| `{}/{}` | {resolves} | {comparison} |",
            result.name, case.file
        ));
    }
    md.line("");
}

fn fixer_output(md: &mut Md, results: &[CheckResult]) {
    let mutated: Vec<(&CheckResult, &MutatedResult)> = results
        .iter()
        .flat_map(|r| r.mutated.iter().map(move |m| (r, m)))
        .collect();
    if mutated.is_empty() {
        return;
    }
    md.lines(&[
        "## Polaris's fixer output as redress sees it",
        "",
        "Each `mutated*` file is what Polaris's fixer made of the failure case of the same name;",
        "redress should find nothing of the mapped rules in it.",
        "",
        "| file | redress on it |",
        "|---|---|",
    ]);
    for (result, m) in mutated {
        let mut parts = m.problems.clone();
        if m.findings.is_empty() {
            parts.push("clean".to_owned());
        } else {
            parts.extend(m.findings.iter().map(describe_finding));
        }
        md.line(format_args!(
            "| `{}/{}` | {} |",
            result.name,
            m.file,
            cell(&parts.join("; "))
        ));
    }
    md.line("");
}

fn coverage(md: &mut Md, context: &ReportContext<'_>) {
    md.lines(&["## Polaris checks not mapped", ""]);
    let unmapped: Vec<&CheckFolder> = context.unmapped().collect();
    if unmapped.is_empty() {
        md.line("Every built-in Polaris check in the corpus is mapped.");
    } else {
        md.lines(&[
            "These checks have no `polaris` entry in the crosswalk, so their cases are not scored:",
            "",
            "| Polaris check | success cases | failure cases |",
            "|---|---|---|",
        ]);
        for folder in unmapped {
            md.line(format_args!(
                "| `{}` | {} | {} |",
                folder.name,
                folder.success.len(),
                folder.failure.len()
            ));
        }
    }
    md.lines(&["", "## Folders that test a custom check", ""]);
    let custom: Vec<&CheckFolder> = context.folders.iter().filter(|f| f.custom_check).collect();
    if custom.is_empty() {
        md.line("None.");
    } else {
        md.lines(&[
            "These folders hold a `check.yaml`: Polaris's harness runs the custom check defined",
            "there under the folder's name instead of its built-in check, so their cases say",
            "nothing about the built-in check and are not scored.",
            "",
        ]);
        for folder in custom {
            let mapped = context
                .crosswalk
                .get(&folder.name)
                .map(|rules| format!(" (mapped to {})", code_list(rules)))
                .unwrap_or_default();
            md.line(format_args!(
                "- `{}`{mapped}: {} success and {} failure cases",
                folder.name,
                folder.success.len(),
                folder.failure.len()
            ));
        }
    }
    md.line("");
    let absent: Vec<&String> = context
        .crosswalk
        .keys()
        .filter(|k| !context.folders.iter().any(|f| &f.name == *k))
        .collect();
    if !absent.is_empty() {
        md.lines(&["## Crosswalk entries with no cases in this corpus", ""]);
        for check in absent {
            md.line(format_args!("- `{check}`"));
        }
        md.line("");
    }
    let ignored: Vec<String> = context
        .folders
        .iter()
        .flat_map(|f| f.other.iter().map(move |o| format!("`{}/{}`", f.name, o)))
        .collect();
    if !ignored.is_empty() {
        md.lines(&["## Files ignored", ""]);
        md.line(format_args!(
            "Neither a case nor a custom check: {}.",
            ignored.join(", ")
        ));
        md.line("");
    }
}

/// Compares redress's fixed objects with Polaris's fixer output: the JSON Patch that turns
/// ours into theirs, in short.
fn compare_fixed(ours: &[Value], theirs: &[Value], file: &str) -> String {
    if ours.len() != theirs.len() {
        return format!(
            "`{file}` holds {} object(s), ours {}",
            theirs.len(),
            ours.len()
        );
    }
    let mut differences = Vec::new();
    for (index, (a, b)) in ours.iter().zip(theirs).enumerate() {
        let ops: Vec<(String, String)> = json_patch::diff(a, b)
            .0
            .iter()
            .map(|op| {
                let op = serde_json::to_value(op).unwrap_or(Value::Null);
                let text = |key: &str| {
                    op.get(key)
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned()
                };
                (text("op"), text("path"))
            })
            .collect();
        if ops.is_empty() {
            continue;
        }
        let prefix = if ours.len() > 1 {
            format!("object {}: ", index + 1)
        } else {
            String::new()
        };
        if ops.len() <= 3 {
            differences.extend(
                ops.iter()
                    .map(|(kind, path)| format!("{prefix}{kind} `{path}`")),
            );
        } else {
            let paths: Vec<&str> = ops.iter().map(|(_, path)| path.as_str()).collect();
            differences.push(format!(
                "{prefix}{} changes under `{}`",
                ops.len(),
                common_parent(&paths)
            ));
        }
    }
    if differences.is_empty() {
        format!("same as `{file}`")
    } else {
        cell(&format!(
            "differs from `{file}` (ours → Polaris's: {})",
            differences.join(", ")
        ))
    }
}

/// The longest pointer that is a parent of (or equal to) every pointer given.
fn common_parent(paths: &[&str]) -> String {
    let split: Vec<Vec<&str>> = paths.iter().map(|p| p.split('/').collect()).collect();
    let Some(first) = split.first() else {
        return String::new();
    };
    let shared = (0..first.len())
        .take_while(|&i| split.iter().all(|p| p.get(i) == first.get(i)))
        .count();
    first[..shared].join("/")
}
