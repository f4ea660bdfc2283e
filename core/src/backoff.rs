//! Waiting longer after each failure: a first delay, doubled at every attempt up to a cap.
//!
//! The delays only: the parts sleep them in their own way (most of them racing a
//! cancellation), since this crate has no runtime of its own.

use std::time::Duration;

/// Delays between attempts: `first`, then twice the last, never more than `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays from `first`, doubling up to `cap`.
    pub const fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next attempt, counting it.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// Starts again from the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Delays handed out since the start or the last [`Self::reset`].
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The delay after `n` earlier ones (0 for the first), whatever this one's count.
    pub fn delay(&self, n: u32) -> Duration {
        self.first
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn doubles_from_the_first_delay_up_to_the_cap() {
        let mut b = Backoff::new(ms(50), ms(3_000));
        let delays: Vec<Duration> = (0..9).map(|_| b.next_delay()).collect();
        let expected = [50, 100, 200, 400, 800, 1600, 3000, 3000, 3000].map(ms);
        assert_eq!(delays, expected);
        assert_eq!(b.attempts(), 9);
    }

    #[test]
    fn reset_starts_again_from_the_first_delay() {
        let mut b = Backoff::new(ms(250), ms(30_000));
        b.next_delay();
        b.next_delay();
        assert_eq!(b.next_delay(), ms(1_000));
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert_eq!(b.next_delay(), ms(250));
    }

    /// However many attempts, the delay stays at the cap: neither the doubling nor the count
    /// overflows.
    #[test]
    fn stays_at_the_cap_without_overflow() {
        let b = Backoff::new(ms(50), ms(5_000));
        assert_eq!(b.delay(40), ms(5_000));
        assert_eq!(b.delay(u32::MAX), ms(5_000));
        let mut b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.next_delay(), Duration::MAX);
        assert_eq!(b.next_delay(), Duration::MAX);
    }

    /// A first delay above the cap is cut to the cap.
    #[test]
    fn the_first_delay_is_capped_too() {
        let mut b = Backoff::new(ms(10_000), ms(3_000));
        assert_eq!(b.next_delay(), ms(3_000));
    }
}
