//! One table row per admission rule: a SeldonDeployment that breaks it, the field path
//! reported and words of the message. Every row also proves the good case passes.

use k8s_openapi::api::core::v1::EnvVar;
use sluice_api::seldon::{Endpoint, Logger, Parameter, PredictiveUnit, SvcOrchSpec};

use super::*;
use crate::annotations::*;
use crate::fixture::{Builder, sdep};
use sluice_api::diagnostic::Severity;

fn good() -> Builder {
    sdep("abtest")
        .namespace("models")
        .predictor("main", Some(75))
        .predictor("canary", Some(25))
}

fn diagnostics(builder: Builder) -> Vec<Diagnostic> {
    validate(&builder.build(), &Settings::default())
}

/// Assert exactly one error, at `path`, whose message contains `words`.
#[track_caller]
fn assert_error(builder: Builder, path: &str, words: &str) {
    let errors: Vec<Diagnostic> = diagnostics(builder)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert_eq!(errors[0].path.to_string(), path, "{:#?}", errors[0]);
    assert!(
        errors[0].message.contains(words),
        "{:?} does not contain {words:?}",
        errors[0].message
    );
}

#[track_caller]
fn assert_clean(builder: Builder) {
    let found = diagnostics(builder);
    assert!(found.is_empty(), "expected no diagnostics, got {found:#?}");
}

#[test]
fn good_inputs_pass() {
    assert_clean(good());
    assert_clean(sdep("iris").predictor("default", None));
    assert_clean(sdep("iris").predictor("default", Some(100)));
    assert_clean(
        sdep("s")
            .predictor("default", Some(100))
            .predictor("shadow", None)
            .shadow(),
    );
    assert_clean(
        sdep("s")
            .predictor("default", None)
            .predictor("shadow", Some(25))
            .shadow(),
    );
}

// Seldon rules 1-3.
#[test]
fn rule_01_03_protocol_transport_server_type() {
    let set = |f: fn(&mut SeldonDeployment)| {
        let mut s = good().build();
        f(&mut s);
        validate(&s, &Settings::default())
    };
    let d = set(|s| s.spec.protocol = Some("soap".into()));
    assert_eq!(d[0].path.to_string(), "spec.protocol");
    assert!(d[0].message.contains("seldon, tensorflow, kfserving, v2"));
    assert_eq!(
        set(|s| s.spec.transport = Some("udp".into()))[0].path.to_string(),
        "spec.transport"
    );
    assert_eq!(
        set(|s| s.spec.server_type = Some("batch".into()))[0]
            .path
            .to_string(),
        "spec.serverType"
    );
    assert!(set(|s| s.spec.protocol = Some("v2".into())).is_empty());
}

// Seldon rule 4.
#[test]
fn rule_04_kafka_needs_env() {
    let mut s = sdep("k").predictor("p", None).build();
    s.spec.server_type = Some("kafka".into());
    let d = validate(&s, &Settings::default());
    assert_eq!(d[0].path.to_string(), "spec.predictors[0].svcOrchSpec.env");
    assert!(
        d[0].message
            .contains("KAFKA_BROKER, KAFKA_INPUT_TOPIC, KAFKA_OUTPUT_TOPIC")
    );
    s.spec.predictors[0].svc_orch_spec = Some(SvcOrchSpec {
        env: ["KAFKA_BROKER", "KAFKA_INPUT_TOPIC", "KAFKA_OUTPUT_TOPIC"]
            .map(|n| EnvVar {
                name: n.into(),
                value: Some("x".into()),
                value_from: None,
            })
            .to_vec(),
        ..SvcOrchSpec::default()
    });
    assert!(validate(&s, &Settings::default()).is_empty());
}

// Seldon rule 5.
#[test]
fn rule_05_shadow_cannot_be_alone() {
    assert_error(
        sdep("s").predictor("only", None).shadow(),
        "spec.predictors[0].shadow",
        "cannot be the only",
    );
}

// Seldon rule 6, extended: unique across every generated Service name.
#[test]
fn rule_06_service_names_are_unique() {
    assert_error(
        good()
            .edit(|p| {
                p.annotations.insert(SVC_NAME.into(), "shared".into());
            })
            .edit(|_| {})
            .predictor("third", Some(0))
            .predictor_annotation(SVC_NAME, "shared"),
        r#"spec.predictors[2].annotations["seldon.io/svc-name"]"#,
        "already generated for spec.predictors[1].annotations",
    );
    // Seldon misses a svc-name equal to another predictor's generated key (B12).
    assert_error(
        good().predictor_annotation(SVC_NAME, "abtest-main"),
        r#"spec.predictors[1].annotations["seldon.io/svc-name"]"#,
        "already generated for spec.predictors[0].name",
    );
}

#[test]
fn svc_name_must_be_a_dns_1035_label() {
    for bad in ["", "Canary", "1canary", "a.b"] {
        assert_error(
            sdep("x")
                .predictor("main", None)
                .predictor_annotation(SVC_NAME, bad),
            r#"spec.predictors[0].annotations["seldon.io/svc-name"]"#,
            "DNS-1035",
        );
    }
}

// Seldon rule 7.
#[test]
fn rule_07_needs_a_predictor() {
    assert_error(sdep("empty"), "spec.predictors", "at least one predictor");
}

// Seldon rule 8, fixed: the value decides, as in the controller.
#[test]
fn rule_08_no_engine_needs_a_single_node() {
    let two_nodes = || sdep("n").predictor("p", None).graph_child("transformer");
    assert_error(
        two_nodes().predictor_annotation(NO_ENGINE, "true"),
        r#"spec.predictors[0].annotations["seldon.io/no-engine"]"#,
        "single-node graph",
    );
    assert_clean(two_nodes().predictor_annotation(NO_ENGINE, "false"));
    assert_error(
        sdep("n")
            .predictor("p", None)
            .predictor_annotation(NO_ENGINE, "yes"),
        r#"spec.predictors[0].annotations["seldon.io/no-engine"]"#,
        "\"true\" or \"false\"",
    );
}

// Seldon rule 9.
#[test]
fn rule_09_duplicate_predictor_names() {
    let s = sdep("d").predictor("p1", Some(50)).predictor("p1", Some(50));
    let d = diagnostics(s);
    assert!(
        d.iter().any(|d| d.path.to_string() == "spec.predictors[1].name"
            && d.message.contains("duplicate predictor name")),
        "{d:#?}"
    );
}

// Seldon rules 10 and 11.
#[test]
fn rule_10_11_nodes_need_a_container_or_methods() {
    assert_error(
        sdep("x").predictor("p", None).edit(|p| {
            p.graph.children.push(PredictiveUnit {
                name: "ghost".into(),
                ..Default::default()
            })
        }),
        "spec.predictors[0].graph.children[0].name",
        "no container named \"ghost\"",
    );
    assert_error(
        sdep("x")
            .predictor("p", None)
            .edit(|p| p.graph.kind = Some("UNKNOWN_TYPE".into())),
        "spec.predictors[0].graph.type",
        "must list the methods",
    );
    assert_clean(sdep("x").predictor("p", None).edit(|p| {
        p.graph.kind = Some("UNKNOWN_TYPE".into());
        p.graph.methods = vec!["transform_input".into()];
    }));
    // A built-in implementation needs no container.
    assert_clean(sdep("x").predictor("p", None).edit(|p| {
        p.graph.children.push(PredictiveUnit {
            name: "r".into(),
            implementation: Some("SIMPLE_MODEL".into()),
            ..Default::default()
        });
    }));
}

// Seldon rules 12-14.
#[test]
fn rule_12_14_prepackaged_servers() {
    // A prepackaged node run by the user's own container of the same name.
    let server = |implementation: &str, uri: Option<&str>| {
        let implementation = implementation.to_string();
        let uri = uri.map(str::to_string);
        sdep("x").predictor("p", None).edit(move |p| {
            p.graph.implementation = Some(implementation);
            p.graph.model_uri = uri;
        })
    };
    let errors =
        |b: Builder| -> Vec<Diagnostic> { diagnostics(b).into_iter().filter(Diagnostic::is_error).collect() };
    assert!(errors(server("SKLEARN_SERVER", Some("gs://models/iris"))).is_empty());
    assert!(errors(server("HUGGINGFACE_SERVER", None)).is_empty());
    assert_error(
        server("SKLEARN_SERVER", None),
        "spec.predictors[0].graph.modelUri",
        "needs a modelUri",
    );
    // The model initializer is generated: nothing to say about modelUri.
    let d = diagnostics(server("SKLEARN_SERVER", Some("gs://models/iris")));
    assert!(
        d.iter().all(|d| !d.path.to_string().contains("modelUri")),
        "{d:#?}"
    );

    // Without a container: the server's container is added from predictor_servers (rule
    // 14 names an unknown server), unless the table has no image for the protocol.
    let no_container =
        |implementation: &str| server(implementation, Some("s3://m")).edit(|p| p.component_specs.clear());
    assert!(errors(no_container("SKLEARN_SERVER")).is_empty());
    assert!(errors(no_container("TRITON_SERVER").protocol("v2")).is_empty());
    assert_error(
        no_container("MY_SERVER"),
        "spec.predictors[0].graph.implementation",
        "not a prepackaged server in predictor_servers",
    );
    assert_error(
        no_container("HUGGINGFACE_SERVER"),
        "spec.predictors[0].graph.implementation",
        "no image for HUGGINGFACE_SERVER with protocol seldon (it has: v2)",
    );
    assert_error(
        no_container("TENSORFLOW_SERVER").protocol("v2"),
        "spec.predictors[0].graph.implementation",
        "no image for TENSORFLOW_SERVER with protocol v2",
    );
    // A user image stands in for the table's, but not for the TF proxy's, and an
    // implementation the table lacks fails Seldon's reconcile.
    assert!(errors(server("HUGGINGFACE_SERVER", None)).is_empty());
    assert_error(
        server("TENSORFLOW_SERVER", Some("s3://m")).protocol("v2"),
        "spec.predictors[0].graph.implementation",
        "no image for TENSORFLOW_SERVER with protocol v2",
    );
    assert_error(
        server("MY_SERVER", Some("s3://m")),
        "spec.predictors[0].graph.implementation",
        "add it to predictor_servers",
    );
    // The added container is named after the node.
    assert_error(
        no_container("SKLEARN_SERVER").edit(|p| p.graph.name = "My_Model".into()),
        "spec.predictors[0].graph.name",
        "the server's container is named after the node",
    );

    // A modelUri needs a container to download into.
    let builtin = sdep("x").predictor("p", None).edit(|p| {
        p.graph.implementation = Some("SIMPLE_MODEL".into());
        p.graph.model_uri = Some("gs://m".into());
        p.component_specs.clear();
    });
    assert_error(builtin, "spec.predictors[0].graph.modelUri", "has none");
    assert_error(
        server("SKLEARN_SERVER", Some("pvc:///models")),
        "spec.predictors[0].graph.modelUri",
        "the claim name is missing",
    );

    let mut tf = server("XGBOOST_SERVER", Some("s3://m")).build();
    tf.spec.protocol = Some("tensorflow".into());
    let d: Vec<Diagnostic> = validate(&tf, &Settings::default())
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].message.contains("tensorflow protocol"));
}

#[test]
fn volume_mounts_name_a_volume_of_the_pod_or_the_model_initializer() {
    use k8s_openapi::api::core::v1::VolumeMount;
    let mounting = |name: &str, uri: Option<&str>| {
        let (name, uri) = (name.to_string(), uri.map(str::to_string));
        sdep("x").predictor("p", None).edit(move |p| {
            p.graph.model_uri = uri;
            p.component_specs[0].spec.containers[0].volume_mounts = Some(vec![VolumeMount {
                name,
                mount_path: "/data".into(),
                ..VolumeMount::default()
            }]);
        })
    };
    assert_error(
        mounting("data", None),
        "spec.predictors[0].componentSpecs[0].spec.containers[0].volumeMounts[0].name",
        "no volume of this name in the pod",
    );
    let name = "classifier-provision-location";
    let d = diagnostics(mounting(name, Some("gs://m")));
    assert!(d.iter().all(|d| !d.is_error()), "{d:#?}");
    // The user's own initializer comes without the volume: it must be declared (§3.7).
    let own_initializer = mounting(name, Some("gs://m")).edit(|p| {
        p.component_specs[0].spec.init_containers = Some(vec![k8s_openapi::api::core::v1::Container {
            name: "classifier-model-initializer".into(),
            ..Default::default()
        }]);
    });
    assert_error(
        own_initializer,
        "spec.predictors[0].componentSpecs[0].spec.containers[0].volumeMounts[0].name",
        "no volume of this name",
    );
}

#[test]
fn containers_need_dns_names_and_real_ports() {
    assert_error(
        sdep("x").predictor("p", None).edit(|p| {
            p.component_specs[0]
                .spec
                .containers
                .push(k8s_openapi::api::core::v1::Container {
                    name: "my_sidecar".into(),
                    ..Default::default()
                })
        }),
        "spec.predictors[0].componentSpecs[0].spec.containers[1].name",
        "not a valid container name",
    );
    assert_error(
        sdep("x")
            .predictor("p", None)
            .container_port("classifier", "http", -1),
        "spec.predictors[0].componentSpecs[0].spec.containers[0].ports[0].containerPort",
        "between 1 and 65535",
    );
}

#[test]
fn annotations_at_the_wrong_level_are_reported() {
    let d = diagnostics(
        sdep("x")
            .predictor("p", None)
            .predictor_annotation(ISTIO_RETRIES, "3"),
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].message.contains("not a predictor's"), "{d:#?}");
    let d = diagnostics(
        sdep("x")
            .predictor("p", None)
            .metadata_annotation("seldon.io/engine-separate-pod", "true"),
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert!(d[0].message.contains("only read from spec.annotations"), "{d:#?}");
}

#[test]
fn empty_retries_is_unset_as_in_seldon() {
    assert_clean(sdep("x").predictor("p", None).annotation(ISTIO_RETRIES, ""));
    let d = diagnostics(
        sdep("x")
            .predictor("p", None)
            .annotation(ISTIO_RETRIES, "")
            .annotation(ISTIO_RETRIES_TIMEOUT, "bad"),
    );
    assert!(
        d.iter().all(|d| !d.is_error()),
        "timeout is not read without retries: {d:#?}"
    );
    assert_error(
        sdep("x")
            .predictor("p", None)
            .annotation(ISTIO_RETRIES, "3000000000"),
        r#"spec.annotations["seldon.io/istio-retries"]"#,
        "whole number",
    );
}

// Seldon rule 15, plus the mode values.
#[test]
fn rule_15_logger_mode() {
    let with_mode = |mode: Option<&str>| {
        let mode = mode.map(str::to_string);
        sdep("x")
            .predictor("p", None)
            .edit(move |p| p.graph.logger = Some(Logger { url: None, mode }))
    };
    assert_error(
        with_mode(None),
        "spec.predictors[0].graph.logger.mode",
        "needs a mode",
    );
    assert_error(
        with_mode(Some("everything")),
        "spec.predictors[0].graph.logger.mode",
        "request, response, all",
    );
    // A valid logger is accepted, with a warning: sluice's orchestrator does not log yet.
    let d = diagnostics(with_mode(Some("all")));
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(d[0].path.to_string(), "spec.predictors[0].graph.logger");
    assert!(d[0].message.contains("does not log requests yet"), "{d:#?}");
}

// Seldon rules 16 and 17.
#[test]
fn rule_16_17_endpoint_types() {
    let typed = |kind: &str| {
        let kind = kind.to_string();
        move |p: &mut PredictorSpec| {
            p.graph.endpoint = Some(Endpoint {
                kind: Some(kind),
                ..Default::default()
            })
        }
    };
    assert_clean(good().edit(typed("REST")));
    let mut s = good().build();
    typed("REST")(&mut s.spec.predictors[0]);
    typed("GRPC")(&mut s.spec.predictors[1]);
    let d = validate(&s, &Settings::default());
    assert!(d[0].message.contains("mix endpoint types (GRPC, REST)"), "{d:#?}");
    let mut s = sdep("x").predictor("p", None).build();
    typed("REST")(&mut s.spec.predictors[0]);
    s.spec.transport = Some("".into());
    assert!(
        validate(&s, &Settings::default()).is_empty(),
        "an empty transport is unset"
    );
    typed("GRPC")(&mut s.spec.predictors[0]);
    s.spec.transport = Some("rest".into());
    assert!(
        validate(&s, &Settings::default())[0]
            .message
            .contains("disagrees")
    );
    s.spec.transport = Some("grpc".into());
    assert!(validate(&s, &Settings::default()).is_empty());
}

// Seldon rules 18 and 19.
#[test]
fn rule_18_19_shadows() {
    let d = diagnostics(
        sdep("s")
            .predictor("main", None)
            .predictor("s1", None)
            .shadow()
            .predictor("s2", None)
            .shadow(),
    );
    assert!(
        d.iter()
            .any(|d| d.path.to_string() == "spec.predictors[2].shadow"
                && d.message.contains("only one shadow")),
        "{d:#?}"
    );
    assert_error(
        sdep("s")
            .predictor("main", None)
            .predictor("s1", Some(101))
            .shadow(),
        "spec.predictors[1].traffic",
        "between 0 and 100",
    );
}

// Seldon rules 20 and 21, with sluice's bounds.
#[test]
fn rule_20_21_traffic() {
    assert_error(
        sdep("t").predictor("a", Some(50)).predictor("b", Some(40)),
        "spec.predictors",
        "sums to 90 (a=50, b=40)",
    );
    assert_error(
        sdep("t").predictor("a", Some(50)),
        "spec.predictors[0].traffic",
        "100 or leave it unset",
    );
    // Seldon accepts these (B5, §6.3 "not validated").
    assert_error(
        sdep("t").predictor("a", Some(150)),
        "spec.predictors[0].traffic",
        "between 0 and 100",
    );
    let d = diagnostics(sdep("t").predictor("a", Some(150)).predictor("b", Some(-50)));
    assert_eq!(
        d.iter()
            .filter(|d| d.message.contains("between 0 and 100"))
            .count(),
        2,
        "{d:#?}"
    );
    // With a shadow beside it, the only non-shadow predictor still takes all traffic.
    assert_error(
        sdep("t").predictor("a", Some(50)).predictor("s", None).shadow(),
        "spec.predictors[0].traffic",
        "100 or leave it unset",
    );
}

#[test]
fn names_must_be_dns_labels() {
    assert_error(
        sdep("x").predictor("Main_1", None),
        "spec.predictors[0].name",
        "DNS-1123 label",
    );
    let mut s = sdep("x").predictor("p", None).build();
    s.metadata.name = Some("My.Model".into());
    let d = validate(&s, &Settings::default());
    assert_eq!(d[0].path.to_string(), "metadata.name", "{d:#?}");
    // A dot is a valid object name but not a valid Service name.
    let d = diagnostics(sdep("my.model").predictor("p", None));
    assert!(
        d.iter()
            .any(|d| d.message.contains("generated Service name \"my.model-p\"")),
        "{d:#?}"
    );
}

#[test]
fn istio_annotations_are_checked() {
    let with = |key: &str, value: &str| sdep("x").predictor("p", None).annotation(key, value);
    let at = |key: &str| format!("spec.annotations[{key:?}]");
    assert_clean(with(ISTIO_RETRIES, "3"));
    assert_clean(with(ISTIO_RETRIES, "0"));
    for bad in ["abc", "-1", " 3", "3.0"] {
        assert_error(with(ISTIO_RETRIES, bad), &at(ISTIO_RETRIES), "whole number");
    }
    assert_error(
        with(ISTIO_RETRIES, "3").annotation(ISTIO_RETRIES_TIMEOUT, "soon"),
        &at(ISTIO_RETRIES_TIMEOUT),
        "not a duration",
    );
    assert_clean(with(ISTIO_RETRIES, "3").annotation(ISTIO_RETRIES_TIMEOUT, "500ms"));
    assert_error(
        with(ISTIO_TIMEOUT, "forever"),
        &at(ISTIO_TIMEOUT),
        "not a duration",
    );
    assert_clean(with(ISTIO_TIMEOUT, "30s"));
    assert_error(
        with(ISTIO_RETRIES, "2").annotation(ISTIO_RETRY_ON, "5xx,sometimes"),
        &at(ISTIO_RETRY_ON),
        "\"sometimes\" is not a retry condition",
    );
    assert_clean(with(ISTIO_RETRIES, "2").annotation(ISTIO_RETRY_ON, "5xx, reset,503"));
    assert_error(
        with(ISTIO_HOST, "a.example.com,"),
        &at(ISTIO_HOST),
        "host \"\" is not valid",
    );
    assert_error(with(ISTIO_HOST, "*.*.com"), &at(ISTIO_HOST), "wildcard");
    assert_clean(with(ISTIO_HOST, "a.example.com, *.b.example.com"));
    assert_error(
        with(ISTIO_GATEWAY, "gw1 mesh"),
        &at(ISTIO_GATEWAY),
        "write [namespace/]name or mesh",
    );
    assert_error(with(ISTIO_GATEWAY, ""), &at(ISTIO_GATEWAY), "is empty");
    assert_clean(with(ISTIO_GATEWAY, "ingress/my-gateway"));
    assert_error(
        with(ISTIO_GATEWAY, "mesh"),
        &at(ISTIO_GATEWAY),
        "needs seldon.io/istio-host",
    );
    assert_error(
        with(ISTIO_GATEWAY, "mesh").annotation(ISTIO_HOST, "*"),
        &at(ISTIO_HOST),
        "wildcard host",
    );
    assert_clean(with(ISTIO_GATEWAY, "mesh").annotation(ISTIO_HOST, "x"));
    // Metadata annotations are read too, and reported at their own path.
    assert_error(
        sdep("x")
            .predictor("p", None)
            .metadata_annotation(ISTIO_RETRIES, "x"),
        r#"metadata.annotations["seldon.io/istio-retries"]"#,
        "whole number",
    );
}

#[test]
fn settings_without_effect_are_warnings() {
    let d = diagnostics(
        sdep("x")
            .predictor("p", None)
            .annotation(ISTIO_RETRIES_TIMEOUT, "2"),
    );
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(d[0].severity, Severity::Warning);
    assert!(d[0].message.contains("no effect without seldon.io/istio-retries"));

    let d = diagnostics(
        sdep("x")
            .predictor("p", None)
            .annotation("seldon.io/istio-retry", "3"),
    );
    assert_eq!(d[0].severity, Severity::Warning, "{d:#?}");
    assert!(d[0].message.contains("not an annotation"));

    let d = diagnostics(sdep("x").predictor("p", None).annotation(SVC_NAME, "x"));
    assert!(
        d[0].message.contains("only read from a predictor's annotations"),
        "{d:#?}"
    );
}

#[test]
fn parameters_types_and_unsupported_features() {
    assert_error(
        sdep("x").predictor("p", None).edit(|p| {
            p.graph.parameters.push(Parameter {
                name: "n".into(),
                value: "1".into(),
                kind: "LONG".into(),
            })
        }),
        "spec.predictors[0].graph.parameters[0].type",
        "INT, FLOAT, DOUBLE, STRING, BOOL, JSON",
    );
}

#[test]
fn explainers_are_the_types_seldons_servers_run() {
    use sluice_api::seldon::Explainer;
    let with = |kind: &str, protocol: &str| {
        let kind = kind.to_string();
        sdep("x").protocol(protocol).predictor("p", None).edit(move |p| {
            p.explainer = Some(Explainer {
                kind: Some(kind),
                ..Explainer::default()
            })
        })
    };
    assert_clean(with("AnchorTabular", "seldon"));
    assert_clean(with("Counterfactuals", "v2"));
    assert_error(
        with("Counterfactuals", "seldon"),
        "spec.predictors[0].explainer.type",
        "has no such command",
    );
    assert_error(
        with("Anchors", "v2"),
        "spec.predictors[0].explainer.type",
        "use one of: AnchorTabular",
    );
    // No type: not created, as in Seldon, and said.
    let d = diagnostics(with("", "seldon"));
    assert!(
        d.iter()
            .any(|d| !d.is_error() && d.path.to_string() == "spec.predictors[0].explainer.type"),
        "{d:#?}"
    );
}

#[test]
fn port_variables_must_agree_with_the_ports() {
    let with_env = |value: &str| {
        let value = value.to_string();
        sdep("x").predictor("p", None).edit(move |p| {
            p.component_specs[0].spec.containers[0].env = Some(vec![EnvVar {
                name: "PREDICTIVE_UNIT_HTTP_SERVICE_PORT".into(),
                value: Some(value),
                value_from: None,
            }]);
        })
    };
    assert_error(
        with_env("9999"),
        "spec.predictors[0].componentSpecs[0].spec.containers[0].env[0].value",
        "declare it: ports: [{name: http, containerPort: N}]",
    );
    assert_clean(with_env("9000"));
    assert_clean(with_env("9999").container_port("classifier", "http", 9999));
}

#[test]
fn executor_timeouts_are_whole_milliseconds() {
    assert_clean(
        sdep("x")
            .predictor("p", None)
            .annotation("seldon.io/rest-timeout", "30000"),
    );
    assert_error(
        sdep("x")
            .predictor("p", None)
            .annotation("seldon.io/rest-timeout", "30s"),
        r#"spec.annotations["seldon.io/rest-timeout"]"#,
        "whole milliseconds",
    );
    assert_error(
        sdep("x")
            .predictor("p", None)
            .predictor_annotation("seldon.io/grpc-timeout", "-1"),
        r#"spec.predictors[0].annotations["seldon.io/grpc-timeout"]"#,
        "whole milliseconds",
    );
}

#[test]
fn the_grpc_message_limit_is_a_positive_32_bit_number_of_bytes() {
    assert_clean(
        sdep("x")
            .predictor("p", None)
            .annotation("seldon.io/grpc-max-message-size", "8388608"),
    );
    for bad in ["4Mi", "0", "2147483648"] {
        assert_error(
            sdep("x")
                .predictor("p", None)
                .predictor_annotation("seldon.io/grpc-max-message-size", bad),
            r#"spec.predictors[0].annotations["seldon.io/grpc-max-message-size"]"#,
            "a number of bytes from 1 to 2147483647",
        );
    }
}
