//! `sluice operator` and `sluice install`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use sluice_operator::install::{self, Values};
use sluice_operator::run::{Certificates, Options, Webhook};

use crate::mesh_commands::shutdown_signal;

/// `sluice operator`'s flags.
#[derive(Debug)]
pub(crate) struct OperatorArgs {
    pub(crate) metrics_addr: SocketAddr,
    pub(crate) webhook_addr: Option<SocketAddr>,
    pub(crate) webhook_cert_dir: Option<PathBuf>,
    pub(crate) webhook_configuration: String,
    pub(crate) webhook_service: String,
    pub(crate) leader_election_lease: Option<String>,
    pub(crate) namespace: Option<String>,
}

/// `sluice operator`
pub(crate) fn operator(args: OperatorArgs) -> Result<ExitCode> {
    crate::init_logs();
    let (mut config, warnings) = match sluice_operator::config::from_env(|name| std::env::var(name).ok()) {
        Ok(ok) => ok,
        Err(errors) => {
            for e in &errors {
                eprintln!("error: {e}");
            }
            eprintln!(
                "error: the operator's environment has {} bad value(s); nothing started",
                errors.len()
            );
            return Ok(ExitCode::from(2));
        }
    };
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if args.namespace.is_some() {
        config.namespace = args.namespace.clone();
    }
    tracing::info!(settings = ?config.settings, controller_id = %config.controller_id, namespace = ?config.namespace, "configuration");
    let webhook = args.webhook_addr.map(|addr| Webhook {
        addr,
        certificates: match &args.webhook_cert_dir {
            Some(dir) => Certificates::Dir(dir.clone()),
            None => Certificates::SelfSigned(vec![
                format!("{}.{}.svc", args.webhook_service, config.operator_namespace),
                format!(
                    "{}.{}.svc.cluster.local",
                    args.webhook_service, config.operator_namespace
                ),
            ]),
        },
        configuration: args.webhook_configuration.clone(),
    });
    let options = Options {
        config,
        metrics_addr: args.metrics_addr,
        webhook,
        lease: args.leader_election_lease,
        lease_timing: (
            std::time::Duration::from_secs(15),
            std::time::Duration::from_secs(5),
        ),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        sluice_operator::run(options, None, shutdown_signal(), |running| {
            tracing::info!(metrics = %running.metrics, webhook = ?running.webhook, "operator started");
        })
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `sluice install`
pub(crate) fn install(sets: &[String], namespace: &str) -> Result<ExitCode> {
    let values = Values::new(sets)?;
    print!("{}", install::yaml(&values, namespace)?);
    Ok(ExitCode::SUCCESS)
}
