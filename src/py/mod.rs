//! The Python binding: the only module that knows about pyo3.

mod checks;
mod drill;
mod errors;
mod history;
mod server;
mod wait;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    history::register(m)?;
    server::register(m)?;
    drill::register(m)?;
    checks::register(m)?;
    Ok(())
}
