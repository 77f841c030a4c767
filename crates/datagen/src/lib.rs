//! Deterministic generator of the data, request lists and certificates the stack and its load need.
