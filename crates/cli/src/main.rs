//! `sluice`: Seldon Core 1 compatible model deployments with an Istio ingress.
//! This binary parses arguments, builds configuration and calls the crates; the
//! logic lives in `sluice-translate` (and, as they arrive, the gateway and engine crates).

mod commands;
mod input;
mod local_commands;
mod mesh_commands;
mod progress;
mod report;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sluice_translate::{Settings, TlsMode};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Seldon Core 1 compatible model deployments with an Istio ingress",
    long_about = "Seldon Core 1 compatible model deployments with an Istio ingress.\n\n\
        sluice reads SeldonDeployment YAML (machinelearning.seldon.io/v1) and translates it into the \
        Kubernetes Deployments and Services and the Istio VirtualServices and DestinationRules that \
        Seldon Core 1's operator would create, with its bugs fixed (see COMPATIBILITY.md)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SeldonDeployments on this machine behind the local Istio gateway.
    #[command(
        long_about = "Run SeldonDeployments here, with nothing else installed: one orchestrator per predictor \
        replica, the model components, and an Istio-compatible gateway serving the very VirtualServices and \
        DestinationRules the operator would create (see `sluice render`), so canaries, shadows and host routing \
        behave as in a cluster.\n\n\
        seldonio/mock_classifier and the built-in implementations run inside sluice. Any other container needs \
        --component NAME=TARGET (NAME: the container name or its image). TARGET is http://HOST:PORT for a process \
        already serving the predictor's protocol (Seldon's component API, or /v2/models/<node>/infer for \
        spec.protocol v2), or run:COMMAND ARGS for a command sluice starts with Seldon's PREDICTIVE_UNIT_* and \
        MLServer's MLSERVER_* environment (ports on free loopback ports, MLSERVER_MODEL_NAME the node's name) and \
        stops on exit, e.g. --component classifier='run:seldon-core-microservice MyModel --service-type MODEL' or \
        --component classifier='run:mlserver start models/'.\n\n\
        A predictor takes traffic only once its components accept connections. The files are watched: edits are \
        applied like `kubectl apply`, without failing requests. The admin listener's /stats/prometheus carries \
        the gateway's Istio metrics and every orchestrator's Seldon metrics. Ctrl-C drains and stops everything.\n\n\
        Example:\n  sluice up examples/canary.yaml\n  curl -X POST http://127.0.0.1:8080/seldon/seldon/example/api/v1.0/predictions \\\n    -H 'Content-Type: application/json' -d '{\"data\":{\"ndarray\":[[1.0,2.0,5.0]]}}'"
    )]
    Up {
        /// SeldonDeployment files or directories (Istio resources beside them are served too).
        #[arg(required = true, value_name = "FILE|DIR")]
        files: Vec<PathBuf>,
        /// Where a container runs: NAME=http://HOST:PORT or NAME=run:COMMAND ARGS; NAME a container name or image (repeatable).
        #[arg(long = "component", value_name = "NAME=URL")]
        components: Vec<String>,
        /// Local ports for Gateway server ports.
        #[arg(long, default_value = "80=8080", value_name = "MAP")]
        port_map: String,
        /// Admin listener: /stats/prometheus (gateway and engines), /healthz/ready, /config_dump.
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
        /// How long a predictor may take to become ready, in seconds.
        #[arg(long, default_value_t = 30)]
        ready_timeout: u64,
        /// Serve `mesh`-bound routes to in-mesh clients: service port=local port, e.g. 8000=18000 (off by default).
        #[arg(long, default_value = "", value_name = "MAP")]
        mesh_port_map: String,
        /// Print a JSON access log line per request on stdout (Istio's field names).
        #[arg(long)]
        access_log: bool,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Run one predictor's orchestrator (what runs in each predictor pod).
    #[command(
        long_about = "The service orchestrator of one predictor, as in a predictor pod: reads the predictor \
        from ENGINE_PREDICTOR (base64 JSON, set by the operator) and serves the REST routes of --protocol \
        (seldon, tensorflow or v2), calling the graph's components at their endpoints. Accepts Seldon's executor \
        flags; CORS_ALLOWED_ORIGINS and CORS_ALLOWED_HEADERS set the CORS headers.\n\n\
        Example:\n  ENGINE_PREDICTOR=... sluice engine --sdep iris --namespace seldon --predictor default --http_port 8000"
    )]
    Engine {
        /// SeldonDeployment name.
        #[arg(long)]
        sdep: String,
        /// Namespace.
        #[arg(long)]
        namespace: String,
        /// Predictor name.
        #[arg(long)]
        predictor: String,
        /// REST port.
        #[arg(long = "http_port", default_value_t = 8000)]
        http_port: u16,
        /// gRPC port (not served yet).
        #[arg(long = "grpc_port", default_value_t = 5001)]
        grpc_port: u16,
        /// seldon, tensorflow, kfserving or v2: the routes served and the component calls.
        #[arg(long, default_value = "seldon")]
        protocol: String,
        /// rest or grpc.
        #[arg(long, default_value = "rest")]
        transport: String,
        /// Metrics path.
        #[arg(long = "prometheus_path", default_value = "/prometheus")]
        prometheus_path: String,
        /// rpc or kafka.
        #[arg(long = "server_type", default_value = "rpc")]
        server_type: String,
        /// Request logger queue size (accepted for compatibility).
        #[arg(long = "log_work_buffer_size", default_value_t = 10000)]
        log_work_buffer_size: u32,
        /// Request logger write timeout (accepted for compatibility).
        #[arg(long = "log_write_timeout_ms", default_value_t = 2000)]
        log_write_timeout_ms: u32,
        /// Full health checks (accepted for compatibility).
        #[arg(long = "full_health_checks", default_value = "false")]
        full_health_checks: String,
        /// The predictor, base64 JSON.
        #[arg(long, env = "ENGINE_PREDICTOR", hide_env_values = true)]
        engine_predictor: Option<String>,
    },
    /// Print the Kubernetes and Istio objects generated for SeldonDeployments.
    #[command(
        long_about = "Print every object generated for the SeldonDeployments in the given files as \
        multi-document YAML (like `helm template`), ready for `kubectl apply -f -`.\n\n\
        Nothing is printed if any SeldonDeployment has an error; the errors go to stderr and the exit code is 1.\n\n\
        Example:\n  sluice render -f examples/canary.yaml\n  sluice render -f examples/ --istio-tls-mode ISTIO_MUTUAL | kubectl apply -f -"
    )]
    Render {
        #[command(flatten)]
        files: Files,
        #[command(flatten)]
        settings: SettingsArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = RenderFormat::Yaml)]
        output: RenderFormat,
    },
    /// Check SeldonDeployments (and Istio resources) and report every problem.
    #[command(
        long_about = "Check SeldonDeployments against Seldon Core 1's admission rules and the checks \
        Seldon leaves out (DNS names, Istio annotation values, traffic bounds, Service name collisions). \
        Istio Gateways, VirtualServices, DestinationRules, ServiceEntries, RequestAuthentications and \
        AuthorizationPolicies in the same files are checked for unknown fields and wrong types.\n\n\
        Problems print like a compiler's: file:line:column, the field path, the bad value and what would be \
        valid. Fields that Kubernetes would prune (not in the CRD schema) are warnings. The exit code is 1 \
        when there is any error.\n\n\
        Example:\n  sluice validate -f examples/\n  sluice validate -f my-model.yaml -o json"
    )]
    Validate {
        #[command(flatten)]
        files: Files,
        #[command(flatten)]
        settings: SettingsArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ValidateFormat::Text)]
        output: ValidateFormat,
    },
    /// Run the local Istio-compatible ingress gateway on Istio configuration files.
    #[command(
        long_about = "Serve Istio Gateways, VirtualServices, DestinationRules and ServiceEntries from files \
        the way an Istio ingress gateway (Envoy) routes them: HTTP/1.1, HTTP/2 and h2c on each Gateway server port, \
        retries, timeouts, mirrors, fault injection, CORS and Istio's local replies. Services and their endpoints \
        come from ServiceEntry resources (resolution STATIC with endpoint addresses, or DNS).\n\n\
        Files are watched: a changed configuration is compiled and swapped in atomically; one with errors is \
        rejected whole and the previous one keeps serving. SIGTERM or Ctrl-C drains in-flight requests.\n\n\
        Example:\n  sluice gateway --config istio/ --port-map 80=8080\n  curl -H 'Host: app.example.com' http://127.0.0.1:8080/"
    )]
    Gateway {
        /// Istio resources: files or directories (repeatable).
        #[arg(long, required = true, value_name = "FILE|DIR")]
        config: Vec<PathBuf>,
        /// Local ports for Gateway server ports, e.g. 80=8080,443=8443 (unmapped ports listen on their own number).
        #[arg(long, default_value = "", value_name = "MAP")]
        port_map: String,
        /// Admin listener: /stats/prometheus, /healthz/ready, /config_dump.
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
        /// Address the gateway listeners bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// Print a JSON access log line per request on stdout (Istio's field names).
        #[arg(long)]
        access_log: bool,
        /// Proxies in front of the gateway whose x-forwarded-proto is trusted (Istio's numTrustedProxies).
        #[arg(long, default_value_t = 0)]
        num_trusted_proxies: u32,
    },
    /// Show where a request would be routed, and why, without sending it.
    #[command(
        long_about = "Show which Gateway server and VirtualService route a request matches (and why each \
        earlier route does not), the weighted destinations with their shares and endpoints, mirrors, the rewrite \
        result, and the timeout and retry policy in force. Nothing is sent.\n\n\
        Example:\n  sluice explain --config istio/ -X POST 'http://app.example.com/seldon/seldon/example/api/v1.0/predictions'"
    )]
    Explain {
        /// Istio resources: files or directories (repeatable).
        #[arg(long, required = true, value_name = "FILE|DIR")]
        config: Vec<PathBuf>,
        /// HTTP method.
        #[arg(short = 'X', long, default_value = "GET")]
        request: String,
        /// Request header, 'Name: value' (repeatable).
        #[arg(short = 'H', long = "header", value_name = "HEADER")]
        headers: Vec<String>,
        /// The request URL; its port (default 80, or 443 for https) is the Gateway server port.
        url: String,
    },
    /// Print the SeldonDeployment CustomResourceDefinition.
    #[command(
        long_about = "Print the SeldonDeployment CRD (v1 stored; v1alpha2 and v1alpha3 served) generated \
        from sluice's types, as YAML.\n\nExample:\n  sluice crd | kubectl apply -f -"
    )]
    Crd,
}

/// Input files.
#[derive(Debug, Args)]
struct Files {
    /// A YAML or JSON file, a directory of them, or `-` for stdin. Repeatable.
    #[arg(short = 'f', long = "filename", required = true, value_name = "FILE|DIR|-")]
    files: Vec<PathBuf>,
    /// Namespace for objects that set none (like `kubectl -n`); must match objects that set one.
    #[arg(short, long)]
    namespace: Option<String>,
}

/// The operator's configuration; each flag also reads Seldon's environment variable.
#[derive(Debug, Args)]
struct SettingsArgs {
    /// Generate Istio VirtualServices and DestinationRules.
    #[arg(long, env = "ISTIO_ENABLED", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    istio_enabled: bool,
    /// Gateway of SDeps without `seldon.io/istio-gateway`: `[namespace/]name` or `mesh`.
    #[arg(long, env = "ISTIO_GATEWAY", default_value = "istio-system/seldon-gateway")]
    istio_gateway: String,
    /// TLS mode of the DestinationRules: DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL or STRICT (= ISTIO_MUTUAL).
    #[arg(long, env = "ISTIO_TLS_MODE", value_name = "MODE")]
    istio_tls_mode: Option<String>,
    /// The orchestrator's http port (container and predictor Service).
    #[arg(long, env = "ENGINE_SERVER_PORT", default_value_t = 8000)]
    engine_http_port: u16,
    /// The orchestrator's grpc port (container and predictor Service).
    #[arg(long, env = "ENGINE_SERVER_GRPC_PORT", default_value_t = 5001)]
    engine_grpc_port: u16,
    /// The orchestrator's container image.
    #[arg(long, env = "EXECUTOR_CONTAINER_IMAGE_AND_VERSION")]
    engine_image: Option<String>,
    /// Path of the Prometheus metrics of the orchestrator and components.
    #[arg(long, env = "EXECUTOR_PROMETHEUS_PATH", default_value = "/prometheus")]
    prometheus_path: String,
    /// First http port given to graph containers.
    #[arg(long, env = "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", default_value_t = 9000)]
    unit_http_port: u16,
    /// First grpc port given to graph containers.
    #[arg(long, env = "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", default_value_t = 9500)]
    unit_grpc_port: u16,
    /// First metrics port given to graph containers.
    #[arg(long, env = "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", default_value_t = 6000)]
    unit_metrics_port: u16,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
}

impl SettingsArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        let defaults = Settings::default();
        let settings = Settings {
            istio_enabled: self.istio_enabled,
            istio_gateway: self.istio_gateway.clone(),
            istio_tls_mode: match self.istio_tls_mode.as_deref() {
                None | Some("") => None,
                Some(mode) => Some(mode.parse::<TlsMode>()?),
            },
            engine_http_port: self.engine_http_port.into(),
            engine_grpc_port: self.engine_grpc_port.into(),
            engine_image: self.engine_image.clone().unwrap_or(defaults.engine_image.clone()),
            prometheus_path: self.prometheus_path.clone(),
            unit_http_port: self.unit_http_port.into(),
            unit_grpc_port: self.unit_grpc_port.into(),
            unit_metrics_port: self.unit_metrics_port.into(),
            cluster_domain: self.cluster_domain.clone(),
            ..defaults
        };
        settings.check()?;
        Ok(settings)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RenderFormat {
    Yaml,
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ValidateFormat {
    Text,
    Json,
}

/// Logs to stderr; `RUST_LOG` sets the level (default `info`).
/// Log lines on stderr (`RUST_LOG` filters; info by default), coloured on a terminal.
fn init_logs() {
    init_logs_to(std::io::stderr);
}

/// Log lines to `writer`, which stands for stderr.
fn init_logs_to<W>(writer: W)
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render {
            files,
            settings,
            output,
        } => settings.settings().and_then(|s| {
            commands::render(
                &files.files,
                files.namespace.as_deref(),
                &s,
                matches!(output, RenderFormat::Json),
            )
        }),
        Command::Validate {
            files,
            settings,
            output,
        } => settings.settings().and_then(|s| {
            commands::validate(
                &files.files,
                files.namespace.as_deref(),
                &s,
                matches!(output, ValidateFormat::Json),
            )
        }),
        Command::Crd => commands::crd(),
        Command::Up {
            files,
            components,
            port_map,
            admin,
            ready_timeout,
            mesh_port_map,
            access_log,
            settings,
        } => {
            let progress = progress::init();
            settings.settings().and_then(|settings| {
                let port_map = mesh_commands::parse_port_map("--port-map", &port_map)?;
                let mesh_port_map = mesh_commands::parse_port_map("--mesh-port-map", &mesh_port_map)?;
                let gateway = sluice_gateway::Options {
                    port_map,
                    admin: Some(admin),
                    access_log,
                    ..sluice_gateway::Options::default()
                };
                local_commands::up(
                    files,
                    settings,
                    gateway,
                    mesh_port_map,
                    &components,
                    std::time::Duration::from_secs(ready_timeout),
                    progress,
                )
            })
        }
        Command::Engine {
            sdep,
            namespace,
            predictor,
            http_port,
            grpc_port: _,
            protocol,
            transport,
            prometheus_path,
            server_type,
            log_work_buffer_size: _,
            log_write_timeout_ms: _,
            full_health_checks: _,
            engine_predictor,
        } => {
            init_logs();
            let Some(protocol) = sluice_engine::graph::Protocol::from_spec(Some(&protocol)) else {
                eprintln!("error: --protocol {protocol:?}: use seldon, tensorflow, kfserving or v2");
                return ExitCode::from(2);
            };
            if transport != "rest" || server_type != "rpc" {
                eprintln!(
                    "error: only --transport rest --server_type rpc are served yet (got {transport}, {server_type})"
                );
                return ExitCode::from(2);
            }
            local_commands::engine(
                sdep,
                namespace,
                predictor,
                http_port,
                prometheus_path,
                protocol,
                engine_predictor,
            )
        }
        Command::Gateway {
            config,
            port_map,
            admin,
            bind,
            access_log,
            num_trusted_proxies,
        } => {
            init_logs();
            mesh_commands::parse_port_map("--port-map", &port_map).and_then(|port_map| {
                let options = sluice_gateway::Options {
                    port_map,
                    admin: Some(admin),
                    bind,
                    access_log,
                    num_trusted_proxies,
                    ..sluice_gateway::Options::default()
                };
                mesh_commands::gateway(config, options)
            })
        }
        Command::Explain {
            config,
            request,
            headers,
            url,
        } => mesh_commands::explain(config, &request, &url, &headers),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
