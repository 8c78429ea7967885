//! Reading a model out of a [`Value`]: a serde `Deserializer` that keeps the attribute path,
//! so an error names where it happened.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::BridgeError;
use crate::attr::ATTR_TOKEN;
use crate::diag::AttributePath;
use crate::value::{Number, Value};

pub(super) struct ValueDeserializer<'a> {
    pub(super) value: &'a Value,
    pub(super) path: AttributePath,
}

impl<'a> ValueDeserializer<'a> {
    fn unknown(&self) -> BridgeError {
        BridgeError::at(&self.path, "the value is not known yet; the model needs an Attr here")
    }

    fn inner(&self) -> &'a Value {
        match self.value {
            Value::Dynamic(_, v) => v,
            v => v,
        }
    }
}

fn visit_number<'de, V: Visitor<'de>>(n: &Number, path: &AttributePath, visitor: V) -> Result<V::Value, BridgeError> {
    if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(f) = n.as_f64() {
        visitor.visit_f64(f)
    } else {
        Err(BridgeError::at(path, format!("the number {n} is out of range")))
    }
    .map_err(|e| e.within(path))
}

impl<'de, 'a> de::Deserializer<'de> for ValueDeserializer<'a> {
    type Error = BridgeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BridgeError> {
        let path = self.path.clone();
        match self.inner() {
            Value::Null => visitor.visit_none(),
            Value::Unknown => Err(self.unknown()),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, &path, visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                visitor.visit_seq(Elements { items: v.iter().enumerate(), path: path.clone() })
            }
            Value::Map(m) | Value::Object(m) => {
                let keyed = matches!(self.inner(), Value::Map(_));
                visitor.visit_map(Entries { items: m.iter(), next: None, keyed, path: path.clone() })
            }
            Value::Dynamic(..) => Err(BridgeError::at(&path, "a dynamic value nested in a dynamic value")),
        }
        .map_err(|e| e.within(&path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BridgeError> {
        match self.inner() {
            Value::Null => visitor.visit_none(),
            Value::Unknown => Err(self.unknown()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, BridgeError> {
        if name == ATTR_TOKEN {
            match self.inner() {
                Value::Null => visitor.visit_none(),
                Value::Unknown => visitor.visit_unit(),
                _ => visitor.visit_some(self),
            }
        } else {
            visitor.visit_newtype_struct(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BridgeError> {
        match self.inner() {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()).map_err(|e: BridgeError| e.within(&self.path)),
            Value::Unknown => Err(self.unknown()),
            _ => Err(BridgeError::at(&self.path, "expected a string naming one of the choices")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

pub(super) struct Elements<'a, I: Iterator<Item = (usize, &'a Value)>> {
    items: I,
    path: AttributePath,
}

impl<'de, 'a, I: Iterator<Item = (usize, &'a Value)>> SeqAccess<'de> for Elements<'a, I> {
    type Error = BridgeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, BridgeError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => {
                let path = self.path.clone().index(i);
                seed.deserialize(ValueDeserializer { value, path: path.clone() }).map(Some).map_err(|e| e.within(&path))
            }
        }
    }
}

pub(super) struct Entries<'a, I: Iterator<Item = (&'a String, &'a Value)>> {
    items: I,
    next: Option<(&'a String, &'a Value)>,
    /// Map keys render as `[key]`, object attributes as `.name`.
    keyed: bool,
    path: AttributePath,
}

impl<'de, 'a, I: Iterator<Item = (&'a String, &'a Value)>> MapAccess<'de> for Entries<'a, I> {
    type Error = BridgeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, BridgeError> {
        match self.items.next() {
            None => Ok(None),
            Some(entry) => {
                self.next = Some(entry);
                let path = if self.keyed { self.path.clone().key(entry.0) } else { self.path.clone().attr(entry.0) };
                seed.deserialize(entry.0.as_str().into_deserializer()).map(Some).map_err(|e: BridgeError| e.within(&path))
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BridgeError> {
        let Some((key, value)) = self.next.take() else {
            return Err(BridgeError::at(&self.path, "a value without its key"));
        };
        let path = if self.keyed { self.path.clone().key(key) } else { self.path.clone().attr(key) };
        seed.deserialize(ValueDeserializer { value, path: path.clone() }).map_err(|e| e.within(&path))
    }
}
