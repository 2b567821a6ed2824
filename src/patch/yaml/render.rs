//! patch, writing side: JSON values as YAML text in the layout of the file being edited
//! (indentation width, flush or indented sequences, line ending). Gives strings and lines; it
//! never looks at the file itself (the caller detects the layout).

use serde_json::Value;
use serde_saphyr::granit_parser::ScalarStyle;

/// How block sequences sit under their key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqStyle {
    /// `key:` then `- item` at the key's column.
    Flush,
    /// `key:` then `- item` indented by this many columns.
    Indented(usize),
}

/// The layout of one document: how a person wrote it, so new text looks the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Columns a nested mapping is indented by.
    pub width: usize,
    /// Where a block sequence's dashes sit relative to its key.
    pub seq: SeqStyle,
    /// The line ending written: `"\n"` or `"\r\n"`.
    pub eol: &'static str,
}

impl Layout {
    /// Extra columns of a sequence's dashes relative to its key.
    fn seq_offset(&self) -> usize {
        match self.seq {
            SeqStyle::Flush => 0,
            SeqStyle::Indented(n) => n,
        }
    }
}

/// Words that YAML 1.1 or 1.2 read as null, booleans or special numbers when plain.
const SPECIAL: &[&str] = &[
    "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", "-.inf", "+.inf",
    ".nan", "<<", "=",
];

/// Whether `s` can be written as a plain scalar and still read back as this same string, in
/// block and flow context, under YAML 1.1 and 1.2 (Kubernetes tools use both).
pub(crate) fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s
        || s.chars()
            .any(|c| c.is_control() || matches!(c, ',' | '[' | ']' | '{' | '}'))
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.starts_with("---")
        || s.starts_with("...")
        || SPECIAL.iter().any(|w| s.eq_ignore_ascii_case(w))
    {
        return false;
    }
    if "?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    // What starts like a number and holds only characters of numbers, dates and times (YAML
    // 1.1 reads `1:30` and `2024-01-02 10:00` as values too) stays a string only when quoted.
    let mut chars = s.chars();
    let lead = chars.next();
    let second = chars.next();
    let numeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '.');
    let starts_numeric = numeric(lead) || (matches!(lead, Some('-' | '+')) && numeric(second));
    if starts_numeric
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || "xXoO+-._: tTzZ".contains(c))
    {
        return false;
    }
    if first == '-' && second.is_none_or(char::is_whitespace) {
        return false;
    }
    // Last guard: the parser this crate reads with must agree.
    let probe = format!("k: {s}\n");
    serde_saphyr::from_str::<Value>(&probe)
        .ok()
        .and_then(|v| v.get("k").cloned())
        == Some(Value::String(s.to_owned()))
}

/// `s` in double quotes; JSON string escapes are valid YAML double-quoted escapes.
pub(crate) fn double_quoted(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// `s` in single quotes, or `None` when it holds a character single quotes cannot carry on one
/// line.
fn single_quoted(s: &str) -> Option<String> {
    if s.chars().any(char::is_control) {
        return None;
    }
    Some(format!("'{}'", s.replace('\'', "''")))
}

/// A scalar (not a mapping or sequence) as YAML text. A string keeps `prefer`red quoting when it
/// was quoted before; a plain string stays plain when that is safe, otherwise it is quoted.
pub(crate) fn scalar(value: &Value, prefer: Option<ScalarStyle>) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, prefer),
        Value::Array(_) | Value::Object(_) => flow(value, false),
    }
}

fn string(s: &str, prefer: Option<ScalarStyle>) -> String {
    match prefer {
        Some(ScalarStyle::SingleQuoted) => single_quoted(s).unwrap_or_else(|| double_quoted(s)),
        Some(ScalarStyle::DoubleQuoted) => double_quoted(s),
        _ if is_plain_safe(s) => s.to_owned(),
        _ => double_quoted(s),
    }
}

/// A mapping key as YAML text.
pub(crate) fn key(k: &str, json: bool) -> String {
    if json {
        double_quoted(k)
    } else {
        string(k, None)
    }
}

/// A value in flow style (`{a: 1, b: [x, y]}`); with `json`, keys and strings in double
/// quotes, as in a JSON file.
pub(crate) fn flow(value: &Value, json: bool) -> String {
    match value {
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", key(k, json), flow(v, json)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|v| flow(v, json)).collect();
            format!("[{}]", items.join(", "))
        }
        Value::String(s) if json => double_quoted(s),
        other => scalar(other, None),
    }
}

/// Whether `value` is written on the key's own line (a scalar or an empty collection).
pub(crate) fn is_inline(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => true,
    }
}

/// The lines (without line endings) of `key: value` as a block mapping entry whose key
/// sits at column `indent`.
pub(crate) fn entry_lines(k: &str, value: &Value, indent: usize, layout: &Layout) -> Vec<String> {
    let pad = " ".repeat(indent);
    let k = key(k, false);
    if is_inline(value) {
        return vec![format!("{pad}{k}: {}", scalar(value, None))];
    }
    let mut lines = vec![format!("{pad}{k}:")];
    lines.extend(value_lines(value, indent, layout));
    lines
}

/// The lines of a non-empty collection written as the block value of a key at column
/// `key_col`.
pub(crate) fn value_lines(value: &Value, key_col: usize, layout: &Layout) -> Vec<String> {
    let mut lines = Vec::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                lines.extend(entry_lines(k, v, key_col + layout.width, layout));
            }
        }
        Value::Array(items) => {
            for item in items {
                lines.extend(item_lines(item, key_col + layout.seq_offset(), layout));
            }
        }
        _ => {}
    }
    lines
}

/// The lines of `- item` in a block sequence whose dashes sit at column `dash`.
pub(crate) fn item_lines(item: &Value, dash: usize, layout: &Layout) -> Vec<String> {
    let mut lines = content_lines(item, dash + 2, layout);
    if let Some(first) = lines.first_mut() {
        *first = format!("{}- {}", " ".repeat(dash), &first[dash + 2..]);
    }
    lines
}

/// The lines of a value written at column `col` where its first line is preceded by something
/// else (a dash): the first line's leading spaces are a placeholder for that prefix.
pub(crate) fn content_lines(value: &Value, col: usize, layout: &Layout) -> Vec<String> {
    let pad = " ".repeat(col);
    match value {
        Value::Object(map) if !map.is_empty() => map
            .iter()
            .flat_map(|(k, v)| entry_lines(k, v, col, layout))
            .collect(),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .flat_map(|v| item_lines(v, col, layout))
            .collect(),
        other => vec![format!("{pad}{}", scalar(other, None))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LAYOUT: Layout = Layout {
        width: 2,
        seq: SeqStyle::Flush,
        eol: "\n",
    };

    #[test]
    fn strings_that_read_as_other_types_are_quoted() {
        for s in [
            "true",
            "No",
            "1",
            "1.25",
            "-1",
            "0x1F",
            "null",
            "~",
            "",
            " x",
            "*x",
            "&x",
            ":x",
            "a: b",
            "a #b",
            "[x]",
            "x,y",
            "2001-12-14",
            "2001-12-14 21:59:43.10 -5",
            "1:30",
            "1e3",
            "1_000",
            ".5",
            "- x",
            "-",
            "---",
            "y",
            "ON",
            "!x",
            "%x",
            "@x",
            "line\nbreak",
            "x:",
        ] {
            assert!(!is_plain_safe(s), "{s:?} must be quoted");
            assert_ne!(scalar(&json!(s), None), s, "{s:?}");
        }
        for s in [
            "500m",
            "128Mi",
            "3rd",
            "nginx:1.25",
            "ALL",
            "NET_RAW",
            "--port=80",
            "a-b",
            "v1.2",
            "/path/x",
            "a#b",
        ] {
            assert!(is_plain_safe(s), "{s:?} can stay plain");
            assert_eq!(scalar(&json!(s), None), s);
        }
    }

    #[test]
    fn quoting_style_is_kept_for_strings() {
        let single = Some(ScalarStyle::SingleQuoted);
        let double = Some(ScalarStyle::DoubleQuoted);
        assert_eq!(scalar(&json!("it's"), single), "'it''s'");
        assert_eq!(scalar(&json!("x"), double), "\"x\"");
        assert_eq!(scalar(&json!("a\nb"), single), "\"a\\nb\"");
        assert_eq!(scalar(&json!("true"), Some(ScalarStyle::Plain)), "\"true\"");
        // A value that is not a string is written as itself, whatever the old quoting was.
        assert_eq!(scalar(&json!(false), double), "false");
        assert_eq!(scalar(&json!(1000), single), "1000");
        assert_eq!(scalar(&Value::Null, None), "null");
    }

    #[test]
    fn block_values_follow_the_layout() {
        let value = json!({"capabilities": {"drop": ["ALL"]}, "runAsUser": 1000});
        assert_eq!(
            entry_lines("securityContext", &value, 4, &LAYOUT),
            vec![
                "    securityContext:",
                "      capabilities:",
                "        drop:",
                "        - ALL",
                "      runAsUser: 1000",
            ]
        );
        let indented = Layout {
            width: 4,
            seq: SeqStyle::Indented(2),
            ..LAYOUT
        };
        assert_eq!(
            item_lines(&json!({"name": "a", "args": ["x"]}), 2, &indented),
            vec!["  - name: a", "    args:", "      - x"]
        );
        assert_eq!(
            flow(&json!({"a": [1, "x y"], "b": {}}), false),
            "{a: [1, x y], b: {}}"
        );
        assert_eq!(flow(&json!({"a": "x"}), true), "{\"a\": \"x\"}");
    }
}
