//! What can go wrong loading and calling rule modules.

use std::fmt;

/// A module file was refused. The message names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{origin}: cannot read it: {source}")]
    Io {
        /// The file.
        origin: String,
        /// Why.
        source: std::io::Error,
    },
    /// Larger than the sandbox accepts.
    #[error("{origin}: {size} bytes, over the limit of {limit} bytes for a rule module")]
    TooLarge {
        /// The file.
        origin: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a wasm binary at all.
    #[error("{origin}: not a wasm module (it does not start with the wasm magic bytes `\\0asm`)")]
    NotWasm {
        /// The file.
        origin: String,
    },
    /// A wasm binary that does not validate or compile.
    #[error("{origin}: invalid wasm module: {reason}")]
    Invalid {
        /// The file.
        origin: String,
        /// The validator's or compiler's message.
        reason: String,
    },
    /// It imports something: rule modules may not.
    #[error(
        "{origin}: imports {imports}; a rule module may import nothing (no WASI, no host functions)"
    )]
    Imports {
        /// The file.
        origin: String,
        /// What it imports.
        imports: String,
    },
    /// It declares more memories or tables than the sandbox allows, or larger ones.
    #[error("{origin}: {reason}")]
    Resources {
        /// The file.
        origin: String,
        /// What it declares, against the limit.
        reason: String,
    },
    /// An export the ABI needs is missing or has the wrong type.
    #[error(
        "{origin}: no export `{name}` of type {expected}; is it built with `fmn_rules_sdk::module!`?"
    )]
    MissingExport {
        /// The file.
        origin: String,
        /// The export.
        name: &'static str,
        /// Its type.
        expected: &'static str,
    },
    /// Built against an ABI version this host does not load.
    #[error("{origin}: speaks ABI version {found}; {}", abi_advice(*.found, .supported))]
    AbiVersion {
        /// The file.
        origin: String,
        /// The module's version.
        found: i64,
        /// The versions this host loads.
        supported: std::ops::RangeInclusive<u32>,
    },
    /// Its shape would cost the compiler too much time or memory.
    #[error("{origin}: too costly to compile: {reason}; the module is refused")]
    TooCostly {
        /// The file.
        origin: String,
        /// Which limit it is over.
        reason: String,
    },
    /// Its self-description is unusable.
    #[error("{origin}: bad self-description: {reason}")]
    Description {
        /// The file.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// One of its own samples gives the wrong answer.
    #[error("{origin}: sample #{index} of rule {rule}: {reason}")]
    Sample {
        /// The file.
        origin: String,
        /// The sample's position, from 1.
        index: usize,
        /// The rule.
        rule: String,
        /// What went wrong.
        reason: String,
    },
    /// Loading it took longer than the sandbox's load budget.
    #[error(
        "{origin}: the load budget of {budget_ms} ms (instantiation, description, checks and samples together) ran out {during}; the module is refused"
    )]
    OverBudget {
        /// The file.
        origin: String,
        /// The budget.
        budget_ms: u128,
        /// Where the load was when the budget ran out, e.g. `before sample #7 of rule spin`.
        during: String,
    },
    /// A call made while loading it failed.
    #[error("{origin}: {source}")]
    Call {
        /// The file.
        origin: String,
        /// The failed call.
        source: CallError,
    },
}

/// How a call into a module failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// It ran past the sandbox's time limit.
    Timeout,
    /// It tried to grow its memory past the sandbox's limit.
    OutOfMemory,
    /// It overflowed its stack.
    StackOverflow,
    /// The rule's code panicked.
    Panic,
    /// Another trap (`unreachable`, out-of-bounds access, ...).
    Trap,
    /// It returned something the ABI does not allow (a pointer outside its memory, an output
    /// over the size limit, malformed bytes).
    BadOutput,
}

impl FailureKind {
    /// A short name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::OutOfMemory => "out-of-memory",
            FailureKind::StackOverflow => "stack-overflow",
            FailureKind::Panic => "panic",
            FailureKind::Trap => "trap",
            FailureKind::BadOutput => "bad-output",
        }
    }
}

/// A call into a module failed: which module, doing what, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// The module's name.
    pub module: String,
    /// What it was doing, e.g. `rule user_filter` or `extractor summary`.
    pub during: String,
    /// The kind of failure.
    pub kind: FailureKind,
    /// The details: the trap, the panic message, the bad pointer.
    pub detail: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "module {}: {}: {}",
            self.module, self.during, self.detail
        )
    }
}

impl std::error::Error for CallError {}

/// Which versions this host loads, and what to do about a module speaking `found`, which it
/// does not load.
fn abi_advice(found: i64, supported: &std::ops::RangeInclusive<u32>) -> String {
    let (low, high) = (*supported.start(), *supported.end());
    let loads = if low == high {
        format!("this host loads version {high} only")
    } else {
        format!("this host loads versions {low} to {high}")
    };
    let sdk = fmn_rules_sdk::abi::SDK_VERSION;
    if found > i64::from(high) {
        format!(
            "{loads}: the module was built with a newer fmn-rules-sdk; upgrade the workers to an \
             fmn that loads ABI {found}, or build the module with fmn-rules-sdk {sdk}"
        )
    } else {
        format!("{loads}: the module is too old; rebuild it with fmn-rules-sdk {sdk}")
    }
}
