//! Seldon's protobuf messages against the bytes Seldon's Python client writes (spec
//! `seldon-wire.md` §1.6) and their proto3 JSON forms (§3): the two codecs agree.

use prost::Message;
use serde_json::json;
use sluice_api::proto::seldon::protos::{Feedback, SeldonMessage};

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(&pair.iter().collect::<String>(), 16).expect("hex"))
        .collect()
}

/// Decode `bytes`, compare its JSON with `expected`, and encode it back to the same bytes.
fn round_trip(bytes: &str, expected: serde_json::Value) {
    let wire = hex(bytes);
    let message = SeldonMessage::decode(wire.as_slice()).expect("decodes");
    assert_eq!(serde_json::to_value(&message).expect("JSON"), expected);
    let parsed: SeldonMessage = serde_json::from_value(expected).expect("parses");
    assert_eq!(parsed, message, "JSON parses to the same message");
    assert_eq!(message.encode_to_vec(), wire, "encodes to the client's bytes");
}

#[test]
fn the_clients_tensor_request() {
    round_trip(
        "12 00 1a 18 12 16 0a 02 01 02 12 10 000000000000f03f 0000000000000440",
        json!({"meta": {}, "data": {"tensor": {"shape": [1, 2], "values": [1.0, 2.5]}}}),
    );
}

#[test]
fn an_ndarray_with_names() {
    round_trip(
        "12 00 1a 22 0a 01 61 0a 01 62 1a 1a 0a 18 32 16 0a 09 11 000000000000f03f 0a 09 11 0000000000000440",
        json!({"meta": {}, "data": {"names": ["a", "b"], "ndarray": [[1.0, 2.5]]}}),
    );
}

#[test]
fn str_and_json_data() {
    round_trip("12 00 2a 02 68 69", json!({"meta": {}, "strData": "hi"}));
    round_trip(
        "32 12 2a 10 0a 0e 0a 01 61 12 09 11 000000000000f03f",
        json!({"jsonData": {"a": 1.0}}),
    );
}

#[test]
fn a_tftensor_as_python_protobuf_writes_its_json() {
    round_trip(
        "1a 18 22 16 08 01 12 08 12 02 08 01 12 02 08 02 2a 08 0000803f 00002040",
        json!({"data": {"tftensor": {
            "dtype": "DT_FLOAT",
            "tensorShape": {"dim": [{"size": "1"}, {"size": "2"}]},
            "floatVal": [1.0, 2.5],
        }}}),
    );
}

#[test]
fn a_counter_metric_omits_its_default_type() {
    let message: SeldonMessage = serde_json::from_value(
        json!({"meta": {"metrics": [{"key": "mycounter", "type": "COUNTER", "value": 1}]}}),
    )
    .expect("parses");
    let wire = message.encode_to_vec();
    assert_eq!(wire, hex("12 12 2a 10 0a 09 6d79636f756e746572 1d 0000803f"));
}

#[test]
fn feedback_carries_its_reward_as_a_32_bit_float() {
    let feedback: Feedback = serde_json::from_value(json!({"reward": 1.0})).expect("parses");
    assert_eq!(feedback.encode_to_vec(), hex("1d 0000803f"));
}

#[test]
fn json_that_is_not_a_seldon_message_says_which_field() {
    let e = serde_json::from_value::<SeldonMessage>(json!({"data": {"ndarray": [[1]]}, "extra": 1}))
        .expect_err("unknown field");
    assert!(e.to_string().contains("unknown field `extra`"), "{e}");
}
