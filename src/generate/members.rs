//! Members and their personas, generated chunk by chunk with everything they did.

use std::path::Path;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{
    BooleanBuilder, Date32Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampSecondBuilder,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::catalogue::{CATEGORIES, Catalogue};
use super::community::community_events;
use super::contacts::{contact_history, suppression_list};
use super::orders::{OrderBuilders, order_time, poisson};
use super::points::PointsBuilders;
use super::stores::{STORES, Stores, store_id};
use super::{GenerateParams, HISTORY_DAYS, batch, column, days_since_epoch, micros, write_part};
use crate::error::Result;

pub(super) const CITIES: [(&str, i32); 16] = [
    ("上海", 1),
    ("北京", 1),
    ("广州", 1),
    ("深圳", 1),
    ("杭州", 2),
    ("成都", 2),
    ("武汉", 2),
    ("南京", 2),
    ("西安", 2),
    ("长沙", 2),
    ("苏州", 2),
    ("郑州", 2),
    ("佛山", 3),
    ("合肥", 3),
    ("洛阳", 4),
    ("赣州", 5),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Persona {
    Vip,
    Regular,
    Bargain,
    Occasional,
    Community,
}

impl Persona {
    pub(super) fn draw(u: f64) -> Persona {
        match u {
            u if u < 0.06 => Persona::Vip,
            u if u < 0.38 => Persona::Regular,
            u if u < 0.58 => Persona::Bargain,
            u if u < 0.86 => Persona::Occasional,
            _ => Persona::Community,
        }
    }
    /// Orders per year before the Pareto multiplier.
    pub(super) fn rate(self) -> f64 {
        match self {
            Persona::Vip => 30.0,
            Persona::Regular => 8.0,
            Persona::Bargain => 10.0,
            Persona::Occasional => 1.8,
            Persona::Community => 7.0,
        }
    }
    /// Extra products per basket on top of one (mean of a geometric draw).
    pub(super) fn basket_extra(self) -> f64 {
        match self {
            Persona::Vip => 3.0,
            Persona::Regular => 1.7,
            Persona::Bargain => 1.7,
            Persona::Occasional => 0.8,
            Persona::Community => 1.5,
        }
    }
    pub(super) fn peak_hour(self) -> f64 {
        match self {
            Persona::Vip => 20.0,
            Persona::Regular => 19.0,
            Persona::Bargain => 21.5,
            Persona::Occasional => 14.0,
            Persona::Community => 10.0,
        }
    }
    /// Probability an order is discounted.
    pub(super) fn discount_rate(self) -> f64 {
        match self {
            Persona::Bargain => 0.7,
            Persona::Community => 0.35,
            _ => 0.12,
        }
    }
    pub(super) fn channel(self, u: f64) -> &'static str {
        let table: &[(&str, f64)] = match self {
            Persona::Vip => &[("store", 0.5), ("online", 0.85), ("mini_program", 1.0)],
            Persona::Regular => &[
                ("store", 0.45),
                ("online", 0.75),
                ("mini_program", 0.95),
                ("live", 1.0),
            ],
            Persona::Bargain => &[
                ("live", 0.35),
                ("mini_program", 0.65),
                ("community_group_buy", 0.85),
                ("online", 1.0),
            ],
            Persona::Occasional => &[("store", 0.6), ("online", 1.0)],
            Persona::Community => &[
                ("community_group_buy", 0.55),
                ("mini_program", 0.85),
                ("store", 1.0),
            ],
        };
        table
            .iter()
            .find(|(_, p)| u < *p)
            .map_or("online", |(c, _)| c)
    }
    /// Probability the member is in a community group, and their activity scale.
    pub(super) fn community(self) -> (f64, f64) {
        match self {
            Persona::Community => (0.9, 60.0),
            Persona::Vip => (0.35, 15.0),
            _ => (0.22, 8.0),
        }
    }
}

/// One chunk of members and everything they did.
pub(super) struct Chunk {
    members: RecordBatch,
    orders: RecordBatch,
    items: RecordBatch,
    events: RecordBatch,
    points: RecordBatch,
    contacts: RecordBatch,
    suppression: RecordBatch,
}

pub(super) struct MemberInfo {
    pub(super) id: i64,
    pub(super) joined: NaiveDateTime,
    pub(super) persona: Persona,
    pub(super) consent: [Option<bool>; 4],
}

impl Chunk {
    pub(super) fn generate(
        chunk: usize,
        first: usize,
        n: usize,
        total_members: usize,
        params: &GenerateParams,
        cat: &Catalogue,
        stores: &Stores,
    ) -> Chunk {
        let mut rng = ChaCha8Rng::seed_from_u64(
            params.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (chunk as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        // Guides come from a stream of their own: `rng` draws exactly what it drew before
        // guides existed, so every other column keeps its values.
        let mut guide_rng = Stores::stream(params.seed, chunk);
        let end = params.end_date.and_time(NaiveTime::MIN);
        let start = end - Duration::days(HISTORY_DAYS);
        let chunk_start =
            start + Duration::days(HISTORY_DAYS * first as i64 / total_members as i64);
        let chunk_end =
            start + Duration::days(HISTORY_DAYS * (first + n) as i64 / total_members as i64);

        // Members join in id order; join times are spread so that later chunks join
        // later, and within a chunk sorted, which keeps referrers older than referees.
        let mut joins: Vec<i64> = (0..n)
            .map(|_| {
                let span = (chunk_end - chunk_start).num_seconds().max(1);
                rng.random_range(0..span)
            })
            .collect();
        joins.sort_unstable();

        let mut m_id = Int64Builder::new();
        let mut m_joined = TimestampSecondBuilder::new().with_timezone("Asia/Shanghai");
        let mut m_birthday = Date32Builder::new();
        let mut m_gender = StringBuilder::new();
        let mut m_city = StringBuilder::new();
        let mut m_tier = Int32Builder::new();
        let mut m_channel = StringBuilder::new();
        let mut m_referrer = Int64Builder::new();
        let mut m_store = StringBuilder::new();
        let mut m_guide = StringBuilder::new();
        let mut m_wecom = BooleanBuilder::new();
        let mut m_consent: [BooleanBuilder; 4] = Default::default();

        let mut infos = Vec::with_capacity(n);
        let mut referrals: Vec<(i64, i64, NaiveDateTime)> = Vec::new();
        for (k, offset) in joins.iter().enumerate() {
            let id = 1_000_000 + (first + k) as i64;
            let joined = chunk_start + Duration::seconds(*offset);
            let persona = Persona::draw(rng.random());
            m_id.append_value(id);
            // The contract's zoned joined_at: stored as UTC instants of Shanghai local time.
            m_joined.append_value(micros(joined) / 1_000_000 - 8 * 3600);
            let u: f64 = rng.random();
            if u < 0.003 {
                let year = 1964 + 4 * rng.random_range(0..11);
                m_birthday.append_value(days_since_epoch(
                    NaiveDate::from_ymd_opt(year, 2, 29).expect("leap"),
                ));
            } else if u < 0.9 {
                let d = NaiveDate::from_ymd_opt(1960, 1, 1).expect("valid")
                    + Duration::days(rng.random_range(0..46 * 365));
                m_birthday.append_value(days_since_epoch(d));
            } else {
                m_birthday.append_null();
            }
            match rng.random::<f64>() {
                u if u < 0.55 => m_gender.append_value("F"),
                u if u < 0.95 => m_gender.append_value("M"),
                _ => m_gender.append_null(),
            }
            let (city, tier) = CITIES[(rng.random::<f64>().powi(2) * CITIES.len() as f64) as usize];
            m_city.append_value(city);
            if rng.random::<f64>() < 0.95 {
                m_tier.append_value(tier);
            } else {
                m_tier.append_null();
            }
            let referred = k > 0 && rng.random::<f64>() < 0.15;
            if referred {
                m_channel.append_value("referral");
                let referrer = 1_000_000 + (first + rng.random_range(0..k)) as i64;
                m_referrer.append_value(referrer);
                referrals.push((referrer, id, joined));
            } else {
                let ch = ["store", "online", "mini_program", "ad", "live"][rng.random_range(0..5)];
                m_channel.append_value(ch);
                m_referrer.append_null();
            }
            let home_store = (rng.random::<f64>() < 0.8).then(|| rng.random_range(1..=STORES));
            m_store.append_option(home_store.map(store_id));
            let (guide, wecom) = stores.guide(home_store, persona, &mut guide_rng);
            m_guide.append_option(guide);
            m_wecom.append_option(wecom);
            let rates = [(0.7, 0.2), (0.6, 0.25), (0.3, 0.5), (0.4, 0.4)];
            let mut consent = [None; 4];
            for (c, (yes, no)) in rates.iter().enumerate() {
                let u: f64 = rng.random();
                consent[c] = if u < *yes {
                    Some(true)
                } else if u < yes + no {
                    Some(false)
                } else {
                    None
                };
                m_consent[c].append_option(consent[c]);
            }
            infos.push(MemberInfo {
                id,
                joined,
                persona,
                consent,
            });
        }
        let [mut c_sms, mut c_wechat, mut c_email, mut c_push] = m_consent;
        let members = batch(vec![
            column("member_id", false, m_id.finish()),
            column("joined_at", false, m_joined.finish()),
            column("birthday", true, m_birthday.finish()),
            column("gender", true, m_gender.finish()),
            column("city", true, m_city.finish()),
            column("city_tier", true, m_tier.finish()),
            column("acquisition_channel", true, m_channel.finish()),
            column("referrer_id", true, m_referrer.finish()),
            column("home_store_id", true, m_store.finish()),
            column("guide_id", true, m_guide.finish()),
            column("consent_wecom", true, m_wecom.finish()),
            column("consent_sms", true, c_sms.finish()),
            column("consent_wechat", true, c_wechat.finish()),
            column("consent_email", true, c_email.finish()),
            column("consent_app_push", true, c_push.finish()),
        ])
        .expect("members batch");

        let mut orders = OrderBuilders::default();
        let mut points = PointsBuilders::default();
        let mut order_seq: i64 = 0;
        let order_base = (chunk as i64 + 1) * 100_000_000;
        for m in &infos {
            if rng.random::<f64>() < 0.15 {
                continue;
            }
            let pareto = (1.0 - rng.random::<f64>()).powf(-1.0 / 2.2) * 0.55;
            let rate = m.persona.rate() * pareto.min(12.0);
            let churn_at = if rng.random::<f64>() < 0.2 {
                let span = (end - m.joined).num_seconds().max(1);
                m.joined + Duration::seconds(rng.random_range(0..span))
            } else {
                end
            };
            let active_days = (churn_at - m.joined).num_seconds() as f64 / 86_400.0;
            let expected = rate * active_days / 365.0;
            let count = poisson(expected, &mut rng);
            let favourites = [
                rng.random_range(0..CATEGORIES.len()),
                rng.random_range(0..CATEGORIES.len()),
                rng.random_range(0..CATEGORIES.len()),
            ];
            let mut times: Vec<NaiveDateTime> = (0..count)
                .filter_map(|_| order_time(m.joined, churn_at, m.persona, &mut rng))
                .collect();
            times.sort_unstable();
            let mut balance: i64 = 0;
            for t in times {
                order_seq += 1;
                let paid = orders.add(
                    order_base + order_seq,
                    Some(m.id),
                    t,
                    m.persona,
                    &favourites,
                    cat,
                    &mut rng,
                );
                if let Some(paid_cents) = paid {
                    let earned = paid_cents / 100;
                    if earned > 0 {
                        let expiry = if rng.random::<f64>() < 0.9 {
                            Some(t + Duration::days(365))
                        } else {
                            None
                        };
                        points.add(m.id, t, "earn", earned, expiry);
                        balance += earned;
                        if let Some(e) = expiry
                            && e < end
                            && rng.random::<f64>() < 0.4
                        {
                            let lost = (earned / 2).min(balance);
                            if lost > 0 {
                                points.add(m.id, e, "expire", -lost, None);
                                balance -= lost;
                            }
                        }
                    }
                    if balance > 1500 && rng.random::<f64>() < 0.15 {
                        let used = rng.random_range(500..=balance.min(3000));
                        points.add(m.id, t + Duration::minutes(5), "redeem", -used, None);
                        balance -= used;
                    }
                    if rng.random::<f64>() < 0.005 {
                        let adj = rng.random_range(-100..=100);
                        points.add(m.id, t + Duration::hours(1), "adjust", adj, None);
                        balance += adj;
                    }
                }
            }
        }
        // Guest orders: about 7% on top of members' orders, in the same period.
        let guests = poisson(order_seq as f64 * 0.075, &mut rng);
        for _ in 0..guests {
            if let Some(t) = order_time(chunk_start, end, Persona::Occasional, &mut rng) {
                order_seq += 1;
                let favourites = [rng.random_range(0..CATEGORIES.len()); 3];
                orders.add(
                    order_base + order_seq,
                    None,
                    t,
                    Persona::Occasional,
                    &favourites,
                    cat,
                    &mut rng,
                );
            }
        }

        let events = community_events(&infos, &referrals, first, total_members, end, &mut rng);
        let contacts = contact_history(&infos, end, &mut rng);
        let suppression = suppression_list(&infos, end, &mut rng);
        let (orders, items) = orders.finish();
        Chunk {
            members,
            orders,
            items,
            events,
            points: points.finish(),
            contacts,
            suppression,
        }
    }

    pub(super) fn write(self, chunk: usize, out: &Path) -> Result<[u64; 7]> {
        let tables = [
            ("members", &self.members),
            ("orders", &self.orders),
            ("order_items", &self.items),
            ("community_events", &self.events),
            ("points_ledger", &self.points),
            ("contact_history", &self.contacts),
            ("suppression", &self.suppression),
        ];
        let mut rows = [0u64; 7];
        for (k, (name, b)) in tables.iter().enumerate() {
            write_part(&out.join(name), chunk, b)?;
            rows[k] = b.num_rows() as u64;
        }
        Ok(rows)
    }
}
