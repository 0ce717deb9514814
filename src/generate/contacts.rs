//! Past campaign contacts (with holdouts) and the suppression list.

use super::members::MemberInfo;
use super::{batch, column, micros, money_type};
use chrono::{Duration, NaiveDateTime};
use datafusion::arrow::array::{
    BooleanBuilder, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) fn contact_history(
    infos: &[MemberInfo],
    end: NaiveDateTime,
    rng: &mut ChaCha8Rng,
) -> RecordBatch {
    let campaigns: [(&str, i64); 6] = [
        ("winback", 15),
        ("birthday", 30),
        ("new_arrivals", 45),
        ("upgrade", 60),
        ("points_reminder", 90),
        ("double11", 120),
    ];
    let channels = ["sms", "wechat", "email", "app_push"];
    let mut member = Int64Builder::new();
    let mut campaign = StringBuilder::new();
    let mut channel = StringBuilder::new();
    let mut sent = TimestampMicrosecondBuilder::new();
    let mut holdout = BooleanBuilder::new();
    let mut converted = TimestampMicrosecondBuilder::new();
    let mut revenue = Decimal128Builder::new().with_data_type(money_type());
    for (name, days_ago) in campaigns {
        let sent_at = end - Duration::days(days_ago) + Duration::hours(10);
        let label = format!("{name}_{}", sent_at.format("%Y_%m"));
        for m in infos {
            if m.joined >= sent_at || rng.random::<f64>() >= 0.05 {
                continue;
            }
            let Some(c) = (0..4).find(|&c| m.consent[c] == Some(true)) else {
                continue;
            };
            let is_holdout = rng.random::<f64>() < 0.1;
            member.append_value(m.id);
            campaign.append_value(&label);
            channel.append_value(channels[c]);
            sent.append_value(micros(sent_at));
            holdout.append_value(is_holdout);
            let p = if is_holdout { 0.05 } else { 0.09 };
            let when = sent_at + Duration::seconds(rng.random_range(0..14 * 86_400));
            if rng.random::<f64>() < p && when < end {
                converted.append_value(micros(when));
                revenue.append_value(rng.random_range(5_000..30_000));
            } else {
                converted.append_null();
                revenue.append_null();
            }
        }
    }
    batch(vec![
        column("member_id", false, member.finish()),
        column("campaign", false, campaign.finish()),
        column("channel", false, channel.finish()),
        column("sent_at", false, sent.finish()),
        column("holdout", false, holdout.finish()),
        column("converted_at", true, converted.finish()),
        column("revenue", true, revenue.finish()),
    ])
    .expect("contacts batch")
}

pub(super) fn suppression_list(
    infos: &[MemberInfo],
    end: NaiveDateTime,
    rng: &mut ChaCha8Rng,
) -> RecordBatch {
    let mut member = Int64Builder::new();
    let mut reason = StringBuilder::new();
    let mut until = TimestampMicrosecondBuilder::new();
    for m in infos {
        if rng.random::<f64>() >= 0.01 {
            continue;
        }
        member.append_value(m.id);
        reason.append_value(["complaint", "unsubscribe", "legal", "staff"][rng.random_range(0..4)]);
        match rng.random::<f64>() {
            u if u < 0.6 => until.append_null(),
            u if u < 0.8 => {
                until.append_value(micros(end - Duration::days(rng.random_range(1..200))))
            }
            _ => until.append_value(micros(end + Duration::days(rng.random_range(1..200)))),
        }
    }
    batch(vec![
        column("member_id", false, member.finish()),
        column("reason", false, reason.finish()),
        column("until", true, until.finish()),
    ])
    .expect("suppression batch")
}
