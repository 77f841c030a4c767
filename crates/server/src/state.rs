//! What every handler shares: the dataset, the cache, the database and the counters.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache::Cache;

use crate::dataset::Dataset;
use crate::db::{Database, DbError};
use crate::edge_proof::EdgeSecret;
use crate::keys::Key;
use crate::metrics::Metrics;

/// The process-wide cache of pre-serialized item and user bodies.
pub type BodyCache = Cache<Key, Bytes, DbError>;

pub struct App {
    pub dataset: Dataset,
    pub cache: BodyCache,
    pub db: Arc<Database>,
    pub metrics: Metrics,
    pub item_ttl: Duration,
    pub user_ttl: Duration,
    /// When set, app routes answer only requests that carry it ([`crate::edge_proof`]).
    pub edge_secret: Option<EdgeSecret>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("cache", &self.cache)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// Cheap-to-clone handle given to axum as router state.
pub type AppState = Arc<App>;
