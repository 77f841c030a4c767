//! `edge`: the Engine-category edge. Reads its configuration (and, in fused mode, the app
//! server's) from the environment, serves until SIGTERM or SIGINT, then drains. A
//! configuration or start-up problem exits with status 2 before anything listens.

use std::process::ExitCode;

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use edge::{Backend, Config, Mode};

fn main() -> ExitCode {
    rt::telemetry::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("edge: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let config = Config::from_env().context("configuration error")?;
    // Signal handlers first: a SIGTERM right after start must drain, not kill.
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    let wait = {
        let _context = signals.enter();
        rt::signal::termination().context("installing the SIGTERM/SIGINT handlers")?
    };
    if config.secret_is_default {
        tracing::warn!(
            "JWT_SECRET is not set: using HttpArena's PUBLIC benchmark secret; anyone can mint \
             tokens this edge accepts. Set JWT_SECRET for anything but benchmarks."
        );
    }
    let (backend, app_server) = match config.mode {
        Mode::Proxy => (Backend::Proxy, None),
        Mode::Fused => {
            let settings =
                server::Settings::from_env().context("configuration error (app server)")?;
            let running = server::spawn(settings).context("cannot start the app server")?;
            let router = server::routes::router(running.app().clone());
            (Backend::Fused(router), Some(running))
        }
    };
    let edge = edge::start(&config, backend).context("cannot start")?;
    tracing::info!(
        listen = %edge.addr(),
        mode = %config.mode,
        upstream = if config.mode == Mode::Proxy { config.upstream.as_str() } else { "in-process" },
        workers = config.workers,
        runtime = %config.runtime,
        tls = edge::tls::provider_name(),
        admin = ?edge.admin_addr(),
        "edge listening (TLS, h2 + http/1.1)"
    );
    let signal = signals.block_on(wait);
    tracing::info!(signal, "shutting down: finishing in-flight requests");
    edge.shutdown();
    if let Some(app_server) = app_server {
        app_server.stop();
    }
    tracing::info!("edge stopped");
    Ok(())
}
