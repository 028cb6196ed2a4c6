use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use sluice_mesh::cluster::{LoadBalancer, Outlier, Pool, UpstreamProtocol};
use sluice_mesh::{Cluster, Endpoint};

use super::{Balancer, Outcome};

fn cluster(endpoints: usize, load_balancer: LoadBalancer) -> Cluster {
    Cluster {
        name: "outbound|8000||m.ns.svc.cluster.local".into(),
        host: "m.ns.svc.cluster.local".into(),
        port: 8000,
        subset: None,
        endpoints: (0..endpoints)
            .map(|i| Endpoint::new(format!("10.0.0.{}", i + 1), 9000, BTreeMap::new()))
            .collect(),
        protocol: UpstreamProtocol::Http1,
        load_balancer,
        pool: Pool::default(),
        outlier: None,
    }
}

fn addr(endpoint: &str) -> SocketAddr {
    endpoint.parse().expect("an address")
}

#[test]
fn round_robin_takes_each_endpoint_in_turn() {
    let balancer = Balancer::default();
    let c = cluster(3, LoadBalancer::RoundRobin);
    let picked: Vec<&str> = (0..6)
        .map(|_| balancer.pick(&c, &[]).expect("a pick").endpoint.authority())
        .collect();
    assert_eq!(
        picked,
        [
            "10.0.0.1:9000",
            "10.0.0.2:9000",
            "10.0.0.3:9000",
            "10.0.0.1:9000",
            "10.0.0.2:9000",
            "10.0.0.3:9000"
        ]
    );
}

#[test]
fn least_request_avoids_the_busy_endpoint_and_a_finished_try_releases_it() {
    let balancer = Balancer::default();
    let c = cluster(2, LoadBalancer::LeastRequest);
    // Hold picks until one endpoint has 50 requests in flight.
    let mut held = Vec::new();
    while held
        .iter()
        .filter(|p: &&super::Pick<'_>| p.endpoint.authority() == "10.0.0.1:9000")
        .count()
        < 50
    {
        held.push(balancer.pick(&c, &[]).expect("a pick"));
    }
    held.retain(|p| p.endpoint.authority() == "10.0.0.1:9000");
    // Two random choices: the busy one only wins when both choices are it (≈ 1 in 4).
    let busy = (0..400)
        .filter(|_| balancer.pick(&c, &[]).expect("a pick").endpoint.authority() == "10.0.0.1:9000")
        .count();
    assert!(
        (50..=150).contains(&busy),
        "{busy} of 400 went to the busy endpoint"
    );
    drop(held);
    let state = balancer.state(&c);
    assert_eq!(
        state.load("10.0.0.1:9000"),
        0,
        "finished picks release their count"
    );
    assert_eq!(state.load("10.0.0.2:9000"), 0);
}

#[test]
fn a_retry_prefers_an_endpoint_not_tried_and_falls_back_to_any() {
    let balancer = Balancer::default();
    let c = cluster(2, LoadBalancer::Random);
    for _ in 0..50 {
        let pick = balancer.pick(&c, &["10.0.0.1:9000"]).expect("a pick");
        assert_eq!(pick.endpoint.authority(), "10.0.0.2:9000");
    }
    let both = ["10.0.0.1:9000", "10.0.0.2:9000"];
    assert!(
        balancer.pick(&c, &both).is_some(),
        "every endpoint tried: any will do"
    );
}

#[test]
fn endpoints_not_ready_or_ejected_are_skipped_and_none_left_is_no_pick() {
    let balancer = Balancer::default();
    let mut c = cluster(2, LoadBalancer::RoundRobin);
    balancer
        .down
        .down(addr("10.0.0.1:9000"), "readiness probe failed");
    for _ in 0..10 {
        assert_eq!(
            balancer.pick(&c, &[]).expect("a pick").endpoint.authority(),
            "10.0.0.2:9000"
        );
    }
    c.outlier = Some(Outlier {
        consecutive_5xx: 0,
        consecutive_gateway_errors: 1,
        interval: Duration::from_secs(10),
        base_ejection_time: Duration::from_secs(30),
        max_ejection_percent: 100,
    });
    let second = c.endpoints[1].clone();
    balancer.report(&c, &second, Outcome::Status(503));
    assert!(balancer.pick(&c, &[]).is_none(), "one down, one ejected");
    balancer.down.up(addr("10.0.0.1:9000"));
    assert_eq!(
        balancer.pick(&c, &[]).expect("a pick").endpoint.authority(),
        "10.0.0.1:9000"
    );

    let single = cluster(1, LoadBalancer::LeastRequest);
    assert!(balancer.pick(&single, &[]).is_some());
    balancer.down.down(addr("10.0.0.1:9000"), "exited");
    assert!(
        balancer.pick(&single, &[]).is_none(),
        "a single endpoint not ready is no pick"
    );
}

#[test]
fn concurrent_picks_keep_exact_counts() {
    // The counters are atomics read without a lock: 4 threads × 2,000 picks held and
    // released leave every endpoint at zero, and never lose an increment.
    let balancer = std::sync::Arc::new(Balancer::default());
    let c = std::sync::Arc::new(cluster(3, LoadBalancer::LeastRequest));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (balancer, c) = (balancer.clone(), c.clone());
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    let a = balancer.pick(&c, &[]).expect("a pick");
                    let b = balancer.pick(&c, &[]).expect("a pick");
                    drop((a, b));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no panic");
    }
    let state = balancer.state(&c);
    for e in &c.endpoints {
        assert_eq!(state.load(e.authority()), 0, "{}", e.authority());
    }
}
