//! Domain definitions as the test driver keeps them: the XML model plus the `test:` namespace
//! extras (run state, transient, managed save) that only a node file may set.
//!
//! libvirt's parser fills defaults the model keeps out (it is lossless); [`apply_defaults`] adds
//! those libvirt's test driver shows, so our XML reads like `virsh -c test:///default dumpxml`.

use oxvirt_api::{DomainState, Error, ErrorCode, ErrorDomain, Result};
use oxvirt_xml::domain::{
    BootDev, BootDevice, Clock, Domain, InterfaceTarget, LifecycleAction, Memory, OsType, Placement, Vcpu,
};
use oxvirt_xml::{parse_document, KiB, ParseOptions, XmlDocument, XmlError};

/// The namespace of libvirt's test driver domain extras.
pub const TEST_NS: &str = "http://libvirt.org/schemas/domain/test/1.0";

/// The `test:` namespace elements of a domain in a node file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestExtras {
    pub runstate: DomainState,
    pub transient: bool,
    pub has_managed_save: bool,
}

impl Default for TestExtras {
    fn default() -> Self {
        TestExtras { runstate: DomainState::Running, transient: false, has_managed_save: false }
    }
}

/// One domain definition, with the accessors the driver needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Def {
    pub dom: Domain,
}

impl Def {
    pub fn name(&self) -> &str {
        &self.dom.name
    }

    pub fn uuid(&self) -> uuid::Uuid {
        self.dom.uuid.unwrap_or_default()
    }

    /// KiB
    pub fn max_mem(&self) -> u64 {
        self.dom.memory_kib()
    }

    /// KiB
    pub fn cur_mem(&self) -> u64 {
        self.dom.current_memory_kib()
    }

    pub fn max_vcpus(&self) -> u32 {
        self.dom.vcpus()
    }

    pub fn vcpus(&self) -> u32 {
        self.dom.vcpus_current()
    }

    pub fn set_max_mem(&mut self, kib: u64) {
        self.dom.memory.get_or_insert_with(Memory::default).size = KiB(kib);
        if self.cur_mem() > kib {
            self.dom.current_memory = Some(KiB(kib));
        }
    }

    pub fn set_cur_mem(&mut self, kib: u64) {
        self.dom.current_memory = Some(KiB(kib));
    }

    /// Online vCPUs; written as `current=` unless all are online.
    pub fn set_vcpus(&mut self, n: u32) {
        let v = self.dom.vcpu.get_or_insert_with(default_vcpu);
        v.current = (n != v.count).then_some(n);
    }

    pub fn set_max_vcpus(&mut self, n: u32) {
        let cur = self.vcpus().min(n);
        self.dom.vcpu.get_or_insert_with(default_vcpu).count = n;
        self.set_vcpus(cur);
    }

    /// Whether powering off leaves the guest running (libvirt's test driver restarts it).
    pub fn poweroff_restarts(&self) -> bool {
        restarts(self.dom.on_poweroff.unwrap_or(LifecycleAction::Destroy))
    }

    pub fn reboot_restarts(&self) -> bool {
        restarts(self.dom.on_reboot.unwrap_or(LifecycleAction::Restart))
    }

    /// libvirt's formatted XML; `id` is written for live definitions only.
    pub fn to_xml(&self, id: Option<i32>) -> String {
        let mut dom = self.dom.clone();
        dom.id = id;
        dom.to_xml_string()
    }
}

fn restarts(a: LifecycleAction) -> bool {
    matches!(a, LifecycleAction::Restart | LifecycleAction::RenameRestart)
}

fn default_vcpu() -> Vcpu {
    Vcpu { placement: Some(Placement::Static), cpuset: None, current: None, count: 1 }
}

/// The defaults libvirt's parser and the test driver add: vCPU placement, the i686 architecture,
/// booting from disk, a UTC clock, lifecycle actions, and `testnetN` interface names.
pub fn apply_defaults(dom: &mut Domain) {
    let v = dom.vcpu.get_or_insert_with(default_vcpu);
    if v.placement.is_none() {
        v.placement = Some(Placement::Static);
    }
    if dom.os.kind.arch.is_none() {
        dom.os.kind.arch = Some("i686".into());
    }
    let per_device_boot = dom.devices.as_ref().is_some_and(|d| {
        d.disks.iter().any(|x| x.info.boot.is_some()) || d.interfaces.iter().any(|x| x.boot.is_some())
    });
    if dom.os.kind.kind == OsType::Hvm && dom.os.boot.is_empty() && dom.os.kernel.is_none() && !per_device_boot {
        dom.os.boot.push(BootDev { dev: BootDevice::Hd });
    }
    dom.clock.get_or_insert_with(Clock::default);
    dom.on_poweroff.get_or_insert(LifecycleAction::Destroy);
    dom.on_reboot.get_or_insert(LifecycleAction::Restart);
    dom.on_crash.get_or_insert(LifecycleAction::Destroy);
    if let Some(devs) = dom.devices.as_mut() {
        let mut used: Vec<String> =
            devs.interfaces.iter().filter_map(|i| i.target.as_ref().and_then(|t| t.dev.clone())).collect();
        for iface in &mut devs.interfaces {
            let t = iface.target.get_or_insert_with(InterfaceTarget::default);
            if t.dev.is_none() {
                let name = (0..).map(|n| format!("testnet{n}")).find(|n| !used.contains(n)).unwrap_or_default();
                used.push(name.clone());
                t.dev = Some(name);
            }
        }
    }
}

/// Moves a position inside an element cut from a bigger document to that document's position.
pub fn shift_pos(line: &mut u32, column: &mut u32, origin: (u32, u32)) {
    if *line == 1 {
        *column += origin.1.saturating_sub(1);
    }
    *line += origin.0.saturating_sub(1);
}

/// The parser's error, located in the document the text came from.
pub fn shift(mut e: XmlError, origin: (u32, u32)) -> XmlError {
    match &mut e {
        XmlError::Syntax { line, column, .. } | XmlError::Limit { line, column, .. } => shift_pos(line, column, origin),
        XmlError::TooLarge { .. } => {}
        XmlError::WrongRoot { at, .. }
        | XmlError::MissingAttribute { at, .. }
        | XmlError::InvalidAttribute { at, .. }
        | XmlError::MissingElement { at, .. }
        | XmlError::InvalidText { at, .. }
        | XmlError::Unknown { at, .. }
        | XmlError::Invalid { at, .. } => {
            if at.line > 0 {
                shift_pos(&mut at.line, &mut at.column, origin)
            }
        }
    }
    e
}

fn located(doc: &str, origin: (u32, u32), node: roxmltree::Node, message: String) -> Error {
    let p = node.document().text_pos_at(node.range().start);
    let (mut line, mut column) = (p.row, p.col);
    shift_pos(&mut line, &mut column, origin);
    Error::new(
        ErrorCode::XmlError,
        ErrorDomain::Domain,
        format!("XML error in {doc}: line {line}, column {column}: {message}"),
    )
}

/// Parses a `<domain>` document (text of the element, possibly cut from a node file).
///
/// `test:` namespace children are read here and blanked out before the model sees the text
/// (keeping every line and column where it was, so the model's error positions stay right).
pub fn parse(doc: &str, origin: (u32, u32), xml: &str, validate: bool) -> Result<(Def, TestExtras, Vec<String>)> {
    let tree =
        oxvirt_xml::parse_tree(xml, oxvirt_xml::Limits::DEFINITION).map_err(|e| Error::xml(doc, &shift(e, origin)))?;
    parse_node(doc, origin, tree.root_element(), origin, xml, (0, 0), validate)
}

/// Parses `text`, the text of the element `root` (which may live in a bigger document already
/// parsed, such as a node file: then it is not parsed twice). `node_origin` places `root`'s own
/// positions, `text_origin` those in `text`; byte `b` of `root`'s document is `b - sub + add`
/// in `text` (`bytes = (sub, add)`).
pub fn parse_node(
    doc: &str,
    node_origin: (u32, u32),
    root: roxmltree::Node,
    text_origin: (u32, u32),
    text: &str,
    bytes: (usize, usize),
    validate: bool,
) -> Result<(Def, TestExtras, Vec<String>)> {
    let origin = node_origin;
    let xml = text;
    let mut extras = TestExtras::default();
    let mut blank: Vec<std::ops::Range<usize>> = Vec::new();
    let mut runstate_seen = false;
    if root.tag_name().name() == "domain" {
        for c in root.children().filter(|n| n.is_element() && n.tag_name().namespace() == Some(TEST_NS)) {
            let text = c.text().unwrap_or("").trim();
            match c.tag_name().name() {
                "runstate" => {
                    let v: i32 =
                        text.parse().map_err(|_| located(doc, origin, c, format!("invalid runstate '{text}'")))?;
                    extras.runstate = DomainState::from_i32(v)
                        .ok_or_else(|| located(doc, origin, c, format!("runstate '{v}' out of range")))?;
                    runstate_seen = true;
                }
                "transient" => extras.transient = true,
                "hasmanagedsave" => extras.has_managed_save = true,
                // snapshots in node files are not supported; say so rather than drop them silently
                other => {
                    return Err(located(doc, origin, c, format!("unsupported test driver element <test:{other}>")));
                }
            }
            blank.push(c.range());
        }
    }
    if extras.transient && runstate_seen && extras.runstate == DomainState::Shutoff {
        return Err(located(doc, origin, root, "transient domain cannot have runstate 'shutoff'".into()));
    }
    if extras.has_managed_save && extras.runstate != DomainState::Shutoff {
        return Err(located(doc, origin, root, "domain with managedsave data can only have runstate 'shutoff'".into()));
    }

    let text: std::borrow::Cow<str> = if blank.is_empty() {
        xml.into()
    } else {
        let mut out = xml.as_bytes().to_vec();
        for r in &blank {
            let map = |b: usize| b.saturating_sub(bytes.0) + bytes.1;
            let r = map(r.start)..map(r.end);
            for b in out.get_mut(r).unwrap_or_default() {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        // Only ASCII bytes within element ranges were replaced, so this stays valid UTF-8.
        String::from_utf8(out).map_err(|e| Error::internal(format!("blanking test namespace: {e}")))?.into()
    };
    let (mut dom, warnings) = parse_document::<Domain>(&text, ParseOptions { validate })
        .map_err(|e| Error::xml(doc, &shift(e, text_origin)))?;
    let warnings = warnings.into_iter().map(|w| w.to_string()).collect();
    apply_defaults(&mut dom);
    Ok((Def { dom }, extras, warnings))
}
