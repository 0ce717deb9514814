//! SQL job files: one `.sql` file is one table, named after the file stem.
//!
//! A data engineer adds `sql/tags/my_tag.sql` and gets a table `my_tag`. Each file holds
//! exactly one query (`SELECT` / `WITH` / `VALUES`); DDL, DML, `COPY` and every other
//! statement are refused. The tables a query reads are found by parsing it with
//! DataFusion's SQL parser, and become the step's dependencies.
//!
//! Parameters are written as DataFusion named placeholders, `$name`. Each is replaced in
//! the parsed syntax tree by a typed literal of the parameter's value, so a value can
//! never change the shape of a query: a string parameter is one string literal however
//! many quotes it holds. `$as_of` (a `DATE`) and `$as_of_ts` (a `TIMESTAMP` at local
//! midnight of the run date) are always defined.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Spanned, Statement as SqlStatement, Value, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use crate::error::{Location, Problem, SiyuError};
use crate::job::ParamValue;

/// A SQL job file as read from disk.
#[derive(Debug, Clone)]
pub struct SqlSource {
    /// Table name: the file stem.
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

/// A SQL job file parsed, with parameters substituted and its reads resolved.
#[derive(Debug, Clone)]
pub struct SqlQuery {
    pub source: SqlSource,
    pub statement: DFStatement,
    /// Tables the query reads, sorted and deduplicated (CTE names excluded).
    pub reads: Vec<String>,
}

/// Every `*.sql` file below the given directories (recursively), sorted by path.
pub fn load_dirs(dirs: &[PathBuf]) -> (Vec<SqlSource>, Vec<Problem>) {
    let mut sources = Vec::new();
    let mut problems = Vec::new();
    for dir in dirs {
        let mut paths = Vec::new();
        if let Err(e) = walk_sql(dir, &mut paths) {
            problems.push(
                SiyuError::config(format!("cannot read SQL directory: {e}")).in_file(dir.display()),
            );
            continue;
        }
        paths.sort();
        for path in paths {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !crate::job::is_identifier(&name) {
                problems.push(
                    SiyuError::config(format!(
                        "file name {name:?} must be a table name: lowercase letters, digits and _"
                    ))
                    .in_file(path.display()),
                );
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push(SqlSource { name, path, text }),
                Err(e) => problems
                    .push(SiyuError::config(format!("cannot read: {e}")).in_file(path.display())),
            }
        }
    }
    (sources, problems)
}

fn walk_sql(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk_sql(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    Ok(())
}

/// Parse a SQL job file, refuse anything but one query, substitute parameters and find
/// the tables it reads. Every problem is located as `file:line:col`.
pub fn prepare(
    source: &SqlSource,
    params: &BTreeMap<String, ParamValue>,
) -> Result<SqlQuery, Vec<Problem>> {
    let at = |line: u64, col: u64| Location::file(source.path.display()).at(line, col);
    let problem = |loc: Location, msg: String| SiyuError::config(msg).at(loc);

    let dialect = GenericDialect {};
    let mut statements = DFParserBuilder::new(source.text.as_str())
        .with_dialect(&dialect)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| {
            let msg = e.to_string();
            let (line, col) = parser_position(&msg).unwrap_or((1, 1));
            vec![problem(
                at(line, col),
                format!("SQL syntax error: {}", strip_position(&msg)),
            )]
        })?;
    if statements.len() != 1 {
        return Err(vec![problem(
            at(1, 1),
            format!(
                "a SQL job file holds exactly one query, found {} statements",
                statements.len()
            ),
        )]);
    }
    let statement = statements.pop_front().expect("one statement");
    let mut query = match statement {
        DFStatement::Statement(s) if matches!(*s, SqlStatement::Query(_)) => *s,
        other => {
            let (line, column) = match &other {
                DFStatement::Statement(s) => (s.span().start.line, s.span().start.column),
                _ => (1, 1),
            };
            let kind = other
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_uppercase();
            return Err(vec![problem(
                at(line.max(1), column.max(1)),
                format!(
                    "only queries are allowed in SQL job files, found a {kind} statement (DDL, DML, COPY and other statements are refused)"
                ),
            )]);
        }
    };

    let mut problems = Vec::new();
    let _ = visit_expressions_mut(&mut query, |expr| {
        let SqlExpr::Value(v) = expr else {
            return ControlFlow::<()>::Continue(());
        };
        let Value::Placeholder(name) = &v.value else {
            return ControlFlow::Continue(());
        };
        let loc = at(v.span.start.line, v.span.start.column);
        let key = name.trim_start_matches(['$', '?', ':']);
        match params.get(key) {
            Some(value) if name.starts_with('$') => match literal(value) {
                Ok(lit) => *expr = lit,
                Err(msg) => problems.push(problem(loc, msg)),
            },
            _ if key.is_empty() || key.chars().all(|c| c.is_ascii_digit()) => problems.push(
                problem(loc, format!("placeholder {name}: use a named parameter, $name")),
            ),
            _ => problems.push(problem(
                loc,
                format!(
                    "unknown parameter {name}; declare it under [params] in the job file (known: {})",
                    params.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
        ControlFlow::Continue(())
    });
    if !problems.is_empty() {
        return Err(problems);
    }

    let statement = DFStatement::Statement(Box::new(query));
    let (refs, _ctes) = resolve_table_references(&statement, true)
        .map_err(|e| vec![problem(at(1, 1), e.to_string())])?;
    let mut reads = BTreeSet::new();
    for r in refs {
        if r.schema().is_some() {
            problems.push(problem(
                at(1, 1),
                format!("table {r}: refer to tables by their bare name, without a schema"),
            ));
        } else {
            reads.insert(r.table().to_string());
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(SqlQuery {
        source: source.clone(),
        statement,
        reads: reads.into_iter().collect(),
    })
}

/// The typed SQL literal of a parameter value, as a syntax-tree node.
fn literal(value: &ParamValue) -> Result<SqlExpr, String> {
    let text = match value {
        ParamValue::Int(i) => i.to_string(),
        ParamValue::Float(f) => format!("{f:?}"),
        ParamValue::String(s) => format!("'{}'", s.replace('\'', "''")),
        ParamValue::Bool(b) => b.to_string().to_uppercase(),
        ParamValue::Date(d) => format!("DATE '{d}'"),
        ParamValue::Timestamp(t) => format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S")),
    };
    Parser::new(&GenericDialect {})
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| format!("cannot render parameter value {text}: {e}"))
}

/// `(line, column)` from a sqlparser message ending in "at Line: 3, Column: 7".
fn parser_position(msg: &str) -> Option<(u64, u64)> {
    let rest = &msg[msg.rfind("Line: ")? + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let col: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, col.parse().ok()?))
}

fn strip_position(msg: &str) -> &str {
    let msg = msg.strip_prefix("SQL error: ").unwrap_or(msg);
    let msg = msg.strip_prefix("ParserError(\"").unwrap_or(msg);
    match msg.rfind(" at Line: ") {
        Some(i) => &msg[..i],
        None => msg.trim_end_matches("\")"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> SqlSource {
        SqlSource {
            name: "t".into(),
            path: PathBuf::from("sql/t.sql"),
            text: text.into(),
        }
    }

    fn params() -> BTreeMap<String, ParamValue> {
        BTreeMap::from([
            ("days".to_string(), ParamValue::Int(30)),
            ("label".to_string(), ParamValue::String("it's".into())),
        ])
    }

    #[test]
    fn reads_exclude_ctes_and_are_sorted() {
        let q = prepare(
            &src("WITH a AS (SELECT * FROM orders) SELECT * FROM a JOIN members USING (member_id)"),
            &params(),
        )
        .unwrap();
        assert_eq!(q.reads, vec!["members", "orders"]);
    }

    #[test]
    fn params_become_typed_literals_not_pasted_text() {
        let q = prepare(
            &src("SELECT $days AS d, $label AS l FROM orders"),
            &params(),
        )
        .unwrap();
        let text = q.statement.to_string();
        assert!(text.contains("30 AS d"), "{text}");
        assert!(text.contains("'it''s' AS l"), "{text}");
    }

    #[test]
    fn unknown_parameter_is_located() {
        let err = prepare(&src("SELECT 1\nFROM orders WHERE x > $nope"), &params()).unwrap_err();
        assert_eq!(*err[0].location, Location::file("sql/t.sql").at(2, 23));
        assert!(err[0].message.contains("unknown parameter $nope"));
    }

    #[test]
    fn ddl_dml_and_copy_are_refused() {
        for sql in [
            "CREATE TABLE x (a INT)",
            "INSERT INTO orders VALUES (1)",
            "COPY orders TO '/tmp/x.parquet'",
            "DROP TABLE orders",
            "SET datafusion.execution.batch_size = 1",
        ] {
            let err = prepare(&src(sql), &params()).unwrap_err();
            assert!(
                err[0].message.contains("only queries are allowed"),
                "{sql}: {}",
                err[0]
            );
        }
    }

    #[test]
    fn syntax_error_reports_line_and_column() {
        let err = prepare(&src("SELECT a\nFROM orders WHERE a > > 1"), &params()).unwrap_err();
        assert_eq!(err[0].location.file.as_deref(), Some("sql/t.sql"));
        assert_eq!(err[0].location.line, Some(2));
        assert!(err[0].message.starts_with("SQL syntax error"), "{}", err[0]);
    }

    #[test]
    fn two_statements_are_refused() {
        let err = prepare(&src("SELECT 1; SELECT 2"), &params()).unwrap_err();
        assert!(err[0].message.contains("exactly one query"));
    }
}
