//! The binary interface between the host and a rule module (see `rules-sdk/wit/fmn-rules.wit`).
//!
//! A module is a plain core wasm module that imports nothing and exports:
//!
//! | export | signature | does |
//! | --- | --- | --- |
//! | `memory` | memory | the module's linear memory |
//! | `fmn_abi_version` | `() -> i32` | [`ABI_VERSION`] |
//! | `fmn_state` | `() -> i32` | address of the [`GuestState`] block |
//! | `fmn_input` | `(len: i32) -> i32` | address of a buffer of at least `len` bytes for the next call |
//! | `fmn_describe` | `() -> i64` | the module's description, JSON |
//! | `fmn_register` | `(rule: i32, args_len: i32) -> i64` | registers rule `rule` with the JSON arguments in the input buffer: a handle (>= 0), or < 0 with the reason in `fmn_error` |
//! | `fmn_unregister` | `(handle: i32) -> i32` | forgets a handle (0, or -1 if unknown) |
//! | `fmn_eval` | `(len: i32) -> i64` | evaluates the request in the input buffer (see [`encode_request`]); the answer is an [`EvalOutput`] (see [`encode_output`]) |
//! | `fmn_error` | `() -> i64` | the text of the last error |
//!
//! An `i64` result packs an address and a length: `(address << 32) | length`; the bytes stay
//! valid until the next call. Integers are little endian; a string is a `u32` length and
//! UTF-8 bytes. The host checks every address, length and count against the module's memory
//! and its own limits before trusting it.

use std::fmt;

/// The version of this interface that modules built with this SDK speak.
///
/// It changes only when the exports above change in a way an older host cannot read; the
/// SDK's own version (semver) does not move it. See [`SUPPORTED_ABI`] for what a host loads.
pub const ABI_VERSION: u32 = 1;

/// The oldest version a host of this release still loads. When [`ABI_VERSION`] moves on, a
/// host keeps loading the previous version for at least one more minor release of fmn, so
/// that modules can be rebuilt while workers are upgraded.
pub const MIN_ABI_VERSION: u32 = 1;

/// The versions a host of this release loads: older modules within it load and run as they
/// did; a module speaking a version outside it is refused with the reason.
pub const SUPPORTED_ABI: std::ops::RangeInclusive<u32> = MIN_ABI_VERSION..=ABI_VERSION;

/// The version of the SDK crate a module was built with, as it reports in its description.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Export names.
pub mod exports {
    /// The module's memory.
    pub const MEMORY: &str = "memory";
    /// `() -> i32`: the ABI version.
    pub const ABI_VERSION: &str = "fmn_abi_version";
    /// `() -> i32`: the address of the state block.
    pub const STATE: &str = "fmn_state";
    /// `(len: i32) -> i32`: the input buffer.
    pub const INPUT: &str = "fmn_input";
    /// `() -> i64`: the description.
    pub const DESCRIBE: &str = "fmn_describe";
    /// `(rule: i32, args_len: i32) -> i64`: register a rule with arguments.
    pub const REGISTER: &str = "fmn_register";
    /// `(handle: i32) -> i32`: forget a handle.
    pub const UNREGISTER: &str = "fmn_unregister";
    /// `(len: i32) -> i64`: evaluate.
    pub const EVAL: &str = "fmn_eval";
    /// `() -> i64`: the last error.
    pub const ERROR: &str = "fmn_error";
}

/// The layout of the state block a module exposes at `fmn_state()`: what it was doing, and the
/// message of its last panic. The host reads it after a trap to say which rule failed and why.
///
/// `magic: u32, phase: u32, index: u32, panic_len: u32, panic: [u8; PANIC_CAPACITY]`.
pub struct GuestState;

impl GuestState {
    /// `b"fmn1"` as a little-endian `u32`.
    pub const MAGIC: u32 = u32::from_le_bytes(*b"fmn1");
    /// Offset of `phase`.
    pub const PHASE: usize = 4;
    /// Offset of `index`.
    pub const INDEX: usize = 8;
    /// Offset of `panic_len`.
    pub const PANIC_LEN: usize = 12;
    /// Offset of the panic message.
    pub const PANIC: usize = 16;
    /// Room for the panic message; longer ones are cut.
    pub const PANIC_CAPACITY: usize = 1024;
    /// Size of the whole block.
    pub const SIZE: usize = Self::PANIC + Self::PANIC_CAPACITY;
}

/// What a module was doing, as recorded in its state block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between calls.
    Idle = 0,
    /// Parsing the message.
    Parse = 1,
    /// Running rule number `index` of the module.
    Rule = 2,
    /// Running extractor number `index` of the module.
    Extractor = 3,
    /// Decoding the arguments of rule number `index`.
    Register = 4,
}

impl Phase {
    /// The phase recorded as `n`.
    pub fn from_u32(n: u32) -> Option<Phase> {
        Some(match n {
            0 => Phase::Idle,
            1 => Phase::Parse,
            2 => Phase::Rule,
            3 => Phase::Extractor,
            4 => Phase::Register,
            _ => return None,
        })
    }
}

/// Packs an address and a length into the `i64` that exports return.
pub fn pack(ptr: u32, len: u32) -> i64 {
    (((ptr as u64) << 32) | len as u64) as i64
}

/// Unpacks what [`pack`] packed.
pub fn unpack(v: i64) -> (u32, u32) {
    let v = v as u64;
    ((v >> 32) as u32, v as u32)
}

/// What one extractor said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extracted {
    /// A set of keys (usernames, packages, ...), sorted, without duplicates.
    Keys(Vec<String>),
    /// A text (summary, link, ...), or none.
    Text(Option<String>),
}

/// The answer of one evaluation call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalOutput {
    /// Set when the message could not be parsed; then nothing else is set.
    pub message_error: Option<String>,
    /// Bit `i` is set when the `i`-th requested handle matched.
    pub matched: Vec<u64>,
    /// Requested handles (by position) whose rule returned an error, with the error.
    pub errors: Vec<(u32, String)>,
    /// One result per requested extractor, in request order.
    pub extracted: Vec<Result<Extracted, String>>,
}

impl EvalOutput {
    /// An output for `handles` requested handles with no match yet.
    pub fn with_handles(handles: usize) -> Self {
        EvalOutput {
            matched: vec![0; handles.div_ceil(64)],
            ..Default::default()
        }
    }

    /// Whether the `pos`-th requested handle matched.
    pub fn is_match(&self, pos: usize) -> bool {
        self.matched
            .get(pos / 64)
            .is_some_and(|w| w & (1 << (pos % 64)) != 0)
    }

    /// Marks the `pos`-th requested handle as matched.
    pub fn set_match(&mut self, pos: usize) {
        if let Some(w) = self.matched.get_mut(pos / 64) {
            *w |= 1 << (pos % 64);
        }
    }
}

/// Something in the bytes a module returned does not add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiError(pub String);

impl fmt::Display for AbiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AbiError {}

/// Writes the request of `fmn_eval`: the message, the handles, the extractors.
pub fn encode_request(out: &mut Vec<u8>, message: &[u8], handles: &[u32], extractors: &[u32]) {
    out.clear();
    out.reserve(message.len() + 12 + 4 * (handles.len() + extractors.len()));
    put_bytes(out, message);
    put_u32(out, handles.len() as u32);
    for h in handles {
        put_u32(out, *h);
    }
    put_u32(out, extractors.len() as u32);
    for e in extractors {
        put_u32(out, *e);
    }
}

/// A decoded request of `fmn_eval`, borrowing from the input buffer.
pub struct Request<'a> {
    /// The normalised envelope, JSON.
    pub message: &'a [u8],
    /// Registered handles to evaluate.
    pub handles: Vec<u32>,
    /// Extractors (by index in the module) to run.
    pub extractors: Vec<u32>,
}

/// Reads what [`encode_request`] wrote.
pub fn decode_request(input: &[u8]) -> Result<Request<'_>, AbiError> {
    let mut r = Reader::new(input);
    let message = r.bytes()?;
    let n = r.count(4)?;
    let handles = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
    let n = r.count(4)?;
    let extractors = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
    Ok(Request {
        message,
        handles,
        extractors,
    })
}

/// Writes an [`EvalOutput`].
pub fn encode_output(out: &mut Vec<u8>, o: &EvalOutput) {
    out.clear();
    if let Some(e) = &o.message_error {
        out.push(1);
        put_bytes(out, e.as_bytes());
        return;
    }
    out.push(0);
    put_u32(out, o.matched.len() as u32);
    for w in &o.matched {
        out.extend_from_slice(&w.to_le_bytes());
    }
    put_u32(out, o.errors.len() as u32);
    for (pos, e) in &o.errors {
        put_u32(out, *pos);
        put_bytes(out, e.as_bytes());
    }
    put_u32(out, o.extracted.len() as u32);
    for x in &o.extracted {
        match x {
            Ok(Extracted::Keys(keys)) => {
                out.push(0);
                put_u32(out, keys.len() as u32);
                for k in keys {
                    put_bytes(out, k.as_bytes());
                }
            }
            Ok(Extracted::Text(Some(t))) => {
                out.push(1);
                put_bytes(out, t.as_bytes());
            }
            Ok(Extracted::Text(None)) => out.push(2),
            Err(e) => {
                out.push(3);
                put_bytes(out, e.as_bytes());
            }
        }
    }
}

/// Reads an [`EvalOutput`], checking every count and length against the bytes there are.
pub fn decode_output(input: &[u8]) -> Result<EvalOutput, AbiError> {
    let mut r = Reader::new(input);
    let mut o = EvalOutput::default();
    match r.u8()? {
        0 => {}
        1 => {
            o.message_error = Some(r.string()?);
            return Ok(o);
        }
        t => return Err(AbiError(format!("unknown output status {t}"))),
    }
    let words = r.count(8)?;
    o.matched = (0..words).map(|_| r.u64()).collect::<Result<_, _>>()?;
    let n = r.count(8)?;
    o.errors = (0..n)
        .map(|_| Ok((r.u32()?, r.string()?)))
        .collect::<Result<_, AbiError>>()?;
    let n = r.count(1)?;
    for _ in 0..n {
        let x = match r.u8()? {
            0 => {
                let k = r.count(4)?;
                Ok(Extracted::Keys(
                    (0..k).map(|_| r.string()).collect::<Result<_, _>>()?,
                ))
            }
            1 => Ok(Extracted::Text(Some(r.string()?))),
            2 => Ok(Extracted::Text(None)),
            3 => Err(r.string()?),
            t => return Err(AbiError(format!("unknown extractor result tag {t}"))),
        };
        o.extracted.push(x);
    }
    if !r.is_empty() {
        return Err(AbiError(format!(
            "{} bytes left over after the output",
            r.rest()
        )));
    }
    Ok(o)
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u32(out, b.len() as u32);
    out.extend_from_slice(b);
}

/// A bounds-checked reader over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn rest(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn is_empty(&self) -> bool {
        self.rest() == 0
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], AbiError> {
        if n > self.rest() {
            return Err(AbiError(format!(
                "wants {n} bytes at offset {} of a {}-byte output",
                self.pos,
                self.buf.len()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, AbiError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, AbiError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, AbiError> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A count of items at least `min_size` bytes each: refused if they cannot fit, so a
    /// hostile count cannot make the reader allocate.
    fn count(&mut self, min_size: usize) -> Result<usize, AbiError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.rest() {
            return Err(AbiError(format!(
                "claims {n} items at offset {}, more than the {} bytes left can hold",
                self.pos,
                self.rest()
            )));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], AbiError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    fn string(&mut self) -> Result<String, AbiError> {
        let at = self.pos;
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|e| AbiError(format!("string at offset {at} is not UTF-8: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The WIT description names every export of this ABI, and no other, at this version.
    #[test]
    fn wit_matches_the_exports() {
        let wit = include_str!("../wit/fmn-rules.wit");
        assert!(wit.contains(&format!("ABI version {ABI_VERSION}.")));
        let mut in_wit: Vec<String> = wit
            .lines()
            .filter_map(|l| l.trim().strip_prefix("export "))
            .filter_map(|l| l.split(':').next())
            .map(|n| n.replace('-', "_"))
            .collect();
        in_wit.sort();
        let mut ours: Vec<&str> = vec![
            exports::ABI_VERSION,
            exports::STATE,
            exports::INPUT,
            exports::DESCRIBE,
            exports::REGISTER,
            exports::UNREGISTER,
            exports::EVAL,
            exports::ERROR,
        ];
        ours.sort();
        assert_eq!(in_wit, ours);
    }

    #[test]
    fn output_round_trip() {
        let mut o = EvalOutput::with_handles(70);
        o.set_match(0);
        o.set_match(69);
        o.errors.push((3, "boom".into()));
        o.extracted = vec![
            Ok(Extracted::Keys(vec!["a".into(), "b".into()])),
            Ok(Extracted::Text(Some("s".into()))),
            Ok(Extracted::Text(None)),
            Err("bad".into()),
        ];
        let mut buf = Vec::new();
        encode_output(&mut buf, &o);
        let back = decode_output(&buf).unwrap();
        assert_eq!(back, o);
        assert!(back.is_match(69) && !back.is_match(68));
    }

    #[test]
    fn hostile_outputs_are_refused_without_allocating() {
        // Status ok, then a claim of 4 billion bitset words.
        let buf = [0u8, 0xff, 0xff, 0xff, 0xff];
        let e = decode_output(&buf).unwrap_err().to_string();
        assert!(e.contains("claims 4294967295 items"), "{e}");
        assert!(decode_output(&[]).is_err());
        assert!(
            decode_output(&[9])
                .unwrap_err()
                .0
                .contains("unknown output status 9")
        );
        let mut buf = Vec::new();
        encode_output(&mut buf, &EvalOutput::with_handles(1));
        buf.push(0);
        assert!(decode_output(&buf).unwrap_err().0.contains("left over"));
    }

    #[test]
    fn request_round_trip() {
        let mut buf = Vec::new();
        encode_request(&mut buf, b"{}", &[1, 2], &[0]);
        let r = decode_request(&buf).unwrap();
        assert_eq!(
            (r.message, r.handles, r.extractors),
            (&b"{}"[..], vec![1, 2], vec![0])
        );
    }
}
