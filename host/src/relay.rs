//! The outbox relay: publishes committed domain events to this process's subscribers.
//!
//! Every process reads the `events` table after the last sequence it saw, so a
//! subscriber on one process sees events committed by any process. A commit in
//! this process nudges the relay at once; otherwise it polls every 250 ms.
//!
//! Sequence numbers are assigned at insert, not at commit, so a transaction
//! can commit after one with a higher number. The relay therefore re-reads a
//! window behind its high-water mark and remembers what it already published.

use crate::metrics::Metrics;
use crm_core::Crm;
use crm_graphql::EventBus;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub async fn spawn(crm: Crm, bus: EventBus, metrics: Arc<Metrics>) -> anyhow::Result<()> {
    // Start from now: subscribers get events committed after they subscribe.
    let mut last = crm_core::events::last_seq(&crm.db).await?;
    let start = last;
    const WINDOW: i64 = 256;
    let mut seen: std::collections::VecDeque<i64> = std::collections::VecDeque::new();
    tokio::spawn(async move {
        loop {
            let nudged = crm.outbox_nudge.notified();
            match crm_core::events::since(&crm.db, (last - WINDOW).max(0), 1000).await {
                Ok(batch) => {
                    let full = batch.len() == 1000;
                    for e in batch {
                        if e.seq <= start
                            || e.seq <= last - WINDOW
                            || (e.seq <= last && seen.contains(&e.seq))
                        {
                            continue;
                        }
                        seen.push_back(e.seq);
                        if seen.len() > 4 * WINDOW as usize {
                            seen.pop_front();
                        }
                        last = last.max(e.seq);
                        metrics.events_relayed.fetch_add(1, Ordering::Relaxed);
                        bus.publish(e);
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay could not read events; retrying")
                }
            }
            tokio::select! {
                _ = nudged => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    });
    Ok(())
}
