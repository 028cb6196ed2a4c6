//! Noticing that configuration files changed, without blocking the async workers: the
//! files are polled (sizes and modification times, read on a blocking thread), which
//! works the same on every file system, editors' rename-on-save included.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::config;

type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The files behind some paths, and what they looked like last.
#[derive(Debug)]
pub struct Changes {
    paths: Vec<PathBuf>,
    /// Files the configuration refers to (certificates named by path), watched too.
    referenced: Vec<PathBuf>,
    last: Fingerprint,
}

async fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let paths = paths.to_vec();
    tokio::task::spawn_blocking(move || config::fingerprint(&paths))
        .await
        .unwrap_or_default()
}

impl Changes {
    /// Start watching `paths` as they are now.
    pub async fn new(paths: Vec<PathBuf>) -> Self {
        let last = fingerprint(&paths).await;
        Changes {
            paths,
            referenced: Vec::new(),
            last,
        }
    }

    /// Also watch `files` (those the configuration in force refers to), from their
    /// current state.
    pub async fn also(&mut self, files: Vec<PathBuf>) {
        if files == self.referenced {
            return;
        }
        self.referenced = files;
        // Files watched before keep their last state (an edit made meanwhile is still a
        // change); only the newly referenced ones start from what they are now.
        let fresh = fingerprint(&self.all()).await;
        self.last = fresh
            .into_iter()
            .map(|entry| {
                self.last
                    .iter()
                    .find(|(path, ..)| *path == entry.0)
                    .cloned()
                    .unwrap_or(entry)
            })
            .collect();
    }

    fn all(&self) -> Vec<PathBuf> {
        self.paths.iter().chain(&self.referenced).cloned().collect()
    }

    /// Resolves once the files differ from what they were (checked every `every`) and have
    /// settled: a writer that truncates and then writes (`echo > f`, many editors) is seen
    /// mid-write as an empty file, which must not be applied as "no objects".
    pub async fn next(&mut self, every: Duration) {
        let settle = (every / 5).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(every).await;
            let mut now = fingerprint(&self.all()).await;
            if now == self.last {
                continue;
            }
            loop {
                tokio::time::sleep(settle).await;
                let again = fingerprint(&self.all()).await;
                if again == now {
                    break;
                }
                now = again;
            }
            self.last = now;
            return;
        }
    }
}
