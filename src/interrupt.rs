//! Stopping a run on a signal. SIGTERM (a scheduler's timeout, `kill`, systemd or a
//! container stopping) and SIGINT (Ctrl-C) stop `siyu run` cleanly: the running steps
//! are cancelled, the cluster jobs they wait for are cancelled, the staging directory is
//! removed and the job lock released, and siyu exits 143 / 130 (128 + the signal's
//! number). A second signal while that happens exits at once with its own code; the
//! next run removes whatever staging was left (docs/operations.md).

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

use crate::error::{ErrorClass, Result, Signal, SiyuError};

/// Run `work` until it ends or a signal stops it. On a signal, `work` is dropped —
/// which, for a run, aborts its step tasks, removes its staging directory and releases
/// its lock — after the cluster jobs it was waiting for have been noted, and those jobs
/// are then cancelled.
pub async fn until_signal<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    let listen = |kind: SignalKind| {
        signal(kind).map_err(|e| SiyuError::runtime(format!("cannot listen for signals: {e}")))
    };
    let (mut term, mut int) = (
        listen(SignalKind::terminate())?,
        listen(SignalKind::interrupt())?,
    );
    let mut work = Box::pin(work);
    let signal = tokio::select! {
        done = &mut work => return done,
        _ = term.recv() => Signal::Terminate,
        _ = int.recv() => Signal::Interrupt,
    };
    tracing::warn!(
        signal = signal.name(),
        "stopping: cancelling the running steps; nothing is published (a second signal exits at once)"
    );
    // A second signal ends the process now, whatever the clean-up is doing.
    tokio::spawn(async move {
        let second = tokio::select! {
            _ = term.recv() => Signal::Terminate,
            _ = int.recv() => Signal::Interrupt,
        };
        eprintln!(
            "siyu: {} again: exiting now; the next run removes what this one staged",
            second.name()
        );
        std::process::exit(second.exit_code());
    });
    crate::failpoint::hit("interrupted");
    let jobs = crate::cluster_jobs::running();
    drop(work);
    let cancelled = crate::cluster_jobs::cancel(&jobs).await;
    let mut message = format!(
        "stopped by {}: the running steps were cancelled and nothing was published (the previous night is untouched)",
        signal.name()
    );
    if !jobs.is_empty() {
        message.push_str(&format!(
            "; {cancelled} of {} running cluster jobs cancelled",
            jobs.len()
        ));
    }
    Err(SiyuError::new(ErrorClass::Interrupted(signal), message))
}
