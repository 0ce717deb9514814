//! The points ledger: points earned on paid orders, redeemed and expired.

use super::{batch, column, micros};
use chrono::NaiveDateTime;
use datafusion::arrow::array::{
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};

/// Column builders of one chunk's points ledger.
#[derive(Default)]
pub(super) struct PointsBuilders {
    member: Int64Builder,
    at: TimestampMicrosecondBuilder,
    kind: StringBuilder,
    points: Int64Builder,
    expires: TimestampMicrosecondBuilder,
}

impl PointsBuilders {
    pub(super) fn add(
        &mut self,
        member: i64,
        at: NaiveDateTime,
        kind: &str,
        points: i64,
        expires: Option<NaiveDateTime>,
    ) {
        self.member.append_value(member);
        self.at.append_value(micros(at));
        self.kind.append_value(kind);
        self.points.append_value(points);
        self.expires.append_option(expires.map(micros));
    }
    pub(super) fn finish(mut self) -> RecordBatch {
        batch(vec![
            column("member_id", false, self.member.finish()),
            column("occurred_at", false, self.at.finish()),
            column("kind", false, self.kind.finish()),
            column("points", false, self.points.finish()),
            column("expires_at", true, self.expires.finish()),
        ])
        .expect("points batch")
    }
}
