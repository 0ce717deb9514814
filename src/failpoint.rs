//! Crash points for tests. With `SIYU_FAILPOINT=<name>` in the environment, a run kills
//! itself with SIGKILL when it reaches `<name>`: crash-safety tests stop a run at an
//! exact point instead of racing a timer. Unset, a failpoint costs one environment
//! lookup.
//!
//! Points: `step_started:<step>` (the runner is about to run that step, e.g.
//! `step_started:member_tags` in the middle of the SQL steps), `rules_mined` (a rules
//! step has mined its itemsets and not yet written them), `table_written` (a step has
//! written a table to staging),
//! `before_success` (all tables written, no manifest yet), `before_swap` (staging is
//! complete with `_SUCCESS`, not yet moved into place).

pub fn hit(name: &str) {
    if std::env::var_os("SIYU_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: sending SIGKILL to our own process; nothing after this runs.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
