//! Reading what the outreach step decides from: members and their consents, contact
//! history (in all and per channel), suppressions and rested members as of tonight, the
//! member tags an outreach row carries or its offer depends on, and each campaign's
//! eligible members.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{Array, AsArray, BooleanArray, ListArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::logical_expr::{Expr, cast, col, lit};

use super::params::CampaignDecl;
use super::{MESSAGE_FIELD_PREFIX, OutreachStep};
use crate::error::{Result, SiyuError};
use crate::held::{string_bytes, vec_bytes};
use crate::outreach::{Candidate, Channel, Member};
use crate::step::StepContext;

/// One campaign's eligible members as read from its table.
pub(super) struct Loaded {
    pub candidates: Vec<Candidate>,
    pub reasons: Vec<Vec<String>>,
    pub offers: Vec<Option<String>>,
    pub products: Vec<Vec<String>>,
    /// The campaign table's `msg_*` columns, without the prefix, sorted.
    pub field_names: Vec<String>,
    /// Per candidate, the value of each of `field_names` as text.
    pub fields: Vec<Vec<Option<String>>>,
    pub unknown_members: u64,
    pub null_scores: u64,
}

impl Loaded {
    /// Heap bytes the campaign's rows hold.
    pub fn heap_bytes(&self) -> usize {
        let lists = |v: &Vec<Vec<String>>| {
            vec_bytes(v)
                + v.iter()
                    .map(|l| vec_bytes(l) + string_bytes(l))
                    .sum::<usize>()
        };
        vec_bytes(&self.candidates)
            + lists(&self.reasons)
            + lists(&self.products)
            + vec_bytes(&self.fields)
            + self
                .fields
                .iter()
                .map(|f| vec_bytes(f) + f.iter().flatten().map(String::capacity).sum::<usize>())
                .sum::<usize>()
            + vec_bytes(&self.offers)
            + self
                .offers
                .iter()
                .flatten()
                .map(String::capacity)
                .sum::<usize>()
    }
}

/// One row of a campaign table: member index, score, reasons, offer, products, the
/// values of its `msg_*` columns.
type CampaignRow = (
    usize,
    f64,
    Vec<String>,
    Option<String>,
    Vec<String>,
    Vec<Option<String>>,
);

/// member_tags columns the outreach rows carry.
#[derive(Default, Clone)]
pub(super) struct TagRow {
    pub tier: Option<String>,
    pub segment_id: Option<String>,
    pub peak_hour: Option<i64>,
    /// Share of spend on discounted orders; read only for `offers_by_price`.
    pub price_sensitivity: Option<f64>,
    /// The member's service store and shopping guide (member_tags `service_store_id`,
    /// `guide_id`), carried to the list when the tags table has them.
    pub store_id: Option<String>,
    pub guide_id: Option<String>,
    /// The member's segment name and stages, carried to the list when the tags table has
    /// them (a CRM shows them beside the message).
    pub segment_name: Option<String>,
    pub lifecycle_stage: Option<String>,
    pub journey_stage: Option<String>,
}

/// What the history told: members with contacts in the cap window, suppressed ones and
/// rested ones.
pub(super) struct History {
    pub members_with_recent_contacts: u64,
    pub members_suppressed: u64,
    pub members_fatigued: u64,
}

impl OutreachStep {
    /// Members sorted by id, with consent per channel and their shopping guide (an index
    /// into the returned guide ids). WeCom needs both a guide and `consent_wecom`.
    pub(super) async fn members(
        &self,
        ctx: &StepContext,
    ) -> Result<(Vec<String>, Vec<Member>, Vec<String>)> {
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
        cols.push(cast(col("guide_id"), DataType::Utf8).alias("guide_id"));
        let batches = ctx
            .table(&self.members)
            .await?
            .select(cols)?
            .sort(vec![col("member_id").sort(true, true)])?
            .collect()
            .await?;
        let mut ids = Vec::new();
        let mut members = Vec::new();
        let mut guides: Vec<String> = Vec::new();
        let mut guide_index: HashMap<String, usize> = HashMap::new();
        for b in &batches {
            let id = b.column(0).as_string::<i32>();
            let consent: Vec<&BooleanArray> = (1..=Channel::ALL.len())
                .map(|i| b.column(i).as_boolean())
                .collect();
            let guide = b.column(Channel::ALL.len() + 1).as_string::<i32>();
            for r in 0..b.num_rows() {
                if id.is_null(r) {
                    continue;
                }
                if ids.last().is_some_and(|last: &String| last == id.value(r)) {
                    return Err(SiyuError::input(format!(
                        "{}: member_id {:?} appears more than once",
                        self.members,
                        id.value(r)
                    ))
                    .in_table(&self.members)
                    .in_column("member_id")
                    .with_key(id.value(r)));
                }
                ids.push(id.value(r).to_string());
                let mut m = Member::default();
                for (i, c) in consent.iter().enumerate() {
                    m.consent[i] = c.value(r);
                }
                if !guide.is_null(r) && !guide.value(r).is_empty() {
                    let g = guide.value(r);
                    let next = guides.len();
                    let at = *guide_index.entry(g.to_string()).or_insert(next);
                    if at == next {
                        guides.push(g.to_string());
                    }
                    m.guide = Some(at);
                }
                // A 1:1 WeCom message comes from the member's own guide.
                m.consent[Channel::Wecom.index()] &= m.guide.is_some();
                members.push(m);
            }
        }
        Ok((ids, members, guides))
    }

    /// Mark suppressed and rested members and contact counts (in all and per channel) from
    /// history, as of tonight.
    pub(super) async fn history(
        &self,
        ctx: &StepContext,
        index: &HashMap<String, usize>,
        members: &mut [Member],
    ) -> Result<History> {
        let day = |n: i64| {
            format!(
                "CAST('{}' AS TIMESTAMP)",
                (ctx.as_of - chrono::Duration::days(n)).format("%Y-%m-%d")
            )
        };
        let tonight = day(0);
        let cap_start = day(i64::from(self.cap_days) - 1);
        let quiet_start = day(i64::from(self.quiet_days));
        let from = day(i64::from((self.cap_days - 1).max(self.quiet_days)));
        // Holdout rows count like contacts: a control group must be treated like the
        // contacted group by every other campaign, or the comparison is biased. The
        // per-channel counts (columns 3.., in Channel::ALL order) feed channel_caps.
        let by_channel: String = Channel::ALL
            .iter()
            .map(|ch| {
                format!(
                    ", COUNT(*) FILTER (WHERE sent_at >= {cap_start} \
                     AND CAST(channel AS VARCHAR) = '{}') AS recent_{}",
                    ch.as_str(),
                    ch.as_str()
                )
            })
            .collect();
        let history = format!(
            "SELECT CAST(member_id AS VARCHAR) AS member_id, \
                        COUNT(*) FILTER (WHERE sent_at >= {cap_start}) AS recent, \
                        COALESCE(BOOL_OR(sent_at >= {quiet_start}), false) AS quiet\
                        {by_channel} \
                 FROM {h} WHERE sent_at >= {from} AND sent_at < {tonight} \
                 GROUP BY CAST(member_id AS VARCHAR)",
            h = self.contact_history
        );
        let count = |b: &RecordBatch, c: usize, r: usize| {
            let n = b.column(c).as_primitive::<Int64Type>().value(r);
            n.clamp(0, u32::MAX as i64) as u32
        };
        let in_window = known_members(ctx, &history, index, |m, b, r| {
            members[m].recent_contacts = count(b, 1, r);
            members[m].in_quiet_period = self.quiet_days > 0 && b.column(2).as_boolean().value(r);
            for i in 0..Channel::ALL.len() {
                members[m].recent_by_channel[i] = count(b, 3 + i, r);
            }
        })
        .await?;
        let suppressed = format!(
            "SELECT DISTINCT CAST(member_id AS VARCHAR) AS member_id FROM {s} \
                 WHERE until IS NULL OR until > {tonight}",
            s = self.suppression
        );
        let n_suppressed = known_members(ctx, &suppressed, index, |m, _, _| {
            members[m].suppressed = true
        })
        .await?;
        let mut n_fatigued = 0;
        if let Some(fatigue) = &self.fatigue {
            // The table decides who rests tonight (its SQL holds the rule); here it is
            // only a list of members.
            let rested = format!(
                "SELECT DISTINCT CAST(member_id AS VARCHAR) AS member_id FROM {fatigue} \
                     WHERE member_id IS NOT NULL"
            );
            n_fatigued =
                known_members(ctx, &rested, index, |m, _, _| members[m].fatigued = true).await?;
        }
        Ok(History {
            members_with_recent_contacts: in_window,
            members_suppressed: n_suppressed,
            members_fatigued: n_fatigued,
        })
    }

    pub(super) async fn tags(
        &self,
        ctx: &StepContext,
        index: &HashMap<String, usize>,
    ) -> Result<Vec<TagRow>> {
        // price_sensitivity is only required (and only read) for offers_by_price.
        let price = if self.reads_price_sensitivity() {
            col("price_sensitivity")
        } else {
            lit(datafusion::scalar::ScalarValue::Null)
        };
        let tags = ctx.table(&self.tags).await?;
        let optional = |c: &str| {
            if tags.schema().field_with_unqualified_name(c).is_ok() {
                col(c)
            } else {
                lit(datafusion::scalar::ScalarValue::Null)
            }
        };
        let (store, guide) = (optional("service_store_id"), optional("guide_id"));
        let (segment_name, lifecycle, journey) = (
            optional("segment_name"),
            optional("lifecycle_stage"),
            optional("journey_stage"),
        );
        let batches = tags
            .select(vec![
                cast(col("member_id"), DataType::Utf8).alias("member_id"),
                cast(col("tier"), DataType::Utf8).alias("tier"),
                cast(col("segment_id"), DataType::Utf8).alias("segment_id"),
                cast(col("peak_hour"), DataType::Int64).alias("peak_hour"),
                cast(price, DataType::Float64).alias("price_sensitivity"),
                cast(store, DataType::Utf8).alias("service_store_id"),
                cast(guide, DataType::Utf8).alias("guide_id"),
                cast(segment_name, DataType::Utf8).alias("segment_name"),
                cast(lifecycle, DataType::Utf8).alias("lifecycle_stage"),
                cast(journey, DataType::Utf8).alias("journey_stage"),
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
            let price = b.column(4).as_primitive::<Float64Type>();
            let store = b.column(5).as_string::<i32>();
            let guide = b.column(6).as_string::<i32>();
            let segment_name = b.column(7).as_string::<i32>();
            let lifecycle = b.column(8).as_string::<i32>();
            let journey = b.column(9).as_string::<i32>();
            for r in 0..b.num_rows() {
                let Some(&m) = index.get(id.value(r)) else {
                    continue;
                };
                let text = |a: &StringArray| (!a.is_null(r)).then(|| a.value(r).to_string());
                rows[m] = TagRow {
                    tier: text(tier),
                    segment_id: text(seg),
                    peak_hour: (!hour.is_null(r)).then(|| hour.value(r)),
                    price_sensitivity: (!price.is_null(r)).then(|| price.value(r)),
                    store_id: text(store),
                    guide_id: text(guide),
                    segment_name: text(segment_name),
                    lifecycle_stage: text(lifecycle),
                    journey_stage: text(journey),
                };
            }
        }
        Ok(rows)
    }

    pub(super) async fn campaign(
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
        let mut field_names: Vec<String> = present
            .iter()
            .filter_map(|c| c.strip_prefix(MESSAGE_FIELD_PREFIX))
            .map(str::to_string)
            .collect();
        field_names.sort();
        let mut select = vec![
            cast(col("member_id"), DataType::Utf8).alias("member_id"),
            cast(col("score"), DataType::Float64).alias("score"),
            optional("reasons", crate::columns::list_utf8()),
            optional("offer", DataType::Utf8),
            optional("recommended_products", crate::columns::list_utf8()),
        ];
        for f in &field_names {
            let c = format!("{MESSAGE_FIELD_PREFIX}{f}");
            select.push(cast(col(c.as_str()), DataType::Utf8).alias(c));
        }
        let df = df.select(select)?;
        let batches = df.collect().await?;
        let mut rows: Vec<CampaignRow> = Vec::new();
        let (mut unknown, mut null_scores) = (0u64, 0u64);
        let texts = |a: &ListArray, r: usize| -> Vec<String> {
            let mut v = crate::columns::texts(a, r);
            v.retain(|s| !s.trim().is_empty());
            v
        };
        for b in &batches {
            let id = b.column(0).as_string::<i32>();
            let score = b
                .column(1)
                .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            let reasons = b.column(2).as_list::<i32>();
            let offer = b.column(3).as_string::<i32>();
            let products = b.column(4).as_list::<i32>();
            let fields: Vec<&StringArray> = (0..field_names.len())
                .map(|i| b.column(5 + i).as_string::<i32>())
                .collect();
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
                    fields
                        .iter()
                        .map(|a| (!a.is_null(r)).then(|| a.value(r).to_string()))
                        .collect(),
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
            return Err(self
                .config_error(format!(
                    "campaign {:?}: table {table} has more than one row for member_id {id:?}; a campaign table has one row per eligible member",
                    decl.name
                ))
                .in_table(&table)
                .with_key(id));
        }
        let mut loaded = Loaded {
            candidates: Vec::with_capacity(rows.len()),
            reasons: Vec::with_capacity(rows.len()),
            offers: Vec::with_capacity(rows.len()),
            products: Vec::with_capacity(rows.len()),
            fields: Vec::with_capacity(rows.len()),
            field_names,
            unknown_members: unknown,
            null_scores,
        };
        for (member, score, reasons, offer, products, fields) in rows {
            loaded.fields.push(fields);
            loaded.candidates.push(Candidate { member, score });
            loaded.reasons.push(reasons);
            loaded.offers.push(offer);
            loaded.products.push(products);
        }
        Ok(loaded)
    }
}

/// Run `sql` (its first column a member id as text) and call `each(member, batch, row)`
/// for every row of a member in `index`; how many rows that was.
async fn known_members(
    ctx: &StepContext,
    sql: &str,
    index: &HashMap<String, usize>,
    mut each: impl FnMut(usize, &RecordBatch, usize),
) -> Result<u64> {
    let mut known = 0;
    for b in &ctx.session.sql(sql).await?.collect().await? {
        let id = b.column(0).as_string::<i32>();
        for r in 0..b.num_rows() {
            if let Some(&m) = index.get(id.value(r)) {
                each(m, b, r);
                known += 1;
            }
        }
    }
    Ok(known)
}
