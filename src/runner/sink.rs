//! The staging sink: where a running job's steps put their tables.
//!
//! Published tables are written sorted (by their declared key, else by every column;
//! zstd) into the staging directory itself;
//! intermediate ones, as computed (LZ4), into its `_work/` subdirectory (removed before
//! publishing). Either
//! way the table is then registered over its file, so later steps read what was written
//! instead of recomputing it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::FutureExt;
use futures::future::BoxFuture;

use crate::error::Result;
use crate::publish::{ParquetOptions, write_dataframe};
use crate::step::TableSink;

/// A table written to staging.
#[derive(Debug, Clone)]
pub struct WrittenTable {
    pub name: String,
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    pub schema: SchemaRef,
    pub published: bool,
    /// Bytes its query spilled to disk.
    pub spilled_bytes: u64,
}

pub struct StagingSink {
    session: SessionContext,
    dir: PathBuf,
    work: PathBuf,
    publish: BTreeSet<String>,
    /// Published table → its declared key (`[publish] keys`).
    keys: BTreeMap<String, Vec<String>>,
    /// Footer metadata of every file (the table's name is added per file).
    metadata: Vec<(String, String)>,
    written: Mutex<Vec<WrittenTable>>,
}

impl StagingSink {
    pub fn new(
        session: SessionContext,
        dir: PathBuf,
        work: PathBuf,
        publish: BTreeSet<String>,
        keys: BTreeMap<String, Vec<String>>,
        metadata: Vec<(String, String)>,
    ) -> StagingSink {
        StagingSink {
            session,
            dir,
            work,
            publish,
            keys,
            metadata,
            written: Mutex::new(Vec::new()),
        }
    }

    /// Every table written so far, in the order they were written.
    pub fn written(&self) -> Vec<WrittenTable> {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl TableSink for StagingSink {
    fn write<'a>(&'a self, name: &'a str, df: DataFrame) -> BoxFuture<'a, Result<u64>> {
        async move {
            let published = self.publish.contains(name);
            let mut metadata = self.metadata.clone();
            metadata.push(("siyu.table".into(), name.into()));
            let (path, options) = if published {
                (
                    self.dir.join(format!("{name}.parquet")),
                    ParquetOptions::published(metadata, self.keys.get(name).cloned()),
                )
            } else {
                (
                    self.work.join(format!("{name}.parquet")),
                    ParquetOptions::intermediate(metadata),
                )
            };
            let file = write_dataframe(df, &path, &options).await?;
            // A published file is in order: say so, so that a later sort on a prefix of
            // its order merges instead of sorting again.
            let order = options.order.sort_exprs(&file.schema);
            self.session.deregister_table(name)?;
            self.session.register_table(
                name,
                crate::input::sorted_parquet_table(
                    std::slice::from_ref(&path),
                    Arc::clone(&file.schema),
                    order,
                )?,
            )?;
            self.written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(WrittenTable {
                    name: name.to_string(),
                    path,
                    rows: file.rows,
                    bytes: file.bytes,
                    schema: file.schema,
                    published,
                    spilled_bytes: file.spilled_bytes,
                });
            crate::failpoint::hit("table_written");
            Ok(file.rows)
        }
        .boxed()
    }
}
