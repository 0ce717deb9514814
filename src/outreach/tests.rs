use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A member with consent to sms, wechat, email, app_push (no guide, so no WeCom).
fn member(consent: [bool; 4]) -> Member {
    let mut all = [false; CHANNELS];
    all[..4].copy_from_slice(&consent);
    Member {
        consent: all,
        ..Member::default()
    }
}

const ALL_CONSENT: [bool; 4] = [true; 4];

fn campaign(name: &str, priority: i64, budget: Option<usize>) -> CampaignPolicy {
    CampaignPolicy {
        name: name.into(),
        channels: vec![Channel::Wechat, Channel::AppPush, Channel::Sms],
        priority,
        budget,
        holdout_share: 0.0,
        exclusive: true,
    }
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i:05}")).collect()
}

fn policy(max_contacts: u32) -> Policy {
    Policy {
        max_contacts,
        channel_caps: [None; CHANNELS],
        guide_capacity: None,
        salt: "test-salt".into(),
    }
}

/// `policy(max_contacts)` with per-channel caps.
fn capped(max_contacts: u32, caps: &[(Channel, u32)]) -> Policy {
    let mut p = policy(max_contacts);
    for &(ch, cap) in caps {
        p.channel_caps[ch.index()] = Some(cap);
    }
    p
}

/// Every eligible pair ends in exactly one count.
fn adds_up(f: &Funnel) -> bool {
    f.eligible
        == f.removed_no_consent
            + f.removed_suppressed
            + f.removed_fatigue
            + f.removed_frequency_cap
            + f.removed_channel_cap
            + f.removed_guide_capacity
            + f.removed_priority
            + f.removed_budget
            + f.selected
}

fn cands(pairs: &[(usize, f64)]) -> Vec<Candidate> {
    pairs
        .iter()
        .map(|&(member, score)| Candidate { member, score })
        .collect()
}

/// (campaign, member) of every pick, sorted.
fn chosen(picks: &[Pick]) -> Vec<(usize, usize)> {
    let mut v: Vec<_> = picks.iter().map(|p| (p.campaign, p.member)).collect();
    v.sort();
    v
}

#[test]
fn holdout_share_is_within_a_point_on_100k_members_and_stable() {
    let ids = ids(100_000);
    for share in [0.05, 0.1, 0.2, 0.5] {
        let n = ids
            .iter()
            .filter(|id| is_holdout("salt", "winback", id, share))
            .count();
        let got = n as f64 / ids.len() as f64;
        assert!((got - share).abs() < 0.01, "share {share}: got {got}");
    }
    // The same member, campaign and salt: the same group, every time.
    let a: Vec<bool> = ids
        .iter()
        .map(|id| is_holdout("salt", "winback", id, 0.1))
        .collect();
    let b: Vec<bool> = ids
        .iter()
        .map(|id| is_holdout("salt", "winback", id, 0.1))
        .collect();
    assert_eq!(a, b);
    // Another campaign draws independently: about share² of members are in both groups.
    let both = ids
        .iter()
        .filter(|id| {
            is_holdout("salt", "winback", id, 0.1) && is_holdout("salt", "greeting", id, 0.1)
        })
        .count() as f64
        / ids.len() as f64;
    assert!((both - 0.01).abs() < 0.003, "overlap {both}");
    assert!(!is_holdout("salt", "winback", "m00001", 0.0));
    // The draw is pinned: a change of hash would reshuffle every running campaign's groups.
    let d = holdout_draw("siyu", "winback", "1000000");
    assert!((0.0..1.0).contains(&d));
    assert_eq!(d, holdout_draw("siyu", "winback", "1000000"));
    assert_ne!(d, holdout_draw("siyu", "winback", "1000001"));
}

#[test]
fn channel_is_the_first_consented_in_campaign_order_and_no_consent_means_no_row() {
    // consent order: sms, wechat, email, app_push
    let members = vec![
        member([true, true, false, false]),   // wechat
        member([true, false, false, true]),   // app_push
        member([true, false, false, false]),  // sms
        member([false, false, true, false]),  // email only: not in the campaign's channels
        member([false, false, false, false]), // nothing
    ];
    let c = vec![campaign("a", 1, None)];
    let cand = vec![cands(&[(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)])];
    let (picks, funnels) = select(&policy(9), &members, &ids(5), &c, &cand);
    let channels: Vec<_> = picks.iter().map(|p| (p.member, p.channel)).collect();
    assert_eq!(
        channels,
        vec![
            (0, Channel::Wechat),
            (1, Channel::AppPush),
            (2, Channel::Sms)
        ]
    );
    assert_eq!(funnels[0].removed_no_consent, 2);
    assert_eq!(funnels[0].selected, 3);
}

#[test]
fn suppressed_and_capped_members_are_removed_in_policy_order() {
    let mut members = vec![member(ALL_CONSENT); 5];
    members[0].suppressed = true;
    members[0].recent_contacts = 9; // counted once, as suppressed (the earlier step)
    members[1].recent_contacts = 2;
    members[2].in_quiet_period = true;
    members[3].recent_contacts = 1;
    members[4].consent = [false; CHANNELS];
    members[4].suppressed = true; // counted as no consent (the earlier step)
    let c = vec![campaign("a", 1, None)];
    let cand = vec![cands(&[(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)])];
    let (picks, funnels) = select(&policy(2), &members, &ids(5), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 3)]);
    assert_eq!(
        funnels[0],
        Funnel {
            eligible: 5,
            removed_no_consent: 1,
            removed_suppressed: 1,
            removed_frequency_cap: 2,
            selected: 1,
            ..Funnel::default()
        }
    );
}

#[test]
fn priority_then_budget_picks_the_right_members() {
    // A (priority 10, budget 2) takes its two best: m0, m1. m2 and m3 lose A to the
    // budget and fall to B (priority 5, budget 2), which prefers them to m4. m0 is also
    // wanted by B but is A's.
    let members = vec![member(ALL_CONSENT); 5];
    let c = vec![campaign("a", 10, Some(2)), campaign("b", 5, Some(2))];
    let cand = vec![
        cands(&[(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.1)]),
        cands(&[(0, 0.5), (2, 0.6), (3, 0.4), (4, 0.3)]),
    ];
    let (picks, funnels) = select(&policy(9), &members, &ids(5), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 0), (0, 1), (1, 2), (1, 3)]);
    let ranks: Vec<_> = picks
        .iter()
        .map(|p| (p.campaign, p.member, p.rank))
        .collect();
    assert_eq!(ranks, vec![(0, 0, 1), (0, 1, 2), (1, 2, 1), (1, 3, 2)]);
    assert_eq!(
        funnels[0],
        Funnel {
            eligible: 4,
            removed_budget: 2,
            selected: 2,
            ..Funnel::default()
        }
    );
    assert_eq!(
        funnels[1],
        Funnel {
            eligible: 4,
            removed_priority: 1,
            removed_budget: 1,
            selected: 2,
            ..Funnel::default()
        }
    );
}

#[test]
fn equal_priority_goes_to_the_higher_score_then_the_first_declared_campaign() {
    let members = vec![member(ALL_CONSENT); 2];
    let c = vec![campaign("a", 5, None), campaign("b", 5, None)];
    let cand = vec![cands(&[(0, 0.3), (1, 0.5)]), cands(&[(0, 0.7), (1, 0.5)])];
    let (picks, funnels) = select(&policy(9), &members, &ids(2), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 1), (1, 0)]);
    assert_eq!(funnels[0].removed_priority, 1);
    assert_eq!(funnels[1].removed_priority, 1);
}

#[test]
fn campaigns_allowed_alongside_others_respect_the_frequency_cap() {
    let mut members = vec![member(ALL_CONSENT); 3];
    members[1].recent_contacts = 1;
    members[2].recent_contacts = 2;
    let mut extra = campaign("extra", 1, Some(5));
    extra.exclusive = false;
    let c = vec![campaign("main", 9, None), extra];
    let cand = vec![
        cands(&[(0, 1.0), (1, 1.0)]),
        cands(&[(0, 1.0), (1, 1.0), (2, 1.0)]),
    ];
    // Cap 2: m0 gets both (0 before + 2); m1 has 1 before + main = 2, so no extra; m2
    // is at the cap already.
    let (picks, funnels) = select(&policy(2), &members, &ids(3), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 0), (0, 1), (1, 0)]);
    assert_eq!(funnels[1].removed_frequency_cap, 2);
    assert_eq!(funnels[1].selected, 1);
}

#[test]
fn holdout_members_stay_on_the_list_and_count_in_the_funnel() {
    let n = 2000;
    let members = vec![member(ALL_CONSENT); n];
    let mut c = campaign("winback", 1, None);
    c.holdout_share = 0.2;
    let cand = vec![
        (0..n)
            .map(|m| Candidate {
                member: m,
                score: 1.0,
            })
            .collect(),
    ];
    let ids = ids(n);
    let (picks, funnels) = select(&policy(9), &members, &ids, &[c], &cand);
    assert_eq!(picks.len(), n);
    let held = picks.iter().filter(|p| p.holdout).count();
    assert_eq!(funnels[0].holdout, held as u64);
    for p in &picks {
        assert_eq!(
            p.holdout,
            is_holdout("test-salt", "winback", &ids[p.member], 0.2)
        );
    }
    assert!((held as f64 / n as f64 - 0.2).abs() < 0.03);
}

#[test]
fn send_hour_moves_the_peak_hour_into_the_send_window() {
    assert_eq!(send_hour(Some(8), [10, 21]), 10);
    assert_eq!(send_hour(Some(14), [10, 21]), 14);
    assert_eq!(send_hour(Some(23), [10, 21]), 20);
    assert_eq!(send_hour(None, [10, 21]), 10);
    assert_eq!(send_hour(Some(99), [9, 12]), 9);
}

/// A random instance: members with random consent, history and fatigue, campaigns with
/// random priorities and budgets, each wanting a random subset of members.
fn random_instance(
    rng: &mut ChaCha8Rng,
    n_members: usize,
    n_campaigns: usize,
) -> (Vec<Member>, Vec<CampaignPolicy>, Vec<Vec<Candidate>>) {
    let members: Vec<Member> = (0..n_members)
        .map(|_| {
            // Each recent contact went out on one channel.
            let recent_contacts = rng.random_range(0..3);
            let mut recent_by_channel = [0; CHANNELS];
            for _ in 0..recent_contacts {
                recent_by_channel[rng.random_range(0..4)] += 1;
            }
            Member {
                consent: [
                    rng.random_bool(0.7),
                    rng.random_bool(0.5),
                    rng.random_bool(0.3),
                    rng.random_bool(0.5),
                    false,
                ],
                guide: None,
                suppressed: rng.random_bool(0.1),
                recent_contacts,
                recent_by_channel,
                in_quiet_period: rng.random_bool(0.1),
                fatigued: rng.random_bool(0.1),
            }
        })
        .collect();
    let campaigns: Vec<CampaignPolicy> = (0..n_campaigns)
        .map(|c| CampaignPolicy {
            name: format!("c{c}"),
            channels: vec![Channel::ALL[rng.random_range(0..4)], Channel::Sms],
            priority: rng.random_range(0..3),
            budget: {
                let limited = rng.random_bool(0.8);
                let n = rng.random_range(0..4);
                limited.then_some(n)
            },
            holdout_share: 0.1,
            exclusive: true,
        })
        .collect();
    let mut candidates = vec![Vec::new(); n_campaigns];
    for list in candidates.iter_mut() {
        for m in 0..n_members {
            if rng.random_bool(0.6) {
                // Few distinct scores, so ties are exercised.
                let score = rng.random_range(0..4) as f64 / 4.0;
                list.push(Candidate { member: m, score });
            }
        }
    }
    (members, campaigns, candidates)
}

/// Member `m`'s preference key for campaign `c` (smaller = preferred).
fn member_key(
    campaigns: &[CampaignPolicy],
    cand: &[Vec<Candidate>],
    c: usize,
    m: usize,
) -> (i64, Reverse<Standing>, usize) {
    let score = cand[c].iter().find(|x| x.member == m).expect("pair").score;
    (
        -campaigns[c].priority,
        Reverse(Standing { score, member: 0 }),
        c,
    )
}

/// Random per-channel caps: each channel capped at 1 or 2 with probability 0.4.
fn random_caps(rng: &mut ChaCha8Rng, max_contacts: u32) -> Policy {
    let mut p = policy(max_contacts);
    for cap in p.channel_caps.iter_mut() {
        *cap = rng.random_bool(0.4).then(|| rng.random_range(1..3));
    }
    p
}

/// May `m` get one more contact on `ch`, before anything is picked tonight?
fn room(policy: &Policy, m: &Member, ch: Channel) -> bool {
    policy.channel_caps[ch.index()].is_none_or(|cap| m.recent_by_channel[ch.index()] < cap)
}

/// Every pair that passes steps 1-5, by brute force.
fn admissible(
    policy: &Policy,
    members: &[Member],
    campaigns: &[CampaignPolicy],
    cand: &[Vec<Candidate>],
) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    for (c, list) in cand.iter().enumerate() {
        for x in list {
            let m = &members[x.member];
            if !m.suppressed
                && !m.fatigued
                && m.recent_contacts < policy.max_contacts
                && !m.in_quiet_period
                && campaigns[c]
                    .channels
                    .iter()
                    .any(|&ch| m.consents(ch) && room(policy, m, ch))
            {
                v.push((c, x.member));
            }
        }
    }
    v
}

fn is_stable(
    assignment: &[Option<usize>],
    pairs: &[(usize, usize)],
    campaigns: &[CampaignPolicy],
    cand: &[Vec<Candidate>],
) -> bool {
    let score = |c: usize, m: usize| cand[c].iter().find(|x| x.member == m).expect("pair").score;
    for &(c, m) in pairs {
        if assignment[m] == Some(c) {
            continue;
        }
        let member_wants = match assignment[m] {
            None => true,
            Some(d) => member_key(campaigns, cand, c, m) < member_key(campaigns, cand, d, m),
        };
        if !member_wants {
            continue;
        }
        let held: Vec<usize> = (0..assignment.len())
            .filter(|&x| assignment[x] == Some(c))
            .collect();
        let room = held.len() < campaigns[c].budget.unwrap_or(usize::MAX);
        let me = Standing {
            score: score(c, m),
            member: m,
        };
        let would_swap = held.iter().any(|&x| {
            Standing {
                score: score(c, x),
                member: x,
            } < me
        });
        if room || would_swap {
            return false;
        }
    }
    true
}

#[test]
fn assignment_is_the_member_optimal_stable_one_by_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for round in 0..300 {
        let policy = random_caps(&mut rng, 2);
        let n_members = rng.random_range(1..6);
        let n_campaigns = rng.random_range(1..4);
        let (members, campaigns, cand) = random_instance(&mut rng, n_members, n_campaigns);
        let (picks, funnels) = select(&policy, &members, &ids(n_members), &campaigns, &cand);

        // Funnels add up, and the counts before the assignment match brute force.
        let pairs = admissible(&policy, &members, &campaigns, &cand);
        for (c, f) in funnels.iter().enumerate() {
            assert!(adds_up(f), "round {round}: {f:?}");
            let admissible_here = pairs.iter().filter(|p| p.0 == c).count() as u64;
            assert_eq!(
                f.removed_priority + f.removed_budget + f.selected,
                admissible_here
            );
        }

        let mut ours = vec![None; n_members];
        for p in &picks {
            assert!(
                ours[p.member].is_none(),
                "round {round}: two campaigns for one member"
            );
            assert!(pairs.contains(&(p.campaign, p.member)));
            // The first consented channel with room, in the campaign's order.
            let m = &members[p.member];
            let first = campaigns[p.campaign]
                .channels
                .iter()
                .copied()
                .find(|&ch| m.consents(ch) && room(&policy, m, ch));
            assert_eq!(Some(p.channel), first, "round {round}");
            ours[p.member] = Some(p.campaign);
        }
        for (c, camp) in campaigns.iter().enumerate() {
            let n = picks.iter().filter(|p| p.campaign == c).count();
            assert!(
                n <= camp.budget.unwrap_or(usize::MAX),
                "round {round}: budget"
            );
        }
        assert!(
            is_stable(&ours, &pairs, &campaigns, &cand),
            "round {round}: not stable"
        );

        // Every assignment by brute force: ours is stable, and every member does at least
        // as well in ours as in any other stable assignment.
        let options: Vec<Vec<Option<usize>>> = (0..n_members)
            .map(|m| {
                let mut o = vec![None];
                o.extend(pairs.iter().filter(|p| p.1 == m).map(|p| Some(p.0)));
                o
            })
            .collect();
        let mut index = vec![0usize; n_members];
        loop {
            let a: Vec<Option<usize>> = (0..n_members).map(|m| options[m][index[m]]).collect();
            let fits = campaigns.iter().enumerate().all(|(c, camp)| {
                a.iter().filter(|&&x| x == Some(c)).count() <= camp.budget.unwrap_or(usize::MAX)
            });
            if fits && is_stable(&a, &pairs, &campaigns, &cand) {
                for m in 0..n_members {
                    let better = match (a[m], ours[m]) {
                        (Some(_), None) => true,
                        (Some(x), Some(y)) => {
                            member_key(&campaigns, &cand, x, m)
                                < member_key(&campaigns, &cand, y, m)
                        }
                        _ => false,
                    };
                    assert!(
                        !better,
                        "round {round}: member {m} does better in {a:?} than {ours:?}"
                    );
                }
            }
            // next combination
            let mut i = 0;
            loop {
                if i == n_members {
                    break;
                }
                index[i] += 1;
                if index[i] < options[i].len() {
                    break;
                }
                index[i] = 0;
                i += 1;
            }
            if i == n_members {
                break;
            }
        }
    }
}

#[test]
fn funnels_add_up_and_every_cap_holds_with_campaigns_alongside_others() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let (mut alongside, mut fatigue, mut channel_cap) = (0, 0, 0);
    for round in 0..500 {
        let max_contacts = rng.random_range(1..4);
        let policy = random_caps(&mut rng, max_contacts);
        let n_members = rng.random_range(1..8);
        let n_campaigns = rng.random_range(1..5);
        let (members, mut campaigns, cand) = random_instance(&mut rng, n_members, n_campaigns);
        for c in campaigns.iter_mut() {
            c.exclusive = rng.random_bool(0.6);
        }
        let (picks, funnels) = select(&policy, &members, &ids(n_members), &campaigns, &cand);
        for f in &funnels {
            assert!(adds_up(f), "round {round}: {f:?}");
            fatigue += f.removed_fatigue;
            channel_cap += f.removed_channel_cap;
        }
        let mut tonight = vec![0u32; n_members];
        let mut by_channel = vec![[0u32; CHANNELS]; n_members];
        let mut exclusive = vec![0; n_members];
        for p in &picks {
            let m = &members[p.member];
            assert!(m.consents(p.channel), "round {round}: no consent");
            assert!(campaigns[p.campaign].channels.contains(&p.channel));
            assert!(!m.suppressed && !m.fatigued && !m.in_quiet_period);
            tonight[p.member] += 1;
            by_channel[p.member][p.channel.index()] += 1;
            if campaigns[p.campaign].exclusive {
                exclusive[p.member] += 1;
            } else {
                alongside += 1;
            }
        }
        for (i, m) in members.iter().enumerate() {
            assert!(exclusive[i] <= 1, "round {round}: two exclusive campaigns");
            if tonight[i] > 0 {
                assert!(
                    m.recent_contacts + tonight[i] <= max_contacts,
                    "round {round}"
                );
            }
            for ch in Channel::ALL {
                if let Some(cap) = policy.channel_caps[ch.index()]
                    && by_channel[i][ch.index()] > 0
                {
                    assert!(
                        m.recent_by_channel[ch.index()] + by_channel[i][ch.index()] <= cap,
                        "round {round}: member {i} over the {} cap",
                        ch.as_str()
                    );
                }
            }
        }
    }
    assert!(alongside > 0, "no campaign alongside others picked anyone");
    assert!(
        fatigue > 0 && channel_cap > 0,
        "the instances rest or cap nobody"
    );
}

#[test]
fn fatigued_members_are_removed_after_suppression_and_before_the_frequency_cap() {
    let mut members = vec![member(ALL_CONSENT); 5];
    members[0].fatigued = true;
    members[0].suppressed = true; // counted once, as suppressed (the earlier step)
    members[1].fatigued = true;
    members[1].recent_contacts = 9; // counted as fatigue, not the later frequency cap
    members[2].fatigued = true;
    members[2].consent = [false; CHANNELS]; // counted as no consent
    members[3].fatigued = true; // rested from every campaign, exclusive or not
    // member 4: not rested
    let mut extra = campaign("extra", 1, None);
    extra.exclusive = false;
    let c = vec![campaign("a", 5, None), extra];
    let cand = vec![
        cands(&[(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)]),
        cands(&[(3, 1.0), (4, 1.0)]),
    ];
    let (picks, funnels) = select(&policy(2), &members, &ids(5), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 4), (1, 4)]);
    assert_eq!(
        funnels[0],
        Funnel {
            eligible: 5,
            removed_no_consent: 1,
            removed_suppressed: 1,
            removed_fatigue: 2,
            selected: 1,
            ..Funnel::default()
        }
    );
    assert_eq!(
        funnels[1],
        Funnel {
            eligible: 2,
            removed_fatigue: 1,
            selected: 1,
            ..Funnel::default()
        }
    );
}

#[test]
fn a_full_channel_falls_back_to_the_next_consented_channel_with_room() {
    // Campaign order: wechat, app_push, sms; wechat capped at 1 in the window.
    // consent order: sms, wechat, email, app_push
    let mut members = vec![
        member(ALL_CONSENT),                 // wechat full → app_push
        member([true, true, false, false]),  // wechat full, no app_push → sms
        member([false, true, false, false]), // wechat only, full → removed
        member([false, true, false, false]), // at the overall cap too: frequency cap first
        member(ALL_CONSENT),                 // an SMS last week: wechat has room
        member(ALL_CONSENT),                 // wechat full and in the quiet period
    ];
    for m in [0, 1, 2, 5] {
        members[m].recent_contacts = 1;
        members[m].recent_by_channel = [0, 1, 0, 0, 0];
    }
    members[3].recent_contacts = 3;
    members[3].recent_by_channel = [0, 3, 0, 0, 0];
    members[4].recent_contacts = 1;
    members[4].recent_by_channel = [1, 0, 0, 0, 0];
    members[5].in_quiet_period = true;
    let c = vec![campaign("a", 1, None)];
    let cand = vec![cands(&[
        (0, 1.0),
        (1, 1.0),
        (2, 1.0),
        (3, 1.0),
        (4, 1.0),
        (5, 1.0),
    ])];
    let (picks, funnels) = select(
        &capped(3, &[(Channel::Wechat, 1)]),
        &members,
        &ids(6),
        &c,
        &cand,
    );
    let channels: Vec<_> = picks.iter().map(|p| (p.member, p.channel)).collect();
    assert_eq!(
        channels,
        vec![
            (0, Channel::AppPush),
            (1, Channel::Sms),
            (4, Channel::Wechat)
        ]
    );
    assert_eq!(
        funnels[0],
        Funnel {
            eligible: 6,
            removed_frequency_cap: 2,
            removed_channel_cap: 1,
            selected: 3,
            ..Funnel::default()
        }
    );
    // Without the cap, everyone with room under max_contacts gets wechat.
    let (picks, funnels) = select(&policy(3), &members, &ids(6), &c, &cand);
    assert!(picks.iter().all(|p| p.channel == Channel::Wechat));
    assert_eq!(funnels[0].removed_channel_cap, 0);
    assert_eq!(funnels[0].selected, 4);
}

#[test]
fn campaigns_alongside_others_choose_their_channel_after_tonights_exclusive_picks() {
    // wechat capped at 1: tonight's exclusive pick on wechat fills it.
    let members = vec![
        member(ALL_CONSENT),                 // main on wechat, extra on sms
        member([false, true, false, false]), // main on wechat, extra: nothing left
        member(ALL_CONSENT),                 // extra only: wechat
    ];
    let mut main = campaign("main", 9, None);
    main.channels = vec![Channel::Wechat];
    let mut extra = campaign("extra", 1, None);
    extra.channels = vec![Channel::Wechat, Channel::Sms];
    extra.exclusive = false;
    let c = vec![main, extra];
    let cand = vec![
        cands(&[(0, 1.0), (1, 1.0)]),
        cands(&[(0, 1.0), (1, 1.0), (2, 1.0)]),
    ];
    let (picks, funnels) = select(
        &capped(3, &[(Channel::Wechat, 1)]),
        &members,
        &ids(3),
        &c,
        &cand,
    );
    let got: Vec<_> = picks
        .iter()
        .map(|p| (p.campaign, p.member, p.channel))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, 0, Channel::Wechat),
            (0, 1, Channel::Wechat),
            (1, 0, Channel::Sms),
            (1, 2, Channel::Wechat),
        ]
    );
    assert_eq!(
        funnels[1],
        Funnel {
            eligible: 3,
            removed_channel_cap: 1,
            selected: 2,
            ..Funnel::default()
        }
    );
    assert!(funnels.iter().all(adds_up));
}

#[test]
fn same_inputs_same_lists() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (members, campaigns, cand) = random_instance(&mut rng, 200, 4);
    let a = select(&policy(2), &members, &ids(200), &campaigns, &cand);
    let b = select(&policy(2), &members, &ids(200), &campaigns, &cand);
    assert_eq!(a, b);
}

/// A member of guide 0 who consented to WeCom and SMS.
fn guided() -> Member {
    let mut m = member([true, false, false, false]);
    m.consent[Channel::Wecom.index()] = true;
    m.guide = Some(0);
    m
}

fn wecom_campaign(name: &str, priority: i64, channels: &[Channel]) -> CampaignPolicy {
    CampaignPolicy {
        channels: channels.to_vec(),
        ..campaign(name, priority, None)
    }
}

fn with_guide_capacity(cap: u32) -> Policy {
    Policy {
        guide_capacity: Some(cap),
        ..policy(9)
    }
}

#[test]
fn a_full_guide_sends_the_member_to_the_campaigns_next_channel() {
    // Guide 0 takes one 1:1 message tonight: the better-scored member (1) gets it, member
    // 0 falls back to SMS in the same campaign; nothing is removed.
    let members = vec![guided(), guided()];
    let c = vec![wecom_campaign("a", 1, &[Channel::Wecom, Channel::Sms])];
    let cand = vec![cands(&[(0, 1.0), (1, 2.0)])];
    let (picks, funnels) = select(&with_guide_capacity(1), &members, &ids(2), &c, &cand);
    let channels: Vec<_> = picks.iter().map(|p| (p.member, p.channel)).collect();
    assert_eq!(channels, vec![(1, Channel::Wecom), (0, Channel::Sms)]);
    assert_eq!(funnels[0].selected, 2);
    assert!(adds_up(&funnels[0]));
    // Without a capacity both get WeCom.
    let (picks, _) = select(&policy(9), &members, &ids(2), &c, &cand);
    assert!(picks.iter().all(|p| p.channel == Channel::Wecom));
}

#[test]
fn a_member_no_channel_can_take_goes_to_the_next_campaign_that_wants_them() {
    // Campaign a (priority 5) only sends WeCom; the guide holds one message and member 1
    // scores higher. Member 0 is counted removed_guide_capacity in a, and campaign b
    // (priority 1, SMS) takes them: the guide and the campaigns are solved together.
    let members = vec![guided(), guided()];
    let c = vec![
        wecom_campaign("a", 5, &[Channel::Wecom]),
        wecom_campaign("b", 1, &[Channel::Sms]),
    ];
    let cand = vec![cands(&[(0, 1.0), (1, 2.0)]), cands(&[(0, 1.0)])];
    let (picks, funnels) = select(&with_guide_capacity(1), &members, &ids(2), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 1), (1, 0)]);
    assert_eq!(funnels[0].removed_guide_capacity, 1);
    assert_eq!(funnels[0].selected, 1);
    assert_eq!(funnels[1].selected, 1);
    assert!(funnels.iter().all(adds_up));
}

#[test]
fn a_guide_serves_the_higher_priority_campaign_first() {
    // Same guide, one message: member 0's campaign has priority 9 (score 1), member 1's
    // priority 1 (score 100). The guide keeps the priority-9 message.
    let members = vec![guided(), guided()];
    let c = vec![
        wecom_campaign("high", 9, &[Channel::Wecom]),
        wecom_campaign("low", 1, &[Channel::Wecom]),
    ];
    let cand = vec![cands(&[(0, 1.0)]), cands(&[(1, 100.0)])];
    let (picks, funnels) = select(&with_guide_capacity(1), &members, &ids(2), &c, &cand);
    assert_eq!(chosen(&picks), vec![(0, 0)]);
    assert_eq!(funnels[1].removed_guide_capacity, 1);
    assert!(funnels.iter().all(adds_up));
}

#[test]
fn campaigns_alongside_others_respect_the_guides_capacity_too() {
    // Exclusive a gives member 0 the guide's only message; the non-exclusive b falls back
    // to SMS for member 0 and cannot reach member 1 (WeCom only) → removed.
    let mut m1 = guided();
    m1.consent[Channel::Sms.index()] = false;
    let members = vec![guided(), m1];
    let mut b = wecom_campaign("b", 1, &[Channel::Wecom, Channel::Sms]);
    b.exclusive = false;
    let c = vec![wecom_campaign("a", 5, &[Channel::Wecom]), b];
    let cand = vec![cands(&[(0, 1.0)]), cands(&[(0, 1.0), (1, 1.0)])];
    let (picks, funnels) = select(&with_guide_capacity(1), &members, &ids(2), &c, &cand);
    let got: Vec<_> = picks
        .iter()
        .map(|p| (p.campaign, p.member, p.channel))
        .collect();
    assert_eq!(got, vec![(0, 0, Channel::Wecom), (1, 0, Channel::Sms)]);
    assert_eq!(funnels[1].removed_guide_capacity, 1);
    assert!(funnels.iter().all(adds_up));
}

#[test]
fn guides_never_exceed_their_capacity_and_funnels_add_up_on_random_instances() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..300 {
        let n = rng.random_range(1..12);
        let members: Vec<Member> = (0..n)
            .map(|_| {
                let mut m = member([rng.random_bool(0.5), rng.random_bool(0.5), false, false]);
                if rng.random_bool(0.7) {
                    m.guide = Some(rng.random_range(0..3));
                    m.consent[Channel::Wecom.index()] = rng.random_bool(0.8);
                }
                m
            })
            .collect();
        let n_campaigns = rng.random_range(1..4);
        let c: Vec<CampaignPolicy> = (0..n_campaigns)
            .map(|i| CampaignPolicy {
                exclusive: rng.random_bool(0.7),
                budget: rng.random_bool(0.5).then(|| rng.random_range(0..5)),
                ..wecom_campaign(
                    &format!("c{i}"),
                    rng.random_range(0..3),
                    &[Channel::Wecom, Channel::Sms, Channel::Wechat],
                )
            })
            .collect();
        let cand: Vec<Vec<Candidate>> = (0..n_campaigns)
            .map(|_| {
                let mut list = Vec::new();
                for m in 0..n {
                    if rng.random_bool(0.7) {
                        list.push(Candidate {
                            member: m,
                            score: rng.random_range(0.0..10.0),
                        });
                    }
                }
                list
            })
            .collect();
        let cap = rng.random_range(1..3);
        let (picks, funnels) = select(&with_guide_capacity(cap), &members, &ids(n), &c, &cand);
        assert!(funnels.iter().all(adds_up), "{funnels:?}");
        let mut per_guide = [0u32; 3];
        for p in &picks {
            if p.channel == Channel::Wecom {
                per_guide[members[p.member].guide.expect("WeCom needs a guide")] += 1;
            }
            assert!(members[p.member].consents(p.channel));
        }
        assert!(per_guide.iter().all(|&g| g <= cap), "{per_guide:?} > {cap}");
        // One exclusive campaign per member.
        let mut exclusive = vec![0; n];
        for p in &picks {
            if c[p.campaign].exclusive {
                exclusive[p.member] += 1;
            }
        }
        assert!(exclusive.iter().all(|&e| e <= 1));
    }
}
