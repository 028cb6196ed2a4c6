//! What `sluice up` reports while it starts (or re-applies) deployments. The library only
//! emits events; the CLI draws them (spinners on a terminal, log lines otherwise).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One step of bringing a SeldonDeployment up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Its engines and component processes are starting.
    Starting {
        /// `namespace/name`.
        deployment: String,
        /// How many predictors.
        predictors: usize,
    },
    /// A predictor's components do not accept connections yet (reported every 2 s).
    Waiting {
        /// `namespace/name`.
        deployment: String,
        /// The predictor waited for.
        predictor: String,
        /// Since the deployment started.
        waited: Duration,
    },
    /// A prepackaged server's model is being copied from its `modelUri` (reported as bytes
    /// arrive, at most every 4 MiB, and when done).
    Fetching {
        /// `namespace/name`.
        deployment: String,
        /// The `modelUri`.
        uri: String,
        /// Bytes copied so far.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// Every engine is ready (its routes apply next; that can still fail, e.g. on a port
    /// the gateway cannot listen on).
    Ready {
        /// `namespace/name`.
        deployment: String,
        /// Since it started.
        took: Duration,
        /// Engines started (one per predictor replica).
        engines: usize,
        /// Component processes started (`run:` mappings).
        processes: usize,
    },
    /// It could not start (the error follows separately).
    Failed {
        /// `namespace/name`.
        deployment: String,
    },
}

impl Progress {
    /// The deployment the event is about.
    pub fn deployment(&self) -> &str {
        match self {
            Progress::Starting { deployment, .. }
            | Progress::Waiting { deployment, .. }
            | Progress::Fetching { deployment, .. }
            | Progress::Ready { deployment, .. }
            | Progress::Failed { deployment } => deployment,
        }
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Starting {
                deployment,
                predictors,
            } => write!(f, "{deployment}: starting {predictors} predictor(s)"),
            Progress::Waiting {
                deployment,
                predictor,
                waited,
            } => write!(
                f,
                "{deployment}: waiting for predictor {predictor}'s components to accept connections ({:.0} s)",
                waited.as_secs_f64()
            ),
            Progress::Ready {
                deployment,
                took,
                engines,
                processes,
            } => write!(
                f,
                "{deployment}: engines ready in {} ms ({engines} engine(s), {processes} component process(es))",
                took.as_millis()
            ),
            Progress::Fetching {
                deployment,
                uri,
                done,
                total,
            } => {
                let mib = |bytes: &u64| *bytes as f64 / (1024.0 * 1024.0);
                write!(
                    f,
                    "{deployment}: fetching {uri} ({:.1} of {:.1} MiB)",
                    mib(done),
                    mib(total)
                )
            }
            Progress::Failed { deployment } => write!(f, "{deployment}: not started"),
        }
    }
}

/// Where progress goes.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Fn(&Progress) + Send + Sync>);

impl Reporter {
    /// Progress to `report`.
    pub fn new(report: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        Reporter(Arc::new(report))
    }

    /// Progress as log lines (`tracing` at info level).
    pub fn log() -> Self {
        Reporter::new(|p| tracing::info!("{p}"))
    }

    pub(crate) fn report(&self, progress: Progress) {
        (self.0)(&progress);
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::log()
    }
}

impl fmt::Debug for Reporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reporter")
    }
}
