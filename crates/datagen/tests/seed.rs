//! `data/pgdb-seed.sql`: 100,000 rows drawn like HttpArena's generator, and the users table.

mod common;

use std::collections::BTreeSet;

use datagen::dataset::{self, DatasetItem};
use datagen::seed::{self, ItemRow};

fn load_httparena_dataset(test: &str) -> Option<Vec<DatasetItem>> {
    let fixture = common::httparena(test)?;
    Some(dataset::load(&fixture.join("data/dataset.json")).unwrap())
}

#[test]
fn one_hundred_thousand_rows_in_range_from_the_dataset_vocabulary() {
    let items = dataset::generate();
    let names: BTreeSet<&str> = items.iter().map(|i| i.name.as_str()).collect();
    let categories: BTreeSet<&str> = items.iter().map(|i| i.category.as_str()).collect();
    let rows = seed::items(&items);
    assert_eq!(rows.len(), 100_000);
    let mut count = 0;
    let mut active = 0;
    for (index, row) in rows.enumerate() {
        count += 1;
        assert_eq!(row.id as usize, index + 1);
        let (name, id) = row.name.rsplit_once(' ').unwrap();
        assert!(names.contains(name), "{row:?}");
        assert_eq!(id, row.id.to_string());
        assert!(categories.contains(row.category.as_str()));
        assert!((1..=500).contains(&row.price));
        assert!((1..=1000).contains(&row.quantity));
        assert!((1..=4).contains(&row.tags.len()));
        assert_eq!(
            row.tags.iter().collect::<BTreeSet<_>>().len(),
            row.tags.len()
        );
        assert!((1..=50).contains(&row.rating_score));
        assert!((1..=500).contains(&row.rating_count));
        active += usize::from(row.active);
    }
    assert_eq!(count, 100_000);
    assert!(
        (45_000..55_000).contains(&active),
        "active is a coin flip: {active}"
    );
    let first: Vec<ItemRow> = seed::items(&items).take(3).collect();
    let again: Vec<ItemRow> = seed::items(&items).take(3).collect();
    assert_eq!(first, again, "deterministic");
}

#[test]
fn four_users_and_user_42_is_alice_chen() {
    let users = seed::users();
    assert_eq!(users.len(), 4);
    let ids: BTreeSet<i32> = users.iter().map(|u| u.id).collect();
    assert_eq!(ids.len(), 4, "ids are unique");
    let alice = users.iter().find(|u| u.id == 42).unwrap();
    assert_eq!(alice.name, "Alice Chen");
    assert_eq!(seed::BENCH_USER_ID, 42);
    for user in &users {
        assert!(
            user.email.contains('@') && !user.name.is_empty(),
            "{user:?}"
        );
    }
    let plans: BTreeSet<&str> = users.iter().map(|u| u.plan.as_str()).collect();
    assert_eq!(plans.len(), 4);
}

#[test]
fn sql_has_header_both_tables_and_every_row() {
    let items = dataset::generate();
    let mut sql = Vec::new();
    seed::write_sql(&items, &mut sql).unwrap();
    let sql = String::from_utf8(sql).unwrap();
    let mut lines = sql.lines();
    assert_eq!(lines.next().unwrap(), seed::header_line(&items));
    assert!(sql.contains("CREATE TABLE items (\n    id INTEGER PRIMARY KEY,"));
    assert!(sql.contains("tags JSONB NOT NULL,"));
    assert!(sql.contains(
        "CREATE TABLE users (\n    id INTEGER PRIMARY KEY,\n    name TEXT NOT NULL,\n    email TEXT NOT NULL,\n    plan TEXT NOT NULL\n);"
    ));
    let data_lines = sql.lines().filter(|l| l.contains('\t')).count();
    assert_eq!(data_lines, 100_000 + 4);
    assert_eq!(
        sql.matches("\n\\.\n").count(),
        2,
        "two COPY blocks end with \\."
    );
    let row_one = seed::items(&items).next().unwrap().copy_line();
    assert!(sql.contains(&format!("FROM STDIN;\n{row_one}")));
    assert!(sql.contains("\n42\tAlice Chen\talice.chen@example.com\t"));
    assert!(sql.ends_with("\\.\n"));
    // Another dataset, another fingerprint: stale seeds are detected by their first line.
    let mut other = items.clone();
    other[0].price += 1;
    assert_ne!(seed::header_line(&other), seed::header_line(&items));
}

#[test]
fn httparenas_dataset_reproduces_httparenas_rows() {
    let Some(theirs) = load_httparena_dataset("httparenas_dataset_reproduces_httparenas_rows")
    else {
        return;
    };
    let rows: Vec<ItemRow> = seed::items(&theirs).take(7).collect();
    let summary = |row: &ItemRow| {
        (
            row.name.clone(),
            row.category.clone(),
            row.price,
            row.quantity,
            row.active,
            row.rating_score,
            row.rating_count,
        )
    };
    let expect = |name: &str, category: &str, price, quantity, active, score, count| {
        (
            name.to_owned(),
            category.to_owned(),
            price,
            quantity,
            active,
            score,
            count,
        )
    };
    assert_eq!(
        summary(&rows[0]),
        expect("Prime Gear 1", "home", 328, 115, false, 44, 380)
    );
    assert_eq!(rows[0].tags_json(), r#"["heavy-duty", "wireless", "fast"]"#);
    assert_eq!(
        summary(&rows[1]),
        expect("Nano Gadget 2", "books", 457, 559, false, 39, 14)
    );
    assert_eq!(
        summary(&rows[2]),
        expect("Alpha Widget 3", "office", 288, 204, true, 11, 358)
    );
    assert_eq!(
        summary(&rows[6]),
        expect("Prime Gear 7", "auto", 41, 876, false, 41, 428)
    );
    assert_eq!(rows[6].tags_json(), r#"["popular"]"#);
    assert_eq!(
        rows[0].copy_line(),
        "1\tPrime Gear 1\thome\t328\t115\tf\t[\"heavy-duty\", \"wireless\", \"fast\"]\t44\t380\n"
    );
}

#[test]
fn httparenas_dataset_gives_the_items_part_of_httparenas_size() {
    let Some(theirs) =
        load_httparena_dataset("httparenas_dataset_gives_the_items_part_of_httparenas_size")
    else {
        return;
    };
    // Every one of the 100,000 rows must have the right length for this to hold: a single
    // different draw shifts names, numbers or tag lists.
    let mut items_part = Vec::new();
    seed::write_items_sql(&theirs, &mut items_part).unwrap();
    assert_eq!(items_part.len(), 7_259_012);
    let last = seed::items(&theirs).last().unwrap();
    assert!(String::from_utf8(items_part)
        .unwrap()
        .contains(&last.copy_line()));
}
