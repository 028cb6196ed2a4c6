//! How `sluice up` shows its progress: on a terminal, a spinner per deployment while it
//! starts (log lines printed above them); otherwise plain log lines.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sluice_local::{Progress, Reporter};
use tracing_subscriber::fmt::MakeWriter;

/// Set up logging and return where `sluice up` reports progress.
pub(crate) fn init() -> Reporter {
    if !std::io::stderr().is_terminal() {
        crate::init_logs();
        return Reporter::log();
    }
    let bars = MultiProgress::new();
    crate::init_logs_to(AboveBars(bars.clone()));
    let spinners: Mutex<HashMap<String, ProgressBar>> = Mutex::default();
    Reporter::new(move |event| {
        let mut spinners = spinners.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Progress::Starting { deployment, .. } => {
                let spinner = bars.add(ProgressBar::new_spinner());
                if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
                    spinner.set_style(style);
                }
                spinner.enable_steady_tick(Duration::from_millis(100));
                spinner.set_message(event.to_string());
                spinners.insert(deployment.clone(), spinner);
            }
            Progress::Waiting { deployment, .. } | Progress::Fetching { deployment, .. } => {
                if let Some(spinner) = spinners.get(deployment) {
                    spinner.set_message(event.to_string());
                }
            }
            Progress::Ready { deployment, .. } | Progress::Failed { deployment } => {
                if let Some(spinner) = spinners.remove(deployment) {
                    spinner.finish_and_clear();
                    bars.remove(&spinner);
                }
                // A line of its own above the spinners, kept when they are redrawn.
                let mark = if matches!(event, Progress::Ready { .. }) {
                    "✓"
                } else {
                    "✗"
                };
                bars.suspend(|| eprintln!("{mark} {event}"));
            }
        }
    })
}

/// Log lines written above the spinners, which are redrawn below them.
#[derive(Clone)]
struct AboveBars(MultiProgress);

impl Write for AboveBars {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The log layer writes each event whole, so one event is one suspension.
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for AboveBars {
    type Writer = AboveBars;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
