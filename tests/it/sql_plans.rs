//! What DataFusion makes of the shipped SQL job files: every operator that holds rows
//! must be accounted in the memory pool, so `--memory-limit` caps it.

use datafusion::physical_plan::displayable;
use siyu::runner::{self, Options};

use crate::common::repo;

/// `WindowAggExec` (an unbounded window frame: `COUNT(*) OVER ()`, `AVG(x) OVER
/// (PARTITION BY …)`, …) buffers its whole input outside the memory pool. Ranking windows
/// (`ROW_NUMBER`, `RANK`, `LAG` over a sorted input) run as `BoundedWindowAggExec`,
/// whose sort spills. Planned against the job's real schemas, as `siyu check` does.
#[test]
fn no_shipped_sql_file_buffers_a_window_outside_the_pool() {
    let opts = Options {
        as_of: chrono::NaiveDate::from_ymd_opt(2026, 11, 1),
        out: repo().join("target/no-such-out"),
        ..Options::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let prepared = rt
        .block_on(runner::check(&repo().join("jobs/nightly.toml"), &opts))
        .unwrap_or_else(|p| panic!("{p:?}"));
    let mut planned = 0;
    let mut unbounded = Vec::new();
    for step in &prepared.steps {
        let Some(sql) = step.sql() else { continue };
        let plan = rt
            .block_on(async {
                let df = sql.dataframe(&prepared.ctx).await?;
                Ok::<_, siyu::error::SiyuError>(df.create_physical_plan().await?)
            })
            .unwrap_or_else(|e| panic!("{}: {e}", step.name()));
        planned += 1;
        let text = displayable(plan.as_ref()).indent(false).to_string();
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("WindowAggExec"))
        {
            unbounded.push(format!("{} ({})", step.name(), step.source.describe()));
        }
    }
    assert!(planned >= 30, "only {planned} SQL steps planned");
    assert!(
        unbounded.is_empty(),
        "SQL steps with an unbounded window (WindowAggExec), see docs/sql.md: {unbounded:?}"
    );
}
