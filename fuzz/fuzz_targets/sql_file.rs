//! Any bytes as a SQL job file: parsing, refusing non-queries, substituting parameters
//! and finding the tables read must return a query or problems, never panic.
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use siyu::job::ParamValue;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = siyu::sql::SqlSource {
        name: "fuzzed".into(),
        path: PathBuf::from("/fuzz/fuzzed.sql"),
        text: text.to_string(),
    };
    let mut params = BTreeMap::new();
    params.insert("days".to_string(), ParamValue::Int(30));
    params.insert("share".to_string(), ParamValue::Float(0.5));
    params.insert("label".to_string(), ParamValue::String("x'y".into()));
    params.insert("flag".to_string(), ParamValue::Bool(true));
    params.insert(
        "as_of".to_string(),
        ParamValue::Date(chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
    );
    let _ = siyu::sql::prepare(&source, &params);
});
