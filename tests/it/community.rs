//! Community groups (社群) for their owners (群主): group_members, group_actions,
//! group_health's buyer_share / growth / quiet_share / health_rank, referral_rewards and
//! kpis' referral_k_factor — each against a fixture computed by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::*;

const AS_OF: &str = "2026-07-01";

type Rows = Vec<BTreeMap<String, String>>;

/// Run the nightly job on `dir` and return the published run's directory.
fn run(dir: &Path, params: &[&str]) -> PathBuf {
    run_nightly_table(dir, AS_OF, "member_tags", params);
    dir.join(format!("out/nightly/as_of={AS_OF}"))
}

fn table(out: &Path, name: &str) -> Rows {
    text_rows(&out.join(format!("{name}.parquet")))
}

/// The named columns of every row, in the table's (key) order.
fn pick(rows: &Rows, cols: &[&str]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| cols.iter().map(|c| r[*c].clone()).collect())
        .collect()
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Roles per group, as of 2026-07-01 (window: 2026-04-02 to 2026-06-30), with
/// community_top_per_group = 1, community_organisers_per_group = 2 and
/// community_fan_share = 0.25:
///
/// - G1: members 1–5 and 6. 6 posted 10 messages (the most) and then left: marked
///   (is_member false, role none, left_at), not counted — the group has 5 members, and
///   1 (5 messages) is its top, 2 (3) organiser, 3 (2) the one fan (round(5 × 0.25) =
///   1 rank beyond the organisers), 4 (1) and 5 (only joined) base.
/// - G2: members 7 (4 messages, top), 8 (2, organiser), 1 (posted only before the
///   window: base), 9 (joined, left, joined again: still in, joined_at is the first
///   join; no messages: base). Member 1 is top in G1 and base in G2: community_role is
///   the best, top.
#[test]
fn group_members_rank_each_group_and_mark_leavers() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=9).map(member).collect();
    write_export(dir.path(), &members, &[]);
    let joined = "2026-01-10 10:00:00";
    let mut events = Vec::new();
    for m in [1, 2, 3, 4, 6] {
        events.push((m, "G1", "join", joined, None));
    }
    events.push((5, "G1", "join", "2026-06-28 10:00:00", None));
    for (m, messages, at) in [
        (1, 5, "2026-06-01 10:00:00"),
        (2, 3, "2026-06-01 10:00:00"),
        (3, 2, "2026-06-01 10:00:00"),
        (4, 1, "2026-06-01 10:00:00"),
        (6, 10, "2026-05-01 10:00:00"),
    ] {
        for _ in 0..messages {
            events.push((m, "G1", "message", at, None));
        }
    }
    events.push((6, "G1", "leave", "2026-06-10 10:00:00", None));
    events.push((7, "G2", "join", joined, None));
    events.push((8, "G2", "join", joined, None));
    events.push((1, "G2", "join", "2026-02-01 10:00:00", None));
    events.push((1, "G2", "message", "2026-02-05 10:00:00", None));
    events.push((9, "G2", "join", joined, None));
    events.push((9, "G2", "leave", "2026-03-01 10:00:00", None));
    events.push((9, "G2", "join", "2026-05-01 10:00:00", None));
    for _ in 0..4 {
        events.push((7, "G2", "message", "2026-06-02 10:00:00", None));
    }
    for _ in 0..2 {
        events.push((8, "G2", "message", "2026-06-02 10:00:00", None));
    }
    write_events(dir.path(), &events);
    let out = run(
        dir.path(),
        &[
            "community_top_per_group=1",
            "community_organisers_per_group=2",
            "community_fan_share=0.25",
        ],
    );
    let rows = table(&out, "group_members");
    let cols = [
        "group_id",
        "member_id",
        "role",
        "group_rank",
        "group_size",
        "is_member",
        "joined_at",
        "left_at",
        "last_activity_at",
        "interactions",
        "interactions_previous",
    ];
    let (j, june1, june2) = (
        "2026-01-10T10:00:00",
        "2026-06-01T10:00:00",
        "2026-06-02T10:00:00",
    );
    #[rustfmt::skip]
    let expected = strings(&[
        &["G1", "1", "top", "1", "5", "true", j, "null", june1, "5", "0"],
        &["G1", "2", "organiser", "2", "5", "true", j, "null", june1, "3", "0"],
        &["G1", "3", "fan", "3", "5", "true", j, "null", june1, "2", "0"],
        &["G1", "4", "base", "4", "5", "true", j, "null", june1, "1", "0"],
        &["G1", "5", "base", "5", "5", "true", "2026-06-28T10:00:00", "null", "null", "0", "0"],
        &["G1", "6", "none", "null", "5", "false", j, "2026-06-10T10:00:00", "2026-05-01T10:00:00", "10", "0"],
        &["G2", "1", "base", "3", "4", "true", "2026-02-01T10:00:00", "null", "2026-02-05T10:00:00", "0", "1"],
        &["G2", "7", "top", "1", "4", "true", j, "null", june2, "4", "0"],
        &["G2", "8", "organiser", "2", "4", "true", j, "null", june2, "2", "0"],
        &["G2", "9", "base", "4", "4", "true", j, "null", "null", "0", "0"],
    ]);
    assert_eq!(pick(&rows, &cols), expected);
    assert!(rows.iter().all(|r| r["as_of"] == AS_OF));
    let tags = text_rows(&out.join("member_tags.parquet"));
    let role: BTreeMap<String, String> = tags
        .iter()
        .map(|r| (r["member_id"].clone(), r["community_role"].clone()))
        .collect();
    assert_eq!(role["1"], "top", "top in G1, base in G2: the best");
    assert_eq!(role["3"], "fan");
    assert_eq!(role["6"], "none", "left its only group");
    assert_eq!(role["8"], "organiser");
    assert_eq!(role["9"], "base");
}

/// Tonight's actions, as of 2026-07-01 with the default params (welcome: joined on or
/// after 2026-06-24; window 2026-04-02 … 2026-06-30, the one before 2026-01-03 …
/// 2026-04-01; revive from 5 interactions; top 2 per group). G1:
///
/// - 1: 8 messages at 20:15, 2: 6 at 20:30 (the top two: thank), 11: 5 at 00:00 on
///   2026-04-02 (the window's first instant: active, not revived), 3 and 8: 1 at 09:00;
///   8 also posted 6 in the previous window (active now: not revived);
/// - 6: 5 messages on 2026-03-01 and 10: 5 at 23:00 on 2026-04-01 (the previous
///   window's last hour), nothing since: revive; 7 posted only 4 then, 9 posted 5 in
///   December (before the previous window): neither;
/// - 4 joined 2026-06-26 and 13 at 00:00 on 2026-06-24: welcome; 12 joined a minute
///   before 2026-06-24 and 5 joined on 2026-06-28 but left: neither;
/// - hours: 14 of the window's 21 interactions at 20h (joins and leaves do not count).
///
/// G2: 20 posts twice at 15:00, 21 twice at 08:00: both top, and the busiest hour is a
/// tie that goes to the earlier, 8.
#[test]
fn group_actions_welcome_revive_thank_and_the_hour_to_post() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=21).map(member).collect();
    write_export(dir.path(), &members, &[]);
    let mut events = Vec::new();
    let mut post = |m: i64, g: &'static str, n: usize, at: &'static str| {
        for _ in 0..n {
            events.push((m, g, "message", at, None));
        }
    };
    post(1, "G1", 8, "2026-06-20 20:15:00");
    post(2, "G1", 6, "2026-06-21 20:30:00");
    post(11, "G1", 5, "2026-04-02 00:00:00");
    post(3, "G1", 1, "2026-06-22 09:00:00");
    post(8, "G1", 1, "2026-06-22 09:10:00");
    post(8, "G1", 6, "2026-03-01 10:00:00");
    post(6, "G1", 5, "2026-03-01 10:00:00");
    post(10, "G1", 5, "2026-04-01 23:00:00");
    post(7, "G1", 4, "2026-03-01 10:00:00");
    post(9, "G1", 5, "2025-12-01 10:00:00");
    post(20, "G2", 2, "2026-06-10 15:00:00");
    post(21, "G2", 2, "2026-06-11 08:00:00");
    events.push((6, "G1", "join", "2026-01-05 10:00:00", None));
    events.push((4, "G1", "join", "2026-06-26 20:00:00", None));
    events.push((13, "G1", "join", "2026-06-24 00:00:00", None));
    events.push((12, "G1", "join", "2026-06-23 23:59:00", None));
    events.push((5, "G1", "join", "2026-06-28 20:00:00", None));
    events.push((5, "G1", "leave", "2026-06-29 20:00:00", None));
    write_events(dir.path(), &events);
    let out = run(dir.path(), &[]);
    let rows = table(&out, "group_actions");
    let thank = |rank: &str, of: &str, n: &str| {
        format!(
            "top contributor: rank {rank} of {of} members with {n} interactions in the last 90 days"
        )
    };
    let revive = |last: &str| {
        format!("no interaction in the last 90 days; 5 in the 90 days before; last on {last}")
    };
    let expected: Vec<Vec<String>> = vec![
        vec![
            "G1".into(),
            "post_hour".into(),
            "null".into(),
            "20".into(),
            "14 of 21 interactions in the last 90 days were at 20:00–20:59".into(),
        ],
        vec![
            "G1".into(),
            "revive".into(),
            "10".into(),
            "null".into(),
            revive("2026-04-01"),
        ],
        vec![
            "G1".into(),
            "revive".into(),
            "6".into(),
            "null".into(),
            revive("2026-03-01"),
        ],
        vec![
            "G1".into(),
            "thank".into(),
            "1".into(),
            "null".into(),
            thank("1", "12", "8"),
        ],
        vec![
            "G1".into(),
            "thank".into(),
            "2".into(),
            "null".into(),
            thank("2", "12", "6"),
        ],
        vec![
            "G1".into(),
            "welcome".into(),
            "13".into(),
            "null".into(),
            "joined 2026-06-24 (7 days ago); 0 interactions in the last 90 days".into(),
        ],
        vec![
            "G1".into(),
            "welcome".into(),
            "4".into(),
            "null".into(),
            "joined 2026-06-26 (5 days ago); 0 interactions in the last 90 days".into(),
        ],
        vec![
            "G2".into(),
            "post_hour".into(),
            "null".into(),
            "8".into(),
            "2 of 4 interactions in the last 90 days were at 08:00–08:59".into(),
        ],
        vec![
            "G2".into(),
            "thank".into(),
            "20".into(),
            "null".into(),
            thank("1", "2", "2"),
        ],
        vec![
            "G2".into(),
            "thank".into(),
            "21".into(),
            "null".into(),
            thank("2", "2", "2"),
        ],
    ];
    assert_eq!(
        pick(&rows, &["group_id", "action", "member_id", "hour", "why"]),
        expected
    );
    // A bigger threshold: 5 interactions before are no longer enough.
    let out = run(dir.path(), &["group_revive_min_interactions=6"]);
    let rows = table(&out, "group_actions");
    assert!(rows.iter().all(|r| r["action"] != "revive"), "{rows:?}");
}

/// group_health's new columns, as of 2026-07-01. G1: 1, 2, 3 join in May; 4 and 5 join
/// in June, 3 and 5 leave in June; in June 1 posts a message and a share, 4 a message.
/// G2: 7 joins in June and posts a message and a share. G3: 8 joins in May only.
/// Paid orders: 3 in May; 1 (100) and 2 (50) in June; 7 (200) in June; 6 (in no group)
/// in June.
///
/// - G1 May: members 3 (1–3), none active, 3 bought: buyer_share 1/3, growth 3 − 0,
///   quiet_share 3/3; G3 May: 1 member, no buyer, growth 1, quiet 1. Both cv 0: the tie
///   goes to the group_id, G1 1 and G3 2.
/// - G1 June: members 5 (1–5; the `members` base counts leavers), n 2 (1 and 4), buyers
///   1 and 2: 2/5; growth 2 joins − 2 leaves = 0; quiet (5 − 2)/5. G2 June: 1 member,
///   active, a buyer: 1.0, growth 1, quiet 0.
/// - June cv (means n 1.5, f 1.75, e 0.75, v 150): G1 (2/1.5)(1.5/1.75)(0.5/0.75)
///   (100/150) = 0.5079, G2 (1/1.5)(2/1.75)(1/0.75)(200/150) = 1.3545: G2 ranks 1.
#[test]
fn group_health_buyer_share_growth_quiet_share_and_rank() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=8).map(member).collect();
    write_export(
        dir.path(),
        &members,
        &[
            paid(3, "2026-05-20 10:00:00", 30.0),
            paid(1, "2026-06-05 10:00:00", 100.0),
            paid(2, "2026-06-06 10:00:00", 50.0),
            paid(7, "2026-06-07 10:00:00", 200.0),
            paid(6, "2026-06-08 10:00:00", 30.0),
        ],
    );
    let may = "2026-05-01 10:00:00";
    let june = "2026-06-10 10:00:00";
    write_events(
        dir.path(),
        &[
            (1, "G1", "join", may, None),
            (2, "G1", "join", may, None),
            (3, "G1", "join", may, None),
            (8, "G3", "join", "2026-05-10 10:00:00", None),
            (4, "G1", "join", "2026-06-05 10:00:00", None),
            (5, "G1", "join", "2026-06-06 10:00:00", None),
            (3, "G1", "leave", "2026-06-15 10:00:00", None),
            (5, "G1", "leave", "2026-06-20 10:00:00", None),
            (1, "G1", "message", june, None),
            (1, "G1", "share", june, None),
            (4, "G1", "message", june, None),
            (7, "G2", "join", "2026-06-01 10:00:00", None),
            (7, "G2", "message", june, None),
            (7, "G2", "share", june, None),
        ],
    );
    let out = run(dir.path(), &[]);
    let rows = table(&out, "group_health");
    let cols = [
        "group_id",
        "period",
        "members",
        "n",
        "cv",
        "buyer_share",
        "growth",
        "quiet_share",
        "health_rank",
    ];
    #[rustfmt::skip]
    let expected = strings(&[
        &["G1", "2026-05-01", "3", "0", "0.0", "0.3333", "3", "1.0", "1"],
        &["G1", "2026-06-01", "5", "2", "0.5079", "0.4", "0", "0.6", "2"],
        &["G2", "2026-06-01", "1", "1", "1.3545", "1.0", "1", "0.0", "1"],
        &["G3", "2026-05-01", "1", "0", "0.0", "0.0", "1", "1.0", "2"],
    ]);
    assert_eq!(pick(&rows, &cols), expected);
}

/// Referral rewards (裂变), as of 2026-07-01 (conversion within 90 days):
///
/// - 1 invites 2 (2 buys ten days later): eligible;
/// - 1 invites itself (and buys later): a self-invite, no row;
/// - 1 invites 3, who had bought before: no row;
/// - 4 invites 5, then 1 invites 5 (5 buys after both): 5 is 4's, once; 1 gets nothing;
/// - 7 invites 8, 8 invites 7 the next day, both buy after: a cycle, neither eligible;
/// - 2 invites 9 (9 buys): eligible — 2 was won by 1, not by 9; 9's later invite of 2
///   does not convert (2 was 1's), so this is no cycle.
///
/// kpis' referral_k_factor (converted invites by invite month ÷ members who sent an
/// invite to someone else that month): January: 4, 13 and 14 invite, 1 converts (5):
/// 0.3333; February: 1 and 10 invite (12 only invites itself), 1 converts (2): 0.5;
/// March: 7, 8, 2 and 9 invite, 3 convert (8, 7, 9): 0.75; no invites: null.
#[test]
fn referral_rewards_once_per_invitee_never_self_or_cycle_and_k_factor() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<Member> = (1..=16).map(member).collect();
    write_export(
        dir.path(),
        &members,
        &[
            paid(2, "2026-02-11 10:00:00", 10.0),
            paid(1, "2026-02-25 10:00:00", 10.0),
            paid(3, "2026-01-05 10:00:00", 10.0),
            paid(3, "2026-02-20 10:00:00", 10.0),
            paid(5, "2026-02-15 10:00:00", 10.0),
            paid(7, "2026-03-10 10:00:00", 10.0),
            paid(8, "2026-03-12 10:00:00", 10.0),
            paid(9, "2026-03-05 10:00:00", 10.0),
            paid(12, "2026-02-20 10:00:00", 10.0),
        ],
    );
    write_events(
        dir.path(),
        &[
            (1, "G1", "invite", "2026-02-01 10:00:00", Some(2)),
            (1, "G1", "invite", "2026-02-01 10:00:00", Some(1)),
            (1, "G1", "invite", "2026-02-01 10:00:00", Some(3)),
            (4, "G2", "invite", "2026-01-20 10:00:00", Some(5)),
            (1, "G1", "invite", "2026-02-02 10:00:00", Some(5)),
            (7, "G1", "invite", "2026-03-01 10:00:00", Some(8)),
            (8, "G1", "invite", "2026-03-02 10:00:00", Some(7)),
            (2, "G1", "invite", "2026-03-01 10:00:00", Some(9)),
            (9, "G1", "invite", "2026-03-06 10:00:00", Some(2)),
            (13, "G2", "invite", "2026-01-21 10:00:00", Some(15)),
            (14, "G2", "invite", "2026-01-22 10:00:00", Some(16)),
            (10, "G2", "invite", "2026-02-10 10:00:00", Some(11)),
            (12, "G2", "invite", "2026-02-10 10:00:00", Some(12)),
        ],
    );
    let out = run(dir.path(), &[]);
    let rows = table(&out, "referral_rewards");
    let cols = [
        "invitee_id",
        "inviter_id",
        "group_id",
        "invited_at",
        "first_order_at",
        "eligible",
        "reason",
    ];
    #[rustfmt::skip]
    let expected = strings(&[
        &["2", "1", "G1", "2026-02-01T10:00:00", "2026-02-11T10:00:00", "true", "null"],
        &["5", "4", "G2", "2026-01-20T10:00:00", "2026-02-15T10:00:00", "true", "null"],
        &["7", "8", "G1", "2026-03-02T10:00:00", "2026-03-10T10:00:00", "false",
          "cycle: the inviter was converted by this invitee's invite of 2026-03-01"],
        &["8", "7", "G1", "2026-03-01T10:00:00", "2026-03-12T10:00:00", "false",
          "cycle: the inviter was converted by this invitee's invite of 2026-03-02"],
        &["9", "2", "G1", "2026-03-01T10:00:00", "2026-03-05T10:00:00", "true", "null"],
    ]);
    assert_eq!(pick(&rows, &cols), expected);
    let kpis: BTreeMap<String, String> = table(&out, "kpis")
        .into_iter()
        .map(|r| (r["period"].clone(), r["referral_k_factor"].clone()))
        .collect();
    assert_eq!(
        [
            "2025-12-01",
            "2026-01-01",
            "2026-02-01",
            "2026-03-01",
            "2026-04-01"
        ]
        .map(|p| kpis[p].as_str()),
        ["null", "0.3333", "0.5", "0.75", "null"]
    );
}
