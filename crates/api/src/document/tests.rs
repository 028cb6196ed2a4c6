use super::*;
use crate::seldon::SeldonDeployment;

const TWO_DOCS: &str = "\
---
# leading comment
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: iris
  annotations:
    seldon.io/istio-host: a.example.com
spec:
  predictors:
  - name: default
    graph: {name: classifier, type: MODEL}
    bogus: 1
  - name: canary
    graph:
      name: classifier
---
---
apiVersion: v1
kind: Service
metadata: {name: other}
";

#[test]
fn parses_every_non_empty_document_with_kind_and_name() {
    let docs = parse(TWO_DOCS).expect("valid yaml");
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].kind(), "SeldonDeployment");
    assert_eq!(docs[0].name(), "iris");
    assert_eq!(docs[1].kind(), "Service");
    assert_eq!(docs[1].start(), Position { line: 19, column: 1 });
}

#[test]
fn positions_point_at_keys_and_list_items() {
    let docs = parse(TWO_DOCS).expect("valid yaml");
    let doc = &docs[0];
    let at = |p: &str| doc.position(&FieldPath::parse(p));
    assert_eq!(at("metadata.name"), Position { line: 6, column: 3 });
    assert_eq!(at("spec.predictors[1]"), Position { line: 14, column: 5 });
    assert_eq!(
        at("spec.predictors[1].graph.name"),
        Position { line: 16, column: 7 }
    );
    assert_eq!(
        at("spec.predictors[0].graph.type"),
        Position { line: 12, column: 31 }
    );
    let annotation = FieldPath::parse("metadata.annotations").key("seldon.io/istio-host");
    assert_eq!(doc.position(&annotation), Position { line: 8, column: 5 });
    // An absent field falls back to its closest present parent.
    assert_eq!(at("spec.predictors[1].traffic"), Position { line: 14, column: 5 });
}

#[test]
fn typed_reports_fields_the_type_does_not_know() {
    let docs = parse(TWO_DOCS).expect("valid yaml");
    let typed = docs[0].typed::<SeldonDeployment>().expect("fits the type");
    assert_eq!(typed.value.spec.predictors.len(), 2);
    let ignored: Vec<String> = typed.ignored.iter().map(ToString::to_string).collect();
    assert_eq!(ignored, ["spec.predictors[0].bogus"]);
}

#[test]
fn fields_written_without_a_value_are_absent() {
    let docs = parse(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  annotations:\n  predictors:\n  - name: a\n    componentSpecs:\n    graph:\n      name: m\n      children:\n      parameters: ~\n      endpoint: null\n",
    )
    .expect("valid yaml");
    let typed = docs[0]
        .typed::<SeldonDeployment>()
        .expect("empty fields are absent, not type errors");
    let predictor = &typed.value.spec.predictors[0];
    assert!(predictor.component_specs.is_empty());
    assert!(predictor.graph.children.is_empty() && predictor.graph.parameters.is_empty());
    assert!(predictor.graph.endpoint.is_none());
    assert!(typed.value.spec.annotations.is_empty());
    assert!(typed.ignored.is_empty(), "{:?}", typed.ignored);
    // A null list item is still an error, at its index.
    let docs = parse(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors:\n  -\n",
    )
    .expect("valid yaml");
    let err = docs[0].typed::<SeldonDeployment>().expect_err("null predictor");
    assert_eq!(err.path.to_string(), "spec.predictors[0]");
}

#[test]
fn seldons_documented_autoscaling_fields_are_read() {
    let docs = parse(
        "apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {name: x}
spec:
  predictors:
  - name: a
    graph: {name: m}
    componentSpecs:
    - hpaSpec:
        minReplicas: 1
        maxReplicas: 3
        metrics:
        - type: Resource
          resource: {name: cpu, targetAverageUtilization: 10}
        metricsv2:
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 10}}
      kedaSpec:
        triggers:
        - type: prometheus
          metadata: {serverAddress: 'http://prometheus:9090', threshold: '10'}
          authenticationRef: {name: keda-prometheus}
",
    )
    .expect("valid yaml");
    let typed = docs[0]
        .typed::<SeldonDeployment>()
        .expect("Seldon 1.18's CRD fields");
    assert!(typed.ignored.is_empty(), "{:?}", typed.ignored);
    let spec = &typed.value.spec.predictors[0].component_specs[0];
    let hpa = spec.hpa_spec.as_ref().expect("hpaSpec");
    let resource = hpa.metrics[0].resource.as_ref().expect("v2beta1 resource");
    assert_eq!(resource.target_average_utilization, Some(10));
    assert_eq!(hpa.metricsv2.len(), 1);
    let keda = spec.keda_spec.as_ref().expect("kedaSpec");
    assert_eq!(
        keda.triggers[0]
            .authentication_ref
            .as_ref()
            .map(|r| r.name.as_str()),
        Some("keda-prometheus")
    );
}

#[test]
fn type_errors_carry_the_field_path() {
    let docs = parse(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: x}\nspec:\n  predictors:\n  - name: a\n    traffic: lots\n    graph: {name: m}\n",
    )
    .expect("valid yaml");
    let err = docs[0]
        .typed::<SeldonDeployment>()
        .expect_err("traffic is not a number");
    assert_eq!(err.path.to_string(), "spec.predictors[0].traffic");
    assert!(err.message.contains("invalid type"), "{}", err.message);
    assert_eq!(docs[0].position(&err.path), Position { line: 7, column: 5 });
}

#[test]
fn syntax_errors_have_a_position() {
    let err = parse("a: [1, 2\nb: c\n").expect_err("unclosed flow sequence");
    assert!(err.position.is_some(), "{err:?}");
}

#[test]
fn paths_print_like_kubernetes_field_paths() {
    let path = FieldPath::root()
        .key("spec")
        .key("predictors")
        .index(0)
        .key("annotations")
        .key("seldon.io/svc-name");
    assert_eq!(
        path.to_string(),
        r#"spec.predictors[0].annotations["seldon.io/svc-name"]"#
    );
    assert_eq!(
        FieldPath::parse("spec.predictors[0].graph").to_string(),
        "spec.predictors[0].graph"
    );
}

#[test]
fn parse_reads_what_display_prints() {
    for text in [
        "spec.predictors[0].graph.children[12].name",
        "metadata.annotations[\"seldon.io/istio-host\"]",
        "spec.http[0].headers.request.set[\"x \\\"quoted\\\"\"]",
        "spec.x[\"a.b\"].y",
    ] {
        assert_eq!(FieldPath::parse(text).to_string(), text);
    }
    assert_eq!(
        FieldPath::parse("metadata.annotations[\"seldon.io/istio-host\"]"),
        FieldPath::root()
            .key("metadata")
            .key("annotations")
            .key("seldon.io/istio-host")
    );
}

#[test]
fn a_large_configuration_is_read_whole() {
    // 5,000 SeldonDeployments' Istio objects in one file: 10,000 documents and about half a
    // million nodes, over serde-saphyr's default budgets (1,024 documents, 250,000 nodes).
    let one = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: NAME-http, namespace: seldon}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/seldon-gateway]\n  http:\n  - match: [{uri: {prefix: /seldon/seldon/NAME/}}]\n    rewrite: {uri: /}\n    route: [{destination: {host: NAME-default.seldon.svc.cluster.local, port: {number: 8000}}}]\n  - match: [{uri: {regex: \".*seldon.protos.*\"}, headers: {seldon: {exact: NAME}, namespace: {exact: seldon}}}]\n    route: [{destination: {host: NAME-default.seldon.svc.cluster.local, port: {number: 5001}}}]\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: NAME-default, namespace: seldon}\nspec:\n  host: NAME-default.seldon.svc.cluster.local\n  subsets: [{name: default, labels: {version: default}}]\n---\n";
    let text: String = (0..5_000)
        .map(|i| one.replace("NAME", &format!("model-{i}")))
        .collect();
    let docs = parse(&text).expect("read whole");
    assert_eq!(docs.len(), 10_000);
    assert_eq!(docs[9_998].name(), "model-4999-http");
}

#[test]
fn positions_are_indexed_once_and_only_when_asked_for() {
    // Indexing costs about as much as parsing: a load without problems never pays it.
    let docs = parse(TWO_DOCS).expect("valid yaml");
    assert!(
        docs[0].anchor.positions.index.get().is_none(),
        "nothing indexed yet"
    );
    assert_eq!(docs[1].start(), Position { line: 19, column: 1 });
    assert!(
        Arc::ptr_eq(&docs[0].anchor.positions, &docs[1].anchor.positions),
        "one index per text"
    );
    assert!(
        docs[0].anchor.positions.index.get().is_some(),
        "indexed for every document at once"
    );
}

#[test]
fn a_text_splits_before_each_document_marker_with_the_lines_before_it() {
    let parts = split(TWO_DOCS).expect("no directives");
    let starts: Vec<usize> = parts.iter().map(|(lines, _)| *lines).collect();
    assert_eq!(starts, [0, 16, 17]);
    assert_eq!(parts.iter().map(|(_, t)| *t).collect::<String>(), TWO_DOCS);
    assert!(parts[1].1.starts_with("---\n") && parts[2].1.starts_with("---\n"));
    // Not markers: `---` inside a line, followed by other text, or indented.
    let text = "a: ---\n---x: 1\nb: |\n  ---\n--- # c\nd: 1\n";
    let parts = split(text).expect("no directives");
    assert_eq!(
        parts,
        [(0, "a: ---\n---x: 1\nb: |\n  ---\n"), (4, "--- # c\nd: 1\n")]
    );
    assert_eq!(
        split("%YAML 1.2\n---\na: 1\n"),
        None,
        "a directive reads the text whole"
    );
    assert_eq!(
        split("\u{feff}%YAML 1.2\n---\na: 1\n"),
        None,
        "also after a byte-order mark"
    );
    // The YAML reader breaks lines at a lone `\r` too, and stops at a NUL.
    assert_eq!(split("#\r#\n---\na: 1\n"), None);
    assert_eq!(split("a: 1\n\0\n---\nb: 1\n"), None);
    assert_eq!(
        split("a: 1\r\n---\r\nb: 1\r\n").map(|p| p.len()),
        Some(2),
        "CRLF is a line end"
    );
    assert_eq!(split(""), Some(vec![(0, "")]));
    // A marker first is no cut; a last line without its line end is kept; `----` is no
    // marker, nor is one after a byte-order mark.
    assert_eq!(
        split("---\na: 1\n---\nb: 1"),
        Some(vec![(0, "---\na: 1\n"), (2, "---\nb: 1")])
    );
    assert_eq!(split("a: 1\n----\nb: 1\n"), Some(vec![(0, "a: 1\n----\nb: 1\n")]));
    assert_eq!(
        split("a: 1\n\u{feff}---\n"),
        Some(vec![(0, "a: 1\n\u{feff}---\n")])
    );
    assert_eq!(split("a: 1\n---"), Some(vec![(0, "a: 1\n"), (1, "---")]));
}

#[test]
fn documents_of_the_parts_are_the_documents_of_the_text_at_the_same_positions() {
    let whole = parse(TWO_DOCS).expect("valid yaml");
    let mut parts = Vec::new();
    for (lines, text) in split(TWO_DOCS).expect("no directives") {
        parts.extend(
            parse(text)
                .expect("each part is valid yaml")
                .into_iter()
                .map(|d| (d.value.clone(), d.anchor().with_lines_before(lines))),
        );
    }
    assert_eq!(parts.len(), whole.len());
    for (doc, (value, anchor)) in whole.iter().zip(&parts) {
        assert_eq!(&doc.value, value);
        assert_eq!(doc.start(), anchor.start());
        let bogus = FieldPath::parse("spec.predictors[0].bogus");
        assert_eq!(doc.position(&bogus), anchor.position(&bogus));
    }
    assert_eq!(parts[1].1.start(), Position { line: 19, column: 1 });
}
