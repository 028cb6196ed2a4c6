//! `sluice up` and `sluice engine`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_engine::server::Cors;
use sluice_engine::{Config as EngineConfig, Engine, pod};
use sluice_local::{Local, Mappings, Options, Supervisor};

use crate::mesh_commands::shutdown_signal;

/// `sluice up`
pub(crate) fn up(options: Options, components: &[String]) -> Result<ExitCode> {
    let mappings = Mappings::parse(components).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        // Ctrl-C and SIGTERM are ours from the start: one that arrives while deployments
        // are starting stops every component process already started.
        let stop = shutdown_signal();
        tokio::pin!(stop);
        eprintln!(
            "sluice up: starting {} ...",
            options
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        // Components started through this binary die with it, even by SIGKILL.
        let supervisor = match std::env::current_exe() {
            Ok(me) => Supervisor::default().with_shim(me),
            Err(e) => {
                tracing::warn!(
                    "components will not die with sluice if it is killed: cannot find the sluice binary: {e}"
                );
                Supervisor::default()
            }
        };
        let options = Options {
            mappings,
            supervisor: supervisor.clone(),
            ..options
        };
        let started = tokio::select! {
            started = Local::start(options) => started,
            () = &mut stop => {
                eprintln!("stopping while starting: every component process started is stopped");
                supervisor.stop_all(sluice_local::supervisor::GRACE).await;
                return Ok(ExitCode::from(1));
            }
        };
        let (local, summary) = match started {
            Ok(ok) => ok,
            Err(e) => {
                eprintln!("{e}");
                eprintln!("error: nothing was started");
                supervisor.stop_all(sluice_local::supervisor::GRACE).await;
                return Ok(ExitCode::from(1));
            }
        };
        for w in sluice_api::diagnostic::shown(&summary.warnings, false) {
            eprintln!("{w}");
        }
        for (port, addr) in local.gateway().addresses() {
            println!(
                "gateway port {port}: {}://{addr}",
                scheme(&local.gateway().table(), port)
            );
        }
        if let Some(mesh) = local.mesh() {
            for (port, addr) in mesh.addresses() {
                println!("in-mesh service port {port}: http://{addr} (send the service's Host header)");
            }
        }
        if let Some(admin) = local.admin() {
            let what = if local.mesh().is_some() {
                "gateway, in-mesh listener and engines"
            } else {
                "gateway and engines"
            };
            println!("metrics: http://{admin}/stats/prometheus ({what})");
        }
        println!();
        print!("{}", summary.table());
        println!();
        println!("Watching the files; edits are applied like `kubectl apply`. Ctrl-C stops everything.");
        local.watch(Duration::from_secs(1));
        stop.await;
        eprintln!("draining...");
        local.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `sluice engine`'s flags.
#[derive(Debug)]
pub(crate) struct EngineArgs {
    pub(crate) sdep: String,
    pub(crate) namespace: String,
    pub(crate) predictor: String,
    pub(crate) http_port: u16,
    pub(crate) grpc_port: u16,
    pub(crate) prometheus_path: String,
    pub(crate) protocol: sluice_engine::graph::Protocol,
    pub(crate) engine_predictor: Option<String>,
    pub(crate) max_request_body: u64,
}

/// `sluice engine` in a pod: the predictor from `ENGINE_PREDICTOR` (base64 JSON, as the
/// operator writes it), components reached at their endpoints.
pub(crate) fn engine(args: EngineArgs) -> Result<ExitCode> {
    let predictor = pod::predictor(args.engine_predictor.as_deref(), &args.predictor)?;
    let components = pod::components(&predictor)?;
    let cors = Cors::from_env(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let engine = Engine::new(EngineConfig {
            deployment: args.sdep,
            namespace: args.namespace,
            predictor,
            components,
            rest_timeout: None,
            grpc_timeout: None,
            prometheus_path: args.prometheus_path,
            protocol: args.protocol,
            cors,
            shared_metrics: None,
            max_body: args.max_request_body,
            max_grpc_message: args.max_request_body,
        });
        // Both ports serve both REST and gRPC (told apart by content type), as one server.
        let (stop, rx) = tokio::sync::watch::channel(false);
        let mut serving = Vec::new();
        for (port, what) in [(args.http_port, "REST"), (args.grpc_port, "gRPC")] {
            let listener = tokio::net::TcpListener::bind(("0.0.0.0", port))
                .await
                .with_context(|| format!("cannot listen for {what} on port {port}"))?;
            tracing::info!(port, "engine listening for {what}");
            serving.push(tokio::spawn(engine.clone().serve(listener, rx.clone())));
        }
        shutdown_signal().await;
        let _ = stop.send(true);
        for server in serving {
            let _ = server.await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `https` for a port served with TLS, else `http`.
pub(crate) fn scheme(table: &sluice_mesh::RouteTable, port: u16) -> &'static str {
    if table.listener(port).is_some_and(|l| !l.tls.is_empty()) {
        "https"
    } else {
        "http"
    }
}
