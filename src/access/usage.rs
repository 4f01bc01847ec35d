//! Usage recording off the request path: a request adds its [`UsageEvent`] to a queue
//! and goes on; a task takes what has queued up every [`FLUSH_INTERVAL`], or as soon as a
//! batch is full, and writes it to the store. Adding an event wakes nobody.
//!
//! While the store cannot take them (the database is away), events are kept in memory and
//! written once it can again, retried with a growing pause. What is kept is bounded: past
//! [`PENDING_CAPACITY`] events the oldest are dropped, counted and logged.
//!
//! Events older than the retention (`--usage-retention`, 90 days unless set) are deleted at
//! start and every [`FORGET_INTERVAL`], so the usage table does not grow without bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot};

use super::store::{KeyStore, UsageEvent};
use crate::metrics::METRICS;

/// Events the queue holds; past that, new events are dropped and counted.
const QUEUE_CAPACITY: usize = 100_000;
/// Events kept while the store fails (about 200 bytes each, so at most some 40 MB); past
/// that the oldest are dropped and counted.
pub const PENDING_CAPACITY: usize = 200_000;
/// Events written at once, at most.
const BATCH_SIZE: usize = 1000;
/// How often what has queued up is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);
/// The longest pause between attempts while the store fails.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// On shutdown, how long a failing store is retried before the rest is given up.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);
/// While the store fails, how often the warning is repeated.
const WARN_EVERY: Duration = Duration::from_secs(30);
/// How often events older than the retention are deleted.
const FORGET_INTERVAL: Duration = Duration::from_secs(3600);
/// Events deleted by one statement; a backlog takes several, with other work between them.
const FORGET_BATCH: u32 = 10_000;

/// Events recorded and not yet taken by the writer.
#[derive(Default)]
struct Queued {
    events: Vec<UsageEvent>,
    /// Shutdown has begun: events recorded from now on are dropped and counted.
    closed: bool,
}

/// What the recorders and the writer share.
#[derive(Default)]
struct Queue {
    queued: Mutex<Queued>,
    /// Wakes the writer when a batch is full.
    batch_full: Notify,
    counters: Counters,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.queued.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything queued so far; with `close`, refuses what comes after. The queue keeps
    /// room for as many events again, so that recording seldom grows it.
    fn take(&self, close: bool) -> Vec<UsageEvent> {
        let mut queued = self.lock();
        queued.closed |= close;
        let room = queued.events.len().min(QUEUE_CAPACITY);
        std::mem::replace(&mut queued.events, Vec::with_capacity(room))
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// Events refused because the queue was full or closed.
    queue_full: AtomicU64,
    /// Events given up: beyond the memory bound while the store failed, or left at shutdown.
    given_up: AtomicU64,
}

/// Bounds and pauses, fixed in the server and shortened in tests.
#[derive(Debug, Clone, Copy)]
struct Tuning {
    pending_capacity: usize,
    shutdown_patience: Duration,
}

const TUNING: Tuning = Tuning {
    pending_capacity: PENDING_CAPACITY,
    shutdown_patience: SHUTDOWN_PATIENCE,
};

/// Queues usage events and writes them in the background.
#[derive(Clone)]
pub struct UsageRecorder {
    queue: Arc<Queue>,
    /// Asks the writer to write everything and stop; closed when every recorder is gone,
    /// which stops the writer too.
    shutdown: mpsc::Sender<oneshot::Sender<()>>,
}

impl std::fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsageRecorder")
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl UsageRecorder {
    /// Starts the writing task on the current Tokio runtime.
    ///
    /// Events older than `retention` are deleted; `None` keeps them all.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(store: Arc<dyn KeyStore>, retention: Option<Duration>) -> UsageRecorder {
        UsageRecorder::spawn_tuned(store, retention, TUNING)
    }

    fn spawn_tuned(
        store: Arc<dyn KeyStore>,
        retention: Option<Duration>,
        tuning: Tuning,
    ) -> UsageRecorder {
        let (shutdown, shutdown_asked) = mpsc::channel(8);
        let queue = Arc::new(Queue::default());
        let writer = Writer {
            store,
            retention,
            pending: VecDeque::new(),
            tuning,
            queue: Arc::clone(&queue),
            reported_full: 0,
            reported_given_up: 0,
            pause: FLUSH_INTERVAL,
            retry_at: None,
            failing_since: None,
            warned_at: None,
        };
        tokio::spawn(writer.run(shutdown_asked));
        UsageRecorder { queue, shutdown }
    }

    /// Queues an event. Never waits: when the queue is full, or after shutdown, the event
    /// is dropped and counted (see [`UsageRecorder::dropped`]).
    pub fn record(&self, event: UsageEvent) {
        let mut queued = self.queue.lock();
        if queued.closed || queued.events.len() >= QUEUE_CAPACITY {
            drop(queued);
            self.queue
                .counters
                .queue_full
                .fetch_add(1, Ordering::Relaxed);
            METRICS.usage_dropped(1);
            return;
        }
        queued.events.push(event);
        let full = queued.events.len() == BATCH_SIZE;
        drop(queued);
        if full {
            self.queue.batch_full.notify_one();
        }
    }

    /// Writes everything queued so far and stops the task; returns once it is written (or,
    /// when the store keeps failing, given up after a few seconds). Events recorded
    /// afterwards are dropped.
    pub async fn shutdown(&self) {
        let (done, written) = oneshot::channel();
        if self.shutdown.send(done).await.is_ok() {
            // An error means the task is gone: nothing is left to wait for.
            let _ = written.await;
        }
    }

    /// Events lost so far: the queue was full, more were kept than memory holds while the
    /// store failed, or the store still failed at shutdown.
    pub fn dropped(&self) -> u64 {
        let counters = &self.queue.counters;
        counters.queue_full.load(Ordering::Relaxed) + counters.given_up.load(Ordering::Relaxed)
    }
}

struct Writer {
    store: Arc<dyn KeyStore>,
    /// How long events are kept; `None`: for ever.
    retention: Option<Duration>,
    /// Events not yet written, oldest first.
    pending: VecDeque<UsageEvent>,
    tuning: Tuning,
    queue: Arc<Queue>,
    /// The counts already warned about.
    reported_full: u64,
    reported_given_up: u64,
    /// The pause before the next attempt while the store fails.
    pause: Duration,
    /// While the store fails: no attempt before this.
    retry_at: Option<Instant>,
    failing_since: Option<Instant>,
    warned_at: Option<Instant>,
}

impl Writer {
    async fn run(mut self, mut shutdown_asked: mpsc::Receiver<oneshot::Sender<()>>) {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is at once: what aged out while the server was down goes at start.
        let mut forget = tokio::time::interval(FORGET_INTERVAL);
        forget.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = forget.tick(), if self.retention.is_some() => {
                    self.forget_old().await;
                }
                asked = shutdown_asked.recv() => {
                    let mut waiting: Vec<_> = asked.into_iter().collect();
                    // Refuse new events, then take what is already queued.
                    shutdown_asked.close();
                    while let Ok(done) = shutdown_asked.try_recv() {
                        waiting.push(done);
                    }
                    self.take_queued(true);
                    self.finish().await;
                    for done in waiting {
                        let _ = done.send(());
                    }
                    return;
                }
                () = self.queue.batch_full.notified() => {
                    self.take_queued(false);
                    if self.pending.len() >= BATCH_SIZE && self.may_try() {
                        self.flush().await;
                    }
                }
                _ = tick.tick() => {
                    self.take_queued(false);
                    if !self.pending.is_empty() && self.may_try() {
                        self.flush().await;
                    }
                }
            }
        }
    }

    /// Deletes the events older than the retention. A failure is logged and tried again at
    /// the next interval: it loses nothing.
    async fn forget_old(&self) {
        let Some(retention) = self.retention else {
            return;
        };
        let keep = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
        let before = super::now().saturating_sub(keep);
        let mut deleted = 0;
        loop {
            match self.store.forget_usage_before(before, FORGET_BATCH).await {
                Ok(n) => {
                    deleted += n;
                    if n < u64::from(FORGET_BATCH) {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(
                        "usage events past the retention could not be deleted ({e}); trying again in an hour"
                    );
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(
                events = deleted,
                older_than_days = keep / 86_400,
                "usage events past the retention deleted"
            );
        }
    }

    /// Moves what the recorders queued to the events to write.
    fn take_queued(&mut self, close: bool) {
        for event in self.queue.take(close) {
            self.keep(event);
        }
    }

    /// Adds an event to those to write, dropping the oldest beyond the bound.
    fn keep(&mut self, event: UsageEvent) {
        if self.pending.len() >= self.tuning.pending_capacity {
            self.pending.pop_front();
            self.queue.counters.given_up.fetch_add(1, Ordering::Relaxed);
            METRICS.usage_dropped(1);
        }
        self.pending.push_back(event);
    }

    /// Whether the pause after a failure has passed.
    fn may_try(&self) -> bool {
        self.retry_at.is_none_or(|at| Instant::now() >= at)
    }

    /// Writes the pending events in batches, oldest first, until done or the store fails.
    /// Returns whether everything was written.
    async fn flush(&mut self) -> bool {
        self.warn_about_drops();
        while !self.pending.is_empty() {
            let batch: Vec<UsageEvent> = self.pending.iter().take(BATCH_SIZE).cloned().collect();
            let count = batch.len();
            match self.store.record_usage(batch).await {
                Ok(()) => {
                    self.pending.drain(..count);
                    if let Some(since) = self.failing_since.take() {
                        tracing::warn!(
                            after_secs = since.elapsed().as_secs(),
                            "usage is written again; the events kept meanwhile follow"
                        );
                    }
                    self.pause = FLUSH_INTERVAL;
                    self.retry_at = None;
                }
                Err(e) => {
                    let now = Instant::now();
                    self.failing_since.get_or_insert(now);
                    if self.warned_at.is_none_or(|at| now - at >= WARN_EVERY) {
                        self.warned_at = Some(now);
                        tracing::warn!(
                            error = %e,
                            kept = self.pending.len(),
                            bound = self.tuning.pending_capacity,
                            "usage not written; kept in memory and retried"
                        );
                    }
                    self.retry_at = Some(now + self.pause);
                    self.pause = (self.pause * 2).min(MAX_RETRY_PAUSE);
                    METRICS.set_usage_pending(self.pending.len());
                    return false;
                }
            }
        }
        METRICS.set_usage_pending(0);
        true
    }

    /// Writes the rest, retrying a failing store for a few seconds, then gives up what is
    /// left (counted and logged).
    async fn finish(&mut self) {
        let deadline = Instant::now() + self.tuning.shutdown_patience;
        self.retry_at = None;
        while !self.flush().await {
            let wait = self.retry_at.map_or(FLUSH_INTERVAL, |at| {
                at.saturating_duration_since(Instant::now())
            });
            if Instant::now() + wait > deadline {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        if !self.pending.is_empty() {
            let lost = self.pending.len() as u64;
            self.queue
                .counters
                .given_up
                .fetch_add(lost, Ordering::Relaxed);
            METRICS.usage_dropped(lost);
            tracing::error!(
                events = lost,
                "usage not written before shutdown: the key store still fails; those events are lost"
            );
            self.pending.clear();
            METRICS.set_usage_pending(0);
        }
        self.warn_about_drops();
    }

    fn warn_about_drops(&mut self) {
        let full = self.queue.counters.queue_full.load(Ordering::Relaxed);
        if full > self.reported_full {
            tracing::warn!(
                dropped = full - self.reported_full,
                total = full,
                "usage events dropped: the queue was full"
            );
            self.reported_full = full;
        }
        let given_up = self.queue.counters.given_up.load(Ordering::Relaxed);
        if given_up > self.reported_given_up {
            tracing::warn!(
                dropped = given_up - self.reported_given_up,
                total = given_up,
                bound = self.tuning.pending_capacity,
                "usage events dropped: more were kept than memory holds while the key store failed"
            );
            self.reported_given_up = given_up;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use super::super::BoxFuture;
    use super::super::key::KeyHash;
    use super::super::sqlite::SqliteStore;
    use super::super::store::{IssuedKey, KeyRecord, NewKey, Outcome, StoreError, UsageReport};
    use super::super::test_support::{TempDir, usage_event};
    use super::*;

    fn event(key_id: &str, i: usize) -> UsageEvent {
        let outcome = if i.is_multiple_of(10) {
            Outcome::ToolError
        } else {
            Outcome::Ok
        };
        let tool = format!("tool_{}", i % 7);
        usage_event(
            key_id,
            Some(&tool),
            outcome,
            1_800_000_000 + (i as i64 % 3600),
        )
    }

    /// A store that only takes usage: it can be made to fail or to hold writes.
    #[derive(Default)]
    struct Sink {
        written: Mutex<Vec<UsageEvent>>,
        /// Writes begun.
        entered: AtomicUsize,
        /// Writes past the gate.
        writes: AtomicUsize,
        fail_next: AtomicUsize,
        gate: Option<tokio::sync::Semaphore>,
        /// The cut-offs `forget_usage_before` was asked for.
        forgotten_before: Mutex<Vec<i64>>,
    }

    fn unused<T: Send + 'static>() -> BoxFuture<'static, Result<T, StoreError>> {
        Box::pin(async { Err(StoreError::Unavailable("not in this test".into())) })
    }

    impl KeyStore for Sink {
        fn create(&self, _: NewKey) -> BoxFuture<'_, Result<IssuedKey, StoreError>> {
            unused()
        }
        fn find_by_hash(&self, _: KeyHash) -> BoxFuture<'_, Result<Option<KeyRecord>, StoreError>> {
            unused()
        }
        fn get(&self, _: String) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
            unused()
        }
        fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
            unused()
        }
        fn revoke(&self, _: String, _: i64) -> BoxFuture<'_, Result<KeyRecord, StoreError>> {
            unused()
        }
        fn rotate(
            &self,
            _: String,
            _: i64,
        ) -> BoxFuture<'_, Result<(KeyRecord, IssuedKey), StoreError>> {
            unused()
        }
        fn count_usable(&self, _: i64) -> BoxFuture<'_, Result<usize, StoreError>> {
            unused()
        }
        fn record_usage(&self, events: Vec<UsageEvent>) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(async move {
                self.entered.fetch_add(1, Ordering::SeqCst);
                if let Some(gate) = &self.gate {
                    let _permit = gate
                        .acquire()
                        .await
                        .map_err(|_| StoreError::Unavailable("gate closed".into()))?;
                }
                self.writes.fetch_add(1, Ordering::SeqCst);
                let failing = self
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if failing {
                    return Err(StoreError::Unavailable("disk full".into()));
                }
                self.written.lock().expect("lock").extend(events);
                Ok(())
            })
        }
        fn usage(
            &self,
            _: Option<String>,
            _: i64,
        ) -> BoxFuture<'_, Result<UsageReport, StoreError>> {
            unused()
        }
        fn forget_usage_before(
            &self,
            before: i64,
            _: u32,
        ) -> BoxFuture<'_, Result<u64, StoreError>> {
            self.forgotten_before.lock().expect("lock").push(before);
            Box::pin(async { Ok(0) })
        }
    }

    impl Sink {
        fn written(&self) -> usize {
            self.written.lock().expect("lock").len()
        }
    }

    #[tokio::test]
    async fn events_past_the_retention_are_forgotten_at_start_and_hourly() {
        let sink = Arc::new(Sink::default());
        let retention = Duration::from_secs(90 * 86_400);
        let recorder = UsageRecorder::spawn(sink.clone(), Some(retention));
        eventually("the first deletion", || {
            !sink.forgotten_before.lock().expect("lock").is_empty()
        })
        .await;
        let before = sink.forgotten_before.lock().expect("lock")[0];
        let expected = super::super::now() - 90 * 86_400;
        assert!((before - expected).abs() <= 5, "{before} vs {expected}");
        recorder.shutdown().await;

        let keeping = Arc::new(Sink::default());
        let recorder = UsageRecorder::spawn(keeping.clone(), None);
        recorder.record(event("key_1", 1));
        eventually("a write", || keeping.written() == 1).await;
        recorder.shutdown().await;
        assert!(
            keeping.forgotten_before.lock().expect("lock").is_empty(),
            "no retention, nothing deleted"
        );
    }

    /// Waits until `done` holds, for at most 10 s.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "still waiting: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn everything_recorded_is_written_by_shutdown() {
        let dir = TempDir::new("recorder");
        let store = Arc::new(SqliteStore::open(&dir.path().join("keys.db")).expect("opens"));
        let id = store
            .create(NewKey::named("load"))
            .await
            .expect("created")
            .record
            .id;
        let recorder = UsageRecorder::spawn(store.clone(), None);
        let started = std::time::Instant::now();
        for i in 0..5000 {
            recorder.record(event(&id, i));
        }
        // Queuing 5000 events takes no store round trip.
        assert!(started.elapsed() < Duration::from_secs(1));
        recorder.shutdown().await;
        assert_eq!(recorder.dropped(), 0);

        let report = store.usage(Some(id.clone()), 0).await.expect("report");
        assert_eq!(report.requests, 5000);
        assert_eq!(report.errors, 500);
        assert_eq!(report.per_tool.len(), 7);

        // After shutdown, events are counted as dropped, not written.
        recorder.record(event(&id, 1));
        assert_eq!(recorder.dropped(), 1);
        recorder.shutdown().await;
        assert_eq!(store.usage(None, 0).await.expect("report").requests, 5000);
    }

    #[tokio::test]
    async fn events_are_written_in_batches_in_the_background() {
        let sink = Arc::new(Sink::default());
        let recorder = UsageRecorder::spawn(sink.clone(), None);
        for i in 0..2500 {
            recorder.record(event("key_a", i));
        }
        eventually("2500 written", || sink.written() == 2500).await;
        let writes = sink.writes.load(Ordering::SeqCst);
        assert!((3..=6).contains(&writes), "{writes} writes");
        recorder.shutdown().await;
        assert_eq!(sink.writes.load(Ordering::SeqCst), writes);
    }

    #[tokio::test]
    async fn a_failed_write_is_retried() {
        let sink = Arc::new(Sink {
            fail_next: AtomicUsize::new(1),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn(sink.clone(), None);
        for i in 0..5 {
            recorder.record(event("key_a", i));
        }
        eventually("5 written", || sink.written() == 5).await;
        assert_eq!(sink.writes.load(Ordering::SeqCst), 2);
        assert_eq!(recorder.dropped(), 0);
        recorder.shutdown().await;
    }

    #[tokio::test]
    async fn events_are_kept_while_the_store_fails_and_written_when_it_returns() {
        let sink = Arc::new(Sink {
            fail_next: AtomicUsize::new(4),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn(sink.clone(), None);
        for i in 0..5 {
            recorder.record(event("key_a", i));
        }
        eventually("4 failed writes", || {
            sink.writes.load(Ordering::SeqCst) >= 4
        })
        .await;
        assert_eq!(sink.written(), 0);
        // More events while the store is away: kept with the others.
        for i in 5..8 {
            recorder.record(event("key_b", i));
        }
        eventually("8 written", || sink.written() == 8).await;
        assert_eq!(recorder.dropped(), 0);
        let written = sink.written.lock().expect("lock").clone();
        let order: Vec<usize> = written
            .iter()
            .map(|e| (e.at - 1_800_000_000) as usize)
            .collect();
        assert_eq!(order, (0..8).collect::<Vec<_>>(), "oldest first, each once");
        recorder.shutdown().await;
    }

    #[tokio::test]
    async fn beyond_the_bound_the_oldest_are_dropped_and_counted() {
        let sink = Arc::new(Sink {
            fail_next: AtomicUsize::new(usize::MAX),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn_tuned(
            sink.clone(),
            None,
            Tuning {
                pending_capacity: 10,
                shutdown_patience: Duration::from_millis(100),
            },
        );
        for i in 0..25 {
            recorder.record(event("key_a", i));
        }
        eventually("15 dropped", || recorder.dropped() == 15).await;
        sink.fail_next.store(0, Ordering::SeqCst);
        eventually("10 written", || sink.written() == 10).await;
        let written = sink.written.lock().expect("lock").clone();
        assert!(
            written.iter().all(|e| e.at - 1_800_000_000 >= 15),
            "the newest are kept"
        );
        recorder.shutdown().await;
        assert_eq!(recorder.dropped(), 15);
    }

    #[tokio::test]
    async fn shutdown_gives_up_on_a_store_that_keeps_failing() {
        let sink = Arc::new(Sink {
            fail_next: AtomicUsize::new(usize::MAX),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn_tuned(
            sink.clone(),
            None,
            Tuning {
                pending_capacity: 100,
                shutdown_patience: Duration::from_millis(600),
            },
        );
        for i in 0..5 {
            recorder.record(event("key_a", i));
        }
        let started = std::time::Instant::now();
        recorder.shutdown().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            sink.writes.load(Ordering::SeqCst) >= 2,
            "retried before giving up"
        );
        assert_eq!(sink.written(), 0);
        assert_eq!(recorder.dropped(), 5);
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting() {
        let sink = Arc::new(Sink {
            gate: Some(tokio::sync::Semaphore::new(0)),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn(sink.clone(), None);
        recorder.record(event("key_a", 0));
        // The writer then waits in the store with that one event.
        eventually("a write begun", || sink.entered.load(Ordering::SeqCst) == 1).await;
        let started = std::time::Instant::now();
        for i in 0..QUEUE_CAPACITY + 10 {
            recorder.record(event("key_a", i));
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(recorder.dropped(), 10);
        if let Some(gate) = &sink.gate {
            gate.add_permits(1_000_000);
        }
        recorder.shutdown().await;
        assert_eq!(sink.written(), QUEUE_CAPACITY + 1);
        assert_eq!(recorder.dropped(), 10);
    }
}
