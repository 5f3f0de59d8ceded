//! Logs and output streams. Logs go to stderr (text or one JSON object per line), data to stdout.
//! A closed stdout or stderr (a pipe whose reader left: `backup 2>&1 | head`) must never panic nor
//! change a job's outcome, so every write to them goes through writers that swallow the error.

use std::io::{self, Write};

use crate::cli::LogFormat;

/// Filter directives for `-v`/`-q` (verbose − quiet); each step prints something the previous one
/// does not: -qq nothing, -q errors, default warnings plus our progress, -v our debug detail,
/// -vv every statement sent, -vvv trace.
pub fn level_directives(verbose: u8, quiet: u8) -> &'static str {
    match (i16::from(verbose) - i16::from(quiet)).clamp(-2, 4) {
        -2 => "off",
        -1 => "error",
        0 => "warn,starrocks_bbr=info",
        1 => "warn,starrocks_bbr=debug,starrocks_bbr::sql=info",
        2 => "info,starrocks_bbr=debug",
        3 => "debug,starrocks_bbr=trace",
        _ => "trace",
    }
}

/// Colour only on a terminal and only when NO_COLOR is unset or empty (https://no-color.org).
pub fn use_color(is_terminal: bool, no_color: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

/// Sets up tracing on stderr; `RUST_LOG` overrides the level.
pub fn init(verbose: u8, quiet: u8, format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(level_directives(verbose, quiet)));
    let no_color = std::env::var("NO_COLOR").ok();
    let ansi = use_color(
        io::IsTerminal::is_terminal(&io::stderr()),
        no_color.as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(QuietStderr::default)
        .with_target(false)
        // Its fallback is eprintln!, which panics on a closed stderr.
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder.with_ansi(ansi).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// stderr for logs: write errors (EPIPE) are dropped.
#[derive(Default)]
pub struct QuietStderr;

impl Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

/// Prints one line on stderr, ignoring a closed stderr.
pub fn eprint_line(line: &str) {
    let mut e = io::stderr().lock();
    let _ = writeln!(e, "{line}");
    let _ = e.flush();
}

/// The data writer: once the reader has gone (EPIPE), further output is discarded silently, so
/// `list | head -0` and `backup | head -1` keep the command's own outcome and exit code.
pub struct PipeSafe<W: Write> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeSafe<W> {
    pub fn new(inner: W) -> Self {
        PipeSafe {
            inner,
            closed: false,
        }
    }
}

impl<W: Write> Write for PipeSafe<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn a_closed_pipe_is_swallowed_other_errors_are_not() {
        let mut w = PipeSafe::new(Broken);
        assert!(writeln!(w, "hello").is_ok());
        assert!(w.flush().is_ok());
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        assert!(writeln!(PipeSafe::new(Full), "x").is_err());
    }

    #[test]
    fn no_color_and_levels() {
        assert!(use_color(true, None));
        assert!(use_color(true, Some("")));
        assert!(!use_color(true, Some("1")));
        assert!(!use_color(false, None));
        let steps: Vec<&str> = (0..6)
            .map(|i: u8| level_directives(i.saturating_sub(2), 2u8.saturating_sub(i)))
            .collect();
        for w in steps.windows(2) {
            assert_ne!(w[0], w[1]);
        }
    }
}
