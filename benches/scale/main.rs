//! `cargo bench --bench scale [-- --smoke] [-- --cases backup,list,poll,restore,rolling,parallel,expire]`: the scale
//! benchmark of docs/BENCHMARKS.md. Not a criterion bench: each case runs the real binary once as a
//! child process against an in-process simulator and prints wall time, peak RSS, CPU and statements.

mod bounded;
mod expire;
mod scenario;

use anyhow::Result;
use scenario::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--launch") {
        return launch_main(&args[1..]);
    }
    // Children are measured through a fresh small copy of this binary (see spawn_measured).
    std::env::set_var("BBR_BENCH_LAUNCHER", std::env::current_exe()?);
    let mut sizes = if args.iter().any(|a| a == "--smoke") {
        Sizes::smoke()
    } else {
        Sizes::full()
    };
    let mut cases = "backup,list,poll,restore".to_string();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let num = |it: &mut std::slice::Iter<'_, String>| -> usize {
            it.next().and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        match a.as_str() {
            "--cases" => cases = it.next().cloned().unwrap_or_default(),
            "--tables" => sizes.tables = num(&mut it),
            "--partitions" => sizes.partitions = num(&mut it),
            "--history" => sizes.history_rows = num(&mut it),
            "--chain" => sizes.restore_chain = num(&mut it),
            "--poll-scale" => sizes.poll_scale = num(&mut it) as u64,
            _ => {} // `cargo bench` passes --bench
        }
    }
    let mut log = |s: &str| println!("{s}");
    println!("scale benchmark: {sizes:?}");
    println!("tool binary: {}", tool_bin().display());
    let dir = tempfile::tempdir()?;
    println!(
        "launcher floor (peak RSS of /bin/true measured the same way): {:.1} MB",
        mb(rss_floor(dir.path())?)
    );
    if cases.contains("backup") || cases.contains("list") {
        let sim = start_sim()?;
        if cases.contains("backup") {
            let r = backup_cases(&sim, dir.path(), &sizes, &mut log)?;
            println!(
                "  per-table SHOW PARTITIONS vs partitions_meta: wall x{:.2}, statements {} vs {}",
                r.fallback.wall.as_secs_f64() / r.incremental.wall.as_secs_f64().max(1e-9),
                r.fallback.statements,
                r.incremental.statements
            );
        }
        if cases.contains("list") {
            list_cases(&sim, dir.path(), &sizes, &mut log)?;
        }
    }
    if cases.contains("restore") {
        restore_case(&sizes, &mut log)?;
    }
    if cases.contains("expire") {
        let s = if args.iter().any(|a| a == "--smoke") {
            expire::ExpireSizes::smoke()
        } else {
            expire::ExpireSizes::full()
        };
        expire::expire_case(&s, &mut log)?;
    }
    if cases.contains("poll") {
        poll_case(&sizes, &mut log)?;
    }
    if cases.contains("rolling") {
        let (partitions, days) = if args.iter().any(|a| a == "--smoke") {
            (10, 20)
        } else {
            (365, 365)
        };
        bounded::rolling_case(partitions, days, &mut log)?;
    }
    if cases.contains("parallel") {
        bounded::parallel_case(&mut log)?;
    }
    Ok(())
}
