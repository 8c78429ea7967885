//! cty types, as Terraform describes them in schemas and dynamic values (JSON type syntax).

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// Nesting deeper than this is refused when parsing a type, so hostile input cannot
/// exhaust the stack.
pub const MAX_TYPE_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    String,
    Number,
    Bool,
    /// Any type; the concrete type travels with the value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TypeError {
    #[error("type JSON is not valid JSON: {0}")]
    Syntax(String),
    #[error("unsupported type expression {0}")]
    Unsupported(String),
    #[error("type nests deeper than {MAX_TYPE_DEPTH} levels")]
    TooDeep,
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }
    pub fn object<I, K>(attributes: I) -> Type
    where
        I: IntoIterator<Item = (K, Type)>,
        K: Into<String>,
    {
        Type::Object(attributes.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// The JSON form Terraform expects in schema `type` fields.
    pub fn to_json(&self) -> Json {
        match self {
            Type::String => Json::from("string"),
            Type::Number => Json::from("number"),
            Type::Bool => Json::from("bool"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(e) => Json::Array(vec!["list".into(), e.to_json()]),
            Type::Set(e) => Json::Array(vec!["set".into(), e.to_json()]),
            Type::Map(e) => Json::Array(vec!["map".into(), e.to_json()]),
            Type::Object(attrs) => {
                Json::Array(vec!["object".into(), Json::Object(attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect())])
            }
            Type::Tuple(elems) => Json::Array(vec!["tuple".into(), Json::Array(elems.iter().map(Type::to_json).collect())]),
        }
    }

    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    pub fn from_json_bytes(bytes: &[u8]) -> Result<Type, TypeError> {
        let json: Json = serde_json::from_slice(bytes).map_err(|e| TypeError::Syntax(e.to_string()))?;
        Type::from_json(&json)
    }

    pub fn from_json(json: &Json) -> Result<Type, TypeError> {
        Self::from_json_at(json, 0)
    }

    fn from_json_at(json: &Json, depth: usize) -> Result<Type, TypeError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(TypeError::TooDeep);
        }
        let unsupported = || TypeError::Unsupported(truncate(&json.to_string()));
        match json {
            Json::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(unsupported()),
            },
            // Object types may carry a third element listing optional attributes: that only
            // matters for type constraints, never for values, so it is ignored.
            Json::Array(parts) if parts.len() >= 2 => {
                let kind = parts[0].as_str().ok_or_else(unsupported)?;
                let inner = |j: &Json| Self::from_json_at(j, depth + 1);
                match (kind, &parts[1]) {
                    ("list", e) if parts.len() == 2 => Ok(Type::list(inner(e)?)),
                    ("set", e) if parts.len() == 2 => Ok(Type::set(inner(e)?)),
                    ("map", e) if parts.len() == 2 => Ok(Type::map(inner(e)?)),
                    ("object", Json::Object(attrs)) if parts.len() <= 3 => {
                        Ok(Type::Object(attrs.iter().map(|(k, v)| Ok((k.clone(), inner(v)?))).collect::<Result<_, TypeError>>()?))
                    }
                    ("tuple", Json::Array(elems)) if parts.len() == 2 => {
                        Ok(Type::Tuple(elems.iter().map(inner).collect::<Result<_, _>>()?))
                    }
                    _ => Err(unsupported()),
                }
            }
            _ => Err(unsupported()),
        }
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 80 {
        s.to_string()
    } else {
        let mut end = 80;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_json_round_trips() {
        let ty = Type::object([
            ("a", Type::String),
            ("b", Type::list(Type::map(Type::Number))),
            ("c", Type::Tuple(vec![Type::Bool, Type::Dynamic])),
            ("d", Type::set(Type::String)),
        ]);
        assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()), Ok(ty));
    }

    #[test]
    fn optional_attribute_list_is_accepted() {
        let ty = Type::from_json_bytes(br#"["object",{"a":"string"},["a"]]"#).unwrap();
        assert_eq!(ty, Type::object([("a", Type::String)]));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut s = String::from("\"string\"");
        for _ in 0..100 {
            s = format!("[\"list\",{s}]");
        }
        assert_eq!(Type::from_json_bytes(s.as_bytes()), Err(TypeError::TooDeep));
    }

    #[test]
    fn unknown_kinds_are_errors() {
        assert!(matches!(Type::from_json_bytes(br#""capsule""#), Err(TypeError::Unsupported(_))));
        assert!(matches!(Type::from_json_bytes(br#"["list"]"#), Err(TypeError::Unsupported(_))));
        assert!(matches!(Type::from_json_bytes(b"{"), Err(TypeError::Syntax(_))));
    }
}
