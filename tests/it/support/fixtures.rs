//! What the tests run on: the bundled rule modules as built by `build.rs`, and the corpus
//! fixtures under tests/fixtures/corpus.

/// The bundled rule module (`fedora`), as wasm.
pub const BUNDLED: &[u8] = include_bytes!(env!("FMN_WASM_FMN_RULES"));

/// The hostile test module (tests/modules/hostile), as wasm.
pub const HOSTILE: &[u8] = include_bytes!(env!("FMN_WASM_FMN_TEST_HOSTILE"));

/// The example modules of examples/rules, as wasm: `package_watch`, `sig_watch` and
/// `branch_watch`.
pub const EXAMPLE_PACKAGE_WATCH: &[u8] = include_bytes!(env!("FMN_WASM_FMN_EXAMPLE_PACKAGE_WATCH"));
/// See [`EXAMPLE_PACKAGE_WATCH`].
pub const EXAMPLE_SIG_WATCH: &[u8] = include_bytes!(env!("FMN_WASM_FMN_EXAMPLE_SIG_WATCH"));
/// See [`EXAMPLE_PACKAGE_WATCH`].
pub const EXAMPLE_BRANCH_WATCH: &[u8] = include_bytes!(env!("FMN_WASM_FMN_EXAMPLE_BRANCH_WATCH"));

/// A corpus fixture's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(super::root().join("tests/fixtures/corpus").join(name))
        .expect("corpus fixture")
}
