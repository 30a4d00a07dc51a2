//! Reads shared by concurrent callers, each answered by a read that began after it asked.
//!
//! Every process message ends by reading its import's progress (is the run done?). An instance
//! handles ten messages at once, mostly of one import, and each must see a read made after its
//! own write: a read already under way may have missed it. So the callers that ask while a read
//! of the same key is under way wait, and one more read, begun once it ends, answers them all:
//! ten reads become two.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

/// Per key under way, the callers waiting for the next read.
pub(super) struct Rounds<K, V> {
    keys: Mutex<HashMap<K, Vec<oneshot::Sender<V>>>>,
}

impl<K, V> Default for Rounds<K, V> {
    fn default() -> Self {
        Self { keys: Mutex::default() }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Rounds<K, V> {
    /// `read`'s answer for `key`, from a read that began after this call. A caller that finds a
    /// read under way waits for the one after it; one whose answer does not come (that read
    /// failed, or its caller went away) reads for itself.
    pub(super) async fn read<F, Fut, E>(&self, key: K, read: F) -> Result<V, E>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let waiting = {
            let mut keys = self.lock();
            match keys.get_mut(&key) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    keys.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(answer) = waiting {
            return match answer.await {
                Ok(value) => Ok(value),
                Err(_) => read().await,
            };
        }
        // Were this call dropped mid-read, the key must not stay taken: its waiters would wait
        // for nobody. Leaving drops their senders, and each reads for itself.
        let round = Round { rounds: self, key: Some(key) };
        let mine = read().await;
        // Those who asked meanwhile: this read begins after they did. Whoever asks from now on
        // starts a round of their own.
        let waiters = round.end();
        if !waiters.is_empty() {
            if let Ok(value) = read().await {
                for waiter in waiters {
                    let _ = waiter.send(value.clone());
                }
            }
        }
        mine
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Vec<oneshot::Sender<V>>>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A key taken by its reader, given back when the round ends or the reader goes away.
struct Round<'a, K: Hash + Eq, V> {
    rounds: &'a Rounds<K, V>,
    key: Option<K>,
}

impl<K: Hash + Eq, V> Round<'_, K, V> {
    /// Gives the key back, with the callers who waited for the next read.
    fn end(mut self) -> Vec<oneshot::Sender<V>> {
        let key = self.key.take();
        key.and_then(|k| self.rounds.keys.lock().unwrap_or_else(|e| e.into_inner()).remove(&k)).unwrap_or_default()
    }
}

impl<K: Hash + Eq, V> Drop for Round<'_, K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.rounds.keys.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tokio::task::JoinHandle;

    /// A read whose value is how many reads began before it (so a caller can tell its answer
    /// began after it asked), taking 40 ms; the `failing`th read fails.
    fn counting(reads: &Arc<AtomicU64>, failing: u64) -> impl Fn() -> BoxedRead + Clone + Send + Sync + 'static {
        let reads = reads.clone();
        move || {
            let reads = reads.clone();
            Box::pin(async move {
                let n = reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(40)).await;
                if n == failing {
                    Err(())
                } else {
                    Ok(n)
                }
            })
        }
    }

    type BoxedRead = std::pin::Pin<Box<dyn Future<Output = Result<u64, ()>> + Send>>;

    /// A first caller, then `more` callers 10 ms later, while its read is under way.
    async fn callers(
        rounds: &Arc<Rounds<&'static str, u64>>,
        read: impl Fn() -> BoxedRead + Clone + Send + Sync + 'static,
        more: usize,
    ) -> (Result<u64, ()>, Vec<JoinHandle<Result<u64, ()>>>) {
        let ask = || {
            let (rounds, read) = (rounds.clone(), read.clone());
            tokio::spawn(async move { rounds.read("import", read).await })
        };
        let first = ask();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let later = (0..more).map(|_| ask()).collect();
        (first.await.unwrap(), later)
    }

    #[tokio::test]
    async fn callers_during_a_read_share_the_next_one_and_each_sees_a_later_read() {
        let (rounds, reads) = (Arc::new(Rounds::default()), Arc::new(AtomicU64::new(0)));
        let read = counting(&reads, u64::MAX);
        let (first, later) = callers(&rounds, read.clone(), 8).await;
        assert_eq!(first, Ok(0));
        for answer in later {
            assert_eq!(answer.await.unwrap(), Ok(1), "the read begun after they asked");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 2, "nine callers, two reads");
        // Another key, or the same key once its round is over, reads on its own.
        assert_eq!(rounds.read("other", read.clone()).await, Ok(2));
        assert_eq!(rounds.read("import", read).await, Ok(3));
    }

    #[tokio::test]
    async fn a_reader_dropped_mid_read_leaves_no_one_waiting() {
        let (rounds, reads) = (Arc::new(Rounds::default()), Arc::new(AtomicU64::new(0)));
        let read = counting(&reads, u64::MAX);
        let reader = tokio::spawn({
            let (rounds, read) = (rounds.clone(), read.clone());
            async move { rounds.read("import", read).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let waiter = tokio::spawn({
            let (rounds, read) = (rounds.clone(), read.clone());
            async move { rounds.read("import", read).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        reader.abort();
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), waiter).await;
        assert_eq!(answer.expect("the waiter is not left waiting").unwrap(), Ok(1), "it read for itself");
        assert_eq!(rounds.read("import", read).await, Ok(2), "the key is free again");
    }

    #[tokio::test]
    async fn a_failed_shared_read_leaves_each_waiter_to_read_for_itself() {
        let (rounds, reads) = (Arc::new(Rounds::default()), Arc::new(AtomicU64::new(0)));
        let (first, waiters) = callers(&rounds, counting(&reads, 1), 3).await;
        assert_eq!(first, Ok(0));
        for answer in waiters {
            assert!(answer.await.unwrap().unwrap() >= 2, "a read of its own");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 5);
    }
}
