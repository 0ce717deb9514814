//! The outreach step's settings and each campaign's, as the job file declares them, with
//! their defaults and their checks.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::outreach::{CampaignPolicy, Channel, Policy};
use crate::step::{StepParams, check_identifiers};

/// The tiers `offers` may name (member_tier.tier).
const TIERS: [&str; 3] = ["platinum", "gold", "regular"];

/// The keys `offers_by_price` must name, both of them.
const PRICE_KEYS: [&str; 2] = ["price_sensitive", "full_price"];

/// An outreach step: its `[[steps]]` parameters (the module docs list them), checked once
/// by [`StepParams::validate`].
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutreachStep {
    /// Seeds the holdout hash; required.
    pub(super) salt: String,
    pub(super) max_contacts: u32,
    pub(super) cap_days: u32,
    pub(super) quiet_days: u32,
    pub(super) tags: String,
    pub(super) members: String,
    pub(super) contact_history: String,
    pub(super) suppression: String,
    /// Table of members rested tonight (营销疲劳); `None` = nobody is.
    pub(super) fatigue: Option<String>,
    /// At most N contacts per member on a channel per rolling `cap_days`.
    pub(super) channel_caps: BTreeMap<Channel, u32>,
    /// A member whose price_sensitivity is at least this gets a campaign's
    /// `offers_by_price.price_sensitive`, below it `full_price`.
    pub(super) price_sensitive_from: f64,
    /// At most N 1:1 `wecom` messages per shopping guide tonight; `None` = no limit.
    pub(super) guide_daily_capacity: Option<u32>,
    pub(super) output: String,
    pub(super) summary_output: String,
    pub(super) campaigns: Vec<CampaignDecl>,
}

impl Default for OutreachStep {
    fn default() -> Self {
        OutreachStep {
            salt: String::new(),
            max_contacts: 2,
            cap_days: 7,
            quiet_days: 1,
            tags: "member_tags".into(),
            members: "members".into(),
            contact_history: "contact_history".into(),
            suppression: "suppression".into(),
            fatigue: None,
            channel_caps: BTreeMap::new(),
            price_sensitive_from: 0.3,
            guide_daily_capacity: None,
            output: "outreach".into(),
            summary_output: "outreach_summary".into(),
            campaigns: Vec::new(),
        }
    }
}

/// One `[[steps.campaigns]]` entry.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CampaignDecl {
    pub(super) name: String,
    pub(super) table: Option<String>,
    pub(super) contact_type: String,
    pub(super) channels: Vec<Channel>,
    pub(super) priority: Option<i64>,
    pub(super) budget: Option<u64>,
    pub(super) holdout: f64,
    pub(super) send_hours: [u8; 2],
    pub(super) offer: Option<String>,
    pub(super) offers: BTreeMap<String, String>,
    /// `price_sensitive` and `full_price`: the offer by the member's price sensitivity.
    pub(super) offers_by_price: Option<BTreeMap<String, String>>,
    pub(super) exclusive: bool,
    pub(super) description: Option<String>,
}

impl Default for CampaignDecl {
    fn default() -> Self {
        CampaignDecl {
            name: String::new(),
            table: None,
            contact_type: String::new(),
            channels: Vec::new(),
            priority: None,
            budget: None,
            holdout: 0.1,
            send_hours: [10, 21],
            offer: None,
            offers: BTreeMap::new(),
            offers_by_price: None,
            exclusive: true,
            description: None,
        }
    }
}

impl CampaignDecl {
    /// The campaign's SQL table: `table`, else `campaign_<name>`.
    pub fn table(&self) -> String {
        self.table
            .clone()
            .unwrap_or_else(|| format!("campaign_{}", self.name))
    }

    pub fn policy(&self) -> CampaignPolicy {
        CampaignPolicy {
            name: self.name.clone(),
            channels: self.channels.clone(),
            priority: self.priority.unwrap_or_default(),
            budget: self.budget.map(|b| b as usize),
            holdout_share: self.holdout,
            exclusive: self.exclusive,
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("a campaign is missing field `name`".into());
        }
        let here = |m: String| format!("campaign {:?}: {m}", self.name);
        if !crate::job::is_identifier(&self.name) {
            return Err(here("name must be lowercase letters, digits and _".into()));
        }
        for (field, missing) in [
            ("contact_type", self.contact_type.is_empty()),
            ("priority", self.priority.is_none()),
        ] {
            if missing {
                return Err(here(format!("missing field `{field}`")));
            }
        }
        if !crate::job::is_identifier(&self.table()) {
            return Err(here(format!(
                "table {:?} must be lowercase letters, digits and _",
                self.table()
            )));
        }
        if !crate::job::is_identifier(&self.contact_type) {
            return Err(here(format!(
                "contact_type {:?} must be lowercase letters, digits and _",
                self.contact_type
            )));
        }
        if self.channels.is_empty() {
            return Err(here(
                "channels must list at least one of sms, wechat, email, app_push, wecom".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(here(format!(
                "holdout must be in [0, 1), found {}",
                self.holdout
            )));
        }
        let [start, end] = self.send_hours;
        if start >= end || end > 24 {
            return Err(here(format!(
                "send_hours must be [start, end) with 0 <= start < end <= 24, found [{start}, {end}]"
            )));
        }
        if let Some(tier) = self.offers.keys().find(|t| !TIERS.contains(&t.as_str())) {
            return Err(here(format!(
                "offers: unknown tier {tier:?} (tiers: {})",
                TIERS.join(", ")
            )));
        }
        if let Some(by_price) = &self.offers_by_price {
            if let Some(key) = by_price.keys().find(|k| !PRICE_KEYS.contains(&k.as_str())) {
                return Err(here(format!(
                    "offers_by_price: unknown key {key:?} (keys: {})",
                    PRICE_KEYS.join(", ")
                )));
            }
            if let Some(key) = PRICE_KEYS.iter().find(|k| !by_price.contains_key(**k)) {
                return Err(here(format!(
                    "offers_by_price: missing key {key:?} (declare both {})",
                    PRICE_KEYS.join(" and ")
                )));
            }
        }
        Ok(())
    }

    /// The offer for a member with this price sensitivity, when the campaign declares
    /// `offers_by_price` and the sensitivity is known: the offer and the reason for it.
    pub fn offer_by_price(
        &self,
        price_sensitivity: Option<f64>,
        sensitive_from: f64,
    ) -> Option<(&str, String)> {
        let by_price = self.offers_by_price.as_ref()?;
        let s = price_sensitivity.filter(|s| s.is_finite())?;
        let (key, reason) = if s >= sensitive_from {
            (
                "price_sensitive",
                format!("price_sensitivity {s:.2} ≥ {sensitive_from:.2}: discount offer"),
            )
        } else {
            (
                "full_price",
                format!("price_sensitivity {s:.2} < {sensitive_from:.2}: full-price offer"),
            )
        };
        Some((by_price[key].as_str(), reason))
    }
}

impl OutreachStep {
    /// The whole-run policy settings.
    pub fn policy(&self) -> Policy {
        let mut channel_caps = [None; crate::outreach::CHANNELS];
        for (channel, cap) in &self.channel_caps {
            channel_caps[channel.index()] = Some(*cap);
        }
        Policy {
            max_contacts: self.max_contacts,
            channel_caps,
            guide_capacity: self.guide_daily_capacity,
            salt: self.salt.clone(),
        }
    }

    /// Does some campaign choose its offer by price sensitivity (so the tags table must
    /// have `price_sensitivity`)?
    pub(super) fn reads_price_sensitivity(&self) -> bool {
        self.campaigns.iter().any(|c| c.offers_by_price.is_some())
    }
}

impl StepParams for OutreachStep {
    fn validate(&self) -> Result<(), String> {
        if self.salt.trim().is_empty() {
            return Err("salt must not be empty (it seeds the holdout groups)".into());
        }
        if self.max_contacts == 0 {
            return Err("max_contacts must be at least 1".into());
        }
        if self.cap_days == 0 {
            return Err("cap_days must be at least 1".into());
        }
        if let Some((channel, _)) = self.channel_caps.iter().find(|(_, cap)| **cap == 0) {
            return Err(format!(
                "channel_caps: {} must be at least 1 (leave a channel out to not cap it)",
                channel.as_str()
            ));
        }
        if self.guide_daily_capacity == Some(0) {
            return Err(
                "guide_daily_capacity must be at least 1 (leave it out for no limit)".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.price_sensitive_from) {
            return Err(format!(
                "price_sensitive_from must be in [0, 1], found {}",
                self.price_sensitive_from
            ));
        }
        check_identifiers(
            [
                &self.output,
                &self.summary_output,
                &self.tags,
                &self.members,
                &self.contact_history,
                &self.suppression,
            ]
            .into_iter()
            .chain(&self.fatigue),
        )?;
        if self.campaigns.is_empty() {
            return Err("declare at least one [[steps.campaigns]]".into());
        }
        let mut names = HashSet::new();
        for c in &self.campaigns {
            c.validate()?;
            if !names.insert(c.name.as_str()) {
                return Err(format!("campaign {:?}: declared twice", c.name));
            }
        }
        Ok(())
    }
}
