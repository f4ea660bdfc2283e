//! The wasm side of the ABI: what `module!` exports, over a [`ModuleState`].
//!
//! A wasm32-unknown-unknown module is single-threaded, so the state lives in thread-locals.

use std::cell::RefCell;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering::Relaxed};

use crate::abi::{self, ABI_VERSION, GuestState, Phase};
use crate::module::{ModuleDef, ModuleState};

/// The block the host reads after a trap; its layout is [`GuestState`]'s.
#[repr(C)]
struct StateBlock {
    magic: AtomicU32,
    phase: AtomicU32,
    index: AtomicU32,
    panic_len: AtomicU32,
    panic: [AtomicU8; GuestState::PANIC_CAPACITY],
}

static STATE: StateBlock = StateBlock {
    magic: AtomicU32::new(GuestState::MAGIC),
    phase: AtomicU32::new(0),
    index: AtomicU32::new(0),
    panic_len: AtomicU32::new(0),
    panic: [const { AtomicU8::new(0) }; GuestState::PANIC_CAPACITY],
};

thread_local! {
    static MODULE: RefCell<Option<ModuleState>> = const { RefCell::new(None) };
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn track(phase: Phase, index: u32) {
    STATE.phase.store(phase as u32, Relaxed);
    STATE.index.store(index, Relaxed);
}

/// Records panic messages where the host can read them: a panic aborts, and the host sees only
/// a trap, so the message has to be left behind first.
fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let text = info.to_string();
            let bytes = &text.as_bytes()[..text.len().min(GuestState::PANIC_CAPACITY)];
            for (slot, b) in STATE.panic.iter().zip(bytes) {
                slot.store(*b, Relaxed);
            }
            STATE.panic_len.store(bytes.len() as u32, Relaxed);
        }));
    });
}

fn with_module<R>(def: &'static ModuleDef, f: impl FnOnce(&mut ModuleState) -> R) -> R {
    init();
    MODULE.with(|m| {
        let mut m = m.borrow_mut();
        f(m.get_or_insert_with(|| ModuleState::with_tracker(def, track)))
    })
}

fn output(bytes: impl FnOnce(&mut Vec<u8>)) -> i64 {
    OUTPUT.with(|o| {
        let mut o = o.borrow_mut();
        bytes(&mut o);
        abi::pack(o.as_ptr() as usize as u32, o.len() as u32)
    })
}

/// `fmn_abi_version`.
pub fn abi_version() -> i32 {
    ABI_VERSION as i32
}

/// `fmn_state`.
pub fn state() -> i32 {
    init();
    &STATE as *const StateBlock as usize as i32
}

/// `fmn_input`.
pub fn input(len: i32) -> i32 {
    INPUT.with(|i| {
        let mut i = i.borrow_mut();
        i.resize(len.max(0) as usize, 0);
        i.as_mut_ptr() as usize as i32
    })
}

/// `fmn_describe`.
pub fn describe(def: &'static ModuleDef) -> i64 {
    init();
    let json = serde_json::to_vec(&def.describe()).unwrap_or_default();
    output(|o| {
        o.clear();
        o.extend_from_slice(&json);
    })
}

/// `fmn_register`.
pub fn register(def: &'static ModuleDef, rule: i32, args_len: i32) -> i64 {
    let res = INPUT.with(|i| {
        let i = i.borrow();
        let args = i.get(..args_len.max(0) as usize).unwrap_or(&[]);
        with_module(def, |m| m.register(rule.max(0) as usize, args))
    });
    match res {
        Ok(h) => h as i64,
        Err(e) => {
            ERROR.with(|s| *s.borrow_mut() = e);
            -1
        }
    }
}

/// `fmn_unregister`.
pub fn unregister(def: &'static ModuleDef, handle: i32) -> i32 {
    if with_module(def, |m| m.unregister(handle as u32)) {
        0
    } else {
        -1
    }
}

/// `fmn_eval`.
pub fn eval(def: &'static ModuleDef, len: i32) -> i64 {
    let out = INPUT.with(|i| {
        let i = i.borrow();
        let input = i.get(..len.max(0) as usize).unwrap_or(&[]);
        match abi::decode_request(input) {
            Ok(req) => with_module(def, |m| m.eval(req.message, &req.handles, &req.extractors)),
            Err(e) => abi::EvalOutput {
                message_error: Some(format!("malformed request: {e}")),
                ..Default::default()
            },
        }
    });
    output(|o| abi::encode_output(o, &out))
}

/// `fmn_error`.
pub fn error() -> i64 {
    let text = ERROR.with(|s| s.borrow().clone());
    output(|o| {
        o.clear();
        o.extend_from_slice(text.as_bytes());
    })
}
