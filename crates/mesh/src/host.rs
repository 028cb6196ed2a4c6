//! Host names: short-name resolution, wildcard coverage and intersection (Istio's
//! `host.Name` semantics), and gateway reference resolution.

/// Resolve a VirtualService or DestinationRule host: a name without a dot that is not
/// `*` or an IP becomes `<name>.<namespace>.svc.<domain>`; hosts are lower-cased.
pub fn resolve_short(host: &str, namespace: &str, cluster_domain: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host == "*" || host.contains('.') || host.parse::<std::net::IpAddr>().is_ok() {
        host
    } else {
        format!("{host}.{namespace}.svc.{cluster_domain}")
    }
}

/// Does pattern `a` cover name `b`? `*` covers everything; `*.x` covers names ending in `.x`
/// (and narrower wildcards `*.y.x`), but not `x` itself.
pub fn covers(a: &str, b: &str) -> bool {
    if a == "*" || a == b {
        return true;
    }
    match a.strip_prefix('*') {
        // `*.example.com` covers `foo.example.com`, `a.b.example.com`, `*.b.example.com`.
        Some(suffix) => b.len() > suffix.len() && b.ends_with(suffix),
        None => false,
    }
}

/// Intersection of a server host and a VirtualService host: the more specific one when one
/// covers the other, else nothing.
pub fn intersect(server: &str, vs: &str) -> Option<String> {
    if covers(server, vs) {
        Some(vs.to_string())
    } else if covers(vs, server) {
        Some(server.to_string())
    } else {
        None
    }
}

/// Resolve a gateway reference in `gateways` of a VirtualService in `namespace` to
/// `ns/name` (Istio's `resolveGatewayName`); `mesh` stays `mesh`.
pub fn resolve_gateway(reference: &str, namespace: &str) -> String {
    if reference == "mesh" {
        return reference.to_string();
    }
    if let Some((ns, name)) = reference.split_once('/') {
        return if ns == "." {
            format!("{namespace}/{name}")
        } else {
            reference.to_string()
        };
    }
    // Legacy `name.ns` or `name.ns.svc.cluster.local`.
    let mut parts = reference.split('.');
    match (parts.next(), parts.next()) {
        (Some(name), Some(ns)) => format!("{ns}/{name}"),
        _ => format!("{namespace}/{reference}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_resolve_in_the_namespace() {
        assert_eq!(
            resolve_short("app", "default", "cluster.local"),
            "app.default.svc.cluster.local"
        );
        assert_eq!(
            resolve_short("App.Example.com", "default", "cluster.local"),
            "app.example.com"
        );
        assert_eq!(resolve_short("*", "default", "cluster.local"), "*");
        assert_eq!(resolve_short("10.0.0.1", "default", "cluster.local"), "10.0.0.1");
    }

    #[test]
    fn wildcards_cover_deeper_names_but_not_the_apex() {
        assert!(covers("*", "anything"));
        assert!(covers("*.example.com", "foo.example.com"));
        assert!(covers("*.example.com", "a.b.example.com"));
        assert!(covers("*.example.com", "*.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("foo.example.com", "*.example.com"));
        assert_eq!(
            intersect("*.example.com", "foo.example.com").as_deref(),
            Some("foo.example.com")
        );
        assert_eq!(intersect("*.example.com", "*").as_deref(), Some("*.example.com"));
        assert_eq!(intersect("a.example.com", "b.example.com"), None);
    }

    #[test]
    fn gateway_references() {
        assert_eq!(resolve_gateway("gw", "apps"), "apps/gw");
        assert_eq!(resolve_gateway("istio-system/gw", "apps"), "istio-system/gw");
        assert_eq!(resolve_gateway("./gw", "apps"), "apps/gw");
        assert_eq!(
            resolve_gateway("gw.istio-system.svc.cluster.local", "apps"),
            "istio-system/gw"
        );
        assert_eq!(resolve_gateway("mesh", "apps"), "mesh");
    }
}
