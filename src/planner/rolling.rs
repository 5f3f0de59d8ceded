//! Rolling fulls (SPEC.md "Bounded restores"): which tables a backup run takes whole although they
//! could be backed up incrementally, so that no table's newest restore point ever needs more than
//! `max_restore_jobs` RESTORE jobs, no chain starts before `full_every_days`, no chain needs a
//! snapshot gone from the repository (re-based), and no chain spans two repositories — while spreading those whole-table backups over runs instead of one huge full.
//! Pure: per-table facts in, decisions out.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDateTime;

/// The RESTORE jobs a table's newest restore point needs if this run backs it up incrementally:
/// one per distinct snapshot still supplying an unchanged partition, plus this run's snapshot when
/// it holds any partition of the table.
pub fn jobs_if_incremental<'a>(
    unchanged_sources: impl IntoIterator<Item = &'a str>,
    changed: bool,
) -> usize {
    let distinct: BTreeSet<&str> = unchanged_sources.into_iter().collect();
    distinct.len() + usize::from(changed)
}

/// What the planner knows about one table that could be backed up incrementally in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFacts {
    /// [`jobs_if_incremental`] for this run.
    pub jobs_if_incremental: usize,
    /// When the snapshot its chain starts at (its latest whole-table backup) was taken.
    pub chain_start: Option<NaiveDateTime>,
    /// The repositories holding the snapshots its newest restore point needs.
    pub repositories: Vec<String>,
    /// Anything of the table changed since the base (a whole-table backup costs data only then).
    pub changed: bool,
    /// Snapshots its newest restore point needs that are no longer in the repository (absent
    /// from SHOW SNAPSHOT, or marked EXPIRED): (label, repository), sorted.
    pub missing: Vec<(String, String)>,
}

/// The bounds from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds<'a> {
    pub max_restore_jobs: usize,
    /// 0 = never.
    pub full_every_days: u32,
    pub repository: &'a str,
    /// `backup --full`.
    pub force_full: bool,
}

/// Why a table must be backed up whole in this run, if it must.
pub fn forced_reason(f: &TableFacts, b: &Bounds<'_>, now: Option<NaiveDateTime>) -> Option<String> {
    if b.force_full {
        return Some("backup --full".to_string());
    }
    if let Some((label, repo)) = f.missing.first() {
        let more = match f.missing.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Some(format!(
            "its chain needs snapshot {label}{more}, which is no longer in repository {repo}"
        ));
    }
    if let Some(other) = f.repositories.iter().find(|r| r.as_str() != b.repository) {
        return Some(format!(
            "its chain is in repository {other}, the config names {}",
            b.repository
        ));
    }
    if f.jobs_if_incremental > b.max_restore_jobs {
        return Some(format!(
            "an incremental would make its restore need {} RESTORE jobs, max_restore_jobs is {}",
            f.jobs_if_incremental, b.max_restore_jobs
        ));
    }
    if b.full_every_days > 0 {
        if let (Some(start), Some(now)) = (f.chain_start, now) {
            if now - start >= chrono::Duration::days(i64::from(b.full_every_days)) {
                return Some(format!(
                    "its chain starts at {start}, more than full_every_days ({}) ago",
                    b.full_every_days
                ));
            }
        }
    }
    None
}

/// Decides which tables go whole: every forced one, plus — to spread whole-table backups over
/// runs — as few others as keep the coming runs within `ceil(2 × changed tables /
/// max_restore_jobs)` whole tables each (twice the average a table taken whole once per
/// `max_restore_jobs` runs costs, so the first incrementals after a FULL of everything stay lean
/// and the wholes then come in at most `max_restore_jobs / 2` cohorts instead of one FULL). A changed table whose restore needs `j` jobs after this run is due (forced)
/// within `max_restore_jobs + 1 - j` runs if it keeps changing; when more tables fall due by some
/// future run than the runs until then can take, the surplus is taken now, longest chains first
/// (then the oldest chain start, then by name). One table, or tables already spread, are never
/// taken early; in a steady state where every table changes every run, each one is taken whole
/// about once per `max_restore_jobs` runs, on different runs.
pub fn decide<K: Ord + Clone>(
    facts: &BTreeMap<K, TableFacts>,
    b: &Bounds<'_>,
    now: Option<NaiveDateTime>,
) -> BTreeMap<K, String> {
    let mut whole: BTreeMap<K, String> = facts
        .iter()
        .filter_map(|(k, f)| forced_reason(f, b, now).map(|r| (k.clone(), r)))
        .collect();
    let max = b.max_restore_jobs.max(1);
    let changed = facts.values().filter(|f| f.changed).count();
    let per_run = (2 * changed).div_ceil(max);
    let mut due: Vec<(usize, &K, &TableFacts)> = facts
        .iter()
        .filter(|(k, f)| f.changed && f.jobs_if_incremental > 1 && !whole.contains_key(*k))
        .map(|(k, f)| ((max + 1).saturating_sub(f.jobs_if_incremental), k, f))
        .collect();
    due.sort_by(|(da, ka, a), (db, kb, b)| {
        da.cmp(db)
            .then(a.chain_start.cmp(&b.chain_start))
            .then(ka.cmp(kb))
    });
    // surplus = max over k >= 1 of (tables due within k runs) - (what runs 1..=k can take)
    let mut surplus = 0usize;
    for (i, (d, ..)) in due.iter().enumerate() {
        let due_by_d = due.iter().skip(i).take_while(|(x, ..)| x == d).count() + i;
        surplus = surplus.max(due_by_d.saturating_sub(per_run * d));
    }
    for (_, k, f) in due.into_iter().take(surplus) {
        whole.insert(
            k.clone(),
            format!(
                "rolling full: spreads whole-table backups over runs ({} RESTORE jobs otherwise)",
                f.jobs_if_incremental
            ),
        );
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn facts(jobs: usize, start: &str, repo: &str, changed: bool) -> TableFacts {
        TableFacts {
            jobs_if_incremental: jobs,
            chain_start: Some(t(start)),
            repositories: vec![repo.to_string()],
            changed,
            missing: Vec::new(),
        }
    }

    fn bounds(max: usize, days: u32, full: bool) -> Bounds<'static> {
        Bounds {
            max_restore_jobs: max,
            full_every_days: days,
            repository: "repo",
            force_full: full,
        }
    }

    #[test]
    fn jobs_count_distinct_sources_plus_this_run() {
        assert_eq!(jobs_if_incremental(["a", "b", "a"], true), 3);
        assert_eq!(jobs_if_incremental(["a", "b", "a"], false), 2);
        assert_eq!(jobs_if_incremental([], true), 1);
    }

    #[test]
    fn forced_reasons() {
        let now = Some(t("2026-01-10 00:00:00"));
        // (name, facts, bounds, forced?)
        let cases = [
            (
                "within every bound",
                facts(3, "2026-01-05 00:00:00", "repo", true),
                bounds(8, 7, false),
                None,
            ),
            (
                "--full",
                facts(1, "2026-01-09 00:00:00", "repo", false),
                bounds(8, 0, true),
                Some("backup --full"),
            ),
            (
                "past the bound",
                facts(9, "2026-01-09 00:00:00", "repo", true),
                bounds(8, 0, false),
                Some("9 RESTORE jobs"),
            ),
            (
                "at the bound",
                facts(8, "2026-01-09 00:00:00", "repo", true),
                bounds(8, 0, false),
                None,
            ),
            (
                "chain too old",
                facts(2, "2026-01-02 00:00:00", "repo", true),
                bounds(8, 7, false),
                Some("full_every_days (7)"),
            ),
            (
                "full_every_days off",
                facts(2, "2020-01-02 00:00:00", "repo", true),
                bounds(8, 0, false),
                None,
            ),
            (
                "another repository",
                facts(2, "2026-01-09 00:00:00", "old_repo", false),
                bounds(8, 0, false),
                Some("repository old_repo"),
            ),
            (
                "its chain needs a snapshot gone from the repository",
                TableFacts {
                    missing: vec![("d3".into(), "repo".into())],
                    ..facts(2, "2026-01-09 00:00:00", "repo", false)
                },
                bounds(8, 0, false),
                Some("its chain needs snapshot d3, which is no longer in repository repo"),
            ),
        ];
        for (name, f, b, want) in cases {
            let got = forced_reason(&f, &b, now);
            match want {
                None => assert_eq!(got, None, "{name}"),
                Some(w) => assert!(
                    got.as_deref().is_some_and(|g| g.contains(w)),
                    "{name}: {got:?}"
                ),
            }
        }
    }

    #[test]
    fn spreads_whole_tables_over_runs_longest_chain_first() {
        let mut f = BTreeMap::new();
        for (i, jobs) in [2usize, 5, 3, 4, 1, 2, 2, 2].iter().enumerate() {
            f.insert(i, facts(*jobs, "2026-01-01 00:00:00", "repo", true));
        }
        f.insert(9, facts(4, "2026-01-01 00:00:00", "repo", false));
        // 8 changed tables, max 4: four per run may go whole. Table 1 is forced (5 > 4); due
        // within 1 run: table 3 (4 jobs); within 2: table 2; within 3: five tables of 2 jobs.
        // Runs 1..=3 take 12, so nothing more is needed now; an unchanged table is never taken.
        let d = decide(&f, &bounds(4, 0, false), None);
        assert_eq!(d.keys().copied().collect::<Vec<_>>(), vec![1]);
        // Ten more tables due within one run (18 changed: nine a run): eleven are due by run 1,
        // which takes nine, so two go now besides the forced one (by name among equals).
        for k in 10..20 {
            f.insert(k, facts(4, "2026-01-01 00:00:00", "repo", true));
        }
        let d = decide(&f, &bounds(4, 0, false), None);
        assert_eq!(
            d.keys().copied().collect::<Vec<_>>(),
            vec![1, 3, 10],
            "{d:?}"
        );
        // One table alone is never taken early.
        let one: BTreeMap<usize, TableFacts> =
            [(0, facts(8, "2026-01-01 00:00:00", "repo", true))].into();
        assert!(decide(&one, &bounds(8, 0, false), None).is_empty());
    }

    #[test]
    fn steady_daily_changes_never_exceed_the_bound_and_spread_evenly() {
        // 12 tables, each changes every run and each run adds one snapshot to its chain.
        let max = 4;
        let mut jobs: BTreeMap<usize, usize> = (0..12).map(|i| (i, 1)).collect();
        let mut wholes_per_run = Vec::new();
        for _run in 0..40 {
            let f: BTreeMap<usize, TableFacts> = jobs
                .iter()
                .map(|(k, j)| (*k, facts(j + 1, "2026-01-01 00:00:00", "repo", true)))
                .collect();
            let d = decide(&f, &bounds(max, 0, false), None);
            wholes_per_run.push(d.len());
            for (k, j) in jobs.iter_mut() {
                *j = if d.contains_key(k) { 1 } else { *j + 1 };
                assert!(*j <= max);
            }
        }
        // never more than ceil(2 × 12 / 4) = 6 whole tables in one run (not all 12 at once), and
        // on average each table once per max runs
        assert!(wholes_per_run.iter().all(|n| *n <= 6), "{wholes_per_run:?}");
        let total: usize = wholes_per_run.iter().sum();
        assert!(total <= 12 * 40 / max + 12, "{wholes_per_run:?}");
    }
}
