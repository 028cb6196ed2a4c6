//! The Open Inference Protocol's gRPC messages and its REST JSON, both ways (pure): the
//! gRPC codec of `protocol: v2` predictors. Tensors carry their elements in the
//! `InferTensorContents` list of their datatype (or as raw little-endian bytes); REST
//! carries them as a JSON `data` array, nested or flat, beside `shape` and `datatype`.
//!
//! ```text
//!  ModelInferRequest ──request_json──> {"inputs":[{"name","datatype","shape","data"}]} ──> graph
//!  ModelInferResponse <─response_proto─ {"outputs":[...]} <──┘
//! ```

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use sluice_api::proto::inference::{
    InferParameter, InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataResponse,
    infer_parameter::ParameterChoice, model_infer_request, model_infer_response, model_metadata_response,
};

/// A tensor's fields, shared by the request's inputs and the response's outputs.
struct Tensor {
    name: String,
    datatype: String,
    shape: Vec<i64>,
    parameters: HashMap<String, InferParameter>,
    contents: Option<InferTensorContents>,
}

/// A gRPC inference request as REST JSON; `raw_input_contents`, when present, are decoded
/// by datatype.
pub fn request_json(request: &ModelInferRequest) -> Result<Value, String> {
    let mut out = Map::new();
    if !request.id.is_empty() {
        out.insert("id".into(), Value::String(request.id.clone()));
    }
    if !request.parameters.is_empty() {
        out.insert("parameters".into(), parameters_json(&request.parameters));
    }
    raw_count(request.raw_input_contents.len(), request.inputs.len(), "inputs")?;
    let inputs = request
        .inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            tensor_json(
                &Tensor {
                    name: t.name.clone(),
                    datatype: t.datatype.clone(),
                    shape: t.shape.clone(),
                    parameters: t.parameters.clone(),
                    contents: t.contents.clone(),
                },
                request.raw_input_contents.get(i).map(Vec::as_slice),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.insert("inputs".into(), Value::Array(inputs));
    if !request.outputs.is_empty() {
        let outputs = request
            .outputs
            .iter()
            .map(|o| {
                let mut m = Map::new();
                m.insert("name".into(), Value::String(o.name.clone()));
                if !o.parameters.is_empty() {
                    m.insert("parameters".into(), parameters_json(&o.parameters));
                }
                Value::Object(m)
            })
            .collect();
        out.insert("outputs".into(), Value::Array(outputs));
    }
    Ok(Value::Object(out))
}

/// REST JSON of an inference request as the gRPC message, for `model`.
pub fn request_proto(json: &Value, model: &str) -> Result<ModelInferRequest, String> {
    let object = json
        .as_object()
        .ok_or("the inference request is not a JSON object")?;
    let inputs = tensors(object, "inputs")?
        .into_iter()
        .map(|t| model_infer_request::InferInputTensor {
            name: t.name,
            datatype: t.datatype,
            shape: t.shape,
            parameters: t.parameters,
            contents: t.contents,
        })
        .collect();
    let outputs = match object.get("outputs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|o| {
                Ok(model_infer_request::InferRequestedOutputTensor {
                    name: str_field(o, "name")?,
                    parameters: parameters_proto(o.get("parameters"))?,
                })
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("\"outputs\" is not an array".into()),
    };
    Ok(ModelInferRequest {
        model_name: model.to_string(),
        model_version: String::new(),
        id: object
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        parameters: parameters_proto(object.get("parameters"))?,
        inputs,
        outputs,
        raw_input_contents: Vec::new(),
    })
}

/// A gRPC inference response as REST JSON.
pub fn response_json(response: &ModelInferResponse) -> Result<Value, String> {
    let mut out = Map::new();
    out.insert("model_name".into(), Value::String(response.model_name.clone()));
    if !response.model_version.is_empty() {
        out.insert(
            "model_version".into(),
            Value::String(response.model_version.clone()),
        );
    }
    if !response.id.is_empty() {
        out.insert("id".into(), Value::String(response.id.clone()));
    }
    if !response.parameters.is_empty() {
        out.insert("parameters".into(), parameters_json(&response.parameters));
    }
    raw_count(
        response.raw_output_contents.len(),
        response.outputs.len(),
        "outputs",
    )?;
    let outputs = response
        .outputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            tensor_json(
                &Tensor {
                    name: t.name.clone(),
                    datatype: t.datatype.clone(),
                    shape: t.shape.clone(),
                    parameters: t.parameters.clone(),
                    contents: t.contents.clone(),
                },
                response.raw_output_contents.get(i).map(Vec::as_slice),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.insert("outputs".into(), Value::Array(outputs));
    Ok(Value::Object(out))
}

/// REST JSON of an inference response as the gRPC message.
pub fn response_proto(json: &Value) -> Result<ModelInferResponse, String> {
    let object = json
        .as_object()
        .ok_or("the inference response is not a JSON object")?;
    let text = |key: &str| {
        object
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(ModelInferResponse {
        model_name: text("model_name"),
        model_version: text("model_version"),
        id: text("id"),
        parameters: parameters_proto(object.get("parameters"))?,
        outputs: tensors(object, "outputs")?
            .into_iter()
            .map(|t| model_infer_response::InferOutputTensor {
                name: t.name,
                datatype: t.datatype,
                shape: t.shape,
                parameters: t.parameters,
                contents: t.contents,
            })
            .collect(),
        raw_output_contents: Vec::new(),
    })
}

/// REST JSON of a model's metadata as the gRPC message (fields the message has no place
/// for, such as MLServer's nested `parameters` objects, are carried as JSON text).
pub fn metadata_proto(json: &Value) -> Result<ModelMetadataResponse, String> {
    let text = |key: &str| {
        json.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let described = |key: &str| -> Result<Vec<model_metadata_response::TensorMetadata>, String> {
        json.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| {
                Ok(model_metadata_response::TensorMetadata {
                    name: str_field(t, "name")?,
                    datatype: t
                        .get("datatype")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    shape: shape(t.get("shape"))?,
                    parameters: parameters_proto(t.get("parameters"))?,
                })
            })
            .collect()
    };
    Ok(ModelMetadataResponse {
        name: text("name"),
        versions: json
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        platform: text("platform"),
        inputs: described("inputs")?,
        outputs: described("outputs")?,
        parameters: parameters_proto(json.get("parameters"))?,
    })
}

/// A model's gRPC metadata as REST JSON.
pub fn metadata_json(metadata: &ModelMetadataResponse) -> Value {
    let described = |tensors: &[model_metadata_response::TensorMetadata]| -> Value {
        tensors
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
            .collect()
    };
    serde_json::json!({
        "name": metadata.name,
        "versions": metadata.versions,
        "platform": metadata.platform,
        "inputs": described(&metadata.inputs),
        "outputs": described(&metadata.outputs),
    })
}

/// Raw contents, when used, come one entry per tensor.
fn raw_count(raw: usize, tensors: usize, what: &str) -> Result<(), String> {
    if raw == 0 || raw == tensors {
        Ok(())
    } else {
        Err(format!(
            "{raw} raw contents for {tensors} {what}: raw contents come one per tensor"
        ))
    }
}

fn str_field(value: &Value, key: &str) -> Result<String, String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("a tensor has no string \"{key}\""))
}

fn shape(value: Option<&Value>) -> Result<Vec<i64>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(dims)) => dims
            .iter()
            .map(|d| {
                d.as_i64()
                    .ok_or_else(|| format!("shape dimension {d} is not an integer"))
            })
            .collect(),
        Some(other) => Err(format!("shape {other} is not an array")),
    }
}

/// The tensors under `key` (`inputs` or `outputs`), their `data` in the contents list of
/// their datatype.
fn tensors(object: &Map<String, Value>, key: &str) -> Result<Vec<Tensor>, String> {
    let items = match object.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("\"{key}\" is not an array")),
    };
    items
        .iter()
        .map(|t| {
            let name = str_field(t, "name")?;
            let datatype = str_field(t, "datatype")?;
            let shape = shape(t.get("shape"))?;
            let mut flat = Vec::new();
            let empty = Value::Array(Vec::new());
            flatten(t.get("data").unwrap_or(&empty), &mut flat)
                .map_err(|e| format!("tensor {name:?}: {e}"))?;
            let expected: i64 = shape.iter().product();
            if i64::try_from(flat.len()).ok() != Some(expected) {
                return Err(format!(
                    "tensor {name:?}: {} elements for shape {shape:?} ({expected} expected)",
                    flat.len()
                ));
            }
            let contents = contents(&datatype, &flat).map_err(|e| format!("tensor {name:?}: {e}"))?;
            Ok(Tensor {
                shape,
                parameters: parameters_proto(t.get("parameters"))?,
                contents: Some(contents),
                name,
                datatype,
            })
        })
        .collect()
}

fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>) -> Result<(), String> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| flatten(v, out)),
        Value::Null => Err("null is not a tensor element".to_string()),
        other => {
            out.push(other);
            Ok(())
        }
    }
}

/// Elements in the contents list of `datatype`.
fn contents(datatype: &str, flat: &[&Value]) -> Result<InferTensorContents, String> {
    let mut c = InferTensorContents::default();
    let bad = |v: &Value| format!("{v} is not an element of datatype {datatype}");
    match datatype {
        "BOOL" => {
            c.bool_contents = flat
                .iter()
                .map(|v| v.as_bool().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?
        }
        "INT8" | "INT16" | "INT32" => {
            c.int_contents = flat
                .iter()
                .map(|v| {
                    v.as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or_else(|| bad(v))
                })
                .collect::<Result<_, _>>()?;
        }
        "INT64" => {
            c.int64_contents = flat
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?
        }
        "UINT8" | "UINT16" | "UINT32" => {
            c.uint_contents = flat
                .iter()
                .map(|v| {
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| bad(v))
                })
                .collect::<Result<_, _>>()?;
        }
        "UINT64" => {
            c.uint64_contents = flat
                .iter()
                .map(|v| v.as_u64().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?
        }
        "FP32" => {
            c.fp32_contents = flat
                .iter()
                .map(|v| v.as_f64().map(|f| f as f32).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?;
        }
        "FP64" => {
            c.fp64_contents = flat
                .iter()
                .map(|v| v.as_f64().ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?
        }
        "BYTES" => {
            c.bytes_contents = flat
                .iter()
                .map(|v| v.as_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| bad(v)))
                .collect::<Result<_, _>>()?;
        }
        other => {
            return Err(format!(
                "datatype {other:?} has no JSON form here (BOOL, INT8..INT64, UINT8..UINT64, FP32, FP64 and BYTES do)"
            ));
        }
    }
    Ok(c)
}

/// A tensor as REST JSON, its elements from `raw` (little-endian bytes) when given, else
/// from its contents list.
fn tensor_json(tensor: &Tensor, raw: Option<&[u8]>) -> Result<Value, String> {
    let data = match raw {
        Some(bytes) => raw_elements(&tensor.datatype, bytes),
        None => contents_elements(tensor.contents.as_ref().cloned().unwrap_or_default()),
    }
    .map_err(|e| format!("tensor {:?}: {e}", tensor.name))?;
    let mut m = Map::new();
    m.insert("name".into(), Value::String(tensor.name.clone()));
    m.insert("datatype".into(), Value::String(tensor.datatype.clone()));
    m.insert("shape".into(), Value::from(tensor.shape.clone()));
    if !tensor.parameters.is_empty() {
        m.insert("parameters".into(), parameters_json(&tensor.parameters));
    }
    m.insert("data".into(), Value::Array(data));
    Ok(Value::Object(m))
}

/// The elements of whichever contents list is set (one is, for one datatype).
fn contents_elements(c: InferTensorContents) -> Result<Vec<Value>, String> {
    let lists: [Vec<Value>; 8] = [
        c.bool_contents.into_iter().map(Value::from).collect(),
        c.int_contents.into_iter().map(Value::from).collect(),
        c.int64_contents.into_iter().map(Value::from).collect(),
        c.uint_contents.into_iter().map(Value::from).collect(),
        c.uint64_contents.into_iter().map(Value::from).collect(),
        c.fp32_contents
            .into_iter()
            .map(|f| float(f64::from(f)))
            .collect::<Result<_, _>>()?,
        c.fp64_contents.into_iter().map(float).collect::<Result<_, _>>()?,
        c.bytes_contents.into_iter().map(text).collect::<Result<_, _>>()?,
    ];
    Ok(lists.into_iter().find(|l| !l.is_empty()).unwrap_or_default())
}

/// A float element as JSON: JSON has no NaN or infinity, so those are refused rather than
/// turned into something else.
fn float(f: f64) -> Result<Value, String> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("element {f} has no JSON form (JSON has no NaN or infinity)"))
}

/// A BYTES element as JSON text; bytes that are not UTF-8 are refused (REST carries BYTES
/// elements as strings).
fn text(bytes: Vec<u8>) -> Result<Value, String> {
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| "a BYTES element is not UTF-8 text, which REST's JSON cannot carry".to_string())
}

/// Raw little-endian elements of `datatype` (BYTES: each a 4-byte length, then its bytes).
fn raw_elements(datatype: &str, bytes: &[u8]) -> Result<Vec<Value>, String> {
    fn chunks<const N: usize>(bytes: &[u8], datatype: &str) -> Result<Vec<[u8; N]>, String> {
        if !bytes.len().is_multiple_of(N) {
            return Err(format!(
                "{} raw bytes are not whole {datatype} elements",
                bytes.len()
            ));
        }
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                a
            })
            .collect())
    }
    Ok(match datatype {
        "BOOL" => bytes.iter().map(|b| Value::Bool(*b != 0)).collect(),
        "INT8" => bytes
            .iter()
            .map(|b| Value::from(i8::from_le_bytes([*b])))
            .collect(),
        "UINT8" => bytes.iter().map(|b| Value::from(*b)).collect(),
        "INT16" => chunks::<2>(bytes, datatype)?
            .into_iter()
            .map(|c| Value::from(i16::from_le_bytes(c)))
            .collect(),
        "UINT16" => chunks::<2>(bytes, datatype)?
            .into_iter()
            .map(|c| Value::from(u16::from_le_bytes(c)))
            .collect(),
        "INT32" => chunks::<4>(bytes, datatype)?
            .into_iter()
            .map(|c| Value::from(i32::from_le_bytes(c)))
            .collect(),
        "UINT32" => chunks::<4>(bytes, datatype)?
            .into_iter()
            .map(|c| Value::from(u32::from_le_bytes(c)))
            .collect(),
        "INT64" => chunks::<8>(bytes, datatype)?
            .into_iter()
            .map(|c| Value::from(i64::from_le_bytes(c)))
            .collect(),
        "UINT64" => chunks::<8>(bytes, datatype)?
            .into_iter()
            .map(|c| Value::from(u64::from_le_bytes(c)))
            .collect(),
        "FP32" => chunks::<4>(bytes, datatype)?
            .into_iter()
            .map(|c| float(f64::from(f32::from_le_bytes(c))))
            .collect::<Result<_, _>>()?,
        "FP64" => chunks::<8>(bytes, datatype)?
            .into_iter()
            .map(|c| float(f64::from_le_bytes(c)))
            .collect::<Result<_, _>>()?,
        "BYTES" => {
            let mut out = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                let (len, tail) = rest
                    .split_at_checked(4)
                    .ok_or("a BYTES element's length is cut short")?;
                let len = usize::try_from(u32::from_le_bytes([len[0], len[1], len[2], len[3]]))
                    .unwrap_or(usize::MAX);
                let (element, tail) = tail.split_at_checked(len).ok_or("a BYTES element is cut short")?;
                out.push(text(element.to_vec())?);
                rest = tail;
            }
            out
        }
        other => return Err(format!("raw {other} elements have no JSON form here")),
    })
}

fn parameters_json(parameters: &HashMap<String, InferParameter>) -> Value {
    let mut sorted: Vec<_> = parameters.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    Value::Object(
        sorted
            .into_iter()
            .map(|(k, p)| {
                let v = match &p.parameter_choice {
                    Some(ParameterChoice::BoolParam(b)) => Value::Bool(*b),
                    Some(ParameterChoice::Int64Param(n)) => Value::from(*n),
                    Some(ParameterChoice::StringParam(s)) => Value::String(s.clone()),
                    None => Value::Null,
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// JSON parameters as `InferParameter`s: booleans, integers and strings as themselves;
/// anything else (numbers with fractions, objects, lists) as its JSON text, the only
/// place the protocol's three kinds leave for it.
fn parameters_proto(value: Option<&Value>) -> Result<HashMap<String, InferParameter>, String> {
    let object = match value {
        None | Some(Value::Null) => return Ok(HashMap::new()),
        Some(Value::Object(o)) => o,
        Some(other) => return Err(format!("parameters {other} is not an object")),
    };
    Ok(object
        .iter()
        .map(|(k, v)| {
            let choice = match v {
                Value::Bool(b) => ParameterChoice::BoolParam(*b),
                Value::Number(n) if n.is_i64() => ParameterChoice::Int64Param(n.as_i64().unwrap_or_default()),
                Value::String(s) => ParameterChoice::StringParam(s.clone()),
                other => ParameterChoice::StringParam(other.to_string()),
            };
            (
                k.clone(),
                InferParameter {
                    parameter_choice: Some(choice),
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rest_request_round_trips_through_the_grpc_message() {
        let rest = json!({
            "id": "r1",
            "parameters": {"content_type": "np"},
            "inputs": [
                {"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [[1.0, 2.5], [3.0, 4.0]]},
                {"name": "n", "datatype": "INT32", "shape": [2], "data": [1, -2]},
                {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]},
                {"name": "b", "datatype": "BOOL", "shape": [1], "data": [true]},
            ],
        });
        let proto = request_proto(&rest, "iris").expect("proto");
        assert_eq!(proto.model_name, "iris");
        let contents = proto.inputs[0].contents.clone().expect("contents");
        assert_eq!(contents.fp64_contents, vec![1.0, 2.5, 3.0, 4.0]);
        assert_eq!(
            proto.inputs[1].contents.clone().expect("ints").int_contents,
            vec![1, -2]
        );
        let back = request_json(&proto).expect("json");
        assert_eq!(
            back["inputs"][0]["data"],
            json!([1.0, 2.5, 3.0, 4.0]),
            "flat, beside the shape"
        );
        assert_eq!(back["inputs"][0]["shape"], json!([2, 2]));
        assert_eq!(back["inputs"][2]["data"], json!(["hi"]));
        assert_eq!(back["inputs"][3]["data"], json!([true]));
        assert_eq!(back["parameters"], json!({"content_type": "np"}));
        assert_eq!(back["id"], "r1");
    }

    #[test]
    fn raw_contents_are_decoded_by_datatype() {
        let request = ModelInferRequest {
            inputs: vec![
                model_infer_request::InferInputTensor {
                    name: "f".into(),
                    datatype: "FP32".into(),
                    shape: vec![2],
                    ..Default::default()
                },
                model_infer_request::InferInputTensor {
                    name: "s".into(),
                    datatype: "BYTES".into(),
                    shape: vec![2],
                    ..Default::default()
                },
            ],
            raw_input_contents: vec![
                [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat(),
                [&2u32.to_le_bytes()[..], b"ab", &1u32.to_le_bytes()[..], b"c"].concat(),
            ],
            ..Default::default()
        };
        let json = request_json(&request).expect("json");
        assert_eq!(json["inputs"][0]["data"], json!([1.5, -2.0]));
        assert_eq!(json["inputs"][1]["data"], json!(["ab", "c"]));
        let short = ModelInferRequest {
            raw_input_contents: vec![vec![1, 2, 3], [&1u32.to_le_bytes()[..], b"c"].concat()],
            ..request
        };
        let e = request_json(&short).expect_err("3 bytes of FP32");
        assert!(e.contains("not whole FP32 elements"), "{e}");
    }

    #[test]
    fn an_mlserver_answer_becomes_the_grpc_response_and_back() {
        let rest = json!({
            "model_name": "classifier", "model_version": "v1", "id": "abc",
            "parameters": {"headers": {"x": "y"}},
            "outputs": [{"name": "predict", "shape": [1, 1], "datatype": "INT64",
                         "parameters": {"content_type": "np"}, "data": [2]}],
        });
        let proto = response_proto(&rest).expect("proto");
        assert_eq!(
            proto.outputs[0]
                .contents
                .clone()
                .expect("contents")
                .int64_contents,
            vec![2]
        );
        assert_eq!(
            proto.parameters["headers"].parameter_choice,
            Some(ParameterChoice::StringParam(r#"{"x":"y"}"#.into())),
            "an object parameter travels as its JSON text"
        );
        let back = response_json(&proto).expect("json");
        assert_eq!(back["outputs"][0]["data"], json!([2]));
        assert_eq!(back["model_version"], "v1");
    }

    #[test]
    fn what_json_cannot_carry_is_refused_not_changed() {
        let output = |datatype: &str, contents: InferTensorContents| ModelInferResponse {
            outputs: vec![model_infer_response::InferOutputTensor {
                name: "y".into(),
                datatype: datatype.into(),
                shape: vec![2],
                contents: Some(contents),
                ..Default::default()
            }],
            ..Default::default()
        };
        let nan = output(
            "FP32",
            InferTensorContents {
                fp32_contents: vec![1.0, f32::NAN],
                ..Default::default()
            },
        );
        let e = response_json(&nan).expect_err("NaN");
        assert!(e.starts_with("tensor \"y\": element NaN has no JSON form"), "{e}");
        let binary = output(
            "BYTES",
            InferTensorContents {
                bytes_contents: vec![vec![0xff, 0xfe], b"ok".to_vec()],
                ..Default::default()
            },
        );
        assert!(
            response_json(&binary)
                .expect_err("not UTF-8")
                .contains("not UTF-8")
        );
        let e = request_proto(
            &json!({"inputs": [{"name": "x", "datatype": "FP64", "shape": [2], "data": [1.0, null]}]}),
            "m",
        )
        .expect_err("null");
        assert_eq!(e, "tensor \"x\": null is not a tensor element");
        let e = request_proto(
            &json!({"inputs": [{"name": "x", "datatype": "FP64", "shape": [2, 2], "data": [1.0, 2.0]}]}),
            "m",
        )
        .expect_err("too few");
        assert_eq!(e, "tensor \"x\": 2 elements for shape [2, 2] (4 expected)");
        let extra_raw = ModelInferRequest {
            raw_input_contents: vec![vec![], vec![]],
            inputs: vec![model_infer_request::InferInputTensor::default()],
            ..Default::default()
        };
        let e = request_json(&extra_raw).expect_err("2 for 1");
        assert!(e.contains("2 raw contents for 1 inputs"), "{e}");
    }

    #[test]
    fn bad_elements_name_the_tensor_and_the_datatype() {
        let e = request_proto(
            &json!({"inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": ["a"]}]}),
            "m",
        )
        .expect_err("a string in INT32");
        assert_eq!(e, "tensor \"x\": \"a\" is not an element of datatype INT32");
        let e = request_proto(
            &json!({"inputs": [{"name": "h", "datatype": "FP16", "shape": [1], "data": [1.0]}]}),
            "m",
        )
        .expect_err("FP16");
        assert!(e.contains("has no JSON form here"), "{e}");
    }
}
