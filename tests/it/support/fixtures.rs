//! What the tests run on: the bundled rule modules as built by `build.rs`, and the corpus
//! fixtures under tests/fixtures/corpus.

/// The bundled rule module (`fedora`), as wasm.
pub const BUNDLED: &[u8] = include_bytes!(env!("FMN_WASM_FMN_RULES"));

/// The hostile test module (tests/modules/hostile), as wasm.
pub const HOSTILE: &[u8] = include_bytes!(env!("FMN_WASM_FMN_TEST_HOSTILE"));

/// A corpus fixture's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(super::root().join("tests/fixtures/corpus").join(name))
        .expect("corpus fixture")
}
