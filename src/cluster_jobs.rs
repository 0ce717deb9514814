//! The Ballista jobs this client has running: each is logged with its scheduler job id
//! as soon as the scheduler accepts it, and a run stopped by a signal cancels them
//! (Ballista 55's client never cancels a job it stops waiting for; the cluster would run
//! it to its end).
//!
//! A distributed session's query planner is wrapped ([`track`]): every plan Ballista's
//! planner returns (a `DistributedQueryExec`, the whole query shipped to the scheduler)
//! is executed through [`ClusterJobExec`], whose stream registers the query while it is
//! being polled and logs the job id the first time Ballista knows it.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use async_trait::async_trait;
use ballista_core::execution_plans::DistributedQueryExec;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::Stream;

/// A query on the cluster that a step is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningJob {
    /// The scheduler's job id (known once the scheduler accepted the query).
    pub job_id: String,
    /// The job's name: `siyu JOB STEP`.
    pub name: String,
    /// The scheduler's gRPC endpoint, `http://HOST:PORT`.
    pub scheduler: String,
}

/// A query being waited for: Ballista's plan (which learns the job id) and the job name.
struct Tracked {
    plan: Arc<dyn ExecutionPlan>,
    name: String,
    scheduler: String,
}

/// The queries being waited for, by a key of their own (job ids come later).
struct Registry {
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Tracked>>,
}

static REGISTRY: Registry = Registry {
    next: AtomicU64::new(0),
    running: Mutex::new(BTreeMap::new()),
};

fn job_id_of(plan: &Arc<dyn ExecutionPlan>) -> Option<String> {
    plan.downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
        .and_then(|d| d.job_id())
        .map(|id| id.to_string())
}

/// The jobs the scheduler has accepted and this process is still waiting for.
pub fn running() -> Vec<RunningJob> {
    let running = REGISTRY.running.lock().unwrap_or_else(|p| p.into_inner());
    running
        .values()
        .filter_map(|t| {
            Some(RunningJob {
                job_id: job_id_of(&t.plan)?,
                name: t.name.clone(),
                scheduler: t.scheduler.clone(),
            })
        })
        .collect()
}

/// Ask the schedulers of `jobs` to cancel them: a scheduler fails the job and tells its
/// executors to stop its tasks. Each request gets a few seconds; a job that could not be
/// cancelled is logged and left to finish (its data is cleaned up when it ends,
/// docs/scale-out.md). Returns how many were cancelled.
pub async fn cancel(jobs: &[RunningJob]) -> usize {
    use ballista_core::serde::protobuf::job_status::Status;
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    use ballista_core::serde::protobuf::{CancelJobParams, GetJobStatusParams};
    const SECONDS: u64 = 5;
    let timeout = std::time::Duration::from_secs(SECONDS);
    let mut cancelled = 0;
    let mut by_scheduler: BTreeMap<&str, Vec<&RunningJob>> = BTreeMap::new();
    for job in jobs {
        by_scheduler.entry(&job.scheduler).or_default().push(job);
    }
    for (endpoint, jobs) in by_scheduler {
        let connect = SchedulerGrpcClient::connect(endpoint.to_string());
        let mut client = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!(scheduler = endpoint, error = %e, "cannot reach the scheduler to cancel the running cluster jobs; they run to their end");
                continue;
            }
            Err(_) => {
                tracing::warn!(
                    scheduler = endpoint,
                    "the scheduler did not answer in {SECONDS} s; the running cluster jobs run to their end"
                );
                continue;
            }
        };
        for job in jobs {
            // Ballista 55 drops a cancellation that arrives while the job is still being
            // planned (the job is not in its cache yet, and then runs), so the request is
            // repeated until the job's status is no longer queued or running.
            let cancel = async {
                loop {
                    let request = CancelJobParams {
                        job_id: job.job_id.clone(),
                    };
                    if !client.cancel_job(request).await?.get_ref().cancelled {
                        return Ok(false);
                    }
                    // The scheduler records it in its event loop, a moment later.
                    for _ in 0..10 {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        let request = GetJobStatusParams {
                            job_id: job.job_id.clone(),
                        };
                        let status = client.get_job_status(request).await?;
                        let status = status.into_inner().status.and_then(|s| s.status);
                        if !matches!(status, Some(Status::Queued(_)) | Some(Status::Running(_))) {
                            return Ok(true);
                        }
                    }
                }
            };
            match tokio::time::timeout(timeout, cancel).await {
                Ok(Ok(true)) => {
                    cancelled += 1;
                    tracing::warn!(job_id = %job.job_id, job = %job.name, "cancelled the cluster job");
                }
                Ok(Ok(false)) => {
                    tracing::warn!(job_id = %job.job_id, job = %job.name, "the scheduler did not cancel the cluster job")
                }
                Ok(Err::<_, Box<dyn std::error::Error + Send + Sync>>(e)) => {
                    tracing::warn!(job_id = %job.job_id, job = %job.name, error = %e, "cannot cancel the cluster job")
                }
                Err(_) => {
                    tracing::warn!(job_id = %job.job_id, job = %job.name, "the cluster job was still running {SECONDS} s after it was cancelled")
                }
            }
        }
    }
    cancelled
}

/// `inner` (Ballista's planner), with every distributed plan it returns tracked;
/// `scheduler` (`http://HOST:PORT`) is where they are cancelled.
pub fn track(
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    scheduler: String,
) -> Arc<dyn QueryPlanner + Send + Sync> {
    Arc::new(TrackingPlanner { inner, scheduler })
}

struct TrackingPlanner {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    scheduler: String,
}

impl fmt::Debug for TrackingPlanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TrackingPlanner")
    }
}

#[async_trait]
impl QueryPlanner for TrackingPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self
            .inner
            .create_physical_plan(logical_plan, session_state)
            .await?;
        if !plan.is::<DistributedQueryExec<LogicalPlanNode>>() {
            return Ok(plan);
        }
        let name = session_state
            .config()
            .options()
            .extensions
            .get::<ballista_core::config::BallistaConfig>()
            .and_then(|c| {
                c.settings()
                    .get(ballista_core::config::BALLISTA_JOB_NAME)
                    .cloned()
            })
            .unwrap_or_default();
        Ok(Arc::new(ClusterJobExec {
            inner: plan,
            name,
            scheduler: self.scheduler.clone(),
        }))
    }
}

/// A query shipped whole to the cluster, watched while it runs.
#[derive(Debug)]
pub struct ClusterJobExec {
    inner: Arc<dyn ExecutionPlan>,
    name: String,
    scheduler: String,
}

impl DisplayAs for ClusterJobExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_as(t, f)
    }
}

impl ExecutionPlan for ClusterJobExec {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }
    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.inner.as_ref())
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.inner.execute(partition, context)?;
        let key = REGISTRY.next.fetch_add(1, Ordering::Relaxed);
        REGISTRY
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                key,
                Tracked {
                    plan: Arc::clone(&self.inner),
                    name: self.name.clone(),
                    scheduler: self.scheduler.clone(),
                },
            );
        Ok(Box::pin(WatchedStream {
            inner: stream,
            plan: Arc::clone(&self.inner),
            name: self.name.clone(),
            key,
            logged: false,
        }))
    }
}

/// The query's result stream; while it lives, the query is in the registry.
struct WatchedStream {
    inner: SendableRecordBatchStream,
    plan: Arc<dyn ExecutionPlan>,
    name: String,
    key: u64,
    logged: bool,
}

impl Stream for WatchedStream {
    type Item = Result<RecordBatch>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if !self.logged
            && let Some(job_id) = job_id_of(&self.plan)
        {
            self.logged = true;
            tracing::info!(job_id = %job_id, job = %self.name, "cluster job accepted");
        }
        polled
    }
}

impl RecordBatchStream for WatchedStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for WatchedStream {
    fn drop(&mut self) {
        REGISTRY
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}
