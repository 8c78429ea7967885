//! Terraform values: what a DynamicValue decodes to, with null and unknown at any depth.

use std::collections::BTreeMap;
use std::fmt;

use crate::types::Type;

/// An arbitrary-precision number, kept as the decimal text it arrived as (or was built from),
/// so nothing is lost to f64 rounding on the way through.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Number(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a decimal number")]
pub struct NumberError(String);

impl Number {
    /// Accepts decimal text: an optional sign, digits, an optional fraction and exponent.
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        if is_decimal(text) {
            Ok(Number(canonical(text)))
        } else {
            Err(NumberError(text.chars().take(64).collect()))
        }
    }

    pub fn from_f64(f: f64) -> Option<Number> {
        f.is_finite().then(|| Number(canonical(&format!("{f}"))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.0.parse().ok()
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse::<f64>().ok().filter(|f| f.is_finite())
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number(i.to_string())
    }
}

impl From<u64> for Number {
    fn from(u: u64) -> Self {
        Number(u.to_string())
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Drops a leading '+' and redundant leading zeros of the integer part, so equal integers
/// compare equal as text in the common cases ("+007" and "7" are one value).
fn canonical(s: &str) -> String {
    let s = s.strip_prefix('+').unwrap_or(s);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s), |rest| ("-", rest));
    let trimmed = digits.trim_start_matches('0');
    // Keep one zero before a fraction, exponent or the end: "000.5" is "0.5", "00" is "0".
    let digits = if trimmed.is_empty() || !trimmed.starts_with(|c: char| c.is_ascii_digit()) && digits.starts_with('0') {
        &digits[digits.len() - trimmed.len() - 1..]
    } else {
        trimmed
    };
    let s = format!("{sign}{digits}");
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

/// A value of some cty type. Objects hold every attribute of their type (null when unset),
/// exactly as Terraform sends them.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value of a dynamic-typed attribute, with the concrete type it was sent with.
    Dynamic(Type, Box<Value>),
}

static NULL: Value = Value::Null;

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn number(n: impl Into<Number>) -> Value {
        Value::Number(n.into())
    }

    pub fn object<I, K>(attributes: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string value, or null when `None`.
    pub fn opt_string(s: Option<impl Into<String>>) -> Value {
        s.map_or(Value::Null, |s| Value::String(s.into()))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True when neither this value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
            _ => true,
        }
    }

    /// Replaces every unknown value inside this one with null.
    pub fn nullify_unknowns(&mut self) {
        match self {
            Value::Unknown => *self = Value::Null,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter_mut().for_each(Value::nullify_unknowns),
            Value::Map(m) | Value::Object(m) => m.values_mut().for_each(Value::nullify_unknowns),
            Value::Dynamic(_, v) => v.nullify_unknowns(),
            _ => {}
        }
    }

    /// The attribute `name` of an object; null for anything else or a missing attribute.
    pub fn get(&self, name: &str) -> &Value {
        match self {
            Value::Object(m) => m.get(name).unwrap_or(&NULL),
            Value::Dynamic(_, v) => v.get(name),
            _ => &NULL,
        }
    }

    /// Mutable access to an object attribute; `None` when this is not an object.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) => m.get_mut(name),
            _ => None,
        }
    }

    /// Sets an object attribute; does nothing on non-objects.
    pub fn set(&mut self, name: &str, value: Value) {
        if let Value::Object(m) = self {
            m.insert(name.to_string(), value);
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// Elements of a list, set or tuple.
    pub fn as_elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a map or object.
    pub fn as_entries(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(i.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_strictly() {
        for ok in ["0", "-1", "+7", "3.25", "1e10", "-2.5E-3", ".5", "5."] {
            assert!(Number::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-", "e5", "1e", "1.2.3", "0x10", "NaN", "inf", " 1"] {
            assert!(Number::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Number::parse("+7").unwrap().as_i64(), Some(7));
    }

    #[test]
    fn leading_zeros_are_dropped() {
        for (text, canonical) in [
            ("0012", "12"),
            ("-0012", "-12"),
            ("+007", "7"),
            ("000", "0"),
            ("-000", "0"),
            ("00.5", "0.5"),
            (".5", ".5"),
            ("0e5", "0e5"),
            ("10", "10"),
            ("-0.5", "-0.5"),
        ] {
            assert_eq!(Number::parse(text).unwrap().as_str(), canonical, "{text}");
        }
    }

    #[test]
    fn big_numbers_keep_their_digits() {
        let n = Number::parse("123456789012345678901234567890.000000000000000001").unwrap();
        assert_eq!(n.as_str(), "123456789012345678901234567890.000000000000000001");
        assert_eq!(n.as_i64(), None);
    }

    #[test]
    fn wholly_known_looks_inside() {
        let v = Value::object([("a", Value::List(vec![Value::from("x"), Value::Unknown]))]);
        assert!(!v.is_wholly_known());
        assert!(Value::object([("a", Value::Null)]).is_wholly_known());
    }
}
