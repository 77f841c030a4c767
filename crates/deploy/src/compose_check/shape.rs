//! The two stack shapes HttpArena's production-stack test accepts, and the fixed facts the
//! rules check them against: the service names, HttpArena's CPU budget and SMT layout, the
//! shared authsvc's path, the export's compose file name and the cache image.

/// The four services, in HttpArena's order.
pub const SERVICES: [&str; 4] = ["edge", "cache", "authsvc", "server"];

/// The engine stack's services: the fused engine and Redis.
pub const ENGINE_SERVICES: [&str; 2] = ["edge", "cache"];

/// Logical CPUs the four services share on HttpArena's box (`0-31,64-95`).
pub const CPU_BUDGET: usize = 64;

/// The SMT sibling of CPU N is N + 64 on HttpArena's box.
pub const SMT_SIBLING_OFFSET: usize = 64;

/// How an export must build authsvc: HttpArena's shared sidecar, unmodified.
pub const SHARED_AUTHSVC: &str = "../_shared/authsvc";

/// HttpArena's compose file name inside `frameworks/<name>/`.
pub const EXPORT_COMPOSE_FILE: &str = "compose.production-stack.yml";

/// HttpArena's cache image, stock.
pub const CACHE_IMAGE: &str = "redis:7-alpine";

/// Which stack a compose file describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// nginx edge, cache, HttpArena's authsvc, our server (Production and Tuned).
    FourServices,
    /// Our fused engine as the edge, and the cache (Engine).
    Engine,
}

impl Shape {
    /// The engine shape when neither authsvc nor server is there; otherwise the four-service
    /// shape, whose rules then report whichever of them is missing.
    pub fn of<'a>(names: impl IntoIterator<Item = &'a str>) -> Shape {
        let four = names.into_iter().any(|n| n == "authsvc" || n == "server");
        if four {
            Shape::FourServices
        } else {
            Shape::Engine
        }
    }

    /// The services the shape runs, in HttpArena's order.
    pub fn services(self) -> &'static [&'static str] {
        match self {
            Shape::FourServices => &SERVICES,
            Shape::Engine => &ENGINE_SERVICES,
        }
    }

    /// meta.json `type`s an export of this shape may declare.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Shape::FourServices => &["production", "tuned"],
            Shape::Engine => &["engine"],
        }
    }
}
