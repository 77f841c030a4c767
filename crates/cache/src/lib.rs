//! Two-tier cache: process-wide L1 with per-entry TTL over a Redis L2, single-flight and invalidation.
