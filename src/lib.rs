//! siyu (私域, "private domain"): a nightly batch job that turns a retailer's parquet
//! exports into member tags, segments, basket rules and scored outreach lists.
//!
//! The pieces, in the order a run uses them:
//! - [`job`]: the job file (inputs, typed params, SQL directories, steps, publish list);
//! - [`contract`] and [`input`]: the input data contract, checked and normalised;
//! - [`sql`] and [`step`]: SQL job files and the step kinds of the step registry,
//!   ordered by [`dag`];
//! - [`runner`]: `check`, `plan` and `run`; [`publish`]: atomic, byte-stable outputs;
//!   [`manifest`]: the typed run record;
//! - [`segment`], [`rules`], [`outreach`]: the algorithms behind the Rust steps;
//! - [`generate`]: a deterministic synthetic retailer for tests and benchmarks.
//!
//! `docs/architecture.md` is the map: how data flows and which module owns what.

pub mod cgroup;
pub mod cluster;
pub mod cluster_jobs;
pub mod clv;
pub mod columns;
pub mod contract;
pub mod dag;
pub mod datatest;
pub mod engine;
pub mod error;
pub mod failpoint;
pub mod generate;
pub mod held;
pub mod input;
pub mod interrupt;
pub mod job;
pub mod local_time;
pub mod logging;
pub mod manifest;
pub mod outputs;
pub mod outreach;
pub mod publish;
pub mod report;
pub mod rules;
pub mod runner;
pub mod segment;
pub mod session;
pub mod sql;
pub mod step;
