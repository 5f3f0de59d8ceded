//! The FE's partition scheduler: dynamic partitioning (`dynamic_partition.*`) and partition TTL
//! (`partition_live_number`, `partition_ttl`) — the table properties, and the background pass that
//! drops (and adds) partitions by them. A RESTORE registers every restored OLAP table with it
//! (backup/RestoreJob.java:1929-1939), so restored partitions older than the window are dropped
//! within one `dynamic_partition_check_interval_seconds` (600 s). `Sim::run_partition_scheduler`
//! runs one pass against the virtual clock. Facts with file:line: docs/STARROCKS-NOTES.md.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveDateTime, Timelike};

use crate::cluster::{cmp_bound, Cluster, Table, TableState};
use crate::ddl::{PartitionSpec, Partitioning};
use crate::release::Release;
use crate::sql::err;
use crate::SimError;

/// DynamicPartitionProperty.java:48-59.
const DYN: &str = "dynamic_partition.";
const ENABLE: &str = "dynamic_partition.enable";
const TIME_UNIT: &str = "dynamic_partition.time_unit";
const TIME_ZONE: &str = "dynamic_partition.time_zone";
const START: &str = "dynamic_partition.start";
const END: &str = "dynamic_partition.end";
const PREFIX: &str = "dynamic_partition.prefix";
const HISTORY: &str = "dynamic_partition.history_partition_num";
/// PropertyAnalyzer.java:208-210.
pub(crate) const LIVE_NUMBER: &str = "partition_live_number";
pub(crate) const TTL: &str = "partition_ttl";
/// DynamicPartitionProperty.MIN_START_OFFSET: `start` not set, nothing is ever dropped.
const MIN_START: i64 = i32::MIN as i64;
/// DdlException from DynamicPartitionUtil / ErrorCode 5066 (fe-spi ErrorCode.java:182-189).
const ER_DYNAMIC: u16 = 5066;
const ER_DDL: u16 = 1064;

/// A table's scheduler properties as the FE keeps them (TableProperty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scheduling {
    /// `dynamic_partition.*` as given (keys lower-case); empty: no dynamic partitioning.
    dynamic: BTreeMap<String, String>,
    /// `partition_live_number` (3.0+, #17857); -1 (INVALID) is "off".
    live_number: Option<i64>,
    /// `partition_ttl` text (base tables 3.4+, #51297); "0 day" is "off".
    ttl: Option<String>,
}

/// `partition_live_number` exists from 3.0 (#17857, 2023-02); `partition_ttl` on base tables from
/// 3.4 (#51297, 2024-09). Earlier releases leave the key unanalysed: `Unknown properties: {k=v}`
/// (OlapTableFactory.java:820).
fn supported(release: Release, key: &str) -> bool {
    match key {
        LIVE_NUMBER => release >= Release::new(3, 0, 0),
        TTL => release >= Release::new(3, 4, 0),
        _ => true,
    }
}

impl Scheduling {
    /// CREATE TABLE's PROPERTIES (OlapTableFactory: dynamic partition checks, live number, ttl).
    pub(crate) fn from_create(
        props: &[(String, String)],
        release: Release,
        range_single_column: bool,
    ) -> Result<Scheduling, SimError> {
        let mut s = Scheduling::default();
        s.apply(props, release, range_single_column, "")?;
        if s.has_dynamic() && s.dynamic_enabled() {
            // DynamicPartitionUtil.java:241,250
            if !s.dynamic.contains_key(TIME_UNIT) {
                return Err(err(
                    ER_DDL,
                    "Must assign dynamic_partition.time_unit properties",
                ));
            }
            if !s.dynamic.contains_key(END) {
                return Err(err(ER_DDL, "Must assign dynamic_partition.end properties"));
            }
        }
        Ok(s)
    }

    /// `ALTER TABLE t SET (...)` (and CREATE): validates and merges the scheduler keys of `props`;
    /// other keys are left to the caller.
    pub(crate) fn apply(
        &mut self,
        props: &[(String, String)],
        release: Release,
        range_single_column: bool,
        table: &str,
    ) -> Result<(), SimError> {
        for (k, v) in props {
            let key = k.to_ascii_lowercase();
            if !supported(release, &key) {
                return Err(err(ER_DDL, format!("Unknown properties: {{{k}={v}}}")));
            }
            if key.starts_with(DYN) {
                if !range_single_column {
                    // DynamicPartitionUtil.java:234
                    return Err(err(
                        ER_DDL,
                        "Dynamic partition only support single-column range partition",
                    ));
                }
                check_dynamic(&key, v)?;
                self.dynamic.insert(key, v.clone());
            } else if key == LIVE_NUMBER {
                if !table.is_empty() && !range_single_column {
                    // LocalMetastore.alterPartitionLiveNumber (LocalMetastore.java:3952)
                    return Err(err(ER_DDL, format!("Table[{table}] is not range partitioned. no need to set partition live number.")));
                }
                // PropertyAnalyzer.analyzePartitionLiveNumber (PropertyAnalyzer.java:465-480)
                let n: i64 = v.trim().parse().map_err(|_| {
                    err(
                        ER_DDL,
                        format!("Partition Live Number: For input string: \"{v}\""),
                    )
                })?;
                if n <= 0 && n != -1 {
                    return Err(err(ER_DDL, format!("Illegal Partition Live Number: {n}")));
                }
                self.live_number = Some(n);
            } else if key == TTL {
                if !table.is_empty() && !range_single_column {
                    // LocalMetastore.alterPartitionTTL (LocalMetastore.java:4040)
                    return Err(err(ER_DDL, format!("Table[{table}] is not range partitioned. no need to set partition ttl.")));
                }
                parse_period(v).ok_or_else(|| {
                    err(
                        ER_DDL,
                        format!("illegal {TTL}: Text cannot be parsed to a Period: {v}"),
                    )
                })?;
                self.ttl = Some(v.clone());
            }
        }
        Ok(())
    }

    fn has_dynamic(&self) -> bool {
        !self.dynamic.is_empty()
    }

    /// DynamicPartitionProperty: `enable` defaults to true once any dynamic key exists.
    fn dynamic_enabled(&self) -> bool {
        self.dynamic
            .get(ENABLE)
            .is_none_or(|v| v.eq_ignore_ascii_case("true"))
    }

    fn int(&self, key: &str, default: i64) -> i64 {
        self.dynamic
            .get(key)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    /// What OlapTable.getProperties() adds (OlapTable.java:2948-2951, 3035-3044;
    /// DynamicPartitionProperty.getProperties, DynamicPartitionProperty.java:175-196), as
    /// information_schema.tables_config PROPERTIES shows it.
    pub(crate) fn properties(&self, system_tz: FixedOffset) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.has_dynamic() {
            let unit = self
                .dynamic
                .get(TIME_UNIT)
                .cloned()
                .unwrap_or_else(|| "DAY".into())
                .to_ascii_uppercase();
            out.push((ENABLE.into(), self.dynamic_enabled().to_string()));
            out.push((TIME_UNIT.into(), unit.clone()));
            out.push((
                TIME_ZONE.into(),
                self.dynamic
                    .get(TIME_ZONE)
                    .cloned()
                    .unwrap_or_else(|| system_tz.to_string()),
            ));
            out.push((START.into(), self.int(START, MIN_START).to_string()));
            out.push((END.into(), self.int(END, 0).to_string()));
            out.push((
                PREFIX.into(),
                self.dynamic
                    .get(PREFIX)
                    .cloned()
                    .unwrap_or_else(|| "p".into()),
            ));
            out.push((HISTORY.into(), self.int(HISTORY, 0).to_string()));
            if unit == "WEEK" {
                out.push((
                    "dynamic_partition.start_day_of_week".into(),
                    self.int("dynamic_partition.start_day_of_week", 1)
                        .to_string(),
                ));
            } else if unit == "MONTH" {
                out.push((
                    "dynamic_partition.start_day_of_month".into(),
                    self.int("dynamic_partition.start_day_of_month", 1)
                        .to_string(),
                ));
            }
        }
        if let Some(n) = self.live_number {
            out.push((LIVE_NUMBER.into(), n.to_string()));
        }
        if let Some(t) = &self.ttl {
            out.push((TTL.into(), t.clone()));
        }
        out
    }

    /// The dynamic window's time zone: `dynamic_partition.time_zone`, else the FE's system zone.
    fn zone(&self, system_tz: FixedOffset) -> FixedOffset {
        self.dynamic
            .get(TIME_ZONE)
            .and_then(|z| parse_zone(z))
            .unwrap_or(system_tz)
    }
}

fn check_dynamic(key: &str, v: &str) -> Result<(), SimError> {
    let int = |what: &str| -> Result<i64, SimError> {
        v.trim()
            .parse()
            .map_err(|_| err(ER_DYNAMIC, format!("Invalid dynamic partition {what} {v}")))
    };
    match key {
        // DynamicPartitionUtil.java:110-133, ErrorCode.java:182-189
        START if int("start")? >= 0 => {
            return Err(err(ER_DYNAMIC, "Dynamic partition start must less than 0"));
        }
        END if int("end")? <= 0 => {
            return Err(err(ER_DYNAMIC, "Dynamic partition end must greater than 0"));
        }
        TIME_UNIT => {
            let u = v.to_ascii_uppercase();
            if !["HOUR", "DAY", "WEEK", "MONTH", "YEAR"].contains(&u.as_str()) {
                return Err(err(
                    5065,
                    format!("Unsupported time unit {v}. Expect DAY/WEEK/MONTH/YEAR."),
                ));
            }
        }
        ENABLE if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => {
            return Err(err(
                ER_DYNAMIC,
                format!("Invalid dynamic partition enable: {v}. Expected true or false"),
            ));
        }
        TIME_ZONE if parse_zone(v).is_none() => {
            return Err(err(
                ER_DDL,
                format!("Unknown or incorrect time zone: '{v}'"),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// `+08:00`, `UTC`, `Etc/UTC`, `GMT` (the zones the simulator can place on its clock).
fn parse_zone(z: &str) -> Option<FixedOffset> {
    if ["UTC", "ETC/UTC", "GMT", "Z"].contains(&z.to_ascii_uppercase().as_str()) {
        return FixedOffset::east_opt(0);
    }
    z.parse::<FixedOffset>().ok()
}

/// A `partition_ttl` value (TimeUtils.parseHumanReadablePeriodOrDuration: PeriodStyle.LONG
/// `N day(s)|week(s)|month(s)|year(s)`, else DurationStyle.LONG `N hour(s)|minute(s)|second(s)`):
/// (months, duration), both zero for "0 day".
fn parse_period(v: &str) -> Option<(u32, Duration)> {
    let mut months = 0u32;
    let mut dur = Duration::zero();
    let words: Vec<&str> = v.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return None;
    }
    for pair in words.chunks(2) {
        let n: i64 = pair[0].parse().ok()?;
        if n < 0 {
            return None;
        }
        match pair[1].to_ascii_lowercase().trim_end_matches('s') {
            "year" => months += u32::try_from(n * 12).ok()?,
            "month" => months += u32::try_from(n).ok()?,
            "week" => dur += Duration::days(7 * n),
            "day" => dur += Duration::days(n),
            "hour" => dur += Duration::hours(n),
            "minute" => dur += Duration::minutes(n),
            "second" => dur += Duration::seconds(n),
            _ => return None,
        }
    }
    Some((months, dur))
}

/// What one pass of the scheduler did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerAction {
    pub database: String,
    pub table: String,
    /// Partitions dropped (DROP PARTITION ... FORCE: no recycle bin).
    pub dropped: Vec<String>,
    /// Partitions the dynamic window added.
    pub added: Vec<String>,
}

/// The partition column's type decides how bounds print (DATE `yyyy-MM-dd`, DATETIME with time).
fn is_datetime(t: &Table) -> bool {
    let Some(col) = &t.partition_column else {
        return false;
    };
    t.columns
        .iter()
        .find(|c| &c.name == col)
        .is_some_and(|c| c.ty.to_ascii_uppercase().starts_with("DATETIME"))
}

fn fmt_bound(t: &Table, at: NaiveDateTime) -> String {
    if is_datetime(t) {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        at.format("%Y-%m-%d").to_string()
    }
}

/// DynamicPartitionUtil.getPartitionRangeString: the start of the time unit `offset` units from
/// `now` (local time of the window's zone).
fn border(s: &Scheduling, unit: &str, now: NaiveDateTime, offset: i64) -> Option<NaiveDateTime> {
    let day = now.date();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0);
    match unit {
        "HOUR" => now
            .with_minute(0)?
            .with_second(0)?
            .with_nanosecond(0)?
            .checked_add_signed(Duration::hours(offset)),
        "DAY" => midnight(day.checked_add_signed(Duration::days(offset))?),
        "WEEK" => {
            let first = s.int("dynamic_partition.start_day_of_week", 1);
            let back = (i64::from(day.weekday().number_from_monday()) - first).rem_euclid(7);
            midnight(day.checked_add_signed(Duration::days(offset * 7 - back))?)
        }
        "MONTH" => {
            let dom = u32::try_from(s.int("dynamic_partition.start_day_of_month", 1)).ok()?;
            let mut base = day.with_day(dom)?;
            if day.day() < dom {
                base = base.checked_sub_months(Months::new(1))?;
            }
            let moved = if offset >= 0 {
                base.checked_add_months(Months::new(u32::try_from(offset).ok()?))?
            } else {
                base.checked_sub_months(Months::new(u32::try_from(-offset).ok()?))?
            };
            midnight(moved)
        }
        "YEAR" => {
            let y = i32::try_from(i64::from(day.year()) + offset).ok()?;
            midnight(NaiveDate::from_ymd_opt(y, 1, 1)?)
        }
        _ => None,
    }
}

/// DynamicPartitionUtil.getFormattedPartitionName.
fn partition_name(prefix: &str, unit: &str, at: NaiveDateTime) -> String {
    let suffix = match unit {
        "HOUR" => at.format("%Y%m%d%H").to_string(),
        "WEEK" => format!("{}_{:02}", at.year(), at.iso_week().week()),
        "MONTH" => at.format("%Y%m").to_string(),
        "YEAR" => at.format("%Y").to_string(),
        _ => at.format("%Y%m%d").to_string(),
    };
    format!("{prefix}{suffix}")
}

/// One table's pass: (partitions to drop, partitions to add).
fn plan_table(
    t: &Table,
    now_utc: NaiveDateTime,
    system_tz: FixedOffset,
) -> (Vec<String>, Vec<PartitionSpec>) {
    let s = &t.scheduling;
    let mut drop: Vec<String> = Vec::new();
    let mut add = Vec::new();
    let live: Vec<_> = t.partitions.iter().filter(|p| !p.is_temp).collect();
    // Dynamic partitioning (DynamicPartitionScheduler.executeDynamicPartitionForTable, :355-461):
    // only enabled tables; drops only when `start` is set (getDropPartitionClause, :288-336).
    if s.has_dynamic() && s.dynamic_enabled() {
        let unit = s
            .dynamic
            .get(TIME_UNIT)
            .map(|u| u.to_ascii_uppercase())
            .unwrap_or_else(|| "DAY".into());
        let now = now_utc + s.zone(system_tz);
        let start = s.int(START, MIN_START);
        if start != MIN_START {
            if let Some(lower) = border(s, &unit, now, start) {
                let lower = fmt_bound(t, lower);
                // upper endpoint <= the reserved range's lower endpoint: dropped
                for p in &live {
                    if p.upper
                        .as_deref()
                        .is_some_and(|u| cmp_bound(u, &lower) <= 0)
                    {
                        drop.push(p.name.clone());
                    }
                }
            }
        }
        // getAddPartitionClause (:162-264): from max(start, -history_partition_num) to end, each
        // range added unless it overlaps an existing one.
        let from = start.max(-s.int(HISTORY, 0));
        let prefix = s.dynamic.get(PREFIX).cloned().unwrap_or_else(|| "p".into());
        for idx in from..=s.int(END, 0) {
            let (Some(lo), Some(hi)) = (border(s, &unit, now, idx), border(s, &unit, now, idx + 1))
            else {
                continue;
            };
            let (lo_s, hi_s) = (fmt_bound(t, lo), fmt_bound(t, hi));
            let overlaps = live.iter().any(|p| {
                p.lower.as_deref().is_none_or(|l| cmp_bound(l, &hi_s) < 0)
                    && p.upper.as_deref().is_none_or(|u| cmp_bound(&lo_s, u) < 0)
            });
            if !overlaps {
                add.push(PartitionSpec::range(
                    &partition_name(&prefix, &unit, lo),
                    &lo_s,
                    &hi_s,
                ));
            }
        }
    }
    // Partition TTL (PartitionTTLScheduler.getExpiredPartitionNames, :218-253): partition_ttl first,
    // else partition_live_number; RANGE tables with one partition column only.
    let now_local = now_utc + system_tz;
    match (s.ttl.as_deref().and_then(parse_period), s.live_number) {
        (Some((months, dur)), _) if months > 0 || !dur.is_zero() => {
            // buildDropPartitionClauseByTTLDuration (:255-291): upper <= now - ttl
            let bound = now_local
                .checked_sub_months(Months::new(months))
                .map(|b| b - dur)
                .map(|b| fmt_bound(t, b));
            if let Some(bound) = bound {
                for p in &live {
                    if p.upper
                        .as_deref()
                        .is_some_and(|u| cmp_bound(u, &bound) <= 0)
                    {
                        drop.push(p.name.clone());
                    }
                }
            }
        }
        (_, Some(n)) if n > 0 => {
            // buildDropPartitionClauseByTTLNumber (:303-353): partitions whose lower bound is not in
            // the future, by upper bound; all but the newest n go
            let today = fmt_bound(t, now_local);
            let mut cands: Vec<_> = live
                .iter()
                .filter(|p| p.lower.as_deref().is_none_or(|l| cmp_bound(l, &today) <= 0))
                .collect();
            cands.sort_by(|a, b| match (&a.upper, &b.upper) {
                (Some(x), Some(y)) => cmp_bound(x, y).cmp(&0),
                (None, None) => std::cmp::Ordering::Equal,
                (None, _) => std::cmp::Ordering::Greater,
                (_, None) => std::cmp::Ordering::Less,
            });
            let excess = cands
                .len()
                .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
            drop.extend(cands.iter().take(excess).map(|p| p.name.clone()));
        }
        _ => {}
    }
    drop.sort();
    drop.dedup();
    (drop, add)
}

impl Cluster {
    /// One pass of DynamicPartitionScheduler.runAfterCatalogReady (:509-531) at the virtual clock.
    /// Every table that qualifies is scheduled: the FE registers them at CREATE / ALTER / after a
    /// RESTORE, and findSchedulableTables (:463-501) registers every qualifying table anyway.
    /// Tables not NORMAL (a RESTORE in progress) are left alone (dropPartition refuses them).
    pub(crate) fn run_partition_scheduler(&mut self) -> Vec<SchedulerAction> {
        let now = self.now();
        let tz = self.opts.system_time_zone;
        let mut todo = Vec::new();
        for (db, d) in &self.dbs {
            for (name, t) in &d.tables {
                let range = t.is_partitioned() && t.partitioning == Partitioning::Range;
                if !range || t.state != TableState::Normal {
                    continue;
                }
                let (drop, add) = plan_table(t, now, tz);
                if !drop.is_empty() || !add.is_empty() {
                    todo.push((db.clone(), name.clone(), drop, add));
                }
            }
        }
        let mut actions = Vec::new();
        for (db, table, drop, add) in todo {
            let mut act = SchedulerAction {
                database: db.clone(),
                table: table.clone(),
                dropped: Vec::new(),
                added: Vec::new(),
            };
            for p in drop {
                if self.drop_partition(&db, &table, &p).is_ok() {
                    act.dropped.push(p);
                }
            }
            for spec in add {
                if self.add_partition(&db, &table, &spec, false).is_ok() {
                    act.added.push(spec.name.clone());
                }
            }
            actions.push(act);
        }
        actions
    }
}
