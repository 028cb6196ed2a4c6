//! Listeners, the shared gateway state, hot reload and graceful shutdown.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use sluice_api::Diagnostic;
use sluice_api::load::Typed;
use sluice_mesh::{Proxy, Reuse, RouteTable, Scheme};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::metrics::Metrics;
use crate::upstream::{Balancer, Clients};
use crate::{config, proxy};

/// How the gateway runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The gateway's own identity (namespace, labels) for Gateway selection.
    pub proxy: Proxy,
    /// `source_workload` in metrics.
    pub workload: String,
    /// Gateway server port → local listening port (`--port-map 80=8080`); unmapped ports
    /// listen on their own number.
    pub port_map: BTreeMap<u16, u16>,
    /// Address the listeners bind.
    pub bind: IpAddr,
    /// Admin listener (`/stats/prometheus`, `/healthz/ready`, `/config_dump`).
    pub admin: Option<SocketAddr>,
    /// Print a JSON access log line per request.
    pub access_log: bool,
    /// Write the access log to this file (appending) instead of stdout.
    pub access_log_path: Option<PathBuf>,
    /// Proxies in front of the gateway whose `x-forwarded-proto` is trusted
    /// (mesh `gatewayTopology.numTrustedProxies`).
    pub num_trusted_proxies: u32,
    /// How long in-flight requests may take to finish on shutdown.
    pub drain: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            proxy: Proxy::default(),
            workload: "istio-ingressgateway".to_string(),
            port_map: BTreeMap::new(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            admin: Some(SocketAddr::from(([127, 0, 0, 1], 15000))),
            access_log: false,
            access_log_path: None,
            num_trusted_proxies: 0,
            drain: Duration::from_secs(30),
        }
    }
}

/// State shared by every connection.
pub(crate) struct Shared {
    pub(crate) table: ArcSwap<RouteTable>,
    pub(crate) diagnostics: ArcSwap<Vec<Diagnostic>>,
    /// Every port of the table in force has a listener (the admin's `/healthz/ready`).
    pub(crate) ready: std::sync::atomic::AtomicBool,
    pub(crate) clients: Clients,
    pub(crate) balancer: Arc<Balancer>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) mirror_limit: Arc<Semaphore>,
    pub(crate) options: Options,
    /// The access log's writer, when `options.access_log` is on.
    pub(crate) access_log: Option<crate::access_log::AccessLog>,
    /// The keys of `jwksUri` rules.
    pub(crate) jwks: crate::jwks::Jwks,
    /// The TLS servers of the table in force.
    pub(crate) tls: ArcSwap<crate::tls::TlsConfigs>,
    /// What the last load read and compiled, for the next reload.
    pub(crate) reloader: std::sync::Mutex<Reloader>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A running gateway.
#[derive(Clone, Debug)]
pub struct Gateway {
    shared: Arc<Shared>,
    listening: Arc<Mutex<BTreeMap<u16, SocketAddr>>>,
    shutdown: watch::Sender<bool>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Gateway {
    /// A gateway serving `table` (not listening yet: see [`Gateway::listen_all`]).
    pub fn new(options: Options, table: RouteTable) -> Self {
        Self::with_metrics(options, table, Arc::new(Metrics::default()))
    }

    /// The same, recording into `metrics` (shared with another gateway of this process).
    pub fn with_metrics(options: Options, table: RouteTable, metrics: Arc<Metrics>) -> Self {
        let (shutdown, _) = watch::channel(false);
        let table = Arc::new(table);
        let tls = crate::tls::TlsConfigs::serving(table.clone()).unwrap_or_else(|problems| {
            for p in problems {
                tracing::error!("{p}; this port refuses TLS connections");
            }
            crate::tls::TlsConfigs::refusing(table.clone())
        });
        Gateway {
            shared: Arc::new(Shared {
                tls: ArcSwap::from_pointee(tls),
                table: ArcSwap::new(table),
                diagnostics: ArcSwap::from_pointee(Vec::new()),
                ready: std::sync::atomic::AtomicBool::new(false),
                clients: Clients::default(),
                balancer: Arc::new(Balancer::default()),
                metrics,
                mirror_limit: Arc::new(Semaphore::new(crate::mirror::MAX_IN_FLIGHT)),
                access_log: options
                    .access_log
                    .then(|| crate::access_log::AccessLog::start(options.access_log_path.as_deref())),
                options,
                jwks: crate::jwks::Jwks::default(),
                reloader: std::sync::Mutex::default(),
            }),
            listening: Arc::new(Mutex::new(BTreeMap::new())),
            shutdown,
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The table in force.
    pub fn table(&self) -> Arc<RouteTable> {
        self.shared.table.load_full()
    }

    /// Replace the table atomically; requests in flight finish on the old one. Listeners
    /// are opened for ports the new table has and the old did not.
    pub async fn swap(&self, table: RouteTable, diagnostics: Vec<Diagnostic>) -> std::io::Result<()> {
        // Listen first: a table is never live on a port nobody listens on.
        let table = Arc::new(table);
        let tls = crate::tls::TlsConfigs::serving(table.clone()).map_err(|problems| {
            std::io::Error::other(
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let ports: Vec<u16> = table.ports().collect();
        self.listen(&ports).await?;
        self.shared.jwks.watch(table.security().authn.jwks_uris());
        self.shared.tls.store(Arc::new(tls));
        self.shared.table.store(table);
        self.set_diagnostics(diagnostics);
        self.shared
            .ready
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Record the warnings of the configuration in force (shown by `/config_dump`).
    pub fn set_diagnostics(&self, diagnostics: Vec<Diagnostic>) {
        self.shared.diagnostics.store(Arc::new(diagnostics));
    }

    /// The services in this process this gateway reaches without a socket, by address;
    /// a handle to add and remove them (see [`InProcess`](crate::InProcess)).
    pub fn in_process_services(&self) -> crate::upstream::InProcessServices {
        self.shared.clients.in_process.clone()
    }

    /// The endpoints this gateway must not send requests to (not ready); a handle to
    /// mark them down and up (see [`EndpointHealth`](crate::EndpointHealth)).
    pub fn endpoint_health(&self) -> crate::upstream::EndpointHealth {
        self.shared.balancer.down.clone()
    }

    /// The keys of `jwksUri` rules this gateway fetched (shared with `sluice up`'s sidecars).
    pub fn jwks(&self) -> crate::jwks::Jwks {
        self.shared.jwks.clone()
    }

    /// The metric families of this gateway's scrape, to record into or register beside.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// The local address of each gateway port listened on.
    pub fn addresses(&self) -> BTreeMap<u16, SocketAddr> {
        self.listening.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Listen on every port of the table that has no listener yet; the gateway is ready.
    pub async fn listen_all(&self) -> std::io::Result<()> {
        let ports: Vec<u16> = self.table().ports().collect();
        self.listen(&ports).await?;
        self.shared.jwks.watch(self.table().security().authn.jwks_uris());
        self.shared
            .ready
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    async fn listen(&self, ports: &[u16]) -> std::io::Result<()> {
        if *self.shutdown.borrow() {
            return Ok(()); // shutting down: no new listeners
        }
        for &port in ports {
            if self
                .listening
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&port)
            {
                continue;
            }
            let local = self.shared.options.port_map.get(&port).copied().unwrap_or(port);
            let listener = bind(SocketAddr::new(self.shared.options.bind, local))?;
            let addr = listener.local_addr()?;
            tracing::info!(gateway_port = port, %addr, "listening");
            self.listening
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(port, addr);
            let task = tokio::spawn(accept_loop(
                self.shared.clone(),
                listener,
                port,
                self.shutdown.subscribe(),
            ));
            self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
        }
        Ok(())
    }

    /// Start the admin listener; returns its address.
    pub async fn listen_admin(&self) -> std::io::Result<Option<SocketAddr>> {
        let Some(addr) = self.shared.options.admin else {
            return Ok(None);
        };
        let listener = bind(addr)?;
        let local = listener.local_addr()?;
        tracing::info!(%local, "admin listening");
        let task = tokio::spawn(crate::admin::serve(
            self.shared.clone(),
            listener,
            self.shutdown.subscribe(),
        ));
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
        Ok(Some(local))
    }

    /// Stop accepting, let in-flight requests finish (up to the drain time), and return.
    pub async fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Watch `paths`: when a file changes, load and compile it; a configuration with
    /// errors is rejected whole (the old table keeps serving) and its problems logged.
    pub fn watch_files(&self, paths: Vec<PathBuf>, every: Duration) {
        let gateway = self.clone();
        let mut stop = self.shutdown.subscribe();
        let task = tokio::spawn(async move {
            let mut watch = crate::watch::Changes::new(paths.clone()).await;
            let referenced = crate::tls::credential_files(&gateway.table());
            // Certificate files may have changed since the table was compiled, before
            // their state was taken here: load once more so no renewal is missed.
            let mut pending = !referenced.is_empty();
            watch.also(referenced).await;
            loop {
                if !std::mem::take(&mut pending) {
                    tokio::select! {
                        _ = watch.next(every) => {}
                        _ = crate::server::stopped(&mut stop) => return,
                    }
                }
                let (g, p) = (gateway.clone(), paths.clone());
                let started = std::time::Instant::now();
                let reloaded = tokio::task::spawn_blocking(move || {
                    let reloaded = g.reload(&p);
                    // Off the request threads: trimming walks every arena.
                    crate::memory::release_free_memory();
                    reloaded
                })
                .await
                .unwrap_or_else(|e| {
                    Err(vec![Diagnostic::error(
                        sluice_api::document::FieldPath::root(),
                        format!("reload failed: {e}"),
                    )])
                });
                match reloaded {
                    Ok((table, notes)) => {
                        for n in &notes {
                            tracing::warn!("{n}");
                        }
                        match gateway.swap(table, notes).await {
                            Ok(()) => {
                                watch.also(crate::tls::credential_files(&gateway.table())).await;
                                let elapsed_ms = started.elapsed().as_millis();
                                let patched = gateway.shared.reloader.lock().is_ok_and(|r| r.patched());
                                tracing::info!(elapsed_ms, patched, "configuration reloaded");
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "configuration rejected: cannot listen on a new port; the previous one keeps serving")
                            }
                        }
                    }
                    Err(problems) => {
                        for p in &problems {
                            tracing::error!("{p}");
                        }
                        tracing::error!("configuration rejected; the previous one keeps serving");
                    }
                }
            }
        });
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// Load and compile `paths` for this gateway: the table and its warnings, or every
    /// problem. Only what changed since the last load is read and compiled again.
    /// Blocking (file reads): call it off the async workers.
    pub fn reload(&self, paths: &[PathBuf]) -> Result<(RouteTable, Vec<Diagnostic>), Vec<Diagnostic>> {
        self.shared
            .reloader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .compile(&self.shared.options.proxy, paths)
    }

    /// Reload starting from what `reloader` read and compiled (the files the table in force
    /// came from), not from nothing.
    pub fn keep_for_reloads(&self, reloader: Reloader) {
        *self.shared.reloader.lock().unwrap_or_else(|p| p.into_inner()) = reloader;
    }
}

/// Loads and compiles configuration files, again and again: each time, the documents whose
/// text is unchanged are not parsed again ([`sluice_api::load::Cache`]), and the routes of
/// unchanged VirtualServices are not compiled again ([`Reuse`]), so a reload costs what
/// changed (the table is the one a fresh compile makes).
///
/// After a compile without problems it also keeps the load, the configuration and the
/// table: when the next reload only edits some documents ([`sluice_api::load::load_edit`])
/// and only VirtualServices' routes change ([`Reuse::patch`]), the table is patched, and
/// nothing else of the configuration is read or compiled again.
#[derive(Debug, Default)]
pub struct Reloader {
    cache: sluice_api::load::Cache,
    reuse: Reuse,
    last: Option<Last>,
    patched: bool,
}

/// The most objects a reload replaces and still patches the table.
const MOST_PATCHED: usize = 64;

/// The files of a reload, next to the last load.
enum Edited {
    /// An edit of some of its documents that changes only VirtualServices' routes: the
    /// new load and configuration, and the table patched.
    Patched(Last),
    /// An edit of some of its documents that changes more: the new load and
    /// configuration, to compile.
    Changed(sluice_api::load::Loaded, sluice_mesh::Config),
    /// Not such an edit (or nothing kept): the files are to be loaded.
    NotAnEdit,
}

/// What the last compile, which had no problems, read and made.
#[derive(Debug)]
struct Last {
    loaded: sluice_api::load::Loaded,
    config: sluice_mesh::Config,
    table: RouteTable,
}

impl Reloader {
    /// Load and compile configuration files: the table and its warnings, or every problem
    /// when anything is an error. Every problem about an object of the files carries its
    /// file, line and column.
    pub fn compile(
        &mut self,
        proxy: &Proxy,
        paths: &[PathBuf],
    ) -> Result<(RouteTable, Vec<Diagnostic>), Vec<Diagnostic>> {
        let started = std::time::Instant::now();
        self.patched = false;
        let sources = config::read(paths).map_err(|e| vec![config::read_error(&e)])?;
        let (loaded, config, skipped) = match self.edit(proxy, &sources) {
            Edited::Patched(patched) => {
                self.patched = true;
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis(),
                    "configuration edited in place"
                );
                return self.finish(patched.loaded, patched.config, patched.table, Vec::new());
            }
            Edited::Changed(loaded, config) => (loaded, config, Vec::new()),
            Edited::NotAnEdit => {
                let loaded = sluice_api::load::load_cached(&sources, &mut self.cache);
                let (istio, skipped) = config::istio(&loaded);
                (loaded, istio, skipped)
            }
        };
        let read_ms = started.elapsed().as_millis();
        let (table, compiled) = RouteTable::compile_reusing(proxy, &config, &mut self.reuse);
        tracing::debug!(
            read_ms,
            compile_ms = started.elapsed().as_millis() - read_ms,
            "configuration read and compiled"
        );
        let mut problems: Vec<Diagnostic> = loaded.diagnostics.clone();
        problems.extend(skipped);
        problems.extend(compiled.into_iter().map(|d| loaded.locate(d)));
        self.finish(loaded, config, table, problems)
    }

    /// Whether the last compile patched the table it made before (see the type's docs)
    /// rather than compiling one.
    pub fn patched(&self) -> bool {
        self.patched
    }

    /// `sources` as an edit of the last load, with the table patched when only routes
    /// changed.
    fn edit(&mut self, proxy: &Proxy, sources: &[sluice_api::load::Source]) -> Edited {
        let Some(mut last) = self.last.take() else {
            return Edited::NotAnEdit;
        };
        let Some(replaced) = sluice_api::load::load_edit(sources, &mut self.cache, &mut last.loaded) else {
            return Edited::NotAnEdit;
        };
        // Many objects replaced (a regenerated file): the configuration is read again and
        // compiled, which then costs less than finding each object.
        if replaced.len() > MOST_PATCHED {
            last.config = config::istio(&last.loaded).0;
            return Edited::Changed(last.loaded, last.config);
        }
        let mut routes = Vec::new();
        for r in &replaced {
            let now = &last.loaded.resources[r.index].typed;
            if !config::replace(&mut last.config, &r.was, now) {
                // Not an object the configuration holds (cannot be: the last load had no
                // problems, so no skipped kind): read the configuration again.
                last.config = config::istio(&last.loaded).0;
                return Edited::Changed(last.loaded, last.config);
            }
            if let (Typed::VirtualService(was), Typed::VirtualService(now)) = (&r.was, now) {
                routes.push((was.clone(), now.clone()));
            }
        }
        let patched = (routes.len() == replaced.len())
            .then(|| self.reuse.patch(proxy, &last.table, &routes))
            .flatten();
        match patched {
            Some(table) => Edited::Patched(Last { table, ..last }),
            None => Edited::Changed(last.loaded, last.config),
        }
    }

    /// Check the table's certificates, order the problems, and keep what a compile without
    /// problems read and made for the next reload.
    fn finish(
        &mut self,
        loaded: sluice_api::load::Loaded,
        config: sluice_mesh::Config,
        table: RouteTable,
        mut problems: Vec<Diagnostic>,
    ) -> Result<(RouteTable, Vec<Diagnostic>), Vec<Diagnostic>> {
        // Certificates named by path are read and checked here, with the rest.
        if !sluice_api::diagnostic::has_errors(&problems)
            && let Err(tls) = crate::tls::TlsConfigs::check(&table)
        {
            problems.extend(tls.into_iter().map(|d| loaded.locate(d)));
        }
        sluice_api::diagnostic::sort_by_location(&mut problems, &loaded.files);
        if problems.is_empty() {
            self.last = Some(Last {
                loaded,
                config,
                table: table.clone(),
            });
        }
        if sluice_api::diagnostic::has_errors(&problems) {
            Err(problems)
        } else {
            Ok((table, problems))
        }
    }
}

/// Load and compile configuration files once (see [`Reloader::compile`]).
pub fn compile_files(
    proxy: &Proxy,
    paths: &[PathBuf],
) -> Result<(RouteTable, Vec<Diagnostic>), Vec<Diagnostic>> {
    Reloader::default().compile(proxy, paths)
}

/// Resolves once shutdown has been requested (also if it was before the call).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

/// The listen backlog: bursts of new connections wait in the kernel instead of being
/// refused (the standard library's default is 128).
pub const BACKLOG: u32 = 1024;

/// Envoy's default limit of a request's headers (`max_request_headers_kb: 60`): larger
/// heads are answered `431`.
pub const MAX_HEADER_BYTES: usize = 60 * 1024;

/// How long a client may take to send a request's headers before the connection is
/// closed, against slow clients holding connections open. hyper also counts the wait for
/// the next request on an idle keep-alive connection, so this is the idle timeout too:
/// nginx's `client_header_timeout` (Envoy's idle timeout is 1 h; clients check a pooled
/// connection before reusing it).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A listener on `addr` with a backlog of [`BACKLOG`]. Needs a Tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How connections are served: HTTP/1.1 and h2 with Envoy's header limits and a header
/// read timeout.
pub fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(MAX_HEADER_BYTES).unwrap_or(u32::MAX));
    builder
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, port: u16, mut stop: watch::Receiver<bool>) {
    let builder = connection_builder();
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(ok) => ok,
                    Err(e) => {
                        // Out of file descriptors and the like: do not spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let downstream = proxy::Downstream {
                    peer,
                    peer_ip: crate::headers::peer_ip(peer),
                    local: stream.local_addr().unwrap_or(local),
                    port,
                    scheme: Scheme::Http,
                    tls: None,
                };
                if !shared.tls.load().is_tls(port) {
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service(shared.clone(), downstream))
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        let _ = connection.await;
                    });
                } else {
                    let (shared, builder, watcher) = (shared.clone(), builder.clone(), graceful.watcher());
                    tokio::spawn(async move {
                        let Some((stream, downstream)) = handshake(&shared, stream, downstream).await else {
                            return;
                        };
                        let connection = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service(shared.clone(), downstream))
                            .into_owned();
                        let _ = watcher.watch(connection).await;
                    });
                }
            }
            _ = crate::server::stopped(&mut stop) => break,
        }
    }
    drop(listener);
    let drain = shared.options.drain;
    if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            gateway_port = port,
            "connections still open after the drain time; closing"
        );
    }
}

/// The request handler of one connection.
fn service(
    shared: Arc<Shared>,
    downstream: proxy::Downstream,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<crate::Body>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<crate::Body>, Infallible>> + Send,
> + Clone
+ Send {
    service_fn(move |request| {
        let shared = shared.clone();
        let downstream = downstream.clone();
        // Boxed: hyper spawns a task per HTTP/2 stream and moves the service's future into
        // it; the request's whole state machine is large, a box pointer is not (callgrind:
        // the move cost more instructions than routing).
        let handling = Box::pin(proxy::handle(shared, request, downstream));
        async move { Ok::<_, Infallible>(handling.await) }
    })
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The TLS handshake of a connection to a TLS port: the server is chosen by SNI before
/// the handshake (no match: the connection is closed, spec §3.3); `None` when the
/// handshake fails or the client certificate is not accepted.
async fn handshake(
    shared: &Shared,
    stream: tokio::net::TcpStream,
    mut downstream: proxy::Downstream,
) -> Option<(
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    proxy::Downstream,
)> {
    let port = downstream.port;
    let work = async {
        let start = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream)
            .await
            .map_err(|e| format!("not a TLS ClientHello: {e}"))?;
        let sni = start.client_hello().server_name().map(str::to_string);
        // Server and configuration from one table, loaded now (after the ClientHello).
        let configs = shared.tls.load_full();
        let listener = configs
            .table()
            .listener(port)
            .filter(|l| !l.tls.is_empty())
            .ok_or("the port no longer serves TLS")?;
        let chain = listener
            .chain_for(sni.as_deref())
            .ok_or_else(|| format!("no TLS server for SNI {sni:?}"))?;
        let config = configs
            .config(port, chain)
            .ok_or("the server's certificate could not be loaded")?
            .clone();
        let tls = &listener.tls[chain].tls;
        let stream = start
            .into_stream(config)
            .await
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let peer_cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .cloned();
        let info = crate::tls::connection_info(configs.table(), tls, chain, sni, peer_cert.as_ref())?;
        Ok::<_, String>((stream, info))
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, work).await {
        Ok(Ok((stream, info))) => {
            downstream.scheme = Scheme::Https;
            downstream.tls = Some(Arc::new(info));
            Some((stream, downstream))
        }
        Ok(Err(e)) => {
            tracing::debug!(gateway_port = port, peer = %downstream.peer, "{e}");
            None
        }
        Err(_) => {
            tracing::debug!(gateway_port = port, peer = %downstream.peer, "TLS handshake timed out");
            None
        }
    }
}

/// The gateway ports configured by a table, as a set (for tests and `sluice up`).
pub fn ports(table: &RouteTable) -> BTreeSet<u16> {
    table.ports().collect()
}
