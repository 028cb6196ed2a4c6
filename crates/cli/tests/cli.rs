//! The `sluice` binary as a user runs it: exit codes, compiler-style diagnostics with
//! file:line:column, stdin, output formats, settings from flags and Seldon's env vars.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn sluice(args: &[&str]) -> Output {
    run(args, &[], None)
}

fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(args)
        .current_dir(workspace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for key in [
        "ISTIO_ENABLED",
        "ISTIO_GATEWAY",
        "ISTIO_TLS_MODE",
        "ENGINE_SERVER_PORT",
    ] {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd.spawn().expect("sluice runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("sluice finishes")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp file");
    path
}

const BAD: &str = "\
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: abtest
spec:
  annotations:
    seldon.io/istio-retries: three
  predictors:
  - name: p1
    traffic: 50
    graph: {name: classifier, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: classifier, image: seldonio/mock_classifier:1.18.2}]
  - name: p1
    traffic: 40
    replica: 2
    graph: {name: classifier, type: MODEL}
    componentSpecs:
    - spec:
        containers: [{name: classifier, image: seldonio/mock_classifier:1.18.2}]
";

#[test]
fn validate_accepts_every_example() {
    let out = sluice(&["validate", "-f", "examples/"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).trim(), "0 errors, 0 warnings");
}

#[test]
fn a_file_with_nothing_sluice_reads_is_a_warning() {
    // Only comments, and only a kind sluice does not read: each file named at its first line.
    let comments = temp_file("only-comments.yaml", "# a SeldonDeployment goes here\n");
    let config_map = temp_file(
        "config-map.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n",
    );
    let out = sluice(&[
        "validate",
        "-f",
        comments.to_str().expect("utf-8 path"),
        "-f",
        config_map.to_str().expect("utf-8 path"),
        "-f",
        "examples/canary.yaml",
    ]);
    let text = stdout(&out);
    for file in [&comments, &config_map] {
        assert!(
            text.contains(&format!(
                "{}:1:1: warning: no SeldonDeployment or Istio object in this file; it adds nothing",
                file.display()
            )),
            "{text}{}",
            stderr(&out)
        );
    }
    assert!(!text.contains("canary.yaml:1:1: warning"), "{text}");
}

#[test]
fn validate_reports_every_problem_with_its_position() {
    let file = temp_file("bad.yaml", BAD);
    let out = sluice(&["validate", "-f", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let f = file.display();
    for line in [
        format!(
            "{f}:7:5: error: [SeldonDeployment/abtest] spec.annotations[\"seldon.io/istio-retries\"]: invalid value \"three\": retry attempts must be a whole number"
        ),
        format!(
            "{f}:15:5: error: [SeldonDeployment/abtest] spec.predictors[1].name: invalid value \"p1\": duplicate predictor name"
        ),
        format!(
            "{f}:17:5: warning: [SeldonDeployment/abtest] spec.predictors[1].replica: not a field of the SeldonDeployment schema"
        ),
        format!(
            "{f}:8:3: error: [SeldonDeployment/abtest] spec.predictors: the traffic of the non-shadow predictors must sum to 100; it sums to 90 (p1=50, p1=40)"
        ),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&line)),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.ends_with("3 errors, 1 warning\n"), "{text}");
}

#[test]
fn validate_json_output() {
    let file = temp_file("bad-json.yaml", BAD);
    let out = sluice(&["validate", "-f", file.to_str().expect("utf-8 path"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let dup = items
        .as_array()
        .expect("array")
        .iter()
        .find(|d| d["path"] == "spec.predictors[1].name")
        .expect("duplicate reported");
    assert_eq!(dup["line"], 15);
    assert_eq!(dup["column"], 5);
    assert_eq!(dup["severity"], "error");
    assert_eq!(dup["value"], "\"p1\"");
}

#[test]
fn invalid_yaml_is_an_error_with_a_position() {
    let out = run(
        &["validate", "-f", "-"],
        &[],
        Some("apiVersion: v1\nkind: [SeldonDeployment\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).starts_with("<stdin>:"), "{}", stdout(&out));
    assert!(stdout(&out).contains("error: not valid YAML"), "{}", stdout(&out));
}

#[test]
fn istio_resources_and_other_kinds_are_checked_or_reported() {
    let text = "\
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: seldon-gateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ['*']
    tlsMode: SIMPLE
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
";
    let out = run(&["validate", "-f", "-"], &[], Some(text));
    assert!(out.status.success(), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "<stdin>:9:5: warning: [Gateway/seldon-gateway] spec.servers[0].tlsMode: not a field sluice reads"
        ),
        "{text}"
    );
    assert!(text.contains("<stdin>:12:1: warning: [ConfigMap/x] kind: invalid value \"v1/ConfigMap\": not a kind sluice reads"), "{text}");
}

#[test]
fn render_prints_yaml_ready_for_kubectl() {
    let out = sluice(&["render", "-f", "examples/canary.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let docs = sluice_api::document::parse(&stdout(&out)).expect("YAML");
    let kinds: Vec<&str> = docs.iter().map(|d| d.kind()).collect();
    assert_eq!(
        kinds,
        [
            "Service",
            "Service",
            "Service",
            "Service",
            "Deployment",
            "Deployment",
            "DestinationRule",
            "DestinationRule",
            "VirtualService"
        ]
    );
    let vs = &docs[8].value;
    assert_eq!(vs["spec"]["http"][0]["route"][0]["weight"], 75);
    assert_eq!(vs["spec"]["http"][0]["route"][1]["weight"], 25);
    assert_eq!(vs["spec"]["gateways"][0], "istio-system/seldon-gateway");
}

#[test]
fn render_reads_stdin_and_writes_a_json_list() {
    let text = std::fs::read_to_string(workspace().join("examples/single-model.yaml")).expect("example");
    let out = run(&["render", "-f", "-", "-o", "json"], &[], Some(&text));
    assert!(out.status.success(), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(5));
}

#[test]
fn render_prints_nothing_when_anything_is_invalid() {
    let file = temp_file("bad-render.yaml", BAD);
    let out = sluice(&[
        "render",
        "-f",
        "examples/canary.yaml",
        "-f",
        file.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("duplicate predictor name"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing rendered"), "{}", stderr(&out));
}

#[test]
fn settings_come_from_flags_and_seldon_env_vars() {
    let out = run(
        &["render", "-f", "examples/tls.yaml"],
        &[("ISTIO_TLS_MODE", "STRICT"), ("ISTIO_GATEWAY", "ingress/gw")],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("mode: ISTIO_MUTUAL"), "{text}");
    assert!(text.contains("idleTimeout: 60s"), "{text}");
    assert!(text.contains("- ingress/gw"), "{text}");

    let out = run(
        &["render", "-f", "examples/tls.yaml"],
        &[("ISTIO_ENABLED", "false")],
        None,
    );
    assert!(!stdout(&out).contains("VirtualService"), "{}", stdout(&out));

    let out = run(
        &[
            "render",
            "-f",
            "examples/tls.yaml",
            "--istio-tls-mode",
            "istio_mutual",
        ],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("ISTIO_TLS_MODE \"istio_mutual\" is not valid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn namespace_flag_fills_in_and_must_agree() {
    let text = std::fs::read_to_string(workspace().join("examples/single-model.yaml")).expect("example");
    let without_ns = text.replace("  namespace: seldon\n", "");
    let out = run(&["render", "-f", "-", "-n", "team-a"], &[], Some(&without_ns));
    assert!(
        stdout(&out).contains("prefix: /seldon/team-a/iris/"),
        "{}",
        stdout(&out)
    );
    let out = run(&["validate", "-f", "-", "-n", "team-a"], &[], Some(&text));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("does not match the requested namespace \"team-a\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn crd_command_prints_the_committed_crd() {
    let out = sluice(&["crd"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(
        workspace().join("deploy/crds/seldondeployments.machinelearning.seldon.io.yaml"),
    )
    .expect("committed CRD");
    assert!(stdout(&out) == committed, "sluice crd differs from deploy/crds/");
}

#[test]
fn explain_shows_the_route_shares_rewrite_and_policies() {
    let out = sluice(&[
        "explain",
        "--config",
        "examples/istio/canary.yaml",
        "-X",
        "POST",
        "http://models.example.com/seldon/seldon/example/api/v1.0/predictions",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("VirtualService seldon/example spec.http[0].match[0]: MATCH"),
        "{text}"
    );
    assert!(
        text.contains("75.0%  example-main.seldon.svc.cluster.local:8000/main"),
        "{text}"
    );
    assert!(
        text.contains("25.0%  example-canary.seldon.svc.cluster.local:8000/canary"),
        "{text}"
    );
    assert!(text.contains("endpoints: 127.0.0.1:9001"), "{text}");
    assert!(
        text.contains("\"/seldon/seldon/example/api/v1.0/predictions\" → \"/api/v1.0/predictions\""),
        "{text}"
    );
    assert!(text.contains("retries: 2 (up to 3 tries)"), "{text}");

    let out = sluice(&[
        "explain",
        "--config",
        "examples/istio/canary.yaml",
        "http://models.example.com/other",
    ]);
    assert!(
        stdout(&out).contains("no — path \"/other\" does not match uri prefix \"/seldon/seldon/example/\""),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).ends_with("→ 404\n"), "{}", stdout(&out));
}

#[test]
fn gateway_refuses_a_configuration_with_errors() {
    let file = temp_file(
        "bad-istio.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: default}\nspec:\n  hosts: [a]\n  gateways: [istio-system/gw]\n  http:\n  - timeout: soon\n    route: [{destination: {host: a}}]\n",
    );
    let out = sluice(&[
        "gateway",
        "--config",
        file.to_str().expect("utf-8 path"),
        "--admin",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let located = format!(
        "{}:8:5: error: [VirtualService/v] spec.http[0].timeout: \"soon\" is not a duration",
        file.display()
    );
    assert!(err.contains(&located), "{err}");
    assert!(err.contains("nothing is served"), "{err}");

    // `sluice validate` reports what the gateway refuses, at the same place.
    let out = sluice(&["validate", "-f", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains(&located), "{}", stdout(&out));

    // And so does `sluice up`, which serves Istio resources beside SeldonDeployments.
    let out = sluice(&[
        "up",
        file.to_str().expect("utf-8 path"),
        "--admin",
        "127.0.0.1:0",
        "--port-map",
        "80=0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&located), "{}", stderr(&out));
}

#[test]
fn an_invalid_header_name_is_refused_with_its_path() {
    let file = temp_file(
        "bad-header.yaml",
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: default}\nspec:\n  hosts: [a]\n  gateways: [istio-system/gw]\n  http:\n  - headers:\n      request:\n        set: {\"x y\": v}\n    route: [{destination: {host: a}}]\n",
    );
    let out = sluice(&["validate", "-f", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let expected = format!(
        "{}:10:15: error: [VirtualService/v] spec.http[0].headers.request.set[\"x y\"]: \"x y\" is not a valid HTTP header name",
        file.display()
    );
    assert!(stdout(&out).contains(&expected), "{}", stdout(&out));
}

#[test]
fn the_orchestrator_runs_as_the_operator_configures_it_in_a_pod() {
    // The engine container of a rendered Deployment: its command line and ENGINE_PREDICTOR.
    let out = sluice(&["render", "-f", "examples/single-model.yaml", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let engine = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|o| o["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|c| c["name"] == "seldon-container-engine")
        .expect("the orchestrator container");
    assert_eq!(engine["command"], serde_json::json!(["sluice", "engine"]));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut args: Vec<String> = engine["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("string").to_string())
        .collect();
    let at = args.iter().position(|a| a == "--http_port").expect("--http_port");
    args[at + 1] = port.to_string();
    let predictor = engine["env"]
        .as_array()
        .expect("env")
        .iter()
        .find(|e| e["name"] == "ENGINE_PREDICTOR")
        .and_then(|e| e["value"].as_str())
        .expect("ENGINE_PREDICTOR")
        .to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("engine")
        .args(&args)
        .env("ENGINE_PREDICTOR", predictor)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sluice engine starts");
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        Some(answer)
    };
    let mut live = None;
    for _ in 0..100 {
        live = get("/live");
        if live.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let live = live.expect("the engine listens on the port the Deployment names");
    assert!(live.starts_with("HTTP/1.1 200"), "{live}");
}

#[test]
fn install_prints_the_manifests_and_refuses_unknown_values() {
    let out = sluice(&[
        "install",
        "--set",
        "istio.gateway=istio-system/mygateway",
        "-n",
        "ops",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("kind: ValidatingWebhookConfiguration"), "{text}");
    assert!(text.contains("value: istio-system/mygateway"), "{text}");
    assert!(text.contains("namespace: ops"), "{text}");
    let out = sluice(&["install", "--set", "istio.enable=true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--set istio.enable: not a value of the chart; use one of: image.registry"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn explain_shows_the_authentication_and_authorization_decisions() {
    let key = "examples/secure/issuer.pem";
    let jwks = stdout(&sluice(&["token", "--key", key, "--jwks"]));
    let policies = temp_file(
        "gateway-auth.yaml",
        &format!(
            "apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: jwt, namespace: istio-system}}\nspec:\n  jwtRules:\n  - issuer: https://issuer.sluice.local\n    jwks: '{}'\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {{name: callers, namespace: istio-system}}\nspec:\n  rules:\n  - from: [{{source: {{requestPrincipals: [https://issuer.sluice.local/alice]}}}}]\n",
            jwks.trim()
        ),
    );
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--config",
            "examples/istio/canary.yaml",
            "--config",
            policies.to_str().expect("utf-8 path"),
            "-X",
            "POST",
        ];
        args.extend_from_slice(extra);
        args.push("http://models.example.com/seldon/seldon/example/api/v1.0/predictions");
        let out = sluice(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let text = explain(&[]);
    assert!(text.contains("Authentication: no token"), "{text}");
    assert!(
        text.contains("no rule of the ALLOW policies matches (AuthorizationPolicy istio-system/callers)")
            && text.ends_with("→ 403 RBAC: access denied\n"),
        "{text}"
    );
    let alice = stdout(&sluice(&["token", "--key", key, "--sub", "alice"]));
    let header = format!("authorization: Bearer {}", alice.trim());
    let text = explain(&["-H", &header]);
    assert!(
        text.contains("principal https://issuer.sluice.local/alice")
            && text.contains("allowed by AuthorizationPolicy istio-system/callers spec.rules[0]")
            && text.contains("MATCH"),
        "{text}"
    );
    let bob = stdout(&sluice(&["token", "--key", key, "--sub", "bob"]));
    let header = format!("authorization: Bearer {}", bob.trim());
    let text = explain(&["-H", &header]);
    assert!(
        text.contains("→ 403 RBAC: access denied"),
        "bob is verified but not allowed: {text}"
    );
}

/// A SeldonDeployment written as Seldon Core 1's own examples write them: a prepackaged
/// server with no container, fields with no value, the deprecated `spec.name`, an
/// Ambassador annotation and a v2beta1 autoscaler.
const SELDON_STYLE: &str = "\
apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata:
  name: iris
  annotations:
    seldon.io/ambassador-config: 'x'
spec:
  name: iris-classifier
  annotations:
  predictors:
  - name: default
    replicas: 1
    componentSpecs:
    graph:
      name: classifier
      implementation: SKLEARN_SERVER
      modelUri: gs://seldon-models/v1.18.2/sklearn/iris
      children:
      parameters:
";

#[test]
fn seldon_style_documents_validate_with_notes_only_when_asked() {
    let file = temp_file("seldon-style.yaml", SELDON_STYLE);
    let path = file.to_str().expect("utf-8 path");
    let out = sluice(&["validate", "-f", path]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("ambassador-config\"]: an Ambassador annotation"),
        "{text}"
    );
    assert!(!text.contains("spec.name"), "notes are hidden by default: {text}");
    assert!(text.trim_end().ends_with("0 errors, 1 warning, 1 note"), "{text}");

    let verbose = stdout(&sluice(&["validate", "-v", "-f", path]));
    assert!(
        verbose.contains(&format!("{}:8:3: note: [SeldonDeployment/iris] spec.name: invalid value \"iris-classifier\": spec.name is deprecated and unused", file.display())),
        "{verbose}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&sluice(&["validate", "-o", "json", "-f", path]).stdout).expect("JSON output");
    assert!(
        json.as_array()
            .expect("a list")
            .iter()
            .any(|d| d["severity"] == "note" && d["path"] == "spec.name"),
        "{json}"
    );
}

#[test]
fn render_adds_the_prepackaged_server_from_predictor_servers() {
    let file = temp_file("sklearn.yaml", SELDON_STYLE);
    let out = sluice(&["render", "-f", file.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for expected in [
        "image: seldonio/sklearnserver:1.18.2",
        "name: classifier-model-initializer",
        "- gs://seldon-models/v1.18.2/sklearn/iris",
        "image: seldonio/rclone-storage-initializer:1.18.2",
    ] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }

    // Seldon's ConfigMap, as `kubectl get cm seldon-config -o yaml` shows it.
    let config = temp_file(
        "seldon-config.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata: {name: seldon-config, namespace: seldon-system}
data:
  predictor_servers: '{"SKLEARN_SERVER": {"protocols": {"seldon": {"image": "me/sklearn", "defaultImageVersion": "9"}}}}'
"#,
    );
    let out = run(
        &["render", "-f", file.to_str().expect("utf-8 path")],
        &[
            ("PREDICTOR_SERVERS_FILE", config.to_str().expect("utf-8 path")),
            ("RELATED_IMAGE_STORAGE_INITIALIZER", "me/fetch:1"),
        ],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("image: me/sklearn:9") && text.contains("image: me/fetch:1"),
        "{text}"
    );

    // An implementation the table does not have is refused at its field (rule 14).
    let out = run(
        &[
            "validate",
            "-f",
            file.to_str().expect("utf-8 path"),
            "--predictor-servers",
            config.to_str().expect("utf-8 path"),
        ],
        &[],
        None,
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let other = temp_file(
        "xgb.yaml",
        &SELDON_STYLE.replace("SKLEARN_SERVER", "XGBOOST_SERVER"),
    );
    let out = sluice(&[
        "validate",
        "-f",
        other.to_str().expect("utf-8 path"),
        "--predictor-servers",
        config.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("spec.predictors[0].graph.implementation: invalid value \"XGBOOST_SERVER\": not a prepackaged server in predictor_servers"),
        "{}",
        stdout(&out)
    );
    let broken = temp_file("broken.json", "{\"SKLEARN_SERVER\": [1]}");
    let out = sluice(&[
        "render",
        "-f",
        file.to_str().expect("utf-8 path"),
        "--predictor-servers",
        broken.to_str().expect("utf-8 path"),
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("broken.json: not a predictor_servers table"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_volume_mount_needs_a_volume() {
    let text = SELDON_STYLE.replace(
        "    componentSpecs:\n",
        "    componentSpecs:\n    - spec:\n        containers:\n        - name: classifier\n          volumeMounts: [{name: cache, mountPath: /cache}]\n",
    );
    let file = temp_file("mount.yaml", &text);
    let out = sluice(&["validate", "-f", file.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("spec.predictors[0].componentSpecs[0].spec.containers[0].volumeMounts[0].name: invalid value \"cache\": no volume of this name in the pod"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn up_says_which_prepackaged_servers_cannot_run_and_what_to_install() {
    let model = std::env::temp_dir();
    let sdep = |implementation: &str, protocol: &str| {
        format!(
            "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {{name: m}}\nspec:\n  protocol: {protocol}\n  predictors:\n  - name: p\n    graph: {{name: model, implementation: {implementation}, modelUri: 'file://{}'}}\n",
            model.display()
        )
    };
    let up = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "up",
            file.to_str().expect("utf-8 path"),
            "--port-map",
            "80=0",
            "--admin",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        run(&args, &[], None)
    };
    let triton = temp_file("triton.yaml", &sdep("TRITON_SERVER", "v2"));
    let out = up(&triton, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TRITON_SERVER cannot run locally")
            && stderr(&out).contains("--component model="),
        "{}",
        stderr(&out)
    );
    let sklearn = temp_file("sklearn-up.yaml", &sdep("SKLEARN_SERVER", "seldon"));
    let out = up(&sklearn, &["--python", "/nonexistent/bin/python"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/bin/python cannot be run")
            && stderr(&out).contains("pip install 'seldon-core==1.18.*'"),
        "{}",
        stderr(&out)
    );
    let missing = temp_file(
        "missing-model.yaml",
        &sdep("SKLEARN_SERVER", "seldon").replace(&model.display().to_string(), "/nonexistent/model"),
    );
    let out = up(&missing, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/model does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn up_refuses_kafka_naming_the_field() {
    let file = temp_file(
        "kafka.yaml",
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: k, namespace: seldon}\nspec:\n  serverType: kafka\n  predictors:\n  - name: p\n    svcOrchSpec:\n      env:\n      - {name: KAFKA_BROKER, value: b:9092}\n      - {name: KAFKA_INPUT_TOPIC, value: in}\n      - {name: KAFKA_OUTPUT_TOPIC, value: out}\n    graph: {name: classifier, type: MODEL}\n    componentSpecs:\n    - spec:\n        containers:\n        - {name: classifier, image: 'seldonio/mock_classifier:1.18.2'}\n",
    );
    let out = sluice(&[
        "up",
        file.to_str().expect("utf-8 path"),
        "--port-map",
        "80=0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("spec.serverType") && stderr(&out).contains("serves REST and gRPC only"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn predict_says_why_a_request_cannot_be_made() {
    // Bad arguments exit 2; a prediction that fails exits 1.
    let out = sluice(&["predict", "m", "--data", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--data \"3\" is not a JSON array"),
        "{}",
        stderr(&out)
    );
    let out = sluice(&["predict", "m", "--requests", "0"]);
    assert!(
        stderr(&out).contains("--requests and --concurrency must be at least 1"),
        "{}",
        stderr(&out)
    );
    // Nothing listens on the gateway: the error names the address, over both transports.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let gateway = format!("127.0.0.1:{port}");
    let out = sluice(&["predict", "m", "--gateway", &gateway, "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&gateway), "{}", stderr(&out));
    let out = sluice(&["predict", "m", "--gateway", &gateway, "--grpc", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("gRPC status UNAVAILABLE"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn up_refuses_a_mapping_whose_scheme_disagrees_with_the_nodes_transport() {
    let file = temp_file(
        "grpc-transport.yaml",
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: g, namespace: seldon}\nspec:\n  transport: grpc\n  predictors:\n  - name: p\n    graph: {name: model, type: MODEL}\n    componentSpecs:\n    - spec:\n        containers:\n        - {name: model, image: 'example/model:1'}\n",
    );
    let out = sluice(&[
        "up",
        file.to_str().expect("utf-8 path"),
        "--port-map",
        "80=0",
        "--admin",
        "127.0.0.1:0",
        "--component",
        "model=http://127.0.0.1:9",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("node \"model\" is called over gRPC")
            && stderr(&out).contains("map it to grpc://HOST:PORT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_large_configuration_reloaded_leaves_the_gateway_with_the_memory_it_had() {
    // 3,000 deployments' routes. The gateway keeps what its last load read, to reload only
    // what changes; a reload must replace it, not add to it, and give back what it freed.
    let one = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: NAME-http, namespace: seldon}\nspec:\n  hosts: [\"*\"]\n  gateways: [istio-system/seldon-gateway]\n  http:\n  - match: [{uri: {prefix: /seldon/seldon/NAME/}}]\n    rewrite: {uri: /}\n    route: [{destination: {host: NAME.seldon.svc.cluster.local, port: {number: 8000}}}]\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: NAME, namespace: seldon}\nspec:\n  hosts: [NAME.seldon.svc.cluster.local]\n  resolution: STATIC\n  ports: [{number: 8000, name: http, protocol: HTTP}]\n  endpoints: [{address: 127.0.0.1}]\n---\n";
    let gateway = "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: seldon-gateway, namespace: istio-system}\nspec:\n  selector: {istio: ingressgateway}\n  servers:\n  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: [\"*\"]\n---\n";
    let deployments = |from: usize| -> String {
        std::iter::once(gateway.to_string())
            .chain((from..from + 3000).map(|i| one.replace("NAME", &format!("model-{i}"))))
            .collect()
    };
    let file = temp_file("large-istio.yaml", &deployments(0));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["gateway", "--config", file.to_str().expect("utf-8 path")])
        .args(["--port-map", "80=0", "--admin", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sluice gateway starts");
    // Its start-up lines, until it listens (it exits on a refused configuration).
    let err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = std::io::BufRead::lines(err).map_while(Result::ok);
    let listening = lines.find(|l| l.starts_with("gateway port 80: listening"));
    assert!(listening.is_some(), "sluice gateway did not start");
    let resident = || -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .expect("VmRSS")
    };
    let loaded = resident();
    // Every deployment replaced by another: nothing of the first load is of use any more.
    std::fs::write(&file, deployments(3000)).expect("rewrite the file");
    let reloaded =
        lines.find(|l| l.contains("configuration reloaded") || l.contains("configuration rejected"));
    let after = resident();
    eprintln!("resident after loading {loaded} KiB, after reloading {after} KiB");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        reloaded
            .as_deref()
            .is_some_and(|l| l.contains("configuration reloaded")),
        "the new file was not applied: {reloaded:?}"
    );
    assert!(
        after * 2 < loaded * 3,
        "resident {loaded} KiB after loading, {after} KiB after reloading: the first load's memory was kept"
    );
}
