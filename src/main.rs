//! Thin entry point: parse, set up logging, run, map the error to an exit code and one line.

use clap::Parser;
use starrocks_bbr::cli::Cli;
use starrocks_bbr::error::{classify, ExitCode};

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            let line = clap_one_line(&e.to_string());
            eprintln!("error: {line}; run `starrocks-bbr --help` for usage");
            std::process::exit(ExitCode::Usage.code());
        }
    };
    init_tracing(cli.verbose, cli.quiet);
    let mut stdout = std::io::stdout().lock();
    let result = starrocks_bbr::commands::run(cli, &mut stdout);
    if let Err(err) = result {
        let (code, line) = classify(&err);
        eprintln!("error: {line}");
        std::process::exit(code.code());
    }
}

/// clap's message spans lines (what is wrong, then the offending arguments, then usage); keep what
/// is wrong and which arguments, on one line, as every error of this tool is.
fn clap_one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let line = parts.join(" ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_string(),
        None if line.is_empty() => "invalid arguments".to_string(),
        None => line,
    }
}

/// Logs to stderr; default level warn+info for our crate, -v/-q adjust, RUST_LOG overrides.
fn init_tracing(verbose: u8, quiet: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match (i16::from(verbose) - i16::from(quiet)).clamp(-2, 3) {
        -2 => "off",
        -1 => "error",
        0 => "warn,starrocks_bbr=info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
