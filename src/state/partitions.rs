//! Per-table facts discovery derives from partitions_meta / SHOW PARTITIONS rows beyond the
//! partitions themselves: physical partitions folded per name, the partition type, temporary
//! partitions (STARROCKS.md §4, §6).

use crate::planner::backup::PartitionState;

/// How a table is partitioned, as RESTORE distinguishes it (PartitionInfo.isRangePartition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionType {
    #[default]
    Unpartitioned,
    Range,
    List,
}

impl PartitionType {
    /// From partitions_meta: PARTITION_KEY empty = unpartitioned; PARTITION_VALUE is
    /// `Range.toString()` (`[types: [DATE]; keys: [...]; ..types: ...; )`) for RANGE tables and the
    /// values for LIST ones (PartitionsProcDir.findRangeOrListValues; ListPartitionInfo.getValuesFormat
    /// renders them as JSON, `[["bj"]]`), so anything not a range text is LIST.
    pub fn from_meta(partition_key: &str, partition_value: &str) -> PartitionType {
        if partition_key.trim().is_empty() {
            PartitionType::Unpartitioned
        } else if partition_value.trim_start().starts_with("[types:") {
            PartitionType::Range
        } else {
            PartitionType::List
        }
    }

    /// From SHOW CREATE TABLE, for a table without partitions (an automatic-partitioned table
    /// before its first load has no partitions_meta row to read the type from).
    /// ListPartitionInfo.toSql (ListPartitionInfo.java:388-392) writes `PARTITION BY LIST(` and, for
    /// automatic LIST, `PARTITION BY (`; RANGE and expression partitioning (`date_trunc(...)`,
    /// ExpressionRangePartitionInfo.java:229) write anything else.
    pub fn from_create_table(ddl: &str) -> PartitionType {
        let upper = ddl.to_ascii_uppercase();
        let Some(at) = upper.find("PARTITION BY") else {
            return PartitionType::Unpartitioned;
        };
        let rest = upper[at + "PARTITION BY".len()..].trim_start();
        if rest.starts_with("LIST") || rest.starts_with('(') {
            PartitionType::List
        } else {
            PartitionType::Range
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PartitionType::Unpartitioned => "unpartitioned",
            PartitionType::Range => "range",
            PartitionType::List => "list",
        }
    }
}

/// Folds the rows of one table into one [`PartitionState`] per (name, temporary): a partition
/// with several physical partitions (random distribution, #27522) is recorded as its smallest
/// physical id and the SUM of the physical versions. Every load bumps one physical version and
/// TRUNCATE / INSERT OVERWRITE replace the ids, so an unchanged set of (physical id, version)
/// gives the same pair run after run, and any change to the set gives another pair.
/// Returns whether some partition had several physical partitions.
pub fn fold_physical(parts: &mut Vec<PartitionState>) -> bool {
    parts.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.is_temp.cmp(&b.is_temp))
            .then(a.id.cmp(&b.id))
    });
    let mut multi = false;
    let mut out: Vec<PartitionState> = Vec::with_capacity(parts.len());
    for p in parts.drain(..) {
        match out.last_mut() {
            Some(last) if last.name == p.name && last.is_temp == p.is_temp => {
                multi = true;
                last.visible_version = last.visible_version.saturating_add(p.visible_version);
            }
            _ => out.push(p),
        }
    }
    *parts = out;
    multi
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    fn p(name: &str, id: i64, v: i64) -> PartitionState {
        PartitionState {
            name: name.into(),
            id,
            visible_version: v,
            is_temp: false,
            replication_num: Some(1),
        }
    }

    #[test]
    fn physical_partitions_fold_per_name() {
        // (rows, folded (name, id, version), several physical)
        type Case = (Vec<PartitionState>, Vec<(&'static str, i64, i64)>, bool);
        let cases: Vec<Case> = vec![
            (
                vec![p("a", 1, 2), p("b", 3, 1)],
                vec![("a", 1, 2), ("b", 3, 1)],
                false,
            ),
            (vec![p("a", 7, 2), p("a", 5, 3)], vec![("a", 5, 5)], true),
            (
                vec![p("b", 9, 1), p("a", 7, 2), p("a", 8, 1)],
                vec![("a", 7, 3), ("b", 9, 1)],
                true,
            ),
        ];
        for (mut rows, want, multi) in cases {
            assert_eq!(fold_physical(&mut rows), multi);
            let got: Vec<(&str, i64, i64)> = rows
                .iter()
                .map(|r| (r.name.as_str(), r.id, r.visible_version))
                .collect();
            assert_eq!(got, want);
        }
        // a load on either physical partition changes the folded pair; nothing else does
        let mut a = vec![p("a", 5, 3), p("a", 7, 2)];
        let mut b = vec![p("a", 7, 2), p("a", 5, 3)];
        fold_physical(&mut a);
        fold_physical(&mut b);
        assert_eq!(a, b);
        let mut c = vec![p("a", 5, 3), p("a", 7, 3)];
        fold_physical(&mut c);
        assert_ne!(a, c);
    }

    /// One change to the physical partitions of partition `a`, as StarRocks makes them: a load
    /// bumps one physical version, a new physical partition gets a larger id and version >= 1,
    /// TRUNCATE / INSERT OVERWRITE replace every id with larger ones.
    #[derive(Debug, Clone)]
    enum Change {
        Load(usize),
        AddPhysical(i64),
        Replace,
    }

    fn apply(state: &mut Vec<(i64, i64)>, next_id: &mut i64, c: &Change) {
        match c {
            Change::Load(i) => {
                let k = i % state.len();
                state[k].1 += 1;
            }
            Change::AddPhysical(v) => {
                *next_id += 1;
                state.push((*next_id, *v));
            }
            Change::Replace => {
                for s in state.iter_mut() {
                    *next_id += 1;
                    *s = (*next_id, 1);
                }
            }
        }
    }

    fn fold(state: &[(i64, i64)]) -> (i64, i64) {
        let mut rows: Vec<PartitionState> = state.iter().map(|&(id, v)| p("a", id, v)).collect();
        fold_physical(&mut rows);
        (rows[0].id, rows[0].visible_version)
    }

    proptest::proptest! {
        /// Distinct physical states reached by real changes never fold to the same pair: the
        /// tool would otherwise take a changed partition for unchanged.
        #[test]
        fn any_real_change_changes_the_fold(
            start in proptest::collection::vec(1i64..5, 1..4),
            changes in proptest::collection::vec(
                proptest::prop_oneof![
                    (0usize..8).prop_map(Change::Load),
                    (1i64..4).prop_map(Change::AddPhysical),
                    proptest::strategy::Just(Change::Replace),
                ],
                1..6,
            ),
        ) {
            let mut next_id = 100;
            let mut state: Vec<(i64, i64)> = start
                .iter()
                .map(|&v| {
                    next_id += 1;
                    (next_id, v)
                })
                .collect();
            let mut seen = vec![fold(&state)];
            for c in &changes {
                apply(&mut state, &mut next_id, c);
                let now = fold(&state);
                proptest::prop_assert!(!seen.contains(&now), "{changes:?} gave {now:?} again");
                seen.push(now);
            }
        }
    }

    #[test]
    fn partition_type_from_create_table() {
        for (ddl, want) in [
            (
                "CREATE TABLE t (id INT) DUPLICATE KEY(id) DISTRIBUTED BY HASH(id)",
                PartitionType::Unpartitioned,
            ),
            (
                "CREATE TABLE t (...)\nPARTITION BY (`city`)\nDISTRIBUTED BY",
                PartitionType::List,
            ),
            (
                "CREATE TABLE t (...)\nPARTITION BY LIST(`city`)\n(PARTITION p VALUES IN (\"bj\"))",
                PartitionType::List,
            ),
            (
                "CREATE TABLE t (...)\nPARTITION BY RANGE(`dt`)\n()",
                PartitionType::Range,
            ),
            (
                "CREATE TABLE t (...)\nPARTITION BY date_trunc('day', dt)\n",
                PartitionType::Range,
            ),
        ] {
            assert_eq!(PartitionType::from_create_table(ddl), want, "{ddl}");
        }
    }

    #[test]
    fn partition_type_from_meta() {
        assert_eq!(
            PartitionType::from_meta("", ""),
            PartitionType::Unpartitioned
        );
        assert_eq!(
            PartitionType::from_meta(
                "dt",
                "[types: [DATE]; keys: [2024-01-01]; ..types: [DATE]; keys: [2024-02-01]; )"
            ),
            PartitionType::Range
        );
        assert_eq!(
            PartitionType::from_meta("city", "(('bj'))"),
            PartitionType::List
        );
        for v in ["[[\"bj\"]]", ""] {
            assert_eq!(PartitionType::from_meta("city", v), PartitionType::List);
        }
    }
}
