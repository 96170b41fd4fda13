//! alembic-drill's engine. Everything here but `py` is plain Rust, tested with `cargo test`.

pub mod finding;
pub mod graph;
pub mod history;
pub mod render;
pub mod revision;

#[cfg(feature = "python")]
mod py;
