//! The data tests step: the job's `[tests]` (`crate::datatest`) run on the staged
//! tables once every table they read is written — the last thing before a night is
//! published. It writes `data_tests` (one row per test), puts every outcome in the
//! manifest and every warning in the run's warnings; a test with status `error` fails the
//! run (exit 6) and nothing is published.
//!
//! Not in the registry: it is built from the job's `[tests]` section, which needs the
//! job file's directory and the night's params, by `runner::prepare`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use datafusion::arrow::datatypes::SchemaRef;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Step, StepContext};
use crate::datatest::{self, DataTest};
use crate::error::Result;
use crate::manifest::{DataTestsDetails, StepDetails, Warning};

/// The kind the run record names the step by.
pub const KIND: &str = "tests";

pub struct TestsStep {
    pub tests: Vec<DataTest>,
    /// The previous night's directory, for `row_count_change`.
    pub previous_dir: Option<PathBuf>,
}

impl TestsStep {
    fn previous_has(&self) -> impl Fn(&str) -> bool + '_ {
        |table: &str| {
            self.previous_dir
                .as_ref()
                .is_some_and(|d| d.join(format!("{table}.parquet")).is_file())
        }
    }
}

impl Step for TestsStep {
    fn name(&self) -> &str {
        datatest::OUTPUT
    }

    fn reads(&self) -> Vec<String> {
        let reads: BTreeSet<String> = self.tests.iter().flat_map(DataTest::reads).collect();
        reads.into_iter().collect()
    }

    fn writes(&self) -> Vec<String> {
        vec![datatest::OUTPUT.to_string()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            for t in &self.tests {
                t.check(&ctx.session).await?;
            }
            Ok(vec![(
                datatest::OUTPUT.to_string(),
                crate::outputs::data_tests(),
            )])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let previous_has = self.previous_has();
            let records = datatest::run_all(&ctx.session, &self.tests, &previous_has).await?;
            for r in records.iter().filter(|r| r.status == "warn") {
                ctx.warn(Warning {
                    step: Some(datatest::OUTPUT.to_string()),
                    table: r.table.clone(),
                    ..Warning::new(format!(
                        "data test {} warns: {} (warn_if {})",
                        r.test, r.message, r.warn_if
                    ))
                });
            }
            ctx.detail(
                datatest::OUTPUT,
                StepDetails::DataTests(DataTestsDetails {
                    tests: records.clone(),
                }),
            );
            if let Some(e) = datatest::failure(&records) {
                return Err(e);
            }
            ctx.write_batch(datatest::OUTPUT, datatest::table(&records, ctx.as_of)?)
                .await?;
            Ok(())
        }
        .boxed()
    }
}
