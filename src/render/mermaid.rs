//! Mermaid flowchart, base at the bottom like the text view's oldest-last order.
//!
//! Parent `-->` child edges, dependency `-.->` dependent edges. Ids referenced but not present
//! (missing parents, unresolved dependencies) get a dashed red node so the edge still shows.

use std::collections::HashSet;
use std::fmt::Write;

use super::{RenderNode, doc_summary, unique};

const CLASS_DEFS: [(&str, &str); 7] = [
    ("head", "fill:#d4edda"),
    ("base", "fill:#e3f2fd"),
    ("merge", "fill:#ede7f6"),
    // Severity classes only set the stroke so they combine with the fill of head/base/merge.
    ("error", "stroke:#d32f2f,stroke-width:3px"),
    ("warning", "stroke:#ef6c00,stroke-width:3px"),
    ("info", "stroke:#0288d1,stroke-width:2px"),
    (
        "missing",
        "fill:#ffffff,stroke:#d32f2f,stroke-dasharray:5 5,color:#d32f2f",
    ),
];

pub(super) fn render(nodes: &[RenderNode]) -> String {
    let mut out = String::from("flowchart BT\n");
    let known: HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let mut classes: Vec<(&str, Vec<String>)> =
        CLASS_DEFS.iter().map(|(c, _)| (*c, Vec::new())).collect();
    let mut add_class = |class: &str, node: String| {
        if let Some((_, members)) = classes.iter_mut().find(|(c, _)| *c == class) {
            members.push(node);
        }
    };

    let mut defined: HashSet<&str> = HashSet::new();
    for node in nodes {
        // A duplicated id is one Mermaid node; defining it twice would only relabel it.
        if !defined.insert(&node.id) {
            continue;
        }
        let key = node_key(&node.id);
        let mut label = escape(&node.id);
        if !node.branch_labels.is_empty() {
            label.push_str(" [");
            label.push_str(&escape(&node.branch_labels.join(", ")));
            label.push(']');
        }
        if let Some(doc) = doc_summary(node.doc.as_deref()) {
            label.push_str("<br/>");
            label.push_str(&escape(doc));
        }
        let _ = writeln!(out, "    {key}[\"{label}\"]");
        for (on, class) in [
            (node.is_head, "head"),
            (node.is_base, "base"),
            (node.is_merge, "merge"),
        ] {
            if on {
                add_class(class, key.clone());
            }
        }
        if let Some(severity) = &node.flagged {
            add_class(severity_class(severity), key.clone());
        }
    }

    let mut absent: Vec<&str> = Vec::new();
    for node in nodes {
        for id in unique(&node.parents)
            .into_iter()
            .chain(unique(&node.depends_on))
        {
            if !known.contains(id) && defined.insert(id) {
                absent.push(id);
            }
        }
    }
    for id in absent {
        let key = node_key(id);
        let _ = writeln!(out, "    {key}[\"{}<br/>(missing)\"]", escape(id));
        add_class("missing", key);
    }

    for node in nodes {
        let child = node_key(&node.id);
        for parent in unique(&node.parents) {
            let _ = writeln!(out, "    {} --> {child}", node_key(parent));
        }
        for dep in unique(&node.depends_on) {
            let _ = writeln!(out, "    {} -.-> {child}", node_key(dep));
        }
    }

    for ((name, style), (_, members)) in CLASS_DEFS.iter().zip(&classes) {
        if !members.is_empty() {
            let _ = writeln!(out, "    classDef {name} {style}");
            let _ = writeln!(out, "    class {} {name}", members.join(","));
        }
    }
    out
}

fn severity_class(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "error" => "error",
        "warning" => "warning",
        _ => "info",
    }
}

/// `r_` plus the id with anything but ASCII letters and digits spelled out, so that distinct ids
/// never share a key (`a-b` vs `a_b`) and no id can collide with a keyword such as `end`.
fn node_key(id: &str) -> String {
    let mut key = String::with_capacity(id.len() + 2);
    key.push_str("r_");
    for c in id.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => key.push(c),
            '_' => key.push_str("__"),
            other => {
                let _ = write!(key, "_{:x}_", other as u32);
            }
        }
    }
    key
}

/// Text for inside a `"..."` label. Mermaid has no backslash escapes, only `#...;` entity codes;
/// `<`/`>`/`&` would otherwise be read as HTML, and `#` as the start of an entity.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#38;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            // A leading backtick would turn the label into a Markdown string.
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Format, RenderNode, render};
    use super::node_key;

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
        nodes[0].doc = Some("create users\n\nRevision ID: base".into());
        nodes[0].is_branch_point = true;
        nodes[2].branch_labels = vec!["billing".into()];
        nodes[2].flagged = Some("warning".into());
        nodes[3].is_head = true;
        nodes[3].is_merge = true;
        nodes[3].depends_on = vec!["a1".into()];
        assert_eq!(
            render(&nodes, Format::Mermaid),
            "\
flowchart BT
    r_base[\"base<br/>create users\"]
    r_a1[\"a1\"]
    r_b1[\"b1 [billing]\"]
    r_m[\"m\"]
    r_base --> r_a1
    r_base --> r_b1
    r_a1 --> r_m
    r_b1 --> r_m
    r_a1 -.-> r_m
    classDef head fill:#d4edda
    class r_m head
    classDef base fill:#e3f2fd
    class r_base base
    classDef merge fill:#ede7f6
    class r_m merge
    classDef warning stroke:#ef6c00,stroke-width:3px
    class r_b1 warning
"
        );
    }

    #[test]
    fn labels_are_escaped() {
        let mut n = node("x", &[]);
        n.doc = Some("say \"hi\" <b>&</b> #1 `code`\there".into());
        let out = render(&[n], Format::Mermaid);
        assert!(
            out.contains(
                "r_x[\"x<br/>say #quot;hi#quot; #60;b#62;#38;#60;/b#62; #35;1 #96;code#96; here\"]"
            ),
            "{out}"
        );
    }

    #[test]
    fn keys_are_identifiers_and_distinct() {
        assert_eq!(node_key("ae1027a6acf"), "r_ae1027a6acf");
        assert_eq!(node_key("end"), "r_end");
        let keys = ["a-b", "a_b", "a__b", "a b", "a.b", "a_2d_b", "é"].map(node_key);
        for (i, k) in keys.iter().enumerate() {
            assert!(
                k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{k}"
            );
            assert!(!keys[..i].contains(k), "{k} collides");
        }
    }

    #[test]
    fn missing_parents_and_error_flag() {
        let mut a = node("a", &["gone", "gone"]);
        a.flagged = Some("error".into());
        let out = render(&[a], Format::Mermaid);
        assert_eq!(
            out,
            "\
flowchart BT
    r_a[\"a\"]
    r_gone[\"gone<br/>(missing)\"]
    r_gone --> r_a
    classDef error stroke:#d32f2f,stroke-width:3px
    class r_a error
    classDef missing fill:#ffffff,stroke:#d32f2f,stroke-dasharray:5 5,color:#d32f2f
    class r_gone missing
"
        );
    }

    #[test]
    fn cycles_and_duplicates_terminate() {
        let nodes = vec![node("x", &["y"]), node("y", &["x"]), node("x", &["x"])];
        let out = render(&nodes, Format::Mermaid);
        assert_eq!(out.matches("r_x[").count(), 1, "{out}");
        assert!(out.contains("r_y --> r_x") && out.contains("r_x --> r_y"));
    }
}
