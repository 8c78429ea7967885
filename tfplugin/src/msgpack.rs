//! The msgpack encoding of DynamicValue, driven by the schema's type (msgpack alone cannot
//! tell a map from an object, or a list from a set).
//!
//! Unknown is any msgpack extension value (Terraform writes type 0; newer versions also send
//! refined unknowns as type 12). Numbers arrive as integers, floats or decimal strings.

use std::collections::BTreeMap;

use rmp::decode::{self, RmpRead};
use rmp::encode;
use rmp::Marker;

use crate::types::Type;
use crate::value::{Number, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("msgpack ended early")]
    Eof,
    #[error("expected {expected}, found msgpack marker {found}")]
    Mismatch { expected: &'static str, found: String },
    #[error("invalid UTF-8 in a string")]
    Utf8,
    #[error("invalid number: {0}")]
    Number(String),
    #[error("invalid dynamic value type: {0}")]
    DynamicType(String),
    #[error("{0} bytes left over after the value")]
    Trailing(usize),
    #[error("value nests deeper than {0} levels")]
    TooDeep(usize),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("value {value} does not conform to type {ty}")]
    Mismatch { value: &'static str, ty: String },
    #[error("object has attribute {0:?} that its type lacks")]
    ExtraAttribute(String),
}

/// Dynamic values may nest types inside values inside types; this bounds the recursion.
const MAX_DEPTH: usize = 128;

pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, DecodeError> {
    let mut rd = bytes;
    let value = decode_value(&mut rd, ty, 0)?;
    if !rd.is_empty() {
        return Err(DecodeError::Trailing(rd.len()));
    }
    Ok(value)
}

pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(256);
    encode_value(&mut out, value, ty)?;
    Ok(out)
}

fn read_marker(rd: &mut &[u8]) -> Result<Marker, DecodeError> {
    decode::read_marker(rd).map_err(|_| DecodeError::Eof)
}

fn take<'a>(rd: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if rd.len() < n {
        return Err(DecodeError::Eof);
    }
    let (head, tail) = rd.split_at(n);
    *rd = tail;
    Ok(head)
}

fn read_u8(rd: &mut &[u8]) -> Result<u8, DecodeError> {
    rd.read_u8().map_err(|_| DecodeError::Eof)
}
fn read_u16(rd: &mut &[u8]) -> Result<u16, DecodeError> {
    rd.read_data_u16().map_err(|_| DecodeError::Eof)
}
fn read_u32(rd: &mut &[u8]) -> Result<u32, DecodeError> {
    rd.read_data_u32().map_err(|_| DecodeError::Eof)
}

fn mismatch(expected: &'static str, found: Marker) -> DecodeError {
    DecodeError::Mismatch { expected, found: format!("{found:?}") }
}

/// Length of an extension payload (not counting its type byte), if `m` starts an extension.
fn ext_len(rd: &mut &[u8], m: Marker) -> Result<Option<usize>, DecodeError> {
    Ok(Some(match m {
        Marker::FixExt1 => 1,
        Marker::FixExt2 => 2,
        Marker::FixExt4 => 4,
        Marker::FixExt8 => 8,
        Marker::FixExt16 => 16,
        Marker::Ext8 => read_u8(rd)? as usize,
        Marker::Ext16 => read_u16(rd)? as usize,
        Marker::Ext32 => read_u32(rd)? as usize,
        _ => return Ok(None),
    }))
}

fn str_len(rd: &mut &[u8], m: Marker) -> Result<Option<usize>, DecodeError> {
    Ok(Some(match m {
        Marker::FixStr(n) => n as usize,
        Marker::Str8 | Marker::Bin8 => read_u8(rd)? as usize,
        Marker::Str16 | Marker::Bin16 => read_u16(rd)? as usize,
        Marker::Str32 | Marker::Bin32 => read_u32(rd)? as usize,
        _ => return Ok(None),
    }))
}

fn read_string(rd: &mut &[u8], m: Marker) -> Result<String, DecodeError> {
    let n = str_len(rd, m)?.ok_or_else(|| mismatch("string", m))?;
    let bytes = take(rd, n)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::Utf8)
}

fn array_len(rd: &mut &[u8], m: Marker) -> Result<Option<usize>, DecodeError> {
    Ok(Some(match m {
        Marker::FixArray(n) => n as usize,
        Marker::Array16 => read_u16(rd)? as usize,
        Marker::Array32 => read_u32(rd)? as usize,
        _ => return Ok(None),
    }))
}

fn map_len(rd: &mut &[u8], m: Marker) -> Result<Option<usize>, DecodeError> {
    Ok(Some(match m {
        Marker::FixMap(n) => n as usize,
        Marker::Map16 => read_u16(rd)? as usize,
        Marker::Map32 => read_u32(rd)? as usize,
        _ => return Ok(None),
    }))
}

fn read_number(rd: &mut &[u8], m: Marker) -> Result<Number, DecodeError> {
    let bad = |e: String| DecodeError::Number(e);
    Ok(match m {
        Marker::FixPos(n) => Number::from(n as i64),
        Marker::FixNeg(n) => Number::from(n as i64),
        Marker::U8 => Number::from(read_u8(rd)? as i64),
        Marker::U16 => Number::from(read_u16(rd)? as i64),
        Marker::U32 => Number::from(read_u32(rd)? as i64),
        Marker::U64 => Number::from(rd.read_data_u64().map_err(|_| DecodeError::Eof)?),
        Marker::I8 => Number::from(rd.read_data_i8().map_err(|_| DecodeError::Eof)? as i64),
        Marker::I16 => Number::from(rd.read_data_i16().map_err(|_| DecodeError::Eof)? as i64),
        Marker::I32 => Number::from(rd.read_data_i32().map_err(|_| DecodeError::Eof)? as i64),
        Marker::I64 => Number::from(rd.read_data_i64().map_err(|_| DecodeError::Eof)?),
        Marker::F32 => {
            let f = rd.read_data_f32().map_err(|_| DecodeError::Eof)?;
            Number::from_f64(f as f64).ok_or_else(|| bad(f.to_string()))?
        }
        Marker::F64 => {
            let f = rd.read_data_f64().map_err(|_| DecodeError::Eof)?;
            Number::from_f64(f).ok_or_else(|| bad(f.to_string()))?
        }
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
            let s = read_string(rd, m)?;
            Number::parse(&s).map_err(|e| bad(e.to_string()))?
        }
        m => return Err(mismatch("number", m)),
    })
}

/// Never reserve more than the input could possibly hold: a declared length is not trusted.
fn capacity(declared: usize, rd: &[u8]) -> usize {
    declared.min(rd.len())
}

fn decode_value(rd: &mut &[u8], ty: &Type, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    let m = read_marker(rd)?;
    if m == Marker::Null {
        return Ok(Value::Null);
    }
    if let Some(n) = ext_len(rd, m)? {
        take(rd, n + 1)?;
        return Ok(Value::Unknown);
    }
    match ty {
        Type::String => read_string(rd, m).map(Value::String),
        Type::Number => read_number(rd, m).map(Value::Number),
        Type::Bool => match m {
            Marker::True => Ok(Value::Bool(true)),
            Marker::False => Ok(Value::Bool(false)),
            m => Err(mismatch("bool", m)),
        },
        Type::List(e) | Type::Set(e) => {
            let n = array_len(rd, m)?.ok_or_else(|| mismatch("array", m))?;
            let mut items = Vec::with_capacity(capacity(n, rd));
            for _ in 0..n {
                items.push(decode_value(rd, e, depth + 1)?);
            }
            Ok(if matches!(ty, Type::List(_)) { Value::List(items) } else { Value::Set(items) })
        }
        Type::Tuple(elems) => {
            let n = array_len(rd, m)?.ok_or_else(|| mismatch("array", m))?;
            if n != elems.len() {
                return Err(DecodeError::Mismatch { expected: "tuple of matching length", found: format!("{n} elements") });
            }
            elems.iter().map(|e| decode_value(rd, e, depth + 1)).collect::<Result<_, _>>().map(Value::Tuple)
        }
        Type::Map(e) => {
            let n = map_len(rd, m)?.ok_or_else(|| mismatch("map", m))?;
            let mut entries = BTreeMap::new();
            for _ in 0..n {
                let km = read_marker(rd)?;
                let key = read_string(rd, km)?;
                entries.insert(key, decode_value(rd, e, depth + 1)?);
            }
            Ok(Value::Map(entries))
        }
        Type::Object(attrs) => {
            let n = map_len(rd, m)?.ok_or_else(|| mismatch("map", m))?;
            let mut entries = BTreeMap::new();
            for _ in 0..n {
                let km = read_marker(rd)?;
                let key = read_string(rd, km)?;
                let aty = attrs
                    .get(&key)
                    .ok_or_else(|| DecodeError::Mismatch { expected: "an attribute of the object type", found: format!("{key:?}") })?;
                entries.insert(key, decode_value(rd, aty, depth + 1)?);
            }
            // Attributes Terraform left out are null.
            for name in attrs.keys() {
                entries.entry(name.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(entries))
        }
        Type::Dynamic => {
            // [type JSON, value]
            let n = array_len(rd, m)?.ok_or_else(|| mismatch("dynamic value [type, value]", m))?;
            if n != 2 {
                return Err(DecodeError::Mismatch { expected: "dynamic value [type, value]", found: format!("{n} elements") });
            }
            let tm = read_marker(rd)?;
            let tlen = str_len(rd, tm)?.ok_or_else(|| mismatch("type JSON", tm))?;
            let concrete = Type::from_json_bytes(take(rd, tlen)?).map_err(|e| DecodeError::DynamicType(e.to_string()))?;
            let inner = decode_value(rd, &concrete, depth + 1)?;
            Ok(Value::Dynamic(concrete, Box::new(inner)))
        }
    }
}

fn type_mismatch(value: &Value, ty: &Type) -> EncodeError {
    let value = match value {
        Value::Null => "null",
        Value::Unknown => "unknown",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::List(_) => "list",
        Value::Set(_) => "set",
        Value::Map(_) => "map",
        Value::Object(_) => "object",
        Value::Tuple(_) => "tuple",
        Value::Dynamic(..) => "dynamic",
    };
    EncodeError::Mismatch { value, ty: ty.to_json().to_string() }
}

// Writes into a Vec cannot fail, so the io results below are safely ignored.
fn encode_value(out: &mut Vec<u8>, value: &Value, ty: &Type) -> Result<(), EncodeError> {
    match (value, ty) {
        (Value::Null, _) => {
            let _ = encode::write_nil(out);
        }
        (Value::Unknown, _) => {
            // fixext1, type 0, payload 0: what cty writes for an unrefined unknown.
            out.extend_from_slice(&[0xd4, 0x00, 0x00]);
        }
        (Value::Dynamic(concrete, inner), Type::Dynamic) => {
            let _ = encode::write_array_len(out, 2);
            let _ = encode::write_bin(out, &concrete.to_json_bytes());
            encode_value(out, inner, concrete)?;
        }
        (v, Type::Dynamic) => {
            let concrete = infer_type(v);
            let _ = encode::write_array_len(out, 2);
            let _ = encode::write_bin(out, &concrete.to_json_bytes());
            encode_value(out, v, &concrete)?;
        }
        (Value::Dynamic(_, inner), ty) => encode_value(out, inner, ty)?,
        (Value::String(s), Type::String) => {
            let _ = encode::write_str(out, s);
        }
        (Value::Bool(b), Type::Bool) => {
            let _ = encode::write_bool(out, *b);
        }
        (Value::Number(n), Type::Number) => encode_number(out, n),
        (Value::List(items) | Value::Set(items), Type::List(e) | Type::Set(e)) => {
            let _ = encode::write_array_len(out, items.len() as u32);
            for item in items {
                encode_value(out, item, e)?;
            }
        }
        (Value::Tuple(items) | Value::List(items), Type::Tuple(elems)) if items.len() == elems.len() => {
            let _ = encode::write_array_len(out, items.len() as u32);
            for (item, e) in items.iter().zip(elems) {
                encode_value(out, item, e)?;
            }
        }
        (Value::Map(entries) | Value::Object(entries), Type::Map(e)) => {
            let _ = encode::write_map_len(out, entries.len() as u32);
            for (k, v) in entries {
                let _ = encode::write_str(out, k);
                encode_value(out, v, e)?;
            }
        }
        (Value::Object(entries) | Value::Map(entries), Type::Object(attrs)) => {
            if let Some(extra) = entries.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(EncodeError::ExtraAttribute(extra.clone()));
            }
            // Every attribute of the type is written, null when the value lacks it.
            let _ = encode::write_map_len(out, attrs.len() as u32);
            for (name, aty) in attrs {
                let _ = encode::write_str(out, name);
                encode_value(out, entries.get(name).unwrap_or(&Value::Null), aty)?;
            }
        }
        (v, ty) => return Err(type_mismatch(v, ty)),
    }
    Ok(())
}

/// Integers that fit go out as integers, exactly representable floats as float64, and
/// anything else as its decimal text, which Terraform parses at full precision.
fn encode_number(out: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = encode::write_sint(out, i);
    } else if let Some(u) = n.as_u64() {
        let _ = encode::write_uint(out, u);
    } else if let Some(f) = n.as_f64().filter(|f| Number::from_f64(*f).as_ref() == Some(n)) {
        let _ = encode::write_f64(out, f);
    } else {
        let _ = encode::write_str(out, n.as_str());
    }
}

/// The type a value written into a dynamic-typed attribute is given when the value does not
/// carry one. Empty collections get dynamic elements.
pub fn infer_type(v: &Value) -> Type {
    match v {
        Value::Null | Value::Unknown => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::List(items) => Type::list(items.first().map_or(Type::Dynamic, infer_type)),
        Value::Set(items) => Type::set(items.first().map_or(Type::Dynamic, infer_type)),
        Value::Map(m) => Type::map(m.values().next().map_or(Type::Dynamic, infer_type)),
        Value::Object(m) => Type::Object(m.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect()),
        Value::Tuple(items) => Type::Tuple(items.iter().map(infer_type).collect()),
        Value::Dynamic(t, _) => t.clone(),
    }
}
