//! The catalogue behind `GET /public/json/{count}`: `dataset.json`, loaded once at start-up.
//!
//! The response is serialized per request from these structs (the contract forbids cached
//! response bodies for this route); field order is the dataset's, plus `total`.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Items the route can return at most (HttpArena's file has exactly 50).
pub const MAX_COUNT: i64 = 50;

pub use contract::rows::{DatasetItem, Rating};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(
        "cannot read the dataset {path} (set DATASET_PATH, or run `prodstack data`): {source}"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the dataset {path} is not a JSON array of items: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the dataset {path} holds no items")]
    Empty { path: PathBuf },
}

/// The loaded catalogue, in file order.
#[derive(Debug, Clone)]
pub struct Dataset {
    items: Vec<DatasetItem>,
}

/// One element of the response: the dataset item plus `total`.
#[derive(Serialize)]
struct PricedItem<'a> {
    id: i64,
    name: &'a str,
    category: &'a str,
    price: i64,
    quantity: i64,
    active: bool,
    tags: &'a [String],
    rating: Rating,
    total: i64,
}

#[derive(Serialize)]
struct Envelope<'a> {
    items: Vec<PricedItem<'a>>,
    count: usize,
}

/// `price * quantity * m` overflowed 64 bits.
#[derive(Debug, PartialEq, Eq)]
pub struct TotalOverflow {
    pub id: i64,
}

impl Dataset {
    pub fn load(path: &Path) -> Result<Self, DatasetError> {
        let bytes = std::fs::read(path).map_err(|source| DatasetError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let items: Vec<DatasetItem> =
            serde_json::from_slice(&bytes).map_err(|source| DatasetError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if items.is_empty() {
            return Err(DatasetError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Self { items })
    }

    pub fn from_items(items: Vec<DatasetItem>) -> Self {
        Self { items }
    }

    pub fn items(&self) -> &[DatasetItem] {
        &self.items
    }

    /// The JSON body for `count` (already clamped by the caller or not: it is clamped to
    /// 0–50 here) with multiplier `m`.
    pub fn priced_json(&self, count: i64, m: i64) -> Result<Vec<u8>, TotalOverflow> {
        let count = count.clamp(0, MAX_COUNT) as usize;
        let items = self
            .items
            .iter()
            .take(count)
            .map(|item| {
                let total = i64::from(item.price)
                    .checked_mul(i64::from(item.quantity))
                    .and_then(|t| t.checked_mul(m))
                    .ok_or(TotalOverflow {
                        id: i64::from(item.id),
                    })?;
                Ok(PricedItem {
                    id: i64::from(item.id),
                    name: &item.name,
                    category: &item.category,
                    price: i64::from(item.price),
                    quantity: i64::from(item.quantity),
                    active: item.active,
                    tags: &item.tags,
                    rating: item.rating,
                    total,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope {
            count: items.len(),
            items,
        };
        // Serializing strings, integers and bools into a Vec cannot fail.
        let mut out = Vec::with_capacity(64 + 180 * envelope.count);
        let _ = serde_json::to_writer(&mut out, &envelope);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: i32, price: i32, quantity: i32) -> DatasetItem {
        DatasetItem {
            id,
            name: format!("N\"{id}"),
            category: "c".into(),
            price,
            quantity,
            active: id % 2 == 0,
            tags: vec!["t".into()],
            rating: Rating { score: 1, count: 2 },
        }
    }

    #[test]
    fn priced_json_clamps_and_multiplies() {
        let ds = Dataset::from_items((1..=60).map(|i| item(i, i, 2)).collect());
        let v: serde_json::Value = serde_json::from_slice(&ds.priced_json(2, 3).unwrap()).unwrap();
        assert_eq!(v["count"], 2);
        assert_eq!(v["items"][1]["total"], 2 * 2 * 3);
        assert_eq!(v["items"][0]["name"], "N\"1");
        let v: serde_json::Value = serde_json::from_slice(&ds.priced_json(99, 1).unwrap()).unwrap();
        assert_eq!(v["count"], 50);
        let v: serde_json::Value = serde_json::from_slice(&ds.priced_json(-4, 1).unwrap()).unwrap();
        assert_eq!(v["count"], 0);
        assert_eq!(v["items"].as_array().unwrap().len(), 0);
        assert_eq!(ds.priced_json(1, i64::MAX), Err(TotalOverflow { id: 1 }));
    }

    #[test]
    fn load_reports_missing_and_malformed_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.json");
        let err = Dataset::load(&missing).unwrap_err().to_string();
        assert!(
            err.contains("nope.json") && err.contains("DATASET_PATH"),
            "{err}"
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\"items\": 3}").unwrap();
        let err = Dataset::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.json") && err.contains("not a JSON array"),
            "{err}"
        );
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "[]").unwrap();
        assert!(Dataset::load(&empty)
            .unwrap_err()
            .to_string()
            .contains("no items"));
    }
}
