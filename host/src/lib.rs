//! The fmn worker: a Wasmtime host that runs rule modules over users' preferences.
//!
//! - [`conformance`]: the extractors against corpus files with known answers.
//! - [`sandbox`]: the engine and the limits every module runs under.
//! - [`clock`]: the CPU time a call has used, against its budget.
//! - [`module`]: loading a module file: checked, compiled, described.
//! - [`instance`]: a live module instance and every call into it, bounds-checked.
//! - [`backend`]: wasm or native, behind one trait.
//! - [`ruleset`]: the loaded modules.
//! - [`plan`]: preferences compiled against the modules, with the key index.
//! - [`prefs_source`]: where preferences are read from for a whole compile, a user at a time.
//! - [`eval`]: one message against a plan.
//! - [`topics`]: which rules apply to a topic, cached within a bound in bytes.
//! - [`snapshot`]: what workers evaluate with, replaced as a whole between batches.
//! - [`reload`]: a worker process's first snapshot, then new module versions, preferences and
//!   data, from files or Redis, swapped in between batches.
//! - [`retry`]: backoff, and when a message not wholly evaluated is evaluated again.
//! - [`worker`]: the loop that reads messages and writes notifications.

pub mod backend;
pub mod cache;
pub mod clock;
pub mod conformance;
pub mod error;
pub mod eval;
pub mod explain;
pub mod instance;
pub mod isolate;
mod keys;
pub mod module;
pub mod plan;
pub mod prefs_source;
pub mod reload;
pub mod retry;
pub mod ruleset;
pub mod sandbox;
pub mod snapshot;
pub mod topics;
pub mod worker;

pub use backend::{Backend, LoadedModule, ModuleCode, NativeBackend};
pub use error::{CallError, FailureKind, LoadError};
pub use eval::{Evaluation, Evaluator, Match, QuarantinePolicy};
pub use explain::{Explainer, Explanation};
pub use module::WasmModule;
pub use plan::{Plan, PlanBuilder};
pub use prefs_source::{PrefsSource, PrefsSourceError};
pub use reload::{
    Loading, ModuleVersion, Refusal, Reloader, RulesReport, Sources, Start, StartError,
};
pub use retry::RetryPolicy;
pub use ruleset::RuleSet;
pub use sandbox::{Sandbox, SandboxConfig};
pub use snapshot::{PrefsGate, SharedSnapshot, Snapshot};
pub use worker::{DEFAULT_WORKER_BATCH, LatencyLog, WorkerOptions, WorkerReport, run_worker};
