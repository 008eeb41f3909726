//! Property tests: every value survives an encode/decode round trip, and no byte string makes
//! the decoders or the server session panic.

use std::sync::{Arc, Mutex};

use oxvirt_rpc::message::{split_frame, Message};
use oxvirt_rpc::protocol::*;
use oxvirt_rpc::xdr::{self, Array, FixedOpaque, Opaque};
use oxvirt_rpc::{xdr_enum, xdr_struct, xdr_union, Session, SessionConfig, Sink};
use proptest::prelude::*;

xdr_enum! {
    enum Colour { Red = 0, Green = 1, Blue = 7 }
}

xdr_union! {
    enum Value: i32 { 1 => Int(i32), 2 => Text(String), 3 => Nothing(()), -4 => Big(u64) }
}

xdr_struct! {
    struct Everything {
        a: u32,
        b: i32,
        c: u64,
        d: i64,
        e: bool,
        f: u8,
        g: i8,
        h: u16,
        i: i16,
        s: String,
        o: Option<String>,
        arr: Array<Value, 8>,
        fixed: [i8; 5],
        op: Opaque<64>,
        fo: FixedOpaque<6>,
        colour: Colour,
        uuid: uuid::Uuid,
        dom: Option<NonnullDomain>,
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::Int),
        ".{0,20}".prop_map(Value::Text),
        Just(Value::Nothing(())),
        any::<u64>().prop_map(Value::Big),
    ]
}

prop_compose! {
    fn everything()(
        a in any::<u32>(), b in any::<i32>(), c in any::<u64>(), d in any::<i64>(), e in any::<bool>(),
        f in any::<u8>(), g in any::<i8>(), h in any::<u16>(), i in any::<i16>(),
        s in ".{0,40}", o in proptest::option::of(".{0,10}"),
        arr in proptest::collection::vec(value(), 0..8),
        fixed in any::<[i8; 5]>(), op in proptest::collection::vec(any::<u8>(), 0..64),
        fo in any::<[u8; 6]>(), colour in prop_oneof![Just(Colour::Red), Just(Colour::Green), Just(Colour::Blue)],
        uuid in any::<u128>(), dom in proptest::option::of(("[a-z]{1,8}", any::<u128>(), any::<i32>())),
    ) -> Everything {
        Everything {
            a, b, c, d, e, f, g, h, i, s, o, arr: Array(arr), fixed, op: Opaque(op), fo: FixedOpaque(fo), colour,
            uuid: uuid::Uuid::from_u128(uuid),
            dom: dom.map(|(name, u, id)| NonnullDomain { name, uuid: uuid::Uuid::from_u128(u), id }),
        }
    }
}

fn session() -> (Session, Arc<Mutex<Vec<Message>>>) {
    oxvirt_driver_test::register();
    let out = Arc::new(Mutex::new(Vec::new()));
    let o = out.clone();
    let sink: Sink = Arc::new(move |m| {
        o.lock().unwrap().push(m);
        true
    });
    (
        Session::new(
            SessionConfig { readonly: false, default_uri: Some("test:///default".into()), ..Default::default() },
            sink,
        ),
        out,
    )
}

proptest! {
    #[test]
    fn round_trip(v in everything()) {
        let b = xdr::to_bytes(&v);
        prop_assert_eq!(b.len() % 4, 0);
        prop_assert_eq!(xdr::from_bytes::<Everything>(&b).unwrap(), v);
    }

    #[test]
    fn truncation_is_an_error(v in everything(), cut in 1usize..64) {
        let b = xdr::to_bytes(&v);
        let cut = cut.min(b.len());
        prop_assert!(xdr::from_bytes::<Everything>(&b[..b.len() - cut]).is_err());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = xdr::from_bytes::<Everything>(&bytes);
        let _ = xdr::from_bytes::<RemoteError>(&bytes);
        let _ = xdr::from_bytes::<ListAllDomainsRet>(&bytes);
        let _ = xdr::from_bytes::<NodeGetInfoRet>(&bytes);
        let _ = split_frame(&bytes, xdr::MESSAGE_MAX);
    }

    /// Every procedure number, fed a random body, answers (an error, mostly) without panicking.
    #[test]
    fn session_survives_garbage_calls(proc_ in 0i32..450, body in proptest::collection::vec(any::<u8>(), 0..128)) {
        let (s, out) = session();
        let call = |proc_: i32, body: Vec<u8>| Message {
            header: oxvirt_rpc::Header {
                prog: REMOTE_PROGRAM, vers: REMOTE_VERSION, proc_,
                mtype: oxvirt_rpc::MessageType::Call, serial: 1, status: oxvirt_rpc::Status::Ok,
            },
            body,
        };
        s.handle(call(procs::CONNECT_OPEN, xdr::to_bytes(&ConnectOpenArgs { name: None, flags: 0 })));
        s.handle(call(proc_, body));
        let replies = out.lock().unwrap();
        prop_assert_eq!(replies.len(), 2);
        prop_assert_eq!(replies[0].header.status, oxvirt_rpc::Status::Ok);
        s.close();
    }
}

#[test]
fn unknown_procedure_is_an_rpc_error_clients_map_to_no_support() {
    let (s, out) = session();
    let h = oxvirt_rpc::Header {
        prog: REMOTE_PROGRAM,
        vers: REMOTE_VERSION,
        proc_: 9999,
        mtype: oxvirt_rpc::MessageType::Call,
        serial: 5,
        status: oxvirt_rpc::Status::Ok,
    };
    s.handle(Message { header: h, body: vec![] });
    let replies = out.lock().unwrap();
    let e: RemoteError = replies[0].payload().unwrap();
    assert_eq!(replies[0].header.serial, 5);
    assert_eq!(replies[0].header.status, oxvirt_rpc::Status::Error);
    assert_eq!((e.code, e.domain, e.level), (39, 7, 2));
    assert!(e.message.unwrap().starts_with("unknown procedure"));
}
