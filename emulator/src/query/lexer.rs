//! Tokeniser shared by both dialects. Positions are counted in characters so that error
//! messages point at the same column a user sees in their query text.

use super::QueryError;

/// One token kind. Keywords are not distinguished here: the parser compares identifiers
/// case-insensitively, because property names that look like keywords (`tags.from`) are legal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Identifier or keyword: letters, digits, `_`, `$`, `@`, not starting with a digit.
    Ident(String),
    /// String literal, escapes already decoded.
    Str(String),
    /// Integer literal (decimal or `0x` hex).
    Int(i64),
    /// Number with a fraction or exponent.
    Float(f64),
    /// Punctuation or operator, e.g. `(`, `<=`, `!=`.
    Sym(&'static str),
    /// End of the query text.
    Eof,
}

/// A token with its character offset and source text (for "near '…'" in errors).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
    pub text: String,
}

fn err(message: impl Into<String>, pos: usize, near: impl Into<String>) -> QueryError {
    QueryError {
        message: message.into(),
        position: pos,
        near: near.into(),
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$' || c == '@'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == '@'
}

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let after_dot = matches!(
            out.last(),
            Some(Token {
                tok: Tok::Sym("."),
                ..
            })
        );
        let tok = if c == '[' && after_dot && chars.get(i + 1) == Some(&'[') {
            // IoT Hub writes property names with special characters as `.[[name]]`
            // (e.g. `configurations.[[my-config]].status`, as the service's own metric queries do).
            let name_start = i + 2;
            let end = (name_start..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == ']' && chars[j + 1] == ']')
                .ok_or_else(|| {
                    err(
                        "unterminated [[…]] property name: expected ]]",
                        start,
                        chars[start..].iter().take(20).collect::<String>(),
                    )
                })?;
            if end == name_start {
                return Err(err("empty [[]] property name", start, "[[]]"));
            }
            i = end + 2;
            Tok::Ident(chars[name_start..end].iter().collect())
        } else if is_ident_start(c) {
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            lex_number(&chars, &mut i)?
        } else if c == '\'' || c == '"' {
            lex_string(&chars, &mut i)?
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let sym = match two.as_str() {
                "<=" => Some("<="),
                ">=" => Some(">="),
                "!=" => Some("!="),
                "<>" => Some("<>"),
                _ => None,
            };
            if let Some(sym) = sym {
                i += 2;
                Tok::Sym(sym)
            } else {
                let sym = match c {
                    '(' => "(",
                    ')' => ")",
                    '[' => "[",
                    ']' => "]",
                    ',' => ",",
                    '.' => ".",
                    '*' => "*",
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    '+' => "+",
                    '-' => "-",
                    '/' => "/",
                    '%' => "%",
                    // Only used by ADT MATCH patterns, which the parser rejects by name.
                    ':' => ":",
                    _ => {
                        return Err(err(
                            format!("unexpected character '{c}'"),
                            start,
                            c.to_string(),
                        ));
                    }
                };
                i += 1;
                Tok::Sym(sym)
            }
        };
        out.push(Token {
            tok,
            pos: start,
            text: chars[start..i].iter().collect(),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: chars.len(),
        text: String::new(),
    });
    Ok(out)
}

fn lex_number(chars: &[char], i: &mut usize) -> Result<Tok, QueryError> {
    let start = *i;
    let near = |end: usize| chars[start..end].iter().collect::<String>();
    if chars[start] == '0' && matches!(chars.get(start + 1), Some('x' | 'X')) {
        *i += 2;
        let digits_start = *i;
        while *i < chars.len() && chars[*i].is_ascii_hexdigit() {
            *i += 1;
        }
        let digits: String = chars[digits_start..*i].iter().collect();
        return i64::from_str_radix(&digits, 16).map(Tok::Int).map_err(|_| {
            err(
                "expected hexadecimal digits after 0x (at most 63 bits)",
                start,
                near(*i),
            )
        });
    }
    let mut float = false;
    while *i < chars.len() && chars[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i < chars.len() && chars[*i] == '.' && chars.get(*i + 1).is_some_and(char::is_ascii_digit) {
        float = true;
        *i += 1;
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
    }
    if *i < chars.len() && matches!(chars[*i], 'e' | 'E') {
        let mut j = *i + 1;
        if matches!(chars.get(j), Some('+' | '-')) {
            j += 1;
        }
        if chars.get(j).is_some_and(char::is_ascii_digit) {
            float = true;
            *i = j;
            while *i < chars.len() && chars[*i].is_ascii_digit() {
                *i += 1;
            }
        }
    }
    if *i < chars.len() && is_ident_start(chars[*i]) {
        while *i < chars.len() && is_ident_char(chars[*i]) {
            *i += 1;
        }
        return Err(err("malformed number", start, near(*i)));
    }
    let text = near(*i);
    if float {
        text.parse::<f64>()
            .map(Tok::Float)
            .map_err(|_| err("malformed number", start, text.clone()))
    } else {
        match text.parse::<i64>() {
            Ok(n) => Ok(Tok::Int(n)),
            // Too large for i64: keep it as a (lossy) float, as JSON number handling does.
            Err(_) => text
                .parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| err("malformed number", start, text.clone())),
        }
    }
}

fn lex_string(chars: &[char], i: &mut usize) -> Result<Tok, QueryError> {
    let start = *i;
    let quote = chars[start];
    *i += 1;
    let mut s = String::new();
    loop {
        let Some(&c) = chars.get(*i) else {
            let near: String = chars[start..].iter().take(20).collect();
            return Err(err(
                format!("unterminated string literal: expected closing {quote}"),
                start,
                near,
            ));
        };
        *i += 1;
        if c == quote {
            return Ok(Tok::Str(s));
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let esc_pos = *i - 1;
        let Some(&e) = chars.get(*i) else {
            continue; // reported as unterminated on the next turn
        };
        *i += 1;
        match e {
            '\'' | '"' | '\\' | '/' => s.push(e),
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            'b' => s.push('\u{8}'),
            'f' => s.push('\u{c}'),
            'u' => {
                let hex: String = chars[*i..chars.len().min(*i + 4)].iter().collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| {
                        err(
                            "invalid \\u escape: expected 4 hexadecimal digits",
                            esc_pos,
                            format!("\\u{hex}"),
                        )
                    })?;
                *i += 4;
                s.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
            }
            other => {
                return Err(err(
                    format!(
                        "invalid escape sequence '\\{other}' in string literal (allowed: \\' \\\" \\\\ \\/ \\n \\t \\r \\b \\f \\uXXXX)"
                    ),
                    esc_pos,
                    format!("\\{other}"),
                ));
            }
        }
    }
}
