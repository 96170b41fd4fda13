//! JUnit XML: one test suite per check, one test case per revision the check ran for, so
//! CI systems list every revision that passed and point at the one that failed.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::DrillReport;
use crate::finding::Severity;

pub fn to_junit(report: &DrillReport) -> String {
    let mut suites: BTreeMap<&str, Vec<&super::CheckRun>> = BTreeMap::new();
    for run in &report.checks {
        suites.entry(run.check.as_str()).or_default().push(run);
    }
    let total: usize = suites.values().map(Vec::len).sum();
    let failures = report
        .checks
        .iter()
        .filter(|run| is_failure(report, run))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"alembic-drill\" tests=\"{total}\" failures=\"{failures}\" time=\"{:.3}\">",
        report.seconds
    );
    for (check, runs) in &suites {
        let suite_failures = runs.iter().filter(|r| is_failure(report, r)).count();
        let skipped = runs.iter().filter(|r| r.skipped.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{suite_failures}\" skipped=\"{skipped}\">",
            escape(check),
            runs.len()
        );
        for run in runs {
            let name = run.revision.as_deref().unwrap_or("history");
            let _ = write!(
                out,
                "    <testcase classname=\"alembic-drill.{}\" name=\"{}\"",
                escape(check),
                escape(name)
            );
            let findings: Vec<_> = report
                .findings_for(check, run.revision.as_deref())
                .collect();
            let errors: Vec<_> = findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .collect();
            if let Some(reason) = &run.skipped {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(reason)
                );
            } else if errors.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push_str(">\n");
                for finding in errors {
                    let location = match (&finding.path, finding.line) {
                        (Some(path), Some(line)) => format!("{path}:{line}\n"),
                        (Some(path), None) => format!("{path}\n"),
                        _ => String::new(),
                    };
                    let first_line = finding.message.lines().next().unwrap_or("");
                    let _ = writeln!(
                        out,
                        "      <failure type=\"{}\" message=\"{}\">{}{}</failure>",
                        escape(check),
                        escape(first_line),
                        escape(&location),
                        escape(&finding.message)
                    );
                }
                out.push_str("    </testcase>\n");
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn is_failure(report: &DrillReport, run: &super::CheckRun) -> bool {
    run.skipped.is_none()
        && report
            .findings_for(&run.check, run.revision.as_deref())
            .any(|f| f.severity == Severity::Error)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{CheckRun, DrillReport};
    use super::*;
    use crate::finding::Finding;

    #[test]
    fn failures_and_passes_per_revision() {
        let mut report = DrillReport {
            checks: vec![
                CheckRun {
                    check: "roundtrip-failed".into(),
                    revision: Some("a1".into()),
                    skipped: None,
                },
                CheckRun {
                    check: "roundtrip-failed".into(),
                    revision: Some("b2".into()),
                    skipped: None,
                },
                CheckRun {
                    check: "model-drift".into(),
                    revision: None,
                    skipped: Some("env.py has no target_metadata".into()),
                },
            ],
            findings: vec![
                Finding::new(
                    "roundtrip-failed",
                    Severity::Error,
                    "upgrade after downgrade failed: <table \"x\" exists>",
                )
                .at(Some("b2"), Some("versions/b2.py"), Some(12)),
            ],
            ..DrillReport::default()
        };
        report.finish();
        let xml = to_junit(&report);
        assert!(xml.contains("tests=\"3\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("<testcase classname=\"alembic-drill.roundtrip-failed\" name=\"a1\"/>")
        );
        assert!(xml.contains(
            "message=\"upgrade after downgrade failed: &lt;table &quot;x&quot; exists&gt;\""
        ));
        assert!(xml.contains("versions/b2.py:12"));
        assert!(xml.contains("<skipped message=\"env.py has no target_metadata\"/>"));
    }
}
