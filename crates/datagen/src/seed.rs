//! `data/pgdb-seed.sql`: the Postgres schema and rows behind `/api/items/{id}` and `/api/me`.
//!
//! HttpArena's seed comes from `scripts/generate-pgdb.py`: 100,000 `items` rows drawn from
//! Python's `random.Random(42)`, with names, categories and tags taken from `dataset.json`.
//! [`items`] replays that script draw for draw with a CPython-compatible generator
//! ([`PyRandom`]), so fed HttpArena's `dataset.json` it yields HttpArena's rows, and fed ours it
//! yields the same algorithm over our vocabulary. Per row, in the script's order:
//!
//! ```text
//! price = randint(1,500); quantity = randint(1,1000); active = choice([0,1])
//! ntags = randint(1,4); tags = json.dumps(sample(all_tags, ntags))
//! name = f"{choice(names)} {i}"; category = choice(categories)
//! rating_score = randint(1,50); rating_count = randint(1,500)
//! ```
//!
//! HttpArena's generator writes no `users` table (it was appended to their SQL by hand); ours
//! appends the four [`users`], with user 42 = Alice Chen, the subject of the benchmark token.

use std::io::{self, Write};

use serde::Serialize;

use crate::dataset::{self, DatasetItem};
use crate::rng::PyRandom;

/// Rows in the `items` table.
pub const ITEM_COUNT: i32 = 100_000;

/// The seed of HttpArena's `random.Random(42)`.
pub const RNG_SEED: u64 = 42;

/// First line of every seed file we write; the fingerprint of the dataset it was drawn from
/// follows, so a later run can tell whether the seed still matches `dataset.json`.
pub const HEADER_PREFIX: &str = "-- prodstack pgdb-seed.sql drawn from dataset.json ";

/// One row of `items`, as stored in Postgres (all integers are `INTEGER`, i.e. `int4`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRow {
    pub id: i32,
    /// `"<dataset name> <id>"`, e.g. `"Prime Gear 1"`.
    pub name: String,
    pub category: String,
    /// 1–500.
    pub price: i32,
    /// 1–1000.
    pub quantity: i32,
    pub active: bool,
    /// 1–4 distinct tags in draw order (the `tags JSONB` column).
    pub tags: Vec<String>,
    /// 1–50.
    pub rating_score: i32,
    /// 1–500.
    pub rating_count: i32,
}

impl ItemRow {
    /// The tags as Python's `json.dumps` writes them (`["a", "b"]`): the exact text of the
    /// `tags` column in the seed file.
    pub fn tags_json(&self) -> String {
        python_json_list(&self.tags)
    }

    /// The row as one line of `COPY ... FROM STDIN` text format, newline included.
    pub fn copy_line(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            self.id,
            copy_escape(&self.name),
            copy_escape(&self.category),
            self.price,
            self.quantity,
            if self.active { 't' } else { 'f' },
            copy_escape(&self.tags_json()),
            self.rating_score,
            self.rating_count
        )
    }
}

pub use contract::rows::UserRow;

/// The id of the user the benchmark token names (`sub = "42"`).
pub use contract::BENCH_USER_ID;

/// The four users. Id 42 is Alice Chen, the `name` claim of the benchmark token.
pub fn users() -> Vec<UserRow> {
    [
        (1, "Bob Martinez", "bob.martinez@example.com", "free"),
        (2, "Carol Nguyen", "carol.nguyen@example.com", "team"),
        (3, "David Okafor", "david.okafor@example.com", "enterprise"),
        (
            BENCH_USER_ID,
            contract::BENCH_USER_NAME,
            "alice.chen@example.com",
            "pro",
        ),
    ]
    .into_iter()
    .map(|(id, name, email, plan)| UserRow {
        id,
        name: name.to_owned(),
        email: email.to_owned(),
        plan: plan.to_owned(),
    })
    .collect()
}

/// The 100,000 `items` rows drawn from `dataset`, in id order. Cheap: no I/O, a few hundred
/// nanoseconds per row; take `.nth(id - 1)` for a single row.
pub fn items(dataset: &[DatasetItem]) -> ItemRows<'_> {
    let mut tags: Vec<&str> = dataset
        .iter()
        .flat_map(|item| item.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    ItemRows {
        names: dataset.iter().map(|item| item.name.as_str()).collect(),
        categories: dataset.iter().map(|item| item.category.as_str()).collect(),
        tags,
        rng: PyRandom::new(RNG_SEED),
        next_id: 1,
    }
}

/// Iterator over the `items` rows; see [`items`].
#[derive(Debug, Clone)]
pub struct ItemRows<'a> {
    /// One entry per dataset item, duplicates kept (they weight the draw, as in the script).
    names: Vec<&'a str>,
    categories: Vec<&'a str>,
    /// Distinct tags, sorted.
    tags: Vec<&'a str>,
    rng: PyRandom,
    next_id: i32,
}

impl Iterator for ItemRows<'_> {
    type Item = ItemRow;

    fn next(&mut self) -> Option<ItemRow> {
        if self.next_id > ITEM_COUNT {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        let rng = &mut self.rng;
        let price = rng.randint(1, 500);
        let quantity = rng.randint(1, 1000);
        let active = rng.randbelow(2) == 1; // choice([0, 1])
        let ntags = rng.randint(1, 4) as usize;
        let tags = rng
            .sample(&self.tags, ntags)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let name = format!("{} {id}", rng.choice(&self.names).copied().unwrap_or(""));
        let category = rng.choice(&self.categories).copied().unwrap_or("");
        let rating_score = rng.randint(1, 50);
        let rating_count = rng.randint(1, 500);
        Some(ItemRow {
            id,
            name,
            category: category.to_owned(),
            price,
            quantity,
            active,
            tags,
            rating_score,
            rating_count,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (ITEM_COUNT - self.next_id + 1).max(0) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for ItemRows<'_> {}

/// A short fingerprint of a dataset (FNV-1a 64 over its canonical JSON), written into the seed's
/// first line so a seed can be matched to the dataset it was drawn from.
pub fn dataset_fingerprint(dataset: &[DatasetItem]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in dataset::to_json(dataset) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The first line [`write_sql`] writes for `dataset` (without the newline).
pub fn header_line(dataset: &[DatasetItem]) -> String {
    format!("{HEADER_PREFIX}{}", dataset_fingerprint(dataset))
}

/// Writes the whole seed: a header line naming the dataset fingerprint, the `items` part
/// ([`write_items_sql`]) and the `users` table. Loadable with `psql -v ON_ERROR_STOP=1 -f`
/// into an empty database (or as a Docker `initdb` script).
pub fn write_sql(dataset: &[DatasetItem], mut out: impl Write) -> io::Result<()> {
    writeln!(out, "{}", header_line(dataset))?;
    write_items_sql(dataset, &mut out)?;
    write_users_sql(&mut out)?;
    out.flush()
}

/// The `items` part alone, in the exact layout of HttpArena's `generate-pgdb.py` output (same
/// schema text, same comments, same `COPY` lines), so it can be compared with theirs.
pub fn write_items_sql(dataset: &[DatasetItem], mut out: impl Write) -> io::Result<()> {
    out.write_all(
        "CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    active BOOLEAN NOT NULL,
    tags JSONB NOT NULL,
    rating_score INTEGER NOT NULL,
    rating_count INTEGER NOT NULL
);
-- NO index on price \u{2014} forces sequential scan

COPY items (id, name, category, price, quantity, active, tags, rating_score, rating_count) FROM STDIN;
"
        .as_bytes(),
    )?;
    for row in items(dataset) {
        out.write_all(row.copy_line().as_bytes())?;
    }
    out.write_all(b"\\.\n")?;
    writeln!(
        out,
        "\n-- Verify: SELECT COUNT(*) FROM items; -- should return {ITEM_COUNT}"
    )
}

fn write_users_sql(mut out: impl Write) -> io::Result<()> {
    out.write_all(
        b"
-- Users behind GET /api/me; the benchmark token's subject is user 42.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    plan TEXT NOT NULL
);

COPY users (id, name, email, plan) FROM STDIN;
",
    )?;
    for user in users() {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            user.id,
            copy_escape(&user.name),
            copy_escape(&user.email),
            copy_escape(&user.plan)
        )?;
    }
    out.write_all(b"\\.\n")
}

/// Escapes a value for `COPY ... FROM STDIN` text format. HttpArena's script escapes only
/// backslash and tab; newline and carriage return are escaped too so that no value can break a
/// row. None of these occur in the data, so the output is identical to theirs.
fn copy_escape(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['\\', '\t', '\n', '\r']) {
        return value.into();
    }
    value
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .into()
}

/// A list of strings as Python's `json.dumps` writes it: `", "` between elements, and
/// `ensure_ascii` escaping (non-ASCII as `\uXXXX`, surrogate pairs beyond the BMP).
fn python_json_list(values: &[String]) -> String {
    let mut out = String::from("[");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('"');
        for c in value.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                ' '..='~' => out.push(c),
                _ => {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
        }
        out.push('"');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_written_like_python_json_dumps() {
        let tags =
            |v: &[&str]| python_json_list(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(tags(&["a", "b-c"]), r#"["a", "b-c"]"#);
        assert_eq!(tags(&[]), "[]");
        // json.dumps(["é", "q\"", "😀"]) in CPython:
        assert_eq!(
            tags(&["é", "q\"", "😀"]),
            r#"["\u00e9", "q\"", "\ud83d\ude00"]"#
        );
    }

    #[test]
    fn copy_escape_keeps_rows_intact() {
        assert_eq!(copy_escape("plain"), "plain");
        assert_eq!(copy_escape("a\tb\\c\nd"), "a\\tb\\\\c\\nd");
    }

    #[test]
    fn an_empty_dataset_still_yields_rows_without_panicking() {
        let rows: Vec<ItemRow> = items(&[]).take(2).collect();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].tags.is_empty());
    }
}
