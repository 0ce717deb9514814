//! The points ledger: points earned on paid orders, redeemed and expired.

use super::{batch, column, micros};
use chrono::NaiveDateTime;
use datafusion::arrow::array::{
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, TimeUnit};

pub(super) struct PointsBuilders {
    pub(super) member: Int64Builder,
    pub(super) at: TimestampMicrosecondBuilder,
    pub(super) kind: StringBuilder,
    pub(super) points: Int64Builder,
    pub(super) expires: TimestampMicrosecondBuilder,
}

impl PointsBuilders {
    pub(super) fn new() -> Self {
        PointsBuilders {
            member: Int64Builder::new(),
            at: TimestampMicrosecondBuilder::new(),
            kind: StringBuilder::new(),
            points: Int64Builder::new(),
            expires: TimestampMicrosecondBuilder::new(),
        }
    }
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
        let _ts = DataType::Timestamp(TimeUnit::Microsecond, None);
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
