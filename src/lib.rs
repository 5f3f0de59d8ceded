//! starrocks-bbr: scheduled full/incremental backups and point-in-time table restore for StarRocks
//! shared-nothing clusters. See ../shared/SPEC.md (contract) and docs/DESIGN.md (module layout).

pub mod cluster;
pub mod config;
pub mod error;
pub mod history;
pub mod plan;
pub mod planner;
pub mod sql;
