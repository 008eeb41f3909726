//! virsh's table layout: a leading space per cell, columns padded to the widest cell plus two
//! spaces, a dashed rule of (width + 3) per column. Scripts parse this, so it must not drift.

/// A table of text cells; the first row is the header.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table { rows: vec![header.iter().map(|s| s.to_string()).collect()] }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Renders the table; without `header` (quiet mode) widths come from the data rows alone.
    pub fn render(&self, header: bool) -> String {
        let ncols = self.rows[0].len();
        let cells: Vec<Vec<(String, usize)>> =
            self.rows.iter().map(|r| r.iter().map(|c| safe_encode(c)).collect()).collect();
        let mut max = vec![0usize; ncols];
        for row in cells.iter().skip(usize::from(!header)) {
            for (j, (_, w)) in row.iter().enumerate().take(ncols) {
                max[j] = max[j].max(*w);
            }
        }
        let mut out = String::new();
        let print_row = |out: &mut String, row: &[(String, usize)]| {
            for (i, (s, w)) in row.iter().enumerate() {
                out.push(' ');
                out.push_str(s);
                if i + 1 < row.len() {
                    for _ in 0..(max[i] - w + 2) {
                        out.push(' ');
                    }
                }
            }
            out.push('\n');
        };
        if header {
            print_row(&mut out, &cells[0]);
            for m in &max {
                out.extend(std::iter::repeat_n('-', m + 3));
            }
            out.push('\n');
        }
        for row in cells.iter().skip(1) {
            print_row(&mut out, row);
        }
        out
    }
}

/// Control characters (and a literal `\x`) become `\xNN` so they cannot break the columns.
fn safe_encode(s: &str) -> (String, usize) {
    let mut out = String::with_capacity(s.len());
    let mut width = 0;
    let b = s.as_bytes();
    for (i, ch) in s.char_indices() {
        if (ch == '\\' && b.get(i + 1) == Some(&b'x')) || ch.is_ascii_control() {
            out.push_str(&format!("\\x{:02x}", ch as u32));
            width += 4;
        } else if ch.is_control() {
            let mut buf = [0u8; 4];
            for byte in ch.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{byte:02x}"));
                width += 4;
            }
        } else {
            out.push(ch);
            width += char_width(ch);
        }
    }
    (out, width)
}

/// Terminal width of a printable character: 2 for East Asian wide ranges, 0 for combining marks.
fn char_width(c: char) -> usize {
    let u = c as u32;
    if (0x300..=0x36f).contains(&u) || (0x200b..=0x200f).contains(&u) {
        return 0;
    }
    let wide = (0x1100..=0x115f).contains(&u)
        || (0x2e80..=0xa4cf).contains(&u)
        || (0xac00..=0xd7a3).contains(&u)
        || (0xf900..=0xfaff).contains(&u)
        || (0xfe30..=0xfe4f).contains(&u)
        || (0xff00..=0xff60).contains(&u)
        || (0xffe0..=0xffe6).contains(&u)
        || (0x1f300..=0x1f64f).contains(&u)
        || (0x1f900..=0x1f9ff).contains(&u)
        || (0x20000..=0x3fffd).contains(&u);
    if wide {
        2
    } else {
        1
    }
}

/// virsh's human-readable size: binary units, two decimals ("1.00 GiB", "0.00 B").
pub fn pretty_capacity(val: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut limit = 1024f64;
    let v = val as f64;
    for (i, unit) in UNITS.iter().enumerate() {
        if v < limit || i == UNITS.len() - 1 {
            let scaled = if i == 0 { v } else { v / (limit / 1024.0) };
            return format!("{scaled:.2} {unit}");
        }
        limit *= 1024.0;
    }
    format!("{v:.2} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_virsh() {
        let mut t = Table::new(&["Id", "Name", "State"]);
        t.push(vec!["1".into(), "test".into(), "running".into()]);
        assert_eq!(t.render(true), " Id   Name   State\n----------------------\n 1    test   running\n");
        assert_eq!(t.render(false), " 1   test   running\n");
        let mut t = Table::new(&["Name", "Path"]);
        t.push(vec!["a\tb".into(), "x".into()]);
        assert!(t.render(true).contains("a\\x09b"));
    }

    #[test]
    fn capacities() {
        assert_eq!(pretty_capacity(0), "0.00 B");
        assert_eq!(pretty_capacity(100 << 30), "100.00 GiB");
        assert_eq!(pretty_capacity(10 << 20), "10.00 MiB");
        assert_eq!(pretty_capacity(1536), "1.50 KiB");
    }
}
