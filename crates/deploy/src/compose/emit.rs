//! Writing a [`ComposeFile`] as YAML, in the layout of the committed files: a `#` header,
//! `services:`, one block per service in a fixed field order, a blank line between services,
//! the named `volumes:` after them, and the model's comments above the fields they explain. Hand-written rather than
//! `serde_yaml::to_string` because a serializer drops comments, and the generated files carry
//! their reasoning in them; strings that YAML would read as something else are written as
//! JSON strings (valid YAML double-quoted scalars).

use std::fmt::Write as _;

use super::{Build, ComposeFile, Healthcheck, Limit, Service};

impl ComposeFile {
    /// The file as YAML.
    pub fn to_yaml(&self) -> String {
        let mut y = String::new();
        for line in self.header.trim_end().lines() {
            if line.is_empty() {
                y.push_str("#\n");
            } else {
                let _ = writeln!(y, "# {line}");
            }
        }
        if !self.header.trim_end().is_empty() {
            y.push('\n');
        }
        y.push_str("services:\n");
        for (i, service) in self.services.iter().enumerate() {
            if i > 0 {
                y.push('\n');
            }
            write_service(&mut y, service);
        }
        if !self.volumes.is_empty() {
            y.push_str("\nvolumes:\n");
        }
        for volume in &self.volumes {
            if let Some(text) = &volume.comment {
                comment(&mut y, "  ", text);
            }
            let _ = writeln!(y, "  {}:", volume.name);
            if !volume.driver_opts.is_empty() {
                y.push_str("    driver_opts:\n");
                for (key, value) in &volume.driver_opts {
                    let _ = writeln!(y, "      {key}: {}", scalar(value));
                }
            }
        }
        y
    }
}

fn write_service(y: &mut String, s: &Service) {
    let _ = writeln!(y, "  {}:", s.name);
    let c = |y: &mut String, field: &str| {
        for (f, text) in &s.comments {
            if *f == field {
                comment(y, "    ", text);
            }
        }
    };
    if let Some(image) = &s.image {
        c(y, "image");
        let _ = writeln!(y, "    image: {}", scalar(image));
    }
    if let Some(build) = &s.build {
        c(y, "build");
        write_build(y, build);
    }
    if let Some(name) = &s.container_name {
        let _ = writeln!(y, "    container_name: {}", scalar(name));
    }
    if let Some(mode) = &s.network_mode {
        let _ = writeln!(y, "    network_mode: {}", scalar(mode));
    }
    if let Some(restart) = &s.restart {
        let _ = writeln!(y, "    restart: {}", scalar(restart));
    }
    if let Some(cpuset) = &s.cpuset {
        let _ = writeln!(y, "    cpuset: {}", quoted(cpuset));
    }
    if s.ulimits.memlock.is_some() || s.ulimits.nofile.is_some() {
        y.push_str("    ulimits:\n");
        for (key, limit) in [
            ("memlock", &s.ulimits.memlock),
            ("nofile", &s.ulimits.nofile),
        ] {
            match limit {
                None => {}
                Some(Limit::Single(n)) => {
                    let _ = writeln!(y, "      {key}: {n}");
                }
                Some(Limit::Pair { soft, hard }) => {
                    let _ = writeln!(y, "      {key}:");
                    for (k, v) in [("soft", soft), ("hard", hard)] {
                        if let Some(v) = v {
                            let _ = writeln!(y, "        {k}: {v}");
                        }
                    }
                }
            }
        }
    }
    if !s.security_opt.is_empty() {
        y.push_str("    security_opt:\n");
        for opt in &s.security_opt {
            let _ = writeln!(y, "      - {}", scalar(opt));
        }
    }
    if !s.environment.is_empty() {
        c(y, "environment");
        y.push_str("    environment:\n");
        for var in &s.environment {
            if let Some(text) = &var.comment {
                comment(y, "      ", text);
            }
            let entry = match &var.value {
                Some(value) => format!("{}={value}", var.name),
                None => var.name.clone(),
            };
            let _ = writeln!(y, "      - {}", scalar(&entry));
        }
    }
    if !s.volumes.is_empty() {
        c(y, "volumes");
        y.push_str("    volumes:\n");
        for mount in &s.volumes {
            let mode = if mount.read_only { ":ro" } else { "" };
            let spec = format!("{}:{}{mode}", mount.source, mount.target);
            let _ = writeln!(y, "      - {}", quoted(&spec));
        }
    }
    if let Some(words) = &s.entrypoint {
        c(y, "entrypoint");
        let _ = writeln!(y, "    entrypoint: {}", flow(words));
    }
    if let Some(words) = &s.command {
        c(y, "command");
        let _ = writeln!(y, "    command: {}", flow(words));
    }
    if let Some(check) = &s.healthcheck {
        c(y, "healthcheck");
        write_healthcheck(y, check);
    }
    if !s.depends_on.is_empty() {
        c(y, "depends_on");
        y.push_str("    depends_on:\n");
        for dependency in &s.depends_on {
            match &dependency.condition {
                Some(condition) => {
                    let _ = writeln!(
                        y,
                        "      {}:\n        condition: {}",
                        dependency.service,
                        scalar(condition)
                    );
                }
                None => {
                    let _ = writeln!(y, "      {}: {{}}", dependency.service);
                }
            }
        }
    }
}

fn write_build(y: &mut String, build: &Build) {
    let context = build.context.as_deref().unwrap_or(".");
    if build.short {
        let _ = writeln!(y, "    build: {}", scalar(context));
        return;
    }
    let _ = writeln!(y, "    build:\n      context: {}", scalar(context));
    if let Some(dockerfile) = &build.dockerfile {
        let _ = writeln!(y, "      dockerfile: {}", scalar(dockerfile));
    }
    if let Some(network) = &build.network {
        let _ = writeln!(y, "      network: {}", scalar(network));
    }
    if !build.args.is_empty() {
        y.push_str("      args:\n");
        for (name, value) in &build.args {
            let _ = writeln!(y, "        {name}: {}", scalar(value));
        }
    }
}

fn write_healthcheck(y: &mut String, check: &Healthcheck) {
    y.push_str("    healthcheck:\n");
    if let Some(test) = &check.test {
        let _ = writeln!(y, "      test: {}", flow(test));
    }
    for (key, value) in [("interval", &check.interval), ("timeout", &check.timeout)] {
        if let Some(value) = value {
            let _ = writeln!(y, "      {key}: {}", scalar(value));
        }
    }
    if let Some(retries) = check.retries {
        let _ = writeln!(y, "      retries: {retries}");
    }
    if let Some(period) = &check.start_period {
        let _ = writeln!(y, "      start_period: {}", scalar(period));
    }
    if check.disable {
        y.push_str("      disable: true\n");
    }
}

/// `text` as `#` lines at `indent`.
fn comment(y: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let _ = writeln!(y, "{indent}# {line}");
    }
}

/// `["a", "b"]`.
fn flow(words: &[String]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| quoted(w)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A double-quoted scalar (JSON string syntax, which YAML reads the same).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// `text` plain when YAML reads it back as this same string, quoted otherwise.
fn scalar(text: &str) -> String {
    let plain_chars = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/:@=-".contains(c));
    let starts_plain = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/');
    let lower = text.to_ascii_lowercase();
    let other_type = text.parse::<f64>().is_ok()
        || text.ends_with(':')
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || (text.starts_with('.') && text[1..].starts_with(|c: char| c.is_ascii_alphabetic()))
        || matches!(
            text.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
        );
    if plain_chars && starts_plain && !other_type {
        text.to_string()
    } else {
        quoted(text)
    }
}

#[cfg(test)]
mod tests {
    use super::scalar;

    #[test]
    fn scalars_are_quoted_only_when_yaml_would_misread_them() {
        assert_eq!(scalar("redis:7-alpine"), "redis:7-alpine");
        assert_eq!(
            scalar("REDIS_URL=redis://127.0.0.1:6379"),
            "REDIS_URL=redis://127.0.0.1:6379"
        );
        assert_eq!(scalar("../_shared/authsvc"), "../_shared/authsvc");
        assert_eq!(scalar("A=${B}"), "\"A=${B}\"");
        assert_eq!(scalar("256"), "\"256\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("a b"), "\"a b\"");
        assert_eq!(scalar(""), "\"\"");
        for misread in ["LISTEN=0.0.0.0:", "0x10", "0o17", ".inf", ".NaN"] {
            assert_eq!(scalar(misread), format!("\"{misread}\""));
        }
        assert_eq!(scalar("./edge"), "./edge");
    }
}
