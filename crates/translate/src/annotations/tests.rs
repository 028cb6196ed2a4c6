use std::time::Duration;

use super::*;

#[test]
fn durations_accept_whole_seconds_and_go_style() {
    for (input, expected) in [
        ("2", Duration::from_secs(2)),
        ("0500ms", Duration::from_millis(500)),
        ("500ms", Duration::from_millis(500)),
        ("1.5s", Duration::from_millis(1500)),
        ("1m30s", Duration::from_secs(90)),
        ("1h", Duration::from_secs(3600)),
    ] {
        assert_eq!(parse_duration(input), Ok(expected), "{input}");
    }
    for bad in ["", " 3", "3.0", "3x", "-5", "-5s", "s", "0", "0s", "500us"] {
        assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn durations_render_as_protobuf_json() {
    assert_eq!(render_duration(Duration::from_secs(2)), "2s");
    assert_eq!(render_duration(Duration::from_millis(500)), "0.500s");
    assert_eq!(render_duration(Duration::from_millis(1500)), "1.500s");
}

#[test]
fn gateways_are_namespace_slash_name_or_mesh() {
    assert_eq!(parse_gateway("mesh"), Ok((None, "mesh")));
    assert_eq!(parse_gateway("my-gateway"), Ok((None, "my-gateway")));
    assert_eq!(
        parse_gateway("ingress/my-gateway"),
        Ok((Some("ingress"), "my-gateway"))
    );
    for bad in ["", "a/b/c", "/gw", "ns/", "Gateway", "gw1 mesh"] {
        assert!(parse_gateway(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn spec_annotations_win_even_when_empty() {
    let sdep = crate::fixture::sdep("x")
        .predictor("p", None)
        .metadata_annotation(ISTIO_GATEWAY, "from-metadata")
        .annotation(ISTIO_GATEWAY, "")
        .build();
    let found = lookup(&sdep, ISTIO_GATEWAY).expect("present");
    assert_eq!(found.value, "");
    assert_eq!(
        found.path.to_string(),
        r#"spec.annotations["seldon.io/istio-gateway"]"#
    );
}

#[test]
fn body_sizes_are_bytes_or_binary_units() {
    assert_eq!(parse_size("1048576"), Ok(1 << 20));
    assert_eq!(parse_size("512Ki"), Ok(512 << 10));
    assert_eq!(parse_size("64Mi"), Ok(64 << 20));
    assert_eq!(parse_size("1Gi"), Ok(1 << 30));
    for bad in ["", "0", "-1", "64MB", "64 Mi", "Mi", "99999999999999999999Gi"] {
        assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
    }
    let sdep = crate::fixture::sdep("x")
        .predictor("p", None)
        .annotation(REST_MAX_BODY_SIZE, "8Mi")
        .build();
    assert_eq!(max_body_size(&sdep), Some(8 << 20));
    let rendered = crate::desired(&sdep, &crate::Settings::default()).expect("renders");
    let args = rendered.deployments[0]
        .spec
        .as_ref()
        .expect("spec")
        .template
        .spec
        .as_ref()
        .expect("pod")
        .containers
        .iter()
        .find(|c| c.name == "seldon-container-engine")
        .and_then(|c| c.args.clone())
        .unwrap_or_default();
    assert!(
        args.windows(2).any(|w| w == ["--max_request_body", "8388608"]),
        "{args:?}"
    );
}
