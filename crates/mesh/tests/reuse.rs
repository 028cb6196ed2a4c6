//! Compiling with what the last compile kept (`RouteTable::compile_reusing`) makes the table
//! and the problems a fresh compile makes, and reuses the routes of unchanged objects.

mod support;

use std::sync::Arc;

use sluice_mesh::{Config, Proxy, Reuse, RouteTable};

const ROUTES: &str = r#"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: first, namespace: default}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /first}}]
    route: [{destination: {host: a.default.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: b.default.svc.cluster.local}}]
  - route: [{destination: {host: d.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: second, namespace: default}
spec:
  hosts: [second.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /second}, port: 8443}]
    route: [{destination: {host: nowhere.default.svc.cluster.local}}]
  - timeout: 2s
    route: [{destination: {host: b.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: default}
spec:
  host: a.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}]
"#;

fn compile_fresh(config: &Config) -> (String, Vec<String>) {
    let (table, diagnostics) = RouteTable::compile(&Proxy::default(), config);
    (
        format!("{table:?}"),
        diagnostics.iter().map(ToString::to_string).collect(),
    )
}

fn compile_reusing(config: &Config, reuse: &mut Reuse) -> (RouteTable, String, Vec<String>) {
    let (table, diagnostics) = RouteTable::compile_reusing(&Proxy::default(), config, reuse);
    let printed = format!("{table:?}");
    (
        table,
        printed,
        diagnostics.iter().map(ToString::to_string).collect(),
    )
}

/// The routes compiled from VirtualService `name`.
fn routes_of(table: &RouteTable, name: &str) -> Vec<Arc<sluice_mesh::route::Route>> {
    let resource = format!("VirtualService default/{name}");
    table
        .listener(80)
        .expect("port 80")
        .virtual_hosts
        .iter()
        .flat_map(|vh| vh.routes.iter())
        .filter(|r| r.origin.resource == resource)
        .cloned()
        .collect()
}

/// Whether the virtual host `domain` on port 80 has the same route index in both tables.
fn index_kept(a: &RouteTable, b: &RouteTable, domain: &str) -> bool {
    let vhost = |t: &RouteTable| {
        let listener = t.listener(80).expect("port 80");
        let found = listener.virtual_hosts.iter().find(|vh| vh.domain == domain);
        found.expect("the virtual host").clone()
    };
    vhost(a).shares_index_with(&vhost(b))
}

fn same_routes(a: &[Arc<sluice_mesh::route::Route>], b: &[Arc<sluice_mesh::route::Route>]) -> bool {
    !a.is_empty() && a.len() == b.len() && a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(a, b))
}

#[test]
fn a_compile_reusing_the_last_one_is_a_fresh_compile_and_recompiles_only_what_changed() {
    let mut config = support::config(&format!("{}{ROUTES}", support::FIXTURE));
    let mut reuse = Reuse::default();
    let (before, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems.clone()), compile_fresh(&config));
    assert!(
        problems.iter().any(|p| p.contains("nowhere")),
        "the unknown host is reported: {problems:?}"
    );

    // The same objects: every route is the one already compiled, every problem reported again.
    let (again, printed, problems_again) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems_again.clone()), compile_fresh(&config));
    assert_eq!(problems_again, problems);
    assert!(same_routes(
        &routes_of(&before, "first"),
        &routes_of(&again, "first")
    ));

    // One VirtualService edited: only its routes are new.
    let second = config
        .virtual_services
        .iter()
        .position(|v| v.metadata.name.as_deref() == Some("second"));
    let second = second.expect("second");
    let mut edited = (*config.virtual_services[second]).clone();
    edited.spec.http[1].timeout = Some("3s".parse().expect("duration"));
    config.virtual_services[second] = Arc::new(edited);
    let (after, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed.clone(), problems), compile_fresh(&config));
    assert!(printed.contains("3s"), "the edit is in the table");
    assert!(same_routes(
        &routes_of(&again, "first"),
        &routes_of(&after, "first")
    ));
    assert!(!same_routes(
        &routes_of(&again, "second"),
        &routes_of(&after, "second")
    ));

    // A service edited (here: the same content in a new object): destinations are resolved
    // again, so no route is kept.
    let entry = (*config.service_entries[0]).clone();
    config.service_entries[0] = Arc::new(entry);
    let (rebuilt, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems), compile_fresh(&config));
    assert!(!same_routes(
        &routes_of(&after, "first"),
        &routes_of(&rebuilt, "first")
    ));
    // None of these edits changed what a route matches: each virtual host's index is kept.
    assert!(index_kept(&again, &after, "second.example.com"));
    assert!(index_kept(&after, &rebuilt, "*"));

    // A match edited: the index of its virtual host is built again, the other one kept.
    let first = config
        .virtual_services
        .iter()
        .position(|v| v.metadata.name.as_deref() == Some("first"));
    let first = first.expect("first");
    let mut edited = (*config.virtual_services[first]).clone();
    edited.spec.http[0].matches[0].uri = Some(sluice_api::istio::StringMatch {
        prefix: Some("/premier".to_string()),
        ..Default::default()
    });
    config.virtual_services[first] = Arc::new(edited);
    let (moved, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed.clone(), problems), compile_fresh(&config));
    assert!(printed.contains("/premier"), "the edit is in the table");
    assert!(!index_kept(&rebuilt, &moved, "*"));
    assert!(index_kept(&rebuilt, &moved, "second.example.com"));

    // Another gateway workload (here: another root namespace): nothing is kept either.
    let proxy = Proxy {
        root_namespace: "elsewhere".to_string(),
        ..Proxy::default()
    };
    let (table, problems) = RouteTable::compile_reusing(&proxy, &config, &mut reuse);
    let (fresh, fresh_problems) = RouteTable::compile(&proxy, &config);
    assert_eq!(format!("{table:?}"), format!("{fresh:?}"));
    assert_eq!(problems, fresh_problems);
    assert!(!same_routes(
        &routes_of(&moved, "first"),
        &routes_of(&table, "first")
    ));
}

const TWO_ON_ONE_HOST: &str = r#"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: one, namespace: default, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /one}}, {uri: {regex: "/x.*"}}]
    route: [{destination: {host: a.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: two, namespace: default, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /two}}, {uri: {regex: "/x.*"}}]
    route: [{destination: {host: b.default.svc.cluster.local}}]
"#;

#[test]
fn a_route_index_is_kept_only_while_its_routes_match_the_same_in_the_same_order() {
    let mut config = support::config(&format!("{}{TWO_ON_ONE_HOST}", support::FIXTURE));
    let mut reuse = Reuse::default();
    let (before, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems), compile_fresh(&config));

    // Both VirtualServices copied (new objects, so their routes are compiled again): the
    // routes match what they matched, and the index is kept.
    for vs in &mut config.virtual_services {
        *vs = Arc::new((**vs).clone());
    }
    let (copied, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems), compile_fresh(&config));
    assert!(!same_routes(
        &routes_of(&before, "one"),
        &routes_of(&copied, "one")
    ));
    assert!(index_kept(&before, &copied, "*"));

    // The same matches in another order (`two` now created first): the index is built again,
    // and `/x` goes to `two`'s destination, as a fresh compile sends it.
    let swapped_times = TWO_ON_ONE_HOST.replace("2026-01-01", "2026-01-03");
    config = support::config(&format!("{}{swapped_times}", support::FIXTURE));
    let (swapped, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed.clone(), problems), compile_fresh(&config));
    assert!(!index_kept(&copied, &swapped, "*"));
    let first = swapped.listener(80).expect("port 80").virtual_hosts[0].routes[0]
        .origin
        .resource
        .clone();
    assert_eq!(first, "VirtualService default/two");
}

#[test]
fn match_conditions_are_equal_when_they_match_the_same_values() {
    use sluice_mesh::matcher::Match;
    let regex = |p: &str| Match::Regex(Arc::new(regex::Regex::new(p).expect("a regex")));
    // The same pattern compiled twice (two objects) is the same condition.
    assert_eq!(regex("^(?:/x.*)$"), regex("^(?:/x.*)$"));
    assert_ne!(regex("^(?:/x.*)$"), regex("^(?:/y.*)$"));
    assert_eq!(Match::Prefix("/a".into()), Match::Prefix("/a".into()));
    assert_ne!(Match::Prefix("/a".into()), Match::Exact("/a".into()));
    assert_ne!(Match::Prefix("/a".into()), regex("/a"));
    assert_eq!(Match::Present, Match::Present);
}

/// Two VirtualServices without problems on one virtual host (`one`'s second route a
/// catch-all), and one on its own host.
const PATCHED: &str = r#"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: one, namespace: default, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /one}}]
    route: [{destination: {host: a.default.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: b.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: two, namespace: default, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  hosts: ["*", two.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{uri: {prefix: /two}}]
    route: [{destination: {host: b.default.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a, namespace: default}
spec:
  host: a.default.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"#;

/// `config` with VirtualService `name` replaced by `edit` of a copy; the pair replaced.
fn replace_vs(
    config: &mut Config,
    name: &str,
    edit: impl FnOnce(&mut sluice_api::istio::VirtualService),
) -> (
    Arc<sluice_api::istio::VirtualService>,
    Arc<sluice_api::istio::VirtualService>,
) {
    let at = config
        .virtual_services
        .iter()
        .position(|v| v.metadata.name.as_deref() == Some(name))
        .expect("the VirtualService");
    let was = config.virtual_services[at].clone();
    let mut now = (*was).clone();
    edit(&mut now);
    config.virtual_services[at] = Arc::new(now);
    (was, config.virtual_services[at].clone())
}

#[test]
fn a_patched_table_is_the_table_a_compile_makes_and_only_route_edits_are_patched() {
    let mut config = support::config(&format!("{}{PATCHED}", support::FIXTURE));
    let mut reuse = Reuse::default();
    let (table, _, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!(problems, Vec::<String>::new(), "the fixture has no problems");

    // Another subset and a header: only the route's action changes, the index is kept.
    let pair = replace_vs(&mut config, "one", |vs| {
        let route = &mut vs.spec.http[0];
        route.route[0].destination.subset = Some("v2".to_string());
        route.timeout = Some("3s".parse().expect("duration"));
    });
    let patched = reuse
        .patch(&Proxy::default(), &table, &[pair])
        .expect("a route edit is patched");
    let printed = format!("{patched:?}");
    assert_eq!((printed.clone(), Vec::new()), compile_fresh(&config));
    assert!(printed.contains("3s"), "the edit is in the table");
    assert!(index_kept(&table, &patched, "*"));
    assert!(same_routes(
        &routes_of(&table, "two"),
        &routes_of(&patched, "two")
    ));

    // A match edited: the index of `*` is built again; `two.example.com` is untouched.
    let pair = replace_vs(&mut config, "two", |vs| {
        vs.spec.http[0].matches[0].uri = Some(sluice_api::istio::StringMatch {
            prefix: Some("/deux".to_string()),
            ..Default::default()
        });
    });
    let rematched = reuse
        .patch(&Proxy::default(), &patched, &[pair])
        .expect("a match edit is patched");
    assert_eq!((format!("{rematched:?}"), Vec::new()), compile_fresh(&config));
    assert!(!index_kept(&patched, &rematched, "*"));
    // What the patch kept serves the next compile: the same table, `one`'s routes reused.
    let (compiled, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems), compile_fresh(&config));
    assert!(same_routes(
        &routes_of(&rematched, "one"),
        &routes_of(&compiled, "one")
    ));
    assert!(index_kept(&rematched, &compiled, "*"));

    // Edits that change more than routes are not patched, and leave what is kept as it was.
    type Edit = fn(&mut sluice_api::istio::VirtualService);
    let refused: [(&str, Edit); 5] = [
        ("a host", |vs| vs.spec.hosts.push("more.example.com".to_string())),
        ("the creation time (the order)", |vs| {
            vs.metadata.creation_timestamp = None;
        }),
        ("a route more", |vs| vs.spec.http.push(vs.spec.http[0].clone())),
        ("a catch-all made specific", |vs| {
            vs.spec.http[1].matches = vs.spec.http[0].matches.clone();
        }),
        ("an unknown subset (a problem)", |vs| {
            vs.spec.http[0].route[0].destination.subset = Some("v9".to_string());
        }),
    ];
    for (what, edit) in refused {
        let mut edited = config.clone();
        let pair = replace_vs(&mut edited, "one", edit);
        assert!(
            reuse.patch(&Proxy::default(), &compiled, &[pair]).is_none(),
            "{what} is not patched"
        );
    }
    let (again, printed, problems) = compile_reusing(&config, &mut reuse);
    assert_eq!((printed, problems), compile_fresh(&config));
    assert!(same_routes(
        &routes_of(&compiled, "one"),
        &routes_of(&again, "one")
    ));
}
