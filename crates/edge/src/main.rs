//! `edge`: the Engine-category edge. Reads its configuration (and, in fused mode, the app
//! server's) from the environment, serves until SIGTERM or SIGINT, then drains. A
//! configuration or start-up problem exits with status 2 before anything listens.
//!
//! SIGHUP reloads the certificate and key (`TLS_CERT`, `TLS_KEY`, read again) as `nginx -s
//! reload` does: new handshakes get the new pair, open connections and requests carry on
//! untouched, and a pair that does not load is logged and changes nothing. The rest of the
//! configuration comes from the environment, which a running process cannot be given again,
//! so it takes a restart.

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
    let (wait, mut hangup) = {
        let _context = signals.enter();
        (
            rt::signal::termination().context("installing the SIGTERM/SIGINT handlers")?,
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                .context("installing the SIGHUP handler")?,
        )
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
            // The in-process server's heap trim, as its own binary starts it (mimalloc gives
            // memory back by itself).
            let trimmer = settings
                .heap_trim
                .filter(|_| !cfg!(feature = "mimalloc"))
                .map(rt::heap::Trimmer::start)
                .transpose()
                .context("starting the heap-trim thread")?;
            let running = server::spawn(settings).context("cannot start the app server")?;
            let router = server::routes::router(running.app().clone());
            (Backend::Fused(router), Some((running, trimmer)))
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
    let signal = signals.block_on(async {
        let mut wait = std::pin::pin!(wait);
        loop {
            tokio::select! {
                signal = &mut wait => break signal,
                _ = hangup.recv() => match edge.reload_certificate() {
                    Ok(()) => tracing::info!(
                        cert = %config.tls_cert.display(),
                        "SIGHUP: certificate reloaded; new connections get it"
                    ),
                    Err(err) => tracing::error!(
                        %err,
                        "SIGHUP: the certificate did not reload; still serving the previous one"
                    ),
                },
            }
        }
    });
    tracing::info!(signal, "shutting down: finishing in-flight requests");
    edge.shutdown();
    if let Some((app_server, _trimmer)) = app_server {
        app_server.stop();
    }
    tracing::info!("edge stopped");
    Ok(())
}
