//! Wall-clock time in the job's timezone: the conversion every zoned input timestamp goes
//! through (`src/input.rs`), once per row of every scan.
//!
//! DataFusion's `to_local_time` looks the UTC offset up in the zone's transition table for
//! every value (a binary search in chrono-tz, ~80 ns a row: 1.5 s of each 19M-row scan of
//! `community_events` at scale 10). Offsets change a few times a year at most, so this
//! function looks them up once per UTC day, in a table of the days 1900–2100 per zone, shared by
//! every batch and thread of the process and filled as days are met: a day whose first
//! and last microsecond have the same offset has it throughout (no zone in the tz
//! database changes its offset twice within a day and back); a day holding a transition,
//! and any instant outside the table, is looked up per value. The result is the same as
//! `to_local_time`'s on every value (a test compares them around transitions in several
//! zones).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, Offset, TimeZone};
use datafusion::arrow::array::{Array, ArrayRef, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

const DAY_US: i64 = 86_400_000_000;
/// 1900-01-01 and 2101-01-01 as days since 1970-01-01.
const FIRST_DAY: i64 = -25_567;
const END_DAY: i64 = 47_847;
/// Table entries: not looked up yet, or a day with a transition.
const UNKNOWN: i64 = i64::MIN;
const TRANSITION: i64 = i64::MIN + 1;

/// `siyu_local_time(ts)`: a `Timestamp(µs, zone)` as the naive `Timestamp(µs)` wall-clock
/// time in its zone — what `to_local_time(ts)` returns. The zone is read from the
/// argument's type, so one function serves every job and every node of a cluster
/// (`crate::cluster` registers it on schedulers and executors by name); each zone's
/// table of offsets is built once per process.
pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalTime {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalTime {
    signature: Signature,
}

/// Every zone's offsets met so far in this process.
fn offsets_of(zone: &str) -> datafusion::error::Result<Arc<DayOffsets>> {
    static ZONES: OnceLock<Mutex<HashMap<String, Arc<DayOffsets>>>> = OnceLock::new();
    let mut zones = ZONES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(days) = zones.get(zone) {
        return Ok(Arc::clone(days));
    }
    let tz: chrono_tz::Tz = zone
        .parse()
        .map_err(|_| exec_datafusion_err!("siyu_local_time: {zone:?} is not an IANA timezone"))?;
    let days = Arc::new(DayOffsets::new(tz));
    zones.insert(zone.to_string(), Arc::clone(&days));
    Ok(days)
}

fn zone_of(t: &DataType) -> datafusion::error::Result<&str> {
    match t {
        DataType::Timestamp(TimeUnit::Microsecond, Some(zone)) => Ok(zone),
        other => exec_err!("siyu_local_time expects a Timestamp(µs, zone), got {other}"),
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        "siyu_local_time"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, args: &[DataType]) -> datafusion::error::Result<Vec<DataType>> {
        match args {
            [DataType::Timestamp(_, Some(zone))] => Ok(vec![DataType::Timestamp(
                TimeUnit::Microsecond,
                Some(Arc::clone(zone)),
            )]),
            other => plan_err!("siyu_local_time expects one zoned timestamp, got {other:?}"),
        }
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
    }
    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        match args.args.as_slice() {
            [ColumnarValue::Array(a)] => {
                let cache = offsets_of(zone_of(a.data_type())?)?;
                let a = a
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .ok_or_else(|| {
                        exec_datafusion_err!(
                            "siyu_local_time expects Timestamp(µs), got {}",
                            a.data_type()
                        )
                    })?;
                // Null slots may hold anything: they are not converted, and stay null.
                let mut values = Vec::with_capacity(a.len());
                for (i, &ts) in a.values().iter().enumerate() {
                    values.push(if a.is_valid(i) { cache.local(ts)? } else { 0 });
                }
                let out = TimestampMicrosecondArray::new(values.into(), a.nulls().cloned());
                Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
            }
            [ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v, Some(zone)))] => {
                let cache = offsets_of(zone)?;
                Ok(ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(
                    v.map(|ts| cache.local(ts)).transpose()?,
                    None,
                )))
            }
            other => exec_err!("siyu_local_time expects one Timestamp(µs, zone), got {other:?}"),
        }
    }
}

/// UTC offsets by UTC day, filled on first use; shared by every batch and thread.
struct DayOffsets {
    tz: chrono_tz::Tz,
    offsets_us: Box<[AtomicI64]>,
}

impl std::fmt::Debug for DayOffsets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DayOffsets({})", self.tz.name())
    }
}

impl DayOffsets {
    fn new(tz: chrono_tz::Tz) -> DayOffsets {
        DayOffsets {
            tz,
            offsets_us: (FIRST_DAY..END_DAY)
                .map(|_| AtomicI64::new(UNKNOWN))
                .collect(),
        }
    }

    fn offset_at(&self, ts: i64) -> datafusion::error::Result<i64> {
        let utc = DateTime::from_timestamp_micros(ts)
            .ok_or_else(|| exec_datafusion_err!("timestamp {ts} µs is out of range"))?;
        let seconds = self
            .tz
            .offset_from_utc_datetime(&utc.naive_utc())
            .fix()
            .local_minus_utc();
        Ok(i64::from(seconds) * 1_000_000)
    }

    /// The day's offset when it has one throughout, else [`TRANSITION`].
    fn day_offset(&self, day: i64) -> datafusion::error::Result<i64> {
        let first = self.offset_at(day * DAY_US)?;
        let last = self.offset_at(day * DAY_US + DAY_US - 1)?;
        Ok(if first == last { first } else { TRANSITION })
    }

    fn local(&self, ts: i64) -> datafusion::error::Result<i64> {
        let day = ts.div_euclid(DAY_US);
        let offset = if (FIRST_DAY..END_DAY).contains(&day) {
            let slot = &self.offsets_us[(day - FIRST_DAY) as usize];
            let mut known = slot.load(Ordering::Relaxed);
            if known == UNKNOWN {
                // Racing threads compute the same value: storing it twice is harmless.
                known = self.day_offset(day)?;
                slot.store(known, Ordering::Relaxed);
            }
            if known == TRANSITION {
                self.offset_at(ts)?
            } else {
                known
            }
        } else {
            self.offset_at(ts)?
        };
        ts.checked_add(offset)
            .ok_or_else(|| exec_datafusion_err!("timestamp {ts} µs is out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    use datafusion::functions::datetime::to_local_time::adjust_to_local_time;
    use rand::{Rng, SeedableRng};

    fn reference(ts: i64, tz: &str) -> i64 {
        adjust_to_local_time::<TimestampMicrosecondType>(ts, tz.parse().unwrap()).unwrap()
    }

    #[test]
    fn agrees_with_to_local_time_everywhere_and_at_every_transition() {
        // Zones with DST (New York, London), a half-hour DST shift (Lord Howe), odd
        // offsets (Kathmandu +05:45), the job default (Shanghai, DST 1986–1991) and
        // historic local mean time (before 1900).
        let zones = [
            "Asia/Shanghai",
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "Asia/Kathmandu",
            "UTC",
        ];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for name in zones {
            let tz: chrono_tz::Tz = name.parse().unwrap();
            let cache = DayOffsets::new(tz);
            // Random instants 1850–2150, then every 7 minutes 13 seconds through two
            // years with transitions, in both directions so the cache is hit and missed.
            let mut values: Vec<i64> = (0..20_000)
                .map(|_| rng.random_range(-3_786_825_600_000_000i64..5_680_281_600_000_000))
                .collect();
            let step = 433_000_000;
            values
                .extend((0..(2 * 365 * 24 * 3600 / 433)).map(|i| 1_288_000_000_000_000 + i * step));
            values.extend((0..10_000).map(|i| 1_773_000_000_000_000 - i * 61_000_000));
            for ts in values {
                assert_eq!(
                    cache.local(ts).unwrap(),
                    reference(ts, name),
                    "{name} at {ts} µs"
                );
            }
        }
    }

    #[test]
    fn nulls_stay_null_and_arrays_keep_their_length() {
        let f = udf();
        const HOUR_US: i64 = 3_600_000_000;
        let input = TimestampMicrosecondArray::from(vec![Some(0), None, Some(HOUR_US)])
            .with_timezone("Asia/Shanghai");
        let arg_type = input.data_type().clone();
        let out = f
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(Arc::new(input))],
                arg_fields: vec![Arc::new(datafusion::arrow::datatypes::Field::new(
                    "t", arg_type, true,
                ))],
                number_rows: 3,
                return_field: Arc::new(datafusion::arrow::datatypes::Field::new(
                    "r",
                    DataType::Timestamp(TimeUnit::Microsecond, None),
                    true,
                )),
                config_options: Arc::new(Default::default()),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else {
            panic!("an array")
        };
        let a = a
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a.value(0), 8 * HOUR_US);
        assert!(a.is_null(1));
        assert_eq!(a.value(2), 9 * HOUR_US);
    }
}
