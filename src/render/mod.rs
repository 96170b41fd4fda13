//! Drawing the revision history: a `git log --graph`-style text view, Mermaid and Graphviz DOT.
//!
//! The renderers only see [`RenderNode`]s, so they stay independent of how the graph is built and
//! checked. Input is expected in topological order (base first), but every renderer tolerates
//! cycles, missing parents and duplicate ids: it prints every node and always terminates.

mod dot;
mod mermaid;
mod text;

use std::fmt;
use std::str::FromStr;

/// One revision as the renderers see it.
#[derive(Debug, Clone, Default)]
pub struct RenderNode {
    pub id: String,
    /// down_revisions; may name ids not in the list (a missing parent).
    pub parents: Vec<String>,
    /// Resolved dependency ids: dashed edges in Mermaid/DOT, a note in text.
    pub depends_on: Vec<String>,
    pub branch_labels: Vec<String>,
    /// Only the first non-blank line is shown.
    pub doc: Option<String>,
    pub is_head: bool,
    pub is_base: bool,
    pub is_merge: bool,
    pub is_branch_point: bool,
    /// Worst severity among the revision's findings (`"error"`, `"warning"`, `"info"`), if any.
    pub flagged: Option<String>,
}

/// Output format of [`render`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Text,
    Mermaid,
    Dot,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Text, Format::Mermaid, Format::Dot];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Mermaid => "mermaid",
            Format::Dot => "dot",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name that is not one of `text`, `mermaid`, `dot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFormatError {
    pub given: String,
}

impl fmt::Display for ParseFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown graph format {:?}: expected one of text, mermaid, dot",
            self.given
        )
    }
}

impl std::error::Error for ParseFormatError {}

impl FromStr for Format {
    type Err = ParseFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| ParseFormatError {
                given: s.to_owned(),
            })
    }
}

/// Draws `nodes` (topological order, base first) in the given format. The result ends with a newline.
pub fn render(nodes: &[RenderNode], format: Format) -> String {
    match format {
        Format::Text => text::render(nodes),
        Format::Mermaid => mermaid::render(nodes),
        Format::Dot => dot::render(nodes),
    }
}

/// The line of a docstring worth showing: Alembic docstrings often open with a blank line.
fn doc_summary(doc: Option<&str>) -> Option<&str> {
    doc?.lines().map(str::trim).find(|l| !l.is_empty())
}

/// Control characters in ids or docs could break a line-based format or drive a terminal.
fn without_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Each distinct value once, first occurrence wins: duplicate parents would draw duplicate edges.
fn unique(items: &[String]) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .map(String::as_str)
        .filter(|s| seen.insert(*s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_parses_known_names_case_insensitively() {
        assert_eq!("text".parse::<Format>(), Ok(Format::Text));
        assert_eq!(" Mermaid ".parse::<Format>(), Ok(Format::Mermaid));
        assert_eq!("DOT".parse::<Format>(), Ok(Format::Dot));
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>(), Ok(f));
        }
    }

    #[test]
    fn format_error_names_valid_values() {
        let err = "svg".parse::<Format>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"svg\""), "{msg}");
        assert!(msg.contains("text, mermaid, dot"), "{msg}");
    }

    #[test]
    fn doc_summary_skips_leading_blank_lines() {
        assert_eq!(
            doc_summary(Some("\n  \n add users \nmore")),
            Some("add users")
        );
        assert_eq!(doc_summary(Some("  \n")), None);
        assert_eq!(doc_summary(None), None);
    }

    #[test]
    fn empty_input_renders_in_every_format() {
        assert_eq!(render(&[], Format::Text), "");
        assert!(render(&[], Format::Mermaid).starts_with("flowchart BT\n"));
        assert!(render(&[], Format::Dot).starts_with("digraph alembic {\n"));
    }
}
