//! The `outreach` step: tonight's scored outreach lists, one per campaign, under the
//! contact policy of [`crate::outreach`]. Targeting lives in SQL (one table per
//! campaign, usually `sql/outreach/campaign_<name>.sql`); the job file holds each
//! campaign's settings. See `docs/outreach.md`.
//!
//! ```toml
//! [[steps]]
//! type = "outreach"
//! salt = "retailer-2026"             # required: seeds the holdout hash
//! max_contacts = 2                   # default: contacts per member per rolling cap_days
//! cap_days = 7                       # default: the rolling window, tonight included
//! quiet_days = 1                     # default: no contact within N days after one (0 = off)
//! tags = "member_tags"               # default: member_id, tier, segment_id, peak_hour
//! members = "members"                # default: member_id and consent_<channel>
//! contact_history = "contact_history"  # default
//! suppression = "suppression"        # default
//! output = "outreach"                # default
//! summary_output = "outreach_summary"  # default
//!
//! [[steps.campaigns]]
//! name = "winback"                   # the campaign column; also the holdout hash's input
//! table = "campaign_winback"         # default: campaign_<name>
//! contact_type = "winback"
//! channels = ["wechat", "app_push", "sms"]   # preference order
//! priority = 60                      # higher wins a member wanted by several campaigns
//! budget = 50000                     # optional: at most N members (holdout included)
//! holdout = 0.1                      # default 0.1: share kept as control group
//! send_hours = [10, 21]              # default: local hours [start, end)
//! offer = "满99减10"                  # optional default offer
//! offers = { platinum = "…", gold = "…" }    # optional: offer by tier
//! exclusive = true                   # default: one exclusive campaign per member per night
//! ```
//!
//! A campaign table has one row per eligible member: `member_id`, `score` (higher =
//! contact first), and optionally `reasons` (list of text), `offer` (text; wins over the
//! job file's offers) and `recommended_products` (list of text).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::TimeZone;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array,
    ListArray, ListBuilder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::logical_expr::{Expr, cast, col, lit};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::json;

use super::{Step, StepContext};
use crate::error::{ErrorClass, Problem, Result, SiyuError};
use crate::outreach::{CampaignPolicy, Candidate, Channel, Funnel, Member, Policy, select};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    salt: String,
    #[serde(default = "default_max_contacts")]
    max_contacts: u32,
    #[serde(default = "default_cap_days")]
    cap_days: u32,
    #[serde(default = "default_quiet_days")]
    quiet_days: u32,
    #[serde(default = "default_tags")]
    tags: String,
    #[serde(default = "default_members")]
    members: String,
    #[serde(default = "default_history")]
    contact_history: String,
    #[serde(default = "default_suppression")]
    suppression: String,
    #[serde(default = "default_output")]
    output: String,
    #[serde(default = "default_summary")]
    summary_output: String,
    campaigns: Vec<CampaignDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignDecl {
    name: String,
    #[serde(default)]
    table: Option<String>,
    contact_type: String,
    channels: Vec<Channel>,
    priority: i64,
    #[serde(default)]
    budget: Option<u64>,
    #[serde(default = "default_holdout")]
    holdout: f64,
    #[serde(default = "default_send_hours")]
    send_hours: [u8; 2],
    #[serde(default)]
    offer: Option<String>,
    #[serde(default)]
    offers: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    exclusive: bool,
    #[serde(default)]
    description: Option<String>,
}

fn default_max_contacts() -> u32 {
    2
}
fn default_cap_days() -> u32 {
    7
}
fn default_quiet_days() -> u32 {
    1
}
fn default_tags() -> String {
    "member_tags".into()
}
fn default_members() -> String {
    "members".into()
}
fn default_history() -> String {
    "contact_history".into()
}
fn default_suppression() -> String {
    "suppression".into()
}
fn default_output() -> String {
    "outreach".into()
}
fn default_summary() -> String {
    "outreach_summary".into()
}
fn default_holdout() -> f64 {
    0.1
}
fn default_send_hours() -> [u8; 2] {
    [10, 21]
}
fn default_true() -> bool {
    true
}

impl CampaignDecl {
    fn table(&self) -> String {
        self.table
            .clone()
            .unwrap_or_else(|| format!("campaign_{}", self.name))
    }
}

const TAG_COLUMNS: [&str; 4] = ["member_id", "tier", "segment_id", "peak_hour"];

pub struct OutreachStep {
    params: Params,
    at: String,
}

fn list_utf8() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

fn is_text_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) => matches!(
            f.data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ),
        DataType::Null => true,
        _ => false,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

/// One campaign's eligible members as read from its table.
struct Loaded {
    candidates: Vec<Candidate>,
    reasons: Vec<Vec<String>>,
    offers: Vec<Option<String>>,
    products: Vec<Vec<String>>,
    unknown_members: u64,
    null_scores: u64,
}

/// One row of a campaign table: member index, score, reasons, offer, products.
type CampaignRow = (usize, f64, Vec<String>, Option<String>, Vec<String>);

/// member_tags columns the outreach rows carry.
#[derive(Default, Clone)]
struct TagRow {
    tier: Option<String>,
    segment_id: Option<String>,
    peak_hour: Option<i64>,
}

impl OutreachStep {
    pub fn build(table: &toml::Table, at: &str) -> std::result::Result<OutreachStep, Problem> {
        let problem = |m: String| Problem::new(ErrorClass::Config, at, m);
        let params = Params::deserialize(toml::Value::Table(table.clone()))
            .map_err(|e| problem(format!("outreach step: {}", e.message())))?;
        if params.salt.trim().is_empty() {
            return Err(problem("outreach step: salt must not be empty".into()));
        }
        if params.max_contacts == 0 {
            return Err(problem(
                "outreach step: max_contacts must be at least 1".into(),
            ));
        }
        if params.cap_days == 0 {
            return Err(problem("outreach step: cap_days must be at least 1".into()));
        }
        for name in [
            &params.output,
            &params.summary_output,
            &params.tags,
            &params.members,
            &params.contact_history,
            &params.suppression,
        ] {
            if !crate::job::is_identifier(name) {
                return Err(problem(format!(
                    "outreach step: {name:?} must be lowercase letters, digits and _"
                )));
            }
        }
        if params.campaigns.is_empty() {
            return Err(problem(
                "outreach step: declare at least one [[steps.campaigns]]".into(),
            ));
        }
        let mut names = HashSet::new();
        for c in &params.campaigns {
            let here = |m: String| problem(format!("outreach step: campaign {:?}: {m}", c.name));
            if !crate::job::is_identifier(&c.name) {
                return Err(here("name must be lowercase letters, digits and _".into()));
            }
            if !names.insert(c.name.clone()) {
                return Err(here("declared twice".into()));
            }
            if !crate::job::is_identifier(&c.table()) {
                return Err(here(format!(
                    "table {:?} must be lowercase letters, digits and _",
                    c.table()
                )));
            }
            if !crate::job::is_identifier(&c.contact_type) {
                return Err(here(format!(
                    "contact_type {:?} must be lowercase letters, digits and _",
                    c.contact_type
                )));
            }
            if c.channels.is_empty() {
                return Err(here(
                    "channels must list at least one of sms, wechat, email, app_push".into(),
                ));
            }
            if !(0.0..1.0).contains(&c.holdout) {
                return Err(here(format!(
                    "holdout must be in [0, 1), found {}",
                    c.holdout
                )));
            }
            let [start, end] = c.send_hours;
            if start >= end || end > 24 {
                return Err(here(format!(
                    "send_hours must be [start, end) with 0 <= start < end <= 24, found [{start}, {end}]"
                )));
            }
            for tier in c.offers.keys() {
                if !["platinum", "gold", "regular"].contains(&tier.as_str()) {
                    return Err(here(format!(
                        "offers: unknown tier {tier:?} (tiers: platinum, gold, regular)"
                    )));
                }
            }
        }
        Ok(OutreachStep {
            params,
            at: at.to_string(),
        })
    }

    fn outreach_schema(&self, ctx: &StepContext) -> SchemaRef {
        let tz: Arc<str> = ctx.job.timezone.name().into();
        Arc::new(Schema::new(vec![
            Field::new("member_id", DataType::Utf8, false),
            Field::new("campaign", DataType::Utf8, false),
            Field::new("contact_type", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("rank", DataType::Int32, false),
            Field::new("score", DataType::Float64, false),
            Field::new("reasons", list_utf8(), false),
            Field::new("offer", DataType::Utf8, true),
            Field::new("recommended_products", list_utf8(), false),
            Field::new("segment_id", DataType::Utf8, true),
            Field::new("tier", DataType::Utf8, true),
            Field::new("holdout", DataType::Boolean, false),
            Field::new("send_window", DataType::Utf8, false),
            Field::new(
                "send_at",
                DataType::Timestamp(TimeUnit::Microsecond, Some(tz)),
                false,
            ),
            Field::new("priority", DataType::Int64, false),
            Field::new("as_of", DataType::Date32, false),
        ]))
    }

    fn summary_schema() -> SchemaRef {
        let count = |n: &str| Field::new(n, DataType::Int64, false);
        Arc::new(Schema::new(vec![
            Field::new("campaign", DataType::Utf8, false),
            Field::new("contact_type", DataType::Utf8, false),
            Field::new("priority", DataType::Int64, false),
            Field::new("budget", DataType::Int64, true),
            Field::new("holdout_share", DataType::Float64, false),
            count("eligible"),
            count("removed_unknown_member"),
            count("removed_no_consent"),
            count("removed_suppressed"),
            count("removed_frequency_cap"),
            count("removed_priority"),
            count("removed_budget"),
            count("selected"),
            count("holdout"),
            count("contacted"),
            Field::new("as_of", DataType::Date32, false),
        ]))
    }

    fn config_error(&self, m: String) -> SiyuError {
        SiyuError::config(format!("{}: outreach step: {m}", self.at))
    }

    /// Members sorted by id, with consent per channel.
    async fn members(&self, ctx: &StepContext) -> Result<(Vec<String>, Vec<Member>)> {
        let mut cols = vec![cast(col("member_id"), DataType::Utf8).alias("member_id")];
        for ch in Channel::ALL {
            cols.push(
                datafusion::functions::expr_fn::coalesce(vec![
                    cast(col(ch.consent_column()), DataType::Boolean),
                    lit(false),
                ])
                .alias(ch.consent_column()),
            );
        }
        let batches = ctx
            .table(&self.params.members)
            .await?
            .select(cols)?
            .sort(vec![col("member_id").sort(true, true)])?
            .collect()
            .await?;
        let mut ids = Vec::new();
        let mut members = Vec::new();
        for b in &batches {
            let id = b.column(0).as_string::<i32>();
            let consent: Vec<&BooleanArray> = (1..5).map(|i| b.column(i).as_boolean()).collect();
            for r in 0..b.num_rows() {
                if id.is_null(r) {
                    continue;
                }
                if ids.last().is_some_and(|last: &String| last == id.value(r)) {
                    return Err(SiyuError::input(format!(
                        "{}: member_id {:?} appears more than once",
                        self.params.members,
                        id.value(r)
                    )));
                }
                ids.push(id.value(r).to_string());
                let mut m = Member::default();
                for (i, c) in consent.iter().enumerate() {
                    m.consent[i] = c.value(r);
                }
                members.push(m);
            }
        }
        Ok((ids, members))
    }

    /// Mark suppressed members and contact counts from history, as of tonight.
    async fn history(
        &self,
        ctx: &StepContext,
        index: &HashMap<String, usize>,
        members: &mut [Member],
    ) -> Result<Vec<serde_json::Value>> {
        let p = &self.params;
        let day = |n: i64| {
            format!(
                "CAST('{}' AS TIMESTAMP)",
                (ctx.as_of - chrono::Duration::days(n)).format("%Y-%m-%d")
            )
        };
        let tonight = day(0);
        let cap_start = day(i64::from(p.cap_days) - 1);
        let quiet_start = day(i64::from(p.quiet_days));
        let from = day(i64::from((p.cap_days - 1).max(p.quiet_days)));
        // Holdout rows count like contacts: a control group must be treated like the
        // contacted group by every other campaign, or the comparison is biased.
        let history = ctx
            .session
            .sql(&format!(
                "SELECT CAST(member_id AS VARCHAR) AS member_id, \
                        COUNT(*) FILTER (WHERE sent_at >= {cap_start}) AS recent, \
                        COALESCE(BOOL_OR(sent_at >= {quiet_start}), false) AS quiet \
                 FROM {h} WHERE sent_at >= {from} AND sent_at < {tonight} \
                 GROUP BY CAST(member_id AS VARCHAR)",
                h = p.contact_history
            ))
            .await?
            .collect()
            .await?;
        let mut in_window = 0u64;
        for b in &history {
            let id = b.column(0).as_string::<i32>();
            let recent = b
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let quiet = b.column(2).as_boolean();
            for r in 0..b.num_rows() {
                if let Some(&m) = index.get(id.value(r)) {
                    members[m].recent_contacts = recent.value(r).clamp(0, u32::MAX as i64) as u32;
                    members[m].in_quiet_period = p.quiet_days > 0 && quiet.value(r);
                    in_window += 1;
                }
            }
        }
        let suppressed = ctx
            .session
            .sql(&format!(
                "SELECT DISTINCT CAST(member_id AS VARCHAR) AS member_id FROM {s} \
                 WHERE until IS NULL OR until > {tonight}",
                s = p.suppression
            ))
            .await?
            .collect()
            .await?;
        let mut n_suppressed = 0u64;
        for b in &suppressed {
            let id = b.column(0).as_string::<i32>();
            for r in 0..b.num_rows() {
                if let Some(&m) = index.get(id.value(r)) {
                    members[m].suppressed = true;
                    n_suppressed += 1;
                }
            }
        }
        Ok(vec![
            json!({"members_with_recent_contacts": in_window}),
            json!({"members_suppressed": n_suppressed}),
        ])
    }

    async fn tags(&self, ctx: &StepContext, index: &HashMap<String, usize>) -> Result<Vec<TagRow>> {
        let batches = ctx
            .table(&self.params.tags)
            .await?
            .select(vec![
                cast(col("member_id"), DataType::Utf8).alias("member_id"),
                cast(col("tier"), DataType::Utf8).alias("tier"),
                cast(col("segment_id"), DataType::Utf8).alias("segment_id"),
                cast(col("peak_hour"), DataType::Int64).alias("peak_hour"),
            ])?
            .collect()
            .await?;
        let mut rows = vec![TagRow::default(); index.len()];
        for b in &batches {
            let id = b.column(0).as_string::<i32>();
            let tier = b.column(1).as_string::<i32>();
            let seg = b.column(2).as_string::<i32>();
            let hour = b
                .column(3)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for r in 0..b.num_rows() {
                let Some(&m) = index.get(id.value(r)) else {
                    continue;
                };
                let text = |a: &StringArray| (!a.is_null(r)).then(|| a.value(r).to_string());
                rows[m] = TagRow {
                    tier: text(tier),
                    segment_id: text(seg),
                    peak_hour: (!hour.is_null(r)).then(|| hour.value(r)),
                };
            }
        }
        Ok(rows)
    }

    async fn campaign(
        &self,
        ctx: &StepContext,
        decl: &CampaignDecl,
        index: &HashMap<String, usize>,
    ) -> Result<Loaded> {
        let table = decl.table();
        let df = ctx.table(&table).await?;
        let present: HashSet<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let has = |c: &str| present.contains(c);
        let optional = |c: &str, t: DataType| -> Expr {
            if has(c) {
                cast(col(c), t).alias(c)
            } else {
                cast(lit(datafusion::scalar::ScalarValue::Null), t).alias(c)
            }
        };
        let df = df.select(vec![
            cast(col("member_id"), DataType::Utf8).alias("member_id"),
            cast(col("score"), DataType::Float64).alias("score"),
            optional("reasons", list_utf8()),
            optional("offer", DataType::Utf8),
            optional("recommended_products", list_utf8()),
        ])?;
        let batches = df.collect().await?;
        let mut rows: Vec<CampaignRow> = Vec::new();
        let (mut unknown, mut null_scores) = (0u64, 0u64);
        let texts = |a: &ListArray, r: usize| -> Vec<String> {
            if a.is_null(r) {
                return Vec::new();
            }
            let v = a.value(r);
            let s = v.as_string::<i32>();
            (0..s.len())
                .filter(|&i| !s.is_null(i) && !s.value(i).trim().is_empty())
                .map(|i| s.value(i).to_string())
                .collect()
        };
        for b in &batches {
            let id = b.column(0).as_string::<i32>();
            let score = b
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let reasons = b.column(2).as_list::<i32>();
            let offer = b.column(3).as_string::<i32>();
            let products = b.column(4).as_list::<i32>();
            for r in 0..b.num_rows() {
                let Some(&m) = (!id.is_null(r)).then(|| index.get(id.value(r))).flatten() else {
                    unknown += 1;
                    continue;
                };
                let s = if score.is_null(r) || score.value(r).is_nan() {
                    null_scores += 1;
                    f64::NEG_INFINITY
                } else {
                    score.value(r)
                };
                rows.push((
                    m,
                    s,
                    texts(reasons, r),
                    (!offer.is_null(r)).then(|| offer.value(r).to_string()),
                    texts(products, r),
                ));
            }
        }
        rows.sort_by_key(|row| row.0);
        if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
            let id = index
                .iter()
                .find(|(_, m)| **m == w[0].0)
                .map(|(id, _)| id.clone())
                .unwrap_or_default();
            return Err(SiyuError::config(format!(
                "{}: outreach step: campaign {:?}: table {table} has more than one row for member_id {id:?}; a campaign table has one row per eligible member",
                self.at, decl.name
            )));
        }
        let mut loaded = Loaded {
            candidates: Vec::with_capacity(rows.len()),
            reasons: Vec::with_capacity(rows.len()),
            offers: Vec::with_capacity(rows.len()),
            products: Vec::with_capacity(rows.len()),
            unknown_members: unknown,
            null_scores,
        };
        for (member, score, reasons, offer, products) in rows {
            loaded.candidates.push(Candidate { member, score });
            loaded.reasons.push(reasons);
            loaded.offers.push(offer);
            loaded.products.push(products);
        }
        Ok(loaded)
    }
}

impl Step for OutreachStep {
    fn name(&self) -> &str {
        &self.params.output
    }
    fn kind(&self) -> &'static str {
        "outreach"
    }
    fn source(&self) -> String {
        self.at.clone()
    }
    fn reads(&self) -> Vec<String> {
        let p = &self.params;
        let mut r = vec![
            p.tags.clone(),
            p.members.clone(),
            p.contact_history.clone(),
            p.suppression.clone(),
        ];
        r.extend(p.campaigns.iter().map(CampaignDecl::table));
        r
    }
    fn writes(&self) -> Vec<String> {
        vec![
            self.params.output.clone(),
            self.params.summary_output.clone(),
        ]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let p = &self.params;
            let tags = ctx.table(&p.tags).await?;
            for c in TAG_COLUMNS {
                if tags.schema().field_with_unqualified_name(c).is_err() {
                    return Err(self.config_error(format!("table {} has no column {c}", p.tags)));
                }
            }
            let members = ctx.table(&p.members).await?;
            for c in std::iter::once("member_id")
                .chain(Channel::ALL.iter().map(|ch| ch.consent_column()))
            {
                if members.schema().field_with_unqualified_name(c).is_err() {
                    return Err(
                        self.config_error(format!("table {} has no column {c}", p.members))
                    );
                }
            }
            for decl in &p.campaigns {
                let table = decl.table();
                let df = ctx.table(&table).await?;
                let schema = df.schema();
                let field = |c: &str| schema.field_with_unqualified_name(c).ok();
                let wrong = |c: &str, what: &str, found: &DataType| {
                    self.config_error(format!(
                        "campaign {:?}: column {c} of table {table} must be {what}, found {found}",
                        decl.name
                    ))
                };
                for c in ["member_id", "score"] {
                    if field(c).is_none() {
                        return Err(self.config_error(format!(
                            "campaign {:?}: table {table} has no column {c} (a campaign table has member_id, score and optionally reasons, offer, recommended_products)",
                            decl.name
                        )));
                    }
                }
                let score = field("score").expect("checked").data_type();
                if !score.is_numeric() {
                    return Err(wrong("score", "a number", score));
                }
                for c in ["reasons", "recommended_products"] {
                    if let Some(f) = field(c)
                        && !is_text_list(f.data_type())
                    {
                        return Err(wrong(c, "a list of text", f.data_type()));
                    }
                }
                if let Some(f) = field("offer")
                    && !is_text(f.data_type())
                {
                    return Err(wrong("offer", "text", f.data_type()));
                }
            }
            Ok(vec![
                (p.output.clone(), self.outreach_schema(ctx)),
                (p.summary_output.clone(), Self::summary_schema()),
            ])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            let p = &self.params;
            let (ids, mut members) = self.members(ctx).await?;
            let index: HashMap<String, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect();
            let history_details = self.history(ctx, &index, &mut members).await?;
            let tags = self.tags(ctx, &index).await?;
            let mut loaded = Vec::with_capacity(p.campaigns.len());
            for decl in &p.campaigns {
                loaded.push(self.campaign(ctx, decl, &index).await?);
            }
            let policies: Vec<CampaignPolicy> = p
                .campaigns
                .iter()
                .map(|c| CampaignPolicy {
                    name: c.name.clone(),
                    channels: c.channels.clone(),
                    priority: c.priority,
                    budget: c.budget.map(|b| b as usize),
                    holdout_share: c.holdout,
                    exclusive: c.exclusive,
                })
                .collect();
            let candidates: Vec<Vec<Candidate>> =
                loaded.iter().map(|l| l.candidates.clone()).collect();
            let policy = Policy {
                max_contacts: p.max_contacts,
                salt: p.salt.clone(),
            };
            let (picks, funnels) = tokio::task::block_in_place(|| {
                select(&policy, &members, &ids, &policies, &candidates)
            });

            let outreach = self.outreach_batch(ctx, &picks, &ids, &tags, &loaded)?;
            let summary = self.summary_batch(ctx, &funnels, &loaded)?;
            let campaigns: Vec<serde_json::Value> = p
                .campaigns
                .iter()
                .zip(&funnels)
                .zip(&loaded)
                .map(|((c, f), l)| {
                    tracing::info!(
                        campaign = %c.name,
                        eligible = f.eligible,
                        selected = f.selected,
                        holdout = f.holdout,
                        "outreach list"
                    );
                    if l.null_scores > 0 {
                        tracing::warn!(campaign = %c.name, rows = l.null_scores, "null or NaN scores ranked last");
                    }
                    json!({
                        "campaign": c.name,
                        "table": c.table(),
                        "description": c.description,
                        "eligible": f.eligible,
                        "unknown_members": l.unknown_members,
                        "null_scores": l.null_scores,
                        "selected": f.selected,
                        "holdout": f.holdout,
                    })
                })
                .collect();
            ctx.detail(
                &p.output,
                json!({"campaigns": campaigns, "history": history_details, "rows": picks.len()}),
            );
            ctx.write(&p.output, ctx.session.read_batch(outreach)?)
                .await?;
            ctx.write(&p.summary_output, ctx.session.read_batch(summary)?)
                .await?;
            Ok(())
        }
        .boxed()
    }
}

impl OutreachStep {
    fn outreach_batch(
        &self,
        ctx: &StepContext,
        picks: &[crate::outreach::Pick],
        ids: &[String],
        tags: &[TagRow],
        loaded: &[Loaded],
    ) -> Result<RecordBatch> {
        let p = &self.params;
        let n = picks.len();
        let tz = ctx.job.timezone;
        let mut member = StringBuilder::with_capacity(n, n * 8);
        let mut campaign = StringBuilder::with_capacity(n, n * 8);
        let mut contact_type = StringBuilder::with_capacity(n, n * 8);
        let mut channel = StringBuilder::with_capacity(n, n * 6);
        let mut offer = StringBuilder::with_capacity(n, n * 12);
        let mut segment = StringBuilder::with_capacity(n, n * 3);
        let mut tier = StringBuilder::with_capacity(n, n * 7);
        let mut window = StringBuilder::with_capacity(n, n * 11);
        let mut reasons = ListBuilder::new(StringBuilder::new());
        let mut products = ListBuilder::new(StringBuilder::new());
        let (mut rank, mut score, mut holdout, mut send_at, mut priority) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for pick in picks {
            let decl = &p.campaigns[pick.campaign];
            let l = &loaded[pick.campaign];
            let t = &tags[pick.member];
            member.append_value(&ids[pick.member]);
            campaign.append_value(&decl.name);
            contact_type.append_value(&decl.contact_type);
            channel.append_value(pick.channel.as_str());
            rank.push(pick.rank as i32);
            score.push(l.candidates[pick.candidate].score);
            for r in &l.reasons[pick.candidate] {
                reasons.values().append_value(r);
            }
            reasons.append(true);
            // The offer depends on the member and the campaign, never on the channel.
            let chosen_offer = l.offers[pick.candidate]
                .as_ref()
                .or_else(|| t.tier.as_ref().and_then(|tier| decl.offers.get(tier)))
                .or(decl.offer.as_ref());
            offer.append_option(chosen_offer);
            for r in &l.products[pick.candidate] {
                products.values().append_value(r);
            }
            products.append(true);
            segment.append_option(t.segment_id.as_ref());
            tier.append_option(t.tier.as_ref());
            holdout.push(pick.holdout);
            let hour = crate::outreach::send_hour(t.peak_hour, decl.send_hours);
            window.append_value(format!("{hour:02}:00-{:02}:00", hour + 1));
            let local = ctx
                .as_of
                .and_hms_opt(u32::from(hour), 0, 0)
                .expect("valid hour");
            let at = tz
                .from_local_datetime(&local)
                .earliest()
                .map(|t| t.timestamp_micros())
                .unwrap_or_else(|| local.and_utc().timestamp_micros());
            send_at.push(at);
            priority.push(decl.priority);
        }
        let tz_name: Arc<str> = tz.name().into();
        let as_of = ctx.as_of_date32();
        RecordBatch::try_new(
            self.outreach_schema(ctx),
            vec![
                Arc::new(member.finish()) as ArrayRef,
                Arc::new(campaign.finish()),
                Arc::new(contact_type.finish()),
                Arc::new(channel.finish()),
                Arc::new(Int32Array::from(rank)),
                Arc::new(Float64Array::from(score)),
                Arc::new(reasons.finish()),
                Arc::new(offer.finish()),
                Arc::new(products.finish()),
                Arc::new(segment.finish()),
                Arc::new(tier.finish()),
                Arc::new(BooleanArray::from(holdout)),
                Arc::new(window.finish()),
                Arc::new(TimestampMicrosecondArray::from(send_at).with_timezone(tz_name)),
                Arc::new(Int64Array::from(priority)),
                Arc::new(Date32Array::from(vec![as_of; n])),
            ],
        )
        .map_err(|e| SiyuError::runtime(format!("{}: building {}: {e}", self.at, p.output)))
    }

    fn summary_batch(
        &self,
        ctx: &StepContext,
        funnels: &[Funnel],
        loaded: &[Loaded],
    ) -> Result<RecordBatch> {
        let p = &self.params;
        let n = p.campaigns.len();
        let count = |f: &dyn Fn(&Funnel, &Loaded) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                funnels.iter().zip(loaded).map(|(x, l)| f(x, l) as i64),
            ))
        };
        RecordBatch::try_new(
            Self::summary_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    p.campaigns.iter().map(|c| c.name.as_str()),
                )) as ArrayRef,
                Arc::new(StringArray::from_iter_values(
                    p.campaigns.iter().map(|c| c.contact_type.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    p.campaigns.iter().map(|c| c.priority),
                )),
                Arc::new(Int64Array::from_iter(
                    p.campaigns.iter().map(|c| c.budget.map(|b| b as i64)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    p.campaigns.iter().map(|c| c.holdout),
                )),
                count(&|f, l| f.eligible + l.unknown_members),
                count(&|_, l| l.unknown_members),
                count(&|f, _| f.removed_no_consent),
                count(&|f, _| f.removed_suppressed),
                count(&|f, _| f.removed_frequency_cap),
                count(&|f, _| f.removed_priority),
                count(&|f, _| f.removed_budget),
                count(&|f, _| f.selected),
                count(&|f, _| f.holdout),
                count(&|f, _| f.selected - f.holdout),
                Arc::new(Date32Array::from(vec![ctx.as_of_date32(); n])),
            ],
        )
        .map_err(|e| SiyuError::runtime(format!("{}: building {}: {e}", self.at, p.summary_output)))
    }
}
