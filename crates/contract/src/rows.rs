//! The records both the data generator (which writes them) and the app server (which reads
//! them) handle, with HttpArena's field names, order and column types (`INTEGER` is `i32`):
//! an item of `dataset.json`, and a `users` row.

use serde::{Deserialize, Serialize};

/// One catalogue item, field for field as in `dataset.json` (serde keeps this field order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetItem {
    pub id: i32,
    pub name: String,
    pub category: String,
    pub price: i32,
    pub quantity: i32,
    pub active: bool,
    pub tags: Vec<String>,
    pub rating: Rating,
}

/// An item's rating: `score` 1–50 and the number of ratings behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    pub score: i32,
    pub count: i32,
}

/// One row of `users`, and the body of `GET /api/me` (`{"id":…,"name":…,"email":…,"plan":…}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: i32,
    pub name: String,
    pub email: String,
    pub plan: String,
}
