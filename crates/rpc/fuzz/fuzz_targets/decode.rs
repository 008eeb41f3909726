#![no_main]
//! Decodes arbitrary bytes as frames and as the payloads the server parses: must never panic.

use libfuzzer_sys::fuzz_target;
use oxvirt_rpc::message::split_frame;
use oxvirt_rpc::protocol::*;
use oxvirt_rpc::xdr::{from_bytes, MESSAGE_MAX};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((m, _))) = split_frame(data, MESSAGE_MAX) {
        let _ = m.payload::<RemoteError>();
    }
    let _ = from_bytes::<ConnectOpenArgs>(data);
    let _ = from_bytes::<RemoteError>(data);
    let _ = from_bytes::<ListAllDomainsRet>(data);
    let _ = from_bytes::<DomainSaveFlagsArgs>(data);
    let _ = from_bytes::<NodeGetInfoRet>(data);
    let _ = from_bytes::<SecurityLabelRet>(data);
    let _ = from_bytes::<EventCallbackLifecycleMsg>(data);
});
