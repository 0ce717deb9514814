//! Where a job's SQL runs: in this process (`local`, the default), on an Apache DataFusion
//! Ballista cluster (`ballista`, with the scheduler's `df://HOST:PORT`), or on Ballista's
//! in-process scheduler and executor (`standalone`: the distributed plan — serialised
//! plans, shuffles through files — without a cluster, for trying a job on one machine).
//!
//! The engine is chosen by `--engine` / `--scheduler`, else the job file's `[engine]`
//! table, else `local`; the flags win. See docs/scale-out.md.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Result, SiyuError};

/// The engine kinds, as the command line and the job file spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// DataFusion in this process.
    Local,
    /// A Ballista cluster: `--scheduler df://HOST:PORT`.
    Ballista,
    /// Ballista's scheduler and one executor inside this process.
    Standalone,
}

/// The `[engine]` table of a job file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineDecl {
    #[serde(rename = "type")]
    pub kind: Option<EngineKind>,
    /// `df://HOST:PORT` of the Ballista scheduler.
    pub scheduler: Option<String>,
    /// Directories every executor mounts at the same path as the client (absolute).
    #[serde(default)]
    pub shared_dirs: Vec<PathBuf>,
}

/// The engine a run, check, plan or explain uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    #[default]
    Local,
    Ballista {
        /// As given (`df://HOST:PORT`), for messages.
        url: String,
        host: String,
        port: u16,
        /// `--shared-dir` / `[engine] shared_dirs`: when given, the only places a job's
        /// files may be.
        shared_dirs: Vec<PathBuf>,
    },
    Standalone,
}

/// The port a Ballista scheduler listens on unless told otherwise.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

impl Engine {
    /// The engine from the flags (which win) and the job file's `[engine]`.
    pub fn resolve(
        decl: &EngineDecl,
        kind: Option<EngineKind>,
        scheduler: Option<&str>,
        shared_dirs: &[PathBuf],
    ) -> Result<Engine> {
        let kind =
            kind.or(decl.kind)
                .unwrap_or(if scheduler.is_some() || decl.scheduler.is_some() {
                    EngineKind::Ballista
                } else {
                    EngineKind::Local
                });
        let scheduler = scheduler.or(decl.scheduler.as_deref());
        match kind {
            EngineKind::Local => Ok(Engine::Local),
            EngineKind::Standalone => Ok(Engine::Standalone),
            EngineKind::Ballista => {
                let url = scheduler.ok_or_else(|| {
                    SiyuError::config(
                        "the ballista engine needs the scheduler: --scheduler df://HOST:50050 or [engine] scheduler",
                    )
                })?;
                let (host, port) = parse_scheduler(url)?;
                let shared_dirs = if shared_dirs.is_empty() {
                    decl.shared_dirs.clone()
                } else {
                    shared_dirs.to_vec()
                };
                if let Some(d) = shared_dirs.iter().find(|d| !d.is_absolute()) {
                    return Err(SiyuError::config(format!(
                        "shared directory {} must be an absolute path",
                        d.display()
                    )));
                }
                Ok(Engine::Ballista {
                    url: url.to_string(),
                    host,
                    port,
                    shared_dirs,
                })
            }
        }
    }

    /// `local`, `ballista` or `standalone` (the run record and footers name it).
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Local => "local",
            Engine::Ballista { .. } => "ballista",
            Engine::Standalone => "standalone",
        }
    }

    /// Whether queries are planned for Ballista: tables must then be files (or views over
    /// them), never in memory.
    pub fn is_distributed(&self) -> bool {
        !matches!(self, Engine::Local)
    }

    /// Whether other machines read the job's files: every path must then be one they see.
    pub fn is_remote(&self) -> bool {
        matches!(self, Engine::Ballista { .. })
    }

    /// Why executors could not read `path` where the client does, if so (always `None`
    /// in process).
    pub fn not_shared(&self, path: &Path) -> Option<String> {
        match self {
            Engine::Ballista { shared_dirs, .. } => not_shared(path, shared_dirs),
            _ => None,
        }
    }

    /// The scheduler's gRPC address, `http://HOST:PORT`.
    pub fn scheduler_endpoint(&self) -> Option<String> {
        match self {
            Engine::Ballista { host, port, .. } => Some(format!("http://{host}:{port}")),
            _ => None,
        }
    }
}

/// `df://HOST[:PORT]` (also `HOST:PORT`) → host and port.
pub fn parse_scheduler(text: &str) -> Result<(String, u16)> {
    let bad = |why: &str| {
        SiyuError::config(format!(
            "scheduler {text:?} {why}: expected df://HOST:PORT, such as df://10.0.0.5:50050"
        ))
    };
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("df://{text}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if url.scheme() != "df" {
        return Err(bad(&format!("has scheme {}://", url.scheme())));
    }
    if !(url.path().is_empty() || url.path() == "/") || url.query().is_some() {
        return Err(bad("has a path or query"));
    }
    let host = match url.host() {
        Some(url::Host::Ipv6(a)) => format!("[{a}]"),
        Some(h) => h.to_string(),
        None => return Err(bad("has no host")),
    };
    Ok((host, url.port().unwrap_or(DEFAULT_SCHEDULER_PORT)))
}

/// Why `path` cannot be read at the same path by every executor of a cluster, if it
/// cannot: it is relative (to the client's working directory), outside the declared
/// shared directories, or — when none are declared — in a temporary directory (local to
/// the client's machine).
pub fn not_shared(path: &Path, shared_dirs: &[PathBuf]) -> Option<String> {
    if !path.is_absolute() {
        return Some(
            "is a relative path; on a cluster every executor reads it, so give an absolute path on storage they all mount at the same place".to_string(),
        );
    }
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let path = canonical(path);
    if !shared_dirs.is_empty() {
        if shared_dirs.iter().any(|d| path.starts_with(canonical(d))) {
            return None;
        }
        let list: Vec<String> = shared_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        return Some(format!(
            "is outside the shared directories ({}) that every executor mounts",
            list.join(", ")
        ));
    }
    let temp = [
        std::fs::canonicalize(std::env::temp_dir()).unwrap_or_else(|_| std::env::temp_dir()),
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
        PathBuf::from("/run/user"),
    ];
    temp.iter().find(|t| path.starts_with(t)).map(|t| {
        format!(
            "is under {} (a directory local to this machine); executors on other machines cannot read it: use a shared mount",
            t.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_job_file() {
        let decl = EngineDecl {
            kind: Some(EngineKind::Ballista),
            scheduler: Some("df://10.0.0.5:7000".into()),
            shared_dirs: Vec::new(),
        };
        assert_eq!(
            Engine::resolve(&decl, Some(EngineKind::Local), None, &[]).unwrap(),
            Engine::Local
        );
        let e = Engine::resolve(&decl, None, Some("df://h:50050"), &[]).unwrap();
        assert_eq!(e.scheduler_endpoint().as_deref(), Some("http://h:50050"));
        let e = Engine::resolve(&decl, None, None, &[]).unwrap();
        assert_eq!(
            e.scheduler_endpoint().as_deref(),
            Some("http://10.0.0.5:7000")
        );
        // A scheduler alone means the cluster.
        let e = Engine::resolve(&EngineDecl::default(), None, Some("h"), &[]).unwrap();
        assert_eq!(e.scheduler_endpoint().as_deref(), Some("http://h:50050"));
        assert_eq!(
            Engine::resolve(&EngineDecl::default(), None, None, &[]).unwrap(),
            Engine::Local
        );
    }

    #[test]
    fn ballista_without_a_scheduler_or_with_a_bad_one_is_refused() {
        let none = Engine::resolve(
            &EngineDecl::default(),
            Some(EngineKind::Ballista),
            None,
            &[],
        );
        assert!(none.unwrap_err().message.contains("--scheduler"));
        for bad in [
            "http://h:50050",
            "df://h:50050/x",
            "df://:1",
            "df://h:99999",
        ] {
            let e = parse_scheduler(bad).unwrap_err();
            assert!(e.message.contains("df://HOST:PORT"), "{bad}: {}", e.message);
        }
        assert_eq!(
            parse_scheduler("df://[::1]:9").unwrap(),
            ("[::1]".into(), 9)
        );
    }

    #[test]
    fn relative_and_temporary_paths_are_not_shared() {
        let none: &[PathBuf] = &[];
        assert!(
            not_shared(Path::new("testdata"), none)
                .unwrap()
                .contains("relative")
        );
        assert!(
            not_shared(Path::new("/tmp/x/orders.parquet"), none)
                .unwrap()
                .contains("/tmp")
        );
        assert!(not_shared(Path::new("/dev/shm/out"), none).is_some());
        assert_eq!(not_shared(Path::new("/mnt/lake/siyu/out"), none), None);
        // Declared shared directories are the only places, temporary or not.
        let lake = [PathBuf::from("/mnt/lake"), PathBuf::from("/tmp/cluster")];
        assert_eq!(not_shared(Path::new("/tmp/cluster/in"), &lake), None);
        assert_eq!(not_shared(Path::new("/mnt/lake/a/b"), &lake), None);
        let e = not_shared(Path::new("/mnt/other/in"), &lake).unwrap();
        assert!(
            e.contains("outside the shared directories (/mnt/lake, /tmp/cluster)"),
            "{e}"
        );
        assert!(not_shared(Path::new("/mnt/lakeside"), &lake).is_some());
    }
}
