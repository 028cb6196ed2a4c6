//! `sluice operator`: the admission webhook and the health/metrics listener on every
//! replica; the controller on the one that leads.
//!
//! ```text
//!  start ──> metrics (/metrics, /healthz, /readyz) ──> webhook (HTTPS) ──> lead? (Lease)
//!                                                                             │ yes
//!                                                      Controller(SeldonDeployment)
//!                                                        owns Deployments, Services
//!                                                        ──> reconcile::reconcile
//!  stop (SIGTERM) or leadership lost ──> drain the controller, give the lease up
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::Api;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use sluice_api::SeldonDeployment;

use crate::config::Config;
use crate::leader::Election;
use crate::metrics::{self, Metrics};
use crate::reconcile::{self, Context};
use crate::webhook;

/// Where the webhook's certificate comes from.
#[derive(Clone, Debug)]
pub enum Certificates {
    /// `tls.crt`, `tls.key` (and `ca.crt`) in a directory: a mounted Secret.
    Dir(PathBuf),
    /// Made at start-up for these DNS names; the CA goes into the configuration's `caBundle`.
    SelfSigned(Vec<String>),
}

/// The admission webhook's listener.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// Where it listens (HTTPS).
    pub addr: SocketAddr,
    /// Its certificate.
    pub certificates: Certificates,
    /// The `ValidatingWebhookConfiguration` whose `caBundle` a self-signed CA goes into.
    pub configuration: String,
}

/// How the operator runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// From the environment.
    pub config: Config,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub metrics_addr: SocketAddr,
    /// The admission webhook, when served.
    pub webhook: Option<Webhook>,
    /// The Lease of the leader election, in the operator's namespace; `None`: always lead.
    pub lease: Option<String>,
    /// How long the Lease holds without renewal, and how often the leader renews it.
    pub lease_timing: (std::time::Duration, std::time::Duration),
}

/// The operator could not start or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No cluster to talk to.
    #[error("cannot reach the Kubernetes API (KUBECONFIG or the in-cluster service account): {0}")]
    Client(#[source] kube::Error),
    /// A listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The webhook could not start.
    #[error(transparent)]
    Webhook(#[from] webhook::WebhookError),
    /// The leader election failed.
    #[error("leader election: {0}")]
    Election(#[source] kube::Error),
}

/// What is running, for the caller (tests, the CLI's start-up lines).
#[derive(Clone, Debug)]
pub struct Running {
    /// The metrics listener.
    pub metrics: SocketAddr,
    /// The webhook listener.
    pub webhook: Option<SocketAddr>,
}

/// Run until `stop` resolves (or leadership is lost). `started` hears where it listens.
pub async fn run(
    options: Options,
    client: Option<Client>,
    stop: impl Future<Output = ()> + Send + 'static,
    started: impl FnOnce(Running) + Send,
) -> Result<(), RunError> {
    let client = match client {
        Some(c) => c,
        None => Client::try_default().await.map_err(RunError::Client)?,
    };
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = stopping.send(true);
    });
    let when_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let metrics = Arc::new(Metrics::default());
    let metrics_addr = metrics::serve(
        metrics.clone(),
        options.metrics_addr,
        when_stopped(stopped.clone()),
    )
    .await
    .map_err(|source| RunError::Listen {
        addr: options.metrics_addr,
        source,
    })?;
    let webhook = match &options.webhook {
        None => None,
        Some(w) => {
            let cert = match &w.certificates {
                Certificates::Dir(dir) => webhook::from_dir(dir)?,
                Certificates::SelfSigned(names) => {
                    let cert = webhook::self_signed(names)?;
                    if let Err(e) = webhook::patch_ca_bundle(&client, &w.configuration, &cert.ca_pem).await {
                        tracing::warn!(error = %e, configuration = %w.configuration, "could not set the webhook's caBundle");
                    }
                    cert
                }
            };
            let addr = webhook::serve(
                options.config.settings.clone(),
                &cert,
                w.addr,
                when_stopped(stopped.clone()),
            )
            .await?;
            tracing::info!(%addr, "admission webhook listening");
            Some(addr)
        }
    };
    started(Running {
        metrics: metrics_addr,
        webhook,
    });
    // Followers serve the webhook and are ready; only the leader reconciles.
    metrics.set_ready(true);
    let election = options.lease.as_ref().map(|lease| {
        let mut e = Election::new(
            client.clone(),
            &options.config.operator_namespace,
            lease,
            &options.config.pod_name,
        );
        (e.duration, e.renew) = options.lease_timing;
        e
    });
    if let Some(election) = &election {
        tokio::select! {
            acquired = election.acquire() => acquired.map_err(RunError::Election)?,
            () = when_stopped(stopped.clone()) => return Ok(()),
        }
    }
    metrics.set_leader(true);
    let reporter = Reporter {
        controller: "sluice-operator".to_string(),
        instance: Some(options.config.pod_name.clone()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        metrics: metrics.clone(),
        config: options.config.clone(),
        failures: std::sync::Mutex::default(),
    });
    let (sdeps, deployments, services): (Api<SeldonDeployment>, Api<Deployment>, Api<Service>) =
        match &options.config.namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client.clone()),
            ),
        };
    let lost = {
        let election = election.clone();
        async move {
            match election {
                Some(e) => e.keep().await,
                None => std::future::pending().await,
            }
        }
    };
    // The controller drains when asked to stop or when leadership is lost.
    let (drain, draining) = tokio::sync::watch::channel(false);
    let stopped_too = stopped.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = when_stopped(stopped_too) => {}
            () = lost => {}
        }
        let _ = drain.send(true);
    });
    let shutdown = when_stopped(draining);
    tracing::info!(namespace = ?options.config.namespace, controller_id = %options.config.controller_id, "reconciling SeldonDeployments");
    Controller::new(sdeps, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(options.config.concurrency))
        .owns(deployments, watcher::Config::default())
        .owns(services, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|_| async {})
        .await;
    metrics.set_leader(false);
    if let Some(election) = &election {
        election.release().await;
    }
    Ok(())
}
