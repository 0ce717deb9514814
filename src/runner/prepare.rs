//! Preparing a job: everything `check`, `plan` and `run` share, up to a planned
//! schedule. Every problem on the way is collected, so one `check` reports SQL and data
//! problems together; a job with problems is never run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::empty::EmptyTable;
use datafusion::prelude::SessionContext;

use super::Options;
use crate::dag::{self, Node, Schedule};
use crate::engine::Engine;
use crate::error::{ErrorClass, Location, Problem, Result, SiyuError};
use crate::input::{self, Input, Sources};
use crate::job::Job;
use crate::step::{self, JobStep, Registry, StepContext};

/// A job ready to run: every problem `check` looks for is absent.
pub struct Prepared {
    pub steps: Vec<JobStep>,
    pub schedule: Schedule,
    /// Output schema of every table a step writes.
    pub schemas: BTreeMap<String, SchemaRef>,
    /// What every step sees; the one context of the job, built here.
    pub ctx: StepContext,
    /// The latest complete output of this job before `as_of`, if any.
    pub previous: Option<(NaiveDate, PathBuf)>,
}

impl Prepared {
    pub fn job(&self) -> &Job {
        &self.ctx.job
    }
    pub fn inputs(&self) -> &[Input] {
        &self.ctx.inputs
    }
}

/// The run date: `--as-of`, else today in the job's timezone.
pub fn as_of_for(job: &Job, opts: &Options) -> NaiveDate {
    opts.as_of
        .unwrap_or_else(|| Utc::now().with_timezone(&job.timezone).date_naive())
}

/// Prepare a job with the steps of `registry`, collecting every problem.
pub async fn prepare(
    job: Job,
    opts: &Options,
    session: SessionContext,
    engine: Engine,
    registry: &Registry,
) -> std::result::Result<Prepared, Vec<Problem>> {
    let job = Arc::new(job);
    let job_file = job.path.display().to_string();
    let as_of = as_of_for(&job, opts);
    let params = job
        .resolve_params(&opts.params, as_of)
        .map_err(|e| vec![e.in_file(&job_file)])?;
    let mut problems = Vec::new();

    let inputs = match Sources::merge(&job.inputs, opts.input_dir.as_deref(), &opts.inputs)
        .map_err(|e| vec![e])
        .and_then(|s| input::discover(&s))
    {
        Ok(inputs) => Some(inputs),
        Err(mut p) => {
            problems.append(&mut p);
            None
        }
    };

    if let Some(inputs) = &inputs {
        problems.extend(unshared_paths(&engine, inputs, &opts.out));
    }

    let (sources, mut p) = crate::sql::load_dirs(&job.sql_dirs);
    problems.append(&mut p);
    let (mut steps, mut p) = registry.build(&job);
    problems.append(&mut p);
    for source in &sources {
        match crate::sql::prepare(source, &params) {
            Ok(query) => steps.push(JobStep {
                kind: step::sql::KIND,
                source: Location::file(source.path.display()),
                step: Box::new(step::sql::SqlStep { query }),
            }),
            Err(mut p) => problems.append(&mut p),
        }
    }

    let previous = crate::publish::previous_run(&opts.out.join(&job.name), as_of);
    if !job.tests.checks.is_empty() || !job.test_dirs.is_empty() {
        match crate::datatest::build(&job.tests, &job.path, &job.test_dirs, &params) {
            Ok(tests) => {
                // A test reading a table nothing provides is named here, at the test,
                // rather than as an unknown table of the schedule.
                let written: BTreeSet<String> = steps.iter().flat_map(|s| s.writes()).collect();
                let known = |t: &str| {
                    crate::contract::table(t).is_some()
                        || written.contains(t)
                        || t.strip_prefix("previous_")
                            .is_some_and(|b| job.publish.iter().any(|p| p == b))
                };
                let mut unknown = Vec::new();
                for t in &tests {
                    for r in t.reads().into_iter().filter(|r| !known(r)) {
                        let hint = match r.strip_prefix("previous_") {
                            Some(b) => format!(
                                " (previous_{b} exists for a table in [publish] tables only)"
                            ),
                            None => String::new(),
                        };
                        unknown.push(
                            SiyuError::config(format!(
                                "data test {} reads {r}, which is neither an input nor written by any step{hint}",
                                t.name
                            ))
                            .in_file(&t.source)
                            .in_table(r.as_str()),
                        );
                    }
                }
                if unknown.is_empty() {
                    steps.push(JobStep {
                        kind: step::tests::KIND,
                        source: Location::file(&job_file),
                        step: Box::new(step::tests::TestsStep {
                            tests,
                            previous_dir: previous.as_ref().map(|(_, d)| d.clone()),
                        }),
                    });
                }
                problems.append(&mut unknown);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }

    let input_names: BTreeSet<String> = crate::contract::TABLES
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    let nodes: Vec<Node> = steps
        .iter()
        .map(|s| Node {
            name: s.name().to_string(),
            source: s.source.clone(),
            reads: s.reads(),
            writes: s.writes(),
            replaces: s.replaces(),
        })
        .collect();
    let aliases: BTreeMap<String, String> = job
        .publish
        .iter()
        .map(|t| (format!("previous_{t}"), t.clone()))
        .collect();
    let schedule = match dag::schedule(&nodes, &input_names, &aliases) {
        Ok(s) => Some(s),
        Err(mut p) => {
            problems.append(&mut p);
            None
        }
    };

    let registered = match &inputs {
        Some(inputs) => input::register(&session, inputs, job.timezone.name()),
        None => register_contract_schemas(&session),
    };
    let ctx = StepContext::new(
        session.clone(),
        Arc::clone(&job),
        params,
        as_of,
        Arc::new(inputs.clone().unwrap_or_default()),
    )
    .on_engine(engine);

    // Plan every step against its inputs' schemas, even when inputs had problems (their
    // contract schemas stand in), so one `check` reports SQL and data problems together.
    let mut schemas = BTreeMap::new();
    if let Some(schedule) = &schedule {
        if let Err(e) = registered {
            problems.push(e);
        } else {
            let dir = previous.as_ref().map(|(_, d)| d.as_path());
            problems.extend(plan_steps(&ctx, &steps, schedule, dir, &mut schemas).await);
        }
    }

    for table in &job.publish {
        match schemas.get(table) {
            None if nodes.iter().any(|n| n.writes.contains(table)) => {}
            None => problems.push(
                SiyuError::config(format!(
                    "[publish] table {table} is not written by any step"
                ))
                .in_file(&job_file)
                .in_table(table),
            ),
            Some(schema) => problems.extend(super::check::published_schema(
                table,
                schema,
                &nodes,
                &job.personal_columns,
                job.publish_keys.get(table).map(Vec::as_slice),
            )),
        }
    }

    match (inputs, schedule, problems.is_empty()) {
        (Some(_), Some(schedule), true) => Ok(Prepared {
            steps,
            schedule,
            schemas,
            ctx,
            previous,
        }),
        _ => Err(problems),
    }
}

/// Plan the steps in schedule order, registering each output's schema (and the previous
/// night's copy of each published one) for the steps after it. A step that reads a table
/// with problems is not planned.
async fn plan_steps(
    ctx: &StepContext,
    steps: &[JobStep],
    schedule: &Schedule,
    previous_dir: Option<&Path>,
    schemas: &mut BTreeMap<String, SchemaRef>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for i in schedule.order() {
        let s = &steps[i];
        if let Some(t) = s.reads().iter().find(|t| failed.contains(*t)) {
            failed.extend(s.writes());
            problems.push(
                SiyuError::config(format!("not checked: it reads {t}, which has problems"))
                    .at(s.source.clone())
                    .in_step(s.name()),
            );
            continue;
        }
        match s.plan(ctx).await {
            Ok(outputs) => {
                for (name, schema) in outputs {
                    let mut registered = register_empty(&ctx.session, &name, &schema);
                    if registered.is_ok() && ctx.job.publish.contains(&name) {
                        registered = register_previous(&ctx.session, &name, &schema, previous_dir);
                    }
                    if let Err(e) = registered {
                        problems.push(e.in_step(s.name()));
                    }
                    schemas.insert(name, schema);
                }
            }
            Err(e) => {
                failed.extend(s.writes());
                problems.push(e.at(s.source.clone()));
            }
        }
    }
    problems
}

/// On a cluster, every path executors read (the inputs, and `--out`: staging, the
/// intermediate tables and the previous night) must be one they see where the client
/// does; one problem per input table and one for `--out`.
fn unshared_paths(engine: &Engine, inputs: &[Input], out: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    for input in inputs {
        // The path as given, when relative: the client resolved it against its own
        // working directory, which no executor shares.
        let given = input.source.as_deref();
        let why = given
            .and_then(|g| engine.not_shared(g))
            .or_else(|| input.files.iter().find_map(|f| engine.not_shared(&f.path)));
        if let Some(why) = why {
            let shown = given.map_or_else(|| "its files".to_string(), |g| g.display().to_string());
            problems.push(
                SiyuError::config(format!(
                    "input {}: {shown} {why} [engine: {}]",
                    input.spec.name,
                    engine.name()
                ))
                .in_table(input.spec.name),
            );
        }
    }
    if let Some(why) = engine.not_shared(out) {
        problems.push(SiyuError::config(format!(
            "--out {} {why}: executors write and read staging there [engine: {}]",
            out.display(),
            engine.name()
        )));
    }
    problems
}

fn register_contract_schemas(session: &SessionContext) -> Result<()> {
    for spec in crate::contract::TABLES {
        register_empty(session, spec.name, &spec.normalised_schema())?;
    }
    Ok(())
}

/// Register `previous_<name>`: the previous run's published copy of a table, read with
/// today's schema (columns it lacked read as null), or an empty table on the first run.
pub(crate) fn register_previous(
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
                    SiyuError::input(format!("previous output unreadable: {e}"))
                        .in_file(file.display())
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
    session.register_table(name, Arc::new(EmptyTable::new(Arc::clone(schema))))?;
    Ok(())
}
