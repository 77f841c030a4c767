//! The seed loads into a real Postgres (started by `stack::testing`) and holds what
//! `seed::items` / `seed::users` say, with HttpArena's column types (INTEGER ids, prices and ratings, JSONB tags).

use std::time::Instant;

use datagen::{dataset, seed};
use stack::testing::TestPostgres;

/// The row as psql `-At` prints `SELECT <all columns> ... WHERE id = N` (`|`-separated).
fn expected_line(row: &seed::ItemRow) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}",
        row.id,
        row.name,
        row.category,
        row.price,
        row.quantity,
        if row.active { 't' } else { 'f' },
        row.tags_json(),
        row.rating_score,
        row.rating_count
    )
}

#[test]
fn the_seed_loads_into_postgres_with_every_row_and_the_users() {
    let items = dataset::generate();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgdb-seed.sql");
    datagen::atomic::write_with(&path, |out| seed::write_sql(&items, out)).unwrap();

    let pg = TestPostgres::start().unwrap();
    let started = Instant::now();
    pg.load_sql_file(&path).unwrap();
    eprintln!(
        "loaded {} ({} bytes) in {:.2} s",
        path.display(),
        std::fs::metadata(&path).unwrap().len(),
        started.elapsed().as_secs_f64()
    );

    assert_eq!(
        pg.psql("SELECT count(*) FROM items").unwrap().trim(),
        "100000"
    );
    assert_eq!(
        pg.psql("SELECT min(id), max(id) FROM items")
            .unwrap()
            .trim(),
        "1|100000"
    );
    let columns = pg
        .psql(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || \
             CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = 'items'::regclass AND attnum > 0 \
             AND NOT attisdropped",
        )
        .unwrap();
    assert_eq!(
        columns.trim(),
        "id integer not null, name text not null, category text not null, \
         price integer not null, quantity integer not null, active boolean not null, \
         tags jsonb not null, rating_score integer not null, rating_count integer not null"
    );
    let primary_key = pg
        .psql("SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass AND indisprimary")
        .unwrap();
    assert_eq!(primary_key.trim(), "1");

    let select = "SELECT id, name, category, price, quantity, active, tags::text, \
                  rating_score, rating_count FROM items WHERE id = ";
    let mut rows = seed::items(&items);
    let first = rows.next().unwrap();
    assert_eq!(
        pg.psql(&format!("{select}1")).unwrap().trim(),
        expected_line(&first)
    );
    let last = rows.last().unwrap();
    assert_eq!(
        pg.psql(&format!("{select}100000")).unwrap().trim(),
        expected_line(&last)
    );

    assert_eq!(pg.psql("SELECT count(*) FROM users").unwrap().trim(), "4");
    let alice = pg
        .psql("SELECT id, name, email, plan FROM users WHERE id = 42")
        .unwrap();
    let expected = seed::users().into_iter().find(|u| u.id == 42).unwrap();
    assert_eq!(
        alice.trim(),
        format!("42|Alice Chen|{}|{}", expected.email, expected.plan)
    );
}
