//! `starrocks-sim --port 9030 [--demo] [--release 3.4.0] [--backends N]`: serve until killed.

use std::time::Duration;

use starrocks_sim::{PartitionSpec, Sim, SimOptions, TableSpec};

fn usage() -> anyhow::Error {
    anyhow::anyhow!(
        "usage: starrocks-sim [--port N] [--demo] [--release 3.3.5] [--backends N] [--password P]"
    )
}

/// Repository `backup_repo`, sales.orders (4 monthly partitions) and sales.customers, with loads.
fn demo(sim: &Sim) -> anyhow::Result<()> {
    sim.create_repository("backup_repo", false)?;
    sim.execute("CREATE DATABASE IF NOT EXISTS sales")?;
    let orders = TableSpec::new(&[
        ("order_id", "BIGINT"),
        ("order_date", "DATE"),
        ("customer_id", "BIGINT"),
        ("amount", "DECIMAL(10,2)"),
    ])
    .range(
        "order_date",
        vec![
            PartitionSpec::less_than("p202401", "2024-02-01"),
            PartitionSpec::less_than("p202402", "2024-03-01"),
            PartitionSpec::less_than("p202403", "2024-04-01"),
            PartitionSpec::less_than("p202404", "2024-05-01"),
        ],
    );
    sim.create_table("sales", "orders", &orders)?;
    let customers = TableSpec::new(&[("customer_id", "BIGINT"), ("name", "VARCHAR(64)")]);
    sim.create_table("sales", "customers", &customers)?;
    sim.execute(
        "INSERT INTO sales.orders VALUES (1, '2024-01-15', 1, 10.50), (2, '2024-02-03', 2, 99.00), \
         (3, '2024-03-21', 1, 5.25), (4, '2024-04-30', 3, 42.00)",
    )?;
    sim.execute("INSERT INTO sales.customers VALUES (1, 'Ada'), (2, 'Grace'), (3, 'Edsger')")?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut opts = SimOptions::default();
    let mut port = 9030u16;
    let mut with_demo = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().ok_or_else(usage)?.parse()?,
            "--demo" => with_demo = true,
            "--release" => opts.release = args.next().ok_or_else(usage)?,
            "--backends" => opts.backends = args.next().ok_or_else(usage)?.parse()?,
            "--password" => opts.password = args.next().ok_or_else(usage)?,
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            _ => return Err(usage()),
        }
    }
    let sim = Sim::start_on(opts, port)?;
    if with_demo {
        demo(&sim)?;
    }
    println!("listening on 127.0.0.1:{}", sim.port());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
