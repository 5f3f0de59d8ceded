//! Typed errors carrying the process exit code (SPEC.md "Exit codes") and the one line the user sees.

use std::fmt;

/// Exit codes promised by SPEC.md; scripts branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitCode {
    Success = 0,
    /// The backup/restore job failed or was cancelled.
    JobFailed = 1,
    /// Bad usage or bad config.
    Usage = 2,
    /// Cannot reach or authenticate to the cluster.
    Connect = 3,
    /// Refused for safety (another run holds the database, stale plan, restore target exists).
    Refused = 4,
    /// Stopped by SIGINT (128 + 2).
    Interrupted = 130,
    /// Stopped by SIGTERM (128 + 15).
    Terminated = 143,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that knows its exit code and what the user should do about it.
///
/// Rendered as ONE line: `<what happened>; <what to do>`. Never holds a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BbrError {
    pub exit: ExitCode,
    pub what: String,
    pub todo: String,
}

impl BbrError {
    pub fn new(exit: ExitCode, what: impl Into<String>, todo: impl Into<String>) -> Self {
        BbrError {
            exit,
            what: one_line(&what.into()),
            todo: one_line(&todo.into()),
        }
    }
    pub fn usage(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Self::new(ExitCode::Usage, what, todo)
    }
    pub fn connect(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Self::new(ExitCode::Connect, what, todo)
    }
    pub fn job_failed(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Self::new(ExitCode::JobFailed, what, todo)
    }
    pub fn refused(what: impl Into<String>, todo: impl Into<String>) -> Self {
        Self::new(ExitCode::Refused, what, todo)
    }
}

impl fmt::Display for BbrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; {}", self.what, self.todo)
    }
}

impl std::error::Error for BbrError {}

/// Collapses newlines so the error stays one line on stderr.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if !out.is_empty() {
            out.push_str(" | ");
        }
        out.push_str(part);
    }
    out
}

/// Maps any error chain to the exit code and the one line printed by `main`.
pub fn classify(err: &anyhow::Error) -> (ExitCode, String) {
    for cause in err.chain() {
        if let Some(b) = cause.downcast_ref::<BbrError>() {
            return (b.exit, b.to_string());
        }
    }
    (
        ExitCode::JobFailed,
        format!(
            "{}; check the log above (run with -v for detail) and retry",
            one_line(&format!("{err:#}"))
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line() {
        let e = BbrError::usage("bad\nthing", "fix it");
        assert_eq!(e.to_string(), "bad | thing; fix it");
        let a = anyhow::Error::new(e).context("outer");
        let (code, line) = classify(&a);
        assert_eq!(code, ExitCode::Usage);
        assert_eq!(line, "bad | thing; fix it");
    }
}
