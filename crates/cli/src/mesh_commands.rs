//! `sluice gateway` and `sluice explain`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_api::Diagnostic;
use sluice_gateway::server::Reloader;
use sluice_gateway::{Gateway, Options};
use sluice_mesh::{Proxy, RouteTable, Scheme};

/// Compile the files for `proxy` with `reloader`, printing warnings; on errors print them
/// with `refusal` and give the exit code to return.
fn compile_or_report(
    reloader: &mut Reloader,
    proxy: &Proxy,
    config: &[PathBuf],
    refusal: &str,
) -> Result<(RouteTable, Vec<Diagnostic>), ExitCode> {
    let compiled = reloader.compile(proxy, config);
    sluice_gateway::memory::release_free_memory();
    match compiled {
        Ok((table, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            Ok((table, warnings))
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!(
                "error: the configuration has errors ({}){refusal}",
                sluice_api::diagnostic::summary(&problems)
            );
            Err(ExitCode::from(1))
        }
    }
}

/// `sluice gateway`
pub(crate) fn gateway(config: Vec<PathBuf>, options: Options) -> Result<ExitCode> {
    let proxy = options.proxy.clone();
    let mut reloader = Reloader::default();
    let (table, warnings) = match compile_or_report(&mut reloader, &proxy, &config, "; nothing is served") {
        Ok(ok) => ok,
        Err(code) => return Ok(code),
    };
    if table.ports().next().is_none() {
        bail!(
            "no Gateway server in the configuration selects this gateway (labels istio: ingressgateway) with an HTTP port"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        let gateway = Gateway::new(options, table);
        gateway.set_diagnostics(warnings.clone());
        gateway.keep_for_reloads(reloader);
        gateway.listen_all().await.context("cannot listen")?;
        if let Some(addr) = gateway
            .listen_admin()
            .await
            .context("cannot listen on the admin address")?
        {
            eprintln!("admin: http://{addr}/config_dump, /stats/prometheus, /healthz/ready");
        }
        for (port, addr) in gateway.addresses() {
            eprintln!(
                "gateway port {port}: listening on {}://{addr}",
                crate::local_commands::scheme(&gateway.table(), port)
            );
        }
        gateway.watch_files(config, Duration::from_secs(1));
        shutdown_signal().await;
        eprintln!("draining...");
        gateway.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// `sluice explain`
pub(crate) fn explain(config: Vec<PathBuf>, method: &str, url: &str, headers: &[String]) -> Result<ExitCode> {
    let proxy = Proxy::default();
    let (table, _) = match compile_or_report(&mut Reloader::default(), &proxy, &config, "") {
        Ok(ok) => ok,
        Err(code) => return Ok(code),
    };
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL such as http://app.example.com/path"))?;
    let scheme = match uri.scheme_str() {
        None => Scheme::Http,
        Some(s) => Scheme::parse(s).with_context(|| format!("{url:?}: the scheme is http or https"))?,
    };
    let authority = uri
        .authority()
        .context("the URL needs a host, e.g. http://app.example.com/path")?
        .clone();
    let port = authority.port_u16().unwrap_or(scheme.default_port());
    let mut builder = http::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(http::header::HOST, authority.as_str());
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .with_context(|| format!("header {h:?} is not 'Name: value'"))?;
        if name.trim().eq_ignore_ascii_case("host")
            && let Some(map) = builder.headers_mut()
        {
            map.remove(http::header::HOST);
        }
        builder = builder.header(name.trim(), value.trim());
    }
    let (parts, ()) = builder.body(()).context("invalid request")?.into_parts();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    print!("{}", table.explain(port, scheme, &parts, now));
    Ok(ExitCode::SUCCESS)
}
