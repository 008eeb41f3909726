//! Message framing: a 4-byte big-endian length that counts itself, a 24-byte header, then the
//! XDR payload of the procedure's arguments, reply, error, event or stream data.

use std::io::{self, Read};

use crate::xdr::{self, Reader, Xdr, XdrError, MESSAGE_MAX};

/// Bytes of the length word.
pub const LEN_SIZE: usize = 4;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 24;

crate::xdr_enum! {
    /// `virNetMessageType`.
    pub enum MessageType {
        Call = 0,
        Reply = 1,
        Message = 2,
        Stream = 3,
        CallWithFds = 4,
        ReplyWithFds = 5,
        StreamHole = 6,
    }

    /// `virNetMessageStatus`.
    pub enum Status {
        Ok = 0,
        Error = 1,
        Continue = 2,
    }
}

crate::xdr_struct! {
    /// `virNetMessageHeader`.
    pub struct Header {
        pub prog: u32,
        pub vers: u32,
        pub proc_: i32,
        pub mtype: MessageType,
        pub serial: u32,
        pub status: Status,
    }
}

impl Header {
    /// A call of `proc_` in libvirt's REMOTE program, numbered `serial`.
    pub fn remote_call(proc_: i32, serial: u32) -> Header {
        Header {
            prog: crate::protocol::REMOTE_PROGRAM,
            vers: crate::protocol::REMOTE_VERSION,
            proc_,
            mtype: MessageType::Call,
            serial,
            status: Status::Ok,
        }
    }

    /// The header of the answer to this call (same program, procedure and serial).
    pub fn reply(&self, status: Status) -> Header {
        Header { mtype: MessageType::Reply, status, ..self.clone() }
    }
}

/// One whole message, without its length word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("reading a message: {0}")]
    Read(#[from] io::Error),
    #[error("message length {0} is outside {min}..={max}", min = LEN_SIZE + HEADER_SIZE, max = .1)]
    BadLength(usize, usize),
    #[error("decoding a message header: {0}")]
    Header(#[from] XdrError),
}

impl Message {
    pub fn new<T: Xdr>(header: Header, payload: &T) -> Message {
        Message { header, body: xdr::to_bytes(payload) }
    }

    /// The wire form, length word included.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(LEN_SIZE + HEADER_SIZE + self.body.len());
        out.extend_from_slice(&[0; 4]);
        self.header.encode(&mut out);
        out.extend_from_slice(&self.body);
        let len = out.len() as u32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        out
    }

    /// Parses a frame's contents (what follows the length word).
    pub fn from_bytes(buf: &[u8]) -> Result<Message, XdrError> {
        let mut r = Reader::new(buf);
        let header = Header::decode(&mut r)?;
        Ok(Message { header, body: buf[r.position()..].to_vec() })
    }

    /// Decodes the body as exactly one `T`.
    pub fn payload<T: Xdr>(&self) -> Result<T, XdrError> {
        xdr::from_bytes(&self.body)
    }
}

/// Reads one message; `Ok(None)` on a clean end of stream before its first byte. `max` bounds
/// the length word (libvirt's limit is [`MESSAGE_MAX`]).
pub fn read_message(r: &mut impl Read, max: usize) -> Result<Option<Message>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(FrameError::Read(io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(len) as usize;
    let max = max.min(MESSAGE_MAX);
    if !(LEN_SIZE + HEADER_SIZE..=max).contains(&len) {
        return Err(FrameError::BadLength(len, max));
    }
    let mut buf = vec![0u8; len - LEN_SIZE];
    r.read_exact(&mut buf)?;
    Ok(Some(Message::from_bytes(&buf)?))
}

/// Splits complete frames off the front of `buf`, for callers that read without blocking.
pub fn split_frame(buf: &[u8], max: usize) -> Result<Option<(Message, usize)>, FrameError> {
    if buf.len() < LEN_SIZE {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let max = max.min(MESSAGE_MAX);
    if !(LEN_SIZE + HEADER_SIZE..=max).contains(&len) {
        return Err(FrameError::BadLength(len, max));
    }
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some((Message::from_bytes(&buf[LEN_SIZE..len])?, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        let h = Header { prog: 0x20008086, vers: 1, proc_: 1, mtype: MessageType::Call, serial: 7, status: Status::Ok };
        let m = Message::new(h.clone(), &5u32);
        let f = m.to_frame();
        assert_eq!(f.len(), 32);
        assert_eq!(&f[..8], &[0, 0, 0, 32, 0x20, 0x00, 0x80, 0x86]);
        let back = read_message(&mut &f[..], MESSAGE_MAX).unwrap().unwrap();
        assert_eq!(back, m);
        assert_eq!(back.payload::<u32>().unwrap(), 5);
        assert!(read_message(&mut &[][..], MESSAGE_MAX).unwrap().is_none());
        assert!(matches!(read_message(&mut &[0, 0, 0, 8][..], MESSAGE_MAX), Err(FrameError::BadLength(8, _))));
        let big = ((MESSAGE_MAX + 1) as u32).to_be_bytes();
        assert!(matches!(read_message(&mut &big[..], MESSAGE_MAX), Err(FrameError::BadLength(..))));
        assert_eq!(split_frame(&f[..31], MESSAGE_MAX).unwrap(), None);
        assert_eq!(split_frame(&f, MESSAGE_MAX).unwrap(), Some((m, 32)));
    }
}
