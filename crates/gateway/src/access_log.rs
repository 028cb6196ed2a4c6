//! The access log: one JSON line per request on stdout, written by a thread of its own so
//! that a slow or closed stdout never holds up a request. Lines beyond a bounded queue are
//! dropped and counted rather than waited for.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

/// How many lines may wait for the writer.
const QUEUE: usize = 4096;

/// Where request handlers send access log lines.
#[derive(Debug)]
pub(crate) struct AccessLog {
    lines: SyncSender<String>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// Start the writer thread (it ends when the log is dropped), writing to stdout or,
    /// with `path`, appending to that file.
    pub(crate) fn start(path: Option<&std::path::Path>) -> Self {
        let (lines, queue) = sync_channel::<String>(QUEUE);
        let file = path.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .inspect_err(|e| tracing::error!(path = %p.display(), error = %e, "cannot open the access log; writing it to stdout"))
                .ok()
        });
        std::thread::Builder::new()
            .name("access-log".to_string())
            .spawn(move || {
                let mut out: Box<dyn Write> = match file {
                    Some(f) => Box::new(f),
                    None => Box::new(std::io::stdout()),
                };
                for line in queue {
                    // A closed stdout (`| head`) is not an error of the request.
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            })
            .ok();
        AccessLog {
            lines,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queue a line; never blocks.
    pub(crate) fn write(&self, line: String) {
        match self.lines.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "access log lines dropped: stdout is not keeping up");
                }
            }
        }
    }
}
