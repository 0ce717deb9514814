//! The morning report: `report.html`, one self-contained page (inline CSS and SVG, no
//! script, no font or image from anywhere; a Content-Security-Policy that forbids any
//! request) written into every night with its tables, and rebuilt from published nights
//! by `siyu report`. Every section reads published tables by name and says so when a job
//! does not publish one, so new tables slot in (the trends list every published table).
//! See docs/report.md.

pub mod svg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::error::{ErrorClass, Result, SiyuError};
use crate::manifest::Manifest;
use svg::num;

/// The report's file name in a night's directory.
pub const FILE: &str = "report.html";
/// Nights in the trends by default.
pub const DEFAULT_NIGHTS: usize = 30;
/// A trend is flagged when tonight's value is further than this share from the median
/// of the nights before it (up to 7).
pub const TREND_THRESHOLD: f64 = 0.2;

/// A cell read from a table: a number, text, or null.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    N(f64),
    T(String),
}

impl V {
    fn n(&self) -> f64 {
        match self {
            V::N(x) => *x,
            _ => 0.0,
        }
    }
    fn t(&self) -> String {
        match self {
            V::T(s) => s.clone(),
            V::N(x) => num(*x, 0),
            V::Null => "—".into(),
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, V::Null)
    }
}

/// The tables of one night's directory, queried with SQL (each registered when present).
struct Night {
    ctx: SessionContext,
    dir: PathBuf,
}

impl Night {
    fn new(dir: &Path) -> Night {
        Night {
            ctx: SessionContext::new(),
            dir: dir.to_path_buf(),
        }
    }

    /// Whether the night has the table.
    fn has(&self, table: &str) -> bool {
        self.dir.join(format!("{table}.parquet")).is_file()
    }

    /// Rows of `sql` over `tables` (each registered from the night's files); `None`
    /// when a table is not there.
    async fn rows(&self, tables: &[&str], sql: &str) -> Result<Option<Vec<Vec<V>>>> {
        for t in tables {
            if !self.has(t) {
                return Ok(None);
            }
            if !self.ctx.table_exist(*t)? {
                let path = self.dir.join(format!("{t}.parquet"));
                self.ctx
                    .register_parquet(
                        *t,
                        path.to_string_lossy().as_ref(),
                        ParquetReadOptions::default(),
                    )
                    .await?;
            }
        }
        let batches = self.ctx.sql(sql).await?.collect().await?;
        Ok(Some(to_rows(&batches)?))
    }
}

fn to_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<V>>> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<(bool, datafusion::arrow::array::ArrayRef)> = b
            .columns()
            .iter()
            .map(|c| {
                let numeric = c.data_type().is_numeric();
                let to = if numeric {
                    DataType::Float64
                } else {
                    DataType::Utf8
                };
                cast(c, &to).map(|a| (numeric, a))
            })
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| SiyuError::runtime(format!("report: {e}")))?;
        for r in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|(numeric, a)| {
                        if a.is_null(r) {
                            V::Null
                        } else if *numeric {
                            V::N(a.as_primitive::<Float64Type>().value(r))
                        } else {
                            V::T(a.as_string::<i32>().value(r).to_string())
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// A published night before tonight, for the trends.
pub struct PastNight {
    pub as_of: NaiveDate,
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// Read a night's `_manifest.json`.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("_manifest.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| SiyuError::io(ErrorClass::Input, "cannot read the manifest", &path, e))?;
    serde_json::from_str(&text)
        .map_err(|e| SiyuError::input(format!("not a siyu manifest: {e}")).in_file(path.display()))
}

/// The complete nights of `job_dir` before `as_of`, newest last, at most `n`.
pub fn past_nights(job_dir: &Path, as_of: NaiveDate, n: usize) -> Vec<PastNight> {
    let mut past: Vec<PastNight> = crate::publish::complete_nights(job_dir)
        .into_iter()
        .filter(|(d, _)| *d < as_of)
        .take(n)
        .filter_map(|(d, dir)| {
            read_manifest(&dir).ok().map(|manifest| PastNight {
                as_of: d,
                dir,
                manifest,
            })
        })
        .collect();
    past.reverse();
    past
}

/// Write `report.html` into a run's staging directory (its tables are there), with the
/// job's earlier nights for the trends.
pub async fn write_for_run(staging: &Path, manifest: &Manifest, job_dir: &Path) -> Result<()> {
    let past = past_nights(job_dir, manifest.as_of, DEFAULT_NIGHTS - 1);
    let html = render(staging, manifest, &past).await?;
    let path = staging.join(FILE);
    std::fs::write(&path, html)
        .map_err(|e| SiyuError::io(ErrorClass::Publish, "cannot write the report", &path, e))
}

/// `siyu report OUT/JOB [--as-of DATE] [--nights N]`: rebuild a published night's report
/// from published outputs alone (written beside and renamed into place). Returns its path.
pub async fn rebuild(job_dir: &Path, as_of: Option<NaiveDate>, nights: usize) -> Result<PathBuf> {
    let complete = crate::publish::complete_nights(job_dir);
    let (date, dir) = match as_of {
        Some(d) => complete.into_iter().find(|(n, _)| *n == d).ok_or_else(|| {
            SiyuError::input(format!(
                "no complete night as_of={d} (a directory with _SUCCESS) in {}",
                job_dir.display()
            ))
        })?,
        None => complete.into_iter().next().ok_or_else(|| {
            SiyuError::input(format!(
                "no complete night (a directory as_of=… with _SUCCESS) in {}",
                job_dir.display()
            ))
        })?,
    };
    let manifest = read_manifest(&dir)?;
    let past = past_nights(job_dir, date, nights.max(1) - 1);
    let html = render(&dir, &manifest, &past).await?;
    let tmp = dir.join(format!(".{FILE}.tmp"));
    let path = dir.join(FILE);
    std::fs::write(&tmp, html)
        .map_err(|e| SiyuError::io(ErrorClass::Publish, "cannot write the report", &tmp, e))?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| SiyuError::io(ErrorClass::Publish, "cannot replace the report", &path, e))?;
    Ok(path)
}

const CSS: &str = r#"
:root { --ink:#1d2733; --muted:#5b6b7b; --line:#d8dee6; --bar:#3d7ab8; --up:#3a9a5b; --down:#c8553d; --bg:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.5 "PingFang SC","Noto Sans CJK SC","Microsoft YaHei",system-ui,sans-serif; color:var(--ink); background:var(--bg); }
header { background:#1f3a5a; color:#fff; padding:16px 20px; }
header h1 { margin:0; font-size:22px; } header p { margin:4px 0 0; color:#cfe0f1; }
nav { display:flex; flex-wrap:wrap; gap:6px 14px; padding:8px 20px; background:#fff; border-bottom:1px solid var(--line); position:sticky; top:0; }
nav a { color:#1f3a5a; text-decoration:none; font-size:14px; }
main { max-width:1100px; margin:0 auto; padding:12px 16px 40px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin:14px 0; }
h2 { margin:0 0 10px; font-size:19px; } h3 { margin:16px 0 6px; font-size:16px; color:#27425f; }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr)); gap:12px 20px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 10px; }
.card b { display:block; font-size:20px; } .card span { color:var(--muted); font-size:13px; }
.scroll { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:4px 6px; border-bottom:1px solid var(--line); text-align:right; white-space:nowrap; }
th:first-child, td:first-child { text-align:left; }
th { color:var(--muted); font-weight:600; }
.chart { width:100%; height:auto; max-width:760px; display:block; } .chart.bars { max-width:560px; }
.chart text { font-size:12px; fill:var(--ink); } .chart .small { font-size:10px; fill:var(--muted); }
.chart .bar { fill:var(--bar); } .chart .up { fill:var(--up); } .chart .down { fill:var(--down); }
.chart .axis { stroke:#9aa7b4; stroke-width:1; }
.chart .ci { stroke:#1f3a5a; stroke-width:2; fill:#1f3a5a; } .chart .thin { stroke:#a9b4bf; fill:#a9b4bf; }
.spark { width:120px; height:24px; } .spark .line { fill:none; stroke:var(--bar); stroke-width:1.5; }
.spark .dot { fill:var(--bar); } .spark .flag { fill:var(--down); }
.flagged { color:var(--down); font-weight:600; }
.muted { color:var(--muted); } .warn { color:#8a5300; }
ul.warnings li { margin:2px 0; }
tr.status-warn td:first-child { color:#b45309; font-weight:bold; }
@media (max-width:600px) { body { font-size:14px; } main { padding:8px; } section { padding:10px; } }
"#;

/// Render a night's report.
pub async fn render(dir: &Path, manifest: &Manifest, past: &[PastNight]) -> Result<String> {
    let night = Night::new(dir);
    let sections = vec![
        ("run", "运行 Run", run_section(&night, manifest).await?),
        ("members", "会员 Members", members_section(&night).await?),
        (
            "diagnosis",
            "数人头 Revenue diagnosis",
            diagnosis_section(&night).await?,
        ),
        ("segments", "分群 Segments", segments_section(&night).await?),
        ("baskets", "购物篮 Baskets", baskets_section(&night).await?),
        ("outreach", "触达 Outreach", outreach_section(&night).await?),
        (
            "trends",
            "趋势 Trends",
            trends_section(&night, manifest, past).await?,
        ),
    ];
    let page = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                title { "siyu 私域 · " (manifest.job) " · " (manifest.as_of) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "私域晨报 Morning report · " (manifest.job) }
                    p { "数据日期 as of " (manifest.as_of) " · siyu " (manifest.siyu_version)
                        " · " (num(manifest.seconds, 1)) " s · " (manifest.engine) }
                }
                nav { @for (id, title, _) in &sections { a href={"#" (id)} { (title) } } }
                main {
                    @for (id, title, body) in &sections {
                        section id=(id) { h2 { (title) } (body) }
                    }
                }
            }
        }
    };
    Ok(page.into_string())
}

fn missing(table: &str) -> Markup {
    html! { p.muted { "本作业未发布 " code { (table) } " — not published by this job." } }
}

/// The night's data test outcomes, warnings first, from the manifest; `None` when the job
/// has no tests.
fn data_tests(m: &Manifest) -> Option<Vec<crate::manifest::DataTestRecord>> {
    let mut tests = m.steps.iter().find_map(|s| match &s.details {
        Some(crate::manifest::StepDetails::DataTests(d)) => Some(d.tests.clone()),
        _ => None,
    })?;
    tests.sort_by(|a, b| {
        (a.status == "pass")
            .cmp(&(b.status == "pass"))
            .then(a.test.cmp(&b.test))
    });
    Some(tests)
}

async fn run_section(night: &Night, m: &Manifest) -> Result<Markup> {
    let dq = night
        .rows(
            &["data_quality"],
            "SELECT \"table\", \"check\", rows_affected, rows_total, action FROM data_quality \
             ORDER BY rows_affected DESC, \"table\", \"check\"",
        )
        .await?;
    let mut steps: Vec<(String, f64, f64)> = m
        .steps
        .iter()
        .map(|s| (s.plan.name.clone(), s.start_seconds, s.seconds))
        .collect();
    steps.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(html! {
        div.cards {
            div.card { b { (m.inputs.iter().filter(|i| !i.absent).count()) } span { "输入表 inputs" } }
            div.card { b { (num(m.inputs.iter().map(|i| i.rows as f64).sum(), 0)) } span { "输入行 input rows" } }
            div.card { b { (m.steps.len()) } span { "步骤 steps" } }
            div.card { b { (m.outputs.len()) } span { "发布表 tables" } }
            div.card { b { (num(m.seconds, 1)) " s" } span { "耗时 wall time" } }
            div.card { b { (m.warnings.len()) } span { "警告 warnings" } }
        }
        h3 { "输入 Inputs" }
        div.scroll { table {
            tr { th { "表 table" } th { "文件 files" } th { "行 rows" } th { "缺列 missing columns" } }
            @for i in &m.inputs {
                tr { td { (i.table) } td { (i.files.len()) } td { @if i.absent { "—" } @else { (num(i.rows as f64, 0)) } }
                     td { (i.missing_columns.join(", ")) } }
            }
        } }
        h3 { "数据质量 Data quality" }
        @match dq {
            None => (missing("data_quality")),
            Some(rows) => {
                @let hit: Vec<&Vec<V>> = rows.iter().filter(|r| r[2].n() > 0.0).collect();
                p { (rows.len()) " 项检查 checks; " (hit.len()) " 项有行受影响 with rows affected"
                    @if hit.is_empty() { " — 全部通过 all clean." } @else { ":" } }
                @if !hit.is_empty() {
                    div.scroll { table {
                        tr { th { "表 table" } th style="text-align:left" { "检查 check" } th { "影响行 rows affected" } th { "总行 rows" } th { "处理 action" } }
                        @for r in &hit {
                            tr { td { (r[0].t()) } td style="text-align:left" { (r[1].t()) } td { (num(r[2].n(), 0)) } td { (num(r[3].n(), 0)) } td { (r[4].t()) } }
                        }
                    } }
                }
            },
        }
        h3 { "数据测试 Data tests" }
        @match data_tests(m) {
            None => p.muted { "本作业没有数据测试 — the job has no data tests ([tests], README \"Adding a test\")." },
            Some(tests) => {
                @let warned = tests.iter().filter(|t| t.status != "pass").count();
                p { (tests.len()) " 项测试 tests; " (warned) " 项警告 warned"
                    @if warned == 0 { " — 全部通过 all pass." } @else { ":" } }
                div.scroll { table.data-tests {
                    tr { th { "结果 status" } th style="text-align:left" { "测试 test" } th { "失败行 failing rows" } th style="text-align:left" { "说明 message" } }
                    @for t in &tests {
                        tr class=(format!("status-{}", t.status)) {
                            td { (t.status) } td style="text-align:left" { (t.test) }
                            td { (num(t.failures as f64, 0)) } td style="text-align:left" { (t.message) }
                        }
                    }
                } }
            },
        }
        h3 { "步骤时间线 Step timeline" }
        (svg::timeline(&steps))
        h3 { "警告 Warnings" }
        @if m.warnings.is_empty() { p.muted { "无 none" } } @else {
            ul.warnings { @for w in &m.warnings {
                li.warn { @if let Some(s) = &w.step { b { (s) } ": " } (w.message) }
            } }
        }
    })
}

const JOURNEY: [(&str, &str); 5] = [
    ("acquired", "进 acquired"),
    ("activated", "活 activated"),
    ("sticky", "粘 sticky"),
    ("valuable", "值 valuable"),
    ("recommending", "荐 recommending"),
];
const LIFECYCLE: [(&str, &str); 6] = [
    ("prospect", "潜客 prospect"),
    ("new", "新客 new"),
    ("active", "活跃 active"),
    ("won_back", "回流 won back"),
    ("silent", "沉默 silent"),
    ("churned", "流失 churned"),
];
const TIERS: [(&str, &str); 3] = [
    ("platinum", "白金卡 platinum"),
    ("gold", "金卡 gold"),
    ("regular", "普卡 regular"),
];
const LAYERS: [(&str, &str); 8] = [
    ("top_2", "前2% top 2%"),
    ("top_2_5", "2–5%"),
    ("top_5_10", "5–10%"),
    ("top_10_15", "10–15%"),
    ("top_15_20", "15–20%"),
    ("top_20_100", "20–100%"),
    ("new_or_returning", "新客/回流 new or returning"),
    ("non_buyer", "未购 no purchase"),
];

fn count_of(rows: &[Vec<V>], key: &str) -> f64 {
    rows.iter()
        .find(|r| r[0] == V::T(key.to_string()))
        .map_or(0.0, |r| r[1].n())
}

async fn members_section(night: &Night) -> Result<Markup> {
    let q = |col: &str| {
        format!(
            "SELECT CAST({col} AS VARCHAR) AS k, COUNT(*) AS n, SUM(COALESCE(total_spend_365d, 0)) AS spend FROM member_tags GROUP BY 1"
        )
    };
    let Some(journey) = night.rows(&["member_tags"], &q("journey_stage")).await? else {
        return Ok(missing("member_tags"));
    };
    let lifecycle = night
        .rows(&["member_tags"], &q("lifecycle_stage"))
        .await?
        .unwrap_or_default();
    let tiers = night
        .rows(&["member_tags"], &q("tier"))
        .await?
        .unwrap_or_default();
    let pyramid = night
        .rows(&["member_tags"], &q("pyramid_layer"))
        .await?
        .unwrap_or_default();
    // The funnel: members who reached each stage (their stage or a later one).
    let exact: Vec<f64> = JOURNEY.iter().map(|(k, _)| count_of(&journey, k)).collect();
    let reached: Vec<(String, f64)> = JOURNEY
        .iter()
        .enumerate()
        .map(|(i, (_, label))| (label.to_string(), exact[i..].iter().sum()))
        .collect();
    let labelled = |rows: &[Vec<V>], keys: &[(&str, &str)]| -> Vec<(String, f64)> {
        keys.iter()
            .map(|(k, l)| (l.to_string(), count_of(rows, k)))
            .collect()
    };
    let spend = |key: &str| {
        pyramid
            .iter()
            .find(|r| r[0] == V::T(key.to_string()))
            .map_or(0.0, |r| r[2].n())
    };
    let total: f64 = journey.iter().map(|r| r[1].n()).sum();
    Ok(html! {
        div.cards {
            div.card { b { (num(total, 0)) } span { "会员 members" } }
            div.card { b { (num(count_of(&lifecycle, "active") + count_of(&lifecycle, "new") + count_of(&lifecycle, "won_back"), 0)) } span { "活跃买家 active buyers (new, active, won back)" } }
        }
        div.grid {
            div { h3 { "旅程漏斗 Journey funnel 进→活→粘→值→荐 (reached)" } (svg::bars(&reached, 0, "funnel")) }
            div { h3 { "生命周期 Lifecycle" } (svg::bars(&labelled(&lifecycle, &LIFECYCLE), 0, "lifecycle")) }
            div { h3 { "会员等级 Tiers" } (svg::bars(&labelled(&tiers, &TIERS), 0, "tiers")) }
            div { h3 { "客户金字塔 Pyramid: heads" } (svg::bars(&labelled(&pyramid, &LAYERS), 0, "pyramid")) }
        }
        h3 { "金字塔 Pyramid: heads and 365-day revenue per layer" }
        div.scroll { table {
            tr { th { "层 layer" } th { "人数 heads" } th { "收入 revenue" } th { "人均 per head" } }
            @for (k, l) in LAYERS {
                @let heads = count_of(&pyramid, k);
                tr { td { (l) } td { (num(heads, 0)) } td { (num(spend(k), 0)) }
                     td { @if heads > 0.0 { (num(spend(k) / heads, 0)) } @else { "—" } } }
            }
        } }
    })
}

async fn diagnosis_section(night: &Night) -> Result<Markup> {
    let Some(rows) = night
        .rows(
            &["revenue_diagnosis"],
            "SELECT CAST(comparison AS VARCHAR) AS c, CAST(pyramid_layer AS VARCHAR) AS l, revenue_base, revenue, \
                    heads_effect, frequency_effect, ticket_effect, CAST(period AS VARCHAR) AS p \
             FROM revenue_diagnosis WHERE period = (SELECT MAX(period) FROM revenue_diagnosis) \
             ORDER BY 1, 2",
        )
        .await?
    else {
        return Ok(missing("revenue_diagnosis"));
    };
    let decliners = night
        .rows(
            &["revenue_decliners"],
            "SELECT CAST(pyramid_layer AS VARCHAR) AS l, COUNT(*) AS n FROM revenue_decliners GROUP BY 1 ORDER BY 1",
        )
        .await?;
    let period = rows.first().map(|r| r[7].t()).unwrap_or_default();
    let comparisons = [
        ("prev_month", "环比 vs the month before"),
        ("prev_year", "同比 vs a year before"),
    ];
    Ok(html! {
        p { "最近完整月 Last complete month: " b { (period) } ". 收入变化 = 人数 + 频次 + 客单价 effects (the 数人头 split)." }
        @for (key, title) in comparisons {
            @let mut layer_rows: Vec<&Vec<V>> = rows.iter().filter(|r| r[0] == V::T(key.into())).collect();
            (sort_layers(&mut layer_rows))
            @if !layer_rows.is_empty() {
                h3 { (title) }
                @let base: f64 = layer_rows.iter().map(|r| r[2].n()).sum();
                @let current: f64 = layer_rows.iter().map(|r| r[3].n()).sum();
                @let effects = [("人数 heads", 4), ("频次 frequency", 5), ("客单价 ticket", 6)];
                @let mut split: Vec<(String, f64)> = effects.iter().map(|(l, c)| (l.to_string(), layer_rows.iter().map(|r| r[*c].n()).sum::<f64>())).collect();
                @let rest = current - base - split.iter().map(|s| s.1).sum::<f64>();
                @if rest.abs() >= 0.5 { (push(&mut split, "交互 interaction", rest)) }
                (svg::waterfall(base, &split, current))
                div.scroll { table {
                    tr { th { "层 layer" } th { "基期 base" } th { "本期 current" } th { "人数 heads" } th { "频次 frequency" } th { "客单价 ticket" } }
                    @for r in &layer_rows {
                        tr { td { (layer_label(&r[1].t())) } td { (num(r[2].n(), 0)) } td { (num(r[3].n(), 0)) }
                             td { (num(r[4].n(), 0)) } td { (num(r[5].n(), 0)) } td { (num(r[6].n(), 0)) } }
                    }
                } }
            }
        }
        h3 { "止血名单 Decliners to call (revenue_decliners) per layer" }
        @match decliners {
            None => (missing("revenue_decliners")),
            Some(d) => (svg::bars(&{ let mut d: Vec<&Vec<V>> = d.iter().collect(); sort_layers_at(&mut d, 0); d }.iter().map(|r| (layer_label(&r[0].t()), r[1].n())).collect::<Vec<_>>(), 0, "decliners")),
        }
    })
}

/// Append inside a template (maud has no statements): returns nothing to render.
fn push(v: &mut Vec<(String, f64)>, label: &str, value: f64) -> Markup {
    v.push((label.to_string(), value));
    html! {}
}

/// Rows in pyramid order (top first) by the layer in column `col`.
fn sort_layers_at(rows: &mut [&Vec<V>], col: usize) {
    let pos = |r: &&Vec<V>| {
        LAYERS
            .iter()
            .position(|(k, _)| V::T(k.to_string()) == r[col])
            .unwrap_or(LAYERS.len())
    };
    rows.sort_by_key(pos);
}

/// The diagnosis rows (layer in column 1) in pyramid order; renders nothing.
fn sort_layers(rows: &mut [&Vec<V>]) -> Markup {
    sort_layers_at(rows, 1);
    html! {}
}

fn layer_label(key: &str) -> String {
    LAYERS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| key.to_string(), |(_, l)| l.to_string())
}

async fn segments_section(night: &Night) -> Result<Markup> {
    let Some(rows) = night
        .rows(
            &["segment_profiles"],
            "SELECT CAST(segment_id AS VARCHAR) AS sid, CAST(segment_name AS VARCHAR) AS sname, members, share, revenue_share, \
                    array_to_string(features, '|'), array_to_string(centroid_z, '|') \
             FROM segment_profiles ORDER BY sid",
        )
        .await?
    else {
        return Ok(missing("segment_profiles"));
    };
    let migration = night
        .rows(
            &["segment_migration"],
            "SELECT CAST(previous_segment_id AS VARCHAR) AS p, CAST(segment_id AS VARCHAR) AS s, members \
             FROM segment_migration ORDER BY 1, 2",
        )
        .await?;
    let features: Vec<String> = rows
        .first()
        .map(|r| r[5].t().split('|').map(str::to_string).collect())
        .unwrap_or_default();
    let names: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r[0].t(), r[1].t()))
        .collect();
    let ids: Vec<String> = rows.iter().map(|r| r[0].t()).collect();
    let z: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r[6].t()
                .split('|')
                .map(|v| v.parse().unwrap_or(0.0))
                .collect()
        })
        .collect();
    Ok(html! {
        div.scroll { table {
            tr { th { "分群 segment" } th { "人数 members" } th { "占比 share" } th { "收入占比 revenue share" } }
            @for (i, r) in rows.iter().enumerate() {
                tr { td { (names[i]) } td { (num(r[2].n(), 0)) } td { (num(r[3].n() * 100.0, 1)) "%" }
                     td { @if r[4].is_null() { "—" } @else { (num(r[4].n() * 100.0, 1)) "%" } } }
            }
        } }
        h3 { "质心 z 分数 Centroid z-scores" }
        (svg::heatmap(&ids, &features, &z, 2.0))
        h3 { "迁移 Migration from the previous night (rows: previous segment)" }
        @match migration {
            None => (missing("segment_migration")),
            Some(m) if m.is_empty() => p.muted { "无上一晚 no previous night" },
            Some(m) => (migration_table(&m)),
        }
    })
}

fn migration_table(rows: &[Vec<V>]) -> Markup {
    let mut from: Vec<String> = rows.iter().map(|r| r[0].t()).collect();
    let mut to: Vec<String> = rows.iter().map(|r| r[1].t()).collect();
    from.sort();
    from.dedup();
    to.sort();
    to.dedup();
    let cell: BTreeMap<(String, String), f64> = rows
        .iter()
        .map(|r| ((r[0].t(), r[1].t()), r[2].n()))
        .collect();
    let max = cell.values().copied().fold(1.0_f64, f64::max);
    html! {
        div.scroll { table {
            tr { th { "上一晚 \\ 今晚 previous \\ tonight" } @for t in &to { th { (t) } } }
            @for f in &from {
                tr { td { (f) } @for t in &to {
                    @let v = cell.get(&(f.clone(), t.clone())).copied().unwrap_or(0.0);
                    td style=(format!("background: rgba(61,122,184,{:.2})", 0.08 + 0.7 * v / max)) { (num(v, 0)) }
                } }
            }
        } }
    }
}

async fn baskets_section(night: &Night) -> Result<Markup> {
    let Some(rows) = night
        .rows(
            &["basket_rules"],
            "SELECT rank, array_to_string(antecedent_names, ' + '), array_to_string(consequent_names, ' + '), \
                    support, confidence, lift FROM basket_rules ORDER BY rank LIMIT 20",
        )
        .await?
    else {
        return Ok(missing("basket_rules"));
    };
    Ok(html! {
        p { "前 20 条规则 Top 20 rules (lift > 1, by confidence)." }
        div.scroll { table {
            tr { th { "#" } th { "买了 if bought" } th { "也会买 then" } th { "支持度 support" } th { "置信度 confidence" } th { "提升度 lift" } }
            @for r in &rows {
                tr { td { (num(r[0].n(), 0)) } td style="text-align:left" { (r[1].t()) } td style="text-align:left" { (r[2].t()) }
                     td { (num(r[3].n() * 100.0, 2)) "%" } td { (num(r[4].n() * 100.0, 1)) "%" } td { (num(r[5].n(), 2)) } }
            }
        } }
        h3 { "提升度 Lift of the top 10 rules" }
        (svg::bars(&rows.iter().take(10).map(|r| (format!("#{} {} → {}", num(r[0].n(), 0), r[1].t(), r[2].t()), r[5].n())).collect::<Vec<_>>(), 2, "lift"))
    })
}

const FUNNEL: [(&str, &str); 13] = [
    ("eligible", "符合 eligible"),
    ("removed_unknown_member", "− 未知会员 unknown"),
    ("removed_no_consent", "− 无授权 no consent"),
    ("removed_suppressed", "− 屏蔽 suppressed"),
    ("removed_fatigue", "− 疲劳 fatigue"),
    ("removed_frequency_cap", "− 频次上限 frequency cap"),
    ("removed_channel_cap", "− 渠道上限 channel cap"),
    ("removed_guide_capacity", "− 导购容量 guide capacity"),
    ("removed_priority", "− 优先级 priority"),
    ("removed_budget", "− 预算 budget"),
    ("selected", "入选 selected"),
    ("holdout", "对照 holdout"),
    ("contacted", "触达 contacted"),
];

async fn outreach_section(night: &Night) -> Result<Markup> {
    let cols: Vec<String> = FUNNEL.iter().map(|(c, _)| c.to_string()).collect();
    let summary = night
        .rows(
            &["outreach_summary"],
            &format!(
                "SELECT CAST(campaign AS VARCHAR) AS c, {} FROM outreach_summary ORDER BY priority DESC, c",
                cols.join(", ")
            ),
        )
        .await?;
    let results = night
        .rows(
            &["campaign_results"],
            "SELECT CAST(campaign AS VARCHAR) AS c, uplift, uplift_low, uplift_high, enough_data, contacted, holdout \
             FROM campaign_results WHERE segment_id = 'all' ORDER BY c",
        )
        .await?;
    Ok(html! {
        h3 { "名单漏斗 List funnel per campaign" }
        @match &summary {
            None => (missing("outreach_summary")),
            Some(rows) => {
                div.scroll { table {
                    tr { th { "活动 campaign" } @for (_, l) in FUNNEL { th { (l) } } }
                    @for r in rows {
                        tr { td { (r[0].t()) } @for i in 1..=FUNNEL.len() { td { (num(r[i].n(), 0)) } } }
                    }
                } }
                h3 { "触达人数 Contacted per campaign" }
                (svg::bars(&rows.iter().map(|r| (r[0].t(), r[FUNNEL.len()].n())).collect::<Vec<_>>(), 0, "contacted"))
            }
        }
        h3 { "活动效果 Campaign results: conversion uplift vs holdout, 95% interval" }
        @match &results {
            None => (missing("campaign_results")),
            Some(rows) if rows.is_empty() => p.muted { "暂无 no measured campaigns yet" },
            Some(rows) => {
                p.muted { "* 数据不足 not enough data (grey)." }
                (svg::forest(&rows.iter().filter(|r| !r[1].is_null()).map(|r| svg::Interval {
                    label: r[0].t(), estimate: r[1].n(), low: r[2].n(), high: r[3].n(), enough: r[4] == V::T("true".into()),
                }).collect::<Vec<_>>()))
                div.scroll { table {
                    tr { th { "活动 campaign" } th { "触达 contacted" } th { "对照 holdout" } th { "提升 uplift" } th { "区间 interval" } th { "数据 data" } }
                    @for r in rows {
                        tr { td { (r[0].t()) } td { (num(r[5].n(), 0)) } td { (num(r[6].n(), 0)) }
                             td { (num(r[1].n() * 100.0, 2)) " pp" } td { "[" (num(r[2].n() * 100.0, 2)) ", " (num(r[3].n() * 100.0, 2)) "]" }
                             td { @if r[4] == V::T("true".into()) { "足够 enough" } @else { span.warn { "不足 not enough" } } } }
                    }
                } }
            }
        }
    })
}

/// Headline numbers of a night: members, active buyers (last kpis month), list size.
async fn headline(dir: &Path, m: &Manifest) -> Result<Vec<(String, Option<f64>)>> {
    let rows = |t: &str| {
        m.outputs
            .iter()
            .find(|o| o.table == t)
            .map(|o| o.rows as f64)
    };
    let night = Night::new(dir);
    let active = night
        .rows(
            &["kpis"],
            "SELECT active_buyers FROM kpis ORDER BY period DESC LIMIT 1",
        )
        .await
        .ok()
        .flatten()
        .and_then(|r| r.first().map(|r| r[0].n()));
    Ok(vec![
        ("会员 members".into(), rows("member_tags")),
        ("活跃买家 active buyers (kpis, last month)".into(), active),
        ("名单 outreach list".into(), rows("outreach")),
    ])
}

/// A trend: name, whether it is a headline (not a table), its values, tonight's, flagged.
type TrendRow = (String, bool, Vec<f64>, Option<f64>, bool);

/// Whether `last` moved more than the threshold from the median of `before` (up to 7).
fn moved(before: &[f64], last: f64) -> bool {
    let mut recent: Vec<f64> = before.iter().rev().take(7).copied().collect();
    if recent.is_empty() {
        return false;
    }
    recent.sort_by(f64::total_cmp);
    let n = recent.len();
    let median = if n % 2 == 1 {
        recent[n / 2]
    } else {
        (recent[n / 2 - 1] + recent[n / 2]) / 2.0
    };
    if median == 0.0 {
        return last != 0.0;
    }
    ((last - median) / median).abs() > TREND_THRESHOLD
}

async fn trends_section(night: &Night, m: &Manifest, past: &[PastNight]) -> Result<Markup> {
    // Series by name over the nights (past, then tonight).
    let mut dates: Vec<NaiveDate> = past.iter().map(|p| p.as_of).collect();
    dates.push(m.as_of);
    let mut series: BTreeMap<(u8, String), Vec<Option<f64>>> = BTreeMap::new();
    let n = dates.len();
    let mut add = |key: (u8, String), i: usize, v: Option<f64>| {
        series.entry(key).or_insert_with(|| vec![None; n])[i] = v;
    };
    for (i, p) in past.iter().enumerate() {
        for (name, v) in headline(&p.dir, &p.manifest).await? {
            add((0, name), i, v);
        }
        for o in &p.manifest.outputs {
            add((1, o.table.clone()), i, Some(o.rows as f64));
        }
    }
    for (name, v) in headline(&night.dir, m).await? {
        add((0, name), n - 1, v);
    }
    for o in &m.outputs {
        add((1, o.table.clone()), n - 1, Some(o.rows as f64));
    }
    let rows: Vec<TrendRow> = series
        .into_iter()
        .map(|((kind, name), values)| {
            let known: Vec<f64> = values.iter().flatten().copied().collect();
            let last = values.last().copied().flatten();
            let flag = match last {
                Some(l) if known.len() > 1 => moved(&known[..known.len() - 1], l),
                _ => false,
            };
            (name, kind == 0, known, last, flag)
        })
        .collect();
    let flagged = rows.iter().filter(|r| r.4).count();
    Ok(html! {
        p { "最近 " (n) " 晚 The last " (n) " published night(s), " (dates.first().map(|d| d.to_string()).unwrap_or_default())
            " → " (m.as_of) ". 标红: 偏离近 7 晚中位数超过 " (num(TREND_THRESHOLD * 100.0, 0)) "% — red: more than "
            (num(TREND_THRESHOLD * 100.0, 0)) "% from the median of up to 7 nights before. " b { (flagged) " flagged." } }
        div.scroll { table {
            tr { th { "指标 / 表 measure / table" } th { "今晚 tonight" } th { "趋势 trend" } }
            @for (name, headline, values, last, flag) in &rows {
                tr {
                    td { @if *headline { b { (name) } } @else { code { (name) } " rows" } }
                    td class=(if *flag { "flagged" } else { "" }) { @match last { Some(v) => (num(*v, 0)), None => "—" } }
                    td { @if values.len() > 1 { (svg::sparkline(values, *flag)) } @else { span.muted { "首晚 first night" } } }
                }
            }
        } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moved_compares_with_the_median_of_recent_nights() {
        assert!(!moved(&[100.0, 100.0, 100.0], 119.0));
        assert!(moved(&[100.0, 100.0, 100.0], 121.0));
        assert!(moved(&[100.0, 100.0, 100.0], 79.0));
        // The median of the last 7 only: an old spike does not count.
        assert!(!moved(
            &[1000.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
            100.0
        ));
        assert!(!moved(&[], 5.0));
        assert!(moved(&[0.0], 1.0));
    }
}
