//! The scan pipeline: objects -> evaluation -> lines -> exceptions -> score. Takes an inventory
//! already read and a loaded rule set; gives a `ScanReport` that every output format renders.

use crate::engine::RuleSet;
use crate::engine::eval::EvalError;
use crate::engine::exceptions::{ExceptionEntry, Exceptions, IGNORE_ANNOTATION, REASON_ANNOTATION};
use crate::engine::score::{self, FrameworkScore, RuleCount};
use crate::inventory::{InputError, Inventory, Note};
use crate::model::{Finding, Severity};
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Everything a scan found, ready to render.
#[derive(Debug)]
pub struct ScanReport {
    /// Findings, most severe first, then by object and path.
    pub findings: Vec<Finding>,
    /// Inputs that could not be read.
    pub input_errors: Vec<InputError>,
    /// Documents skipped on purpose.
    pub notes: Vec<Note>,
    /// Checks that failed to evaluate.
    pub eval_errors: Vec<EvalError>,
    /// Checks and failures per rule.
    pub counts: BTreeMap<String, RuleCount>,
    /// The overall (or the selected framework's) score.
    pub score: f64,
    /// Per-framework scores (only the selected one with `--framework`).
    pub frameworks: Vec<FrameworkScore>,
    /// Objects evaluated.
    pub objects: usize,
    /// Files read.
    pub files: usize,
    /// Exceptions that have expired and no longer apply.
    pub expired: Vec<ExceptionEntry>,
}

impl ScanReport {
    /// Non-excepted findings of each severity, most severe first.
    pub fn open_by_severity(&self) -> Vec<(Severity, usize)> {
        Severity::ALL_DESC
            .iter()
            .map(|s| {
                let n = self
                    .findings
                    .iter()
                    .filter(|f| f.severity == *s && f.excepted.is_none())
                    .count();
                (*s, n)
            })
            .collect()
    }

    /// Non-excepted findings at or above `severity`.
    pub fn failing(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.excepted.is_none() && f.severity >= severity)
            .count()
    }
}

/// Options that shape a scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Only rules mapped to this framework count.
    pub framework: Option<String>,
    /// The date exceptions are judged against.
    pub today: Option<NaiveDate>,
}

/// Runs the rules over the inventory.
pub fn scan(
    rules: &RuleSet,
    inventory: Inventory,
    exceptions: &Exceptions,
    options: &ScanOptions,
) -> ScanReport {
    let started = std::time::Instant::now();
    let evaluation = rules.evaluator().evaluate(&inventory.objects);
    let evaluated = started.elapsed();
    let mut findings = evaluation.findings;
    let mut checks = evaluation.checks;
    let selected: Option<BTreeSet<String>> = options.framework.as_deref().and_then(|id| {
        rules.mappings.framework(id).map(|f| {
            f.controls
                .iter()
                .flat_map(|c| c.rules.iter().cloned())
                .collect()
        })
    });
    if let Some(selected) = &selected {
        findings.retain(|f| selected.contains(&*f.rule));
        checks.retain(|rule, _| selected.contains(rule));
    }
    let located = std::time::Instant::now();
    crate::inventory::lines::attach_lines(&mut findings);
    tracing::info!(
        objects = evaluation.objects,
        rules = rules.rules.len(),
        findings = findings.len(),
        evaluate_ms = evaluated.as_millis(),
        lines_ms = located.elapsed().as_millis(),
        "evaluated"
    );
    // Annotations of the objects, looked up by identity.
    let annotated: HashMap<_, _> = inventory
        .objects
        .iter()
        .filter_map(|o| {
            let rules = o.annotation(IGNORE_ANNOTATION)?;
            Some((
                (o.id.clone(), o.origin.clone()),
                (
                    rules.to_owned(),
                    o.annotation(REASON_ANNOTATION).map(str::to_owned),
                ),
            ))
        })
        .collect();
    let today = options
        .today
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let expired = exceptions
        .apply(
            &mut findings,
            |f| {
                annotated
                    .get(&(f.object.clone(), f.origin.clone()))
                    .cloned()
            },
            today,
        )
        .into_iter()
        .cloned()
        .collect();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.path.cmp(&b.path))
    });
    let counts = score::count(&checks, &findings);
    let severity = |id: &str| rules.rule(id).map(|r| r.severity);
    let frameworks: Vec<FrameworkScore> = rules
        .mappings
        .frameworks
        .iter()
        .filter(|f| options.framework.as_deref().is_none_or(|id| id == f.id))
        .map(|f| score::framework_score(f, &counts, severity))
        .collect();
    let score = score::score(&counts, severity, None);
    ScanReport {
        findings,
        input_errors: inventory.errors,
        notes: inventory.notes,
        eval_errors: evaluation.errors,
        counts,
        score,
        frameworks,
        objects: evaluation.objects,
        files: inventory.files,
        expired,
    }
}
