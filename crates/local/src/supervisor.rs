//! The component processes `sluice up` starts (`--component NAME=run:COMMAND`): each in a
//! process group of its own, reaped by a task that logs how it ended, and stopped as a
//! kubelet stops a container — SIGTERM to the group, SIGKILL after a grace period —
//! without blocking an async worker.
//!
//! ```text
//!  Supervisor::spawn ──> child (own process group) ──> reaper task: wait, log the exit,
//!        │                                                          forget the group
//!        └── live groups ──> stop_all (SIGTERM, grace, SIGKILL): shutdown, and a SIGTERM
//!                                                                 that arrives while starting
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

/// How long a component may take to exit after SIGTERM (the kubelet's default is 30 s;
/// locally a model that ignores SIGTERM should not hold up Ctrl-C that long).
pub const GRACE: Duration = Duration::from_secs(5);

/// Every process group started and not yet reaped, by group id, with its name.
#[derive(Clone, Debug, Default)]
pub struct Supervisor {
    live: Arc<Mutex<BTreeMap<i32, String>>>,
}

/// A started component process. Dropping it stops it (in the background).
#[derive(Debug)]
pub struct Process {
    group: i32,
    name: String,
    exited: watch::Receiver<Option<String>>,
}

impl Supervisor {
    /// Start `command` (its own process group) for the component `name`
    /// (`deployment/predictor/container`). Needs a Tokio runtime.
    pub fn spawn(&self, mut command: tokio::process::Command, name: &str) -> std::io::Result<Process> {
        command.process_group(0).kill_on_drop(false);
        let mut child = command.spawn()?;
        let pid = child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0);
        self.lock().insert(pid, name.to_string());
        let (tell, exited) = watch::channel(None);
        let live = self.live.clone();
        let component = name.to_string();
        tokio::spawn(async move {
            let how = match child.wait().await {
                Ok(status) => describe(status),
                Err(e) => format!("could not be waited for: {e}"),
            };
            live.lock().unwrap_or_else(|p| p.into_inner()).remove(&pid);
            tracing::info!(component = %component, "component process {how}");
            let _ = tell.send(Some(how));
        });
        Ok(Process {
            group: pid,
            name: name.to_string(),
            exited,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, String>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The components running now, by name.
    pub fn running(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }

    /// Stop every process started: SIGTERM to each group, SIGKILL to those still there
    /// after `grace`; returns once all are reaped (or a second after SIGKILL).
    pub async fn stop_all(&self, grace: Duration) {
        let groups: Vec<i32> = self.lock().keys().copied().collect();
        for group in &groups {
            signal(*group, Signal::SIGTERM);
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.lock().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left: Vec<i32> = self.lock().keys().copied().collect();
        for group in left {
            signal(group, Signal::SIGKILL);
        }
        for _ in 0..50 {
            if self.lock().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Process {
    /// `deployment/predictor/container`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stop it: SIGTERM to its group, SIGKILL after `grace`; returns once it has exited.
    pub async fn stop(mut self, grace: Duration) {
        stop(self.group, &mut self.exited, grace).await;
    }
}

impl Drop for Process {
    /// However a process goes away, its group is stopped, off the caller's thread.
    fn drop(&mut self) {
        if self.exited.borrow().is_some() {
            return;
        }
        let (group, mut exited) = (self.group, self.exited.clone());
        signal(group, Signal::SIGTERM);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { stop(group, &mut exited, GRACE).await });
        }
    }
}

async fn stop(group: i32, exited: &mut watch::Receiver<Option<String>>, grace: Duration) {
    if exited.borrow().is_some() {
        return;
    }
    signal(group, Signal::SIGTERM);
    if tokio::time::timeout(grace, exited.wait_for(Option::is_some))
        .await
        .is_err()
    {
        signal(group, Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(1), exited.wait_for(Option::is_some)).await;
    }
}

fn signal(group: i32, signal: Signal) {
    if group > 1 {
        // ESRCH (already gone) is the normal case after an exit.
        let _ = killpg(Pid::from_raw(group), signal);
    }
}

/// `exited with code 1`, `was killed by SIGKILL`.
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => match Signal::try_from(signal) {
            Ok(s) => format!("was killed by {s}"),
            Err(_) => format!("was killed by signal {signal}"),
        },
        (None, None) => "ended".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell that (optionally) ignores SIGTERM, then writes `ready` and waits.
    fn sleeper(trap_term: bool, ready: &std::path::Path) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("sh");
        let trap = if trap_term { "trap '' TERM; " } else { "" };
        c.args(["-c", &format!("{trap}touch {}; sleep 30 & wait", ready.display())]);
        c
    }

    async fn started(ready: &std::path::Path) {
        for _ in 0..250 {
            if ready.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} never started", ready.display());
    }

    fn marker(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("sluice-supervisor-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[tokio::test]
    async fn stop_all_terminates_then_kills_and_reaps() {
        let supervisor = Supervisor::default();
        let (a, b) = (marker("polite"), marker("stubborn"));
        let polite = supervisor.spawn(sleeper(false, &a), "d/p/polite").expect("spawn");
        let stubborn = supervisor
            .spawn(sleeper(true, &b), "d/p/stubborn")
            .expect("spawn");
        started(&a).await;
        started(&b).await;
        assert_eq!(supervisor.running().len(), 2);
        supervisor.stop_all(Duration::from_millis(300)).await;
        assert!(supervisor.running().is_empty(), "{:?}", supervisor.running());
        assert!(
            polite
                .exited
                .borrow()
                .as_deref()
                .is_some_and(|h| h.contains("SIGTERM"))
        );
        assert!(
            stubborn
                .exited
                .borrow()
                .as_deref()
                .is_some_and(|h| h.contains("SIGKILL"))
        );
    }

    #[tokio::test]
    async fn a_dropped_process_is_stopped_in_the_background() {
        let supervisor = Supervisor::default();
        let ready = marker("dropped");
        let p = supervisor.spawn(sleeper(false, &ready), "d/p/c").expect("spawn");
        started(&ready).await;
        drop(p);
        for _ in 0..100 {
            if supervisor.running().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("still running: {:?}", supervisor.running());
    }
}
