//! The output half of the contract: the Arrow schema of every table Rust code writes
//! (the rules, segment, recommend, outreach, value and data quality steps, and the `rules` /
//! `segment` commands), in one place, as `contract.rs` holds the inputs. SQL steps'
//! tables take their schema from their query. `docs/contract.md` ("Outputs") lists the
//! same columns for people; a test keeps the two alike.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::columns::{as_of_field, list_of, list_utf8};

use DataType::{Boolean, Float64, Int32, Int64, Utf8};

/// A column that is never null.
fn req(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, false)
}

/// A column that may be null.
fn opt(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

fn schema(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

/// `basket_rules`, without its `as_of` (the `siyu rules` command writes it bare).
pub fn basket_rules() -> SchemaRef {
    let (count, share) = (|n| req(n, Int64), |n| req(n, Float64));
    schema(vec![
        count("rank"),
        req("antecedent", list_utf8()),
        req("consequent", list_utf8()),
        req("antecedent_names", list_utf8()),
        req("consequent_names", list_utf8()),
        share("support"),
        share("confidence"),
        share("lift"),
        share("leverage"),
        share("conviction"),
        count("antecedent_count"),
        count("consequent_count"),
        count("rule_count"),
    ])
}

/// The frequent itemsets table (`itemsets_output` of the rules step).
pub fn itemsets() -> SchemaRef {
    schema(vec![
        req("items", list_utf8()),
        req("count", Int64),
        req("support", Float64),
    ])
}

/// `member_segments`: one row per `id` (the step's id column).
pub fn segment_members(id: &str) -> SchemaRef {
    schema(vec![
        req(id, Utf8),
        req("segment_id", Utf8),
        req("segment_name", Utf8),
        req("distance", Float64),
        as_of_field(),
    ])
}

/// What the `siyu segment` command writes: id, segment_id, distance.
pub fn segment_assignments(id: &str) -> SchemaRef {
    schema(vec![
        req(id, Utf8),
        req("segment_id", Utf8),
        req("distance", Float64),
    ])
}

/// `segment_profiles`: size, shares, centroids and the scaling that produced them (what
/// the next night matches its segments against).
pub fn segment_profiles() -> SchemaRef {
    let floats = |n| req(n, list_of(Float64));
    schema(vec![
        req("segment_id", Utf8),
        req("segment_name", Utf8),
        req("members", Int64),
        req("share", Float64),
        opt("revenue_share", Float64),
        req("features", list_utf8()),
        floats("centroid"),
        floats("centroid_z"),
        req("transforms", list_utf8()),
        floats("scale_center"),
        floats("scale_spread"),
        req("is_new", Boolean),
        opt("previous_distance", Float64),
        as_of_field(),
    ])
}

/// `recommendations` (item column `product_id`) and `category_recommendations`
/// (`category`).
pub fn recommendations(item_column: &str) -> SchemaRef {
    schema(vec![
        req("member_id", Utf8),
        req("rank", Int32),
        req(item_column, Utf8),
        req("score", Float64),
        req("lift", Float64),
        req("rule_rank", Int64),
        req("reason", Utf8),
        as_of_field(),
    ])
}

/// `tag_dictionary`: one row per member-level tag (`step::dictionary`).
pub fn tag_dictionary() -> SchemaRef {
    schema(vec![
        req("tag", Utf8),
        req("name_zh", Utf8),
        req("definition", Utf8),
        req("data_type", Utf8),
        req("allowed_values", allowed_values()),
        req("params", list_utf8()),
        req("sql_file", Utf8),
        req("tracks_changes", Boolean),
        as_of_field(),
    ])
}

/// The `allowed_values` of a tag: (value, label_zh, label_en), empty for an open set.
pub fn allowed_values() -> DataType {
    list_of(DataType::Struct(
        vec![
            Field::new("value", Utf8, false),
            Field::new("label_zh", Utf8, false),
            Field::new("label_en", Utf8, false),
        ]
        .into(),
    ))
}

/// The `message_fields` of an outreach row: (name, value) pairs, sorted by name.
pub fn message_fields() -> DataType {
    list_of(DataType::Struct(
        vec![
            Field::new("name", Utf8, false),
            Field::new("value", Utf8, false),
        ]
        .into(),
    ))
}

/// `outreach`: one row per contact (and holdout); `send_at` in the job's `timezone`.
pub fn outreach(timezone: &str) -> SchemaRef {
    let local = DataType::Timestamp(TimeUnit::Microsecond, Some(timezone.into()));
    schema(vec![
        req("member_id", Utf8),
        req("campaign", Utf8),
        req("contact_type", Utf8),
        req("channel", Utf8),
        req("rank", Int32),
        req("score", Float64),
        req("reasons", list_utf8()),
        opt("offer", Utf8),
        req("recommended_products", list_utf8()),
        req("message_fields", message_fields()),
        opt("segment_id", Utf8),
        opt("segment_name", Utf8),
        opt("tier", Utf8),
        opt("lifecycle_stage", Utf8),
        opt("journey_stage", Utf8),
        opt("store_id", Utf8),
        opt("guide_id", Utf8),
        req("holdout", Boolean),
        req("send_window", Utf8),
        req("send_at", local),
        req("priority", Int64),
        as_of_field(),
    ])
}

/// `outreach_summary`: one row per campaign, its funnel from eligible to contacted.
pub fn outreach_summary() -> SchemaRef {
    let count = |n| req(n, Int64);
    schema(vec![
        req("campaign", Utf8),
        req("contact_type", Utf8),
        count("priority"),
        opt("budget", Int64),
        req("holdout_share", Float64),
        count("eligible"),
        count("removed_unknown_member"),
        count("removed_no_consent"),
        count("removed_suppressed"),
        count("removed_fatigue"),
        count("removed_frequency_cap"),
        count("removed_channel_cap"),
        count("removed_guide_capacity"),
        count("removed_priority"),
        count("removed_budget"),
        count("selected"),
        count("holdout"),
        count("contacted"),
        as_of_field(),
    ])
}

/// `member_value`: one row per buyer, the value models' predictions (the `value` step).
pub fn member_value() -> SchemaRef {
    schema(vec![
        req("member_id", Utf8),
        as_of_field(),
        req("repeat_purchases", Int64),
        req("recency_days_model", Int64),
        req("age_days", Int64),
        opt("p_alive", Float64),
        opt("expected_orders", Float64),
        opt("expected_order_value", Float64),
        opt("clv", Float64),
        opt("value_band", Utf8),
        opt("value_band_label", Utf8),
        opt("high_potential", Boolean),
    ])
}

/// `clv_model`: one row per value model (`bgnbd`, `gamma_gamma`) and night.
pub fn clv_model() -> SchemaRef {
    schema(vec![
        req("model", Utf8),
        as_of_field(),
        opt("r", Float64),
        opt("alpha", Float64),
        opt("a", Float64),
        opt("b", Float64),
        opt("p", Float64),
        opt("q", Float64),
        opt("v", Float64),
        opt("log_likelihood", Float64),
        req("members_fitted", Int64),
        req("iterations", Int64),
        req("converged", Boolean),
        opt("note", Utf8),
    ])
}

/// `data_quality`: one row per input check.
pub fn data_quality() -> SchemaRef {
    schema(vec![
        req("table", Utf8),
        req("check", Utf8),
        req("description", Utf8),
        req("rows_affected", Int64),
        req("rows_total", Int64),
        req("share", Float64),
        req("action", Utf8),
        as_of_field(),
    ])
}

/// `data_tests`: one row per data test of the night (`src/datatest.rs`).
pub fn data_tests() -> SchemaRef {
    schema(vec![
        req("test", Utf8),
        req("kind", Utf8),
        opt("table_name", Utf8),
        opt("column_name", Utf8),
        req("severity", Utf8),
        req("warn_if", Utf8),
        req("error_if", Utf8),
        req("failures", Int64),
        req("status", Utf8),
        req("message", Utf8),
        opt("sample", Utf8),
        req("source", Utf8),
        as_of_field(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns `docs/contract.md` lists for `table` in its Outputs table.
    fn documented(table: &str) -> Vec<String> {
        let doc = include_str!("../docs/contract.md");
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {table} |")))
            .unwrap_or_else(|| panic!("docs/contract.md has no Outputs row for {table}"));
        let columns = row.trim_end_matches('|').rsplit('|').next().unwrap();
        let columns = columns.split(" — ").next().unwrap();
        columns
            .split(',')
            .map(|c| c.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }

    fn names(schema: &SchemaRef) -> Vec<String> {
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    #[test]
    fn docs_list_the_columns_rust_steps_write() {
        let mut rules = names(&basket_rules());
        rules.push("as_of".into());
        for (table, columns) in [
            ("basket_rules", rules),
            ("member_segments", names(&segment_members("member_id"))),
            ("segment_profiles", names(&segment_profiles())),
            ("recommendations", names(&recommendations("product_id"))),
            (
                "category_recommendations",
                names(&recommendations("category")),
            ),
            ("outreach", names(&outreach("Asia/Shanghai"))),
            ("outreach_summary", names(&outreach_summary())),
            ("data_quality", names(&data_quality())),
            ("member_value", names(&member_value())),
            ("clv_model", names(&clv_model())),
            ("data_tests", names(&data_tests())),
            ("tag_dictionary", names(&tag_dictionary())),
        ] {
            assert_eq!(
                documented(table),
                columns,
                "docs/contract.md row for {table}"
            );
        }
    }

    #[test]
    fn nullability_is_the_contracts() {
        let s = outreach("Asia/Shanghai");
        let nullable: Vec<&str> = s
            .fields()
            .iter()
            .filter(|f| f.is_nullable())
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            nullable,
            [
                "offer",
                "segment_id",
                "segment_name",
                "tier",
                "lifecycle_stage",
                "journey_stage",
                "store_id",
                "guide_id"
            ]
        );
        assert!(matches!(
            s.field_with_name("send_at").unwrap().data_type(),
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if &**tz == "Asia/Shanghai"
        ));
    }
}
