//! A new step kind needs no runner change: a kind registered only in the step registry
//! (here, by this test) is declared in a job file, planned, scheduled after the data
//! quality step that cleans what it reads, run, and published like every other step.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use futures::FutureExt;
use futures::future::BoxFuture;
use siyu::error::{Location, Problem, Result, SiyuError};
use siyu::logging::LogFormat;
use siyu::runner::{self, Options};
use siyu::step::{Registry, Step, StepContext, StepKind};

use crate::common::*;

/// Counts the rows of a table; the table to count is its one parameter.
struct CountRows {
    table: String,
}

fn build(params: &toml::Table, _at: &Location) -> std::result::Result<Box<dyn Step>, Problem> {
    let table = params
        .get("table")
        .and_then(|v| v.as_str())
        .ok_or_else(|| SiyuError::config("count_rows step: give `table`"))?;
    Ok(Box::new(CountRows {
        table: table.to_string(),
    }))
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("rows", DataType::Int64, false),
        siyu::columns::as_of_field(),
    ]))
}

impl Step for CountRows {
    fn name(&self) -> &str {
        "row_count"
    }
    fn reads(&self) -> Vec<String> {
        vec![self.table.clone()]
    }
    fn writes(&self) -> Vec<String> {
        vec!["row_count".into()]
    }
    fn plan<'a>(
        &'a self,
        _ctx: &'a StepContext,
    ) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move { Ok(vec![("row_count".to_string(), schema())]) }.boxed()
    }
    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let rows = ctx.table(&self.table).await?.count().await? as i64;
            let batch = RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(Int64Array::from(vec![rows])),
                    siyu::columns::as_of_column(ctx.as_of_date32(), 1),
                ],
            )
            .map_err(|e| SiyuError::runtime(e.to_string()))?;
            ctx.write("row_count", ctx.session.read_batch(batch)?)
                .await?;
            Ok(())
        }
        .boxed()
    }
}

#[test]
fn a_step_kind_registered_only_in_the_registry_runs_in_a_job() {
    let dir = tempfile::tempdir().unwrap();
    tiny_export(dir.path());
    let job = tiny_job(dir.path(), None);
    let text = std::fs::read_to_string(&job).unwrap().replace(
        "tables = [\"member_features\"]",
        "tables = [\"member_features\", \"row_count\"]",
    ) + "\n[[steps]]\ntype = \"count_rows\"\ntable = \"orders\"\n";
    std::fs::write(&job, text).unwrap();

    // The siyu binary does not know the kind.
    let o = siyu(
        &["check", job.to_str().unwrap(), "--as-of", "2026-02-01"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", crate::common::text(&o));
    assert!(crate::common::text(&o).contains("unknown step type \"count_rows\""));

    let registry = Registry::builtin().register(StepKind {
        name: "count_rows",
        implicit: false,
        build,
    });
    let opts = Options {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 2, 1),
        out: dir.path().join("out"),
        ..Options::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let prepared = rt
        .block_on(runner::check_with(&registry, &job, &opts))
        .unwrap_or_else(|p| panic!("{p:?}"));
    let plan = runner::plan(&prepared);
    let count = plan.steps.iter().find(|s| s.name == "row_count").unwrap();
    let quality = plan
        .steps
        .iter()
        .find(|s| s.name == "data_quality")
        .unwrap();
    assert_eq!(count.kind, "count_rows");
    assert!(count.level > quality.level, "{plan:#?}");
    drop(prepared);

    let summary = rt
        .block_on(runner::run_with(&registry, &job, &opts, LogFormat::Text))
        .unwrap();
    let batch = read_table(&summary.published.join("row_count.parquet"));
    // The tiny export has 3 orders; none is removed by the data quality checks.
    assert_eq!(batch.column(0).as_primitive::<Int64Type>().value(0), 3);
}
