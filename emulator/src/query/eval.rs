//! Evaluation of expressions over JSON documents.
//!
//! Values follow the services' (Cosmos-style) semantics: a missing property is *undefined*
//! (distinct from `null`); comparing values of different types, or anything with undefined,
//! yields undefined rather than an error; only a boolean `true` passes a filter. Logic is
//! three-valued: `false AND undefined` is false, `true OR undefined` is true, `NOT undefined`
//! stays undefined (so `NOT (x = 1)` does not match rows where `x` is missing).

use super::ast::{ArithOp, CompareOp, Expr, Function, Path, Segment};
use super::{Bindings, Dialect, EvalContext};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

/// An evaluated value: `None` is undefined.
pub(crate) type Val<'a> = Option<Cow<'a, Value>>;

fn name_eq(dialect: Dialect, a: &str, b: &str) -> bool {
    match dialect {
        Dialect::IotHub => a.eq_ignore_ascii_case(b),
        Dialect::DigitalTwins => a == b,
    }
}

/// Result of resolving a path: the value (if defined) and the key name it was found under
/// (differs from the written name when IoT Hub matched a top-level property case-insensitively).
pub(crate) struct Resolved<'a> {
    pub value: Option<&'a Value>,
    pub key: Option<&'a str>,
}

/// Resolves `path` in a row: a leading alias (or IoT Hub source name such as `devices.jobs`)
/// selects the bound document, otherwise the default document is used.
pub(crate) fn resolve<'a>(dialect: Dialect, path: &Path, b: &Bindings<'a>) -> Resolved<'a> {
    let mut best: Option<(usize, &'a Value)> = None;
    for (name, doc) in &b.entries {
        // Does the dotted binding name (`T`, `devices.jobs`) prefix the path? No allocation.
        let mut len = 0;
        let mut segs = path.segments.iter();
        let prefix = name.split('.').all(|part| {
            len += 1;
            matches!(segs.next(), Some(Segment::Field(f)) if name_eq(dialect, part, f))
        });
        if prefix && best.is_none_or(|(n, _)| len > n) {
            best = Some((len, *doc));
        }
    }
    let (skip, base) = match (best, b.default) {
        (Some((n, doc)), _) => (n, doc),
        (None, Some(doc)) => (0, doc),
        (None, None) => {
            return Resolved {
                value: None,
                key: None,
            };
        }
    };
    let mut cur = base;
    let mut key: Option<&'a str> = None;
    for (depth, seg) in path.segments[skip..].iter().enumerate() {
        match seg {
            Segment::Field(f) => {
                let Some(obj) = cur.as_object() else {
                    return Resolved {
                        value: None,
                        key: None,
                    };
                };
                let found = match obj.get_key_value(f.as_str()) {
                    Some(kv) => Some(kv),
                    // IoT Hub matches top-level (system) properties case-insensitively.
                    None if depth == 0 && dialect == Dialect::IotHub => {
                        obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(f))
                    }
                    None => None,
                };
                match found {
                    Some((k, v)) => {
                        key = Some(k.as_str());
                        cur = v;
                    }
                    None => {
                        return Resolved {
                            value: None,
                            key: None,
                        };
                    }
                }
            }
            Segment::Index(n) => match cur.as_array().and_then(|a| a.get(*n)) {
                Some(v) => cur = v,
                None => {
                    return Resolved {
                        value: None,
                        key: None,
                    };
                }
            },
        }
    }
    Resolved {
        value: Some(cur),
        key,
    }
}

fn boolean<'a>(b: bool) -> Val<'a> {
    Some(Cow::Owned(Value::Bool(b)))
}

fn truth(v: &Val<'_>) -> Option<bool> {
    match v.as_deref() {
        Some(Value::Bool(b)) => Some(*b),
        _ => None,
    }
}

fn tri<'a>(t: Option<bool>) -> Val<'a> {
    t.and_then(boolean)
}

/// Numeric order of two JSON numbers, exact for integers.
fn cmp_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Equality as the services define it: `None` when the operands are not comparable
/// (different types, objects, arrays). `null` equals only `null`.
pub(crate) fn equals(a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Null, Value::Null) => Some(true),
        (Value::Null, Value::Bool(_) | Value::Number(_) | Value::String(_))
        | (Value::Bool(_) | Value::Number(_) | Value::String(_), Value::Null) => Some(false),
        (Value::Bool(x), Value::Bool(y)) => Some(x == y),
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y).map(|o| o == Ordering::Equal),
        (Value::String(x), Value::String(y)) => Some(x == y),
        _ => None,
    }
}

/// Ordering for `< <= > >=`: numbers numerically, strings ordinally; anything else is not ordered.
fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => cmp_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare<'a>(op: CompareOp, a: &Val<'_>, b: &Val<'_>) -> Val<'a> {
    let (Some(a), Some(b)) = (a.as_deref(), b.as_deref()) else {
        return None;
    };
    let r = match op {
        CompareOp::Eq => equals(a, b),
        CompareOp::Ne => equals(a, b).map(|e| !e),
        CompareOp::Lt => order(a, b).map(Ordering::is_lt),
        CompareOp::Le => order(a, b).map(Ordering::is_le),
        CompareOp::Gt => order(a, b).map(Ordering::is_gt),
        CompareOp::Ge => order(a, b).map(Ordering::is_ge),
    };
    tri(r)
}

fn arith<'a>(op: ArithOp, a: &Val<'_>, b: &Val<'_>) -> Val<'a> {
    let (Some(Value::Number(x)), Some(Value::Number(y))) = (a.as_deref(), b.as_deref()) else {
        return None;
    };
    let ints = x.as_i64().zip(y.as_i64());
    let n = match (op, ints) {
        (ArithOp::Add, Some((x, y))) => x.checked_add(y).map(Number::from),
        (ArithOp::Sub, Some((x, y))) => x.checked_sub(y).map(Number::from),
        (ArithOp::Mul, Some((x, y))) => x.checked_mul(y).map(Number::from),
        (ArithOp::Div, Some((x, y))) if y != 0 && x % y == 0 => x.checked_div(y).map(Number::from),
        (ArithOp::Rem, Some((x, y))) if y != 0 => x.checked_rem(y).map(Number::from),
        _ => None,
    };
    let n = match n {
        Some(n) => n,
        None => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            let r = match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                ArithOp::Div if y != 0.0 => x / y,
                ArithOp::Rem if y != 0.0 => x % y,
                _ => return None,
            };
            Number::from_f64(r)?
        }
    };
    Some(Cow::Owned(Value::Number(n)))
}

fn strings<'v>(a: &'v Val<'_>, b: &'v Val<'_>) -> Option<(&'v str, &'v str)> {
    match (a.as_deref(), b.as_deref()) {
        (Some(Value::String(x)), Some(Value::String(y))) => Some((x, y)),
        _ => None,
    }
}

/// Evaluates `e` in the row `b`.
pub(crate) fn eval<'a>(
    dialect: Dialect,
    e: &'a Expr,
    b: &Bindings<'a>,
    ctx: &dyn EvalContext,
) -> Val<'a> {
    let ev = |e: &'a Expr| eval(dialect, e, b, ctx);
    match e {
        Expr::Literal(v) => Some(Cow::Borrowed(v)),
        Expr::Undefined => None,
        Expr::Path(p) => resolve(dialect, p, b).value.map(Cow::Borrowed),
        Expr::Not(x) => tri(truth(&ev(x)).map(|t| !t)),
        Expr::And(x, y) => match truth(&ev(x)) {
            Some(false) => boolean(false),
            l => match (l, truth(&ev(y))) {
                (_, Some(false)) => boolean(false),
                (Some(true), Some(true)) => boolean(true),
                _ => None,
            },
        },
        Expr::Or(x, y) => match truth(&ev(x)) {
            Some(true) => boolean(true),
            l => match (l, truth(&ev(y))) {
                (_, Some(true)) => boolean(true),
                (Some(false), Some(false)) => boolean(false),
                _ => None,
            },
        },
        Expr::Compare(op, x, y) => compare(*op, &ev(x), &ev(y)),
        Expr::Arith(op, x, y) => arith(*op, &ev(x), &ev(y)),
        Expr::Neg(x) => arith(ArithOp::Sub, &Some(Cow::Owned(Value::from(0))), &ev(x)),
        Expr::In {
            expr,
            list,
            negated,
        } => {
            let v = ev(expr)?;
            let found = list.iter().any(|item| equals(&v, item) == Some(true));
            boolean(found != *negated)
        }
        Expr::Call(f, args) => {
            // Arity is checked by the parser (1 or 2); evaluate without allocating.
            let first = args.first().and_then(ev);
            let second = args.get(1).and_then(ev);
            call(*f, &first, &second)
        }
        Expr::IsOfModel {
            alias,
            model,
            exact,
        } => {
            let twin = match alias {
                Some(a) => b.get(a),
                None => b.default.or_else(|| b.entries.first().map(|(_, d)| *d)),
            }?;
            boolean(ctx.is_of_model(twin, model, *exact))
        }
    }
}

fn call<'a>(f: Function, arg1: &Val<'_>, arg2: &Val<'_>) -> Val<'a> {
    let first = arg1.as_deref();
    match f {
        Function::IsDefined => boolean(first.is_some()),
        Function::IsNull => boolean(matches!(first, Some(Value::Null))),
        Function::IsBool => boolean(matches!(first, Some(Value::Bool(_)))),
        Function::IsNumber => boolean(matches!(first, Some(Value::Number(_)))),
        Function::IsString => boolean(matches!(first, Some(Value::String(_)))),
        Function::IsObject => boolean(matches!(first, Some(Value::Object(_)))),
        Function::IsArray => boolean(matches!(first, Some(Value::Array(_)))),
        Function::IsPrimitive => boolean(matches!(
            first,
            Some(Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_))
        )),
        Function::StartsWith => tri(strings(arg1, arg2).map(|(s, p)| s.starts_with(p))),
        Function::EndsWith => tri(strings(arg1, arg2).map(|(s, p)| s.ends_with(p))),
        Function::Contains => tri(strings(arg1, arg2).map(|(s, p)| s.contains(p))),
        Function::ArrayContains => match (first, arg2.as_deref()) {
            (Some(Value::Array(items)), Some(v)) => {
                boolean(items.iter().any(|i| equals(i, v) == Some(true)))
            }
            _ => None,
        },
    }
}
