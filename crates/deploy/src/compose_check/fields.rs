//! Rules on single compose fields of the typed model: mounts from the harness's folders
//! (never a hard-coded host path), a required read-only mount, `depends_on` health
//! conditions, a build linted against its Dockerfile and context, and describing values in
//! messages.

use std::path::Path;

use crate::compose::{var_ref, Build, Mount, Service, SERVICE_HEALTHY};

use super::dockerfile::{self, BuildContext, Dockerfile};
use super::findings::Findings;

/// Every mount of `service` comes from `${CERTS_DIR}` or `${DATA_DIR}` or is a named volume.
pub(super) fn check_mount_sources(service: &Service, out: &mut Findings) {
    for mount in &service.volumes {
        let from_harness =
            var_ref(&mount.source).is_some_and(|(var, _)| var == "CERTS_DIR" || var == "DATA_DIR");
        // An empty source is a long-syntax mount without one (a tmpfs): no host path.
        let host_path = !mount.source.is_empty() && mount.volume_name().is_none();
        if host_path && !from_harness {
            out.service(
                &service.name,
                "volumes",
                format!(
                    "`{}` is a hard-coded host path; mount from ${{CERTS_DIR}} or ${{DATA_DIR}}",
                    mount.source
                ),
            );
        }
    }
}

/// Requires `${VAR}<rest>` mounted read-only at `target`.
pub(super) fn require_mount(
    service: &Service,
    var: &str,
    rest: &str,
    target: &str,
    out: &mut Findings,
) {
    let name = &service.name;
    let wanted = format!("${{{var}}}{rest}:{target}:ro");
    let found: Option<&Mount> = service.volumes.iter().find(|m| m.target == target);
    match found {
        None => out.service(name, "volumes", format!("missing `{wanted}`")),
        Some(mount) => {
            let source_ok = var_ref(&mount.source).is_some_and(|(v, r)| v == var && r == rest);
            if !source_ok {
                out.service(
                    name,
                    "volumes",
                    format!(
                        "{} is mounted from `{}`; expected `{wanted}`",
                        target, mount.source
                    ),
                );
            } else if !mount.read_only {
                out.service(
                    name,
                    "volumes",
                    format!("{target} must be read-only (`:ro`)"),
                );
            }
        }
    }
}

/// `service` starts only once each of `needs` passes its health check.
pub(super) fn require_depends_healthy(service: &Service, needs: &[&str], out: &mut Findings) {
    for need in needs {
        let dependency = service.depends_on.iter().find(|d| d.service == *need);
        match dependency.map(|d| d.condition.as_deref()) {
            Some(Some(SERVICE_HEALTHY)) => {}
            Some(_) => out.service(
                &service.name,
                "depends_on",
                format!("`{need}` without `condition: service_healthy` only orders start-up; HttpArena's checks start as soon as the edge answers"),
            ),
            None => out.service(
                &service.name,
                "depends_on",
                format!("missing `{need}: {{condition: service_healthy}}`: HttpArena's checks start as soon as the edge answers"),
            ),
        }
    }
}

/// A build's Dockerfile, read and linted against its context.
pub(super) struct BuildReport {
    pub(super) context: BuildContext,
    pub(super) lint: dockerfile::LintReport,
}

pub(super) fn lint_build(
    name: &str,
    build: &Build,
    compose_dir: &Path,
    out: &mut Findings,
) -> Option<BuildReport> {
    let Some(context) = &build.context else {
        out.service(name, "build", "no build context".into());
        return None;
    };
    let context_dir = compose_dir.join(context);
    if !context_dir.is_dir() {
        out.service(
            name,
            "build.context",
            format!("`{context}` ({}) is not a folder", context_dir.display()),
        );
        return None;
    }
    let dockerfile_rel = build.dockerfile.as_deref().unwrap_or("Dockerfile");
    let dockerfile_path = context_dir.join(dockerfile_rel);
    if !dockerfile_path.is_file() {
        out.service(
            name,
            "build.dockerfile",
            format!(
                "`{dockerfile_rel}` does not exist in the context ({})",
                dockerfile_path.display()
            ),
        );
        return None;
    }
    let parsed = match Dockerfile::load(&dockerfile_path) {
        Ok(parsed) => parsed,
        Err(err) => {
            out.service(name, "build.dockerfile", format!("{err:#}"));
            return None;
        }
    };
    let mut ctx = match BuildContext::new(&context_dir, &dockerfile_path) {
        Ok(ctx) => ctx,
        Err(err) => {
            out.service(name, "build.context", format!("{err:#}"));
            return None;
        }
    };
    ctx.build_args = build.args.iter().cloned().collect();
    let lint = parsed.lint(&ctx);
    for finding in &lint.findings {
        out.service(
            name,
            "build.dockerfile",
            format!("{} {finding}", dockerfile_path.display()),
        );
    }
    Some(BuildReport { context: ctx, lint })
}

/// `../_shared/authsvc/` → `../_shared/authsvc`; `./x` → `x`.
pub(super) fn normalize_dir(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed.is_empty() {
        ".".into()
    } else {
        trimmed.to_string()
    }
}

pub(super) fn describe_str(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("`{v}`"),
        None => "missing".into(),
    }
}
