//! Community events: group activity, heavy-tailed, with invites between members.

use super::members::MemberInfo;
use super::{CHUNK, batch, column, micros};
use chrono::{Duration, NaiveDateTime};
use datafusion::arrow::array::{
    Int64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) const EVENT_TYPES: [(&str, f64); 9] = [
    ("message", 0.50),
    ("like", 0.65),
    ("check_in", 0.77),
    ("share", 0.83),
    ("live_view", 0.89),
    ("question", 0.92),
    ("answer", 0.95),
    ("lottery", 0.98),
    ("leave", 1.0),
];

pub(super) fn community_events(
    infos: &[MemberInfo],
    referrals: &[(i64, i64, NaiveDateTime)],
    first: usize,
    total_members: usize,
    end: NaiveDateTime,
    rng: &mut ChaCha8Rng,
) -> RecordBatch {
    let groups = (total_members / 200).max(1);
    let mut member = Int64Builder::new();
    let mut group = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut target = Int64Builder::new();
    let mut group_of = std::collections::HashMap::new();
    // Local wall-clock time to the UTC instant (Shanghai is UTC+8, no daylight saving).
    let utc_ms = |t: NaiveDateTime| micros(t) / 1000 - 8 * 3_600_000;
    for m in infos {
        let (p, scale) = m.persona.community();
        if rng.random::<f64>() >= p {
            continue;
        }
        // Groups are local to where members are (chunks of ids), mixed a little.
        let g = ((first / 200) + rng.random_range(0..(CHUNK / 200).max(1))) % groups;
        let gid = format!("G{:05}", g + 1);
        group_of.insert(m.id, gid.clone());
        let joined = m.joined + Duration::days(rng.random_range(0..30));
        if joined >= end {
            continue;
        }
        member.append_value(m.id);
        group.append_value(&gid);
        kind.append_value("join");
        at.append_value(utc_ms(joined));
        target.append_null();
        let activity = (1.0 - rng.random::<f64>()).powf(-1.0 / 1.3) * scale * 0.58;
        let span = (end - joined).num_seconds().max(1);
        for _ in 0..(activity.min(3000.0) as usize) {
            let u: f64 = rng.random();
            let t = EVENT_TYPES
                .iter()
                .find(|(_, p)| u < *p)
                .map_or("message", |(k, _)| k);
            member.append_value(m.id);
            group.append_value(&gid);
            kind.append_value(t);
            at.append_value(utc_ms(
                joined + Duration::seconds(rng.random_range(0..span)),
            ));
            target.append_null();
        }
    }
    for (referrer, referee, when) in referrals {
        if let Some(gid) = group_of.get(referrer) {
            member.append_value(*referrer);
            group.append_value(gid);
            kind.append_value("invite");
            at.append_value(utc_ms(*when - Duration::hours(1)));
            target.append_value(*referee);
        }
    }
    batch(vec![
        column("member_id", false, member.finish()),
        column("group_id", false, group.finish()),
        column("event_type", false, kind.finish()),
        column("occurred_at", false, at.finish()),
        column("target_member_id", true, target.finish()),
    ])
    .expect("events batch")
}
