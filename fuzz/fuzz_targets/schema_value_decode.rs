//! A type from the wire (the JSON type strings schemas and dynamic values carry), then a
//! value of that type in msgpack and in JSON (state upgrades): no input may panic, and a
//! decoded value must survive a msgpack round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tfplugin::{json, msgpack, Type};

fuzz_target!(|data: &[u8]| {
    // The first byte says where the type ends.
    let Some((&split, rest)) = data.split_first() else { return };
    let split = (split as usize).min(rest.len());
    let (type_bytes, value_bytes) = rest.split_at(split);
    let Ok(ty) = Type::from_json_bytes(type_bytes) else { return };
    for value in [msgpack::decode(value_bytes, &ty).ok(), json::decode(value_bytes, &ty).ok()].into_iter().flatten() {
        let bytes = msgpack::encode(&value, &ty).expect("a decoded value encodes");
        let again = msgpack::decode(&bytes, &ty).expect("an encoded value decodes");
        assert_eq!(again, value, "msgpack round trip");
    }
});
