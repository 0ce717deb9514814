//! `siyu check`, and the rules every published table follows (an `as_of` column, Utf8
//! ids, no personal data).

use std::path::Path;

use datafusion::arrow::datatypes::{DataType, SchemaRef};

use super::{Options, Prepared, prepare};
use crate::dag::Node;
use crate::error::{Problem, SiyuError};
use crate::job::Job;
use crate::step::Registry;

/// `siyu check`: every problem, or `Ok` with the prepared job.
pub async fn check(job_path: &Path, opts: &Options) -> std::result::Result<Prepared, Vec<Problem>> {
    check_with(&Registry::builtin(), job_path, opts).await
}

/// `check` with the step kinds of `registry`.
pub async fn check_with(
    registry: &Registry,
    job_path: &Path,
    opts: &Options,
) -> std::result::Result<Prepared, Vec<Problem>> {
    let job = Job::load(job_path).map_err(|e| vec![e])?;
    let engine = super::engine_for(&job, opts).map_err(|e| vec![e])?;
    // An unreachable scheduler is one problem among the others `check` finds.
    let unreachable = crate::session::reach_scheduler(&engine).await.err();
    let session = crate::session::new_session(None, None, &engine, opts.partitions)
        .await
        .map_err(|e| vec![e])?;
    let prepared = prepare(job, opts, session, engine, registry).await;
    match (prepared, unreachable) {
        (p, None) => p,
        (Ok(_), Some(e)) => Err(vec![e]),
        (Err(mut problems), Some(e)) => {
            problems.insert(0, e);
            Err(problems)
        }
    }
}

/// Whether a column name says it holds personal contact or identity data (phone, name,
/// address, e-mail, ID card, WeChat ids). `name` alone counts only in a member-level
/// table (one with a `member_id` column); flags (Boolean, e.g. `consent_email`) never.
pub fn personal_column(name: &str, data_type: &DataType, member_level: bool) -> bool {
    const EXACT: &[&str] = &[
        "phone",
        "mobile",
        "telephone",
        "cellphone",
        "tel",
        "address",
        "email",
        "email_address",
        "real_name",
        "full_name",
        "member_name",
        "nickname",
        "id_card",
        "id_card_no",
        "id_number",
        "openid",
        "unionid",
        "wechat_id",
        "wechat_openid",
        "birth_date",
        "birthday",
    ];
    const SUFFIXES: &[&str] = &[
        "_phone", "_mobile", "_address", "_email", "_openid", "_unionid",
    ];
    if data_type == &DataType::Boolean {
        return false;
    }
    let n = name.to_ascii_lowercase();
    EXACT.contains(&n.as_str())
        || SUFFIXES.iter().any(|s| n.ends_with(s))
        || (member_level && n == "name")
}

/// Problems of a published table's schema against the output contract's general rules.
pub(super) fn published_schema(
    table: &str,
    schema: &SchemaRef,
    nodes: &[Node],
    allowed_personal: &[String],
    key: Option<&[String]>,
) -> Vec<Problem> {
    let at = nodes
        .iter()
        .find(|n| n.writes.iter().any(|w| w == table))
        .map(|n| n.source.clone())
        .unwrap_or_default();
    let problem = |column: Option<&str>, message: String| {
        let e = SiyuError::config(message).at(at.clone()).in_table(table);
        match column {
            Some(c) => e.in_column(c),
            None => e,
        }
    };
    let mut problems = Vec::new();
    if schema.field_with_name("as_of").is_err() {
        problems.push(problem(
            None,
            format!("published table {table} has no as_of column (add `$as_of AS as_of`)"),
        ));
    }
    for f in schema.fields() {
        if f.name().ends_with("_id") && f.data_type() != &DataType::Utf8 {
            problems.push(problem(
                Some(f.name()),
                format!(
                    "published table {table}: id column {} is {}; ids are Utf8 in every output (CAST it AS VARCHAR)",
                    f.name(),
                    f.data_type()
                ),
            ));
        }
    }
    for c in key.unwrap_or_default() {
        match schema.field_with_name(c) {
            Err(_) => problems.push(problem(
                None,
                format!(
                    "[publish] keys for {table} names column {c}, which {table} does not have (its columns: {})",
                    schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
            Ok(f) if f.data_type().is_nested() => problems.push(problem(
                Some(c),
                format!(
                    "[publish] keys for {table}: column {c} is {}; a key column must not be a list or a struct",
                    f.data_type()
                ),
            )),
            Ok(_) => {}
        }
    }
    let member_level = schema.field_with_name("member_id").is_ok();
    for f in schema.fields() {
        if personal_column(f.name(), f.data_type(), member_level)
            && !allowed_personal.contains(&format!("{table}.{}", f.name()))
        {
            problems.push(problem(
                Some(f.name()),
                format!(
                    "published table {table} has column {}, which looks like personal data; outputs carry member ids only. Drop it, or allow it with [publish] personal_columns = [\"{table}.{}\"]",
                    f.name(),
                    f.name()
                ),
            ));
        }
    }
    problems
}
