//! `prodstack up / down / status`: the whole stack as native, detached processes.
//!
//! Start order is dependency order — postgres → cache → authsvc → server → edge — and each
//! service must pass its health probe ([`crate::health`]) before the next starts, so the edge
//! only opens once everything behind it answers (HttpArena's checks start as soon as the edge
//! does). Everything that can be
//! checked without starting anything is checked first: the data files, the binaries, every
//! port (a taken port is reported with the process holding it), and the edge config (rendered
//! from the template and passed through `nginx -t`). If a service then fails, its last log
//! lines are part of the error and everything this run started is stopped again, in reverse
//! order.
//!
//! Services run in their own sessions with stdout and stderr in `logs/<service>.log` (through
//! `prodstack-logsink`, which caps and rotates it: [`crate::logsink`]), and are
//! recorded in the state file ([`crate::state`]) after each start. A second `up` starts only
//! what is not running and healthy (a killed authsvc comes back with `prodstack up`). `down`
//! signals each recorded process only after checking it is still the process that was started
//! (pid + executable + start time), never by name.
//!
//! Profile differences outside nginx: Redis runs HttpArena's 4 threaded-I/O threads in
//! `production`; `tuned` uses at most one I/O thread per CPU of the cache's cpuset (Redis'
//! guidance: more I/O threads than cores only adds context switches, and the cache is nearly
//! idle in this workload: L1 answers almost every read).
//!
//! `up` leaves a supervisor running ([`watch`]): a detached process that restarts any service
//! that exits, through `up`'s own start path, with the backoff of [`restart`] (1 s, doubling
//! to 30 s while a service keeps crashing). `up`, `down` and the supervisor change the stack
//! only while holding the stack lock ([`crate::lock`]); `down` stops the supervisor first.
//!
//! One file per step, each importing what it uses from the others by name: [`options`] (what
//! `up` is asked for), [`plan`] (how each process is started), [`probe`] (when it is ready),
//! [`up`], [`down`], [`status`], [`restart`] (when to restart) and [`watch`] (the supervisor);
//! each service's own facts (name, ports, stop signal and grace) are
//! [`crate::service::Service`]'s.

mod down;
mod options;
mod plan;
mod probe;
pub mod restart;
mod status;
mod up;
pub mod watch;

pub use down::*;
pub use options::*;
pub use plan::{check_not_a_script, edge_secret, redis_settings, service_cpus, DATABASE_MAX_CONN};
pub use restart::RestartPolicy;
pub use status::*;
pub use up::*;
