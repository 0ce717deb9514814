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
//! fatigue = "member_fatigue"         # optional: members rested tonight (member_id); default none
//! channel_caps = { sms = 1 }         # optional: contacts per member per channel per cap_days
//! price_sensitive_from = 0.3         # default: price_sensitivity from which offers_by_price
//!                                    #   gives the discount offer
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
//! offers_by_price = { price_sensitive = "满99减20", full_price = "赠品" }  # optional
//! exclusive = true                   # default: one exclusive campaign per member per night
//! ```
//!
//! A campaign table has one row per eligible member: `member_id`, `score` (higher =
//! contact first), and optionally `reasons` (list of text), `offer` (text; wins over the
//! job file's offers), `recommended_products` (list of text) and any number of `msg_*`
//! columns: each is a field of the row's `message_fields` (name → value, as text, sorted
//! by name), which a message template fills in; the chosen offer is the field `offer`.
//!
//! A picked member's offer: the table's `offer` if not null, else `offers_by_price` when
//! the campaign declares it and the member's `price_sensitivity` (tags table; null for
//! non-buyers) is known — with a reason saying which and why — else `offers[tier]`, else
//! `offer`. The fatigue table is a step input like the others, so the SQL that rests
//! members (`sql/outreach/member_fatigue.sql`) runs first; its members unknown to
//! `members` are ignored.

pub mod params;
mod read;
mod write;

use std::collections::HashMap;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::{DeclaredStep, Step, StepContext, config_error, table_error};
use crate::columns::{is_text, is_text_list, require_columns};
use crate::error::{Result, SiyuError};
use crate::held::{Held, map_bytes, string_bytes, vec_bytes};
use crate::manifest::{CampaignRecord, OutreachDetails, StepDetails, Warning};
use crate::outreach::{CampaignPolicy, Candidate, Channel, select};
use params::CampaignDecl;
pub use params::OutreachStep;

const KIND: &str = "outreach";

/// A campaign table's columns with this prefix are message fields: `msg_points_expiring`
/// is the field `points_expiring` of the row's `message_fields`.
pub const MESSAGE_FIELD_PREFIX: &str = "msg_";

/// The member_tags columns the step reads.
const TAG_COLUMNS: [&str; 4] = ["member_id", "tier", "segment_id", "peak_hour"];

/// The member_tags column `offers_by_price` reads, required only when a campaign has them.
const PRICE_COLUMN: &str = "price_sensitivity";

impl DeclaredStep for OutreachStep {
    const KIND: &'static str = KIND;
}

impl OutreachStep {
    fn config_error(&self, m: String) -> SiyuError {
        config_error(KIND, m)
    }
}

impl Step for OutreachStep {
    fn name(&self) -> &str {
        &self.output
    }
    fn reads(&self) -> Vec<String> {
        let mut r = vec![
            self.tags.clone(),
            self.members.clone(),
            self.contact_history.clone(),
            self.suppression.clone(),
        ];
        r.extend(self.fatigue.clone());
        r.extend(self.campaigns.iter().map(CampaignDecl::table));
        r
    }
    fn writes(&self) -> Vec<String> {
        vec![self.output.clone(), self.summary_output.clone()]
    }

    fn plan<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<Vec<(String, SchemaRef)>>> {
        async move {
            let tags = ctx.table(&self.tags).await?;
            require_columns(tags.schema(), &self.tags, &TAG_COLUMNS).map_err(|e| table_error(KIND, e))?;
            if let Some(c) = self.campaigns.iter().find(|c| c.offers_by_price.is_some())
                && tags.schema().field_with_unqualified_name(PRICE_COLUMN).is_err()
            {
                return Err(self.config_error(format!(
                    "campaign {:?}: offers_by_price needs column {PRICE_COLUMN} in table {}",
                    c.name, self.tags
                )));
            }
            if let Some(fatigue) = &self.fatigue {
                let df = ctx.table(fatigue).await?;
                require_columns(df.schema(), fatigue, &["member_id"])
                    .map_err(|e| table_error(KIND, e))?;
            }
            let members = ctx.table(&self.members).await?;
            let member_columns: Vec<&str> = std::iter::once("member_id")
                .chain(Channel::ALL.iter().map(|ch| ch.consent_column()))
                .chain(["guide_id"])
                .collect();
            require_columns(members.schema(), &self.members, &member_columns)
                .map_err(|e| table_error(KIND, e))?;
            for decl in &self.campaigns {
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
                // Message fields are published: personal data never goes out in them.
                for f in schema.fields() {
                    if let Some(name) = f.name().strip_prefix(MESSAGE_FIELD_PREFIX)
                        && crate::runner::personal_column(name, f.data_type(), true)
                    {
                        return Err(self.config_error(format!(
                            "campaign {:?}: column {} of table {table} would publish personal data in message_fields ({name}); outreach carries member ids, the sender joins its own contact data",
                            decl.name,
                            f.name()
                        )));
                    }
                }
            }
            Ok(vec![
                (self.output.clone(), self.outreach_schema(ctx)),
                (self.summary_output.clone(), Self::summary_schema()),
            ])
        }
        .boxed()
    }

    fn run<'a>(&'a self, ctx: &'a StepContext) -> BoxFuture<'a, Result<()>> {
        async move {
            // What the step holds grows as it reads: members, their tags, every
            // campaign's candidates, the picks, the output batch.
            let mut held = Held::new(&ctx.session, "the members and campaign candidates");
            let (ids, mut members, _guides) = self.members(ctx).await?;
            let index: HashMap<String, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect();
            let mut holding = 2 * string_bytes(&ids)
                + vec_bytes(&ids)
                + vec_bytes(&members)
                + map_bytes::<String, usize>(index.capacity());
            held.set(holding)?;
            let history = self.history(ctx, &index, &mut members).await?;
            let tags = self.tags(ctx, &index).await?;
            holding += vec_bytes(&tags)
                + tags
                    .iter()
                    .map(|t| {
                        [
                            &t.tier,
                            &t.segment_id,
                            &t.store_id,
                            &t.guide_id,
                            &t.segment_name,
                            &t.lifecycle_stage,
                            &t.journey_stage,
                        ]
                        .iter()
                        .map(|s| s.as_ref().map_or(0, String::capacity))
                        .sum::<usize>()
                    })
                    .sum::<usize>();
            held.set(holding)?;
            let mut loaded = Vec::with_capacity(self.campaigns.len());
            for decl in &self.campaigns {
                let l = self.campaign(ctx, decl, &index).await?;
                // Counted twice: the policy reads a copy of the candidates.
                holding += l.heap_bytes() + vec_bytes(&l.candidates);
                held.set(holding)?;
                loaded.push(l);
            }
            let policies: Vec<CampaignPolicy> =
                self.campaigns.iter().map(CampaignDecl::policy).collect();
            let candidates: Vec<Vec<Candidate>> =
                loaded.iter().map(|l| l.candidates.clone()).collect();
            let policy = self.policy();
            let (picks, funnels) = tokio::task::block_in_place(|| {
                select(&policy, &members, &ids, &policies, &candidates)
            });
            holding += vec_bytes(&picks);
            held.set(holding)?;

            let outreach = self.outreach_batch(ctx, &picks, &ids, &tags, &loaded)?;
            held.set(holding + outreach.get_array_memory_size())?;
            let summary = self.summary_batch(ctx, &funnels, &loaded)?;
            let campaigns: Vec<CampaignRecord> = self
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
                        ctx.warn(Warning {
                            step: Some(self.output.clone()),
                            table: Some(c.table()),
                            ..Warning::new(format!(
                                "campaign {}: {} null or NaN scores ranked last",
                                c.name, l.null_scores
                            ))
                        });
                    }
                    CampaignRecord {
                        campaign: c.name.clone(),
                        table: c.table(),
                        description: c.description.clone(),
                        eligible: f.eligible,
                        unknown_members: l.unknown_members,
                        null_scores: l.null_scores,
                        removed_fatigue: f.removed_fatigue,
                        removed_channel_cap: f.removed_channel_cap,
                        removed_guide_capacity: f.removed_guide_capacity,
                        selected: f.selected,
                        holdout: f.holdout,
                    }
                })
                .collect();
            ctx.detail(
                &self.output,
                StepDetails::Outreach(OutreachDetails {
                    campaigns,
                    members_with_recent_contacts: history.members_with_recent_contacts,
                    members_suppressed: history.members_suppressed,
                    members_fatigued: history.members_fatigued,
                    rows: picks.len(),
                }),
            );
            // Only the output batch is needed now: what built it goes back to the pool
            // before the batch is sorted and written (the sort holds a sorted copy).
            drop((ids, members, index, tags, loaded, candidates, picks));
            held.set(outreach.get_array_memory_size())?;
            ctx.write_batch(&self.output, outreach).await?;
            drop(held);
            ctx.write_batch(&self.summary_output, summary).await?;
            Ok(())
        }
        .boxed()
    }
}
