//! Where the graph's containers run locally.
//!
//! Built-in implementations and `seldonio/mock_classifier` run inside sluice; prepackaged
//! servers (`SKLEARN_SERVER`, ...) are started from PyPI packages (`servers`) on their
//! fetched model (`models`). Any other container needs a mapping, `--component NAME=TARGET`, where NAME is a container name or
//! an image (with or without its tag) and TARGET is either
//! - `http://HOST:PORT`: a process already serving Seldon's component API (`/predict`, ...), or
//! - `run:COMMAND ARGS...`: a command sluice starts (words split as a shell does, with its
//!   quotes and backslashes, but no shell runs it), with
//!   Seldon's environment (`PREDICTIVE_UNIT_HTTP_SERVICE_PORT` and the other ports on free
//!   loopback ports, `PREDICTIVE_UNIT_ID`, `PREDICTIVE_UNIT_IMAGE`, `PREDICTIVE_UNIT_PARAMETERS`,
//!   `PREDICTOR_ID`, `SELDON_DEPLOYMENT_ID`, and MLServer's `MLSERVER_HTTP_PORT`,
//!   `MLSERVER_GRPC_PORT`, `MLSERVER_METRICS_PORT` and `MLSERVER_MODEL_NAME`), e.g.
//!   `run:seldon-core-microservice MyModel --service-type MODEL` or `run:mlserver start models/`.
//!   sluice stops it (the whole process group, see `supervisor`) when the deployment goes
//!   away or sluice exits.

use std::collections::BTreeMap;

use sluice_api::seldon::{PredictiveUnit, PredictorSpec};
use sluice_engine::Component;
use sluice_engine::graph::Protocol;
use sluice_engine::mock::MockClassifier;

use crate::supervisor::{Launch, Process, Supervisor};

/// The image sluice runs in process.
pub const MOCK_IMAGE: &str = "seldonio/mock_classifier";

/// Is `image` (with or without a tag) Seldon's mock classifier, including the older
/// `_rest` and `_grpc` images of Seldon's examples?
pub fn is_mock_image(image: &str) -> bool {
    let name = image.split_once(':').map_or(image, |(name, _)| name);
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    [
        MOCK_IMAGE,
        "seldonio/mock_classifier_rest",
        "seldonio/mock_classifier_grpc",
    ]
    .contains(&name)
}

/// Where a mapped container runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// Already running at `host:port`, serving REST (`http://`) or gRPC (`grpc://`).
    Url {
        /// Host or IP.
        host: String,
        /// Port.
        port: u16,
        /// Called over gRPC.
        grpc: bool,
    },
    /// Started by sluice: program and arguments.
    Run(Vec<String>),
}

/// `--component` mappings by container name or image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mappings(BTreeMap<String, Mapping>);

impl Mappings {
    /// Parse `NAME=http://host:port` and `NAME=run:COMMAND ARGS` values.
    pub fn parse(values: &[String]) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        for v in values {
            let usage = "write NAME=http://HOST:PORT, NAME=grpc://HOST:PORT or NAME=run:COMMAND ARGS (NAME: a container name or an image)";
            let (name, target) = v
                .split_once('=')
                .ok_or_else(|| format!("--component {v:?}: {usage}"))?;
            let mapping = if let Some(command) = target.strip_prefix("run:") {
                // Split as a POSIX shell does (quotes and backslashes), without running one.
                let argv = shlex::split(command).ok_or_else(|| {
                    format!("--component {v:?}: run: has an unclosed quote or a trailing backslash")
                })?;
                if argv.is_empty() {
                    return Err(format!("--component {v:?}: run: needs a command"));
                }
                Mapping::Run(argv)
            } else {
                let (rest, grpc) = match (target.strip_prefix("http://"), target.strip_prefix("grpc://")) {
                    (Some(rest), _) => (rest, false),
                    (_, Some(rest)) => (rest, true),
                    _ => return Err(format!("--component {v:?}: {usage}")),
                };
                let (host, port) = rest.trim_end_matches('/').rsplit_once(':').ok_or_else(|| {
                    format!("--component {v:?}: the URL needs a port, e.g. http://127.0.0.1:9000")
                })?;
                let port: u16 = port
                    .parse()
                    .map_err(|_| format!("--component {v:?}: {port:?} is not a port"))?;
                Mapping::Url {
                    host: host.to_string(),
                    port,
                    grpc,
                }
            };
            out.insert(name.to_string(), mapping);
        }
        Ok(Mappings(out))
    }

    /// The mapping of a container, by its name or its image (tagged or not).
    pub fn find(&self, container: &str, image: &str) -> Option<&Mapping> {
        let untagged = image.rsplit_once(':').map_or(image, |(name, _)| name);
        self.0
            .get(container)
            .or_else(|| self.0.get(image))
            .or_else(|| self.0.get(untagged))
    }
}

/// How each node of `predictor`'s graph is reached; mapped commands are started.
pub fn resolve(
    local: &Local<'_>,
    predictor: &PredictorSpec,
    protocol: Protocol,
) -> Result<(BTreeMap<String, Component>, Vec<Process>), String> {
    let mut components = BTreeMap::new();
    let mut processes = Vec::new();
    for node in predictor.graph.walk() {
        let component = component(local, predictor, node, protocol, &mut processes)?;
        components.insert(node.name.clone(), component);
    }
    Ok((components, processes))
}

/// Where components of one deployment are started.
#[derive(Debug)]
pub struct Local<'a> {
    /// The SeldonDeployment's name.
    pub deployment: &'a str,
    /// The `--component` mappings.
    pub mappings: &'a Mappings,
    /// Who starts, reaps and stops the processes.
    pub supervisor: &'a Supervisor,
    /// The translation's settings (the prepackaged servers' images).
    pub settings: &'a sluice_translate::Settings,
    /// Where the prepackaged servers' Python tools are.
    pub tools: &'a crate::servers::Tools,
    /// The models of the predictor's prepackaged nodes, fetched, by node name.
    pub models: &'a BTreeMap<String, std::path::PathBuf>,
    /// `spec.transport`: with `grpc`, every component is called over gRPC.
    pub transport: Option<&'a str>,
}

fn component(
    local: &Local<'_>,
    predictor: &PredictorSpec,
    node: &PredictiveUnit,
    protocol: Protocol,
    processes: &mut Vec<Process>,
) -> Result<Component, String> {
    let implementation = node.implementation.as_deref().unwrap_or("UNKNOWN_IMPLEMENTATION");
    let container = sluice_translate::graph::container(predictor, &node.name);
    if container.is_none() && sluice_translate::graph::is_builtin(implementation) {
        return Ok(Component::Builtin);
    }
    let prepackaged = sluice_translate::prepack::is_prepackaged(node);
    let image = image_of(local.settings, predictor, node, protocol);
    let grpc = sluice_translate::graph::over_grpc(local.transport, node);
    match local.mappings.find(&node.name, &image) {
        Some(Mapping::Url {
            host,
            port,
            grpc: mapped_grpc,
        }) => {
            if *mapped_grpc != grpc {
                let (said, scheme) = if grpc {
                    (
                        "is called over gRPC (endpoint.type GRPC, or spec.transport grpc)",
                        "grpc",
                    )
                } else {
                    ("is called over REST", "http")
                };
                return Err(format!(
                    "predictor {}: node {:?} {said}, but --component maps it to {}://{host}:{port}; map it to {scheme}://HOST:PORT, or change the node's endpoint.type",
                    predictor.name,
                    node.name,
                    if *mapped_grpc { "grpc" } else { "http" }
                ));
            }
            return Ok(reached(grpc, host, *port, image));
        }
        Some(Mapping::Run(argv)) => {
            let ports = spawn(local, predictor, node, &image, argv, &[], processes)?;
            return Ok(reached(grpc, "127.0.0.1", ports.of(grpc), image));
        }
        None => {}
    }
    if is_mock_image(&image) {
        if protocol != Protocol::Seldon {
            return Err(format!(
                "predictor {}: container {:?} runs {MOCK_IMAGE}, which speaks the seldon protocol only, but the \
                 deployment's spec.protocol is {protocol:?}; map it to a server of that protocol with \
                 --component {}=http://127.0.0.1:PORT or --component {}=run:COMMAND",
                predictor.name, node.name, node.name, node.name
            ));
        }
        return MockClassifier::new(&node.name, &image, &node.parameters)
            .map(Component::Mock)
            .map_err(|e| format!("predictor {} node {}: {e}", predictor.name, node.name));
    }
    if prepackaged {
        let protocol = protocol_name(protocol);
        let at = |e: String| format!("predictor {} node {:?}: {e}", predictor.name, node.name);
        let command = crate::servers::command(
            &node.name,
            implementation,
            &node.parameters,
            protocol,
            local.models.get(&node.name).map(std::path::PathBuf::as_path),
            local.tools,
        )
        .map_err(at)?;
        crate::servers::check_imports(implementation, &command).map_err(at)?;
        // The user's container variables apply (MLSERVER_MODEL_EXTRA, ...), except those
        // sluice sets for this machine: ports, the model's place, the server's parameters.
        let owned_here = |name: &str| {
            name.starts_with("PREDICTIVE_UNIT_")
                || name.ends_with("_PORT")
                || command.env.iter().any(|(k, _)| k == name)
        };
        let own = container
            .and_then(|c| c.env.as_ref())
            .into_iter()
            .flatten()
            .filter(|e| !owned_here(&e.name))
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)));
        let env: Vec<(String, String)> = own.chain(command.env.iter().cloned()).collect();
        let ports = spawn(local, predictor, node, &image, &command.argv, &env, processes)?;
        return Ok(reached(grpc, "127.0.0.1", ports.of(grpc), image));
    }
    Err(format!(
        "predictor {}: container {:?} (image {:?}) has no local mapping; pass --component {}=http://127.0.0.1:PORT for a running process, or --component {}=run:COMMAND to have sluice start it",
        predictor.name, node.name, image, node.name, node.name
    ))
}

/// A component at `host:port`, over gRPC or REST.
fn reached(grpc: bool, host: &str, port: u16, image: String) -> Component {
    let host = host.to_string();
    if grpc {
        Component::Grpc { host, port, image }
    } else {
        Component::Http { host, port, image }
    }
}

/// The ports a started component was given.
#[derive(Clone, Copy, Debug)]
struct Ports {
    http: u16,
    grpc: u16,
}

impl Ports {
    fn of(self, grpc: bool) -> u16 {
        if grpc { self.grpc } else { self.http }
    }
}

/// The image of a node's container, or for a prepackaged node without one the image the
/// translation gives it, so it can be mapped by image too.
pub fn image_of(
    settings: &sluice_translate::Settings,
    predictor: &PredictorSpec,
    node: &PredictiveUnit,
    protocol: Protocol,
) -> String {
    let container = sluice_translate::graph::container(predictor, &node.name);
    container
        .and_then(|c| c.image.clone())
        .filter(|i| !i.is_empty())
        .or_else(|| {
            let implementation = node.implementation.as_deref().unwrap_or_default();
            sluice_translate::prepack::is_prepackaged(node)
                .then(|| {
                    sluice_translate::prepack::server_image(settings, implementation, protocol_name(protocol))
                })
                .flatten()
        })
        .unwrap_or_default()
}

/// `spec.protocol` as Seldon names it.
fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Seldon => "seldon",
        Protocol::Tensorflow => "tensorflow",
        Protocol::V2 => "v2",
    }
}

/// Start a command with Seldon's environment, then `extra` (which wins); returns its
/// http and grpc ports.
fn spawn(
    local: &Local<'_>,
    predictor: &PredictorSpec,
    node: &PredictiveUnit,
    image: &str,
    argv: &[String],
    extra: &[(String, String)],
    processes: &mut Vec<Process>,
) -> Result<Ports, String> {
    let deployment = local.deployment;
    let free = || -> Result<u16, String> {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))
    };
    let ports = Ports {
        http: free()?,
        grpc: free()?,
    };
    let (http, grpc, metrics) = (ports.http, ports.grpc, free()?);
    let parameters = serde_json::to_string(&node.parameters).unwrap_or_else(|_| "[]".to_string());
    let labels = serde_json::to_string(&predictor.labels).unwrap_or_else(|_| "{}".to_string());
    let (http, grpc, metrics) = (http.to_string(), grpc.to_string(), metrics.to_string());
    let env = [
        ("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", http.as_str()),
        ("PREDICTIVE_UNIT_SERVICE_PORT", &http),
        ("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", &grpc),
        ("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", &metrics),
        ("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/prometheus"),
        ("PREDICTIVE_UNIT_ID", &node.name),
        ("PREDICTIVE_UNIT_IMAGE", image),
        ("PREDICTIVE_UNIT_PARAMETERS", &parameters),
        ("PREDICTOR_ID", &predictor.name),
        ("PREDICTOR_LABELS", &labels),
        ("SELDON_DEPLOYMENT_ID", deployment),
        ("SELDON_EXECUTOR_ENABLED", "true"),
        ("MLSERVER_HTTP_PORT", &http),
        ("MLSERVER_GRPC_PORT", &grpc),
        ("MLSERVER_METRICS_PORT", &metrics),
        ("MLSERVER_MODEL_NAME", &node.name),
    ];
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (name, value) in extra {
        match env.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.clone(),
            None => env.push((name.clone(), value.clone())),
        }
    }
    let launch = Launch {
        argv: argv.to_vec(),
        env,
    };
    let name = format!("{deployment}/{}/{}", predictor.name, node.name);
    let process = local.supervisor.spawn(launch, &name).map_err(|e| {
        format!(
            "predictor {} node {}: cannot start {:?}: {e}",
            predictor.name, node.name, argv[0]
        )
    })?;
    processes.push(process);
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mock_is_every_mock_classifier_image() {
        for image in [
            "seldonio/mock_classifier:1.18.2",
            "seldonio/mock_classifier",
            "seldonio/mock_classifier_rest:1.3",
            "docker.io/seldonio/mock_classifier_grpc:1.3",
        ] {
            assert!(is_mock_image(image), "{image}");
        }
        for image in ["seldonio/mock_classifierx:1", "me/mock_classifier", ""] {
            assert!(!is_mock_image(image), "{image}");
        }
    }

    #[test]
    fn mappings_parse_and_match_by_container_or_image() {
        let m = Mappings::parse(&[
            "classifier=http://127.0.0.1:9000".into(),
            "my/model=http://localhost:9001/".into(),
            "rpc=grpc://127.0.0.1:9500".into(),
            "runner=run:python3 -m http.server".into(),
            r#"quoted=run:sh -c 'echo "a b"; exit 3' x\ y"#.into(),
        ])
        .expect("valid");
        assert_eq!(
            m.find("classifier", "x:1"),
            Some(&Mapping::Url {
                host: "127.0.0.1".into(),
                port: 9000,
                grpc: false,
            })
        );
        assert_eq!(
            m.find("rpc", ""),
            Some(&Mapping::Url {
                host: "127.0.0.1".into(),
                port: 9500,
                grpc: true,
            })
        );
        assert!(matches!(
            m.find("other", "my/model:2.0"),
            Some(Mapping::Url { port: 9001, .. })
        ));
        assert_eq!(
            m.find("runner", ""),
            Some(&Mapping::Run(vec![
                "python3".into(),
                "-m".into(),
                "http.server".into()
            ]))
        );
        assert_eq!(
            m.find("quoted", ""),
            Some(&Mapping::Run(vec![
                "sh".into(),
                "-c".into(),
                r#"echo "a b"; exit 3"#.into(),
                "x y".into()
            ]))
        );
        assert!(m.find("other", "other:1").is_none());
        for bad in [
            "x",
            "x=localhost:9000",
            "x=http://localhost",
            "x=http://h:port",
            "x=run:",
            "x=run:sh -c 'unclosed",
        ] {
            assert!(Mappings::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
