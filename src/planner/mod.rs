//! Pure planners: read state in, Plan out. No I/O here, so plans are testable and reproducible.

pub mod backup;
pub mod chain;
pub mod init;
pub mod restore;

use crate::config::Config;
use crate::plan::RetryPolicy;

/// Retry policy for a statement that may be re-sent after an ambiguous failure.
pub fn idempotent(cfg: &Config) -> RetryPolicy {
    RetryPolicy {
        safe_to_retry: true,
        retry_when_busy: false,
        attempts: cfg.retry.attempts,
        initial_ms: cfg.retry.initial_ms,
        max_ms: cfg.retry.max_ms,
    }
}

/// Retry policy for a job submission: never re-sent blindly; busy errors retried.
pub fn submission(cfg: &Config) -> RetryPolicy {
    RetryPolicy {
        safe_to_retry: false,
        retry_when_busy: true,
        attempts: cfg.retry.attempts,
        initial_ms: cfg.retry.initial_ms,
        max_ms: cfg.retry.max_ms,
    }
}
