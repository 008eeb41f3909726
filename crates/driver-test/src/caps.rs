//! The capabilities XML of the test driver's fake host: an i686 machine with the NUMA cells of
//! its state, guests of os types hvm and xen, emulator `/usr/bin/test-hv` (libvirt's values).

use std::fmt::Write;

use crate::state::Cell;

/// Page sizes the fake host offers, KiB.
const PAGE_SIZES: [u64; 4] = [4, 8, 2048, 1024 * 1024];

pub fn capabilities_xml(cells: &[Cell]) -> String {
    let mut x = String::from("<capabilities>\n\n  <host>\n    <cpu>\n      <arch>i686</arch>\n");
    x.push_str("      <features>\n        <pae/>\n        <nonpae/>\n      </features>\n");
    for p in PAGE_SIZES {
        let _ = writeln!(x, "      <pages unit='KiB' size='{p}'/>");
    }
    x.push_str("    </cpu>\n    <power_management/>\n    <iommu support='no'/>\n");
    if !cells.is_empty() {
        let _ = writeln!(x, "    <topology>\n      <cells num='{}'>", cells.len());
        let mut cpu_id = 0u32;
        for (i, c) in cells.iter().enumerate() {
            let _ = writeln!(x, "        <cell id='{i}'>\n          <memory unit='KiB'>{}</memory>", c.mem);
            // The second cell's smallest page is 8 KiB in libvirt's fake host.
            let first = if i == 1 { PAGE_SIZES[1] } else { PAGE_SIZES[0] };
            let _ = writeln!(x, "          <pages unit='KiB' size='{first}'>{}</pages>", c.mem / first);
            for p in &PAGE_SIZES[2..] {
                let _ = writeln!(x, "          <pages unit='KiB' size='{p}'>0</pages>");
            }
            let _ = writeln!(x, "          <cpus num='{}'>", c.cpus);
            for core in 0..c.cpus {
                let _ = writeln!(
                    x,
                    "            <cpu id='{cpu_id}' socket_id='{i}' die_id='0' core_id='{core}' siblings='{cpu_id}'/>"
                );
                cpu_id += 1;
            }
            x.push_str("          </cpus>\n        </cell>\n");
        }
        x.push_str("      </cells>\n    </topology>\n");
    }
    x.push_str("    <secmodel>\n      <model>testSecurity</model>\n      <doi></doi>\n    </secmodel>\n  </host>\n\n");
    for os in ["hvm", "xen"] {
        let _ = write!(
            x,
            "  <guest>\n    <os_type>{os}</os_type>\n    <arch name='i686'>\n      <wordsize>32</wordsize>\n      \
             <emulator>/usr/bin/test-hv</emulator>\n      <domain type='test'/>\n    </arch>\n    <features>\n      \
             <pae/>\n      <nonpae/>\n    </features>\n  </guest>\n\n"
        );
    }
    x.push_str("</capabilities>\n");
    x
}
