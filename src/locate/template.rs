//! locate (template): an edit of a Helm chart's template file, for a field the template writes
//! literally (no values key reaches it, so a person would edit the template).
//!
//! Takes the template's text, the rendered object the finding is about and the intended
//! [`EditOp`]s with paths relative to that rendered object; gives the new template text
//! ([`TemplateEdit`]) or the reason a person reads why the template cannot be edited this way
//! ([`TemplateError`]). Pure: no I/O, no rendering. The caller proves the edit by rendering the
//! chart again; this module only promises that the literal YAML changed as intended.
//!
//! How:
//! - Masking. Every template action `{{ ... }}` (comments and multi-line actions too) is
//!   replaced byte for byte, so offsets and lines stay: on a line that holds nothing but
//!   actions, the first byte becomes `#` and the rest spaces (a YAML comment); inside a line
//!   (a scalar or key position) the action becomes a run of `x`, quotes around it stay. The
//!   text is masked a second time with `y`: a node that reads the same both ways is literal.
//! - The document is the one whose literal `kind` is the rendered kind (several: the literal
//!   name, else the most literal scalars equal to the render). List indices of the render are
//!   mapped to the template by the item's literal `name`, else by position when both lists
//!   have the same length; a list written by a `range` loop is refused.
//! - Each path step is compared with the render: what the render has but the template does not
//!   write literally (an `include`, `toYaml ... | nindent` or a scalar action that renders a
//!   mapping) is refused as injected; what the template writes but the render lacks sits in a
//!   condition that is false and is refused too.
//! - The masked text is edited with the patch stage's format-preserving editor, one operation
//!   at a time. The changed byte range (common line prefix and suffix, then common bytes) must
//!   not touch an action and must sit in the same branch of every `if`/`with` as the node it
//!   is added to; new lines that the editor put just before a closing `{{- end }}` line are
//!   moved past it. A `range` around the edit is refused (every item of the loop would
//!   change), as is an insertion right after a right-trimming action (`-}}` would eat its
//!   indentation). The same splice is applied to the template text; masking the result again
//!   must give exactly the edited masked text, which the editor's own check then verifies.
//!
//! Caveat: text emitted by an action (`include`, `toYaml | nindent N`) cannot be seen. A key
//! added next to such an injection is safe only because the render lacks that key; the
//! caller's re-render is the proof.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::Value;

use crate::inventory::files::{Limits, parse_yaml_document, split_documents};
use crate::inventory::lines::{line_in, line_map};
use crate::model::escape_segment;
use crate::patch::yaml::{self, EditError};
use crate::patch::{DocEdit, EditOp, Seg, dotted};

/// A template edited as intended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateEdit {
    /// The new template text.
    pub text: String,
    /// 1-based line of the first change (of the first edited node when nothing changed).
    pub line: usize,
    /// Whether `text` differs from the template (false when every edit was already in place).
    pub changed: bool,
    /// 0-based index of the edited document in the template file.
    pub document: usize,
}

/// Why a template cannot be edited for a field. Lines are 1-based lines of the template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` without its `}}`.
    #[error("the template action opened at line {line} is not closed")]
    Unclosed {
        /// Line of the `{{`.
        line: usize,
    },
    /// A document does not parse as YAML once its actions are masked.
    #[error(
        "document {document} is not YAML once its template actions are masked (line {line}): {message}"
    )]
    NotYaml {
        /// 1-based document index.
        document: usize,
        /// Line of the parse error.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// No document of the template writes the rendered kind literally.
    #[error("the template has no document of kind {kind}")]
    NoDocument {
        /// The rendered object's kind.
        kind: String,
    },
    /// The render has the path, the template does not write it literally.
    #[error(
        "'{path}' is written by a template action (include, toYaml or a value) near line {line}, not literally"
    )]
    Injected {
        /// The rendered path.
        path: String,
        /// Line of the nearest literal ancestor.
        line: usize,
    },
    /// The template writes the path, the render lacks it.
    #[error(
        "'{path}' is in the template (line {line}) but not in the render: a condition leaves it out"
    )]
    Conditional {
        /// The rendered path.
        path: String,
        /// Line of the node in the template.
        line: usize,
    },
    /// The edit would land inside a `range` loop.
    #[error(
        "'{path}' is written inside a range loop (line {line}): the edit would change every item the loop writes"
    )]
    RangeLoop {
        /// The rendered path.
        path: String,
        /// Line of the `range`.
        line: usize,
    },
    /// A list has items that the template does not write literally and none can be matched.
    #[error(
        "the list '{path}' has {template} items in the template and {rendered} in the render (items written by conditions or actions)"
    )]
    ListLengths {
        /// The rendered path of the list.
        path: String,
        /// Items the masked template has.
        template: usize,
        /// Items the render has.
        rendered: usize,
    },
    /// A rendered list item does not match the template's item at its position.
    #[error("the list item '{name}' at '{path}' is not written literally in the template")]
    NoItem {
        /// The rendered path of the item.
        path: String,
        /// The rendered item's name.
        name: String,
    },
    /// The changed bytes would overlap a template action.
    #[error("the edit of '{path}' touches the template action at line {line}")]
    TouchesAction {
        /// The rendered path.
        path: String,
        /// Line of the action.
        line: usize,
    },
    /// The new text would sit in another branch of a condition than the node it belongs to.
    #[error(
        "the edit of '{path}' would land at line {line}, inside another template condition than its parent"
    )]
    Placement {
        /// The rendered path.
        path: String,
        /// Line of the insertion.
        line: usize,
    },
    /// The new text follows a right-trimming action, which would remove its indentation.
    #[error(
        "the edit of '{path}' would follow the right-trimming action at line {line}, which removes its indentation"
    )]
    Trimmed {
        /// The rendered path.
        path: String,
        /// Line of the action.
        line: usize,
    },
    /// The YAML editor refused the edit of the masked text.
    #[error("cannot edit '{path}' in the masked template: {source}")]
    Editor {
        /// The rendered path.
        path: String,
        /// The editor's error.
        #[source]
        source: EditError,
    },
    /// The edited masked template does not say what the edits intended (a bug caught).
    #[error("the edited template does not verify: {source}")]
    Verify {
        /// The editor's check.
        #[source]
        source: EditError,
    },
    /// Carrying the edit back onto the template gave different YAML (a bug caught).
    #[error("the edited template does not mask back to the edited YAML (line {line})")]
    Splice {
        /// First line that differs.
        line: usize,
    },
}

/// Edits `template` so that, where it writes the rendered object literally, the operations
/// `ops` (paths relative to `rendered`, the rendered object) hold.
pub fn edit_template(
    template: &str,
    rendered: &Value,
    ops: &[EditOp],
) -> Result<TemplateEdit, TemplateError> {
    let scan = Scan::new(template)?;
    let masked_x = scan.mask(template, b'x');
    let masked_y = scan.mask(template, b'y');
    let doc = pick_document(&scan, &masked_x, &masked_y, rendered)?;
    let mut text = template.to_owned();
    let mut masked = masked_x.clone();
    let mut done = Vec::new();
    let mut first_anchor = None;
    for op in ops {
        let shown = dotted(op.path());
        let path = doc.translate(op.path(), rendered)?;
        doc.check_path(op.path(), &path, rendered)?;
        let scan = Scan::new(&text)?;
        let (anchor_offset, anchor_line) = anchor(&masked, doc.index, &path);
        first_anchor.get_or_insert(anchor_line);
        let context = scan.context_at(anchor_offset);
        if let Some(range) = context.iter().find(|f| f.block == Block::Range) {
            return Err(TemplateError::RangeLoop {
                path: shown,
                line: scan.actions[range.opener].line,
            });
        }
        if let (Some(Value::String(x)), Some(Value::String(y))) =
            (at(&doc.json_x, &path), at(&doc.json_y, &path))
            && x != y
            && !matches!(op, EditOp::Remove { .. })
        {
            return Err(TemplateError::TouchesAction {
                path: shown,
                line: anchor_line,
            });
        }
        let edit = DocEdit {
            document: doc.index,
            op: with_path(op, path),
        };
        let applied = yaml::apply(&masked, std::slice::from_ref(&edit)).map_err(|source| {
            TemplateError::Editor {
                path: shown.clone(),
                source,
            }
        })?;
        done.push(edit);
        if !applied.changed {
            continue;
        }
        let (old, new) = changed_region(&masked, &applied.text);
        let insert = applied.text[new].to_owned();
        let old = scan.place(&text, old, &insert, &context, &shown)?;
        text.replace_range(old.clone(), &insert);
        masked.replace_range(old, &insert);
    }
    let remasked = Scan::new(&text)?.mask(&text, b'x');
    if remasked != masked {
        let at = first_difference(&remasked, &masked);
        return Err(TemplateError::Splice {
            line: line_of(&text, at),
        });
    }
    yaml::verify(&masked_x, &masked, &done).map_err(|source| TemplateError::Verify { source })?;
    let changed = text != template;
    let line = if changed {
        line_of(&text, first_difference(template, &text))
    } else {
        first_anchor.unwrap_or(1)
    };
    Ok(TemplateEdit {
        text,
        line,
        changed,
        document: doc.index,
    })
}

/// Kinds of template blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    If,
    With,
    Range,
    Define,
    Other,
}

/// What an action does to the block structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Word {
    Open(Block),
    Else,
    End,
    Plain,
}

/// One `{{ ... }}` of the template.
#[derive(Clone, Debug)]
struct Action {
    span: Range<usize>,
    line: usize,
    trim_right: bool,
    word: Word,
}

/// One open block around a position: the action that opened it and which branch (`else`) of
/// it the position is in.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Frame {
    opener: usize,
    block: Block,
    branch: u32,
}

/// The actions of a template and the open blocks after each.
struct Scan {
    actions: Vec<Action>,
    after: Vec<Vec<Frame>>,
}

impl Scan {
    fn new(text: &str) -> Result<Scan, TemplateError> {
        let actions = lex(text)?;
        let mut stack: Vec<Frame> = Vec::new();
        let mut after = Vec::with_capacity(actions.len());
        for (i, action) in actions.iter().enumerate() {
            match action.word {
                Word::Open(block) => stack.push(Frame {
                    opener: i,
                    block,
                    branch: 0,
                }),
                Word::Else => {
                    if let Some(top) = stack.last_mut() {
                        top.branch += 1;
                    }
                }
                Word::End => {
                    stack.pop();
                }
                Word::Plain => {}
            }
            after.push(stack.clone());
        }
        Ok(Scan { actions, after })
    }

    /// The blocks open at byte `offset` (actions ending at or before it are counted).
    fn context_at(&self, offset: usize) -> Vec<Frame> {
        let n = self.actions.partition_point(|a| a.span.end <= offset);
        n.checked_sub(1)
            .map(|i| self.after[i].clone())
            .unwrap_or_default()
    }

    /// Which bytes are action bytes.
    fn marks(&self, len: usize) -> Vec<bool> {
        let mut marks = vec![false; len];
        for action in &self.actions {
            marks[action.span.clone()].fill(true);
        }
        marks
    }

    /// The template with every action masked by `fill` (in a line) or as a comment (a line of
    /// nothing but actions). Same length and line breaks as `text`.
    fn mask(&self, text: &str, fill: u8) -> String {
        let marks = self.marks(text.len());
        let mut bytes = text.as_bytes().to_vec();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let range = start..start + line.len();
            start = range.end;
            if !marks[range.clone()].contains(&true) {
                continue;
            }
            let only = range
                .clone()
                .all(|k| marks[k] || bytes[k].is_ascii_whitespace());
            let mut first = true;
            for k in range {
                if !marks[k] || matches!(bytes[k], b'\n' | b'\r') {
                    continue;
                }
                bytes[k] = if !only {
                    fill
                } else if first {
                    b'#'
                } else {
                    b' '
                };
                first = false;
            }
        }
        // Only whole characters inside actions were replaced, so this cannot fail; a lossy
        // result would be caught by the re-masking check.
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Whether the line starting at `start` holds only actions and whitespace (or nothing).
    fn action_only_line(&self, text: &str, start: usize) -> bool {
        let end = next_line_start(text, start);
        let marks = self.marks(text.len());
        (start..end).all(|k| marks[k] || text.as_bytes()[k].is_ascii_whitespace())
    }

    /// Checks that replacing `old` (bytes of `text`) by `insert` stays clear of actions and in
    /// the blocks of `context` (the parent's), and gives the range to replace (an insertion
    /// may be moved past action-only lines to reach the parent's blocks).
    fn place(
        &self,
        text: &str,
        old: Range<usize>,
        insert: &str,
        context: &[Frame],
        path: &str,
    ) -> Result<Range<usize>, TemplateError> {
        for action in &self.actions {
            let overlaps = action.span.start < old.end && old.start < action.span.end;
            let inside = action.span.start < old.start && old.start < action.span.end;
            if overlaps || inside {
                return Err(TemplateError::TouchesAction {
                    path: path.to_owned(),
                    line: action.line,
                });
            }
        }
        let mut old = old;
        let whole_lines = old.is_empty()
            && insert.ends_with('\n')
            && (old.start == 0 || text.as_bytes()[old.start - 1] == b'\n');
        if whole_lines && self.context_at(old.start) != context {
            let mut at = old.start;
            while self.context_at(at) != context
                && at < text.len()
                && self.action_only_line(text, at)
            {
                at = next_line_start(text, at);
            }
            while self.context_at(at) != context && at > 0 {
                let previous = line_start(text, at - 1);
                if !self.action_only_line(text, previous) {
                    break;
                }
                at = previous;
            }
            old = at..at;
        }
        if self.context_at(old.start) != context || self.context_at(old.end) != context {
            return Err(TemplateError::Placement {
                path: path.to_owned(),
                line: line_of(text, old.start),
            });
        }
        let before = text[..old.start]
            .trim_end_matches([' ', '\t', '\r', '\n'])
            .len();
        let leading_space = before < old.start || insert.starts_with(char::is_whitespace);
        if let Some(action) = self.actions.iter().find(|a| a.span.end == before)
            && action.trim_right
            && leading_space
        {
            return Err(TemplateError::Trimmed {
                path: path.to_owned(),
                line: action.line,
            });
        }
        Ok(old)
    }
}

/// Finds the template actions of `text`: `{{` up to the `}}` that is not inside a string, a
/// raw string, a character constant or a comment.
fn lex(text: &str) -> Result<Vec<Action>, TemplateError> {
    let b = text.as_bytes();
    let mut actions = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("{{") {
        let start = from + found;
        let unclosed = || TemplateError::Unclosed {
            line: line_of(text, start),
        };
        let mut j = start + 2;
        if b.get(j) == Some(&b'-') && b.get(j + 1).is_some_and(u8::is_ascii_whitespace) {
            j += 1;
        }
        let body_start = j;
        let end = loop {
            match b.get(j) {
                None => return Err(unclosed()),
                Some(b'}') if b.get(j + 1) == Some(&b'}') => break j + 2,
                Some(&quote @ (b'"' | b'\'')) => {
                    j += 1;
                    loop {
                        match b.get(j) {
                            None => return Err(unclosed()),
                            Some(b'\\') => j += 2,
                            Some(&c) if c == quote => {
                                j += 1;
                                break;
                            }
                            Some(_) => j += 1,
                        }
                    }
                }
                Some(b'`') => {
                    let close = text[j + 1..].find('`').ok_or_else(unclosed)?;
                    j += close + 2;
                }
                Some(b'/') if b.get(j + 1) == Some(&b'*') => {
                    let close = text[j + 2..].find("*/").ok_or_else(unclosed)?;
                    j += close + 4;
                }
                Some(_) => j += 1,
            }
        };
        let trim_right =
            end >= body_start + 4 && b[end - 3] == b'-' && b[end - 4].is_ascii_whitespace();
        let body = &text[body_start..end - 2];
        let word: String = body
            .trim_start()
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let word = match word.as_str() {
            "if" => Word::Open(Block::If),
            "with" => Word::Open(Block::With),
            "range" => Word::Open(Block::Range),
            "define" => Word::Open(Block::Define),
            "block" => Word::Open(Block::Other),
            "else" => Word::Else,
            "end" => Word::End,
            _ => Word::Plain,
        };
        actions.push(Action {
            span: start..end,
            line: line_of(text, start),
            trim_right,
            word,
        });
        from = end;
    }
    Ok(actions)
}

/// The template's document that the rendered object comes from, read both ways.
struct MaskedDoc {
    /// 0-based document index.
    index: usize,
    /// 1-based line where the document starts.
    line: usize,
    json_x: Value,
    json_y: Value,
    /// Line of every node (1-based within the document), by JSON pointer.
    lines: HashMap<String, usize>,
    /// Lines of the template's `range` actions.
    ranges: Vec<usize>,
}

fn pick_document(
    scan: &Scan,
    masked_x: &str,
    masked_y: &str,
    rendered: &Value,
) -> Result<MaskedDoc, TemplateError> {
    let ranges: Vec<usize> = scan
        .actions
        .iter()
        .filter(|a| a.word == Word::Open(Block::Range))
        .map(|a| a.line)
        .collect();
    let kind = rendered.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = rendered
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let docs_y = split_documents(masked_y);
    let mut candidates = Vec::new();
    for (doc, doc_y) in split_documents(masked_x).iter().zip(&docs_y) {
        if doc.is_empty {
            continue;
        }
        let parse = |text| {
            parse_yaml_document(text, Limits::default()).map_err(|(message, line)| {
                TemplateError::NotYaml {
                    document: doc.index,
                    line: doc.line + line.unwrap_or(1) - 1,
                    message,
                }
            })
        };
        let json_x = parse(doc.text)?;
        let json_y = parse(doc_y.text)?;
        let literal = |p: &str| {
            json_x
                .pointer(p)
                .filter(|v| json_y.pointer(p) == Some(*v))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        if literal("/kind").as_deref() != Some(kind) {
            continue;
        }
        let score = if literal("/metadata/name").as_deref() == Some(name) {
            usize::MAX
        } else {
            similarity(&json_x, &json_y, rendered)
        };
        candidates.push((
            score,
            MaskedDoc {
                index: doc.index - 1,
                line: doc.line,
                lines: line_map(doc.text),
                ranges: ranges.clone(),
                json_x,
                json_y,
            },
        ));
    }
    let best = candidates.iter().map(|(s, _)| *s).max();
    candidates
        .into_iter()
        .find(|(s, _)| Some(*s) == best)
        .map(|(_, doc)| doc)
        .ok_or_else(|| TemplateError::NoDocument {
            kind: kind.to_owned(),
        })
}

/// How many literal scalars of the masked document equal the render at the same place.
fn similarity(x: &Value, y: &Value, rendered: &Value) -> usize {
    match (x, y, rendered) {
        (Value::Object(mx), Value::Object(my), Value::Object(r)) => mx
            .iter()
            .filter_map(|(k, v)| Some(similarity(v, my.get(k)?, r.get(k)?)))
            .sum(),
        (Value::Array(ax), Value::Array(ay), Value::Array(r)) => ax
            .iter()
            .zip(ay)
            .zip(r)
            .map(|((vx, vy), vr)| similarity(vx, vy, vr))
            .sum(),
        (Value::Array(_) | Value::Object(_), ..) => 0,
        _ => usize::from(x == y && x == rendered),
    }
}

impl MaskedDoc {
    /// The file line of the node at `path` (or its nearest ancestor).
    fn line(&self, path: &[Seg]) -> usize {
        self.line + line_in(&self.lines, &pointer(path)).unwrap_or(1) - 1
    }

    /// Maps the list indices of the rendered `path` to the template's items.
    fn translate(&self, path: &[Seg], rendered: &Value) -> Result<Vec<Seg>, TemplateError> {
        let mut out = Vec::with_capacity(path.len());
        for (k, seg) in path.iter().enumerate() {
            let Seg::Index(i) = seg else {
                out.push(seg.clone());
                continue;
            };
            let lists = (
                at(rendered, &path[..k]),
                at(&self.json_x, &out),
                at(&self.json_y, &out),
            );
            let (Some(Value::Array(r)), Some(Value::Array(x)), Some(Value::Array(y))) = lists
            else {
                // Not a list on both sides: `check_path` says why.
                out.push(seg.clone());
                continue;
            };
            let name_of = |v: Option<&Value>| {
                v.and_then(|v| v.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let name = name_of(r.get(*i));
            if let Some(name) = &name {
                let hits: Vec<usize> = (0..x.len())
                    .filter(|&j| {
                        name_of(x.get(j)).as_ref() == Some(name)
                            && name_of(y.get(j)).as_ref() == Some(name)
                    })
                    .collect();
                if let [one] = hits[..] {
                    out.push(Seg::Index(one));
                    continue;
                }
            }
            if x.len() != r.len() {
                if let Some(line) = self.range_in(&out) {
                    return Err(TemplateError::RangeLoop {
                        path: dotted(&path[..=k]),
                        line,
                    });
                }
                return Err(TemplateError::ListLengths {
                    path: dotted(&path[..k]),
                    template: x.len(),
                    rendered: r.len(),
                });
            }
            if let Some(name) = name {
                let literal = name_of(x.get(*i)).filter(|n| name_of(y.get(*i)).as_ref() == Some(n));
                if literal.is_some_and(|n| n != name) {
                    return Err(TemplateError::NoItem {
                        path: dotted(&path[..=k]),
                        name,
                    });
                }
            }
            out.push(seg.clone());
        }
        Ok(out)
    }

    /// The line of a `range` action written among the lines of the list at `list`.
    fn range_in(&self, list: &[Seg]) -> Option<usize> {
        let key = pointer(list);
        let first = *self.lines.get(&key)?;
        let inner = format!("{key}/");
        let last = self
            .lines
            .iter()
            .filter(|(p, _)| p.starts_with(&inner))
            .map(|(_, l)| *l)
            .max()
            .unwrap_or(first);
        let (first, last) = (self.line + first - 1, self.line + last - 1);
        self.ranges
            .iter()
            .copied()
            .find(|l| (first..=last).contains(l))
    }

    /// Compares every step of the path with the render: the template must write literally
    /// what the render has, and must not write what the render lacks.
    fn check_path(
        &self,
        rendered_path: &[Seg],
        path: &[Seg],
        rendered: &Value,
    ) -> Result<(), TemplateError> {
        for k in 1..=path.len() {
            let r = at(rendered, &rendered_path[..k]);
            let x = at(&self.json_x, &path[..k]);
            let shown = || dotted(&rendered_path[..k]);
            match (r, x) {
                (None, None) => break,
                (Some(_), None) => {
                    return Err(TemplateError::Injected {
                        path: shown(),
                        line: self.line(&path[..k]),
                    });
                }
                (None, Some(_)) => {
                    return Err(TemplateError::Conditional {
                        path: shown(),
                        line: self.line(&path[..k]),
                    });
                }
                (Some(r), Some(x)) => {
                    let collection = |v: &Value| match v {
                        Value::Object(_) => 1,
                        Value::Array(_) => 2,
                        _ => 0,
                    };
                    if collection(r) != 0 && collection(r) != collection(x) {
                        return Err(TemplateError::Injected {
                            path: shown(),
                            line: self.line(&path[..k]),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The file offset of the line of the node nearest to `path` in document `document` of the
/// masked text, and that line (1-based).
fn anchor(masked: &str, document: usize, path: &[Seg]) -> (usize, usize) {
    let docs = split_documents(masked);
    let Some(doc) = docs.iter().find(|d| d.index == document + 1) else {
        return (0, 1);
    };
    let offset = doc.text.as_ptr() as usize - masked.as_ptr() as usize;
    let line = line_in(&line_map(doc.text), &pointer(path)).unwrap_or(1);
    let within: usize = doc
        .text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    (offset + within, doc.line + line - 1)
}

/// The bytes that differ between `old` and `new`: the range in each. Whole lines first (so an
/// insertion of lines is at a line start), then the common bytes at both ends of those lines.
fn changed_region(old: &str, new: &str) -> (Range<usize>, Range<usize>) {
    let ol: Vec<&str> = old.split_inclusive('\n').collect();
    let nl: Vec<&str> = new.split_inclusive('\n').collect();
    let common = ol.len().min(nl.len());
    let prefix = (0..common).take_while(|&i| ol[i] == nl[i]).count();
    let suffix = (0..common - prefix)
        .take_while(|&i| ol[ol.len() - 1 - i] == nl[nl.len() - 1 - i])
        .count();
    let start: usize = ol[..prefix].iter().map(|l| l.len()).sum();
    let tail: usize = ol[ol.len() - suffix..].iter().map(|l| l.len()).sum();
    let (old_end, new_end) = (old.len() - tail, new.len() - tail);
    let (a, b) = (&old[start..old_end], &new[start..new_end]);
    let mut front = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(front) || !b.is_char_boundary(front) {
        front -= 1;
    }
    let mut back = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take(a.len().min(b.len()) - front)
        .take_while(|(x, y)| x == y)
        .count();
    while !a.is_char_boundary(a.len() - back) || !b.is_char_boundary(b.len() - back) {
        back -= 1;
    }
    (start + front..old_end - back, start + front..new_end - back)
}

fn with_path(op: &EditOp, path: Vec<Seg>) -> EditOp {
    match op {
        EditOp::Set { value, .. } => EditOp::Set {
            path,
            value: value.clone(),
        },
        EditOp::Append { value, .. } => EditOp::Append {
            path,
            value: value.clone(),
        },
        EditOp::Remove { .. } => EditOp::Remove { path },
    }
}

fn at<'v>(value: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    path.iter()
        .try_fold(value, |current, seg| match (seg, current) {
            (Seg::Key(k), Value::Object(map)) => map.get(k),
            (Seg::Index(i), Value::Array(items)) => items.get(*i),
            _ => None,
        })
}

fn pointer(path: &[Seg]) -> String {
    path.iter()
        .map(|seg| format!("/{}", escape_segment(&seg.to_string())))
        .collect()
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

fn next_line_start(text: &str, offset: usize) -> usize {
    text[offset..]
        .find('\n')
        .map_or(text.len(), |i| offset + i + 1)
}

fn first_difference(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::render::Tools;
    use serde_json::json;
    use std::path::{Path, PathBuf};

    fn key(k: &str) -> Seg {
        Seg::Key(k.to_owned())
    }

    /// A path from `a.b.0.c` (numbers are indices).
    fn path(dotted: &str) -> Vec<Seg> {
        dotted
            .split('.')
            .map(|s| s.parse().map_or_else(|_| key(s), Seg::Index))
            .collect()
    }

    fn set(p: &str, value: Value) -> EditOp {
        EditOp::Set {
            path: path(p),
            value,
        }
    }

    const HELPERS: &str =
        "{{- define \"t.labels\" -}}\napp: web\nteam: {{ .Values.team }}\n{{- end }}\n";

    const DEPLOYMENT: &str = r#"{{- if .Values.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels:
    {{- include "t.labels" . | nindent 4 }}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        note: "{{ .Values.note }}"
    spec:
      {{- if .Values.hostNetwork }}
      hostNetwork: true
      {{- end }}
      containers:
        {{- with .Values.extraContainers }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        - name: web
          image: "{{ .Values.image }}"
          imagePullPolicy: IfNotPresent
          {{- with .Values.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
        - name: sidecar
          image: busybox
          securityContext:
            capabilities:
              drop:
                - NET_RAW
{{- end }}
"#;

    const VALUES: &str = "enabled: true\nhostNetwork: false\nteam: blue\nnote: hello\nimage: nginx:1.27\nextraContainers:\n  - name: extra\n    image: alpine\nresources:\n  limits:\n    cpu: 100m\n";

    /// The deployment as `helm template` renders it with [`VALUES`].
    fn rendered() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "rel-web", "labels": {"app": "web", "team": "blue"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}, "annotations": {"note": "hello"}},
                    "spec": {"containers": [
                        {"name": "extra", "image": "alpine"},
                        {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                         "resources": {"limits": {"cpu": "100m"}}},
                        {"name": "sidecar", "image": "busybox",
                         "securityContext": {"capabilities": {"drop": ["NET_RAW"]}}}
                    ]}
                }
            }
        })
    }

    /// The helm the renderer uses; the test fails without it (`.ci/install-tools`).
    fn helm() -> PathBuf {
        let helm = Tools::find().helm;
        assert!(
            helm.is_file(),
            "no helm binary: set REDRESS_HELM or run .ci/install-tools"
        );
        helm
    }

    fn write_chart(dir: &Path, template: &str) {
        fs_err::create_dir_all(dir.join("templates")).unwrap();
        fs_err::write(
            dir.join("Chart.yaml"),
            "apiVersion: v2\nname: t\nversion: 0.1.0\n",
        )
        .unwrap();
        fs_err::write(dir.join("values.yaml"), VALUES).unwrap();
        fs_err::write(dir.join("templates/_helpers.tpl"), HELPERS).unwrap();
        fs_err::write(dir.join("templates/deployment.yaml"), template).unwrap();
    }

    /// Every object `helm template rel <dir>` renders.
    fn helm_template(helm: &Path, dir: &Path, extra: &[&str]) -> Vec<Value> {
        let out = std::process::Command::new(helm)
            .arg("template")
            .arg("rel")
            .arg(dir)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "helm failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        split_documents(&stdout)
            .iter()
            .filter(|d| !d.is_empty)
            .map(|d| parse_yaml_document(d.text, Limits::default()).unwrap())
            .collect()
    }

    fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
        objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap()
    }

    /// `value` with `op` applied the simple way (missing parents created), for expectations.
    fn applied(mut value: Value, op: &EditOp) -> Value {
        let (parent, last) = op.path().split_at(op.path().len() - 1);
        let mut current = &mut value;
        for seg in parent {
            current = match seg {
                Seg::Key(k) => current
                    .as_object_mut()
                    .unwrap()
                    .entry(k.clone())
                    .or_insert_with(|| json!({})),
                Seg::Index(i) => &mut current[*i],
            };
        }
        let Seg::Key(last) = &last[0] else {
            panic!("index at the end")
        };
        let map = current.as_object_mut().unwrap();
        match op {
            EditOp::Set { value, .. } => {
                map.insert(last.clone(), value.clone());
            }
            EditOp::Append { value, .. } => {
                let list = map.entry(last.clone()).or_insert_with(|| json!([]));
                list.as_array_mut().unwrap().push(value.clone());
            }
            EditOp::Remove { .. } => {
                map.remove(last);
            }
        }
        value
    }

    #[test]
    fn masking_keeps_the_layout() {
        let text = "a: \"{{ .Values.x }}\"\n  {{- if .y }}\nb: {{ .z -}}{{/* c */}}\n{{ include \"l\" (dict\n  \"k\" 1) }}\nc: 1\n";
        let scan = Scan::new(text).unwrap();
        let masked = scan.mask(text, b'x');
        assert_eq!(
            masked,
            "a: \"xxxxxxxxxxxxxxx\"\n  #           \nb: xxxxxxxxxxxxxxxxxxxx\n#                   \n#          \nc: 1\n"
        );
        assert_eq!(masked.len(), text.len());
        let actions: Vec<_> = scan.actions.iter().map(|a| a.word).collect();
        assert_eq!(
            actions,
            [
                Word::Plain,
                Word::Open(Block::If),
                Word::Plain,
                Word::Plain,
                Word::Plain
            ]
        );
        assert!(scan.actions[2].trim_right && !scan.actions[3].trim_right);
    }

    #[test]
    fn strings_and_comments_inside_actions_do_not_close_them() {
        let text = "a: {{ \"}}\" }}{{ `}}` }}{{/* }} */}}\n";
        let scan = Scan::new(text).unwrap();
        assert_eq!(scan.actions.len(), 3);
        assert_eq!(scan.actions[2].span.end, text.len() - 1);
        assert!(matches!(
            Scan::new("a: {{ .x\n"),
            Err(TemplateError::Unclosed { line: 1 })
        ));
    }

    #[test]
    fn literal_fields_are_edited_and_helm_renders_the_fix() {
        let helm = helm();
        let cases = [
            set(
                "spec.template.spec.containers.1.securityContext.allowPrivilegeEscalation",
                json!(false),
            ),
            EditOp::Append {
                path: path("spec.template.spec.containers.2.securityContext.capabilities.drop"),
                value: json!("ALL"),
            },
            set("spec.replicas", json!(3)),
            set(
                "spec.template.spec.containers.1.imagePullPolicy",
                json!("Always"),
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        write_chart(dir.path(), DEPLOYMENT);
        let before = helm_template(&helm, dir.path(), &[]);
        let deployment = find(&before, "Deployment", "rel-web");
        assert_eq!(deployment, &rendered(), "the test's own render is stale");
        for op in cases {
            let edit = edit_template(DEPLOYMENT, deployment, std::slice::from_ref(&op))
                .unwrap_or_else(|e| panic!("{op:?}: {e}"));
            assert!(edit.changed);
            write_chart(dir.path(), &edit.text);
            let after = helm_template(&helm, dir.path(), &[]);
            let expected: Vec<Value> = before
                .iter()
                .map(|o| {
                    if o == deployment {
                        applied(o.clone(), &op)
                    } else {
                        o.clone()
                    }
                })
                .collect();
            assert_eq!(after, expected, "{op:?}:\n{}", edit.text);
            // Running it again on the edited template changes nothing.
            let again = edit_template(&edit.text, &expected[0], &[op]).unwrap();
            assert!(!again.changed, "{}", again.text);
        }
    }

    #[test]
    fn a_new_key_goes_after_the_condition_that_ends_its_mapping() {
        let op = set(
            "spec.template.spec.containers.1.securityContext.allowPrivilegeEscalation",
            json!(false),
        );
        let edit = edit_template(DEPLOYMENT, &rendered(), &[op]).unwrap();
        let expected = DEPLOYMENT.replace(
            "          {{- end }}\n        - name: sidecar",
            "          {{- end }}\n          securityContext:\n            allowPrivilegeEscalation: false\n        - name: sidecar",
        );
        assert_eq!(edit.text, expected);
        assert_eq!(edit.line, 34);
        assert_eq!(edit.document, 0);
    }

    #[test]
    fn fields_written_by_actions_are_refused() {
        let cases = [
            (
                "spec.template.spec.containers.1.resources.limits.cpu",
                "resources",
            ),
            ("metadata.labels.owner", "metadata.labels"),
        ];
        for (p, injected) in cases {
            match edit_template(DEPLOYMENT, &rendered(), &[set(p, json!("x"))]) {
                Err(TemplateError::Injected { path, .. }) => {
                    assert!(path.ends_with(injected), "{p}: {path}")
                }
                other => panic!("{p}: {other:?}"),
            }
        }
        let image = set("spec.template.spec.containers.1.image", json!("nginx:2"));
        assert!(matches!(
            edit_template(DEPLOYMENT, &rendered(), &[image]),
            Err(TemplateError::TouchesAction { line: 28, .. })
        ));
        let extra = set(
            "spec.template.spec.containers.0.securityContext.runAsNonRoot",
            json!(true),
        );
        assert!(matches!(
            edit_template(DEPLOYMENT, &rendered(), &[extra]),
            Err(TemplateError::ListLengths {
                template: 2,
                rendered: 3,
                ..
            })
        ));
    }

    #[test]
    fn a_field_in_a_false_condition_is_refused() {
        let op = set("spec.template.spec.hostNetwork", json!(false));
        assert!(matches!(
            edit_template(DEPLOYMENT, &rendered(), &[op]),
            Err(TemplateError::Conditional { line: 21, .. })
        ));
    }

    #[test]
    fn items_of_a_range_loop_are_refused() {
        let template = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    {{- range .Values.containers }}\n    - name: {{ .name }}\n      image: {{ .image }}\n    {{- end }}\n";
        let op = set("spec.containers.0.securityContext.privileged", json!(false));
        for containers in [
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]),
            json!([{"name": "a", "image": "x"}]),
        ] {
            let rendered = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p"}, "spec": {"containers": containers}});
            let result = edit_template(template, &rendered, std::slice::from_ref(&op));
            assert!(
                matches!(result, Err(TemplateError::RangeLoop { line: 7, .. })),
                "{result:?}"
            );
        }
    }

    #[test]
    fn a_template_that_is_not_yaml_once_masked_says_where() {
        let template = "kind: Pod\nspec:\n  a: {{ .x }}\n b: [\n";
        let result = edit_template(
            template,
            &json!({"kind": "Pod"}),
            &[set("spec.a", json!(1))],
        );
        assert!(
            matches!(
                result,
                Err(TemplateError::NotYaml {
                    document: 1,
                    line: 4..,
                    ..
                })
            ),
            "{result:?}"
        );
        let other = edit_template(
            "kind: Service\n",
            &json!({"kind": "Pod"}),
            &[set("spec.a", json!(1))],
        );
        assert!(matches!(other, Err(TemplateError::NoDocument { .. })));
    }
}
