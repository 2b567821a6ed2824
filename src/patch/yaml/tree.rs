//! patch, reading side: one YAML document's nodes with the byte ranges where they are
//! written, built from granit_parser events. Gives positions only; it changes no text.

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

/// Deepest nesting read; deeper documents are refused rather than overflowing the stack.
const MAX_DEPTH: usize = 256;

/// One node of a document and where it is written.
#[derive(Debug)]
pub(crate) struct Node {
    /// What the node is.
    pub kind: Kind,
    /// Byte offset of its first character (a scalar's quote, `{` or `[`, a block mapping's
    /// first key, a block sequence's first item; a block scalar's first content line).
    pub start: usize,
    /// Byte offset just after its last character (trailing line breaks of block scalars and
    /// what follows a block collection are not part of it).
    pub end: usize,
    /// Written inside a flow collection (`{...}` or `[...]`).
    pub in_flow: bool,
    /// Carries an anchor (`&name`).
    pub anchored: bool,
    /// Carries an explicit tag (`!!str`, `!custom`).
    pub tagged: bool,
}

/// The kinds of node.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A scalar with its source style and its text after escapes.
    Scalar { style: ScalarStyle, value: String },
    /// An alias (`*name`).
    Alias,
    /// A mapping: its entries as (key, value) in the order written.
    Map {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    /// A sequence: its items in order.
    Seq { flow: bool, items: Vec<Node> },
}

impl Node {
    /// Whether this is a null written as nothing, `~` or `null`.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { style: ScalarStyle::Plain, value }
            if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// Whether this is a block scalar (`|` or `>`).
    pub fn is_block_scalar(&self) -> bool {
        matches!(
            &self.kind,
            Kind::Scalar {
                style: ScalarStyle::Literal | ScalarStyle::Folded,
                ..
            }
        )
    }

    /// Whether this is a flow collection (`{...}` or `[...]`).
    pub fn is_flow_collection(&self) -> bool {
        matches!(
            &self.kind,
            Kind::Map { flow: true, .. } | Kind::Seq { flow: true, .. }
        )
    }

    /// Whether this node or anything under it carries an anchor or is an alias.
    pub fn has_anchor(&self) -> bool {
        self.anchored
            || match &self.kind {
                Kind::Alias => true,
                Kind::Scalar { .. } => false,
                Kind::Map { entries, .. } => entries
                    .iter()
                    .any(|(k, v)| k.has_anchor() || v.has_anchor()),
                Kind::Seq { items, .. } => items.iter().any(Node::has_anchor),
            }
    }

    /// The value of the entry whose key is `key`, with the key node.
    pub fn entry(&self, key: &str) -> Option<(usize, &Node, &Node)> {
        let Kind::Map { entries, .. } = &self.kind else {
            return None;
        };
        entries
            .iter()
            .enumerate()
            .find_map(|(i, (k, v))| match &k.kind {
                Kind::Scalar { value, .. } if value == key => Some((i, k, v)),
                _ => None,
            })
    }

    /// Whether this flow collection is written as JSON (double-quoted keys or strings), so
    /// new entries are written as JSON too.
    pub fn is_json_like(&self) -> bool {
        let quoted = |n: &Node| {
            matches!(
                n.kind,
                Kind::Scalar {
                    style: ScalarStyle::DoubleQuoted,
                    ..
                }
            ) || n.is_json_like()
        };
        match &self.kind {
            Kind::Map {
                flow: true,
                entries,
            } => entries.first().is_some_and(|(k, _)| quoted(k)),
            Kind::Seq { flow: true, items } => items.first().is_some_and(quoted),
            _ => false,
        }
    }

    /// What kind of node this is, for messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar { .. } if self.is_block_scalar() => "a block scalar",
            Kind::Scalar { .. } if self.is_null() => "null",
            Kind::Scalar { .. } => "a scalar",
            Kind::Alias => "an alias",
            Kind::Map { .. } => "a mapping",
            Kind::Seq { .. } => "a sequence",
        }
    }
}

/// Reads the first document of `text` into nodes. Fails with the message and the 1-based
/// line of the first parse error.
pub(crate) fn parse(text: &str) -> Result<Node, (String, usize)> {
    let mut events = Vec::new();
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| (e.info(), e.marker().line()))?;
        let Some(range) = span.byte_range() else {
            return Err((
                "the parser gave no byte offsets".to_owned(),
                span.start.line(),
            ));
        };
        match event {
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::Scalar(..)
            | Event::Alias(..)
            | Event::SequenceStart(..)
            | Event::SequenceEnd
            | Event::MappingStart(..)
            | Event::MappingEnd => events.push((event, range, span.start.line())),
            _ => {}
        }
    }
    let mut reader = Reader {
        text,
        events,
        next: 0,
    };
    match reader.node(false, 0)? {
        Some(node) => Ok(node),
        // A document of nothing but comments: an empty null at its end.
        None => Ok(Node {
            kind: Kind::Scalar {
                style: ScalarStyle::Plain,
                value: String::new(),
            },
            start: text.len(),
            end: text.len(),
            in_flow: false,
            anchored: false,
            tagged: false,
        }),
    }
}

type Spanned<'a> = (Event<'a>, std::ops::Range<usize>, usize);

struct Reader<'a> {
    text: &'a str,
    events: Vec<Spanned<'a>>,
    next: usize,
}

impl Reader<'_> {
    /// The next node, or `None` at the end of a collection (its end event consumed).
    fn node(&mut self, in_flow: bool, depth: usize) -> Result<Option<Node>, (String, usize)> {
        let Some((event, range, line)) = self.events.get(self.next) else {
            return Ok(None);
        };
        let (range, line) = (range.clone(), *line);
        self.next += 1;
        if depth > MAX_DEPTH {
            return Err(("the document nests too deeply to edit".to_owned(), line));
        }
        let node = |kind, end, anchored: bool, tagged: bool| Node {
            kind,
            start: range.start,
            end,
            in_flow,
            anchored,
            tagged,
        };
        Ok(Some(match event {
            Event::Scalar(value, style, anchor, tag) => {
                let (mut start, mut end) = (range.start, range.end);
                // A value written as nothing (`key:`) is reported at its key's `:`; place it
                // after the `:`, so the entry's extent covers the whole `key:`.
                if start == end && self.text[start..].starts_with(':') {
                    start += 1;
                    end += 1;
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    let written = &self.text[range.start..range.end];
                    end = range.start + written.trim_end().len();
                }
                Node {
                    kind: Kind::Scalar {
                        style: *style,
                        value: value.to_string(),
                    },
                    start,
                    end,
                    in_flow,
                    anchored: *anchor != 0,
                    tagged: tag.is_some(),
                }
            }
            Event::Alias(..) => node(Kind::Alias, range.end, false, false),
            Event::MappingStart(style, anchor, tag) => {
                let flow = *style == StructureStyle::Flow;
                let (anchored, tagged) = (*anchor != 0, tag.is_some());
                let mut entries = Vec::new();
                let mut end = range.end;
                while let Some(key) = self.node(in_flow || flow, depth + 1)? {
                    let Some(value) = self.node(in_flow || flow, depth + 1)? else {
                        return Err(("a mapping key has no value".to_owned(), line));
                    };
                    end = end.max(key.end).max(value.end);
                    entries.push((key, value));
                }
                if flow {
                    end = self.last_end();
                }
                node(Kind::Map { flow, entries }, end, anchored, tagged)
            }
            Event::SequenceStart(style, anchor, tag) => {
                let flow = *style == StructureStyle::Flow;
                let (anchored, tagged) = (*anchor != 0, tag.is_some());
                let mut items = Vec::new();
                let mut end = range.end;
                while let Some(item) = self.node(in_flow || flow, depth + 1)? {
                    end = end.max(item.end);
                    items.push(item);
                }
                if flow {
                    end = self.last_end();
                }
                node(Kind::Seq { flow, items }, end, anchored, tagged)
            }
            _ => return Ok(None),
        }))
    }

    /// The end of the event just consumed (a flow collection's closing bracket).
    fn last_end(&self) -> usize {
        self.next
            .checked_sub(1)
            .and_then(|i| self.events.get(i))
            .map_or(self.text.len(), |(_, range, _)| range.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_where_they_are_written() {
        let text = "a:\n  b: 'x' # c\n  l:\n  - 1\n  - {k: v}\ns: |\n  text\n\nt: &r 1\nz: *r\n";
        let root = parse(text).unwrap();
        let (_, _, a) = root.entry("a").unwrap();
        assert_eq!(&text[a.start..a.end], "b: 'x' # c\n  l:\n  - 1\n  - {k: v}");
        let (_, key, b) = a.entry("b").unwrap();
        assert_eq!(&text[key.start..key.end], "b");
        assert_eq!(&text[b.start..b.end], "'x'");
        let (_, _, s) = root.entry("s").unwrap();
        assert_eq!(&text[s.start..s.end], "text");
        assert!(s.is_block_scalar());
        let (_, _, l) = a.entry("l").unwrap();
        let Kind::Seq { items, .. } = &l.kind else {
            panic!("not a sequence")
        };
        assert_eq!(&text[items[1].start..items[1].end], "{k: v}");
        assert!(items[1].is_flow_collection());
        assert!(root.has_anchor());
    }
}
