//! Writing a model as a [`Value`]: a serde `Serializer` that produces a value in the shape
//! serde describes; the parent module's `conform` then gives it the schema's shape.

use std::collections::BTreeMap;

use serde::ser::{self, Serialize};

use super::BridgeError;
use crate::attr::UNKNOWN_TOKEN;
use crate::diag::AttributePath;
use crate::value::{Number, Value};

pub(super) struct ValueSerializer;

fn int<T: Into<i64>>(v: T) -> Result<Value, BridgeError> {
    Ok(Value::Number(Number::from(v.into())))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = BridgeError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = ser::Impossible<Value, BridgeError>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = ser::Impossible<Value, BridgeError>;

    fn serialize_bool(self, v: bool) -> Result<Value, BridgeError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Value, BridgeError> {
        int(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Value, BridgeError> {
        Ok(Value::Number(Number::from(v)))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, BridgeError> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, BridgeError> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| ser::Error::custom(format!("{v} is not a finite number")))
    }
    fn serialize_char(self, v: char) -> Result<Value, BridgeError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, BridgeError> {
        Ok(Value::String(v.to_string()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, BridgeError> {
        Err(ser::Error::custom("Terraform has no bytes type; encode them as a string"))
    }
    fn serialize_none(self) -> Result<Value, BridgeError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, BridgeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, BridgeError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Value, BridgeError> {
        Ok(if name == UNKNOWN_TOKEN { Value::Unknown } else { Value::Null })
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<Value, BridgeError> {
        Ok(Value::String(variant.to_string()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<Value, BridgeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<Value, BridgeError> {
        Err(ser::Error::custom(format!("enum variant {variant} carries data; Terraform values cannot")))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, BridgeError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(1024))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, BridgeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqBuilder, BridgeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, BridgeError> {
        Err(ser::Error::custom(format!("enum variant {variant} carries data; Terraform values cannot")))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapBuilder, BridgeError> {
        Ok(MapBuilder { entries: BTreeMap::new(), key: None, object: false })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<MapBuilder, BridgeError> {
        Ok(MapBuilder { entries: BTreeMap::new(), key: None, object: true })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, BridgeError> {
        Err(ser::Error::custom(format!("enum variant {variant} carries data; Terraform values cannot")))
    }
}

pub(super) struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = BridgeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BridgeError> {
        let path = AttributePath::root().index(self.0.len());
        self.0.push(value.serialize(ValueSerializer).map_err(|e| e.within(&path))?);
        Ok(())
    }
    fn end(self) -> Result<Value, BridgeError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = BridgeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BridgeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, BridgeError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = BridgeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BridgeError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, BridgeError> {
        ser::SerializeSeq::end(self)
    }
}

pub(super) struct MapBuilder {
    entries: BTreeMap<String, Value>,
    key: Option<String>,
    /// A struct (an object) rather than a map.
    object: bool,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = BridgeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), BridgeError> {
        match key.serialize(ValueSerializer)? {
            Value::String(k) => {
                self.key = Some(k);
                Ok(())
            }
            _ => Err(ser::Error::custom("map keys must be strings")),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), BridgeError> {
        let key = self.key.take().ok_or_else(|| <BridgeError as ser::Error>::custom("a map value without its key"))?;
        let path = AttributePath::root().key(&key);
        self.entries.insert(key, value.serialize(ValueSerializer).map_err(|e| e.within(&path))?);
        Ok(())
    }
    fn end(self) -> Result<Value, BridgeError> {
        Ok(if self.object { Value::Object(self.entries) } else { Value::Map(self.entries) })
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = BridgeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), BridgeError> {
        let path = AttributePath::root().attr(key);
        self.entries.insert(key.to_string(), value.serialize(ValueSerializer).map_err(|e| e.within(&path))?);
        Ok(())
    }
    fn end(self) -> Result<Value, BridgeError> {
        Ok(Value::Object(self.entries))
    }
}
