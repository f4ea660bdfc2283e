//! Loading a rule module: checked, compiled and described before it may serve.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use fmn_rules_sdk::ModuleDescription;
use fmn_rules_sdk::abi::{ABI_VERSION, exports};
use sha2::{Digest, Sha256};
use wasmtime::{ExternType, InstancePre, Linker, Module, StoreLimits, ValType};

use crate::error::LoadError;
use crate::instance::GuestInstance;
use crate::sandbox::Sandbox;

/// What a store of a module instance holds: its limits, and the clock of the call running.
pub struct StoreState {
    pub(crate) limits: StoreLimits,
    pub(crate) clock: crate::clock::CallClock,
}

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

    /// Checks, compiles and describes a module.
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
        let sha256 = hex::encode(Sha256::digest(bytes));
        let cached = sandbox
            .cache()
            .and_then(|c| c.load(sandbox.engine(), &sha256));
        let module = match cached {
            Some(m) => m,
            None => {
                let m = Module::new(sandbox.engine(), bytes).map_err(|e| LoadError::Invalid {
                    origin: origin.clone(),
                    reason: format!("{e:#}"),
                })?;
                if let Some(c) = sandbox.cache() {
                    c.store(sandbox.engine(), &sha256, &m);
                }
                m
            }
        };

        let imports: Vec<String> = module
            .imports()
            .map(|i| format!("`{}::{}`", i.module(), i.name()))
            .collect();
        if !imports.is_empty() {
            return Err(LoadError::Imports {
                origin,
                imports: imports.join(", "),
            });
        }
        check_resources(&module, sandbox.config()).map_err(|reason| LoadError::Resources {
            origin: origin.clone(),
            reason,
        })?;
        if !matches!(
            module.get_export(exports::MEMORY),
            Some(ExternType::Memory(_))
        ) {
            return Err(LoadError::MissingExport {
                origin,
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
                    origin,
                    name,
                    expected: signature(params, results),
                });
            }
        }

        let linker: Linker<StoreState> = Linker::new(sandbox.engine());
        let pre = linker
            .instantiate_pre(&module)
            .map_err(|e| LoadError::Invalid {
                origin: origin.clone(),
                reason: format!("{e:#}"),
            })?;

        // Ask the module about itself in an instance of its own, under the sandbox's limits.
        let placeholder = ModuleDescription {
            abi: ABI_VERSION,
            name: origin.clone(),
            version: String::new(),
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
        let (version, description) = {
            let mut probe = GuestInstance::new(&module).map_err(|source| LoadError::Call {
                origin: origin.clone(),
                source,
            })?;
            let version = probe.abi_version().map_err(|source| LoadError::Call {
                origin: origin.clone(),
                source,
            })?;
            if version != ABI_VERSION as i64 {
                return Err(LoadError::AbiVersion {
                    origin,
                    found: version,
                    expected: ABI_VERSION,
                });
            }
            let json = probe.describe().map_err(|source| LoadError::Call {
                origin: origin.clone(),
                source,
            })?;
            (version, json)
        };
        let description: ModuleDescription =
            serde_json::from_slice(&description).map_err(|e| LoadError::Description {
                origin: origin.clone(),
                reason: format!("not the JSON of a module description: {e}"),
            })?;
        check_description(&description, version).map_err(|reason| LoadError::Description {
            origin: origin.clone(),
            reason,
        })?;
        module.description = description;
        check_samples(&module)?;
        Ok(module)
    }

    /// The module's name.
    pub fn name(&self) -> &str {
        &self.description.name
    }
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

/// Runs every sample the module describes, in an instance of its own, the way a worker would
/// answer the rule: exact topic rules from the topic, keyed rules from the extractor's keys,
/// the others by calling the rule. Samples of rules keyed through host data (`via`) need that
/// data and are skipped.
fn check_samples(module: &WasmModule) -> Result<(), LoadError> {
    let d = &module.description;
    if d.samples.is_empty() {
        return Ok(());
    }
    let origin = &module.origin;
    // Loading runs beside the worker's own work: a module's samples get a bounded share.
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
    let started = std::time::Instant::now();
    let budget = module.sandbox.config().samples_budget;
    let mut inst = GuestInstance::new(module).map_err(|source| LoadError::Call {
        origin: origin.clone(),
        source,
    })?;
    for (i, sample) in d.samples.iter().enumerate() {
        let fail = |reason: String| LoadError::Sample {
            origin: origin.clone(),
            index: i + 1,
            rule: sample.rule.clone(),
            reason,
        };
        if started.elapsed() > budget {
            return Err(fail(format!(
                "checking the samples took over {} ms: the module is refused",
                budget.as_millis()
            )));
        }
        let call = |source: crate::error::CallError| LoadError::Call {
            origin: origin.clone(),
            source,
        };
        let Some(ri) = d.rules.iter().position(|r| r.name == sample.rule) else {
            return Err(fail("the module has no such rule".into()));
        };
        let rule = &d.rules[ri];
        let env =
            fmn_core::Envelope::from_bus_json(sample.message.to_string().as_bytes(), usize::MAX)
                .map_err(|e| fail(format!("its message is not a bus message: {e}")))?;
        let json = env.rules_json();
        let got = if rule.exact {
            fmn_rules_sdk::glob::any_matches(&rule.topics, &env.topic)
        } else if let Some(key) = &rule.key {
            if key.via.is_some() {
                continue;
            }
            let wanted =
                crate::plan::key_values(&key.arg, sample.args.get(&key.arg)).map_err(&fail)?;
            let Some(xi) = d.extractors.iter().position(|x| x.name == key.extractor) else {
                return Err(fail(format!(
                    "keyed on a missing extractor {:?}",
                    key.extractor
                )));
            };
            let out = inst
                .eval(json.as_bytes(), &[], &[xi as u32])
                .map_err(call)?;
            match out.extracted.into_iter().next() {
                Some(Ok(fmn_rules_sdk::Extracted::Keys(keys))) => {
                    keys.iter().any(|k| wanted.contains(k))
                }
                Some(Err(e)) => {
                    return Err(fail(format!("extractor {} failed: {e}", key.extractor)));
                }
                _ => return Err(fail(format!("extractor {} yields no keys", key.extractor))),
            }
        } else {
            let h = inst
                .register(ri, sample.args.to_string().as_bytes())
                .map_err(call)?
                .map_err(|e| fail(format!("arguments refused: {e}")))?;
            let out = inst.eval(json.as_bytes(), &[h], &[]).map_err(call)?;
            if let Some((_, e)) = out.errors.first() {
                return Err(fail(format!("the rule failed: {e}")));
            }
            out.is_match(0)
        };
        if got && !fmn_rules_sdk::glob::any_matches(&rule.topics, &env.topic) {
            return Err(fail(format!(
                "matches topic {} outside the topics it declares",
                env.topic
            )));
        }
        if got != sample.matches {
            let say = |b: bool| if b { "a match" } else { "no match" };
            return Err(fail(format!(
                "expected {} on {}, got {}",
                say(sample.matches),
                env.topic,
                say(got)
            )));
        }
    }
    Ok(())
}

/// `wasm` with a custom section appended: the same code under another sha256, as a rebuilt
/// module would be. Benchmarks and tests of hot reload make new versions this way.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
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
    let mut body = Vec::new();
    leb(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0);
    leb(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}
