//! JSON property lists for `-device`, `-object`, `-blockdev`, `-netdev` and `-audiodev`.
//!
//! Keys stay in insertion order (driver first, then what identifies the device), which keeps
//! command lines readable and diffable; serde_json's map would sort them.

use serde_json::Value;

#[derive(Debug, Clone, Default)]
pub(crate) struct Props(Vec<(String, Value)>);

impl Props {
    pub fn new() -> Props {
        Props(Vec::new())
    }

    pub fn with(kind_key: &str, kind: impl Into<String>) -> Props {
        Props::new().s(kind_key, kind)
    }

    pub fn push(&mut self, k: &str, v: Value) {
        self.0.push((k.to_owned(), v));
    }

    pub fn s(mut self, k: &str, v: impl Into<String>) -> Props {
        self.push(k, Value::String(v.into()));
        self
    }

    pub fn n(mut self, k: &str, v: u64) -> Props {
        self.push(k, Value::from(v));
        self
    }

    pub fn b(mut self, k: &str, v: bool) -> Props {
        self.push(k, Value::Bool(v));
        self
    }

    pub fn v(mut self, k: &str, v: Value) -> Props {
        self.push(k, v);
        self
    }

    pub fn opt_s(self, k: &str, v: Option<impl Into<String>>) -> Props {
        match v {
            Some(v) => self.s(k, v),
            None => self,
        }
    }

    pub fn opt_n(self, k: &str, v: Option<u64>) -> Props {
        match v {
            Some(v) => self.n(k, v),
            None => self,
        }
    }

    pub fn opt_b(self, k: &str, v: Option<bool>) -> Props {
        match v {
            Some(v) => self.b(k, v),
            None => self,
        }
    }

    pub fn extend(mut self, other: Props) -> Props {
        self.0.extend(other.0);
        self
    }

    pub fn get_str(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == k).and_then(|(_, v)| v.as_str())
    }

    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(k.clone()).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push('}');
        out
    }
}

/// Escapes a value for QEMU's `key=value,...` syntax (commas are doubled).
pub(crate) fn kv_escape(s: &str) -> String {
    s.replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_escapes() {
        let p = Props::with("driver", "virtio-blk-pci")
            .s("id", "a\"b")
            .n("bootindex", 1)
            .b("share-rw", true)
            .opt_s("serial", None::<String>);
        assert_eq!(p.to_json(), r#"{"driver":"virtio-blk-pci","id":"a\"b","bootindex":1,"share-rw":true}"#);
        assert_eq!(kv_escape("/a,b"), "/a,,b");
    }
}
