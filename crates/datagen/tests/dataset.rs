//! `data/dataset.json`: our 50 items have HttpArena's shape, vocabulary and value ranges.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use datagen::dataset::{self, DatasetItem};

fn within(value: i32, (lo, hi): (i32, i32)) -> bool {
    (lo..=hi).contains(&value)
}

#[test]
fn fifty_items_with_httparenas_fields_vocabulary_and_ranges() {
    let items = dataset::generate();
    assert_eq!(items.len(), 50);
    for (index, item) in items.iter().enumerate() {
        assert_eq!(item.id as usize, index + 1, "ids are 1..=50 in order");
        assert!(dataset::NAMES.contains(&item.name.as_str()), "{item:?}");
        assert!(within(item.price, dataset::PRICE_RANGE), "{item:?}");
        assert!(within(item.quantity, dataset::QUANTITY_RANGE), "{item:?}");
        assert!((1..=4).contains(&item.tags.len()), "{item:?}");
        let distinct: BTreeSet<&String> = item.tags.iter().collect();
        assert_eq!(distinct.len(), item.tags.len(), "tags repeat: {item:?}");
        assert!(item
            .tags
            .iter()
            .all(|t| dataset::TAGS.contains(&t.as_str())));
        assert!(within(item.rating.score, dataset::RATING_SCORE_RANGE));
        assert!(within(item.rating.count, dataset::RATING_COUNT_RANGE));
    }
    let names: BTreeSet<&str> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names.len(), 10, "10 distinct names");
    let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
    for item in &items {
        *per_category.entry(&item.category).or_default() += 1;
    }
    assert_eq!(per_category.len(), 10);
    assert!(per_category.values().all(|&n| n == 5), "{per_category:?}");
    let tags: BTreeSet<&str> = items
        .iter()
        .flat_map(|i| &i.tags)
        .map(String::as_str)
        .collect();
    assert_eq!(tags.len(), 10, "the seed samples from all 10 tags");
    assert!(items.iter().any(|i| i.active) && items.iter().any(|i| !i.active));
    assert_eq!(dataset::generate(), items, "deterministic");
}

#[test]
fn file_is_pretty_printed_without_trailing_newline_and_round_trips() {
    let items = dataset::generate();
    let bytes = dataset::to_json(&items);
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(
        text.starts_with("[\n  {\n    \"id\": 1,\n    \"name\": \""),
        "{}",
        &text[..40]
    );
    assert!(text.ends_with("\n  }\n]"));
    assert!(text.contains("\"rating\": {\n      \"score\": "));
    assert_eq!(dataset::parse(&bytes).unwrap(), items);
}

#[test]
fn httparenas_file_fits_our_types_layout_and_vocabulary() {
    let Some(fixture) = common::httparena("httparenas_file_fits_our_types_layout_and_vocabulary")
    else {
        return;
    };
    let bytes = std::fs::read(fixture.join("data/dataset.json")).unwrap();
    let theirs: Vec<DatasetItem> = dataset::parse(&bytes).unwrap();
    // Same serde layout: re-serializing their items gives their exact bytes.
    assert_eq!(dataset::to_json(&theirs), bytes);
    assert_eq!(theirs.len(), dataset::ITEM_COUNT);
    for item in &theirs {
        assert!(dataset::NAMES.contains(&item.name.as_str()), "{item:?}");
        assert!(dataset::CATEGORIES.contains(&item.category.as_str()));
        assert!(item
            .tags
            .iter()
            .all(|t| dataset::TAGS.contains(&t.as_str())));
        assert!(within(item.price, dataset::PRICE_RANGE));
        assert!(within(item.quantity, dataset::QUANTITY_RANGE));
        assert!(within(item.rating.score, dataset::RATING_SCORE_RANGE));
        assert!(within(item.rating.count, dataset::RATING_COUNT_RANGE));
    }
}

#[test]
fn a_broken_dataset_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dataset.json");
    std::fs::write(&path, b"[{\"id\": 1}]").unwrap();
    let err = dataset::load(&path).unwrap_err();
    assert!(err.to_string().contains("dataset.json"), "{err}");
    let missing = dataset::load(&dir.path().join("nope.json")).unwrap_err();
    assert!(missing.to_string().contains("nope.json"), "{missing}");
}
