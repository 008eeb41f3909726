//! Reading libvirt-style test driver node files (`test:///PATH`): `<node>` with `<cpu>`,
//! `<memory>` and `<domain>`/`<network>`/`<pool>` children, inline or via `file='...'`
//! (relative to the node file's directory).

use std::path::{Path, PathBuf};

use oxvirt_api::{Error, ErrorCode, ErrorDomain, Result};
use oxvirt_xml::{roxmltree, Limits};

use crate::domdef;
use crate::state::State;

fn xml_err(doc: &str, node: Option<roxmltree::Node>, msg: impl std::fmt::Display) -> Error {
    let at = node
        .map(|n| {
            let p = n.document().text_pos_at(n.range().start);
            format!("line {}, column {}: ", p.row, p.col)
        })
        .unwrap_or_default();
    Error::new(ErrorCode::XmlError, ErrorDomain::Test, format!("XML error in {doc}: {at}{msg}"))
}

/// A node file (or a pool file with volumes) as a tree, within [`Limits::NODE_FILE`]; each
/// definition cut from it is parsed again within [`Limits::DEFINITION`].
fn parse_tree<'i>(doc: &str, text: &'i str) -> Result<roxmltree::Document<'i>> {
    oxvirt_xml::parse_tree(text, Limits::NODE_FILE)
        .map_err(|e| Error::new(ErrorCode::XmlError, ErrorDomain::Test, format!("XML error in {doc}: {e}")))
}

/// Reads a node file or a file it names, no further than [`Limits::NODE_FILE`] allows (the
/// path comes from the client's URI: it may be a pipe or a device that never ends).
fn read(path: &Path) -> Result<String> {
    oxvirt_xml::limits::read_file(path, &Limits::NODE_FILE)
        .map_err(|e| Error::system(format!("failed to read file '{}'", path.display()), &e))
}

/// An object element's text: the element itself, or the root of the file it names.
/// Returns the document name (for messages), the text and where it starts in that document.
fn object_text(
    doc: &str,
    base: Option<&Path>,
    pos: &mut Positions,
    node: roxmltree::Node,
) -> Result<(String, String, (u32, u32))> {
    match node.attribute("file") {
        Some(f) => {
            let p = match base {
                Some(b) if !Path::new(f).is_absolute() => b.join(f),
                _ => PathBuf::from(f),
            };
            Ok((p.display().to_string(), read(&p)?, (1, 1)))
        }
        None => Ok((doc.to_string(), cut(pos.input, node).0, pos.at(node.range().start))),
    }
}

/// The element's own text, with the namespace declarations in scope copied onto it so that
/// prefixes declared on `<node>` still resolve.
/// Returns the text and how many bytes were inserted after the tag name.
fn cut(input: &str, node: roxmltree::Node) -> (String, usize) {
    let elem = &input[node.range()];
    let tag_end = elem.find('>').unwrap_or(elem.len());
    let inherited: String = node
        .namespaces()
        .filter_map(|ns| ns.name().map(|p| (p, ns.uri())))
        .filter(|(p, _)| !elem[..tag_end].contains(&format!("xmlns:{p}")))
        .map(|(p, u)| format!(" xmlns:{p}='{u}'"))
        .collect();
    if inherited.is_empty() {
        return (elem.to_string(), 0);
    }
    let name_end =
        elem[1..].find(|c: char| c.is_whitespace() || c == '>' || c == '/').map(|i| i + 1).unwrap_or(elem.len());
    (format!("{}{}{}", &elem[..name_end], inherited, &elem[name_end..]), inherited.len())
}

/// Finds where inline elements start (line, column), scanning the input once in document order
/// (roxmltree's own lookup rescans from the start each time, quadratic over a big node file).
struct Positions<'i> {
    input: &'i str,
    byte: usize,
    line: u32,
    /// Characters between the start of the line and `byte` (kept, not recounted: a node file
    /// written on one line must not make every lookup rescan it).
    col: usize,
}

impl<'i> Positions<'i> {
    fn new(input: &'i str) -> Self {
        Positions { input, byte: 0, line: 1, col: 0 }
    }

    fn at(&mut self, byte: usize) -> (u32, u32) {
        if byte < self.byte {
            *self = Positions::new(self.input);
        }
        let chunk = self.input.get(self.byte..byte).unwrap_or("");
        for c in chunk.chars() {
            if c == '\n' {
                self.line += 1;
                self.col = 0;
            } else {
                self.col += 1;
            }
        }
        self.byte = byte;
        (self.line, u32::try_from(self.col + 1).unwrap_or(u32::MAX))
    }
}

/// The `<cpu>` child's number, if present; bad numbers are errors as in libvirt.
fn cpu_num(doc: &str, node: roxmltree::Node, name: &str) -> Result<Option<u32>> {
    match node.children().find(|c| c.has_tag_name(name)) {
        None => Ok(None),
        Some(c) => {
            let t = c.text().unwrap_or("").trim();
            t.parse().map(Some).map_err(|_| xml_err(doc, Some(c), format!("invalid node cpu {name} value '{t}'")))
        }
    }
}

/// Fills `state` from the node document `text`; `path` is where it came from (for `file=`).
pub fn load_node(state: &mut State, doc: &str, path: Option<&Path>, text: &str) -> Result<()> {
    let tree = parse_tree(doc, text)?;
    let root = tree.root_element();
    if root.tag_name().name() != "node" {
        return Err(xml_err(
            doc,
            Some(root),
            format!("expected root element <node>, found <{}>", root.tag_name().name()),
        ));
    }
    let base = path.and_then(Path::parent);

    if let Some(cpu) = root.children().find(|c| c.has_tag_name("cpu")) {
        let n = &mut state.node;
        for (name, slot) in
            [("nodes", &mut n.nodes), ("sockets", &mut n.sockets), ("cores", &mut n.cores), ("threads", &mut n.threads)]
        {
            if let Some(v) = cpu_num(doc, cpu, name)? {
                *slot = v;
            }
        }
        n.cpus = n.cores.saturating_mul(n.threads).saturating_mul(n.sockets).saturating_mul(n.nodes);
        if let Some(active) = cpu_num(doc, cpu, "active")? {
            n.cpus = n.cpus.min(active);
        }
        if let Some(mhz) = cpu_num(doc, cpu, "mhz")? {
            n.mhz = mhz;
        }
        if let Some(m) = cpu.children().find(|c| c.has_tag_name("model")) {
            n.model = m.text().unwrap_or("").trim().to_string();
        }
    }
    if let Some(m) = root.children().find(|c| c.has_tag_name("memory")) {
        let t = m.text().unwrap_or("").trim();
        state.node.memory = t.parse().map_err(|_| xml_err(doc, Some(m), format!("invalid node memory value '{t}'")))?;
    }

    let mut pos = Positions::new(text);
    let children = |name: &'static str| root.children().filter(move |c| c.is_element() && c.has_tag_name(name));
    for node in children("domain") {
        if node.attribute("file").is_some() {
            let (d, xml, at) = object_text(doc, base, &mut pos, node)?;
            state.load_domain(&d, &xml, at)?;
        } else {
            // Inline: reuse this parse for the test: namespace, only the model parses the text again.
            let (xml, inserted) = cut(text, node);
            let at = pos.at(node.range().start);
            let parsed = domdef::parse_node(doc, (1, 1), node, at, &xml, (node.range().start, inserted), false)?;
            state.add_loaded_domain(parsed)?;
        }
    }
    for node in children("network") {
        let (d, xml, at) = object_text(doc, base, &mut pos, node)?;
        state.load_network(&d, &xml, at)?;
    }
    for node in children("pool") {
        let (d, xml, at) = object_text(doc, base, &mut pos, node)?;
        let i = state.load_pool(&d, at, &xml)?;
        // Volumes inside a pool file, then those under the node file's <pool file=...> element
        // (libvirt drops the latter, which its own example file relies on; we keep them).
        if node.attribute("file").is_some() {
            let pool_tree = parse_tree(&d, &xml)?;
            let pool_base = Path::new(&d).parent().map(Path::to_path_buf);
            let mut pool_pos = Positions::new(&xml);
            for v in pool_tree.root_element().children().filter(|c| c.is_element() && c.has_tag_name("volume")) {
                let (vd, vxml, vat) = object_text(&d, pool_base.as_deref(), &mut pool_pos, v)?;
                state.load_volume(i, &vd, vat, &vxml)?;
            }
        }
        for v in node.children().filter(|c| c.is_element() && c.has_tag_name("volume")) {
            let (vd, vxml, vat) = object_text(doc, base, &mut pos, v)?;
            state.load_volume(i, &vd, vat, &vxml)?;
        }
    }
    for node in children("device") {
        let (d, xml, at) = object_text(doc, base, &mut pos, node)?;
        state.load_device(&d, at, &xml)?;
    }
    Ok(())
}

/// Opens a node file (`test:///PATH`): a state of its own, not shared with other connections.
pub fn load_file(path: &Path) -> Result<State> {
    let text = read(path)?;
    let mut state = State::new();
    load_node(&mut state, &path.display().to_string(), Some(path), &text)?;
    Ok(state)
}
