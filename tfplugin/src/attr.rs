//! `Attr<T>`: an attribute value in a typed model, with the three states Terraform gives it
//! while validating and planning: known, null, or unknown until apply.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// The newtype-struct name by which [`Attr`] asks the bridge's deserializer for all three
/// states; other deserializers see an ordinary newtype.
pub(crate) const ATTR_TOKEN: &str = "$tfplugin::Attr";
/// The unit-struct name by which [`Attr::Unknown`] serializes; the bridge's serializer
/// makes it an unknown value, other serializers a unit (JSON null).
pub(crate) const UNKNOWN_TOKEN: &str = "$tfplugin::Unknown";

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Attr<T> {
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
    Known(T),
}

impl<T> Attr<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Attr::Known(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Attr::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Attr::Unknown)
    }

    pub fn as_ref(&self) -> Attr<&T> {
        match self {
            Attr::Null => Attr::Null,
            Attr::Unknown => Attr::Unknown,
            Attr::Known(v) => Attr::Known(v),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Attr<U> {
        match self {
            Attr::Null => Attr::Null,
            Attr::Unknown => Attr::Unknown,
            Attr::Known(v) => Attr::Known(f(v)),
        }
    }
}

impl Attr<String> {
    pub fn as_deref(&self) -> Option<&str> {
        self.known().map(String::as_str)
    }
}

impl<T> From<Option<T>> for Attr<T> {
    fn from(o: Option<T>) -> Self {
        o.map_or(Attr::Null, Attr::Known)
    }
}

impl From<&str> for Attr<String> {
    fn from(s: &str) -> Self {
        Attr::Known(s.to_string())
    }
}

impl<T: Serialize> Serialize for Attr<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Attr::Null => serializer.serialize_none(),
            Attr::Unknown => serializer.serialize_unit_struct(UNKNOWN_TOKEN),
            Attr::Known(v) => serializer.serialize_some(v),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Attr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(ATTR_TOKEN, AttrVisitor(PhantomData))
    }
}

struct AttrVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for AttrVisitor<T> {
    type Value = Attr<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value, null, or unknown")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Attr::Null)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Attr::Unknown)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        T::deserialize(deserializer).map(Attr::Known)
    }

    /// Deserializers other than the bridge's (JSON, for one) know no unknown.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Option::<T>::deserialize(deserializer).map(Attr::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_formats_see_an_option() {
        let a: Attr<String> = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(a, Attr::Known("x".into()));
        let n: Attr<String> = serde_json::from_str("null").unwrap();
        assert_eq!(n, Attr::Null);
        assert_eq!(serde_json::to_string(&Attr::<String>::Unknown).unwrap(), "null");
    }
}
