//! `starrocks-sim-sql --port N [--user U] [--password P] "SQL" ...`: a minimal MySQL text-protocol client,
//! so the demo (and a human) can load data into the simulator or query the ops tables on a machine that
//! has no MySQL client. Rows are printed tab-separated, NULL as `NULL`, one statement after another.

use mysql::prelude::Queryable;

fn usage() -> anyhow::Error {
    anyhow::anyhow!(
        "usage: starrocks-sim-sql [--host H] [--port N] [--user U] [--password P] SQL..."
    )
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let (mut host, mut port, mut user, mut password) = (
        "127.0.0.1".to_string(),
        9030u16,
        "root".to_string(),
        String::new(),
    );
    let mut statements = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--host" => host = args.next().ok_or_else(usage)?,
            "--port" => port = args.next().ok_or_else(usage)?.parse()?,
            "--user" => user = args.next().ok_or_else(usage)?,
            "--password" => password = args.next().ok_or_else(usage)?,
            "-h" | "--help" => return Err(usage()),
            _ => statements.push(a),
        }
    }
    if statements.is_empty() {
        return Err(usage());
    }
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some(host))
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password).filter(|p| !p.is_empty()))
        .prefer_socket(false);
    let mut conn = mysql::Conn::new(opts)?;
    for sql in statements {
        let mut result = conn.query_iter(&sql)?;
        while let Some(set) = result.iter() {
            let names: Vec<String> = set
                .columns()
                .as_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            if !names.is_empty() {
                println!("{}", names.join("\t"));
            }
            for row in set {
                let row = row?;
                let cells: Vec<String> = (0..row.len())
                    .map(|i| match row.as_ref(i) {
                        Some(mysql::Value::NULL) | None => "NULL".to_string(),
                        Some(mysql::Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
                        Some(v) => v.as_sql(true),
                    })
                    .collect();
                println!("{}", cells.join("\t"));
            }
        }
    }
    Ok(())
}
