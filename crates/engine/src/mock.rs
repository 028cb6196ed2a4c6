//! `seldonio/mock_classifier`: Seldon's `MeanClassifier` model behind its Python wrapper,
//! reproduced bit for bit (spec §9): numpy's pairwise summation, C `exp`, Python's
//! `math range error`, Flask's JSON and the wrapper's `meta` handling.

use serde_json::{Map, Value, json};
use sluice_api::seldon::Parameter;

use crate::pyjson;

/// Sum of the model's 3×4 matrix `[[1,5,3,4],[2,3,1,4],[6,3,2,1]]`.
const MATRIX_SUM: f64 = 35.0;
/// Its element count.
const MATRIX_LEN: f64 = 12.0;

/// A response from the component: status and body bytes (with Flask's trailing newline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body, `application/json`.
    pub body: Vec<u8>,
}

/// The mock classifier as one container of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct MockClassifier {
    /// `PREDICTIVE_UNIT_ID`: the container name, the `requestPath` key.
    pub container: String,
    /// `PREDICTIVE_UNIT_IMAGE`: the `requestPath` value and the metadata name and version.
    pub image: String,
    /// `threshold = mean(matrix) + intValue`.
    threshold: f64,
}

/// A parameter the model cannot take (the real container crashes at start-up).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mock classifier parameter {name:?}: {reason}")]
pub struct ParameterError {
    /// Which parameter.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

impl MockClassifier {
    /// The model with its init parameters (`intValue` and `delaySecs`, both INT).
    pub fn new(container: &str, image: &str, parameters: &[Parameter]) -> Result<Self, ParameterError> {
        let mut int_value = 0i64;
        for p in parameters {
            if p.name != "intValue" && p.name != "delaySecs" {
                continue;
            }
            if p.kind != "INT" {
                return Err(ParameterError {
                    name: p.name.clone(),
                    reason: format!("must be of type INT, not {}", p.kind),
                });
            }
            let value: i64 = p.value.trim().parse().map_err(|_| ParameterError {
                name: p.name.clone(),
                reason: format!("{:?} is not an integer", p.value),
            })?;
            if p.name == "intValue" {
                int_value = value;
            }
        }
        Ok(MockClassifier {
            container: container.to_string(),
            image: image.to_string(),
            threshold: MATRIX_SUM / MATRIX_LEN + int_value as f64,
        })
    }

    /// `POST /predict`.
    pub fn predict(&self, body: &[u8]) -> Response {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(400, "Can't find JSON in data", "MICROSERVICE_BAD_DATA"),
        };
        let Some(object) = request.as_object().filter(|o| {
            ["data", "binData", "strData", "jsonData"]
                .iter()
                .any(|k| o.contains_key(*k))
        }) else {
            return error(
                400,
                &format!("Invalid request data type: {}", python_repr(&request)),
                "MICROSERVICE_BAD_DATA",
            );
        };
        let data = object.get("data");
        let (rows, tensor) = match features(data) {
            Ok(f) => f,
            Err(info) => return error(500, &info, "MICROSERVICE_INTERNAL_ERROR"),
        };
        let mut probabilities = Vec::with_capacity(rows.len());
        for row in &rows {
            let mean = pairwise_sum(row) / row.len() as f64;
            let x = -(mean - self.threshold);
            let e = x.exp();
            if e.is_infinite() && x.is_finite() {
                // Python's math.exp raises where C's exp returns inf.
                return error(500, "math range error", "MICROSERVICE_INTERNAL_ERROR");
            }
            probabilities.push(1.0 / (1.0 + e));
        }
        let data = if tensor {
            let names: Vec<&str> = if rows.is_empty() { vec![] } else { vec!["proba"] };
            let shape: Vec<usize> = if rows.is_empty() {
                vec![0]
            } else {
                vec![rows.len(), 1]
            };
            json!({"names": names, "tensor": {"shape": shape, "values": floats(&probabilities)}})
        } else {
            let rows: Vec<Value> = probabilities
                .iter()
                .map(|p| Value::Array(vec![float(*p)]))
                .collect();
            json!({"names": ["proba"], "ndarray": rows})
        };
        ok(json!({"data": data, "meta": self.meta(object.get("meta"))}))
    }

    /// `POST /transform-input`: the data echoed with the model's names.
    pub fn transform_input(&self, body: &[u8]) -> Response {
        let request: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error(400, "Can't find JSON in data", "MICROSERVICE_BAD_DATA"),
        };
        let mut data = request.get("data").cloned().unwrap_or_else(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            d.insert("names".to_string(), json!(["proba"]));
        }
        ok(json!({"data": data, "meta": self.meta(request.get("meta"))}))
    }

    /// `POST /send-feedback`.
    pub fn send_feedback(&self, body: &[u8]) -> Response {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let data = if request.pointer("/request/data/ndarray").is_some() {
            json!({"ndarray": []})
        } else {
            json!({"tensor": {"shape": [0]}})
        };
        ok(json!({"data": data, "meta": self.meta(None)}))
    }

    /// `GET /health/status`.
    pub fn health_status(&self) -> Response {
        ok(json!({"jsonData": {"status": "ok"}, "meta": self.meta(None)}))
    }

    /// `GET /metadata`: built from the image tag, as the 1.18 wrapper does.
    pub fn metadata(&self) -> Response {
        let (name, version) = self.image.rsplit_once(':').unwrap_or((self.image.as_str(), ""));
        let versions: Vec<&str> = if version.is_empty() { vec![] } else { vec![version] };
        ok(
            json!({"custom": {}, "inputs": [], "name": name, "outputs": [], "platform": "", "versions": versions}),
        )
    }

    /// `POST /route` and `POST /aggregate`: the model implements neither.
    pub fn not_defined(&self, what: &str) -> Response {
        Response {
            status: 400,
            body: format!("{what} not defined").into_bytes(),
        }
    }

    /// The response meta: the request's, without `routing`, with this unit in `requestPath`.
    fn meta(&self, request_meta: Option<&Value>) -> Value {
        let mut meta: Map<String, Value> = request_meta
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        meta.remove("routing");
        let mut path = meta
            .get("requestPath")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        path.insert(self.container.clone(), Value::String(self.image.clone()));
        meta.insert("requestPath".to_string(), Value::Object(path));
        Value::Object(meta)
    }
}

fn ok(value: Value) -> Response {
    Response {
        status: 200,
        body: pyjson::to_string(&value).into_bytes(),
    }
}

/// The wrapper's error envelope.
fn error(status: u16, info: &str, reason: &str) -> Response {
    let body = json!({"status": {"code": -1, "info": info, "reason": reason, "status": 1}});
    Response {
        status,
        body: pyjson::to_string(&body).into_bytes(),
    }
}

fn float(x: f64) -> Value {
    pyjson::number(x)
}

fn floats(xs: &[f64]) -> Vec<Value> {
    xs.iter().map(|x| float(*x)).collect()
}

/// The request's features as rows of float64 (numpy's view), and whether they came as a tensor.
fn features(data: Option<&Value>) -> Result<(Vec<Vec<f64>>, bool), String> {
    const SHAPE: &str = "Incorrect shape";
    let Some(data) = data else {
        return Err(SHAPE.to_string());
    };
    if let Some(ndarray) = data.get("ndarray") {
        let rows = ndarray.as_array().ok_or(SHAPE)?;
        if rows.is_empty() || !rows.iter().all(Value::is_array) {
            return Err(SHAPE.to_string());
        }
        let width = rows[0].as_array().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let row = row.as_array().ok_or(SHAPE)?;
            if row.len() != width {
                return Err("setting an array element with a sequence. The requested array has an inhomogeneous shape after 1 dimensions.".to_string());
            }
            if row.iter().any(Value::is_array) {
                return Err(SHAPE.to_string());
            }
            out.push(row.iter().map(number).collect::<Result<Vec<f64>, String>>()?);
        }
        return Ok((out, false));
    }
    if let Some(tensor) = data.get("tensor") {
        let shape: Vec<usize> = tensor
            .get("shape")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_u64)
                    .map(|d| usize::try_from(d).unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        let [n, width] = shape.as_slice() else {
            return Err(SHAPE.to_string());
        };
        let values: Vec<f64> = tensor
            .get("values")
            .and_then(Value::as_array)
            .map(|v| v.iter().map(number).collect::<Result<Vec<f64>, String>>())
            .transpose()?
            .unwrap_or_default();
        if values.len() != n * width {
            return Err(format!(
                "cannot reshape array of size {} into shape ({n},{width})",
                values.len()
            ));
        }
        let rows = if *width == 0 {
            vec![Vec::new(); *n]
        } else {
            values.chunks(*width).map(<[f64]>::to_vec).collect()
        };
        return Ok((rows, true));
    }
    Err(SHAPE.to_string())
}

fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| "not a number".to_string()),
        Value::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        _ => Err("ufunc 'add' did not contain a loop with signature matching types".to_string()),
    }
}

/// numpy's pairwise summation of a contiguous float64 row (spec §9.3 step 4).
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0f64; 8];
        r.copy_from_slice(&a[..8]);
        let blocks = n - n % 8;
        let mut i = 8;
        while i < blocks {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[blocks..] {
            res += x;
        }
        res
    } else {
        let n2 = (n / 2) - (n / 2) % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// Python's `repr` of a parsed JSON value (dicts with single quotes, True/False/None).
fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::Number(n) => n.as_i64().map_or_else(
            || n.as_f64().map_or_else(|| n.to_string(), pyjson::float),
            |i| i.to_string(),
        ),
        Value::String(s) => format!("'{s}'"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;
