//! `check`: read-only health checks (filled in below).

use std::io::Write;

use anyhow::Result;

use crate::cli::Format;
use crate::config::Config;

pub(super) fn check_cmd(_cfg: &Config, _format: Format, _out: &mut dyn Write) -> Result<()> {
    Ok(())
}
