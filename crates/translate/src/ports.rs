//! Port numbers of graph containers, as Seldon's defaulting assigns them (spec §2.7).
//!
//! http and grpc numbers are allocated per distinct container name across the whole
//! SDep, in the order predictors → componentSpecs → containers, to every container
//! (graph node or not); a container that declares ports named `http`/`grpc` keeps
//! them, and its numbers are still used up. Metrics ports go up by one for every
//! container without a `metrics` port.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use sluice_api::SeldonDeployment;

use crate::graph;
use crate::settings::Settings;

/// The ports of one graph container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitPorts {
    /// REST port.
    pub http: i32,
    /// gRPC port.
    pub grpc: i32,
    /// Metrics port.
    pub metrics: i32,
}

/// Ports of every graph container, keyed by (predictor index, container name).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ports(BTreeMap<(usize, String), UnitPorts>);

impl Ports {
    /// Assign ports to every graph container of `sdep`.
    pub fn assign(sdep: &SeldonDeployment, settings: &Settings) -> Ports {
        let mut by_name: BTreeMap<&str, (i32, i32)> = BTreeMap::new();
        let (mut next_http, mut next_grpc, mut next_metrics) = (
            settings.unit_http_port,
            settings.unit_grpc_port,
            settings.unit_metrics_port,
        );
        let mut out = BTreeMap::new();
        for (i, predictor) in sdep.spec.predictors.iter().enumerate() {
            let containers = predictor
                .component_specs
                .iter()
                .flat_map(|s| s.spec.containers.iter());
            for container in containers {
                // Every container takes numbers, graph node or not, declared ports or not;
                // declared ports then win.
                let (http, grpc) = *by_name.entry(&container.name).or_insert_with(|| {
                    next_http += 1;
                    next_grpc += 1;
                    (next_http - 1, next_grpc - 1)
                });
                let metrics = declared(container, &settings.metrics_port_name).unwrap_or_else(|| {
                    next_metrics += 1;
                    next_metrics - 1
                });
                if graph::node(predictor, &container.name).is_some() {
                    let ports = UnitPorts {
                        http: declared(container, "http").unwrap_or(http),
                        grpc: declared(container, "grpc").unwrap_or(grpc),
                        metrics,
                    };
                    out.entry((i, container.name.clone())).or_insert(ports);
                }
            }
        }
        Ports(out)
    }

    /// The ports of container `name` of predictor `predictor`.
    pub fn get(&self, predictor: usize, name: &str) -> Option<UnitPorts> {
        self.0.get(&(predictor, name.to_string())).copied()
    }
}

fn declared(container: &Container, name: &str) -> Option<i32> {
    container
        .ports
        .as_ref()?
        .iter()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.container_port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::sdep;

    #[test]
    fn ports_are_shared_by_container_name_across_predictors() {
        let s = sdep("x")
            .predictor("main", Some(75))
            .predictor("canary", Some(25))
            .build();
        let ports = Ports::assign(&s, &Settings::default());
        let expected = |metrics| {
            Some(UnitPorts {
                http: 9000,
                grpc: 9500,
                metrics,
            })
        };
        assert_eq!(ports.get(0, "classifier"), expected(6000));
        // Same name, same http/grpc ports; the metrics counter is not keyed by name.
        assert_eq!(ports.get(1, "classifier"), expected(6001));
    }

    #[test]
    fn distinct_containers_get_the_next_ports_and_declared_ports_are_kept() {
        let s = sdep("x")
            .predictor("main", None)
            .graph_child("transformer")
            .container_port("transformer", "http", 7777)
            .build();
        let ports = Ports::assign(&s, &Settings::default());
        assert_eq!(
            ports.get(0, "classifier"),
            Some(UnitPorts {
                http: 9000,
                grpc: 9500,
                metrics: 6000
            })
        );
        assert_eq!(
            ports.get(0, "transformer"),
            Some(UnitPorts {
                http: 7777,
                grpc: 9501,
                metrics: 6001
            })
        );
    }
}
