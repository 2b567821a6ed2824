//! CEL evaluation over borrowed JSON. Rule checks are parsed by the cel crate (its parser and
//! macro expansion are the reference), then compiled here into a small tree that evaluates
//! directly on `serde_json::Value` without converting objects: the cel crate's interpreter
//! needs every object converted into its own values first (measured at about 13 µs per
//! Deployment, before any rule runs) and compiles a `matches()` regex on every call. Here
//! identifiers are resolved to slots and regex literals are compiled once, at load.
//!
//! The language is CEL's (cel-spec) for what rules use: literals, field selection, `has()`,
//! optional selection and indexing (`a.?b`, `a[?k]`, `orValue`, `hasValue`, `value`, `or`,
//! `optional.of/none`), indexing, `in`, the logical, comparison and arithmetic operators with
//! CEL's error-absorbing `&&`/`||`, the conditional, list and map literals, the macros (`all`,
//! `exists`, `exists_one`, `map`, `filter`, also the two-variable forms), `size`, the string
//! functions (`startsWith`, `endsWith`, `contains`, `matches`, `lowerAscii`, `upperAscii`,
//! `trim`, `substring`, `split`, `join`, `indexOf`, `lastIndexOf`, `replace`) and the
//! conversions `int`, `uint`, `double`, `string`, `bool`. One deliberate leniency: optional
//! selection on `null` (`securityContext: null`, common in rendered Helm output) gives
//! `optional.none()` instead of an error. JSON integers are `int`. Anything else fails at
//! load, naming the function. Pure; no I/O.

use cel::common::ast::{EntryExpr, Expr, LiteralValue, operators};
use cel::parser::Expression;
use regex::Regex;
use serde_json::Value;
use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::Arc;

/// The cel crate environment used for parsing: the standard macros, optional syntax
/// (`a.?b`) and the strings and lists extensions. Only its parser is used.
static PARSER: std::sync::LazyLock<Arc<cel::Env>> = std::sync::LazyLock::new(|| {
    let mut env = cel::Env::stdlib();
    // Both extensions ship with the library: failing to register them is a bug, not input.
    let _ = env.add_extension(cel::extensions::strings);
    let _ = env.add_extension(cel::extensions::lists);
    Arc::new(env)
});

/// Parses CEL source (with macros expanded) into the cel crate's AST.
pub fn parse(source: &str) -> std::result::Result<cel::Program, String> {
    PARSER.compile(source).map_err(|errors| errors.to_string())
}

/// The variables a check may read, in slot order.
pub const VARIABLES: &[&str] = &[
    "object",
    "pod",
    "podMeta",
    "container",
    "containerType",
    "item",
    "index",
    "role",
    "serviceAccount",
    "networkPolicies",
    "selectingPolicies",
    "workloadCount",
];

/// A slot in `VARIABLES`.
pub type Slot = usize;

/// The slot of a variable name.
pub fn slot(name: &str) -> Option<Slot> {
    VARIABLES.iter().position(|v| *v == name)
}

/// A CEL value during evaluation. JSON containers stay borrowed; JSON scalars are read into
/// the scalar variants as they are reached.
#[derive(Debug, Clone)]
pub enum V<'a> {
    /// `null`.
    Null,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `uint`.
    UInt(u64),
    /// `double`.
    Double(f64),
    /// A string borrowed from the input or the program.
    Str(&'a str),
    /// A string made during evaluation.
    OwnedStr(Rc<str>),
    /// A JSON array or object, borrowed.
    Json(&'a Value),
    /// A list made during evaluation.
    List(Rc<Vec<V<'a>>>),
    /// A map made during evaluation (a map literal).
    Map(Rc<Vec<(V<'a>, V<'a>)>>),
    /// An optional value.
    Opt(Option<Rc<V<'a>>>),
}

impl<'a> V<'a> {
    /// Reads a JSON value: scalars become CEL scalars, containers stay borrowed.
    pub fn from_json(json: &'a Value) -> V<'a> {
        match json {
            Value::Null => V::Null,
            Value::Bool(b) => V::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => V::Int(i),
                (None, Some(u)) => V::UInt(u),
                _ => V::Double(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => V::Str(s),
            Value::Array(_) | Value::Object(_) => V::Json(json),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            V::Str(s) => Some(s),
            V::OwnedStr(s) => Some(s),
            _ => None,
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            V::Null => "null",
            V::Bool(_) => "bool",
            V::Int(_) => "int",
            V::UInt(_) => "uint",
            V::Double(_) => "double",
            V::Str(_) | V::OwnedStr(_) => "string",
            V::Json(Value::Array(_)) | V::List(_) => "list",
            V::Json(_) | V::Map(_) => "map",
            V::Opt(_) => "optional",
        }
    }

    /// The items of a list value.
    fn list_items(&self) -> Option<Vec<V<'a>>> {
        match self {
            V::Json(Value::Array(items)) => Some(items.iter().map(V::from_json).collect()),
            V::List(items) => Some(items.as_ref().clone()),
            _ => None,
        }
    }

    fn is_map(&self) -> bool {
        matches!(self, V::Json(Value::Object(_)) | V::Map(_))
    }
}

/// An evaluation error: a check that errs is reported, never counted as a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, EvalError>;

fn err<T>(message: impl Into<String>) -> Result<T> {
    Err(EvalError(message.into()))
}

fn no_such_key(key: &str) -> EvalError {
    EvalError(format!("no such key: {key}"))
}

fn no_overload(function: &str, args: &[&V<'_>]) -> EvalError {
    let types: Vec<&str> = args.iter().map(|a| a.type_name()).collect();
    EvalError(format!(
        "no such overload: {function}({})",
        types.join(", ")
    ))
}

/// Built-in functions, resolved at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Size,
    StartsWith,
    EndsWith,
    Contains,
    LowerAscii,
    UpperAscii,
    Trim,
    Substring,
    Split,
    Join,
    IndexOf,
    LastIndexOf,
    Replace,
    ToInt,
    ToUInt,
    ToDouble,
    ToString,
    ToBool,
    OrValue,
    HasValue,
    Value,
    Or,
    OptionalOf,
    OptionalNone,
}

fn function(name: &str) -> Option<Func> {
    Some(match name {
        "size" => Func::Size,
        "startsWith" => Func::StartsWith,
        "endsWith" => Func::EndsWith,
        "contains" => Func::Contains,
        "lowerAscii" => Func::LowerAscii,
        "upperAscii" => Func::UpperAscii,
        "trim" => Func::Trim,
        "substring" => Func::Substring,
        "split" => Func::Split,
        "join" => Func::Join,
        "indexOf" => Func::IndexOf,
        "lastIndexOf" => Func::LastIndexOf,
        "replace" => Func::Replace,
        "int" => Func::ToInt,
        "uint" => Func::ToUInt,
        "double" => Func::ToDouble,
        "string" => Func::ToString,
        "bool" => Func::ToBool,
        "orValue" => Func::OrValue,
        "hasValue" => Func::HasValue,
        "value" => Func::Value,
        "or" => Func::Or,
        "optional.of" => Func::OptionalOf,
        "optional.none" => Func::OptionalNone,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// A literal of the program.
#[derive(Debug, Clone)]
enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Arc<str>),
}

/// Where an identifier's value lives.
#[derive(Debug, Clone, Copy)]
enum Ident {
    /// A bound variable.
    Var(Slot),
    /// A comprehension variable, by its depth in the local stack.
    Local(usize),
}

#[derive(Debug)]
enum Node {
    Lit(Lit),
    Ident(Ident),
    Select {
        operand: Box<Node>,
        field: Arc<str>,
        test: bool,
    },
    OptSelect {
        operand: Box<Node>,
        field: Arc<str>,
    },
    Index {
        operand: Box<Node>,
        index: Box<Node>,
        optional: bool,
    },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    NotStrictlyFalse(Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Cmp(Cmp, Box<Node>, Box<Node>),
    Arith(Arith, Box<Node>, Box<Node>),
    Neg(Box<Node>),
    In(Box<Node>, Box<Node>),
    Call {
        func: Func,
        target: Option<Box<Node>>,
        args: Vec<Node>,
    },
    Matches {
        target: Box<Node>,
        regex: Arc<Regex>,
    },
    MatchesDynamic {
        target: Box<Node>,
        pattern: Box<Node>,
    },
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Comprehension(Box<Comprehension>),
}

#[derive(Debug)]
struct Comprehension {
    range: Node,
    two_vars: bool,
    accu_init: Node,
    loop_cond: Node,
    loop_step: Node,
    result: Node,
}

/// A compiled check.
#[derive(Debug)]
pub struct Program {
    root: Node,
    /// The bound variables the check reads (macro loop variables are not among them).
    variables: Vec<&'static str>,
}

impl Program {
    /// The bound variables the check reads, in slot order.
    pub fn variables(&self) -> &[&'static str] {
        &self.variables
    }
}

/// Compilation state: the comprehension variables in scope, and the bound variables read.
struct Compiler {
    locals: Vec<String>,
    used: [bool; VARIABLES.len()],
}

/// Compiles a parsed CEL expression. Fails on an unknown variable or function, a bad regex
/// literal, or a construct outside the supported language.
pub fn compile(expr: &Expression) -> std::result::Result<Program, String> {
    let mut cx = Compiler {
        locals: Vec::new(),
        used: [false; VARIABLES.len()],
    };
    let root = compile_node(expr, &mut cx)?;
    let variables = VARIABLES
        .iter()
        .zip(cx.used)
        .filter_map(|(name, used)| used.then_some(*name))
        .collect();
    Ok(Program { root, variables })
}

fn compile_node(expr: &Expression, cx: &mut Compiler) -> std::result::Result<Node, String> {
    let boxed = |e: &Expression, cx: &mut Compiler| compile_node(e, cx).map(Box::new);
    Ok(match &expr.expr {
        Expr::Literal(lit) => Node::Lit(match lit {
            LiteralValue::Null => Lit::Null,
            LiteralValue::Boolean(b) => Lit::Bool(*b.inner()),
            LiteralValue::Int(i) => Lit::Int(*i.inner()),
            LiteralValue::UInt(u) => Lit::UInt(*u.inner()),
            LiteralValue::Double(d) => Lit::Double(*d.inner()),
            LiteralValue::String(s) => Lit::Str(Arc::from(s.inner())),
            LiteralValue::Bytes(_) => return Err("bytes literals are not supported".into()),
        }),
        Expr::Ident(name) => {
            if let Some(depth) = cx.locals.iter().rposition(|l| l == name) {
                Node::Ident(Ident::Local(depth))
            } else if let Some(slot) = slot(name) {
                cx.used[slot] = true;
                Node::Ident(Ident::Var(slot))
            } else {
                return Err(format!("unknown variable '{name}'"));
            }
        }
        Expr::Select(select) => Node::Select {
            operand: boxed(&select.operand, cx)?,
            field: Arc::from(select.field.as_str()),
            test: select.test,
        },
        Expr::List(list) => {
            if !list.optional_indices.is_empty() {
                return Err("optional list elements are not supported".into());
            }
            Node::List(
                list.elements
                    .iter()
                    .map(|e| compile_node(e, cx))
                    .collect::<std::result::Result<_, _>>()?,
            )
        }
        Expr::Map(map) => {
            let mut entries = Vec::new();
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(e) if !e.optional => {
                        entries.push((compile_node(&e.key, cx)?, compile_node(&e.value, cx)?));
                    }
                    _ => return Err("only plain map literal entries are supported".into()),
                }
            }
            Node::Map(entries)
        }
        Expr::Struct(_) => return Err("message literals are not supported".into()),
        Expr::Unspecified => return Err("empty expression".into()),
        Expr::Comprehension(comp) => {
            let range = compile_node(&comp.iter_range, cx)?;
            let accu_init = compile_node(&comp.accu_init, cx)?;
            let depth = cx.locals.len();
            // Local stack order at run time: iteration variable(s), then the accumulator.
            cx.locals.push(comp.iter_var.clone());
            if let Some(second) = &comp.iter_var2 {
                cx.locals.push(second.clone());
            }
            cx.locals.push(comp.accu_var.clone());
            let loop_cond = compile_node(&comp.loop_cond, cx)?;
            let loop_step = compile_node(&comp.loop_step, cx)?;
            let result = compile_node(&comp.result, cx)?;
            cx.locals.truncate(depth);
            Node::Comprehension(Box::new(Comprehension {
                range,
                two_vars: comp.iter_var2.is_some(),
                accu_init,
                loop_cond,
                loop_step,
                result,
            }))
        }
        Expr::Call(call) => {
            let args = &call.args;
            let arg = |i: usize, cx: &mut Compiler| -> std::result::Result<Box<Node>, String> {
                args.get(i)
                    .ok_or_else(|| format!("{} needs more arguments", call.func_name))
                    .and_then(|a| boxed(a, cx))
            };
            match call.func_name.as_str() {
                operators::LOGICAL_AND => Node::And(arg(0, cx)?, arg(1, cx)?),
                operators::LOGICAL_OR => Node::Or(arg(0, cx)?, arg(1, cx)?),
                operators::LOGICAL_NOT => Node::Not(arg(0, cx)?),
                operators::NOT_STRICTLY_FALSE => Node::NotStrictlyFalse(arg(0, cx)?),
                operators::CONDITIONAL => Node::Cond(arg(0, cx)?, arg(1, cx)?, arg(2, cx)?),
                operators::EQUALS => Node::Cmp(Cmp::Eq, arg(0, cx)?, arg(1, cx)?),
                operators::NOT_EQUALS => Node::Cmp(Cmp::Ne, arg(0, cx)?, arg(1, cx)?),
                operators::LESS => Node::Cmp(Cmp::Lt, arg(0, cx)?, arg(1, cx)?),
                operators::LESS_EQUALS => Node::Cmp(Cmp::Le, arg(0, cx)?, arg(1, cx)?),
                operators::GREATER => Node::Cmp(Cmp::Gt, arg(0, cx)?, arg(1, cx)?),
                operators::GREATER_EQUALS => Node::Cmp(Cmp::Ge, arg(0, cx)?, arg(1, cx)?),
                operators::ADD => Node::Arith(Arith::Add, arg(0, cx)?, arg(1, cx)?),
                operators::SUBSTRACT => Node::Arith(Arith::Sub, arg(0, cx)?, arg(1, cx)?),
                operators::MULTIPLY => Node::Arith(Arith::Mul, arg(0, cx)?, arg(1, cx)?),
                operators::DIVIDE => Node::Arith(Arith::Div, arg(0, cx)?, arg(1, cx)?),
                operators::MODULO => Node::Arith(Arith::Rem, arg(0, cx)?, arg(1, cx)?),
                operators::NEGATE => Node::Neg(arg(0, cx)?),
                operators::IN => Node::In(arg(0, cx)?, arg(1, cx)?),
                operators::INDEX | operators::OPT_INDEX => Node::Index {
                    operand: arg(0, cx)?,
                    index: arg(1, cx)?,
                    optional: call.func_name == operators::OPT_INDEX,
                },
                operators::OPT_SELECT => {
                    let field = match args.get(1).map(|a| &a.expr) {
                        Some(Expr::Literal(LiteralValue::String(s))) => Arc::from(s.inner()),
                        _ => return Err("optional selection needs a field name".into()),
                    };
                    Node::OptSelect {
                        operand: arg(0, cx)?,
                        field,
                    }
                }
                "matches" => {
                    let (target, pattern) = match &call.target {
                        Some(target) => (boxed(target, cx)?, arg(0, cx)?),
                        None => (arg(0, cx)?, arg(1, cx)?),
                    };
                    match *pattern {
                        Node::Lit(Lit::Str(ref p)) => Node::Matches {
                            target,
                            regex: Arc::new(
                                Regex::new(p).map_err(|e| format!("bad regex '{p}': {e}"))?,
                            ),
                        },
                        _ => Node::MatchesDynamic { target, pattern },
                    }
                }
                name => {
                    let qualified = match (&call.target, name) {
                        (Some(t), "of" | "none") if matches!(&t.expr, Expr::Ident(i) if i == "optional") =>
                        {
                            format!("optional.{name}")
                        }
                        _ => name.to_owned(),
                    };
                    let func =
                        function(&qualified).ok_or_else(|| format!("unknown function '{name}'"))?;
                    let target = match &call.target {
                        Some(_) if qualified.starts_with("optional.") => None,
                        Some(t) => Some(boxed(t, cx)?),
                        None => None,
                    };
                    Node::Call {
                        func,
                        target,
                        args: args
                            .iter()
                            .map(|a| compile_node(a, cx))
                            .collect::<std::result::Result<_, _>>()?,
                    }
                }
            }
        }
    })
}

/// The values bound for one evaluation.
#[derive(Default)]
pub struct Activation<'a> {
    vars: [Option<V<'a>>; VARIABLES.len()],
    locals: Vec<V<'a>>,
}

impl<'a> Activation<'a> {
    /// Binds a variable.
    pub fn set(&mut self, slot: Slot, value: V<'a>) {
        self.vars[slot] = Some(value);
    }

    /// Unbinds a variable.
    pub fn clear(&mut self, slot: Slot) {
        self.vars[slot] = None;
    }
}

impl Program {
    /// Evaluates the program.
    pub fn eval<'a>(&'a self, activation: &mut Activation<'a>) -> Result<V<'a>> {
        eval(&self.root, activation)
    }
}

fn lit<'a>(lit: &'a Lit) -> V<'a> {
    match lit {
        Lit::Null => V::Null,
        Lit::Bool(b) => V::Bool(*b),
        Lit::Int(i) => V::Int(*i),
        Lit::UInt(u) => V::UInt(*u),
        Lit::Double(d) => V::Double(*d),
        Lit::Str(s) => V::Str(s),
    }
}

fn field_of<'a>(value: &V<'a>, field: &str) -> Option<Result<Option<V<'a>>>> {
    match value {
        V::Json(Value::Object(map)) => Some(Ok(map.get(field).map(V::from_json))),
        V::Map(entries) => Some(Ok(entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(field))
            .map(|(_, v)| v.clone()))),
        _ => None,
    }
}

fn as_bool(value: &V<'_>, context: &str) -> Result<bool> {
    match value {
        V::Bool(b) => Ok(*b),
        other => Err(no_overload(context, &[other])),
    }
}

fn eval<'a>(node: &'a Node, act: &mut Activation<'a>) -> Result<V<'a>> {
    match node {
        Node::Lit(l) => Ok(lit(l)),
        Node::Ident(Ident::Var(slot)) => act.vars[*slot]
            .clone()
            .ok_or_else(|| EvalError(format!("undeclared reference to '{}'", VARIABLES[*slot]))),
        Node::Ident(Ident::Local(depth)) => act
            .locals
            .get(*depth)
            .cloned()
            .ok_or_else(|| EvalError("comprehension variable out of scope".into())),
        Node::Select {
            operand,
            field,
            test,
        } => {
            let value = eval(operand, act)?;
            // Selecting on an optional gives an optional (cel-spec chaining: `a.?b.c`).
            if !*test && let V::Opt(inner) = &value {
                return match inner {
                    None => Ok(V::Opt(None)),
                    Some(inner) => match field_of(inner, field) {
                        Some(found) => Ok(V::Opt(found?.map(Rc::new))),
                        None => Err(no_overload("_._", &[inner])),
                    },
                };
            }
            match field_of(&value, field) {
                Some(found) => {
                    let found = found?;
                    if *test {
                        Ok(V::Bool(found.is_some()))
                    } else {
                        found.ok_or_else(|| no_such_key(field))
                    }
                }
                None => Err(no_overload(if *test { "has" } else { "_._" }, &[&value])),
            }
        }
        Node::OptSelect { operand, field } => {
            let value = eval(operand, act)?;
            let inner = match value {
                V::Opt(None) | V::Null => return Ok(V::Opt(None)),
                V::Opt(Some(inner)) => inner.as_ref().clone(),
                other => other,
            };
            match field_of(&inner, field) {
                Some(found) => Ok(V::Opt(found?.map(Rc::new))),
                None if matches!(inner, V::Null) => Ok(V::Opt(None)),
                None => Err(no_overload("_?._", &[&inner])),
            }
        }
        Node::Index {
            operand,
            index,
            optional,
        } => {
            let value = eval(operand, act)?;
            let key = eval(index, act)?;
            // Indexing an optional, with `[?k]` or `[k]`, gives an optional (cel-spec chaining).
            let (value, optional) = match value {
                V::Opt(None) => return Ok(V::Opt(None)),
                V::Opt(Some(inner)) => (inner.as_ref().clone(), true),
                other => (other, *optional),
            };
            let found = index_into(&value, &key)?;
            if optional {
                Ok(V::Opt(found.map(Rc::new)))
            } else {
                found.ok_or_else(|| match &key {
                    V::Int(_) | V::UInt(_) => EvalError("index out of bounds".into()),
                    other => no_such_key(other.as_str().unwrap_or("?")),
                })
            }
        }
        Node::And(a, b) => logical(a, b, act, false, "_&&_"),
        Node::Or(a, b) => logical(a, b, act, true, "_||_"),
        Node::Not(a) => Ok(V::Bool(!as_bool(&eval(a, act)?, "!_")?)),
        Node::NotStrictlyFalse(a) => Ok(V::Bool(!matches!(eval(a, act), Ok(V::Bool(false))))),
        Node::Cond(c, a, b) => {
            if as_bool(&eval(c, act)?, "_?_:_")? {
                eval(a, act)
            } else {
                eval(b, act)
            }
        }
        Node::Cmp(op, a, b) => {
            let left = eval(a, act)?;
            let right = eval(b, act)?;
            let result = match op {
                Cmp::Eq => equals(&left, &right),
                Cmp::Ne => !equals(&left, &right),
                _ => {
                    let ordering = compare(&left, &right)
                        .ok_or_else(|| no_overload("_<_", &[&left, &right]))?;
                    match op {
                        Cmp::Lt => ordering == Ordering::Less,
                        Cmp::Le => ordering != Ordering::Greater,
                        Cmp::Gt => ordering == Ordering::Greater,
                        _ => ordering != Ordering::Less,
                    }
                }
            };
            Ok(V::Bool(result))
        }
        Node::Arith(op, a, b) => {
            let left = eval(a, act)?;
            let right = eval(b, act)?;
            arith(*op, &left, &right)
        }
        Node::Neg(a) => match eval(a, act)? {
            V::Int(i) => i
                .checked_neg()
                .map(V::Int)
                .ok_or_else(|| EvalError("integer overflow".into())),
            V::Double(d) => Ok(V::Double(-d)),
            other => Err(no_overload("-_", &[&other])),
        },
        Node::In(a, b) => {
            let needle = eval(a, act)?;
            let haystack = eval(b, act)?;
            match &haystack {
                V::Json(Value::Array(items)) => Ok(V::Bool(
                    items.iter().any(|i| equals(&needle, &V::from_json(i))),
                )),
                V::List(items) => Ok(V::Bool(items.iter().any(|i| equals(&needle, i)))),
                V::Json(Value::Object(map)) => Ok(V::Bool(
                    needle.as_str().is_some_and(|k| map.contains_key(k)),
                )),
                V::Map(entries) => Ok(V::Bool(entries.iter().any(|(k, _)| equals(k, &needle)))),
                other => Err(no_overload("@in", &[&needle, other])),
            }
        }
        Node::Matches { target, regex } => {
            let value = eval(target, act)?;
            match value.as_str() {
                Some(s) => Ok(V::Bool(regex.is_match(s))),
                None => Err(no_overload("matches", &[&value])),
            }
        }
        Node::MatchesDynamic { target, pattern } => {
            let value = eval(target, act)?;
            let pattern = eval(pattern, act)?;
            match (value.as_str(), pattern.as_str()) {
                (Some(s), Some(p)) => {
                    let regex = Regex::new(p).map_err(|e| EvalError(format!("bad regex: {e}")))?;
                    Ok(V::Bool(regex.is_match(s)))
                }
                _ => Err(no_overload("matches", &[&value, &pattern])),
            }
        }
        Node::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(eval(item, act)?);
            }
            Ok(V::List(Rc::new(out)))
        }
        Node::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                out.push((eval(k, act)?, eval(v, act)?));
            }
            Ok(V::Map(Rc::new(out)))
        }
        Node::Comprehension(comp) => comprehension(comp, act),
        Node::Call { func, target, args } => {
            let receiver = match target {
                Some(t) => Some(eval(t, act)?),
                None => None,
            };
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                values.push(eval(arg, act)?);
            }
            call(*func, receiver, values)
        }
    }
}

/// `&&` (absorbing `false`) and `||` (absorbing `true`) as CEL defines them: the absorbing
/// value on either side wins, even over an error on the other; otherwise an error propagates.
fn logical<'a>(
    a: &'a Node,
    b: &'a Node,
    act: &mut Activation<'a>,
    absorbing: bool,
    name: &str,
) -> Result<V<'a>> {
    let left = eval(a, act).and_then(|v| as_bool(&v, name));
    if left == Ok(absorbing) {
        return Ok(V::Bool(absorbing));
    }
    let right = eval(b, act).and_then(|v| as_bool(&v, name));
    match (left, right) {
        (_, Ok(r)) if r == absorbing => Ok(V::Bool(absorbing)),
        (Err(e), _) | (_, Err(e)) => Err(e),
        _ => Ok(V::Bool(!absorbing)),
    }
}

fn comprehension<'a>(comp: &'a Comprehension, act: &mut Activation<'a>) -> Result<V<'a>> {
    let range = eval(&comp.range, act)?;
    // (first variable, second variable) per iteration: lists give (value) or (index, value);
    // maps give (key) or (key, value).
    let pairs: Vec<(V<'a>, V<'a>)> = match &range {
        V::Json(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    V::Int(i64::try_from(i).unwrap_or(i64::MAX)),
                    V::from_json(v),
                )
            })
            .collect(),
        V::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (V::Int(i64::try_from(i).unwrap_or(i64::MAX)), v.clone()))
            .collect(),
        V::Json(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (V::Str(k), V::from_json(v)))
            .collect(),
        V::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        other => return Err(no_overload("comprehension", &[other])),
    };
    let is_list = matches!(range, V::Json(Value::Array(_)) | V::List(_));
    let base = act.locals.len();
    let mut accu = eval(&comp.accu_init, act)?;
    let mut outcome = Ok(());
    for (first, second) in pairs {
        act.locals.truncate(base);
        if comp.two_vars {
            act.locals.push(first);
            act.locals.push(second);
        } else if is_list {
            act.locals.push(second);
        } else {
            act.locals.push(first);
        }
        act.locals.push(accu.clone());
        match eval(&comp.loop_cond, act).and_then(|v| as_bool(&v, "loop condition")) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        match eval(&comp.loop_step, act) {
            Ok(next) => accu = next,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    act.locals.truncate(base);
    outcome?;
    // The result expression sees only the accumulator, at the same depth as in the loop.
    let slots = if comp.two_vars { 2 } else { 1 };
    for _ in 0..slots {
        act.locals.push(V::Null);
    }
    act.locals.push(accu);
    let result = eval(&comp.result, act);
    act.locals.truncate(base);
    result
}

fn index_into<'a>(value: &V<'a>, key: &V<'a>) -> Result<Option<V<'a>>> {
    let position = |len: usize| -> Result<Option<usize>> {
        let i = match key {
            V::Int(i) => *i,
            V::UInt(u) => i64::try_from(*u).unwrap_or(i64::MAX),
            V::Double(d) if d.fract() == 0.0 => *d as i64,
            other => return Err(no_overload("_[_]", &[value, other])),
        };
        Ok(usize::try_from(i).ok().filter(|i| *i < len))
    };
    match value {
        V::Json(Value::Array(items)) => Ok(position(items.len())?.map(|i| V::from_json(&items[i]))),
        V::List(items) => Ok(position(items.len())?.map(|i| items[i].clone())),
        V::Json(Value::Object(map)) => match key.as_str() {
            Some(k) => Ok(map.get(k).map(V::from_json)),
            None => Err(no_overload("_[_]", &[value, key])),
        },
        V::Map(entries) => Ok(entries
            .iter()
            .find(|(k, _)| equals(k, key))
            .map(|(_, v)| v.clone())),
        other => Err(no_overload("_[_]", &[other, key])),
    }
}

fn number(value: &V<'_>) -> Option<f64> {
    match value {
        V::Int(i) => Some(*i as f64),
        V::UInt(u) => Some(*u as f64),
        V::Double(d) => Some(*d),
        _ => None,
    }
}

/// CEL equality: numbers compare across types, containers element-wise, other types never
/// equal each other.
pub fn equals(a: &V<'_>, b: &V<'_>) -> bool {
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Int(x), V::Int(y)) => x == y,
        (V::UInt(x), V::UInt(y)) => x == y,
        (V::Int(x), V::UInt(y)) | (V::UInt(y), V::Int(x)) => {
            u64::try_from(*x).is_ok_and(|x| x == *y)
        }
        (x, y) if number(x).is_some() && number(y).is_some() => number(x) == number(y),
        (x, y) if x.as_str().is_some() && y.as_str().is_some() => x.as_str() == y.as_str(),
        (V::Opt(x), V::Opt(y)) => match (x, y) {
            (None, None) => true,
            (Some(x), Some(y)) => equals(x, y),
            _ => false,
        },
        (x, y) if x.is_map() && y.is_map() => map_equals(x, y),
        (x, y) => match (x.list_items(), y.list_items()) {
            (Some(xs), Some(ys)) => {
                xs.len() == ys.len() && xs.iter().zip(&ys).all(|(x, y)| equals(x, y))
            }
            _ => false,
        },
    }
}

fn map_entries<'a>(map: &V<'a>) -> Vec<(V<'a>, V<'a>)> {
    match map {
        V::Json(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (V::Str(k), V::from_json(v)))
            .collect(),
        V::Map(entries) => entries.as_ref().clone(),
        _ => Vec::new(),
    }
}

fn map_equals(a: &V<'_>, b: &V<'_>) -> bool {
    let (xs, ys) = (map_entries(a), map_entries(b));
    xs.len() == ys.len()
        && xs
            .iter()
            .all(|(k, v)| ys.iter().any(|(k2, v2)| equals(k, k2) && equals(v, v2)))
}

fn compare(a: &V<'_>, b: &V<'_>) -> Option<Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::UInt(x), V::UInt(y)) => Some(x.cmp(y)),
        (V::Bool(x), V::Bool(y)) => Some(x.cmp(y)),
        (x, y) if x.as_str().is_some() && y.as_str().is_some() => Some(x.as_str().cmp(&y.as_str())),
        (V::Int(x), V::UInt(y)) => Some(match u64::try_from(*x) {
            Ok(x) => x.cmp(y),
            Err(_) => Ordering::Less,
        }),
        (V::UInt(x), V::Int(y)) => Some(match u64::try_from(*y) {
            Ok(y) => x.cmp(&y),
            Err(_) => Ordering::Greater,
        }),
        (x, y) => number(x)?.partial_cmp(&number(y)?),
    }
}

fn overflow() -> EvalError {
    EvalError("integer overflow".into())
}

fn arith<'a>(op: Arith, a: &V<'a>, b: &V<'a>) -> Result<V<'a>> {
    // Checked integer arithmetic, the same for int and uint.
    macro_rules! checked {
        ($x:expr, $y:expr, $wrap:expr) => {{
            let (x, y) = ($x, $y);
            let result = match op {
                Arith::Add => x.checked_add(y),
                Arith::Sub => x.checked_sub(y),
                Arith::Mul => x.checked_mul(y),
                Arith::Div if y == 0 => return err("division by zero"),
                Arith::Div => x.checked_div(y),
                Arith::Rem if y == 0 => return err("modulus by zero"),
                Arith::Rem => x.checked_rem(y),
            };
            result.map($wrap).ok_or_else(overflow)
        }};
    }
    match (op, a, b) {
        (_, V::Int(x), V::Int(y)) => checked!(*x, *y, V::Int),
        (_, V::UInt(x), V::UInt(y)) => checked!(*x, *y, V::UInt),
        (_, V::Double(x), V::Double(y)) => Ok(V::Double(match op {
            Arith::Add => x + y,
            Arith::Sub => x - y,
            Arith::Mul => x * y,
            Arith::Div => x / y,
            Arith::Rem => return Err(no_overload("_%_", &[a, b])),
        })),
        (Arith::Add, x, y) if x.as_str().is_some() && y.as_str().is_some() => {
            let joined = format!("{}{}", x.as_str().unwrap_or(""), y.as_str().unwrap_or(""));
            Ok(V::OwnedStr(Rc::from(joined)))
        }
        (Arith::Add, x, y) => match (x.list_items(), y.list_items()) {
            (Some(mut xs), Some(ys)) => {
                xs.extend(ys);
                Ok(V::List(Rc::new(xs)))
            }
            _ => Err(no_overload("_+_", &[a, b])),
        },
        _ => Err(no_overload("arithmetic", &[a, b])),
    }
}

fn string_arg<'v>(args: &'v [V<'_>], i: usize, function: &str) -> Result<&'v str> {
    args.get(i)
        .and_then(V::as_str)
        .ok_or_else(|| EvalError(format!("{function} expects a string argument")))
}

fn int_arg(args: &[V<'_>], i: usize, function: &str) -> Result<i64> {
    match args.get(i) {
        Some(V::Int(n)) => Ok(*n),
        Some(V::UInt(n)) => i64::try_from(*n).map_err(|_| overflow()),
        _ => err(format!("{function} expects an int argument")),
    }
}

fn owned<'a>(s: String) -> V<'a> {
    V::OwnedStr(Rc::from(s))
}

fn call<'a>(func: Func, receiver: Option<V<'a>>, mut args: Vec<V<'a>>) -> Result<V<'a>> {
    // Global calls (`size(x)`, `int(x)`) take the receiver as first argument.
    let this = match receiver {
        Some(r) => r,
        None if matches!(func, Func::OptionalNone) => V::Null,
        None if args.is_empty() => return err(format!("{func:?} needs an argument")),
        None => args.remove(0),
    };
    let text = this.as_str();
    match func {
        Func::Size => match &this {
            V::Json(Value::Array(items)) => Ok(V::Int(items.len() as i64)),
            V::Json(Value::Object(map)) => Ok(V::Int(map.len() as i64)),
            V::List(items) => Ok(V::Int(items.len() as i64)),
            V::Map(entries) => Ok(V::Int(entries.len() as i64)),
            other => match other.as_str() {
                Some(s) => Ok(V::Int(s.chars().count() as i64)),
                None => Err(no_overload("size", &[other])),
            },
        },
        Func::StartsWith | Func::EndsWith | Func::Contains | Func::IndexOf | Func::LastIndexOf => {
            let s = text.ok_or_else(|| no_overload("string function", &[&this]))?;
            let p = string_arg(&args, 0, "string function")?;
            Ok(match func {
                Func::StartsWith => V::Bool(s.starts_with(p)),
                Func::EndsWith => V::Bool(s.ends_with(p)),
                Func::Contains => V::Bool(s.contains(p)),
                Func::IndexOf => V::Int(s.find(p).map_or(-1, |b| s[..b].chars().count() as i64)),
                _ => V::Int(s.rfind(p).map_or(-1, |b| s[..b].chars().count() as i64)),
            })
        }
        Func::LowerAscii | Func::UpperAscii | Func::Trim => {
            let s = text.ok_or_else(|| no_overload("string function", &[&this]))?;
            Ok(owned(match func {
                Func::LowerAscii => s.to_ascii_lowercase(),
                Func::UpperAscii => s.to_ascii_uppercase(),
                _ => s.trim().to_owned(),
            }))
        }
        Func::Replace => {
            let s = text.ok_or_else(|| no_overload("replace", &[&this]))?;
            let from = string_arg(&args, 0, "replace")?;
            let to = string_arg(&args, 1, "replace")?;
            Ok(owned(s.replace(from, to)))
        }
        Func::Substring => {
            let s = text.ok_or_else(|| no_overload("substring", &[&this]))?;
            let chars: Vec<char> = s.chars().collect();
            let start = int_arg(&args, 0, "substring")?;
            let end = if args.len() > 1 {
                int_arg(&args, 1, "substring")?
            } else {
                chars.len() as i64
            };
            if start < 0 || end < start || end as usize > chars.len() {
                return err("substring index out of range");
            }
            Ok(owned(chars[start as usize..end as usize].iter().collect()))
        }
        Func::Split => {
            let s = text.ok_or_else(|| no_overload("split", &[&this]))?;
            let sep = string_arg(&args, 0, "split")?;
            Ok(V::List(Rc::new(
                s.split(sep).map(|p| owned(p.to_owned())).collect(),
            )))
        }
        Func::Join => {
            let items = this
                .list_items()
                .ok_or_else(|| no_overload("join", &[&this]))?;
            let sep = if args.is_empty() {
                ""
            } else {
                string_arg(&args, 0, "join")?
            };
            let parts: Option<Vec<&str>> = items.iter().map(V::as_str).collect();
            match parts {
                Some(parts) => Ok(owned(parts.join(sep))),
                None => err("join expects a list of strings"),
            }
        }
        Func::ToInt => match &this {
            V::Int(i) => Ok(V::Int(*i)),
            V::UInt(u) => i64::try_from(*u).map(V::Int).map_err(|_| overflow()),
            V::Double(d) if d.is_finite() && d.abs() < 9.2e18 => Ok(V::Int(d.trunc() as i64)),
            other => match other.as_str() {
                Some(s) => s
                    .parse()
                    .map(V::Int)
                    .map_err(|_| EvalError(format!("cannot convert '{s}' to int"))),
                None => Err(no_overload("int", &[other])),
            },
        },
        Func::ToUInt => match &this {
            V::UInt(u) => Ok(V::UInt(*u)),
            V::Int(i) => u64::try_from(*i).map(V::UInt).map_err(|_| overflow()),
            V::Double(d) if d.is_finite() && *d >= 0.0 && *d < 1.8e19 => {
                Ok(V::UInt(d.trunc() as u64))
            }
            other => match other.as_str() {
                Some(s) => s
                    .parse()
                    .map(V::UInt)
                    .map_err(|_| EvalError(format!("cannot convert '{s}' to uint"))),
                None => Err(no_overload("uint", &[other])),
            },
        },
        Func::ToDouble => match &this {
            other if number(other).is_some() => Ok(V::Double(number(other).unwrap_or_default())),
            other => match other.as_str() {
                Some(s) => s
                    .parse()
                    .map(V::Double)
                    .map_err(|_| EvalError(format!("cannot convert '{s}' to double"))),
                None => Err(no_overload("double", &[other])),
            },
        },
        Func::ToString => Ok(match &this {
            V::Int(i) => owned(i.to_string()),
            V::UInt(u) => owned(u.to_string()),
            V::Double(d) => owned(d.to_string()),
            V::Bool(b) => owned(b.to_string()),
            V::Str(s) => V::Str(s),
            V::OwnedStr(s) => V::OwnedStr(s.clone()),
            other => return Err(no_overload("string", &[other])),
        }),
        Func::ToBool => match &this {
            V::Bool(b) => Ok(V::Bool(*b)),
            other => match other.as_str() {
                Some("true" | "True" | "TRUE" | "t" | "1") => Ok(V::Bool(true)),
                Some("false" | "False" | "FALSE" | "f" | "0") => Ok(V::Bool(false)),
                _ => Err(no_overload("bool", &[other])),
            },
        },
        Func::OrValue => match this {
            V::Opt(Some(v)) => Ok(v.as_ref().clone()),
            V::Opt(None) => args
                .into_iter()
                .next()
                .ok_or_else(|| EvalError("orValue needs an argument".into())),
            other => Err(no_overload("orValue", &[&other])),
        },
        Func::HasValue => match this {
            V::Opt(v) => Ok(V::Bool(v.is_some())),
            other => Err(no_overload("hasValue", &[&other])),
        },
        Func::Value => match this {
            V::Opt(Some(v)) => Ok(v.as_ref().clone()),
            V::Opt(None) => err("optional.none() dereference"),
            other => Err(no_overload("value", &[&other])),
        },
        Func::Or => match this {
            V::Opt(Some(v)) => Ok(V::Opt(Some(v))),
            V::Opt(None) => match args.into_iter().next() {
                Some(V::Opt(o)) => Ok(V::Opt(o)),
                Some(other) => Err(no_overload("or", &[&other])),
                None => err("or needs an argument"),
            },
            other => Err(no_overload("or", &[&other])),
        },
        Func::OptionalOf => Ok(V::Opt(Some(Rc::new(this)))),
        Func::OptionalNone => Ok(V::Opt(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "a": {"b": 1, "neg": -5, "l": ["x", "y"], "s": "Abc:latest", "m": {"k": "v"},
                  "n": null, "f": 1.5, "t": true, "e": [], "nums": [3, 1, 2],
                  "objs": [{"name": "one", "v": 1}, {"name": "two", "v": 2}]},
            "z": "nginx@sha256:abc"
        })
    }

    /// Evaluates with our evaluator, `object` bound to the data.
    fn ours(source: &str, data: &Value) -> std::result::Result<String, String> {
        let parsed = parse(source)?;
        let program = compile(parsed.expression())?;
        let mut act = Activation::default();
        act.set(slot("object").unwrap_or(0), V::Json(data));
        program.eval(&mut act).map(|v| render(&v)).map_err(|e| e.0)
    }

    /// Evaluates with the cel crate's interpreter, the reference.
    fn reference(source: &str, data: &Value) -> std::result::Result<String, String> {
        let program = parse(source)?;
        let mut context = cel::Context::with_env(PARSER.clone());
        context
            .add_variable("object", cel::to_value(data).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        match program.execute(&context) {
            Ok(value) => Ok(render_reference(&value)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn render(v: &V<'_>) -> String {
        match v {
            V::Null => "null".into(),
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::UInt(u) => u.to_string(),
            V::Double(d) => format!("{d:?}"),
            V::Str(s) => format!("{s:?}"),
            V::OwnedStr(s) => format!("{:?}", s.as_ref()),
            V::Json(j) => j.to_string(),
            V::List(items) => format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(",")
            ),
            V::Map(_) => "map".into(),
            V::Opt(Some(v)) => format!("optional({})", render(v)),
            V::Opt(None) => "optional.none".into(),
        }
    }

    fn render_reference(v: &cel::Value) -> String {
        match v {
            cel::Value::Null => "null".into(),
            cel::Value::Bool(b) => b.to_string(),
            cel::Value::Int(i) => i.to_string(),
            cel::Value::UInt(u) => u.to_string(),
            cel::Value::Float(d) => format!("{d:?}"),
            cel::Value::String(s) => format!("{:?}", s.as_str()),
            cel::Value::List(items) => {
                format!(
                    "[{}]",
                    items
                        .iter()
                        .map(render_reference)
                        .collect::<Vec<_>>()
                        .join(",")
                )
            }
            other => match other.json() {
                Ok(json) => json.to_string(),
                Err(_) => format!("{other:?}"),
            },
        }
    }

    /// Expressions whose results must agree with the cel crate's interpreter wherever the
    /// reference gives a value (where it errs, ours must err too unless noted).
    const AGREE: &[&str] = &[
        "object.a.b == 1",
        "object.a.b != 2 && object.a.b > 0",
        "object.a.neg < 0",
        "object.a.f > 1.0 && object.a.f < 2",
        "object.a.?b.orValue(0) == 1",
        "object.a.?zz.?q.orValue(false)",
        "object.a.?zz.hasValue()",
        "object.a.?b.hasValue()",
        "has(object.a.b)",
        "has(object.a.zz)",
        "has(object.a.n)",
        "object.a.l.exists(x, x == 'y')",
        "object.a.l.all(x, x.size() == 1)",
        "object.a.l.exists_one(x, x == 'x')",
        "object.a.nums.filter(x, x > 1)",
        "object.a.objs.map(o, o.name)",
        "object.a.objs.exists(o, o.v == 2 && o.name.startsWith('t'))",
        "object.a.m.all(k, object.a.m[k] == 'v')",
        "object.a.m.exists(k, k == 'k')",
        "'y' in object.a.l",
        "'q' in object.a.l",
        "'k' in object.a.m",
        "object.a.s.endsWith(':latest')",
        "object.a.s.startsWith('Abc')",
        "object.a.s.contains('c:l')",
        "object.a.s.matches('^[A-Z]bc')",
        "object.z.matches('@sha256:[a-f0-9]+$')",
        "object.a.s.lowerAscii()",
        "object.a.s.upperAscii()",
        "object.a.s.substring(0, 3)",
        "object.a.s.indexOf(':')",
        "object.a.s.split(':')",
        "size(object.a.l) == 2",
        "object.a.l.size()",
        "size(object.a.m)",
        "size(object.a.s)",
        "object.a.e.size() == 0",
        "int('12') + 1",
        "string(object.a.b)",
        "string(true)",
        "object.a.t ? 'yes' : 'no'",
        "!object.a.t || object.a.b == 1",
        "[1, 2] + [3]",
        "'a' + 'b'",
        "object.a.?l[0].orValue('')",
        "object.a.?l[5].orValue('none')",
        "object.a.?m.k.orValue('')",
        "object.a.?zz.k.orValue('default')",
        "object.a[?'zz'].orValue(7)",
        "object.a['b']",
        "object.a.l[1]",
        "object.a.?m.orValue({}).all(k, k != '')",
        "object.a.?zz.orValue([]).exists(x, x)",
        "optional.of(1).hasValue()",
        "optional.none().orValue(3)",
        "object.a.?zz.or(optional.of(4)).value()",
        "object.a.n == null",
        "object.a.zz == 1",
        "object.a.l[9] == 'x'",
        "object.a.zz == 1 || true",
        "object.a.zz == 1 && false",
        "false && object.a.zz == 1",
        "true || object.a.zz",
        "object.a.s.size() > 3 ? object.a.s.substring(0, 3) : object.a.s",
        "object.a.nums.exists(n, n > 2) && !object.a.nums.all(n, n > 2)",
        "['a', 'b'].join('-')",
        "object.a.b / 0",
    ];

    #[test]
    fn agrees_with_the_reference_interpreter() {
        let data = data();
        let mut disagreements = Vec::new();
        for source in AGREE {
            let mine = ours(source, &data);
            let theirs = reference(source, &data);
            let agree = match (&mine, &theirs) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !agree {
                disagreements.push(format!("{source}: ours {mine:?}, reference {theirs:?}"));
            }
        }
        assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    }

    /// JSON integers are `int` here, as in Kubernetes' CEL; the cel crate reads positive ones
    /// as `uint` and then refuses `uint * int`.
    #[test]
    fn json_integers_are_int() {
        let data = data();
        assert_eq!(ours("object.a.b * 10 - 3", &data), Ok("7".into()));
        assert_eq!(
            ours("object.a.nums.map(x, x * 2)", &data),
            Ok("[6,2,4]".into())
        );
        assert!(reference("object.a.b * 10 - 3", &data).is_err());
    }

    #[test]
    fn optional_selection_on_null_is_none() {
        let data = json!({"securityContext": null});
        assert_eq!(
            ours("object.?securityContext.?privileged.orValue(false)", &data),
            Ok("false".into())
        );
    }

    #[test]
    fn unknown_functions_and_variables_fail_at_compile_time() {
        let parse = |s: &str| compile(parse(s).unwrap().expression()).map(|_| ());
        assert!(
            parse("object.a.frobnicate()")
                .unwrap_err()
                .contains("frobnicate")
        );
        assert!(parse("nobody.a").unwrap_err().contains("nobody"));
        assert!(
            parse("object.a.matches('(')")
                .unwrap_err()
                .contains("bad regex")
        );
    }
}
