//! Reading the exports: find each contract table's files, check them against the
//! contract, and register a normalising view over them with DataFusion.
//!
//! Checking reads only parquet footers, so `siyu check` is cheap however large the
//! exports are. Problems are collected, not raised one at a time, so an operator sees
//! everything wrong with a night's exports in one go.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::empty::EmptyTable;
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::logical_expr::{Expr, cast, ident, lit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::contract::{Kind, LOCAL_TS, TableSpec};
use crate::error::{ErrorClass, Problem, Result, SiyuError};

/// Where each contract table comes from, after the job file and command line are merged.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Table → declared path (file, directory or glob). Absent tables are not listed.
    pub paths: BTreeMap<String, PathBuf>,
}

impl Sources {
    /// Merge, lowest precedence first: the job file's `[inputs]`, then `--input-dir`
    /// (which replaces them all: a table without a file there is absent), then each
    /// `--input NAME=PATH`.
    pub fn merge(
        job_inputs: &BTreeMap<String, PathBuf>,
        input_dir: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Sources> {
        let mut paths = BTreeMap::new();
        match input_dir {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(SiyuError::input(format!(
                        "--input-dir {}: not a directory",
                        dir.display()
                    )));
                }
                for spec in crate::contract::TABLES {
                    let file = dir.join(format!("{}.parquet", spec.name));
                    let sub = dir.join(spec.name);
                    if file.is_file() {
                        paths.insert(spec.name.to_string(), file);
                    } else if sub.is_dir() {
                        paths.insert(spec.name.to_string(), sub);
                    }
                }
            }
            None => paths.extend(job_inputs.iter().map(|(k, v)| (k.clone(), v.clone()))),
        }
        for (name, path) in overrides {
            if crate::contract::table(name).is_none() {
                return Err(SiyuError::config(format!(
                    "--input {name}: not a contract table"
                )));
            }
            paths.insert(name.clone(), PathBuf::from(path));
        }
        Ok(Sources { paths })
    }
}

/// One parquet file of an input table.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub bytes: u64,
    pub rows: u64,
    /// The file as the run found it; compared again before publishing.
    pub stamp: FileStamp,
}

/// What a file looked like: size, modification time and a digest of its parquet footer
/// (which changes with any rewrite, even one that keeps size and time, as `cp -p` does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub bytes: u64,
    pub modified: Option<std::time::SystemTime>,
    pub footer: [u8; 32],
}

impl FileStamp {
    pub fn of(path: &Path) -> std::io::Result<FileStamp> {
        FileStamp::read(&mut File::open(path)?)
    }

    /// The stamp of a file already open (its position is left anywhere).
    fn read(f: &mut File) -> std::io::Result<FileStamp> {
        use std::io::{Seek, SeekFrom};
        let meta = f.metadata()?;
        let bytes = meta.len();
        let mut footer = Sha256::new();
        if bytes >= 8 {
            let mut tail = [0u8; 8];
            f.seek(SeekFrom::End(-8))?;
            f.read_exact(&mut tail)?;
            let n = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
            if n + 8 <= bytes {
                let mut buf = vec![0u8; n as usize];
                f.seek(SeekFrom::Start(bytes - 8 - n))?;
                f.read_exact(&mut buf)?;
                footer.update(&buf);
            }
            footer.update(tail);
        }
        Ok(FileStamp {
            bytes,
            modified: meta.modified().ok(),
            footer: footer.finalize().into(),
        })
    }
}

/// The input files that are not as the run found them: rewritten (size, time or footer),
/// removed, or new in an input's directory or glob. One line per file, for the error.
pub fn changed_since_read(inputs: &[Input]) -> Vec<(PathBuf, String)> {
    let mut changed = Vec::new();
    for input in inputs {
        let Some(source) = &input.source else {
            continue;
        };
        let now = expand(source).unwrap_or_default();
        for f in &input.files {
            match FileStamp::of(&f.path) {
                Err(_) => changed.push((f.path.clone(), "removed".to_string())),
                Ok(s) if s.bytes != f.stamp.bytes => changed.push((
                    f.path.clone(),
                    format!("size {} → {} bytes", f.stamp.bytes, s.bytes),
                )),
                Ok(s) if s.modified != f.stamp.modified => {
                    changed.push((f.path.clone(), "modified time changed".to_string()))
                }
                Ok(s) if s.footer != f.stamp.footer => {
                    changed.push((f.path.clone(), "parquet footer changed".to_string()))
                }
                Ok(_) => {}
            }
        }
        for p in now {
            if !input.files.iter().any(|f| f.path == p) {
                changed.push((p, format!("new file of input {}", input.spec.name)));
            }
        }
    }
    changed
}

/// A contract table as found on disk: its files and stored schema, or absent.
#[derive(Debug, Clone)]
pub struct Input {
    pub spec: &'static TableSpec,
    /// The declared path, glob or directory; `None` when the table is absent.
    pub source: Option<PathBuf>,
    pub files: Vec<InputFile>,
    /// Schema as stored in the first file (all files must agree on contract columns).
    pub stored: Option<SchemaRef>,
    /// Nullable contract columns the export does not have; they read as null.
    pub missing_columns: Vec<&'static str>,
}

impl Input {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
    pub fn is_absent(&self) -> bool {
        self.source.is_none()
    }
}

/// Find and check every contract table. Returns the inputs, or every problem found.
pub fn discover(sources: &Sources) -> std::result::Result<Vec<Input>, Vec<Problem>> {
    let mut inputs = Vec::new();
    let mut problems = Vec::new();
    for spec in crate::contract::TABLES {
        match sources.paths.get(spec.name) {
            None if spec.required => problems.push(
                SiyuError::input(format!(
                    "required input table {} ({}) is missing: declare it under [inputs] or pass --input {}=PATH",
                    spec.name, spec.chinese, spec.name
                ))
                .in_table(spec.name),
            ),
            None => inputs.push(Input {
                spec,
                source: None,
                files: Vec::new(),
                stored: None,
                missing_columns: Vec::new(),
            }),
            Some(source) => match check_table(spec, source) {
                Ok(input) => inputs.push(input),
                Err(mut p) => problems.append(&mut p),
            },
        }
    }
    if problems.is_empty() {
        Ok(inputs)
    } else {
        Err(problems)
    }
}

fn check_table(
    spec: &'static TableSpec,
    source: &Path,
) -> std::result::Result<Input, Vec<Problem>> {
    let one = |msg: String| {
        vec![
            SiyuError::input(msg)
                .in_file(source.display())
                .in_table(spec.name),
        ]
    };
    let paths = expand(source).map_err(one)?;

    let mut problems = Vec::new();
    let mut files = Vec::new();
    let mut stored: Option<(PathBuf, SchemaRef)> = None;
    for path in paths {
        let (schema, file) = match read_footer(&path) {
            Ok(x) => x,
            Err(msg) => {
                problems.push(
                    SiyuError::input(msg)
                        .in_file(path.display())
                        .in_table(spec.name),
                );
                continue;
            }
        };
        match &stored {
            None => {
                problems.extend(check_schema(spec, &path, &schema));
                stored = Some((path.clone(), schema));
            }
            Some((first, first_schema)) => {
                for c in spec.columns {
                    let a = first_schema
                        .field_with_name(c.name)
                        .ok()
                        .map(|f| f.data_type());
                    let b = schema.field_with_name(c.name).ok().map(|f| f.data_type());
                    if a != b {
                        problems.push(
                            SiyuError::input(format!(
                                "column {} is stored as {} here but as {} in {}; all files of {} must agree",
                                c.name,
                                b.map_or("(missing)".to_string(), |t| t.to_string()),
                                a.map_or("(missing)".to_string(), |t| t.to_string()),
                                first.display(),
                                spec.name
                            ))
                            .in_file(path.display())
                            .in_table(spec.name)
                            .in_column(c.name),
                        );
                    }
                }
            }
        }
        files.push(file);
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (_, stored) = stored.expect("expand returns at least one file");
    let missing_columns = spec
        .columns
        .iter()
        .filter(|c| stored.field_with_name(c.name).is_err())
        .map(|c| c.name)
        .collect();
    Ok(Input {
        spec,
        source: Some(source.to_path_buf()),
        files,
        stored: Some(stored),
        missing_columns,
    })
}

/// The files a declared path stands for: the file itself, the `*.parquet` files of a
/// directory (recursively; names starting with `.` or `_` are skipped, as Hive/Spark
/// writers use them for markers), or the files a glob matches. Sorted, never empty.
fn expand(source: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    let text = source.to_string_lossy();
    let mut files = Vec::new();
    if text.contains(['*', '?', '[']) {
        let matches = glob::glob(&text).map_err(|e| format!("bad glob pattern: {e}"))?;
        for m in matches {
            let p = m.map_err(|e| format!("cannot read {}: {e}", e.path().display()))?;
            if p.is_file() {
                files.push(p);
            }
        }
        if files.is_empty() {
            return Err("glob matched no file".to_string());
        }
    } else if source.is_dir() {
        walk(source, &mut files).map_err(|e| format!("cannot list directory: {e}"))?;
        if files.is_empty() {
            return Err("directory holds no .parquet file".to_string());
        }
    } else if source.is_file() {
        files.push(source.to_path_buf());
    } else {
        return Err("no such file or directory".to_string());
    }
    files.sort();
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if name.ends_with(".parquet") {
            out.push(path);
        }
    }
    Ok(())
}

fn read_footer(path: &Path) -> std::result::Result<(SchemaRef, InputFile), String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let stamp = FileStamp::read(&mut file).map_err(|e| format!("cannot read: {e}"))?;
    let bytes = stamp.bytes;
    if bytes == 0 {
        return Err("file is empty (0 bytes); expected a parquet file".to_string());
    }
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("not a readable parquet file ({e}); is it truncated or corrupt?"))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    Ok((
        builder.schema().clone(),
        InputFile {
            path: path.to_path_buf(),
            bytes,
            rows,
            stamp,
        },
    ))
}

fn check_schema(spec: &TableSpec, path: &Path, schema: &SchemaRef) -> Vec<Problem> {
    let mut problems = Vec::new();
    for c in spec.columns {
        let at = |msg: String| {
            SiyuError::input(msg)
                .in_file(path.display())
                .in_table(spec.name)
                .in_column(c.name)
        };
        match schema.field_with_name(c.name) {
            Err(_) if !c.nullable => problems.push(at(format!(
                "required column {}.{} is missing; expected {}",
                spec.name,
                c.name,
                c.kind.expected()
            ))),
            Err(_) => {}
            Ok(f) if !c.kind.accepts(f.data_type()) => problems.push(at(format!(
                "column {}.{} is stored as {}; expected {}",
                spec.name,
                c.name,
                f.data_type(),
                c.kind.expected()
            ))),
            Ok(_) => {}
        }
    }
    problems
}

/// The expression that turns a stored column into its contract type.
fn normalise(kind: Kind, stored: &DataType, name: &str, tz: &LocalTz) -> Expr {
    let c = ident(name);
    let e = match (kind, stored) {
        (Kind::Id | Kind::Text, DataType::Utf8) => c,
        (Kind::Id | Kind::Text, _) => cast(c, DataType::Utf8),
        (Kind::Timestamp, DataType::Timestamp(_, Some(_))) => cast(local_time(c, tz), LOCAL_TS),
        (Kind::Timestamp, _) => cast(c, LOCAL_TS),
        (Kind::Date, DataType::Date32) => c,
        (Kind::Date, DataType::Timestamp(_, Some(_))) => cast(local_time(c, tz), DataType::Date32),
        (Kind::Date, _) => cast(c, DataType::Date32),
        (Kind::Money, _) => cast(c, crate::contract::MONEY),
        (Kind::Int, DataType::Int64) | (Kind::Bool, _) => c,
        (Kind::Int, _) => cast(c, DataType::Int64),
    };
    e.alias(name)
}

/// The job's timezone and its wall-clock function.
struct LocalTz {
    name: String,
    udf: Arc<datafusion::logical_expr::ScalarUDF>,
}

/// A zoned timestamp as wall-clock time in the job's timezone (`to_local_time` with the
/// offsets cached per hour: src/local_time.rs).
fn local_time(c: Expr, tz: &LocalTz) -> Expr {
    tz.udf.call(vec![cast(
        c,
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz.name.as_str().into())),
    )])
}

/// Register every input as a table named after it: a normalising view over its files,
/// or an empty table with the contract schema when it is absent.
pub fn register(ctx: &SessionContext, inputs: &[Input], tz: &str) -> Result<()> {
    let zone: chrono_tz::Tz = tz
        .parse()
        .map_err(|_| SiyuError::config(format!("timezone {tz:?} is not an IANA timezone")))?;
    let tz = &LocalTz {
        name: zone.name().to_string(),
        udf: Arc::new(crate::local_time::udf()),
    };
    for input in inputs {
        let name = input.spec.name;
        let Some(stored) = &input.stored else {
            let empty = EmptyTable::new(input.spec.normalised_schema());
            ctx.register_table(name, Arc::new(empty))?;
            continue;
        };
        let paths: Vec<PathBuf> = input.files.iter().map(|f| f.path.clone()).collect();
        let table = parquet_table(&paths, Arc::clone(stored))?;
        let df = ctx.read_table(table)?;

        let mut exprs = Vec::new();
        for c in input.spec.columns {
            exprs.push(match stored.field_with_name(c.name) {
                Ok(f) => normalise(c.kind, f.data_type(), c.name, tz),
                Err(_) => lit(ScalarValue::try_from(&c.kind.normalised())?).alias(c.name),
            });
        }
        for f in stored.fields() {
            if input.spec.column(f.name()).is_none() {
                exprs.push(ident(f.name()));
            }
        }
        let view = df
            .select(exprs)
            .map_err(|e| {
                SiyuError::input(format!("{name}: cannot normalise columns: {e}")).in_table(name)
            })?
            .into_view();
        ctx.register_table(name, view)?;
    }
    Ok(())
}

/// A table over exactly these parquet files, with a known schema (no listing, no
/// inference: what was checked is what is read).
pub fn parquet_table(paths: &[PathBuf], schema: SchemaRef) -> Result<Arc<ListingTable>> {
    sorted_parquet_table(paths, schema, Vec::new())
}

/// [`parquet_table`] over files whose rows are in `order` (a table siyu wrote sorted):
/// DataFusion then plans a sort on a prefix of it as a merge instead of a full sort.
pub fn sorted_parquet_table(
    paths: &[PathBuf],
    schema: SchemaRef,
    order: Vec<datafusion::logical_expr::SortExpr>,
) -> Result<Arc<ListingTable>> {
    let urls = paths
        .iter()
        .map(|p| file_url(p))
        .collect::<Result<Vec<_>>>()?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension("");
    if !order.is_empty() {
        options = options.with_file_sort_order(vec![order]);
    }
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

fn file_url(path: &Path) -> Result<ListingTableUrl> {
    // Canonical: object-store paths may not contain `..` (job files use relative paths).
    let absolute = std::fs::canonicalize(path)
        .map_err(|e| SiyuError::io(ErrorClass::Input, "cannot resolve", path, e))?;
    let url = url::Url::from_file_path(&absolute)
        .map_err(|_| SiyuError::input("cannot make a URL of it").in_file(absolute.display()))?;
    Ok(ListingTableUrl::try_new(url, None)?)
}

/// SHA-256 of each input file, in parallel; the manifest lists them and the input
/// fingerprint in every output's metadata is the hash of all of them in order.
pub fn fingerprint(inputs: &[Input]) -> Result<(Vec<String>, String)> {
    let files: Vec<&InputFile> = inputs.iter().flat_map(|i| &i.files).collect();
    let hashes = files
        .par_iter()
        .map(|f| sha256_file(&f.path))
        .collect::<Result<Vec<_>>>()?;
    let mut all = Sha256::new();
    let mut k = 0;
    for input in inputs {
        all.update(input.spec.name.as_bytes());
        all.update([0]);
        for _ in &input.files {
            all.update(hashes[k].as_bytes());
            k += 1;
        }
        all.update([0xff]);
    }
    Ok((hashes, hex(&all.finalize())))
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        File::open(path).map_err(|e| SiyuError::io(ErrorClass::Input, "cannot open", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| SiyuError::io(ErrorClass::Input, "cannot read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
