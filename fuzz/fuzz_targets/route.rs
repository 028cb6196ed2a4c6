//! The route matcher on the canary example's Istio configuration (Seldon's REST prefix
//! route with its weights and the header-matched gRPC regex route): any request — path,
//! authority, method and headers from the input, one per line — gets a decision, never a
//! panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use sluice_api::load::{Source, load};
use sluice_mesh::{Proxy, RouteTable, Scheme};

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let loaded = load(&[Source {
            name: "canary.yaml".to_string(),
            text: include_str!("../../examples/istio/canary.yaml").to_string(),
        }]);
        let (config, _) = sluice_gateway::config::istio(&loaded);
        RouteTable::compile(&Proxy::default(), &config).0
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let (Some(target), Some(authority), Some(method)) = (lines.next(), lines.next(), lines.next()) else {
        return;
    };
    let mut request = http::Request::builder().method(method).uri(target).header("host", authority);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            request = request.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = request.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(data.first().copied().unwrap_or(0)));
    for port in [80, 443, 8080] {
        for scheme in [Scheme::Http, Scheme::Https] {
            let _ = table().route(port, scheme, &parts, &mut rng);
        }
    }
});
