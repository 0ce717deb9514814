//! The DataFusion session every run and check uses.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::engine::Engine;
use crate::error::{Result, SiyuError};

/// A session with siyu's settings on `engine`. With `memory_limit`, operators share a
/// pool of that many bytes fairly and spill to `spill_dir` rather than fail (on a
/// cluster these bound the client: executors have their own, `siyu cluster executor
/// --memory-limit`). `partitions` overrides the number of partitions each query is
/// split into [default: one per core here; 16 on a cluster].
pub async fn new_session(
    memory_limit: Option<usize>,
    spill_dir: Option<&Path>,
    engine: &Engine,
    partitions: Option<usize>,
) -> Result<SessionContext> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = if engine.is_distributed() {
        use ballista::prelude::SessionConfigExt;
        SessionConfig::new_with_ballista()
            .with_target_partitions(partitions.unwrap_or(match engine {
                Engine::Standalone => cores,
                _ => 16,
            }))
            .with_information_schema(false)
    } else {
        SessionConfig::new()
            .with_target_partitions(partitions.unwrap_or(cores))
            .with_information_schema(false)
    };
    if engine.is_distributed() {
        // Ballista 55's adaptive planner re-plans some stages without end (a query with
        // an uncorrelated scalar subquery over an empty table ran 700 stages and did not
        // finish): its static distributed planner is used (docs/scale-out.md).
        config = config.set_bool(
            ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED,
            false,
        );
    }
    if matches!(engine, Engine::Ballista { .. }) {
        // Pull job tracking: the scheduler answers a query with its job id at once, so a
        // run stopped by a signal can cancel the job it waits for. (In push mode the id
        // arrives with the job's first status change — for a one-stage query, only when
        // it ends.) The client asks for the status every 50 ms.
        config = config.set_bool(ballista_core::config::BALLISTA_CLIENT_PULL, true);
    }
    let partitions = config.target_partitions();
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
    let runtime = runtime.build_arc()?;
    if !engine.is_distributed() {
        return Ok(SessionContext::new_with_config_rt(config, runtime));
    }
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    // The standalone scheduler and executor take their functions from this state.
    crate::cluster::register_functions(&mut state)?;
    use ballista::prelude::SessionContextExt;
    let ctx = match engine {
        Engine::Ballista { url, .. } => {
            let url = format!("df://{}", url.trim_start_matches("df://"));
            SessionContext::remote_with_state(&url, state).await?
        }
        _ => SessionContext::standalone_with_state(state)
            .await
            .map_err(|e| {
                SiyuError::runtime(format!(
                    "cannot start the standalone Ballista scheduler and executor: {e}"
                ))
            })?,
    };
    // Every query shipped to a remote scheduler is tracked: its job id logged, and
    // cancelled when a signal stops the run (src/cluster_jobs.rs).
    let ctx = match engine.scheduler_endpoint() {
        Some(endpoint) => {
            let state = ctx.state();
            let planner = crate::cluster_jobs::track(Arc::clone(state.query_planner()), endpoint);
            SessionContext::new_with_state(
                SessionStateBuilder::new_from_existing(state)
                    .with_query_planner(planner)
                    .build(),
            )
        }
        None => ctx,
    };
    // Ballista replaces the session's function list: siyu's go back on top.
    for f in crate::cluster::functions() {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in crate::cluster::window_functions() {
        ctx.register_udwf(f.as_ref().clone());
    }
    Ok(ctx)
}

/// How long the client waits for the scheduler to answer before giving up.
const SCHEDULER_CONNECT_SECONDS: u64 = 10;

/// Fail early, naming the URL, when the scheduler cannot be reached (a job started
/// against a cluster that is down fails before any work, not in its first query).
pub async fn reach_scheduler(engine: &Engine) -> Result<()> {
    let (Engine::Ballista { url, .. }, Some(endpoint)) = (engine, engine.scheduler_endpoint())
    else {
        return Ok(());
    };
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    let unreachable = |why: String| {
        SiyuError::runtime(format!(
            "cannot reach the Ballista scheduler at {url} ({endpoint}): {why}; is `siyu cluster scheduler` running there? nothing was run"
        ))
    };
    let connect = SchedulerGrpcClient::connect(endpoint.clone());
    match tokio::time::timeout(
        std::time::Duration::from_secs(SCHEDULER_CONNECT_SECONDS),
        connect,
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(unreachable(error_chain(&e))),
        Err(_) => Err(unreachable(format!(
            "no answer in {SCHEDULER_CONNECT_SECONDS} s"
        ))),
    }
}

/// An error and its causes, `: `-separated (tonic's transport errors say little alone).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// One step's share of the job's memory pool: every reservation goes through to the
/// job's pool (which alone enforces `--memory-limit`), and is also counted here, so the
/// run record can say how much each step held at its peak even when steps run together.
#[derive(Debug)]
pub struct StepPool {
    job: Arc<dyn MemoryPool>,
    reserved: AtomicUsize,
    peak: AtomicUsize,
}

impl StepPool {
    /// The most this step had reserved at once, in bytes.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        let now = self.reserved.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }
}

impl fmt::Display for StepPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step pool over {}", self.job)
    }
}

impl MemoryPool for StepPool {
    fn name(&self) -> &str {
        "siyu_step"
    }
    fn register(&self, consumer: &MemoryConsumer) {
        self.job.register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.job.unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.job.grow(reservation, additional);
        self.add(additional);
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.job.shrink(reservation, shrink);
        self.reserved.fetch_sub(shrink, Ordering::Relaxed);
    }
    fn try_grow(
        &self,
        reservation: &MemoryReservation,
        additional: usize,
    ) -> datafusion::error::Result<()> {
        self.job.try_grow(reservation, additional)?;
        self.add(additional);
        Ok(())
    }
    fn reserved(&self) -> usize {
        self.job.reserved()
    }
    fn memory_limit(&self) -> MemoryLimit {
        self.job.memory_limit()
    }
}

/// A session for one step: the job's tables, settings, spill directory and memory pool,
/// with the step's reservations counted in its own [`StepPool`].
/// `name` names the step's queries on a Ballista cluster (its scheduler's job names).
pub fn step_session(job: &SessionContext, name: &str) -> Result<(SessionContext, Arc<StepPool>)> {
    let mut state = job.state();
    if state
        .config()
        .options()
        .extensions
        .get::<ballista_core::config::BallistaConfig>()
        .is_some()
    {
        state
            .config_mut()
            .options_mut()
            .set(ballista_core::config::BALLISTA_JOB_NAME, name)?;
    }
    let env = state.runtime_env();
    let pool = Arc::new(StepPool {
        job: Arc::clone(&env.memory_pool),
        reserved: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let mut runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(pool.clone())
        .with_object_store_registry(Arc::clone(&env.object_store_registry));
    runtime.disk_manager = Some(Arc::clone(&env.disk_manager));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_runtime_env(runtime.build_arc()?)
        .build();
    Ok((SessionContext::new_with_state(state), pool))
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
