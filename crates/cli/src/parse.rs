//! virsh's command syntax: `cmd [--opt[=]value] [--flag] [positional]...`, several commands
//! separated by `;`, shell-like quoting inside one string. Positional words fill the command's
//! non-boolean options in declaration order, which is what lets `start foo` mean
//! `start --domain foo`.

use crate::commands::{CmdDef, OptKind, COMMANDS};
use crate::error::CmdError;

/// One token of input: a word, or the end of a command (`;` or a newline).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    CmdEnd,
}

/// A parsed command ready to run: its definition and the options given.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub def: &'static CmdDef,
    /// (option name, value); booleans have no value, `argv` options may repeat.
    pub opts: Vec<(&'static str, Option<String>)>,
}

impl Cmd {
    pub fn flag(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| *n == name)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.opts.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_deref())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.opts.iter().filter(|(n, _)| *n == name).filter_map(|(_, v)| v.as_deref()).collect()
    }

    /// A required option's value (the parser already checked presence).
    pub fn req(&self, name: &str) -> Result<&str, CmdError> {
        self.get(name).ok_or_else(|| CmdError::Usage(format!("command '{}' requires <{name}> option", self.def.name)))
    }

    /// An optional integer option; a malformed number names the option, as virsh does.
    pub fn int<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, CmdError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<T>().map(Some).map_err(|_| {
                CmdError::Usage(format!("Numeric value '{v}' for <{name}> option is malformed or out of range"))
            }),
        }
    }

    /// Fails when two mutually exclusive options are both given.
    pub fn exclusive(&self, a: &str, b: &str) -> Result<(), CmdError> {
        if self.flag(a) && self.flag(b) {
            return Err(CmdError::Usage(format!("Options --{a} and --{b} are mutually exclusive")));
        }
        Ok(())
    }
}

/// Splits one command line the way virsh's interactive parser does.
fn tokenize(line: &str) -> Result<Vec<Token>, CmdError> {
    let mut out = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    loop {
        while i < chars.len()
            && (chars[i] == ' ' || chars[i] == '\t' || (chars[i] == '\\' && chars.get(i + 1) == Some(&'\n')))
        {
            i += if chars[i] == '\\' { 2 } else { 1 };
        }
        if i >= chars.len() {
            return Ok(out);
        }
        if chars[i] == ';' || chars[i] == '\n' {
            out.push(Token::CmdEnd);
            i += 1;
            continue;
        }
        // A word starting with '#' at a token boundary comments out the rest of the line.
        if chars[i] == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            out.push(Token::CmdEnd);
            if i < chars.len() {
                i += 1;
            }
            continue;
        }
        let (mut sq, mut dq) = (false, false);
        let mut word = String::new();
        while i < chars.len() {
            let c = chars[i];
            if !sq && !dq && matches!(c, ' ' | '\t' | ';' | '\n') {
                break;
            }
            if !dq && c == '\'' {
                sq = !sq;
                i += 1;
                continue;
            }
            if !sq && c == '\\' {
                i += 1;
                match chars.get(i) {
                    None => return Err(CmdError::Usage("dangling \\".into())),
                    Some('\n') => {
                        i += 1;
                        continue;
                    }
                    Some(_) => {}
                }
            } else if !sq && c == '"' {
                dq = !dq;
                i += 1;
                continue;
            }
            word.push(chars[i]);
            i += 1;
        }
        if dq {
            return Err(CmdError::Usage("missing \"".into()));
        }
        if sq {
            return Err(CmdError::Usage("missing '".into()));
        }
        out.push(Token::Word(word));
    }
}

/// Parses a command string (interactive line, or the single argument after the options).
pub fn parse_line(line: &str) -> Result<Vec<Cmd>, CmdError> {
    parse_tokens(tokenize(line)?)
}

/// Parses already split arguments; a lone `;` argument separates commands.
pub fn parse_argv(args: &[String]) -> Result<Vec<Cmd>, CmdError> {
    let toks = args.iter().map(|a| if a == ";" { Token::CmdEnd } else { Token::Word(a.clone()) }).collect();
    parse_tokens(toks)
}

pub fn find_command(name: &str) -> Option<&'static CmdDef> {
    COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name))
}

fn parse_tokens(toks: Vec<Token>) -> Result<Vec<Cmd>, CmdError> {
    let mut cmds = Vec::new();
    let mut it = toks.into_iter().peekable();
    while it.peek().is_some() {
        let mut words = Vec::new();
        for t in it.by_ref() {
            match t {
                Token::Word(w) => words.push(w),
                Token::CmdEnd => break,
            }
        }
        if let Some(c) = parse_one(words)? {
            cmds.push(c);
        }
    }
    Ok(cmds)
}

fn parse_one(words: Vec<String>) -> Result<Option<Cmd>, CmdError> {
    let mut words = words.into_iter();
    let Some(name) = words.next() else { return Ok(None) };
    let def = find_command(&name).ok_or(CmdError::UnknownCommand(name))?;
    let is_help = def.name == "help";
    let mut opts: Vec<(&'static str, Option<String>)> = Vec::new();
    let mut seen = vec![false; def.opts.len()];
    let mut data_only = false;
    let mut want_help = false;
    while let Some(w) = words.next() {
        let b = w.as_bytes();
        if !data_only && b.len() > 2 && b[0] == b'-' && b[1] == b'-' && b[2].is_ascii_alphanumeric() {
            let (oname, inline) = match w[2..].split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w[2..].to_string(), None),
            };
            if oname == "help" {
                want_help = true;
                continue;
            }
            let Some(idx) = def.opts.iter().position(|o| o.name == oname) else {
                if is_help {
                    continue;
                }
                return Err(CmdError::Usage(format!("command '{}' doesn't support option --{oname}", def.name)));
            };
            let o = &def.opts[idx];
            if seen[idx] && o.kind != OptKind::Argv {
                return Err(CmdError::Usage(format!("option --{oname} already seen")));
            }
            seen[idx] = true;
            if o.kind == OptKind::Bool {
                if inline.is_some() {
                    return Err(CmdError::Usage(format!("invalid '=' after option --{oname}")));
                }
                opts.push((o.name, None));
            } else {
                let v = match inline {
                    Some(v) => v,
                    None => words.next().ok_or_else(|| {
                        CmdError::Usage(format!(
                            "expected syntax: --{} <{}>",
                            o.name,
                            if o.kind == OptKind::Int { "number" } else { "string" }
                        ))
                    })?,
                };
                opts.push((o.name, Some(v)));
            }
        } else if !data_only && w == "--" {
            data_only = true;
        } else {
            // Positional: the first non-boolean option not yet given (argv options soak up the rest).
            let slot = def
                .opts
                .iter()
                .enumerate()
                .find(|(i, o)| o.kind != OptKind::Bool && !o.named_only && (!seen[*i] || o.kind == OptKind::Argv));
            match slot {
                Some((i, o)) => {
                    seen[i] = true;
                    opts.push((o.name, Some(w)));
                }
                None if is_help => {}
                None => return Err(CmdError::Usage(format!("unexpected data '{w}'"))),
            }
        }
    }
    if want_help {
        let help = find_command("help").ok_or_else(|| CmdError::Usage("help is missing".into()))?;
        return Ok(Some(Cmd { def: help, opts: vec![("command", Some(def.name.to_string()))] }));
    }
    for (i, o) in def.opts.iter().enumerate() {
        if o.required && !seen[i] {
            return Err(CmdError::Usage(if matches!(o.kind, OptKind::Data | OptKind::Argv) {
                format!("command '{}' requires <{}> option", def.name, o.name)
            } else {
                format!("command '{}' requires --{} option", def.name, o.name)
            }));
        }
    }
    Ok(Some(Cmd { def, opts }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Token> {
        tokenize(s).unwrap()
    }

    #[test]
    fn quoting_like_virsh() {
        let w = |s: &str| Token::Word(s.into());
        assert_eq!(words("a 'b c' \"d\\\"e\" f\\ g"), vec![w("a"), w("b c"), w("d\"e"), w("f g")]);
        assert_eq!(words("a;b # c d\ne"), vec![w("a"), Token::CmdEnd, w("b"), Token::CmdEnd, w("e")]);
        assert_eq!(words("'a\\b'"), vec![w("a\\b")]);
        assert!(tokenize("a \"b").is_err());
        assert!(tokenize("a b\\").is_err());
    }

    #[test]
    fn positional_and_named() {
        let c = &parse_line("start --paused test").unwrap()[0];
        assert_eq!(c.get("domain"), Some("test"));
        assert!(c.flag("paused"));
        let c = &parse_line("shutdown test --mode=acpi").unwrap()[0];
        assert_eq!(c.get("mode"), Some("acpi"));
        let c = &parse_line("shutdown --domain test acpi").unwrap()[0];
        assert_eq!(c.get("mode"), Some("acpi"));
        let cs = parse_line("uri; hostname ;list").unwrap();
        assert_eq!(cs.len(), 3);
        let c = &parse_line("dominfo --help").unwrap()[0];
        assert_eq!(c.def.name, "help");
    }

    #[test]
    fn errors_name_the_argument() {
        let e = |s: &str| parse_line(s).unwrap_err().to_string();
        assert_eq!(e("bogus"), "unknown command: 'bogus'");
        assert_eq!(e("domstate"), "command 'domstate' requires <domain> option");
        assert_eq!(e("domstate x y"), "unexpected data 'y'");
        assert_eq!(e("domstate --bogus"), "command 'domstate' doesn't support option --bogus");
        assert_eq!(e("shutdown x --mode"), "expected syntax: --mode <string>");
        assert_eq!(e("list --all --all"), "option --all already seen");
        assert_eq!(e("list --all=1"), "invalid '=' after option --all");
    }
}
