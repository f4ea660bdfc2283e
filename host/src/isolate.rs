//! Finding the rules at fault when a batched call fails.
//!
//! Every user's guest rules of a module go into one call per message. When that call fails
//! (a trap, a timeout), the module's own word about which rule was running cannot be trusted:
//! the host splits the rules in halves and calls each half, as far as needed, until each
//! failing call holds one rule. The failure then belongs to that rule, and to the filters that
//! contain it; every other rule has its answer.

use fmn_rules_sdk::abi::EvalOutput;

use crate::error::{CallError, FailureKind};

/// What one rule of a batch came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It matched.
    Match,
    /// It did not match.
    NoMatch,
    /// It returned an error.
    Error(String),
    /// A call with it alone failed: it is at fault.
    Faulty(CallError),
    /// Not isolated within the budget: the failure is not attributed.
    Unknown(CallError),
}

/// Calls `call` with subsets of the positions `0..n` until every position has an outcome:
/// at most `budget` calls. `call` gets the positions to evaluate, in order, and answers for
/// them by their order in that list.
pub fn isolate(
    n: usize,
    budget: usize,
    mut call: impl FnMut(&[usize]) -> Result<EvalOutput, CallError>,
) -> Vec<Outcome> {
    let mut out: Vec<Option<Outcome>> = vec![None; n];
    let mut todo: Vec<(usize, usize)> = vec![(0, n)];
    let mut calls = 0;
    while let Some((start, end)) = todo.pop() {
        if start == end {
            continue;
        }
        let positions: Vec<usize> = (start..end).collect();
        if calls >= budget {
            let e = over_budget(budget);
            for p in positions {
                out[p] = Some(Outcome::Unknown(e.clone()));
            }
            continue;
        }
        calls += 1;
        match call(&positions) {
            Ok(o) if o.message_error.is_none() => record(&mut out, &positions, &o),
            result => {
                let e = match result {
                    Err(e) => e,
                    Ok(o) => message_error(o.message_error.unwrap_or_default()),
                };
                if end - start == 1 {
                    out[start] = Some(Outcome::Faulty(e));
                } else {
                    let mid = start + (end - start) / 2;
                    todo.push((mid, end));
                    todo.push((start, mid));
                }
            }
        }
    }
    out.into_iter()
        .map(|o| o.unwrap_or(Outcome::Unknown(over_budget(budget))))
        .collect()
}

fn record(out: &mut [Option<Outcome>], positions: &[usize], o: &EvalOutput) {
    for (k, &p) in positions.iter().enumerate() {
        out[p] = Some(if o.is_match(k) {
            Outcome::Match
        } else {
            Outcome::NoMatch
        });
    }
    for (k, error) in &o.errors {
        if let Some(&p) = positions.get(*k as usize) {
            out[p] = Some(Outcome::Error(error.clone()));
        }
    }
}

fn over_budget(budget: usize) -> CallError {
    CallError {
        module: String::new(),
        during: "isolating the rule at fault".into(),
        kind: FailureKind::Trap,
        detail: format!("the failing rules were not isolated within {budget} calls"),
    }
}

fn message_error(detail: String) -> CallError {
    CallError {
        module: String::new(),
        during: "parsing the message".into(),
        kind: FailureKind::Trap,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure() -> CallError {
        CallError {
            module: "m".into(),
            during: "rule x".into(),
            kind: FailureKind::Timeout,
            detail: "ran past its time limit".into(),
        }
    }

    /// A module whose rule 5 fails any call it is in, whose even rules match, and whose
    /// rule 3 returns an error.
    fn module(positions: &[usize]) -> Result<EvalOutput, CallError> {
        if positions.contains(&5) {
            return Err(failure());
        }
        let mut o = EvalOutput::with_handles(positions.len());
        for (k, p) in positions.iter().enumerate() {
            if p % 2 == 0 {
                o.matched[k / 64] |= 1 << (k % 64);
            }
            if *p == 3 {
                o.errors.push((k as u32, "bad".into()));
            }
        }
        Ok(o)
    }

    #[test]
    fn the_failing_rule_is_found_and_the_others_answered() {
        let mut calls = 0;
        let out = isolate(8, 64, |p| {
            calls += 1;
            module(p)
        });
        assert_eq!(out[5], Outcome::Faulty(failure()));
        assert_eq!(out[3], Outcome::Error("bad".into()));
        for p in [0, 2, 4, 6] {
            assert_eq!(out[p], Outcome::Match, "{p}");
        }
        for p in [1, 7] {
            assert_eq!(out[p], Outcome::NoMatch, "{p}");
        }
        // Halving: 8 -> 4 -> 2 -> 1, with the healthy halves answered on the way.
        assert!(calls <= 7, "{calls} calls");
    }

    #[test]
    fn a_budget_too_small_attributes_nothing() {
        let out = isolate(8, 2, module);
        assert!(out[5..].iter().all(|o| matches!(o, Outcome::Unknown(_))));
        assert!(!out.iter().any(|o| matches!(o, Outcome::Faulty(_))));
    }
}
