//! A rule module whose rules misbehave on purpose, one way each: fmn's tests check that each
//! is contained. Built to wasm by the workspace's build script; never bundled.

use fmn_rules_sdk::{Keys, Message, extractor, module, rule};

/// Always true: the control.
#[rule]
pub fn ok(_msg: &Message) -> bool {
    true
}

/// Panics with a message.
#[rule]
pub fn panics(msg: &Message) -> bool {
    panic!("rule panics deliberately on {}", msg.topic())
}

/// Recurses until the stack is exhausted.
#[rule]
pub fn recurses(msg: &Message) -> bool {
    // Endless on purpose: the sandbox's stack cap is what stops it.
    #[allow(unconditional_recursion)]
    fn deeper(n: u64, pad: &mut [u8; 256]) -> u64 {
        pad[(n % 256) as usize] = n as u8;
        let mut next = [0u8; 256];
        next.copy_from_slice(pad);
        std::hint::black_box(deeper(std::hint::black_box(n + 1), &mut next)) + 1
    }
    deeper(msg.topic().len() as u64, &mut [0; 256]) > 0
}

/// Loops forever.
#[rule]
pub fn spins(msg: &Message) -> bool {
    let mut n = msg.topic().len() as u64;
    loop {
        n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        if n == u64::MAX && std::hint::black_box(false) {
            return true;
        }
    }
}

/// Allocates until memory runs out.
#[rule]
pub fn hoards(msg: &Message) -> bool {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        // Reserved, barely written: the limit is reached at once, not after filling memory.
        let mut chunk = Vec::with_capacity(4 << 20);
        chunk.push(msg.topic().len() as u8);
        kept.push(std::hint::black_box(chunk));
    }
}

/// Says in the state block that it is running rule `ok` (the first), then loops: the host
/// must find the rule at fault without taking the module's word for it.
#[rule]
pub fn lies(msg: &Message) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        // The state block is the SDK's, laid out as the ABI's GuestState: magic, phase, index.
        let index = (fmn_rules_sdk::guest::state() as usize as *mut u32).wrapping_add(2);
        // SAFETY: a wasm32 address of the SDK's static state block, valid for the whole run.
        unsafe { index.write_volatile(0) };
    }
    spins(msg)
}

/// Returns an error.
#[rule]
pub fn errs(_msg: &Message) -> Result<bool, String> {
    Err("this rule refuses every message".into())
}

/// An extractor that panics.
#[extractor]
pub fn broken(_msg: &Message) -> Keys {
    panic!("extractor panics deliberately")
}

/// A summary of its own, to speak for every notification if the host let it.
#[extractor]
pub fn summary(_msg: &Message) -> Option<String> {
    Some("hijacked by the hostile module".into())
}

module! {
    name: "hostile",
    doc: "Rules that misbehave, one way each.",
    rules: [ok, panics, recurses, spins, hoards, errs, lies],
    extractors: [broken, summary],
}
