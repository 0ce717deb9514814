//! The DataFusion session every run and check uses.

use std::path::Path;
use std::sync::Arc;

use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Result, SiyuError};

/// A session with siyu's settings. With `memory_limit`, operators share a pool of that
/// many bytes fairly and spill to `spill_dir` rather than fail.
pub fn new_session(
    memory_limit: Option<usize>,
    spill_dir: Option<&Path>,
) -> Result<SessionContext> {
    let partitions = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = SessionConfig::new()
        .with_target_partitions(partitions)
        .with_information_schema(false);
    let options = config.options_mut();
    // Plain Utf8 everywhere: ids are Utf8 in every output, whatever the reader prefers.
    options.execution.parquet.schema_force_view_types = false;
    options.sql_parser.map_string_types_to_utf8view = false;
    // Keep source positions on identifiers so planning errors name the SQL line.
    options.sql_parser.collect_spans = true;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        // Each sort holds this much back for merging its spill files; DataFusion's 10 MB
        // default alone exceeds a small budget shared by several sorts.
        let per_sort = (limit / (8 * partitions)).clamp(256 << 10, 10 << 20);
        config.options_mut().execution.sort_spill_reservation_bytes = per_sort;
    }
    if let Some(dir) = spill_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            SiyuError::io(crate::error::ErrorClass::Runtime, "cannot create", dir, e)
        })?;
        runtime = runtime.with_temp_file_path(dir);
    }
    Ok(SessionContext::new_with_config_rt(
        config,
        runtime.build_arc()?,
    ))
}

/// Parse a size such as `512M`, `2G`, `1.5GiB` or `1073741824` into bytes.
pub fn parse_size(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("expected a size such as 512M or 2G, found {text:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        _ => {
            return Err(format!(
                "unknown size unit {unit:?} in {text:?} (use K, M, G or T)"
            ));
        }
    };
    let bytes = value * mult;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("2X").is_err());
        assert!(parse_size("lots").is_err());
    }
}
