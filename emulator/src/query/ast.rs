//! Syntax tree of a parsed query. Public so executors can inspect a query (e.g. to spot
//! `WHERE T.$dtId = '…'`), and printable: `Display` writes canonical text that parses back to
//! an equal tree.

use serde_json::Value;
use std::fmt;

/// The collection a query reads, named as in its `FROM` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// IoT Hub `FROM devices`: device twins.
    Devices,
    /// IoT Hub `FROM devices.modules`: module twins.
    DevicesModules,
    /// IoT Hub `FROM devices.jobs`: per-device job rows.
    DevicesJobs,
    /// ADT `FROM DIGITALTWINS`: twins.
    DigitalTwins,
    /// ADT `FROM RELATIONSHIPS`: relationships.
    Relationships,
}

impl Source {
    /// The name as written in `FROM`; IoT Hub paths may start with it (`devices.jobs.status`).
    pub fn name(self) -> &'static str {
        match self {
            Source::Devices => "devices",
            Source::DevicesModules => "devices.modules",
            Source::DevicesJobs => "devices.jobs",
            Source::DigitalTwins => "DIGITALTWINS",
            Source::Relationships => "RELATIONSHIPS",
        }
    }
}

/// One step of a property path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Object member, from `.name` or `['name']`.
    Field(String),
    /// Array element, from `[n]`.
    Index(usize),
}

/// A dotted property path such as `properties.reported.temp` or `T.$metadata.$model`.
/// The first segment may name a bound alias; otherwise the path is read from the row's document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    /// Segments in order; the first is always a [`Segment::Field`].
    pub segments: Vec<Segment>,
}

impl Path {
    /// Name the services give this path's column in a projection: its last field name.
    pub fn column_name(&self) -> &str {
        self.segments
            .iter()
            .rev()
            .find_map(|s| match s {
                Segment::Field(f) => Some(f.as_str()),
                Segment::Index(_) => None,
            })
            .unwrap_or("")
    }

    /// The first segment, which may be an alias (`T` in `T.name`).
    pub fn head(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Field(f)) => f,
            _ => "",
        }
    }
}

/// What the `SELECT` clause asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// `SELECT *`: each row is the document itself.
    All,
    /// `SELECT a, b.c AS d, COUNT() AS n`: each row is an object of the listed columns.
    Items(Vec<ProjectionItem>),
}

/// One column of a projection list.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectionItem {
    /// What the column holds.
    pub kind: ProjectionKind,
    /// Name given with `AS`, if any.
    pub alias: Option<String>,
}

/// Content of a projection column.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectionKind {
    /// A property path or a whole aliased document (`T`).
    Path(Path),
    /// The aggregate `COUNT()`.
    Count,
}

/// ADT `JOIN <alias> RELATED <source_alias>.<relationship_name> [<relationship_alias>]`:
/// for each row, `alias` is bound to each target of `source_alias`'s relationships named
/// `relationship_name`, and `relationship_alias` (if given) to the relationship itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// Alias bound to the target twin.
    pub alias: String,
    /// Alias of the twin whose outgoing relationships are followed.
    pub source_alias: String,
    /// Relationship name (`$relationshipName`) to follow.
    pub relationship_name: String,
    /// Alias bound to the relationship document, if the query names it.
    pub relationship_alias: Option<String>,
}

/// Comparison operators; `<>` parses as [`CompareOp::Ne`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CompareOp {
    /// Operator text as printed.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

/// Arithmetic operators (IoT Hub only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl ArithOp {
    /// Operator text as printed.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }
}

/// Built-in functions other than `IS_OF_MODEL` (which has its own [`Expr`] variant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `IS_DEFINED(x)`: x has a value (null counts).
    IsDefined,
    /// `IS_NULL(x)`
    IsNull,
    /// `IS_BOOL(x)`
    IsBool,
    /// `IS_NUMBER(x)`
    IsNumber,
    /// `IS_STRING(x)`
    IsString,
    /// `IS_OBJECT(x)`
    IsObject,
    /// `IS_ARRAY(x)` (IoT Hub)
    IsArray,
    /// `IS_PRIMITIVE(x)`: string, number, bool or null.
    IsPrimitive,
    /// `STARTSWITH(s, prefix)` (IoT Hub also accepts `STARTS_WITH`)
    StartsWith,
    /// `ENDSWITH(s, suffix)` (IoT Hub also accepts `ENDS_WITH`)
    EndsWith,
    /// `CONTAINS(s, part)` (ADT)
    Contains,
    /// `ARRAY_CONTAINS(array, value)` (ADT)
    ArrayContains,
}

impl Function {
    /// Canonical name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Function::IsDefined => "IS_DEFINED",
            Function::IsNull => "IS_NULL",
            Function::IsBool => "IS_BOOL",
            Function::IsNumber => "IS_NUMBER",
            Function::IsString => "IS_STRING",
            Function::IsObject => "IS_OBJECT",
            Function::IsArray => "IS_ARRAY",
            Function::IsPrimitive => "IS_PRIMITIVE",
            Function::StartsWith => "STARTSWITH",
            Function::EndsWith => "ENDSWITH",
            Function::Contains => "CONTAINS",
            Function::ArrayContains => "ARRAY_CONTAINS",
        }
    }

    /// Number of arguments the function takes.
    pub fn arity(self) -> usize {
        match self {
            Function::StartsWith
            | Function::EndsWith
            | Function::Contains
            | Function::ArrayContains => 2,
            _ => 1,
        }
    }
}

/// An expression of the `WHERE` clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant: string, number, `true`, `false` or `null`.
    Literal(Value),
    /// The IoT Hub constant `undefined`.
    Undefined,
    /// A property path.
    Path(Path),
    /// `NOT e`
    Not(Box<Expr>),
    /// `a AND b`
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`
    Or(Box<Expr>, Box<Expr>),
    /// `a <op> b`
    Compare(CompareOp, Box<Expr>, Box<Expr>),
    /// `a <op> b` with an arithmetic operator (IoT Hub).
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// Unary minus on a non-constant (IoT Hub); minus on a number literal folds into it.
    Neg(Box<Expr>),
    /// `e IN [..]` (`negated`: `NIN` / `NOT IN`); the list holds constants.
    In {
        /// The tested value.
        expr: Box<Expr>,
        /// The constants.
        list: Vec<Value>,
        /// True for `NIN` / `NOT IN`.
        negated: bool,
    },
    /// A built-in function call.
    Call(Function, Vec<Expr>),
    /// ADT `IS_OF_MODEL([alias,] 'dtmi:…' [, exact])`, answered by [`super::EvalContext`].
    IsOfModel {
        /// Twin alias; `None` means the row's default document.
        alias: Option<String>,
        /// Model id.
        model: String,
        /// `exact`: no inheritance.
        exact: bool,
    },
}

pub(crate) fn write_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("'")?;
    for c in s.chars() {
        match c {
            '\'' => f.write_str("\\'")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("'")
}

pub(crate) fn write_value(f: &mut fmt::Formatter<'_>, v: &Value) -> fmt::Result {
    match v {
        Value::String(s) => write_string(f, s),
        Value::Number(n) => match n.as_i64() {
            Some(i) => write!(f, "{i}"),
            None => write!(f, "{:?}", n.as_f64().unwrap_or(0.0)),
        },
        other => write!(f, "{other}"),
    }
}

fn is_plain_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$' || c == '@')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '@')
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) if is_plain_ident(name) => write!(f, ".{name}")?,
                Segment::Field(name) => {
                    f.write_str("[")?;
                    write_string(f, name)?;
                    f.write_str("]")?;
                }
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Expr {
    /// Fully parenthesised, so that printing and re-parsing gives back the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(v) => write_value(f, v),
            Expr::Undefined => f.write_str("undefined"),
            Expr::Path(p) => write!(f, "{p}"),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::And(a, b) => write!(f, "({a} AND {b})"),
            Expr::Or(a, b) => write!(f, "({a} OR {b})"),
            Expr::Compare(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Arith(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Neg(e) => write!(f, "(-{e})"),
            Expr::In {
                expr,
                list,
                negated,
            } => {
                write!(f, "({expr} {} [", if *negated { "NIN" } else { "IN" })?;
                for (i, v) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_value(f, v)?;
                }
                f.write_str("])")
            }
            Expr::Call(func, args) => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::IsOfModel {
                alias,
                model,
                exact,
            } => {
                f.write_str("IS_OF_MODEL(")?;
                if let Some(a) = alias {
                    write!(f, "{a}, ")?;
                }
                write_string(f, model)?;
                if *exact {
                    f.write_str(", exact")?;
                }
                f.write_str(")")
            }
        }
    }
}
