//! The job runner: `check`, `plan` and `run` over one job file.
//!
//! All three share one preparation: load the job file, resolve params, find and check
//! the inputs, load the SQL job files and `[[steps]]`, order the steps, and plan every
//! step against the schemas of what it reads. `check` reports every problem found on
//! the way; `plan` prints the order; `run` then executes the steps into a staging
//! directory and publishes it atomically (see [`crate::publish`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use serde_json::json;
use tracing::{info, warn};

use crate::dag::{self, Node, Schedule};
use crate::error::{ErrorClass, Problem, Result, SiyuError};
use crate::input::{self, Input, Sources};
use crate::job::{Job, ParamValue};
use crate::logging::{LogFormat, Progress};
use crate::publish::{self, FileMetadata, JobLock, Staging, WrittenTable};
use crate::step::{self, Step, StepContext, TableSink};

/// Everything the command line can change about a job.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub as_of: Option<NaiveDate>,
    pub inputs: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
    pub input_dir: Option<PathBuf>,
    pub out: PathBuf,
    pub memory_limit: Option<usize>,
}

/// A job ready to run: every problem `check` looks for is absent.
pub struct Prepared {
    pub job: Arc<Job>,
    pub as_of: NaiveDate,
    pub params: BTreeMap<String, ParamValue>,
    pub inputs: Vec<Input>,
    pub steps: Vec<Box<dyn Step>>,
    pub schedule: Schedule,
    /// Output schema of every table a step writes.
    pub schemas: BTreeMap<String, SchemaRef>,
    pub session: SessionContext,
    /// The latest complete output of this job before `as_of`, if any.
    pub previous: Option<(NaiveDate, PathBuf)>,
}

/// The run date: `--as-of`, else today in the job's timezone.
fn as_of_for(job: &Job, opts: &Options) -> NaiveDate {
    opts.as_of
        .unwrap_or_else(|| Utc::now().with_timezone(&job.timezone).date_naive())
}

/// Prepare a job, collecting every problem. With problems, nothing is returned but the
/// list (a partial preparation is never run).
pub async fn prepare(
    job: Job,
    opts: &Options,
    session: SessionContext,
) -> std::result::Result<Prepared, Vec<Problem>> {
    let job = Arc::new(job);
    let job_path = job.path.as_path();
    let as_of = as_of_for(&job, opts);
    let params = job
        .resolve_params(&opts.params, as_of)
        .map_err(|e| vec![to_problem(e, job_path)])?;
    let mut problems = Vec::new();

    let inputs = match Sources::merge(&job.inputs, opts.input_dir.as_deref(), &opts.inputs)
        .map_err(|e| vec![to_problem(e, job_path)])
        .and_then(|s| input::discover(&s))
    {
        Ok(inputs) => Some(inputs),
        Err(mut p) => {
            problems.append(&mut p);
            None
        }
    };

    let (sources, mut p) = crate::sql::load_dirs(&job.sql_dirs);
    problems.append(&mut p);
    // The data quality checks come first (every other step depends on them, below), so
    // every other step reads the cleaned inputs.
    let mut steps: Vec<Box<dyn Step>> = vec![Box::new(crate::quality::QualityStep {
        sources: inputs
            .iter()
            .flatten()
            .map(|i| {
                let source = match (&i.source, i.files.as_slice()) {
                    (_, [one]) => one.path.display().to_string(),
                    (Some(s), _) => s.display().to_string(),
                    (None, _) => "absent, read as empty".to_string(),
                };
                (i.spec.name.to_string(), source)
            })
            .collect(),
    })];
    for source in &sources {
        match crate::sql::prepare(source, &params) {
            Ok(query) => steps.push(Box::new(step::sql::SqlStep { query })),
            Err(mut p) => problems.append(&mut p),
        }
    }
    for decl in &job.steps {
        match step::build(decl, &job.path) {
            Ok(s) => steps.push(s),
            Err(p) => problems.push(p),
        }
    }

    let input_names: BTreeSet<String> = crate::contract::TABLES
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    // Every step runs after the data quality step (step 0), which may replace the
    // inputs with their cleaned versions.
    let nodes: Vec<Node> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut reads = s.reads();
            if i > 0 {
                reads.push(crate::quality::TABLE.to_string());
            }
            Node {
                name: s.name().to_string(),
                source: s.source(),
                reads,
                writes: s.writes(),
            }
        })
        .collect();
    let aliases: BTreeMap<String, String> = job
        .publish
        .iter()
        .map(|t| (format!("previous_{t}"), t.clone()))
        .collect();
    let previous = publish::previous_run(&opts.out.join(&job.name), as_of);
    let schedule = match dag::schedule(&nodes, &input_names, &aliases) {
        Ok(s) => Some(s),
        Err(mut p) => {
            problems.append(&mut p);
            None
        }
    };

    // Plan every step against its inputs' schemas, even when inputs had problems (their
    // contract schemas stand in), so one `check` reports SQL and data problems together.
    let mut schemas = BTreeMap::new();
    if let Some(schedule) = &schedule {
        let registered = match &inputs {
            Some(inputs) => input::register(&session, inputs, job.timezone.name()),
            None => register_contract_schemas(&session),
        };
        if let Err(e) = registered {
            problems.push(to_problem(e, job_path));
        } else {
            let ctx = StepContext {
                session: session.clone(),
                job: Arc::clone(&job),
                params: params.clone(),
                as_of,
                sink: None,
                details: Default::default(),
            };
            let mut failed: BTreeSet<String> = BTreeSet::new();
            for i in schedule.order() {
                let s = &steps[i];
                if let Some(t) = s.reads().iter().find(|t| failed.contains(*t)) {
                    failed.extend(s.writes());
                    problems.push(Problem::new(
                        ErrorClass::Config,
                        s.source(),
                        format!("not checked: it reads {t}, which has problems"),
                    ));
                    continue;
                }
                match s.plan(&ctx).await {
                    Ok(outputs) => {
                        for (name, schema) in outputs {
                            let mut registered = register_empty(&session, &name, &schema);
                            if registered.is_ok() && job.publish.contains(&name) {
                                let dir = previous.as_ref().map(|(_, d)| d.as_path());
                                registered = register_previous(&session, &name, &schema, dir);
                            }
                            if let Err(e) = registered {
                                problems.push(to_problem(e, job_path));
                            }
                            schemas.insert(name, schema);
                        }
                    }
                    Err(e) => {
                        failed.extend(s.writes());
                        problems.push(to_problem(e, Path::new(&s.source())));
                    }
                }
            }
        }
    }

    for table in &job.publish {
        let at = job.path.display();
        match schemas.get(table) {
            None if nodes.iter().any(|n| n.writes.contains(table)) => {}
            None => problems.push(Problem::new(
                ErrorClass::Config,
                &at,
                format!("[publish] table {table} is not written by any step"),
            )),
            Some(schema) => problems.extend(check_published_schema(
                table,
                schema,
                &nodes,
                &job.personal_columns,
            )),
        }
    }

    match (inputs, schedule, problems.is_empty()) {
        (Some(inputs), Some(schedule), true) => Ok(Prepared {
            job,
            as_of,
            params,
            inputs,
            steps,
            schedule,
            schemas,
            session,
            previous,
        }),
        _ => Err(problems),
    }
}

/// Published tables follow the output contract's general rules.
/// Whether a column name says it holds personal contact or identity data (phone, name,
/// address, e-mail, ID card, WeChat ids). `name` alone counts only in a member-level
/// table (one with a `member_id` column); flags (Boolean, e.g. `consent_email`) never.
pub fn personal_column(name: &str, data_type: &DataType, member_level: bool) -> bool {
    const EXACT: &[&str] = &[
        "phone",
        "mobile",
        "telephone",
        "cellphone",
        "tel",
        "address",
        "email",
        "email_address",
        "real_name",
        "full_name",
        "member_name",
        "nickname",
        "id_card",
        "id_card_no",
        "id_number",
        "openid",
        "unionid",
        "wechat_id",
        "wechat_openid",
        "birth_date",
        "birthday",
    ];
    const SUFFIXES: &[&str] = &[
        "_phone", "_mobile", "_address", "_email", "_openid", "_unionid",
    ];
    if data_type == &DataType::Boolean {
        return false;
    }
    let n = name.to_ascii_lowercase();
    EXACT.contains(&n.as_str())
        || SUFFIXES.iter().any(|s| n.ends_with(s))
        || (member_level && n == "name")
}

fn check_published_schema(
    table: &str,
    schema: &SchemaRef,
    nodes: &[Node],
    allowed_personal: &[String],
) -> Vec<Problem> {
    let at = nodes
        .iter()
        .find(|n| n.writes.iter().any(|w| w == table))
        .map_or(table.to_string(), |n| n.source.clone());
    let mut problems = Vec::new();
    if schema.field_with_name("as_of").is_err() {
        problems.push(Problem::new(
            ErrorClass::Config,
            &at,
            format!("published table {table} has no as_of column (add `$as_of AS as_of`)"),
        ));
    }
    for f in schema.fields() {
        if f.name().ends_with("_id") && f.data_type() != &DataType::Utf8 {
            problems.push(Problem::new(
                ErrorClass::Config,
                &at,
                format!(
                    "published table {table}: id column {} is {}; ids are Utf8 in every output (CAST it AS VARCHAR)",
                    f.name(),
                    f.data_type()
                ),
            ));
        }
    }
    let member_level = schema.field_with_name("member_id").is_ok();
    for f in schema.fields() {
        if personal_column(f.name(), f.data_type(), member_level)
            && !allowed_personal.contains(&format!("{table}.{}", f.name()))
        {
            problems.push(Problem::new(
                ErrorClass::Config,
                &at,
                format!(
                    "published table {table} has column {}, which looks like personal data; outputs carry member ids only. Drop it, or allow it with [publish] personal_columns = [\"{table}.{}\"]",
                    f.name(),
                    f.name()
                ),
            ));
        }
    }
    problems
}

fn to_problem(e: SiyuError, at: &Path) -> Problem {
    // Messages from the loaders already start with their location.
    let located = e.message.starts_with(&at.display().to_string());
    let location = if located {
        String::new()
    } else {
        at.display().to_string()
    };
    if located {
        match e.message.split_once(": ") {
            Some((loc, msg)) => Problem::new(e.class, loc, msg),
            None => Problem::new(e.class, location, e.message),
        }
    } else {
        Problem::new(e.class, location, e.message)
    }
}

fn register_contract_schemas(session: &SessionContext) -> Result<()> {
    for spec in crate::contract::TABLES {
        register_empty(session, spec.name, &spec.normalised_schema())?;
    }
    Ok(())
}

/// Register `previous_<name>`: the previous run's published copy of a table, read with
/// today's schema (columns it lacked read as null), or an empty table on the first run.
fn register_previous(
    session: &SessionContext,
    name: &str,
    schema: &SchemaRef,
    previous_dir: Option<&Path>,
) -> Result<()> {
    let alias = format!("previous_{name}");
    let file = previous_dir.map(|d| d.join(format!("{name}.parquet")));
    let Some(file) = file.filter(|f| f.is_file()) else {
        return register_empty(session, &alias, schema);
    };
    let stored = std::fs::File::open(&file)
        .map_err(|e| SiyuError::io(ErrorClass::Input, "cannot open", &file, e))
        .and_then(|f| {
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .map(|b| b.schema().clone())
                .map_err(|e| {
                    SiyuError::input(format!(
                        "{}: previous output unreadable: {e}",
                        file.display()
                    ))
                })
        })?;
    let df = session.read_table(input::parquet_table(
        std::slice::from_ref(&file),
        Arc::clone(&stored),
    )?)?;
    let exprs = schema
        .fields()
        .iter()
        .map(|f| {
            let e = match stored.field_with_name(f.name()) {
                Ok(p) if p.data_type() == f.data_type() => {
                    datafusion::logical_expr::ident(f.name())
                }
                Ok(_) => datafusion::logical_expr::cast(
                    datafusion::logical_expr::ident(f.name()),
                    f.data_type().clone(),
                ),
                Err(_) => datafusion::logical_expr::lit(datafusion::common::ScalarValue::try_from(
                    f.data_type(),
                )?),
            };
            Ok(e.alias(f.name()))
        })
        .collect::<Result<Vec<_>>>()?;
    session.deregister_table(&alias)?;
    session.register_table(&alias, df.select(exprs)?.into_view())?;
    Ok(())
}

fn register_empty(session: &SessionContext, name: &str, schema: &SchemaRef) -> Result<()> {
    session.deregister_table(name)?;
    session.register_table(
        name,
        Arc::new(MemTable::try_new(Arc::clone(schema), vec![vec![]])?),
    )?;
    Ok(())
}

/// `siyu check`: every problem, or `Ok` with the prepared job.
pub async fn check(job_path: &Path, opts: &Options) -> std::result::Result<Prepared, Vec<Problem>> {
    let job = Job::load(job_path).map_err(|e| vec![to_problem(e, job_path)])?;
    let session =
        crate::session::new_session(None, None).map_err(|e| vec![to_problem(e, job_path)])?;
    prepare(job, opts, session).await
}

/// One line of `siyu plan`.
#[derive(Debug, serde::Serialize)]
pub struct PlannedStep {
    pub order: usize,
    pub level: usize,
    pub name: String,
    pub kind: String,
    pub source: String,
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    pub published: Vec<String>,
}

pub fn planned_steps(p: &Prepared) -> Vec<PlannedStep> {
    let mut out = Vec::new();
    for (level, ids) in p.schedule.levels.iter().enumerate() {
        for &i in ids {
            let s = &p.steps[i];
            let writes = s.writes();
            out.push(PlannedStep {
                order: out.len() + 1,
                level: level + 1,
                name: s.name().to_string(),
                kind: s.kind().to_string(),
                source: s.source(),
                reads: s.reads(),
                published: writes
                    .iter()
                    .filter(|w| p.job.publish.contains(w))
                    .cloned()
                    .collect(),
                writes,
            });
        }
    }
    out
}

/// The staging sink: writes each table to parquet and makes it readable by later steps.
struct StagingSink {
    session: SessionContext,
    dir: PathBuf,
    work: PathBuf,
    publish: BTreeSet<String>,
    metadata: Vec<(String, String)>,
    written: Mutex<Vec<WrittenTable>>,
}

impl TableSink for StagingSink {
    fn write<'a>(&'a self, name: &'a str, df: DataFrame) -> BoxFuture<'a, Result<u64>> {
        async move {
            let published = self.publish.contains(name);
            let path = if published {
                self.dir.join(format!("{name}.parquet"))
            } else {
                self.work.join(format!("{name}.parquet"))
            };
            let mut pairs = self.metadata.clone();
            pairs.push(("siyu.table".into(), name.into()));
            let (rows, bytes, schema) =
                publish::write_parquet(df, &path, published, &FileMetadata { pairs }).await?;
            self.session.deregister_table(name)?;
            self.session.register_table(
                name,
                input::parquet_table(std::slice::from_ref(&path), Arc::clone(&schema))?,
            )?;
            self.written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(WrittenTable {
                    name: name.to_string(),
                    path,
                    rows,
                    bytes,
                    schema,
                    published,
                });
            crate::failpoint::hit("table_written");
            Ok(rows)
        }
        .boxed()
    }
}

/// What a successful run did.
pub struct RunSummary {
    pub published: PathBuf,
    pub tables: Vec<WrittenTable>,
}

/// `siyu run`: prepare, execute every step into staging, publish.
pub async fn run(job_path: &Path, opts: &Options, log_format: LogFormat) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = Utc::now();
    let run_id = format!(
        "{}-{}",
        started_at.format("%Y%m%dT%H%M%SZ"),
        std::process::id()
    );

    let job = Job::load(job_path)?;
    let job_dir = opts.out.join(&job.name);
    // Everything is written under --out: a symlinked job directory or run directory
    // could send outputs anywhere, so it is refused.
    for path in [
        job_dir.clone(),
        job_dir.join(format!("as_of={}", as_of_for(&job, opts))),
    ] {
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(SiyuError::publish(format!(
                "{} is a symbolic link; siyu writes only real directories under --out",
                path.display()
            )));
        }
    }
    let _lock = JobLock::acquire(&job_dir)?;
    for left in publish::remove_leftovers(&job_dir)? {
        warn!(path = %left.display(), "removed the staging directory of an earlier run that did not finish");
    }
    let staging = Staging::create(&job_dir, as_of_for(&job, opts), &run_id)?;

    let session =
        crate::session::new_session(opts.memory_limit, Some(&staging.work.join("spill")))?;
    let p = prepare(job, opts, session).await.map_err(SiyuError::from)?;
    info!(job = %p.job.name, as_of = %p.as_of, run_id = %run_id, steps = p.steps.len(), "run started");
    for input in &p.inputs {
        if input.is_absent() {
            warn!(
                table = input.spec.name,
                "optional input table is absent; it reads as empty"
            );
        }
        if !input.missing_columns.is_empty() {
            warn!(
                table = input.spec.name,
                columns = input.missing_columns.join(","),
                "optional columns are absent; they read as null"
            );
        }
    }

    let (file_hashes, input_fingerprint) = input::fingerprint(&p.inputs)?;
    let params_json: serde_json::Map<String, serde_json::Value> = p
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    let metadata = vec![
        ("siyu.job".to_string(), p.job.name.clone()),
        ("siyu.as_of".to_string(), p.as_of.to_string()),
        (
            "siyu.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "siyu.contract_version".to_string(),
            crate::contract::CONTRACT_VERSION.to_string(),
        ),
        (
            "siyu.input_fingerprint".to_string(),
            input_fingerprint.clone(),
        ),
        (
            "siyu.params".to_string(),
            serde_json::Value::Object(params_json.clone()).to_string(),
        ),
    ];
    let sink = Arc::new(StagingSink {
        session: p.session.clone(),
        dir: staging.dir.clone(),
        work: staging.work.clone(),
        publish: p.job.publish.iter().cloned().collect(),
        metadata,
        written: Mutex::new(Vec::new()),
    });
    let ctx = StepContext {
        session: p.session.clone(),
        job: Arc::clone(&p.job),
        params: p.params.clone(),
        as_of: p.as_of,
        sink: Some(sink.clone() as Arc<dyn TableSink>),
        details: Default::default(),
    };

    let progress = Progress::new(p.steps.len(), log_format);
    let mut step_reports = Vec::new();
    // Independent steps run together, except under a memory budget, which then goes to
    // one query at a time rather than being split thin between several.
    let concurrency = if opts.memory_limit.is_some() {
        1
    } else {
        usize::MAX
    };
    for level in &p.schedule.levels {
        let runs = level.iter().map(|&i| {
            let s = &p.steps[i];
            let ctx = &ctx;
            let progress = &progress;
            async move {
                progress.running(s.name());
                let t = Instant::now();
                crate::failpoint::hit(&format!("step_started:{}", s.name()));
                s.run(ctx)
                    .await
                    .map_err(|e| e.context(format!("step {} ({})", s.name(), s.source())))?;
                let seconds = t.elapsed().as_secs_f64();
                progress.step_done();
                Ok::<_, SiyuError>((i, seconds))
            }
        });
        let done: Vec<(usize, f64)> = futures::stream::iter(runs)
            .buffered(concurrency.min(level.len()))
            .try_collect()
            .await?;
        for (i, seconds) in done {
            let s = &p.steps[i];
            let written = sink
                .written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let rows: BTreeMap<String, u64> = written
                .iter()
                .filter(|w| s.writes().contains(&w.name))
                .map(|w| (w.name.clone(), w.rows))
                .collect();
            info!(step = s.name(), kind = s.kind(), seconds = format!("{seconds:.3}"), rows = ?rows, "step done");
            let details = ctx
                .details
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(s.name())
                .cloned();
            step_reports.push(json!({
                "details": details,
                "name": s.name(),
                "kind": s.kind(),
                "source": s.source(),
                "reads": s.reads(),
                "writes": s.writes(),
                "seconds": round3(seconds),
                "rows": rows,
            }));
        }
    }
    drop(progress);

    let tables = sink
        .written
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let outputs: Vec<_> = tables
        .iter()
        .filter(|t| t.published)
        .map(|t| {
            json!({
                "table": t.name,
                "file": t.path.file_name().map(|f| f.to_string_lossy().into_owned()),
                "rows": t.rows,
                "bytes": t.bytes,
                "schema": t.schema.fields().iter().map(|f| json!({
                    "name": f.name(),
                    "type": f.data_type().to_string(),
                    "nullable": f.is_nullable(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut k = 0;
    let inputs_json: Vec<_> = p
        .inputs
        .iter()
        .map(|i| {
            let files: Vec<_> = i
                .files
                .iter()
                .map(|f| {
                    k += 1;
                    json!({"path": f.path.display().to_string(), "bytes": f.bytes, "rows": f.rows, "sha256": file_hashes[k - 1]})
                })
                .collect();
            json!({
                "table": i.spec.name,
                "source": i.source.as_ref().map(|s| s.display().to_string()),
                "absent": i.is_absent(),
                "rows": i.rows(),
                "missing_columns": i.missing_columns,
                "files": files,
            })
        })
        .collect();
    let previous = p.previous.as_ref().map(|(d, _)| d.to_string());
    let manifest = json!({
        "job": p.job.name,
        "as_of": p.as_of.to_string(),
        "run_id": run_id,
        "siyu_version": env!("CARGO_PKG_VERSION"),
        "contract_version": crate::contract::CONTRACT_VERSION,
        "timezone": p.job.timezone.name(),
        "started_at": started_at.to_rfc3339(),
        "finished_at": Utc::now().to_rfc3339(),
        "seconds": round3(started.elapsed().as_secs_f64()),
        "previous_run": previous,
        "input_fingerprint": input_fingerprint,
        "inputs": inputs_json,
        "params": params_json,
        "steps": step_reports,
        "outputs": outputs,
    });
    let published = staging.publish(&manifest)?;
    info!(path = %published.display(), seconds = format!("{:.3}", started.elapsed().as_secs_f64()), "published");
    Ok(RunSummary {
        published,
        tables: tables.into_iter().filter(|t| t.published).collect(),
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
