//! A call's time limit counts the CPU time it used, not the time it waited for a core: on one
//! CPU shared with busy threads, a rule that needs half its limit still answers, while a rule
//! that loops for ever is still interrupted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use fmn_host::clock::thread_cpu_time;
use fmn_host::{Evaluator, LoadedModule, Sandbox, SandboxConfig, WasmModule};

use crate::wasm::{NO_MATCH, SPIN, evaluator_for, hostile_with, koji};

const TOPIC: &str = "org.fedoraproject.prod.buildsys.build.state.change";

/// An evaluator for one user who follows the WAT module's only rule, whose `fmn_eval` body
/// is `eval` (with a mutable i64 global `$n` to count in).
fn evaluator(sb: &Arc<Sandbox>, eval: &str) -> Evaluator {
    let bytes = hostile_with(eval, 1, "(global $n (mut i64) (i64.const 0))");
    let module = WasmModule::from_bytes(sb, &bytes, "spinner.wasm").unwrap();
    let prefs = r#"
[users.a.channels.email]
addresses = ["a@x"]
filters = [{ name = "spin", rules = [{ rule = "hostile::spin" }] }]
"#;
    evaluator_for(vec![LoadedModule::wasm(module)], prefs).0
}

/// A rule that counts `n` down to zero, then answers "no match".
fn countdown(n: u64) -> String {
    format!(
        "(global.set $n (i64.const {n}))
         (loop $l
           (global.set $n (i64.sub (global.get $n) (i64.const 1)))
           (br_if $l (i64.ne (global.get $n) (i64.const 0))))
         {NO_MATCH}"
    )
}

/// The CPU time this thread spends evaluating one message with `e`, and the errors of the
/// evaluation (module failures and rule errors), each after its kind (`timeout: ...`).
fn cpu_of_one(e: &mut Evaluator) -> (Duration, Vec<String>) {
    let msg = koji();
    let before = thread_cpu_time().unwrap();
    let ev = e.evaluate(msg.as_bytes(), TOPIC);
    let used = thread_cpu_time().unwrap() - before;
    let errors = ev
        .failures
        .iter()
        .map(|f| format!("{}: {f}", f.kind.as_str()))
        .chain(ev.rule_errors.iter().map(|r| r.error.clone()))
        .collect();
    (used, errors)
}

/// A count-down whose call takes about half of `limit` of CPU time on this machine, unloaded.
fn calibrate(sb: &Arc<Sandbox>, limit: Duration) -> u64 {
    let target = limit / 2;
    let mut n: u64 = 1 << 16;
    for _ in 0..40 {
        let mut e = evaluator(sb, &countdown(n));
        cpu_of_one(&mut e); // instantiates the module
        let (used, errors) = cpu_of_one(&mut e);
        // Another machine's load on the core may slow a call past its limit: count less.
        if !errors.is_empty() {
            eprintln!("calibrating: {n} iterations failed after {used:?} of CPU time: {errors:?}");
            n /= 2;
            continue;
        }
        // Below a millisecond the measure is too coarse to scale from.
        if used < Duration::from_millis(1) {
            n *= 4;
            continue;
        }
        let ratio = target.as_secs_f64() / used.as_secs_f64();
        if (0.8..1.25).contains(&ratio) {
            eprintln!("calibrated: {n} iterations take {used:?} of CPU time");
            return n;
        }
        n = ((n as f64) * ratio) as u64;
    }
    panic!("could not calibrate a count-down to {target:?} of CPU time");
}

/// Threads that keep one CPU busy until dropped.
struct Hogs {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Hogs {
    /// Starts `n` busy threads on `cpu`, and returns once they all run there.
    fn start(n: usize, cpu: usize) -> Hogs {
        let stop = Arc::new(AtomicBool::new(false));
        let pinned = Arc::new(AtomicUsize::new(0));
        let threads = (0..n)
            .map(|_| {
                let (stop, pinned) = (stop.clone(), pinned.clone());
                std::thread::spawn(move || {
                    pin_to(cpu).unwrap();
                    pinned.fetch_add(1, Ordering::SeqCst);
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        while pinned.load(Ordering::SeqCst) < n {
            std::thread::yield_now();
        }
        Hogs { stop, threads }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The first CPU this thread may run on.
fn first_allowed_cpu() -> Option<usize> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: cpu_set_t is plain data, a zeroed one the empty set; sched_getaffinity writes at
    // most `size` bytes into it, and CPU_ISSET reads within it (every c < CPU_SETSIZE).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut set) != 0 {
            return None;
        }
        (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set))
    }
}

/// Pins the calling thread to `cpu` (one of [`first_allowed_cpu`]).
fn pin_to(cpu: usize) -> Result<(), std::io::Error> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: as above; CPU_SET writes within the set (cpu < CPU_SETSIZE) and
    // sched_setaffinity only reads `size` bytes of it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size, &set)
    };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Pins this thread to one CPU and starts two threads that keep that CPU busy; `None` (with
/// the reason said) where affinity is unavailable.
fn contend() -> Option<Hogs> {
    let Some(cpu) = first_allowed_cpu() else {
        eprintln!("skipped: cannot read this thread's CPU affinity");
        return None;
    };
    if let Err(e) = pin_to(cpu) {
        eprintln!("skipped: cannot pin this thread to CPU {cpu}: {e}");
        return None;
    }
    Some(Hogs::start(2, cpu))
}

/// The sandbox's default limits, with a wall-clock cap `wall_cap_factor` times the limit.
fn sandbox(wall_cap_factor: u32) -> Arc<Sandbox> {
    // The epoch ticker starts here, before any pinning: it keeps its own CPUs.
    Sandbox::new(SandboxConfig {
        wall_cap_factor,
        // Compiled modules in a cache would not change what is measured here.
        cache_dir: None,
        ..SandboxConfig::default()
    })
    .unwrap()
}

/// Evaluates a message with `forever` (an endless loop) on a contended CPU: it fails as a
/// timeout whose detail contains `says`.
fn interrupted(forever: &mut Evaluator, says: &str) {
    let (_, errors) = cpu_of_one(forever);
    assert!(!errors.is_empty(), "the endless loop was not interrupted");
    for e in &errors {
        assert!(e.starts_with("timeout: ") && e.contains(says), "{e}");
    }
}

/// The machine running the tests may be loaded by more than the test's own busy threads, so
/// the wall-clock cap is set far away here: what is checked is the CPU time (the cap is
/// checked below).
#[test]
fn a_call_that_waits_for_a_core_is_not_timed_out_but_a_loop_still_is() {
    let sb = sandbox(1000);
    if thread_cpu_time().is_none() {
        eprintln!("skipped: this platform has no thread CPU-time clock");
        return;
    }
    let n = calibrate(&sb, sb.config().timeout);
    let mut half = evaluator(&sb, &countdown(n));
    let mut forever = evaluator(&sb, SPIN);
    cpu_of_one(&mut half);
    let Some(_hogs) = contend() else { return };
    let limit = sb.config().timeout;
    let mut answered = 0;
    for _ in 0..50 {
        let (used, errors) = cpu_of_one(&mut half);
        if errors.is_empty() {
            answered += 1;
            if answered == 5 {
                break;
            }
            continue;
        }
        // On a machine loaded beyond the test's own threads, the count-down itself can take
        // more than twice its calibrated CPU time (shared caches, clock speed): a call that did
        // use more than its limit is rightly stopped. One stopped before it is the failure
        // this test is for.
        assert!(
            used > limit,
            "a call of {used:?} of CPU time sharing its CPU with two busy threads: {errors:?}"
        );
    }
    assert_eq!(
        answered, 5,
        "five calls of half the limit answered among 50"
    );
    interrupted(&mut forever, "ran past its time limit (20 ms)");
}

/// A call whose thread gets a third of a CPU at most reaches a wall-clock cap of twice its
/// limit before its CPU time: it is interrupted as a timeout that says so.
#[test]
fn a_starved_call_is_interrupted_at_the_wall_clock_cap() {
    let sb = sandbox(2);
    let mut forever = evaluator(&sb, SPIN);
    if thread_cpu_time().is_none() {
        eprintln!("skipped: this platform has no thread CPU-time clock");
        return;
    }
    let Some(_hogs) = contend() else { return };
    interrupted(
        &mut forever,
        "ran past its wall-clock cap (40 ms, 2 times its time limit of 20 ms)",
    );
}
