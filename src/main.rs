//! The `siyu` command line: parses arguments, calls the library, maps the outcome to an
//! exit code (see `docs/operations.md`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};

use siyu::error::{ErrorClass, Problem, SiyuError};
use siyu::job::split_key_value;
use siyu::logging::{self, LogFormat};
use siyu::manifest;
use siyu::runner::{self, Options};

#[derive(Parser)]
#[command(
    name = "siyu",
    version,
    about = "Member tags, segments, basket rules and outreach lists from retail parquet exports"
)]
struct Cli {
    /// Log format on stderr: text for people, json (one object per line) for schedulers.
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log level (error, warn, info, debug); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "info")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job and publish its outputs under OUT/<job>/as_of=<date>/.
    Run {
        job: PathBuf,
        #[command(flatten)]
        job_args: JobArgs,
        /// Output root.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Memory budget for query execution (e.g. 2G); operators spill to disk beyond it.
        #[arg(long, value_parser = siyu::session::parse_size)]
        memory_limit: Option<usize>,
        /// Keep the N newest complete nights and remove older ones after publishing
        /// [default: the job's `[publish] keep_nights`, else keep all].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        keep_nights: Option<u32>,
        /// Steps run at once, each as soon as what it reads is written [default: 1; each
        /// step's query already uses every core]. Outputs do not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        concurrent_steps: Option<u16>,
    },
    /// Run the nights from --from to --to in date order, each seeing the one before as
    /// its previous night; a night already published with the same inputs and params is
    /// skipped (--force reruns it); the first failure stops it (the nights before stay).
    Backfill {
        job: PathBuf,
        /// First night (YYYY-MM-DD).
        #[arg(long)]
        from: NaiveDate,
        /// Last night, inclusive.
        #[arg(long)]
        to: NaiveDate,
        /// Rerun nights that are already published with the same inputs and params.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        job_args: JobArgs,
        /// Output root.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Memory budget for query execution, as for `run`.
        #[arg(long, value_parser = siyu::session::parse_size)]
        memory_limit: Option<usize>,
        /// Keep the N newest complete nights, as for `run`.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        keep_nights: Option<u32>,
    },
    /// Rebuild report.html of a published night from its published outputs alone
    /// (docs/report.md).
    Report {
        /// The job's output directory, OUT/JOB.
        job_dir: PathBuf,
        /// The night [default: the newest complete one].
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Nights in the trends, this one included.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..))]
        nights: u16,
    },
    /// Check the job file, SQL files, params and input schemas without running.
    Check {
        job: PathBuf,
        #[command(flatten)]
        job_args: JobArgs,
        /// The output root a run would use (its previous night; on a cluster it must be
        /// shared).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Run the job's data tests ([tests]) on a published night: the newest complete
    /// one, or --as-of. Prints every test's outcome; exits 6 if a test with severity
    /// error fails, as a run would. Writes nothing.
    Test {
        job: PathBuf,
        #[command(flatten)]
        job_args: JobArgs,
        /// The output root the job publishes to.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Print the steps in execution order with what each reads and writes.
    Plan {
        job: PathBuf,
        #[command(flatten)]
        job_args: JobArgs,
        /// table on a terminal, json otherwise.
        #[arg(long, value_enum)]
        format: Option<PlanFormat>,
        /// The output root a run would use, as for `check`.
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Show what DataFusion makes of one SQL step: its SQL with params substituted, the
    /// logical and physical plans and, with --analyze, the executed plan with each
    /// operator's rows, time, memory and spill on the job's inputs. Publishes nothing.
    Explain {
        job: PathBuf,
        /// The step: a SQL job file's table name (`siyu plan` lists them).
        step: String,
        #[command(flatten)]
        job_args: JobArgs,
        /// Run the steps it depends on and then the step itself (EXPLAIN ANALYZE).
        #[arg(long)]
        analyze: bool,
        /// Where the job's earlier runs are (its `previous_*` tables).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Memory budget for query execution, as for `run`.
        #[arg(long, value_parser = siyu::session::parse_size)]
        memory_limit: Option<usize>,
    },
    /// Mine frequent itemsets and basket rules from a parquet file of (basket, item) rows.
    Rules {
        /// A parquet file (or directory / glob) with one row per (basket, item).
        #[arg(long)]
        input: String,
        /// Column that identifies a basket (an order, a member, …).
        #[arg(long)]
        basket: String,
        /// Column that identifies an item (a product, a category, …).
        #[arg(long)]
        item: String,
        /// Minimum support, a fraction of baskets in (0, 1].
        #[arg(long)]
        min_support: f64,
        #[arg(long, default_value_t = 0.0)]
        min_confidence: f64,
        #[arg(long)]
        max_len: Option<usize>,
        /// Also write every frequent itemset (items, count, support) here.
        #[arg(long)]
        itemsets: Option<PathBuf>,
        /// Write the rules here (parquet) instead of printing the top ones.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// k-means segments of the rows of a parquet file (linfa, k-means++ init).
    Segment {
        /// A parquet file (or directory / glob), one row per thing to segment.
        #[arg(long)]
        input: String,
        /// The id column (unique per row).
        #[arg(long)]
        id: String,
        /// Feature columns, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        features: Vec<String>,
        /// Number of segments.
        #[arg(long, conflicts_with = "k_range")]
        k: Option<usize>,
        /// Choose k from LOW..HIGH (inclusive) by the mean silhouette.
        #[arg(long, value_name = "LOW..HIGH", value_parser = parse_range)]
        k_range: Option<(usize, usize)>,
        /// none, zscore, log1p_zscore, robust or log1p_robust (every feature).
        #[arg(long, default_value = "zscore", value_parser = parse_transform)]
        transform: siyu::segment::scale::Transform,
        #[arg(long, default_value_t = 10)]
        n_runs: usize,
        /// fused (linfa's k-means++ init, siyu's parallel Lloyd loop) or linfa (linfa end to end).
        #[arg(long, default_value = "fused", value_parser = parse_engine)]
        engine: siyu::segment::kmeans::Engine,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 1e-4)]
        tolerance: f64,
        #[arg(long, default_value_t = 300)]
        max_iterations: u64,
        /// Rows in the silhouette sample when choosing k.
        #[arg(long, default_value_t = 20_000)]
        silhouette_sample: usize,
        /// Where to write (id, segment_id, distance).
        #[arg(long)]
        out: PathBuf,
    },
    /// The value models (BG/NBD, Gamma-Gamma; docs/value.md). With --input-dir: fit on
    /// the orders up to --calibration-end, print predicted vs actual repeat purchase days
    /// up to --holdout-end (in total, by calibration purchases, by decile). With
    /// --summary: fit and score a lifetimes-style summary table.
    Clv {
        /// Read every contract table from DIR/<table>.parquet or DIR/<table>/.
        #[arg(long, required_unless_present = "summary", conflicts_with = "summary", requires_all = ["calibration_end", "holdout_end"])]
        input_dir: Option<PathBuf>,
        /// Last day of the calibration period (YYYY-MM-DD, its orders included).
        #[arg(long, requires = "input_dir")]
        calibration_end: Option<NaiveDate>,
        /// Last day of the holdout period.
        #[arg(long, requires = "input_dir")]
        holdout_end: Option<NaiveDate>,
        /// Timezone the exports' timestamps are read in (the job's).
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
        /// A parquet summary: member_id, frequency, recency, T (days), monetary_value.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// With --summary: expected orders and CLV over this many days.
        #[arg(long, default_value_t = 365.0)]
        horizon_days: f64,
        /// With --summary: CLV discounted monthly at the equivalent of this annual rate.
        #[arg(long, default_value_t = 0.1)]
        discount_rate_annual: f64,
        /// With --summary: write member_id, p_alive, expected_orders,
        /// expected_order_value, clv here (parquet).
        #[arg(long, requires = "summary")]
        out: Option<PathBuf>,
    },
    /// Print the JSON Schema of a record siyu writes (docs/*.schema.json are these).
    Schema {
        #[arg(value_enum)]
        record: SchemaRecord,
    },
    /// Serve as a node of a Ballista cluster (docs/scale-out.md).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Write a deterministic synthetic retailer following the input contract.
    Generate {
        /// 1 ≈ 100k members, 1M orders; fractional scales work.
        #[arg(long)]
        scale: f64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Orders run up to the day before this date [default: today].
        #[arg(long)]
        end_date: Option<NaiveDate>,
    },
}

#[derive(Args)]
struct JobArgs {
    /// Run date YYYY-MM-DD [default: today in the job's timezone].
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// Read input table NAME from PATH (a file, directory or glob).
    #[arg(long = "input", value_name = "NAME=PATH", value_parser = split_key_value)]
    inputs: Vec<(String, String)>,
    /// Override a job parameter.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = split_key_value)]
    params: Vec<(String, String)>,
    /// Read every contract table from DIR/<table>.parquet or DIR/<table>/.
    #[arg(long)]
    input_dir: Option<PathBuf>,
    /// Where the SQL runs: local (this process), ballista (a cluster, with --scheduler)
    /// or standalone (Ballista's scheduler and executor in this process) [default: the
    /// job file's [engine], else local].
    #[arg(long, value_enum)]
    engine: Option<siyu::engine::EngineKind>,
    /// The Ballista scheduler, df://HOST:PORT (implies --engine ballista).
    #[arg(long, value_name = "df://HOST:PORT")]
    scheduler: Option<String>,
    /// A directory every executor mounts at the same path as this machine (repeatable);
    /// with it, job files elsewhere are refused.
    #[arg(long = "shared-dir", value_name = "DIR")]
    shared_dirs: Vec<PathBuf>,
    /// Partitions each query is split into [default: one per core locally, 16 on a
    /// cluster]. Outputs do not depend on it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    partitions: Option<u16>,
}

impl JobArgs {
    fn options(self, out: PathBuf, memory_limit: Option<usize>) -> Options {
        Options {
            as_of: self.as_of,
            inputs: self.inputs,
            params: self.params,
            input_dir: self.input_dir,
            out,
            memory_limit,
            concurrent_steps: None,
            engine: self.engine,
            scheduler: self.scheduler,
            shared_dirs: self.shared_dirs,
            partitions: self.partitions.map(usize::from),
            keep_nights: None,
        }
    }
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// A Ballista scheduler: plans the jobs clients send and hands tasks to executors.
    Scheduler {
        /// Where to listen (gRPC and /healthz, /readyz).
        #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:50050")]
        bind: String,
        /// The name executors reach this scheduler by [default: the bind address].
        #[arg(long)]
        external_host: Option<String>,
        /// /readyz answers 200 once this many executors are registered.
        #[arg(long, default_value_t = 1)]
        min_executors: usize,
    },
    /// A Ballista executor: runs the scheduler's tasks and serves their output.
    Executor {
        /// The scheduler, HOST:PORT or df://HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        scheduler: String,
        /// Where to listen for Arrow Flight (shuffle reads, results).
        #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:50051")]
        bind: String,
        /// The port the scheduler launches tasks on [default: the --bind port + 1].
        #[arg(long)]
        grpc_port: Option<u16>,
        /// The name the scheduler and other executors reach this one by [default: the
        /// bind address, or the address the scheduler sees].
        #[arg(long)]
        external_host: Option<String>,
        /// Shuffle and result files, one directory per job (removed when it is done).
        #[arg(long)]
        work_dir: PathBuf,
        /// Tasks at once [default: one per core].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        concurrent_tasks: Option<u16>,
        /// Memory shared by the running tasks (e.g. 8G) [default: 70 % of the machine's or
        /// container's].
        #[arg(long, value_parser = siyu::session::parse_size)]
        memory_limit: Option<usize>,
        /// The executor's own sweep removes job directories untouched this long (a
        /// backstop for cleanups the scheduler could not deliver).
        #[arg(long, default_value_t = 6 * 3600)]
        job_data_ttl_seconds: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SchemaRecord {
    /// `_manifest.json` of a published night.
    Manifest,
    /// `siyu plan --format json`.
    Plan,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Table,
    Json,
}

/// At most one malloc arena per core (glibc's default is eight per core), unless
/// `MALLOC_ARENA_MAX` says otherwise: with DataFusion's, tokio's and rayon's threads
/// each taking an arena, freed memory stays scattered over them. At scale 10 under
/// `--memory-limit 1G` this took the peak RSS from 1,700 to 1,539 MiB at the same
/// speed (docs/operations.md, "Memory"). Called before any thread starts.
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets an allocator parameter; no thread has started yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    // A job's own log is siyu's: Ballista's client chatter (connections, sessions) only at
    // warn; a cluster node logs Ballista's info (executors, jobs, tasks) as well.
    let level = if matches!(cli.command, Command::Cluster { .. }) {
        cli.log_level.clone()
    } else {
        format!(
            "{},ballista=warn,ballista_core=warn,ballista_scheduler=warn,ballista_executor=warn",
            cli.log_level
        )
    };
    logging::init(cli.log_format, &level);
    // A panic is a bug in siyu: report it and exit 1 (not Rust's 101), whatever thread
    // it happened on. Nothing is published: staging is never moved into place.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(class = "bug", exit_code = 1, "siyu crashed: {info}");
        eprintln!("siyu: internal error (a bug, please report it): {info}");
        std::process::exit(1);
    }));
    let format = cli.log_format;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Ballista encodes and decodes query plans recursively: deep plans (a 40-way
        // UNION ALL) need more than the default 2 MiB (Ballista's own binaries use 32).
        .thread_stack_size(32 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = SiyuError::runtime(format!("cannot start the async runtime: {e}"));
            return fail(&e, format);
        }
    };
    let result = runtime.block_on(dispatch(cli.command, format));
    // Nothing of a finished command is left to wait for; a run stopped by a signal may
    // leave a step busy in blocking code (k-means, a pause point), which must not hold
    // the exit.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, format),
    }
}

/// Report a failure once: JSON events for log collectors (one per problem, the location
/// in fields), or a plain line for people.
fn fail(e: &SiyuError, format: LogFormat) -> ExitCode {
    match format {
        LogFormat::Json => logging::error_event(e),
        LogFormat::Text => eprintln!("siyu: {e}"),
    }
    ExitCode::from(e.class.exit_code() as u8)
}

/// `check` and `plan` print problems on stdout; the error counts them and carries each
/// (for `--log-format json`).
fn problems_error(problems: Vec<Problem>) -> SiyuError {
    print_problems(&problems);
    let summary = SiyuError::new(
        ErrorClass::of(&problems),
        format!("{} problem(s), listed above", problems.len()),
    );
    SiyuError {
        problems,
        ..summary
    }
}

async fn dispatch(command: Command, log_format: LogFormat) -> Result<(), SiyuError> {
    match command {
        Command::Cluster { command } => match command {
            ClusterCommand::Scheduler {
                bind,
                external_host,
                min_executors,
            } => {
                siyu::cluster::scheduler(siyu::cluster::SchedulerOptions {
                    bind,
                    external_host,
                    min_executors,
                })
                .await
            }
            ClusterCommand::Executor {
                scheduler,
                bind,
                grpc_port,
                external_host,
                work_dir,
                concurrent_tasks,
                memory_limit,
                job_data_ttl_seconds,
            } => {
                siyu::cluster::executor(siyu::cluster::ExecutorOptions {
                    scheduler,
                    bind,
                    grpc_port,
                    external_host,
                    work_dir,
                    concurrent_tasks: concurrent_tasks.map(usize::from),
                    memory_limit,
                    job_data_ttl_seconds,
                })
                .await
            }
        },
        Command::Run {
            job,
            job_args,
            out,
            memory_limit,
            keep_nights,
            concurrent_steps,
        } => {
            let opts = Options {
                concurrent_steps: concurrent_steps.map(usize::from),
                keep_nights: keep_nights.map(|n| n as usize),
                ..job_args.options(out, memory_limit)
            };
            // SIGTERM / SIGINT stop the run cleanly (exit 143 / 130, src/interrupt.rs).
            let summary =
                siyu::interrupt::until_signal(runner::run(&job, &opts, log_format)).await?;
            for t in &summary.tables {
                println!("{}\t{} rows", t.name, t.rows);
            }
            println!("published {}", summary.published.display());
            Ok(())
        }
        Command::Backfill {
            job,
            from,
            to,
            force,
            job_args,
            out,
            memory_limit,
            keep_nights,
        } => {
            let opts = Options {
                keep_nights: keep_nights.map(|n| n as usize),
                ..job_args.options(out, memory_limit)
            };
            let report = |day: NaiveDate, night: &runner::backfill::Night| match night {
                runner::backfill::Night::Published(path) => {
                    println!("as_of={day}\tpublished {}", path.display())
                }
                runner::backfill::Night::Skipped(path) => println!(
                    "as_of={day}\tskipped: {} is published with the same inputs and params",
                    path.display()
                ),
            };
            siyu::interrupt::until_signal(runner::backfill::backfill(
                &job, &opts, from, to, force, log_format, report,
            ))
            .await?;
            Ok(())
        }
        Command::Report {
            job_dir,
            as_of,
            nights,
        } => {
            let path = siyu::report::rebuild(&job_dir, as_of, usize::from(nights)).await?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Command::Check { job, job_args, out } => {
            let opts = job_args.options(out, None);
            match runner::check(&job, &opts).await {
                Ok(p) => {
                    println!(
                        "ok: {} steps, {} inputs ({} absent), {} published tables",
                        p.steps.len(),
                        p.inputs().len(),
                        p.inputs().iter().filter(|i| i.is_absent()).count(),
                        p.job().publish.len()
                    );
                    Ok(())
                }
                Err(problems) => Err(problems_error(problems)),
            }
        }
        Command::Explain {
            job,
            step,
            job_args,
            analyze,
            out,
            memory_limit,
        } => {
            let opts = job_args.options(out, memory_limit);
            print!("{}", runner::explain(&job, &step, &opts, analyze).await?);
            Ok(())
        }
        Command::Test { job, job_args, out } => {
            let opts = job_args.options(out, None);
            let report = runner::test::test(&job, &opts).await?;
            println!("night as_of={} ({})", report.as_of, report.night.display());
            if report.read_inputs {
                println!(
                    "note: tests read input tables as they are now, not cleaned by the data quality checks"
                );
            }
            for r in &report.records {
                println!(
                    "{:<5} {}  {} ({} {}, warn_if {}, error_if {})",
                    r.status.to_uppercase(),
                    r.test,
                    r.message,
                    r.kind,
                    r.severity,
                    r.warn_if,
                    r.error_if
                );
                for line in r.sample.iter().flat_map(|s| s.lines()) {
                    println!("        {line}");
                }
            }
            let count = |s: &str| report.records.iter().filter(|r| r.status == s).count();
            println!(
                "{} tests: {} pass, {} warn, {} error",
                report.records.len(),
                count("pass"),
                count("warn"),
                count("error")
            );
            match siyu::datatest::failure(&report.records) {
                Some(e) => Err(e),
                None => Ok(()),
            }
        }
        Command::Plan {
            job,
            job_args,
            format,
            out,
        } => {
            let opts = job_args.options(out, None);
            let p = runner::check(&job, &opts).await.map_err(problems_error)?;
            let plan = runner::plan(&p);
            let format = format.unwrap_or(if std::io::stdout().is_terminal() {
                PlanFormat::Table
            } else {
                PlanFormat::Json
            });
            match format {
                PlanFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&plan).expect("a plan serialises")
                ),
                PlanFormat::Table => print_plan_table(&plan.steps),
            }
            Ok(())
        }
        Command::Clv {
            input_dir,
            calibration_end,
            holdout_end,
            timezone,
            summary,
            horizon_days,
            discount_rate_annual,
            out,
        } => {
            let text = match (input_dir, calibration_end, holdout_end, summary) {
                (Some(input_dir), Some(calibration_end), Some(holdout_end), _) => {
                    siyu::clv::cli::run(&siyu::clv::cli::Options {
                        input_dir,
                        calibration_end,
                        holdout_end,
                        timezone,
                    })
                    .await?
                }
                (_, _, _, Some(summary)) => {
                    siyu::clv::cli::summary(&siyu::clv::cli::SummaryOptions {
                        summary,
                        horizon_days,
                        discount_rate_annual,
                        out,
                    })
                    .await?
                }
                _ => {
                    return Err(SiyuError::config(
                        "give --input-dir with --calibration-end and --holdout-end, or --summary",
                    ));
                }
            };
            print!("{text}");
            Ok(())
        }
        Command::Rules {
            input,
            basket,
            item,
            min_support,
            min_confidence,
            max_len,
            itemsets,
            out,
        } => {
            let params = siyu::rules::table::RuleParams {
                min_support,
                min_confidence,
                max_len,
                multi_consequent: false,
            };
            let summary = siyu::rules::cli::run(
                &input,
                &basket,
                &item,
                &params,
                itemsets.as_deref(),
                out.as_deref(),
            )
            .await?;
            print!("{summary}");
            Ok(())
        }
        Command::Segment {
            input,
            id,
            features,
            k,
            k_range,
            transform,
            n_runs,
            engine,
            seed,
            tolerance,
            max_iterations,
            silhouette_sample,
            out,
        } => {
            use siyu::segment::KChoice;
            let k = match (k, k_range) {
                (Some(k), _) => KChoice::Fixed(k),
                (None, Some((lo, hi))) => KChoice::Range(lo, hi),
                (None, None) => {
                    return Err(SiyuError::config(
                        "segment: give --k N or --k-range LOW..HIGH",
                    ));
                }
            };
            let summary = siyu::segment::cli::run(siyu::segment::cli::CliArgs {
                input: &input,
                id: &id,
                features,
                k,
                transform,
                params: siyu::segment::SegmentParams {
                    engine,
                    k,
                    n_runs,
                    seed,
                    tolerance,
                    max_iterations,
                    silhouette_sample,
                    k_switch_margin: 0.0,
                    warm_start_margin: 0.0,
                },
                out: &out,
            })
            .await?;
            print!("{summary}");
            Ok(())
        }
        Command::Schema { record } => {
            print!(
                "{}",
                match record {
                    SchemaRecord::Manifest => manifest::schema_json::<manifest::Manifest>(),
                    SchemaRecord::Plan => manifest::schema_json::<manifest::Plan>(),
                }
            );
            Ok(())
        }
        Command::Generate {
            scale,
            out,
            seed,
            end_date,
        } => {
            let end_date = end_date.unwrap_or_else(|| chrono::Local::now().date_naive());
            let params = siyu::generate::GenerateParams {
                scale,
                seed,
                end_date,
            };
            let started = std::time::Instant::now();
            let summary = siyu::generate::generate(&params, &out)?;
            for t in &summary.tables {
                println!("{}\t{} rows\t{} files", t.table, t.rows, t.files);
            }
            tracing::info!(
                seconds = format!("{:.2}", started.elapsed().as_secs_f64()),
                out = %out.display(),
                "generated"
            );
            Ok(())
        }
    }
}

fn print_problems(problems: &[Problem]) {
    let config = problems
        .iter()
        .filter(|p| p.class == ErrorClass::Config)
        .count();
    for p in problems {
        println!("{}", p.located_message());
    }
    println!(
        "{} problem(s): {} in the job or SQL files, {} in the inputs",
        problems.len(),
        config,
        problems.len() - config
    );
}

fn print_plan_table(steps: &[manifest::PlannedStep]) {
    let w = steps.iter().map(|s| s.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:>3}  {:>5}  {:<w$}  {:<4}  {:<40}  writes",
        "#", "level", "step", "kind", "reads"
    );
    for s in steps {
        let writes: Vec<String> = s
            .writes
            .iter()
            .map(|t| {
                if s.published.contains(t) {
                    format!("{t} (published)")
                } else {
                    t.clone()
                }
            })
            .collect();
        println!(
            "{:>3}  {:>5}  {:<w$}  {:<4}  {:<40}  {}",
            s.order,
            s.level,
            s.name,
            s.kind,
            s.reads.join(", "),
            writes.join(", ")
        );
    }
}

fn parse_range(s: &str) -> std::result::Result<(usize, usize), String> {
    let (lo, hi) = s
        .split_once("..")
        .ok_or_else(|| format!("expected LOW..HIGH, found {s:?}"))?;
    let n = |x: &str| {
        x.trim()
            .parse::<usize>()
            .map_err(|_| format!("expected LOW..HIGH with whole numbers, found {s:?}"))
    };
    Ok((n(lo)?, n(hi)?))
}

fn parse_transform(s: &str) -> std::result::Result<siyu::segment::scale::Transform, String> {
    siyu::segment::scale::Transform::parse(s).ok_or_else(|| {
        format!(
            "unknown transform {s:?} (known: {})",
            siyu::segment::scale::Transform::NAMES
        )
    })
}

fn parse_engine(s: &str) -> std::result::Result<siyu::segment::kmeans::Engine, String> {
    siyu::segment::kmeans::Engine::parse(s)
        .ok_or_else(|| format!("unknown engine {s:?} (known: fused, linfa)"))
}
