//! Contact policy: from each campaign's eligible, scored members to tonight's outreach
//! lists.
//!
//! [`select`] applies the policy of `docs/outreach.md` to every (member, campaign) pair,
//! in this order, and counts each removal in the campaign's [`Funnel`]:
//!
//! 1. **consent** — a member who consented to none of the campaign's channels is removed
//!    (`removed_no_consent`);
//! 2. **suppression** — a member on the suppression list tonight is removed;
//! 3. **fatigue** — a member rested tonight (营销疲劳: they ignored their last contacts)
//!    is removed from every campaign (`removed_fatigue`);
//! 4. **frequency cap** — a member with `max_contacts` contacts in the rolling window, or
//!    in the quiet period after a contact, is removed; contacts this run selects count
//!    too (they matter for campaigns that allow more than one contact a night);
//! 5. **channel** — the first channel in the campaign's order the member consented to
//!    and that has room under its per-channel cap ([`Policy::channel_caps`], same
//!    window); every consented one full → removed (`removed_channel_cap`);
//! 6. **one campaign per member per night** — among the exclusive campaigns that still
//!    want a member, the one with the higher priority wins, then the one where the
//!    member's score is higher, then the campaign declared first (`removed_priority`);
//! 7. **budget** — a campaign takes at most `budget` members, best scores first
//!    (`removed_budget`);
//! 8. **holdout** — a deterministic share of the selected members, by a hash of the
//!    job's salt, the campaign and the member id, is flagged as holdout: on the list,
//!    never to be contacted.
//!
//! A member gets at most one exclusive campaign a night, so steps 1-5 can be decided pair
//! by pair before the assignment. Steps 6 and 7 are solved together as a stable
//! assignment (member-proposing deferred acceptance, Gale–Shapley with capacities):
//! members rank campaigns by (priority, score), campaigns rank members by score and hold
//! at most `budget`. A member cut by a full campaign can still be taken by the next
//! campaign that wants them, and the result has no (member, campaign) pair that would
//! both rather have each other — so nobody is left out of a campaign with room for them
//! while getting nothing better.
//! A pair the member lost to a preferred campaign counts as `removed_priority`; a pair
//! the campaign turned down because it was full of better-scored members counts as
//! `removed_budget`. Campaigns declared `exclusive = false` (allowed alongside others)
//! are filled afterwards, in priority order, best scores first, up to the frequency cap;
//! there tonight's earlier picks count toward the channel caps too, so the channel is
//! chosen again among the consented channels with room (`removed_channel_cap` if none).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Outreach channels, as named in `contact_history.channel` and the members' consent
/// columns (`consent_<channel>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Wechat,
    Email,
    AppPush,
    /// A 1:1 message from the member's own shopping guide on 企业微信: needs a guide
    /// (`members.guide_id`) and `consent_wecom`.
    Wecom,
}

/// The number of channels: the length of the per-channel arrays.
pub const CHANNELS: usize = 5;

impl Channel {
    pub const ALL: [Channel; CHANNELS] = [
        Channel::Sms,
        Channel::Wechat,
        Channel::Email,
        Channel::AppPush,
        Channel::Wecom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Wechat => "wechat",
            Channel::Email => "email",
            Channel::AppPush => "app_push",
            Channel::Wecom => "wecom",
        }
    }

    /// The members column that holds consent for this channel.
    pub fn consent_column(self) -> &'static str {
        match self {
            Channel::Sms => "consent_sms",
            Channel::Wechat => "consent_wechat",
            Channel::Email => "consent_email",
            Channel::AppPush => "consent_app_push",
            Channel::Wecom => "consent_wecom",
        }
    }

    /// The position of this channel in [`Channel::ALL`] and in the per-channel arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What the policy knows about a member tonight.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// Consent per channel, indexed like [`Channel::ALL`]; a null consent is `false`.
    /// `wecom` is true only for a member with a guide who consented to WeCom.
    pub consent: [bool; CHANNELS],
    /// The member's shopping guide (an index into the guides; see
    /// [`Policy::guide_capacity`]); `None` without one.
    pub guide: Option<usize>,
    /// On the suppression list tonight.
    pub suppressed: bool,
    /// Contacts (and holdout selections) in the rolling cap window before tonight.
    pub recent_contacts: u32,
    /// `recent_contacts` per channel, indexed like [`Channel::ALL`].
    pub recent_by_channel: [u32; CHANNELS],
    /// Contacted within the quiet period before tonight.
    pub in_quiet_period: bool,
    /// Rested tonight (营销疲劳): on no list, whatever the campaign.
    pub fatigued: bool,
}

impl Member {
    pub fn consents(&self, channel: Channel) -> bool {
        self.consent[channel.index()]
    }
}

/// A campaign's policy settings (its targeting is its SQL file).
#[derive(Debug, Clone)]
pub struct CampaignPolicy {
    pub name: String,
    /// Channels in order of preference.
    pub channels: Vec<Channel>,
    /// Higher wins when a member is wanted by several exclusive campaigns.
    pub priority: i64,
    /// At most this many members on the list (holdout included); `None` = no limit.
    pub budget: Option<usize>,
    /// Share of the selected members flagged as holdout, in [0, 1).
    pub holdout_share: f64,
    /// One exclusive campaign per member per night; `false` = allowed alongside others.
    pub exclusive: bool,
}

/// A member a campaign's SQL found eligible. `member` indexes the members slice given
/// to [`select`], which is sorted by member id, so a lower index is a lower id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub member: usize,
    pub score: f64,
}

/// The whole-run policy settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// At most this many contacts per member in the rolling window, this run's included.
    pub max_contacts: u32,
    /// At most this many contacts per member on a channel in the same rolling window,
    /// this run's included; indexed like [`Channel::ALL`], `None` = no cap of its own.
    pub channel_caps: [Option<u32>; CHANNELS],
    /// At most this many 1:1 `wecom` messages per guide tonight, over all campaigns;
    /// `None` = no limit. A member a full guide cannot take falls back to the campaign's
    /// next channel with room (`removed_guide_capacity` when there is none).
    pub guide_capacity: Option<u32>,
    /// Salt of the holdout hash; changing it reshuffles every holdout group.
    pub salt: String,
}

impl Policy {
    /// The channel a campaign contacts `member` through: the first in its order they
    /// consented to whose cap has room for one more, counting `tonight`'s picks per
    /// channel. `None` when every consented channel is full.
    fn channel(
        &self,
        campaign: &CampaignPolicy,
        member: &Member,
        tonight: [u32; CHANNELS],
    ) -> Option<Channel> {
        self.channel_but(campaign, member, tonight, None)
    }

    /// [`Policy::channel`], never choosing `except`.
    fn channel_but(
        &self,
        campaign: &CampaignPolicy,
        member: &Member,
        tonight: [u32; CHANNELS],
        except: Option<Channel>,
    ) -> Option<Channel> {
        campaign.channels.iter().copied().find(|&ch| {
            let i = ch.index();
            Some(ch) != except
                && member.consents(ch)
                && self.channel_caps[i]
                    .is_none_or(|cap| member.recent_by_channel[i] + tonight[i] < cap)
        })
    }
}

/// A campaign's counts, one per policy step: every eligible pair ends in exactly one of
/// the `removed_*` counts or in `selected`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    pub eligible: u64,
    pub removed_no_consent: u64,
    pub removed_suppressed: u64,
    pub removed_fatigue: u64,
    pub removed_frequency_cap: u64,
    pub removed_channel_cap: u64,
    pub removed_guide_capacity: u64,
    pub removed_priority: u64,
    pub removed_budget: u64,
    pub selected: u64,
    pub holdout: u64,
}

/// One row of tonight's list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pick {
    pub campaign: usize,
    /// Index into that campaign's candidates.
    pub candidate: usize,
    pub member: usize,
    pub channel: Channel,
    /// 1 = the campaign's best score tonight.
    pub rank: u32,
    pub holdout: bool,
}

/// How a campaign ranks members: higher score first, then lower member id.
#[derive(Debug, Clone, Copy)]
struct Standing {
    score: f64,
    member: usize,
}

impl Ord for Standing {
    /// `a > b` when `a` is the better member for the campaign.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.member.cmp(&self.member))
    }
}
impl PartialOrd for Standing {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Standing {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Standing {}

/// A stable number in [0, 1) for (salt, campaign, member id): the holdout draw. SHA-256,
/// so it is the same on every machine, every night and in every language.
pub fn holdout_draw(salt: &str, campaign: &str, member_id: &str) -> f64 {
    let mut h = Sha256::new();
    for part in [salt, campaign, member_id] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // 53 bits fill an f64 mantissa exactly.
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Is this member in the campaign's holdout group?
pub fn is_holdout(salt: &str, campaign: &str, member_id: &str, share: f64) -> bool {
    share > 0.0 && holdout_draw(salt, campaign, member_id) < share
}

/// Apply the contact policy. `ids[m]` is member `m`'s id (for the holdout hash);
/// `candidates[c]` are campaign `c`'s eligible members, at most one row per member.
/// Returns tonight's picks (campaign by campaign, best rank first) and each campaign's
/// funnel.
pub fn select(
    policy: &Policy,
    members: &[Member],
    ids: &[String],
    campaigns: &[CampaignPolicy],
    candidates: &[Vec<Candidate>],
) -> (Vec<Pick>, Vec<Funnel>) {
    assert_eq!(members.len(), ids.len());
    assert_eq!(campaigns.len(), candidates.len());
    let mut funnels = vec![Funnel::default(); campaigns.len()];

    // Steps 1-5, pair by pair: what survives carries its channel. Nothing is picked yet,
    // so no channel has contacts from tonight.
    // survivors[c] = (candidate index, channel)
    let mut survivors: Vec<Vec<(usize, Channel)>> = Vec::with_capacity(campaigns.len());
    for (c, campaign) in campaigns.iter().enumerate() {
        let f = &mut funnels[c];
        let mut kept = Vec::new();
        for (k, cand) in candidates[c].iter().enumerate() {
            f.eligible += 1;
            let m = &members[cand.member];
            if !campaign.channels.iter().any(|&ch| m.consents(ch)) {
                f.removed_no_consent += 1;
                continue;
            }
            if m.suppressed {
                f.removed_suppressed += 1;
                continue;
            }
            if m.fatigued {
                f.removed_fatigue += 1;
                continue;
            }
            if m.recent_contacts >= policy.max_contacts || m.in_quiet_period {
                f.removed_frequency_cap += 1;
                continue;
            }
            let Some(channel) = policy.channel(campaign, m, [0; CHANNELS]) else {
                f.removed_channel_cap += 1;
                continue;
            };
            kept.push((k, channel));
        }
        survivors.push(kept);
    }

    // Steps 6-7 for exclusive campaigns: deferred acceptance.
    // prefs[m] = exclusive (campaign, candidate, channel) entries, most preferred first.
    // With a guide capacity, a `wecom` entry is followed by the same campaign's next
    // channel with room: the fallback when the member's guide is full.
    let mut prefs: Vec<Vec<(usize, usize, Channel)>> = vec![Vec::new(); members.len()];
    for (c, kept) in survivors.iter().enumerate() {
        if !campaigns[c].exclusive {
            continue;
        }
        for &(k, ch) in kept {
            let m = candidates[c][k].member;
            prefs[m].push((c, k, ch));
            if ch == Channel::Wecom && policy.guide_capacity.is_some() {
                let fallback = policy.channel_but(
                    &campaigns[c],
                    &members[m],
                    [0; CHANNELS],
                    Some(Channel::Wecom),
                );
                if let Some(fb) = fallback {
                    prefs[m].push((c, k, fb));
                }
            }
        }
    }
    for list in prefs.iter_mut() {
        // Stable: a campaign's wecom entry stays before its fallback.
        list.sort_by(|&(a, ka, _), &(b, kb, _)| {
            campaigns[b]
                .priority
                .cmp(&campaigns[a].priority)
                .then(candidates[b][kb].score.total_cmp(&candidates[a][ka].score))
                .then(a.cmp(&b))
        });
    }
    let guides = members
        .iter()
        .filter_map(|m| m.guide)
        .max()
        .map_or(0, |g| g + 1);
    let assignment = assign(policy, campaigns, candidates, members, &prefs, guides);
    let mut chosen: Vec<Vec<(usize, Channel)>> = vec![Vec::new(); campaigns.len()];
    // This run's picks per member: in all, and per channel; and per guide.
    let mut tonight = vec![0u32; members.len()];
    let mut tonight_by_channel = vec![[0u32; CHANNELS]; members.len()];
    let mut guide_tonight = vec![0u32; guides];
    for (m, list) in prefs.iter().enumerate() {
        let matched = assignment.holding[m];
        let mut i = 0;
        while i < list.len() {
            let c = list[i].0;
            // A campaign's entries are next to each other: [i, j).
            let j = i + list[i..].iter().take_while(|e| e.0 == c).count();
            match matched {
                Some(p) if (i..j).contains(&p) => {
                    let (_, k, ch) = list[p];
                    chosen[c].push((k, ch));
                    tonight[m] += 1;
                    tonight_by_channel[m][ch.index()] += 1;
                    if ch == Channel::Wecom
                        && let Some(g) = members[m].guide
                    {
                        guide_tonight[g] += 1;
                    }
                }
                Some(p) if p < i => funnels[c].removed_priority += 1,
                _ => match assignment.rejected[m].get(&(j - 1)) {
                    Some(Rejection::Guide) => funnels[c].removed_guide_capacity += 1,
                    _ => funnels[c].removed_budget += 1,
                },
            }
            i = j;
        }
    }

    // Campaigns allowed alongside others: priority order, best scores first; the channel
    // is chosen again, as tonight's picks so far may have filled the one of step 5.
    let mut order: Vec<usize> = (0..campaigns.len())
        .filter(|&c| !campaigns[c].exclusive)
        .collect();
    order.sort_by(|&a, &b| {
        campaigns[b]
            .priority
            .cmp(&campaigns[a].priority)
            .then(a.cmp(&b))
    });
    for c in order {
        let mut kept = survivors[c].clone();
        kept.sort_by(|&(a, _), &(b, _)| {
            let s = |k: usize| Standing {
                score: candidates[c][k].score,
                member: candidates[c][k].member,
            };
            s(b).cmp(&s(a))
        });
        let capacity = campaigns[c].budget.unwrap_or(usize::MAX);
        for (k, _) in kept {
            let m = candidates[c][k].member;
            if members[m].recent_contacts + tonight[m] >= policy.max_contacts {
                funnels[c].removed_frequency_cap += 1;
                continue;
            }
            let Some(mut ch) = policy.channel(&campaigns[c], &members[m], tonight_by_channel[m])
            else {
                funnels[c].removed_channel_cap += 1;
                continue;
            };
            let guide_full = |ch: Channel| {
                ch == Channel::Wecom
                    && members[m].guide.is_some_and(|g| {
                        policy
                            .guide_capacity
                            .is_some_and(|cap| guide_tonight[g] >= cap)
                    })
            };
            if guide_full(ch) {
                match policy.channel_but(
                    &campaigns[c],
                    &members[m],
                    tonight_by_channel[m],
                    Some(Channel::Wecom),
                ) {
                    Some(fb) => ch = fb,
                    None => {
                        funnels[c].removed_guide_capacity += 1;
                        continue;
                    }
                }
            }
            if chosen[c].len() >= capacity {
                funnels[c].removed_budget += 1;
            } else {
                chosen[c].push((k, ch));
                tonight[m] += 1;
                tonight_by_channel[m][ch.index()] += 1;
                if ch == Channel::Wecom
                    && let Some(g) = members[m].guide
                {
                    guide_tonight[g] += 1;
                }
            }
        }
    }

    // Step 8: rank and holdout.
    let mut picks = Vec::new();
    for (c, mut list) in chosen.into_iter().enumerate() {
        list.sort_by(|&(a, _), &(b, _)| {
            let s = |k: usize| Standing {
                score: candidates[c][k].score,
                member: candidates[c][k].member,
            };
            s(b).cmp(&s(a))
        });
        let campaign = &campaigns[c];
        for (r, (k, channel)) in list.into_iter().enumerate() {
            let member = candidates[c][k].member;
            let holdout = is_holdout(
                &policy.salt,
                &campaign.name,
                &ids[member],
                campaign.holdout_share,
            );
            funnels[c].selected += 1;
            funnels[c].holdout += u64::from(holdout);
            picks.push(Pick {
                campaign: c,
                candidate: k,
                member,
                channel,
                rank: r as u32 + 1,
                holdout,
            });
        }
    }
    (picks, funnels)
}

/// Why a proposal was turned down in [`assign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    /// The campaign was full of better-scored members.
    Budget,
    /// The member's guide was full of members of higher-priority campaigns or scores.
    Guide,
}

/// The outcome of the deferred acceptance over the exclusive campaigns.
struct Assignment {
    /// The position in `prefs[m]` of the entry that holds member `m`, if any.
    holding: Vec<Option<usize>>,
    /// Per member: entry position → why it was turned down.
    rejected: Vec<std::collections::HashMap<usize, Rejection>>,
}

/// How a guide ranks the members proposed to them: higher campaign priority, then higher
/// score, then lower member id. `a > b` when `a` is the better one.
#[derive(Debug, Clone, Copy)]
struct GuideStanding {
    priority: i64,
    score: f64,
    member: usize,
}

impl Ord for GuideStanding {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then(self.score.total_cmp(&other.score))
            .then(other.member.cmp(&self.member))
    }
}
impl PartialOrd for GuideStanding {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for GuideStanding {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for GuideStanding {}

/// Member-proposing deferred acceptance with two kinds of capacity: each campaign holds
/// at most `budget` members (best scores), and each guide at most `guide_capacity`
/// `wecom` entries (best priority, then score). A member turned down by either proposes
/// their next entry — for a full guide, the same campaign's fallback channel. Each
/// member holds at most one entry at a time; an entry a guide turns down is dropped from
/// its campaign too (lazily: heap elements whose member no longer holds them are skipped).
/// Without a guide capacity this is the campaigns-only stable assignment.
fn assign(
    policy: &Policy,
    campaigns: &[CampaignPolicy],
    candidates: &[Vec<Candidate>],
    members: &[Member],
    prefs: &[Vec<(usize, usize, Channel)>],
    guides: usize,
) -> Assignment {
    let n = members.len();
    let mut holding: Vec<Option<usize>> = vec![None; n];
    let mut rejected = vec![std::collections::HashMap::new(); n];
    let mut held: Vec<BinaryHeap<Reverse<(Standing, usize)>>> =
        vec![BinaryHeap::new(); campaigns.len()];
    let mut live = vec![0usize; campaigns.len()];
    let mut held_by_guide: Vec<BinaryHeap<Reverse<(GuideStanding, usize)>>> =
        vec![BinaryHeap::new(); guides];
    let mut live_by_guide = vec![0usize; guides];
    let mut next = vec![0usize; n];
    // Members propose in reverse id order off a stack; without guide capacities the
    // stable matching member-proposing deferred acceptance finds does not depend on it.
    let mut free: Vec<usize> = (0..n).rev().filter(|&m| !prefs[m].is_empty()).collect();
    let guide_of = |m: usize, pos: usize| -> Option<usize> {
        (prefs[m][pos].2 == Channel::Wecom && policy.guide_capacity.is_some())
            .then_some(members[m].guide)
            .flatten()
    };
    while let Some(m) = free.pop() {
        let Some(&(c, k, _)) = prefs[m].get(next[m]) else {
            continue;
        };
        let pos = next[m];
        next[m] += 1;
        holding[m] = Some(pos);
        let standing = Standing {
            score: candidates[c][k].score,
            member: m,
        };
        held[c].push(Reverse((standing, pos)));
        live[c] += 1;
        if live[c] > campaigns[c].budget.unwrap_or(usize::MAX) {
            // Turn down the worst member the campaign still holds.
            while let Some(Reverse((worst, wpos))) = held[c].pop() {
                let w = worst.member;
                if holding[w] != Some(wpos) {
                    continue; // dropped earlier by a guide
                }
                holding[w] = None;
                live[c] -= 1;
                rejected[w].insert(wpos, Rejection::Budget);
                // The proposal being made has not reached its guide yet.
                let proposing = w == m && wpos == pos;
                if let Some(g) = guide_of(w, wpos).filter(|_| !proposing) {
                    live_by_guide[g] -= 1;
                }
                free.push(w);
                break;
            }
        }
        if holding[m] != Some(pos) {
            continue;
        }
        let Some(g) = guide_of(m, pos) else {
            continue;
        };
        let gs = GuideStanding {
            priority: campaigns[c].priority,
            score: candidates[c][k].score,
            member: m,
        };
        held_by_guide[g].push(Reverse((gs, pos)));
        live_by_guide[g] += 1;
        let cap = policy.guide_capacity.expect("guide_of checked it") as usize;
        if live_by_guide[g] > cap {
            while let Some(Reverse((worst, wpos))) = held_by_guide[g].pop() {
                let w = worst.member;
                if holding[w] != Some(wpos) {
                    continue; // turned down by its campaign earlier
                }
                holding[w] = None;
                live_by_guide[g] -= 1;
                live[prefs[w][wpos].0] -= 1;
                rejected[w].insert(wpos, Rejection::Guide);
                free.push(w);
                break;
            }
        }
    }
    Assignment { holding, rejected }
}

/// The hour a member is contacted: their usual purchase hour (`peak_hour`) moved into the
/// campaign's send hours `[start, end)`; the first send hour when it is unknown.
pub fn send_hour(peak_hour: Option<i64>, hours: [u8; 2]) -> u8 {
    let [start, end] = hours;
    match peak_hour {
        Some(h) if (0..24).contains(&h) => (h as u8).clamp(start, end - 1),
        _ => start,
    }
}

#[cfg(test)]
mod tests;
