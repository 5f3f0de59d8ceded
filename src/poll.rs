//! The polling cadence of a long job (PollBackup, PollRestore): how often SHOW BACKUP / SHOW RESTORE
//! is sent, and how often the run does its upkeep (refresh the heartbeat, read the cluster clock
//! for the job_timeout_s check). Kept apart from the runner so the schedule is testable and the
//! number of statements a 2-hour job costs the FE can be computed (docs/BENCHMARKS.md).
//!
//! - SHOW every `delay`, doubling from `initial_ms` up to `max_ms` (±20% jitter).
//! - Upkeep (heartbeat UPDATE + SELECT NOW()) on the first poll, then once the poll loop has slept
//!   `upkeep_every` = `min(3 × max_ms, heartbeat_stale_s / 4)` since the last one.
//! - The time counted is the schedule's, never the wall clock's: each sleep counts its guaranteed
//!   minimum (the delay less the 20% jitter), so the count is a pure function of the number of polls
//!   — the same cluster answers give the same statements on any machine, however slow or loaded
//!   (the fault suite depends on it) — and it never exceeds the wall time slept, so the statement
//!   rate per wall minute is at most the schedule's. With the defaults (1 s → 30 s, stale 300 s) the
//!   upkeep falls every 4th poll (4 × 24 s counted ≥ 75 s), i.e. every ~120 s of sleep: a job that
//!   has run a few minutes costs 2 SHOW + 0.5 UPDATE + 0.5 NOW = 3 statements per minute, and the
//!   heartbeat is refreshed every ~120 s (≤ 144 s with jitter) plus the latency of the 4 SHOWs,
//!   well inside the 300 s stale period.
//! - No sleep is longer than `upkeep_every`, so a large `max_ms` cannot starve the heartbeat.
//! - job_timeout_s is judged on the cluster clock read at each upkeep, never on this count.

use std::time::Duration;

/// The schedule of one poll loop.
#[derive(Debug, Clone)]
pub struct PollCadence {
    delay_ms: u64,
    max_ms: u64,
    upkeep_every_ms: u64,
    /// Guaranteed sleep (ms) since the last upkeep; None before the first poll.
    slept_since_upkeep: Option<u64>,
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
            upkeep_every_ms: upkeep_ms,
            slept_since_upkeep: None,
        }
    }

    /// The interval between two upkeeps, in counted (scheduled) sleep.
    pub fn upkeep_every(&self) -> Duration {
        Duration::from_millis(self.upkeep_every_ms)
    }

    /// Whether this poll does the upkeep (heartbeat + clock); records it when true. Always true the
    /// first time, so a job that is already past its timeout is noticed at once. Depends only on
    /// the sleeps scheduled so far, never on the wall clock.
    pub fn upkeep_due(&mut self) -> bool {
        let due = self
            .slept_since_upkeep
            .is_none_or(|ms| ms >= self.upkeep_every_ms);
        if due {
            self.slept_since_upkeep = Some(0);
        }
        due
    }

    /// The (unjittered) delay before the next poll; advances the backoff and counts the sleep's
    /// guaranteed minimum towards the next upkeep.
    pub fn next_delay_ms(&mut self) -> u64 {
        let d = self.delay_ms;
        self.delay_ms = self.delay_ms.saturating_mul(2).min(self.max_ms);
        let slept = self.slept_since_upkeep.unwrap_or(0);
        self.slept_since_upkeep = Some(slept.saturating_add(jitter_floor(d)));
        d
    }

    /// The jittered sleep before the next poll (±20% so concurrent pollers do not march in step).
    pub fn next_sleep(&mut self) -> Duration {
        jitter(self.next_delay_ms())
    }
}

/// The shortest sleep `jitter(ms)` can give.
fn jitter_floor(ms: u64) -> u64 {
    ms - ms / 5
}

/// ±20% jitter (never below `jitter_floor`).
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
/// (time of the poll, statements) — each upkeep is one heartbeat UPDATE plus one SELECT NOW().
/// The arithmetic twin of the loop, used by tests and the benchmark.
pub fn simulate(
    initial_ms: u64,
    max_ms: u64,
    stale_s: u64,
    total: Duration,
) -> Vec<(Duration, u32)> {
    let mut c = PollCadence::new(initial_ms, max_ms, stale_s);
    let mut t = Duration::ZERO;
    let mut out = Vec::new();
    while t < total {
        let statements = 1 + if c.upkeep_due() { 2 } else { 0 };
        out.push((t, statements));
        t += Duration::from_millis(c.next_delay_ms());
    }
    out
}

/// The periodic progress line of a long job: while the job stays in one state, one line every
/// `every` (wall time) saying how long it has been there. `every` = 20 × the poll cap, between 1 s
/// and 60 s: a minute-long UPLOADING gets a line a minute with the defaults.
#[derive(Debug)]
pub struct ProgressTicker {
    every: Duration,
    state: String,
    since: std::time::Instant,
    last_line: std::time::Instant,
}

impl ProgressTicker {
    pub fn new(poll_max_ms: u64) -> ProgressTicker {
        let every = Duration::from_millis(poll_max_ms.saturating_mul(20))
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        let now = std::time::Instant::now();
        ProgressTicker {
            every,
            state: String::new(),
            since: now,
            last_line: now,
        }
    }

    /// Records the state seen by a poll; `Some(time in this state)` when a progress line is due.
    pub fn observe(&mut self, state: &str) -> Option<Duration> {
        let now = std::time::Instant::now();
        if state != self.state {
            self.state = state.to_string();
            self.since = now;
            self.last_line = now;
            return None;
        }
        if now.duration_since(self.last_line) >= self.every {
            self.last_line = now;
            return Some(now.duration_since(self.since));
        }
        None
    }
}

/// `1h02m03s` / `4m05s` / `6.1s`: durations in log lines.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{:.1}s", d.as_secs_f64()),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m{:02}s", s / 3600, (s % 3600) / 60, s % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop's statements when every sleep lasts `sleep(delay)` (ms): the worst case for the
    /// rate per wall minute is every sleep at its jitter floor.
    fn run(c: &mut PollCadence, total: Duration, sleep: fn(u64) -> u64) -> Vec<(Duration, u32)> {
        let mut t = Duration::ZERO;
        let mut out = Vec::new();
        while t < total {
            out.push((t, 1 + if c.upkeep_due() { 2 } else { 0 }));
            t += Duration::from_millis(sleep(c.next_delay_ms()));
        }
        out
    }

    fn per_minute(events: &[(Duration, u32)], from: Duration, to: Duration) -> f64 {
        let n: u32 = events
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|e| e.1)
            .sum();
        f64::from(n) / (to - from).as_secs_f64() * 60.0
    }

    #[test]
    fn defaults_cost_at_most_four_statements_a_minute_after_five_minutes() {
        let two_hours = Duration::from_secs(7200);
        let five_min = Duration::from_secs(300);
        let nominal = simulate(1000, 30_000, 300, two_hours);
        let steady = per_minute(&nominal, five_min, two_hours);
        assert!((2.9..=3.1).contains(&steady), "{steady}");
        // every sleep at its jitter floor (−20%): still ≤ 4 a minute of wall time
        let fastest = run(
            &mut PollCadence::new(1000, 30_000, 300),
            two_hours,
            jitter_floor,
        );
        let worst = per_minute(&fastest, five_min, two_hours);
        assert!(worst <= 4.0, "{worst}");
        // and in every 60 s window after the first five minutes: at most 3 SHOW + 1 upkeep
        for ev in [&nominal, &fastest] {
            let mut w = five_min;
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
    }

    #[test]
    fn upkeep_follows_the_schedule_not_the_wall_clock() {
        // the same polls give the same upkeeps, however long each poll took
        let a: Vec<bool> = {
            let mut c = PollCadence::new(5, 1000, 10);
            (0..40)
                .map(|_| {
                    let u = c.upkeep_due();
                    c.next_delay_ms();
                    u
                })
                .collect()
        };
        let b: Vec<bool> = {
            let mut c = PollCadence::new(5, 1000, 10);
            (0..40)
                .map(|i| {
                    if i == 3 {
                        std::thread::sleep(Duration::from_millis(20)); // a stalled machine
                    }
                    let u = c.upkeep_due();
                    let _ = c.next_sleep();
                    u
                })
                .collect()
        };
        assert_eq!(a, b);
        // fault-suite tuning (5 ms → 1 s, stale 10 s): upkeep every 2.5 s counted; counted sleeps
        // 4+8+16+32+64+128+256+512+800+800 ms, so the first upkeep after the first poll is the 11th
        let first: Vec<usize> = (0..40).filter(|&i| a[i]).collect();
        assert_eq!(&first[..2], &[0, 10], "{first:?}");
    }

    #[test]
    fn upkeep_never_starves_the_heartbeat() {
        // a cap far above the stale period: sleeps are bounded by the upkeep interval
        let mut c = PollCadence::new(1000, 3_600_000, 300);
        assert_eq!(c.upkeep_every(), Duration::from_secs(75));
        assert!(c.upkeep_due(), "first poll does the upkeep");
        let mut polls_between = 0;
        for _ in 0..40 {
            assert!(c.next_delay_ms() <= 75_000);
            polls_between += 1;
            if c.upkeep_due() {
                break;
            }
        }
        // 0.8 + 1.6 + 3.2 + 6.4 + 12.8 + 25.6 + 51.2 s counted ≥ 75 s: 7 sleeps (127 s nominal)
        assert_eq!(polls_between, 7);
        for _ in 0..3 {
            let mut n = 0;
            loop {
                c.next_delay_ms();
                n += 1;
                if c.upkeep_due() {
                    break;
                }
            }
            // capped at 75 s a sleep (60 s counted): every second poll, ≤ 150 s nominal
            assert_eq!(n, 2);
        }
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
            assert!(jitter(1000) >= Duration::from_millis(jitter_floor(1000)));
        }
        assert_eq!(jitter(3), Duration::from_millis(3));
        assert_eq!(jitter_floor(3), 3);
    }

    #[test]
    fn progress_lines_only_while_a_state_lasts() {
        let t = ProgressTicker::new(5); // 100 ms -> clamped to 1 s
        assert_eq!(t.every, Duration::from_secs(1));
        let mut t = ProgressTicker {
            every: Duration::from_millis(30),
            ..t
        };
        assert!(t.observe("UPLOADING").is_none());
        std::thread::sleep(Duration::from_millis(40));
        let d = t.observe("UPLOADING").unwrap();
        assert!(d >= Duration::from_millis(30));
        assert!(t.observe("UPLOADING").is_none(), "not again at once");
        assert!(t.observe("SAVE_META").is_none(), "a new state resets");
        assert_eq!(human(Duration::from_secs(3723)), "1h02m03s");
        assert_eq!(human(Duration::from_secs(245)), "4m05s");
        assert_eq!(human(Duration::from_millis(6100)), "6.1s");
    }
}
