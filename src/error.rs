//! Error classes and the exit codes they map to.
//!
//! Every error siyu reports belongs to one class, and each class has its own exit code so
//! that a scheduler can tell "fix the job file" from "the export is broken" from "the
//! machine had a bad night" without parsing log text. `docs/operations.md` is the
//! operator-facing table of the same codes.

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
}

impl ErrorClass {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorClass::Config => 2,
            ErrorClass::Input => 3,
            ErrorClass::Runtime => 4,
            ErrorClass::Publish => 5,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Config => "config",
            ErrorClass::Input => "input",
            ErrorClass::Runtime => "runtime",
            ErrorClass::Publish => "publish",
        }
    }
}

/// An error with its class and a message that already names the file, column, row or
/// SQL line involved.
#[derive(Debug)]
pub struct SiyuError {
    pub class: ErrorClass,
    pub message: String,
}

pub type Result<T, E = SiyuError> = std::result::Result<T, E>;

impl SiyuError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        SiyuError {
            class,
            message: message.into(),
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

    /// An I/O error on `path`, classed by the caller.
    pub fn io(class: ErrorClass, what: &str, path: &Path, err: std::io::Error) -> Self {
        Self::new(class, format!("{what} {}: {err}", path.display()))
    }

    /// Prefix the message with where it happened ("step member_features: ...").
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for SiyuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.class.name(), self.message)
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

/// One thing wrong, with where it is (`file`, `file:line:col`, or a table name).
/// `check` lists every problem it finds instead of stopping at the first.
#[derive(Debug, Clone)]
pub struct Problem {
    pub class: ErrorClass,
    pub location: String,
    pub message: String,
}

impl Problem {
    pub fn new(class: ErrorClass, location: impl fmt::Display, message: impl Into<String>) -> Self {
        Problem {
            class,
            location: location.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl From<Vec<Problem>> for SiyuError {
    /// Many problems as one error: classed by the first configuration problem if there
    /// is one (fix the job before the data), else by the first problem.
    fn from(problems: Vec<Problem>) -> Self {
        let class = problems
            .iter()
            .map(|p| p.class)
            .find(|c| *c == ErrorClass::Config)
            .or_else(|| problems.first().map(|p| p.class))
            .unwrap_or(ErrorClass::Runtime);
        let mut message = match problems.len() {
            1 => String::new(),
            n => format!("{n} problems:"),
        };
        for p in &problems {
            if !message.is_empty() {
                message.push_str("\n  ");
            }
            message.push_str(&p.to_string());
        }
        SiyuError::new(class, message)
    }
}
