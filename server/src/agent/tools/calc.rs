//! `calc`: arithmetic with + − × ÷ (also `* /`), unary minus and parentheses.

use serde_json::{Number, Value};

/// Evaluates `expr`; an integral result comes back as an integer.
pub(super) fn evaluate(expr: &str) -> Result<Value, String> {
    let mut parser = Parser {
        chars: expr.chars().collect(),
        pos: 0,
    };
    let value = parser.expr()?;
    parser.skip_space();
    if let Some(c) = parser.peek() {
        return Err(format!("unexpected `{c}` at position {}", parser.pos + 1));
    }
    if !value.is_finite() {
        return Err("the result is not a finite number".to_owned());
    }
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        return Ok(Value::Number(Number::from(value as i64)));
    }
    Number::from_f64(value)
        .map(Value::Number)
        .ok_or_else(|| "the result is not a number".to_owned())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
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

    fn expr(&mut self) -> Result<f64, String> {
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

    fn term(&mut self) -> Result<f64, String> {
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
                        return Err("division by zero".to_owned());
                    }
                    value /= divisor;
                }
                _ => return Ok(value),
            }
        }
    }

    fn factor(&mut self) -> Result<f64, String> {
        self.skip_space();
        match self.peek() {
            Some('-' | '−') => {
                self.pos += 1;
                Ok(-self.factor()?)
            }
            Some('+') => {
                self.pos += 1;
                self.factor()
            }
            Some('(') => {
                self.pos += 1;
                let value = self.expr()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err("missing `)`".to_owned());
                }
                self.pos += 1;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse::<f64>()
                    .map_err(|_| format!("`{text}` is not a number"))
            }
            Some(c) => Err(format!("unexpected `{c}` at position {}", self.pos + 1)),
            None => Err("the expression ended too early".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        assert_eq!(evaluate("2+2").unwrap(), 4);
        assert_eq!(evaluate("2 + 3 * 4").unwrap(), 14);
        assert_eq!(evaluate("(2 + 3) × 4").unwrap(), 20);
        assert_eq!(evaluate("-3 - -2").unwrap(), -1);
        assert_eq!(evaluate("7 ÷ 2").unwrap(), 3.5);
        assert_eq!(evaluate("0.1 * 3").unwrap().as_f64().unwrap(), 0.1 * 3.0);
    }

    #[test]
    fn clear_errors() {
        assert_eq!(evaluate("1/0").unwrap_err(), "division by zero");
        assert_eq!(evaluate("(1+2").unwrap_err(), "missing `)`");
        assert_eq!(
            evaluate("2 + x").unwrap_err(),
            "unexpected `x` at position 5"
        );
        assert_eq!(
            evaluate("2 +").unwrap_err(),
            "the expression ended too early"
        );
        assert_eq!(evaluate("1..2").unwrap_err(), "`1..2` is not a number");
    }
}
