//! Any bytes as a job file: parsing, parameter resolution and building every declared
//! step must return a value or an error, never panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/fuzz/job.toml");
    let Ok(job) = siyu::job::Job::parse(path, text) else {
        return;
    };
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let overrides = [("days".to_string(), "7".to_string())];
    let _ = job.resolve_params(&overrides, as_of);
    let _ = siyu::step::Registry::builtin().build(&job);
});
