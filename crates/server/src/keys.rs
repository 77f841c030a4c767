//! Cache keys: `item:{id}` and `user:{id}` in one process-wide cache.

use cache::CacheKey;

#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Key {
    Item(i32),
    User(i32),
}

impl CacheKey for Key {
    fn redis_key(&self) -> String {
        match self {
            Key::Item(id) => format!("item:{id}"),
            Key::User(id) => format!("user:{id}"),
        }
    }

    fn from_redis_key(name: &str) -> Option<Self> {
        if let Some(id) = name.strip_prefix("item:") {
            return id.parse().ok().map(Key::Item);
        }
        name.strip_prefix("user:")?.parse().ok().map(Key::User)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_names_round_trip() {
        for key in [Key::Item(7), Key::User(42), Key::Item(-3)] {
            assert_eq!(Key::from_redis_key(&key.redis_key()), Some(key));
        }
        assert_eq!(Key::Item(7).redis_key(), "item:7");
        assert_eq!(Key::from_redis_key("session:1"), None);
        assert_eq!(Key::from_redis_key("item:x"), None);
    }
}
