//! How long a call into a module has run: the CPU time of the thread that runs it, not
//! wall-clock time, so a legitimate call that waited for a core on a loaded machine is not
//! taken for one that loops. A hard wall-clock cap still bounds a call whose thread is starved,
//! so that it cannot hold a worker for ever.
//!
//! The epoch ticker measures wall-clock time; when a call's deadline in ticks is reached, the
//! store asks [`CallClock::on_deadline`] whether the call really used its budget.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How old the thread's CPU-time reading a call starts from may be. Reading the clock is a
/// system call (0.3 to 0.4 us measured, against about 7 us for a whole message's evaluation),
/// so a call starts from the thread's last reading if it is younger than this: the call is
/// then charged at most this much CPU time it did not use (the thread's since the reading),
/// and the clock is read at most once this often per thread on the hot path.
const STALE: Duration = Duration::from_micros(250);

thread_local! {
    /// This thread's last CPU-time reading at call start, and when it was taken.
    static LAST_READING: Cell<Option<(Instant, Duration)>> = const { Cell::new(None) };
}

/// The thread's CPU time as of at most [`STALE`] before `now`, or `None` where the clock is
/// unavailable; never more than the time used by `now`.
fn cpu_time_at_most_stale(now: Instant) -> Option<Duration> {
    LAST_READING.with(|last| {
        if let Some((at, cpu)) = last.get()
            && now.saturating_duration_since(at) < STALE
        {
            return Some(cpu);
        }
        let cpu = thread_cpu_time()?;
        last.set(Some((now, cpu)));
        Some(cpu)
    })
}

/// What to do with a call whose epoch deadline was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It has time left: let it run this many more ticks before asking again.
    Continue(u64),
    /// It has used its budget, or reached the wall-clock cap: interrupt it.
    Interrupt,
}

/// Decides on a call that has run `cpu` of CPU time (`None` where the thread's CPU clock is
/// unavailable: then wall-clock time counts) and `wall` of wall-clock time, against its
/// `budget` of CPU time and its wall-clock `cap`; ticks are `tick` long.
pub fn decide(
    cpu: Option<Duration>,
    wall: Duration,
    budget: Duration,
    cap: Duration,
    tick: Duration,
) -> Decision {
    let used = cpu.unwrap_or(wall);
    if wall >= cap || used >= budget {
        return Decision::Interrupt;
    }
    // The ticks measure wall-clock time: the call gets at least the CPU time it has left,
    // then is asked again (less if that would pass the cap).
    let left = (budget - used).min(cap - wall);
    let tick = tick.as_nanos().max(1);
    Decision::Continue((left.as_nanos().div_ceil(tick) as u64).max(1))
}

/// The CPU time the calling thread has used, or `None` where that clock is unavailable.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
))]
pub fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` only writes the `timespec` it is given, which is valid and
    // exclusively borrowed for the call; it reads no other memory of ours.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    Some(Duration::new(secs, nanos))
}

/// The CPU time the calling thread has used: unavailable on this platform.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_vendor = "apple"
)))]
pub fn thread_cpu_time() -> Option<Duration> {
    None
}

/// One call's budget and when it started, kept in the store for the deadline callback.
#[derive(Debug, Clone)]
pub struct CallClock {
    started: Instant,
    started_cpu: Option<Duration>,
    budget: Duration,
    cap: Duration,
    tick: Duration,
    /// The CPU time used when the deadline was last reached.
    cpu_at_deadline: Option<Duration>,
    /// The last decision interrupted the call at the wall-clock cap, not for its CPU time.
    capped: bool,
}

impl CallClock {
    /// A clock for a call with `budget` of CPU time and at most `cap` of wall-clock time, its
    /// epoch ticks `tick` long, starting now on the calling thread.
    pub fn start(budget: Duration, cap: Duration, tick: Duration) -> CallClock {
        let started = Instant::now();
        CallClock {
            started,
            started_cpu: cpu_time_at_most_stale(started),
            budget,
            cap,
            tick,
            cpu_at_deadline: None,
            capped: false,
        }
    }

    /// Called on the call's thread when its epoch deadline is reached.
    pub fn on_deadline(&mut self) -> Decision {
        let wall = self.started.elapsed();
        let cpu = self
            .started_cpu
            .and_then(|start| Some(thread_cpu_time()?.saturating_sub(start)));
        let d = decide(cpu, wall, self.budget, self.cap, self.tick);
        self.cpu_at_deadline = cpu;
        self.capped = d == Decision::Interrupt && wall >= self.cap;
        d
    }

    /// The CPU time the call had used when its deadline was last reached, if known.
    pub fn cpu_at_deadline(&self) -> Option<Duration> {
        self.cpu_at_deadline
    }

    /// The call's CPU-time budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// The call's wall-clock cap.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Whether the call was interrupted at the wall-clock cap rather than for its CPU time.
    pub fn capped(&self) -> bool {
        self.capped
    }
}

impl Default for CallClock {
    fn default() -> Self {
        CallClock::start(Duration::ZERO, Duration::ZERO, Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Each case: the CPU time used in µs (`None`: no CPU clock), the wall-clock time passed
    /// in ms, the tick's length in ms, and the decision, for a call of 20 ms capped at 200 ms.
    #[test]
    fn a_call_continues_for_the_cpu_time_it_has_left_until_its_budget_or_the_cap() {
        use Decision::{Continue, Interrupt};
        let cases = [
            (Some(5_000), 20, 1, Continue(15)), // waited for a core
            (Some(19_700), 25, 1, Continue(1)), // part of a tick left buys a whole one
            (Some(5_000), 20, 2, Continue(8)),  // ticks of 2 ms
            (Some(20_000), 20, 1, Interrupt),   // used its budget
            (Some(21_000), 40, 1, Interrupt),   // over its budget
            (Some(3_000), 200, 1, Interrupt),   // starved to the cap
            (Some(3_000), 195, 1, Continue(5)), // asked again at the cap, not after 17 ms
            (None, 20, 1, Interrupt),           // no CPU clock: wall-clock time counts
            (None, 12, 1, Continue(8)),         // no CPU clock, time left
        ];
        for (cpu, wall, tick, expected) in cases {
            let cpu_time = cpu.map(Duration::from_micros);
            let d = decide(cpu_time, ms(wall), ms(20), ms(200), ms(tick));
            assert_eq!(
                d, expected,
                "cpu {cpu:?} us, wall {wall} ms, tick {tick} ms"
            );
        }
    }

    #[test]
    fn the_thread_cpu_clock_does_not_count_time_spent_waiting() {
        let Some(before) = thread_cpu_time() else {
            eprintln!("skipped: no thread CPU clock on this platform");
            return;
        };
        std::thread::sleep(ms(30));
        let used = thread_cpu_time().map(|t| t.saturating_sub(before));
        assert!(used.is_some_and(|u| u < ms(30)), "{used:?}");
    }

    #[test]
    fn a_call_starts_from_the_last_reading_while_it_is_fresh_then_reads_again() {
        let now = Instant::now();
        let Some(first) = cpu_time_at_most_stale(now) else {
            eprintln!("skipped: no thread CPU clock on this platform");
            return;
        };
        // Work a millisecond of CPU time: the clock moves, the fresh reading does not.
        let mut x = 1u64;
        while thread_cpu_time().is_some_and(|t| t < first + ms(1)) {
            x = std::hint::black_box(x.wrapping_mul(3).wrapping_add(1));
        }
        assert_eq!(cpu_time_at_most_stale(now + STALE / 2), Some(first));
        let again = cpu_time_at_most_stale(now + STALE);
        assert!(again.is_some_and(|t| t >= first + ms(1)), "{again:?}");
        assert!(again <= thread_cpu_time(), "never ahead of the clock");
    }
}
