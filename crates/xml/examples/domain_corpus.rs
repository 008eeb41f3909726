//! Parses every domain XML in a directory and reports what the model did not understand outside
//! `<devices>` (the quick check used until the conformance test covers the domain top level).
//!
//! Usage: `cargo run -p oxvirt-xml --example domain_corpus -- DIR [--all] [--out OUTDIR]`
//! (`--all` also reports `<devices>`; `--out` writes each formatted domain there, for xmllint).

use std::collections::BTreeMap;

use oxvirt_xml::domain::Domain;
use oxvirt_xml::{parse_document, ParseOptions, XmlDocument};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.first().cloned().unwrap_or_else(|| "/work/shared/libvirt-9.0/tests/qemuxml2argvdata".into());
    let all = args.iter().any(|a| a == "--all");
    let out_dir = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).map(std::path::PathBuf::from);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(rd) => {
            rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "xml")).collect()
        }
        Err(e) => {
            eprintln!("cannot read {dir}: {e}");
            std::process::exit(2);
        }
    };
    files.sort();
    let (mut ok, mut warned, mut failed, mut roundtrip_bad) = (0, 0, 0, 0);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for f in &files {
        let Ok(mut text) = std::fs::read_to_string(f) else { continue };
        // the corpus stores some symlinks as files holding the target's name
        for _ in 0..3 {
            if text.contains('<') {
                break;
            }
            match std::fs::read_to_string(f.with_file_name(text.trim())) {
                Ok(t) => text = t,
                Err(_) => break,
            }
        }
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match parse_document::<Domain>(&text, ParseOptions::default()) {
            Err(e) => {
                failed += 1;
                println!("ERROR {name}: {e}");
            }
            Ok((d, warnings)) => {
                let mine: Vec<_> =
                    warnings.iter().filter(|w| all || !w.at.path.starts_with("/domain/devices")).collect();
                if mine.is_empty() {
                    ok += 1;
                } else {
                    warned += 1;
                    for w in &mine {
                        println!("WARN {name}: {w}");
                        let key = format!("{} {}", strip_index(&w.at.path), w.message);
                        *reasons.entry(key).or_default() += 1;
                    }
                }
                let formatted = d.to_xml_string();
                if let Some(o) = &out_dir {
                    if let Err(e) = std::fs::create_dir_all(o).and_then(|_| std::fs::write(o.join(&name), &formatted)) {
                        eprintln!("cannot write {}: {e}", o.display());
                    }
                }
                // the formatted model must parse back to the same model
                match parse_document::<Domain>(&formatted, ParseOptions::default()) {
                    Ok((d2, _)) if d2 == d => {}
                    Ok(_) => {
                        roundtrip_bad += 1;
                        println!("ROUNDTRIP {name}: model changed after format+parse");
                    }
                    Err(e) => {
                        roundtrip_bad += 1;
                        println!("ROUNDTRIP {name}: {e}");
                    }
                }
            }
        }
    }
    let mut top: Vec<_> = reasons.into_iter().collect();
    top.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (r, n) in top.iter().take(40) {
        println!("{n:5} {r}");
    }
    println!(
        "files {} clean {ok} with-warnings {warned} parse-errors {failed} roundtrip-mismatch {roundtrip_bad}",
        files.len()
    );
}

fn strip_index(path: &str) -> String {
    let mut out = String::new();
    let mut skip = false;
    for c in path.chars() {
        match c {
            '[' => skip = true,
            ']' => skip = false,
            c if !skip => out.push(c),
            _ => {}
        }
    }
    out
}
