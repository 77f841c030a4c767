//! The app server: public and authenticated API routes over a cache-aside L1 -> Redis -> Postgres.
