//! One live instance of a wasm rule module, and every call into it, checked.

use std::time::Duration;

use fmn_rules_sdk::ModuleDescription;
use fmn_rules_sdk::abi::{self, EvalOutput, GuestState, Phase, exports};
use wasmtime::{
    InstancePre, Memory, Store, StoreLimits, StoreLimitsBuilder, Trap, TypedFunc, UpdateDeadline,
};

use crate::clock::{CallClock, Decision};
use crate::error::{CallError, FailureKind};
use crate::sandbox::Sandbox;

/// A module instance in its own store, under the sandbox's limits. After a failed call it is
/// poisoned: its memory may be inconsistent, so the owner drops it and makes a new one.
pub struct GuestInstance {
    module_name: String,
    rule_names: Vec<String>,
    extractor_names: Vec<String>,
    store: Store<StoreState>,
    exports: Exports,
    state_ptr: u32,
    /// The guest's input buffer: its address and how long it is (0 until first used).
    input_ptr: u32,
    input_len: usize,
    deadline_ticks: u64,
    /// The deadline of a call that is not given more (`deadline_ticks` is the current one's).
    base_ticks: u64,
    /// How long a tick is: a call's CPU-time budget is its deadline in ticks times this.
    tick: Duration,
    /// A call's wall-clock cap, in multiples of its budget.
    wall_cap_factor: u32,
    max_output: usize,
    request: Vec<u8>,
    poisoned: bool,
}

/// What a store of a module instance holds: its limits, and the clock of the call running.
pub struct StoreState {
    pub(crate) limits: StoreLimits,
    pub(crate) clock: CallClock,
}

/// A fresh store under the sandbox's limits, its deadline checked against the call's clock.
fn new_store(sandbox: &Sandbox) -> Store<StoreState> {
    let cfg = sandbox.config();
    let limits = StoreLimitsBuilder::new()
        .memory_size(cfg.memory_bytes)
        .instances(1)
        .memories(1)
        .tables(1)
        .table_elements(cfg.max_table_elements)
        .trap_on_grow_failure(true)
        .build();
    let state = StoreState {
        limits,
        clock: CallClock::default(),
    };
    let mut store = Store::new(sandbox.engine(), state);
    store.limiter(|s| &mut s.limits);
    store.set_epoch_deadline(cfg.deadline_ticks());
    // The deadline in ticks is wall-clock time: when it is reached, the call's clock says
    // whether the call has really used its CPU time, or only waited for a core.
    store.epoch_deadline_callback(|mut cx| {
        Ok(match cx.data_mut().clock.on_deadline() {
            Decision::Continue(ticks) => UpdateDeadline::Continue(ticks),
            Decision::Interrupt => UpdateDeadline::Interrupt,
        })
    });
    store
}

/// What an instance exports, typed as the ABI says.
struct Exports {
    memory: Memory,
    input: TypedFunc<i32, i32>,
    register: TypedFunc<(i32, i32), i64>,
    unregister: TypedFunc<i32, i32>,
    eval: TypedFunc<i32, i64>,
    error: TypedFunc<(), i64>,
    abi_version: TypedFunc<(), i32>,
    describe: TypedFunc<(), i64>,
    state: TypedFunc<(), i32>,
}

impl Exports {
    /// The exports of `instance`; `fail` says which one is missing or mistyped.
    fn find(
        instance: &wasmtime::Instance,
        store: &mut Store<StoreState>,
        fail: impl Fn(String) -> CallError,
    ) -> Result<Exports, CallError> {
        let memory = instance
            .get_memory(&mut *store, exports::MEMORY)
            .ok_or_else(|| fail("no memory export".into()))?;
        macro_rules! func {
            ($name:expr) => {
                instance
                    .get_typed_func(&mut *store, $name)
                    .map_err(|e| fail(format!("export `{}`: {e:#}", $name)))?
            };
        }
        Ok(Exports {
            memory,
            input: func!(exports::INPUT),
            register: func!(exports::REGISTER),
            unregister: func!(exports::UNREGISTER),
            eval: func!(exports::EVAL),
            error: func!(exports::ERROR),
            abi_version: func!(exports::ABI_VERSION),
            describe: func!(exports::DESCRIBE),
            state: func!(exports::STATE),
        })
    }
}

impl GuestInstance {
    /// Instantiates `pre`, a module that describes itself as `description`, in a fresh store
    /// under `sandbox`'s limits.
    pub fn new(
        sandbox: &Sandbox,
        pre: &InstancePre<StoreState>,
        description: &ModuleDescription,
    ) -> Result<GuestInstance, CallError> {
        let cfg = sandbox.config();
        let mut store = new_store(sandbox);
        let name = description.name.clone();
        let fail = |detail: String| CallError {
            module: name.clone(),
            during: "instantiating".into(),
            kind: FailureKind::Trap,
            detail,
        };
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| fail(format!("{e:#}")))?;
        let exports = Exports::find(&instance, &mut store, fail)?;
        let mut inst = GuestInstance {
            module_name: description.name.clone(),
            rule_names: description.rules.iter().map(|r| r.name.clone()).collect(),
            extractor_names: description
                .extractors
                .iter()
                .map(|x| x.name.clone())
                .collect(),
            store,
            exports,
            state_ptr: 0,
            input_ptr: 0,
            input_len: 0,
            deadline_ticks: cfg.deadline_ticks(),
            base_ticks: cfg.deadline_ticks(),
            tick: cfg.tick,
            wall_cap_factor: cfg.wall_cap_factor,
            max_output: cfg.max_output,
            request: Vec::new(),
            poisoned: false,
        };
        let state = inst.exports.state.clone();
        inst.state_ptr = inst.call(&state, (), "locating its state block")? as u32;
        Ok(inst)
    }

    /// Whether a call failed, leaving the instance unusable.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// `fmn_abi_version`.
    pub fn abi_version(&mut self) -> Result<i64, CallError> {
        let f = self.exports.abi_version.clone();
        Ok(self.call(&f, (), "reporting its ABI version")? as i64)
    }

    /// `fmn_describe`: the description's JSON bytes.
    pub fn describe(&mut self) -> Result<Vec<u8>, CallError> {
        let f = self.exports.describe.clone();
        let packed = self.call(&f, (), "describing itself")?;
        Ok(self.output(packed, "describing itself")?.to_vec())
    }

    /// Registers rule `rule` with `args`; `Ok(Err(reason))` when the module refuses them.
    pub fn register(&mut self, rule: usize, args: &[u8]) -> Result<Result<u32, String>, CallError> {
        let during = format!("registering rule {}", self.rule_name(rule as u32));
        self.write_input(args, &during)?;
        let f = self.exports.register.clone();
        let h = self.call(&f, (rule as i32, args.len() as i32), &during)?;
        if h >= 0 {
            return Ok(Ok(h as u32));
        }
        let f = self.exports.error.clone();
        let packed = self.call(&f, (), &during)?;
        let reason = String::from_utf8_lossy(self.output(packed, &during)?).into_owned();
        Ok(Err(reason))
    }

    /// Forgets a handle.
    pub fn unregister(&mut self, handle: u32) -> Result<bool, CallError> {
        let f = self.exports.unregister.clone();
        Ok(self.call(&f, handle as i32, "unregistering a rule")? == 0)
    }

    /// Evaluates `handles` and runs `extractors` on one message: one call.
    pub fn eval(
        &mut self,
        message: &[u8],
        handles: &[u32],
        extractors: &[u32],
    ) -> Result<EvalOutput, CallError> {
        let mut request = std::mem::take(&mut self.request);
        abi::encode_request(&mut request, message, handles, extractors);
        let res = self.write_input(&request, "receiving a message");
        let len = request.len();
        self.request = request;
        res?;
        let f = self.exports.eval.clone();
        // A larger message takes longer to parse, and every rule that reads the body (a
        // regular expression over it) longer to answer: per 32 KiB of message, 1 tick (ms)
        // more, and 1 more per 16 rules of the call; at most a hundred times the deadline.
        let units = (message.len() >> 15) as u64;
        let per_unit = 1 + (handles.len() as u64) / 16;
        let extra = units
            .saturating_mul(per_unit)
            .min(self.base_ticks.saturating_mul(99));
        self.deadline_ticks = self.base_ticks + extra;
        let packed = self.call(&f, len as i32, "evaluating a message");
        self.deadline_ticks = self.base_ticks;
        let packed = packed?;
        let decoded = abi::decode_output(self.output(packed, "evaluating a message")?);
        let out = decoded.map_err(|e| {
            self.bad_output(format!("malformed output: {e}"), "evaluating a message")
        })?;
        if out.matched.len() != handles.len().div_ceil(64)
            || out.extracted.len() != extractors.len()
        {
            return Err(self.bad_output(
                format!(
                    "answered {} bitset words and {} extractor results for {} handles and {} extractors",
                    out.matched.len(),
                    out.extracted.len(),
                    handles.len(),
                    extractors.len()
                ),
                "evaluating a message",
            ));
        }
        Ok(out)
    }

    fn rule_name(&self, i: u32) -> String {
        self.rule_names
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{i}"))
    }

    /// Puts `bytes` in the guest's input buffer, growing it (in powers of two) when needed.
    fn write_input(&mut self, bytes: &[u8], during: &str) -> Result<(), CallError> {
        if bytes.len() > self.input_len || self.input_len == 0 {
            let want = bytes.len().next_power_of_two().max(4096);
            let f = self.exports.input.clone();
            let ptr = self.call(&f, want as i32, during)? as u32;
            self.input_ptr = ptr;
            self.input_len = want;
        }
        let ptr = self.input_ptr as usize;
        let fits = ptr
            .checked_add(bytes.len())
            .is_some_and(|end| end <= self.exports.memory.data_size(&self.store));
        if !fits {
            return Err(self.bad_output(
                format!(
                    "its input buffer at {ptr:#x} does not fit {} bytes in its memory",
                    bytes.len()
                ),
                during,
            ));
        }
        self.exports.memory.data_mut(&mut self.store)[ptr..ptr + bytes.len()]
            .copy_from_slice(bytes);
        Ok(())
    }

    /// The bytes at a packed (address, length) the guest returned, after checking both.
    fn output(&mut self, packed: i64, during: &str) -> Result<&[u8], CallError> {
        let (ptr, len) = abi::unpack(packed);
        let (ptr, len) = (ptr as usize, len as usize);
        if len > self.max_output {
            return Err(self.bad_output(
                format!(
                    "claims a {len}-byte output, over the limit of {} bytes",
                    self.max_output
                ),
                during,
            ));
        }
        let size = self.exports.memory.data_size(&self.store);
        if ptr.checked_add(len).is_none_or(|end| end > size) {
            return Err(self.bad_output(
                format!("returned {len} bytes at {ptr:#x}, outside its {size}-byte memory"),
                during,
            ));
        }
        Ok(&self.exports.memory.data(&self.store)[ptr..ptr + len])
    }

    fn bad_output(&mut self, detail: String, during: &str) -> CallError {
        self.poisoned = true;
        CallError {
            module: self.module_name.clone(),
            during: during.to_owned(),
            kind: FailureKind::BadOutput,
            detail,
        }
    }

    fn call<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
        &mut self,
        f: &TypedFunc<P, R>,
        params: P,
        during: &str,
    ) -> Result<R, CallError> {
        if self.poisoned {
            return Err(CallError {
                module: self.module_name.clone(),
                during: during.to_owned(),
                kind: FailureKind::Trap,
                detail: "the instance failed earlier and must be rebuilt".into(),
            });
        }
        self.start_clock();
        match f.call(&mut self.store, params) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.poisoned = true;
                Err(self.classify(e, during))
            }
        }
    }

    /// Sets the deadline of the call about to start and starts its clock.
    fn start_clock(&mut self) {
        let ticks = u32::try_from(self.deadline_ticks).unwrap_or(u32::MAX);
        let budget = self.tick.saturating_mul(ticks);
        let cap = budget.saturating_mul(self.wall_cap_factor.max(1));
        self.store.data_mut().clock = CallClock::start(budget, cap, self.tick);
        self.store.set_epoch_deadline(self.deadline_ticks);
    }

    /// Why a call was interrupted: its CPU time, or the wall-clock cap.
    fn interrupted(&self) -> String {
        let clock = &self.store.data().clock;
        if clock.capped() {
            let cpu = clock
                .cpu_at_deadline()
                .map_or_else(|| "unknown".to_owned(), |c| format!("{} ms", c.as_millis()));
            return format!(
                "ran past its wall-clock cap ({} ms, {} times its time limit of {} ms) with {cpu} of CPU time: its thread was starved",
                clock.cap().as_millis(),
                self.wall_cap_factor,
                clock.budget().as_millis()
            );
        }
        format!(
            "ran past its time limit ({} ms)",
            clock.budget().as_millis()
        )
    }

    /// Says what a failed call was doing (from the guest's state block) and why it failed.
    fn classify(&self, e: wasmtime::Error, during: &str) -> CallError {
        let (phase, index, panic) = self.read_state();
        let during = match phase {
            Some(Phase::Rule) => format!("rule {}", self.rule_name(index)),
            Some(Phase::Extractor) => format!(
                "extractor {}",
                self.extractor_names
                    .get(index as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("#{index}"))
            ),
            Some(Phase::Register) => format!("registering rule {}", self.rule_name(index)),
            Some(Phase::Parse) => "parsing the message".to_owned(),
            _ => during.to_owned(),
        };
        let text = format!("{e:#}");
        let (kind, detail) = match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => (FailureKind::Timeout, self.interrupted()),
            Some(Trap::StackOverflow) => (
                FailureKind::StackOverflow,
                "overflowed its stack".to_owned(),
            ),
            Some(Trap::UnreachableCodeReached) if panic.is_some() => (
                FailureKind::Panic,
                format!("panicked: {}", panic.unwrap_or_default()),
            ),
            Some(t) => (FailureKind::Trap, t.to_string()),
            None if text.contains("table") && text.contains("grow") => (
                FailureKind::OutOfMemory,
                format!("exceeded its table limit: {text}"),
            ),
            None if text.contains("memory")
                && (text.contains("grow") || text.contains("limit")) =>
            {
                (
                    FailureKind::OutOfMemory,
                    format!("exceeded its memory limit: {text}"),
                )
            }
            None => (FailureKind::Trap, text),
        };
        CallError {
            module: self.module_name.clone(),
            during,
            kind,
            detail,
        }
    }

    /// (phase, index, panic message) from the state block, if it is where the module said.
    fn read_state(&self) -> (Option<Phase>, u32, Option<String>) {
        let data = self.exports.memory.data(&self.store);
        let base = self.state_ptr as usize;
        let Some(block) = base
            .checked_add(GuestState::SIZE)
            .and_then(|end| data.get(base..end))
        else {
            return (None, 0, None);
        };
        let word = |at: usize| {
            u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
        };
        if word(0) != GuestState::MAGIC {
            return (None, 0, None);
        }
        let len = (word(GuestState::PANIC_LEN) as usize).min(GuestState::PANIC_CAPACITY);
        let panic = (len > 0).then(|| {
            String::from_utf8_lossy(&block[GuestState::PANIC..GuestState::PANIC + len]).into_owned()
        });
        (
            Phase::from_u32(word(GuestState::PHASE)),
            word(GuestState::INDEX),
            panic,
        )
    }
}
