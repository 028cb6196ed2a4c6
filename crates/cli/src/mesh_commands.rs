//! `sluice gateway` and `sluice explain`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sluice_gateway::server::compile_files;
use sluice_gateway::{Gateway, Options};
use sluice_mesh::{Proxy, RouteTable};

/// Parse `80=8080,443=8443`.
/// Parse `FROM=TO,...` given to `flag`.
pub(crate) fn parse_port_map(flag: &str, value: &str) -> Result<BTreeMap<u16, u16>> {
    let mut out = BTreeMap::new();
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let (from, to) = pair
            .split_once('=')
            .with_context(|| format!("{flag} entry {pair:?} is not PORT=LOCAL_PORT (e.g. 80=8080)"))?;
        let from: u16 = from
            .trim()
            .parse()
            .with_context(|| format!("{flag}: {from:?} is not a port number"))?;
        let to: u16 = to
            .trim()
            .parse()
            .with_context(|| format!("{flag}: {to:?} is not a port number"))?;
        out.insert(from, to);
    }
    Ok(out)
}

fn print_problems(problems: &[String]) {
    for p in problems {
        eprintln!("{p}");
    }
}

/// Compile the files for `proxy`, printing warnings; on errors print them with `refusal`
/// and give the exit code to return.
fn compile_or_report(
    proxy: &Proxy,
    config: &[PathBuf],
    refusal: &str,
) -> Result<(RouteTable, Vec<String>), ExitCode> {
    match compile_files(proxy, config) {
        Ok((table, warnings)) => {
            print_problems(&warnings);
            Ok((table, warnings))
        }
        Err(problems) => {
            print_problems(&problems);
            eprintln!("error: the configuration has errors{refusal}");
            Err(ExitCode::from(1))
        }
    }
}

/// `sluice gateway`
pub(crate) fn gateway(config: Vec<PathBuf>, options: Options) -> Result<ExitCode> {
    let proxy = options.proxy.clone();
    let (table, warnings) = match compile_or_report(&proxy, &config, "; nothing is served") {
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
        gateway.listen_all().await.context("cannot listen")?;
        if let Some(addr) = gateway
            .listen_admin()
            .await
            .context("cannot listen on the admin address")?
        {
            eprintln!("admin: http://{addr}/config_dump, /stats/prometheus, /healthz/ready");
        }
        for (port, addr) in gateway.addresses() {
            eprintln!("gateway port {port}: listening on http://{addr}");
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
    let (table, _) = match compile_or_report(&proxy, &config, "") {
        Ok(ok) => ok,
        Err(code) => return Ok(code),
    };
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL such as http://app.example.com/path"))?;
    let scheme = uri.scheme_str().unwrap_or("http").to_string();
    let authority = uri
        .authority()
        .context("the URL needs a host, e.g. http://app.example.com/path")?
        .clone();
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
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
    print!("{}", table.explain(port, &scheme, &parts));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_maps() {
        assert_eq!(
            parse_port_map("--port-map", "80=8080,443=8443").expect("valid"),
            BTreeMap::from([(80, 8080), (443, 8443)])
        );
        assert!(parse_port_map("--port-map", "80").is_err());
        assert!(parse_port_map("--port-map", "80=x").is_err());
    }
}
