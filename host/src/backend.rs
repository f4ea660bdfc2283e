//! Where a module's code runs: a sandboxed wasm instance, or natively (for `--native`
//! benchmarks and tests). The evaluator talks to both the same way.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use fmn_rules_sdk::abi::EvalOutput;
use fmn_rules_sdk::{ModuleDef, ModuleDescription, ModuleState};

use crate::error::{CallError, FailureKind};
use crate::instance::GuestInstance;
use crate::module::WasmModule;

/// A live module: registers rules and evaluates messages.
pub trait Backend: Send {
    /// Registers rule `rule` with JSON `args`; `Ok(Err(reason))` when the module refuses them.
    fn register(&mut self, rule: usize, args: &[u8]) -> Result<Result<u32, String>, CallError>;
    /// Evaluates `handles` and runs `extractors` on a message, in one call.
    fn eval(
        &mut self,
        message: &[u8],
        handles: &[u32],
        extractors: &[u32],
    ) -> Result<EvalOutput, CallError>;
    /// Whether a call failed and the backend must be replaced.
    fn is_poisoned(&self) -> bool;
}

impl Backend for GuestInstance {
    fn register(&mut self, rule: usize, args: &[u8]) -> Result<Result<u32, String>, CallError> {
        GuestInstance::register(self, rule, args)
    }

    fn eval(
        &mut self,
        message: &[u8],
        handles: &[u32],
        extractors: &[u32],
    ) -> Result<EvalOutput, CallError> {
        GuestInstance::eval(self, message, handles, extractors)
    }

    fn is_poisoned(&self) -> bool {
        GuestInstance::is_poisoned(self)
    }
}

/// A module compiled into this binary, run without a sandbox; a panic is caught and reported
/// like a trap.
pub struct NativeBackend {
    state: ModuleState,
    poisoned: bool,
}

impl NativeBackend {
    /// A fresh native instance of `def`.
    pub fn new(def: &'static ModuleDef) -> Self {
        NativeBackend {
            state: ModuleState::new(def),
            poisoned: false,
        }
    }

    fn guard<R>(
        &mut self,
        during: &str,
        f: impl FnOnce(&mut ModuleState) -> R,
    ) -> Result<R, CallError> {
        match catch_unwind(AssertUnwindSafe(|| f(&mut self.state))) {
            Ok(r) => Ok(r),
            Err(payload) => {
                self.poisoned = true;
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Err(CallError {
                    module: self.state.def().name.to_owned(),
                    during: during.to_owned(),
                    kind: FailureKind::Panic,
                    detail: format!("panicked: {text}"),
                })
            }
        }
    }
}

impl Backend for NativeBackend {
    fn register(&mut self, rule: usize, args: &[u8]) -> Result<Result<u32, String>, CallError> {
        self.guard("registering a rule", |s| s.register(rule, args))
    }

    fn eval(
        &mut self,
        message: &[u8],
        handles: &[u32],
        extractors: &[u32],
    ) -> Result<EvalOutput, CallError> {
        self.guard("evaluating a message", |s| {
            s.eval(message, handles, extractors)
        })
    }

    fn is_poisoned(&self) -> bool {
        self.poisoned
    }
}

/// A module ready to be instantiated, whichever way it runs.
#[derive(Clone)]
pub enum ModuleCode {
    /// A sandboxed wasm module.
    Wasm(Arc<WasmModule>),
    /// A module compiled into this binary.
    Native(&'static ModuleDef),
}

/// A loaded module: its code, its description and where it came from.
#[derive(Clone)]
pub struct LoadedModule {
    /// What it says about itself.
    pub description: ModuleDescription,
    /// Its sha256 (wasm), or `native`.
    pub version_id: String,
    /// Where it came from.
    pub origin: String,
    /// Its code.
    pub code: ModuleCode,
}

impl LoadedModule {
    /// A loaded wasm module.
    pub fn wasm(m: WasmModule) -> Self {
        LoadedModule {
            description: m.description.clone(),
            version_id: m.sha256.clone(),
            origin: m.origin.clone(),
            code: ModuleCode::Wasm(Arc::new(m)),
        }
    }

    /// A native module.
    pub fn native(def: &'static ModuleDef) -> Self {
        LoadedModule {
            description: def.describe(),
            version_id: "native".into(),
            origin: format!("native:{}", def.name),
            code: ModuleCode::Native(def),
        }
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// A fresh live instance.
    pub fn instantiate(&self) -> Result<Box<dyn Backend>, CallError> {
        Ok(match &self.code {
            ModuleCode::Wasm(m) => Box::new(m.instantiate()?),
            ModuleCode::Native(def) => Box::new(NativeBackend::new(def)),
        })
    }
}
