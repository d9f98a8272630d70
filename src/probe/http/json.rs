//! A small JSON reader for --json: RFC 8259 into a tree, panic-free on any input, bounded
//! in depth (the body it reads is bounded by the caller). `parse` is the one entry point,
//! for the probe and for a fuzz target alike; `judge` applies the --json checks.

use crate::config::JsonCheck;

/// Nesting deeper than this is refused: no health answer needs it, and the recursion
/// must not grow the stack without bound.
pub const MAX_DEPTH: usize = 64;

/// A JSON value. Numbers keep their text: --json compares them as written.
#[derive(Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Value>),
    /// Members in order; a key given twice keeps both, and lookups take the last.
    Object(Vec<(String, Value)>),
}

/// Why a body is not JSON, and the byte where that shows.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid {
    pub at: usize,
    pub why: &'static str,
}

pub fn parse(bytes: &[u8]) -> Result<Value, Invalid> {
    let text = std::str::from_utf8(bytes).map_err(|e| Invalid {
        at: e.valid_up_to(),
        why: "invalid UTF-8",
    })?;
    let mut reader = Reader {
        bytes: text.as_bytes(),
        at: 0,
    };
    // A UTF-8 byte order mark is not JSON, but some servers send one (RFC 8259 allows
    // ignoring it).
    if reader.bytes.starts_with("\u{feff}".as_bytes()) {
        reader.at = 3;
    }
    let value = reader.value(0)?;
    reader.skip_space();
    if reader.at < reader.bytes.len() {
        return Err(reader.invalid("text after the JSON value"));
    }
    Ok(value)
}

impl Value {
    /// The value at an RFC 6901 pointer's reference tokens (already unescaped).
    pub fn pointer(&self, tokens: &[String]) -> Option<&Value> {
        let mut value = self;
        for token in tokens {
            value = match value {
                // The last of duplicate keys wins, as in most JSON readers (JavaScript's,
                // Go's, Python's).
                Value::Object(members) => members
                    .iter()
                    .rev()
                    .find(|(key, _)| key == token)
                    .map(|(_, value)| value)?,
                Value::Array(items) => items.get(array_index(token)?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

/// RFC 6901: an index is `0` or digits without a leading zero.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn invalid(&self, why: &'static str) -> Invalid {
        Invalid { at: self.at, why }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, Invalid> {
        self.skip_space();
        match self.peek() {
            Some(b'{' | b'[') if depth >= MAX_DEPTH => {
                Err(self.invalid("nested deeper than 64 levels"))
            }
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(_) => Err(self.invalid("expected a value")),
            None => Err(self.invalid("it ends where a value should be")),
        }
    }

    fn word(&mut self, word: &'static str, value: Value) -> Result<Value, Invalid> {
        if !self.bytes[self.at..].starts_with(word.as_bytes()) {
            return Err(self.invalid("expected a value"));
        }
        self.at += word.len();
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Result<Value, Invalid> {
        self.at += 1;
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.invalid("expected a key in quotes"));
            }
            let key = self.string()?;
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(self.invalid("expected ':' after a key"));
            }
            self.at += 1;
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.invalid("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, Invalid> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.invalid("expected ',' or ']' in an array")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Result<Value, Invalid> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let leading_zero = self.peek() == Some(b'0');
        match self.digits() {
            0 => return Err(self.invalid("a number without digits")),
            n if n > 1 && leading_zero => {
                return Err(Invalid {
                    at: start,
                    why: "a number with a leading zero",
                });
            }
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(self.invalid("no digits after a decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err(self.invalid("no digits in an exponent"));
            }
        }
        // All ASCII: the slice is on character boundaries.
        let text = String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned();
        Ok(Value::Number(text))
    }

    /// A string, at its opening quote; the input is UTF-8 already.
    fn string(&mut self) -> Result<String, Invalid> {
        self.at += 1;
        let mut text = Vec::new();
        loop {
            let Some(byte) = self.peek() else {
                return Err(self.invalid("a string that never ends"));
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    // Whole UTF-8 sequences and escapes that make chars: valid UTF-8.
                    return String::from_utf8(text).map_err(|_| self.invalid("invalid UTF-8"));
                }
                b'\\' => {
                    self.at += 1;
                    let c = self.escape()?;
                    let mut buffer = [0; 4];
                    text.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
                0..=0x1f => return Err(self.invalid("a control character in a string")),
                _ => {
                    text.push(byte);
                    self.at += 1;
                }
            }
        }
    }

    /// The escape after a backslash.
    fn escape(&mut self) -> Result<char, Invalid> {
        let Some(byte) = self.peek() else {
            return Err(self.invalid("a string that never ends"));
        };
        self.at += 1;
        Ok(match byte {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                if !(0xd800..0xdc00).contains(&high) {
                    return char::from_u32(high).ok_or_else(|| self.invalid("a lone surrogate"));
                }
                // A high surrogate must be followed by an escaped low one.
                if !self.bytes[self.at..].starts_with(b"\\u") {
                    return Err(self.invalid("a lone surrogate"));
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xdc00..0xe000).contains(&low) {
                    return Err(self.invalid("a lone surrogate"));
                }
                let code = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                char::from_u32(code).ok_or_else(|| self.invalid("a lone surrogate"))?
            }
            _ => {
                self.at -= 1;
                return Err(self.invalid("an unknown escape in a string"));
            }
        })
    }

    fn hex4(&mut self) -> Result<u32, Invalid> {
        let digits = self
            .bytes
            .get(self.at..self.at + 4)
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .filter(|digits| digits.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.invalid("expected 4 hex digits after \\u"))?;
        let value = u32::from_str_radix(digits, 16).map_err(|_| self.invalid("bad \\u escape"))?;
        self.at += 4;
        Ok(value)
    }
}

/// --json reads at most this much of a body; a longer one is not judged.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A value is shown this long at most in the line (which holds 300 bytes in all).
const SHOWN: usize = 60;

/// What the --json checks say of `body` (at most BODY_LIMIT + 1 bytes of it): Ok with what
/// was seen, for the healthy line, or Err with why it is unhealthy, each after "200 OK".
pub fn judge(body: &[u8], checks: &[JsonCheck]) -> Result<String, String> {
    if body.len() > BODY_LIMIT {
        return Err(format!(
            " but the body is cut off at {BODY_LIMIT} bytes, the most --json reads: \
             not judged"
        ));
    }
    let document = parse(body)
        .map_err(|e| format!(" but the body is not JSON: {} at byte {}", e.why, e.at))?;
    let mut seen = String::new();
    for check in checks {
        let pointer = &check.pointer;
        let Some(value) = document.pointer(&check.tokens) else {
            return Err(format!(" but {pointer} is not in the JSON body"));
        };
        let shown = show(value);
        let holds = match &check.values {
            Some(values) => values.iter().any(|wanted| value.is(wanted)),
            None => !matches!(value, Value::Null | Value::Bool(false)),
        };
        if !holds {
            let expected = match &check.values {
                Some(values) => values.join(","),
                None => "present, not null or false".to_string(),
            };
            return Err(format!(" but {pointer} is {shown} (expected {expected})"));
        }
        seen += &format!(", {pointer} is {shown}");
    }
    Ok(seen)
}

impl Value {
    /// Whether the value is `wanted`: a string by its text, anything else by its JSON text.
    fn is(&self, wanted: &str) -> bool {
        match self {
            Value::String(text) | Value::Number(text) => text == wanted,
            Value::Bool(true) => wanted == "true",
            Value::Bool(false) => wanted == "false",
            Value::Null => wanted == "null",
            Value::Array(_) | Value::Object(_) => false,
        }
    }
}

/// The value as the line shows it: a string quoted, a number as sent, both cut short.
fn show(value: &Value) -> String {
    let short = |text: &str| {
        let mut end = text.len().min(SHOWN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        match end < text.len() {
            true => format!("{}...", &text[..end]),
            false => text.to_string(),
        }
    };
    match value {
        Value::String(text) => format!("\"{}\"", short(text)),
        Value::Number(text) => short(text),
        Value::Bool(true) => "true".to_string(),
        Value::Bool(false) => "false".to_string(),
        Value::Null => "null".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(pointer: &str) -> Vec<String> {
        pointer.split('/').skip(1).map(str::to_string).collect()
    }

    #[test]
    fn reads_what_health_endpoints_send() {
        let value =
            parse(br#"{"status":"green","n":-1.5e3,"a":[true,null,{"b":"\u00e9\ud83d\ude00"}]}"#)
                .expect("valid");
        assert_eq!(
            value.pointer(&tokens("/status")),
            Some(&Value::String("green".into()))
        );
        assert_eq!(
            value.pointer(&tokens("/n")),
            Some(&Value::Number("-1.5e3".into()))
        );
        assert_eq!(
            value.pointer(&tokens("/a/2/b")),
            Some(&Value::String("é😀".into()))
        );
        assert_eq!(value.pointer(&tokens("/a/01")), None);
        assert_eq!(value.pointer(&tokens("/a/3")), None);
    }

    #[test]
    fn the_last_duplicate_key_wins() {
        let value = parse(br#"{"s":"a","s":"b"}"#).expect("valid");
        assert_eq!(
            value.pointer(&tokens("/s")),
            Some(&Value::String("b".into()))
        );
    }

    #[test]
    fn refuses_what_is_not_json_without_panicking() {
        let nested = "[".repeat(MAX_DEPTH + 1);
        let cases: &[(&[u8], &str)] = &[
            (b"", "it ends where a value should be"),
            (b"<html>", "expected a value"),
            (b"{\"a\":1,}", "expected a key in quotes"),
            (b"[1 2]", "expected ',' or ']' in an array"),
            (b"01", "a number with a leading zero"),
            (b"1.", "no digits after a decimal point"),
            (b"\"\\ud800\"", "a lone surrogate"),
            (b"\"\\x\"", "an unknown escape in a string"),
            (b"\"a\nb\"", "a control character in a string"),
            (b"\"\xff\"", "invalid UTF-8"),
            (b"\"abc", "a string that never ends"),
            (b"\"\\u12", "expected 4 hex digits after \\u"),
            (b"{} x", "text after the JSON value"),
            (nested.as_bytes(), "nested deeper than 64 levels"),
        ];
        for (input, why) in cases {
            assert_eq!(
                parse(input).map_err(|e| e.why),
                Err(*why),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
        let deep_enough = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(deep_enough.as_bytes()).is_ok());
        // Every prefix of a valid document is an error, never a panic.
        let document = br#"{"k":[1,-2.5E+3,"\u00e9\ud83d\ude00",true,false,null,{}]}"#;
        for end in 0..document.len() {
            assert!(parse(&document[..end]).is_err());
        }
    }
}
