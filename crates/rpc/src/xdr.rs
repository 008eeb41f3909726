//! XDR (RFC 4506) as libvirt's remote protocol uses it: big-endian 4-byte units, `char` and
//! `short` widened to 4 bytes, `hyper` as 8, opaque data and strings padded to 4, optional data
//! (`*T`) as a boolean followed by the value. Decoding never trusts a length it has not checked
//! against both the declared maximum and the bytes actually present, so garbage cannot make it
//! allocate or panic.

use std::fmt;

/// Largest whole message libvirt 9.0 accepts (`VIR_NET_MESSAGE_MAX`), length word included.
pub const MESSAGE_MAX: usize = 33_554_432;
/// Largest string (`VIR_NET_MESSAGE_STRING_MAX`, also `REMOTE_STRING_MAX`).
pub const STRING_MAX: usize = 4_194_304;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdrError {
    #[error("XDR data ends early: {needed} more bytes needed at offset {at}")]
    Truncated { at: usize, needed: usize },
    #[error("XDR {what} of length {len} exceeds its maximum {max}")]
    TooLong { what: &'static str, len: usize, max: usize },
    #[error("XDR boolean has value {0}, not 0 or 1")]
    BadBool(u32),
    #[error("XDR {what} value {value} is out of range")]
    OutOfRange { what: &'static str, value: i64 },
    #[error("XDR string is not valid UTF-8")]
    NotUtf8,
    #[error("invalid {what} discriminant {value}")]
    BadDiscriminant { what: &'static str, value: i64 },
    #[error("{0} unexpected bytes after the XDR value")]
    Trailing(usize),
}

/// A cursor over received bytes.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], XdrError> {
        if n > self.remaining() {
            return Err(XdrError::Truncated { at: self.pos, needed: n - self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn word(&mut self) -> Result<[u8; 4], XdrError> {
        let s = self.take(4)?;
        Ok([s[0], s[1], s[2], s[3]])
    }

    /// Skips the padding after `len` bytes of opaque data. Padding content is not checked,
    /// as libvirt's own decoder does not check it either.
    fn skip_pad(&mut self, len: usize) -> Result<(), XdrError> {
        self.take(pad_len(len)).map(|_| ())
    }

    /// Fails unless everything was consumed: a message body is exactly one value.
    pub fn finish(&self) -> Result<(), XdrError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(XdrError::Trailing(n)),
        }
    }

    /// Reads a variable-length count and checks it against `max` and against what is left,
    /// given each element needs at least `min_elem` bytes.
    pub fn count(&mut self, what: &'static str, max: usize, min_elem: usize) -> Result<usize, XdrError> {
        let n = u32::decode(self)? as usize;
        if n > max {
            return Err(XdrError::TooLong { what, len: n, max });
        }
        if n.saturating_mul(min_elem) > self.remaining() {
            return Err(XdrError::Truncated { at: self.pos, needed: n * min_elem - self.remaining() });
        }
        Ok(n)
    }
}

fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// A value with an XDR encoding.
pub trait Xdr: Sized {
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(r: &mut Reader) -> Result<Self, XdrError>;

    /// The least number of bytes an encoding takes; bounds preallocation for arrays.
    const MIN_SIZE: usize = 4;
}

/// Encodes one value into a fresh buffer.
pub fn to_bytes<T: Xdr>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    v.encode(&mut out);
    out
}

/// Decodes exactly one value from `buf`.
pub fn from_bytes<T: Xdr>(buf: &[u8]) -> Result<T, XdrError> {
    let mut r = Reader::new(buf);
    let v = T::decode(&mut r)?;
    r.finish()?;
    Ok(v)
}

impl Xdr for () {
    fn encode(&self, _: &mut Vec<u8>) {}
    fn decode(_: &mut Reader) -> Result<Self, XdrError> {
        Ok(())
    }
    const MIN_SIZE: usize = 0;
}

impl Xdr for u32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        Ok(u32::from_be_bytes(r.word()?))
    }
}

impl Xdr for i32 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        Ok(i32::from_be_bytes(r.word()?))
    }
}

impl Xdr for u64 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        let s = r.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(s);
        Ok(u64::from_be_bytes(b))
    }
    const MIN_SIZE: usize = 8;
}

impl Xdr for i64 {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out)
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        Ok(u64::decode(r)? as i64)
    }
    const MIN_SIZE: usize = 8;
}

impl Xdr for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u32).encode(out)
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        match u32::decode(r)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(XdrError::BadBool(v)),
        }
    }
}

/// `char`, `short` and their unsigned forms travel as full 4-byte integers.
macro_rules! widened {
    ($($t:ty => $wire:ty),*) => {$(
        impl Xdr for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                <$wire>::from(*self).encode(out)
            }
            fn decode(r: &mut Reader) -> Result<Self, XdrError> {
                let v = <$wire>::decode(r)?;
                <$t>::try_from(v).map_err(|_| XdrError::OutOfRange { what: stringify!($t), value: i64::from(v) })
            }
        }
    )*};
}
widened!(u8 => u32, i8 => i32, u16 => u32, i16 => i32);

impl Xdr for String {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_opaque(self.as_bytes(), out)
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        let b = decode_opaque(r, "string", STRING_MAX)?;
        String::from_utf8(b.to_vec()).map_err(|_| XdrError::NotUtf8)
    }
}

fn encode_opaque(b: &[u8], out: &mut Vec<u8>) {
    (b.len() as u32).encode(out);
    out.extend_from_slice(b);
    out.extend_from_slice(&[0u8; 3][..pad_len(b.len())]);
}

fn decode_opaque<'a>(r: &mut Reader<'a>, what: &'static str, max: usize) -> Result<&'a [u8], XdrError> {
    let n = r.count(what, max, 1)?;
    let b = r.take(n)?;
    r.skip_pad(n)?;
    Ok(b)
}

/// Optional data (`T *` in the .x language).
impl<T: Xdr> Xdr for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => false.encode(out),
            Some(v) => {
                true.encode(out);
                v.encode(out)
            }
        }
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        if bool::decode(r)? {
            Ok(Some(T::decode(r)?))
        } else {
            Ok(None)
        }
    }
}

/// Fixed-length arrays of non-opaque elements (`char model[32]` is 32 four-byte units).
impl<T: Xdr, const N: usize> Xdr for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        for v in self {
            v.encode(out)
        }
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        let mut v = Vec::with_capacity(N);
        for _ in 0..N {
            v.push(T::decode(r)?);
        }
        v.try_into().map_err(|_| XdrError::TooLong { what: "fixed array", len: N, max: N })
    }
    const MIN_SIZE: usize = T::MIN_SIZE * N;
}

/// A variable-length array `T name<MAX>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Array<T, const MAX: usize>(pub Vec<T>);

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for Array<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Xdr, const MAX: usize> Xdr for Array<T, MAX> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.0.len() as u32).encode(out);
        for v in &self.0 {
            v.encode(out)
        }
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        let n = r.count("array", MAX, T::MIN_SIZE.max(1))?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(T::decode(r)?);
        }
        Ok(Array(v))
    }
}

impl<T, const MAX: usize> From<Vec<T>> for Array<T, MAX> {
    fn from(v: Vec<T>) -> Self {
        Array(v)
    }
}

/// Variable-length opaque data `opaque name<MAX>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Opaque<const MAX: usize>(pub Vec<u8>);

impl<const MAX: usize> fmt::Debug for Opaque<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Opaque({} bytes)", self.0.len())
    }
}

impl<const MAX: usize> Xdr for Opaque<MAX> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_opaque(&self.0, out)
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        Ok(Opaque(decode_opaque(r, "opaque", MAX)?.to_vec()))
    }
}

/// Fixed-length opaque data `opaque name[N]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FixedOpaque<const N: usize>(pub [u8; N]);

impl<const N: usize> Xdr for FixedOpaque<N> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
        out.extend_from_slice(&[0u8; 3][..pad_len(N)]);
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        let mut b = [0u8; N];
        b.copy_from_slice(r.take(N)?);
        r.skip_pad(N)?;
        Ok(FixedOpaque(b))
    }
    const MIN_SIZE: usize = N + (4 - N % 4) % 4;
}

/// `remote_uuid`: 16 bytes of fixed opaque data.
impl Xdr for uuid::Uuid {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes())
    }
    fn decode(r: &mut Reader) -> Result<Self, XdrError> {
        let mut b = [0u8; 16];
        b.copy_from_slice(r.take(16)?);
        Ok(uuid::Uuid::from_bytes(b))
    }
    const MIN_SIZE: usize = 16;
}

/// A C `char` array holding a NUL-terminated string, as libvirt fills `char model[32]`.
pub fn c_chars<const N: usize>(s: &str) -> [i8; N] {
    let mut a = [0i8; N];
    for (d, b) in a.iter_mut().zip(s.bytes().take(N.saturating_sub(1))) {
        *d = b as i8;
    }
    a
}

/// The string in a C `char` array, up to its first NUL.
pub fn from_c_chars(a: &[i8]) -> String {
    let b: Vec<u8> = a.iter().map(|&c| c as u8).take_while(|&c| c != 0).collect();
    String::from_utf8_lossy(&b).into_owned()
}

/// Declares structs with XDR encodings: fields are encoded in order.
#[macro_export]
macro_rules! xdr_struct {
    ($(
        $(#[$m:meta])*
        $vis:vis struct $name:ident { $($(#[$fm:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }
    )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $name { $($(#[$fm])* $fvis $field: $ty),* }

        impl $crate::xdr::Xdr for $name {
            #[allow(unused_variables)]
            fn encode(&self, out: &mut Vec<u8>) {
                $($crate::xdr::Xdr::encode(&self.$field, out);)*
            }
            #[allow(unused_variables)]
            fn decode(r: &mut $crate::xdr::Reader) -> Result<Self, $crate::xdr::XdrError> {
                Ok($name { $($field: $crate::xdr::Xdr::decode(r)?),* })
            }
            const MIN_SIZE: usize = 0 $(+ <$ty as $crate::xdr::Xdr>::MIN_SIZE)*;
        }
    )*};
}

/// Declares enums encoded as a signed 4-byte integer; unknown values fail to decode.
#[macro_export]
macro_rules! xdr_enum {
    ($(
        $(#[$m:meta])*
        $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident = $val:expr),* $(,)? }
    )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i32)]
        $vis enum $name { $($(#[$vm])* $var = $val),* }

        impl $crate::xdr::Xdr for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                $crate::xdr::Xdr::encode(&(*self as i32), out)
            }
            fn decode(r: &mut $crate::xdr::Reader) -> Result<Self, $crate::xdr::XdrError> {
                let v = <i32 as $crate::xdr::Xdr>::decode(r)?;
                $(if v == $val { return Ok($name::$var); })*
                Err($crate::xdr::XdrError::BadDiscriminant { what: stringify!($name), value: i64::from(v) })
            }
        }
    )*};
}

/// Declares discriminated unions: `case => Variant(Payload)`; use `()` for arms without data.
#[macro_export]
macro_rules! xdr_union {
    ($(
        $(#[$m:meta])*
        $vis:vis enum $name:ident : $disc:ty { $($case:literal => $var:ident($ty:ty)),* $(,)? }
    )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis enum $name { $($var($ty)),* }

        impl $crate::xdr::Xdr for $name {
            fn encode(&self, out: &mut Vec<u8>) {
                match self {
                    $($name::$var(v) => {
                        let d: $disc = $case;
                        $crate::xdr::Xdr::encode(&d, out);
                        $crate::xdr::Xdr::encode(v, out);
                    })*
                }
            }
            fn decode(r: &mut $crate::xdr::Reader) -> Result<Self, $crate::xdr::XdrError> {
                let d = <$disc as $crate::xdr::Xdr>::decode(r)?;
                $(if d == $case { return Ok($name::$var($crate::xdr::Xdr::decode(r)?)); })*
                Err($crate::xdr::XdrError::BadDiscriminant { what: stringify!($name), value: i64::from(d) })
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_rfc4506() {
        assert_eq!(to_bytes(&1u32), [0, 0, 0, 1]);
        assert_eq!(to_bytes(&-1i32), [0xff; 4]);
        assert_eq!(to_bytes(&(-2i8)), [0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(to_bytes(&7u16), [0, 0, 0, 7]);
        assert_eq!(to_bytes(&0x0102030405060708u64), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(to_bytes(&"abcde".to_string()), [0, 0, 0, 5, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
        assert_eq!(to_bytes(&Some(3u32)), [0, 0, 0, 1, 0, 0, 0, 3]);
        assert_eq!(to_bytes(&None::<u32>), [0, 0, 0, 0]);
        assert_eq!(to_bytes(&FixedOpaque([1u8, 2, 3])), [1, 2, 3, 0]);
        assert_eq!(to_bytes(&Array::<u32, 4>(vec![9])), [0, 0, 0, 1, 0, 0, 0, 9]);
    }

    #[test]
    fn limits_are_enforced() {
        let too_many = to_bytes(&Array::<u32, 8>(vec![0; 5]));
        assert!(matches!(from_bytes::<Array<u32, 4>>(&too_many), Err(XdrError::TooLong { len: 5, max: 4, .. })));
        // A huge declared length with no data behind it fails without allocating.
        assert!(matches!(from_bytes::<String>(&[0x00, 0x3f, 0xff, 0xff]), Err(XdrError::Truncated { .. })));
        assert!(matches!(from_bytes::<String>(&[0x7f, 0xff, 0xff, 0xff]), Err(XdrError::TooLong { .. })));
        assert!(matches!(from_bytes::<bool>(&[0, 0, 0, 2]), Err(XdrError::BadBool(2))));
        assert!(matches!(from_bytes::<u8>(&[0, 0, 1, 0]), Err(XdrError::OutOfRange { .. })));
        assert!(matches!(from_bytes::<u32>(&[0, 0, 0, 1, 0]), Err(XdrError::Trailing(1))));
    }

    #[test]
    fn c_char_arrays() {
        let a: [i8; 8] = c_chars("x86_64-long");
        assert_eq!(from_c_chars(&a), "x86_64-");
        assert_eq!(to_bytes(&c_chars::<2>("A")), [0, 0, 0, 65, 0, 0, 0, 0]);
    }
}
