//! `ADMIN SHOW FRONTEND CONFIG [LIKE 'pattern']`: the FE configuration as ConfigBase.getConfigInfo
//! renders it (fe/fe-core/.../common/ConfigBase.java:502, columns from
//! qe/ShowResultMetaFactory.java:790). Only the keys a client of this simulator reads are modelled.

use crate::cluster::{Cluster, Output};
use crate::sql::{err, Cur, ER_PARSE};
use crate::SimError;

/// Result columns (ShowResultMetaFactory.visitAdminShowConfigStatement).
const COLUMNS: &[&str] = &["Key", "AliasNames", "Value", "Type", "IsMutable", "Comment"];

/// `LIKE` as the FE's PatternMatcher applies it (case-insensitive, `%` and `_`).
fn like(s: &str, pattern: &str) -> bool {
    fn go(s: &[u8], p: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'%', rest)) => (0..=s.len()).any(|k| go(&s[k..], rest)),
            Some((b'_', rest)) => !s.is_empty() && go(&s[1..], rest),
            Some((c, rest)) => {
                s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(&s[1..], rest)
            }
        }
    }
    go(s.as_bytes(), pattern.as_bytes())
}

impl Cluster {
    /// `ADMIN SHOW FRONTEND CONFIG [LIKE '...']`; other ADMIN statements are syntax errors here.
    pub(crate) fn admin(&mut self, c: &mut Cur) -> Result<Output, SimError> {
        c.expect_kw("ADMIN")?;
        if !c.eat_kws(&["SHOW", "FRONTEND", "CONFIG"]) {
            return Err(err(
                ER_PARSE,
                "Getting syntax error. Detail message: ADMIN statement is not simulated.",
            ));
        }
        let pattern = if c.eat_kw("LIKE") {
            Some(c.string()?)
        } else {
            None
        };
        c.expect_end()?;
        let run_mode = if self.opts.shared_data {
            "shared_data"
        } else {
            "shared_nothing"
        };
        // (key, value, type, mutable)
        let config: [(&str, String, &str, bool); 3] = [
            ("run_mode", run_mode.to_string(), "String", false),
            (
                "history_job_keep_max_second",
                "604800".to_string(),
                "int",
                true,
            ),
            (
                "max_backup_restore_job_num_per_db",
                "10".to_string(),
                "int",
                true,
            ),
        ];
        let rows = config
            .iter()
            .filter(|(k, ..)| pattern.as_deref().is_none_or(|p| like(k, p)))
            .map(|(k, v, ty, m)| {
                vec![
                    Some(k.to_string()),
                    Some("[]".to_string()),
                    Some(v.clone()),
                    Some(ty.to_string()),
                    Some(m.to_string()),
                    Some(String::new()),
                ]
            })
            .collect();
        Ok(Output::rows(COLUMNS, rows))
    }
}
