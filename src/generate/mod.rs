//! `siyu generate`: a deterministic synthetic retailer that follows the input contract.
//!
//! The data has the shapes real exports have, so that every later feature has something
//! real to find:
//! - **members** join over three years before the end date, more of them recently; ids
//!   follow joining order. A share come through referrals from earlier members (referral
//!   chains), birthdays include Feb 29, consents differ by channel and are sometimes null.
//! - **stores and guides**: 80% of members have a home store among `S001`..`S060`, and
//!   in-store orders name one of the same stores. Stores differ in size, counted in
//!   shopping guides (导购): Zipf over a random order of the stores, `1 + 15 / rank`
//!   guides, so a flagship has 16 and most stores one or two (126 in all, whatever the
//!   scale). A member's own guide (`guide_id`, 专属导购, e.g. `S017-G03`) is at their home
//!   store, more often for engaged personas (vip 0.9 … occasional 0.25) and in larger
//!   stores (coverage `0.6 + 0.08 × guides`, at most 1); 5% of members without a home
//!   store have a guide of any store. About 30% of members have a guide. Only they can
//!   have added the guide on WeCom (`consent_wecom`, 企业微信; community 0.8, vip 0.75 …
//!   occasional 0.35, a tenth of the rest left null); for the others it is null. Guides
//!   are drawn from streams of their own (see below), so they changed no other value.
//! - **personas** give segmentation known structure: `vip` (frequent, big baskets),
//!   `regular`, `bargain` (discounts and coupons, live and mini-program channels),
//!   `occasional` (rare, small), `community` (community group buying, very active in
//!   groups). A persona's order rate is multiplied by a Pareto draw, so order frequency
//!   has a power-law tail; 15% of members never buy and a fifth of buyers churn (stop
//!   buying) at a random point.
//! - **orders** follow a yearly season (双11 on 11 Nov, 618 on 18 June, a Chinese New Year
//!   dip) and a weekly cycle (weekends busier); hours cluster around a persona's peak
//!   hour. About 4% are refunded, 2% cancelled, and 7% more are guest orders.
//! - **products** have Zipf popularity within twelve categories; members favour three
//!   categories. [`planted_bundles`] are co-purchased far above chance: when a basket
//!   holds a bundle's first product, its other products join with probability 0.7.
//! - **community events** come from a third of members; activity within a group is
//!   heavy-tailed, so a few members are very active. Referrers who are in a group post an
//!   `invite` naming their invitee.
//! - **points** are earned on paid orders (1 per yuan, expiring after 365 days, some rows
//!   without expiry so the job's policy applies), sometimes redeemed, and expired.
//! - **contact history** has six past campaigns with 10% holdouts; contacted members
//!   convert more often than holdouts. **suppression** lists about 1% of members.
//!
//! Members are generated in chunks of [`CHUNK`]; each chunk has its own random stream
//! seeded from (seed, chunk) and writes its own part files, so the output does not depend
//! on the number of threads and generation scales across cores. Guides and WeCom consent
//! come from a second stream per chunk (and the stores' sizes from one of their own),
//! seeded from the seed mixed with a different constant, so that adding them left every
//! other column and table byte for byte as before for the same seed.

use std::fs::{self};
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{ErrorClass, Result, SiyuError};

mod catalogue;
mod community;
mod contacts;
mod members;
mod orders;
mod points;
mod stores;

pub use catalogue::planted_bundles;
use catalogue::{Catalogue, write_products};
use members::Chunk;
use stores::Stores;

/// Members per chunk: one part file per table per chunk.
pub const CHUNK: usize = 10_000;
/// Members at scale 1.
pub const MEMBERS_PER_SCALE: f64 = 100_000.0;
/// Days of history before the end date.
const HISTORY_DAYS: i64 = 3 * 365;

pub struct GenerateParams {
    pub scale: f64,
    pub seed: u64,
    pub end_date: NaiveDate,
}

pub struct TableSummary {
    pub table: &'static str,
    pub rows: u64,
    pub files: usize,
}

pub struct GenerateSummary {
    pub tables: Vec<TableSummary>,
}

const TABLE_NAMES: [&str; 8] = [
    "members",
    "orders",
    "order_items",
    "products",
    "community_events",
    "points_ledger",
    "contact_history",
    "suppression",
];

/// Number of members at a scale.
pub fn member_count(scale: f64) -> usize {
    ((MEMBERS_PER_SCALE * scale).round() as usize).max(1)
}

/// Number of products at a scale (grows with the square root: assortments grow slower
/// than member bases).
pub fn product_count(scale: f64) -> usize {
    ((5000.0 * scale.sqrt()).round() as usize).clamp(300, 20_000)
}

/// Write the synthetic retailer into `out/<table>/part-NNNNN.parquet`.
pub fn generate(params: &GenerateParams, out: &Path) -> Result<GenerateSummary> {
    if !(params.scale.is_finite() && params.scale > 0.0) {
        return Err(SiyuError::config(format!(
            "--scale must be a positive number, found {}",
            params.scale
        )));
    }
    for t in TABLE_NAMES {
        let dir = out.join(t);
        if dir.exists() {
            for entry in fs::read_dir(&dir).map_err(|e| pub_err("cannot list", &dir, e))? {
                let p = entry.map_err(|e| pub_err("cannot list", &dir, e))?.path();
                if p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
                {
                    fs::remove_file(&p).map_err(|e| pub_err("cannot remove", &p, e))?;
                }
            }
        }
        fs::create_dir_all(&dir).map_err(|e| pub_err("cannot create", &dir, e))?;
    }

    let members = member_count(params.scale);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x5EED_CA7A_1066);
    let catalogue = Catalogue::new(product_count(params.scale), &mut rng);
    let products_rows = write_products(&catalogue, params, &mut rng, &out.join("products"))?;
    let stores = Stores::new(params.seed);

    let chunks = members.div_ceil(CHUNK);
    let counts = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let first = c * CHUNK;
            let n = CHUNK.min(members - first);
            Chunk::generate(c, first, n, members, params, &catalogue, &stores).write(c, out)
        })
        .collect::<Result<Vec<[u64; 7]>>>()?;

    let mut tables = Vec::new();
    let mut k = 0;
    for t in TABLE_NAMES {
        if t == "products" {
            tables.push(TableSummary {
                table: t,
                rows: products_rows,
                files: 1,
            });
        } else {
            tables.push(TableSummary {
                table: t,
                rows: counts.iter().map(|c| c[k]).sum(),
                files: chunks,
            });
            k += 1;
        }
    }
    Ok(GenerateSummary { tables })
}

fn pub_err(what: &str, path: &Path, e: std::io::Error) -> SiyuError {
    SiyuError::io(ErrorClass::Publish, what, path, e)
}

fn micros(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days() as i32
}

/// How busy a day is: yearly season and weekly cycle (1 = an ordinary weekday).
fn day_weight(d: NaiveDate) -> f64 {
    let mut w = match d.weekday().num_days_from_monday() {
        5 | 6 => 1.3,
        _ => 1.0,
    };
    let (m, day) = (d.month(), d.day());
    if m == 11 && (8..=11).contains(&day) {
        w *= 3.0;
    } else if m == 6 && (16..=18).contains(&day) {
        w *= 2.2;
    } else if m == 2 && day <= 10 {
        w *= 0.6;
    } else if m == 12 {
        w *= 1.2;
    }
    w
}
const MAX_DAY_WEIGHT: f64 = 3.9;

fn money_type() -> DataType {
    DataType::Decimal128(18, 2)
}

fn write_part(dir: &Path, part: usize, batch: &RecordBatch) -> Result<()> {
    let path = dir.join(format!("part-{part:05}.parquet"));
    crate::publish::write_batches(
        &path,
        batch.schema(),
        [batch],
        &crate::publish::ParquetOptions::working(Vec::new()),
    )
    .map(|_| ())
}

/// A named column of a generated table; `nullable` where the contract lets an export
/// leave it empty.
fn column(name: &'static str, nullable: bool, values: impl Array + 'static) -> (Field, ArrayRef) {
    (
        Field::new(name, values.data_type().clone(), nullable),
        Arc::new(values),
    )
}

/// A generated table of `columns`, its schema taken from them.
fn batch(columns: Vec<(Field, ArrayRef)>) -> Result<RecordBatch> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| SiyuError::runtime(format!("generator built an invalid batch: {e}")))
}
