use datafusion::prelude::*;
#[tokio::main]
async fn main() {
    let ctx = SessionContext::new();
    for q in [
        "SELECT date_part('isodow', TIMESTAMP '2026-06-29 10:00:00'), date_part('dow', TIMESTAMP '2026-06-29 10:00:00')",
        "SELECT make_date(2027, 2, 28), arrow_typeof(make_date(2027,2,28))",
        "SELECT array_slice(array_agg(x ORDER BY x DESC), 1, 3) FROM (VALUES ('a'),('b'),('c'),('d')) t(x)",
        "SELECT median(x) FROM (VALUES (1.0),(2.0),(10.0)) t(x)",
        "SELECT CAST(TIMESTAMP '2026-06-29 10:00:00' AS DATE) - 3",
    ] {
        match ctx.sql(q).await {
            Ok(df) => match df.collect().await {
                Ok(b) => println!(
                    "OK {q}\n{}",
                    datafusion::arrow::util::pretty::pretty_format_batches(&b).unwrap()
                ),
                Err(e) => println!("EXEC ERR {q}: {e}"),
            },
            Err(e) => println!("PLAN ERR {q}: {e}"),
        }
    }
}
