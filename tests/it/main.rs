//! fmn's integration tests: real Redis, real SMTP, real wasm modules, the real binary.

mod abi;
mod amqp;
mod backpressure;
mod bad_input;
mod cli;
#[cfg(target_os = "linux")]
mod cpu_time;
mod data;
mod dead;
mod digests;
mod examples;
mod faults;
mod hostile_users;
mod irc;
mod matrix;
mod metrics;
mod pipeline;
mod prefs_live;
mod presets;
mod push;
mod reload;
mod replay;
mod retries;
mod rule_authors;
mod rules_test;
mod smtp;
mod support;
mod templates;
mod transport;
mod wasm;
mod web;
mod why;
mod zeromq;
