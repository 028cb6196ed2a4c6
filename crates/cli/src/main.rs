//! `sluice`: Seldon Core 1 compatible model deployments with an Istio ingress.
//! This binary parses arguments (`args`), calls the crates and prints; the logic lives
//! in `sluice-translate`, `sluice-mesh`, `sluice-gateway`, `sluice-engine` and `sluice-local`.

mod args;
mod commands;
mod input;
mod local_commands;
mod mesh_commands;
mod operator_commands;
mod predict;
mod progress;
mod token;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use crate::args::{
    Files, PortMap, Protocol, RenderFormat, ServerType, SettingsArgs, Transport, ValidateFormat,
};

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
    /// (internal) Run a component command so that it dies with sluice: how `sluice up`
    /// starts `run:` components.
    #[command(hide = true)]
    ExecComponent {
        /// The component's program and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        argv: Vec<String>,
    },
    /// Run SeldonDeployments on this machine behind the local Istio gateway.
    #[command(
        long_about = "Run SeldonDeployments here, with nothing else installed: one orchestrator per predictor \
        replica, the model components, and an Istio-compatible gateway serving the very VirtualServices and \
        DestinationRules the operator would create (see `sluice render`), so canaries, shadows and host routing \
        behave as in a cluster.\n\n\
        seldonio/mock_classifier and the built-in implementations run inside sluice. Any other container needs \
        --component NAME=TARGET (NAME: the container name or its image). TARGET is http://HOST:PORT for a process \
        already serving the predictor's protocol (Seldon's component API, or /v2/models/<node>/infer for \
        spec.protocol v2), grpc://HOST:PORT for one serving it over gRPC (nodes with endpoint.type: GRPC, or \
        all nodes with spec.transport: grpc, which must be mapped so), or run:COMMAND ARGS for a command sluice \
        starts with Seldon's PREDICTIVE_UNIT_* and MLServer's MLSERVER_* environment (ports on free loopback \
        ports, gRPC ports included; MLSERVER_MODEL_NAME the node's name), called over the node's transport, and \
        stops on exit. For example --component classifier='run:seldon-core-microservice MyModel --service-type MODEL' or \
        --component classifier='run:mlserver start models/'.\n\n\
        Prepackaged servers (implementation: SKLEARN_SERVER, XGBOOST_SERVER; MLFLOW_SERVER and HUGGINGFACE_SERVER \
        with protocol v2) start from PyPI packages on their modelUri (a local path, file://, s3://, gs:// or \
        https://, fetched once into --model-cache): Seldon's wrapper under --python for the seldon protocol, \
        MLServer (--mlserver) for v2. sluice says what to pip install when a package is missing.\n\n\
        A predictor takes traffic only once its components accept connections. The files are watched: edits are \
        applied like `kubectl apply`, without failing requests. The admin listener's /stats/prometheus carries \
        the gateway's Istio metrics and every orchestrator's Seldon metrics. The gateway port serves gRPC too \
        (h2c): Seldon's gRPC route reaches each orchestrator's seldon.protos.Seldon (or the v2 inference \
        service). Ctrl-C drains and stops everything.\n\n\
        Example:\n  sluice up examples/canary.yaml\n  curl -X POST http://127.0.0.1:8080/seldon/seldon/example/api/v1.0/predictions \\\n    -H 'Content-Type: application/json' -d '{\"data\":{\"ndarray\":[[1.0,2.0,5.0]]}}'\n  \
        sluice predict example -n seldon --grpc"
    )]
    Up {
        /// SeldonDeployment files or directories (Istio resources beside them are served too).
        #[arg(required = true, value_name = "FILE|DIR")]
        files: Vec<PathBuf>,
        /// Where a container runs: NAME=http://HOST:PORT, NAME=grpc://HOST:PORT or NAME=run:COMMAND ARGS; NAME a container name or image (repeatable).
        #[arg(long = "component", value_name = "NAME=URL")]
        components: Vec<String>,
        /// Local ports for Gateway server ports.
        #[arg(long, default_value = "80=8080,443=8443", value_name = "MAP", value_parser = args::port_map)]
        port_map: PortMap,
        /// Admin listener: /stats/prometheus (gateway and engines), /healthz/ready, /config_dump.
        #[arg(long, default_value = "127.0.0.1:15000")]
        admin: SocketAddr,
        /// How long a predictor may take to become ready, in seconds.
        #[arg(long, default_value_t = 30)]
        ready_timeout: u64,
        /// Serve `mesh`-bound routes to in-mesh clients: service port=local port, e.g. 8000=18000 (off by default).
        #[arg(long, default_value = "", value_name = "MAP", value_parser = args::port_map)]
        mesh_port_map: PortMap,
        /// Print a JSON access log line per request on stdout (Istio's field names).
        #[arg(long)]
        access_log: bool,
        /// The largest request body an orchestrator reads (bytes, or with Ki/Mi/Gi); larger
        /// ones are answered 413. A SeldonDeployment's seldon.io/rest-max-body-size wins.
        #[arg(long, default_value = "32Mi", value_name = "SIZE", value_parser = args::size)]
        max_request_body: u64,
        /// The Python that runs Seldon-protocol prepackaged servers (SKLEARN_SERVER, XGBOOST_SERVER): its
        /// environment needs seldon-core and the model's library, and alibi for explainers; `python3` on the
        /// PATH by default.
        #[arg(long, env = "SLUICE_PYTHON", value_name = "PATH")]
        python: Option<PathBuf>,
        /// MLServer's command, for prepackaged servers and explainers with protocol v2 (its environment
        /// needs the runtime, e.g. mlserver-sklearn, mlserver-alibi-explain); `mlserver` on the PATH by
        /// default.
        #[arg(long, env = "SLUICE_MLSERVER", value_name = "PATH")]
        mlserver: Option<PathBuf>,
        /// Where models fetched from s3://, gs:// and https:// are kept (default ~/.cache/sluice/models).
        #[arg(long, value_name = "DIR")]
        model_cache: Option<PathBuf>,
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
        /// gRPC port (`seldon.protos.Seldon`; both ports serve both REST and gRPC).
        #[arg(long = "grpc_port", default_value_t = 5001)]
        grpc_port: u16,
        /// The routes served and the component calls.
        #[arg(long, value_enum, default_value_t = Protocol::Seldon)]
        protocol: Protocol,
        /// Validated only, as in Seldon: each component is called as its endpoint type says.
        #[arg(long, value_enum, default_value_t = Transport::Rest)]
        transport: Transport,
        /// Metrics path.
        #[arg(long = "prometheus_path", default_value = "/prometheus")]
        prometheus_path: String,
        /// Request/response (rpc) or Kafka (not served).
        #[arg(long = "server_type", value_enum, default_value_t = ServerType::Rpc)]
        server_type: ServerType,
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
        /// The largest request body read (bytes, or with Ki/Mi/Gi); larger ones are answered 413.
        #[arg(long = "max_request_body", default_value = "32Mi", value_name = "SIZE", value_parser = args::size)]
        max_request_body: u64,
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
        /// Also print notes (harmless findings such as deprecated, unused fields).
        #[arg(short, long)]
        verbose: bool,
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
        /// Also print notes (harmless findings such as deprecated, unused fields); JSON
        /// output always has them.
        #[arg(short, long)]
        verbose: bool,
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
        #[arg(long, default_value = "", value_name = "MAP", value_parser = args::port_map)]
        port_map: PortMap,
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
    /// Send a prediction to a deployment through a gateway, over REST or gRPC.
    #[command(
        long_about = "Send a prediction to a SeldonDeployment through a gateway (sluice up's, or an Istio \
        ingress), over REST or gRPC, and print the answer. With --requests N it sends N predictions, \
        --concurrency at a time, and prints counts, the rate and latency percentiles instead.\n\n\
        Examples:\n  sluice predict example -n seldon --data '[[1.0,2.0,5.0]]'\n  \
        sluice predict example -n seldon --grpc\n  \
        sluice predict example -n seldon --requests 10000 --concurrency 16\n\n\
        Exit status: 0 when every prediction succeeded, 1 when one failed, 2 for bad arguments."
    )]
    Predict {
        /// The SeldonDeployment's name.
        deployment: String,
        /// Its namespace.
        #[arg(short = 'n', long, default_value = "default")]
        namespace: String,
        /// The gateway, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:8080")]
        gateway: String,
        /// Call over gRPC (h2c) instead of REST: seldon.protos.Seldon/Predict, or ModelInfer with --protocol v2.
        #[arg(long)]
        grpc: bool,
        /// The deployment's protocol (spec.protocol).
        #[arg(long, value_enum, default_value_t = predict::Api::Seldon)]
        protocol: predict::Api,
        /// Rows of features as JSON, sent as an ndarray (seldon) or one FP64 tensor (v2).
        #[arg(long, value_name = "JSON", conflicts_with = "payload")]
        data: Option<String>,
        /// The whole request message as JSON, sent as it is.
        #[arg(long, value_name = "JSON")]
        payload: Option<String>,
        /// v2: the model named in the path (/v2/models/<model>/infer) or in ModelInfer's model_name; the orchestrator then calls every node by this name.
        #[arg(long)]
        model: Option<String>,
        /// The Host (or :authority) to send, for a route restricted to hosts.
        #[arg(long)]
        host: Option<String>,
        /// How many predictions to send; above 1, a latency summary is printed.
        #[arg(long, default_value_t = 1)]
        requests: u32,
        /// How many are in flight at once.
        #[arg(long, default_value_t = 1)]
        concurrency: u32,
        /// Give up on one prediction after this many seconds.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
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
    /// Run the Kubernetes operator: reconcile SeldonDeployments, validate them at admission.
    #[command(
        long_about = "Reconcile SeldonDeployments into Deployments, Services, Istio VirtualServices and \
        DestinationRules, as Seldon Core 1's operator does (with its bugs fixed): server-side apply with \
        field manager `sluice`, Istio objects only once the predictors' Deployments are available, \
        cleanup of what a SeldonDeployment no longer wants, Seldon's status and events.\n\n\
        Configured by Seldon's operator environment: ISTIO_ENABLED, ISTIO_GATEWAY, ISTIO_TLS_MODE, \
        ENGINE_SERVER_PORT, ENGINE_SERVER_GRPC_PORT, EXECUTOR_CONTAINER_IMAGE_AND_VERSION, \
        EXECUTOR_PROMETHEUS_PATH, PREDICTIVE_UNIT_*_SERVICE_PORT, CONTROLLER_ID, WATCH_NAMESPACE, \
        POD_NAMESPACE, POD_NAME; every bad value is reported at start-up.\n\n\
        Install it with `helm install sluice charts/sluice-operator` or `sluice install | kubectl apply --server-side -f -`."
    )]
    Operator {
        /// Where /metrics, /healthz and /readyz listen.
        #[arg(long, default_value = "0.0.0.0:8080")]
        metrics_addr: SocketAddr,
        /// Serve the validating admission webhook (HTTPS) here.
        #[arg(long)]
        webhook_addr: Option<SocketAddr>,
        /// The webhook's tls.crt and tls.key (a mounted Secret); without it a certificate is made at start-up.
        #[arg(long, value_name = "DIR")]
        webhook_cert_dir: Option<PathBuf>,
        /// The ValidatingWebhookConfiguration whose caBundle a made certificate goes into.
        #[arg(long, default_value = "sluice-operator")]
        webhook_configuration: String,
        /// The webhook's Service (in the operator's namespace), named in a made certificate.
        #[arg(long, default_value = "sluice-operator-webhook")]
        webhook_service: String,
        /// Elect a leader among replicas with this Lease (in the operator's namespace).
        #[arg(long, value_name = "NAME")]
        leader_election_lease: Option<String>,
        /// Watch one namespace (overrides WATCH_NAMESPACE).
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Print the manifests that install the operator (what the Helm chart renders).
    #[command(
        long_about = "Print, offline, the manifests that install `sluice operator`: the CRD, RBAC (exactly the \
        verbs it uses), its Deployment and Service, and the ValidatingWebhookConfiguration — the same objects \
        the Helm chart charts/sluice-operator renders for the same values. `--set` takes the chart's value \
        names (Seldon's where Seldon has one).\n\n\
        Example:\n  sluice install --set istio.gateway=istio-system/mygateway | kubectl apply --server-side -f -"
    )]
    Install {
        /// A chart value, key=value (repeatable), e.g. istio.enabled=true.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// The namespace the operator runs in.
        #[arg(short, long, default_value = "seldon-system")]
        namespace: String,
    },
    /// A local test issuer for RequestAuthentication: a key, its JWKS, and tokens.
    #[command(
        long_about = "Mint JWTs to test RequestAuthentication and AuthorizationPolicy locally. Make a P-256 key \
        once, put its JWKS in a jwtRule's `jwks`, then mint tokens with the claims your policies expect. For \
        testing only: the key is a plain file.\n\n\
        Example:\n  sluice token --new-key --key issuer.pem\n  sluice token --key issuer.pem --jwks\n  \
        sluice token --key issuer.pem --iss https://issuer.example.com --sub alice --aud seldon --claim groups='[\"admins\"]'"
    )]
    Token {
        /// The signing key (PKCS#8 PEM, P-256).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Write a new key to --key.
        #[arg(long, conflicts_with = "jwks")]
        new_key: bool,
        /// Print the JWKS of --key (for a jwtRule's `jwks`).
        #[arg(long)]
        jwks: bool,
        /// The `iss` claim.
        #[arg(long = "iss", default_value = "https://issuer.sluice.local")]
        issuer: String,
        /// The `sub` claim.
        #[arg(long = "sub", default_value = "tester")]
        subject: String,
        /// An `aud` value (repeatable).
        #[arg(long = "aud")]
        audiences: Vec<String>,
        /// Another claim, NAME=VALUE; VALUE is JSON when it parses (repeatable).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// How long the token is valid.
        #[arg(long, default_value = "1h")]
        expires_in: String,
        /// The key id (`kid`) in the JWKS and the tokens.
        #[arg(long, default_value = "sluice-test")]
        kid: String,
    },
    /// Print the SeldonDeployment CustomResourceDefinition.
    #[command(
        long_about = "Print the SeldonDeployment CRD (v1 stored; v1alpha2 and v1alpha3 served) generated \
        from sluice's types, as YAML.\n\nExample:\n  sluice crd | kubectl apply -f -"
    )]
    Crd,
}

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
    // One TLS provider for every library that asks rustls for the default (the build also
    // enables `ring`, for object_store's HTTP client, so rustls cannot pick one itself).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Render {
            files,
            settings,
            output,
            verbose,
        } => commands::render(
            &files.files,
            files.namespace.as_deref(),
            &settings.settings()?,
            matches!(output, RenderFormat::Json),
            verbose,
        ),
        Command::Validate {
            files,
            settings,
            output,
            verbose,
        } => commands::validate(
            &files.files,
            files.namespace.as_deref(),
            &settings.settings()?,
            matches!(output, ValidateFormat::Json),
            verbose,
        ),
        Command::Crd => commands::crd(),
        Command::Token {
            key,
            new_key,
            jwks,
            issuer,
            subject,
            audiences,
            claims,
            expires_in,
            kid,
        } => {
            token::token(&token::TokenArgs {
                key,
                new_key,
                jwks,
                issuer,
                subject,
                audiences,
                claims,
                expires_in,
                kid,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Up {
            files,
            components,
            port_map,
            admin,
            ready_timeout,
            mesh_port_map,
            access_log,
            max_request_body,
            python,
            mlserver,
            model_cache,
            settings,
        } => {
            let progress = progress::init();
            let defaults = sluice_local::Options::default();
            let gateway = sluice_gateway::Options {
                port_map: port_map.0,
                admin: Some(admin),
                access_log,
                ..sluice_gateway::Options::default()
            };
            let options = sluice_local::Options {
                files,
                settings: settings.settings()?,
                gateway,
                mesh_port_map: mesh_port_map.0,
                ready_timeout: std::time::Duration::from_secs(ready_timeout),
                max_request_body,
                progress,
                tools: sluice_local::servers::Tools {
                    python,
                    mlserver,
                    // Beside the models: where sluice may write.
                    classes: model_cache
                        .as_ref()
                        .map_or(defaults.tools.classes.clone(), |cache| {
                            cache.with_file_name("sluice-servers")
                        }),
                },
                model_cache: model_cache.unwrap_or(defaults.model_cache.clone()),
                ..defaults
            };
            local_commands::up(options, &components)
        }
        Command::Engine {
            sdep,
            namespace,
            predictor,
            http_port,
            grpc_port,
            protocol,
            transport,
            prometheus_path,
            server_type,
            log_work_buffer_size: _,
            log_write_timeout_ms: _,
            full_health_checks: _,
            engine_predictor,
            max_request_body,
        } => {
            init_logs();
            // Both transports are served whatever --transport says, as Seldon's executor
            // does (it only validates the flag).
            let _ = transport;
            if server_type != ServerType::Rpc {
                anyhow::bail!(
                    "only --server_type rpc is served yet (got {server_type:?}): Kafka is not supported"
                );
            }
            local_commands::engine(local_commands::EngineArgs {
                sdep,
                namespace,
                predictor,
                http_port,
                grpc_port,
                prometheus_path,
                protocol: protocol.into(),
                engine_predictor,
                max_request_body,
            })
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
            let options = sluice_gateway::Options {
                port_map: port_map.0,
                admin: Some(admin),
                bind,
                access_log,
                num_trusted_proxies,
                ..sluice_gateway::Options::default()
            };
            mesh_commands::gateway(config, options)
        }
        Command::Predict {
            deployment,
            namespace,
            gateway,
            grpc,
            protocol,
            data,
            payload,
            model,
            host,
            requests,
            concurrency,
            timeout,
        } => {
            let timeout = std::time::Duration::try_from_secs_f64(timeout)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| anyhow::anyhow!("--timeout {timeout}: write a positive number of seconds"))?;
            predict::predict(predict::PredictArgs {
                deployment,
                namespace,
                gateway,
                grpc,
                api: protocol,
                data,
                payload,
                model,
                host,
                requests,
                concurrency,
                timeout,
            })
        }
        Command::Explain {
            config,
            request,
            headers,
            url,
        } => mesh_commands::explain(config, &request, &url, &headers),
        Command::Operator {
            metrics_addr,
            webhook_addr,
            webhook_cert_dir,
            webhook_configuration,
            webhook_service,
            leader_election_lease,
            namespace,
        } => operator_commands::operator(operator_commands::OperatorArgs {
            metrics_addr,
            webhook_addr,
            webhook_cert_dir,
            webhook_configuration,
            webhook_service,
            leader_election_lease,
            namespace,
        }),
        Command::Install { sets, namespace } => operator_commands::install(&sets, &namespace),
        Command::ExecComponent { argv } => {
            let error = sluice_local::supervisor::exec(&argv);
            anyhow::bail!(
                "cannot start {:?}: {error}",
                argv.first().map_or("", String::as_str)
            )
        }
    }
}
