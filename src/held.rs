//! Memory the Rust steps hold outside DataFusion's operators — the rules' baskets and
//! FP-tree, the segment fit's feature matrix, the recommend index, the outreach
//! candidates — reserved from the same memory pool as the queries, so `--memory-limit`
//! counts it: a step whose structures do not fit stops with "out of memory budget",
//! exit 4, naming the step and what it was holding, instead of growing past the limit;
//! and the step's own queries (the sort that writes its output) get what is left.
//!
//! Sizes are the heap the structures own, from their lengths and capacities: close to
//! what the allocator hands out, never a sample of the process's RSS (which would make
//! a run depend on timing).

use std::sync::Arc;

use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::prelude::SessionContext;

use crate::error::{Result, SiyuError};

/// A reservation in the job's memory pool for one structure a step holds.
#[derive(Debug)]
pub struct Held {
    what: String,
    pool: Arc<dyn MemoryPool>,
    reservation: MemoryReservation,
}

const MIB: f64 = (1 << 20) as f64;

impl Held {
    /// A reservation in `session`'s pool for `what` ("baskets and FP-tree", …), holding
    /// nothing yet. It is given back when dropped.
    pub fn new(session: &SessionContext, what: &str) -> Held {
        let pool = session.runtime_env().memory_pool.clone();
        Held {
            what: what.to_string(),
            reservation: MemoryConsumer::new(format!("siyu: {what}")).register(&pool),
            pool,
        }
    }

    /// Hold `bytes` in all (more or less than before). Fails, holding what it held, when
    /// the pool cannot give the difference.
    pub fn set(&mut self, bytes: usize) -> Result<()> {
        let held = self.reservation.size();
        if bytes <= held {
            self.reservation.shrink(held - bytes);
            return Ok(());
        }
        self.reservation.try_grow(bytes - held).map_err(|_| {
            let (limit, free) = match self.pool.memory_limit() {
                MemoryLimit::Finite(n) => (
                    format!("{:.0} MiB", n as f64 / MIB),
                    n.saturating_sub(self.pool.reserved()) + held,
                ),
                _ => ("no limit".to_string(), usize::MAX),
            };
            SiyuError::runtime(format!(
                "out of memory budget: holding {} needs {:.1} MiB, and --memory-limit ({limit}) has {:.1} MiB left beside what the step's queries and other steps hold (raise --memory-limit)",
                self.what,
                bytes as f64 / MIB,
                free as f64 / MIB,
            ))
        })
    }

    /// What is held, in bytes.
    pub fn size(&self) -> usize {
        self.reservation.size()
    }
}

/// Heap bytes of a `Vec`'s buffer.
pub fn vec_bytes<T>(v: &Vec<T>) -> usize {
    v.capacity() * std::mem::size_of::<T>()
}

/// Heap bytes of strings (their buffers, not the `String` headers).
pub fn string_bytes<'a>(strings: impl IntoIterator<Item = &'a String>) -> usize {
    strings.into_iter().map(String::capacity).sum()
}

/// Heap bytes of a hash table with `capacity` slots of `(K, V)`: the slots and one
/// control byte each (hashbrown's layout), not what the keys own.
pub fn map_bytes<K, V>(capacity: usize) -> usize {
    capacity * (std::mem::size_of::<(K, V)>() + 1)
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::SessionConfig;

    use super::*;

    fn session(limit: usize) -> SessionContext {
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(limit)))
            .build_arc()
            .unwrap();
        SessionContext::new_with_config_rt(SessionConfig::new(), runtime)
    }

    #[test]
    fn holds_what_the_pool_has_and_refuses_more_naming_what() {
        let s = session(10 << 20);
        let pool = s.runtime_env().memory_pool.clone();
        let mut baskets = Held::new(&s, "the baskets");
        baskets.set(6 << 20).unwrap();
        assert_eq!(pool.reserved(), 6 << 20);
        // A second holder gets only what is left.
        let mut tree = Held::new(&s, "the FP-tree");
        let e = tree.set(5 << 20).unwrap_err();
        assert_eq!(e.class.exit_code(), 4);
        assert_eq!(
            e.to_string(),
            "runtime error: out of memory budget: holding the FP-tree needs 5.0 MiB, and --memory-limit (10 MiB) has 4.0 MiB left beside what the step's queries and other steps hold (raise --memory-limit)"
        );
        assert_eq!(tree.size(), 0);
        // Shrinking gives back; dropping gives back the rest.
        baskets.set(1 << 20).unwrap();
        tree.set(5 << 20).unwrap();
        assert_eq!(pool.reserved(), 6 << 20);
        drop(baskets);
        drop(tree);
        assert_eq!(pool.reserved(), 0);
    }

    #[test]
    fn heap_sizes_count_buffers() {
        let v: Vec<u64> = Vec::with_capacity(10);
        assert_eq!(vec_bytes(&v), 80);
        let s = [String::with_capacity(5), String::with_capacity(7)];
        assert_eq!(string_bytes(&s), 12);
        assert_eq!(map_bytes::<u32, u32>(16), 16 * 9);
    }
}
