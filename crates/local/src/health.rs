//! Each replica's readiness, as the kubelet's readiness probe and the endpoints
//! controller keep it in a cluster: a replica whose component process is down (exited,
//! waiting for its restart), whose components do not accept connections (a failed TCP
//! probe, Seldon's probe on model containers) or fail their container's
//! `readinessProbe.httpGet`, is taken out of the gateways' load balancing
//! — requests go to the other replicas, or get Envoy's `503 no healthy upstream` — and is
//! put back once it is ready again. Every change is logged; `/healthz/ready` lists the
//! replicas that are down and why.
//!
//! ```text
//!  process states (supervisor) ─┐
//!                               ├─> monitor ──> EndpointHealth::down / up (gateway, mesh)
//!  probe every period ──────────┘         └──> Replica::ready (the table's READY column)
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sluice_api::seldon::PredictorSpec;
use sluice_engine::Engine;
use sluice_gateway::EndpointHealth;
use tokio::sync::{Notify, watch};

use crate::supervisor::State;

/// How often a replica's components are probed, and after how many failures in a row it
/// is not ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Between probes.
    pub period: Duration,
    /// Failures in a row before the replica is taken out.
    pub failure_threshold: u32,
}

impl Probe {
    /// Every second, out after one failure, unless a container of the predictor's graph
    /// has a `readinessProbe`: then its `periodSeconds` / `failureThreshold` (Kubernetes'
    /// defaults, 10 s and 3, where not given), the shortest period and the smallest
    /// threshold of all (a failing component is noticed as soon as its own probe would).
    /// A replica that is down is probed every 100 ms, so it is back as soon as it listens.
    pub fn of(predictor: &PredictorSpec) -> Probe {
        let probes = predictor
            .graph
            .walk()
            .into_iter()
            .filter_map(|node| sluice_translate::graph::container(predictor, &node.name))
            .filter_map(|c| c.readiness_probe.as_ref());
        let mut out: Option<Probe> = None;
        for p in probes {
            let period = p
                .period_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(KUBERNETES.period, Duration::from_secs);
            let failures = p
                .failure_threshold
                .and_then(|f| u32::try_from(f).ok())
                .filter(|f| *f > 0)
                .unwrap_or(KUBERNETES.failure_threshold);
            out = Some(match out {
                Some(o) => Probe {
                    period: o.period.min(period),
                    failure_threshold: o.failure_threshold.min(failures),
                },
                None => Probe {
                    period,
                    failure_threshold: failures,
                },
            });
        }
        out.unwrap_or(LOCAL)
    }
}

/// A component's `readinessProbe.httpGet`, probed as the kubelet does (on top of the TCP
/// probe every component gets, Seldon's default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpProbe {
    /// The graph node (its container's name).
    pub node: String,
    /// The path to GET.
    pub path: String,
    /// `timeoutSeconds` (Kubernetes' default 1 s).
    pub timeout: Duration,
}

impl HttpProbe {
    /// The `httpGet` readiness probes of `predictor`'s graph containers.
    pub fn of(predictor: &PredictorSpec) -> Vec<HttpProbe> {
        predictor
            .graph
            .walk()
            .into_iter()
            .filter_map(|node| {
                let container = sluice_translate::graph::container(predictor, &node.name)?;
                let probe = container.readiness_probe.as_ref()?;
                let get = probe.http_get.as_ref()?;
                let timeout = probe
                    .timeout_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|s| *s > 0)
                    .map_or(Duration::from_secs(1), Duration::from_secs);
                Some(HttpProbe {
                    node: node.name.clone(),
                    path: get.path.clone().unwrap_or_else(|| "/".to_string()),
                    timeout,
                })
            })
            .collect()
    }
}

/// Without a readinessProbe: every second, out after one failure.
const LOCAL: Probe = Probe {
    period: Duration::from_secs(1),
    failure_threshold: 1,
};

/// How often a replica that is down is probed, whatever its probe's period.
const RECHECK_WHILE_DOWN: Duration = Duration::from_millis(100);

/// Kubernetes' defaults for a probe's fields.
const KUBERNETES: Probe = Probe {
    period: Duration::from_secs(10),
    failure_threshold: 3,
};

/// Why a replica is down because of its processes, if it is: the first one not running.
pub fn processes_down(processes: &[(String, watch::Receiver<State>)]) -> Option<String> {
    processes.iter().find_map(|(name, state)| match &*state.borrow() {
        State::Running { .. } => None,
        State::Restarting { how, delay, .. } => Some(format!(
            "component {name} {how}; restarting in {}",
            seconds(*delay)
        )),
        State::Stopped { how } => Some(format!("component {name} {how}")),
    })
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// What one replica's monitor watches and whom it tells.
#[derive(Debug)]
pub struct Watched {
    /// `namespace/deployment predictor P replica N`, for messages.
    pub replica: String,
    /// The engine's address: the endpoint in the gateways.
    pub addr: SocketAddr,
    /// The engine, whose `ready()` probes its components.
    pub engine: Arc<Engine>,
    /// The replica's component processes, by name.
    pub processes: Vec<(String, watch::Receiver<State>)>,
    /// The gateways' endpoint health.
    pub health: Vec<EndpointHealth>,
    /// How it is probed.
    pub probe: Probe,
    /// The components' `httpGet` readiness probes.
    pub http_probes: Vec<HttpProbe>,
    /// Set while the replica is ready.
    pub ready: Arc<AtomicBool>,
}

/// Keep `watched`'s endpoint in or out of the gateways until `stop` is true; then forget it.
pub async fn monitor(watched: Watched, mut stop: watch::Receiver<bool>) {
    let changed = Arc::new(Notify::new());
    for (_, state) in &watched.processes {
        let (mut state, changed) = (state.clone(), changed.clone());
        tokio::spawn(async move {
            while state.changed().await.is_ok() {
                changed.notify_one();
            }
        });
    }
    let mut failures = 0u32;
    let mut down: Option<String> = None;
    loop {
        let mut why = processes_down(&watched.processes);
        if why.is_none() {
            match probe(&watched.engine, &watched.http_probes).await {
                Ok(()) => failures = 0,
                Err(failed) => {
                    failures += 1;
                    why = if failures >= watched.probe.failure_threshold {
                        Some(failed)
                    } else {
                        down.clone()
                    };
                }
            }
        }
        if why != down {
            match &why {
                Some(reason) => {
                    let message = format!("{}: {reason}", watched.replica);
                    tracing::warn!("not ready, out of load balancing: {message}");
                    for h in &watched.health {
                        h.down(watched.addr, &message);
                    }
                }
                None => {
                    tracing::info!("{} is ready again", watched.replica);
                    for h in &watched.health {
                        h.up(watched.addr);
                    }
                }
            }
            watched.ready.store(why.is_none(), Ordering::Release);
            down = why;
        }
        // While down, look again soon: a restarted component is back as soon as it listens.
        let next = if down.is_some() {
            watched.probe.period.min(RECHECK_WHILE_DOWN)
        } else {
            watched.probe.period
        };
        tokio::select! {
            () = tokio::time::sleep(next) => {}
            () = changed.notified() => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
    }
    for h in &watched.health {
        h.up(watched.addr);
    }
}

/// One probe of a replica: every component accepts connections, and each `httpGet`
/// readiness probe is answered 200–399.
pub(crate) async fn probe(engine: &Engine, http_probes: &[HttpProbe]) -> Result<(), String> {
    if !engine.ready().await {
        return Err("a component does not accept connections".to_string());
    }
    for p in http_probes {
        if let Some(Err(e)) = engine.probe_http(&p.node, &p.path, p.timeout).await {
            return Err(format!("component {}'s readiness probe: {e}", p.node));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn predictor(json: &str) -> PredictorSpec {
        serde_json::from_str(json).expect("predictor")
    }

    #[test]
    fn probe_settings_come_from_the_graph_containers() {
        let bare = predictor(r#"{"name":"p","graph":{"name":"m","type":"MODEL"}}"#);
        assert_eq!(Probe::of(&bare), LOCAL);
        let set = predictor(
            r#"{"name":"p","graph":{"name":"m","type":"MODEL","children":[{"name":"n","type":"MODEL"}]},
                "componentSpecs":[{"spec":{"containers":[
                  {"name":"m","image":"x","readinessProbe":{"periodSeconds":5,"failureThreshold":3,"tcpSocket":{"port":9000}}},
                  {"name":"n","image":"y","readinessProbe":{"periodSeconds":2}},
                  {"name":"other","image":"z","readinessProbe":{"periodSeconds":1,"failureThreshold":1}}]}}]}"#,
        );
        assert_eq!(
            Probe::of(&set),
            Probe {
                period: Duration::from_secs(2),
                failure_threshold: 3
            }
        );
    }

    #[test]
    fn the_first_process_not_running_is_the_reason() {
        let (_a, running) = watch::channel(State::Running { restarts: 0 });
        let (_b, restarting) = watch::channel(State::Restarting {
            how: "was killed by SIGKILL".into(),
            delay: Duration::from_secs(2),
            restarts: 1,
        });
        assert_eq!(processes_down(&[("d/p/a".into(), running.clone())]), None);
        assert_eq!(
            processes_down(&[("d/p/a".into(), running), ("d/p/b".into(), restarting)]).as_deref(),
            Some("component d/p/b was killed by SIGKILL; restarting in 2s")
        );
    }
}
