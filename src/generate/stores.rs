//! Stores and their shopping guides (导购): which members have their own guide (专属导购)
//! and which of them added that guide on WeCom (企业微信).
//!
//! Everything here is drawn from random streams of its own, never from the members'
//! stream, so that adding guides left every other column and table as it was.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::members::Persona;

/// Stores `S001`..`S060`: members' `home_store_id` and in-store orders' `store_id`.
pub(super) const STORES: i32 = 60;
/// Guides of the largest store; the store of size rank r has about `1 + LARGEST / r`.
const LARGEST: f64 = 15.0;
/// Members without a home store who still have a guide (an online "cloud guide").
const GUIDE_WITHOUT_STORE: f64 = 0.05;
/// Mixed into the seed for the stores' stream and the members' guide streams.
const STREAM: u64 = 0x006D_1DE5_0016_C0DE;

/// A store's id as the members and orders tables write it.
pub(super) fn store_id(store: i32) -> String {
    format!("S{store:03}")
}

/// A guide's id: their store's id and their number there, e.g. `S017-G03`.
fn guide_id(store: i32, n: u32) -> String {
    format!("{}-G{n:02}", store_id(store))
}

/// The stores' sizes, measured in guides: Zipf over a random order of the stores, so a
/// few flagships have a dozen guides and most stores one or two.
pub(super) struct Stores {
    /// Guides of store `s` at index `s - 1`.
    guides: Vec<u32>,
    /// Every guide, as (store, number), for members without a home store.
    all: Vec<(i32, u32)>,
}

impl Stores {
    pub(super) fn new(seed: u64) -> Stores {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STREAM);
        let mut by_size: Vec<i32> = (1..=STORES).collect();
        by_size.shuffle(&mut rng);
        let mut guides = vec![0; STORES as usize];
        for (rank, store) in by_size.iter().enumerate() {
            guides[*store as usize - 1] = 1 + (LARGEST / (rank + 1) as f64).round() as u32;
        }
        let all = (1..=STORES)
            .flat_map(|s| (1..=guides[s as usize - 1]).map(move |n| (s, n)))
            .collect();
        Stores { guides, all }
    }

    /// The random stream of one chunk's guides, separate from the chunk's members stream.
    pub(super) fn stream(seed: u64, chunk: usize) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(
            (seed ^ STREAM).wrapping_mul(0xA24B_AED4_963E_E407)
                ^ (chunk as u64 + 1).wrapping_mul(0x9FB2_1C65_1E98_DF25),
        )
    }

    /// A member's guide and WeCom consent. Members with a home store have a guide there
    /// more often in larger stores (more staff) and for engaged personas; a few members
    /// without one have a guide of any store. Only a member with a guide can have added
    /// them on WeCom (else null); some exports leave the flag empty.
    pub(super) fn guide(
        &self,
        home_store: Option<i32>,
        persona: Persona,
        rng: &mut ChaCha8Rng,
    ) -> (Option<String>, Option<bool>) {
        // The same number of draws for every member, whatever the outcome.
        let (u_has, u_pick, u_consent): (f64, f64, f64) =
            (rng.random(), rng.random(), rng.random());
        let guide = match home_store {
            Some(s) => {
                let staff = self.guides[s as usize - 1];
                let coverage = (0.6 + 0.08 * staff as f64).min(1.0);
                (u_has < persona.guide_rate() * coverage)
                    .then(|| guide_id(s, 1 + (u_pick * staff as f64) as u32))
            }
            None => (u_has < GUIDE_WITHOUT_STORE).then(|| {
                let (s, n) = self.all[(u_pick * self.all.len() as f64) as usize];
                guide_id(s, n)
            }),
        };
        let consent = guide.as_ref().and_then(|_| {
            let yes = persona.wecom_rate();
            if u_consent < yes {
                Some(true)
            } else if u_consent < yes + (1.0 - yes) * 0.9 {
                Some(false)
            } else {
                None
            }
        });
        (guide, consent)
    }
}

impl Persona {
    /// Probability a member with a home store has a guide there (before store coverage).
    fn guide_rate(self) -> f64 {
        match self {
            Persona::Vip => 0.9,
            Persona::Community => 0.75,
            Persona::Regular => 0.6,
            Persona::Bargain => 0.4,
            Persona::Occasional => 0.25,
        }
    }
    /// Probability a member with a guide added them on WeCom.
    fn wecom_rate(self) -> f64 {
        match self {
            Persona::Community => 0.8,
            Persona::Vip => 0.75,
            Persona::Regular => 0.55,
            Persona::Bargain => 0.5,
            Persona::Occasional => 0.35,
        }
    }
}
