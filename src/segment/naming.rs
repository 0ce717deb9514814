//! Readable segment names from the most distinctive features of a centroid.

/// (high zh, high en, low zh, low en) for the features the nightly job clusters on.
fn words(feature: &str) -> (String, String, String, String) {
    let w = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());
    match feature {
        "recency_days" => w("久未购买", "lapsed", "近期购买", "recent"),
        "frequency" => w("高频", "frequent", "低频", "infrequent"),
        "orders_all_time" => w("多单", "many orders", "少单", "few orders"),
        "monetary_avg" | "aov" => w("高客单", "high ticket", "低客单", "low ticket"),
        "total_spend_365d" => w("高消费", "high spend", "低消费", "low spend"),
        "price_sensitivity" => w("价格敏感", "deal-seeking", "不看折扣", "full-price"),
        "community_interactions" => w(
            "社群活跃",
            "community-active",
            "社群沉默",
            "community-quiet",
        ),
        "tenure_days" => w("老会员", "long-standing", "新会员", "new"),
        "points_balance" => w("积分多", "points-rich", "积分少", "few points"),
        "refund_rate" => w("退款多", "refund-prone", "少退款", "rarely refunds"),
        other => (
            format!("高{other}"),
            format!("high {other}"),
            format!("低{other}"),
            format!("low {other}"),
        ),
    }
}

/// |z| from which a feature is distinctive enough to name a segment.
pub const DISTINCTIVE: f64 = 0.5;

/// "高消费·高频·社群活跃 / high spend · frequent · community-active": up to three
/// features whose centroid z-score is furthest from 0 (at least [`DISTINCTIVE`]), ties by
/// feature name; "大众 / average" when none is.
pub fn name(features: &[String], z: &[f64]) -> String {
    let mut idx: Vec<usize> = (0..features.len())
        .filter(|&i| z[i].abs() >= DISTINCTIVE)
        .collect();
    idx.sort_by(|&a, &b| {
        z[b].abs()
            .total_cmp(&z[a].abs())
            .then_with(|| features[a].cmp(&features[b]))
    });
    idx.truncate(3);
    if idx.is_empty() {
        return "大众 / average".into();
    }
    let (mut zh, mut en) = (Vec::new(), Vec::new());
    for i in idx {
        let (hz, he, lz, le) = words(&features[i]);
        if z[i] > 0.0 {
            zh.push(hz);
            en.push(he);
        } else {
            zh.push(lz);
            en.push(le);
        }
    }
    format!("{} / {}", zh.join("·"), en.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_most_distinctive_features() {
        let f: Vec<String> = [
            "recency_days",
            "frequency",
            "total_spend_365d",
            "community_interactions",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            name(&f, &[-0.6, 1.2, 2.0, 0.9]),
            "高消费·高频·社群活跃 / high spend · frequent · community-active"
        );
        assert_eq!(name(&f, &[1.5, -0.2, 0.1, 0.0]), "久未购买 / lapsed");
        assert_eq!(name(&f, &[0.1, -0.2, 0.1, 0.0]), "大众 / average");
        assert_eq!(
            name(&["basket_size".to_string()], &[-3.0]),
            "低basket_size / low basket_size"
        );
    }
}
