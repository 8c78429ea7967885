//! The JSON encoding of values, as found in stored state (UpgradeResourceState's raw state).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::types::Type;
use crate::value::{Number, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("state is not valid JSON: {0}")]
    Syntax(String),
    #[error("at {path}: expected {expected}")]
    Mismatch { path: String, expected: String },
}

/// Decodes stored state. Attributes the schema no longer has are dropped, attributes it
/// gained are null, so a state written by an older provider still loads.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, JsonError> {
    let json: Json = serde_json::from_slice(bytes).map_err(|e| JsonError::Syntax(e.to_string()))?;
    from_json(&json, ty, "")
}

pub fn from_json(json: &Json, ty: &Type, path: &str) -> Result<Value, JsonError> {
    let mismatch =
        || JsonError::Mismatch { path: if path.is_empty() { ".".into() } else { path.into() }, expected: ty.to_json().to_string() };
    if json.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        Type::String => match json {
            Json::String(s) => Value::String(s.clone()),
            // Terraform converts primitives to string where the schema says string.
            Json::Bool(b) => Value::String(b.to_string()),
            Json::Number(n) => Value::String(n.to_string()),
            _ => return Err(mismatch()),
        },
        Type::Number => match json {
            Json::Number(n) => Value::Number(Number::parse(&n.to_string()).map_err(|_| mismatch())?),
            Json::String(s) => Value::Number(Number::parse(s).map_err(|_| mismatch())?),
            _ => return Err(mismatch()),
        },
        Type::Bool => match json {
            Json::Bool(b) => Value::Bool(*b),
            Json::String(s) if s == "true" || s == "false" => Value::Bool(s == "true"),
            _ => return Err(mismatch()),
        },
        Type::List(e) | Type::Set(e) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let items = items.iter().enumerate().map(|(i, j)| from_json(j, e, &format!("{path}[{i}]"))).collect::<Result<Vec<_>, _>>()?;
            if matches!(ty, Type::List(_)) {
                Value::List(items)
            } else {
                Value::Set(items)
            }
        }
        Type::Tuple(elems) => {
            let items = json.as_array().filter(|a| a.len() == elems.len()).ok_or_else(mismatch)?;
            Value::Tuple(
                items
                    .iter()
                    .zip(elems)
                    .enumerate()
                    .map(|(i, (j, e))| from_json(j, e, &format!("{path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Map(e) => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            Value::Map(
                obj.iter().map(|(k, j)| Ok((k.clone(), from_json(j, e, &format!("{path}[{k:?}]"))?))).collect::<Result<_, JsonError>>()?,
            )
        }
        Type::Object(attrs) => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            let mut out = BTreeMap::new();
            for (name, aty) in attrs {
                let v = match obj.get(name) {
                    Some(j) => from_json(j, aty, &format!("{path}.{name}"))?,
                    None => Value::Null,
                };
                out.insert(name.clone(), v);
            }
            Value::Object(out)
        }
        // Dynamic values are stored as {"value": ..., "type": ...}.
        Type::Dynamic => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            let concrete = Type::from_json(obj.get("type").ok_or_else(mismatch)?).map_err(|_| mismatch())?;
            let inner = from_json(obj.get("value").unwrap_or(&Json::Null), &concrete, path)?;
            Value::Dynamic(concrete, Box::new(inner))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_state_with_renamed_schema() {
        let ty = Type::object([("id", Type::String), ("n", Type::Number), ("tags", Type::map(Type::String))]);
        let v = decode(br#"{"id":"a","n":12345678901234567890123,"gone":true}"#, &ty).unwrap();
        assert_eq!(v.get("id").as_str(), Some("a"));
        assert_eq!(v.get("n"), &Value::Number(Number::parse("12345678901234567890123").unwrap()));
        assert!(v.get("tags").is_null());
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let v = decode(br#"{"value":["a","b"],"type":["list","string"]}"#, &Type::Dynamic).unwrap();
        assert_eq!(v, Value::Dynamic(Type::list(Type::String), Box::new(Value::List(vec!["a".into(), "b".into()]))));
    }

    #[test]
    fn wrong_shapes_name_the_path() {
        let ty = Type::object([("a", Type::list(Type::Bool))]);
        let err = decode(br#"{"a":[true,"x"]}"#, &ty).unwrap_err();
        assert_eq!(err, JsonError::Mismatch { path: ".a[1]".into(), expected: "\"bool\"".into() });
    }
}
