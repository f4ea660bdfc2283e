//! Loading a rule module: checked, compiled and described before it may serve.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmn_rules_sdk::ModuleDescription;
use fmn_rules_sdk::abi::{ABI_VERSION, SUPPORTED_ABI, exports};
use fmn_rules_sdk::describe::SampleDescription;
use sha2::{Digest, Sha256};
use wasmtime::{ExternType, InstancePre, Linker, Module, ValType};

use crate::error::{CallError, LoadError};
use crate::instance::{GuestInstance, StoreState};
use crate::sandbox::Sandbox;

/// A compiled, validated wasm rule module.
pub struct WasmModule {
    /// Where it came from: a path, `redis:sha256`, `bundled:fedora`.
    pub origin: String,
    /// The hex sha256 of its bytes.
    pub sha256: String,
    /// What it says about itself.
    pub description: ModuleDescription,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) pre: InstancePre<StoreState>,
}

/// The exports the ABI needs: name, parameter types, result types.
const REQUIRED: &[(&str, &[ValKind], &[ValKind])] = &[
    (exports::ABI_VERSION, &[], &[ValKind::I32]),
    (exports::STATE, &[], &[ValKind::I32]),
    (exports::INPUT, &[ValKind::I32], &[ValKind::I32]),
    (exports::DESCRIBE, &[], &[ValKind::I64]),
    (
        exports::REGISTER,
        &[ValKind::I32, ValKind::I32],
        &[ValKind::I64],
    ),
    (exports::UNREGISTER, &[ValKind::I32], &[ValKind::I32]),
    (exports::EVAL, &[ValKind::I32], &[ValKind::I64]),
    (exports::ERROR, &[], &[ValKind::I64]),
];

#[derive(Clone, Copy, PartialEq)]
enum ValKind {
    I32,
    I64,
}

fn kind_matches(k: ValKind, v: &ValType) -> bool {
    match k {
        ValKind::I32 => v.is_i32(),
        ValKind::I64 => v.is_i64(),
    }
}

fn signature(params: &[ValKind], results: &[ValKind]) -> &'static str {
    match (params.len(), results.first()) {
        (0, Some(ValKind::I32)) => "func() -> i32",
        (0, _) => "func() -> i64",
        (1, Some(ValKind::I32)) => "func(i32) -> i32",
        (1, _) => "func(i32) -> i64",
        _ => "func(i32, i32) -> i64",
    }
}

impl WasmModule {
    /// Reads and loads a module file.
    pub fn from_file(sandbox: &Arc<Sandbox>, path: &Path) -> Result<WasmModule, LoadError> {
        let origin = path.display().to_string();
        let limit = sandbox.config().max_module_bytes;
        let size = std::fs::metadata(path)
            .map_err(|source| LoadError::Io {
                origin: origin.clone(),
                source,
            })?
            .len() as usize;
        // Refuse before reading, so a huge file costs nothing.
        if size > limit {
            return Err(LoadError::TooLarge {
                origin,
                size,
                limit,
            });
        }
        let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
            origin: origin.clone(),
            source,
        })?;
        Self::from_bytes(sandbox, &bytes, &origin)
    }

    /// Checks, compiles and describes a module, and runs its samples.
    pub fn from_bytes(
        sandbox: &Arc<Sandbox>,
        bytes: &[u8],
        origin: &str,
    ) -> Result<WasmModule, LoadError> {
        let origin = origin.to_owned();
        let limit = sandbox.config().max_module_bytes;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge {
                origin,
                size: bytes.len(),
                limit,
            });
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(LoadError::NotWasm { origin });
        }
        check_shape(bytes, &origin)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let module = compile(sandbox, bytes, &origin, &sha256)?;
        check_exports(&module, &origin)?;
        check_resources(&module, sandbox.config()).map_err(|reason| LoadError::Resources {
            origin: origin.clone(),
            reason,
        })?;
        let linker: Linker<StoreState> = Linker::new(sandbox.engine());
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Invalid {
                origin: origin.clone(),
                reason: format!("{e:#}"),
            })?;
        // From here on the module's own code runs: all of it draws on one budget.
        let budget = Budget::start(sandbox.config().load_budget, &origin);
        let placeholder = ModuleDescription {
            abi: ABI_VERSION,
            name: origin.clone(),
            version: String::new(),
            sdk: None,
            doc: String::new(),
            rules: Vec::new(),
            extractors: Vec::new(),
            samples: Vec::new(),
        };
        let mut module = WasmModule {
            origin: origin.clone(),
            sha256,
            description: placeholder,
            sandbox: sandbox.clone(),
            pre,
        };
        module.description = describe(&module, &budget)?;
        check_samples(&module, &budget)?;
        budget.check("after its last sample")?;
        Ok(module)
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.description.name
    }

    /// A fresh instance, in a store of its own under the sandbox's limits.
    pub fn instantiate(&self) -> Result<GuestInstance, CallError> {
        GuestInstance::new(&self.sandbox, &self.pre, &self.description)
    }
}

/// The module's code, from the disk cache or compiled (and then cached).
fn compile(
    sandbox: &Sandbox,
    bytes: &[u8],
    origin: &str,
    sha256: &str,
) -> Result<Module, LoadError> {
    if let Some(m) = sandbox
        .cache()
        .and_then(|c| c.load(sandbox.engine(), sha256))
    {
        return Ok(m);
    }
    let m = Module::new(sandbox.engine(), bytes).map_err(|e| LoadError::Invalid {
        origin: origin.to_owned(),
        reason: format!("{e:#}"),
    })?;
    if let Some(c) = sandbox.cache() {
        c.store(sandbox.engine(), sha256, &m);
    }
    Ok(m)
}

/// That the module imports nothing and exports what the ABI needs, with the right types.
fn check_exports(module: &Module, origin: &str) -> Result<(), LoadError> {
    let imports: Vec<String> = module
        .imports()
        .map(|i| format!("`{}::{}`", i.module(), i.name()))
        .collect();
    if !imports.is_empty() {
        return Err(LoadError::Imports {
            origin: origin.to_owned(),
            imports: imports.join(", "),
        });
    }
    if !matches!(
        module.get_export(exports::MEMORY),
        Some(ExternType::Memory(_))
    ) {
        return Err(LoadError::MissingExport {
            origin: origin.to_owned(),
            name: exports::MEMORY,
            expected: "memory",
        });
    }
    for (name, params, results) in REQUIRED {
        let ok = match module.get_export(name) {
            Some(ExternType::Func(f)) => {
                f.params().len() == params.len()
                    && f.results().len() == results.len()
                    && f.params()
                        .zip(params.iter())
                        .all(|(v, k)| kind_matches(*k, &v))
                    && f.results()
                        .zip(results.iter())
                        .all(|(v, k)| kind_matches(*k, &v))
            }
            _ => false,
        };
        if !ok {
            return Err(LoadError::MissingExport {
                origin: origin.to_owned(),
                name,
                expected: signature(params, results),
            });
        }
    }
    Ok(())
}

/// What a module declares against the sandbox's limits, before anything instantiates it: one
/// memory and one table at most (Wasmtime accepts several of each by default: multi-memory and
/// reference types), neither larger at the start than a call may grow it. The store limiter
/// enforces the same at instantiation and on every growth; refused here, the module is named
/// with what it declares rather than failing on its first call.
fn check_resources(module: &Module, cfg: &crate::sandbox::SandboxConfig) -> Result<(), String> {
    const PAGE: u64 = 64 << 10;
    let r = module.resources_required();
    if r.num_memories > 1 {
        return Err(format!(
            "defines {} memories; a rule module may have one",
            r.num_memories
        ));
    }
    if r.num_tables > 1 {
        return Err(format!(
            "defines {} tables; a rule module may have one",
            r.num_tables
        ));
    }
    let memory = r.max_initial_memory_size.unwrap_or(0).saturating_mul(PAGE);
    if memory > cfg.memory_bytes as u64 {
        return Err(format!(
            "starts with a memory of {memory} bytes, over the limit of {} bytes",
            cfg.memory_bytes
        ));
    }
    let elements = r.max_initial_table_size.unwrap_or(0);
    if elements > cfg.max_table_elements as u64 {
        return Err(format!(
            "starts with a table of {elements} elements, over the limit of {}",
            cfg.max_table_elements
        ));
    }
    Ok(())
}

/// What compiling a module costs follows its shape, and compiling cannot be interrupted: its
/// code's bytes, its count of functions, its largest function, and the sum over functions of
/// body bytes times locals (where control flow joins, SSA construction looks for every local
/// read after it through every join). See docs/benchmarks.md for the costs measured.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The bytes of all function bodies.
    pub code_bytes: u64,
    /// Functions defined in the module.
    pub functions: u64,
    /// The bytes of its largest function body.
    pub largest_function: u64,
    /// The sum over functions of body bytes times locals declared.
    pub locals_by_bytes: u64,
}

impl Shape {
    /// The shape of `bytes`, read without validating them; `None` if they do not parse (the
    /// compiler then says why).
    pub fn of(bytes: &[u8]) -> Option<Shape> {
        let mut shape = Shape::default();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let wasmparser::Payload::CodeSectionEntry(body) = payload.ok()? else {
                continue;
            };
            let mut locals = 0u64;
            for l in body.get_locals_reader().ok()? {
                locals += u64::from(l.ok()?.0);
            }
            let size = body.range().len() as u64;
            shape.code_bytes += size;
            shape.functions += 1;
            shape.largest_function = shape.largest_function.max(size);
            shape.locals_by_bytes = shape.locals_by_bytes.saturating_add(size * locals);
        }
        Some(shape)
    }
}

/// The most bytes of code a module may have (the bundled module has 1.6 MB).
const MAX_CODE_BYTES: u64 = 8 << 20;
/// The most functions a module may define (the bundled module has 2,629).
const MAX_FUNCTIONS: u64 = 20_000;
/// The largest function body (the bundled module's is 48,796 bytes).
const MAX_FUNCTION_BYTES: u64 = 256 << 10;
/// The most body bytes times locals, summed over functions (the bundled module has 41
/// million).
const MAX_LOCALS_BY_BYTES: u64 = 1 << 27;

/// Refuses, before compiling it, a module whose shape would cost the compiler too much:
/// compiling cannot be interrupted, and the load's budget starts after it. Within these
/// limits the costliest shapes measured took up to 44 s (8 MiB of straight-line code) or
/// 410 MB (joins times locals) to compile (docs/benchmarks.md); without them a 128 KB module
/// took 8 s and 1.3 GB, and one of 450 KB asked for 26 GB, which aborts the process.
fn check_shape(bytes: &[u8], origin: &str) -> Result<(), LoadError> {
    // What does not parse is refused by the compiler, which says why.
    let Some(shape) = Shape::of(bytes) else {
        return Ok(());
    };
    let limits = [
        (shape.code_bytes, MAX_CODE_BYTES, "bytes of code"),
        (shape.functions, MAX_FUNCTIONS, "functions"),
        (
            shape.largest_function,
            MAX_FUNCTION_BYTES,
            "bytes in its largest function",
        ),
        (
            shape.locals_by_bytes,
            MAX_LOCALS_BY_BYTES,
            "function bytes times locals",
        ),
    ];
    match limits.into_iter().find(|(n, limit, _)| n > limit) {
        Some((n, limit, what)) => Err(LoadError::TooCostly {
            origin: origin.to_owned(),
            reason: format!("{n} {what}, over the limit of {limit}"),
        }),
        None => Ok(()),
    }
}

/// The time a load may take from the first time it runs the module's code on.
struct Budget<'a> {
    origin: &'a str,
    started: Instant,
    limit: Duration,
}

impl<'a> Budget<'a> {
    fn start(limit: Duration, origin: &'a str) -> Budget<'a> {
        Budget {
            origin,
            started: Instant::now(),
            limit,
        }
    }

    /// An error if the budget is spent, saying where the load is (`during`). A call into the
    /// module cannot overrun it by more than the sandbox's per-call timeout.
    fn check(&self, during: &str) -> Result<(), LoadError> {
        if self.started.elapsed() <= self.limit {
            return Ok(());
        }
        Err(LoadError::OverBudget {
            origin: self.origin.to_owned(),
            budget_ms: self.limit.as_millis(),
            during: during.to_owned(),
        })
    }
}

/// Asks the module about itself, in an instance of its own under the sandbox's limits, and
/// checks what it says.
fn describe(module: &WasmModule, budget: &Budget) -> Result<ModuleDescription, LoadError> {
    let origin = &module.origin;
    let call = |source| LoadError::Call {
        origin: origin.clone(),
        source,
    };
    let mut probe = module.instantiate().map_err(call)?;
    budget.check("after instantiating it")?;
    let version = probe.abi_version().map_err(call)?;
    if !u32::try_from(version).is_ok_and(|v| SUPPORTED_ABI.contains(&v)) {
        return Err(LoadError::AbiVersion {
            origin: origin.clone(),
            found: version,
            supported: SUPPORTED_ABI,
        });
    }
    let json = probe.describe().map_err(call)?;
    budget.check("after describing itself")?;
    let bad = |reason: String| LoadError::Description {
        origin: origin.clone(),
        reason,
    };
    let description: ModuleDescription = serde_json::from_slice(&json)
        .map_err(|e| bad(format!("not the JSON of a module description: {e}")))?;
    check_description(&description, version).map_err(bad)?;
    budget.check("after checking its description")?;
    Ok(description)
}

/// The longest topic glob a rule may have: a topic holds at most 255 bytes.
const MAX_GLOB_BYTES: usize = fmn_core::envelope::MAX_TOPIC_BYTES;
/// The most topic globs one rule may have.
const MAX_GLOBS: usize = 256;

/// What the host relies on in a description.
pub fn check_description(d: &ModuleDescription, abi: i64) -> Result<(), String> {
    if d.abi as i64 != abi {
        return Err(format!("says ABI {} but exports version {abi}", d.abi));
    }
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !valid_name(&d.name) {
        return Err(format!(
            "module name {:?} is not made of letters, digits, `_` and `-`",
            d.name
        ));
    }
    let mut seen = HashSet::new();
    for r in &d.rules {
        if !valid_name(&r.name) {
            return Err(format!(
                "rule name {:?} is not made of letters, digits, `_` and `-`",
                r.name
            ));
        }
        if !seen.insert(r.name.as_str()) {
            return Err(format!("rule {:?} is defined twice", r.name));
        }
        // A glob is matched against every message's topic: one longer than any topic can be
        // only costs the host time (topics hold at most 255 bytes).
        if let Some(g) = r.topics.iter().find(|g| g.len() > MAX_GLOB_BYTES) {
            return Err(format!(
                "rule {:?} has a topic glob of {} bytes, over the limit of {MAX_GLOB_BYTES}",
                r.name,
                g.len()
            ));
        }
        if r.topics.len() > MAX_GLOBS {
            return Err(format!(
                "rule {:?} has {} topic globs, over the limit of {MAX_GLOBS}",
                r.name,
                r.topics.len()
            ));
        }
        if let Some(k) = &r.key {
            let Some(x) = d.extractors.iter().find(|x| x.name == k.extractor) else {
                return Err(format!(
                    "rule {:?} is keyed on extractor {:?}, which the module lacks",
                    r.name, k.extractor
                ));
            };
            if x.kind != fmn_rules_sdk::ExtractorKind::Keys {
                return Err(format!(
                    "rule {:?} is keyed on {:?}, which yields a text, not keys",
                    r.name, k.extractor
                ));
            }
            if !r.args.iter().any(|a| a.name == k.arg) {
                return Err(format!(
                    "rule {:?} is keyed on argument {:?}, which it does not take",
                    r.name, k.arg
                ));
            }
        }
    }
    let mut seen = HashSet::new();
    for x in &d.extractors {
        if !seen.insert(x.name.as_str()) {
            return Err(format!("extractor {:?} is defined twice", x.name));
        }
    }
    Ok(())
}

/// The most samples a module may carry.
const MAX_SAMPLES: usize = 1_000;

/// Runs every sample the module describes, in an instance of its own, each under what is left
/// of the load's budget. Loading runs beside the worker's own work: a module's samples are
/// bounded in number, and in time by the budget.
fn check_samples(module: &WasmModule, budget: &Budget) -> Result<(), LoadError> {
    let d = &module.description;
    if d.samples.is_empty() {
        return Ok(());
    }
    let origin = &module.origin;
    if d.samples.len() > MAX_SAMPLES {
        return Err(LoadError::Sample {
            origin: origin.clone(),
            index: MAX_SAMPLES + 1,
            rule: d.samples[MAX_SAMPLES].rule.clone(),
            reason: format!(
                "{} samples, over the limit of {MAX_SAMPLES} a module",
                d.samples.len()
            ),
        });
    }
    let mut inst = module.instantiate().map_err(|source| LoadError::Call {
        origin: origin.clone(),
        source,
    })?;
    for (i, sample) in d.samples.iter().enumerate() {
        budget.check(&format!("before sample #{} of rule {}", i + 1, sample.rule))?;
        check_sample(d, &mut inst, sample).map_err(|failed| match failed {
            Failed::Wrong(reason) => LoadError::Sample {
                origin: origin.clone(),
                index: i + 1,
                rule: sample.rule.clone(),
                reason,
            },
            Failed::Call(source) => LoadError::Call {
                origin: origin.clone(),
                source,
            },
        })?;
    }
    Ok(())
}

/// How a sample failed: a wrong answer (or a sample that cannot be asked), or a failed call.
enum Failed {
    Wrong(String),
    Call(CallError),
}

impl From<CallError> for Failed {
    fn from(e: CallError) -> Failed {
        Failed::Call(e)
    }
}

/// Whether the module answers `sample` as it declares, and only within the rule's topics.
fn check_sample(
    d: &ModuleDescription,
    inst: &mut GuestInstance,
    sample: &SampleDescription,
) -> Result<(), Failed> {
    let Some(ri) = d.rules.iter().position(|r| r.name == sample.rule) else {
        return Err(Failed::Wrong("the module has no such rule".into()));
    };
    let topics = &d.rules[ri].topics;
    let env = fmn_core::Envelope::from_bus_json(sample.message.to_string().as_bytes(), usize::MAX)
        .map_err(|e| Failed::Wrong(format!("its message is not a bus message: {e}")))?;
    let Some(got) = sample_answer(d, inst, ri, sample, &env)? else {
        return Ok(());
    };
    if got && !fmn_rules_sdk::glob::any_matches(topics, &env.topic) {
        return Err(Failed::Wrong(format!(
            "matches topic {} outside the topics it declares",
            env.topic
        )));
    }
    if got != sample.matches {
        let say = |b: bool| if b { "a match" } else { "no match" };
        return Err(Failed::Wrong(format!(
            "expected {} on {}, got {}",
            say(sample.matches),
            env.topic,
            say(got)
        )));
    }
    Ok(())
}

/// The answer a worker would give to `sample` of rule `ri`: exact topic rules from the topic,
/// keyed rules from the extractor's keys, the others by calling the rule. `None` for a rule
/// keyed through host data (`via`): the sample needs that data and is skipped.
fn sample_answer(
    d: &ModuleDescription,
    inst: &mut GuestInstance,
    ri: usize,
    sample: &SampleDescription,
    env: &fmn_core::Envelope,
) -> Result<Option<bool>, Failed> {
    let rule = &d.rules[ri];
    let json = env.rules_json();
    if rule.exact {
        return Ok(Some(fmn_rules_sdk::glob::any_matches(
            &rule.topics,
            &env.topic,
        )));
    }
    let Some(key) = &rule.key else {
        let h = inst
            .register(ri, sample.args.to_string().as_bytes())?
            .map_err(|e| Failed::Wrong(format!("arguments refused: {e}")))?;
        let out = inst.eval(json.as_bytes(), &[h], &[])?;
        if let Some((_, e)) = out.errors.first() {
            return Err(Failed::Wrong(format!("the rule failed: {e}")));
        }
        return Ok(Some(out.is_match(0)));
    };
    if key.via.is_some() {
        return Ok(None);
    }
    let wanted =
        crate::keys::key_values(&key.arg, sample.args.get(&key.arg)).map_err(Failed::Wrong)?;
    let Some(xi) = d.extractors.iter().position(|x| x.name == key.extractor) else {
        let reason = format!("keyed on a missing extractor {:?}", key.extractor);
        return Err(Failed::Wrong(reason));
    };
    let out = inst.eval(json.as_bytes(), &[], &[xi as u32])?;
    match out.extracted.into_iter().next() {
        Some(Ok(fmn_rules_sdk::Extracted::Keys(keys))) => {
            Ok(Some(keys.iter().any(|k| wanted.contains(k))))
        }
        Some(Err(e)) => Err(Failed::Wrong(format!(
            "extractor {} failed: {e}",
            key.extractor
        ))),
        _ => Err(Failed::Wrong(format!(
            "extractor {} yields no keys",
            key.extractor
        ))),
    }
}

/// `wasm` with a custom section appended: the same code under another sha256, as a rebuilt
/// module would be. Benchmarks and tests of hot reload make new versions this way.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    leb(name.len() as u64, &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(body.len() as u64, &mut out);
    out.extend_from_slice(&body);
    out
}

/// Appends `n` as an unsigned LEB128 number, as wasm encodes sizes and counts.
pub fn leb(mut n: u64, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}
