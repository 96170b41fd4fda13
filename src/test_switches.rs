//! The switches CI sets so that a test whose server is missing fails instead of skipping:
//! `ALEMBIC_DRILL_REQUIRE_DOCKER` and `ALEMBIC_DRILL_REQUIRE_LOCAL`.
//!
//! The same rule as the Python suite's (`tests/servers_support.py`, `switch_is_on`): unset,
//! empty, `0`, `false`, `no` and `off` mean off; `1`, `true`, `yes` and `on` mean on (any
//! case, surrounding spaces ignored); anything else is a mistake and stops the test run, so
//! that a misspelt switch never turns into silent skips.

pub(crate) const REQUIRE_DOCKER: &str = "ALEMBIC_DRILL_REQUIRE_DOCKER";
pub(crate) const REQUIRE_LOCAL: &str = "ALEMBIC_DRILL_REQUIRE_LOCAL";

/// What a switch's value means, or why it means nothing.
pub(crate) fn parse_switch(name: &str, value: Option<&str>) -> Result<bool, String> {
    let Some(value) = value else {
        return Ok(false);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err(format!(
            "{name}={value:?} is neither on (1, true, yes, on) nor off (0, false, no, off, empty)"
        )),
    }
}

/// Whether the switch `name` is on in this process's environment; panics on nonsense.
pub(crate) fn switch_is_on(name: &str) -> bool {
    let value = std::env::var(name).ok();
    parse_switch(name, value.as_deref()).unwrap_or_else(|reason| panic!("{reason}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_and_off_spellings_are_understood_in_any_case() {
        for on in ["1", "true", "TRUE", "True", "yes", "Yes", "on", "ON", " 1 "] {
            assert_eq!(parse_switch(REQUIRE_LOCAL, Some(on)), Ok(true), "{on:?}");
        }
        for off in ["", "0", "false", "False", "no", "NO", "off", "Off", "  "] {
            assert_eq!(parse_switch(REQUIRE_LOCAL, Some(off)), Ok(false), "{off:?}");
        }
        assert_eq!(parse_switch(REQUIRE_LOCAL, None), Ok(false));
    }

    #[test]
    fn nonsense_is_rejected_with_the_switch_and_its_value() {
        for nonsense in ["2", "ture", "enabled", "y"] {
            let error = parse_switch(REQUIRE_DOCKER, Some(nonsense)).unwrap_err();
            assert_eq!(
                error,
                format!(
                    "ALEMBIC_DRILL_REQUIRE_DOCKER={nonsense:?} is neither on (1, true, yes, on) \
                     nor off (0, false, no, off, empty)"
                )
            );
        }
    }
}
