//! `sluice up` and `sluice engine`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use sluice_api::seldon::{PredictiveUnit, PredictorSpec};
use sluice_engine::{Component, Config as EngineConfig, Engine};
use sluice_local::{Local, Mappings, Options};
use sluice_translate::Settings;

use crate::mesh_commands::shutdown_signal;

/// `sluice up`
pub(crate) fn up(
    files: Vec<PathBuf>,
    settings: Settings,
    gateway: sluice_gateway::Options,
    mesh_port_map: BTreeMap<u16, u16>,
    components: &[String],
    ready_timeout: Duration,
    progress: sluice_local::Reporter,
) -> Result<ExitCode> {
    let mappings = Mappings::parse(components).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        eprintln!(
            "sluice up: starting {} ...",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        let options = Options {
            files,
            settings,
            gateway,
            mappings,
            ready_timeout,
            mesh_port_map,
            progress,
            ..Options::default()
        };
        let (local, summary) = match Local::start(options).await {
            Ok(ok) => ok,
            Err(e) => {
                eprintln!("{e}");
                eprintln!("error: nothing was started");
                return Ok(ExitCode::from(1));
            }
        };
        for w in &summary.warnings {
            eprintln!("{w}");
        }
        for (port, addr) in local.gateway().addresses() {
            println!("gateway port {port}: http://{addr}");
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
        shutdown_signal().await;
        eprintln!("draining...");
        local.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `sluice engine` in a pod: the predictor from `ENGINE_PREDICTOR` (base64 JSON, as the
/// operator writes it), components reached at their endpoints.
pub(crate) fn engine(
    sdep: String,
    namespace: String,
    predictor_name: String,
    http_port: u16,
    prometheus_path: String,
    protocol: sluice_engine::graph::Protocol,
    predictor_b64: Option<String>,
) -> Result<ExitCode> {
    let encoded = predictor_b64.context(
        "ENGINE_PREDICTOR is not set: it holds the predictor as base64 JSON (the operator sets it)",
    )?;
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .context("ENGINE_PREDICTOR is not base64")?;
    let predictor: PredictorSpec =
        serde_json::from_slice(&json).context("ENGINE_PREDICTOR is not a predictor as JSON")?;
    if predictor.name != predictor_name {
        bail!(
            "--predictor {predictor_name:?} does not match ENGINE_PREDICTOR's predictor {:?}",
            predictor.name
        );
    }
    let mut components = BTreeMap::new();
    for node in predictor.graph.walk() {
        components.insert(node.name.clone(), component(&predictor, node)?);
    }
    let cors =
        sluice_engine::server::Cors::from_env(|name| std::env::var(name).ok()).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let engine = Engine::new(EngineConfig {
            deployment: sdep,
            namespace,
            predictor,
            components,
            rest_timeout: None,
            prometheus_path,
            protocol,
            cors,
        });
        let listener = tokio::net::TcpListener::bind(("0.0.0.0", http_port))
            .await
            .with_context(|| format!("cannot listen on port {http_port}"))?;
        tracing::info!(port = http_port, "engine listening");
        let (stop, rx) = tokio::sync::watch::channel(false);
        let serving = tokio::spawn(engine.serve(listener, rx));
        shutdown_signal().await;
        let _ = stop.send(true);
        let _ = serving.await;
        Ok(ExitCode::SUCCESS)
    })
}

fn component(predictor: &PredictorSpec, node: &PredictiveUnit) -> Result<Component> {
    if sluice_translate::graph::is_builtin(node.implementation.as_deref().unwrap_or("")) {
        return Ok(Component::Builtin);
    }
    let endpoint = node.endpoint.as_ref().with_context(|| {
        format!(
            "node {} of predictor {} has no endpoint",
            node.name, predictor.name
        )
    })?;
    let host = endpoint
        .service_host
        .clone()
        .unwrap_or_else(|| "localhost".to_string());
    let port = endpoint.http_port.or(endpoint.service_port).unwrap_or(9000);
    let image = sluice_translate::graph::container(predictor, &node.name)
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    Ok(Component::Http {
        host,
        port: u16::try_from(port).context("endpoint port out of range")?,
        image,
    })
}
