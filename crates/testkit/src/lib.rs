//! Helpers the test suites share, so that no crate's tests carry a copy. A dev-dependency
//! only: nothing here ships in a binary. The real services themselves (a private Postgres, a
//! Redis) are `stack::testing`'s, which the component benchmarks use too; this crate adds
//! what tests build on them: [`SeededPostgres`] (HttpArena's dataset, written and loaded) and
//! [`eventually`].

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use datagen::dataset::DatasetItem;
use datagen::seed::ItemRow;
use stack::testing::TestPostgres;
use tempfile::TempDir;

/// The generated dataset, written as `dataset.json` (what the app server loads for
/// `/public/*`) and loaded into a private Postgres, all in one temporary folder.
pub struct SeededPostgres {
    pub pg: TestPostgres,
    pub dataset: Vec<DatasetItem>,
    pub dataset_path: PathBuf,
    /// Holds `dataset.json` and the seed; deleted when dropped.
    pub dir: TempDir,
}

impl SeededPostgres {
    /// Generates, writes and loads the dataset; panics (the test fails) on any error.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("creating a temporary folder");
        let dataset = datagen::dataset::generate();
        let dataset_path = dir.path().join("dataset.json");
        std::fs::write(&dataset_path, datagen::dataset::to_json(&dataset))
            .expect("writing dataset.json");
        let seed_path = dir.path().join("pgdb-seed.sql");
        let file = std::io::BufWriter::new(
            std::fs::File::create(&seed_path).expect("creating pgdb-seed.sql"),
        );
        datagen::seed::write_sql(&dataset, file).expect("writing pgdb-seed.sql");
        let pg = TestPostgres::start_seeded(&seed_path).expect("starting a seeded Postgres");
        Self {
            pg,
            dataset,
            dataset_path,
            dir,
        }
    }

    /// The seeded row of item `id` (ids start at 1).
    pub fn item_row(&self, id: i32) -> ItemRow {
        item_row(&self.dataset, id)
    }
}

/// The seeded row of item `id` of `dataset` (ids start at 1).
pub fn item_row(dataset: &[DatasetItem], id: i32) -> ItemRow {
    let index = usize::try_from(id - 1).expect("item ids start at 1");
    datagen::seed::items(dataset)
        .nth(index)
        .expect("no such item in the dataset")
}

/// How often [`eventually`] asks again.
pub const POLL: Duration = Duration::from_millis(20);

/// Asks `check` every [`POLL`] until it answers `true` (then `true`) or `limit` has passed
/// (then `false`, after one last try), for effects that land a little after the request that
/// caused them: an invalidation reaching another instance, a counter being scraped, a port
/// closing.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn true_once_the_check_passes_false_after_the_limit() {
        let calls = AtomicU32::new(0);
        let passed = eventually(Duration::from_secs(1), || async {
            calls.fetch_add(1, Ordering::Relaxed) >= 3
        })
        .await;
        assert!(passed);
        assert_eq!(calls.load(Ordering::Relaxed), 4);

        let began = tokio::time::Instant::now();
        assert!(!eventually(Duration::from_millis(100), || async { false }).await);
        assert!(began.elapsed() >= Duration::from_millis(100));
    }
}
