//! Prints what `virsh -c URI` shows for the default objects, to compare with libvirt by hand:
//! `cargo run -p oxvirt-driver-test --example dump [URI]`.

fn main() -> Result<(), oxvirt_api::Error> {
    oxvirt_driver_test::register();
    let uri = std::env::args().nth(1).unwrap_or_else(|| "test:///default".into());
    let c = oxvirt_api::Connect::open(Some(&uri))?;
    for d in c.list_all_domains(oxvirt_api::ConnectListAllDomainsFlags::empty())? {
        let i = d.info()?;
        println!("== domain {} id {} {:?} {:?}", d.name(), d.id(), d.state()?, i);
        print!("{}", d.xml_desc(oxvirt_api::DomainXmlFlags::empty())?);
    }
    for n in c.list_all_networks(0)? {
        println!("== network {} active {}", n.name(), n.is_active()?);
        print!("{}", n.xml_desc(0)?);
    }
    println!("== node {:?}", c.node_info()?);
    Ok(())
}
