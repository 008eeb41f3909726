//! Reading and writing libvirt-style XML.
//!
//! Parsing goes through [`El`], which remembers which attributes and children the model consumed:
//! whatever is left over is reported with its line:column (a warning, or an error when validating),
//! so unknown input is never silently dropped or kept as opaque text. Writing goes through
//! [`Writer`], which produces libvirt's canonical layout (two-space indent, single-quoted
//! attributes, empty elements self-closed).

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::limits::{parse_tree, Limits};

/// Namespaces libvirt documents use; a prefixed name in a model (`qemu:commandline`) matches
/// elements in that namespace whatever prefix the input chose.
pub const NAMESPACES: &[(&str, &str)] = &[
    ("qemu", "http://libvirt.org/schemas/domain/qemu/1.0"),
    ("lxc", "http://libvirt.org/schemas/domain/lxc/1.0"),
    ("bhyve", "http://libvirt.org/schemas/domain/bhyve/1.0"),
    ("xen", "http://xen.org/"),
    ("vmware", "http://libvirt.org/schemas/domain/vmware/1.0"),
    ("dnsmasq", "http://libvirt.org/schemas/network/dnsmasq/1.0"),
    ("fs", "http://libvirt.org/schemas/storagepool/fs/1.0"),
    ("rbd", "http://libvirt.org/schemas/storagepool/rbd/1.0"),
];

fn namespace_uri(prefix: &str) -> Option<&'static str> {
    NAMESPACES.iter().find(|(p, _)| *p == prefix).map(|(_, u)| *u)
}

/// Where in the input something is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub line: u32,
    pub column: u32,
    /// Element path such as `/domain/devices/disk[2]/source`.
    pub path: String,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}, column {}: {}", self.line, self.column, self.path)
        } else {
            f.write_str(&self.path)
        }
    }
}

/// A parse or validation failure, located in the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML at line {line}, column {column}: {message}")]
    Syntax { line: u32, column: u32, message: String },
    /// The document is bigger than [`crate::Limits::max_bytes`].
    #[error("XML document refused: {size} bytes is more than the limit of {max} bytes")]
    TooLarge { size: usize, max: usize },
    /// The document breaks another of [`crate::Limits`] (nesting, node count, DTD...).
    #[error("XML document refused at line {line}, column {column}: {message}")]
    Limit { line: u32, column: u32, message: String },
    #[error("{at}: expected root element <{expected}>, found <{found}>")]
    WrongRoot { at: Location, expected: String, found: String },
    #[error("{at}: missing required attribute '{attr}'")]
    MissingAttribute { at: Location, attr: String },
    #[error("{at}: invalid value '{value}' for attribute '{attr}': {reason}")]
    InvalidAttribute { at: Location, attr: String, value: String, reason: String },
    #[error("{at}: missing required element <{element}>")]
    MissingElement { at: Location, element: String },
    #[error("{at}: invalid content '{value}': {reason}")]
    InvalidText { at: Location, value: String, reason: String },
    #[error("{at}: {message}")]
    Unknown { at: Location, message: String },
    /// A rule across attributes or elements; `class` says which libvirt error code it maps to.
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String, class: RuleClass },
}

/// How libvirt classifies a broken rule (its error code): most are XML errors, some are
/// configurations the hypervisor cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleClass {
    /// VIR_ERR_XML_ERROR: the document contradicts itself.
    #[default]
    Xml,
    /// VIR_ERR_CONFIG_UNSUPPORTED: well-formed, but not a configuration that can run.
    Unsupported,
    /// VIR_ERR_INVALID_ARG: a value out of its allowed range.
    InvalidArg,
    /// VIR_ERR_INTERNAL_ERROR: libvirt's code for a few missing-attribute checks.
    Internal,
}

impl XmlError {
    /// A semantic error found after parsing, where only the element path is known.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::rule(RuleClass::Xml, path, message)
    }

    /// A configuration libvirt refuses as unsupported (VIR_ERR_CONFIG_UNSUPPORTED).
    pub fn unsupported(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::rule(RuleClass::Unsupported, path, message)
    }

    /// A broken rule of the given class, located by its element path.
    pub fn rule(class: RuleClass, path: impl Into<String>, message: impl Into<String>) -> Self {
        XmlError::Invalid { at: Location { path: path.into(), ..Default::default() }, message: message.into(), class }
    }

    /// Which libvirt error code the failure maps to.
    pub fn class(&self) -> RuleClass {
        match self {
            XmlError::Invalid { class, .. } => *class,
            _ => RuleClass::Xml,
        }
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            XmlError::Syntax { .. } | XmlError::TooLarge { .. } | XmlError::Limit { .. } => None,
            XmlError::WrongRoot { at, .. }
            | XmlError::MissingAttribute { at, .. }
            | XmlError::InvalidAttribute { at, .. }
            | XmlError::MissingElement { at, .. }
            | XmlError::InvalidText { at, .. }
            | XmlError::Unknown { at, .. }
            | XmlError::Invalid { at, .. } => Some(at),
        }
    }
}

/// Something the parser passed over (an unknown element or attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub at: Location,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

/// How strictly to parse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Unknown elements and attributes are errors (virsh `define --validate`), not warnings.
    pub validate: bool,
}

/// A scalar that lives in an attribute or a text node.
pub trait XmlValue: Sized {
    fn from_xml_value(s: &str) -> Result<Self, String>;
    fn to_xml_value(&self) -> Cow<'_, str>;
}

/// A model built from one element.
pub trait FromXml: Sized {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError>;
}

/// A model written as one element: the caller writes the tag, the model its attributes and content.
pub trait ToXml {
    fn write_attrs(&self, w: &mut Writer);
    fn write_content(&self, w: &mut Writer);
}

/// A model that is a whole document (`<domain>`, `<network>`, ...).
pub trait XmlDocument: FromXml + ToXml {
    const ROOT: &'static str;

    /// Fills defaults and checks rules that span elements; runs after every parse.
    fn post_parse(&mut self) -> Result<(), XmlError> {
        Ok(())
    }

    fn from_xml_str(xml: &str) -> Result<Self, XmlError> {
        Ok(parse_document::<Self>(xml, ParseOptions::default())?.0)
    }

    fn to_xml_string(&self) -> String {
        let mut w = Writer::new();
        w.element(Self::ROOT, self);
        w.finish()
    }
}

/// Parses a document, returning the model and the warnings about what it did not understand.
/// The document is checked against [`Limits::DEFINITION`] first.
pub fn parse_document<T: XmlDocument>(xml: &str, opts: ParseOptions) -> Result<(T, Vec<Diagnostic>), XmlError> {
    let doc = parse_tree(xml, Limits::DEFINITION)?;
    let ctx = Ctx::new(opts);
    let root = doc.root_element();
    let mut el = El::new(root, &ctx, format!("/{}", root.tag_name().name()));
    if root.tag_name().name() != T::ROOT {
        return Err(XmlError::WrongRoot {
            at: el.location(),
            expected: T::ROOT.to_string(),
            found: root.tag_name().name().to_string(),
        });
    }
    let mut model = T::from_xml(&mut el)?;
    el.finish()?;
    model.post_parse()?;
    Ok((model, ctx.into_warnings()))
}

/// Parses a fragment whose root element is `root` (a `<disk>` for attach-device, say).
pub fn parse_element<T: FromXml>(xml: &str, root: &str, opts: ParseOptions) -> Result<(T, Vec<Diagnostic>), XmlError> {
    let doc = parse_tree(xml, Limits::DEFINITION)?;
    let ctx = Ctx::new(opts);
    let node = doc.root_element();
    let mut el = El::new(node, &ctx, format!("/{}", node.tag_name().name()));
    if node.tag_name().name() != root {
        return Err(XmlError::WrongRoot {
            at: el.location(),
            expected: root.to_string(),
            found: node.tag_name().name().to_string(),
        });
    }
    let model = T::from_xml(&mut el)?;
    el.finish()?;
    Ok((model, ctx.into_warnings()))
}

/// The name of a fragment's root element, to dispatch on (`disk`, `interface`, ...).
pub fn root_name(xml: &str) -> Result<String, XmlError> {
    let doc = parse_tree(xml, Limits::DEFINITION)?;
    Ok(doc.root_element().tag_name().name().to_string())
}

/// At most this many warnings are kept per parse; a summary stands for the rest (a document of
/// a million unknown elements must not make a million messages).
pub const MAX_WARNINGS: usize = 200;

/// Shared state of one parse.
pub struct Ctx {
    validate: bool,
    warnings: RefCell<Vec<Diagnostic>>,
    dropped: Cell<usize>,
    /// Byte offsets where lines start, built at the first position asked for (roxmltree's own
    /// lookup rescans the document from the start each time).
    lines: OnceCell<Vec<usize>>,
}

impl Ctx {
    fn new(opts: ParseOptions) -> Self {
        Ctx {
            validate: opts.validate,
            warnings: RefCell::new(Vec::new()),
            dropped: Cell::new(0),
            lines: OnceCell::new(),
        }
    }

    fn warn(&self, what: impl FnOnce() -> (Location, String)) {
        if self.warnings.borrow().len() < MAX_WARNINGS {
            let (at, message) = what();
            self.warnings.borrow_mut().push(Diagnostic { at, message });
        } else {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    fn into_warnings(self) -> Vec<Diagnostic> {
        let mut w = self.warnings.into_inner();
        let dropped = self.dropped.get();
        if dropped > 0 {
            w.push(Diagnostic { at: Location::default(), message: format!("{dropped} more warnings not shown") });
        }
        w
    }

    fn pos(&self, input: &str, byte: usize) -> (u32, u32) {
        let lines = self.lines.get_or_init(|| {
            std::iter::once(0)
                .chain(input.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1))
                .collect()
        });
        let line = lines.partition_point(|&s| s <= byte).max(1);
        let start = lines[line - 1];
        let column = input.get(start..byte).map(|s| s.chars().count()).unwrap_or(0) + 1;
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
    }
}

/// Where [`El::take_child`] goes on looking for one child name.
struct Cursor {
    name: String,
    /// Children before this index matching `name` were all seen.
    next: usize,
    /// How many children before `next` match `name`.
    seen: usize,
    /// How many children match `name` in all (counted once, when first needed).
    total: usize,
}

/// One input element, tracking what the model consumed of it.
pub struct El<'a, 'i> {
    node: roxmltree::Node<'a, 'i>,
    ctx: &'a Ctx,
    path: String,
    attrs_used: Vec<bool>,
    children: Vec<roxmltree::Node<'a, 'i>>,
    children_used: Vec<bool>,
    text_used: bool,
    cursors: Vec<Cursor>,
}

impl<'a, 'i> El<'a, 'i> {
    fn new(node: roxmltree::Node<'a, 'i>, ctx: &'a Ctx, path: String) -> Self {
        let children: Vec<_> = node.children().filter(|n| n.is_element()).collect();
        El {
            attrs_used: vec![false; node.attributes().len()],
            children_used: vec![false; children.len()],
            children,
            node,
            ctx,
            path,
            text_used: false,
            cursors: Vec::new(),
        }
    }

    fn pos(&self, byte: usize) -> (u32, u32) {
        self.ctx.pos(self.node.document().input_text(), byte)
    }

    /// Where this element starts.
    pub fn location(&self) -> Location {
        let (line, column) = self.pos(self.node.range().start);
        Location { line, column, path: self.path.clone() }
    }

    pub fn name(&self) -> &str {
        self.node.tag_name().name()
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    fn attr_location(&self, idx: usize) -> Location {
        let a = self.node.attributes().nth(idx);
        let start = a.map(|a| a.range().start).unwrap_or_else(|| self.node.range().start);
        let (line, column) = self.pos(start);
        Location { line, column, path: self.path.clone() }
    }

    /// Takes an attribute's raw text.
    pub fn take_attr(&mut self, name: &str) -> Option<(String, Location)> {
        let (idx, value) = self.take_attr_idx(name)?;
        Some((value, self.attr_location(idx)))
    }

    /// Takes an attribute; its location is worked out only when needed (for an error).
    fn take_attr_idx(&mut self, name: &str) -> Option<(usize, String)> {
        let idx = self.node.attributes().position(|a| a.name() == name && a.namespace().is_none())?;
        self.attrs_used[idx] = true;
        Some((idx, self.node.attributes().nth(idx)?.value().to_string()))
    }

    pub fn attr_opt<T: XmlValue>(&mut self, name: &str) -> Result<Option<T>, XmlError> {
        match self.take_attr_idx(name) {
            None => Ok(None),
            Some((idx, value)) => T::from_xml_value(value.trim()).map(Some).map_err(|reason| {
                XmlError::InvalidAttribute { at: self.attr_location(idx), attr: name.to_string(), value, reason }
            }),
        }
    }

    pub fn attr_req<T: XmlValue>(&mut self, name: &str) -> Result<T, XmlError> {
        self.attr_opt(name)?.ok_or_else(|| XmlError::MissingAttribute { at: self.location(), attr: name.to_string() })
    }

    fn matches(node: &roxmltree::Node, name: &str) -> bool {
        Self::matcher(name)(node)
    }

    /// [`Self::matches`] with the name split once, for scans over many children.
    fn matcher(name: &str) -> impl Fn(&roxmltree::Node) -> bool + '_ {
        let (local, ns) = match name.split_once(':') {
            Some((prefix, local)) => (local, namespace_uri(prefix)),
            None => (name, None),
        };
        move |node| node.tag_name().name() == local && node.tag_name().namespace() == ns
    }

    /// `/parent/name`, or `/parent/name[N]` (1-based `nth + 1`) when several children have the name.
    fn indexed_path(&self, name: &str, nth: usize, total: usize) -> String {
        if total > 1 {
            format!("{}/{}[{}]", self.path, name, nth + 1)
        } else {
            format!("{}/{}", self.path, name)
        }
    }

    /// Takes the first unconsumed child element with this name.
    ///
    /// Each name keeps a cursor, so taking all N children of a name costs O(N), not O(N²):
    /// a wide document must not make the parse quadratic.
    pub fn take_child(&mut self, name: &str) -> Option<El<'a, 'i>> {
        let c = match self.cursors.iter().position(|c| c.name == name) {
            Some(c) => c,
            None => {
                let m = Self::matcher(name);
                let total = self.children.iter().filter(|n| m(n)).count();
                self.cursors.push(Cursor { name: name.to_string(), next: 0, seen: 0, total });
                self.cursors.len() - 1
            }
        };
        let Cursor { mut next, mut seen, total, .. } = self.cursors[c];
        let mut found = None;
        let m = Self::matcher(name);
        while next < self.children.len() {
            let i = next;
            next += 1;
            if m(&self.children[i]) {
                seen += 1;
                if !self.children_used[i] {
                    found = Some(i);
                    break;
                }
            }
        }
        self.cursors[c].next = next;
        self.cursors[c].seen = seen;
        let idx = found?;
        self.children_used[idx] = true;
        let path = self.indexed_path(name, seen - 1, total);
        Some(El::new(self.children[idx], self.ctx, path))
    }

    /// Whether an unconsumed child with this name exists, without consuming it.
    pub fn has_child(&self, name: &str) -> bool {
        let from = self.cursors.iter().find(|c| c.name == name).map_or(0, |c| c.next);
        (from..self.children.len()).any(|i| !self.children_used[i] && Self::matches(&self.children[i], name))
    }

    /// Names of the element children in document order (for models whose order is the data).
    pub fn child_names(&self) -> Vec<String> {
        self.children.iter().map(|n| n.tag_name().name().to_string()).collect()
    }

    pub fn child_opt<T: FromXml>(&mut self, name: &str) -> Result<Option<T>, XmlError> {
        match self.take_child(name) {
            None => Ok(None),
            Some(mut c) => {
                let v = T::from_xml(&mut c)?;
                c.finish()?;
                Ok(Some(v))
            }
        }
    }

    pub fn child_req<T: FromXml>(&mut self, name: &str) -> Result<T, XmlError> {
        self.child_opt(name)?.ok_or_else(|| XmlError::MissingElement { at: self.location(), element: name.to_string() })
    }

    pub fn child_vec<T: FromXml>(&mut self, name: &str) -> Result<Vec<T>, XmlError> {
        let mut out = Vec::new();
        while let Some(v) = self.child_opt(name)? {
            out.push(v);
        }
        Ok(out)
    }

    pub fn child_text_opt<T: XmlValue>(&mut self, name: &str) -> Result<Option<T>, XmlError> {
        match self.take_child(name) {
            None => Ok(None),
            Some(mut c) => {
                let v = c.text_opt::<T>()?;
                c.finish()?;
                match v {
                    Some(v) => Ok(Some(v)),
                    // An empty element is an empty string where that is a valid value.
                    None => T::from_xml_value("").map(Some).map_err(|reason| XmlError::InvalidText {
                        at: c.location(),
                        value: String::new(),
                        reason,
                    }),
                }
            }
        }
    }

    pub fn child_text_req<T: XmlValue>(&mut self, name: &str) -> Result<T, XmlError> {
        self.child_text_opt(name)?
            .ok_or_else(|| XmlError::MissingElement { at: self.location(), element: name.to_string() })
    }

    pub fn child_text_vec<T: XmlValue>(&mut self, name: &str) -> Result<Vec<T>, XmlError> {
        let mut out = Vec::new();
        while let Some(v) = self.child_text_opt(name)? {
            out.push(v);
        }
        Ok(out)
    }

    /// An empty marker element (`<readonly/>`): present or not.
    pub fn flag(&mut self, name: &str) -> Result<bool, XmlError> {
        match self.take_child(name) {
            None => Ok(false),
            Some(mut c) => {
                c.finish()?;
                Ok(true)
            }
        }
    }

    /// The element's own text, trimmed; `None` when there is none.
    pub fn take_text(&mut self) -> Option<String> {
        self.text_used = true;
        let text: String = self.node.children().filter(|n| n.is_text()).filter_map(|n| n.text()).collect();
        let t = text.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    pub fn text_opt<T: XmlValue>(&mut self) -> Result<Option<T>, XmlError> {
        match self.take_text() {
            None => Ok(None),
            Some(t) => T::from_xml_value(&t).map(Some).map_err(|reason| XmlError::InvalidText {
                at: self.location(),
                value: t,
                reason,
            }),
        }
    }

    pub fn text_req<T: XmlValue>(&mut self) -> Result<T, XmlError> {
        match self.text_opt()? {
            Some(v) => Ok(v),
            None => T::from_xml_value("").map_err(|reason| XmlError::InvalidText {
                at: self.location(),
                value: String::new(),
                reason,
            }),
        }
    }

    /// The source text of all children, verbatim (for `<metadata>`); consumes everything.
    pub fn take_inner_raw(&mut self) -> Vec<String> {
        self.text_used = true;
        self.children_used.iter_mut().for_each(|u| *u = true);
        let input = self.node.document().input_text();
        self.children.iter().map(|c| input[c.range()].to_string()).collect()
    }

    /// Reports whatever the model did not consume.
    pub fn finish(&mut self) -> Result<(), XmlError> {
        for (i, a) in self.node.attributes().enumerate() {
            if !self.attrs_used[i] {
                self.unknown(|| (self.attr_location(i), format!("unknown attribute '{}'", a.name())))?;
            }
        }
        if self.children_used.iter().any(|u| !u) {
            // One pass with counts per name (paths index un-namespaced names only, as
            // `take_child` does for the names a model asks for).
            let mut total: HashMap<&str, usize> = HashMap::new();
            for c in &self.children {
                if c.tag_name().namespace().is_none() {
                    *total.entry(c.tag_name().name()).or_default() += 1;
                }
            }
            // Earlier siblings with the same expanded name, and with the same un-namespaced name.
            let mut seen: HashMap<(Option<&str>, &str), usize> = HashMap::new();
            let mut seen_plain: HashMap<&str, usize> = HashMap::new();
            for i in 0..self.children.len() {
                let c = self.children[i];
                let name = c.tag_name().name();
                let earlier = seen.entry((c.tag_name().namespace(), name)).or_default();
                let repeated = *earlier > 0;
                *earlier += 1;
                let plain = seen_plain.get(name).copied().unwrap_or(0);
                if c.tag_name().namespace().is_none() {
                    seen_plain.insert(name, plain + 1);
                }
                if self.children_used[i] {
                    continue;
                }
                self.unknown(|| {
                    let path = self.indexed_path(name, plain, total.get(name).copied().unwrap_or(0));
                    let (line, column) = self.pos(c.range().start);
                    let what = if repeated {
                        format!("unexpected repeated element <{name}>")
                    } else {
                        format!("unknown element <{name}>")
                    };
                    (Location { line, column, path }, what)
                })?;
            }
        }
        if !self.text_used {
            let stray =
                self.node.children().filter(|n| n.is_text()).filter_map(|n| n.text()).any(|t| !t.trim().is_empty());
            if stray {
                self.unknown(|| (self.location(), "unexpected text content".to_string()))?;
            }
        }
        Ok(())
    }

    /// An error when validating, else a warning; `what` runs only when the warning is kept
    /// (locating costs a scan of the line).
    fn unknown(&self, what: impl FnOnce() -> (Location, String)) -> Result<(), XmlError> {
        if self.ctx.validate {
            let (at, message) = what();
            Err(XmlError::Unknown { at, message })
        } else {
            self.ctx.warn(what);
            Ok(())
        }
    }
}

struct Frame {
    /// The start tag is still open (`<name a='b'`), so attributes may follow.
    open: bool,
    has_children: bool,
}

/// Writes libvirt's canonical XML layout.
#[derive(Default)]
pub struct Writer {
    out: String,
    stack: Vec<Frame>,
    namespaces: BTreeSet<&'static str>,
}

pub fn escape_attr(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '\'', '"']) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\'' => o.push_str("&apos;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    Cow::Owned(o)
}

pub fn escape_text(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>']) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;"))
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    fn indent(&mut self) {
        for _ in 0..self.stack.len() {
            self.out.push_str("  ");
        }
    }

    fn before_child(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            if top.open {
                self.out.push_str(">\n");
                top.open = false;
            } else if !top.has_children {
                // text came first: mixed content is rare in libvirt XML, keep it readable
                self.out.push('\n');
            }
            top.has_children = true;
        }
    }

    fn note_namespace(&mut self, name: &str) {
        if let Some((prefix, _)) = name.split_once(':') {
            if let Some((p, _)) = NAMESPACES.iter().find(|(p, _)| *p == prefix) {
                self.namespaces.insert(p);
            }
        }
    }

    /// Opens an element; attributes may follow until content is written.
    pub fn start(&mut self, name: &str) {
        self.before_child();
        self.note_namespace(name);
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.stack.push(Frame { open: true, has_children: false });
    }

    pub fn attr(&mut self, name: &str, value: &str) {
        debug_assert!(self.stack.last().is_some_and(|f| f.open), "attribute {name} written after content");
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("='");
        self.out.push_str(&escape_attr(value));
        self.out.push('\'');
    }

    pub fn text(&mut self, text: &str) {
        if let Some(top) = self.stack.last_mut() {
            if top.open {
                if text.is_empty() {
                    return;
                }
                self.out.push('>');
                top.open = false;
            }
        }
        self.out.push_str(&escape_text(text));
    }

    pub fn end(&mut self, name: &str) {
        let Some(frame) = self.stack.pop() else { return };
        if frame.open {
            self.out.push_str("/>\n");
        } else {
            if frame.has_children {
                self.indent();
            }
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }

    pub fn element<T: ToXml + ?Sized>(&mut self, name: &str, value: &T) {
        self.start(name);
        value.write_attrs(self);
        value.write_content(self);
        self.end(name);
    }

    pub fn text_element(&mut self, name: &str, text: &str) {
        self.start(name);
        self.text(text);
        self.end(name);
    }

    pub fn empty_element(&mut self, name: &str) {
        self.start(name);
        self.end(name);
    }

    /// Writes an already formatted XML fragment as one child.
    pub fn raw(&mut self, fragment: &str) {
        self.before_child();
        self.indent();
        self.out.push_str(fragment.trim());
        self.out.push('\n');
    }

    /// The document, with declarations for the namespaces its elements used.
    pub fn finish(mut self) -> String {
        if !self.namespaces.is_empty() {
            if let Some(end) = self.out.find(['>', '/', ' ']) {
                let decls: String = self
                    .namespaces
                    .iter()
                    .filter_map(|p| namespace_uri(p).map(|u| format!(" xmlns:{p}='{u}'")))
                    .collect();
                let end = if self.out.as_bytes()[end] == b' ' {
                    // after the root's attributes
                    self.out
                        .find(['>'])
                        .map(|e| if self.out.as_bytes()[e - 1] == b'/' { e - 1 } else { e })
                        .unwrap_or(end)
                } else {
                    end
                };
                self.out.insert_str(end, &decls);
            }
        }
        self.out
    }
}

/// Element content kept verbatim (`<metadata>`: applications' own XML).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawXml(pub Vec<String>);

impl FromXml for RawXml {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        Ok(RawXml(el.take_inner_raw()))
    }
}

impl ToXml for RawXml {
    fn write_attrs(&self, _: &mut Writer) {}
    fn write_content(&self, w: &mut Writer) {
        for f in &self.0 {
            w.raw(f);
        }
    }
}

/// An element with no attributes or content of its own, present or not (`Option<Empty>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Empty;

impl FromXml for Empty {
    fn from_xml(_: &mut El<'_, '_>) -> Result<Self, XmlError> {
        Ok(Empty)
    }
}

impl ToXml for Empty {
    fn write_attrs(&self, _: &mut Writer) {}
    fn write_content(&self, _: &mut Writer) {}
}

/// Boxed models (large ones embedded in another document, like a snapshot's `<domain>`).
impl<T: FromXml> FromXml for Box<T> {
    fn from_xml(el: &mut El<'_, '_>) -> Result<Self, XmlError> {
        T::from_xml(el).map(Box::new)
    }
}

impl<T: ToXml + ?Sized> ToXml for Box<T> {
    fn write_attrs(&self, w: &mut Writer) {
        (**self).write_attrs(w)
    }
    fn write_content(&self, w: &mut Writer) {
        (**self).write_content(w)
    }
}
