//! Shared set-up for the tests that run against every store.

pub mod backend;
