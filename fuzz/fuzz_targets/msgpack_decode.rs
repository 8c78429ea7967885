//! DynamicValue bytes as the CLI sends them, decoded against a type that has every kind
//! of value. Whatever decodes must encode again and decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfplugin::{msgpack, Type};

fn every_kind() -> Type {
    Type::object([
        ("s", Type::String),
        ("n", Type::Number),
        ("b", Type::Bool),
        ("l", Type::list(Type::String)),
        ("set", Type::set(Type::Number)),
        ("m", Type::map(Type::Bool)),
        ("d", Type::Dynamic),
        ("o", Type::object([("inner", Type::list(Type::object([("x", Type::String)])))])),
    ])
}

fuzz_target!(|data: &[u8]| {
    let ty = every_kind();
    if let Ok(value) = msgpack::decode(data, &ty) {
        let bytes = msgpack::encode(&value, &ty).expect("a decoded value encodes");
        let again = msgpack::decode(&bytes, &ty).expect("an encoded value decodes");
        assert_eq!(again, value, "msgpack round trip");
    }
});
