//! `calc`: arithmetic with + − × ÷ (also `* /`), unary minus and parentheses.
//!
//! The input is untrusted (an operator's `/tool calc`, a model's tool call), so the parser is
//! bounded: an expression is at most [`MAX_EXPR_BYTES`] bytes, and unary signs and parentheses
//! nest at most [`MAX_DEPTH`] levels (counted together: `-(-(1))` is four levels). Binary
//! operators are parsed in loops, not by recursion, so only nesting costs stack. Every failure is
//! a [`CalcError`]; nothing in here panics, whatever the input.

use std::fmt;

use serde_json::{Number, Value};

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_BYTES: usize = 4096;

/// How deep unary signs and parentheses may nest, counted together.
pub const MAX_DEPTH: usize = 64;

/// Why an expression has no value. `Display` is the message of the `tool.result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalcError {
    /// The expression is longer than [`MAX_EXPR_BYTES`].
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// Unary signs and parentheses nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A division by zero.
    DivisionByZero,
    /// A `(` without its `)`.
    MissingParen,
    /// A character that does not belong where it is (position counted in characters, from 1).
    Unexpected {
        /// The character.
        found: char,
        /// Its position.
        position: usize,
    },
    /// The expression stopped where an operand was expected.
    EndedEarly,
    /// A run of digits and dots that is not a number (`1..2`).
    NotANumber(String),
    /// The result (or a step on the way) is infinite or not a number.
    NotFinite,
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalcError::TooLong { bytes } => write!(
                f,
                "the expression is {bytes} bytes long; at most {MAX_EXPR_BYTES} are allowed"
            ),
            CalcError::TooDeep => write!(f, "expression nests deeper than {MAX_DEPTH} levels"),
            CalcError::DivisionByZero => f.write_str("division by zero"),
            CalcError::MissingParen => f.write_str("missing `)`"),
            CalcError::Unexpected { found, position } => {
                write!(f, "unexpected `{found}` at position {position}")
            }
            CalcError::EndedEarly => f.write_str("the expression ended too early"),
            CalcError::NotANumber(text) => write!(f, "`{text}` is not a number"),
            CalcError::NotFinite => f.write_str("the result is not a finite number"),
        }
    }
}

impl std::error::Error for CalcError {}

/// Evaluates `expr` to a finite number, within [`MAX_EXPR_BYTES`] and [`MAX_DEPTH`].
pub fn evaluate(expr: &str) -> Result<f64, CalcError> {
    if expr.len() > MAX_EXPR_BYTES {
        return Err(CalcError::TooLong { bytes: expr.len() });
    }
    let mut parser = Parser {
        chars: expr.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let value = parser.expr()?;
    parser.skip_space();
    if let Some(found) = parser.peek() {
        return Err(CalcError::Unexpected {
            found,
            position: parser.pos + 1,
        });
    }
    if !value.is_finite() {
        return Err(CalcError::NotFinite);
    }
    Ok(value)
}

/// [`evaluate`] as the tool's output value: an integral result comes back as an integer.
pub(super) fn evaluate_json(expr: &str) -> Result<Value, String> {
    let value = evaluate(expr).map_err(|e| e.to_string())?;
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        return Ok(Value::Number(Number::from(value as i64)));
    }
    Number::from_f64(value)
        .map(Value::Number)
        .ok_or_else(|| CalcError::NotFinite.to_string())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Unary signs and parentheses open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Enters one level of nesting, or fails past [`MAX_DEPTH`].
    fn descend(&mut self) -> Result<(), CalcError> {
        if self.depth >= MAX_DEPTH {
            return Err(CalcError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    fn expr(&mut self) -> Result<f64, CalcError> {
        let mut value = self.term()?;
        loop {
            self.skip_space();
            match self.peek() {
                Some('+') => {
                    self.pos += 1;
                    value += self.term()?;
                }
                Some('-' | '−') => {
                    self.pos += 1;
                    value -= self.term()?;
                }
                _ => return Ok(value),
            }
        }
    }

    fn term(&mut self) -> Result<f64, CalcError> {
        let mut value = self.factor()?;
        loop {
            self.skip_space();
            match self.peek() {
                Some('*' | '×') => {
                    self.pos += 1;
                    value *= self.factor()?;
                }
                Some('/' | '÷') => {
                    self.pos += 1;
                    let divisor = self.factor()?;
                    if divisor == 0.0 {
                        return Err(CalcError::DivisionByZero);
                    }
                    value /= divisor;
                }
                _ => return Ok(value),
            }
        }
    }

    fn factor(&mut self) -> Result<f64, CalcError> {
        self.skip_space();
        match self.peek() {
            Some(sign @ ('-' | '−' | '+')) => {
                self.pos += 1;
                self.descend()?;
                let value = self.factor()?;
                self.depth -= 1;
                Ok(if sign == '+' { value } else { -value })
            }
            Some('(') => {
                self.pos += 1;
                self.descend()?;
                let value = self.expr()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(CalcError::MissingParen);
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse::<f64>().map_err(|_| CalcError::NotANumber(text))
            }
            Some(found) => Err(CalcError::Unexpected {
                found,
                position: self.pos + 1,
            }),
            None => Err(CalcError::EndedEarly),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(expr: &str) -> Result<Value, String> {
        evaluate_json(expr)
    }

    #[test]
    fn arithmetic() {
        assert_eq!(json("2+2").unwrap(), 4);
        assert_eq!(json("2 + 3 * 4").unwrap(), 14);
        assert_eq!(json("(2 + 3) × 4").unwrap(), 20);
        assert_eq!(json("-3 - -2").unwrap(), -1);
        assert_eq!(json("7 ÷ 2").unwrap(), 3.5);
        assert_eq!(json("0.1 * 3").unwrap().as_f64().unwrap(), 0.1 * 3.0);
        assert_eq!(evaluate("+-+1"), Ok(-1.0));
    }

    #[test]
    fn clear_errors() {
        assert_eq!(json("1/0").unwrap_err(), "division by zero");
        assert_eq!(json("(1+2").unwrap_err(), "missing `)`");
        assert_eq!(json("2 + x").unwrap_err(), "unexpected `x` at position 5");
        assert_eq!(json("2 +").unwrap_err(), "the expression ended too early");
        assert_eq!(json("1..2").unwrap_err(), "`1..2` is not a number");
    }

    #[test]
    fn nesting_is_bounded_at_64_levels_of_signs_and_parentheses_together() {
        let at_bound = format!("{}1", "-".repeat(MAX_DEPTH));
        assert_eq!(evaluate(&at_bound), Ok(1.0));
        let past = format!("{}1", "-".repeat(MAX_DEPTH + 1));
        assert_eq!(evaluate(&past), Err(CalcError::TooDeep));
        assert_eq!(
            CalcError::TooDeep.to_string(),
            "expression nests deeper than 64 levels"
        );
        let parens = format!("{}1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(evaluate(&parens), Ok(1.0));
        let mixed = format!(
            "{}1{}",
            "-(".repeat(MAX_DEPTH / 2 + 1),
            ")".repeat(MAX_DEPTH / 2 + 1)
        );
        assert_eq!(evaluate(&mixed), Err(CalcError::TooDeep));
        // Nesting that closes is not counted twice: many groups side by side are fine.
        let wide = vec!["(-(1))"; 300].join("+");
        assert_eq!(evaluate(&wide), Ok(-300.0));
    }

    #[test]
    fn length_is_bounded_before_anything_is_parsed() {
        let minus = format!("{}1", "-".repeat(60_000));
        assert_eq!(
            json(&minus).unwrap_err(),
            "the expression is 60001 bytes long; at most 4096 are allowed"
        );
        let at_bound = format!("1{}", "+1".repeat((MAX_EXPR_BYTES - 1) / 2));
        assert_eq!(at_bound.len(), MAX_EXPR_BYTES - 1);
        assert!(evaluate(&at_bound).is_ok());
    }

    #[test]
    fn huge_numbers_are_errors_not_panics() {
        assert_eq!(
            json(&"9".repeat(4000)).unwrap_err(),
            "the result is not a finite number"
        );
        assert_eq!(json("1e999").unwrap_err(), "unexpected `e` at position 2");
        let big = format!("{0}*{0}*{0}", "9".repeat(200));
        assert_eq!(evaluate(&big), Err(CalcError::NotFinite));
        assert_eq!(json("99999999999999999999").unwrap().as_f64(), Some(1e20));
        assert_eq!(json("-0").unwrap(), 0);
        assert_eq!(json(".").unwrap_err(), "`.` is not a number");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let alphabet = [
            '-', '+', '(', ')', '1', '.', '*', '/', ' ', '×', '÷', '−', 'x', '0',
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..(seed % 200) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let _ = evaluate(&text);
            let _ = evaluate_json(&text);
        }
    }
}
