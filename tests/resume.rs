//! What a store adds: a restarted process takes up its requests, another
//! replica's votes reach a waiting caller, deadlines are kept with nobody
//! waiting, and faults of the database fail closed. Run against
//! `MemoryStore`, SQLite and PostgreSQL (`APPROVALS_TEST_POSTGRES`).
//!
//! A process that stops without a word is played here by a caller's future
//! that is forgotten (never dropped, so nothing cancels its request);
//! `tests/replicas.rs` kills real processes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod stores;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use approvals::audit::{AuditEvent, AuditEventKind, MemoryAudit};
use approvals::channel::{
    Ballot, Channel, ChannelError, Choice, Progress, Review, VoteBox, async_trait,
};
use approvals::store::StoreError;
use approvals::testing::{QueueChannel, QueueHandle};
use approvals::{ActionRequest, Conclusion, Error, Gate, RequestId};
use common::{AGENT, ALICE, BOB, requiring};
use stores::backend::{Backend, Kind};

const MINUTE: Duration = Duration::from_secs(60);

/// One process: a gate on the backend's store, a queue channel, a shared
/// audit sink (so the whole trail is in one place).
fn process(
    backend: &Backend,
    audit: &MemoryAudit,
    timeout: Duration,
    window: Option<Duration>,
) -> (Gate, QueueHandle) {
    let (channel, votes) = QueueChannel::new();
    let mut builder = backend.on(Gate::builder()
        .policy(requiring(&[ALICE, BOB], 1, timeout))
        .channel(channel));
    if let Some(window) = window {
        builder = builder.resume_window(window);
    }
    (builder.audit(audit.clone()).build(), votes)
}

fn step(cents: u64) -> ActionRequest<serde_json::Value> {
    ActionRequest::new("billing.refund", serde_json::json!({ "cents": cents })).requester(AGENT)
}

fn counted_run(
    gate: &Gate,
    request: ActionRequest<serde_json::Value>,
    runs: &Arc<AtomicUsize>,
) -> impl Future<Output = Result<(), Error>> + Send + 'static {
    let gate = gate.clone();
    let runs = Arc::clone(runs);
    async move {
        gate.run(request, |_| async move {
            runs.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Error>(())
        })
        .await
    }
}

/// Starts the call, waits until its request is delivered, then forgets the
/// caller as a process that died would: nothing cancels the request.
async fn start_and_die(
    gate: &Gate,
    votes: &QueueHandle,
    request: ActionRequest<serde_json::Value>,
) -> Arc<Review> {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut caller = Box::pin(counted_run(gate, request, &runs));
    let review = tokio::select! {
        result = &mut caller => panic!("the call ended before anyone voted: {result:?}"),
        review = votes.next_request() => review,
    };
    std::mem::forget(caller);
    review
}

fn count(audit: &MemoryAudit, kind: AuditEventKind) -> usize {
    audit
        .records()
        .iter()
        .filter(|record| record.kind() == kind)
        .count()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn a_restarted_process_takes_up_its_pending_request(kind: Kind) {
    let Some(first) = Backend::new(kind, "restart_pending").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let (gate, votes) = process(&first, &audit, MINUTE, None);
    let review = start_and_die(&gate, &votes, step(10).key("run-7/step-1")).await;

    let second = first.reopen().await;
    let (gate, votes) = process(&second, &audit, MINUTE, None);
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn(counted_run(&gate, step(10).key("run-7/step-1"), &runs));
    // The restarted process sees the stored request and votes on it; the
    // same call waits for it rather than asking again.
    let pending = gate.stored_pending(10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, review.id);
    let outcome = votes
        .cast(Ballot::new(&pending[0], ALICE, Choice::Approve))
        .await
        .unwrap();
    assert!(outcome.counted());
    caller.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(count(&audit, AuditEventKind::Requested), 1);
    assert!(votes.pending().is_empty(), "the request is not asked again");
    wait_for("the outcome record", || {
        count(&audit, AuditEventKind::Executed) == 1
    })
    .await;
    second.finish().await;
}

async fn an_approval_given_while_down_runs_once_on_resume(kind: Kind) {
    let Some(backend) = Backend::new(kind, "approved_while_down").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let (gate, votes) = process(&backend, &audit, MINUTE, None);
    let review = start_and_die(&gate, &votes, step(20)).await;
    assert!(votes.approve(&review.id, BOB).await.unwrap().counted());

    let second = backend.reopen().await;
    let (gate, _votes) = process(&second, &audit, MINUTE, None);
    let runs = Arc::new(AtomicUsize::new(0));
    counted_run(&gate, step(20), &runs).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // A third caller of the same call is told it ran, and does not run it.
    let third = counted_run(&gate, step(20), &runs).await;
    assert!(
        matches!(&third, Err(Error::AlreadyRun { request_id }) if *request_id == review.id),
        "{third:?}"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(count(&audit, AuditEventKind::Requested), 1);
    backend.finish().await;
}

async fn a_denied_request_answers_the_resumed_call_with_its_denial(kind: Kind) {
    let Some(backend) = Backend::new(kind, "denied_resume").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let (gate, votes) = process(&backend, &audit, MINUTE, None);
    let review = start_and_die(&gate, &votes, step(30)).await;
    assert!(
        votes
            .deny(&review.id, ALICE, "wrong customer")
            .await
            .unwrap()
            .counted()
    );
    let (gate, votes) = process(&backend, &audit, MINUTE, None);
    let runs = Arc::new(AtomicUsize::new(0));
    let resumed = counted_run(&gate, step(30), &runs).await;
    assert!(matches!(resumed, Err(Error::Denied { .. })), "{resumed:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(votes.pending().is_empty());
    backend.finish().await;
}

/// A process that concluded a request but stopped before its records
/// reached the audit sink (played by a sink that fails): the next call that
/// takes the request up writes them before it is answered.
async fn records_left_in_the_outbox_reach_the_sink_before_the_resumed_call_is_answered(kind: Kind) {
    let Some(backend) = Backend::new(kind, "outbox_resume").await else {
        return;
    };
    let first_audit = MemoryAudit::new();
    let (gate, votes) = process(&backend, &first_audit, MINUTE, None);
    let review = start_and_die(&gate, &votes, step(35)).await;
    first_audit.set_failing(true);
    // The vote's transition commits; its records stay in the outbox.
    let _ = votes.deny(&review.id, ALICE, "wrong customer").await;
    drop((gate, votes));

    let audit = MemoryAudit::new();
    let (gate, _votes) = process(&backend, &audit, MINUTE, None);
    let runs = Arc::new(AtomicUsize::new(0));
    let resumed = counted_run(&gate, step(35), &runs).await;
    assert!(matches!(resumed, Err(Error::Denied { .. })), "{resumed:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let concluded = audit
        .of_kind(AuditEventKind::Concluded)
        .into_iter()
        .filter(|record| record.request_id == review.id)
        .count();
    assert_eq!(
        concluded,
        1,
        "the denial reached the sink: {:?}",
        audit.records()
    );
    backend.finish().await;
}

async fn a_key_names_one_call(kind: Kind) {
    let Some(backend) = Backend::new(kind, "key_conflict").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let (gate, votes) = process(&backend, &audit, MINUTE, None);
    let _review = start_and_die(&gate, &votes, step(40).key("job-1")).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let other = counted_run(&gate, step(41).key("job-1"), &runs).await;
    assert!(matches!(other, Err(Error::KeyConflict { .. })), "{other:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    backend.finish().await;
}

async fn past_the_resume_window_the_same_call_is_a_new_request(kind: Kind) {
    let Some(backend) = Backend::new(kind, "resume_window").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let (gate, votes) = process(&backend, &audit, MINUTE, Some(Duration::ZERO));
    let runs = Arc::new(AtomicUsize::new(0));
    for round in 1..=2 {
        let caller = tokio::spawn(counted_run(&gate, step(50), &runs));
        let review = votes.next_request().await;
        assert!(votes.approve(&review.id, ALICE).await.unwrap().counted());
        caller.await.unwrap().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), round);
    }
    assert_eq!(count(&audit, AuditEventKind::Requested), 2);
    backend.finish().await;
}

async fn a_deadline_passed_with_nobody_waiting_is_kept_by_the_sweeper(kind: Kind) {
    let Some(backend) = Backend::new(kind, "sweeper").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let short = Duration::from_millis(300);
    // The first process dies before its deadline; its gate is dropped too,
    // so only the second process is alive when the deadline passes.
    let review = {
        let (gate, votes) = process(&backend, &audit, short, None);
        start_and_die(&gate, &votes, step(60)).await
    };
    let second = backend.reopen().await;
    let (gate, _votes) = process(&second, &audit, short, None);
    wait_for("the sweeper to expire the request", || {
        audit.records().iter().any(|record| {
            record.request_id == review.id
                && matches!(
                    record.event,
                    AuditEvent::Concluded {
                        conclusion: Conclusion::Expired
                    }
                )
        })
    })
    .await;
    let runs = Arc::new(AtomicUsize::new(0));
    let resumed = counted_run(&gate, step(60), &runs).await;
    assert!(matches!(resumed, Err(Error::Expired { .. })), "{resumed:?}");
    assert_eq!(count(&audit, AuditEventKind::Concluded), 1);
    second.finish().await;
}

/// A channel that says where it delivered (a receipt), and logs what it
/// is told, as `deliver`, `resume <receipt>`, `progress`, `concluded`.
#[derive(Clone, Default)]
struct Posting {
    log: Arc<std::sync::Mutex<Vec<String>>>,
    posted: Arc<std::sync::Mutex<Vec<RequestId>>>,
}

impl Posting {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn note(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

#[async_trait]
impl Channel for Posting {
    fn name(&self) -> &str {
        "posting"
    }
    async fn deliver(&self, request: &Review, _votes: VoteBox) -> Result<(), ChannelError> {
        self.posted.lock().unwrap().push(request.id.clone());
        self.note("deliver".to_owned());
        Ok(())
    }
    async fn progress(&self, _request: &Review, progress: &Progress) -> Result<(), ChannelError> {
        self.note(format!("progress {}", progress.approved_by.len()));
        Ok(())
    }
    async fn concluded(
        &self,
        _request: &Review,
        conclusion: &Conclusion,
    ) -> Result<(), ChannelError> {
        let kind = if matches!(conclusion, Conclusion::Approved { .. }) {
            "approved"
        } else {
            "not approved"
        };
        self.note(format!("concluded {kind}"));
        Ok(())
    }
    fn receipt(&self, request: &RequestId) -> Option<serde_json::Value> {
        self.posted
            .lock()
            .unwrap()
            .contains(request)
            .then(|| serde_json::json!({ "message": format!("m-{request}") }))
    }
    fn resume(&self, request: &Review, receipt: &serde_json::Value) {
        assert_eq!(receipt["message"], format!("m-{}", request.id));
        let mut posted = self.posted.lock().unwrap();
        if !posted.contains(&request.id) {
            posted.push(request.id.clone());
            drop(posted);
            self.note("resume".to_owned());
        }
    }
}

/// Channels that store a receipt are told of progress and the conclusion
/// by the replica where the vote landed, having taken the delivery up
/// there; each channel hears of the conclusion once, in one process.
async fn the_replica_that_concludes_updates_channels_with_a_receipt(kind: Kind) {
    let Some(a) = Backend::new(kind, "receipts").await else {
        return;
    };
    let b = a.reopen().await;
    let audit = MemoryAudit::new();
    let replica = |backend: &Backend| {
        let posting = Posting::default();
        let (queue, votes) = QueueChannel::new();
        let gate = backend
            .on(Gate::builder()
                .policy(requiring(&[ALICE, BOB], 2, MINUTE))
                .channel(posting.clone())
                .channel(queue))
            .audit(audit.clone())
            .build();
        (gate, votes, posting)
    };
    let (gate_a, votes_a, posting_a) = replica(&a);
    let (_gate_b, votes_b, posting_b) = replica(&b);
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn(counted_run(&gate_a, step(75), &runs));
    let review = votes_a.next_request().await;
    let stored_receipt = async {
        loop {
            let stored = b.store().load(&review.id).await.unwrap().unwrap();
            if stored.state.receipts.contains_key("posting") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), stored_receipt)
        .await
        .expect("the delivering replica stores its receipt");

    for voter in [ALICE, BOB] {
        let ballot = Ballot::new(&review, voter, Choice::Approve);
        assert!(votes_b.cast(ballot).await.unwrap().counted());
    }
    caller.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(posting_a.log(), ["deliver"]);
    assert_eq!(
        posting_b.log(),
        ["resume", "progress 1", "concluded approved"]
    );
    // The queue channel stored no receipt: A's caller told its own.
    assert!(matches!(
        votes_a.wait_concluded(&review.id).await,
        Conclusion::Approved { .. }
    ));
    assert_eq!(votes_b.conclusion(&review.id), None);
    a.finish().await;
}

async fn a_vote_on_another_replica_concludes_the_waiting_call(kind: Kind) {
    let Some(a) = Backend::new(kind, "replica_vote").await else {
        return;
    };
    let b = a.reopen().await;
    let audit = MemoryAudit::new();
    let (gate_a, votes_a) = process(&a, &audit, MINUTE, None);
    let (gate_b, votes_b) = process(&b, &audit, MINUTE, None);
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn(counted_run(&gate_a, step(70), &runs));
    let review = votes_a.next_request().await;
    // Replica B never delivered it, yet knows it from the store.
    let seen = gate_b.stored_pending(10).await.unwrap();
    assert_eq!(seen[0].id, review.id);
    let outcome = votes_b
        .cast(Ballot::new(&seen[0], BOB, Choice::Approve))
        .await
        .unwrap();
    assert!(outcome.counted());
    caller.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    // Replica A's channel learns the conclusion from its own caller.
    assert!(matches!(
        votes_a.wait_concluded(&review.id).await,
        Conclusion::Approved { .. }
    ));
    a.finish().await;
}

each_durable_store!(
    a_restarted_process_takes_up_its_pending_request,
    an_approval_given_while_down_runs_once_on_resume,
    a_denied_request_answers_the_resumed_call_with_its_denial,
    records_left_in_the_outbox_reach_the_sink_before_the_resumed_call_is_answered,
    a_key_names_one_call,
    past_the_resume_window_the_same_call_is_a_new_request,
    a_deadline_passed_with_nobody_waiting_is_kept_by_the_sweeper,
    a_vote_on_another_replica_concludes_the_waiting_call,
    the_replica_that_concludes_updates_channels_with_a_receipt,
);

// ---------------------------------------------------------------------------
// Faults of the database (SQLite and PostgreSQL).

/// Drops the store's tables behind its back, as a database that lost them
/// (or a wrong database) would look.
async fn break_tables(backend: &Backend) {
    match backend {
        Backend::Sqlite { path, .. } => {
            let connection = rusqlite::Connection::open(path).unwrap();
            connection
                .execute_batch("DROP TABLE requests; DROP TABLE outbox;")
                .unwrap();
        }
        Backend::Postgres { url, schema, .. } => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "DROP TABLE {schema}.requests; DROP TABLE {schema}.outbox;"
                ))
                .await
                .unwrap();
        }
        _ => unreachable!("only databases are broken"),
    }
}

async fn a_store_that_fails_at_request_time_fails_the_call_closed(kind: Kind) {
    let Some(backend) = Backend::new(kind, "store_down").await else {
        return;
    };
    let audit = MemoryAudit::new();
    let (gate, votes) = process(&backend, &audit, MINUTE, None);
    break_tables(&backend).await;
    let runs = Arc::new(AtomicUsize::new(0));
    let result = counted_run(&gate, step(80), &runs).await;
    match &result {
        Err(Error::Store(StoreError::Unavailable { .. })) => {}
        other => panic!("expected a store error, got {other:?}"),
    }
    // The message names the operation, never a value.
    let message = result.unwrap_err().to_string();
    assert!(message.contains("create a request"), "{message}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(votes.pending().is_empty(), "nobody is asked");
    backend.finish().await;
}

async fn a_schema_from_a_newer_version_is_refused_at_start(kind: Kind) {
    let Some(backend) = Backend::new(kind, "schema_too_new").await else {
        return;
    };
    match &backend {
        Backend::Sqlite { path, .. } => {
            let connection = rusqlite::Connection::open(path).unwrap();
            connection
                .execute("INSERT INTO approvals_schema (version) VALUES (99)", [])
                .unwrap();
        }
        Backend::Postgres { url, schema, .. } => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client
                .batch_execute(&format!(
                    "INSERT INTO {schema}.approvals_schema (version) VALUES (99)"
                ))
                .await
                .unwrap();
        }
        _ => unreachable!("only databases have a schema"),
    }
    let reopened = match &backend {
        Backend::Sqlite { path, .. } => approvals::store::SqliteStore::open(path).await.err(),
        Backend::Postgres { url, schema, .. } => approvals::store::PostgresStore::builder(url)
            .schema(schema)
            .connect()
            .await
            .err(),
        _ => None,
    };
    match reopened {
        Some(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(found, 99);
            assert_eq!(supported, approvals::store::SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    backend.finish().await;
}

each_database!(
    a_store_that_fails_at_request_time_fails_the_call_closed,
    a_schema_from_a_newer_version_is_refused_at_start,
);

// ---------------------------------------------------------------------------
// PostgreSQL going away while a caller waits.

/// A TCP proxy in front of the test server that can drop every connection
/// and refuse new ones, as a database restart or a network cut would.
struct Proxy {
    addr: std::net::SocketAddr,
    open: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = {
            let open = Arc::clone(&open);
            let links = Arc::clone(&links);
            tokio::spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        return;
                    };
                    if !open.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let upstream = upstream.clone();
                    links.lock().unwrap().push(tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }));
                }
            })
        };
        Self {
            addr,
            open,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_while_waiting_refuses_votes_then_resumes() {
    let Some(url) = stores::backend::postgres_url("postgres_lost_while_waiting") else {
        return;
    };
    let (head, rest) = url.split_once('@').expect("a URL with user@host");
    let (upstream, tail) = rest.split_once('/').expect("a URL with a database");
    let proxy = Proxy::start(upstream.to_owned()).await;
    let proxied = format!("{head}@{}/{tail}", proxy.addr);
    let schema = stores::backend::fresh_schema();
    let store = approvals::store::PostgresStore::builder(&proxied)
        .schema(&schema)
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    let audit = MemoryAudit::new();
    let (channel, votes) = QueueChannel::new();
    let gate = Gate::builder()
        .policy(requiring(&[ALICE, BOB], 1, MINUTE))
        .channel(channel)
        .store(store.clone())
        .store_poll_interval(Duration::from_millis(100))
        .audit(audit.clone())
        .build();
    let runs = Arc::new(AtomicUsize::new(0));
    let caller = tokio::spawn(counted_run(&gate, step(90), &runs));
    let review = votes.next_request().await;
    let before = audit.len();

    proxy.cut();
    let refused = votes.approve(&review.id, ALICE).await.unwrap();
    assert_eq!(
        refused.refusal(),
        Some(approvals::channel::Refusal::NotRecorded),
        "{refused:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!caller.is_finished(), "the caller keeps waiting");
    assert_eq!(audit.len(), before, "nothing half-recorded");

    proxy.restore();
    let mut counted = None;
    for _ in 0..100 {
        let outcome = votes.approve(&review.id, ALICE).await.unwrap();
        if outcome.counted() {
            counted = Some(outcome);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counted.is_some(), "a vote counts once the database is back");
    caller.await.unwrap().unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    wait_for("the outcome record", || {
        count(&audit, AuditEventKind::Executed) == 1
    })
    .await;
    store.drop_schema().await.unwrap();
}
