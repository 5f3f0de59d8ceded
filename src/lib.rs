//! starrocks-bbr: scheduled full/incremental backups and point-in-time table restore for StarRocks
//! shared-nothing clusters. See ../shared/SPEC.md (contract) and docs/DESIGN.md (module layout).

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod error;
pub mod fingerprint;
pub mod history;
pub mod list;
pub mod logging;
pub mod metrics;
pub mod plan;
pub mod planner;
pub mod poll;
pub mod preflight;
pub mod release;
pub mod runner;
pub mod signals;
pub mod snapshot;
pub mod sql;
pub mod state;
