//! The Docker deployment: one typed compose model ([`compose`]) that rendering and checking
//! share; HttpArena's production-stack rules checked on compose files,
//! Dockerfiles and build contexts ([`compose_check`]), and the compose files, nginx configs and
//! HttpArena entry generated from the checkout ([`export`]). `prodstack docker-test` (the
//! `docker-test` crate, over the `docker` crate) is what builds and runs them for real.

pub mod compose;
pub mod compose_check;
pub mod export;
