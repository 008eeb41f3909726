//! The command table (name, options, help, handler) and the per-session state commands share.
//! Help text, the parser and the runner all read this one table.

use std::io::Write;

use oxvirt_api::Connect;

use crate::error::CmdError;
use crate::parse::Cmd;
use crate::{
    cmd_domain as dom, cmd_host as host, cmd_iface as ifc, cmd_network as net, cmd_nodedev as nd, cmd_storage as st,
};

pub type Handler = fn(&mut Ctl, &Cmd) -> Result<(), CmdError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKind {
    /// `--flag`
    Bool,
    /// `--opt <number>`, also positional
    Int,
    /// `--opt <string>`, also positional
    Str,
    /// a positional argument (`<domain>`), also `--domain <string>`
    Data,
    /// the remaining positional arguments
    Argv,
}

#[derive(Debug)]
pub struct OptDef {
    pub name: &'static str,
    pub kind: OptKind,
    pub required: bool,
    /// Only `--name value`, never filled positionally.
    pub named_only: bool,
    pub help: &'static str,
}

const fn o(name: &'static str, kind: OptKind, required: bool, help: &'static str) -> OptDef {
    OptDef { name, kind, required, named_only: false, help }
}
/// `--name`
const fn flag(name: &'static str, help: &'static str) -> OptDef {
    o(name, OptKind::Bool, false, help)
}
/// required `<name>`
const fn arg(name: &'static str, help: &'static str) -> OptDef {
    o(name, OptKind::Data, true, help)
}
/// optional `[--name <string>]`
const fn string(name: &'static str, help: &'static str) -> OptDef {
    o(name, OptKind::Str, false, help)
}
const fn named(name: &'static str, help: &'static str) -> OptDef {
    OptDef { name, kind: OptKind::Str, required: false, named_only: true, help }
}
const JSON: OptDef = flag("json", "print the result as JSON (oxvirt extension; stable keys)");
const DOMAIN: OptDef = arg("domain", "domain name, id or uuid");
const NETWORK: OptDef = arg("network", "network name or uuid");
const POOL: OptDef = arg("pool", "pool name or uuid");
const NODEDEV: OptDef = arg("device", "device name or wwn pair in 'wwnn,wwpn' format");
const VOL: OptDef = arg("vol", "vol name, key or path");
const VOL_POOL: OptDef = string("pool", "pool name or uuid");
const FILE: OptDef = arg("file", "file containing an XML description");

#[derive(Debug)]
pub struct CmdDef {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Help group keyword (see [`GROUPS`]).
    pub group: &'static str,
    pub help: &'static str,
    pub desc: &'static str,
    pub opts: &'static [OptDef],
    pub run: Handler,
    /// Runs without opening a connection (help, quit, connect).
    pub no_connect: bool,
}

const fn c(
    group: &'static str,
    name: &'static str,
    help: &'static str,
    desc: &'static str,
    opts: &'static [OptDef],
    run: Handler,
) -> CmdDef {
    CmdDef { name, aliases: &[], group, help, desc, opts, run, no_connect: false }
}

/// (title, keyword) in the order `help` prints them.
pub const GROUPS: &[(&str, &str)] = &[
    ("Domain Management", "domain"),
    ("Domain Monitoring", "monitor"),
    ("Host and Hypervisor", "host"),
    ("Networking", "network"),
    ("Node Device", "nodedev"),
    ("Storage Pool", "pool"),
    ("Storage Volume", "volume"),
    ("Virsh itself", "virsh"),
];

pub static COMMANDS: &[CmdDef] = &[
    // Domain management
    c("domain", "autostart", "autostart a domain", "Configure a domain to be automatically started at boot.",
        &[DOMAIN, flag("disable", "disable autostarting")], dom::autostart),
    c("domain", "console", "connect to the guest console", "Connect the virtual serial console for the guest (Ctrl+] leaves).",
        &[DOMAIN, string("devname", "character device name"), flag("force", "force console connection (disconnect already connected sessions)"), flag("safe", "only connect if safe console handling is supported")], dom::console),
    c("domain", "create", "create a domain from an XML file", "Create a domain from an XML file and start it; it is transient unless defined.",
        &[FILE, flag("console", "attach to console after creation"), flag("paused", "leave the guest paused after creation"), flag("autodestroy", "automatically destroy the guest when virsh disconnects"), flag("validate", "validate the XML against the schema")], dom::create),
    c("domain", "define", "define (but don't start) a domain from an XML file", "Define a domain.",
        &[FILE, flag("validate", "validate the XML against the schema")], dom::define),
    c("domain", "destroy", "destroy (stop) a domain", "Forcefully stop a given domain, but leave its resources intact.",
        &[DOMAIN, flag("graceful", "terminate gracefully"), flag("remove-logs", "remove domain logs")], dom::destroy),
    c("domain", "domid", "convert a domain name or UUID to domain id", "", &[DOMAIN], dom::domid),
    c("domain", "domname", "convert a domain id or UUID to domain name", "", &[DOMAIN], dom::domname),
    c("domain", "domuuid", "convert a domain name or id to domain UUID", "", &[DOMAIN], dom::domuuid),
    c("domain", "dumpxml", "domain information in XML", "Output the domain information as an XML dump to stdout.",
        &[DOMAIN, flag("inactive", "show inactive defined XML"), flag("security-info", "include security sensitive information in XML dump"), flag("update-cpu", "update guest CPU according to host CPU"), flag("migratable", "provide XML suitable for migrations")], dom::dumpxml),
    c("domain", "edit", "edit XML configuration for a domain", "Edit the XML configuration for a domain ($VISUAL or $EDITOR).",
        &[DOMAIN, flag("skip-validate", "skip validation of the XML against the schema")], dom::edit),
    c("domain", "managedsave", "managed save of a domain state", "Save and destroy a running domain, so it can be restarted from the same state at a later time.",
        &[DOMAIN, flag("bypass-cache", "avoid file system cache when saving"), flag("running", "set domain to be running on next start"), flag("paused", "set domain to be paused on next start"), flag("verbose", "display the progress of save")], dom::managedsave),
    c("domain", "managedsave-remove", "Remove managed save of a domain", "Remove an existing managed save state file from a domain", &[DOMAIN], dom::managedsave_remove),
    c("domain", "reboot", "reboot a domain", "Run a reboot command in the target domain.",
        &[DOMAIN, string("mode", "shutdown mode: acpi|agent|initctl|signal|paravirt")], dom::reboot),
    c("domain", "reset", "reset a domain", "Reset the target domain as if by power button", &[DOMAIN], dom::reset),
    c("domain", "restore", "restore a domain from a saved state in a file", "Restore a domain.",
        &[arg("file", "the state to restore"), flag("bypass-cache", "avoid file system cache when restoring"), named("xml", "filename containing updated XML for the target"), flag("running", "restore domain into running state"), flag("paused", "restore domain into paused state")], dom::restore),
    c("domain", "resume", "resume a domain", "Resume a previously suspended domain.", &[DOMAIN], dom::resume),
    c("domain", "save", "save a domain state to a file", "Save the RAM state of a running domain.",
        &[DOMAIN, arg("file", "where to save the data"), flag("bypass-cache", "avoid file system cache when saving"), named("xml", "filename containing updated XML for the target"), flag("running", "set domain to be running on restore"), flag("paused", "set domain to be paused on restore"), flag("verbose", "display the progress of save")], dom::save),
    c("domain", "save-image-dumpxml", "saved state domain information in XML", "Dump XML of domain information for a saved state file to stdout.",
        &[arg("file", "saved state file to read"), flag("security-info", "include security sensitive information in XML dump")], dom::save_image_dumpxml),
    c("domain", "setmem", "change memory allocation", "Change the current memory allocation in the guest domain.",
        &[DOMAIN, arg("size", "new memory size, as scaled integer (default KiB)"), flag("config", "affect next boot"), flag("live", "affect running domain"), flag("current", "affect current domain")], dom::setmem),
    c("domain", "setvcpus", "change number of virtual CPUs", "Change the number of virtual CPUs in the guest domain.",
        &[DOMAIN, o("count", OptKind::Int, true, "number of virtual CPUs"), flag("maximum", "set maximum limit on next boot"), flag("config", "affect next boot"), flag("live", "affect running domain"), flag("current", "affect current domain"), flag("guest", "modify cpu state in the guest"), flag("hotpluggable", "make added vcpus hot(un)pluggable")], dom::setvcpus),
    c("domain", "shutdown", "gracefully shutdown a domain", "Run shutdown in the target domain.",
        &[DOMAIN, string("mode", "shutdown mode: acpi|agent|initctl|signal|paravirt")], dom::shutdown),
    c("domain", "start", "start a (previously defined) inactive domain", "Start a domain, either from the last managedsave state, or via a fresh boot if no managedsave state is present.",
        &[DOMAIN, flag("console", "attach to console after creation"), flag("paused", "leave the guest paused after creation"), flag("autodestroy", "automatically destroy the guest when virsh disconnects"), flag("bypass-cache", "avoid file system cache when loading"), flag("force-boot", "force fresh boot by discarding any managed save")], dom::start),
    c("domain", "suspend", "suspend a domain", "Suspend a running domain.", &[DOMAIN], dom::suspend),
    c("domain", "undefine", "undefine a domain", "Undefine an inactive domain, or convert persistent to transient.",
        &[DOMAIN, flag("managed-save", "remove domain managed state file"), flag("snapshots-metadata", "remove all domain snapshot metadata, if inactive"), flag("checkpoints-metadata", "remove all domain checkpoint metadata, if inactive"), flag("nvram", "remove nvram file"), flag("keep-nvram", "keep nvram file"), flag("tpm", "remove TPM state"), flag("keep-tpm", "keep TPM state")], dom::undefine),
    c("domain", "attach-interface", "attach network interface", "Attach new network interface.", &[
        DOMAIN, arg("type", "network interface type"), arg("source", "source of network interface"),
        string("target", "target network name"), string("mac", "MAC address"), string("script", "script used to bridge network interface"),
        string("model", "model type"), string("alias", "custom alias name of interface device"),
        string("inbound", "control domain's incoming traffics"), string("outbound", "control domain's outgoing traffics"),
        flag("persistent", "make live change persistent"), flag("config", "affect next boot"), flag("live", "affect running domain"), flag("current", "affect current domain"),
        flag("print-xml", "print XML document rather than attach the interface"), flag("managed", "libvirt will automatically detach/attach the device from/to host"),
        string("source-mode", "mode attribute of <source/> element"),
    ], ifc::attach_interface),
    c("domain", "detach-interface", "detach network interface", "Detach network interface.", &[
        DOMAIN, arg("type", "network interface type"), string("mac", "MAC address"),
        flag("persistent", "make live change persistent"), flag("config", "affect next boot"), flag("live", "affect running domain"), flag("current", "affect current domain"),
        flag("print-xml", "print XML document rather than detach the interface"),
    ], ifc::detach_interface),
    c("domain", "domif-setlink", "set link state of a virtual interface", "Set link state of a domain's virtual interface. This command wraps usage of update-device command.", &[
        DOMAIN, arg("interface", "interface device (MAC Address)"), arg("state", "new state of the device"),
        flag("persistent", "persist interface state"), flag("config", "affect next boot"), flag("print-xml", "print XML document rather than set the interface link state"),
    ], ifc::domif_setlink),
    c("domain", "domiftune", "get/set parameters of a virtual interface", "Get/set parameters of a domain's virtual interface.", &[
        DOMAIN, arg("interface", "interface device (MAC Address)"),
        string("inbound", "control domain's incoming traffics"), string("outbound", "control domain's outgoing traffics"),
        flag("config", "affect next boot"), flag("live", "affect running domain"), flag("current", "affect current domain"),
    ], ifc::domiftune),
    c("domain", "maxvcpus", "connection vcpu maximum", "Show maximum number of virtual CPUs for guests on this connection.",
        &[string("type", "domain type")], ifc::maxvcpus),
    c("domain", "vcpucount", "domain vcpu counts", "Returns the number of virtual CPUs used by the domain.", &[
        DOMAIN, flag("maximum", "get maximum count of vcpus"), flag("active", "get number of currently active vcpus"),
        flag("live", "get value from running domain"), flag("config", "get value to be used on next boot"), flag("current", "get value according to current domain state"),
        flag("guest", "retrieve vcpu count from the guest instead of the hypervisor"),
    ], ifc::vcpucount),
    // Domain monitoring
    c("monitor", "domblklist", "list all domain blocks", "Get the summary of block devices for a domain.",
        &[DOMAIN, flag("inactive", "get inactive rather than running configuration"), flag("details", "additionally display the type and device value")], ifc::domblklist),
    c("monitor", "domif-getlink", "get link state of a virtual interface", "Get link state of a domain's virtual interface.",
        &[DOMAIN, arg("interface", "interface device (MAC Address)"), flag("persistent", "Get persistent interface state"), flag("config", "Get persistent interface state")], ifc::domif_getlink),
    c("monitor", "domifaddr", "Get network interfaces' addresses for a running domain", "Get network interfaces' addresses for a running domain",
        &[DOMAIN, string("interface", "network interface name"), flag("full", "always display names and MACs of interfaces"), string("source", "address source: 'lease', 'agent', or 'arp'"), JSON], ifc::domifaddr),
    c("monitor", "domiflist", "list all domain virtual interfaces", "Get the summary of virtual interfaces for a domain.",
        &[DOMAIN, flag("inactive", "get inactive rather than running configuration"), JSON], ifc::domiflist),
    c("monitor", "dominfo", "domain information", "Returns basic information about the domain.", &[DOMAIN, JSON], dom::dominfo),
    c("monitor", "domstats", "get statistics about one or multiple domains", "Gets statistics about one or more (or all) domains.", &[
        flag("state", "report domain state"),
        flag("cpu-total", "report domain physical cpu usage"),
        flag("balloon", "report domain balloon statistics"),
        flag("vcpu", "report domain virtual cpu information"),
        flag("interface", "report domain network interface information"),
        flag("block", "report domain block device statistics"),
        JSON,
        o("domain", OptKind::Argv, false, "list of domains to get stats for"),
    ], dom::domstats),
    c("monitor", "domstate", "domain state", "Returns state about a domain.", &[DOMAIN, flag("reason", "also print reason for the state"), JSON], dom::domstate),
    c("monitor", "list", "list domains", "Returns list of domains.",
        &[flag("inactive", "list inactive domains"), flag("all", "list inactive & active domains"), flag("transient", "list transient domains"), flag("persistent", "list persistent domains"),
          flag("with-snapshot", "list domains with existing snapshot"), flag("without-snapshot", "list domains without a snapshot"),
          flag("state-running", "list domains in running state"), flag("state-paused", "list domains in paused state"), flag("state-shutoff", "list domains in shutoff state"), flag("state-other", "list domains in other states"),
          flag("autostart", "list domains with autostart enabled"), flag("no-autostart", "list domains with autostart disabled"), flag("with-managed-save", "list domains with managed save state"), flag("without-managed-save", "list domains without managed save"),
          flag("uuid", "list uuid's only"), flag("name", "list domain names only"), flag("id", "list domain IDs only"), flag("table", "list table (default)"), flag("managed-save", "mark inactive domains with managed save state"), flag("title", "show domain title"), JSON], dom::list),
    // Host
    c("host", "capabilities", "capabilities", "Returns capabilities of hypervisor/driver.", &[], host::capabilities),
    c("host", "domcapabilities", "domain capabilities", "Returns capabilities of emulator with respect to host and libvirt.", &[
        string("virttype", "virtualization type (/domain/@type)"),
        string("emulatorbin", "path to emulator binary (/domain/devices/emulator)"),
        string("arch", "domain architecture (/domain/os/type/@arch)"),
        string("machine", "machine type (/domain/os/type/@machine)"),
    ], host::domcapabilities),
    c("host", "hostname", "print the hypervisor hostname", "", &[], host::hostname),
    c("host", "nodeinfo", "node information", "Returns basic information about the node.", &[JSON], host::nodeinfo),
    c("host", "uri", "print the hypervisor canonical URI", "", &[], host::uri),
    c("host", "version", "show version", "Display the system version information.", &[flag("daemon", "report daemon version too")], host::version),
    // Networks
    c("network", "net-autostart", "autostart a network", "Configure a network to be automatically started at boot.", &[NETWORK, flag("disable", "disable autostarting")], net::autostart),
    c("network", "net-create", "create a network from an XML file", "Create a network.", &[FILE, flag("validate", "validate the XML against the schema")], net::create),
    c("network", "net-define", "define an inactive persistent virtual network or modify an existing persistent one from an XML file", "Define or modify a persistent virtual network.", &[FILE, flag("validate", "validate the XML against the schema")], net::define),
    c("network", "net-destroy", "destroy (stop) a network", "Forcefully stop a given network.", &[NETWORK], net::destroy),
    c("network", "net-dumpxml", "network information in XML", "Output the network information as an XML dump to stdout.", &[NETWORK, flag("inactive", "show inactive defined XML")], net::dumpxml),
    c("network", "net-edit", "edit XML configuration for a network", "Edit the XML configuration for a network.", &[NETWORK], net::edit),
    c("network", "net-info", "network information", "Returns basic information about the network", &[NETWORK, JSON], net::info),
    c("network", "net-list", "list networks", "Returns list of networks.",
        &[flag("inactive", "list inactive networks"), flag("all", "list inactive & active networks"), flag("persistent", "list persistent networks"), flag("transient", "list transient networks"), flag("autostart", "list networks with autostart enabled"), flag("no-autostart", "list networks with autostart disabled"), flag("uuid", "list uuid's only"), flag("name", "list network names only"), flag("table", "list table (default)"), JSON], net::list),
    c("network", "net-name", "convert a network UUID to network name", "", &[arg("network", "network uuid")], net::name),
    c("network", "net-start", "start a (previously defined) inactive network", "Start a network.", &[NETWORK], net::start),
    c("network", "net-undefine", "undefine a persistent network", "Undefine the configuration for a persistent network.", &[NETWORK], net::undefine),
    c("network", "net-dhcp-leases", "print lease info for a given network", "Print lease info for a given network",
        &[NETWORK, string("mac", "MAC address"), JSON], net::dhcp_leases),
    c("network", "net-update", "update parts of an existing network's configuration", "", &[
        NETWORK, arg("command", "type of update (add-first, add-last (add), delete, or modify)"), arg("section", "which section of network configuration to update"),
        arg("xml", "name of file containing xml (or, if it starts with '<', the complete xml element itself) to add/modify, or to be matched for search"),
        o("parent-index", OptKind::Int, false, "which parent object to search through"),
        flag("config", "affect next network startup"), flag("live", "affect running network"), flag("current", "affect current state of network"),
    ], net::update),
    c("network", "net-uuid", "convert a network name to network UUID", "", &[arg("network", "network name")], net::uuid),
    // Node devices
    c("nodedev", "nodedev-dumpxml", "node device details in XML", "Output the node device details as an XML dump to stdout.", &[NODEDEV], nd::dumpxml),
    c("nodedev", "nodedev-info", "node device information", "Returns basic information about the node device", &[NODEDEV, JSON], nd::info),
    c("nodedev", "nodedev-list", "enumerate devices on this host", "Returns list of devices on this host.",
        &[flag("tree", "list devices in a tree"), string("cap", "capability names, separated by comma"), flag("inactive", "list inactive devices"), flag("all", "list inactive & active devices"), JSON], nd::list),
    // Pools
    c("pool", "pool-autostart", "autostart a pool", "Configure a pool to be automatically started at boot.", &[POOL, flag("disable", "disable autostarting")], st::pool_autostart),
    c("pool", "pool-build", "build a pool", "Build a given pool.", &[POOL, flag("no-overwrite", "do not overwrite any existing data"), flag("overwrite", "overwrite any existing data")], st::pool_build),
    c("pool", "pool-create", "create a pool from an XML file", "Create a pool.", &[FILE, flag("build", "build the pool as normal"), flag("no-overwrite", "build the pool without overwriting the existing pool data"), flag("overwrite", "overwrite any existing data")], st::pool_create),
    c("pool", "pool-define", "define an inactive persistent storage pool or modify an existing persistent one from an XML file", "Define or modify a persistent storage pool.", &[FILE, flag("validate", "validate the XML against the schema")], st::pool_define),
    c("pool", "pool-create-as", "create a pool from a set of args", "Create a pool.", &[arg("name", "name of the pool"), arg("type", "type of the pool"), flag("print-xml", "print XML document, but don't define/create"), string("source-host", "source-host for underlying storage"), string("source-path", "source path for underlying storage"), string("source-dev", "source device for underlying storage"), string("source-name", "source name for underlying storage"), string("target", "target for underlying storage"), string("source-format", "format for underlying storage"), flag("build", "build the pool as normal"), flag("no-overwrite", "build the pool without overwriting the existing pool data"), flag("overwrite", "overwrite any existing data")], st::pool_create_as),
    c("pool", "pool-define-as", "define a pool from a set of args", "Define a pool.", &[arg("name", "name of the pool"), arg("type", "type of the pool"), flag("print-xml", "print XML document, but don't define/create"), string("source-host", "source-host for underlying storage"), string("source-path", "source path for underlying storage"), string("source-dev", "source device for underlying storage"), string("source-name", "source name for underlying storage"), string("target", "target for underlying storage"), string("source-format", "format for underlying storage")], st::pool_define_as),
    c("pool", "pool-delete", "delete a pool", "Delete a given pool.", &[POOL], st::pool_delete),
    c("pool", "pool-destroy", "destroy (stop) a pool", "Forcefully stop a given pool. Raw data in the pool is untouched", &[POOL], st::pool_destroy),
    c("pool", "pool-dumpxml", "pool information in XML", "Output the pool information as an XML dump to stdout.", &[POOL, flag("inactive", "show inactive defined XML")], st::pool_dumpxml),
    c("pool", "pool-info", "storage pool information", "Returns basic information about the storage pool.", &[POOL, flag("bytes", "Reture pool info in bytes"), JSON], st::pool_info),
    c("pool", "pool-list", "list pools", "Returns list of pools.",
        &[flag("inactive", "list inactive pools"), flag("all", "list inactive & active pools"), flag("transient", "list transient pools"), flag("persistent", "list persistent pools"), flag("autostart", "list pools with autostart enabled"), flag("no-autostart", "list pools with autostart disabled"), named("type", "only list pool of specified type(s) (if supported)"), flag("details", "display extended details for pools"), flag("uuid", "list UUID of active pools only"), flag("name", "list name of active pools only"), JSON], st::pool_list),
    c("pool", "pool-refresh", "refresh a pool", "Refresh a given pool.", &[POOL], st::pool_refresh),
    c("pool", "pool-start", "start a (previously defined) inactive pool", "Start a pool.", &[POOL, flag("build", "build the pool as normal"), flag("no-overwrite", "build the pool without overwriting the existing pool data"), flag("overwrite", "overwrite any existing data")], st::pool_start),
    c("pool", "pool-undefine", "undefine an inactive pool", "Undefine the configuration for an inactive pool.", &[POOL], st::pool_undefine),
    // Volumes
    c("volume", "vol-clone", "clone a volume.", "Clone an existing volume within the parent pool.", &[arg("vol", "vol name, key or path"), arg("newname", "clone name"), VOL_POOL, flag("prealloc-metadata", "preallocate metadata (for qcow2 instead of full allocation)"), flag("reflink", "use btrfs COW lightweight copy"), flag("print-xml", "print XML document instead of cloning the volume")], st::vol_clone),
    c("volume", "vol-create-as", "create a volume from a set of args", "Create a vol.", &[POOL, arg("name", "name of the volume"), arg("capacity", "size of the vol, as scaled integer (default bytes)"), string("allocation", "initial allocation size, as scaled integer (default bytes)"), string("format", "file format type raw,bochs,qcow,qcow2,qed,vmdk"), string("backing-vol", "the backing volume if taking a snapshot"), string("backing-vol-format", "format of backing volume if taking a snapshot"), flag("prealloc-metadata", "preallocate metadata (for qcow2 instead of full allocation)"), flag("print-xml", "print XML document, but don't define/create")], st::vol_create_as),
    c("volume", "vol-create", "create a vol from an XML file", "Create a vol.", &[POOL, FILE, flag("prealloc-metadata", "preallocate metadata (for qcow2 instead of full allocation)"), flag("validate", "validate the XML against the schema")], st::vol_create),
    c("volume", "vol-delete", "delete a vol", "Delete a given vol.", &[VOL, VOL_POOL, flag("delete-snapshots", "delete snapshots associated with volume (must be supported by storage driver)")], st::vol_delete),
    c("volume", "vol-dumpxml", "vol information in XML", "Output the vol information as an XML dump to stdout.", &[VOL, VOL_POOL], st::vol_dumpxml),
    c("volume", "vol-info", "storage vol information", "Returns basic information about the storage vol.", &[VOL, VOL_POOL, flag("bytes", "sizes are represented in bytes rather than pretty units"), flag("physical", "return the physical size of the volume in allocation field"), JSON], st::vol_info),
    c("volume", "vol-key", "returns the volume key for a given volume name or path", "", &[arg("vol", "volume name or path"), VOL_POOL], st::vol_key),
    c("volume", "vol-list", "list vols", "Returns list of vols by pool.", &[POOL, flag("details", "display extended details for volumes"), JSON], st::vol_list),
    c("volume", "vol-name", "returns the volume name for a given volume key or path", "", &[arg("vol", "volume key or path")], st::vol_name),
    c("volume", "vol-path", "returns the volume path for a given volume name or key", "", &[arg("vol", "volume name or key"), VOL_POOL], st::vol_path),
    c("volume", "vol-resize", "resize a vol", "Resizes a storage volume. This is safe only for storage volumes not in use by an active guest.\nSee blockresize for live resizing.", &[VOL, arg("capacity", "new capacity for the vol, as scaled integer (default bytes)"), VOL_POOL, flag("allocate", "allocate the new capacity, rather than leaving it sparse"), flag("delta", "use capacity as a delta to current size, rather than the new size"), flag("shrink", "allow the resize to shrink the volume")], st::vol_resize),
    c("volume", "vol-wipe", "wipe a vol", "Ensure data previously on a volume is not accessible to future reads.", &[VOL, VOL_POOL, string("algorithm", "perform selected wiping algorithm")], st::vol_wipe),
    // The shell itself
    CmdDef { name: "connect", aliases: &[], group: "virsh", help: "(re)connect to hypervisor", desc: "Connect to local hypervisor. This is built-in command after shell start up.",
        opts: &[string("name", "hypervisor connection URI"), flag("readonly", "read-only connection")], run: host::connect, no_connect: true },
    CmdDef { name: "exit", aliases: &[], group: "virsh", help: "quit this interactive terminal", desc: "", opts: &[], run: host::quit, no_connect: true },
    CmdDef { name: "help", aliases: &[], group: "virsh", help: "print help", desc: "Prints global help, command specific help, or help for a group of related commands",
        opts: &[o("command", OptKind::Data, false, "Prints global help, command specific help, or help for a group of related commands")], run: host::help, no_connect: true },
    CmdDef { name: "quit", aliases: &[], group: "virsh", help: "quit this interactive terminal", desc: "", opts: &[], run: host::quit, no_connect: true },
];

/// Per-invocation state: connection settings, the lazily opened connection, output buffer.
pub struct Ctl {
    pub uri: Option<String>,
    pub readonly: bool,
    pub quiet: bool,
    /// Interactive shell; cleared by `quit`.
    pub imode: bool,
    /// Set by `quit`/`exit`: stop running further commands.
    pub stop: bool,
    conn: Option<Connect>,
    out: Vec<u8>,
}

impl Ctl {
    pub fn new(uri: Option<String>, readonly: bool, quiet: bool) -> Self {
        Ctl { uri, readonly, quiet, imode: false, stop: false, conn: None, out: Vec::with_capacity(4096) }
    }

    /// The connection, opened on first use like virsh does at start-up.
    pub fn conn(&mut self) -> Result<Connect, CmdError> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let flags = if self.readonly { oxvirt_api::flags::CONNECT_RO } else { 0 };
        let c = Connect::open_flags(self.uri.as_deref(), flags)
            .map_err(|e| CmdError::api("failed to connect to the hypervisor", e))?;
        self.conn = Some(c.clone());
        Ok(c)
    }

    pub fn set_conn(&mut self, c: Option<Connect>) {
        self.conn = c;
    }

    /// Command output (vshPrint): always printed.
    pub fn print(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Status chatter (vshPrintExtra): suppressed by `--quiet`.
    pub fn extra(&mut self, s: &str) {
        if !self.quiet {
            self.print(s);
        }
    }

    pub fn flush(&mut self) {
        let mut so = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) is not worth a panic; the next write reports nothing either.
        let _ = so.write_all(&self.out);
        let _ = so.flush();
        self.out.clear();
    }

    pub fn print_json(&mut self, v: &serde_json::Value) -> Result<(), CmdError> {
        let s = serde_json::to_string_pretty(v).map_err(|e| CmdError::Failed(format!("cannot format JSON: {e}")))?;
        self.print(&s);
        self.print("\n");
        Ok(())
    }
}

/// Runs parsed commands like virsh: each one's error is reported and the next still runs; a
/// blank line follows each command unless quiet; the result is the last command's.
pub fn run_commands(ctl: &mut Ctl, cmds: &[Cmd]) -> bool {
    let mut ok = true;
    for cmd in cmds {
        let res = if cmd.def.no_connect { Ok(()) } else { ctl.conn().map(|_| ()) };
        let res = res.and_then(|_| (cmd.def.run)(ctl, cmd));
        ctl.flush();
        ok = match res {
            Ok(()) => true,
            Err(e) => {
                let mut se = std::io::stderr().lock();
                let _ = se.write_all(e.report().as_bytes());
                false
            }
        };
        if ctl.stop {
            return ok;
        }
        ctl.extra("\n");
        ctl.flush();
    }
    ok
}
