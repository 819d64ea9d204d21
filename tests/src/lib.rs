//! Helpers shared by the end-to-end tests.
pub mod process;
pub mod server;
pub mod wasm;
