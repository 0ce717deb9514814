//! Logs for people and for schedulers.
//!
//! `text` (the default) is readable on a terminal and shows a progress bar over the
//! job's steps when stderr is a TTY; `json` writes one JSON object per line for log
//! collectors. Logs go to stderr; stdout is kept for command output (`plan`, `check`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes log lines to stderr without tearing the progress bar.
#[derive(Clone, Copy)]
struct BarAwareStderr;

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for BarAwareStderr {
    type Writer = BarAwareStderr;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

/// Install the global logger. `RUST_LOG` overrides `level` (e.g. `RUST_LOG=siyu=debug`).
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(BarAwareStderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// A progress bar over `total` steps, shown only for text logs on a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(total: usize, format: LogFormat) -> Progress {
        if format != LogFormat::Text || !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new(total as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        Progress { bar: Some(bar) }
    }

    pub fn running(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }

    pub fn step_done(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            *BAR.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}

/// Log an error as one event whose location is separate fields (`file`, `line`,
/// `column`, `steps_entry`, `step`, `table`, `column_name`, `key`), so that a log
/// collector can route on them; the message is the error's own, without the location
/// prefix text logs show. An error that stands for several problems logs each one.
pub fn error_event(e: &crate::error::SiyuError) {
    let events: Vec<&crate::error::SiyuError> = if e.problems.is_empty() {
        vec![e]
    } else {
        e.problems.iter().collect()
    };
    for p in events {
        // A problem's own location, completed by where the whole error happened.
        let l = &p.location.clone().or(&e.location);
        tracing::error!(
            class = p.class.name(),
            exit_code = e.class.exit_code(),
            file = l.file.as_deref(),
            line = l.line,
            column = l.column,
            steps_entry = l.steps_entry,
            step = l.step.as_deref(),
            table = l.table.as_deref(),
            column_name = l.column_name.as_deref(),
            key = l.key.as_deref(),
            "{}",
            p.message
        );
    }
}
