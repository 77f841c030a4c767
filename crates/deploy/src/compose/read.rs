//! Reading any compose service into the model, leniently: every syntax compose accepts for a
//! field (environment as a list or a map, volumes short or long, `depends_on` as a list or a
//! map, `build` as a string or a map, commands as a list or a string) becomes the one typed
//! form, and a field that cannot be read is left empty with a [`FieldError`] that names it, so
//! a checker can report every problem of a hand-written file at once.

use serde_yaml::Value;

use super::{Build, Dependency, EnvVar, Healthcheck, Limit, Mount, Service, Ulimits, Volume};

/// A field of a compose service that is there but cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The compose field (`volumes`, `environment`, `build.args`).
    pub field: &'static str,
    pub message: String,
}

/// `value` (one entry of `services:`) as the model, and what could not be read.
pub fn read_service(name: &str, value: &Value) -> (Service, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut fail =
        |field: &'static str, message: String| errors.push(FieldError { field, message });
    let environment = environment(value).unwrap_or_else(|e| {
        fail("environment", e);
        Vec::new()
    });
    let volumes = mounts(value).unwrap_or_else(|e| {
        fail("volumes", e);
        Vec::new()
    });
    let build = value.get("build").map(|b| {
        let (build, args_error) = read_build(b);
        if let Some(e) = args_error {
            fail("build.args", e);
        }
        build
    });
    let ulimits = value.get("ulimits");
    let service = Service {
        name: name.to_string(),
        image: value.get("image").map(|v| scalar(v).unwrap_or_default()),
        build,
        network_mode: value.get("network_mode").and_then(scalar),
        restart: value.get("restart").and_then(scalar),
        cpuset: value.get("cpuset").and_then(scalar),
        ulimits: Ulimits {
            memlock: ulimits.and_then(|u| u.get("memlock")).map(limit),
            nofile: ulimits.and_then(|u| u.get("nofile")).map(limit),
        },
        security_opt: value
            .get("security_opt")
            .and_then(Value::as_sequence)
            .map(|opts| opts.iter().filter_map(scalar).collect())
            .unwrap_or_default(),
        container_name: value
            .get("container_name")
            .map(|v| scalar(v).unwrap_or_default()),
        environment,
        volumes,
        entrypoint: value.get("entrypoint").map(command_words),
        command: value.get("command").map(command_words),
        healthcheck: value.get("healthcheck").map(healthcheck),
        depends_on: depends_on(value.get("depends_on")),
        comments: Vec::new(),
    };
    (service, errors)
}

fn limit(value: &Value) -> Limit {
    match value.as_i64() {
        Some(n) => Limit::Single(n),
        None => Limit::Pair {
            soft: value.get("soft").and_then(Value::as_i64),
            hard: value.get("hard").and_then(Value::as_i64),
        },
    }
}

fn healthcheck(value: &Value) -> Healthcheck {
    Healthcheck {
        test: value.get("test").map(command_words),
        interval: value.get("interval").and_then(scalar),
        timeout: value.get("timeout").and_then(scalar),
        retries: value.get("retries").and_then(Value::as_i64),
        start_period: value.get("start_period").and_then(scalar),
        disable: value.get("disable").and_then(Value::as_bool) == Some(true),
    }
}

fn depends_on(value: Option<&Value>) -> Vec<Dependency> {
    match value {
        Some(Value::Mapping(map)) => map
            .iter()
            .filter_map(|(k, v)| {
                Some(Dependency {
                    service: scalar(k)?,
                    condition: v.get("condition").and_then(scalar),
                })
            })
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .filter_map(scalar)
            .map(|service| Dependency {
                service,
                condition: None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `build:` as the model, and why `args` could not be read (then left empty).
fn read_build(value: &Value) -> (Build, Option<String>) {
    let Value::Mapping(map) = value else {
        let build = Build {
            context: scalar(value),
            short: true,
            ..Build::default()
        };
        return (build, None);
    };
    let mut build = Build {
        context: value.get("context").and_then(scalar),
        dockerfile: value.get("dockerfile").and_then(scalar),
        network: value.get("network").and_then(scalar),
        keys: map.keys().map(|k| scalar(k).unwrap_or_default()).collect(),
        ..Build::default()
    };
    match build_args(value.get("args")) {
        Ok(args) => {
            build.args = args;
            (build, None)
        }
        Err(err) => (build, Some(err)),
    }
}

fn build_args(value: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let mut args = Vec::new();
    match value {
        None => {}
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                args.push((
                    scalar(k).ok_or("argument names must be strings")?,
                    scalar(v).unwrap_or_default(),
                ));
            }
        }
        Some(Value::Sequence(list)) => {
            for entry in list {
                let text = scalar(entry).ok_or("list entries must be KEY=VALUE strings")?;
                let (k, v) = text.split_once('=').unwrap_or((&text, ""));
                args.push((k.to_string(), v.to_string()));
            }
        }
        Some(_) => return Err("must be a map or a list".into()),
    }
    Ok(args)
}

/// Compose `volumes` of a service as mounts (short `SRC:DST[:MODE]` and long syntax).
pub fn mounts(service: &Value) -> Result<Vec<Mount>, String> {
    let Some(volumes) = service.get("volumes") else {
        return Ok(Vec::new());
    };
    let Some(list) = volumes.as_sequence() else {
        return Err("must be a list".into());
    };
    let mut out = Vec::new();
    for entry in list {
        if let Some(spec) = entry.as_str() {
            let parts = split_outside_braces(spec, ':');
            let (source, target, mode) = match parts.as_slice() {
                [s, t] => (s.clone(), t.clone(), String::new()),
                [s, t, m] => (s.clone(), t.clone(), m.clone()),
                _ => return Err(format!("`{spec}` is not SOURCE:TARGET[:MODE]")),
            };
            out.push(Mount {
                source,
                target,
                read_only: mode.split(',').any(|o| o == "ro"),
            });
        } else if entry.is_mapping() {
            out.push(Mount {
                source: entry.get("source").and_then(scalar).unwrap_or_default(),
                target: entry.get("target").and_then(scalar).unwrap_or_default(),
                read_only: entry.get("read_only").and_then(Value::as_bool) == Some(true),
            });
        } else {
            return Err("entries must be strings or maps".into());
        }
    }
    Ok(out)
}

/// The top-level `volumes:` of a compose document (`doc`), in order: a name with no value,
/// or with a map whose `driver_opts` (string values) and `external` are read (the driver's
/// other keys are not modelled).
pub fn read_volumes(doc: &Value) -> Result<Vec<Volume>, String> {
    let map = match doc.get("volumes") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Mapping(map)) => map,
        Some(_) => return Err("must be a map of volume names".into()),
    };
    let mut out = Vec::new();
    for (key, value) in map {
        let name = scalar(key).ok_or("volume names must be strings")?;
        if !matches!(value, Value::Null | Value::Mapping(_)) {
            return Err(format!("`{name}` must be empty or a map"));
        }
        let driver_opts = match value.get("driver_opts") {
            None => Vec::new(),
            Some(Value::Mapping(opts)) => opts
                .iter()
                .map(|(k, v)| match (scalar(k), scalar(v)) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err(format!("`{name}.driver_opts` must map names to strings")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(format!("`{name}.driver_opts` must be a map")),
        };
        out.push(Volume {
            name,
            driver_opts,
            // `external: true`, or the legacy `external: {name: ...}`.
            external: value
                .get("external")
                .is_some_and(|e| !e.is_null() && e.as_bool() != Some(false)),
            comment: None,
        });
    }
    Ok(out)
}

/// `text` split at `separator`s outside `${...}` (a variable's message may hold a colon).
fn split_outside_braces(text: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut previous = '\0';
    for c in text.chars() {
        match c {
            '{' if previous == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                previous = c;
                continue;
            }
            _ => {}
        }
        current.push(c);
        previous = c;
    }
    parts.push(current);
    parts
}

/// Compose `environment` of a service (list `KEY=VALUE` / `KEY`, or map form), in order.
pub fn environment(service: &Value) -> Result<Vec<EnvVar>, String> {
    let mut env = Vec::new();
    let var = |name: String, value: Option<String>| EnvVar {
        name,
        value,
        comment: None,
    };
    match service.get("environment") {
        None => {}
        Some(Value::Sequence(list)) => {
            for entry in list {
                let text = scalar(entry).ok_or("list entries must be KEY=VALUE strings")?;
                env.push(match text.split_once('=') {
                    Some((k, v)) => var(k.to_string(), Some(v.to_string())),
                    None => var(text, None),
                });
            }
        }
        Some(Value::Mapping(map)) => {
            for (k, v) in map {
                env.push(var(scalar(k).ok_or("keys must be strings")?, scalar(v)));
            }
        }
        Some(_) => return Err("must be a list or a map".into()),
    }
    Ok(env)
}

/// A compose command (`test`, `entrypoint`, `command`): list form or a string split on spaces.
pub fn command_words(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(list) => list.iter().filter_map(scalar).collect(),
        other => scalar(other)
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default(),
    }
}

/// A YAML scalar as text.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_volume_syntax_keeps_variable_messages_whole() {
        let doc: Value = serde_yaml::from_str(
            "volumes:\n  - \"${CERTS_DIR:?set CERTS_DIR: the certs}:/certs:ro\"\n  - /x:/y\n",
        )
        .unwrap();
        let mounts = mounts(&doc).unwrap();
        assert_eq!(mounts[0].source, "${CERTS_DIR:?set CERTS_DIR: the certs}");
        assert_eq!(mounts[0].target, "/certs");
        assert!(mounts[0].read_only);
        assert!(!mounts[1].read_only);
    }

    #[test]
    fn top_level_volumes_in_every_form_and_the_unreadable_ones() {
        let doc: Value = serde_yaml::from_str(
            "volumes:\n  plain:\n  tmp:\n    driver_opts:\n      type: tmpfs\n  ext:\n    external: true\n  old:\n    external:\n      name: x\n  no:\n    external: false\n",
        )
        .unwrap();
        let volumes = read_volumes(&doc).unwrap();
        let names: Vec<&str> = volumes.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["plain", "tmp", "ext", "old", "no"]);
        assert!(volumes[0].driver_opts.is_empty() && !volumes[0].external);
        assert_eq!(volumes[1].driver_opts, [("type".into(), "tmpfs".into())]);
        assert!(volumes[2].external && volumes[3].external && !volumes[4].external);
        for bad in [
            "volumes: [a]\n",
            "volumes:\n  a: 5\n",
            "volumes:\n  a:\n    driver_opts: x\n",
            "volumes:\n  a:\n    driver_opts:\n      o: [1]\n",
        ] {
            let doc: Value = serde_yaml::from_str(bad).unwrap();
            assert!(read_volumes(&doc).is_err(), "{bad}");
        }
        assert!(read_volumes(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn environment_in_both_forms() {
        let list: Value = serde_yaml::from_str("environment:\n  - A=1\n  - B\n").unwrap();
        let map: Value = serde_yaml::from_str("environment:\n  A: 1\n  B:\n").unwrap();
        let expected = vec![
            EnvVar {
                name: "A".into(),
                value: Some("1".into()),
                comment: None,
            },
            EnvVar {
                name: "B".into(),
                value: None,
                comment: None,
            },
        ];
        assert_eq!(environment(&list).unwrap(), expected);
        assert_eq!(environment(&map).unwrap(), expected);
    }

    #[test]
    fn unreadable_fields_are_named_and_the_rest_is_read() {
        let doc: Value = serde_yaml::from_str(
            "image: x\nvolumes: nope\nenvironment: 3\nbuild:\n  context: .\n  args: 4\n",
        )
        .unwrap();
        let (service, errors) = read_service("s", &doc);
        assert_eq!(service.image.as_deref(), Some("x"));
        assert_eq!(service.build.and_then(|b| b.context).as_deref(), Some("."));
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["environment", "volumes", "build.args"]);
    }
}
