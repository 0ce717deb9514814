//! Error classes, where an error is, and the exit codes they map to.
//!
//! Every error siyu reports belongs to one class, and each class has its own exit code so
//! that a scheduler can tell "fix the job file" from "the export is broken" from "the
//! machine had a bad night" without parsing log text. `docs/operations.md` is the
//! operator-facing table of the same codes.
//!
//! Where an error is — file, line, column, step, table, column name, offending key — is
//! kept in a [`Location`] beside the message, never glued into it: text logs print it as
//! a prefix (`sql/tags/x.sql:3:7: …`), `--log-format json` as separate fields a log
//! collector can route on.

use std::fmt;
use std::path::Path;

use datafusion::error::DataFusionError;

/// What kind of failure an error is; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Command line, job file, params or SQL job files are wrong (exit 2).
    Config,
    /// An input file does not honour the data contract (exit 3).
    Input,
    /// Something failed while computing (exit 4): query execution, memory, a bug.
    Runtime,
    /// Writing or publishing outputs failed (exit 5).
    Publish,
    /// A data test with severity `error` failed on the night's tables (exit 6): the
    /// inputs passed the contract, but what the SQL computed from them did not pass the
    /// job's own tests (`[tests]`).
    DataTest,
    /// The run was stopped by SIGINT (exit 130) or SIGTERM (exit 143): 128 + the
    /// signal's number, as shells report a process a signal ended.
    Interrupted(Signal),
}

/// A signal that stops a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: a scheduler's timeout, `kill`, systemd or a container stopping.
    Terminate,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
    /// 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 128 + libc::SIGINT,
            Signal::Terminate => 128 + libc::SIGTERM,
        }
    }
}

impl ErrorClass {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorClass::Config => 2,
            ErrorClass::Input => 3,
            ErrorClass::Runtime => 4,
            ErrorClass::Publish => 5,
            ErrorClass::DataTest => 6,
            ErrorClass::Interrupted(signal) => signal.exit_code(),
        }
    }

    /// The class of several problems: the first configuration problem's if there is one
    /// (fix the job before the data), else the first problem's.
    pub fn of(problems: &[SiyuError]) -> ErrorClass {
        problems
            .iter()
            .map(|p| p.class)
            .find(|c| *c == ErrorClass::Config)
            .or_else(|| problems.first().map(|p| p.class))
            .unwrap_or(ErrorClass::Runtime)
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Config => "config",
            ErrorClass::Input => "input",
            ErrorClass::Runtime => "runtime",
            ErrorClass::Publish => "publish",
            ErrorClass::DataTest => "data_test",
            ErrorClass::Interrupted(_) => "interrupted",
        }
    }
}

/// Where a problem is. Every field is optional; set what is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// The file at fault: a job file, a SQL file, an input parquet file.
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<u64>,
    /// 1-based column (character) in `line`.
    pub column: Option<u64>,
    /// The job file's `[[steps]]` entry (1-based), for an entry that is not a step yet.
    pub steps_entry: Option<usize>,
    /// The step that failed.
    pub step: Option<String>,
    /// The table involved (an input table, or one a step reads or writes).
    pub table: Option<String>,
    /// The column of `table` involved.
    pub column_name: Option<String>,
    /// The first offending key (a member_id, an order_id, …), as text.
    pub key: Option<String>,
}

impl Location {
    /// A location in `file`.
    pub fn file(file: impl fmt::Display) -> Location {
        Location {
            file: Some(file.to_string()),
            ..Location::default()
        }
    }

    /// A `[[steps]]` entry of a job file (`index` 0-based, as in the parsed array).
    pub fn steps_entry(job_file: &Path, index: usize) -> Location {
        Location {
            steps_entry: Some(index + 1),
            ..Location::file(job_file.display())
        }
    }

    pub fn at(mut self, line: u64, column: u64) -> Location {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// `file:line:col [[steps]] #n` — what text messages start with — or `None`.
    pub fn prefix(&self) -> Option<String> {
        let mut s = self.file.clone()?;
        if let Some(line) = self.line {
            s.push_str(&format!(":{line}"));
            if let Some(col) = self.column {
                s.push_str(&format!(":{col}"));
            }
        }
        if let Some(n) = self.steps_entry {
            s.push_str(&format!(" [[steps]] #{n}"));
        }
        Some(s)
    }

    /// Where a step is defined, in words: its file (and `[[steps]]` entry), or
    /// `built-in step NAME` for steps every job has.
    pub fn describe(&self) -> String {
        self.prefix().unwrap_or_else(|| match &self.step {
            Some(step) => format!("built-in step {step}"),
            None => "(unknown)".to_string(),
        })
    }

    /// Fill the fields this location lacks from `other`.
    pub fn or(mut self, other: &Location) -> Location {
        fn fill<T: Clone>(a: &mut Option<T>, b: &Option<T>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        let had_file = self.file.is_some();
        fill(&mut self.file, &other.file);
        if !had_file {
            fill(&mut self.line, &other.line);
            fill(&mut self.column, &other.column);
            fill(&mut self.steps_entry, &other.steps_entry);
        }
        fill(&mut self.step, &other.step);
        fill(&mut self.table, &other.table);
        fill(&mut self.column_name, &other.column_name);
        fill(&mut self.key, &other.key);
        self
    }
}

/// An error with its class, its location and a message for people.
#[derive(Debug, Clone)]
pub struct SiyuError {
    pub class: ErrorClass,
    pub message: String,
    /// Boxed: errors travel in every `Result`, and most carry only part of a location.
    pub location: Box<Location>,
    /// When one error stands for several (a failed `check`, a run that could not start),
    /// each of them.
    pub problems: Vec<SiyuError>,
}

/// One thing wrong: `check` lists every problem it finds instead of stopping at the first.
pub type Problem = SiyuError;

pub type Result<T, E = SiyuError> = std::result::Result<T, E>;

impl SiyuError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        SiyuError {
            class,
            message: message.into(),
            location: Box::default(),
            problems: Vec::new(),
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Config, message)
    }
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Input, message)
    }
    pub fn runtime(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Runtime, message)
    }
    pub fn publish(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Publish, message)
    }

    /// An I/O error on `path`, classed by the caller; the path is its location.
    pub fn io(class: ErrorClass, what: &str, path: &Path, err: std::io::Error) -> Self {
        Self::new(class, format!("{what}: {err}")).in_file(path.display())
    }

    /// Set the location, keeping what it already knows (an inner error knows better).
    pub fn at(mut self, location: Location) -> Self {
        *self.location = std::mem::take(&mut *self.location).or(&location);
        self
    }
    pub fn in_file(self, file: impl fmt::Display) -> Self {
        self.at(Location::file(file))
    }
    pub fn in_step(self, step: impl Into<String>) -> Self {
        self.locate(|l| l.step = Some(step.into()))
    }
    pub fn in_table(self, table: impl Into<String>) -> Self {
        self.locate(|l| l.table = Some(table.into()))
    }
    pub fn in_column(self, column: impl Into<String>) -> Self {
        self.locate(|l| l.column_name = Some(column.into()))
    }
    pub fn with_key(self, key: impl Into<String>) -> Self {
        self.locate(|l| l.key = Some(key.into()))
    }
    /// [`SiyuError::at`] a location that only `set` fills in.
    fn locate(self, set: impl FnOnce(&mut Location)) -> Self {
        let mut location = Location::default();
        set(&mut location);
        self.at(location)
    }

    /// Prefix the message with what was being done ("reading the previous segments: …").
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The message after the location prefix, as text logs print it.
    pub fn located_message(&self) -> String {
        let mut s = String::new();
        if let Some(step) = &self.location.step {
            s.push_str(&format!("step {step}: "));
        }
        if let Some(prefix) = self.location.prefix() {
            s.push_str(&prefix);
            s.push_str(": ");
        }
        s.push_str(&self.message);
        s
    }

    /// Many problems as one error, classed by [`ErrorClass::of`]; one problem is itself.
    pub fn many(problems: Vec<SiyuError>) -> SiyuError {
        if problems.len() == 1 {
            return problems.into_iter().next().expect("one");
        }
        let class = ErrorClass::of(&problems);
        let mut message = format!("{} problems:", problems.len());
        for p in &problems {
            message.push_str("\n  ");
            message.push_str(&p.located_message());
        }
        SiyuError {
            problems,
            ..SiyuError::new(class, message)
        }
    }
}

impl fmt::Display for SiyuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            // Not an error of anything: the run was told to stop.
            ErrorClass::Interrupted(_) => write!(f, "interrupted: {}", self.located_message()),
            _ => write!(f, "{} error: {}", self.class.name(), self.located_message()),
        }
    }
}

impl std::error::Error for SiyuError {}

/// DataFusion errors raised while executing are runtime failures unless the caller knows
/// better (an unreadable input file is an input error and is mapped where it is read).
impl From<DataFusionError> for SiyuError {
    fn from(err: DataFusionError) -> Self {
        match err.find_root() {
            DataFusionError::ResourcesExhausted(msg) => SiyuError::runtime(format!(
                "out of memory budget: {msg} (raise --memory-limit, or free disk for spilling)"
            )),
            _ => SiyuError::runtime(err.to_string()),
        }
    }
}

impl From<Vec<SiyuError>> for SiyuError {
    fn from(problems: Vec<SiyuError>) -> Self {
        SiyuError::many(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_prefix_is_file_line_column_then_the_steps_entry() {
        let e = SiyuError::config("bad").at(Location::file("sql/x.sql").at(3, 7));
        assert_eq!(e.to_string(), "config error: sql/x.sql:3:7: bad");
        let e = SiyuError::config("bad").at(Location::steps_entry(Path::new("j.toml"), 1));
        assert_eq!(e.to_string(), "config error: j.toml [[steps]] #2: bad");
        let e = SiyuError::runtime("boom").in_step("member_rfm");
        assert_eq!(e.to_string(), "runtime error: step member_rfm: boom");
    }

    #[test]
    fn an_inner_location_wins_over_an_outer_one() {
        let e = SiyuError::config("bad")
            .at(Location::file("sql/x.sql").at(3, 7))
            .in_file("jobs/nightly.toml")
            .in_step("x");
        assert_eq!(e.location.file.as_deref(), Some("sql/x.sql"));
        assert_eq!(e.location.line, Some(3));
        assert_eq!(e.location.step.as_deref(), Some("x"));
    }

    #[test]
    fn many_problems_are_classed_config_first_and_kept_one_by_one() {
        let e = SiyuError::many(vec![
            SiyuError::input("a").in_file("orders.parquet"),
            SiyuError::config("b").at(Location::file("x.sql").at(1, 2)),
        ]);
        assert_eq!(e.class, ErrorClass::Config);
        assert_eq!(e.problems.len(), 2);
        assert!(e.message.contains("orders.parquet: a"), "{}", e.message);
        assert!(e.message.contains("x.sql:1:2: b"), "{}", e.message);
    }
}
