//! The serde bridge between Terraform values and a provider's typed models.
//!
//! [`from_value`] deserializes a [`Value`] into any `Deserialize` type; an error names the
//! attribute path it happened at. [`to_value`] serializes a model and conforms the result to
//! a schema type: lists become sets where the schema says set, structs become objects with
//! every attribute of the type (null when the model has no field for it is an error, so a
//! misspelt field cannot pass), and an attribute the type lacks is refused. [`crate::Attr`]
//! carries null and unknown through both directions; a plain field meeting an unknown value
//! is an error that names it.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned};
use serde::ser::{self, Serialize};

use crate::diag::{AttributePath, Diagnostic, Step};
use crate::types::Type;
use crate::value::Value;

mod deserializer;
mod serializer;

use deserializer::ValueDeserializer;
use serializer::ValueSerializer;

/// Where and why a value did not fit a model, or a model did not fit its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.0.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct BridgeError {
    pub path: AttributePath,
    pub message: String,
}

impl BridgeError {
    fn at(path: &AttributePath, message: impl Into<String>) -> Self {
        BridgeError { path: path.clone(), message: message.into() }
    }

    /// Innermost path wins: an error that already names its place keeps it.
    fn within(mut self, path: &AttributePath) -> Self {
        if self.path.0.is_empty() {
            self.path = path.clone();
        }
        self
    }

    /// The diagnostic for a value the provider could not take apart or put together; with
    /// the schema test in place this means a provider bug, so it says so.
    pub fn diagnostic(&self, what: &str) -> Diagnostic {
        let d = Diagnostic::error("Bug in the provider", format!("{what}: {self}"));
        if self.path.0.is_empty() {
            d
        } else {
            d.at(self.path.clone())
        }
    }
}

impl de::Error for BridgeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        BridgeError { path: AttributePath::root(), message: msg.to_string() }
    }
}

impl ser::Error for BridgeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        BridgeError { path: AttributePath::root(), message: msg.to_string() }
    }
}

/// Reads a model out of a value.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, BridgeError> {
    T::deserialize(ValueDeserializer { value, path: AttributePath::root() })
}

/// Writes a model as a value of type `ty`.
pub fn to_value<T: Serialize + ?Sized>(model: &T, ty: &Type) -> Result<Value, BridgeError> {
    let raw = model.serialize(ValueSerializer)?;
    conform(raw, ty, &AttributePath::root())
}

/// Gives a serialized model the shape of `ty`. Paths in errors from the serializer are
/// relative to where they occurred; conform reports absolute ones, which is what the
/// schema test and the diagnostics show.
fn conform(value: Value, ty: &Type, path: &AttributePath) -> Result<Value, BridgeError> {
    let mismatch = |what: &str| BridgeError::at(path, format!("the model has {what} where the schema has {}", type_name(ty)));
    match (value, ty) {
        (v @ (Value::Null | Value::Unknown), _) => Ok(v),
        (v, Type::Dynamic) => Ok(v),
        (v @ Value::String(_), Type::String) | (v @ Value::Bool(_), Type::Bool) | (v @ Value::Number(_), Type::Number) => Ok(v),
        (Value::List(items), Type::List(e)) => Ok(Value::List(conform_all(items, e, path)?)),
        (Value::List(items), Type::Set(e)) => {
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for v in conform_all(items, e, path)? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Value::Set(out))
        }
        (Value::List(items), Type::Tuple(types)) if items.len() == types.len() => Ok(Value::Tuple(
            items.into_iter().zip(types).enumerate().map(|(i, (v, t))| conform(v, t, &path.clone().index(i))).collect::<Result<_, _>>()?,
        )),
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => {
            Ok(Value::Map(m.into_iter().map(|(k, v)| conform(v, e, &path.clone().key(&k)).map(|v| (k, v))).collect::<Result<_, _>>()?))
        }
        (Value::Map(mut m) | Value::Object(mut m), Type::Object(attrs)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(BridgeError::at(&path.clone().attr(extra), "the model has a field the schema does not have"));
            }
            let mut out = BTreeMap::new();
            for (name, t) in attrs {
                let v = m.remove(name).unwrap_or(Value::Null);
                out.insert(name.clone(), conform(v, t, &path.clone().attr(name))?);
            }
            Ok(Value::Object(out))
        }
        (Value::String(_), _) => Err(mismatch("a string")),
        (Value::Bool(_), _) => Err(mismatch("a bool")),
        (Value::Number(_), _) => Err(mismatch("a number")),
        (Value::List(_), _) => Err(mismatch("a sequence")),
        (Value::Map(_) | Value::Object(_), _) => Err(mismatch("a struct or map")),
        (_, _) => Err(mismatch("a value")),
    }
}

fn conform_all(items: Vec<Value>, element: &Type, path: &AttributePath) -> Result<Vec<Value>, BridgeError> {
    items.into_iter().enumerate().map(|(i, v)| conform(v, element, &path.clone().index(i))).collect()
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::String => "a string".into(),
        Type::Number => "a number".into(),
        Type::Bool => "a bool".into(),
        Type::Dynamic => "a dynamic value".into(),
        Type::List(_) => "a list".into(),
        Type::Set(_) => "a set".into(),
        Type::Map(_) => "a map".into(),
        Type::Object(_) => "an object".into(),
        Type::Tuple(_) => "a tuple".into(),
    }
}

/// A copy of `value` in which each list, set or map of scalars that holds an unknown element
/// is unknown as a whole, with the paths where that was done. A model field `Attr<Vec<T>>`
/// can then hold a list not all of whose elements are known yet (`[var.a, x.name]` while
/// `x` is planned). Collections of objects (nested blocks) are walked into instead, since
/// their attributes are `Attr`s themselves.
pub fn coarsen(value: &Value) -> (Value, Vec<AttributePath>) {
    let mut paths = Vec::new();
    let coarse = coarsen_at(value, AttributePath::root(), &mut paths);
    (coarse, paths)
}

fn coarsen_at(value: &Value, path: AttributePath, paths: &mut Vec<AttributePath>) -> Value {
    let is_object = |v: &Value| matches!(v, Value::Object(_));
    match value {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), coarsen_at(v, path.clone().attr(k), paths))).collect()),
        Value::List(items) | Value::Set(items) if items.iter().all(is_object) => {
            let walked = items.iter().enumerate().map(|(i, v)| coarsen_at(v, path.clone().index(i), paths)).collect();
            if matches!(value, Value::Set(_)) {
                Value::Set(walked)
            } else {
                Value::List(walked)
            }
        }
        Value::Map(m) if m.values().all(is_object) => {
            Value::Map(m.iter().map(|(k, v)| (k.clone(), coarsen_at(v, path.clone().key(k), paths))).collect())
        }
        Value::List(_) | Value::Set(_) | Value::Tuple(_) | Value::Map(_) if !value.is_wholly_known() => {
            paths.push(path);
            Value::Unknown
        }
        other => other.clone(),
    }
}

/// Puts back, at each of `paths` where `target` is still unknown, what `original` holds
/// there: undoes [`coarsen`] for whatever a plan left alone.
pub fn restore(target: &mut Value, original: &Value, paths: &[AttributePath]) {
    for path in paths {
        if let (Some(slot), Some(was)) = (at_path_mut(target, path), at_path(original, path)) {
            if slot.is_unknown() {
                *slot = was.clone();
            }
        }
    }
}

fn at_path<'v>(value: &'v Value, path: &AttributePath) -> Option<&'v Value> {
    path.0.iter().try_fold(value, |v, step| match (step, v) {
        (Step::Attribute(name), Value::Object(m)) | (Step::Key(name), Value::Map(m)) => m.get(name),
        (Step::Index(i), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => items.get(usize::try_from(*i).ok()?),
        _ => None,
    })
}

fn at_path_mut<'v>(value: &'v mut Value, path: &AttributePath) -> Option<&'v mut Value> {
    path.0.iter().try_fold(value, |v, step| match (step, v) {
        (Step::Attribute(name), Value::Object(m)) | (Step::Key(name), Value::Map(m)) => m.get_mut(name),
        (Step::Index(i), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => items.get_mut(usize::try_from(*i).ok()?),
        _ => None,
    })
}

/// A value of `ty` with every attribute, element and block present and known: what the
/// schema test round-trips through a model to prove each field matches its attribute.
pub fn sample(ty: &Type) -> Value {
    match ty {
        Type::String => Value::from("x"),
        Type::Number => Value::from(1i64),
        Type::Bool => Value::Bool(true),
        Type::Dynamic => Value::Null,
        Type::List(e) => Value::List(vec![sample(e)]),
        Type::Set(e) => Value::Set(vec![sample(e)]),
        Type::Map(e) => Value::Map(BTreeMap::from([("k".to_string(), sample(e))])),
        Type::Object(attrs) => Value::Object(attrs.iter().map(|(k, t)| (k.clone(), sample(t))).collect()),
        Type::Tuple(types) => Value::Tuple(types.iter().map(sample).collect()),
    }
}

/// Checks that `M` reads and writes exactly the values of `ty`: every attribute has a field
/// of a fitting type, and no field lacks an attribute. Used by each provider's schema test.
pub fn check_model<M: Serialize + DeserializeOwned>(ty: &Type) -> Result<(), BridgeError> {
    let full = sample(ty);
    let model: M = from_value(&full)?;
    let back = to_value(&model, ty)?;
    if back != full {
        return Err(BridgeError::at(&first_difference(&full, &back, AttributePath::root()), "the model does not keep this attribute"));
    }
    // Every attribute null must also be representable (optional attributes, absent blocks).
    let empty = match ty {
        Type::Object(attrs) => Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect()),
        _ => Value::Null,
    };
    if let Ok(model) = from_value::<M>(&empty) {
        to_value(&model, ty)?;
    }
    Ok(())
}

fn first_difference(a: &Value, b: &Value, path: AttributePath) -> AttributePath {
    if let (Some(x), Some(y)) = (a.as_entries(), b.as_entries()) {
        for (k, v) in x {
            if y.get(k) != Some(v) {
                return first_difference(v, y.get(k).unwrap_or(&Value::Null), path.attr(k));
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::Attr;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        kind: String,
        port: Attr<u16>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Model {
        name: Attr<String>,
        count: Option<i64>,
        names: Vec<String>,
        labels: BTreeMap<String, String>,
        inner: Option<Inner>,
        items: Vec<Inner>,
        on: bool,
    }

    fn ty() -> Type {
        let inner = Type::object([("kind", Type::String), ("port", Type::Number)]);
        Type::object([
            ("name", Type::String),
            ("count", Type::Number),
            ("names", Type::set(Type::String)),
            ("labels", Type::map(Type::String)),
            ("inner", inner.clone()),
            ("items", Type::list(inner)),
            ("on", Type::Bool),
        ])
    }

    #[test]
    fn a_model_round_trips_with_unknowns_and_nulls() {
        let v = Value::object([
            ("name", Value::Unknown),
            ("count", Value::Null),
            ("names", Value::Set(vec!["a".into(), "b".into()])),
            ("labels", Value::Map(BTreeMap::from([("app".to_string(), Value::from("yelb"))]))),
            ("inner", Value::object([("kind", "Issuer".into()), ("port", Value::Unknown)])),
            ("items", Value::List(vec![Value::object([("kind", "x".into()), ("port", Value::from(443i64))])])),
            ("on", true.into()),
        ]);
        let m: Model = from_value(&v).unwrap();
        assert_eq!(m.name, Attr::Unknown);
        assert_eq!(m.inner.as_ref().map(|i| &i.port), Some(&Attr::Unknown));
        assert_eq!(m.items[0].port, Attr::Known(443));
        assert_eq!(to_value(&m, &ty()).unwrap(), v);
    }

    #[test]
    fn errors_name_the_attribute() {
        let mut v = sample(&ty());
        v.set("items", Value::List(vec![Value::object([("kind", "x".into()), ("port", Value::from(70000i64))])]));
        let e = from_value::<Model>(&v).unwrap_err();
        assert_eq!(e.path.to_string(), "items[0].port", "{e}");
        v.set("count", Value::Unknown);
        let e = from_value::<Model>(&v).unwrap_err();
        assert_eq!(e.path.to_string(), "count", "{e}");
        assert!(e.message.contains("not known"), "{e}");
    }

    #[test]
    fn a_model_that_disagrees_with_its_schema_is_found() {
        assert_eq!(check_model::<Model>(&ty()), Ok(()));
        // An attribute the model lacks.
        let mut extra = ty();
        if let Type::Object(a) = &mut extra {
            a.insert("labels_extra".into(), Type::String);
        }
        assert_eq!(check_model::<Model>(&extra).unwrap_err().path.to_string(), "labels_extra");
        // A field whose type differs.
        let mut wrong = ty();
        if let Type::Object(a) = &mut wrong {
            a.insert("on".into(), Type::String);
        }
        assert_eq!(check_model::<Model>(&wrong).unwrap_err().path.to_string(), "on");
        // A field the schema lacks.
        let mut missing = ty();
        if let Type::Object(a) = &mut missing {
            a.remove("count");
        }
        assert!(check_model::<Model>(&missing).is_err());
    }

    #[test]
    fn a_partly_known_list_is_unknown_to_the_model_and_put_back_after() {
        let v = Value::object([
            ("names", Value::Set(vec!["a".into(), Value::Unknown])),
            ("labels", Value::Map(BTreeMap::from([("app".to_string(), Value::from("yelb"))]))),
            ("items", Value::List(vec![Value::object([("kind", "x".into()), ("port", Value::Unknown)])])),
        ]);
        let (coarse, paths) = coarsen(&v);
        assert_eq!(paths, vec![AttributePath::attrs(&["names"])], "blocks are walked into, known maps kept");
        assert_eq!(coarse.get("names"), &Value::Unknown);
        assert_eq!(coarse.get("items"), v.get("items"));
        let mut planned = coarse.clone();
        restore(&mut planned, &v, &paths);
        assert_eq!(planned, v);
        // What a plan did set is kept.
        let mut set = coarse;
        set.set("names", Value::Set(vec!["b".into()]));
        restore(&mut set, &v, &paths);
        assert_eq!(set.get("names"), &Value::Set(vec!["b".into()]));
    }

    #[test]
    fn unit_enums_travel_as_strings() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum Mode {
            #[serde(rename = "STRICT")]
            Strict,
            #[serde(rename = "DISABLED")]
            Disabled,
        }
        assert_eq!(from_value::<Mode>(&Value::from("STRICT")).unwrap(), Mode::Strict);
        assert!(from_value::<Mode>(&Value::from("PERMISSIVE")).is_err());
        assert_eq!(to_value(&Mode::Disabled, &Type::String).unwrap(), Value::from("DISABLED"));
    }
}
