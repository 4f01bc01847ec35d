//! Usage recording off the request path: a request hands its [`UsageEvent`] to a queue
//! and goes on; a task writes the queue to the store in batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::store::{KeyStore, UsageEvent};

/// Events the queue holds; past that, new events are dropped and counted.
const QUEUE_CAPACITY: usize = 100_000;
/// Events written at once, at most.
const BATCH_SIZE: usize = 1000;
/// How often what has queued up is written.
const FLUSH_INTERVAL: Duration = Duration::from_millis(250);

enum Message {
    Event(UsageEvent),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
struct Counters {
    /// Events refused because the queue was full or closed.
    queue_full: AtomicU64,
    /// Events given up after two failed writes.
    write_failed: AtomicU64,
}

/// Queues usage events and writes them in the background.
#[derive(Clone)]
pub struct UsageRecorder {
    tx: mpsc::Sender<Message>,
    counters: Arc<Counters>,
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
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn spawn(store: Arc<dyn KeyStore>) -> UsageRecorder {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            store,
            carry: Vec::new(),
            counters: Arc::clone(&counters),
            reported_full: 0,
        };
        tokio::spawn(writer.run(rx));
        UsageRecorder { tx, counters }
    }

    /// Queues an event. Never waits: when the queue is full the event is dropped and
    /// counted (see [`UsageRecorder::dropped`]).
    pub fn record(&self, event: UsageEvent) {
        if self.tx.try_send(Message::Event(event)).is_err() {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes everything queued so far and stops the task; returns once it is written.
    /// Events recorded afterwards are dropped.
    pub async fn shutdown(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Message::Shutdown(done)).await.is_ok() {
            // An error means the task is gone: nothing is left to wait for.
            let _ = written.await;
        }
    }

    /// Events lost so far: the queue was full, or two writes in a row failed.
    pub fn dropped(&self) -> u64 {
        self.counters.queue_full.load(Ordering::Relaxed)
            + self.counters.write_failed.load(Ordering::Relaxed)
    }
}

struct Writer {
    store: Arc<dyn KeyStore>,
    /// Events whose write failed once; they go with the next write.
    carry: Vec<UsageEvent>,
    counters: Arc<Counters>,
    /// The queue-full count already warned about.
    reported_full: u64,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(Message::Event(event)) => {
                        batch.push(event);
                        if batch.len() >= BATCH_SIZE {
                            self.write(std::mem::take(&mut batch)).await;
                        }
                    }
                    Some(Message::Shutdown(done)) => {
                        let mut waiting = vec![done];
                        // Refuse new events, then take what is already queued.
                        rx.close();
                        while let Ok(message) = rx.try_recv() {
                            match message {
                                Message::Event(event) => batch.push(event),
                                Message::Shutdown(done) => waiting.push(done),
                            }
                        }
                        self.finish(batch).await;
                        for done in waiting {
                            let _ = done.send(());
                        }
                        return;
                    }
                    None => {
                        self.finish(batch).await;
                        return;
                    }
                },
                _ = tick.tick() => {
                    if !batch.is_empty() || !self.carry.is_empty() {
                        self.write(std::mem::take(&mut batch)).await;
                    }
                }
            }
        }
    }

    /// Writes the carried events and `batch` together. On failure the carried ones are
    /// given up (this was their second try) and `batch` is carried to the next write.
    async fn write(&mut self, batch: Vec<UsageEvent>) {
        self.warn_about_drops();
        let retried = std::mem::take(&mut self.carry);
        if retried.is_empty() && batch.is_empty() {
            return;
        }
        let mut events = Vec::with_capacity(retried.len() + batch.len());
        events.extend_from_slice(&retried);
        events.extend_from_slice(&batch);
        let count = events.len();
        if let Err(e) = self.store.record_usage(events).await {
            if retried.is_empty() {
                tracing::warn!(error = %e, events = count, "usage not written; retrying with the next batch");
            } else {
                self.counters
                    .write_failed
                    .fetch_add(retried.len() as u64, Ordering::Relaxed);
                tracing::warn!(
                    error = %e,
                    dropped = retried.len(),
                    "usage not written a second time; those events are dropped"
                );
            }
            self.carry = batch;
        }
    }

    /// Writes the rest, with one more try if that fails.
    async fn finish(&mut self, batch: Vec<UsageEvent>) {
        for chunk in batch.chunks(BATCH_SIZE) {
            self.write(chunk.to_vec()).await;
        }
        if !self.carry.is_empty() {
            self.write(Vec::new()).await;
        }
        self.warn_about_drops();
    }

    fn warn_about_drops(&mut self) {
        let full = self.counters.queue_full.load(Ordering::Relaxed);
        if full > self.reported_full {
            tracing::warn!(
                dropped = full - self.reported_full,
                total = full,
                "usage events dropped: the queue was full"
            );
            self.reported_full = full;
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
    use super::super::test_support::TempDir;
    use super::*;

    fn event(key_id: &str, i: usize) -> UsageEvent {
        UsageEvent {
            key_id: key_id.to_string(),
            method: "tools/call".into(),
            tool: Some(format!("tool_{}", i % 7)),
            outcome: if i.is_multiple_of(10) {
                Outcome::ToolError
            } else {
                Outcome::Ok
            },
            latency_us: 1500,
            at: 1_800_000_000 + (i as i64 % 3600),
            ip: Some("192.0.2.1".into()),
        }
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
    }

    impl Sink {
        fn written(&self) -> usize {
            self.written.lock().expect("lock").len()
        }
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
        let recorder = UsageRecorder::spawn(store.clone());
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
        let recorder = UsageRecorder::spawn(sink.clone());
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
    async fn a_failed_write_is_retried_once() {
        let sink = Arc::new(Sink {
            fail_next: AtomicUsize::new(1),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn(sink.clone());
        for i in 0..5 {
            recorder.record(event("key_a", i));
        }
        eventually("5 written", || sink.written() == 5).await;
        assert_eq!(sink.writes.load(Ordering::SeqCst), 2);
        assert_eq!(recorder.dropped(), 0);
        recorder.shutdown().await;
    }

    #[tokio::test]
    async fn events_are_given_up_after_a_second_failure() {
        let sink = Arc::new(Sink {
            fail_next: AtomicUsize::new(2),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn(sink.clone());
        for i in 0..5 {
            recorder.record(event("key_a", i));
        }
        eventually("5 dropped", || recorder.dropped() == 5).await;
        assert_eq!(sink.written(), 0);
        assert_eq!(sink.writes.load(Ordering::SeqCst), 2);
        for i in 0..3 {
            recorder.record(event("key_b", i));
        }
        recorder.shutdown().await;
        let written = sink.written.lock().expect("lock").clone();
        assert_eq!(written.len(), 3);
        assert!(written.iter().all(|e| e.key_id == "key_b"));
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting() {
        let sink = Arc::new(Sink {
            gate: Some(tokio::sync::Semaphore::new(0)),
            ..Sink::default()
        });
        let recorder = UsageRecorder::spawn(sink.clone());
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
