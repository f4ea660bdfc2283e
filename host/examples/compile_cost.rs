//! How long Cranelift takes to compile modules of the shapes that cost it most, at sizes up to
//! the 16 MiB a rule module may have: what a load spends before its budget starts (compiling
//! cannot be interrupted). Writes one line per module: shape, bytes, functions, seconds.
//!
//! ```sh
//! cargo run -p fmn-host --example compile_cost                    # every shape, small to large
//! cargo run -p fmn-host --example compile_cost -- merges 4000 4000 1
//! ```
//!
//! Shapes (each function takes and returns an i32):
//! - `small N`: N functions of a few instructions (at most 1,000,000 functions in wasm).
//! - `straight BYTES N`: N functions of straight-line arithmetic (at most 7,654,321 bytes
//!   a function in wasm).
//! - `live L`: one function with L locals (at most 50,000) all live at once.
//! - `merges B L N`: N functions with B blocks that join two paths, then reads of L locals:
//!   SSA construction looks for each local through every join.
//! - `file PATH`: a module file.

use std::time::Instant;

use fmn_host::module::{Shape, leb};
use fmn_host::{Sandbox, SandboxConfig, WasmModule};
use wasmtime::Module;

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// A function body: `locals` i32 locals, then `code` and `end`.
fn body(locals: u32, code: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    if locals == 0 {
        b.push(0);
    } else {
        b.push(1);
        leb(locals as u64, &mut b);
        b.push(0x7f);
    }
    b.extend_from_slice(code);
    b.push(0x0b);
    let mut out = Vec::new();
    leb(b.len() as u64, &mut out);
    out.extend_from_slice(&b);
    out
}

/// A module of functions `(param i32) (result i32)` with these bodies.
fn module(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut out);
    let mut funcs = Vec::new();
    leb(bodies.len() as u64, &mut funcs);
    funcs.extend(std::iter::repeat_n(0u8, bodies.len()));
    section(3, &funcs, &mut out);
    let mut code = Vec::new();
    leb(bodies.len() as u64, &mut code);
    for b in bodies {
        code.extend_from_slice(b);
    }
    section(10, &code, &mut out);
    out
}

fn local(op: u8, i: u32, out: &mut Vec<u8>) {
    out.push(op);
    leb(i as u64, out);
}

fn small(n: usize) -> Vec<u8> {
    // local.get 0, i32.const 1, i32.add
    let one = body(0, &[0x20, 0, 0x41, 1, 0x6a]);
    module(&vec![one; n])
}

fn straight(bytes: usize, n: usize) -> Vec<u8> {
    let mut code = Vec::with_capacity(bytes);
    while code.len() + 9 < bytes {
        // local.get 0, i32.const 1, i32.add, local.set 0
        code.extend_from_slice(&[0x20, 0, 0x41, 1, 0x6a, 0x21, 0]);
    }
    code.extend_from_slice(&[0x20, 0]);
    module(&vec![body(0, &code); n])
}

fn live(locals: u32) -> Vec<u8> {
    let mut code = Vec::new();
    for k in 1..=locals {
        // local k = param + k
        local(0x20, 0, &mut code);
        code.push(0x41);
        leb(k as u64, &mut code);
        code.push(0x6a);
        local(0x21, k, &mut code);
    }
    sum_locals(locals, &mut code);
    module(&[body(locals, &code)])
}

/// The parameter plus locals 1 to `locals`: every local read.
fn sum_locals(locals: u32, code: &mut Vec<u8>) {
    local(0x20, 0, code);
    for k in 1..=locals {
        local(0x20, k, code);
        code.push(0x6a);
    }
}

fn merges(blocks: usize, locals: u32, n: usize) -> Vec<u8> {
    let mut code = Vec::new();
    for _ in 0..blocks {
        // block, local.get 0, br_if 0, end: the end joins the branch and the fall-through.
        code.extend_from_slice(&[0x02, 0x40, 0x20, 0, 0x0d, 0, 0x0b]);
    }
    sum_locals(locals, &mut code);
    module(&vec![body(locals, &code); n])
}

fn measure(sandbox: &Sandbox, name: &str, wasm: &[u8]) {
    let shape = Shape::of(wasm).expect("a module that parses");
    let started = Instant::now();
    let result = Module::new(sandbox.engine(), wasm);
    let secs = started.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(_) => "compiled".to_owned(),
        Err(e) => format!("not compiled: {e}"),
    };
    println!(
        "{name:<28} {:>9} bytes {:>9} code {:>8} functions {:>8} largest {:>12} locals x bytes {secs:>7.2} s  {outcome}",
        wasm.len(),
        shape.code_bytes,
        shape.functions,
        shape.largest_function,
        shape.locals_by_bytes,
    );
}

/// How long a whole load of `wasm` takes once it is compiled (from the disk cache): what the
/// load budget counts.
fn load_once_compiled(wasm: &[u8]) {
    let cache = tempfile::tempdir().expect("a temporary directory");
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..SandboxConfig::default()
    })
    .expect("the engine");
    let first = WasmModule::from_bytes(&sandbox, wasm, "file").map(|m| m.description.samples.len());
    let started = Instant::now();
    let again = WasmModule::from_bytes(&sandbox, wasm, "file");
    println!(
        "loaded from the cache in {:.3} s ({} samples): {}",
        started.elapsed().as_secs_f64(),
        first.as_ref().map_or(0, |n| *n),
        match again {
            Ok(_) => "loaded".to_owned(),
            Err(e) => e.to_string(),
        }
    );
}

fn number(args: &[String], i: usize) -> usize {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("argument {i} must be a number: {args:?}"))
}

fn build(args: &[String]) -> Vec<u8> {
    match args[0].as_str() {
        "small" => small(number(args, 1)),
        "straight" => straight(number(args, 1), number(args, 2)),
        "live" => live(number(args, 1) as u32),
        "merges" => merges(number(args, 1), number(args, 2) as u32, number(args, 3)),
        "file" => std::fs::read(&args[1]).expect("a readable file"),
        other => panic!("unknown shape {other}: small, straight, live, merges, file"),
    }
}

fn main() {
    let sandbox = Sandbox::new(SandboxConfig {
        cache_dir: None,
        ..SandboxConfig::default()
    })
    .expect("the engine");
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        let wasm = build(&args);
        measure(&sandbox, &args.join(" "), &wasm);
        if args[0] == "file" {
            load_once_compiled(&wasm);
        }
        return;
    }
    for line in [
        "small 100000",
        "straight 1048576 1",
        "live 5000",
        "merges 1000 1000 1",
        "merges 4000 4000 1",
        "merges 16000 4000 1",
    ] {
        let args: Vec<String> = line.split(' ').map(str::to_owned).collect();
        measure(&sandbox, line, &build(&args));
    }
}
