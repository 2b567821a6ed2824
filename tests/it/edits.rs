//! Integration tests of format-preserving edits: one fixture folder per case.
//!
//! Each folder under `tests/fixtures/edits/` holds `input.yaml`, `edits.json` (a JSON list of
//! edits: `{"document": 0, "op": {"op": "set", "path": ["spec", 0, "x"], "value": 1}}`) and
//! either `expected.yaml` (the edited file, compared byte for byte, then edited again to show
//! that re-running changes nothing, unless a sequence item is removed by index) or `error.txt` (text the error message must contain).

use redress::patch::yaml::apply;
use redress::patch::{DocEdit, EditOp, Seg};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/edits")
}

fn path_of(value: Option<&Value>) -> Result<Vec<Seg>, String> {
    let Some(Value::Array(segs)) = value else {
        return Err("path must be a list".to_owned());
    };
    segs.iter()
        .map(|seg| match seg {
            Value::String(k) => Ok(Seg::Key(k.clone())),
            Value::Number(n) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .map(Seg::Index)
                .ok_or_else(|| format!("bad index {n}")),
            other => Err(format!("bad path step {other}")),
        })
        .collect()
}

/// Reads `edits.json` (the test side of `DocEdit`, which only serializes).
fn read_edits(text: &str) -> Result<Vec<DocEdit>, String> {
    let list: Vec<Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    list.iter()
        .map(|item| {
            let document = item
                .get("document")
                .and_then(Value::as_u64)
                .and_then(|d| usize::try_from(d).ok())
                .ok_or("document must be a number")?;
            let op = item.get("op").ok_or("missing op")?;
            let path = path_of(op.get("path"))?;
            let value = || op.get("value").cloned().ok_or("missing value");
            let op = match op.get("op").and_then(Value::as_str) {
                Some("set") => EditOp::Set {
                    path,
                    value: value()?,
                },
                Some("append") => EditOp::Append {
                    path,
                    value: value()?,
                },
                Some("remove") => EditOp::Remove { path },
                other => return Err(format!("unknown op {other:?}")),
            };
            Ok(DocEdit { document, op })
        })
        .collect()
}

fn diff(expected: &str, got: &str) -> String {
    similar::TextDiff::from_lines(expected, got)
        .unified_diff()
        .header("expected.yaml", "got")
        .to_string()
}

/// Runs one case; `Err` describes how it failed.
fn run(case: &Path) -> Result<(), String> {
    let read = |name: &str| fs_err::read_to_string(case.join(name)).map_err(|e| e.to_string());
    let input = read("input.yaml")?;
    let edits = read_edits(&read("edits.json")?)?;
    if case.join("error.txt").exists() {
        let wanted = read("error.txt")?;
        return match apply(&input, &edits) {
            Ok(applied) => Err(format!("expected an error, got:\n{}", applied.text)),
            Err(error) if error.to_string().contains(wanted.trim()) => Ok(()),
            Err(error) => Err(format!("error {error:#} does not contain {wanted:?}")),
        };
    }
    let expected = read("expected.yaml")?;
    let once = apply(&input, &edits).map_err(|e| format!("error: {e}"))?;
    if once.text != expected {
        return Err(diff(&expected, &once.text));
    }
    if once.changed != (expected != input) {
        return Err(format!("changed is {}", once.changed));
    }
    // Removing by index is not repeatable by nature (the next item takes the index).
    let by_index = edits.iter().any(
        |e| matches!(&e.op, EditOp::Remove { path } if matches!(path.last(), Some(Seg::Index(_)))),
    );
    if by_index {
        return Ok(());
    }
    let twice = apply(&once.text, &edits).map_err(|e| format!("second run: {e}"))?;
    if twice.changed || twice.text != once.text {
        return Err(format!(
            "re-running changed the file:\n{}",
            diff(&once.text, &twice.text)
        ));
    }
    Ok(())
}

#[test]
fn every_fixture_case_edits_exactly_and_reruns_as_a_no_op() {
    let mut cases: Vec<PathBuf> = fs_err::read_dir(fixtures())
        .expect("fixture folder")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            run(case).err().map(|why| {
                let name = case.file_name().unwrap_or_default().to_string_lossy();
                format!("--- case {name}:\n{why}")
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
