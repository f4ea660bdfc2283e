//! fmn's integration tests: real Redis, real SMTP, real wasm modules, the real binary.

mod pipeline;
mod support;
mod transport;
