//! A StarRocks FE simulator speaking the MySQL wire protocol.
//!
//! It exists so that `starrocks-bbr` can be tested end to end without a real cluster: the
//! statements, result sets, error texts and job state machines follow `shared/STARROCKS.md`.
//! Ordinary SQL on user tables runs in an in-memory SQLite; the StarRocks catalog (partitions,
//! versions, repositories, snapshots, backup/restore jobs) is modelled by hand in [`cluster`].

mod admin;
mod backup_job;
mod cluster;
mod control;
mod ddl;
mod ddl_exec;
mod dml;
mod info_schema;
mod job_show;
mod jobs;
mod loads;
mod model;
mod prepared;
mod release;
mod rename;
mod restore_job;
mod scheduler;
mod server;
mod show;
mod signature;
mod snapshots;
mod sql;
mod storage;
mod stream;
mod tls;
mod wire;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{FixedOffset, NaiveDate, NaiveDateTime};

pub use cluster::{
    JobInfo, JobKind, PartitionInfo, SnapshotInfo, SnapshotPartition, SnapshotTable,
};
pub use ddl::{KeysType, PartitionSpec, Partitioning, TableSpec};
pub use release::Release;
pub use scheduler::SchedulerAction;
pub use storage::RepositoryStore;
pub use tls::TlsFront;

/// Options for [`Sim::start`]. Every field is public so tests can tweak one with `..Default::default()`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The StarRocks release played, `major.minor.patch` ("2.5.22" … "4.1.0"; "3.3.x" = 3.3.0). It
    /// picks the handshake version, `current_version()`, errnos, partitions_meta, prepared
    /// statements, LIST rules and SHOW time zones (see [`Release`]). Default "3.1.9".
    pub release: String,
    /// Number of alive backends: bounds replication_num of new tables and restores.
    pub backends: u32,
    /// The FE JVM's zone: snapshot timestamps (`backup_timestamp`) are rendered in it.
    pub system_time_zone: FixedOffset,
    /// Default session `time_zone` of every new connection.
    pub session_time_zone: FixedOffset,
    /// Virtual clock start, UTC.
    pub start_time: NaiveDateTime,
    /// The virtual clock advances this much on every statement received from a client (ZERO = manual).
    pub tick_per_statement: Duration,
    /// How long each backup/restore job state lasts in virtual time.
    pub job_state_duration: Duration,
    /// Overrides whether `information_schema.partitions_meta` exists (None: as the release has it).
    pub partitions_meta: Option<bool>,
    /// `run_mode` = `shared_data` (no BACKUP/RESTORE) instead of `shared_nothing`.
    pub shared_data: bool,
    /// Overrides whether SHOW BACKUP/RESTORE render times in fixed +08:00 (None: as the release
    /// does, from 4.1; Some(true): a patch release with that change backported).
    pub fixed_job_time_zone: Option<bool>,
    /// The only account.
    pub user: String,
    /// Its password ("" = none).
    pub password: String,
    /// The 4.2 snapshot-lifecycle capability (PR #78092): `DROP SNAPSHOT <name> ON <repo> [FORCE]`,
    /// SHOW SNAPSHOT's ClusterId/FinishTime/TTL/ExpireTime columns, snapshots stamped with
    /// `cluster_id`. Release 4.2+ has it anyway; true forces it on an earlier release.
    pub drop_snapshot: bool,
    /// The id this cluster writes into its snapshots (4.2+); DROP without FORCE refuses others'.
    pub cluster_id: String,
    /// The remote storage repositories write to. None: storage of its own. Some(handle from
    /// [`Sim::repository_store`] of another cluster): a repository created here with the same
    /// name and location sees that cluster's snapshots (disaster recovery onto a new cluster).
    pub repository_store: Option<RepositoryStore>,
    /// The first catalog id (databases, tables, partitions) this FE hands out. A real new cluster's
    /// ids are unrelated to the old one's; give a second cluster another range to model that.
    pub first_id: u64,
}

impl Default for SimOptions {
    fn default() -> Self {
        let utc = FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!());
        SimOptions {
            release: "3.1.9".to_string(),
            backends: 1,
            system_time_zone: utc,
            session_time_zone: utc,
            start_time: NaiveDate::from_ymd_opt(2026, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .unwrap_or_default(),
            tick_per_statement: Duration::from_secs(1),
            job_state_duration: Duration::from_secs(2),
            partitions_meta: None,
            shared_data: false,
            fixed_job_time_zone: None,
            user: "root".to_string(),
            password: String::new(),
            drop_snapshot: false,
            cluster_id: "sim-cluster-1".to_string(),
            repository_store: None,
            first_id: 10001,
        }
    }
}

/// When a connection fault fires relative to executing the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// The statement is not executed.
    Before,
    /// The statement is executed (its effects persist) but never answered.
    After,
}

/// One statement received from a client (not from [`Sim::execute`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedStatement {
    /// The server-side connection id (unique per connection).
    pub conn_id: u32,
    /// The statement text as received.
    pub sql: String,
    /// The error message sent back, if the statement failed.
    pub error: Option<String>,
}

/// An error as the simulated FE reports it: MySQL errno and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimError {
    /// MySQL error number (e.g. 5064, 1064, 1193).
    pub code: u16,
    /// The message, verbatim.
    pub message: String,
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERROR {}: {}", self.code, self.message)
    }
}

impl std::error::Error for SimError {}

/// A hook run once after a matching statement executed (before it is answered).
pub type Hook = Box<dyn FnMut(&Sim) + Send>;

/// The shared state behind every handle and connection.
pub(crate) struct Shared {
    pub(crate) cluster: Mutex<cluster::Cluster>,
    pub(crate) hooks: Mutex<Vec<(regex::Regex, Hook)>>,
    /// Statements held by a hang fault (reached: After = executed, hooks run).
    pub(crate) hung: std::sync::atomic::AtomicUsize,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, cluster::Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running simulator. Dropping the value that [`Sim::start`] returned shuts the server down.
pub struct Sim {
    shared: Arc<Shared>,
    port: u16,
    server: Option<server::ServerGuard>,
}

/// Compiles a user pattern; an invalid regex is taken literally so fault setup never panics.
fn pattern(p: &str) -> regex::Regex {
    regex::Regex::new(p)
        .or_else(|_| regex::Regex::new(&regex::escape(p)))
        .unwrap_or_else(|_| regex::Regex::new("$^").unwrap_or_else(|_| unreachable!()))
}

impl Sim {
    /// Starts a simulator on 127.0.0.1 with a free port, serving on a background thread.
    pub fn start(opts: SimOptions) -> anyhow::Result<Sim> {
        Self::start_on(opts, 0)
    }

    /// Starts a simulator on 127.0.0.1:`port` (0 = pick a free port).
    pub fn start_on(opts: SimOptions, port: u16) -> anyhow::Result<Sim> {
        let cluster = cluster::Cluster::new(opts)?;
        let shared = Arc::new(Shared {
            cluster: Mutex::new(cluster),
            hooks: Mutex::new(Vec::new()),
            hung: std::sync::atomic::AtomicUsize::new(0),
        });
        let (guard, port) = server::serve(shared.clone(), port)?;
        Ok(Sim {
            shared,
            port,
            server: Some(guard),
        })
    }

    /// A non-owning handle for hooks: dropping it does not stop the server.
    pub(crate) fn handle(shared: Arc<Shared>, port: u16) -> Sim {
        Sim {
            shared,
            port,
            server: None,
        }
    }

    /// The TCP port the simulator listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn lock(&self) -> MutexGuard<'_, cluster::Cluster> {
        self.shared.lock()
    }

    /// Runs SQL as a client would, on a private control session (not logged, no clock tick, no faults).
    /// Errors are [`SimError`] inside the anyhow error.
    pub fn execute(&self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let mut c = self.lock();
        let mut session = c.control_session();
        match c.run(&mut session, sql) {
            Ok(cluster::Output::Rows { rows, .. }) => Ok(rows),
            Ok(cluster::Output::Flat(f)) => Ok(f.into_rows()),
            Ok(cluster::Output::Ok { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// The virtual clock (UTC).
    pub fn now(&self) -> NaiveDateTime {
        self.lock().now()
    }

    /// Moves the virtual clock forward; jobs progress accordingly.
    pub fn advance(&self, by: Duration) {
        self.lock().advance(by);
    }

    /// Creates a repository (as `CREATE [READ ONLY] REPOSITORY`) at `s3://sim-bucket/backup`.
    pub fn create_repository(&self, name: &str, read_only: bool) -> anyhow::Result<()> {
        self.create_repository_at(name, read_only, "s3://sim-bucket/backup")
    }

    /// Creates a repository at a given location.
    pub fn create_repository_at(
        &self,
        name: &str,
        read_only: bool,
        location: &str,
    ) -> anyhow::Result<()> {
        self.lock().create_repository(name, read_only, location)?;
        Ok(())
    }

    /// Deletes a snapshot's files from the repository's storage, as an operator or a bucket
    /// lifecycle rule would (no SQL can before 4.2): it is no longer listed anywhere.
    pub fn delete_snapshot_files(&self, repo: &str, label: &str) {
        let c = self.lock();
        if let Some(r) = c.repos.get(repo) {
            r.snapshots(|v| v.retain(|s| s.label != label));
        }
    }

    /// A handle on this cluster's repository storage, for [`SimOptions::repository_store`].
    pub fn repository_store(&self) -> RepositoryStore {
        self.lock().store.clone()
    }

    /// Creates a database if absent.
    pub fn create_database(&self, db: &str) -> anyhow::Result<()> {
        self.lock().create_database(db, true)?;
        Ok(())
    }

    /// Creates an OLAP table (and its database if absent) from a spec.
    pub fn create_table(&self, db: &str, table: &str, spec: &TableSpec) -> anyhow::Result<()> {
        let mut c = self.lock();
        c.create_database(db, true)?;
        let ddl = spec.to_sql(db, table);
        let mut session = c.control_session();
        c.run(&mut session, &ddl)?;
        Ok(())
    }

    /// Simulates a load of `rows` rows into one partition: version +1, rows +N, version time = now.
    pub fn load(&self, db: &str, table: &str, partition: &str, rows: u64) -> anyhow::Result<()> {
        self.lock().load(db, table, partition, rows)?;
        Ok(())
    }

    /// TRUNCATE of one partition: new id, version 1, no rows.
    pub fn truncate_partition(&self, db: &str, table: &str, partition: &str) -> anyhow::Result<()> {
        self.lock().truncate_partition(db, table, partition)?;
        Ok(())
    }

    /// Gives a partition one more physical partition (random distribution with automatic
    /// bucketing): a new physical id at version 1. Returns its index (1 = the second physical).
    pub fn add_physical_partition(
        &self,
        db: &str,
        table: &str,
        partition: &str,
    ) -> anyhow::Result<usize> {
        let mut c = self.lock();
        let id = c.next_id();
        let t = c.table_mut(db, table)?;
        let p = t
            .partition_mut(partition)
            .ok_or_else(|| anyhow::anyhow!("no partition {partition} in {db}.{table}"))?;
        p.physical.push((id, 1));
        Ok(p.physical.len())
    }

    /// A load that wrote only physical partition `k` (0 = the first) of a partition: only that
    /// physical partition's version moves (rows +N, version time = now).
    pub fn load_physical(
        &self,
        db: &str,
        table: &str,
        partition: &str,
        k: usize,
        rows: u64,
    ) -> anyhow::Result<()> {
        if k == 0 {
            return self.load(db, table, partition, rows);
        }
        let mut c = self.lock();
        let now = c.now();
        let t = c.table_mut(db, table)?;
        let p = t
            .partition_mut(partition)
            .ok_or_else(|| anyhow::anyhow!("no partition {partition} in {db}.{table}"))?;
        let ph = p.physical.get_mut(k - 1).ok_or_else(|| {
            anyhow::anyhow!("partition {partition} has no physical partition {k}")
        })?;
        ph.1 += 1;
        p.row_count += rows;
        p.version_time = now;
        Ok(())
    }

    /// An INSERT OVERWRITE in flight: a temporary partition `<p>_<job>` beside each named one
    /// (BACKUP refuses the table meanwhile). Returns the job id for [`Sim::finish_insert_overwrite`].
    pub fn begin_insert_overwrite(
        &self,
        db: &str,
        table: &str,
        partitions: &[&str],
    ) -> anyhow::Result<u64> {
        Ok(self.lock().begin_insert_overwrite(db, table, partitions)?)
    }

    /// The INSERT OVERWRITE ends: each temporary partition (loaded with `rows` rows, version 2)
    /// replaces its partition, which keeps its name and takes the new id.
    pub fn finish_insert_overwrite(
        &self,
        db: &str,
        table: &str,
        job: u64,
        rows: u64,
    ) -> anyhow::Result<()> {
        self.lock().finish_insert_overwrite(db, table, job, rows)?;
        Ok(())
    }

    /// One pass of the FE's partition scheduler (dynamic partitioning + partition TTL) at the
    /// virtual clock: what it dropped and added, per table (sim/src/scheduler.rs).
    pub fn run_partition_scheduler(&self) -> Vec<SchedulerAction> {
        self.lock().run_partition_scheduler()
    }

    /// Drops one partition (temporary ones included).
    pub fn drop_partition(&self, db: &str, table: &str, partition: &str) -> anyhow::Result<()> {
        self.lock().drop_partition(db, table, partition)?;
        Ok(())
    }

    /// Adds a range partition (version 1, no rows).
    pub fn add_partition(&self, db: &str, table: &str, part: &PartitionSpec) -> anyhow::Result<()> {
        self.lock().add_partition(db, table, part, false)?;
        Ok(())
    }

    /// Adds a temporary partition (which makes the table impossible to back up).
    pub fn add_temp_partition(
        &self,
        db: &str,
        table: &str,
        part: &PartitionSpec,
    ) -> anyhow::Result<()> {
        self.lock().add_partition(db, table, part, true)?;
        Ok(())
    }

    /// ALTER TABLE ADD COLUMN: changes neither partition ids nor versions (fast schema evolution).
    pub fn add_column(&self, db: &str, table: &str, column: &str, ty: &str) -> anyhow::Result<()> {
        self.lock().add_column(db, table, column, ty)?;
        Ok(())
    }

    /// Drops a table if it exists.
    pub fn drop_table(&self, db: &str, table: &str) -> anyhow::Result<()> {
        self.lock().drop_table(db, table)?;
        Ok(())
    }

    /// The partitions of a table (temporary ones included, flagged), in definition order.
    pub fn partitions(&self, db: &str, table: &str) -> anyhow::Result<Vec<PartitionInfo>> {
        Ok(self.lock().partitions(db, table)?)
    }

    /// Whether the table exists.
    pub fn table_exists(&self, db: &str, table: &str) -> bool {
        self.lock().table_exists(db, table)
    }

    /// Files a finished snapshot without tables into a repository (as another cluster's backup
    /// would leave it): SHOW SNAPSHOT lists it; a RESTORE of a table from it fails. For histories
    /// written by hand (benchmarks) whose restores are only planned.
    pub fn put_snapshot(
        &self,
        repo: &str,
        label: &str,
        timestamp: &str,
        db: &str,
    ) -> anyhow::Result<()> {
        let c = self.lock();
        let now = c.now();
        let r = c
            .repos
            .get(repo)
            .ok_or_else(|| anyhow::anyhow!("repository {repo} does not exist"))?;
        r.snapshots(|v| {
            v.push(jobs::Snap {
                label: label.to_string(),
                timestamp: timestamp.to_string(),
                db: db.to_string(),
                create_time: now,
                tables: Vec::new(),
                rows: Default::default(),
                finished: true,
                cluster_id: None,
                finish_time: Some(now),
            })
        });
        Ok(())
    }

    /// Snapshots of a repository (finished and not), oldest first.
    pub fn snapshots(&self, repo: &str) -> Vec<SnapshotInfo> {
        self.lock().snapshots(repo)
    }

    /// Every BACKUP/RESTORE job ever submitted, oldest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        self.lock().jobs()
    }

    /// The next submitted job ends CANCELLED with this Status text (e.g.
    /// `[COMMON_ERROR, msg: upload failed]`) instead of entering its third state.
    pub fn cancel_next_job(&self, status: &str) {
        self.lock().faults.cancel_next_job = Some((1, status.to_string()));
    }

    /// Like `cancel_next_job`, but the job is cancelled when it would leave `state` (a SHOW
    /// BACKUP/RESTORE state name such as `PENDING` or `UPLOADING`); unknown names mean `PENDING`.
    pub fn cancel_next_job_at(&self, state: &str, status: &str) {
        let i = crate::jobs::state_index(state).unwrap_or(0);
        self.lock().faults.cancel_next_job = Some((i, status.to_string()));
    }

    /// Every unfinished job shows this TaskErrMsg in SHOW BACKUP / SHOW RESTORE (a failing task
    /// StarRocks keeps retrying); the job goes on. Empty clears it.
    pub fn set_task_err_msg(&self, msg: &str) {
        self.lock().faults.task_err_msg = msg.to_string();
    }

    /// The `n`-th client statement from now (0-based, counting every statement received) gets its
    /// connection closed (`Before`: unexecuted; `After`: executed, never answered), once.
    pub fn drop_connection_at(&self, n: usize, when: When) {
        self.lock().faults.at = Some((n, crate::cluster::Fault::Drop(when)));
    }

    /// The `n`-th client statement from now (0-based) is never answered (`Before`: unexecuted;
    /// `After`: executed), once. Tests SIGKILL the blocked client.
    pub fn hang_at(&self, n: usize, when: When) {
        self.lock().faults.at = Some((n, crate::cluster::Fault::Hang(when)));
    }

    /// How many statements a hang fault (`hang`, `hang_at`) holds now-or-ever: counted when the
    /// statement is parked (with `When::After` only once it executed and its hooks ran), so a test
    /// can wait for this instead of sleeping before it kills the blocked client.
    pub fn hung(&self) -> usize {
        self.shared.hung.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// While true, jobs do not progress (timeouts still apply).
    pub fn stall_jobs(&self, stalled: bool) {
        self.lock().set_stalled(stalled);
    }

    /// The next statement matching `regex` fails once with this errno and message, unexecuted.
    pub fn fail_once(&self, regex: &str, errno: u16, message: &str) {
        self.lock()
            .faults
            .fail_once
            .push((pattern(regex), errno, message.to_string()));
    }

    /// The next statement matching `regex` gets its connection closed, once.
    pub fn drop_connection(&self, regex: &str, when: When) {
        self.lock().faults.drop.push((pattern(regex), when));
    }

    /// The next `n` client statements are answered; the one after that has its connection
    /// closed before it executes (once).
    pub fn drop_connection_after(&self, n: usize) {
        self.lock().faults.drop_after = Some(n);
    }

    /// The next statement matching `regex` is never answered (the client blocks), once.
    pub fn hang(&self, regex: &str, when: When) {
        self.lock().faults.hang.push((pattern(regex), when));
    }

    /// Runs `hook` once, after the next statement matching `regex` executed, before answering it.
    pub fn on_statement(&self, regex: &str, hook: Hook) {
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((pattern(regex), hook));
    }

    /// How many backends SHOW BACKENDS lists (all alive) from now on, like [`SimOptions::backends`]
    /// (a cluster that lost backends since a backup).
    pub fn set_backends(&self, n: u32) {
        self.lock().opts.backends = n;
    }

    /// Plays another release from the next statement on (new connections get its handshake).
    /// An unparsable release is an error and changes nothing.
    pub fn set_release(&self, release: &str) -> anyhow::Result<()> {
        let r = Release::parse(release)
            .ok_or_else(|| anyhow::anyhow!("unknown release {release:?} (want e.g. 3.3.5)"))?;
        let mut c = self.lock();
        c.opts.release = release.to_string();
        c.release = r;
        Ok(())
    }

    /// Turns the 4.2 DROP SNAPSHOT capability on or off (an upgrade: older snapshots carry no
    /// cluster id), like [`SimOptions::drop_snapshot`].
    pub fn set_drop_snapshot(&self, on: bool) {
        self.lock().opts.drop_snapshot = on;
    }

    /// The release played.
    pub fn release(&self) -> Release {
        self.lock().release
    }

    /// Makes `information_schema.partitions_meta` present or absent from the next statement on,
    /// whatever the release (like [`SimOptions::partitions_meta`]).
    pub fn set_partitions_meta(&self, present: bool) {
        self.lock().opts.partitions_meta = Some(present);
    }

    /// Puts an info file whose name does not decode (e.g. `__info_2026-01-01-00-00-00.part`) into
    /// the snapshot directory of `label`: SHOW SNAPSHOT lists it as `Invalid: <file>`, before
    /// (`before`) or after the real timestamps.
    pub fn add_stray_info_file(&self, repo: &str, label: &str, file: &str, before: bool) {
        if let Some(r) = self.lock().repos.get_mut(repo) {
            r.stray_info_files
                .push((label.to_string(), file.to_string(), before));
        }
    }

    /// The next `n` SHOW SNAPSHOT listings (without TIMESTAMP) fail as a transient storage error
    /// does: Timestamp NULL, Status `ERROR: Failed to get info: ...`.
    pub fn fail_snapshot_listing(&self, n: usize) {
        self.lock().faults.snapshot_listing_failures = n;
    }

    /// Every statement received from clients, in order.
    pub fn statements(&self) -> Vec<LoggedStatement> {
        self.lock().log.clone()
    }

    /// Forgets the statement log.
    pub fn clear_statements(&self) {
        self.lock().log.clear();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(guard) = self.server.take() {
            guard.shutdown();
        }
    }
}
