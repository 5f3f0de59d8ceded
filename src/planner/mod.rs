//! Pure planners: read state in, Plan out. No I/O here, so plans are testable and reproducible.

pub mod backup;
mod backup_steps;
pub mod base;
pub mod catalog;
pub mod chain;
pub mod expire;
pub mod history_check;
pub mod init;
pub mod left_out;
pub mod listing;
pub mod recover;
pub mod restore;
pub mod rolling;
#[cfg(test)]
mod rolling_props;

use crate::config::Config;
use crate::plan::{Details, RetryPolicy, Step, StepKind};

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

/// A step of the job `label` on database `db` (the group a failure skips the rest of); every such
/// step sends `sql`.
pub fn job_step(
    db: &str,
    label: &str,
    kind: StepKind,
    description: String,
    sql: String,
    retry: RetryPolicy,
    details: Option<Details>,
) -> Step {
    Step {
        kind,
        description,
        database: Some(db.to_string()),
        label: Some(label.to_string()),
        sql: Some(sql),
        retry,
        details,
    }
}

/// The Finalize step of a job: `sql` is a template whose `placeholders` the runner fills from the
/// job's outcome (none: a complete statement).
pub fn finalize_step(
    cfg: &Config,
    db: &str,
    label: &str,
    description: &str,
    sql: String,
    placeholders: &[&str],
) -> Step {
    job_step(
        db,
        label,
        StepKind::Finalize,
        description.to_string(),
        sql,
        idempotent(cfg),
        Some(Details::Finalize {
            placeholders: placeholders.iter().map(|s| s.to_string()).collect(),
        }),
    )
}
