//! The component processes `sluice up` starts (`--component NAME=run:COMMAND`), supervised
//! as a kubelet supervises a pod's containers with `restartPolicy: Always`:
//!
//! - each runs in a process group of its own; every exit is reaped and logged (code or
//!   signal) with the component's `deployment/predictor/container`, and what is left of its
//!   group is killed, as a container's processes die with it;
//! - it is restarted with the kubelet's back-off, doubling from [`Backoff::initial`] to
//!   five minutes and starting over once it ran ten minutes; [`Process::state`] says whether
//!   it runs, so `sluice up` takes its predictor's endpoint out of the gateway meanwhile;
//! - it is stopped as a kubelet stops a container — SIGTERM to the group, SIGKILL after a
//!   grace period — without blocking an async worker, and never restarted after that;
//! - with a shim ([`Supervisor::with_shim`]: the `sluice` binary itself, see [`exec`]) it
//!   also dies when sluice dies, even by SIGKILL (`PR_SET_PDEATHSIG`).
//!
//! ```text
//!  Supervisor::spawn ──> child (own group) ──> supervise task: wait ─> log, kill the group
//!        │                     ^                                  │
//!        │                     └──── back-off (1 s, 2 s, … 5 min) ┘  state: Running / Restarting / Stopped
//!        └── stop_all / Process::stop: SIGTERM, grace, SIGKILL; no restart
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::watch;

/// How long a component may take to exit after SIGTERM (the kubelet's default is 30 s;
/// locally a model that ignores SIGTERM should not hold up Ctrl-C that long).
pub const GRACE: Duration = Duration::from_secs(5);

/// The environment variable through which the shim learns sluice's process id.
pub const PARENT_ENV: &str = "SLUICE_SUPERVISOR_PID";

/// The kubelet's restart back-off: the delay before restart `n` is `initial · 2ⁿ`, at
/// most `cap`; a process that ran `reset_after` starts over at `initial`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// A run this long forgets earlier crashes.
    pub reset_after: Duration,
}

impl Backoff {
    /// The kubelet's: 10 s doubling to 5 min, reset after 10 min of running.
    pub const KUBELET: Backoff = Backoff {
        initial: Duration::from_secs(10),
        cap: Duration::from_secs(300),
        reset_after: Duration::from_secs(600),
    };

    /// `sluice up`'s: as the kubelet's but from 1 s, as a laptop has no scheduler to wait for.
    pub const LOCAL: Backoff = Backoff {
        initial: Duration::from_secs(1),
        ..Backoff::KUBELET
    };

    /// The delay after a process that ran for `ran`, when the delay before it was `previous`.
    pub fn next(&self, previous: Option<Duration>, ran: Duration) -> Duration {
        match previous {
            Some(delay) if ran < self.reset_after => (delay * 2).min(self.cap),
            _ => self.initial.min(self.cap),
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::LOCAL
    }
}

/// What to run: the command line and the environment it gets on top of sluice's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launch {
    /// Program and arguments (not empty).
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// Where a supervised process is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Running; `restarts` times restarted so far.
    Running {
        /// How many times it was restarted.
        restarts: u32,
    },
    /// It ended (`how`: `exited with code 1`, `was killed by SIGKILL`) and starts again
    /// after `delay`.
    Restarting {
        /// How the last run ended.
        how: String,
        /// The back-off before the next start.
        delay: Duration,
        /// How many times it was restarted before.
        restarts: u32,
    },
    /// Stopped for good (by [`Process::stop`], a drop, or [`Supervisor::stop_all`]).
    Stopped {
        /// How the last run ended.
        how: String,
    },
}

/// Starts, restarts and stops component processes. Clones share everything.
#[derive(Clone, Debug)]
pub struct Supervisor {
    /// Every process group running now, by group id, with its component's name.
    live: Arc<Mutex<BTreeMap<i32, String>>>,
    /// Supervise tasks not finished.
    tasks: Arc<AtomicUsize>,
    /// `Some(grace)` once everything stops.
    shutdown: Arc<watch::Sender<Option<Duration>>>,
    backoff: Backoff,
    shim: Option<PathBuf>,
}

impl Default for Supervisor {
    /// [`Backoff::LOCAL`], no shim.
    fn default() -> Self {
        Supervisor {
            live: Arc::default(),
            tasks: Arc::default(),
            shutdown: Arc::new(watch::channel(None).0),
            backoff: Backoff::LOCAL,
            shim: None,
        }
    }
}

/// A supervised component process. Dropping it stops it (in the background).
#[derive(Debug)]
pub struct Process {
    name: String,
    state: watch::Receiver<State>,
    /// `Some(grace)`: stop.
    stop: watch::Sender<Option<Duration>>,
}

impl Supervisor {
    /// Restart with `backoff` instead of [`Backoff::LOCAL`].
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Start processes through `shim ARGV…` — the `sluice` binary's hidden
    /// `exec-component` command, which calls [`exec`] — so they die with sluice.
    pub fn with_shim(mut self, shim: PathBuf) -> Self {
        self.shim = Some(shim);
        self
    }

    /// Start `launch` for the component `name` (`deployment/predictor/container`) and keep
    /// it running until stopped. An error is the first start's. Needs a Tokio runtime.
    pub fn spawn(&self, launch: Launch, name: &str) -> std::io::Result<Process> {
        let child = self.start(&launch, name)?;
        let (tell, state) = watch::channel(State::Running { restarts: 0 });
        let (stop, stopping) = watch::channel(None);
        self.tasks.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(
            self.clone()
                .supervise(launch, name.to_string(), child, tell, stopping),
        );
        Ok(Process {
            name: name.to_string(),
            state,
            stop,
        })
    }

    fn start(&self, launch: &Launch, name: &str) -> std::io::Result<Child> {
        let Some(program) = launch.argv.first() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no command",
            ));
        };
        let mut command = match &self.shim {
            Some(shim) => {
                // The shim starts whatever it is given, so a missing program would only show
                // as exits: find it first, for the same error as without the shim.
                find_program(program)?;
                let mut c = tokio::process::Command::new(shim);
                c.arg("exec-component")
                    .arg("--")
                    .args(&launch.argv)
                    .env(PARENT_ENV, std::process::id().to_string());
                c
            }
            None => {
                let mut c = tokio::process::Command::new(program);
                c.args(&launch.argv[1..]);
                c
            }
        };
        command
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // Its output goes with sluice's logs, not into the start-up table on stdout.
            .stdout(std::io::stderr())
            .process_group(0)
            .kill_on_drop(false);
        let child = command.spawn()?;
        let group = child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0);
        self.lock().insert(group, name.to_string());
        Ok(child)
    }

    /// Run `child`, restart it when it ends, until told to stop.
    async fn supervise(
        self,
        launch: Launch,
        name: String,
        child: Child,
        tell: watch::Sender<State>,
        mut stop: watch::Receiver<Option<Duration>>,
    ) {
        let _running = Running(self.tasks.clone());
        let mut shutdown = self.shutdown.subscribe();
        let mut child = Some(child);
        let (mut delay, mut restarts) = (None, 0u32);
        let how = loop {
            let started = Instant::now();
            let (how, stopped) = match child.take() {
                Some(child) => self.run(child, &mut stop, &mut shutdown).await,
                None => ("could not be started".to_string(), false),
            };
            if stopped || stop_requested(&stop, &shutdown).is_some() {
                break how;
            }
            let wait = self.backoff.next(delay, started.elapsed());
            delay = Some(wait);
            tracing::warn!(component = %name, "component process {how}; restarting in {wait:?}");
            let _ = tell.send(State::Restarting {
                how: how.clone(),
                delay: wait,
                restarts,
            });
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = requested(&mut stop, &mut shutdown) => break how,
            }
            if stop_requested(&stop, &shutdown).is_some() {
                break how;
            }
            restarts += 1;
            match self.start(&launch, &name) {
                Ok(started) => {
                    tracing::info!(component = %name, restarts, "component process restarted");
                    child = Some(started);
                    let _ = tell.send(State::Running { restarts });
                }
                Err(e) => tracing::warn!(component = %name, "component process could not be started: {e}"),
            }
        };
        tracing::info!(component = %name, "component process {how}");
        let _ = tell.send(State::Stopped { how });
    }

    /// Wait for `child` to end, or stop it when asked; `(how it ended, stopped on request)`.
    async fn run(
        &self,
        mut child: Child,
        stop: &mut watch::Receiver<Option<Duration>>,
        shutdown: &mut watch::Receiver<Option<Duration>>,
    ) -> (String, bool) {
        let group = child.id().and_then(|id| i32::try_from(id).ok()).unwrap_or(0);
        let (status, stopped) = tokio::select! {
            status = child.wait() => (status, false),
            grace = requested(stop, shutdown) => (terminate(group, &mut child, grace).await, true),
        };
        // What the process left in its group goes with it, as in a container.
        signal(group, Signal::SIGKILL);
        self.lock().remove(&group);
        let how = match status {
            Ok(status) => describe(status),
            Err(e) => format!("could not be waited for: {e}"),
        };
        (how, stopped)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, String>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The components running now, by name.
    pub fn running(&self) -> Vec<String> {
        self.lock().values().cloned().collect()
    }

    /// Stop every process for good: SIGTERM to each group, SIGKILL to those still there
    /// after `grace`; returns once all are reaped (or a second after SIGKILL).
    pub async fn stop_all(&self, grace: Duration) {
        self.shutdown.send_replace(Some(grace));
        let deadline = tokio::time::Instant::now() + grace + Duration::from_secs(1);
        while self.tasks.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Process {
    /// `deployment/predictor/container`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it is now; changes as it exits and restarts.
    pub fn state(&self) -> watch::Receiver<State> {
        self.state.clone()
    }

    /// Stop it for good: SIGTERM to its group, SIGKILL after `grace`; returns once it has
    /// exited.
    pub async fn stop(mut self, grace: Duration) {
        self.stop.send_replace(Some(grace));
        let stopped = self.state.wait_for(|s| matches!(s, State::Stopped { .. }));
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), stopped).await;
    }
}

impl Drop for Process {
    /// However a process goes away, its group is stopped (in the background).
    fn drop(&mut self) {
        if self.stop.borrow().is_none() {
            self.stop.send_replace(Some(GRACE));
        }
    }
}

/// `program` as `exec` finds it: a path, or a name on `PATH`; NotFound otherwise.
fn find_program(program: &str) -> std::io::Result<PathBuf> {
    let runnable = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if program.contains('/') {
        Some(PathBuf::from(program)).filter(|p| runnable(p))
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| runnable(p))
        })
    };
    found.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{program:?} is not an executable file or a program on PATH"),
        )
    })
}

/// Counts a supervise task as running until dropped (also by a panic).
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The grace period of a stop asked for (of this process, or of all), if any.
fn stop_requested(
    stop: &watch::Receiver<Option<Duration>>,
    shutdown: &watch::Receiver<Option<Duration>>,
) -> Option<Duration> {
    stop.borrow().or(*shutdown.borrow())
}

/// Resolves with the grace period once a stop is asked for.
async fn requested(
    stop: &mut watch::Receiver<Option<Duration>>,
    shutdown: &mut watch::Receiver<Option<Duration>>,
) -> Duration {
    loop {
        if let Some(grace) = stop_requested(stop, shutdown) {
            return grace;
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { return GRACE },
            changed = shutdown.changed() => if changed.is_err() { return GRACE },
        }
    }
}

/// SIGTERM to the group, SIGKILL after `grace`; how the leader ended.
async fn terminate(
    group: i32,
    child: &mut Child,
    grace: Duration,
) -> std::io::Result<std::process::ExitStatus> {
    signal(group, Signal::SIGTERM);
    if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
        return status;
    }
    signal(group, Signal::SIGKILL);
    child.wait().await
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

/// The shim's work, in the child before the model starts: ask the kernel to SIGKILL this
/// process when sluice dies (`PR_SET_PDEATHSIG`, kept across `exec`), make sure sluice did
/// not die already, then become `argv`. Returns only on failure.
pub fn exec(argv: &[String]) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let Some(program) = argv.first() else {
        return std::io::Error::new(std::io::ErrorKind::InvalidInput, "exec-component needs a command");
    };
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
        return std::io::Error::other(format!("cannot ask to die with the parent: {e}"));
    }
    if let Ok(parent) = std::env::var(PARENT_ENV)
        && nix::unistd::getppid().as_raw().to_string() != parent
    {
        return std::io::Error::other("sluice exited before the component started");
    }
    std::process::Command::new(program)
        .args(&argv[1..])
        .env_remove(PARENT_ENV)
        .exec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shell that (optionally) ignores SIGTERM, then writes `ready` and waits.
    fn sleeper(trap_term: bool, ready: &std::path::Path) -> Launch {
        let trap = if trap_term { "trap '' TERM; " } else { "" };
        Launch {
            argv: vec![
                "sh".into(),
                "-c".into(),
                format!("{trap}touch {}; sleep 30 & wait", ready.display()),
            ],
            env: Vec::new(),
        }
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

    fn stopped_how(p: &Process) -> Option<String> {
        match &*p.state.borrow() {
            State::Stopped { how } => Some(how.clone()),
            _ => None,
        }
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_after_a_long_run() {
        let b = Backoff::KUBELET;
        let short = Duration::from_secs(1);
        let mut delay = None;
        let mut seen = Vec::new();
        for _ in 0..7 {
            let next = b.next(delay, short);
            seen.push(next.as_secs());
            delay = Some(next);
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(b.next(delay, Duration::from_secs(600)), Duration::from_secs(10));
        assert_eq!(Backoff::LOCAL.next(None, short), Duration::from_secs(1));
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
        assert!(stopped_how(&polite).is_some_and(|h| h.contains("SIGTERM")));
        assert!(stopped_how(&stubborn).is_some_and(|h| h.contains("SIGKILL")));
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

    #[tokio::test]
    async fn a_killed_process_is_reported_and_restarted_after_the_backoff() {
        let supervisor = Supervisor::default().with_backoff(Backoff {
            initial: Duration::from_millis(200),
            ..Backoff::KUBELET
        });
        let ready = marker("restarted");
        let p = supervisor.spawn(sleeper(false, &ready), "d/p/c").expect("spawn");
        let mut state = p.state();
        started(&ready).await;
        std::fs::remove_file(&ready).expect("marker");
        let group = *supervisor.lock().keys().next().expect("running");
        signal(group, Signal::SIGKILL);
        let down = state
            .wait_for(|s| matches!(s, State::Restarting { .. }))
            .await
            .expect("state")
            .clone();
        assert_eq!(
            down,
            State::Restarting {
                how: "was killed by SIGKILL".into(),
                delay: Duration::from_millis(200),
                restarts: 0
            }
        );
        state
            .wait_for(|s| *s == State::Running { restarts: 1 })
            .await
            .expect("restarted");
        started(&ready).await;
        let now = *supervisor.lock().keys().next().expect("running again");
        assert_ne!(now, group, "a new process");
        p.stop(Duration::from_millis(300)).await;
        assert!(supervisor.running().is_empty());
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_at_once_also_through_a_shim() {
        let shim = Supervisor::default().with_shim(PathBuf::from("/bin/sh"));
        for supervisor in [Supervisor::default(), shim] {
            let launch = Launch {
                argv: vec!["sluice-no-such-program".into()],
                env: Vec::new(),
            };
            let error = supervisor.spawn(launch, "d/p/c").expect_err("not found");
            assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error}");
        }
        assert!(find_program("sh").is_ok());
    }

    #[tokio::test]
    async fn a_stopped_process_is_not_restarted() {
        let supervisor = Supervisor::default().with_backoff(Backoff {
            initial: Duration::from_millis(50),
            ..Backoff::KUBELET
        });
        let ready = marker("final");
        let p = supervisor.spawn(sleeper(false, &ready), "d/p/c").expect("spawn");
        started(&ready).await;
        let state = p.state();
        supervisor.stop_all(Duration::from_millis(300)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(matches!(&*state.borrow(), State::Stopped { .. }));
        assert!(supervisor.running().is_empty());
    }
}
