//! Graphviz DOT, base at the bottom (`rankdir=BT`), parent -> child edges.
//!
//! Heads are green and bold, bases blue, merges ellipses; findings colour the border by severity.
//! Ids referenced but not present are drawn as dashed red nodes so their edges still show.

use std::collections::HashSet;
use std::fmt::Write;

use super::{RenderNode, doc_summary, unique};

const RED: &str = "#d32f2f";

pub(super) fn render(nodes: &[RenderNode]) -> String {
    let mut out = String::from(
        "digraph alembic {\n    rankdir=BT;\n    node [shape=box, style=\"rounded,filled\", \
         fillcolor=\"#ffffff\", fontname=\"Helvetica\"];\n    edge [color=\"#555555\"];\n",
    );
    let known: HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();

    let mut defined: HashSet<&str> = HashSet::new();
    for node in nodes {
        // A duplicated id is one Graphviz node; a second statement would only merge attributes.
        if !defined.insert(&node.id) {
            continue;
        }
        let mut label = escape(&node.id);
        if !node.branch_labels.is_empty() {
            let _ = write!(label, " [{}]", escape(&node.branch_labels.join(", ")));
        }
        if let Some(doc) = doc_summary(node.doc.as_deref()) {
            label.push_str("\\n");
            label.push_str(&escape(doc));
        }
        let mut attrs = vec![format!("label=\"{label}\"")];
        if node.is_merge {
            attrs.push("shape=ellipse".into());
        }
        if node.is_head {
            attrs.push("fillcolor=\"#d4edda\"".into());
            attrs.push("penwidth=2".into());
        } else if node.is_base {
            attrs.push("fillcolor=\"#e3f2fd\"".into());
        }
        if let Some(severity) = &node.flagged {
            attrs.push(format!("color=\"{}\"", severity_color(severity)));
            attrs.push("penwidth=3".into());
            attrs.push(format!("tooltip=\"{}\"", escape(severity)));
        }
        let _ = writeln!(out, "    {} [{}];", quote(&node.id), attrs.join(", "));
    }

    for node in nodes {
        for id in unique(&node.parents)
            .into_iter()
            .chain(unique(&node.depends_on))
        {
            if !known.contains(id) && defined.insert(id) {
                let _ = writeln!(
                    out,
                    "    {} [label=\"{}\\n(missing)\", style=dashed, color=\"{RED}\", \
                     fontcolor=\"{RED}\"];",
                    quote(id),
                    escape(id)
                );
            }
        }
    }

    for node in nodes {
        let child = quote(&node.id);
        for parent in unique(&node.parents) {
            let attrs = if known.contains(parent) {
                String::new()
            } else {
                format!(" [style=dashed, color=\"{RED}\"]")
            };
            let _ = writeln!(out, "    {} -> {child}{attrs};", quote(parent));
        }
        for dep in unique(&node.depends_on) {
            let _ = writeln!(out, "    {} -> {child} [style=dashed];", quote(dep));
        }
    }
    out.push_str("}\n");
    out
}

fn severity_color(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "error" => RED,
        "warning" => "#ef6c00",
        _ => "#0288d1",
    }
}

fn quote(id: &str) -> String {
    format!("\"{}\"", escape(id))
}

/// Text for inside a DOT `"..."` string. Backslashes are doubled because labels treat `\n`, `\N`,
/// `\G`... as escapes, and a trailing `\` would swallow the closing quote.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Format, RenderNode, render};

    fn node(id: &str, parents: &[&str]) -> RenderNode {
        RenderNode {
            id: id.into(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn branch_and_merge() {
        let mut nodes = vec![
            node("base", &[]),
            node("a1", &["base"]),
            node("b1", &["base"]),
            node("m", &["a1", "b1"]),
        ];
        nodes[0].is_base = true;
        nodes[0].is_branch_point = true;
        nodes[0].doc = Some("create users".into());
        nodes[2].branch_labels = vec!["billing".into()];
        nodes[2].flagged = Some("error".into());
        nodes[3].is_head = true;
        nodes[3].is_merge = true;
        nodes[3].depends_on = vec!["a1".into()];
        assert_eq!(
            render(&nodes, Format::Dot),
            r##"digraph alembic {
    rankdir=BT;
    node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];
    edge [color="#555555"];
    "base" [label="base\ncreate users", fillcolor="#e3f2fd"];
    "a1" [label="a1"];
    "b1" [label="b1 [billing]", color="#d32f2f", penwidth=3, tooltip="error"];
    "m" [label="m", shape=ellipse, fillcolor="#d4edda", penwidth=2];
    "base" -> "a1";
    "base" -> "b1";
    "a1" -> "m";
    "b1" -> "m";
    "a1" -> "m" [style=dashed];
}
"##
        );
    }

    #[test]
    fn ids_and_labels_are_escaped() {
        let mut n = node("we\"ird\\", &["x\\N"]);
        n.doc = Some("a \"quote\" \\G\ttab".into());
        let out = render(&[n], Format::Dot);
        assert!(
            out.contains(r#""we\"ird\\" [label="we\"ird\\\na \"quote\" \\G tab"];"#),
            "{out}"
        );
        assert!(out.contains(r##""x\\N" -> "we\"ird\\" [style=dashed, color="#d32f2f"];"##));
    }

    #[test]
    fn missing_parent_is_a_dashed_red_node() {
        let out = render(&[node("a", &["gone", "gone"])], Format::Dot);
        assert_eq!(
            out.matches(r##""gone" [label="gone\n(missing)", style=dashed, color="#d32f2f", fontcolor="#d32f2f"];"##)
                .count(),
            1,
            "{out}"
        );
        assert_eq!(out.matches("\"gone\" -> \"a\"").count(), 1, "{out}");
    }

    #[test]
    fn cycles_and_duplicates_terminate() {
        let nodes = vec![node("x", &["y"]), node("y", &["x"]), node("x", &["x"])];
        let out = render(&nodes, Format::Dot);
        assert_eq!(out.matches("\"x\" [label").count(), 1, "{out}");
        assert!(out.contains("\"y\" -> \"x\";") && out.contains("\"x\" -> \"y\";"));
        assert!(out.ends_with("}\n"));
    }
}
