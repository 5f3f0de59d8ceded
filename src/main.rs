//! Thin entry point: parse, set up logging, run, map the error to an exit code and one line.

use clap::Parser;
use starrocks_bbr::cli::Cli;
use starrocks_bbr::error::{classify, ExitCode};
use starrocks_bbr::logging::{eprint_line, PipeSafe};

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
            eprint_line(&format!(
                "error: {line}; run `starrocks-bbr --help` for usage"
            ));
            std::process::exit(ExitCode::Usage.code());
        }
    };
    starrocks_bbr::logging::init(cli.verbose, cli.quiet, cli.log_format);
    let json = cli.log_format == starrocks_bbr::cli::LogFormat::Json;
    if let Err(e) = starrocks_bbr::signals::install() {
        tracing::warn!("cannot handle SIGTERM/SIGINT ({e}); a stopped run is taken over only once its heartbeat is stale");
    }
    let mut stdout = PipeSafe::new(std::io::stdout().lock());
    let result = starrocks_bbr::commands::run(cli, &mut stdout);
    let _ = std::io::Write::flush(&mut stdout);
    // A stop request decides the exit code (143/130) even when it cut a connect retry or a
    // read short and that surfaced as another error.
    let stopped = starrocks_bbr::signals::received();
    if let Err(err) = result {
        let (code, line) = classify(&err);
        if stopped.is_none() || matches!(code, ExitCode::Interrupted | ExitCode::Terminated) {
            final_error(json, code, &line);
        }
    }
    // Stopped while nothing was running (discovery, a read-only command): still report the stop.
    if let Some(code) = stopped {
        let line = starrocks_bbr::signals::interrupted_error(code).to_string();
        final_error(json, code, &line);
    }
}

/// The one error line, then exit; with `--log-format json` a JSON object like the log lines.
fn final_error(json: bool, code: ExitCode, line: &str) -> ! {
    if json {
        let obj = serde_json::json!({"level": "ERROR", "message": format!("error: {line}"), "exit_code": code.code()});
        eprint_line(&obj.to_string());
    } else {
        eprint_line(&format!("error: {line}"));
    }
    std::process::exit(code.code());
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
