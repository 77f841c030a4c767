//! `data/dataset.json`: the 50 catalogue items behind `GET /public/json/{count}`, and the source
//! of names, categories and tags for the 100,000 Postgres rows (see [`crate::seed`]).
//!
//! The shape follows HttpArena's committed file exactly: a pretty-printed (2-space) array, no
//! trailing newline, ids 1–50 in order, fields `id, name, category, price, quantity, active,
//! tags, rating{score, count}`, all numbers integers. The values are our own, drawn from a
//! seeded [`PyRandom`] within the ranges HttpArena's file shows.

use std::path::Path;

use crate::rng::PyRandom;
use crate::Error;

/// Number of items in the dataset.
pub const ITEM_COUNT: usize = 50;

/// The 10 product names (every one is used; HttpArena's file has the same 10).
pub const NAMES: [&str; 10] = [
    "Alpha Widget",
    "Pro Valve",
    "Core Relay",
    "Edge Link",
    "Flex Module",
    "Hyper Node",
    "Nano Gadget",
    "Prime Gear",
    "Swift Switch",
    "Ultra Driver",
];

/// The 10 categories; item `id` belongs to `CATEGORIES[(id - 1) % 10]`, so each has 5 items.
pub const CATEGORIES: [&str; 10] = [
    "electronics",
    "tools",
    "books",
    "clothing",
    "sports",
    "toys",
    "home",
    "garden",
    "office",
    "auto",
];

/// The tag vocabulary, sorted (the order the seed generator samples from).
pub const TAGS: [&str; 10] = [
    "compact",
    "eco",
    "fast",
    "heavy-duty",
    "limited",
    "new",
    "popular",
    "premium",
    "sale",
    "wireless",
];

/// Inclusive value ranges, taken from HttpArena's file.
pub const PRICE_RANGE: (i32, i32) = (2, 496);
pub const QUANTITY_RANGE: (i32, i32) = (4, 97);
pub const TAGS_PER_ITEM: (i32, i32) = (1, 4);
pub const RATING_SCORE_RANGE: (i32, i32) = (1, 50);
pub const RATING_COUNT_RANGE: (i32, i32) = (5, 489);

/// The seed of our dataset's generator (not HttpArena's: their values are theirs).
const DATASET_SEED: u64 = 20_260_429;

pub use contract::rows::{DatasetItem, Rating};

/// Our 50 items. Deterministic: every call returns the same values.
///
/// Names are dealt in shuffled rounds of ten, so all ten names appear five times each; the
/// other fields are independent uniform draws.
pub fn generate() -> Vec<DatasetItem> {
    let mut rng = PyRandom::new(DATASET_SEED);
    let mut names: Vec<&str> = Vec::with_capacity(ITEM_COUNT);
    while names.len() < ITEM_COUNT {
        names.extend(rng.sample(&NAMES, NAMES.len()));
    }
    (1..=ITEM_COUNT as i32)
        .zip(names)
        .map(|(id, name)| {
            let ntags = rng.randint(TAGS_PER_ITEM.0, TAGS_PER_ITEM.1) as usize;
            DatasetItem {
                id,
                name: name.to_owned(),
                category: CATEGORIES[(id as usize - 1) % CATEGORIES.len()].to_owned(),
                price: rng.randint(PRICE_RANGE.0, PRICE_RANGE.1),
                quantity: rng.randint(QUANTITY_RANGE.0, QUANTITY_RANGE.1),
                active: rng.randbelow(2) == 1,
                tags: rng
                    .sample(&TAGS, ntags)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                rating: Rating {
                    score: rng.randint(RATING_SCORE_RANGE.0, RATING_SCORE_RANGE.1),
                    count: rng.randint(RATING_COUNT_RANGE.0, RATING_COUNT_RANGE.1),
                },
            }
        })
        .collect()
}

/// The file's bytes: pretty-printed with 2-space indentation and no trailing newline, which is
/// byte-for-byte the layout of HttpArena's `dataset.json` (Python's `json.dump(indent=2)`).
pub fn to_json(items: &[DatasetItem]) -> Vec<u8> {
    // Serializing plain structs of strings and integers into a Vec cannot fail.
    serde_json::to_vec_pretty(items).unwrap_or_default()
}

/// Parses a `dataset.json` (ours or HttpArena's).
pub fn parse(bytes: &[u8]) -> Result<Vec<DatasetItem>, serde_json::Error> {
    serde_json::from_slice(bytes)
}

/// Reads and parses a `dataset.json` file; the error names the file.
pub fn load(path: &Path) -> Result<Vec<DatasetItem>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::io("reading", path, source))?;
    parse(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}
