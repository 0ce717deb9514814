//! The input data contract: which tables siyu reads, their columns and what each column
//! may be stored as. `docs/contract.md` says the same for people.
//!
//! Every input table is read through a normalising view so SQL job files see one schema
//! whatever the export looked like:
//! - ids (`*_id`) become `Utf8`, whether they were integers or strings;
//! - timestamps become `Timestamp(Microsecond, None)` holding the **local wall-clock time
//!   in the job's timezone**: zoned timestamps are converted, naive ones are taken as
//!   already local, dates become local midnight. Month, weekday and hour in SQL are
//!   therefore the business's own;
//! - money becomes `Decimal128(18, 2)`, so sums are exact and do not depend on the order
//!   in which parallel partitions add up (outputs stay byte-identical);
//! - counts become `Int64`, flags `Boolean`, text `Utf8`.

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// Version of the input and output contract; written into every output's metadata.
pub const CONTRACT_VERSION: &str = "1";

/// The normalised money type.
pub const MONEY: DataType = DataType::Decimal128(18, 2);
/// The normalised timestamp type: local wall-clock time in the job's timezone.
pub const LOCAL_TS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// What a contract column means, which decides the stored types accepted for it and the
/// type it is normalised to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Id,
    Timestamp,
    Date,
    Money,
    Int,
    Bool,
    Text,
}

impl Kind {
    /// The type SQL job files see.
    pub fn normalised(self) -> DataType {
        match self {
            Kind::Id | Kind::Text => DataType::Utf8,
            Kind::Timestamp => LOCAL_TS,
            Kind::Date => DataType::Date32,
            Kind::Money => MONEY,
            Kind::Int => DataType::Int64,
            Kind::Bool => DataType::Boolean,
        }
    }

    /// Human description of the accepted stored types, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Id => "an integer or string id",
            Kind::Timestamp => "a Timestamp (any unit, with or without zone) or a Date",
            Kind::Date => "a Date or Timestamp",
            Kind::Money => "Decimal128 or Float64 money (or an integer amount)",
            Kind::Int => "an integer",
            Kind::Bool => "a Boolean",
            Kind::Text => "a string",
        }
    }

    /// Whether a stored type can be normalised to this kind without losing meaning.
    pub fn accepts(self, ty: &DataType) -> bool {
        let is_string = |t: &DataType| {
            matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                || matches!(t, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
        };
        match self {
            Kind::Id => ty.is_integer() || is_string(ty),
            Kind::Text => is_string(ty),
            Kind::Timestamp | Kind::Date => matches!(
                ty,
                DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
            ),
            Kind::Money => {
                ty.is_integer()
                    || matches!(
                        ty,
                        DataType::Float32
                            | DataType::Float64
                            | DataType::Decimal32(_, _)
                            | DataType::Decimal64(_, _)
                            | DataType::Decimal128(_, _)
                            | DataType::Decimal256(_, _)
                    )
            }
            Kind::Int => ty.is_integer(),
            Kind::Bool => matches!(ty, DataType::Boolean),
        }
    }
}

/// One column of a contract table. A nullable column may also be missing from an
/// export altogether: it then reads as all null, with a warning. A non-nullable column
/// must be present.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
}

/// One contract input table.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    /// The business term, for logs and docs.
    pub chinese: &'static str,
    pub required: bool,
    pub columns: &'static [ColumnSpec],
}

impl TableSpec {
    /// The schema SQL job files see for this table (contract columns only; extra
    /// columns of an export are appended after them, unchanged).
    pub fn normalised_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.kind.normalised(), c.nullable))
                .collect::<Vec<_>>(),
        ))
    }

    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }
}

const fn col(name: &'static str, kind: Kind, nullable: bool) -> ColumnSpec {
    ColumnSpec {
        name,
        kind,
        nullable,
    }
}

use Kind::*;

/// Every contract input table, in the order they are registered and reported.
pub const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "members",
        chinese: "会员",
        required: true,
        columns: &[
            col("member_id", Id, false),
            col("joined_at", Timestamp, false),
            col("birthday", Date, true),
            col("gender", Text, true),
            col("city", Text, true),
            col("city_tier", Int, true),
            col("acquisition_channel", Text, true),
            col("referrer_id", Id, true),
            col("home_store_id", Id, true),
            // The member's own shopping guide (专属导购) and whether the member added them
            // on WeCom (企业微信): the `wecom` outreach channel needs both.
            col("guide_id", Id, true),
            col("consent_wecom", Bool, true),
            col("consent_sms", Bool, true),
            col("consent_wechat", Bool, true),
            col("consent_email", Bool, true),
            col("consent_app_push", Bool, true),
        ],
    },
    TableSpec {
        name: "orders",
        chinese: "订单",
        required: true,
        columns: &[
            col("order_id", Id, false),
            col("member_id", Id, true),
            col("ordered_at", Timestamp, false),
            col("channel", Text, false),
            col("store_id", Id, true),
            col("gross_amount", Money, false),
            col("discount_amount", Money, false),
            col("paid_amount", Money, false),
            col("coupon_id", Id, true),
            col("status", Text, false),
        ],
    },
    TableSpec {
        name: "order_items",
        chinese: "订单明细",
        required: true,
        columns: &[
            col("order_id", Id, false),
            col("product_id", Id, false),
            col("quantity", Int, false),
            col("unit_price", Money, false),
            col("line_amount", Money, false),
        ],
    },
    TableSpec {
        name: "products",
        chinese: "商品",
        required: true,
        columns: &[
            col("product_id", Id, false),
            col("name", Text, false),
            col("category", Text, false),
            col("subcategory", Text, true),
            col("brand", Text, true),
            col("list_price", Money, false),
            col("launched_at", Timestamp, true),
            col("is_consumable", Bool, true),
        ],
    },
    TableSpec {
        name: "community_events",
        chinese: "社群互动",
        required: false,
        columns: &[
            col("member_id", Id, false),
            col("group_id", Id, false),
            col("event_type", Text, false),
            col("occurred_at", Timestamp, false),
            col("target_member_id", Id, true),
        ],
    },
    TableSpec {
        name: "points_ledger",
        chinese: "积分",
        required: false,
        columns: &[
            col("member_id", Id, false),
            col("occurred_at", Timestamp, false),
            col("kind", Text, false),
            col("points", Int, false),
            col("expires_at", Timestamp, true),
        ],
    },
    TableSpec {
        name: "contact_history",
        chinese: "触达历史",
        required: false,
        columns: &[
            col("member_id", Id, false),
            col("campaign", Text, false),
            col("channel", Text, false),
            col("sent_at", Timestamp, false),
            col("holdout", Bool, false),
            col("converted_at", Timestamp, true),
            col("revenue", Money, true),
        ],
    },
    TableSpec {
        name: "suppression",
        chinese: "免打扰",
        required: false,
        columns: &[
            col("member_id", Id, false),
            col("reason", Text, false),
            col("until", Timestamp, true),
        ],
    },
];

/// The contract table called `name`, if there is one.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_integers_and_strings_but_not_floats() {
        assert!(Id.accepts(&DataType::Int32));
        assert!(Id.accepts(&DataType::Utf8View));
        assert!(!Id.accepts(&DataType::Float64));
    }

    #[test]
    fn timestamps_accept_any_unit_zone_or_date() {
        assert!(Timestamp.accepts(&DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))));
        assert!(Timestamp.accepts(&DataType::Date32));
        assert!(!Timestamp.accepts(&DataType::Utf8));
    }

    #[test]
    fn every_table_has_unique_column_names() {
        for t in TABLES {
            let mut names: Vec<_> = t.columns.iter().map(|c| c.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), t.columns.len(), "{}", t.name);
        }
    }
}
