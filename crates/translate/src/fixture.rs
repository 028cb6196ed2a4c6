//! Builders for SeldonDeployments in tests and benchmarks:
//! `sdep("abtest").namespace("models").predictor("main", Some(75)).predictor("canary", Some(25)).build()`.

use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec};
use sluice_api::SeldonDeployment;
use sluice_api::seldon::{PredictiveUnit, PredictorSpec, SeldonDeploymentSpec, SeldonPodSpec};

/// Start a SeldonDeployment named `name` (namespace unset, i.e. `default`).
pub fn sdep(name: &str) -> Builder {
    Builder(SeldonDeployment::new(name, SeldonDeploymentSpec::default()))
}

/// A SeldonDeployment under construction; predictor methods act on the last predictor.
#[derive(Debug)]
pub struct Builder(SeldonDeployment);

impl Builder {
    /// Set `metadata.namespace`.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0.metadata.namespace = Some(namespace.to_string());
        self
    }

    /// Set `spec.protocol`.
    pub fn protocol(mut self, protocol: &str) -> Self {
        self.0.spec.protocol = Some(protocol.to_string());
        self
    }

    /// Set a `spec.annotations` entry.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0.spec.annotations.insert(key.to_string(), value.to_string());
        self
    }

    /// Set a `metadata.annotations` entry.
    pub fn metadata_annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Add a predictor whose graph is one MODEL node `classifier` run by a container of that name.
    pub fn predictor(mut self, name: &str, traffic: Option<i32>) -> Self {
        self.0.spec.predictors.push(PredictorSpec {
            name: name.to_string(),
            traffic,
            graph: PredictiveUnit {
                name: "classifier".to_string(),
                kind: Some("MODEL".to_string()),
                ..PredictiveUnit::default()
            },
            component_specs: vec![SeldonPodSpec {
                spec: PodSpec {
                    containers: vec![container("classifier")],
                    ..PodSpec::default()
                },
                ..SeldonPodSpec::default()
            }],
            ..PredictorSpec::default()
        });
        self
    }

    /// Make the last predictor a shadow.
    pub fn shadow(self) -> Self {
        self.edit(|p| p.shadow = Some(true))
    }

    /// Set an annotation on the last predictor.
    pub fn predictor_annotation(self, key: &str, value: &str) -> Self {
        self.edit(|p| {
            p.annotations.insert(key.to_string(), value.to_string());
        })
    }

    /// Add a child MODEL node `name` to the last predictor's root, with its container.
    pub fn graph_child(self, name: &str) -> Self {
        self.edit(|p| {
            p.graph.children.push(PredictiveUnit {
                name: name.to_string(),
                kind: Some("MODEL".to_string()),
                ..PredictiveUnit::default()
            });
            if let Some(spec) = p.component_specs.first_mut() {
                spec.spec.containers.push(container(name));
            }
        })
    }

    /// Declare a named port on a container of the last predictor.
    pub fn container_port(self, container: &str, port_name: &str, port: i32) -> Self {
        self.edit(|p| {
            for c in p
                .component_specs
                .iter_mut()
                .flat_map(|s| s.spec.containers.iter_mut())
            {
                if c.name == container {
                    c.ports.get_or_insert_with(Vec::new).push(ContainerPort {
                        name: Some(port_name.to_string()),
                        container_port: port,
                        ..ContainerPort::default()
                    });
                }
            }
        })
    }

    /// Change the last predictor freely.
    pub fn edit(mut self, change: impl FnOnce(&mut PredictorSpec)) -> Self {
        if let Some(p) = self.0.spec.predictors.last_mut() {
            change(p);
        }
        self
    }

    /// The SeldonDeployment.
    pub fn build(self) -> SeldonDeployment {
        self.0
    }
}

fn container(name: &str) -> Container {
    Container {
        name: name.to_string(),
        image: Some("seldonio/mock_classifier:1.18.2".to_string()),
        ..Container::default()
    }
}
