//! siyu's integration tests, as one binary: each module is one area, all sharing the
//! fixtures in [`common`]. One binary links DataFusion once instead of once per file
//! (the layout of DataFusion's own `core_integration` tests).

mod common;

mod bad_inputs;
mod bench_smoke;
mod cluster;
mod community;
mod crash;
mod crm;
mod datatests;
mod determinism;
mod diagnosis;
mod errors;
mod explain;
mod generate;
mod groceries;
mod inputs_change;
mod journey;
mod keys;
mod memory;
mod nightly;
mod nights;
mod outreach;
mod recommend;
mod record;
mod registry;
mod report;
mod returns;
mod rules_cli;
mod run;
mod security;
mod segments;
mod signals;
mod sql_plans;
mod stores;
mod tags;
mod value;
