//! Writing the outreach step's two tables: the outreach list, one row per contact
//! (and holdout), and the per-campaign funnel summary.

use std::sync::Arc;

use chrono::TimeZone;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, ListBuilder, RecordBatch,
    StringArray, StringBuilder, StructBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, SchemaRef};

use super::OutreachStep;
use super::params::CampaignDecl;
use super::read::{Loaded, TagRow};
use crate::columns::as_of_column;
use crate::error::Result;
use crate::outreach::Funnel;
use crate::step::StepContext;

/// A builder of `message_fields` (`outputs::message_fields`).
fn message_fields_builder() -> ListBuilder<StructBuilder> {
    let DataType::List(item) = crate::outputs::message_fields() else {
        unreachable!("message_fields is a list")
    };
    let DataType::Struct(entry) = item.data_type() else {
        unreachable!("of structs")
    };
    ListBuilder::new(StructBuilder::from_fields(entry.clone(), 0)).with_field(item)
}

impl OutreachStep {
    pub(super) fn outreach_schema(&self, ctx: &StepContext) -> SchemaRef {
        crate::outputs::outreach(ctx.job.timezone.name())
    }

    pub(super) fn summary_schema() -> SchemaRef {
        crate::outputs::outreach_summary()
    }

    pub(super) fn outreach_batch(
        &self,
        ctx: &StepContext,
        picks: &[crate::outreach::Pick],
        ids: &[String],
        tags: &[TagRow],
        loaded: &[Loaded],
    ) -> Result<RecordBatch> {
        let n = picks.len();
        let tz = ctx.job.timezone;
        let mut member = StringBuilder::with_capacity(n, n * 8);
        let mut campaign = StringBuilder::with_capacity(n, n * 8);
        let mut contact_type = StringBuilder::with_capacity(n, n * 8);
        let mut channel = StringBuilder::with_capacity(n, n * 6);
        let mut offer = StringBuilder::with_capacity(n, n * 12);
        let mut segment = StringBuilder::with_capacity(n, n * 3);
        let mut tier = StringBuilder::with_capacity(n, n * 7);
        let mut store = StringBuilder::with_capacity(n, n * 6);
        let mut guide = StringBuilder::with_capacity(n, n * 6);
        let mut window = StringBuilder::with_capacity(n, n * 11);
        let mut reasons = ListBuilder::new(StringBuilder::new());
        let mut products = ListBuilder::new(StringBuilder::new());
        let mut fields = message_fields_builder();
        let mut segment_name = StringBuilder::with_capacity(n, n * 8);
        let mut lifecycle = StringBuilder::with_capacity(n, n * 8);
        let mut journey = StringBuilder::with_capacity(n, n * 3);
        let (mut rank, mut score, mut holdout, mut send_at, mut priority) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for pick in picks {
            let decl = &self.campaigns[pick.campaign];
            let l = &loaded[pick.campaign];
            let t = &tags[pick.member];
            member.append_value(&ids[pick.member]);
            campaign.append_value(&decl.name);
            contact_type.append_value(&decl.contact_type);
            channel.append_value(pick.channel.as_str());
            rank.push(pick.rank as i32);
            score.push(l.candidates[pick.candidate].score);
            let (chosen_offer, offer_reason) =
                self.offer(decl, l.offers[pick.candidate].as_deref(), t);
            for r in l.reasons[pick.candidate].iter().chain(&offer_reason) {
                reasons.values().append_value(r);
            }
            reasons.append(true);
            offer.append_option(chosen_offer);
            for r in &l.products[pick.candidate] {
                products.values().append_value(r);
            }
            products.append(true);
            let mut pairs: Vec<(&str, &str)> = l
                .field_names
                .iter()
                .zip(&l.fields[pick.candidate])
                .filter_map(|(name, v)| v.as_deref().map(|v| (name.as_str(), v)))
                .collect();
            if let Some(o) = chosen_offer
                && !l.field_names.iter().any(|f| f == "offer")
            {
                pairs.push(("offer", o));
            }
            pairs.sort_unstable();
            for (name, value) in pairs {
                let entry = fields.values();
                entry
                    .field_builder::<StringBuilder>(0)
                    .expect("name")
                    .append_value(name);
                entry
                    .field_builder::<StringBuilder>(1)
                    .expect("value")
                    .append_value(value);
                entry.append(true);
            }
            fields.append(true);
            segment.append_option(t.segment_id.as_ref());
            segment_name.append_option(t.segment_name.as_ref());
            tier.append_option(t.tier.as_ref());
            lifecycle.append_option(t.lifecycle_stage.as_ref());
            journey.append_option(t.journey_stage.as_ref());
            store.append_option(t.store_id.as_ref());
            guide.append_option(t.guide_id.as_ref());
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
            priority.push(decl.priority.unwrap_or_default());
        }
        let tz_name: Arc<str> = tz.name().into();
        let as_of = ctx.as_of_date32();
        crate::columns::batch(
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
                Arc::new(fields.finish()),
                Arc::new(segment.finish()),
                Arc::new(segment_name.finish()),
                Arc::new(tier.finish()),
                Arc::new(lifecycle.finish()),
                Arc::new(journey.finish()),
                Arc::new(store.finish()),
                Arc::new(guide.finish()),
                Arc::new(BooleanArray::from(holdout)),
                Arc::new(window.finish()),
                Arc::new(TimestampMicrosecondArray::from(send_at).with_timezone(tz_name)),
                Arc::new(Int64Array::from(priority)),
                as_of_column(as_of, n),
            ],
            &self.output,
        )
    }

    /// A picked member's offer, and a reason when their price sensitivity chose it. It
    /// depends on the member and the campaign, never on the channel: the table's offer,
    /// else `offers_by_price` (when declared and the sensitivity is known), else
    /// `offers[tier]`, else `offer`.
    fn offer<'a>(
        &self,
        decl: &'a CampaignDecl,
        from_sql: Option<&'a str>,
        tags: &TagRow,
    ) -> (Option<&'a str>, Option<String>) {
        if let Some(o) = from_sql {
            return (Some(o), None);
        }
        if let Some((o, reason)) =
            decl.offer_by_price(tags.price_sensitivity, self.price_sensitive_from)
        {
            return (Some(o), Some(reason));
        }
        let by_tier = tags.tier.as_ref().and_then(|tier| decl.offers.get(tier));
        (by_tier.or(decl.offer.as_ref()).map(String::as_str), None)
    }

    pub(super) fn summary_batch(
        &self,
        ctx: &StepContext,
        funnels: &[Funnel],
        loaded: &[Loaded],
    ) -> Result<RecordBatch> {
        let n = self.campaigns.len();
        let count = |f: &dyn Fn(&Funnel, &Loaded) -> u64| -> ArrayRef {
            Arc::new(Int64Array::from_iter_values(
                funnels.iter().zip(loaded).map(|(x, l)| f(x, l) as i64),
            ))
        };
        crate::columns::batch(
            Self::summary_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    self.campaigns.iter().map(|c| c.name.as_str()),
                )) as ArrayRef,
                Arc::new(StringArray::from_iter_values(
                    self.campaigns.iter().map(|c| c.contact_type.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(
                    self.campaigns
                        .iter()
                        .map(|c| c.priority.unwrap_or_default()),
                )),
                Arc::new(Int64Array::from_iter(
                    self.campaigns.iter().map(|c| c.budget.map(|b| b as i64)),
                )),
                Arc::new(Float64Array::from_iter_values(
                    self.campaigns.iter().map(|c| c.holdout),
                )),
                count(&|f, l| f.eligible + l.unknown_members),
                count(&|_, l| l.unknown_members),
                count(&|f, _| f.removed_no_consent),
                count(&|f, _| f.removed_suppressed),
                count(&|f, _| f.removed_fatigue),
                count(&|f, _| f.removed_frequency_cap),
                count(&|f, _| f.removed_channel_cap),
                count(&|f, _| f.removed_guide_capacity),
                count(&|f, _| f.removed_priority),
                count(&|f, _| f.removed_budget),
                count(&|f, _| f.selected),
                count(&|f, _| f.holdout),
                count(&|f, _| f.selected - f.holdout),
                as_of_column(ctx.as_of_date32(), n),
            ],
            &self.summary_output,
        )
    }
}
