//! The product catalogue: categories, Zipf popularity, planted bundles, and the
//! products table.

use std::path::Path;

use chrono::{Duration, NaiveTime};
use datafusion::arrow::array::{
    BooleanBuilder, Decimal128Builder, StringBuilder, TimestampMillisecondBuilder,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{
    GenerateParams, HISTORY_DAYS, batch, column, micros, money_type, product_count, write_part,
};
use crate::error::Result;

/// A product category: name, typical price in yuan, whether its products are
/// consumable (replenished), and the brands and nouns product names are made of.
pub(super) struct Category(
    &'static str,
    f64,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

pub(super) const CATEGORIES: [Category; 12] = [
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

/// Products in the catalogue, shared read-only by all chunks.
pub(super) struct Catalogue {
    pub(super) ids: Vec<String>,
    category: Vec<usize>,
    pub(super) price_cents: Vec<i64>,
    /// Per category: product indices by popularity, and their cumulative Zipf weights.
    by_category: Vec<(Vec<usize>, Vec<f64>)>,
    /// Bundle companions by product index.
    pub(super) bundle_of: Vec<Option<usize>>,
    pub(super) bundles: Vec<Vec<usize>>,
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

pub(super) fn product_id(i: usize) -> String {
    format!("P{:06}", i + 1)
}

/// Ten bundles among the popular products: product k of category c is index
/// `k * 12 + c` (products are dealt round-robin to categories, most popular first).
pub(super) fn bundle_indices(n: usize) -> Vec<Vec<usize>> {
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
    pub(super) fn new(n: usize, rng: &mut ChaCha8Rng) -> Catalogue {
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

    pub(super) fn pick(&self, category: usize, rng: &mut ChaCha8Rng) -> usize {
        let (list, cum) = &self.by_category[category];
        let u = rng.random::<f64>() * cum.last().copied().unwrap_or(1.0);
        let k = cum.partition_point(|&c| c < u).min(list.len() - 1);
        list[k]
    }
}

pub(super) fn write_products(
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
    let b = batch(vec![
        column("product_id", false, id.finish()),
        column("name", false, name.finish()),
        column("category", false, category.finish()),
        column("subcategory", true, sub.finish()),
        column("brand", true, brand.finish()),
        column("list_price", false, price.finish()),
        column("launched_at", true, launched.finish()),
        column("is_consumable", true, consumable.finish()),
    ])?;
    write_part(dir, 0, &b)?;
    Ok(n as u64)
}
