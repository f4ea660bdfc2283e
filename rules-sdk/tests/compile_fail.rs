//! The errors the SDK's macros report, one case each in `tests/compile_fail/`, with the
//! compiler's output expected beside it (`.stderr`; `TRYBUILD=overwrite` writes it anew).

#[test]
fn macro_errors_say_what_is_wrong() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
