//! Property tests: any value of any type survives msgpack and JSON round trips, and no input
//! bytes make the decoders panic.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tfplugin::{json, msgpack, Number, Type, Value};

fn leaf_type() -> impl Strategy<Value = Type> {
    prop_oneof![Just(Type::String), Just(Type::Number), Just(Type::Bool)]
}

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![4 => leaf_type(), 1 => Just(Type::Dynamic)];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,8}", inner.clone(), 0..4).prop_map(Type::Object),
            prop::collection::vec(inner, 0..4).prop_map(Type::Tuple),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        "-?[1-9][0-9]{0,40}(\\.[0-9]{1,30})?".prop_map(|s| Number::parse(&s).expect("decimal")),
    ]
}

/// A value of type `ty`, with null and unknown possible at every level.
fn arb_value(ty: Type) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::String => ".{0,40}".prop_map(Value::String).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::List(e) => prop::collection::vec(arb_value(*e), 0..4).prop_map(Value::List).boxed(),
        Type::Set(e) => prop::collection::vec(arb_value(*e), 0..4).prop_map(Value::Set).boxed(),
        Type::Map(e) => prop::collection::btree_map(".{0,8}", arb_value(*e), 0..4).prop_map(Value::Map).boxed(),
        Type::Object(attrs) => {
            let parts: Vec<BoxedStrategy<(String, Value)>> =
                attrs.into_iter().map(|(k, t)| arb_value(t).prop_map(move |v| (k.clone(), v)).boxed()).collect();
            parts.prop_map(|kv| Value::Object(kv.into_iter().collect::<BTreeMap<_, _>>())).boxed()
        }
        Type::Tuple(elems) => elems.into_iter().map(arb_value).collect::<Vec<_>>().prop_map(Value::Tuple).boxed(),
        Type::Dynamic => leaf_type()
            .prop_flat_map(|t| arb_value(t.clone()).prop_map(move |v| Value::Dynamic(t.clone(), Box::new(v))))
            .prop_map(|v| match v {
                // Null and unknown travel bare even in dynamic positions.
                Value::Dynamic(_, inner) if matches!(*inner, Value::Null | Value::Unknown) => *inner,
                v => v,
            })
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 6 => known].boxed()
}

fn typed_value() -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(|t| arb_value(t.clone()).prop_map(move |v| (t.clone(), v)))
}

/// Unknowns have no JSON form (state never holds them).
fn without_unknowns(v: &Value) -> bool {
    v.is_wholly_known()
}

fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null | Value::Unknown => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => serde_json::from_str(n.as_str()).expect("number JSON"),
        Value::String(s) => J::String(s.clone()),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(m) | Value::Object(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Value::Dynamic(t, inner) => serde_json::json!({ "value": to_json(inner), "type": t.to_json() }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn msgpack_round_trips((ty, value) in typed_value()) {
        let bytes = msgpack::encode(&value, &ty).expect("encode");
        prop_assert_eq!(msgpack::decode(&bytes, &ty).expect("decode"), value);
    }

    #[test]
    fn json_state_round_trips((ty, value) in typed_value().prop_filter("known", |(_, v)| without_unknowns(v))) {
        let text = to_json(&value).to_string();
        prop_assert_eq!(json::decode(text.as_bytes(), &ty).expect("decode"), value);
    }

    #[test]
    fn msgpack_decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), ty in arb_type()) {
        let _ = msgpack::decode(&bytes, &ty);
    }

    #[test]
    fn truncated_input_is_an_error((ty, value) in typed_value()) {
        let bytes = msgpack::encode(&value, &ty).expect("encode");
        for cut in 0..bytes.len() {
            prop_assert!(msgpack::decode(&bytes[..cut], &ty).is_err());
        }
    }
}

#[test]
fn unknown_is_cty_fixext_zero_and_any_extension_decodes_as_unknown() {
    assert_eq!(msgpack::encode(&Value::Unknown, &Type::String).expect("encode"), vec![0xd4, 0, 0]);
    // A refined unknown as newer CLIs send it: ext8, length 3, type 12, {1: false}.
    assert_eq!(msgpack::decode(&[0xc7, 3, 12, 0x81, 1, 0xc2], &Type::String), Ok(Value::Unknown));
}

#[test]
fn numbers_may_arrive_as_strings_and_floats() {
    let big = "123456789012345678901234567890";
    let mut bytes = vec![0xbe];
    bytes.extend_from_slice(big.as_bytes());
    assert_eq!(msgpack::decode(&bytes, &Type::Number), Ok(Value::Number(Number::parse(big).expect("big"))));
    let mut f = vec![0xcb];
    f.extend_from_slice(&2.5f64.to_be_bytes());
    assert_eq!(msgpack::decode(&f, &Type::Number), Ok(Value::Number(Number::parse("2.5").expect("2.5"))));
}
