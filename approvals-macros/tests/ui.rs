//! Compile-time behaviour of `#[requires_approval]`: what compiles
//! (`tests/ui/pass`) and, for each misuse, the error (`tests/ui/fail`, with
//! the expected `.stderr`). Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --test ui` and review every change.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
