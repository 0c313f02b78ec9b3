//! Keel's tidy test: project rules that plain `cargo test` enforces, in the
//! style of rust-analyzer's `xtask/src/tidy.rs`.
//!
//! It checks, over the real workspace (`tests.rs`):
//!
//! 1. the dependency rules in ARCHITECTURE.md's `boundaries` block hold in
//!    `cargo metadata`'s resolve graph, counting normal dependencies only
//!    (`boundaries`);
//! 2. ARCHITECTURE.md's code map has exactly one bullet per workspace member
//!    (`code_map`);
//! 3. every `.rs` file under `crates/` opens with a `//!` line (`source`);
//! 4. no `.unwrap()` or `.expect(` in `crates/*/src` outside test code
//!    (`source`);
//! 5. every declared dependency is used by its crate (`deps`).
//!
//! Each check is a small function over in-memory inputs (markdown text, a
//! dependency graph, file contents) with its own table of unit tests, so a
//! check cannot silently pass; `workspace` is the only part that touches the
//! disk or runs cargo. Nothing depends on this crate.

pub mod boundaries;
pub mod code_map;
pub mod deps;
pub mod source;
pub mod workspace;

#[cfg(test)]
mod tests;
