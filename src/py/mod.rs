//! The Python binding: the only module that knows about pyo3.

mod checks;
mod drill;
mod errors;
mod history;
mod leftovers;
mod server;
mod wait;
mod watchdog;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    history::register(m)?;
    server::register(m)?;
    drill::register(m)?;
    checks::register(m)?;
    watchdog::register(m)?;
    leftovers::register(m)?;
    Ok(())
}
