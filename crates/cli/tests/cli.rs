//! The oxvirt binary on its own: chaining, the shell, JSON, help, edit, global options and
//! clear errors (exit 1, the bad argument named, never a panic).

mod common;
use common::*;

const D: &str = "test:///default";

fn ox(args: &[&str]) -> Out {
    let mut a = vec!["-c", D];
    a.extend_from_slice(args);
    oxvirt(&a)
}

#[test]
fn chaining_with_semicolons() {
    let one = ox(&["uri; hostname"]);
    assert_eq!(one.code, 0);
    let sep = ox(&["uri", ";", "hostname"]);
    assert_eq!(sep.stdout, one.stdout);
    assert_eq!(one.stdout, "test:///default\n\nvm\n\n");
    // State carries across commands of one call; the exit code is the last command's.
    let o = ox(&["suspend test; domstate test; resume test; domstate test"]);
    assert_eq!(o.stdout, "Domain 'test' suspended\n\npaused\n\nDomain 'test' resumed\n\nrunning\n\n");
    assert_eq!(ox(&["domstate nope; uri"]).code, 0);
    let o = ox(&["uri; domstate nope"]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.starts_with("test:///default\n"));
    // A parse error anywhere runs nothing.
    let o = ox(&["uri; domstate --bogus"]);
    assert_eq!((o.code, o.stdout.as_str()), (1, ""));
}

#[test]
fn shell_reads_commands_from_stdin() {
    let input = "uri\nlist --all\n  dominfo \"test\"; domstate 'test' --reason\nbogus\nquit\nuri\n";
    let o = run(env!("CARGO_BIN_EXE_oxvirt"), &["-c", D], Some(input), &[]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("Welcome to oxvirt, the virtualization interactive terminal.\n\n"));
    assert!(o.stdout.contains("oxvirt # uri\ntest:///default\n\noxvirt # list --all\n Id   Name   State\n"));
    assert!(o.stdout.contains("running (unknown)\n"));
    assert!(o.stdout.ends_with("oxvirt # quit\n\n"), "{}", o.stdout);
    assert_eq!(o.stdout.matches("test:///default").count(), 1, "nothing runs after quit");
    assert!(o.stderr.contains("error: unknown command: 'bogus'"));
    // Read-only prompt, quiet banner, end of input.
    let o = run(env!("CARGO_BIN_EXE_oxvirt"), &["-q", "-r", "-c", D], Some("domid test\n"), &[]);
    assert_eq!(o.stdout, "oxvirt > domid test\n1\noxvirt > \n");
    // connect inside the shell switches connections.
    let o = run(
        env!("CARGO_BIN_EXE_oxvirt"),
        &["-q", "-r", "-c", D],
        Some("connect test:///default\ndefine /nonexistent\n"),
        &[],
    );
    assert!(o.stderr.contains("Failed to open file '/nonexistent'"), "{}", o.stderr);
    assert!(o.stdout.contains("oxvirt # define"), "connect without --readonly makes it read-write: {}", o.stdout);
}

fn json(args: &[&str]) -> serde_json::Value {
    let o = ox(args);
    assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
    serde_json::from_str(o.stdout.trim_end()).unwrap_or_else(|e| panic!("{args:?} gave bad JSON ({e}): {}", o.stdout))
}

#[test]
fn json_output_parses_back() {
    let l = json(&["list", "--all", "--json"]);
    assert_eq!(l[0]["name"], "test");
    assert_eq!(l[0]["id"], 1);
    assert_eq!(l[0]["state"], "running");
    assert_eq!(l[0]["uuid"], "6695eb01-f6a4-8304-79aa-97f2502e193f");
    let i = json(&["dominfo", "test", "--json"]);
    assert_eq!(i["max_memory_kib"], 8388608);
    assert_eq!(i["cpus"], 2);
    assert_eq!(i["persistent"], true);
    let s = json(&["domstate", "test", "--json"]);
    assert_eq!((s["state"].as_str(), s["reason"].as_str()), (Some("running"), Some("unknown")));
    let n = json(&["nodeinfo", "--json"]);
    assert_eq!((n["cpus"].as_u64(), n["memory_kib"].as_u64()), (Some(16), Some(3145728)));
    let nl = json(&["net-list", "--all", "--json"]);
    assert_eq!(nl[0]["name"], "default");
    assert_eq!(nl[0]["active"], true);
    let ni = json(&["net-info", "default", "--json"]);
    assert_eq!(ni["bridge"], "virbr0");
    let pl = json(&["pool-list", "--all", "--json"]);
    assert_eq!(pl[0]["capacity"], 107374182400u64);
    let pi = json(&["pool-info", "default-pool", "--json"]);
    assert_eq!(pi["state"], "running");
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = node_uri(dir.path());
    let o = oxvirt(&["-c", &uri, "vol-list images --json; vol-info disk1.img images --json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let mut parts = o.stdout.split("\n\n");
    let vl: serde_json::Value = serde_json::from_str(parts.next().unwrap_or("")).expect("vol-list JSON");
    assert_eq!(vl[0]["name"], "disk1.img");
    assert_eq!(vl[0]["capacity"], 10737418240u64);
    let vi: serde_json::Value = serde_json::from_str(parts.next().unwrap_or("")).expect("vol-info JSON");
    assert_eq!(vi["type"], "file");
    assert_eq!(vi["allocation"], 300u64 << 20);
}

fn fails(args: &[&str], expect: &[&str]) {
    let o = ox(args);
    assert_eq!(o.code, 1, "{args:?} should fail: {}", o.stdout);
    for e in expect {
        assert!(o.stderr.contains(e), "{args:?}: expected {e:?} in stderr: {}", o.stderr);
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    fails(&["bogus"], &["error: unknown command: 'bogus'", "hint: `oxvirt help`"]);
    fails(&["dominfo"], &["error: command 'dominfo' requires <domain> option"]);
    fails(&["list", "--bogus"], &["error: command 'list' doesn't support option --bogus"]);
    fails(&["shutdown", "test", "--mode"], &["error: expected syntax: --mode <string>"]);
    fails(&["shutdown", "test", "--mode", "sideways"], &["Unknown mode sideways value"]);
    fails(&["setmem", "test", "lots"], &["<size>"]);
    fails(&["setvcpus", "test", "many"], &["<count>"]);
    fails(
        &["dominfo", "nope"],
        &["error: failed to get domain 'nope'", "hint: `oxvirt list --all` shows defined domains"],
    );
    fails(&["net-start", "nope"], &["failed to get network 'nope'", "net-list --all"]);
    fails(&["vol-info", "nope"], &["failed to get vol 'nope', specifying --pool might help"]);
    fails(&["uri 'unterminated"], &["missing '"]);
    fails(&["uri \"unterminated"], &["missing \""]);
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<domain type='test'>\n  <name>bad</name>\n  <memory>1</memory\n</domain>\n").expect("write");
    let o = ox(&["define", bad.to_str().unwrap_or_default()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("error: Failed to define domain from"), "{}", o.stderr);
    assert!(o.stderr.contains("line 4, column 1"), "the XML error names line and column: {}", o.stderr);
    let o = oxvirt(&["-r", "-c", D, "define", bad.to_str().unwrap_or_default()]);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("read only") && o.stderr.contains("hint:") && o.stderr.contains("-r/--readonly"),
        "{}",
        o.stderr
    );
    let o = oxvirt(&["-r", "-c", D, "destroy", "test"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("error: Failed to destroy domain 'test'"));
    let o = oxvirt(&["-c", "nope:///x", "list"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("failed to connect to the hypervisor"));
    let o = oxvirt(&["--bogus"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("unsupported option '--bogus'"));
    let o = oxvirt(&["-c"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("requires an argument"));
}

#[test]
fn warnings_from_define_are_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("w.xml");
    std::fs::write(
        &f,
        "<domain type='test'><name>w</name><memory>1024</memory><os><type>hvm</type></os><frobnicate/></domain>",
    )
    .expect("write");
    let o = ox(&["define", f.to_str().unwrap_or_default()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.starts_with("Domain 'w' defined from"));
    assert!(o.stderr.is_empty() || o.stderr.lines().all(|l| l.starts_with("warning: ")), "{}", o.stderr);
}

#[test]
fn help_is_virsh_like() {
    let o = ox(&["help"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.starts_with("Grouped commands:\n\n Domain Management (help keyword 'domain'):\n"));
    assert!(o.stdout.contains("    list                           list domains\n"));
    assert!(o.stdout.contains("--json"));
    let o = ox(&["help", "shutdown"]);
    assert!(o.stdout.starts_with(
        "  NAME\n    shutdown - gracefully shutdown a domain\n\n  SYNOPSIS\n    shutdown <domain> [--mode <string>]\n"
    ));
    assert!(o.stdout.contains("    [--domain] <string>  domain name, id or uuid\n"));
    assert_eq!(ox(&["list", "--help"]).stdout, ox(&["help", "list"]).stdout);
    assert!(ox(&["help", "list"]).stdout.contains("--json"));
    assert!(ox(&["help", "network"]).stdout.contains("net-list"));
    let o = ox(&["help", "nothing"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("command or command group 'nothing' doesn't exist"));
    let o = oxvirt(&["--help"]);
    assert!(o.stdout.contains("-c | --connect=URI"));
}

#[test]
fn global_options() {
    assert_eq!(oxvirt(&["-v"]).stdout, format!("{}\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(oxvirt(&["--version"]).stdout, format!("{}\n", env!("CARGO_PKG_VERSION")));
    assert!(oxvirt(&["-V"]).stdout.contains("Compiled with support for"));
    let o = run(env!("CARGO_BIN_EXE_oxvirt"), &["uri"], None, &[("LIBVIRT_DEFAULT_URI", D)]);
    assert_eq!(o.stdout, "test:///default\n\n");
    assert_eq!(oxvirt(&["-q", "-c", D, "suspend", "test"]).stdout, "");
    assert_eq!(oxvirt(&["--connect=test:///default", "--quiet", "domid", "test"]).stdout, "1\n");
    assert_eq!(oxvirt(&["-qc", D, "domid", "--domain=test"]).stdout, "1\n");
}

#[test]
fn edit_runs_the_editor_and_redefines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let script = |name: &str, body: &str| -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write editor script");
        let _ = std::process::Command::new("chmod").arg("+x").arg(&p).status();
        p.display().to_string()
    };
    let env_run = |editor: &str, input: &str| {
        run(
            env!("CARGO_BIN_EXE_oxvirt"),
            &["-c", D, "edit", "test"],
            Some(input),
            &[("EDITOR", editor), ("VISUAL", "")],
        )
    };
    let o = env_run("true", "");
    assert_eq!((o.code, o.stdout.as_str()), (0, "Domain 'test' XML configuration not changed.\n\n"));
    let o = env_run(&script("more-cpus", "sed -i 's/<vcpu\\([^>]*\\)>2</<vcpu\\1>3</' \"$1\""), "");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "Domain 'test' XML configuration edited.\n\n");
    // Each run is a fresh test:///default, so check the redefinition inside one call.
    let o = run(
        env!("CARGO_BIN_EXE_oxvirt"),
        &["-c", D, "edit test; dumpxml test --inactive"],
        None,
        &[("EDITOR", &script("more-cpus2", "sed -i 's/<vcpu\\([^>]*\\)>2</<vcpu\\1>3</' \"$1\""))],
    );
    assert!(o.stdout.contains(">3</vcpu>"), "{}", o.stdout);
    // A broken document: the error is shown and the user is asked; "n" gives up.
    let o = env_run(&script("break", "sed -i 's/<name>/<nam>/' \"$1\""), "n\n");
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("Failed. Try again? [y,n,i,f,?]: "), "{}", o.stdout);
    assert!(o.stderr.contains("error:"), "{}", o.stderr);
}

#[test]
fn console_without_a_pty_fails_cleanly() {
    let o = ox(&["console", "test"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.starts_with("error: "), "{}", o.stderr);
}

#[test]
fn save_restore_and_managed_save() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("test.save");
    let f = f.to_str().unwrap_or_default();
    let o = ox(&[&format!("save test {f}; domstate test --reason; restore {f}; domstate test --reason; managedsave test; list --all --managed-save; managedsave-remove test; list --all --with-managed-save")]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let expect = format!(
        "\nDomain 'test' saved to {f}\n\nshut off (saved)\n\nDomain restored from {f}\n\nrunning (restored)\n\n\
         \nDomain 'test' state saved by libvirt\n\n Id   Name   State\n--------------------\n -    test   saved\n\n\
         Removed managedsave image for domain 'test'\n Id   Name   State\n--------------------\n\n"
    );
    assert_eq!(o.stdout, expect);
}

/// virsh cannot list test-driver devices (see compare_virsh.rs); the expected texts follow virsh's
/// listing code: names sorted case-insensitively, the tree drawn with `+-` and `|` guides.
#[test]
fn nodedev_list_formats() {
    let o = ox(&["nodedev-list"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "computer\nscsi_host1\nscsi_host11\nscsi_host2\n\n");
    let o = ox(&["nodedev-list", "--tree"]);
    assert_eq!(
        o.stdout,
        "computer\n  |\n  +- scsi_host1\n  |   |\n  |   +- scsi_host11\n  |     \n  +- scsi_host2\n    \n\n"
    );
    assert_eq!(ox(&["nodedev-list", "--cap", "vports"]).stdout, "scsi_host1\nscsi_host2\n\n");
    assert_eq!(ox(&["nodedev-list", "--cap", "system,vports"]).stdout, "computer\nscsi_host1\nscsi_host2\n\n");
    assert_eq!(ox(&["nodedev-list", "--cap", "pci"]).stdout, "\n");
    assert_eq!(ox(&["nodedev-list", "--inactive"]).stdout, "\n");
    let v = json(&["nodedev-list", "--json", "--cap", "fc_host"]);
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 3);
    assert_eq!(arr[1]["name"], "scsi_host11");
    assert_eq!(arr[1]["parent"], "scsi_host1");
    assert_eq!(arr[0]["capabilities"], serde_json::json!(["scsi_host", "fc_host", "vports"]));
    let v = json(&["nodedev-info", "scsi_host11", "--json"]);
    assert_eq!(v["name"], "scsi_host11");
    assert_eq!(v["parent"], "scsi_host1");
    assert_eq!(v["persistent"], true);
    // an HBA by its WWNN,WWPN pair, as virsh allows
    let o = ox(&["nodedev-info", "2000000034563456,1000000034563456"]);
    assert!(o.stdout.starts_with("Name:           scsi_host11\n"), "{}", o.stdout);
    let o = ox(&["nodedev-info", "1,2,3"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("Malformed device value '1,2,3'"), "{}", o.stderr);
}

/// On the QEMU driver the devices are this host's: the list agrees with sysfs.
#[test]
fn nodedev_list_on_the_host() {
    let root = tempfile::tempdir().expect("tempdir");
    let uri = format!("qemu:///embed?root={}", root.path().display());
    let o = oxvirt(&["-c", &uri, "nodedev-list", "--cap", "net"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let n = std::fs::read_dir("/sys/class/net").map(|r| r.count()).unwrap_or(0);
    assert_eq!(o.stdout.lines().filter(|l| l.starts_with("net_")).count(), n, "{}", o.stdout);
    let o = oxvirt(&["-c", &uri, "nodedev-list", "--tree"]);
    assert!(o.stdout.starts_with("computer\n"), "{}", o.stdout);
    let o = oxvirt(&["-c", &uri, "nodedev-dumpxml", "computer"]);
    assert!(o.stdout.contains("<capability type='system'>"), "{}", o.stdout);
}
