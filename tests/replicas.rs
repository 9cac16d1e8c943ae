//! Real processes on one store: this test binary starts copies of itself as
//! replicas (`APPROVALS_REPLICA_ROLE` set), kills them with SIGKILL while
//! they wait or before they run, starts them again, and checks that each
//! call resumes and runs at most once, that deadlines passed while every
//! replica was down are kept, and that 1,000 requests voted on across two
//! replicas each conclude once with a trail that verifies.
//!
//! SQLite runs always; PostgreSQL when `APPROVALS_TEST_POSTGRES` is set
//! (`.ci/run` sets it), else the run says it skipped those and why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;
mod stores;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use approvals::audit::{AuditEvent, AuditRecord, JsonlAudit};
use approvals::channel::{Ballot, Choice};
use approvals::store::{PostgresStore, SqliteStore, Store};
use approvals::testing::QueueChannel;
use approvals::{ActionRequest, Conclusion, Error, Gate, GateBuilder};
use common::{AGENT, ALICE, BOB, requiring};

const ROLE: &str = "APPROVALS_REPLICA_ROLE";

/// Where a replica keeps its requests, as passed to a child.
#[derive(Clone, Debug)]
enum Where {
    Sqlite(PathBuf),
    Postgres { url: String, schema: String },
}

impl Where {
    fn encode(&self) -> String {
        match self {
            Where::Sqlite(path) => format!("sqlite:{}", path.display()),
            Where::Postgres { url, schema } => format!("postgres:{schema}:{url}"),
        }
    }

    fn decode(text: &str) -> Self {
        if let Some(path) = text.strip_prefix("sqlite:") {
            return Where::Sqlite(PathBuf::from(path));
        }
        let rest = text.strip_prefix("postgres:").expect("a store description");
        let (schema, url) = rest.split_once(':').expect("schema:url");
        Where::Postgres {
            url: url.to_owned(),
            schema: schema.to_owned(),
        }
    }

    async fn store(&self) -> Arc<dyn Store> {
        match self {
            Where::Sqlite(path) => Arc::new(SqliteStore::open(path).await.unwrap()),
            Where::Postgres { url, schema } => Arc::new(
                PostgresStore::builder(url)
                    .schema(schema)
                    .connect()
                    .await
                    .unwrap(),
            ),
        }
    }

    async fn on<S>(&self, builder: GateBuilder<S>) -> GateBuilder<S> {
        // Many waiters (the load role) read less often; PostgreSQL's
        // notifications wake them anyway.
        let poll = std::env::var("APPROVALS_REPLICA_POLL_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_millis(200), Duration::from_millis);
        let builder = builder
            .store_poll_interval(poll)
            .sweep_interval(Duration::from_millis(100));
        match self {
            Where::Sqlite(path) => builder.store(SqliteStore::open(path).await.unwrap()),
            Where::Postgres { url, schema } => builder.store(
                PostgresStore::builder(url)
                    .schema(schema)
                    .connect()
                    .await
                    .unwrap(),
            ),
        }
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a replica"))
}

fn step(key: &str) -> ActionRequest<serde_json::Value> {
    ActionRequest::new("deploy.restart", serde_json::json!({ "service": key }))
        .requester(AGENT)
        .key(key)
}

/// Appends one line and syncs it, so a run survives a SIGKILL right after.
fn append_line(path: &Path, line: &str) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    // One write of the whole line: O_APPEND keeps it whole beside other
    // processes' lines.
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
    file.sync_all().unwrap();
}

// ---------------------------------------------------------------------------
// The replica processes.

/// `caller`: makes one call (key `APPROVALS_REPLICA_KEY`) and prints how it
/// ended. `load`: makes `APPROVALS_REPLICA_COUNT` calls at once and votes on
/// whatever is pending in the store, at random, until its calls end.
async fn replica(role: &str) {
    let place = Where::decode(&env("APPROVALS_REPLICA_STORE"));
    let timeout = Duration::from_millis(env("APPROVALS_REPLICA_TIMEOUT_MS").parse().unwrap());
    let runs = PathBuf::from(env("APPROVALS_REPLICA_RUNS"));
    // A path: a JSON Lines file of this replica's own. `postgres`: the one
    // chain in the store's database, shared by every replica.
    let audit_at = env("APPROVALS_REPLICA_AUDIT");
    let (audit, file): (
        Arc<dyn approvals::audit::AuditSink>,
        Option<Arc<JsonlAudit>>,
    ) = match (&place, audit_at.as_str()) {
        (Where::Postgres { url, schema }, "postgres") => (
            Arc::new(
                approvals::audit::PostgresAudit::connect(url, schema)
                    .await
                    .unwrap(),
            ),
            None,
        ),
        _ => {
            let file = Arc::new(JsonlAudit::open(&audit_at).unwrap());
            (Arc::clone(&file) as _, Some(file))
        }
    };
    let (channel, votes) = QueueChannel::new();
    let gate = place
        .on(Gate::builder()
            .policy(requiring(&[ALICE, BOB], 1, timeout))
            .channel(channel))
        .await
        .audit(audit)
        .build();
    let call = |key: String| {
        let gate = gate.clone();
        let runs = runs.clone();
        async move {
            let result = gate
                .run(step(&key), |_| async move {
                    append_line(&runs, &key);
                    Ok::<_, Error>(())
                })
                .await;
            match result {
                Ok(()) => "ok".to_owned(),
                Err(Error::AlreadyRun { .. }) => "already_run".to_owned(),
                Err(Error::Expired { .. }) => "expired".to_owned(),
                Err(Error::Denied { .. }) => "denied".to_owned(),
                Err(other) => format!("error {other}"),
            }
        }
    };
    match role {
        "caller" => {
            println!("started");
            let outcome = call(env("APPROVALS_REPLICA_KEY")).await;
            println!("result {outcome}");
        }
        "load" => {
            let count: usize = env("APPROVALS_REPLICA_COUNT").parse().unwrap();
            let prefix = env("APPROVALS_REPLICA_KEY");
            let calls: Vec<_> = (0..count)
                .map(|n| tokio::spawn(call(format!("{prefix}-{n}"))))
                .collect();
            let voter = {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let mut seed = std::process::id() as u64;
                    loop {
                        let pending = gate.stored_pending(200).await.unwrap_or_default();
                        let mut casting = Vec::new();
                        for review in pending {
                            seed = seed
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(1442695040888963407);
                            let roll = (seed >> 33) % 10;
                            // Some are left to their deadline.
                            if roll >= 8 {
                                continue;
                            }
                            let voter = if roll % 2 == 0 { ALICE } else { BOB };
                            let choice = if roll == 7 {
                                Choice::deny("no")
                            } else {
                                Choice::Approve
                            };
                            let votes = votes.clone();
                            casting.push(async move {
                                let _ = votes.cast(Ballot::new(&review, voter, choice)).await;
                            });
                        }
                        futures::future::join_all(casting).await;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            };
            let mut outcomes: HashMap<String, usize> = HashMap::new();
            for call in calls {
                *outcomes.entry(call.await.unwrap()).or_default() += 1;
            }
            voter.abort();
            println!("result {outcomes:?}");
        }
        other => panic!("unknown role {other}"),
    }
    if let Some(file) = file {
        file.close().await.unwrap();
    }
}

// ---------------------------------------------------------------------------
// The tests.

struct Replica {
    child: Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Replica {
    fn start(role: &str, place: &Where, vars: &[(&str, String)]) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env(ROLE, role)
            .env("APPROVALS_REPLICA_STORE", place.encode())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            lines: std::io::BufReader::new(stdout).lines(),
        }
    }

    /// The next line the replica prints.
    fn line(&mut self) -> String {
        self.lines
            .next()
            .expect("the replica printed a line")
            .unwrap()
    }

    /// The replica's `result …` line, then its exit.
    fn result(mut self) -> String {
        loop {
            let line = self.line();
            if let Some(result) = line.strip_prefix("result ") {
                let status = self.child.wait().unwrap();
                assert!(status.success(), "the replica exited with {status}");
                return result.to_owned();
            }
        }
    }

    fn kill(mut self) {
        // SIGKILL: no destructor, no cancellation, nothing written.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

struct Scene {
    place: Where,
    dir: tempfile::TempDir,
    audits: usize,
}

impl Scene {
    fn vars(&mut self, key: &str, timeout: Duration) -> Vec<(&'static str, String)> {
        self.audits += 1;
        vec![
            ("APPROVALS_REPLICA_KEY", key.to_owned()),
            (
                "APPROVALS_REPLICA_TIMEOUT_MS",
                timeout.as_millis().to_string(),
            ),
            ("APPROVALS_REPLICA_RUNS", self.runs().display().to_string()),
            (
                "APPROVALS_REPLICA_AUDIT",
                self.dir
                    .path()
                    .join(format!("audit-{}.jsonl", self.audits))
                    .display()
                    .to_string(),
            ),
        ]
    }

    fn runs(&self) -> PathBuf {
        self.dir.path().join("runs.txt")
    }

    fn ran(&self) -> Vec<String> {
        std::fs::read_to_string(self.runs())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every record of every replica's trail, each file verified first.
    fn records(&self) -> Vec<AuditRecord> {
        let mut records = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "jsonl") {
                approvals::audit::verify(&path, None).unwrap();
                let text = std::fs::read_to_string(&path).unwrap();
                records.extend(text.lines().map(|line| {
                    let line: serde_json::Value = serde_json::from_str(line).unwrap();
                    serde_json::from_value::<AuditRecord>(line["record"].clone()).unwrap()
                }));
            }
        }
        records.sort_by_key(|record| record.at);
        records
    }

    /// Waits until the store holds `count` pending requests.
    async fn wait_pending(&self, store: &dyn Store, count: usize) {
        let started = Instant::now();
        while store.pending(10_000).await.unwrap().len() < count {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "requests never became pending"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A gate of the test's own (another process than the replicas) that
    /// votes on a stored request.
    async fn vote(&self, audit: &Path, choice: Choice) {
        let store = self.place.store().await;
        let pending = store.pending(10).await.unwrap();
        let review = &pending.first().expect("a pending request").review;
        let sink = Arc::new(JsonlAudit::open(audit).unwrap());
        let (channel, votes) = QueueChannel::new();
        let gate = self
            .place
            .on(Gate::builder()
                .policy(requiring(&[ALICE, BOB], 1, Duration::from_secs(60)))
                .channel(channel))
            .await
            .audit(Arc::clone(&sink))
            .build();
        let outcome = votes
            .cast(Ballot::new(review, ALICE, choice))
            .await
            .unwrap();
        assert!(outcome.counted(), "{outcome:?}");
        drop(gate);
        sink.close().await.unwrap();
    }
}

/// Killed while waiting, started again: the same call waits for the same
/// request, and runs once when a vote from another process approves it.
async fn killed_while_waiting_resumes_and_runs_once(scene: &mut Scene) {
    let store = scene.place.store().await;
    let vars = scene.vars("svc-a", Duration::from_secs(60));
    let mut first = Replica::start("caller", &scene.place, &vars);
    assert_eq!(first.line(), "started");
    scene.wait_pending(&*store, 1).await;
    first.kill();

    let vars = scene.vars("svc-a", Duration::from_secs(60));
    let mut second = Replica::start("caller", &scene.place, &vars);
    assert_eq!(second.line(), "started");
    // Give the restarted caller time to take the request up, then approve
    // from this process.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit = scene.dir.path().join("audit-voter-1.jsonl");
    scene.vote(&audit, Choice::Approve).await;
    assert_eq!(second.result(), "ok");
    assert_eq!(scene.ran(), ["svc-a"]);
}

/// Killed before the body ran, approved while down, started again: it runs
/// exactly once, and a further call of it is told it already ran.
async fn approved_while_killed_runs_exactly_once(scene: &mut Scene) {
    let store = scene.place.store().await;
    let vars = scene.vars("svc-b", Duration::from_secs(60));
    let mut first = Replica::start("caller", &scene.place, &vars);
    assert_eq!(first.line(), "started");
    scene.wait_pending(&*store, 1).await;
    first.kill();
    let audit = scene.dir.path().join("audit-voter-2.jsonl");
    scene.vote(&audit, Choice::Approve).await;

    let vars = scene.vars("svc-b", Duration::from_secs(60));
    assert_eq!(Replica::start("caller", &scene.place, &vars).result(), "ok");
    let vars = scene.vars("svc-b", Duration::from_secs(60));
    assert_eq!(
        Replica::start("caller", &scene.place, &vars).result(),
        "already_run"
    );
    assert_eq!(scene.ran(), ["svc-a", "svc-b"]);
}

/// Every replica down past the deadline: the first one back ends the
/// request as expired, once, and records it.
async fn a_deadline_passed_while_all_were_down_is_kept(scene: &mut Scene) {
    let store = scene.place.store().await;
    let vars = scene.vars("svc-c", Duration::from_millis(600));
    let mut first = Replica::start("caller", &scene.place, &vars);
    assert_eq!(first.line(), "started");
    scene.wait_pending(&*store, 1).await;
    first.kill();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let vars = scene.vars("svc-c", Duration::from_millis(600));
    assert_eq!(
        Replica::start("caller", &scene.place, &vars).result(),
        "expired"
    );
    let records = scene.records();
    let requested: Vec<_> = records
        .iter()
        .filter(|record| matches!(&record.event, AuditEvent::Requested { .. }))
        .collect();
    assert_eq!(requested.len(), 3, "one request per call, none twice");
    let expired = records
        .iter()
        .filter(|record| {
            matches!(
                &record.event,
                AuditEvent::Concluded {
                    conclusion: Conclusion::Expired
                }
            )
        })
        .count();
    assert_eq!(expired, 1);
    assert_eq!(scene.ran(), ["svc-a", "svc-b"]);
}

/// Two replicas, 500 calls each, both voting at random on everything
/// pending, some requests left to race their deadlines.
async fn a_thousand_requests_across_two_replicas_conclude_once(scene: &mut Scene) {
    let mut vars_a = scene.vars("load-a", Duration::from_secs(3));
    vars_a.retain(|(name, _)| *name != "APPROVALS_REPLICA_AUDIT");
    vars_a.push(("APPROVALS_REPLICA_AUDIT", "postgres".to_owned()));
    vars_a.push(("APPROVALS_REPLICA_COUNT", "500".to_owned()));
    vars_a.push(("APPROVALS_REPLICA_POLL_MS", "1000".to_owned()));
    let mut vars_b = scene.vars("load-b", Duration::from_secs(3));
    vars_b.retain(|(name, _)| *name != "APPROVALS_REPLICA_AUDIT");
    vars_b.push(("APPROVALS_REPLICA_AUDIT", "postgres".to_owned()));
    vars_b.push(("APPROVALS_REPLICA_COUNT", "500".to_owned()));
    vars_b.push(("APPROVALS_REPLICA_POLL_MS", "1000".to_owned()));
    let a = Replica::start("load", &scene.place, &vars_a);
    let b = Replica::start("load", &scene.place, &vars_b);
    let (a, b) = (a.result(), b.result());
    println!("    replica a: {a}\n    replica b: {b}");

    // Both replicas wrote one chain in the database: it verifies whole.
    let (url, schema) = match &scene.place {
        Where::Postgres { url, schema } => (url.clone(), schema.clone()),
        Where::Sqlite(_) => unreachable!("the load runs on PostgreSQL"),
    };
    let shared = approvals::audit::PostgresAudit::connect(&url, &schema)
        .await
        .unwrap();
    let lines = shared.lines().await.unwrap();
    let report = approvals::audit::verify_reader(&lines[..], None).unwrap();
    println!("    the shared chain verifies: {report:?}");
    let mut records = scene.records();
    records.extend(
        lines
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                let line: serde_json::Value = serde_json::from_slice(line).unwrap();
                serde_json::from_value::<AuditRecord>(line["record"].clone()).unwrap()
            }),
    );
    let load: Vec<&AuditRecord> = records
        .iter()
        .filter(|record| {
            records.iter().any(|first| {
                first.request_id == record.request_id
                    && matches!(&first.event, AuditEvent::Requested { arguments, .. }
                        if arguments.to_string().contains("load-"))
            })
        })
        .collect();
    let mut per_request: HashMap<_, Vec<&AuditRecord>> = HashMap::new();
    for record in &load {
        per_request
            .entry(record.request_id.clone())
            .or_default()
            .push(record);
    }
    assert_eq!(per_request.len(), 1000);
    let mut approved = 0;
    for (id, trail) in &per_request {
        let kinds: Vec<_> = trail.iter().map(|record| record.kind()).collect();
        use approvals::audit::AuditEventKind::*;
        assert_eq!(kinds.first(), Some(&Requested), "{id}: {kinds:?}");
        assert_eq!(
            kinds.iter().filter(|kind| **kind == Concluded).count(),
            1,
            "{id}: {kinds:?}"
        );
        let executed = kinds.iter().filter(|kind| **kind == Executed).count();
        let concluded_at = kinds.iter().position(|kind| *kind == Concluded).unwrap();
        assert!(kinds[..concluded_at].iter().all(|kind| *kind != Executed));
        if trail.iter().any(|record| {
            matches!(
                &record.event,
                AuditEvent::Concluded {
                    conclusion: Conclusion::Approved { .. }
                }
            )
        }) {
            approved += 1;
            assert_eq!(executed, 1, "{id}: {kinds:?}");
        } else {
            assert_eq!(executed, 0, "{id}: {kinds:?}");
        }
    }
    let ran: Vec<String> = scene
        .ran()
        .into_iter()
        .filter(|key| key.starts_with("load-"))
        .collect();
    let unique: HashSet<&String> = ran.iter().collect();
    assert_eq!(unique.len(), ran.len(), "a body ran twice");
    assert_eq!(ran.len(), approved);
    println!(
        "    1,000 requests: {approved} approved and run once each, the rest denied or expired; every trail verifies"
    );
}

async fn scenes(place: Where, dir: tempfile::TempDir, thousand: bool) {
    let mut scene = Scene {
        place,
        dir,
        audits: 0,
    };
    let name = match &scene.place {
        Where::Sqlite(_) => "sqlite",
        Where::Postgres { .. } => "postgres",
    };
    println!("{name}: killed while waiting resumes and runs once");
    killed_while_waiting_resumes_and_runs_once(&mut scene).await;
    println!("{name}: approved while killed runs exactly once");
    approved_while_killed_runs_exactly_once(&mut scene).await;
    println!("{name}: a deadline passed while all were down is kept");
    a_deadline_passed_while_all_were_down_is_kept(&mut scene).await;
    if thousand {
        println!("{name}: 1,000 requests across two replicas conclude once");
        a_thousand_requests_across_two_replicas_conclude_once(&mut scene).await;
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Ok(role) = std::env::var(ROLE) {
        // Warnings (a store that failed, a drain retried) go to stderr.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .init();
        runtime.block_on(replica(&role));
        return;
    }
    // `cargo test -- --list` and filters: this binary has one test.
    if std::env::args().any(|arg| arg == "--list") {
        println!("replicas: test");
        return;
    }
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let place = Where::Sqlite(dir.path().join("approvals.db"));
        scenes(place, dir, false).await;
        if let Some(url) = stores::backend::postgres_url("replicas (PostgreSQL)") {
            let schema = stores::backend::fresh_schema();
            let dir = tempfile::tempdir().unwrap();
            let place = Where::Postgres {
                url: url.clone(),
                schema: schema.clone(),
            };
            scenes(place.clone(), dir, true).await;
            let store = PostgresStore::builder(&url)
                .schema(&schema)
                .connect()
                .await
                .unwrap();
            store.drop_schema().await.unwrap();
        }
    });
    println!("replicas: ok");
}
