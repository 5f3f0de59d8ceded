//! The polling cadence of a long job (PollBackup, PollRestore): how often SHOW BACKUP / SHOW RESTORE
//! is sent, and how often the run does its upkeep (refresh the heartbeat, read the cluster clock
//! for the job_timeout_s check). Kept apart from the runner so the schedule is testable and the
//! number of statements a 2-hour job costs the FE can be computed (docs/BENCHMARKS.md).
//!
//! - SHOW every `delay`, doubling from `initial_ms` up to `max_ms` (±20% jitter).
//! - Upkeep (heartbeat UPDATE + SELECT NOW()) on the first poll, then only when `upkeep_every` has
//!   passed: `min(3 × max_ms, heartbeat_stale_s / 4)`, so a live run's heartbeat never looks stale
//!   (four chances per stale period) and, with the defaults (1 s → 30 s, stale 300 s), a job that has
//!   run a few minutes costs 2 SHOW + 0.8 UPDATE + 0.8 NOW = 3.6 statements per minute.
//! - No sleep is longer than `upkeep_every`, so a large `max_ms` cannot starve the heartbeat.

use std::time::{Duration, Instant};

/// The schedule of one poll loop.
#[derive(Debug, Clone)]
pub struct PollCadence {
    delay_ms: u64,
    max_ms: u64,
    upkeep_every: Duration,
    last_upkeep: Option<Instant>,
}

impl PollCadence {
    pub fn new(initial_ms: u64, max_ms: u64, heartbeat_stale_s: u64) -> PollCadence {
        let max_ms = max_ms.max(1);
        let upkeep_ms = max_ms
            .saturating_mul(3)
            .min(heartbeat_stale_s.saturating_mul(1000) / 4)
            .max(1);
        PollCadence {
            delay_ms: initial_ms.max(1).min(max_ms),
            max_ms: max_ms.min(upkeep_ms),
            upkeep_every: Duration::from_millis(upkeep_ms),
            last_upkeep: None,
        }
    }

    /// The interval between two upkeeps.
    pub fn upkeep_every(&self) -> Duration {
        self.upkeep_every
    }

    /// Whether this poll does the upkeep (heartbeat + clock); records it when true. Always true the
    /// first time, so a job that is already past its timeout is noticed at once.
    pub fn upkeep_due(&mut self, now: Instant) -> bool {
        let due = self
            .last_upkeep
            .is_none_or(|t| now.saturating_duration_since(t) >= self.upkeep_every);
        if due {
            self.last_upkeep = Some(now);
        }
        due
    }

    /// The (unjittered) delay before the next poll; advances the backoff.
    pub fn next_delay_ms(&mut self) -> u64 {
        let d = self.delay_ms;
        self.delay_ms = self.delay_ms.saturating_mul(2).min(self.max_ms);
        d
    }

    /// The jittered sleep before the next poll (±20% so concurrent pollers do not march in step).
    pub fn next_sleep(&mut self) -> Duration {
        jitter(self.next_delay_ms())
    }
}

/// ±20% jitter.
pub fn jitter(ms: u64) -> Duration {
    use rand::Rng;
    let spread = ms / 5;
    let j = if spread > 0 {
        rand::rng().random_range(0..=2 * spread)
    } else {
        0
    };
    Duration::from_millis(ms - spread + j)
}

/// Statements a poll loop sends in `[0, total)` of a job's life with the unjittered schedule:
/// (SHOW, upkeep pairs) — each upkeep is one heartbeat UPDATE plus one SELECT NOW(). The arithmetic
/// twin of the loop, used by tests and the benchmark.
pub fn simulate(
    initial_ms: u64,
    max_ms: u64,
    stale_s: u64,
    total: Duration,
) -> Vec<(Duration, u32)> {
    let mut c = PollCadence::new(initial_ms, max_ms, stale_s);
    let origin = Instant::now();
    let mut t = Duration::ZERO;
    let mut out = Vec::new();
    while t < total {
        let statements = 1 + if c.upkeep_due(origin + t) { 2 } else { 0 };
        out.push((t, statements));
        t += Duration::from_millis(c.next_delay_ms());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(events: &[(Duration, u32)], from: Duration, to: Duration) -> f64 {
        let n: u32 = events
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|e| e.1)
            .sum();
        f64::from(n) / (to - from).as_secs_f64() * 60.0
    }

    #[test]
    fn defaults_cost_at_most_four_statements_a_minute_once_running() {
        let two_hours = Duration::from_secs(7200);
        let ev = simulate(1000, 30_000, 300, two_hours);
        let steady = per_minute(&ev, Duration::from_secs(300), two_hours);
        assert!(steady <= 4.0, "{steady}");
        assert!(steady >= 3.0, "{steady}");
        // every 60 s window after the first minutes holds at most 2 SHOW + 1 upkeep (5 statements)
        let mut w = Duration::from_secs(300);
        while w + Duration::from_secs(60) <= two_hours {
            let n: u32 = ev
                .iter()
                .filter(|(t, _)| *t >= w && *t < w + Duration::from_secs(60))
                .map(|e| e.1)
                .sum();
            assert!(n <= 5, "{n} at {w:?}");
            w += Duration::from_secs(10);
        }
    }

    #[test]
    fn upkeep_never_starves_the_heartbeat() {
        // a cap far above the stale period: sleeps are bounded by the upkeep interval
        let mut c = PollCadence::new(1000, 3_600_000, 300);
        assert_eq!(c.upkeep_every(), Duration::from_secs(75));
        for _ in 0..40 {
            assert!(c.next_delay_ms() <= 75_000);
        }
        let t0 = Instant::now();
        assert!(c.upkeep_due(t0), "first poll does the upkeep");
        assert!(!c.upkeep_due(t0 + Duration::from_secs(74)));
        assert!(c.upkeep_due(t0 + Duration::from_secs(75)));
        // test tuning (5 ms → 50 ms): upkeep every 150 ms
        assert_eq!(
            PollCadence::new(5, 50, 300).upkeep_every(),
            Duration::from_millis(150)
        );
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_jitter_stays_within_20_percent() {
        let mut c = PollCadence::new(1000, 30_000, 300);
        let seq: Vec<u64> = (0..8).map(|_| c.next_delay_ms()).collect();
        assert_eq!(seq, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        for _ in 0..100 {
            let j = jitter(1000).as_millis();
            assert!((800..=1200).contains(&j), "{j}");
        }
        assert_eq!(jitter(3), Duration::from_millis(3));
    }
}
