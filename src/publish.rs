//! Safe publishing: outputs appear all at once, complete, or not at all.
//!
//! A run writes everything into a hidden staging directory beside the published ones
//! (`<out>/<job>/.staging-as_of=<date>-<run id>/`), fsyncs it, writes `_manifest.json`
//! and then `_SUCCESS`, and only then moves it into place as
//! `<out>/<job>/as_of=<date>/`. When that directory already exists (a rerun of the same
//! date) the two are swapped with one atomic `renameat2(RENAME_EXCHANGE)`, so a reader
//! sees the old complete output or the new complete output, never a mix. A failed or
//! killed run leaves only a hidden staging directory, which the next run of the job
//! removes. One run of a job at a time: an exclusive lock on `<out>/<job>/.lock`.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::KeyValue;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::DataFrame;
use futures::StreamExt;

use crate::error::{ErrorClass, Result, SiyuError};

/// Rows per row group of published files: large enough for fast scans, small enough
/// that a reader can skip by statistics.
const ROW_GROUP_ROWS: usize = 262_144;

fn publish_err(what: &str, path: &Path, e: std::io::Error) -> SiyuError {
    SiyuError::io(ErrorClass::Publish, what, path, e)
}

/// The exclusive lock a run holds on its job's output directory.
pub struct JobLock {
    _file: File,
}

impl JobLock {
    pub fn acquire(job_dir: &Path) -> Result<JobLock> {
        fs::create_dir_all(job_dir).map_err(|e| publish_err("cannot create", job_dir, e))?;
        let path = job_dir.join(".lock");
        let file = File::create(&path).map_err(|e| publish_err("cannot create", &path, e))?;
        // SAFETY: flock on a file descriptor we own; it is released when the file closes.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(SiyuError::publish(format!(
                "another siyu run holds {} (one run per job at a time); wait for it or remove a stale lock holder",
                path.display()
            )));
        }
        Ok(JobLock { _file: file })
    }
}

/// Remove what killed runs left behind: hidden staging and swapped-out directories.
/// Only called while holding the job lock, so no live run owns them.
pub fn remove_leftovers(job_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(job_dir) else {
        return Ok(removed);
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".staging-")
            || name.starts_with(".replaced-")
            || name.starts_with(".removing-")
        {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|e| publish_err("cannot remove", &path, e))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

/// The staging directory of one run.
pub struct Staging {
    pub dir: PathBuf,
    /// Unpublished intermediate tables; removed before publishing.
    pub work: PathBuf,
    pub target: PathBuf,
    published: bool,
}

impl Staging {
    pub fn create(job_dir: &Path, as_of: NaiveDate, run_id: &str) -> Result<Staging> {
        let dir = job_dir.join(format!(".staging-as_of={as_of}-{run_id}"));
        let work = dir.join("_work");
        fs::create_dir_all(&work).map_err(|e| publish_err("cannot create", &work, e))?;
        Ok(Staging {
            target: job_dir.join(format!("as_of={as_of}")),
            dir,
            work,
            published: false,
        })
    }

    /// Move the staged outputs into place: drop the work directory, write the manifest
    /// and `_SUCCESS`, fsync, then swap or rename atomically.
    pub fn publish(mut self, manifest: &crate::manifest::Manifest) -> Result<PathBuf> {
        fs::remove_dir_all(&self.work).map_err(|e| publish_err("cannot remove", &self.work, e))?;
        crate::failpoint::hit("before_success");
        let manifest_path = self.dir.join("_manifest.json");
        let mut text = serde_json::to_string_pretty(manifest)
            .map_err(|e| SiyuError::publish(format!("cannot serialise manifest: {e}")))?;
        text.push('\n');
        write_synced(&manifest_path, text.as_bytes())?;
        write_synced(&self.dir.join("_SUCCESS"), b"")?;
        sync_dir(&self.dir)?;
        crate::failpoint::hit("before_swap");

        let parent = self
            .target
            .parent()
            .expect("target has a parent")
            .to_path_buf();
        if self.target.exists() {
            if exchange(&self.dir, &self.target).is_err() {
                // Filesystems without RENAME_EXCHANGE: two renames, with a short moment
                // in which the date has no directory at all (never a partial one).
                let aside = replaced_name(&self.target);
                fs::rename(&self.target, &aside)
                    .map_err(|e| publish_err("cannot move aside", &self.target, e))?;
                fs::rename(&self.dir, &self.target)
                    .map_err(|e| publish_err("cannot publish", &self.dir, e))?;
                fs::remove_dir_all(&aside).map_err(|e| publish_err("cannot remove", &aside, e))?;
            } else {
                // After the exchange the staging path holds yesterday's copy of this date.
                let aside = replaced_name(&self.target);
                fs::rename(&self.dir, &aside)
                    .map_err(|e| publish_err("cannot move", &self.dir, e))?;
                fs::remove_dir_all(&aside).map_err(|e| publish_err("cannot remove", &aside, e))?;
            }
        } else {
            fs::rename(&self.dir, &self.target)
                .map_err(|e| publish_err("cannot publish", &self.dir, e))?;
        }
        sync_dir(&parent)?;
        self.published = true;
        Ok(self.target.clone())
    }
}

impl Drop for Staging {
    /// A run that did not publish leaves nothing behind (a killed one leaves a hidden
    /// directory that the next run removes).
    fn drop(&mut self) {
        if !self.published {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn replaced_name(target: &Path) -> PathBuf {
    let name = target.file_name().expect("named").to_string_lossy();
    target.with_file_name(format!(".replaced-{name}-{}", std::process::id()))
}

/// Atomically exchange two directories (Linux `renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| publish_err("cannot create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| publish_err("cannot write", path, e))?;
    f.sync_all()
        .map_err(|e| publish_err("cannot sync", path, e))
}

fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| publish_err("cannot sync", path, e))
}

/// How a parquet file is written. Every parquet file siyu writes — published and
/// intermediate tables, generated data, the `rules` and `segment` commands' outputs —
/// goes through [`ParquetFile`] with one of these, and every write failure is a publish
/// error naming the file.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// The order rows are written in (see [`write_dataframe`]).
    pub order: RowOrder,
    pub compression: Compression,
    /// Footer key-value metadata, in this order. No wall-clock values: reruns on the
    /// same inputs must be byte-identical.
    pub metadata: Vec<(String, String)>,
}

impl ParquetOptions {
    /// A published table: sorted by its key if it declares one, else by every column;
    /// zstd level 3.
    pub fn published(metadata: Vec<(String, String)>, key: Option<Vec<String>>) -> ParquetOptions {
        ParquetOptions {
            order: RowOrder::published(key),
            compression: Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")),
            metadata,
        }
    }

    /// A file read back soon (intermediate tables, generated data, command outputs):
    /// as computed, zstd level 1.
    pub fn working(metadata: Vec<(String, String)>) -> ParquetOptions {
        ParquetOptions {
            order: RowOrder::AsComputed,
            compression: Compression::ZSTD(ZstdLevel::try_new(1).expect("valid zstd level")),
            metadata,
        }
    }

    /// A job's intermediate table, written to staging's `_work/` and read back by later
    /// steps of the same run, then deleted: as computed, LZ4 (raw), which writes and reads
    /// several times faster than zstd for a file that never leaves the machine.
    pub fn intermediate(metadata: Vec<(String, String)>) -> ParquetOptions {
        ParquetOptions {
            order: RowOrder::AsComputed,
            compression: Compression::LZ4_RAW,
            metadata,
        }
    }

    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(self.compression)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata((!self.metadata.is_empty()).then(|| {
                self.metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect()
            }))
            .build()
    }
}

/// The order a file's rows are written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOrder {
    /// As the query produced them (files read back within the run).
    AsComputed,
    /// By every column that is not a list or a struct, left to right: the bytes then do
    /// not depend on how DataFusion parallelised the query.
    AllColumns,
    /// By these columns, which identify a row: checked while writing (two rows with the
    /// same key would make the order, and so the bytes, depend on the plan). Cheaper than
    /// [`RowOrder::AllColumns`]: fewer columns to compare, and a table computed from one
    /// already in key order (member_tag_long from member_tags) merges instead of sorting.
    Key(Vec<String>),
}

impl RowOrder {
    /// A published table's order: by its declared key, else by every column.
    pub fn published(key: Option<Vec<String>>) -> RowOrder {
        key.map_or(RowOrder::AllColumns, RowOrder::Key)
    }

    /// The columns sorted by, ascending with nulls first, for a table of `schema`.
    pub fn columns(&self, schema: &datafusion::arrow::datatypes::Schema) -> Vec<String> {
        match self {
            RowOrder::AsComputed => Vec::new(),
            RowOrder::AllColumns => schema
                .fields()
                .iter()
                .filter(|f| !f.data_type().is_nested())
                .map(|f| f.name().clone())
                .collect(),
            RowOrder::Key(k) => k.clone(),
        }
    }

    /// [`RowOrder::columns`] as DataFusion sort expressions.
    pub fn sort_exprs(
        &self,
        schema: &datafusion::arrow::datatypes::Schema,
    ) -> Vec<datafusion::logical_expr::SortExpr> {
        self.columns(schema)
            .iter()
            .map(|c| datafusion::logical_expr::ident(c).sort(true, true))
            .collect()
    }
}

/// What was written to one parquet file.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    pub rows: u64,
    pub bytes: u64,
    pub schema: SchemaRef,
    /// Bytes the query that produced it spilled to disk (0 for batches written as they
    /// are).
    pub spilled_bytes: u64,
}

/// Rows per batch handed to the parquet encoder.
const WRITE_BATCH_ROWS: usize = 8192;

/// One parquet file being written: create, write batches, finish (which fsyncs).
///
/// The encoder gets batches of exactly [`WRITE_BATCH_ROWS`] rows (the last one fewer),
/// however the rows arrived: it closes pages at batch boundaries, so without this the
/// bytes of a file would depend on how an engine cut its result into batches (one
/// partition per core here; a Ballista cluster's partitions and Flight messages).
pub struct ParquetFile {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    batches: datafusion::arrow::compute::BatchCoalescer,
    rows: u64,
}

impl ParquetFile {
    pub fn create(path: &Path, schema: SchemaRef, options: &ParquetOptions) -> Result<ParquetFile> {
        let file = File::create(path).map_err(|e| publish_err("cannot create", path, e))?;
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(options.properties()))
            .map_err(|e| SiyuError::publish(e.to_string()).in_file(path.display()))?;
        Ok(ParquetFile {
            path: path.to_path_buf(),
            batches: datafusion::arrow::compute::BatchCoalescer::new(
                Arc::clone(&schema),
                WRITE_BATCH_ROWS,
            ),
            schema,
            writer,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        let pushed = self.batches.push_batch(batch.clone());
        self.encode_completed(pushed)
    }

    /// Encode every full batch the coalescer holds, once `step` (its last operation)
    /// succeeded.
    fn encode_completed(
        &mut self,
        step: std::result::Result<(), datafusion::arrow::error::ArrowError>,
    ) -> Result<()> {
        let path = &self.path;
        let failed = |e: &dyn std::fmt::Display| {
            SiyuError::publish(format!("writing: {e}")).in_file(path.display())
        };
        step.map_err(|e| failed(&e))?;
        while let Some(b) = self.batches.next_completed_batch() {
            self.writer.write(&b).map_err(|e| failed(&e))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<WrittenFile> {
        let flushed = self.batches.finish_buffered_batch();
        self.encode_completed(flushed)?;
        let path = self.path;
        let file = self
            .writer
            .into_inner()
            .map_err(|e| SiyuError::publish(format!("closing: {e}")).in_file(path.display()))?;
        file.sync_all()
            .map_err(|e| publish_err("cannot sync", &path, e))?;
        let bytes = file
            .metadata()
            .map_err(|e| publish_err("cannot stat", &path, e))?
            .len();
        Ok(WrittenFile {
            rows: self.rows,
            bytes,
            schema: self.schema,
            spilled_bytes: 0,
        })
    }
}

/// Write batches already in memory to one parquet file.
pub fn write_batches<'a>(
    path: &Path,
    schema: SchemaRef,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
    options: &ParquetOptions,
) -> Result<WrittenFile> {
    let mut file = ParquetFile::create(path, schema, options)?;
    for b in batches {
        file.write(b)?;
    }
    file.finish()
}

/// Stream a DataFrame into one parquet file, its rows in `options.order` (published
/// tables: so their bytes do not depend on how DataFusion parallelised the query).
pub async fn write_dataframe(
    df: DataFrame,
    path: &Path,
    options: &ParquetOptions,
) -> Result<WrittenFile> {
    let keys = options.order.sort_exprs(df.schema().as_arrow());
    let df = if keys.is_empty() { df } else { df.sort(keys)? };
    let schema = SchemaRef::new(df.schema().as_arrow().clone());
    let mut unique = match &options.order {
        RowOrder::Key(k) => Some(KeyCheck::new(&schema, k).map_err(|e| e.in_file(path.display()))?),
        _ => None,
    };
    let mut file = ParquetFile::create(path, schema, options)?;
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await?;
    let mut stream = datafusion::physical_plan::execute_stream(Arc::clone(&plan), task)?;
    // Encoding runs on its own thread, a few batches behind the query, so that a query
    // ending in one stream (a sort's merge) and the encoder each keep a core busy
    // instead of taking turns (member_tag_long at scale 10: 4.4 s merging, 3.6 s encoding).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<RecordBatch>(4);
    let encoder = tokio::task::spawn_blocking(move || {
        while let Some(batch) = rx.blocking_recv() {
            file.write(&batch)?;
        }
        file.finish()
    });
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(check) = &mut unique {
            check.next(&batch).map_err(|e| e.in_file(path.display()))?;
        }
        if tx.send(batch).await.is_err() {
            break; // the encoder stopped on an error, returned below
        }
    }
    drop(tx);
    let mut written = encoder.await.map_err(|e| {
        SiyuError::publish(format!("the parquet encoder failed: {e}")).in_file(path.display())
    })??;
    written.spilled_bytes = spilled_bytes(plan.as_ref());
    Ok(written)
}

/// Checks, batch by batch, that rows sorted by a key have no two rows with the same key
/// (adjacent, since sorted; nulls equal to nulls).
struct KeyCheck {
    columns: Vec<(usize, String)>,
    /// The previous batch's last row, key columns only.
    last: Option<Vec<datafusion::arrow::array::ArrayRef>>,
}

impl KeyCheck {
    fn new(schema: &SchemaRef, key: &[String]) -> Result<KeyCheck> {
        let columns =
            key.iter()
                .map(|c| {
                    schema.index_of(c).map(|i| (i, c.clone())).map_err(|_| {
                        SiyuError::config(format!("key column {c} is not in the table"))
                    })
                })
                .collect::<Result<_>>()?;
        Ok(KeyCheck {
            columns,
            last: None,
        })
    }

    fn next(&mut self, batch: &RecordBatch) -> Result<()> {
        use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
        use datafusion::arrow::compute::kernels::{boolean, cmp};
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let keys: Vec<_> = self
            .columns
            .iter()
            .map(|(i, _)| Arc::clone(batch.column(*i)))
            .collect();
        // Each row against the one before it: the previous batch's last row, then this
        // batch's own rows shifted by one.
        let mut pairs: Vec<(Vec<ArrayRef>, Vec<ArrayRef>, usize)> = Vec::new();
        if let Some(last) = &self.last {
            pairs.push((
                last.clone(),
                keys.iter().map(|k| k.slice(0, 1)).collect(),
                0,
            ));
        }
        if n > 1 {
            pairs.push((
                keys.iter().map(|k| k.slice(0, n - 1)).collect(),
                keys.iter().map(|k| k.slice(1, n - 1)).collect(),
                1,
            ));
        }
        for (before, after, offset) in pairs {
            let mut same: Option<BooleanArray> = None;
            for (b, a) in before.iter().zip(&after) {
                let eq = cmp::not_distinct(b, a).map_err(arrow_err)?;
                same = Some(match same {
                    None => eq,
                    Some(s) => boolean::and(&s, &eq).map_err(arrow_err)?,
                });
            }
            let same = same.expect("a key has at least one column");
            if same.true_count() > 0 {
                let row = (0..same.len()).find(|&r| same.value(r)).expect("counted") + offset;
                let values: Vec<String> = self
                    .columns
                    .iter()
                    .zip(&keys)
                    .map(|((_, name), k)| {
                        let v = datafusion::arrow::util::display::array_value_to_string(k, row)
                            .unwrap_or_else(|e| format!("<{e}>"));
                        if k.is_null(row) {
                            format!("{name}=NULL")
                        } else {
                            format!("{name}={v}")
                        }
                    })
                    .collect();
                return Err(SiyuError::runtime(format!(
                    "the key declared in [publish] keys ({}) is not unique: two rows have {}",
                    self.columns
                        .iter()
                        .map(|(_, c)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    values.join(", ")
                )));
            }
        }
        self.last = Some(keys.iter().map(|k| k.slice(n - 1, 1)).collect());
        Ok(())
    }
}

fn arrow_err(e: datafusion::arrow::error::ArrowError) -> SiyuError {
    SiyuError::runtime(e.to_string())
}

/// What every operator of an executed plan spilled, in bytes.
fn spilled_bytes(plan: &dyn datafusion::physical_plan::ExecutionPlan) -> u64 {
    let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
    own + plan
        .children()
        .iter()
        .map(|c| spilled_bytes(c.as_ref()))
        .sum::<u64>()
}

/// The most recent complete output of a job before `as_of`, if any: later steps use it
/// for night-to-night comparisons.
pub fn previous_run(job_dir: &Path, as_of: NaiveDate) -> Option<(NaiveDate, PathBuf)> {
    let mut best: Option<(NaiveDate, PathBuf)> = None;
    for entry in fs::read_dir(job_dir).ok()?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(date) = name
            .strip_prefix("as_of=")
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if date < as_of
            && entry.path().join("_SUCCESS").exists()
            && best.as_ref().is_none_or(|(b, _)| date > *b)
        {
            best = Some((date, entry.path()));
        }
    }
    best
}

/// Every complete night of a job (an `as_of=` directory with `_SUCCESS`), newest first.
pub fn complete_nights(job_dir: &Path) -> Vec<(NaiveDate, PathBuf)> {
    let mut nights: Vec<(NaiveDate, PathBuf)> = fs::read_dir(job_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let date = name
                .strip_prefix("as_of=")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())?;
            entry
                .path()
                .join("_SUCCESS")
                .exists()
                .then(|| (date, entry.path()))
        })
        .collect();
    nights.sort_by_key(|n| std::cmp::Reverse(n.0));
    nights
}

/// The file naming a job's newest complete night.
pub const LATEST: &str = "LATEST";

/// Point `<job_dir>/LATEST` at the newest complete night: one line `as_of=YYYY-MM-DD`,
/// written beside it and renamed over it (readers see the old or the new name, never a
/// partial one). A night published for an earlier date (a backfill) leaves it where it
/// was. Returns the date it names.
pub fn write_latest(job_dir: &Path) -> Result<Option<NaiveDate>> {
    let Some((date, _)) = complete_nights(job_dir).into_iter().next() else {
        return Ok(None);
    };
    let path = job_dir.join(LATEST);
    let tmp = job_dir.join(format!(".{LATEST}.tmp"));
    write_synced(&tmp, format!("as_of={date}\n").as_bytes())?;
    fs::rename(&tmp, &path).map_err(|e| publish_err("cannot replace", &path, e))?;
    sync_dir(job_dir)?;
    Ok(Some(date))
}

/// Keep the `keep` newest complete nights (and always `published`, the night just
/// published) and remove the older ones — each first renamed to a hidden name, so a
/// reader never sees a night without its files. Called only after a publish, so the
/// only complete night is never removed. Returns the nights removed, oldest last.
pub fn apply_retention(
    job_dir: &Path,
    keep: usize,
    published: NaiveDate,
) -> Result<Vec<NaiveDate>> {
    let mut removed = Vec::new();
    for (i, (date, dir)) in complete_nights(job_dir).into_iter().enumerate() {
        if i < keep.max(1) || date == published {
            continue;
        }
        let aside = job_dir.join(format!(".removing-as_of={date}"));
        fs::rename(&dir, &aside).map_err(|e| publish_err("cannot move aside", &dir, e))?;
        fs::remove_dir_all(&aside).map_err(|e| publish_err("cannot remove", &aside, e))?;
        removed.push(date);
    }
    if !removed.is_empty() {
        sync_dir(job_dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch(ids: Vec<Option<&str>>, n: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids)) as ArrayRef,
                Arc::new(Int64Array::from(n)),
            ],
        )
        .unwrap()
    }

    /// The first error of checking `batches` in order under `key`.
    fn check(key: &[&str], batches: &[RecordBatch]) -> Option<String> {
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        let mut c = KeyCheck::new(&batches[0].schema(), &key).unwrap();
        batches
            .iter()
            .find_map(|b| c.next(b).err().map(|e| e.message))
    }

    #[test]
    fn key_check_finds_equal_neighbours_within_and_across_batches() {
        let a = batch(vec![Some("a"), Some("b")], vec![1, 1]);
        assert_eq!(
            check(&["id"], &[a.clone(), batch(vec![Some("c")], vec![1])]),
            None
        );
        let msg = check(&["id"], &[a.clone(), batch(vec![Some("b")], vec![2])]).unwrap();
        assert!(msg.ends_with("two rows have id=b"), "{msg}");
        let msg = check(&["id"], &[batch(vec![Some("a"), Some("a")], vec![1, 2])]).unwrap();
        assert!(msg.ends_with("two rows have id=a"), "{msg}");
        // Nulls are equal to nulls: two null keys are two rows with one key.
        let nulls = [batch(vec![None], vec![1]), batch(vec![None], vec![2])];
        assert!(
            check(&["id"], &nulls)
                .unwrap()
                .ends_with("two rows have id=NULL")
        );
        // Every key column must be equal.
        let two = [batch(vec![Some("a"), Some("a")], vec![1, 2])];
        assert_eq!(check(&["id", "n"], &two), None);
        let same = [
            batch(vec![Some("a")], vec![1]),
            batch(vec![Some("a")], vec![1]),
        ];
        assert!(
            check(&["id", "n"], &same)
                .unwrap()
                .ends_with("two rows have id=a, n=1")
        );
        // Empty batches change nothing.
        let gap = [
            batch(vec![Some("a")], vec![1]),
            batch(vec![], vec![]),
            batch(vec![Some("a")], vec![1]),
        ];
        assert!(check(&["id"], &gap).is_some());
    }
}
