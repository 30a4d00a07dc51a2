//! `WorkQueue` in memory: every message sent is kept, per queue, in order, so a test can check
//! what a step sent and pump it into the next step (`Kit::deliver_next`).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use domain::{Error, Result};
use service::ports::{Queue, WorkQueue};

use crate::faults::Faults;

/// SQS's largest message body.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// A message as it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub queue: Queue,
    pub tenant_id: String,
    pub body: String,
    pub delay_secs: u32,
}

#[derive(Default)]
struct Queues {
    /// Everything ever sent.
    log: Vec<Sent>,
    /// What no one has taken yet.
    pending: VecDeque<Sent>,
}

#[derive(Default)]
pub struct MemoryQueue {
    queues: Mutex<Queues>,
    /// Failures to inject: `send`, `send_after`.
    pub faults: Faults,
}

impl MemoryQueue {
    fn queues(&self) -> MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every body ever sent to `queue`, in order, taken or not.
    pub fn sent(&self, queue: Queue) -> Vec<String> {
        self.queues().log.iter().filter(|m| m.queue == queue).map(|m| m.body.clone()).collect()
    }

    /// Every message ever sent, in order.
    pub fn log(&self) -> Vec<Sent> {
        self.queues().log.clone()
    }

    /// Takes the bodies waiting in `queue`, in order.
    pub fn take(&self, queue: Queue) -> Vec<String> {
        let mut queues = self.queues();
        let (taken, kept) = queues.pending.drain(..).partition::<Vec<_>, _>(|m| m.queue == queue);
        queues.pending = kept.into();
        taken.into_iter().map(|m| m.body).collect()
    }

    /// Takes the first message waiting in one of `queues`.
    pub fn pop(&self, queues: &[Queue]) -> Option<Sent> {
        let mut all = self.queues();
        let at = all.pending.iter().position(|m| queues.contains(&m.queue))?;
        all.pending.remove(at)
    }

    /// Puts a message back first in line: SQS delivers a message whose handler failed again.
    pub fn requeue(&self, message: Sent) {
        self.queues().pending.push_front(message);
    }

    /// How many bodies wait in `queue`.
    pub fn waiting(&self, queue: Queue) -> usize {
        self.queues().pending.iter().filter(|m| m.queue == queue).count()
    }

    fn push(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>, delay_secs: u32) -> Result<()> {
        if let Some(big) = bodies.iter().find(|b| b.len() > MAX_MESSAGE_BYTES) {
            return Err(Error::aws(
                "sqs",
                format!("a message of {} bytes is over SQS's {MAX_MESSAGE_BYTES}", big.len()),
            ));
        }
        let mut queues = self.queues();
        for body in bodies {
            let sent = Sent { queue, tenant_id: tenant_id.to_string(), body, delay_secs };
            queues.log.push(sent.clone());
            queues.pending.push_back(sent);
        }
        Ok(())
    }
}

#[async_trait]
impl WorkQueue for MemoryQueue {
    async fn send(&self, queue: Queue, tenant_id: &str, bodies: Vec<String>) -> Result<()> {
        self.faults.before("send")?;
        // A send takes a moment, as SQS's does: other steps run meanwhile.
        tokio::task::yield_now().await;
        self.push(queue, tenant_id, bodies, 0)?;
        self.faults.after("send")
    }

    async fn send_after(&self, queue: Queue, tenant_id: &str, body: String, delay_secs: u32) -> Result<()> {
        self.faults.before("send_after")?;
        self.push(queue, tenant_id, vec![body], delay_secs.min(900))
    }
}
