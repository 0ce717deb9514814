//! Orders and their items: when members buy, what and for how much.

use super::catalogue::{CATEGORIES, Catalogue};
use super::members::Persona;
use super::stores::{STORES, store_id};
use super::{MAX_DAY_WEIGHT, batch, column, day_weight, micros, money_type};
use chrono::{Duration, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{
    Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A Poisson draw (Knuth for small means, a rounded normal for large ones).
pub(super) fn poisson(mean: f64, rng: &mut ChaCha8Rng) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// A time between `from` and `to` following the season and the persona's hours.
pub(super) fn order_time(
    from: NaiveDateTime,
    to: NaiveDateTime,
    persona: Persona,
    rng: &mut ChaCha8Rng,
) -> Option<NaiveDateTime> {
    let first_day = from.date();
    let days = (to.date() - first_day).num_days();
    if days <= 0 {
        return None;
    }
    for _ in 0..16 {
        let d = first_day + Duration::days(rng.random_range(0..days));
        if rng.random::<f64>() * MAX_DAY_WEIGHT > day_weight(d) {
            continue;
        }
        let spread: f64 = (0..3).map(|_| rng.random::<f64>()).sum::<f64>() - 1.5;
        let hour = (persona.peak_hour() + spread * 4.0).rem_euclid(24.0);
        let t = d.and_time(NaiveTime::MIN) + Duration::seconds((hour * 3600.0) as i64);
        if t > from && t < to {
            return Some(t);
        }
    }
    None
}

/// Column builders of one chunk's orders and order items.
#[derive(Default)]
pub(super) struct OrderBuilders {
    id: Int64Builder,
    member: Int64Builder,
    at: TimestampMicrosecondBuilder,
    channel: StringBuilder,
    store: StringBuilder,
    gross: Decimal128Builder,
    discount: Decimal128Builder,
    paid: Decimal128Builder,
    coupon: StringBuilder,
    status: StringBuilder,
    i_order: Int64Builder,
    i_product: StringBuilder,
    i_qty: Int32Builder,
    i_unit: Float64Builder,
    i_line: Float64Builder,
}

impl OrderBuilders {
    /// Add one order with its items; returns the paid amount in cents when it is paid.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add(
        &mut self,
        order_id: i64,
        member: Option<i64>,
        at: NaiveDateTime,
        persona: Persona,
        favourites: &[usize; 3],
        cat: &Catalogue,
        rng: &mut ChaCha8Rng,
    ) -> Option<i64> {
        let extra = persona.basket_extra();
        let mut size = 1;
        while rng.random::<f64>() < extra / (extra + 1.0) && size < 60 {
            size += 1;
        }
        let mut products: Vec<usize> = Vec::with_capacity(size + 2);
        for _ in 0..size {
            let category = if rng.random::<f64>() < 0.7 {
                favourites[rng.random_range(0..3)]
            } else {
                rng.random_range(0..CATEGORIES.len())
            };
            let p = cat.pick(category, rng);
            if !products.contains(&p) {
                products.push(p);
            }
        }
        let planted: Vec<usize> = products.iter().filter_map(|&p| cat.bundle_of[p]).collect();
        for b in planted {
            for &p in &cat.bundles[b][1..] {
                if rng.random::<f64>() < 0.7 && !products.contains(&p) {
                    products.push(p);
                }
            }
        }
        let mut gross_cents = 0i64;
        for &p in &products {
            let qty = match rng.random::<f64>() {
                u if u < 0.8 => 1,
                u if u < 0.95 => 2,
                _ => 3,
            };
            let unit =
                (cat.price_cents[p] as f64 * (0.9 + 0.1 * rng.random::<f64>())).round() as i64;
            let line = unit * qty as i64;
            gross_cents += line;
            self.i_order.append_value(order_id);
            self.i_product.append_value(&cat.ids[p]);
            self.i_qty.append_value(qty);
            self.i_unit.append_value(unit as f64 / 100.0);
            self.i_line.append_value(line as f64 / 100.0);
        }
        let discounted = rng.random::<f64>() < persona.discount_rate();
        let discount_cents = if discounted {
            (gross_cents as f64 * rng.random_range(0.05..0.3)).round() as i64
        } else {
            0
        };
        let channel = if member.is_none() {
            ["store", "online"][rng.random_range(0..2)]
        } else {
            persona.channel(rng.random())
        };
        let status = match rng.random::<f64>() {
            u if u < 0.94 => "paid",
            u if u < 0.98 => "refunded",
            _ => "cancelled",
        };
        self.id.append_value(order_id);
        self.member.append_option(member);
        self.at.append_value(micros(at));
        self.channel.append_value(channel);
        if channel == "store" {
            self.store
                .append_value(store_id(rng.random_range(1..=STORES)));
        } else {
            self.store.append_null();
        }
        self.gross.append_value(gross_cents as i128);
        self.discount.append_value(discount_cents as i128);
        self.paid
            .append_value((gross_cents - discount_cents) as i128);
        if discounted && rng.random::<f64>() < 0.6 {
            self.coupon
                .append_value(format!("C{:04}", rng.random_range(1..=400)));
        } else {
            self.coupon.append_null();
        }
        self.status.append_value(status);
        (status == "paid").then_some(gross_cents - discount_cents)
    }

    pub(super) fn finish(mut self) -> (RecordBatch, RecordBatch) {
        let orders = batch(vec![
            column("order_id", false, self.id.finish()),
            column("member_id", true, self.member.finish()),
            column("ordered_at", false, self.at.finish()),
            column("channel", false, self.channel.finish()),
            column("store_id", true, self.store.finish()),
            column(
                "gross_amount",
                false,
                self.gross.finish().with_data_type(money_type()),
            ),
            column(
                "discount_amount",
                false,
                self.discount.finish().with_data_type(money_type()),
            ),
            column(
                "paid_amount",
                false,
                self.paid.finish().with_data_type(money_type()),
            ),
            column("coupon_id", true, self.coupon.finish()),
            column("status", false, self.status.finish()),
        ])
        .expect("orders batch");
        let items = batch(vec![
            column("order_id", false, self.i_order.finish()),
            column("product_id", false, self.i_product.finish()),
            column("quantity", false, self.i_qty.finish()),
            column("unit_price", false, self.i_unit.finish()),
            column("line_amount", false, self.i_line.finish()),
        ])
        .expect("items batch");
        (orders, items)
    }
}
