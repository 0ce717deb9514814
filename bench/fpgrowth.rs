//! The itemset miner alone, in process, many times: the millisecond cases of
//! `rules_vs_pyfim.py` are too short to judge from one process start each.
//!
//!     cargo bench --bench fpgrowth -- FILE.csv SUPPORT... [--runs N]
//!
//! FILE.csv holds one basket per line, items separated by commas (the format of
//! Groceries). Prints, per support, the median and minimum time of `mine_weighted` over
//! N runs (default 21) and the itemset count.

use std::collections::HashMap;
use std::time::Instant;

use siyu::rules::fpgrowth::{Baskets, MineParams, min_count_for, mine_weighted};

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut runs = 21;
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args[i + 1].parse().expect("--runs N");
        args.drain(i..i + 2);
    }
    let (path, supports) = args.split_first().expect("usage: FILE.csv SUPPORT...");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut codes: HashMap<&str, u32> = HashMap::new();
    let mut weighted = Baskets::new();
    let mut basket = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        basket.clear();
        basket.extend(line.split(',').map(|item| {
            let n = codes.len() as u32;
            *codes.entry(item).or_insert(n)
        }));
        weighted.push(&basket, 1);
    }
    let baskets = weighted.total_weight();
    println!(
        "{path}: {baskets} baskets, {} items, {runs} runs",
        codes.len()
    );
    for support in supports {
        let support: f64 = support.parse().expect("SUPPORT is a fraction");
        let params = MineParams {
            min_count: min_count_for(support, baskets),
            max_len: None,
        };
        let mut times = Vec::with_capacity(runs);
        let mut count = 0;
        for _ in 0..runs {
            let baskets = weighted.clone();
            let started = Instant::now();
            count = mine_weighted(baskets, codes.len(), params).len();
            times.push(started.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "support {support:<8} itemsets {count:>7}  median {:>9.3} ms  min {:>9.3} ms",
            times[runs / 2] * 1e3,
            times[0] * 1e3
        );
    }
}
