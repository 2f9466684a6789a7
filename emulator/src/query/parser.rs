//! Recursive-descent parser for both dialects.
//!
//! Precedence, loosest first: `OR`, `AND`, `NOT`, comparisons / `IN` / `NIN`, `+ -`, `* / %`,
//! unary minus, primaries. Keywords are case-insensitive; property names are not.

use super::ast::{
    ArithOp, CompareOp, Expr, Function, Join, Path, Projection, ProjectionItem, ProjectionKind,
    Segment, Source,
};
use super::lexer::{Tok, Token, tokenize};
use super::{Dialect, Query, QueryError};
use serde_json::{Number, Value};

/// Words that cannot start a property path or be used as an alias.
const RESERVED: &[&str] = &[
    "SELECT",
    "TOP",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "NIN",
    "AS",
    "JOIN",
    "RELATED",
    "GROUP",
    "BY",
    "MATCH",
    "TRUE",
    "FALSE",
    "NULL",
    "UNDEFINED",
];

/// ADT allows at most this many JOINs per query.
const MAX_JOINS: usize = 5;
/// ADT allows at most this many values in an IN / NIN list.
const MAX_IN_VALUES: usize = 100;

pub(crate) struct Parser {
    toks: Vec<Token>,
    i: usize,
    dialect: Dialect,
    /// Aliases declared so far (FROM alias, JOIN aliases, relationship aliases).
    aliases: Vec<String>,
    /// First token of each projection item, to point errors at the item.
    item_toks: Vec<Token>,
}

fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

impl Parser {
    pub(crate) fn new(text: &str, dialect: Dialect) -> Result<Self, QueryError> {
        Ok(Self {
            toks: tokenize(text)?,
            i: 0,
            dialect,
            aliases: Vec::new(),
            item_toks: Vec::new(),
        })
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }

    fn peek_at(&self, n: usize) -> &Token {
        &self.toks[(self.i + n).min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn error_at(&self, tok: &Token, message: impl Into<String>) -> QueryError {
        QueryError {
            message: message.into(),
            position: tok.pos,
            near: tok.text.clone(),
        }
    }

    fn error(&self, message: impl Into<String>) -> QueryError {
        self.error_at(self.peek(), message)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.is_kw(kw);
        if hit {
            self.bump();
        }
        hit
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), QueryError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error(format!("expected {kw}")))
        }
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if *s == sym)
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        let hit = self.is_sym(sym);
        if hit {
            self.bump();
        }
        hit
    }

    fn expect_sym(&mut self, sym: &str, what: &str) -> Result<(), QueryError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.error(format!("expected '{sym}' {what}")))
        }
    }

    fn dialect_name(&self) -> &'static str {
        match self.dialect {
            Dialect::IotHub => "IoT Hub",
            Dialect::DigitalTwins => "Azure Digital Twins",
        }
    }

    /// An identifier usable as an alias (not a keyword).
    fn alias_name(&mut self, what: &str) -> Result<String, QueryError> {
        match &self.peek().tok {
            Tok::Ident(s) if !is_reserved(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.error(format!("expected {what}"))),
        }
    }

    fn declare_alias(&mut self, tok: &Token, name: String) -> Result<(), QueryError> {
        if self.aliases.contains(&name) {
            return Err(self.error_at(tok, format!("alias '{name}' is declared twice")));
        }
        self.aliases.push(name);
        Ok(())
    }

    // ---- query ------------------------------------------------------------------------------

    pub(crate) fn query(mut self) -> Result<Query, QueryError> {
        if !self.is_kw("SELECT") {
            return Err(self.error("expected SELECT at the start of the query"));
        }
        self.bump();
        let top = self.top()?;
        let star_tok = self.peek().clone();
        let projection = self.projection()?;
        if !self.is_kw("FROM") {
            return Err(self.error(match projection {
                Projection::All => "expected FROM",
                Projection::Items(_) => "expected ',' or FROM after a projection item",
            }));
        }
        self.bump();
        let (source, alias) = self.from()?;
        let joins = self.joins(source, alias.as_deref())?;
        let filter = if self.eat_kw("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let group_by = self.group_by(source)?;
        if self.is_kw("MATCH") {
            return Err(self.error(
                "MATCH is not supported by the emulator; express the pattern with JOIN … RELATED",
            ));
        }
        if !matches!(self.peek().tok, Tok::Eof) {
            let expected = match (self.dialect, filter.is_some()) {
                (Dialect::IotHub, false) => "expected WHERE, GROUP BY or end of query",
                (Dialect::IotHub, true) => {
                    "expected an operator (AND, OR, comparison), GROUP BY or end of query"
                }
                (Dialect::DigitalTwins, false) => "expected JOIN, WHERE or end of query",
                (Dialect::DigitalTwins, true) => {
                    "expected an operator (AND, OR, comparison) or end of query"
                }
            };
            return Err(self.error(expected));
        }
        let query = Query {
            dialect: self.dialect,
            top,
            projection,
            source,
            alias,
            joins,
            filter,
            group_by,
        };
        self.check(&query, &star_tok)?;
        Ok(query)
    }

    /// A bare condition (IoT Hub job `queryCondition`) spanning the whole text.
    pub(crate) fn condition(&mut self) -> Result<Expr, QueryError> {
        let e = self.expr()?;
        if !matches!(self.peek().tok, Tok::Eof) {
            return Err(
                self.error("expected an operator (AND, OR, comparison) or end of condition")
            );
        }
        Ok(e)
    }

    fn top(&mut self) -> Result<Option<u64>, QueryError> {
        if !self.eat_kw("TOP") {
            return Ok(None);
        }
        let paren = self.eat_sym("(");
        let tok = self.bump();
        let n = match tok.tok {
            Tok::Int(n) if n >= 0 => n as u64,
            _ => {
                return Err(self.error_at(&tok, "expected a non-negative integer after TOP"));
            }
        };
        if paren {
            self.expect_sym(")", "to close TOP(")?;
        }
        Ok(Some(n))
    }

    fn projection(&mut self) -> Result<Projection, QueryError> {
        if self.eat_sym("*") {
            return Ok(Projection::All);
        }
        let mut items = Vec::new();
        loop {
            let tok = self.peek().clone();
            self.item_toks.push(tok.clone());
            let kind = match &tok.tok {
                Tok::Ident(name) if matches!(self.peek_at(1).tok, Tok::Sym("(")) => {
                    let name = name.to_ascii_uppercase();
                    if name != "COUNT" {
                        let hint = if ["AVG", "SUM", "MIN", "MAX"].contains(&name.as_str()) {
                            format!(
                                "aggregate {name}() is not supported by the emulator; expected COUNT()"
                            )
                        } else {
                            format!(
                                "function {name}() cannot be projected; expected COUNT(), '*' or a property path"
                            )
                        };
                        return Err(self.error_at(&tok, hint));
                    }
                    self.bump();
                    self.bump();
                    self.expect_sym(")", "after COUNT(: COUNT takes no arguments")?;
                    ProjectionKind::Count
                }
                Tok::Ident(name) if !is_reserved(name) => ProjectionKind::Path(self.path()?),
                _ => {
                    return Err(
                        self.error("expected a projection: '*', COUNT() or a property path")
                    );
                }
            };
            let alias = if self.eat_kw("AS") {
                Some(self.alias_name("a column name after AS")?)
            } else {
                None
            };
            items.push(ProjectionItem { kind, alias });
            if !self.eat_sym(",") {
                break;
            }
        }
        Ok(Projection::Items(items))
    }

    fn from(&mut self) -> Result<(Source, Option<String>), QueryError> {
        let tok = self.peek().clone();
        let word = match &tok.tok {
            Tok::Ident(s) => s.to_ascii_lowercase(),
            _ => String::new(),
        };
        let source = match self.dialect {
            Dialect::IotHub => {
                let expected = "expected devices, devices.modules or devices.jobs after FROM";
                if word == "digitaltwins" || word == "relationships" {
                    return Err(self.error_at(
                        &tok,
                        format!("{} is an Azure Digital Twins source; {expected}", tok.text),
                    ));
                }
                if word != "devices" {
                    return Err(self.error_at(&tok, expected));
                }
                self.bump();
                if self.eat_sym(".") {
                    let sub = self.peek().clone();
                    match &sub.tok {
                        Tok::Ident(s) if s.eq_ignore_ascii_case("modules") => {
                            self.bump();
                            Source::DevicesModules
                        }
                        Tok::Ident(s) if s.eq_ignore_ascii_case("jobs") => {
                            self.bump();
                            Source::DevicesJobs
                        }
                        _ => return Err(self.error_at(&sub, expected)),
                    }
                } else {
                    Source::Devices
                }
            }
            Dialect::DigitalTwins => {
                let source = match word.as_str() {
                    "digitaltwins" => Source::DigitalTwins,
                    "relationships" => Source::Relationships,
                    "devices" => {
                        return Err(self.error_at(
                            &tok,
                            "devices is an IoT Hub source; expected DIGITALTWINS or RELATIONSHIPS after FROM",
                        ));
                    }
                    _ => {
                        return Err(self
                            .error_at(&tok, "expected DIGITALTWINS or RELATIONSHIPS after FROM"));
                    }
                };
                self.bump();
                source
            }
        };
        let has_as = self.is_kw("AS");
        let alias_start = matches!(&self.peek().tok, Tok::Ident(s) if !is_reserved(s));
        if !has_as && !alias_start {
            return Ok((source, None));
        }
        if self.dialect == Dialect::IotHub {
            return Err(self.error(
                "IoT Hub queries do not take a source alias; expected WHERE, GROUP BY or end of query",
            ));
        }
        if has_as {
            self.bump();
        }
        let tok = self.peek().clone();
        let alias = self.alias_name("an alias after AS")?;
        self.declare_alias(&tok, alias.clone())?;
        Ok((source, Some(alias)))
    }

    fn joins(&mut self, source: Source, from_alias: Option<&str>) -> Result<Vec<Join>, QueryError> {
        let mut joins = Vec::new();
        while self.is_kw("JOIN") {
            let join_tok = self.peek().clone();
            if self.dialect == Dialect::IotHub {
                return Err(self.error_at(&join_tok, "JOIN is not supported in IoT Hub queries"));
            }
            if source != Source::DigitalTwins {
                return Err(self.error_at(&join_tok, "JOIN needs FROM DIGITALTWINS"));
            }
            if from_alias.is_none() {
                return Err(self.error_at(
                    &join_tok,
                    "JOIN needs an alias on the FROM source, e.g. FROM DIGITALTWINS T JOIN …",
                ));
            }
            if joins.len() == MAX_JOINS {
                return Err(self.error_at(
                    &join_tok,
                    format!("at most {MAX_JOINS} JOINs are allowed in one query"),
                ));
            }
            self.bump();
            let alias_tok = self.peek().clone();
            let alias = self.alias_name("an alias for the joined twin after JOIN")?;
            self.declare_alias(&alias_tok, alias.clone())?;
            self.expect_kw("RELATED")?;
            let src_tok = self.peek().clone();
            let source_alias = self.alias_name("<alias>.<relationshipName> after RELATED")?;
            if !self.aliases.contains(&source_alias) || source_alias == alias {
                return Err(self.error_at(
                    &src_tok,
                    format!("unknown alias '{source_alias}' after RELATED: it must be declared earlier in FROM or JOIN"),
                ));
            }
            self.expect_sym(".", "between alias and relationship name after RELATED")?;
            let relationship_name = match self.bump() {
                Token {
                    tok: Tok::Ident(s), ..
                } => s,
                tok => {
                    return Err(
                        self.error_at(&tok, "expected a relationship name after RELATED <alias>.")
                    );
                }
            };
            let relationship_alias = match &self.peek().tok {
                Tok::Ident(s) if !is_reserved(s) => {
                    let tok = self.peek().clone();
                    let s = s.clone();
                    self.bump();
                    self.declare_alias(&tok, s.clone())?;
                    Some(s)
                }
                _ => None,
            };
            joins.push(Join {
                alias,
                source_alias,
                relationship_name,
                relationship_alias,
            });
        }
        Ok(joins)
    }

    fn group_by(&mut self, source: Source) -> Result<Vec<Path>, QueryError> {
        if !self.is_kw("GROUP") {
            return Ok(Vec::new());
        }
        let tok = self.peek().clone();
        if self.dialect == Dialect::DigitalTwins {
            return Err(self.error_at(
                &tok,
                "GROUP BY is not supported in Azure Digital Twins queries",
            ));
        }
        if source != Source::Devices {
            return Err(self.error_at(&tok, "GROUP BY is only supported on FROM devices"));
        }
        self.bump();
        self.expect_kw("BY")?;
        let mut paths = vec![self.path_start("a property path after GROUP BY")?];
        while self.eat_sym(",") {
            paths.push(self.path_start("a property path after ','")?);
        }
        Ok(paths)
    }

    /// Rules that need the whole query: projection vs JOIN, COUNT mixing, unknown aliases.
    fn check(&self, q: &Query, proj_tok: &Token) -> Result<(), QueryError> {
        let items: &[ProjectionItem] = match &q.projection {
            Projection::All => {
                if !q.joins.is_empty() {
                    return Err(self.error_at(
                        proj_tok,
                        "SELECT * is not allowed with JOIN; project aliases instead, e.g. SELECT T, CT",
                    ));
                }
                &[]
            }
            Projection::Items(items) => items,
        };
        let at_proj = |m: String| self.error_at(proj_tok, m);
        if q.source == Source::DevicesJobs && !matches!(q.projection, Projection::All) {
            return Err(at_proj("devices.jobs queries support only SELECT *".into()));
        }
        let counts = items
            .iter()
            .filter(|i| i.kind == ProjectionKind::Count)
            .count();
        if counts > 1 {
            return Err(at_proj(
                "COUNT() may appear only once in a projection".into(),
            ));
        }
        if counts == 1 && items.len() > 1 && q.group_by.is_empty() {
            let count_tok = items
                .iter()
                .zip(&self.item_toks)
                .find(|(i, _)| i.kind == ProjectionKind::Count)
                .map_or(proj_tok, |(_, t)| t);
            return Err(self.error_at(
                count_tok,
                match q.dialect {
                    Dialect::IotHub => {
                        "properties projected next to COUNT() must be grouped: add GROUP BY"
                    }
                    Dialect::DigitalTwins => "COUNT() cannot be combined with other projections",
                },
            ));
        }
        if !q.group_by.is_empty() && counts == 0 {
            return Err(at_proj("GROUP BY needs COUNT() in the projection".into()));
        }
        let mut names: Vec<&str> = Vec::new();
        for (item, tok) in items.iter().zip(&self.item_toks) {
            let at_item = |m: String| self.error_at(tok, m);
            let name = item.alias.as_deref().unwrap_or(match &item.kind {
                ProjectionKind::Path(p) => p.column_name(),
                ProjectionKind::Count => "",
            });
            if !name.is_empty() && names.contains(&name) {
                return Err(at_item(format!(
                    "two projected columns are both named '{name}': rename one with AS"
                )));
            }
            names.push(name);
            if let ProjectionKind::Path(p) = &item.kind
                && !q.joins.is_empty()
                && !self.aliases.iter().any(|a| a == p.head())
            {
                return Err(at_item(format!(
                    "unknown alias '{}' in projection: with JOIN every path starts with a declared alias",
                    p.head()
                )));
            }
        }
        Ok(())
    }

    // ---- expressions ------------------------------------------------------------------------

    pub(crate) fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.eat_kw("OR") {
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.eat_kw("AND") {
            let right = self.not_expr()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, QueryError> {
        let left = self.additive()?;
        let op = match &self.peek().tok {
            Tok::Sym("=") => Some(CompareOp::Eq),
            Tok::Sym("!=" | "<>") => Some(CompareOp::Ne),
            Tok::Sym("<") => Some(CompareOp::Lt),
            Tok::Sym("<=") => Some(CompareOp::Le),
            Tok::Sym(">") => Some(CompareOp::Gt),
            Tok::Sym(">=") => Some(CompareOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let right = self.additive()?;
            return Ok(Expr::Compare(op, Box::new(left), Box::new(right)));
        }
        let negated = if self.is_kw("NIN") {
            self.bump();
            true
        } else if self.is_kw("NOT")
            && matches!(&self.peek_at(1).tok, Tok::Ident(s) if s.eq_ignore_ascii_case("IN"))
        {
            self.bump();
            self.bump();
            true
        } else if self.eat_kw("IN") {
            false
        } else {
            return Ok(left);
        };
        let list = self.in_list()?;
        Ok(Expr::In {
            expr: Box::new(left),
            list,
            negated,
        })
    }

    fn in_list(&mut self) -> Result<Vec<Value>, QueryError> {
        let close = if self.eat_sym("[") {
            "]"
        } else if self.eat_sym("(") {
            ")"
        } else {
            return Err(self.error("expected '[' or '(' to open the value list after IN / NIN"));
        };
        let mut list = Vec::new();
        if !self.eat_sym(close) {
            loop {
                let tok = self.peek().clone();
                match self.unary()? {
                    Expr::Literal(v) => list.push(v),
                    _ => {
                        return Err(self.error_at(
                            &tok,
                            "IN / NIN lists hold constants only (strings, numbers, true, false, null)",
                        ));
                    }
                }
                if self.eat_sym(close) {
                    break;
                }
                if !self.eat_sym(",") {
                    return Err(
                        self.error(format!("expected ',' or '{close}' in the IN / NIN list"))
                    );
                }
            }
        }
        if self.dialect == Dialect::DigitalTwins && list.len() > MAX_IN_VALUES {
            return Err(self.error_at(
                &self.toks[self.i - 1],
                format!("IN / NIN lists hold at most {MAX_IN_VALUES} values"),
            ));
        }
        Ok(list)
    }

    fn arith_allowed(&self, tok: &Token) -> Result<(), QueryError> {
        if self.dialect == Dialect::DigitalTwins {
            return Err(self.error_at(
                tok,
                "arithmetic operators are not supported in Azure Digital Twins queries",
            ));
        }
        Ok(())
    }

    fn additive(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().tok {
                Tok::Sym("+") => ArithOp::Add,
                Tok::Sym("-") => ArithOp::Sub,
                _ => return Ok(left),
            };
            let tok = self.bump();
            self.arith_allowed(&tok)?;
            let right = self.multiplicative()?;
            left = Expr::Arith(op, Box::new(left), Box::new(right));
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Sym("*") => ArithOp::Mul,
                Tok::Sym("/") => ArithOp::Div,
                Tok::Sym("%") => ArithOp::Rem,
                _ => return Ok(left),
            };
            let tok = self.bump();
            self.arith_allowed(&tok)?;
            let right = self.unary()?;
            left = Expr::Arith(op, Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if !self.is_sym("-") {
            return self.primary();
        }
        let tok = self.bump();
        let inner = self.unary()?;
        if let Expr::Literal(Value::Number(n)) = &inner {
            let negated = match n.as_i64() {
                Some(i) if i != i64::MIN => Number::from(-i),
                _ => {
                    Number::from_f64(-n.as_f64().unwrap_or(0.0)).unwrap_or_else(|| Number::from(0))
                }
            };
            return Ok(Expr::Literal(Value::Number(negated)));
        }
        self.arith_allowed(&tok)?;
        Ok(Expr::Neg(Box::new(inner)))
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let tok = self.peek().clone();
        match &tok.tok {
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Literal(Value::String(s.clone())))
            }
            Tok::Int(n) => {
                self.bump();
                Ok(Expr::Literal(Value::Number(Number::from(*n))))
            }
            Tok::Float(x) => {
                self.bump();
                let n = Number::from_f64(*x)
                    .ok_or_else(|| self.error_at(&tok, "number out of range"))?;
                Ok(Expr::Literal(Value::Number(n)))
            }
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_sym(")", "to close '('")?;
                Ok(e)
            }
            Tok::Ident(word) => {
                let upper = word.to_ascii_uppercase();
                match upper.as_str() {
                    "TRUE" => {
                        self.bump();
                        return Ok(Expr::Literal(Value::Bool(true)));
                    }
                    "FALSE" => {
                        self.bump();
                        return Ok(Expr::Literal(Value::Bool(false)));
                    }
                    "NULL" => {
                        self.bump();
                        return Ok(Expr::Literal(Value::Null));
                    }
                    "UNDEFINED" if self.dialect == Dialect::IotHub => {
                        self.bump();
                        return Ok(Expr::Undefined);
                    }
                    _ => {}
                }
                if matches!(self.peek_at(1).tok, Tok::Sym("(")) {
                    return self.call(&tok, &upper);
                }
                self.path_start("a value: a constant, a property path, a function call or '('")
                    .map(Expr::Path)
            }
            _ => {
                Err(self
                    .error("expected a value: a constant, a property path, a function call or '('"))
            }
        }
    }

    fn function(&self, tok: &Token, upper: &str) -> Result<Function, QueryError> {
        let f = match upper {
            "IS_DEFINED" => Function::IsDefined,
            "IS_NULL" => Function::IsNull,
            "IS_BOOL" => Function::IsBool,
            "IS_NUMBER" => Function::IsNumber,
            "IS_STRING" => Function::IsString,
            "IS_OBJECT" => Function::IsObject,
            "IS_ARRAY" => Function::IsArray,
            "IS_PRIMITIVE" => Function::IsPrimitive,
            "STARTSWITH" => Function::StartsWith,
            "ENDSWITH" => Function::EndsWith,
            "STARTS_WITH" if self.dialect == Dialect::IotHub => Function::StartsWith,
            "ENDS_WITH" if self.dialect == Dialect::IotHub => Function::EndsWith,
            "CONTAINS" => Function::Contains,
            "ARRAY_CONTAINS" => Function::ArrayContains,
            "COUNT" => {
                return Err(self.error_at(tok, "COUNT() may only appear in the SELECT list"));
            }
            _ => {
                return Err(self.error_at(tok, format!("unknown function '{}'", tok.text)));
            }
        };
        let allowed = match self.dialect {
            Dialect::IotHub => !matches!(f, Function::Contains | Function::ArrayContains),
            Dialect::DigitalTwins => f != Function::IsArray,
        };
        if !allowed {
            return Err(self.error_at(
                tok,
                format!(
                    "function {} is not supported in {} queries",
                    f.name(),
                    self.dialect_name()
                ),
            ));
        }
        Ok(f)
    }

    fn call(&mut self, tok: &Token, upper: &str) -> Result<Expr, QueryError> {
        if upper == "IS_OF_MODEL" {
            if self.dialect == Dialect::IotHub {
                return Err(self.error_at(
                    tok,
                    "function IS_OF_MODEL is not supported in IoT Hub queries",
                ));
            }
            return self.is_of_model();
        }
        let func = self.function(tok, upper)?;
        self.bump();
        self.bump();
        let mut args = Vec::new();
        if !self.eat_sym(")") {
            loop {
                args.push(self.expr()?);
                if self.eat_sym(")") {
                    break;
                }
                if !self.eat_sym(",") {
                    return Err(self.error(format!(
                        "expected ',' or ')' in the arguments of {}",
                        func.name()
                    )));
                }
            }
        }
        if args.len() != func.arity() {
            return Err(self.error_at(
                tok,
                format!(
                    "{} takes {} argument{}, got {}",
                    func.name(),
                    func.arity(),
                    if func.arity() == 1 { "" } else { "s" },
                    args.len()
                ),
            ));
        }
        Ok(Expr::Call(func, args))
    }

    fn is_of_model(&mut self) -> Result<Expr, QueryError> {
        self.bump();
        self.bump();
        let alias = match &self.peek().tok {
            Tok::Ident(name) if !is_reserved(name) => {
                let tok = self.peek().clone();
                let name = name.clone();
                if !self.aliases.contains(&name) {
                    return Err(self.error_at(
                        &tok,
                        format!(
                            "unknown alias '{name}' in IS_OF_MODEL: declare it in FROM or JOIN"
                        ),
                    ));
                }
                self.bump();
                self.expect_sym(",", "after the alias in IS_OF_MODEL")?;
                Some(name)
            }
            _ => None,
        };
        let tok = self.bump();
        let model = match tok.tok {
            Tok::Str(s) => s,
            _ => {
                return Err(self.error_at(
                    &tok,
                    "expected the model id as a string in IS_OF_MODEL, e.g. 'dtmi:example:Room;1'",
                ));
            }
        };
        let exact = if self.eat_sym(",") {
            if !self.eat_kw("exact") {
                return Err(self.error("expected exact as the last argument of IS_OF_MODEL"));
            }
            true
        } else {
            false
        };
        self.expect_sym(")", "to close IS_OF_MODEL(")?;
        Ok(Expr::IsOfModel {
            alias,
            model,
            exact,
        })
    }

    /// A path whose first segment must be a non-reserved identifier.
    fn path_start(&mut self, expected: &str) -> Result<Path, QueryError> {
        match &self.peek().tok {
            Tok::Ident(s) if !is_reserved(s) => self.path(),
            _ => Err(self.error(format!("expected {expected}"))),
        }
    }

    fn path(&mut self) -> Result<Path, QueryError> {
        let first = match self.bump().tok {
            Tok::Ident(s) => s,
            _ => unreachable!("path() is called on an identifier"),
        };
        let mut segments = vec![Segment::Field(first)];
        loop {
            if self.eat_sym(".") {
                let tok = self.bump();
                match tok.tok {
                    Tok::Ident(s) => segments.push(Segment::Field(s)),
                    _ => return Err(self.error_at(&tok, "expected a property name after '.'")),
                }
            } else if self.is_sym("[") && matches!(self.peek_at(1).tok, Tok::Str(_) | Tok::Int(_)) {
                self.bump();
                let tok = self.bump();
                match tok.tok {
                    Tok::Str(s) => segments.push(Segment::Field(s)),
                    Tok::Int(n) if n >= 0 => segments.push(Segment::Index(n as usize)),
                    _ => return Err(self.error_at(&tok, "expected a non-negative array index")),
                }
                self.expect_sym("]", "to close the path segment")?;
            } else {
                return Ok(Path { segments });
            }
        }
    }
}
