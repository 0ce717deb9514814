//! `siyu explain`: what DataFusion makes of one SQL job file, for the people who write
//! them. The step's SQL after parameter substitution, its logical and physical plans
//! and, with `--analyze`, the executed plan with every operator's rows, time, memory and
//! spill (EXPLAIN ANALYZE) on the job's real inputs: the steps it depends on run first,
//! into a scratch directory that is removed afterwards. Nothing is published.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};

use super::sink::StagingSink;
use super::{Options, Prepared, prepare};
use crate::error::{Result, SiyuError};
use crate::job::Job;
use crate::step::Registry;

/// The report `siyu explain` prints for step `name` of the job at `job_path`.
pub async fn explain(job_path: &Path, name: &str, opts: &Options, analyze: bool) -> Result<String> {
    let job = Job::load(job_path)?;
    let engine = super::engine_for(&job, opts)?;
    crate::session::reach_scheduler(&engine).await?;
    // On a cluster the executors read the dependencies it writes: the scratch directory
    // is then under --out (which must be shared), not in this machine's temp directory.
    let mut scratch = tempfile::Builder::new();
    scratch.prefix(".siyu-explain-");
    let scratch = if engine.is_remote() {
        std::fs::create_dir_all(&opts.out).map_err(|e| {
            SiyuError::io(
                crate::error::ErrorClass::Runtime,
                "cannot create",
                &opts.out,
                e,
            )
        })?;
        scratch.tempdir_in(&opts.out)
    } else {
        scratch.tempdir()
    }
    .map_err(|e| SiyuError::runtime(format!("cannot create a scratch directory: {e}")))?;
    let session = crate::session::new_session(
        opts.memory_limit,
        Some(&scratch.path().join("spill")),
        &engine,
        opts.partitions,
    )
    .await?;
    let p = prepare(job, opts, session, engine, &Registry::builtin())
        .await
        .map_err(SiyuError::many)?;
    let Some(target) = p.steps.iter().position(|s| s.name() == name) else {
        let sql: Vec<&str> = p
            .steps
            .iter()
            .filter(|s| s.sql().is_some())
            .map(|s| s.name())
            .collect();
        return Err(SiyuError::config(format!(
            "the job has no step {name}; its SQL steps are: {}",
            sql.join(", ")
        ))
        .in_step(name));
    };
    let step = &p.steps[target];
    let Some(sql) = step.sql() else {
        return Err(SiyuError::config(format!(
            "step {name} is a {} step, not a SQL job file: explain shows SQL steps",
            step.kind
        ))
        .in_step(name));
    };

    let mut out = String::new();
    let _ = writeln!(
        out,
        "-- {name}: {} (as of {}, params substituted)\n{:#}\n",
        sql.query.source.path.display(),
        p.ctx.as_of,
        pretty(&sql.query.statement)
    );
    if analyze {
        run_dependencies(&p, target, scratch.path()).await?;
    }
    let mut df = sql.dataframe(&p.ctx).await.map_err(|e| e.in_step(name))?;
    if let Some(table) = step
        .writes()
        .into_iter()
        .find(|t| p.job().publish.contains(t))
    {
        // A run sorts a published table as it writes it: that sort is part of its cost.
        let order = crate::publish::RowOrder::published(p.job().publish_keys.get(&table).cloned());
        let keys = order.sort_exprs(df.schema().as_arrow());
        if !keys.is_empty() {
            out.push_str("-- published: the plan includes the sort it is written in\n");
            df = df.sort(keys)?;
        }
    }
    out.push_str(&explained(df.clone().explain(false, false)?).await?);
    if analyze {
        out.push_str("\n-- executed on the job's inputs (EXPLAIN ANALYZE)\n");
        out.push_str(&explained(df.explain(false, true)?).await?);
    }
    Ok(out)
}

/// Run, in schedule order, every step whose tables step `target` needs (directly or
/// through other steps), writing into `scratch`.
async fn run_dependencies(p: &Prepared, target: usize, scratch: &Path) -> Result<()> {
    // What the target reads, and, walking back, what those steps read. (A `previous_*`
    // table is last night's, already registered: it needs no step.)
    let mut needed: BTreeSet<String> = p.steps[target].reads().into_iter().collect();
    let mut run = BTreeSet::new();
    let order: Vec<usize> = p.schedule.order().collect();
    for &i in order.iter().rev() {
        let s = &p.steps[i];
        let feeds = s
            .writes()
            .iter()
            .chain(&s.replaces())
            .any(|t| needed.contains(t));
        if i != target && feeds {
            needed.extend(s.reads());
            run.insert(i);
        }
    }
    for dir in ["tables", "work"] {
        std::fs::create_dir_all(scratch.join(dir)).map_err(|e| {
            SiyuError::io(
                crate::error::ErrorClass::Runtime,
                "cannot create",
                &scratch.join(dir),
                e,
            )
        })?;
    }
    let sink = Arc::new(StagingSink::new(
        p.ctx.session.clone(),
        scratch.join("tables"),
        scratch.join("work"),
        // As in a run: published tables are written sorted and read back as such.
        p.job().publish.iter().cloned().collect(),
        p.job().publish_keys.clone(),
        Vec::new(),
    ));
    p.ctx.attach_sink(sink)?;
    for i in order {
        if run.contains(&i) {
            let s = &p.steps[i];
            tracing::info!(step = s.name(), "running a step the explained one reads");
            s.run(&p.ctx)
                .await
                .map_err(|e| e.in_step(s.name()).at(s.source.clone()))?;
        }
    }
    Ok(())
}

/// The statement one clause a line (sqlparser's alternate format).
fn pretty(statement: &datafusion::sql::parser::Statement) -> String {
    match statement {
        datafusion::sql::parser::Statement::Statement(s) => format!("{s:#}"),
        other => other.to_string(),
    }
}

/// The rows of an EXPLAIN: each plan under its type.
async fn explained(df: datafusion::prelude::DataFrame) -> Result<String> {
    let mut out = String::new();
    for b in df.collect().await? {
        let (kind, plan) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for r in 0..b.num_rows() {
            if !plan.is_null(r) {
                let _ = writeln!(out, "-- {}\n{}", kind.value(r), plan.value(r).trim_end());
            }
        }
    }
    Ok(out)
}
