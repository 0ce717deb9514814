//! Arrow helpers the Rust steps share: finding a column by name with a clear error,
//! reading list<utf8> and list<float64> cells, building list columns, and the `as_of`
//! column every published table carries.

use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, Date32Array, Float64Builder, ListArray, ListBuilder,
    RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion::common::DFSchema;

use crate::error::{Result, SiyuError};

/// Days since 1970-01-01: an Arrow Date32 value.
pub fn date32(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// The `as_of` field of a published table.
pub fn as_of_field() -> Field {
    Field::new("as_of", DataType::Date32, false)
}

/// An `as_of` column of `rows` rows.
pub fn as_of_column(as_of: i32, rows: usize) -> ArrayRef {
    Arc::new(Date32Array::from(vec![as_of; rows]))
}

/// `schema` with an `as_of` column appended.
pub fn with_as_of(schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(as_of_field());
    Arc::new(Schema::new(fields))
}

/// A list type of nullable `item`s, as published tables use.
pub fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", item, true)))
}

pub fn list_utf8() -> DataType {
    list_of(DataType::Utf8)
}

/// Whether a plan's column is text, or a list of text (null-typed columns pass: an
/// empty `make_array()` or a NULL literal).
pub fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

pub fn is_text_list(t: &DataType) -> bool {
    match t {
        DataType::List(f) | DataType::LargeList(f) => is_text(f.data_type()),
        DataType::Null => true,
        _ => false,
    }
}

/// Check that `table` (whose plan has `schema`) has every column in `columns`.
pub fn require_columns<S: AsRef<str>>(schema: &DFSchema, table: &str, columns: &[S]) -> Result<()> {
    for c in columns {
        let c = c.as_ref();
        if schema.field_with_unqualified_name(c).is_err() {
            return Err(
                SiyuError::config(format!("table {table} has no column {c}"))
                    .in_table(table)
                    .in_column(c),
            );
        }
    }
    Ok(())
}

/// Column `name` of a batch read from `table`.
pub fn column<'a>(batch: &'a RecordBatch, table: &str, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        SiyuError::input(format!("{table}: no column {name}"))
            .in_table(table)
            .in_column(name)
    })
}

/// Column `name` as Utf8.
pub fn strings<'a>(batch: &'a RecordBatch, table: &str, name: &str) -> Result<&'a StringArray> {
    let c = column(batch, table, name)?;
    c.as_string_opt::<i32>()
        .ok_or_else(|| wrong_type(table, name, "Utf8", c))
}

/// Column `name` as a list.
pub fn lists<'a>(batch: &'a RecordBatch, table: &str, name: &str) -> Result<&'a ListArray> {
    let c = column(batch, table, name)?;
    c.as_list_opt::<i32>()
        .ok_or_else(|| wrong_type(table, name, "a list", c))
}

fn wrong_type(table: &str, name: &str, expected: &str, found: &ArrayRef) -> SiyuError {
    SiyuError::input(format!(
        "{table}: column {name} is {}, expected {expected}",
        found.data_type()
    ))
    .in_table(table)
    .in_column(name)
}

/// The text values of row `r` of a list<utf8> column (nulls skipped; a null list is
/// empty).
pub fn texts(list: &ListArray, r: usize) -> Vec<String> {
    if list.is_null(r) {
        return Vec::new();
    }
    let v = list.value(r);
    let s = v.as_string::<i32>();
    s.iter().flatten().map(str::to_string).collect()
}

/// The float values of row `r` of a list<float64> column (nulls skipped).
pub fn floats(list: &ListArray, r: usize) -> Vec<f64> {
    if list.is_null(r) {
        return Vec::new();
    }
    let v = list.value(r);
    v.as_primitive::<Float64Type>().iter().flatten().collect()
}

/// A list column with one list per row, its values appended to `values` by `append`.
fn list_column<B, R, I>(values: B, rows: R, append: impl Fn(&mut B, I::Item)) -> ArrayRef
where
    B: ArrayBuilder,
    R: IntoIterator<Item = I>,
    I: IntoIterator,
{
    let mut b = ListBuilder::new(values);
    for row in rows {
        for v in row {
            append(b.values(), v);
        }
        b.append(true);
    }
    Arc::new(b.finish())
}

/// A list<utf8> column with one list per row.
pub fn text_list_column<R, I>(rows: R) -> ArrayRef
where
    R: IntoIterator<Item = I>,
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    list_column(StringBuilder::new(), rows, |b, v| b.append_value(v))
}

/// A list<float64> column with one list per row.
pub fn float_list_column<R, I>(rows: R) -> ArrayRef
where
    R: IntoIterator<Item = I>,
    I: IntoIterator<Item = f64>,
{
    list_column(Float64Builder::new(), rows, |b, v| b.append_value(v))
}

/// A record batch of `columns` with `schema`; a mismatch is a bug in the step building
/// it, reported with the table's name.
pub fn batch(schema: SchemaRef, columns: Vec<ArrayRef>, table: &str) -> Result<RecordBatch> {
    RecordBatch::try_new(schema, columns)
        .map_err(|e| SiyuError::runtime(format!("building {table}: {e}")).in_table(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_columns_round_trip_and_nulls_are_skipped() {
        let a = text_list_column(vec![vec!["a", "b"], vec![], vec!["c"]]);
        let l = a.as_list::<i32>();
        assert_eq!(texts(l, 0), ["a", "b"]);
        assert!(texts(l, 1).is_empty());
        assert_eq!(texts(l, 2), ["c"]);
        let f = float_list_column(vec![vec![1.5, 2.0], vec![]]);
        assert_eq!(floats(f.as_list::<i32>(), 0), [1.5, 2.0]);
    }

    #[test]
    fn a_missing_column_names_the_table_and_the_column() {
        let schema =
            DFSchema::try_from(Schema::new(vec![Field::new("a", DataType::Utf8, true)])).unwrap();
        let e = require_columns(&schema, "t", &["a", "b"]).unwrap_err();
        assert_eq!(e.message, "table t has no column b");
        assert_eq!(e.location.table.as_deref(), Some("t"));
        assert_eq!(e.location.column_name.as_deref(), Some("b"));
    }

    #[test]
    fn date32_counts_days_from_the_epoch() {
        assert_eq!(date32(NaiveDate::from_ymd_opt(1970, 1, 2).unwrap()), 1);
        assert_eq!(
            date32(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()),
            20_758
        );
    }
}
