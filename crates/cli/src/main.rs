//! `oxvirt`: see the library crate.

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string().map_err(|a| anyhow::anyhow!("argument is not valid UTF-8: {a:?}")))
        .collect::<anyhow::Result<_>>()?;
    let code = oxvirt_cli::main_with_args(&args);
    std::process::exit(code);
}
