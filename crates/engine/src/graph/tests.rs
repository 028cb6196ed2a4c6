//! One test per rule of spec §8, with fake components that record every call.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sluice_api::seldon::{Parameter, PredictiveUnit};

use super::*;

/// Components that answer `"<node>:<method>(<input>)"` as a JSON string, and routers that
/// answer a configured route.
#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    routes: BTreeMap<String, String>,
    fail: BTreeMap<String, u16>,
    draw: f64,
}

impl Nodes for Fake {
    async fn call(&self, node: &PredictiveUnit, method: Method, payload: Payload) -> Result<Payload, Error> {
        let input: String = serde_json::from_slice::<String>(&payload.body)
            .unwrap_or_else(|_| String::from_utf8_lossy(&payload.body).into_owned());
        self.calls
            .lock()
            .expect("lock")
            .push(format!("{}{}", node.name, method.path()));
        if let Some(status) = self.fail.get(&node.name) {
            return Err(Error {
                status: *status,
                info: "failed".into(),
                body: Some(b"{\"error\":1}".to_vec()),
                grpc_code: None,
            });
        }
        if method == Method::Metadata {
            let n = &node.name;
            let body = format!(r#"{{"name":"{n}","platform":"","inputs":["{n}-in"],"outputs":["{n}-out"]}}"#);
            return Ok(Payload {
                body: body.into_bytes(),
                content_type: "application/json".into(),
            });
        }
        if method == Method::Route {
            let body = self
                .routes
                .get(&node.name)
                .cloned()
                .unwrap_or_else(|| "[0]".into());
            return Ok(Payload {
                body: body.into_bytes(),
                content_type: "application/json".into(),
            });
        }
        let tag = match method {
            Method::Predict => "p",
            Method::TransformInput => "ti",
            Method::TransformOutput => "to",
            Method::Aggregate => "agg",
            Method::SendFeedback => "fb",
            Method::Route => "r",
            Method::Status => "s",
            Method::Metadata => "md",
        };
        let out = format!("{}:{tag}({input})", node.name);
        Ok(Payload {
            body: serde_json::to_vec(&out).expect("json"),
            content_type: "application/json".into(),
        })
    }

    fn random(&self) -> f64 {
        self.draw
    }

    fn protocol(&self) -> Protocol {
        Protocol::Seldon
    }
}

fn unit(name: &str, kind: &str, children: Vec<PredictiveUnit>) -> PredictiveUnit {
    PredictiveUnit {
        name: name.into(),
        kind: (!kind.is_empty()).then(|| kind.to_string()),
        children,
        ..PredictiveUnit::default()
    }
}

fn input() -> Payload {
    Payload {
        body: b"\"x\"".to_vec(),
        content_type: "application/json".into(),
    }
}

async fn run(fake: &Fake, root: &PredictiveUnit) -> (String, Routing) {
    let (out, routing) = predict(fake, root, input()).await.expect("graph runs");
    (
        serde_json::from_slice::<String>(&out.body)
            .unwrap_or_else(|_| String::from_utf8_lossy(&out.body).into_owned()),
        routing,
    )
}

fn routing(pairs: &[(&str, i64)]) -> Routing {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn model_leaf_predicts() {
    let (out, r) = run(&Fake::default(), &unit("m", "MODEL", vec![])).await;
    assert_eq!(out, "m:p(x)");
    assert_eq!(r, routing(&[("m", -1)]));
}

#[tokio::test]
async fn model_with_children_feeds_all_and_returns_the_first() {
    let fake = Fake::default();
    let root = unit(
        "m",
        "MODEL",
        vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
    );
    let (out, r) = run(&fake, &root).await;
    assert_eq!(out, "a:p(m:p(x))");
    assert_eq!(r, routing(&[("a", -1), ("b", -1), ("m", -1)]));
    assert!(
        fake.calls
            .lock()
            .expect("lock")
            .contains(&"b/predict".to_string()),
        "every child is called (B20)"
    );
}

#[tokio::test]
async fn transformer_then_child() {
    let (out, _) = run(
        &Fake::default(),
        &unit("t", "TRANSFORMER", vec![unit("m", "MODEL", vec![])]),
    )
    .await;
    assert_eq!(out, "m:p(t:ti(x))");
}

#[tokio::test]
async fn output_transformer_transforms_the_childs_output() {
    let (out, _) = run(
        &Fake::default(),
        &unit("o", "OUTPUT_TRANSFORMER", vec![unit("m", "MODEL", vec![])]),
    )
    .await;
    assert_eq!(out, "o:to(m:p(x))");
    let (out, _) = run(&Fake::default(), &unit("o", "OUTPUT_TRANSFORMER", vec![])).await;
    assert_eq!(out, "o:to(x)", "a leaf output transformer transforms the input");
}

#[tokio::test]
async fn router_sends_to_the_chosen_child_only() {
    let mut fake = Fake::default();
    fake.routes.insert(
        "r".into(),
        r#"{"data":{"names":["t:0"],"ndarray":[[1]]},"meta":{}}"#.into(),
    );
    let root = unit(
        "r",
        "ROUTER",
        vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
    );
    let (out, r) = run(&fake, &root).await;
    assert_eq!(out, "b:p(x)");
    assert_eq!(r, routing(&[("b", -1), ("r", 1)]));
    assert!(
        !fake
            .calls
            .lock()
            .expect("lock")
            .contains(&"a/predict".to_string())
    );
}

#[tokio::test]
async fn router_minus_two_skips_children_and_minus_one_calls_all() {
    let mut fake = Fake::default();
    fake.routes.insert("r".into(), "[-2]".into());
    let root = unit("r", "ROUTER", vec![unit("a", "MODEL", vec![])]);
    let (out, r) = run(&fake, &root).await;
    assert_eq!((out.as_str(), r), ("x", routing(&[("r", -2)])));
    fake.routes.insert("r".into(), "[-1]".into());
    let root = unit(
        "r",
        "ROUTER",
        vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
    );
    let (out, _) = run(&fake, &root).await;
    assert_eq!(out, "a:p(x)");
}

#[tokio::test]
async fn bad_routes_are_errors_not_panics() {
    let mut fake = Fake::default();
    fake.routes.insert("r".into(), "[5]".into());
    let root = unit("r", "ROUTER", vec![unit("a", "MODEL", vec![])]);
    let err = predict(&fake, &root, input())
        .await
        .expect_err("route 5 of 1 child");
    assert_eq!(err.status, 500);
    assert!(
        err.info.contains("chose route 5, but it has 1 children"),
        "{}",
        err.info
    );
    for bad in ["[]", "not json", "[-3]"] {
        fake.routes.insert("r".into(), bad.into());
        assert!(predict(&fake, &root, input()).await.is_err(), "{bad}");
    }
}

#[tokio::test]
async fn a_failing_router_keeps_its_status() {
    let mut fake = Fake::default();
    fake.fail.insert("r".into(), 400);
    let root = unit("r", "ROUTER", vec![unit("a", "MODEL", vec![])]);
    let err = predict(&fake, &root, input()).await.expect_err("router fails");
    assert_eq!(err.status, 400);
    assert!(err.info.contains("/route status code 400"), "{}", err.info);
    assert!(String::from_utf8_lossy(&err.envelope()).contains("\"status\":\"FAILURE\""));
}

#[tokio::test]
async fn component_errors_pass_through() {
    let mut fake = Fake::default();
    fake.fail.insert("b".into(), 503);
    let root = unit(
        "m",
        "COMBINER",
        vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
    );
    let err = predict(&fake, &root, input()).await.expect_err("b fails");
    assert_eq!((err.status, err.envelope()), (503, b"{\"error\":1}".to_vec()));
}

#[tokio::test]
async fn combiner_aggregates_all_outputs_as_a_json_array() {
    let (out, r) = run(
        &Fake::default(),
        &unit(
            "c",
            "COMBINER",
            vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
        ),
    )
    .await;
    assert_eq!(out, r#"c:agg(["a:p(x)","b:p(x)"])"#);
    assert_eq!(r, routing(&[("a", -1), ("b", -1), ("c", -1)]));
}

#[tokio::test]
async fn random_abtest_routes_by_ratio_a() {
    let mut root = unit(
        "ab",
        "",
        vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
    );
    root.implementation = Some("RANDOM_ABTEST".into());
    root.parameters = vec![Parameter {
        name: "ratioA".into(),
        value: "0.1".into(),
        kind: "FLOAT".into(),
    }];
    let fake = Fake {
        draw: 0.05,
        ..Fake::default()
    };
    assert_eq!(run(&fake, &root).await.0, "a:p(x)");
    let fake = Fake {
        draw: 0.1000000001,
        ..Fake::default()
    };
    assert_eq!(
        run(&fake, &root).await.0,
        "a:p(x)",
        "0.1 as float32 is 0.10000000149011612"
    );
    let fake = Fake {
        draw: 0.2,
        ..Fake::default()
    };
    assert_eq!(run(&fake, &root).await.0, "b:p(x)");
}

#[tokio::test]
async fn methods_act_for_unknown_types() {
    let mut t = unit("t", "UNKNOWN_TYPE", vec![]);
    t.methods = vec!["TRANSFORM_INPUT".into(), "TRANSFORM_OUTPUT".into()];
    assert_eq!(run(&Fake::default(), &t).await.0, "t:to(t:ti(x))");
}

#[test]
fn router_answers() {
    assert_eq!(parse_route(br#"{"data":{"ndarray":[[1]]}}"#), Ok(1));
    assert_eq!(parse_route(br#"{"data":{"ndarray":[2.7]}}"#), Ok(2));
    assert_eq!(
        parse_route(br#"{"data":{"tensor":{"shape":[1],"values":[0]}}}"#),
        Ok(0)
    );
    assert_eq!(parse_route(br#"{"jsonData":{"x":1}}"#), Ok(-1));
    assert_eq!(parse_route(b"[3]"), Ok(3));
    assert!(parse_route(br#"{"data":{"ndarray":[]}}"#).is_err());
}

#[tokio::test]
async fn feedback_follows_the_routing_of_the_response() {
    let fake = Fake::default();
    let root = unit(
        "r",
        "ROUTER",
        vec![unit("a", "MODEL", vec![]), unit("b", "MODEL", vec![])],
    );
    let body = br#"{"request":{},"response":{"meta":{"routing":{"r":1}}},"reward":1}"#.to_vec();
    feedback(
        &fake,
        &root,
        Payload {
            body,
            content_type: "application/json".into(),
        },
    )
    .await
    .expect("feedback");
    let calls = fake.calls.lock().expect("lock").clone();
    assert_eq!(calls, ["b/send-feedback", "r/send-feedback"]);
    let fake = Fake::default();
    let t = unit("t", "TRANSFORMER", vec![]);
    let out = feedback(&fake, &t, input()).await.expect("echo");
    assert_eq!(out, input(), "non-model nodes echo the feedback");
}

#[test]
fn each_protocol_has_its_component_paths() {
    use Protocol::*;
    let cases = [
        (Seldon, Method::Predict, "/predict"),
        (Seldon, Method::Status, "/health/status"),
        (Tensorflow, Method::Predict, "/v1/models/m:predict"),
        (Tensorflow, Method::TransformOutput, "/v1/models/m:predict"),
        (Tensorflow, Method::Route, "/v1/models/m:route"),
        (Tensorflow, Method::Aggregate, "/v1/models/m:aggregate"),
        (Tensorflow, Method::Status, "/v1/models/m"),
        (Tensorflow, Method::Metadata, "/v1/models/m/metadata"),
        (V2, Method::Predict, "/v2/models/m/infer"),
        (V2, Method::TransformInput, "/v2/models/m/infer"),
        (V2, Method::Route, "/v2/models/m/route"),
        (V2, Method::Aggregate, "/v2/models/m/aggregate"),
        (V2, Method::Status, "/v2/models/m/ready"),
        (V2, Method::Metadata, "/v2/models/m"),
    ];
    for (protocol, method, path) in cases {
        assert_eq!(protocol.path(method, "m"), path, "{protocol:?} {method:?}");
    }
    assert_eq!(Protocol::from_spec(None), Some(Seldon));
    assert_eq!(Protocol::from_spec(Some("kfserving")), Some(V2));
    assert_eq!(Protocol::from_spec(Some("grpc")), None);
}

#[test]
fn chaining_renames_the_previous_answer_for_the_next_request() {
    let json = |body: &str| Payload {
        body: body.as_bytes().to_vec(),
        content_type: "application/json".into(),
    };
    let v2 = Protocol::V2
        .chain(json(r#"{"model_name":"a","outputs":[{"name":"y","data":[1]}]}"#))
        .expect("object");
    assert_eq!(
        String::from_utf8(v2.body).expect("utf-8"),
        r#"{"inputs":[{"data":[1],"name":"y"}],"model_name":"a"}"#
    );
    let tf = Protocol::Tensorflow
        .chain(json(r#"{"predictions":[[1,2]]}"#))
        .expect("object");
    assert_eq!(tf.body, br#"{"instances":[[1,2]]}"#);
    // A request (no answer key) and Seldon messages pass byte for byte.
    let request = r#"{"inputs": [ ]}"#;
    assert_eq!(
        Protocol::V2.chain(json(request)).expect("object").body,
        request.as_bytes()
    );
    assert_eq!(
        Protocol::Seldon.chain(json("not json")).expect("as is").body,
        b"not json"
    );
    assert!(Protocol::V2.chain(json("not json")).is_err());
    assert!(Protocol::V2.chain(json("[1]")).is_err());
}

/// Components answering Open Inference responses, recording what each was sent.
struct V2Fake(Mutex<Vec<(String, String)>>);

impl Nodes for V2Fake {
    async fn call(&self, node: &PredictiveUnit, method: Method, payload: Payload) -> Result<Payload, Error> {
        self.0.lock().expect("lock").push((
            format!("{}{}", node.name, method.path()),
            String::from_utf8_lossy(&payload.body).into_owned(),
        ));
        Ok(Payload {
            body: format!(r#"{{"outputs":["{}"]}}"#, node.name).into_bytes(),
            content_type: "application/json".into(),
        })
    }

    fn random(&self) -> f64 {
        0.0
    }

    fn protocol(&self) -> Protocol {
        Protocol::V2
    }
}

#[tokio::test]
async fn v2_graphs_chain_outputs_into_inputs_and_echo_feedback() {
    let fake = V2Fake(Mutex::new(Vec::new()));
    let root = unit("t", "TRANSFORMER", vec![unit("m", "MODEL", vec![])]);
    let input = Payload {
        body: br#"{"inputs":["x"]}"#.to_vec(),
        content_type: "application/json".into(),
    };
    let (out, _) = predict(&fake, &root, input.clone()).await.expect("graph runs");
    assert_eq!(out.body, br#"{"outputs":["m"]}"#);
    let calls = fake.0.lock().expect("lock").clone();
    assert_eq!(
        calls,
        [
            ("t/transform-input".to_string(), r#"{"inputs":["x"]}"#.to_string()),
            ("m/predict".to_string(), r#"{"inputs":["t"]}"#.to_string()),
        ]
    );
    let echoed = feedback(&fake, &root, input.clone()).await.expect("echo");
    assert_eq!(echoed, input, "only the seldon protocol sends feedback");
    assert_eq!(fake.0.lock().expect("lock").len(), 2, "no feedback call");
}

#[tokio::test]
async fn graph_metadata_lists_every_node_and_takes_the_edges_inputs_and_outputs() {
    let fake = Fake::default();
    let leaf = |name: &str| unit(name, "MODEL", vec![]);
    let cases = [
        (leaf("a"), "a-in", "a-out"),
        (
            unit("t", "TRANSFORMER", vec![leaf("a"), leaf("b")]),
            "t-in",
            "a-out",
        ),
        (unit("o", "OUTPUT_TRANSFORMER", vec![leaf("a")]), "a-in", "o-out"),
        (unit("c", "COMBINER", vec![leaf("a"), leaf("b")]), "a-in", "c-out"),
        (unit("r", "ROUTER", vec![leaf("a"), leaf("b")]), "a-in", "a-out"),
        // No type (a RANDOM_ABTEST router): Seldon panics here (B19); the first child's.
        (unit("ab", "", vec![leaf("a"), leaf("b")]), "a-in", "a-out"),
        (
            unit("t", "TRANSFORMER", vec![unit("c", "COMBINER", vec![leaf("a")])]),
            "t-in",
            "c-out",
        ),
    ];
    for (root, inputs, outputs) in cases {
        let m = metadata(&fake, "default", &root).await.expect("metadata");
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(json["graphinputs"], serde_json::json!([inputs]), "{}", root.name);
        assert_eq!(
            json["graphoutputs"],
            serde_json::json!([outputs]),
            "{}",
            root.name
        );
        assert_eq!(
            json["models"].as_object().map(|o| o.len()),
            Some(root.walk().len())
        );
    }
    // Field order and omissions as the executor writes them: empty platform left out.
    let m = metadata(&fake, "default", &leaf("a")).await.expect("metadata");
    assert_eq!(
        serde_json::to_string(&m).expect("json"),
        r#"{"name":"default","models":{"a":{"name":"a","inputs":["a-in"],"outputs":["a-out"]}},"graphinputs":["a-in"],"graphoutputs":["a-out"]}"#
    );
}
