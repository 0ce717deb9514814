//! `siyu generate`: a deterministic synthetic retailer that follows the input contract.
//!
//! The data has the shapes real exports have, so that every later feature has something
//! real to find:
//! - **members** join over three years before the end date, more of them recently; ids
//!   follow joining order. A share come through referrals from earlier members (referral
//!   chains), birthdays include Feb 29, consents differ by channel and are sometimes null.
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
//! on the number of threads and generation scales across cores.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder, TimestampSecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::error::{ErrorClass, Result, SiyuError};

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

/// A product category: name, typical price in yuan, whether its products are
/// consumable (replenished), and the brands and nouns product names are made of.
struct Category(
    &'static str,
    f64,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const CATEGORIES: [Category; 12] = [
    Category(
        "生鲜",
        25.0,
        true,
        &["农夫", "佳沛", "盒马", "每日优鲜"],
        &["苹果", "香蕉", "鸡蛋", "牛肉", "三文鱼", "西兰花"],
    ),
    Category(
        "乳品",
        30.0,
        true,
        &["伊利", "蒙牛", "光明", "君乐宝"],
        &["纯牛奶", "酸奶", "奶酪", "牛奶片"],
    ),
    Category(
        "零食",
        20.0,
        true,
        &["三只松鼠", "良品铺子", "百草味", "乐事"],
        &["坚果", "薯片", "牛肉干", "饼干", "果冻"],
    ),
    Category(
        "酒水饮料",
        35.0,
        true,
        &["农夫山泉", "可口可乐", "青岛", "茅台"],
        &["矿泉水", "可乐", "啤酒", "白酒", "果汁"],
    ),
    Category(
        "粮油调味",
        45.0,
        true,
        &["金龙鱼", "福临门", "海天", "五常"],
        &["大米", "食用油", "酱油", "面粉", "醋"],
    ),
    Category(
        "个护",
        60.0,
        true,
        &["舒肤佳", "海飞丝", "云南白药", "高露洁"],
        &["沐浴露", "洗发水", "牙膏", "牙刷"],
    ),
    Category(
        "家清",
        40.0,
        true,
        &["蓝月亮", "立白", "维达", "心相印"],
        &["洗衣液", "纸巾", "洗洁精", "垃圾袋"],
    ),
    Category(
        "母婴",
        150.0,
        true,
        &["飞鹤", "帮宝适", "花王", "贝亲"],
        &["奶粉", "纸尿裤", "湿巾", "奶瓶"],
    ),
    Category(
        "美妆",
        200.0,
        false,
        &["欧莱雅", "兰蔻", "完美日记", "自然堂"],
        &["面霜", "口红", "精华", "面膜"],
    ),
    Category(
        "日用百货",
        50.0,
        false,
        &["名创优品", "乐扣乐扣", "苏泊尔", "双立人"],
        &["保温杯", "收纳盒", "锅具", "刀具"],
    ),
    Category(
        "冷冻",
        35.0,
        true,
        &["思念", "三全", "湾仔码头", "安井"],
        &["水饺", "汤圆", "速冻包子", "火锅丸"],
    ),
    Category(
        "烘焙",
        25.0,
        true,
        &["桃李", "曼可顿", "好利来", "元祖"],
        &["面包", "蛋糕", "吐司", "月饼"],
    ),
];

const CITIES: [(&str, i32); 16] = [
    ("上海", 1),
    ("北京", 1),
    ("广州", 1),
    ("深圳", 1),
    ("杭州", 2),
    ("成都", 2),
    ("武汉", 2),
    ("南京", 2),
    ("西安", 2),
    ("长沙", 2),
    ("苏州", 2),
    ("郑州", 2),
    ("佛山", 3),
    ("合肥", 3),
    ("洛阳", 4),
    ("赣州", 5),
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Persona {
    Vip,
    Regular,
    Bargain,
    Occasional,
    Community,
}

impl Persona {
    fn draw(u: f64) -> Persona {
        match u {
            u if u < 0.06 => Persona::Vip,
            u if u < 0.38 => Persona::Regular,
            u if u < 0.58 => Persona::Bargain,
            u if u < 0.86 => Persona::Occasional,
            _ => Persona::Community,
        }
    }
    /// Orders per year before the Pareto multiplier.
    fn rate(self) -> f64 {
        match self {
            Persona::Vip => 30.0,
            Persona::Regular => 8.0,
            Persona::Bargain => 10.0,
            Persona::Occasional => 1.8,
            Persona::Community => 7.0,
        }
    }
    /// Extra products per basket on top of one (mean of a geometric draw).
    fn basket_extra(self) -> f64 {
        match self {
            Persona::Vip => 3.0,
            Persona::Regular => 1.7,
            Persona::Bargain => 1.7,
            Persona::Occasional => 0.8,
            Persona::Community => 1.5,
        }
    }
    fn peak_hour(self) -> f64 {
        match self {
            Persona::Vip => 20.0,
            Persona::Regular => 19.0,
            Persona::Bargain => 21.5,
            Persona::Occasional => 14.0,
            Persona::Community => 10.0,
        }
    }
    /// Probability an order is discounted.
    fn discount_rate(self) -> f64 {
        match self {
            Persona::Bargain => 0.7,
            Persona::Community => 0.35,
            _ => 0.12,
        }
    }
    fn channel(self, u: f64) -> &'static str {
        let table: &[(&str, f64)] = match self {
            Persona::Vip => &[("store", 0.5), ("online", 0.85), ("mini_program", 1.0)],
            Persona::Regular => &[
                ("store", 0.45),
                ("online", 0.75),
                ("mini_program", 0.95),
                ("live", 1.0),
            ],
            Persona::Bargain => &[
                ("live", 0.35),
                ("mini_program", 0.65),
                ("community_group_buy", 0.85),
                ("online", 1.0),
            ],
            Persona::Occasional => &[("store", 0.6), ("online", 1.0)],
            Persona::Community => &[
                ("community_group_buy", 0.55),
                ("mini_program", 0.85),
                ("store", 1.0),
            ],
        };
        table
            .iter()
            .find(|(_, p)| u < *p)
            .map_or("online", |(c, _)| c)
    }
    /// Probability the member is in a community group, and their activity scale.
    fn community(self) -> (f64, f64) {
        match self {
            Persona::Community => (0.9, 60.0),
            Persona::Vip => (0.35, 15.0),
            _ => (0.22, 8.0),
        }
    }
}

/// Products in the catalogue, shared read-only by all chunks.
struct Catalogue {
    ids: Vec<String>,
    category: Vec<usize>,
    price_cents: Vec<i64>,
    /// Per category: product indices by popularity, and their cumulative Zipf weights.
    by_category: Vec<(Vec<usize>, Vec<f64>)>,
    /// Bundle companions by product index.
    bundle_of: Vec<Option<usize>>,
    bundles: Vec<Vec<usize>>,
}

/// The co-purchase bundles planted in baskets, as product ids: when a basket holds the
/// first product, each other one joins it with probability 0.7.
pub fn planted_bundles(scale: f64) -> Vec<Vec<String>> {
    let n = product_count(scale);
    bundle_indices(n)
        .into_iter()
        .map(|b| b.into_iter().map(product_id).collect())
        .collect()
}

fn product_id(i: usize) -> String {
    format!("P{:06}", i + 1)
}

/// Ten bundles among the popular products: product k of category c is index
/// `k * 12 + c` (products are dealt round-robin to categories, most popular first).
fn bundle_indices(n: usize) -> Vec<Vec<usize>> {
    let at = |rank: usize, cat: usize| (rank * CATEGORIES.len() + cat).min(n - 1);
    vec![
        vec![at(0, 0), at(1, 1)],
        vec![at(0, 1), at(2, 11)],
        vec![at(1, 2), at(0, 3)],
        vec![at(0, 4), at(1, 4), at(2, 4)],
        vec![at(0, 5), at(1, 5)],
        vec![at(0, 6), at(3, 6)],
        vec![at(0, 7), at(1, 7), at(2, 7)],
        vec![at(0, 8), at(1, 8)],
        vec![at(2, 0), at(0, 10)],
        vec![at(0, 9), at(4, 9)],
    ]
}

impl Catalogue {
    fn new(n: usize, rng: &mut ChaCha8Rng) -> Catalogue {
        let cats = CATEGORIES.len();
        let mut category = Vec::with_capacity(n);
        let mut price_cents = Vec::with_capacity(n);
        let mut by_category: Vec<(Vec<usize>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); cats];
        for i in 0..n {
            let c = i % cats;
            category.push(c);
            let base = CATEGORIES[c].1;
            let price = base * (0.4 + 1.6 * rng.random::<f64>()).powf(1.3);
            price_cents.push(((price * 100.0).round() as i64).max(50));
            let (list, cum) = &mut by_category[c];
            let rank = list.len() as f64;
            list.push(i);
            let w = 1.0 / (rank + 1.0).powf(1.05);
            cum.push(cum.last().copied().unwrap_or(0.0) + w);
        }
        let bundles = bundle_indices(n);
        let mut bundle_of = vec![None; n];
        for (b, members) in bundles.iter().enumerate() {
            bundle_of[members[0]] = Some(b);
        }
        Catalogue {
            ids: (0..n).map(product_id).collect(),
            category,
            price_cents,
            by_category,
            bundle_of,
            bundles,
        }
    }

    fn pick(&self, category: usize, rng: &mut ChaCha8Rng) -> usize {
        let (list, cum) = &self.by_category[category];
        let u = rng.random::<f64>() * cum.last().copied().unwrap_or(1.0);
        let k = cum.partition_point(|&c| c < u).min(list.len() - 1);
        list[k]
    }
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

    let chunks = members.div_ceil(CHUNK);
    let counts = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let first = c * CHUNK;
            let n = CHUNK.min(members - first);
            Chunk::generate(c, first, n, members, params, &catalogue).write(c, out)
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

fn writer_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .build()
}

fn write_part(dir: &Path, part: usize, batch: &RecordBatch) -> Result<()> {
    let path = dir.join(format!("part-{part:05}.parquet"));
    let file = File::create(&path).map_err(|e| pub_err("cannot create", &path, e))?;
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(writer_props()))
        .map_err(|e| SiyuError::publish(format!("{}: {e}", path.display())))?;
    w.write(batch)
        .and_then(|_| w.close().map(|_| ()))
        .map_err(|e| SiyuError::publish(format!("writing {}: {e}", path.display())))
}

fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| SiyuError::runtime(format!("generator built an invalid batch: {e}")))
}

fn write_products(
    cat: &Catalogue,
    params: &GenerateParams,
    rng: &mut ChaCha8Rng,
    dir: &Path,
) -> Result<u64> {
    let n = cat.ids.len();
    let end = params.end_date.and_time(NaiveTime::MIN);
    let mut id = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut category = StringBuilder::new();
    let mut sub = StringBuilder::new();
    let mut brand = StringBuilder::new();
    let mut price = Decimal128Builder::new().with_data_type(money_type());
    let mut launched = TimestampMillisecondBuilder::new();
    let mut consumable = BooleanBuilder::new();
    for i in 0..n {
        let Category(cname, _, cons, brands, nouns) = CATEGORIES[cat.category[i]];
        let b = brands[rng.random_range(0..brands.len())];
        let noun = nouns[rng.random_range(0..nouns.len())];
        id.append_value(&cat.ids[i]);
        name.append_value(format!("{b} {noun} {}号", i / CATEGORIES.len() + 1));
        category.append_value(cname);
        if rng.random::<f64>() < 0.9 {
            sub.append_value(noun);
        } else {
            sub.append_null();
        }
        if rng.random::<f64>() < 0.95 {
            brand.append_value(b);
        } else {
            brand.append_null();
        }
        price.append_value(cat.price_cents[i] as i128);
        let u: f64 = rng.random();
        if u < 0.03 {
            let days = rng.random_range(1..=30);
            launched.append_value(micros(end - Duration::days(days)) / 1000);
        } else if u < 0.9 {
            let days = rng.random_range(31..=HISTORY_DAYS + 365);
            launched.append_value(micros(end - Duration::days(days)) / 1000);
        } else {
            launched.append_null();
        }
        if rng.random::<f64>() < 0.05 {
            consumable.append_null();
        } else {
            consumable.append_value(cons);
        }
    }
    let b = batch(
        vec![
            Field::new("product_id", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("subcategory", DataType::Utf8, true),
            Field::new("brand", DataType::Utf8, true),
            Field::new("list_price", money_type(), false),
            Field::new(
                "launched_at",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("is_consumable", DataType::Boolean, true),
        ],
        vec![
            Arc::new(id.finish()),
            Arc::new(name.finish()),
            Arc::new(category.finish()),
            Arc::new(sub.finish()),
            Arc::new(brand.finish()),
            Arc::new(price.finish()),
            Arc::new(launched.finish()),
            Arc::new(consumable.finish()),
        ],
    )?;
    write_part(dir, 0, &b)?;
    Ok(n as u64)
}

/// One chunk of members and everything they did.
struct Chunk {
    members: RecordBatch,
    orders: RecordBatch,
    items: RecordBatch,
    events: RecordBatch,
    points: RecordBatch,
    contacts: RecordBatch,
    suppression: RecordBatch,
}

struct MemberInfo {
    id: i64,
    joined: NaiveDateTime,
    persona: Persona,
    consent: [Option<bool>; 4],
}

impl Chunk {
    fn generate(
        chunk: usize,
        first: usize,
        n: usize,
        total_members: usize,
        params: &GenerateParams,
        cat: &Catalogue,
    ) -> Chunk {
        let mut rng = ChaCha8Rng::seed_from_u64(
            params.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ (chunk as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        );
        let end = params.end_date.and_time(NaiveTime::MIN);
        let start = end - Duration::days(HISTORY_DAYS);
        let chunk_start =
            start + Duration::days(HISTORY_DAYS * first as i64 / total_members as i64);
        let chunk_end =
            start + Duration::days(HISTORY_DAYS * (first + n) as i64 / total_members as i64);

        // Members join in id order; join times are spread so that later chunks join
        // later, and within a chunk sorted, which keeps referrers older than referees.
        let mut joins: Vec<i64> = (0..n)
            .map(|_| {
                let span = (chunk_end - chunk_start).num_seconds().max(1);
                rng.random_range(0..span)
            })
            .collect();
        joins.sort_unstable();

        let mut m_id = Int64Builder::new();
        let mut m_joined = TimestampSecondBuilder::new().with_timezone("Asia/Shanghai");
        let mut m_birthday = Date32Builder::new();
        let mut m_gender = StringBuilder::new();
        let mut m_city = StringBuilder::new();
        let mut m_tier = Int32Builder::new();
        let mut m_channel = StringBuilder::new();
        let mut m_referrer = Int64Builder::new();
        let mut m_store = StringBuilder::new();
        let mut m_consent: [BooleanBuilder; 4] = Default::default();

        let mut infos = Vec::with_capacity(n);
        let mut referrals: Vec<(i64, i64, NaiveDateTime)> = Vec::new();
        for (k, offset) in joins.iter().enumerate() {
            let id = 1_000_000 + (first + k) as i64;
            let joined = chunk_start + Duration::seconds(*offset);
            let persona = Persona::draw(rng.random());
            m_id.append_value(id);
            // The contract's zoned joined_at: stored as UTC instants of Shanghai local time.
            m_joined.append_value(micros(joined) / 1_000_000 - 8 * 3600);
            let u: f64 = rng.random();
            if u < 0.003 {
                let year = 1964 + 4 * rng.random_range(0..11);
                m_birthday.append_value(days_since_epoch(
                    NaiveDate::from_ymd_opt(year, 2, 29).expect("leap"),
                ));
            } else if u < 0.9 {
                let d = NaiveDate::from_ymd_opt(1960, 1, 1).expect("valid")
                    + Duration::days(rng.random_range(0..46 * 365));
                m_birthday.append_value(days_since_epoch(d));
            } else {
                m_birthday.append_null();
            }
            match rng.random::<f64>() {
                u if u < 0.55 => m_gender.append_value("F"),
                u if u < 0.95 => m_gender.append_value("M"),
                _ => m_gender.append_null(),
            }
            let (city, tier) = CITIES[(rng.random::<f64>().powi(2) * CITIES.len() as f64) as usize];
            m_city.append_value(city);
            if rng.random::<f64>() < 0.95 {
                m_tier.append_value(tier);
            } else {
                m_tier.append_null();
            }
            let referred = k > 0 && rng.random::<f64>() < 0.15;
            if referred {
                m_channel.append_value("referral");
                let referrer = 1_000_000 + (first + rng.random_range(0..k)) as i64;
                m_referrer.append_value(referrer);
                referrals.push((referrer, id, joined));
            } else {
                let ch = ["store", "online", "mini_program", "ad", "live"][rng.random_range(0..5)];
                m_channel.append_value(ch);
                m_referrer.append_null();
            }
            if rng.random::<f64>() < 0.8 {
                m_store.append_value(format!("S{:03}", rng.random_range(1..=60)));
            } else {
                m_store.append_null();
            }
            let rates = [(0.7, 0.2), (0.6, 0.25), (0.3, 0.5), (0.4, 0.4)];
            let mut consent = [None; 4];
            for (c, (yes, no)) in rates.iter().enumerate() {
                let u: f64 = rng.random();
                consent[c] = if u < *yes {
                    Some(true)
                } else if u < yes + no {
                    Some(false)
                } else {
                    None
                };
                m_consent[c].append_option(consent[c]);
            }
            infos.push(MemberInfo {
                id,
                joined,
                persona,
                consent,
            });
        }
        let [mut c_sms, mut c_wechat, mut c_email, mut c_push] = m_consent;
        let ts_sh = DataType::Timestamp(TimeUnit::Second, Some("Asia/Shanghai".into()));
        let members = batch(
            vec![
                Field::new("member_id", DataType::Int64, false),
                Field::new("joined_at", ts_sh, false),
                Field::new("birthday", DataType::Date32, true),
                Field::new("gender", DataType::Utf8, true),
                Field::new("city", DataType::Utf8, true),
                Field::new("city_tier", DataType::Int32, true),
                Field::new("acquisition_channel", DataType::Utf8, true),
                Field::new("referrer_id", DataType::Int64, true),
                Field::new("home_store_id", DataType::Utf8, true),
                Field::new("consent_sms", DataType::Boolean, true),
                Field::new("consent_wechat", DataType::Boolean, true),
                Field::new("consent_email", DataType::Boolean, true),
                Field::new("consent_app_push", DataType::Boolean, true),
            ],
            vec![
                Arc::new(m_id.finish()),
                Arc::new(m_joined.finish()),
                Arc::new(m_birthday.finish()),
                Arc::new(m_gender.finish()),
                Arc::new(m_city.finish()),
                Arc::new(m_tier.finish()),
                Arc::new(m_channel.finish()),
                Arc::new(m_referrer.finish()),
                Arc::new(m_store.finish()),
                Arc::new(c_sms.finish()),
                Arc::new(c_wechat.finish()),
                Arc::new(c_email.finish()),
                Arc::new(c_push.finish()),
            ],
        )
        .expect("members batch");

        let mut orders = OrderBuilders::new();
        let mut points = PointsBuilders::new();
        let mut order_seq: i64 = 0;
        let order_base = (chunk as i64 + 1) * 100_000_000;
        for m in &infos {
            if rng.random::<f64>() < 0.15 {
                continue;
            }
            let pareto = (1.0 - rng.random::<f64>()).powf(-1.0 / 2.2) * 0.55;
            let rate = m.persona.rate() * pareto.min(12.0);
            let churn_at = if rng.random::<f64>() < 0.2 {
                let span = (end - m.joined).num_seconds().max(1);
                m.joined + Duration::seconds(rng.random_range(0..span))
            } else {
                end
            };
            let active_days = (churn_at - m.joined).num_seconds() as f64 / 86_400.0;
            let expected = rate * active_days / 365.0;
            let count = poisson(expected, &mut rng);
            let favourites = [
                rng.random_range(0..CATEGORIES.len()),
                rng.random_range(0..CATEGORIES.len()),
                rng.random_range(0..CATEGORIES.len()),
            ];
            let mut times: Vec<NaiveDateTime> = (0..count)
                .filter_map(|_| order_time(m.joined, churn_at, m.persona, &mut rng))
                .collect();
            times.sort_unstable();
            let mut balance: i64 = 0;
            for t in times {
                order_seq += 1;
                let paid = orders.add(
                    order_base + order_seq,
                    Some(m.id),
                    t,
                    m.persona,
                    &favourites,
                    cat,
                    &mut rng,
                );
                if let Some(paid_cents) = paid {
                    let earned = paid_cents / 100;
                    if earned > 0 {
                        let expiry = if rng.random::<f64>() < 0.9 {
                            Some(t + Duration::days(365))
                        } else {
                            None
                        };
                        points.add(m.id, t, "earn", earned, expiry);
                        balance += earned;
                        if let Some(e) = expiry
                            && e < end
                            && rng.random::<f64>() < 0.4
                        {
                            let lost = (earned / 2).min(balance);
                            if lost > 0 {
                                points.add(m.id, e, "expire", -lost, None);
                                balance -= lost;
                            }
                        }
                    }
                    if balance > 1500 && rng.random::<f64>() < 0.15 {
                        let used = rng.random_range(500..=balance.min(3000));
                        points.add(m.id, t + Duration::minutes(5), "redeem", -used, None);
                        balance -= used;
                    }
                    if rng.random::<f64>() < 0.005 {
                        let adj = rng.random_range(-100..=100);
                        points.add(m.id, t + Duration::hours(1), "adjust", adj, None);
                        balance += adj;
                    }
                }
            }
        }
        // Guest orders: about 7% on top of members' orders, in the same period.
        let guests = poisson(order_seq as f64 * 0.075, &mut rng);
        for _ in 0..guests {
            if let Some(t) = order_time(chunk_start, end, Persona::Occasional, &mut rng) {
                order_seq += 1;
                let favourites = [rng.random_range(0..CATEGORIES.len()); 3];
                orders.add(
                    order_base + order_seq,
                    None,
                    t,
                    Persona::Occasional,
                    &favourites,
                    cat,
                    &mut rng,
                );
            }
        }

        let events = community_events(&infos, &referrals, first, total_members, end, &mut rng);
        let contacts = contact_history(&infos, end, &mut rng);
        let suppression = suppression_list(&infos, end, &mut rng);
        let (orders, items) = orders.finish();
        Chunk {
            members,
            orders,
            items,
            events,
            points: points.finish(),
            contacts,
            suppression,
        }
    }

    fn write(self, chunk: usize, out: &Path) -> Result<[u64; 7]> {
        let tables = [
            ("members", &self.members),
            ("orders", &self.orders),
            ("order_items", &self.items),
            ("community_events", &self.events),
            ("points_ledger", &self.points),
            ("contact_history", &self.contacts),
            ("suppression", &self.suppression),
        ];
        let mut rows = [0u64; 7];
        for (k, (name, b)) in tables.iter().enumerate() {
            write_part(&out.join(name), chunk, b)?;
            rows[k] = b.num_rows() as u64;
        }
        Ok(rows)
    }
}

/// A Poisson draw (Knuth for small means, a rounded normal for large ones).
fn poisson(mean: f64, rng: &mut ChaCha8Rng) -> usize {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as usize;
    }
    let l = (-mean).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

/// A time between `from` and `to` following the season and the persona's hours.
fn order_time(
    from: NaiveDateTime,
    to: NaiveDateTime,
    persona: Persona,
    rng: &mut ChaCha8Rng,
) -> Option<NaiveDateTime> {
    let first_day = from.date();
    let days = (to.date() - first_day).num_days();
    if days <= 0 {
        return None;
    }
    for _ in 0..16 {
        let d = first_day + Duration::days(rng.random_range(0..days));
        if rng.random::<f64>() * MAX_DAY_WEIGHT > day_weight(d) {
            continue;
        }
        let spread: f64 = (0..3).map(|_| rng.random::<f64>()).sum::<f64>() - 1.5;
        let hour = (persona.peak_hour() + spread * 4.0).rem_euclid(24.0);
        let t = d.and_time(NaiveTime::MIN) + Duration::seconds((hour * 3600.0) as i64);
        if t > from && t < to {
            return Some(t);
        }
    }
    None
}

struct OrderBuilders {
    id: Int64Builder,
    member: Int64Builder,
    at: TimestampMicrosecondBuilder,
    channel: StringBuilder,
    store: StringBuilder,
    gross: Decimal128Builder,
    discount: Decimal128Builder,
    paid: Decimal128Builder,
    coupon: StringBuilder,
    status: StringBuilder,
    i_order: Int64Builder,
    i_product: StringBuilder,
    i_qty: Int32Builder,
    i_unit: Float64Builder,
    i_line: Float64Builder,
}

impl OrderBuilders {
    fn new() -> Self {
        OrderBuilders {
            id: Int64Builder::new(),
            member: Int64Builder::new(),
            at: TimestampMicrosecondBuilder::new(),
            channel: StringBuilder::new(),
            store: StringBuilder::new(),
            gross: Decimal128Builder::new().with_data_type(money_type()),
            discount: Decimal128Builder::new().with_data_type(money_type()),
            paid: Decimal128Builder::new().with_data_type(money_type()),
            coupon: StringBuilder::new(),
            status: StringBuilder::new(),
            i_order: Int64Builder::new(),
            i_product: StringBuilder::new(),
            i_qty: Int32Builder::new(),
            i_unit: Float64Builder::new(),
            i_line: Float64Builder::new(),
        }
    }

    /// Add one order with its items; returns the paid amount in cents when it is paid.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        order_id: i64,
        member: Option<i64>,
        at: NaiveDateTime,
        persona: Persona,
        favourites: &[usize; 3],
        cat: &Catalogue,
        rng: &mut ChaCha8Rng,
    ) -> Option<i64> {
        let extra = persona.basket_extra();
        let mut size = 1;
        while rng.random::<f64>() < extra / (extra + 1.0) && size < 60 {
            size += 1;
        }
        let mut products: Vec<usize> = Vec::with_capacity(size + 2);
        for _ in 0..size {
            let category = if rng.random::<f64>() < 0.7 {
                favourites[rng.random_range(0..3)]
            } else {
                rng.random_range(0..CATEGORIES.len())
            };
            let p = cat.pick(category, rng);
            if !products.contains(&p) {
                products.push(p);
            }
        }
        let planted: Vec<usize> = products.iter().filter_map(|&p| cat.bundle_of[p]).collect();
        for b in planted {
            for &p in &cat.bundles[b][1..] {
                if rng.random::<f64>() < 0.7 && !products.contains(&p) {
                    products.push(p);
                }
            }
        }
        let mut gross_cents = 0i64;
        for &p in &products {
            let qty = match rng.random::<f64>() {
                u if u < 0.8 => 1,
                u if u < 0.95 => 2,
                _ => 3,
            };
            let unit =
                (cat.price_cents[p] as f64 * (0.9 + 0.1 * rng.random::<f64>())).round() as i64;
            let line = unit * qty as i64;
            gross_cents += line;
            self.i_order.append_value(order_id);
            self.i_product.append_value(&cat.ids[p]);
            self.i_qty.append_value(qty);
            self.i_unit.append_value(unit as f64 / 100.0);
            self.i_line.append_value(line as f64 / 100.0);
        }
        let discounted = rng.random::<f64>() < persona.discount_rate();
        let discount_cents = if discounted {
            (gross_cents as f64 * rng.random_range(0.05..0.3)).round() as i64
        } else {
            0
        };
        let channel = if member.is_none() {
            ["store", "online"][rng.random_range(0..2)]
        } else {
            persona.channel(rng.random())
        };
        let status = match rng.random::<f64>() {
            u if u < 0.94 => "paid",
            u if u < 0.98 => "refunded",
            _ => "cancelled",
        };
        self.id.append_value(order_id);
        self.member.append_option(member);
        self.at.append_value(micros(at));
        self.channel.append_value(channel);
        if channel == "store" {
            self.store
                .append_value(format!("S{:03}", rng.random_range(1..=60)));
        } else {
            self.store.append_null();
        }
        self.gross.append_value(gross_cents as i128);
        self.discount.append_value(discount_cents as i128);
        self.paid
            .append_value((gross_cents - discount_cents) as i128);
        if discounted && rng.random::<f64>() < 0.6 {
            self.coupon
                .append_value(format!("C{:04}", rng.random_range(1..=400)));
        } else {
            self.coupon.append_null();
        }
        self.status.append_value(status);
        (status == "paid").then_some(gross_cents - discount_cents)
    }

    fn finish(mut self) -> (RecordBatch, RecordBatch) {
        let orders = batch(
            vec![
                Field::new("order_id", DataType::Int64, false),
                Field::new("member_id", DataType::Int64, true),
                Field::new(
                    "ordered_at",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    false,
                ),
                Field::new("channel", DataType::Utf8, false),
                Field::new("store_id", DataType::Utf8, true),
                Field::new("gross_amount", money_type(), false),
                Field::new("discount_amount", money_type(), false),
                Field::new("paid_amount", money_type(), false),
                Field::new("coupon_id", DataType::Utf8, true),
                Field::new("status", DataType::Utf8, false),
            ],
            vec![
                Arc::new(self.id.finish()),
                Arc::new(self.member.finish()),
                Arc::new(self.at.finish()),
                Arc::new(self.channel.finish()),
                Arc::new(self.store.finish()),
                Arc::new(self.gross.finish()),
                Arc::new(self.discount.finish()),
                Arc::new(self.paid.finish()),
                Arc::new(self.coupon.finish()),
                Arc::new(self.status.finish()),
            ],
        )
        .expect("orders batch");
        let items = batch(
            vec![
                Field::new("order_id", DataType::Int64, false),
                Field::new("product_id", DataType::Utf8, false),
                Field::new("quantity", DataType::Int32, false),
                Field::new("unit_price", DataType::Float64, false),
                Field::new("line_amount", DataType::Float64, false),
            ],
            vec![
                Arc::new(self.i_order.finish()),
                Arc::new(self.i_product.finish()),
                Arc::new(self.i_qty.finish()),
                Arc::new(self.i_unit.finish()),
                Arc::new(self.i_line.finish()),
            ],
        )
        .expect("items batch");
        (orders, items)
    }
}

struct PointsBuilders {
    member: Int64Builder,
    at: TimestampMicrosecondBuilder,
    kind: StringBuilder,
    points: Int64Builder,
    expires: TimestampMicrosecondBuilder,
}

impl PointsBuilders {
    fn new() -> Self {
        PointsBuilders {
            member: Int64Builder::new(),
            at: TimestampMicrosecondBuilder::new(),
            kind: StringBuilder::new(),
            points: Int64Builder::new(),
            expires: TimestampMicrosecondBuilder::new(),
        }
    }
    fn add(
        &mut self,
        member: i64,
        at: NaiveDateTime,
        kind: &str,
        points: i64,
        expires: Option<NaiveDateTime>,
    ) {
        self.member.append_value(member);
        self.at.append_value(micros(at));
        self.kind.append_value(kind);
        self.points.append_value(points);
        self.expires.append_option(expires.map(micros));
    }
    fn finish(mut self) -> RecordBatch {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
        batch(
            vec![
                Field::new("member_id", DataType::Int64, false),
                Field::new("occurred_at", ts.clone(), false),
                Field::new("kind", DataType::Utf8, false),
                Field::new("points", DataType::Int64, false),
                Field::new("expires_at", ts, true),
            ],
            vec![
                Arc::new(self.member.finish()),
                Arc::new(self.at.finish()),
                Arc::new(self.kind.finish()),
                Arc::new(self.points.finish()),
                Arc::new(self.expires.finish()),
            ],
        )
        .expect("points batch")
    }
}

const EVENT_TYPES: [(&str, f64); 9] = [
    ("message", 0.50),
    ("like", 0.65),
    ("check_in", 0.77),
    ("share", 0.83),
    ("live_view", 0.89),
    ("question", 0.92),
    ("answer", 0.95),
    ("lottery", 0.98),
    ("leave", 1.0),
];

fn community_events(
    infos: &[MemberInfo],
    referrals: &[(i64, i64, NaiveDateTime)],
    first: usize,
    total_members: usize,
    end: NaiveDateTime,
    rng: &mut ChaCha8Rng,
) -> RecordBatch {
    let groups = (total_members / 200).max(1);
    let mut member = Int64Builder::new();
    let mut group = StringBuilder::new();
    let mut kind = StringBuilder::new();
    let mut at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let mut target = Int64Builder::new();
    let mut group_of = std::collections::HashMap::new();
    // Local wall-clock time to the UTC instant (Shanghai is UTC+8, no daylight saving).
    let utc_ms = |t: NaiveDateTime| micros(t) / 1000 - 8 * 3_600_000;
    for m in infos {
        let (p, scale) = m.persona.community();
        if rng.random::<f64>() >= p {
            continue;
        }
        // Groups are local to where members are (chunks of ids), mixed a little.
        let g = ((first / 200) + rng.random_range(0..(CHUNK / 200).max(1))) % groups;
        let gid = format!("G{:05}", g + 1);
        group_of.insert(m.id, gid.clone());
        let joined = m.joined + Duration::days(rng.random_range(0..30));
        if joined >= end {
            continue;
        }
        member.append_value(m.id);
        group.append_value(&gid);
        kind.append_value("join");
        at.append_value(utc_ms(joined));
        target.append_null();
        let activity = (1.0 - rng.random::<f64>()).powf(-1.0 / 1.3) * scale * 0.58;
        let span = (end - joined).num_seconds().max(1);
        for _ in 0..(activity.min(3000.0) as usize) {
            let u: f64 = rng.random();
            let t = EVENT_TYPES
                .iter()
                .find(|(_, p)| u < *p)
                .map_or("message", |(k, _)| k);
            member.append_value(m.id);
            group.append_value(&gid);
            kind.append_value(t);
            at.append_value(utc_ms(
                joined + Duration::seconds(rng.random_range(0..span)),
            ));
            target.append_null();
        }
    }
    for (referrer, referee, when) in referrals {
        if let Some(gid) = group_of.get(referrer) {
            member.append_value(*referrer);
            group.append_value(gid);
            kind.append_value("invite");
            at.append_value(utc_ms(*when - Duration::hours(1)));
            target.append_value(*referee);
        }
    }
    batch(
        vec![
            Field::new("member_id", DataType::Int64, false),
            Field::new("group_id", DataType::Utf8, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new(
                "occurred_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            Field::new("target_member_id", DataType::Int64, true),
        ],
        vec![
            Arc::new(member.finish()),
            Arc::new(group.finish()),
            Arc::new(kind.finish()),
            Arc::new(at.finish()),
            Arc::new(target.finish()),
        ],
    )
    .expect("events batch")
}

fn contact_history(infos: &[MemberInfo], end: NaiveDateTime, rng: &mut ChaCha8Rng) -> RecordBatch {
    let campaigns: [(&str, i64); 6] = [
        ("winback", 15),
        ("birthday", 30),
        ("new_arrivals", 45),
        ("upgrade", 60),
        ("points_reminder", 90),
        ("double11", 120),
    ];
    let channels = ["sms", "wechat", "email", "app_push"];
    let mut member = Int64Builder::new();
    let mut campaign = StringBuilder::new();
    let mut channel = StringBuilder::new();
    let mut sent = TimestampMicrosecondBuilder::new();
    let mut holdout = BooleanBuilder::new();
    let mut converted = TimestampMicrosecondBuilder::new();
    let mut revenue = Decimal128Builder::new().with_data_type(money_type());
    for (name, days_ago) in campaigns {
        let sent_at = end - Duration::days(days_ago) + Duration::hours(10);
        let label = format!("{name}_{}", sent_at.format("%Y_%m"));
        for m in infos {
            if m.joined >= sent_at || rng.random::<f64>() >= 0.05 {
                continue;
            }
            let Some(c) = (0..4).find(|&c| m.consent[c] == Some(true)) else {
                continue;
            };
            let is_holdout = rng.random::<f64>() < 0.1;
            member.append_value(m.id);
            campaign.append_value(&label);
            channel.append_value(channels[c]);
            sent.append_value(micros(sent_at));
            holdout.append_value(is_holdout);
            let p = if is_holdout { 0.05 } else { 0.09 };
            let when = sent_at + Duration::seconds(rng.random_range(0..14 * 86_400));
            if rng.random::<f64>() < p && when < end {
                converted.append_value(micros(when));
                revenue.append_value(rng.random_range(5_000..30_000));
            } else {
                converted.append_null();
                revenue.append_null();
            }
        }
    }
    let ts = DataType::Timestamp(TimeUnit::Microsecond, None);
    batch(
        vec![
            Field::new("member_id", DataType::Int64, false),
            Field::new("campaign", DataType::Utf8, false),
            Field::new("channel", DataType::Utf8, false),
            Field::new("sent_at", ts.clone(), false),
            Field::new("holdout", DataType::Boolean, false),
            Field::new("converted_at", ts, true),
            Field::new("revenue", money_type(), true),
        ],
        vec![
            Arc::new(member.finish()),
            Arc::new(campaign.finish()),
            Arc::new(channel.finish()),
            Arc::new(sent.finish()),
            Arc::new(holdout.finish()),
            Arc::new(converted.finish()),
            Arc::new(revenue.finish()),
        ],
    )
    .expect("contacts batch")
}

fn suppression_list(infos: &[MemberInfo], end: NaiveDateTime, rng: &mut ChaCha8Rng) -> RecordBatch {
    let mut member = Int64Builder::new();
    let mut reason = StringBuilder::new();
    let mut until = TimestampMicrosecondBuilder::new();
    for m in infos {
        if rng.random::<f64>() >= 0.01 {
            continue;
        }
        member.append_value(m.id);
        reason.append_value(["complaint", "unsubscribe", "legal", "staff"][rng.random_range(0..4)]);
        match rng.random::<f64>() {
            u if u < 0.6 => until.append_null(),
            u if u < 0.8 => {
                until.append_value(micros(end - Duration::days(rng.random_range(1..200))))
            }
            _ => until.append_value(micros(end + Duration::days(rng.random_range(1..200)))),
        }
    }
    batch(
        vec![
            Field::new("member_id", DataType::Int64, false),
            Field::new("reason", DataType::Utf8, false),
            Field::new(
                "until",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                true,
            ),
        ],
        vec![
            Arc::new(member.finish()),
            Arc::new(reason.finish()),
            Arc::new(until.finish()),
        ],
    )
    .expect("suppression batch")
}
