//! Running SeldonDeployments: engines per predictor replica, their endpoints as Istio
//! ServiceEntries, the translated VirtualServices and DestinationRules, and re-applying
//! when the files change.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::Request;
use sluice_api::document::FieldPath;
use sluice_api::istio::{
    Gateway, GatewaySpec, NETWORKING_API_VERSION, Object, Port, Server, ServiceEntry, ServiceEntryLocation,
    ServiceEntryResolution, ServiceEntrySpec, ServicePort, WorkloadEntry,
};
use sluice_api::{Diagnostic, ObjectRef, SeldonDeployment};
use sluice_engine::graph::Protocol;
use sluice_engine::server::Cors;
use sluice_engine::{Config as EngineConfig, Engine};
use sluice_gateway::{InProcess, InProcessServices};
use sluice_mesh::{Proxy, RouteTable};
use sluice_translate::{Desired, Settings, desired, istio, names};
use tokio::net::TcpListener;
use tokio::sync::watch;

use arc_swap::ArcSwap;

use crate::components::{self, Mappings};
use crate::guard::{Guard, SharedGuard};
use crate::health;
use crate::plan::{Plan, PlanError};
use crate::progress::{Progress, Reporter};
use crate::supervisor;

/// How `sluice up` runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// SeldonDeployment (and Istio) files or directories.
    pub files: Vec<PathBuf>,
    /// The translation's settings.
    pub settings: Settings,
    /// The gateway's options (ports, admin).
    pub gateway: sluice_gateway::Options,
    /// Where non-built-in components run.
    pub mappings: Mappings,
    /// How long a predictor may take to become ready.
    pub ready_timeout: Duration,
    /// Service ports served for in-mesh clients (`mesh`-bound routes) → local ports; empty: off.
    pub mesh_port_map: BTreeMap<u16, u16>,
    /// How long replaced engines keep serving after a new table is live (requests that
    /// picked the old table are still on their way to them).
    pub retire_after: Duration,
    /// The largest request body an orchestrator reads, unless a SeldonDeployment's
    /// `seldon.io/rest-max-body-size` says otherwise.
    pub max_request_body: u64,
    /// Where start-up progress goes (log lines by default).
    pub progress: Reporter,
    /// Starts, reaps and stops component processes; the caller keeps a clone to stop
    /// them all if it gives up while deployments are still starting.
    pub supervisor: crate::Supervisor,
    /// Where prepackaged servers' Python tools are, and where sluice writes its server
    /// classes.
    pub tools: crate::servers::Tools,
    /// Where models fetched from `s3://`, `gs://` and `https://` are kept.
    pub model_cache: PathBuf,
}

impl Default for Options {
    /// No files; gateway port 80 on 8080; 30 s to get ready; old engines retire after 5 s.
    fn default() -> Self {
        Options {
            files: Vec::new(),
            settings: Settings::default(),
            gateway: sluice_gateway::Options::default(),
            mappings: Mappings::default(),
            ready_timeout: Duration::from_secs(30),
            mesh_port_map: BTreeMap::new(),
            retire_after: Duration::from_secs(5),
            max_request_body: sluice_engine::server::MAX_BODY,
            progress: Reporter::log(),
            supervisor: crate::Supervisor::default(),
            tools: crate::servers::Tools {
                classes: crate::models::default_cache().with_file_name("servers"),
                ..crate::servers::Tools::default()
            },
            model_cache: crate::models::default_cache(),
        }
    }
}

/// What is running, for the start-up table.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// One row per predictor: deployment, predictor, traffic, replicas, and where its
    /// orchestrators listen (Seldon's port 8000 of the pod: `/prometheus`, the API).
    pub rows: Vec<[String; 5]>,
    /// Ready-to-paste requests per deployment: curl, and `sluice predict --grpc` for Seldon's
    /// protocol.
    pub curls: Vec<String>,
    /// Warnings from the files and the configuration.
    pub warnings: Vec<Diagnostic>,
}

impl Summary {
    /// The table as text.
    pub fn table(&self) -> String {
        let header = [
            "DEPLOYMENT",
            "PREDICTOR",
            "TRAFFIC",
            "REPLICAS",
            "ORCHESTRATOR (POD PORT 8000)",
        ];
        let widths: Vec<usize> = (0..5)
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].len())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: [&str; 5]| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = vec![line(header)];
        out.extend(
            self.rows
                .iter()
                .map(|r| line([&r[0], &r[1], &r[2], &r[3], &r[4]])),
        );
        out.push(String::new());
        out.extend(self.curls.iter().cloned());
        out.join("\n") + "\n"
    }
}

/// `2`, or `1/2 ready` while some are not.
fn replica_count(replicas: &[Replica]) -> String {
    let ready = replicas
        .iter()
        .filter(|r| r.ready.load(std::sync::atomic::Ordering::Acquire))
        .count();
    if ready == replicas.len() {
        replicas.len().to_string()
    } else {
        format!("{ready}/{} ready", replicas.len())
    }
}

/// One engine instance.
#[derive(Debug)]
struct Replica {
    addr: SocketAddr,
    engine: Arc<Engine>,
    /// Whether its components are up and accept connections (see `health`).
    ready: Arc<std::sync::atomic::AtomicBool>,
    stop: watch::Sender<bool>,
    /// The gateways that hand this engine their requests in process.
    gateways: Vec<InProcessServices>,
}

impl Replica {
    /// The gateways stop handing it requests, and it drains. Idempotent.
    fn stop(&self) {
        for services in &self.gateways {
            services.remove(self.addr);
        }
        let _ = self.stop.send(true);
    }
}

impl Drop for Replica {
    /// However a replica goes away (retired, or dropped by a failed apply), no gateway keeps
    /// handing requests to it.
    fn drop(&mut self) {
        self.stop();
    }
}

/// The engine as a service the gateway calls without a socket: the loopback hop between
/// the two costs as much CPU as the routing itself. Its socket still serves direct callers.
/// The predictor's sidecar policies run first, as they would on the pod's port.
fn in_process(engine: &Arc<Engine>, guard: &SharedGuard, jwks: &sluice_gateway::jwks::Jwks) -> InProcess {
    let (engine, guard, jwks) = (engine.clone(), guard.clone(), jwks.clone());
    Arc::new(move |request: Request<sluice_gateway::Body>| {
        let (engine, guard, jwks) = (engine.clone(), guard.clone(), jwks.clone());
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // The gateway is the caller.
            match guard.load().check(&mut parts, GATEWAY_PEER, &jwks) {
                Some(refused) => refused,
                None => engine.answer(Request::from_parts(parts, body)).await,
            }
        })
    })
}

/// The data of Secret `name` in `namespace` (or without a namespace), decoded.
fn secret_data(
    secrets: &[Arc<k8s_openapi::api::core::v1::Secret>],
    namespace: &str,
    name: &str,
) -> Option<BTreeMap<String, String>> {
    let secret = secrets.iter().find(|s| {
        s.metadata.name.as_deref() == Some(name)
            && s.metadata.namespace.as_deref().is_none_or(|ns| ns == namespace)
    })?;
    let mut out: BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    out.extend(secret.string_data.clone().unwrap_or_default());
    Some(out)
}

/// The address the gateway calls engines from, for policies that look at it.
const GATEWAY_PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A SeldonDeployment that runs.
#[derive(Debug)]
struct Running {
    fingerprint: String,
    sdep: SeldonDeployment,
    desired: Desired,
    /// Replicas per predictor, in predictor order.
    replicas: Vec<Vec<Replica>>,
    /// Per predictor, the policies its sidecar enforces (swapped when the files change).
    guards: Vec<SharedGuard>,
    /// Component processes sluice started; held so that dropping this stops them.
    processes: Vec<crate::supervisor::Process>,
    /// Per predictor, where its explainer answers, when it has one served here.
    explainers: Vec<Option<SocketAddr>>,
    /// What was found while starting it (an explainer not served here and why).
    warnings: Vec<Diagnostic>,
}

/// Where a predictor's explainer answers locally, or why it does not.
enum LocalExplainer {
    /// Started by sluice (`process`), or mapped with `--component`, at `addr`.
    Serving {
        addr: SocketAddr,
        process: Option<crate::supervisor::Process>,
    },
    /// Not served here; the predictor is. The message says why and what to do.
    NotServed(String),
}

type Key = (String, String);

/// `sluice up` in progress.
#[derive(Debug)]
pub struct Local {
    options: Options,
    gateway: sluice_gateway::Gateway,
    /// The sidecar view for `mesh`-bound routes, when enabled.
    mesh: Option<sluice_gateway::Gateway>,
    /// Where the admin listener (metrics of everything) listens, when enabled.
    admin: Option<SocketAddr>,
    state: tokio::sync::Mutex<BTreeMap<Key, Running>>,
    /// The engines' metric families, registered on the gateway's scrape.
    engine_metrics: sluice_engine::metrics::Families,
}

impl Local {
    /// Load the files, start everything and serve. Errors leave nothing running.
    pub async fn start(options: Options) -> Result<(Arc<Local>, Summary), PlanError> {
        let plan = load_plan(&options).await?;
        let gateway = sluice_gateway::Gateway::new(options.gateway.clone(), RouteTable::default());
        // One scrape: the engines' families beside the gateway's, every series of an
        // engine labelled with its pod.
        let engine_metrics = sluice_engine::metrics::Families::default();
        gateway
            .metrics()
            .register(|registry| engine_metrics.register(registry));
        let summaries = engine_metrics.clone();
        gateway
            .metrics()
            .add_text(Arc::new(move || summaries.summaries()));
        let admin = gateway
            .listen_admin()
            .await
            .map_err(|e| PlanError::single(format!("cannot listen on the admin address: {e}")))?;
        // The in-mesh listener is a second gateway over the sidecar view of the same config.
        // It records into the gateway's families (its series are the `sidecar` workload's),
        // so one scrape sees everything.
        let mesh = (!options.mesh_port_map.is_empty()).then(|| {
            sluice_gateway::Gateway::with_metrics(
                sluice_gateway::Options {
                    port_map: options.mesh_port_map.clone(),
                    admin: None,
                    workload: "sidecar".to_string(),
                    ..options.gateway.clone()
                },
                RouteTable::default(),
                gateway.metrics(),
            )
        });
        let local = Arc::new(Local {
            options,
            gateway,
            mesh,
            admin,
            state: tokio::sync::Mutex::default(),
            engine_metrics,
        });
        let summary = local.apply(plan).await?;
        release_free_memory().await;
        Ok((local, summary))
    }

    /// The gateway (its addresses, for clients).
    pub fn gateway(&self) -> &sluice_gateway::Gateway {
        &self.gateway
    }

    /// The admin listener's address (`/stats/prometheus`), when enabled.
    pub fn admin(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// The in-mesh listener, when `mesh_port_map` enables it.
    pub fn mesh(&self) -> Option<&sluice_gateway::Gateway> {
        self.mesh.as_ref()
    }

    /// Re-read the files and apply them like `kubectl apply`: changed deployments get new
    /// engines, which take traffic only once ready; the old ones drain after the switch.
    /// On any error nothing changes.
    pub async fn reload(&self) -> Result<Summary, PlanError> {
        let plan = load_plan(&self.options).await?;
        let applied = self.apply(plan).await;
        release_free_memory().await;
        applied
    }

    async fn apply(&self, plan: Plan) -> Result<Summary, PlanError> {
        let mut state = self.state.lock().await;
        let mut old = std::mem::take(&mut *state);
        let mut next: BTreeMap<Key, Running> = BTreeMap::new();
        let mut started: Vec<Key> = Vec::new();
        let mut errors = Vec::new();
        for sdep in &plan.deployments {
            let key = (
                names::namespace(sdep).to_string(),
                names::sdep_name(sdep).to_string(),
            );
            let fingerprint = fingerprint(sdep);
            if old.get(&key).is_some_and(|r| r.fingerprint == fingerprint) {
                if let Some(running) = old.remove(&key) {
                    next.insert(key, running);
                }
                continue;
            }
            match self.launch(sdep, fingerprint, &plan.istio).await {
                Ok(running) => {
                    started.push(key.clone());
                    next.insert(key, running);
                }
                Err(e) => errors.push(e),
            }
        }
        let compiled = if errors.is_empty() {
            self.compile(&plan, &next)
        } else {
            Err(errors)
        };
        // On an error, keep serving what ran before: stop what was started, restore the rest.
        let rollback =
            |errors: Vec<Diagnostic>, mut next: BTreeMap<Key, Running>, mut old: BTreeMap<Key, Running>| {
                // Dropping a Running stops its engines and, in the background, its processes.
                for key in &started {
                    next.remove(key);
                }
                old.extend(next);
                (old, PlanError(errors))
            };
        // The sidecars' policies of every running predictor, for the new files.
        let compiled = compiled.and_then(|(table, mesh_table, mut warnings)| {
            let (guards, mut problems) = self.guards(&plan, &next);
            if problems.iter().any(Diagnostic::is_error) {
                problems.retain(Diagnostic::is_error);
                return Err(problems);
            }
            warnings.append(&mut problems);
            Ok((table, mesh_table, warnings, guards))
        });
        let (table, mesh_table, warnings, guards) = match compiled {
            Ok(ok) => ok,
            Err(errors) => {
                let (restored, error) = rollback(errors, next, old);
                *state = restored;
                return Err(error);
            }
        };
        // A gateway that cannot listen on a new port keeps its old table.
        if let Err(e) = self.gateway.swap(table, warnings.clone()).await {
            let (restored, error) = rollback(
                vec![Diagnostic::error(
                    FieldPath::root(),
                    format!("cannot listen: {e}"),
                )],
                next,
                old,
            );
            *state = restored;
            return Err(error);
        }
        let jwks = self.gateway.jwks();
        for (shared, guard) in guards {
            jwks.watch(guard.security.authn.jwks_uris());
            shared.store(Arc::new(guard));
        }
        if let (Some(mesh), Some(mesh_table)) = (&self.mesh, mesh_table) {
            // Only the mapped service ports are listened on; they are fixed at start, so this
            // cannot fail on a port the previous table did not have.
            let ports: BTreeSet<u16> = self.options.mesh_port_map.keys().copied().collect();
            if let Err(e) = mesh.swap(mesh_table.only_ports(&ports), Vec::new()).await {
                tracing::error!("in-mesh listener kept its previous routes: cannot listen: {e}");
            }
        }
        // The new table is live. Requests that picked the old one may still be on their
        // way to the old engines: those stop only after a grace period, then drain.
        let retired: Vec<Running> = std::mem::take(&mut old).into_values().collect();
        if !retired.is_empty() {
            let grace = self.options.retire_after;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let mut stopping = tokio::task::JoinSet::new();
                for running in retired {
                    running.replicas.iter().flatten().for_each(Replica::stop);
                    for process in running.processes {
                        stopping.spawn(process.stop(crate::supervisor::GRACE));
                    }
                }
                // Together: each may take the whole grace period.
                stopping.join_all().await;
            });
        }
        // What each deployment found while starting (an explainer not served here), located
        // in its file.
        let started_warnings = next
            .values()
            .flat_map(|r| r.warnings.iter().cloned())
            .map(|d| plan.loaded.locate(d));
        let summary = self.summary(
            &next,
            plan.warnings
                .into_iter()
                .chain(warnings)
                .chain(started_warnings)
                .collect(),
        );
        *state = next;
        Ok(summary)
    }

    /// Start the engines of one SeldonDeployment and wait until they are ready, reporting
    /// progress.
    async fn launch(
        &self,
        sdep: &SeldonDeployment,
        fingerprint: String,
        policies: &sluice_mesh::Config,
    ) -> Result<Running, Diagnostic> {
        let deployment = format!("{}/{}", names::namespace(sdep), names::sdep_name(sdep));
        let progress = &self.options.progress;
        progress.report(Progress::Starting {
            deployment: deployment.clone(),
            predictors: sdep.spec.predictors.len(),
        });
        let started = Instant::now();
        let result = self
            .start_engines(sdep, fingerprint, &deployment, started, policies)
            .await;
        progress.report(match &result {
            Ok(running) => Progress::Ready {
                deployment,
                took: started.elapsed(),
                engines: running.replicas.iter().map(Vec::len).sum(),
                processes: running.processes.len(),
            },
            Err(_) => Progress::Failed { deployment },
        });
        result
    }

    /// The models of the predictor's prepackaged nodes that sluice starts (not mapped with
    /// `--component`), fetched into the cache, by node name.
    async fn fetch_models(
        &self,
        sdep: &SeldonDeployment,
        predictor: &sluice_api::seldon::PredictorSpec,
        deployment: &str,
        secrets: &[Arc<k8s_openapi::api::core::v1::Secret>],
    ) -> Result<BTreeMap<String, PathBuf>, String> {
        let mut out = BTreeMap::new();
        for node in predictor.graph.walk() {
            let uri = node.model_uri.as_deref().unwrap_or("");
            let protocol = Protocol::from_spec(sdep.spec.protocol.as_deref()).unwrap_or_default();
            let image = components::image_of(&self.options.settings, predictor, node, protocol);
            if uri.is_empty()
                || !sluice_translate::prepack::is_prepackaged(node)
                || self.options.mappings.find(&node.name, &image).is_some()
            {
                continue;
            }
            let owner = format!("node {:?}", node.name);
            let dir = self
                .fetch_model(
                    sdep,
                    uri,
                    node.env_secret_ref_name.as_deref(),
                    &owner,
                    deployment,
                    secrets,
                )
                .await?;
            out.insert(node.name.clone(), dir);
        }
        if !out.is_empty()
            || predictor
                .graph
                .walk()
                .iter()
                .any(|n| sluice_translate::prepack::is_prepackaged(n))
        {
            crate::servers::write_classes(&self.options.tools).map_err(|e| {
                format!(
                    "cannot write sluice's server classes to {}: {e}",
                    self.options.tools.classes.display()
                )
            })?;
        }
        Ok(out)
    }

    /// Fetch `uri` into the model cache for `owner` (a node or the explainer), with the
    /// credentials of Secret `secret_name` for object stores; progress is reported as bytes
    /// arrive.
    async fn fetch_model(
        &self,
        sdep: &SeldonDeployment,
        uri: &str,
        secret_name: Option<&str>,
        owner: &str,
        deployment: &str,
        secrets: &[Arc<k8s_openapi::api::core::v1::Secret>],
    ) -> Result<PathBuf, String> {
        // Only object stores read credentials.
        let remote = uri.starts_with("s3://") || uri.starts_with("gs://");
        let secret = secret_name
            .filter(|n| remote && !n.is_empty())
            .map(|name| {
                secret_data(secrets, names::namespace(sdep), name).ok_or_else(|| {
                    format!(
                        "{owner}: envSecretRefName {name:?}: no Secret of that name in namespace {} in the files",
                        names::namespace(sdep)
                    )
                })
            })
            .transpose()?;
        let reported = std::sync::atomic::AtomicU64::new(u64::MAX);
        let progress = |done: u64, total: u64| {
            // Every 4 MiB and at the end, not every chunk.
            let step = done / (4 << 20);
            if done == total || reported.swap(step, std::sync::atomic::Ordering::Relaxed) != step {
                self.options.progress.report(Progress::Fetching {
                    deployment: deployment.to_string(),
                    uri: uri.to_string(),
                    done,
                    total,
                });
            }
        };
        crate::models::fetch(uri, secret.as_ref(), &self.options.model_cache, &progress)
            .await
            .map_err(|e| format!("{owner}: {e}"))
    }

    /// Start (or find, when mapped) the explainer of `predictor`, which calls its engine at
    /// `engine`. A runtime that is not installed, or an explainer sluice cannot run, is
    /// `NotServed`; a model that cannot be fetched or a process that cannot start, an error.
    #[allow(clippy::too_many_arguments)]
    async fn start_explainer(
        &self,
        sdep: &SeldonDeployment,
        predictor: &sluice_api::seldon::PredictorSpec,
        explainer: &sluice_api::seldon::Explainer,
        desired: &Desired,
        engine: SocketAddr,
        deployment: &str,
        secrets: &[Arc<k8s_openapi::api::core::v1::Secret>],
    ) -> Result<LocalExplainer, String> {
        let name = names::explainer(sdep, predictor);
        let url = sluice_translate::explainers::url_prefix(sdep, predictor);
        let container = desired
            .deployments
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some(name.as_str()))
            .and_then(|d| d.spec.as_ref()?.template.spec.as_ref()?.containers.first())
            .ok_or_else(|| format!("explainer {name}: the translation gave it no container"))?;
        let image = container.image.clone().unwrap_or_default();
        match self.options.mappings.find(&container.name, &image) {
            Some(crate::Mapping::Url {
                host,
                port,
                grpc: false,
            }) => {
                let addr = tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or_else(|| {
                        format!(
                            "explainer {name}: --component maps it to {host}:{port}, which does not resolve"
                        )
                    })?;
                return Ok(LocalExplainer::Serving { addr, process: None });
            }
            Some(_) => {
                return Err(format!(
                    "explainer {name}: an explainer is reached over REST; map it with --component {}=http://HOST:PORT",
                    container.name
                ));
            }
            None => {}
        }
        let not_served = |why: String| {
            Ok(LocalExplainer::NotServed(format!(
                "{url} is not served locally: {why}"
            )))
        };
        if !crate::explainers::is_seldons_image(&self.options.settings, &image) {
            return not_served(format!(
                "the explainer runs image {image}, which sluice does not know how to run; serve it yourself and pass \
                 --component {}=http://127.0.0.1:PORT",
                container.name
            ));
        }
        let protocol = match sdep.spec.protocol.as_deref() {
            Some("v2" | "kfserving") => "v2",
            Some("tensorflow") => "tensorflow",
            _ => "seldon",
        };
        let model_uri = explainer.model_uri.as_deref().filter(|u| !u.is_empty());
        if protocol != "v2" && model_uri.is_none() {
            return not_served(
                "sluice runs explainers saved with alibi's explainer.save(DIR), and this one has no modelUri; set \
                 explainer.modelUri to that folder"
                    .to_string(),
            );
        }
        let free = || -> Result<u16, String> {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| format!("no free port: {e}"))
        };
        let tools = &self.options.tools;
        // The runtime first: a missing one leaves the predictor served, with a warning. (Its
        // ports do not matter for the check; the real ones are taken just before the start.)
        let probe_place = crate::explainers::Place {
            engine,
            ports: [0; 3],
            model: None,
        };
        let probe = crate::explainers::command(container, protocol, &probe_place, tools);
        let checked =
            tokio::task::spawn_blocking(move || crate::servers::check_imports("the explainer", &probe))
                .await
                .map_err(|e| e.to_string())?;
        if let Err(why) = checked {
            return not_served(why);
        }
        let model = match model_uri {
            Some(uri) => Some(
                self.fetch_model(
                    sdep,
                    uri,
                    explainer.env_secret_ref_name.as_deref(),
                    "explainer",
                    deployment,
                    secrets,
                )
                .await?,
            ),
            None => None,
        };
        crate::servers::write_classes(tools).map_err(|e| {
            format!(
                "cannot write sluice's server classes to {}: {e}",
                tools.classes.display()
            )
        })?;
        // Free ports taken now, after the fetch, so nothing else takes them first.
        let place = crate::explainers::Place {
            engine,
            ports: [free()?, free()?, free()?],
            model: model.as_deref(),
        };
        let command = crate::explainers::command(container, protocol, &place, tools);
        let launch = crate::supervisor::Launch {
            argv: command.argv,
            env: command.env,
        };
        let process = self
            .options
            .supervisor
            .spawn(launch, &format!("{deployment}/{}/explainer", predictor.name))
            .map_err(|e| format!("explainer {name}: cannot start it: {e}"))?;
        Ok(LocalExplainer::Serving {
            addr: SocketAddr::from(([127, 0, 0, 1], place.ports[0])),
            process: Some(process),
        })
    }

    async fn start_engines(
        &self,
        sdep: &SeldonDeployment,
        fingerprint: String,
        deployment: &str,
        started: Instant,
        policies: &sluice_mesh::Config,
    ) -> Result<Running, Diagnostic> {
        let name = names::sdep_name(sdep);
        let object = ObjectRef::of("SeldonDeployment", &sdep.metadata);
        let fail =
            |path: FieldPath, message: String| Diagnostic::error(path, message).in_object(object.clone());
        let mut desired =
            desired(sdep, &self.options.settings).map_err(|e| fail(FieldPath::root(), e.to_string()))?;
        let mut replicas = Vec::new();
        let mut processes = Vec::new();
        let mut guards = Vec::new();
        let mut watches = Vec::new();
        let jwks = self.gateway.jwks();
        // The plan refused any other value.
        let protocol = Protocol::from_spec(sdep.spec.protocol.as_deref()).unwrap_or_default();
        for (index, predictor) in sdep.spec.predictors.iter().enumerate() {
            let at = FieldPath::root().key("spec").key("predictors").index(index);
            let models = self
                .fetch_models(sdep, predictor, deployment, &policies.secrets)
                .await
                .map_err(|e| fail(at.clone(), e))?;
            let local = components::Local {
                deployment: name,
                mappings: &self.options.mappings,
                supervisor: &self.options.supervisor,
                settings: &self.options.settings,
                tools: &self.options.tools,
                models: &models,
                transport: sdep.spec.transport.as_deref(),
            };
            // The plan checked the values.
            let env = sluice_translate::orchestrator_env(sdep, predictor);
            let cors = Cors::from_env(|name| {
                env.iter()
                    .rev()
                    .find(|v| v.name == name)
                    .and_then(|v| v.value.clone())
            })
            .unwrap_or_default();
            let count = predictor
                .component_specs
                .first()
                .and_then(|c| c.replicas)
                .or(predictor.replicas)
                .or(sdep.spec.replicas)
                .unwrap_or(1)
                .max(1);
            // The predictor's sidecar policies are in force before its engines listen.
            let (guard, problems) = Guard::for_predictor(
                policies,
                sdep,
                predictor,
                &desired.deployments,
                self.engine_ports(),
            );
            if let Some(problem) = problems.into_iter().next() {
                replicas.iter().flatten().for_each(Replica::stop);
                return Err(problem);
            }
            jwks.watch(guard.security.authn.jwks_uris());
            let guard: SharedGuard = Arc::new(ArcSwap::from_pointee(guard));
            guards.push(guard.clone());
            let mut group = Vec::new();
            let probe = health::Probe::of(predictor);
            for replica in 0..count {
                // Each replica has its own component processes, as each pod has its containers.
                let (components, started) =
                    components::resolve(&local, predictor, protocol).map_err(|e| fail(at.clone(), e))?;
                let states: Vec<_> = started
                    .iter()
                    .map(|p| (p.name().to_string(), p.state()))
                    .collect();
                processes.extend(started);
                let mut defaulted = predictor.clone();
                sluice_translate::graph::default_types(&mut defaulted.graph);
                let engine = Engine::new(EngineConfig {
                    deployment: name.to_string(),
                    namespace: names::namespace(sdep).to_string(),
                    predictor: defaulted,
                    components,
                    rest_timeout: call_timeout(sdep, predictor, "seldon.io/rest-timeout"),
                    grpc_timeout: call_timeout(sdep, predictor, "seldon.io/grpc-timeout"),
                    prometheus_path: self.options.settings.prometheus_path.clone(),
                    protocol,
                    cors: cors.clone(),
                    shared_metrics: Some((
                        self.engine_metrics.clone(),
                        format!("{name}-{}-{replica}", predictor.name),
                    )),
                    max_body: sluice_translate::annotations::max_body_size(sdep)
                        .unwrap_or(self.options.max_request_body),
                    max_grpc_message: predictor_annotation(
                        sdep,
                        predictor,
                        sluice_translate::annotations::GRPC_MAX_MESSAGE_SIZE,
                    )
                    .and_then(sluice_translate::annotations::parse_grpc_max_message_size)
                    .unwrap_or(self.options.max_request_body),
                });
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| fail(at.clone(), format!("cannot listen for an engine: {e}")))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| fail(at.clone(), e.to_string()))?;
                let (stop, rx) = watch::channel(false);
                let (sidecar, keys) = (guard.clone(), jwks.clone());
                tokio::spawn(
                    engine
                        .clone()
                        .serve_with(listener, rx, move |engine, request, peer| {
                            let (sidecar, keys) = (sidecar.clone(), keys.clone());
                            async move {
                                let (mut parts, body) = request.into_parts();
                                match sidecar.load().check(&mut parts, peer, &keys) {
                                    Some(refused) => refused,
                                    None => engine.answer(Request::from_parts(parts, body)).await,
                                }
                            }
                        }),
                );
                let gateways: Vec<InProcessServices> = std::iter::once(&self.gateway)
                    .chain(&self.mesh)
                    .map(sluice_gateway::Gateway::in_process_services)
                    .collect();
                for services in &gateways {
                    services.insert(addr, in_process(&engine, &guard, &jwks));
                }
                let ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
                watches.push(health::Watched {
                    replica: format!("{deployment} predictor {} replica {replica}", predictor.name),
                    addr,
                    engine: engine.clone(),
                    processes: states,
                    health: std::iter::once(&self.gateway)
                        .chain(&self.mesh)
                        .map(sluice_gateway::Gateway::endpoint_health)
                        .collect(),
                    probe,
                    http_probes: health::HttpProbe::of(predictor),
                    ready: ready.clone(),
                });
                group.push(Replica {
                    addr,
                    engine,
                    ready,
                    stop,
                    gateways,
                });
            }
            replicas.push(group);
        }
        let deadline = Instant::now() + self.options.ready_timeout;
        for (index, (predictor, group)) in sdep.spec.predictors.iter().zip(&replicas).enumerate() {
            // Ready as the kubelet would say: connections accepted, httpGet probes passed.
            let http_probes = health::HttpProbe::of(predictor);
            for replica in group {
                let mut waited = 0u32;
                while let Err(why) = health::probe(&replica.engine, &http_probes).await {
                    waited += 1;
                    if waited.is_multiple_of(20) {
                        self.options.progress.report(Progress::Waiting {
                            deployment: deployment.to_string(),
                            predictor: predictor.name.clone(),
                            waited: started.elapsed(),
                        });
                    }
                    if Instant::now() >= deadline {
                        replicas.iter().flatten().for_each(Replica::stop);
                        return Err(fail(
                            FieldPath::root().key("spec").key("predictors").index(index),
                            format!(
                                "predictor {} is not ready after {:?}: {why} (check --component)",
                                predictor.name, self.options.ready_timeout
                            ),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        // Explainers start once the engines answer: alibi calls the predictor while it loads.
        // One not served here is a warning, and its objects go (its route would only answer 503).
        let mut explainers = Vec::new();
        let mut explainer_states = Vec::new();
        let mut warnings = Vec::new();
        let mut not_served = Vec::new();
        for (index, (predictor, group)) in sdep.spec.predictors.iter().zip(&replicas).enumerate() {
            let at = FieldPath::root()
                .key("spec")
                .key("predictors")
                .index(index)
                .key("explainer");
            let served = match (sluice_translate::explainers::of(predictor), group.first()) {
                (Some(explainer), Some(engine)) => {
                    match self
                        .start_explainer(
                            sdep,
                            predictor,
                            explainer,
                            &desired,
                            engine.addr,
                            deployment,
                            &policies.secrets,
                        )
                        .await
                    {
                        Ok(LocalExplainer::Serving { addr, process }) => {
                            explainer_states.push(process.as_ref().map(supervisor::Process::state));
                            processes.extend(process);
                            Some(addr)
                        }
                        Ok(LocalExplainer::NotServed(why)) => {
                            warnings.push(Diagnostic::warning(at, why).in_object(object.clone()));
                            not_served.push(names::explainer(sdep, predictor));
                            None
                        }
                        Err(e) => {
                            replicas.iter().flatten().for_each(Replica::stop);
                            return Err(fail(at, e));
                        }
                    }
                }
                _ => None,
            };
            explainers.push(served);
        }
        desired.virtual_services.retain(|vs| {
            !not_served
                .iter()
                .any(|e| vs.metadata.name.as_deref() == Some(names::truncated(format!("{e}-http")).as_str()))
        });
        let served = |name: Option<&str>| !not_served.iter().any(|e| name == Some(e.as_str()));
        desired
            .destination_rules
            .retain(|o| served(o.metadata.name.as_deref()));
        desired.services.retain(|o| served(o.metadata.name.as_deref()));
        desired.deployments.retain(|o| served(o.metadata.name.as_deref()));
        let deadline = Instant::now() + self.options.ready_timeout;
        let served = sdep.spec.predictors.iter().zip(&explainers).enumerate();
        for ((index, (predictor, addr)), state) in
            served.filter(|(_, (_, a))| a.is_some()).zip(explainer_states)
        {
            let Some(addr) = addr else { continue };
            if let Err(why) = accepting(*addr, deadline, state).await {
                replicas.iter().flatten().for_each(Replica::stop);
                return Err(fail(
                    FieldPath::root()
                        .key("spec")
                        .key("predictors")
                        .index(index)
                        .key("explainer"),
                    format!(
                        "the explainer of predictor {} does not accept connections on {addr}: {why} (its output above says why)",
                        predictor.name
                    ),
                ));
            }
        }
        // Ready now; from here on a component that fails takes its replica out.
        for (watched, replica) in watches.into_iter().zip(replicas.iter().flatten()) {
            tokio::spawn(health::monitor(watched, replica.stop.subscribe()));
        }
        Ok(Running {
            fingerprint,
            sdep: sdep.clone(),
            desired,
            replicas,
            guards,
            processes,
            explainers,
            warnings,
        })
    }

    /// The orchestrator's REST and gRPC ports in its pod (Seldon's 8000 and 5001): the ports
    /// sidecar policies see.
    fn engine_ports(&self) -> (u16, u16) {
        let settings = &self.options.settings;
        (
            u16::try_from(settings.engine_http_port).unwrap_or(8000),
            u16::try_from(settings.engine_grpc_port).unwrap_or(5001),
        )
    }

    /// Every running predictor's sidecar policies for `plan`, and the problems: bad
    /// annotations, and policies that select no workload sluice runs (they would do
    /// nothing here, so they are named rather than ignored).
    fn guards(
        &self,
        plan: &Plan,
        running: &BTreeMap<Key, Running>,
    ) -> (Vec<(SharedGuard, Guard)>, Vec<Diagnostic>) {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let mut workloads = vec![Proxy::default().workload()];
        for r in running.values() {
            for (predictor, shared) in r.sdep.spec.predictors.iter().zip(&r.guards) {
                let (guard, found) = Guard::for_predictor(
                    &plan.istio,
                    &r.sdep,
                    predictor,
                    &r.desired.deployments,
                    self.engine_ports(),
                );
                problems.extend(found.into_iter().map(|d| plan.loaded.locate(d)));
                workloads.push(guard.workload.clone());
                out.push((shared.clone(), guard));
            }
        }
        let selects_any = |metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                           selector: Option<&sluice_api::istio::WorkloadSelector>| {
            let ns = metadata.namespace.as_deref().unwrap_or("default");
            workloads.iter().any(|w| w.selects(ns, selector))
        };
        let unselected = |kind: &str, metadata| {
            plan.loaded.locate(
                Diagnostic::warning(
                    FieldPath::root().key("metadata"),
                    "selects no workload sluice runs (the ingress gateway istio-system with istio: ingressgateway, or a predictor's pod in its namespace), so it has no effect here",
                )
                .in_object(ObjectRef::of(kind, metadata)),
            )
        };
        for ra in &plan.istio.request_authentications {
            if !selects_any(&ra.metadata, ra.spec.selector.as_ref()) {
                problems.push(unselected("RequestAuthentication", &ra.metadata));
            }
        }
        for ap in &plan.istio.authorization_policies {
            if !selects_any(&ap.metadata, ap.spec.selector.as_ref()) {
                problems.push(unselected("AuthorizationPolicy", &ap.metadata));
            }
        }
        (out, problems)
    }

    /// The mesh configuration: the files' Istio resources, a default gateway if they have
    /// none, and per deployment its VirtualService, DestinationRules and ServiceEntries.
    fn compile(
        &self,
        plan: &Plan,
        running: &BTreeMap<Key, Running>,
    ) -> Result<(RouteTable, Option<RouteTable>, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut config = plan.istio.clone();
        let mut warnings = Vec::new();
        // Problems in the objects translated from a SeldonDeployment are its problems.
        let mut generated: BTreeMap<ObjectRef, ObjectRef> = BTreeMap::new();
        if config.gateways.is_empty() {
            config
                .gateways
                .push(Arc::new(default_gateway(&self.options.settings.istio_gateway)));
        }
        let known: BTreeSet<String> = config
            .gateways
            .iter()
            .map(|g| {
                format!(
                    "{}/{}",
                    g.metadata.namespace.as_deref().unwrap_or("default"),
                    g.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        for r in running.values() {
            let sdep = ObjectRef::of("SeldonDeployment", &r.sdep.metadata);
            let warn = |message: String| {
                plan.loaded
                    .locate(Diagnostic::warning(FieldPath::root(), message).in_object(sdep.clone()))
            };
            for vs in &r.desired.virtual_services {
                generated.insert(ObjectRef::of("VirtualService", &vs.metadata), sdep.clone());
                let ns = vs.metadata.namespace.as_deref().unwrap_or("default");
                for g in &vs.spec.gateways {
                    let resolved = sluice_mesh::host::resolve_gateway(g, ns);
                    if resolved == "mesh" {
                        if self.mesh.is_none() {
                            warnings.push(warn("routes bound to the mesh gateway are served to in-mesh clients only with --mesh-port-map (e.g. --mesh-port-map 8000=18000)".to_string()));
                        }
                    } else if !known.contains(&resolved) {
                        warnings.push(warn(format!("its VirtualService is bound to gateway {resolved}, which is not in the files; add that Gateway (requests get 404 until then)")));
                    }
                }
            }
            for dr in &r.desired.destination_rules {
                generated.insert(ObjectRef::of("DestinationRule", &dr.metadata), sdep.clone());
            }
            config
                .virtual_services
                .extend(r.desired.virtual_services.iter().cloned().map(Arc::new));
            config
                .destination_rules
                .extend(r.desired.destination_rules.iter().cloned().map(Arc::new));
            config
                .service_entries
                .extend(service_entries(r).into_iter().map(Arc::new));
        }
        let (table, mut diagnostics) = RouteTable::compile(&Proxy::default(), &config);
        // Policies of the predictors' namespaces run at their sidecars: their errors are
        // refused too (those of the gateway's are already in).
        for d in sluice_mesh::security::Security::check_all(
            &config.request_authentications,
            &config.authorization_policies,
        ) {
            if !diagnostics.contains(&d) {
                diagnostics.push(d);
            }
        }
        let diagnostics: Vec<Diagnostic> = diagnostics
            .into_iter()
            .map(|d| match d.object.as_ref().and_then(|o| generated.get(o)) {
                Some(sdep) => {
                    let what = d.object.as_ref().map(ToString::to_string).unwrap_or_default();
                    let mut d = d.clone();
                    d.message = format!("in the generated {what}, {}: {}", d.path, d.message);
                    d.path = FieldPath::root();
                    d.object = Some(sdep.clone());
                    plan.loaded.locate(d)
                }
                None => plan.loaded.locate(d),
            })
            .collect();
        if sluice_api::diagnostic::has_errors(&diagnostics) {
            return Err(diagnostics.into_iter().filter(Diagnostic::is_error).collect());
        }
        // Certificates named by path are read and checked before anything switches.
        if let Err(tls) = sluice_gateway::tls::TlsConfigs::check(&table) {
            return Err(tls.into_iter().map(|d| plan.loaded.locate(d)).collect());
        }
        warnings.extend(diagnostics);
        // The sidecar view only when the in-mesh listener is on. Its diagnostics repeat
        // those of the ingress compile above (same resources), so they are not shown twice.
        let mesh_table = self
            .mesh
            .is_some()
            .then(|| RouteTable::compile_mesh(&Proxy::default(), &config).0);
        Ok((table, mesh_table, warnings))
    }

    fn summary(&self, running: &BTreeMap<Key, Running>, warnings: Vec<Diagnostic>) -> Summary {
        // The curl lines use the first TLS port, else port 80, else the first port.
        let addresses = self.gateway.addresses();
        let table = self.gateway.table();
        let is_tls = |port: &u16| table.listener(*port).is_some_and(|l| !l.tls.is_empty());
        let base = addresses
            .iter()
            .find(|(port, _)| is_tls(port))
            .map(|(_, a)| format!("https://{a}"))
            .or_else(|| addresses.get(&80).map(|a| format!("http://{a}")))
            .or_else(|| addresses.values().next().map(|a| format!("http://{a}")))
            .unwrap_or_else(|| "http://127.0.0.1".to_string());
        let mut summary = Summary {
            warnings,
            ..Summary::default()
        };
        for ((ns, name), r) in running {
            for (i, (p, replicas)) in r.sdep.spec.predictors.iter().zip(&r.replicas).enumerate() {
                let traffic = if p.is_shadow() {
                    format!("shadow {}%", if p.traffic() > 0 { p.traffic() } else { 100 })
                } else {
                    format!(
                        "{}%",
                        if r.sdep.spec.predictors.iter().filter(|q| !q.is_shadow()).count() == 1 {
                            100
                        } else {
                            p.traffic()
                        }
                    )
                };
                let deployment = if i == 0 {
                    format!("{ns}/{name}")
                } else {
                    String::new()
                };
                let orchestrators = replicas
                    .iter()
                    .map(|r| format!("http://{}", r.addr))
                    .collect::<Vec<_>>()
                    .join(" ");
                summary.rows.push([
                    deployment,
                    p.name.clone(),
                    traffic,
                    replica_count(replicas),
                    orchestrators,
                ]);
            }
            let vs = r.desired.virtual_services.first();
            let mesh_only = vs.is_some_and(|vs| {
                vs.spec
                    .gateways
                    .iter()
                    .all(|g| sluice_mesh::host::resolve_gateway(g, ns) == "mesh")
            });
            let first_host = vs
                .and_then(|vs| vs.spec.hosts.first())
                .filter(|h| h.as_str() != "*")
                .map(|h| h.trim_start_matches("*.").to_string());
            // A mesh-only route is reached through the in-mesh listener, by the service's name.
            let (base, host) = if mesh_only {
                let port = u16::try_from(self.options.settings.engine_http_port).ok();
                let mesh = self
                    .mesh
                    .as_ref()
                    .zip(port)
                    .and_then(|(m, port)| m.addresses().get(&port).map(|a| format!("http://{a}")));
                let Some(mesh) = mesh else { continue };
                let host = first_host.map(|h| if h.contains('.') { h } else { format!("{h}.{ns}") });
                (mesh, host)
            } else {
                (base.clone(), first_host)
            };
            let protocol = Protocol::from_spec(r.sdep.spec.protocol.as_deref()).unwrap_or_default();
            let (path, body) = example_request(protocol);
            let header = host
                .as_ref()
                .map(|h| format!(" -H 'Host: {h}'"))
                .unwrap_or_default();
            summary.curls.push(format!(
                "curl -X POST {base}/seldon/{ns}/{name}{path} -H 'Content-Type: application/json'{header} -d '{body}'"
            ));
            // The same over gRPC (Seldon's protocol, plain h2c): what SeldonClient's
            // transport="grpc" sends.
            if let (Protocol::Seldon, Some(authority)) = (protocol, base.strip_prefix("http://")) {
                let host = host.as_ref().map(|h| format!(" --host {h}")).unwrap_or_default();
                summary.curls.push(format!(
                    "sluice predict {name} -n {ns} --grpc --gateway {authority}{host}"
                ));
            }
            // Each explainer served here, at the URL Seldon gives it.
            for (p, _) in r
                .sdep
                .spec
                .predictors
                .iter()
                .zip(&r.explainers)
                .filter(|(_, a)| a.is_some())
            {
                let prefix = sluice_translate::explainers::url_prefix(&r.sdep, p);
                let path = match protocol {
                    Protocol::V2 => format!("v2/models/{}/infer", names::explainer(&r.sdep, p)),
                    Protocol::Tensorflow => format!("v1/models/{}:explain", p.graph.name),
                    Protocol::Seldon => "api/v1.0/explain".to_string(),
                };
                summary.curls.push(format!(
                    "curl -X POST {base}{prefix}{path} -H 'Content-Type: application/json'{header} -d '{body}'"
                ));
            }
        }
        summary
    }

    /// Re-apply whenever the files change; problems are logged and the old state keeps serving.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let local = self.clone();
        tokio::spawn(async move {
            let mut changes = sluice_gateway::watch::Changes::new(local.options.files.clone()).await;
            // Certificate files may have changed between start-up and now: check once.
            let mut pending = !sluice_gateway::tls::credential_files(&local.gateway.table()).is_empty();
            loop {
                let certificates = sluice_gateway::tls::credential_files(&local.gateway.table());
                changes.also(certificates).await;
                if !std::mem::take(&mut pending) {
                    changes.next(every).await;
                }
                match local.reload().await {
                    Ok(summary) => {
                        for w in sluice_api::diagnostic::shown(&summary.warnings, false) {
                            tracing::warn!("{w}");
                        }
                        tracing::info!("applied:\n{}", summary.table());
                    }
                    Err(e) => tracing::error!("not applied; the previous state keeps serving:\n{e}"),
                }
            }
        });
    }

    /// Stop the gateway (draining requests in flight) and every engine.
    pub async fn shutdown(&self) {
        self.gateway.shutdown().await;
        if let Some(mesh) = &self.mesh {
            mesh.shutdown().await;
        }
        let running = std::mem::take(&mut *self.state.lock().await);
        for r in running.values() {
            r.replicas.iter().flatten().for_each(Replica::stop);
        }
        drop(running);
        // Every process sluice started, retired ones included, stops with its group.
        self.options.supervisor.stop_all(crate::supervisor::GRACE).await;
    }
}

/// Read and check the files, off the async workers.
async fn load_plan(options: &Options) -> Result<Plan, PlanError> {
    let (files, settings) = (options.files.clone(), options.settings.clone());
    tokio::task::spawn_blocking(move || Plan::load(&files, &settings))
        .await
        .unwrap_or_else(|e| Err(PlanError::single(format!("reading the files failed: {e}"))))
}

/// A prediction request of `protocol` for the start-up `curl`: path and body.
fn example_request(protocol: Protocol) -> (&'static str, &'static str) {
    match protocol {
        Protocol::Seldon => ("/api/v1.0/predictions", r#"{"data":{"ndarray":[[1.0,2.0,5.0]]}}"#),
        Protocol::Tensorflow => ("/v1/models:predict", r#"{"instances":[[1.0,2.0,5.0]]}"#),
        Protocol::V2 => (
            "/v2/models/infer",
            r#"{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP64","data":[1.0,2.0,5.0]}]}"#,
        ),
    }
}

/// `seldon.io/rest-timeout` or `seldon.io/grpc-timeout` (milliseconds), as the executor
/// reads it from its pod's annotations: the predictor's, then the SDep's
/// `spec.annotations`. Validation checked it.
fn call_timeout(
    sdep: &SeldonDeployment,
    predictor: &sluice_api::seldon::PredictorSpec,
    annotation: &str,
) -> Option<Duration> {
    predictor_annotation(sdep, predictor, annotation)
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// An annotation as the orchestrator's pod carries it: the predictor's, else the SDep's
/// `spec.annotations` (`metadata.annotations` are not copied to pods).
fn predictor_annotation<'a>(
    sdep: &'a SeldonDeployment,
    predictor: &'a sluice_api::seldon::PredictorSpec,
    annotation: &str,
) -> Option<&'a str> {
    predictor
        .annotations
        .get(annotation)
        .or_else(|| sdep.spec.annotations.get(annotation))
        .map(String::as_str)
}

/// What makes a SeldonDeployment different for `apply`.
fn fingerprint(sdep: &SeldonDeployment) -> String {
    format!(
        "{:?}{:?}",
        sdep.spec,
        (sdep.metadata.labels.as_ref(), sdep.metadata.annotations.as_ref())
    )
}

/// `istio-system/seldon-gateway` (or the configured one) on port 80 for every host.
fn default_gateway(reference: &str) -> Gateway {
    let (namespace, name) = reference.split_once('/').unwrap_or(("istio-system", reference));
    let mut gateway = Object {
        api_version: NETWORKING_API_VERSION.to_string(),
        kind: "Gateway".to_string(),
        spec: GatewaySpec {
            selector: BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]),
            servers: vec![Server {
                port: Port {
                    number: 80,
                    protocol: "HTTP".to_string(),
                    name: "http".to_string(),
                    target_port: None,
                },
                hosts: vec!["*".to_string()],
                ..Server::default()
            }],
        },
        ..Object::default()
    };
    gateway.metadata.name = Some(name.to_string());
    gateway.metadata.namespace = Some(namespace.to_string());
    gateway
}

/// Return what a load freed to the system, off the async workers (trimming walks every arena).
async fn release_free_memory() {
    let _ = tokio::task::spawn_blocking(sluice_gateway::memory::release_free_memory).await;
}

/// Wait until `addr` accepts TCP connections (the explainer's readiness probe is a TCP
/// probe too), until `deadline`. With the process that should listen there (`state`), its
/// exit ends the wait: it would only fail again.
async fn accepting(
    addr: SocketAddr,
    deadline: Instant,
    state: Option<watch::Receiver<supervisor::State>>,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        match state.as_ref().map(|s| s.borrow().clone()) {
            Some(supervisor::State::Restarting { how, .. }) => return Err(format!("it {how}")),
            Some(supervisor::State::Running { restarts }) if restarts > 0 => {
                return Err(format!("it exited and was restarted {restarts} time(s)"));
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            return Err(format!("still not after {:?}", started.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One ServiceEntry per predictor: its Service's host and ports, with the running
/// replicas as endpoints labelled like their pods (so DestinationRule subsets select them);
/// and one per explainer served here, with its process as the endpoint.
fn service_entries(r: &Running) -> Vec<ServiceEntry> {
    let namespace = names::namespace(&r.sdep);
    let entry = |name: String, endpoints: Vec<(SocketAddr, bool)>, labels: &BTreeMap<String, String>| {
        let service = r
            .desired
            .services
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name.as_str()))?;
        let ports: Vec<ServicePort> = service
            .spec
            .as_ref()?
            .ports
            .iter()
            .flatten()
            .map(|p| ServicePort {
                number: u32::try_from(p.port).unwrap_or(0),
                name: p.name.clone().unwrap_or_default(),
                protocol: Some(
                    if p.name.as_deref() == Some("grpc") {
                        "GRPC"
                    } else {
                        "HTTP"
                    }
                    .to_string(),
                ),
                target_port: None,
            })
            .collect();
        let endpoints = endpoints
            .into_iter()
            .map(|(addr, grpc)| {
                let mut ports = BTreeMap::from([("http".to_string(), u32::from(addr.port()))]);
                if grpc {
                    ports.insert("grpc".to_string(), u32::from(addr.port()));
                }
                WorkloadEntry {
                    address: Some(addr.ip().to_string()),
                    ports,
                    labels: labels.clone(),
                    ..WorkloadEntry::default()
                }
            })
            .collect();
        let mut se = Object {
            api_version: NETWORKING_API_VERSION.to_string(),
            kind: "ServiceEntry".to_string(),
            spec: ServiceEntrySpec {
                hosts: vec![names::fqdn(&name, namespace, "cluster.local")],
                ports,
                location: Some(ServiceEntryLocation::MeshInternal),
                resolution: Some(ServiceEntryResolution::Static),
                endpoints,
                ..ServiceEntrySpec::default()
            },
            ..Object::default()
        };
        se.metadata.name = Some(name);
        se.metadata.namespace = Some(namespace.to_string());
        Some(se)
    };
    let mut entries = Vec::new();
    for ((predictor, replicas), explainer) in
        r.sdep.spec.predictors.iter().zip(&r.replicas).zip(&r.explainers)
    {
        let mut labels = predictor.labels.clone();
        labels.insert("version".to_string(), istio::version(predictor));
        // The engine serves REST and gRPC on its one socket.
        let engines = replicas.iter().map(|rep| (rep.addr, true)).collect();
        entries.extend(entry(names::predictor_key(&r.sdep, predictor), engines, &labels));
        if let Some(addr) = explainer {
            entries.extend(entry(
                names::explainer(&r.sdep, predictor),
                vec![(*addr, false)],
                &labels,
            ));
        }
    }
    entries
}
