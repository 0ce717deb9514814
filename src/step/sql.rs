//! The SQL step: plans a SQL job file with DataFusion and writes its result.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::DataFrame;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{Step, StepContext};
use crate::error::{Location, Result, SiyuError};
use crate::sql::SqlQuery;

/// The kind of every SQL job file's step.
pub const KIND: &str = "sql";

pub struct SqlStep {
    pub query: SqlQuery,
}

impl SqlStep {
    /// Plan the query against the tables registered in the session. Only read-only
    /// queries get through; DataFusion itself verifies that the plan has no DDL, DML or
    /// statement nodes, as a second guard behind the parser check.
    pub async fn dataframe(&self, ctx: &StepContext) -> Result<DataFrame> {
        let state = ctx.session.state();
        let plan = state
            .statement_to_plan(self.query.statement.clone())
            .await
            .map_err(|e| self.plan_error(&e))?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| SiyuError::config(e.to_string()).at(self.file()))?;
        Ok(DataFrame::new(state, plan))
    }

    /// Type-check and physically plan the query without executing it, so `check`
    /// catches what DataFusion only finds after parsing (type coercion, functions).
    async fn checked_dataframe(&self, ctx: &StepContext) -> Result<DataFrame> {
        let df = self.dataframe(ctx).await?;
        df.clone()
            .create_physical_plan()
            .await
            .map_err(|e| self.plan_error(&e))?;
        Ok(df)
    }

    fn file(&self) -> Location {
        Location::file(self.query.source.path.display())
    }

    /// A planning error, at the SQL position when DataFusion knows it.
    fn plan_error(&self, err: &datafusion::error::DataFusionError) -> SiyuError {
        let mut at = self.file();
        if let Some(span) = err.diagnostic().and_then(|d| d.span) {
            at = at.at(span.start.line, span.start.column);
        }
        SiyuError::config(err.message().to_string()).at(at)
    }
}

impl Step for SqlStep {
    fn name(&self) -> &str {
        &self.query.source.name
    }
    fn reads(&self) -> Vec<String> {
        self.query.reads.clone()
    }
    fn writes(&self) -> Vec<String> {
        vec![self.query.source.name.clone()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let df = self.checked_dataframe(ctx).await?;
            Ok(vec![(
                self.query.source.name.clone(),
                SchemaRef::new(df.schema().as_arrow().clone()),
            )])
        }
        .boxed()
    }

    fn sql(&self) -> Option<&SqlStep> {
        Some(self)
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let df = self.dataframe(ctx).await?;
            ctx.write(&self.query.source.name, df).await?;
            Ok(())
        }
        .boxed()
    }
}
