//! Crash points for tests. With `SIYU_FAILPOINT=<name>` in the environment, a run kills
//! itself with SIGKILL when it reaches `<name>`: crash-safety tests stop a run at an
//! exact point instead of racing a timer. Unset, a failpoint costs one environment
//! lookup.
//!
//! Points: `step_started:<step>` (the runner is about to run that step, e.g.
//! `step_started:member_tags` in the middle of the SQL steps), `rules_mined` (a rules
//! step has mined its itemsets and not yet written them), `table_written` (a step has
//! written a table to staging),
//! `before_input_check` (all steps done, inputs not yet compared with how the run found
//! them), `before_success` (all tables written, no manifest yet), `before_swap` (staging is
//! complete with `_SUCCESS`, not yet moved into place).

///
/// With `SIYU_PAUSEPOINT=<name>[,<name>...]` and `SIYU_PAUSE_FILE=<path>` instead, the
/// run writes the point's name to `<path>` when it reaches one of them and waits there
/// until `<path>` is removed: a test can then change the world (rewrite an input, send a
/// signal) at that exact point. `interrupted` is where a run stopped by a signal starts
/// its clean-up.
pub fn hit(name: &str) {
    if std::env::var("SIYU_PAUSEPOINT").is_ok_and(|v| v.split(',').any(|p| p == name))
        && let Some(file) = std::env::var_os("SIYU_PAUSE_FILE")
    {
        let file = std::path::PathBuf::from(file);
        if std::fs::write(&file, name).is_ok() {
            while file.exists() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
    if std::env::var_os("SIYU_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: sending SIGKILL to our own process; nothing after this runs.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
