//! The golden vectors of spec §9.4: exact bytes of the real image's answers.

use sluice_api::seldon::Parameter;

use super::*;

const RP: &str = r#""meta":{"requestPath":{"classifier":"seldonio/mock_classifier:1.18.2"}}"#;

fn mock() -> MockClassifier {
    MockClassifier::new("classifier", "seldonio/mock_classifier:1.18.2", &[]).expect("no parameters")
}

fn ndarray(p: &str) -> String {
    format!(r#"{{"data":{{"names":["proba"],"ndarray":{p}}},{RP}}}"#) + "\n"
}

#[track_caller]
fn assert_predict(m: &MockClassifier, request: &str, status: u16, body: &str) {
    let r = m.predict(request.as_bytes());
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).as_ref()),
        (status, body),
        "request {request}"
    );
}

#[test]
fn golden_vectors() {
    let m = mock();
    for (request, p) in [
        (
            r#"{"data":{"ndarray":[[1.0,2.0,5.0]]}}"#,
            "[[0.43782349911420193]]",
        ),
        (
            r#"{"data":{"names":["a","b","c"],"ndarray":[[1,2,5]]}}"#,
            "[[0.43782349911420193]]",
        ),
        (
            r#"{"data":{"ndarray":[[1.0,2.0,5.0,6.0]]}}"#,
            "[[0.6418340450887311]]",
        ),
        (
            r#"{"data":{"ndarray":[[1.0,2.0,5.0],[10,20,30],[0,0,0]]}}"#,
            "[[0.43782349911420193],[0.9999999619107357],[0.05133579311531625]]",
        ),
        (r#"{"data":{"ndarray":[[2.9166666666666665]]}}"#, "[[0.5]]"),
        (r#"{"data":{"ndarray":[[-10]]}}"#, "[[2.456755150038932e-06]]"),
        (r#"{"data":{"ndarray":[[-100]]}}"#, "[[2.0130732169752545e-45]]"),
        (r#"{"data":{"ndarray":[[-706]]}}"#, "[[1.3225239252321295e-308]]"),
        (r#"{"data":{"ndarray":[[1000]]}}"#, "[[1.0]]"),
        (
            r#"{"data":{"ndarray":[[1,2,3,4,5,6,7,8,9]]}}"#,
            "[[0.8892726820276319]]",
        ),
        (
            r#"{"data":{"ndarray":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.1]]}}"#,
            "[[0.08653732699415817]]",
        ),
        (r#"{"data":{"ndarray":[[true,false]]}}"#, "[[0.0819105771553252]]"),
    ] {
        assert_predict(&m, request, 200, &ndarray(p));
    }
}

#[test]
fn tensors_errors_and_meta() {
    let m = mock();
    assert_predict(
        &m,
        r#"{"data":{"tensor":{"shape":[2,2],"values":[1,2,3,4]}}}"#,
        200,
        &(format!(
            r#"{{"data":{{"names":["proba"],"tensor":{{"shape":[2,1],"values":[0.1951846770138402,0.6418340450887311]}}}},{RP}}}"#
        ) + "\n"),
    );
    let internal = |info: &str| {
        format!(
            r#"{{"status":{{"code":-1,"info":"{info}","reason":"MICROSERVICE_INTERNAL_ERROR","status":1}}}}"#
        ) + "\n"
    };
    assert_predict(
        &m,
        r#"{"data":{"ndarray":[[-1000]]}}"#,
        500,
        &internal("math range error"),
    );
    assert_predict(
        &m,
        r#"{"data":{"ndarray":[1.0,2.0]}}"#,
        500,
        &internal("Incorrect shape"),
    );
    assert_predict(&m, "{}", 400, &(r#"{"status":{"code":-1,"info":"Invalid request data type: {}","reason":"MICROSERVICE_BAD_DATA","status":1}}"#.to_string() + "\n"));
    assert_predict(&m, "not json", 400, &(r#"{"status":{"code":-1,"info":"Can't find JSON in data","reason":"MICROSERVICE_BAD_DATA","status":1}}"#.to_string() + "\n"));
    assert_predict(
        &m,
        r#"{"meta":{"puid":"abc","tags":{"t":1},"routing":{"r":1},"requestPath":{"x":"img:1"},"metrics":[{"key":"k","type":"COUNTER","value":1}]},"data":{"ndarray":[[1,2,5]]}}"#,
        200,
        &(r#"{"data":{"names":["proba"],"ndarray":[[0.43782349911420193]]},"meta":{"metrics":[{"key":"k","type":"COUNTER","value":1}],"puid":"abc","requestPath":{"classifier":"seldonio/mock_classifier:1.18.2","x":"img:1"},"tags":{"t":1}}}"#.to_string() + "\n"),
    );
    // Edge cases of §9.3 step 5.
    assert_predict(&m, r#"{"data":{"ndarray":[[]]}}"#, 200, &ndarray("[[NaN]]"));
    assert_predict(
        &m,
        r#"{"data":{"tensor":{"shape":[0,3],"values":[]}}}"#,
        200,
        &(format!(r#"{{"data":{{"names":[],"tensor":{{"shape":[0],"values":[]}}}},{RP}}}"#) + "\n"),
    );
}

#[test]
fn int_value_parameter_moves_the_threshold() {
    let p = Parameter {
        name: "intValue".into(),
        value: "1".into(),
        kind: "INT".into(),
    };
    let m = MockClassifier::new("classifier", "seldonio/mock_classifier:1.18.2", &[p]).expect("valid");
    for (row, p) in [
        ("[1,2,5]", "0.22270013882530884"),
        ("[1,2,5,6]", "0.39731466202150834"),
        ("[0,0,0]", "0.019518775144003638"),
    ] {
        assert_predict(
            &m,
            &format!(r#"{{"data":{{"ndarray":[{row}]}}}}"#),
            200,
            &ndarray(&format!("[[{p}]]")),
        );
    }
    let bad = Parameter {
        name: "intValue".into(),
        value: "1".into(),
        kind: "FLOAT".into(),
    };
    assert!(MockClassifier::new("c", "i", &[bad]).is_err());
}

#[test]
fn other_endpoints() {
    let m = mock();
    assert_eq!(
        String::from_utf8_lossy(&m.health_status().body),
        format!(r#"{{"jsonData":{{"status":"ok"}},{RP}}}"#) + "\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&m.metadata().body),
        "{\"custom\":{},\"inputs\":[],\"name\":\"seldonio/mock_classifier\",\"outputs\":[],\"platform\":\"\",\"versions\":[\"1.18.2\"]}\n"
    );
    assert_eq!(m.not_defined("Route").status, 400);
}

#[test]
fn pairwise_summation_matches_numpy_block_structure() {
    // Exact in both orders for small integers; the structure shows on rounding.
    let row: Vec<f64> = (1..=300).map(f64::from).collect();
    assert_eq!(pairwise_sum(&row), 45150.0);
    let tricky = [1e16, 1.0, -1e16, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    // Eight accumulators then the tail: (1e16+1)+(-1e16+1)+... differs from left-to-right.
    let left_to_right: f64 = tricky.iter().sum();
    assert_ne!(pairwise_sum(&tricky), left_to_right);
}
