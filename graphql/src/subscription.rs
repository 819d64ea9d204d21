//! The `events` subscription: domain events of the caller's tenant, live.
//!
//! The host's outbox relay reads committed events from the database and
//! publishes them on the [`EventBus`]; every process relays what any process
//! committed, so a subscriber sees events from all of them.

use crate::common::{gid, principal};
use async_graphql::{Context, ID, Json, Result, SimpleObject, Subscription};
use crm_core::entity::event;
use futures::Stream;
use tokio::sync::broadcast;

/// In-process fan-out of committed domain events.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<event::Model>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(4096).0,
        }
    }
}

impl EventBus {
    pub fn publish(&self, e: event::Model) {
        let _ = self.tx.send(e);
    }
    pub fn subscribe(&self) -> broadcast::Receiver<event::Model> {
        self.tx.subscribe()
    }
}

/// A domain event (`contact.created`, `deal.stage_changed`, ...).
#[derive(SimpleObject, Clone)]
pub struct Event {
    pub id: ID,
    /// Database order of events.
    pub seq: i64,
    pub kind: String,
    pub entity: String,
    pub record_id: Option<ID>,
    pub payload: Json<serde_json::Value>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<event::Model> for Event {
    fn from(e: event::Model) -> Self {
        Event {
            id: gid(e.id),
            seq: e.seq,
            kind: e.kind,
            entity: e.entity,
            record_id: e.record_id.map(gid),
            payload: Json(e.payload),
            created_at: e.created_at,
        }
    }
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Domain events of the caller's tenant as they commit; `kinds` filters by
    /// kind (`contact.created`) or prefix (`deal.`).
    async fn events(
        &self,
        ctx: &Context<'_>,
        kinds: Option<Vec<String>>,
    ) -> Result<impl Stream<Item = Event>> {
        let tenant = principal(ctx)?.tenant_id;
        let mut rx = ctx.data::<EventBus>()?.subscribe();
        Ok(async_stream::stream! {
            loop {
                match rx.recv().await {
                    Ok(e) if e.tenant_id == tenant => {
                        if kinds.as_ref().is_none_or(|ks| ks.iter().any(|k| e.kind == *k || (k.ends_with('.') && e.kind.starts_with(k.as_str())))) {
                            yield Event::from(e);
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }
}
