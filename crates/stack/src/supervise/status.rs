//! `prodstack status`: each recorded service, whether it still runs and answers its probe.

use crate::cpus::CpuSet;
use crate::error::Result;
use crate::home::Home;
use crate::postgres::{self, Cluster};
use crate::process::Liveness;
use crate::service::Service;
use crate::state::{ServiceState, StackState};

use super::probe::{first_line, probe, Probe};

/// One row of `prodstack status`.
#[derive(Debug, Clone)]
pub struct ServiceStatus {
    pub service: Service,
    pub ports: Vec<u16>,
    /// `None`: never started by the recorded stack.
    pub pid: Option<u32>,
    pub running: bool,
    /// `Ok` healthy, `Err(reason)` not (only probed when running).
    pub health: Option<std::result::Result<(), String>>,
    pub cpus: Option<CpuSet>,
    /// How many times the supervisor restarted it after a crash.
    pub restarts: u32,
}

/// The recorded stack with a live check of every service; `None` when no stack is recorded.
pub fn status(home: &Home) -> Result<Option<(StackState, Vec<ServiceStatus>)>> {
    let Some(state) = StackState::load_if_present(home)? else {
        return Ok(None);
    };
    let cluster = Cluster::new(home.pgdata_dir())?;
    let rows = state
        .expected_services()
        .iter()
        .map(|&service| {
            let entry = state.service(service);
            let running = entry.is_some_and(|e| e.liveness() == Liveness::Running);
            let health = running.then(|| {
                match probe(
                    service,
                    state.edge,
                    &state.ports,
                    state.isolation.as_ref(),
                    &cluster,
                ) {
                    Probe::Ready if service == Service::Postgres => cluster
                        .sql(
                            state.ports.postgres,
                            postgres::DATABASE,
                            "SELECT 1 FROM items LIMIT 1",
                        )
                        .map_err(|e| first_line(&e.to_string()).to_string())
                        .and_then(|one| {
                            if one == "1" {
                                Ok(())
                            } else {
                                Err("the items table is empty".to_string())
                            }
                        }),
                    Probe::Ready => Ok(()),
                    Probe::Waiting(reason) | Probe::Failed(reason) => Err(reason),
                }
            });
            ServiceStatus {
                service,
                ports: service.ports(&state.ports),
                pid: entry.map(ServiceState::pid),
                running,
                health,
                cpus: entry.and_then(|e| e.cpus.clone()),
                restarts: entry.map_or(0, |e| e.restarts),
            }
        })
        .collect();
    Ok(Some((state, rows)))
}
