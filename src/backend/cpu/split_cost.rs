//! The scheduler's guard: a loop that the work thresholds would split over
//! threads is split only while splitting is measured to pay.
//!
//! The thresholds (`run::PARALLEL_MIN`, weighted by the body's cost) guess
//! from element counts; what a split costs depends on the machine, on what
//! else runs on it, and on whether the loop's data already sits in one
//! core's cache. So each such loop is timed both ways: its first calls
//! alternate between split and one thread, [`PROBES`] each, then it runs
//! the cheaper way, trying the other one call in [`REPROBE`] so that a
//! change (another process leaving a core) is noticed. A split must save
//! a twentieth of the one-thread time to be kept: otherwise the loop
//! leaves the second core to whoever else needs it.
//!
//! Only loops are guarded: a loop's parts write disjoint output rows with
//! the same arithmetic either way, so the choice never changes a result.
//! (Products keep their static thresholds: the path a product block takes,
//! and with it the order of its sums, may depend on its size.)

/// Timed calls each way before choosing.
pub const PROBES: u32 = 3;

/// After the probes, one call in this many runs the way not chosen.
pub const REPROBE: u32 = 64;

/// One way's time: the mean of its first calls, then a moving average.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    ns: f64,
    n: u32,
}

impl Sample {
    fn add(&mut self, ns: f64) {
        self.ns = if self.n < PROBES {
            (self.ns * f64::from(self.n) + ns) / f64::from(self.n + 1)
        } else {
            self.ns + (ns - self.ns) / 8.0
        };
        self.n = self.n.saturating_add(1);
    }
}

/// What splitting one loop over the pool has been measured to cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct SplitCost {
    split: Sample,
    whole: Sample,
    calls: u32,
}

impl SplitCost {
    /// Whether the next call splits.
    pub fn split_now(&self) -> bool {
        if self.split.n < PROBES || self.whole.n < PROBES {
            return self.calls.is_multiple_of(2);
        }
        let pays = self.split.ns < 0.95 * self.whole.ns;
        if self.calls.is_multiple_of(REPROBE) {
            !pays
        } else {
            pays
        }
    }

    /// Notes that a call (split or not) took `ns` nanoseconds.
    pub fn record(&mut self, split: bool, ns: f64) {
        self.calls = self.calls.wrapping_add(1);
        if split {
            self.split.add(ns)
        } else {
            self.whole.add(ns)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `calls` calls that take `split_ns` split and `whole_ns` not;
    /// how many were split after the probes.
    fn split_calls(split_ns: f64, whole_ns: f64, calls: u32) -> u32 {
        let mut c = SplitCost::default();
        let mut split = 0;
        for i in 0..calls {
            let s = c.split_now();
            if i >= 2 * PROBES && s {
                split += 1;
            }
            c.record(s, if s { split_ns } else { whole_ns });
        }
        split
    }

    #[test]
    fn a_split_that_pays_is_kept_and_one_that_does_not_is_dropped() {
        let calls = 2 * PROBES + 10 * REPROBE;
        let after = calls - 2 * PROBES;
        // Split twice as fast: split but for the re-probes.
        let kept = split_calls(50.0, 100.0, calls);
        assert!(kept >= after - after / REPROBE - 1, "{kept} of {after}");
        // Split slower, or saving under a twentieth: one thread but for
        // the re-probes.
        for split_ns in [150.0, 97.0] {
            let dropped = split_calls(split_ns, 100.0, calls);
            assert!(dropped <= after / REPROBE + 1, "{dropped} of {after}");
        }
    }

    #[test]
    fn the_probes_alternate_and_a_change_is_noticed() {
        let mut c = SplitCost::default();
        let first: Vec<bool> = (0..2 * PROBES)
            .map(|_| {
                let s = c.split_now();
                c.record(s, 100.0);
                s
            })
            .collect();
        assert_eq!(first.iter().filter(|&&s| s).count() as u32, PROBES);
        // Equal times: one thread. Then splitting gets four times faster
        // (a neighbour left the other core): the re-probes see it.
        for _ in 0..4 * REPROBE {
            let s = c.split_now();
            c.record(s, if s { 25.0 } else { 100.0 });
        }
        assert!(c.split_now(), "splitting again once it pays");
    }
}
