//! `siyu cluster scheduler|executor`: this binary as a node of an Apache DataFusion
//! Ballista cluster, built on the `ballista-scheduler` and `ballista-executor` library
//! crates — so client, scheduler and executors run the same DataFusion and know the same
//! functions (`siyu_local_time`, and any siyu adds), which stock Ballista binaries would
//! not. docs/scale-out.md says how to deploy, size and clean up a cluster.
//!
//! The scheduler pushes tasks to executors (Ballista's `push-staged` policy): each
//! executor listens on two ports, Arrow Flight (shuffle reads and results) and gRPC (the
//! scheduler's task launches).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::start_server;
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::execution::{FunctionRegistry, SessionState, SessionStateBuilder};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowFunctionSimplification, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Documentation, LimitEffect, PartitionEvaluator, ReversedUDWF, ScalarUDF, Signature, WindowUDF,
    WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionConfig;
use tracing::info;

use crate::error::{Result, SiyuError};

/// The functions siyu adds to DataFusion; registered on every node.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(crate::local_time::udf()),
        Arc::new(crate::segment::sql::slog1p_udf()),
        Arc::new(crate::segment::sql::sample_key_udf()),
    ]
}

/// Window functions DataFusion may evaluate *reversed* (over the opposite order, flipping
/// their direction with a flag) to save a sort, when one query has windows in opposite
/// orders. DataFusion 55's plan serialisation drops that flag, so on Ballista such a
/// `LAG(d) OVER (ORDER BY t)` next to a `ROW_NUMBER() OVER (ORDER BY t DESC)` came back
/// as a lead (`member_lifecycle`'s gaps were negated). On a distributed engine these
/// are replaced, on every node, by the same functions that refuse to be reversed: the
/// plan sorts instead, and the answer is the local engine's.
const REVERSED_BY_FLAG: &[&str] = &["lag", "lead", "nth_value"];

/// [`REVERSED_BY_FLAG`]'s functions, never reversed.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    let state = SessionStateBuilder::new().with_default_features().build();
    REVERSED_BY_FLAG
        .iter()
        .filter_map(|name| state.window_functions().get(*name))
        .map(|f| Arc::new(WindowUDF::new_from_impl(Unreversed(Arc::clone(f)))))
        .collect()
}

/// A window function as it is, except that the planner may not reverse it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Unreversed(Arc<WindowUDF>);

impl WindowUDFImpl for Unreversed {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn aliases(&self) -> &[String] {
        self.0.aliases()
    }
    fn signature(&self) -> &Signature {
        self.0.signature()
    }
    fn expressions(&self, args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        self.0.inner().expressions(args)
    }
    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> datafusion::error::Result<Box<dyn PartitionEvaluator>> {
        self.0.inner().partition_evaluator(args)
    }
    fn simplify(&self) -> Option<WindowFunctionSimplification> {
        self.0.inner().simplify()
    }
    fn field(&self, args: WindowUDFFieldArgs) -> datafusion::error::Result<FieldRef> {
        self.0.inner().field(args)
    }
    fn sort_options(&self) -> Option<SortOptions> {
        self.0.inner().sort_options()
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> datafusion::error::Result<Vec<DataType>> {
        self.0.inner().coerce_types(arg_types)
    }
    fn reverse_expr(&self) -> ReversedUDWF {
        ReversedUDWF::NotSupported
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.0.inner().documentation()
    }
    fn limit_effect(&self, args: &[Arc<dyn PhysicalExpr>]) -> LimitEffect {
        self.0.inner().limit_effect(args)
    }
}

/// Register siyu's functions (and the unreversed window functions) in a session state.
pub fn register_functions(state: &mut SessionState) -> datafusion::error::Result<()> {
    for f in functions() {
        state.register_udf(f)?;
    }
    for f in window_functions() {
        state.register_udwf(f)?;
    }
    Ok(())
}

/// Every function a plan may name on an executor: DataFusion's defaults (including the
/// nested/array ones Ballista's own default registry lacks) and siyu's.
pub fn function_registry() -> Result<BallistaFunctionRegistry> {
    let mut state = SessionStateBuilder::new().with_default_features().build();
    register_functions(&mut state)?;
    Ok(BallistaFunctionRegistry::from(&state))
}

/// The scheduler's sessions (it decodes and plans the client's logical plans): Ballista's
/// defaults and siyu's functions. Settings come with each query from the client.
fn session_builder() -> ballista_scheduler::SessionBuilder {
    Arc::new(|config: SessionConfig| {
        let mut state = ballista_core::utils::default_session_builder(config)?;
        register_functions(&mut state)?;
        Ok(state)
    })
}

/// How long a finished job's files stay on the executors before the scheduler removes
/// them: long enough for the client to fetch the last stage's output (it does so right
/// after the job ends). Intermediate stages go as soon as the job succeeds.
pub const FINISHED_JOB_DATA_SECONDS: u64 = 60;

/// `siyu cluster scheduler`.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where to listen (gRPC, `/healthz`, `/readyz` on one port).
    pub bind: String,
    /// The name executors use to reach this scheduler, when not the bind address.
    pub external_host: Option<String>,
    /// Ready (`/readyz` 200) once this many executors are registered.
    pub min_executors: usize,
}

/// `siyu cluster executor`.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's `HOST:PORT` (or `df://HOST:PORT`).
    pub scheduler: String,
    /// The Arrow Flight address this executor listens on.
    pub bind: String,
    /// The gRPC port for the scheduler's task launches [default: the Flight port + 1].
    pub grpc_port: Option<u16>,
    /// The name the scheduler and other executors use to reach this one.
    pub external_host: Option<String>,
    /// Shuffle and result files (one directory per job, removed when the job is done).
    pub work_dir: PathBuf,
    /// Tasks at once [default: one per core].
    pub concurrent_tasks: Option<usize>,
    /// Memory for all running tasks [default: 70 % of the machine's or cgroup's].
    pub memory_limit: Option<usize>,
    /// Job directories older than this are removed by the executor's own sweep (a
    /// backstop when the scheduler's cleanup never arrived), in seconds.
    pub job_data_ttl_seconds: u64,
}

fn bind_addr(text: &str, what: &str) -> Result<SocketAddr> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| SiyuError::config(format!("{what} {text:?} is not HOST:PORT")))
}

fn ballista_error(what: &str, e: ballista_core::error::BallistaError) -> SiyuError {
    SiyuError::runtime(format!("{what}: {e}"))
}

/// Run a scheduler until SIGTERM or SIGINT.
pub async fn scheduler(opts: SchedulerOptions) -> Result<()> {
    let addr = bind_addr(&opts.bind, "--bind")?;
    let external = opts.external_host.clone().unwrap_or_else(|| {
        if addr.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            addr.ip().to_string()
        }
    });
    let mut config = SchedulerConfig::default()
        .with_namespace("siyu")
        .with_hostname(&external)
        .with_port(addr.port())
        .with_scheduler_policy(TaskSchedulingPolicy::PushStaged)
        // Spread each stage's tasks over the executors (Ballista's default fills one
        // executor's slots first).
        .with_task_distribution(TaskDistributionPolicy::RoundRobin)
        .with_finished_job_data_clean_up_interval_seconds(FINISHED_JOB_DATA_SECONDS)
        .with_finished_job_state_clean_up_interval_seconds(3600)
        .with_override_session_builder(session_builder());
    config.bind_host = addr.ip().to_string();
    config.min_ready_executors = opts.min_executors.max(1);
    // A dead executor's tasks go elsewhere after this long without a heartbeat.
    config.executor_timeout_seconds = 60;
    config.executor_termination_grace_period = 5;
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| ballista_error("cannot start the scheduler", e))?;
    info!(bind = %addr, external_host = %external, "siyu scheduler starting");
    let server = start_server(cluster, addr, Arc::new(config));
    tokio::select! {
        r = server => r.map_err(|e| ballista_error(&format!("scheduler on {addr}"), e)),
        _ = shutdown_signal() => {
            info!("siyu scheduler stopping (signal)");
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Run an executor until SIGTERM or SIGINT (or the scheduler stops it).
pub async fn executor(opts: ExecutorOptions) -> Result<()> {
    let addr = bind_addr(&opts.bind, "--bind")?;
    let (scheduler_host, scheduler_port) = crate::engine::parse_scheduler(&opts.scheduler)?;
    let grpc_port = match opts.grpc_port {
        Some(p) => p,
        None => addr.port().checked_add(1).ok_or_else(|| {
            SiyuError::config("--bind port is 65535: give --grpc-port (the next port up)")
        })?,
    };
    if addr.port() == 0 || grpc_port == 0 {
        return Err(SiyuError::config(
            "executor ports must be given (0 cannot be advertised to the scheduler)",
        ));
    }
    std::fs::create_dir_all(&opts.work_dir).map_err(|e| {
        SiyuError::io(
            crate::error::ErrorClass::Config,
            "cannot create the work directory",
            &opts.work_dir,
            e,
        )
    })?;
    let work_dir = std::fs::canonicalize(&opts.work_dir)
        .map_err(|e| {
            SiyuError::io(
                crate::error::ErrorClass::Config,
                "cannot resolve",
                &opts.work_dir,
                e,
            )
        })?
        .display()
        .to_string();
    let external_host = opts
        .external_host
        .clone()
        .or_else(|| (!addr.ip().is_unspecified()).then(|| addr.ip().to_string()));
    let config = ExecutorProcessConfig {
        bind_host: addr.ip().to_string(),
        external_host: external_host.clone(),
        port: addr.port(),
        grpc_port,
        scheduler_host: scheduler_host.trim_matches(['[', ']']).to_string(),
        scheduler_port,
        // The scheduler may start after its executors (systemd, compose).
        scheduler_connect_timeout_seconds: 60,
        vcores: opts.concurrent_tasks.unwrap_or(0),
        task_scheduling_policy: TaskSchedulingPolicy::PushStaged,
        work_dir: Some(work_dir.clone()),
        job_data_clean_up_interval_seconds: 600,
        job_data_ttl_seconds: opts.job_data_ttl_seconds,
        memory_pool_size: opts.memory_limit.map(|b| b as u64),
        executor_heartbeat_interval_seconds: 10,
        override_function_registry: Some(Arc::new(function_registry()?)),
        ..Default::default()
    };
    info!(bind = %addr, grpc_port, scheduler = %opts.scheduler, work_dir = %work_dir,
          external_host = external_host.as_deref().unwrap_or("(as the scheduler sees it)"),
          "siyu executor starting");
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| ballista_error(&format!("executor on {addr}"), e))
}
