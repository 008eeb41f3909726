//! Shared harness of the conformance tests: runs oxvirt's models over libvirt 9.0's own test
//! corpora and reports, per file, everything that parsing + formatting loses.
//!
//! For each input file: `parse_document` must succeed without warnings (a warning is input the
//! model did not understand), the formatted output must cover every input element, attribute
//! and text (see [`compare`]), re-parsing the output must give an equal model that formats to
//! the same text, and the output must validate against libvirt's RelaxNG schema (`xmllint`).
//!
//! The corpus is found at `$OXVIRT_LIBVIRT_DATA` or `shared/libvirt-9.0` beside the repository.

#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::{Debug, Write as _};
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxvirt_xml::{parse_document, Diagnostic, ParseOptions, XmlDocument, XmlError};

/// How long one `xmllint` batch may run.
const XMLLINT_TIMEOUT: Duration = Duration::from_secs(300);
/// Rows of the "most common losses" table.
const TOP_LOSSES: usize = 40;
/// Failing files listed on stdout (the report file lists all).
const STDOUT_FILES: usize = 150;

/// Root of the libvirt 9.0 reference data; panics with instructions when it is missing, since a
/// conformance test that silently skips proves nothing.
pub fn data_root() -> PathBuf {
    oxvirt_testsupport::libvirt_data()
}

/// Where reports go: `$CARGO_TARGET_DIR/conformance` or the workspace's `target/conformance`.
pub fn report_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    };
    target.join("conformance")
}

/// Reads a corpus file. libvirt's tree has symlinks between test files; in unpacked copies they
/// may appear as small files holding just the link target, which are followed here.
pub fn read_corpus_file(path: &Path) -> Result<String, String> {
    let mut path = path.to_path_buf();
    for _ in 0..4 {
        let text = fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let t = text.trim();
        if t.starts_with('<') || t.contains('\n') || t.is_empty() {
            return Ok(text);
        }
        let next = path.parent().unwrap_or(Path::new(".")).join(t);
        if !next.is_file() {
            return Ok(text);
        }
        path = next;
    }
    Err(format!("symlink stub loop at {}", path.display()))
}

/// One corpus: which files, which model, which schema, which pass rate is required.
pub struct Corpus {
    /// Short name used in reports (`domains`, `networks`, ...).
    pub name: &'static str,
    /// Schema file under `schemas/`.
    pub schema: &'static str,
    /// Required fraction of passing files, 0.0..=1.0.
    pub threshold: f64,
    /// Selected input files (name for reports, path).
    pub files: Vec<(String, PathBuf)>,
    /// Files left out, with the reason (kept for the report).
    pub excluded: Vec<(String, String)>,
}

impl Corpus {
    /// Every `*.xml` in `tests/<dir>`, minus `exclusions` (name without `.xml`, reason).
    pub fn dir(
        name: &'static str,
        dir: &str,
        schema: &'static str,
        threshold: f64,
        exclusions: &[(&str, &str)],
    ) -> Self {
        let root = data_root().join("tests").join(dir);
        let mut files = Vec::new();
        let mut excluded = Vec::new();
        let entries = fs::read_dir(&root).unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()));
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter_map(|n| n.strip_suffix(".xml").map(str::to_string))
            .collect();
        names.sort();
        for n in names {
            if let Some((_, why)) = exclusions.iter().find(|(e, _)| *e == n) {
                excluded.push((n, why.to_string()));
            } else {
                files.push((n.clone(), root.join(format!("{n}.xml"))));
            }
        }
        for (e, _) in exclusions {
            assert!(
                excluded.iter().any(|(n, _)| n == e),
                "exclusion '{e}' names no file in {}: remove it from the list",
                root.display()
            );
        }
        Corpus { name, schema, threshold, files, excluded }
    }

    /// `qemuxml2argvdata/NAME.xml` that libvirt accepts (a `NAME.args` or `NAME.<variant>.args`
    /// exists; `.err` means rejected) and whose guest arch is x86_64 or i686 (no arch = x86_64).
    pub fn domains(threshold: f64, exclusions: &[(&str, &str)]) -> Self {
        let root = data_root().join("tests/qemuxml2argvdata");
        let all: Vec<String> = fs::read_dir(&root)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .collect();
        let xml_names: BTreeSet<&str> = all.iter().filter_map(|n| n.strip_suffix(".xml")).collect();
        // An args file belongs to the longest xml name that is a dot-prefix of it (names contain
        // dots themselves, e.g. `...-virt-4.2.aarch64-latest.args`).
        let mut accepted = BTreeSet::new();
        for stem in all.iter().filter_map(|n| n.strip_suffix(".args")) {
            let mut cand = stem;
            loop {
                if xml_names.contains(cand) {
                    accepted.insert(cand.to_string());
                    break;
                }
                match cand.rfind('.') {
                    Some(i) => cand = &cand[..i],
                    None => break,
                }
            }
        }
        let mut files = Vec::new();
        let mut excluded = Vec::new();
        for (e, _) in exclusions {
            assert!(accepted.contains(*e), "domain exclusion '{e}' is not in the selected corpus: remove it");
        }
        for n in accepted {
            if let Some((_, why)) = exclusions.iter().find(|(e, _)| *e == n) {
                excluded.push((n, why.to_string()));
                continue;
            }
            let path = root.join(format!("{n}.xml"));
            let arch = read_corpus_file(&path).ok().and_then(|t| guest_arch(&t));
            match arch.as_deref() {
                None | Some("x86_64") | Some("i686") => files.push((n, path)),
                Some(a) => excluded.push((n, format!("guest arch {a}"))),
            }
        }
        Corpus { name: "domains", schema: "domain.rng", threshold, files, excluded }
    }
}

/// An input libvirt rejects, with libvirt's reason.
pub struct Negative {
    pub name: String,
    pub path: PathBuf,
    pub libvirt: String,
}

/// `qemuxml2argvdata/NAME.xml` that libvirt rejects (only `.err` files, no `.args`) for x86
/// guests, with libvirt's error message. Some are rejected by the QEMU driver from QEMU's
/// capabilities rather than by the XML parser, so the gate on them is a floor, not all of them.
pub fn domain_negatives() -> Vec<Negative> {
    let root = data_root().join("tests/qemuxml2argvdata");
    let all: BTreeSet<String> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", root.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let xml_names: BTreeSet<&str> = all.iter().filter_map(|n| n.strip_suffix(".xml")).collect();
    let owner = |stem: &str| -> Option<String> {
        let mut cand = stem;
        loop {
            if xml_names.contains(cand) {
                return Some(cand.to_string());
            }
            cand = &cand[..cand.rfind('.')?];
        }
    };
    let accepted: BTreeSet<String> = all.iter().filter_map(|n| n.strip_suffix(".args")).filter_map(owner).collect();
    let mut out: BTreeMap<String, Negative> = BTreeMap::new();
    for err in all.iter().filter(|n| n.ends_with(".err")) {
        let Some(name) = owner(&err[..err.len() - 4]) else { continue };
        if accepted.contains(&name) || out.contains_key(&name) {
            continue;
        }
        let path = root.join(format!("{name}.xml"));
        let arch = read_corpus_file(&path).ok().and_then(|t| guest_arch(&t));
        if !matches!(arch.as_deref(), None | Some("x86_64") | Some("i686")) {
            continue;
        }
        let msg = fs::read_to_string(root.join(err)).unwrap_or_default();
        let libvirt = collapse_ws(msg.lines().next().unwrap_or(""));
        out.insert(name.clone(), Negative { name, path, libvirt });
    }
    out.into_values().collect()
}

/// Named inputs of a corpus directory that libvirt rejects, all with the same reason.
pub fn negatives_in(dir: &str, names: &[&str], libvirt: &str) -> Vec<Negative> {
    let root = data_root().join("tests").join(dir);
    names
        .iter()
        .map(|n| {
            let path = root.join(format!("{n}.xml"));
            assert!(path.is_file(), "negative case {} does not exist", path.display());
            Negative { name: n.to_string(), path, libvirt: libvirt.to_string() }
        })
        .collect()
}

/// Which inputs libvirt rejects oxvirt accepts.
pub struct Rejections {
    pub corpus: &'static str,
    pub total: usize,
    /// (name, libvirt's reason, number of warnings) of inputs oxvirt accepted.
    pub accepted: Vec<(String, String, usize)>,
    /// (name, libvirt's reason, oxvirt's error) of inputs both reject, to compare the reasons.
    pub rejected: Vec<(String, String, String)>,
}

impl Rejections {
    pub fn summary(&self) -> String {
        format!(
            "{}: oxvirt rejects {}/{} inputs libvirt rejects",
            self.corpus,
            self.total - self.accepted.len(),
            self.total
        )
    }

    pub fn text(&self) -> String {
        let mut s = format!("{}\n", self.summary());
        for (n, why, w) in &self.accepted {
            let warn = if *w > 0 { format!(" ({w} warnings)") } else { String::new() };
            let _ = writeln!(s, "  accepted {n}{warn}: libvirt: {why}");
        }
        for (n, why, ours) in &self.rejected {
            let _ = writeln!(s, "  rejected {n}:\n    libvirt: {why}\n    oxvirt:  {ours}");
        }
        s
    }

    /// Names only: libvirt's messages are its text and stay in the uncommitted report.
    pub fn markdown(&self) -> String {
        let mut s = format!("### {}\n\n{}.\n", self.corpus, self.summary());
        if !self.accepted.is_empty() {
            let names: Vec<&str> = self.accepted.iter().map(|(n, _, _)| n.as_str()).collect();
            let _ = writeln!(s, "\nAccepted by oxvirt: {}.", names.join(", "));
        }
        s
    }
}

/// Parses each negative input; libvirt refuses them all, so should oxvirt.
pub fn check_rejections<T: XmlDocument>(corpus: &'static str, cases: &[Negative]) -> Rejections {
    let (mut accepted, mut rejected) = (Vec::new(), Vec::new());
    for c in cases {
        let Ok(text) = read_corpus_file(&c.path) else { continue };
        match parse_document::<T>(&text, ParseOptions::default()) {
            Ok((_, warnings)) => accepted.push((c.name.clone(), c.libvirt.clone(), warnings.len())),
            Err(e) => rejected.push((c.name.clone(), c.libvirt.clone(), e.to_string())),
        }
    }
    let r = Rejections { corpus, total: cases.len(), accepted, rejected };
    let dir = report_dir();
    let _ = fs::create_dir_all(&dir).and_then(|_| write_atomic(&dir.join(format!("{corpus}.txt")), &r.text()));
    r
}

/// `<os><type arch=...>` of a domain document.
fn guest_arch(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let os = doc.root_element().children().find(|n| n.has_tag_name("os"))?;
    let ty = os.children().find(|n| n.has_tag_name("type"))?;
    ty.attribute("arch").map(str::to_string)
}

/// One thing a file loses: `key` groups it across files, `detail` says exactly what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub key: String,
    pub detail: String,
}

impl Issue {
    fn new(key: impl Into<String>, detail: impl Into<String>) -> Self {
        Issue { key: key.into(), detail: detail.into() }
    }
}

/// `/domain/devices/disk[2]/source` -> `/domain/devices/disk/source`.
pub fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' if depth > 0 => depth -= 1,
            c if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Turns a parse warning into an issue.
fn warning_issue(w: &Diagnostic) -> Issue {
    let path = strip_indices(&w.at.path);
    let m = &w.message;
    let key = if let Some(a) = m.strip_prefix("unknown attribute '").and_then(|r| r.strip_suffix('\'')) {
        format!("unknown attribute {path}/@{a}")
    } else if m.starts_with("unknown element") {
        format!("unknown element {path}")
    } else if m.starts_with("unexpected repeated element") {
        format!("repeated element {path}")
    } else if m.starts_with("unexpected text") {
        format!("unexpected text {path}")
    } else {
        format!("warning {path}: {m}")
    };
    Issue::new(key, w.to_string())
}

/// Turns a parse error into an issue keyed by what failed where (values and positions dropped).
fn error_issue(prefix: &str, e: &XmlError) -> Issue {
    let path = e.location().map(|l| strip_indices(&l.path)).unwrap_or_default();
    let key = match e {
        XmlError::Syntax { .. } => "malformed XML".to_string(),
        XmlError::TooLarge { .. } | XmlError::Limit { .. } => "refused by limits".to_string(),
        XmlError::WrongRoot { found, .. } => format!("wrong root <{found}>"),
        XmlError::MissingAttribute { attr, .. } => format!("missing attribute {path}/@{attr}"),
        XmlError::InvalidAttribute { attr, .. } => format!("invalid value {path}/@{attr}"),
        XmlError::MissingElement { element, .. } => format!("missing element {path}/{element}"),
        XmlError::InvalidText { .. } => format!("invalid text {path}"),
        XmlError::Unknown { message, .. } => format!("{} {path}", mask_numbers(message)),
        XmlError::Invalid { message, .. } => format!("{path}: {}", mask_numbers(message)),
    };
    Issue::new(format!("{prefix}{key}"), format!("{prefix}{e}"))
}

/// Replaces runs of digits by `N`, so messages that differ only in numbers group together.
pub fn mask_numbers(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_num = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The lossless comparison.

/// Collapses runs of whitespace and trims.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An integer written in decimal (optionally signed) or hex with `0x`.
pub fn parse_int(s: &str) -> Option<i128> {
    let s = s.trim();
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        i128::from_str_radix(h, 16).ok()?
    } else {
        if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        body.parse::<i128>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// The 32 hex digits of a UUID-shaped value, lowercased.
fn uuid_digits(s: &str) -> Option<String> {
    let d: String = s.chars().filter(|c| *c != '-').collect();
    (d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()) && s.len() <= 36).then(|| d.to_ascii_lowercase())
}

/// `52:54:00:ab:cd:ef` and similar colon-separated hex byte strings.
fn is_mac_like(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() >= 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether two attribute or text values mean the same: whitespace-collapsed equal, or equal as
/// integers (decimal vs hex), or the same UUID / MAC up to case. Keywords are compared exactly
/// (`yes` is not `on`).
pub fn values_equal(a: &str, b: &str) -> bool {
    let (a, b) = (collapse_ws(a), collapse_ws(b));
    if a == b {
        return true;
    }
    if let (Some(x), Some(y)) = (parse_int(&a), parse_int(&b)) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (uuid_digits(&a), uuid_digits(&b)) {
        return x == y;
    }
    if is_mac_like(&a) && is_mac_like(&b) {
        return a.eq_ignore_ascii_case(&b);
    }
    if let (Ok(x), Ok(y)) = (a.parse::<std::net::IpAddr>(), b.parse::<std::net::IpAddr>()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (parse_cpuset(&a), parse_cpuset(&b)) {
        return x == y;
    }
    false
}

/// A libvirt CPU/node set (`0-3,^2,8`) as the numbers it contains; libvirt prints these
/// canonically (`0-1,3,8`), so a model that does the same loses nothing.
pub fn parse_cpuset(s: &str) -> Option<BTreeSet<u32>> {
    if !s.contains([',', '-', '^']) {
        return None;
    }
    let mut set = BTreeSet::new();
    let mut excluded = Vec::new();
    for item in s.split(',').map(str::trim) {
        let (neg, item) = match item.strip_prefix('^') {
            Some(i) => (true, i),
            None => (false, item),
        };
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let v = item.parse::<u32>().ok()?;
                (v, v)
            }
        };
        if lo > hi || hi - lo > 65_536 {
            return None;
        }
        if neg {
            excluded.extend(lo..=hi);
        } else {
            set.extend(lo..=hi);
        }
    }
    for e in excluded {
        set.remove(&e);
    }
    Some(set)
}

/// Bytes per `unit`, for units libvirt's scaled integers accept.
fn unit_factor(unit: &str) -> Option<u128> {
    oxvirt_xml::units::scale(1, unit.trim()).ok().map(u128::from)
}

/// Whether two scaled quantities are the same size. The output may round up to whole KiB, as
/// libvirt itself does for memory sizes.
pub fn quantities_equal(a: &str, a_factor: u128, b: &str, b_factor: u128) -> bool {
    let (Some(x), Some(y)) = (parse_int(a), parse_int(b)) else { return values_equal(a, b) };
    if x < 0 || y < 0 {
        return x == y && a_factor == b_factor;
    }
    let (Some(xb), Some(yb)) = ((x as u128).checked_mul(a_factor), (y as u128).checked_mul(b_factor)) else {
        return false;
    };
    xb == yb || yb == xb.div_ceil(1024) * 1024
}

/// Attributes that hold the quantity of an element with a `unit` attribute (`<cell memory=...>`,
/// `<page size=...>`, `<cache><size value=...>`); otherwise the element text is the quantity.
const SCALED_ATTRS: &[&str] = &["memory", "size", "value"];

/// Unit factors (input, output) when the element is a scaled integer. A missing `unit` on one
/// side is taken as the other side's unit (the number must then be equal as written).
fn scaling(inp: roxmltree::Node, out: roxmltree::Node) -> Option<(u128, u128)> {
    let (iu, ou) = (inp.attribute("unit"), out.attribute("unit"));
    match (iu.map(unit_factor), ou.map(unit_factor)) {
        (Some(Some(i)), Some(Some(o))) => Some((i, o)),
        (Some(Some(i)), None) => Some((i, i)),
        (None, Some(Some(o))) => Some((o, o)),
        _ => None,
    }
}

fn qname<'a>(n: roxmltree::Node<'a, '_>) -> (Option<&'a str>, &'a str) {
    (n.tag_name().namespace(), n.tag_name().name())
}

fn own_text(n: roxmltree::Node) -> String {
    let t: String = n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
    collapse_ws(&t)
}

fn display_name(n: roxmltree::Node) -> String {
    match n.tag_name().namespace() {
        // Prefix-free but still unambiguous: keep the local name and note a namespace.
        Some(ns) => {
            let prefix = oxvirt_xml::core::NAMESPACES.iter().find(|(_, u)| *u == ns).map(|(p, _)| *p);
            match prefix {
                Some(p) => format!("{p}:{}", n.tag_name().name()),
                None => format!("{{{ns}}}{}", n.tag_name().name()),
            }
        }
        None => n.tag_name().name().to_string(),
    }
}

/// Everything of the input element `inp` (at `path`) that `out` does not carry.
pub fn compare(inp: roxmltree::Node, out: roxmltree::Node, path: &str, issues: &mut Vec<Issue>) {
    if inp.tag_name().namespace().is_none() && inp.tag_name().name() == "metadata" {
        if !verbatim_equal(inp, out) {
            issues.push(Issue::new(format!("changed metadata {path}"), format!("{path}: metadata content differs")));
        }
        return;
    }
    let scale = scaling(inp, out);
    for a in inp.attributes() {
        let apath = format!("{path}/@{}", a.name());
        if scale.is_some() && a.name() == "unit" && a.namespace().is_none() {
            continue; // compared through the scaled quantities
        }
        let Some(o) = out.attributes().find(|o| o.name() == a.name() && o.namespace() == a.namespace()) else {
            issues.push(Issue::new(format!("lost attribute {apath}"), format!("{apath}='{}' missing", a.value())));
            continue;
        };
        let same = match scale {
            Some((fi, fo)) if SCALED_ATTRS.contains(&a.name()) => quantities_equal(a.value(), fi, o.value(), fo),
            _ => values_equal(a.value(), o.value()),
        };
        if !same {
            issues.push(Issue::new(
                format!("changed attribute {apath}"),
                format!("{apath}: '{}' -> '{}'", a.value(), o.value()),
            ));
        }
    }
    let it = own_text(inp);
    if !it.is_empty() {
        let ot = own_text(out);
        let same = match scale {
            Some((fi, fo)) => quantities_equal(&it, fi, &ot, fo),
            None => values_equal(&it, &ot),
        };
        if ot.is_empty() {
            issues.push(Issue::new(format!("lost text {path}"), format!("{path}: text '{it}' missing")));
        } else if !same {
            issues.push(Issue::new(format!("changed text {path}"), format!("{path}: '{it}' -> '{ot}'")));
        }
    }
    let outs: Vec<roxmltree::Node> = out.children().filter(|c| c.is_element()).collect();
    let mut used = vec![false; outs.len()];
    // Output position of the last match per child name: same-named siblings must keep their
    // order (boot order, command-line arguments, NIC and disk order are all meaningful).
    let mut last_match: HashMap<(Option<&str>, &str), usize> = HashMap::new();
    let mut reordered: BTreeSet<String> = BTreeSet::new();
    for ic in inp.children().filter(|c| c.is_element()) {
        let cpath = format!("{path}/{}", display_name(ic));
        let cands: Vec<usize> = (0..outs.len()).filter(|&i| !used[i] && qname(outs[i]) == qname(ic)).collect();
        if cands.is_empty() {
            issues.push(Issue::new(format!("lost element {cpath}"), format!("{cpath} missing (line {})", line_of(ic))));
            continue;
        }
        // Greedy: the first candidate that covers the input child; failing that, the closest one.
        let mut best: Option<(usize, Vec<Issue>)> = None;
        for &i in &cands {
            let mut sub = Vec::new();
            compare(ic, outs[i], &cpath, &mut sub);
            if sub.is_empty() {
                best = Some((i, sub));
                break;
            }
            if best.as_ref().is_none_or(|(_, b)| sub.len() < b.len()) {
                best = Some((i, sub));
            }
        }
        if let Some((i, sub)) = best {
            used[i] = true;
            issues.extend(sub);
            if let Some(prev) = last_match.insert(qname(ic), i) {
                if i < prev && !ORDER_FREE.contains(&qname(ic).1) && reordered.insert(cpath.clone()) {
                    issues.push(Issue::new(
                        format!("reordered element {cpath}"),
                        format!("{cpath}: input line {} comes out before an earlier sibling", line_of(ic)),
                    ));
                }
            }
        }
    }
}

/// Elements libvirt itself reorders by their content when formatting (controllers sorted by
/// type and index, NUMA cells by id, the primary video first), so their order carries nothing.
const ORDER_FREE: &[&str] = &["controller", "cell", "video"];

fn line_of(n: roxmltree::Node) -> u32 {
    n.document().text_pos_at(n.range().start).row
}

/// Exact structural equality (names with namespaces, attributes, collapsed text, children in order).
pub fn verbatim_equal(a: roxmltree::Node, b: roxmltree::Node) -> bool {
    if qname(a) != qname(b) || own_text(a) != own_text(b) {
        return false;
    }
    let attrs = |n: roxmltree::Node| -> BTreeSet<(Option<String>, String, String)> {
        n.attributes()
            .map(|a| (a.namespace().map(str::to_string), a.name().to_string(), a.value().to_string()))
            .collect()
    };
    if attrs(a) != attrs(b) {
        return false;
    }
    let ac: Vec<_> = a.children().filter(|c| c.is_element()).collect();
    let bc: Vec<_> = b.children().filter(|c| c.is_element()).collect();
    ac.len() == bc.len() && ac.iter().zip(&bc).all(|(x, y)| verbatim_equal(*x, *y))
}

/// Compares two whole documents; the issues of the input not covered by the output.
pub fn compare_documents(input: &str, output: &str) -> Result<Vec<Issue>, String> {
    let opts = roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: 4_000_000 };
    let i = roxmltree::Document::parse_with_options(input, opts).map_err(|e| format!("input: {e}"))?;
    let o = roxmltree::Document::parse_with_options(output, opts).map_err(|e| format!("output: {e}"))?;
    let (ir, or) = (i.root_element(), o.root_element());
    let path = format!("/{}", display_name(ir));
    if qname(ir) != qname(or) {
        return Ok(vec![Issue::new(
            "changed root element",
            format!("<{}> -> <{}>", display_name(ir), display_name(or)),
        )]);
    }
    let mut issues = Vec::new();
    compare(ir, or, &path, &mut issues);
    Ok(issues)
}

/// Whether a lossless-check issue only repeats a parse warning (the element or attribute was
/// reported as unknown, so it is naturally missing from the output).
fn covered_by_warning(issue: &Issue, warned: &[String]) -> bool {
    let Some(p) = issue.key.split_once(' ').map(|(_, p)| p).and_then(|p| p.split_once(' ').map(|(_, p)| p)) else {
        return false;
    };
    // keys look like "lost element /a/b", "lost attribute /a/b/@x", "changed text /a/b"
    let p = p.trim();
    warned.iter().any(|w| p == w || p.starts_with(&format!("{w}/")))
}

// ---------------------------------------------------------------------------------------------
// Running a corpus.

/// What happened to one file.
#[derive(Debug, Default)]
pub struct FileResult {
    pub name: String,
    pub issues: Vec<Issue>,
    pub output: Option<String>,
}

/// Parse, format, compare and re-parse one document (everything but the schema check).
pub fn check_one<T: XmlDocument + PartialEq + Debug>(name: &str, input: &str) -> FileResult {
    let mut r = FileResult { name: name.to_string(), ..Default::default() };
    let (model, warnings) = match parse_document::<T>(input, ParseOptions::default()) {
        Ok(v) => v,
        Err(e) => {
            r.issues.push(error_issue("parse error: ", &e));
            return r;
        }
    };
    let mut warned = Vec::new();
    for w in &warnings {
        let issue = warning_issue(w);
        // the path an unknown thing covers: element path, or element path + /@attr
        if let Some(p) = issue.key.split_once(' ').and_then(|(_, r)| r.split_once(' ')).map(|(_, p)| p.to_string()) {
            warned.push(p);
        }
        r.issues.push(issue);
    }
    let output = model.to_xml_string();
    match compare_documents(input, &output) {
        Ok(issues) => r.issues.extend(issues.into_iter().filter(|i| !covered_by_warning(i, &warned))),
        Err(e) => r.issues.push(Issue::new("output is not well-formed XML", e)),
    }
    match parse_document::<T>(&output, ParseOptions::default()) {
        Err(e) => r.issues.push(error_issue("re-parse of output: ", &e)),
        Ok((again, w2)) => {
            for w in &w2 {
                let i = warning_issue(w);
                r.issues.push(Issue::new(
                    format!("re-parse of output: {}", i.key),
                    format!("re-parse of output: {}", i.detail),
                ));
            }
            if again != model {
                r.issues.push(Issue::new("re-parsed model differs", first_difference(&model, &again)));
            } else if again.to_xml_string() != output {
                // equal models must format identically, or the output depends on hidden state
                r.issues
                    .push(Issue::new("formatting is not stable", "formatting the re-parsed model gives different XML"));
            }
        }
    }
    r.output = Some(output);
    r
}

/// The first line where the two models' debug forms differ.
fn first_difference<T: Debug>(a: &T, b: &T) -> String {
    let (a, b) = (format!("{a:#?}"), format!("{b:#?}"));
    for (n, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("re-parsed model differs at debug line {}: {} vs {}", n + 1, x.trim(), y.trim());
        }
    }
    "re-parsed model differs (length)".to_string()
}

/// Result of a corpus run.
pub struct Report {
    pub corpus: &'static str,
    pub total: usize,
    pub passed: usize,
    pub threshold: f64,
    pub results: Vec<FileResult>,
    pub excluded: Vec<(String, String)>,
    /// Most common issue keys, counted once per file.
    pub top: Vec<(String, usize)>,
    pub elapsed: Duration,
}

impl Report {
    pub fn rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.passed as f64 / self.total as f64
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{}: {}/{} pass ({:.1} %), required {:.0} %",
            self.corpus,
            self.passed,
            self.total,
            self.rate() * 100.0,
            self.threshold * 100.0
        )
    }

    fn top_table(&self, n: usize) -> String {
        let mut s = String::new();
        for (k, c) in self.top.iter().take(n) {
            let _ = writeln!(s, "{c:6}  {k}");
        }
        s
    }

    /// Files affected per area (top-level element, or device kind), most affected first.
    pub fn areas(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for r in &self.results {
            let areas: BTreeSet<String> = r.issues.iter().map(|i| area(&i.key)).collect();
            for a in areas {
                *counts.entry(a).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// The full text report.
    pub fn full_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}  [{:.1} s]\n", self.summary(), self.elapsed.as_secs_f64());
        let _ = writeln!(s, "Most common losses (files affected):");
        s.push_str(&self.top_table(usize::MAX));
        let _ = writeln!(s, "\nFailing files:");
        for r in self.results.iter().filter(|r| !r.issues.is_empty()) {
            let _ = writeln!(s, "\n{} ({} issues)", r.name, r.issues.len());
            for i in &r.issues {
                let _ = writeln!(s, "    {}", i.detail);
            }
        }
        if !self.excluded.is_empty() {
            let _ = writeln!(s, "\nExcluded from this corpus:");
            for (n, why) in &self.excluded {
                let _ = writeln!(s, "    {n}: {why}");
            }
        }
        s
    }

    /// A markdown section for docs/xml-coverage.md.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## {}\n", self.corpus);
        let _ = writeln!(s, "{}.\n", self.summary());
        let failing: Vec<&FileResult> = self.results.iter().filter(|r| !r.issues.is_empty()).collect();
        if !failing.is_empty() {
            let _ = writeln!(s, "Most common losses (number of files affected):\n");
            let _ = writeln!(s, "| files | issue |\n|---:|---|");
            for (k, c) in self.top.iter().take(TOP_LOSSES) {
                let _ = writeln!(s, "| {c} | `{}` |", k.replace('|', "\\|").replace('`', "'"));
            }
            let _ = writeln!(s, "\nFiles affected per area:\n");
            let _ = writeln!(s, "| files | area |\n|---:|---|");
            for (a, c) in self.areas() {
                let _ = writeln!(s, "| {c} | `{a}` |");
            }
            if self.top.len() > TOP_LOSSES {
                let _ = writeln!(s, "\n({} more distinct issues.)", self.top.len() - TOP_LOSSES);
            }
            let names: Vec<&str> = failing.iter().take(60).map(|r| r.name.as_str()).collect();
            let more = if failing.len() > 60 { format!(", and {} more", failing.len() - 60) } else { String::new() };
            let _ = writeln!(s, "\nFailing files: {}{more}.", names.join(", "));
        }
        if !self.excluded.is_empty() {
            let _ = writeln!(
                s,
                "\nNot in this corpus: {} files ({}).",
                self.excluded.len(),
                summarize_exclusions(&self.excluded)
            );
        }
        s
    }
}

/// The part of the document an issue is about: `/domain/devices/disk`, `/domain/cpu`, or
/// `schema <element>`.
pub fn area(key: &str) -> String {
    if let Some(rest) = key.strip_prefix("schema: element ") {
        return format!("schema <{}>", rest.split(':').next().unwrap_or(rest));
    }
    let Some(start) = key.find('/') else { return key.to_string() };
    let path = key[start..].split([' ', ':']).next().unwrap_or("");
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && !p.starts_with('@')).collect();
    let depth = if parts.get(1) == Some(&"devices") { 3 } else { 2 };
    format!("/{}", parts.iter().take(depth).copied().collect::<Vec<_>>().join("/"))
}

/// Writes docs/xml-coverage.md from fresh reports of every corpus.
pub fn write_coverage_doc(reports: &[Report], rejections: &[Rejections]) -> PathBuf {
    assert!(corpus_filter().is_none(), "unset OXVIRT_CONFORMANCE_FILTER to write the coverage doc");
    let mut s = String::new();
    s.push_str("# XML model coverage\n\n");
    s.push_str("Generated by `crates/xml/tests/conformance.rs`; do not edit by hand. Regenerate with\n");
    s.push_str("`cargo test -p oxvirt-xml --test conformance -- --ignored write_coverage_doc`.\n\n");
    s.push_str("Each input of libvirt 9.0's own test corpora is parsed (no warnings allowed), formatted, ");
    s.push_str("checked to keep every input element, attribute and value (and the order of same-named ");
    s.push_str("siblings), re-parsed to an equal model that formats identically, ");
    s.push_str("and validated against libvirt's RelaxNG schema. A file passes only if all of that holds.\n");
    s.push_str("Full per-file reports: `target/conformance/<corpus>.txt`, formatted outputs in ");
    s.push_str("`target/conformance/<corpus>-out/`; `OXVIRT_CONFORMANCE_FILTER=<substring>` runs only matching ");
    s.push_str("files and prints every issue.\n\n");
    s.push_str("| corpus | pass | files | rate | required |\n|---|---:|---:|---:|---:|\n");
    for r in reports {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} % | {:.0} % |",
            r.corpus,
            r.passed,
            r.total,
            r.rate() * 100.0,
            r.threshold * 100.0
        );
    }
    for r in reports {
        s.push('\n');
        s.push_str(&r.markdown());
    }
    if !rejections.is_empty() {
        s.push_str("\n## Inputs libvirt rejects\n\n");
        s.push_str("Gated from below by `rejected_inputs_floor` (the counts may only rise). The inputs still ");
        s.push_str("accepted are refused by libvirt from the QEMU binary's capabilities (CPU models, USB ");
        s.push_str("controller models, IOThreads, default video), from mocked host state (NUMA nodes, hugetlbfs), ");
        s.push_str("from running out of PCI slots, or by quirk (a socket path that looks generated). Three oxvirt ");
        s.push_str("accepts on purpose: host-passthrough on TCG (run as `-cpu max`), a loader path with ");
        s.push_str("`<os firmware='efi'>` (what oxvirt's own define fills in) and memory hotplug without guest ");
        s.push_str("NUMA cells (oxvirt has no guest NUMA; QEMU adds one node). Both reasons for ");
        s.push_str("each input are in `target/conformance/rejected-*.txt` after ");
        s.push_str("`cargo test -p oxvirt-xml --test conformance -- --ignored rejected_inputs`.\n\n");
        for r in rejections {
            s.push_str(&r.markdown());
            s.push('\n');
        }
    }
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/xml-coverage.md");
    let doc = doc.parent().and_then(|d| d.canonicalize().ok()).map(|d| d.join("xml-coverage.md")).unwrap_or(doc);
    write_atomic(&doc, &s).unwrap_or_else(|e| panic!("cannot write {}: {e}", doc.display()));
    doc
}

fn summarize_exclusions(ex: &[(String, String)]) -> String {
    let mut by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (n, why) in ex {
        by.entry(why.as_str()).or_default().push(n.as_str());
    }
    by.iter()
        .map(
            |(why, ns)| if ns.len() > 5 { format!("{why}: {}", ns.len()) } else { format!("{why}: {}", ns.join(", ")) },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

/// `OXVIRT_CONFORMANCE_FILTER=substr` limits a run to matching file names and prints every
/// issue in full (for working on one area).
fn corpus_filter() -> Option<String> {
    std::env::var("OXVIRT_CONFORMANCE_FILTER").ok().filter(|f| !f.is_empty())
}

/// Runs a corpus through model `T` and validates outputs against the schema.
pub fn run_corpus<T: XmlDocument + PartialEq + Debug>(corpus: Corpus) -> Report {
    let start = Instant::now();
    let filter = corpus_filter();
    let mut results: Vec<FileResult> = corpus
        .files
        .iter()
        .filter(|(name, _)| filter.as_deref().is_none_or(|f| name.contains(f)))
        .map(|(name, path)| match read_corpus_file(path) {
            Ok(text) => check_one::<T>(name, &text),
            Err(e) => FileResult { name: name.clone(), issues: vec![Issue::new("unreadable input", e)], output: None },
        })
        .collect();
    let schema = data_root().join("schemas").join(corpus.schema);
    let outputs: Vec<(usize, &str)> =
        results.iter().enumerate().filter_map(|(i, r)| r.output.as_deref().map(|o| (i, o))).collect();
    let schema_issues = validate_with_xmllint(&schema, &outputs);
    for (i, issues) in schema_issues {
        results[i].issues.extend(issues);
    }
    let mut counts: HashMap<String, usize> = HashMap::new();
    for r in &results {
        let keys: BTreeSet<&str> = r.issues.iter().map(|i| i.key.as_str()).collect();
        for k in keys {
            *counts.entry(k.to_string()).or_default() += 1;
        }
    }
    let mut top: Vec<(String, usize)> = counts.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let passed = results.iter().filter(|r| r.issues.is_empty()).count();
    Report {
        corpus: corpus.name,
        total: results.len(),
        passed,
        threshold: corpus.threshold,
        results,
        excluded: corpus.excluded,
        top,
        elapsed: start.elapsed(),
    }
}

/// Prints the report, writes `target/conformance/<corpus>.txt`, and fails below threshold.
pub fn report_and_check(report: &Report) {
    let dir = report_dir();
    let filtered = corpus_filter().is_some();
    let txt = if filtered { format!("{}-filtered.txt", report.corpus) } else { format!("{}.txt", report.corpus) };
    let previous = if filtered { None } else { previous_failures(&dir.join(&txt)) };
    let written = fs::create_dir_all(&dir)
        .and_then(|_| write_atomic(&dir.join(&txt), &report.full_text()))
        .and_then(|_| write_outputs(&dir.join(format!("{}-out", report.corpus)), report));
    let where_ = match written {
        Ok(()) => format!(
            "{} (formatted outputs in {})",
            dir.join(&txt).display(),
            dir.join(format!("{}-out", report.corpus)).display()
        ),
        Err(e) => format!("(could not write report to {}: {e})", dir.display()),
    };
    let mut s = String::new();
    let filter_note = corpus_filter().map(|f| format!(" (only files matching '{f}')")).unwrap_or_default();
    let _ = writeln!(s, "\n==== {}{filter_note}  [{:.1} s]", report.summary(), report.elapsed.as_secs_f64());
    let failing: Vec<&FileResult> = report.results.iter().filter(|r| !r.issues.is_empty()).collect();
    for r in failing.iter().take(STDOUT_FILES) {
        let mut keys: Vec<&str> = Vec::new();
        for i in &r.issues {
            if !keys.contains(&i.key.as_str()) {
                keys.push(&i.key);
            }
        }
        let shown: Vec<&str> = keys.iter().take(3).copied().collect();
        let more = if keys.len() > 3 { format!(" (+{} more)", keys.len() - 3) } else { String::new() };
        let _ = writeln!(s, "  FAIL {}: {}{more}", r.name, shown.join("; "));
        if filtered {
            for i in &r.issues {
                let _ = writeln!(s, "         {}", i.detail);
            }
        }
    }
    if failing.len() > STDOUT_FILES {
        let _ = writeln!(s, "  ... {} more failing files", failing.len() - STDOUT_FILES);
    }
    if !report.top.is_empty() {
        let _ = writeln!(s, "Most common losses in {} (files affected):", report.corpus);
        s.push_str(&report.top_table(TOP_LOSSES));
    }
    if let Some(prev) = previous {
        let now: BTreeSet<String> = failing.iter().map(|r| r.name.clone()).collect();
        let newly: Vec<&str> = now.difference(&prev).map(String::as_str).collect();
        let fixed: Vec<&str> = prev.difference(&now).map(String::as_str).collect();
        if !newly.is_empty() {
            let _ = writeln!(s, "Newly failing since the last run: {}", newly.join(", "));
        }
        if !fixed.is_empty() {
            let _ = writeln!(s, "Fixed since the last run: {}", fixed.join(", "));
        }
    }
    let _ = writeln!(s, "Full report: {where_}");
    println!("{s}");
    assert!(
        report.rate() >= report.threshold,
        "{} is below the required pass rate; see the report above or {where_}",
        report.summary()
    );
}

/// Keeps every formatted output (`<name>.xml`) for diffing against the input.
fn write_outputs(dir: &Path, report: &Report) -> std::io::Result<()> {
    if dir.is_dir() {
        for e in fs::read_dir(dir)?.flatten() {
            if e.path().extension().is_some_and(|x| x == "xml") {
                fs::remove_file(e.path())?;
            }
        }
    }
    fs::create_dir_all(dir)?;
    for r in &report.results {
        if let Some(o) = &r.output {
            fs::write(dir.join(format!("{}.xml", r.name)), o)?;
        }
    }
    Ok(())
}

/// The failing files named in an earlier full report, to show what changed since.
fn previous_failures(report: &Path) -> Option<BTreeSet<String>> {
    let text = fs::read_to_string(report).ok()?;
    let (_, failing) = text.split_once("\nFailing files:\n")?;
    let failing = failing.split("\nExcluded from this corpus:").next().unwrap_or(failing);
    Some(
        failing
            .lines()
            .filter(|l| !l.starts_with(' ') && l.ends_with(" issues)"))
            .filter_map(|l| l.split_once(" (").map(|(n, _)| n.to_string()))
            .collect(),
    )
}

/// Writes a file via a temporary sibling and rename, so readers never see half a report.
pub fn write_atomic(path: &Path, content: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

// ---------------------------------------------------------------------------------------------
// Schema validation.

/// Validates documents with `xmllint --relaxng`, in parallel batches; returns issues per index.
pub fn validate_with_xmllint(schema: &Path, docs: &[(usize, &str)]) -> Vec<(usize, Vec<Issue>)> {
    if docs.is_empty() {
        return Vec::new();
    }
    let probe = Command::new("xmllint").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if probe.is_err() {
        panic!("xmllint not found: the conformance test validates output against libvirt's RelaxNG schemas with it; install it with `apt-get install libxml2-utils`");
    }
    // Unique per call: tests of one binary run in parallel, possibly with the same schema.
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "oxvirt-conformance-{}-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        schema.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let mut paths = Vec::new();
    for (i, d) in docs {
        let p = dir.join(format!("{i:05}.xml"));
        fs::write(&p, d).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        paths.push((*i, p));
    }
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4);
    let chunk = paths.len().div_ceil(workers);
    let results: Vec<(usize, Vec<Issue>)> = std::thread::scope(|s| {
        let handles: Vec<_> = paths
            .chunks(chunk.max(1))
            .enumerate()
            .map(|(n, batch)| {
                let dir = &dir;
                s.spawn(move || run_xmllint(schema, batch, &dir.join(format!("xmllint-{n}.log"))))
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| panic!("xmllint worker panicked"))).collect()
    });
    let _ = fs::remove_dir_all(&dir);
    results
}

/// One `xmllint` process over a batch; its stderr goes to `log` (no pipe to fill up).
fn run_xmllint(schema: &Path, batch: &[(usize, PathBuf)], log: &Path) -> Vec<(usize, Vec<Issue>)> {
    let logf = fs::File::create(log).unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
    let logf2 = logf.try_clone().unwrap_or_else(|e| panic!("cannot dup log file: {e}"));
    let mut child = Command::new("xmllint")
        .arg("--noout")
        .arg("--relaxng")
        .arg(schema)
        .args(batch.iter().map(|(_, p)| p))
        .stdout(Stdio::from(logf))
        .stderr(Stdio::from(logf2))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run xmllint (apt-get install libxml2-utils): {e}"));
    let deadline = Instant::now() + XMLLINT_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("xmllint did not finish within {XMLLINT_TIMEOUT:?}");
            }
            Err(e) => panic!("waiting for xmllint: {e}"),
        }
    };
    let text = fs::read_to_string(log).unwrap_or_default();
    let by_path: HashMap<String, usize> = batch.iter().map(|(i, p)| (p.display().to_string(), *i)).collect();
    let mut issues: BTreeMap<usize, Vec<Issue>> = BTreeMap::new();
    let mut verdicts: BTreeSet<usize> = BTreeSet::new();
    for line in text.lines() {
        let verdict = line
            .strip_suffix(" fails to validate")
            .map(|p| (p, false))
            .or_else(|| line.strip_suffix(" validates").map(|p| (p, true)));
        if let Some((p, ok)) = verdict {
            if let Some(i) = by_path.get(p) {
                verdicts.insert(*i);
                if !ok && !issues.contains_key(i) {
                    issues.insert(*i, vec![Issue::new("schema: fails to validate", "output fails schema validation")]);
                }
            }
            continue;
        }
        // "<path>:<line>: element x: Relax-NG validity error : message"
        let Some((p, rest)) = line.split_once(".xml:") else { continue };
        let p = format!("{p}.xml");
        let Some(i) = by_path.get(&p) else { continue };
        let (lineno, msg) = rest.split_once(": ").unwrap_or(("?", rest));
        let msg = msg.replace("Relax-NG validity error : ", "");
        issues
            .entry(*i)
            .or_default()
            .push(Issue::new(format!("schema: {msg}"), format!("schema (output line {lineno}): {msg}")));
    }
    // A file xmllint gave no verdict for (crash, odd output) must not pass silently.
    if !status.success() || verdicts.len() != batch.len() {
        for (i, _) in batch {
            if !verdicts.contains(i) && !issues.contains_key(i) {
                issues.insert(
                    *i,
                    vec![Issue::new(
                        "schema: no verdict from xmllint",
                        format!("xmllint exited {status} without a verdict"),
                    )],
                );
            }
        }
    }
    issues.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn losses(a: &str, b: &str) -> Vec<String> {
        compare_documents(a, b).unwrap().into_iter().map(|i| i.key).collect()
    }

    #[test]
    fn normalised_values() {
        assert!(values_equal("  a \n  b ", "a b"));
        assert!(values_equal("0x1f", "31"));
        assert!(values_equal("0x0000", "0"));
        assert!(values_equal("-3", "-3"));
        assert!(!values_equal("0x1f", "30"));
        assert!(values_equal("4DEA22B3-1D52-D8F3-2516-782E98AB3FA0", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"));
        assert!(values_equal("4dea22b31d52d8f32516782e98ab3fa0", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"));
        assert!(!values_equal("4dea22b3-1d52-d8f3-2516-782e98ab3fa1", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"));
        assert!(values_equal("52:54:00:AB:cd:EF", "52:54:00:ab:cd:ef"));
        assert!(values_equal("2001:DB8::0001", "2001:db8::1"));
        assert!(!values_equal("2001:db8::1", "2001:db8::2"));
        assert!(values_equal("1-2,5-7,^6", "1-2,5,7"));
        assert!(values_equal("0,1,2,3", "0-3"));
        assert!(!values_equal("0-3", "0-4"));
        assert!(!values_equal("-1", "1"));
        assert!(!values_equal("a-b", "a-b,c"));
        assert!(!values_equal("yes", "on"));
        assert!(!values_equal("no", "off"));
        assert!(!values_equal("Foo", "foo"));
        assert!(!values_equal("", "0"));
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("12a"), None);
    }

    #[test]
    fn scaled_quantities() {
        assert!(losses("<d><memory unit='GiB'>1</memory></d>", "<d><memory unit='KiB'>1048576</memory></d>").is_empty());
        assert!(losses("<d><memory>1024</memory></d>", "<d><memory unit='KiB'>1024</memory></d>").is_empty());
        // rounded up to whole KiB, as libvirt does
        assert!(losses("<d><memory unit='b'>1000</memory></d>", "<d><memory unit='KiB'>1</memory></d>").is_empty());
        assert_eq!(
            losses("<d><memory unit='GiB'>1</memory></d>", "<d><memory unit='KiB'>1024</memory></d>"),
            ["changed text /d/memory"]
        );
        assert!(losses(
            "<d><cell memory='2' unit='MiB' cpus='0'/></d>",
            "<d><cell memory='2048' unit='KiB' cpus='0'/></d>"
        )
        .is_empty());
        // a drive address' unit is a number, not a size unit
        assert_eq!(
            losses("<d><address type='drive' unit='1'/></d>", "<d><address type='drive' unit='0'/></d>"),
            ["changed attribute /d/address/@unit"]
        );
    }

    #[test]
    fn structure() {
        let input = "<d a='1'><x k='1'/><x k='2'><y/></x><z>t</z></d>";
        // order-insensitive, extras allowed
        assert!(losses(input, "<d a='0x1' extra='e'><z> t </z><x k='1'/><q/><x k='2'><y/><w/></x></d>").is_empty());
        assert_eq!(
            losses(input, "<d><x k='1'/><x k='2'/><z>u</z></d>"),
            ["lost attribute /d/@a", "lost element /d/x/y", "changed text /d/z"]
        );
        // each input child needs its own output child
        assert_eq!(losses("<d><x/><x/></d>", "<d><x/></d>"), ["lost element /d/x"]);
        // a later output candidate covers when the first does not
        assert!(losses("<d><x k='2'/></d>", "<d><x k='1'/><x k='2'/></d>").is_empty());
        assert_eq!(losses("<d><x>t</x></d>", "<d><x/></d>"), ["lost text /d/x"]);
        // same-named siblings keep their order; different names may move
        assert_eq!(
            losses("<d><boot dev='hd'/><boot dev='cdrom'/></d>", "<d><boot dev='cdrom'/><boot dev='hd'/></d>"),
            ["reordered element /d/boot"]
        );
        assert!(losses("<d><a/><b/><a k='1'/></d>", "<d><b/><a/><a k='1'/></d>").is_empty());
        assert!(losses(
            "<d><controller index='1'/><controller index='0'/></d>",
            "<d><controller index='0'/><controller index='1'/></d>"
        )
        .is_empty());
        assert!(losses("<d><a/><a/></d>", "<d><a/><a/></d>").is_empty());
    }

    #[test]
    fn namespaces_and_metadata() {
        let q = "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'";
        let input = format!("<d {q}><qemu:commandline><qemu:arg value='-x'/></qemu:commandline></d>");
        let output = "<d xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'><q:commandline><q:arg value='-x'/></q:commandline></d>";
        assert!(losses(&input, output).is_empty());
        assert_eq!(
            losses(&input, "<d><commandline><arg value='-x'/></commandline></d>"),
            ["lost element /d/qemu:commandline"]
        );
        let meta = "<d><metadata><a:x xmlns:a='urn:a' k='v'>t<a:y/></a:x></metadata></d>";
        assert!(losses(meta, "<d>\n<metadata>\n  <b:x xmlns:b='urn:a' k='v'>t<b:y/></b:x>\n</metadata></d>").is_empty());
        assert_eq!(
            losses(meta, "<d><metadata><a:x xmlns:a='urn:a' k='v'>t</a:x></metadata></d>"),
            ["changed metadata /d/metadata"]
        );
    }

    /// `<t a='..'><k/></t>`: reads `a` and `<k/>`, but forgets to write `a` back when `lossy`.
    #[derive(Debug, PartialEq)]
    struct T {
        a: Option<String>,
        k: bool,
    }
    impl oxvirt_xml::FromXml for T {
        fn from_xml(el: &mut oxvirt_xml::El<'_, '_>) -> Result<Self, XmlError> {
            Ok(T { a: el.attr_opt("a")?, k: el.flag("k")? })
        }
    }
    impl oxvirt_xml::ToXml for T {
        fn write_attrs(&self, w: &mut oxvirt_xml::Writer) {
            if let Some(a) = &self.a {
                if a != "lossy" {
                    w.attr("a", a);
                }
            }
        }
        fn write_content(&self, w: &mut oxvirt_xml::Writer) {
            if self.k {
                w.empty_element("k");
            }
        }
    }
    impl XmlDocument for T {
        const ROOT: &'static str = "t";
    }

    #[test]
    fn check_one_reports_warnings_losses_and_reparse() {
        let keys = |xml: &str| -> Vec<String> { check_one::<T>("x", xml).issues.into_iter().map(|i| i.key).collect() };
        assert!(keys("<t a='1'><k/></t>").is_empty());
        // unknown input: one warning each, not repeated as a loss
        assert_eq!(keys("<t a='1' b='2'><k/><z><y/></z></t>"), ["unknown attribute /t/@b", "unknown element /t/z"]);
        // dropped on output: a loss, and the re-parsed model differs
        assert_eq!(keys("<t a='lossy'/>"), ["lost attribute /t/@a", "re-parsed model differs"]);
        assert_eq!(keys("<t a='1'><k>text</k></t>")[0], "unexpected text /t/k");
        assert!(keys("<other/>")[0].starts_with("parse error: wrong root"));
    }

    #[test]
    #[cfg_attr(not(feature = "e2e"), ignore = "e2e: needs xmllint (make test)")]
    fn xmllint_failures_map_back_to_their_documents() {
        let dir = std::env::temp_dir().join(format!("oxvirt-conformance-rng-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let rng = dir.join("t.rng");
        fs::write(
            &rng,
            "<element name='t' xmlns='http://relaxng.org/ns/structure/1.0'><optional><attribute name='a'/></optional></element>",
        )
        .unwrap();
        let docs = [(0, "<t a='1'/>"), (1, "<t b='1'/>"), (2, "<t/>"), (3, "<u/>")];
        let mut r = validate_with_xmllint(&rng, &docs);
        r.sort_by_key(|(i, _)| *i);
        let failed: Vec<usize> = r.iter().map(|(i, _)| *i).collect();
        assert_eq!(failed, [1, 3], "{r:?}");
        assert!(r.iter().all(|(_, issues)| issues.iter().all(|i| i.key.starts_with("schema: "))));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn warnings_suppress_repeated_losses() {
        let warned = vec!["/d/x".to_string(), "/d/y/@a".to_string()];
        assert!(covered_by_warning(&Issue::new("lost element /d/x/z", ""), &warned));
        assert!(covered_by_warning(&Issue::new("lost attribute /d/y/@a", ""), &warned));
        assert!(!covered_by_warning(&Issue::new("lost attribute /d/y/@b", ""), &warned));
        assert!(!covered_by_warning(&Issue::new("lost element /d/xx", ""), &warned));
        assert_eq!(strip_indices("/a/b[2]/c[10]/d"), "/a/b/c/d");
        assert_eq!(mask_numbers("describes 24 vCPUs but <vcpu> is 32"), "describes N vCPUs but <vcpu> is N");
        assert_eq!(area("lost attribute /domain/devices/disk/driver/@cache"), "/domain/devices/disk");
        assert_eq!(area("unknown element /domain/cpu/feature"), "/domain/cpu");
        assert_eq!(area("unknown attribute /domain/@type"), "/domain");
        assert_eq!(area("schema: element disk: Expecting an element target"), "schema <disk>");
        assert_eq!(area("parse error: invalid value /domain/devices/disk/@bus"), "/domain/devices/disk");
    }
}
