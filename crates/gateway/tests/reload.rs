//! Reloading files with a `Reloader` (the last load edited in place and the table patched
//! where only routes changed, compiled otherwise) gives what a fresh load and compile of
//! the same files gives: the same table, the same problems at the same lines.

use std::path::{Path, PathBuf};

use sluice_gateway::server::{Reloader, compile_files};
use sluice_mesh::Proxy;

const SERVICES: &str = r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: models, namespace: default}
spec:
  hosts: [a.default.svc.cluster.local, b.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8000, name: http, protocol: HTTP}]
  endpoints:
  - {address: 127.0.0.1, labels: {version: v1}}
  - {address: 127.0.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: default}
spec:
  host: a.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"#;

fn route(name: &str, prefix: &str, subset: &str, extra: &str) -> String {
    format!(
        r#"---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{{uri: {{prefix: {prefix}}}}}]
    route: [{{destination: {{host: a.default.svc.cluster.local, subset: {subset}}}}}]
{extra}"#
    )
}

fn routes(middle: &str) -> String {
    [
        route("first", "/first", "v1", ""),
        middle.to_string(),
        route("last", "/last", "v2", ""),
    ]
    .concat()
}

/// A directory of its own for a test's files.
fn directory(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-reload-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a file");
}

/// The table and the problems, printed.
fn printed(
    compiled: Result<(sluice_mesh::RouteTable, Vec<sluice_api::Diagnostic>), Vec<sluice_api::Diagnostic>>,
) -> (String, Vec<String>) {
    match compiled {
        Ok((table, warnings)) => (
            format!("{table:?}"),
            warnings.iter().map(ToString::to_string).collect(),
        ),
        Err(errors) => (
            "rejected".to_string(),
            errors.iter().map(ToString::to_string).collect(),
        ),
    }
}

/// A response header a route edit adds (two lines more in its document).
const HEADERS: &str = "    headers: {response: {set: {x-edited: \"1\"}}}\n";

/// Reload `paths` with `reloader`: what it gives, checked to be what a fresh load and
/// compile of the same files gives.
fn reload(reloader: &mut Reloader, paths: &[PathBuf], what: &str) -> (String, Vec<String>) {
    let proxy = Proxy::default();
    let reloaded = printed(reloader.compile(&proxy, paths));
    assert_eq!(reloaded, printed(compile_files(&proxy, paths)), "{what}");
    reloaded
}

#[test]
fn every_reload_gives_what_a_fresh_load_and_compile_gives() {
    let dir = directory("fresh");
    write(&dir, "services.yaml", SERVICES);
    let paths = vec![dir.clone()];
    let mut reloader = Reloader::default();
    let v3 = SERVICES.replace("version: v2}}]", "version: v3}}]");
    let v3_commented = v3.replace("  host: a.default", "  # the model's host\n  host: a.default");
    // Each edit, and whether the table is patched (the last compile had no problems, and
    // only VirtualServices' routes changed) or compiled.
    let steps: [(&str, String, &str, bool); 11] = [
        (
            "the first load",
            routes(&route("middle", "/middle", "v1", "")),
            SERVICES,
            false,
        ),
        (
            "a route's action edited, two lines more",
            routes(&route(
                "middle",
                "/middle",
                "v2",
                &format!("{HEADERS}    timeout: 2s\n"),
            )),
            SERVICES,
            true,
        ),
        (
            "a match edited",
            routes(&route("middle", "/milieu", "v2", HEADERS)),
            SERVICES,
            true,
        ),
        (
            "two routes edited, one between them unchanged",
            routes(&route("middle", "/milieu", "v2", HEADERS))
                .replace("/first", "/premier")
                .replace("/last", "/dernier"),
            SERVICES,
            true,
        ),
        (
            "an unknown subset (a warning, at its line)",
            routes(&route("middle", "/milieu", "v9", HEADERS)),
            SERVICES,
            false,
        ),
        (
            "a negative weight (an error, at its line)",
            routes(&route("middle", "/milieu", "v1", HEADERS).replace("v1}}]", "v1}, weight: -1}]")),
            SERVICES,
            false,
        ),
        (
            "mended",
            routes(&route("middle", "/milieu", "v1", "")),
            SERVICES,
            false,
        ),
        (
            "a host added (more than routes)",
            routes(&route("middle", "/milieu", "v1", "")).replacen("[\"*\"]", "[\"*\", x.example.com]", 1),
            SERVICES,
            false,
        ),
        (
            "a DestinationRule edited (the services' file)",
            routes(&route("middle", "/milieu", "v1", "")).replacen("[\"*\"]", "[\"*\", x.example.com]", 1),
            &v3,
            false,
        ),
        (
            "a comment added to the DestinationRule (read again as it was)",
            routes(&route("middle", "/milieu", "v1", "")).replacen("[\"*\"]", "[\"*\", x.example.com]", 1),
            &v3_commented,
            true,
        ),
        (
            "a route's action edited again, the comment gone",
            routes(&route("middle", "/encore", "v1", HEADERS)).replacen(
                "[\"*\"]",
                "[\"*\", x.example.com]",
                1,
            ),
            &v3,
            true,
        ),
    ];
    for (what, text, services, patched) in steps {
        write(&dir, "routes.yaml", &text);
        write(&dir, "services.yaml", services);
        let reloaded = reload(&mut reloader, &paths, what);
        assert_eq!(reloader.patched(), patched, "{what}");
        assert_eq!(
            reloaded.0 == "rejected",
            what.contains("error"),
            "{what}: {:?}",
            reloaded.1
        );
        if what.contains("at its line") {
            assert!(
                reloaded.1.iter().any(|p| p.contains("routes.yaml:20:")),
                "{what}: the problem is at the edited route's line: {:?}",
                reloaded.1
            );
        } else {
            assert!(reloaded.1.is_empty(), "{what}: {:?}", reloaded.1);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_document_written_twice_is_two_objects_and_an_edit_of_one_leaves_the_other() {
    let dir = directory("twice");
    write(&dir, "services.yaml", SERVICES);
    let paths = vec![dir.clone()];
    let mut reloader = Reloader::default();
    // With a creation time: the loader does not copy it to stamp one.
    let dated = |prefix: &str, subset: &str| {
        route("twice", prefix, subset, "").replace(
            "namespace: default}",
            "namespace: default, creationTimestamp: \"2026-01-01T00:00:00Z\"}",
        )
    };
    let steps = [
        ("once", dated("/a", "v1")),
        (
            "the same document twice",
            [dated("/a", "v1"), dated("/a", "v1")].concat(),
        ),
        (
            "the second copy edited",
            [dated("/a", "v1"), dated("/a", "v2")].concat(),
        ),
        (
            "the first copy edited",
            [dated("/a", "v2"), dated("/a", "v2")].concat(),
        ),
    ];
    for (what, text) in steps {
        write(&dir, "routes.yaml", &text);
        reload(&mut reloader, &paths, what);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_patch_reaches_every_server_and_tls_chain_that_serves_the_routes() {
    use base64::Engine as _;
    let dir = directory("servers");
    let certified =
        rcgen::generate_simple_self_signed(vec!["app.example.com".to_string()]).expect("a certificate");
    let base64 = |pem: String| base64::engine::general_purpose::STANDARD.encode(pem);
    let gateway = format!(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: 80, name: http, protocol: HTTP}}
    hosts: ["*"]
  - port: {{number: 8080, name: http-alt, protocol: HTTP}}
    hosts: ["*"]
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: ["*"]
    tls: {{mode: SIMPLE, credentialName: cred}}
---
apiVersion: v1
kind: Secret
metadata: {{name: cred, namespace: istio-system}}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
"#,
        base64(certified.cert.pem()),
        base64(certified.signing_key.serialize_pem()),
    );
    let services = SERVICES.split_once("---\n").expect("the Gateway first").1;
    write(&dir, "services.yaml", &format!("{gateway}---\n{services}"));
    let paths = vec![dir.clone()];
    let mut reloader = Reloader::default();
    let steps = [
        (
            "the first load",
            routes(&route("middle", "/middle", "v1", "")),
            false,
        ),
        (
            "an action edited",
            routes(&route("middle", "/middle", "v2", HEADERS)),
            true,
        ),
        (
            "a match edited",
            routes(&route("middle", "/milieu", "v2", HEADERS)),
            true,
        ),
    ];
    for (what, text, patched) in steps {
        write(&dir, "routes.yaml", &text);
        let reloaded = reload(&mut reloader, &paths, what);
        assert_eq!(reloader.patched(), patched, "{what}: {:?}", reloaded.1);
        if what != "the first load" {
            // Each of the three servers serves the edit.
            assert_eq!(reloaded.0.matches("x-edited").count(), 3 * 2, "{what}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn files_with_crlf_line_ends_are_edited_as_others() {
    let dir = directory("crlf");
    write(&dir, "services.yaml", &SERVICES.replace('\n', "\r\n"));
    let paths = vec![dir.clone()];
    let mut reloader = Reloader::default();
    let steps = [
        (
            "the first load",
            routes(&route("middle", "/middle", "v1", "")),
            false,
        ),
        (
            "a line added",
            routes(&route("middle", "/middle", "v2", HEADERS)),
            true,
        ),
        (
            "an error, at its line",
            routes(&route("middle", "/middle", "v1", HEADERS).replace("v1}}]", "v1}, weight: -1}]")),
            false,
        ),
    ];
    for (what, text, patched) in steps {
        write(&dir, "routes.yaml", &text.replace('\n', "\r\n"));
        let reloaded = reload(&mut reloader, &paths, what);
        assert_eq!(reloader.patched(), patched, "{what}: {:?}", reloaded.1);
        if what.contains("error") {
            assert!(
                reloaded.1.iter().any(|p| p.contains("routes.yaml:20:")),
                "{:?}",
                reloaded.1
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
