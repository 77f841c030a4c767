//! Presenting benchmark results: terminal tables, HttpArena-format JSON, and a Markdown report
//! with an SVG chart drawn by `plotters`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use super::results::{RunResult, LOADGEN, POSTGRES, STACK_SERVICES};

/// All runs of one variant at one connection count; the best by rps is what HttpArena keeps.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub variant: &'a str,
    pub connections: u32,
    pub runs: Vec<&'a RunResult>,
}

impl<'a> Series<'a> {
    /// The best run by rps; a run that counts beats one that does not.
    pub fn best(&self) -> Option<&'a RunResult> {
        self.runs
            .iter()
            .copied()
            .max_by_key(|r| (r.scored(), r.rps()))
    }
}

/// Groups runs by (variant, connections) in first-seen order.
pub fn series(runs: &[RunResult]) -> Vec<Series<'_>> {
    let mut out: Vec<Series<'_>> = Vec::new();
    for run in runs {
        match out
            .iter_mut()
            .find(|s| s.variant == run.variant && s.connections == run.connections)
        {
            Some(s) => s.runs.push(run),
            None => out.push(Series {
                variant: &run.variant,
                connections: run.connections,
                runs: vec![run],
            }),
        }
    }
    out
}

/// A plain text table with right-aligned columns after the first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str("  ");
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for row in rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// HttpArena's memory format: `19MiB`, `384MiB`, `1.5GiB`.
pub fn memory(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1}GiB", mib / 1024.0)
    } else {
        format!("{mib:.0}MiB")
    }
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

/// The terminal report of every series.
pub fn terminal(runs: &[RunResult]) -> String {
    let mut out = String::new();
    for s in series(runs) {
        let Some(best) = s.best() else { continue };
        let _ = writeln!(out, "\n== {} · {} connections ==", s.variant, s.connections);
        let _ = writeln!(out, "authsvc: {}", best.authsvc);
        let rows: Vec<Vec<String>> = s
            .runs
            .iter()
            .map(|r| {
                vec![
                    format!(
                        "{}{}",
                        r.run,
                        if std::ptr::eq(*r, best) { " *" } else { "" }
                    ),
                    if r.scored() {
                        thousands(r.rps())
                    } else {
                        "0 (unfinished)".into()
                    },
                    thousands(r.status(2)),
                    thousands(r.status(4)),
                    thousands(r.status(5)),
                    thousands(r.unanswered()),
                    format!("{:.0}%", r.stack_cpu()),
                    format!("{:.0}", r.rps_per_cpu()),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "run",
                "rps",
                "2xx",
                "4xx",
                "5xx",
                "no answer",
                "stack cpu",
                "rps/cpu",
            ],
            &rows,
        ));
        let _ = writeln!(out, "(* best run, kept as the score)");
        for r in s.runs.iter().filter(|r| !r.scored()) {
            for u in &r.unfinished {
                let _ = writeln!(out, "{}", unfinished_line(r, u));
            }
        }
        if !best.scored() {
            let _ = writeln!(
                out,
                "!! no run of {} · {}c finished: no score (HttpArena would record 0 rps); the tables below are diagnostics of run {}",
                s.variant, s.connections, best.run
            );
        }
        out.push('\n');
        out.push_str(&latency_table(best));
        out.push('\n');
        out.push_str(&usage_table(best));
        out.push('\n');
        out.push_str(&cost_table(best));
        out.push('\n');
        out.push_str(&cache_table(best));
        out.push('\n');
        out.push_str(&template_table(best));
        for r in s.runs.iter().filter(|r| r.soak.is_some()) {
            out.push('\n');
            out.push_str(&soak_table(r));
        }
        if !best.failures.is_empty() {
            let _ = writeln!(
                out,
                "\n!! non-2xx responses or errors in the best run; first failures:"
            );
            for f in best.failures.iter().take(10) {
                let _ = writeln!(out, "   {f}");
            }
        }
    }
    out
}

/// The memory check of a long run: each service's RSS after the warm-up, at the end and at its
/// peak, and how much it grew.
pub fn soak_table(r: &RunResult) -> String {
    let Some(soak) = &r.soak else {
        return String::new();
    };
    let rows: Vec<Vec<String>> = soak
        .services
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                memory(s.after_warmup_bytes),
                memory(s.end_bytes),
                memory(s.peak_bytes),
                growth(s),
                match (s.passed, s.growth_percent) {
                    (true, _) => "ok",
                    (false, Some(_)) => "GREW",
                    (false, None) => "NO DATA",
                }
                .to_string(),
            ]
        })
        .collect();
    format!(
        "private memory (RssAnon) of run {} after its {} s warm-up (medians of {} s windows; limit +{:.0}%):\n{}",
        r.run,
        soak.warmup_s,
        soak.window_s,
        soak.limit_percent,
        table(
            &[
                "service",
                "after warm-up",
                "at the end",
                "peak (1 s samples)",
                "growth",
                "",
            ],
            &rows
        )
    )
}

fn growth(s: &crate::memory::SoakService) -> String {
    s.growth_percent
        .map_or_else(|| "n/a".to_string(), |g| format!("{g:+.1}%"))
}

/// Why a run fails the memory check, or `None` when it passes or has no verdict.
pub fn soak_failure(r: &RunResult) -> Option<String> {
    let soak = r.soak.as_ref()?;
    let grew: Vec<String> = soak
        .services
        .iter()
        .filter(|s| !s.passed)
        .map(|s| {
            format!(
                "{} {} ({} → {})",
                s.name,
                growth(s),
                memory(s.after_warmup_bytes),
                memory(s.end_bytes)
            )
        })
        .collect();
    (!grew.is_empty()).then(|| {
        format!(
            "{} · {}c · run {}: private memory grew more than {:.0}% after the {} s warm-up (or was not found): {}",
            r.variant,
            r.connections,
            r.run,
            soak.limit_percent,
            soak.warmup_s,
            grew.join(", ")
        )
    })
}

/// One line per h2load instance that did not finish: why, and what its log recorded.
pub fn unfinished_line(r: &RunResult, u: &super::results::Unfinished) -> String {
    let held = match u.open_connections {
        Some(n) if n > 0 => format!("; it still held {} connections", thousands(n)),
        _ => String::new(),
    };
    format!(
        "run {}: h2load ({}) {}; the run counts nothing (scored 0, as HttpArena's `timeout 45`). \
         Its --log-file recorded {} requests ({} 2xx, {} other) = {} rps over the {} s run, a diagnostic, not the score{held}.",
        r.run,
        u.instance,
        u.reason,
        thousands(u.logged.requests),
        thousands(u.logged.status_2xx),
        thousands(u.logged.other),
        thousands(u.logged_rps),
        r.duration_s,
    )
}

pub fn latency_table(r: &RunResult) -> String {
    let row = |name: &str, l: &super::results::LatencyReport| {
        vec![
            name.to_string(),
            thousands(l.requests),
            ms(l.mean_ms),
            ms(l.p50_ms),
            ms(l.p90_ms),
            ms(l.p99_ms),
            ms(l.max_ms),
        ]
    };
    table(
        &[
            "latency (ms)",
            "requests",
            "mean",
            "p50",
            "p90",
            "p99",
            "max",
        ],
        &[
            row("reads", &r.reads_latency),
            row("writes", &r.writes_latency),
        ],
    )
}

pub fn usage_table(r: &RunResult) -> String {
    let mut rows: Vec<Vec<String>> = ordered_usage(r)
        .map(|u| {
            vec![
                u.service.clone(),
                format!("{:.1}%", u.cpu_percent),
                memory(u.peak_rss_bytes),
            ]
        })
        .collect();
    // The Engine stacks run fewer services (no authsvc; fused: no server process either).
    let services = r
        .usage
        .iter()
        .filter(|u| super::results::STACK_SERVICES.contains(&u.service.as_str()))
        .count();
    rows.push(vec![
        format!("stack ({services} services)"),
        format!("{:.1}%", r.stack_cpu()),
        memory(r.stack_memory()),
    ]);
    let mut text = table(&["service", "cpu (100% = 1 CPU)", "peak RSS"], &rows);
    let _ = writeln!(
        text,
        "efficiency: {:.0} rps per CPU of the stack ({services} services + postgres)",
        r.rps_per_cpu()
    );
    text
}

/// CPU per unit of each service's work: the inputs of `prodstack plan`.
pub fn cost_table(r: &RunResult) -> String {
    let us = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = r
        .costs
        .services
        .iter()
        .map(|c| {
            vec![
                c.service.clone(),
                c.unit.to_string(),
                c.count.map(thousands).unwrap_or_else(|| "?".into()),
                format!("{:.2}", c.cpu_seconds),
                us(c.us_per_unit),
            ]
        })
        .collect();
    let mut text = table(&["service", "per", "count", "cpu s", "cpu µs per"], &rows);
    let _ = writeln!(
        text,
        "stack: {} cpu µs per client request (edge, authsvc, server, cache and postgres)",
        us(r.costs.stack_us_per_client_request)
    );
    text
}

fn ordered_usage(r: &RunResult) -> impl Iterator<Item = &super::results::UsageReport> {
    STACK_SERVICES
        .iter()
        .chain([POSTGRES, LOADGEN].iter())
        .filter_map(move |name| r.usage.iter().find(|u| u.service == *name))
}

pub fn cache_table(r: &RunResult) -> String {
    let c = &r.cache;
    let (l1, l2, db) = c.ratios();
    let row = |name: &str, count: f64, share: Option<f64>| {
        vec![
            name.to_string(),
            thousands(count as u64),
            format!("{:.0}", c.per_second(count)),
            share
                .map(|s| format!("{:.1}%", s * 100.0))
                .unwrap_or_default(),
        ]
    };
    table(
        &["cache hierarchy", "count", "per s", "share of reads"],
        &[
            row("L1 hits", c.l1_hits, Some(l1)),
            row(
                "L2 (Redis) hits + single-flight waiters",
                c.l2_hits + c.singleflight_waiters,
                Some(l2),
            ),
            row(
                "  of which single-flight waiters",
                c.singleflight_waiters,
                None,
            ),
            row("DB queries (reads)", c.db_queries, Some(db)),
            row("DB writes (UPDATE)", c.db_writes, None),
            row("invalidations", c.invalidations, None),
            row("Redis errors", c.redis_errors, None),
            row("DB errors", c.db_errors, None),
        ],
    )
}

pub fn template_table(r: &RunResult) -> String {
    let t = &r.templates;
    let total = (t.static_files + t.baseline + t.items + t.me).max(1) as f64;
    let row = |name: &str, n: u64| {
        vec![
            name.to_string(),
            thousands(n),
            format!("{:.1}%", n as f64 / total * 100.0),
        ]
    };
    table(
        &["template (measured 2xx)", "count", "share"],
        &[
            row("static", t.static_files),
            row("baseline", t.baseline),
            row("items (GET + POST)", t.items),
            row("me", t.me),
        ],
    )
}

/// Ratios of each variant's best rps against the first variant's, per connection count.
pub fn comparison(runs: &[RunResult]) -> Option<String> {
    let all = series(runs);
    let variants: Vec<&str> = all.iter().fold(Vec::new(), |mut v, s| {
        if !v.contains(&s.variant) {
            v.push(s.variant);
        }
        v
    });
    if variants.len() < 2 {
        return None;
    }
    let mut rows = Vec::new();
    for s in &all {
        let Some(best) = s.best() else { continue };
        let base = all
            .iter()
            .find(|b| b.variant == variants[0] && b.connections == s.connections)
            .and_then(|b| b.best());
        let ratio = base
            .filter(|b| b.rps() > 0)
            .map(|b| format!("{:.2}×", best.rps() as f64 / b.rps() as f64))
            .unwrap_or_else(|| "-".into());
        let median = median_rps(&s.runs);
        rows.push(vec![
            s.variant.to_string(),
            s.connections.to_string(),
            thousands(best.rps()),
            thousands(median),
            ratio,
            format!("{:.0}", best.rps_per_cpu()),
        ]);
    }
    Some(table(
        &[
            "variant",
            "conns",
            "best rps",
            "median rps",
            &format!("vs {}", variants[0]),
            "rps/cpu",
        ],
        &rows,
    ))
}

fn median_rps(runs: &[&RunResult]) -> u64 {
    let mut v: Vec<u64> = runs.iter().map(|r| r.rps()).collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// One entry of HttpArena's result format (`results/production-stack/<conns>/<fw>.json`): the same field names, types and order, then our own measurements in a
/// nested `prodstack` object.
#[derive(Debug, Serialize)]
pub struct HttpArenaEntry<'a> {
    pub framework: String,
    pub language: &'static str,
    pub rps: u64,
    pub avg_latency: String,
    pub p99_latency: String,
    pub cpu: String,
    pub memory: String,
    pub connections: u32,
    pub threads: u32,
    pub duration: String,
    pub pipeline: u32,
    pub bandwidth: String,
    pub reconnects: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// HttpArena writes the template split only when there were 2xx answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpl_static: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpl_baseline: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpl_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpl_me: Option<u64>,
    pub cpu_breakdown: String,
    pub prodstack: ProdstackExtras<'a>,
}

#[derive(Debug, Serialize)]
pub struct ProdstackExtras<'a> {
    pub variant: &'a str,
    /// The auth sidecar that ran.
    pub authsvc: &'a str,
    /// CPU per unit of each service's work in the best run.
    pub costs: &'a super::results::Costs,
    pub best_run: u32,
    pub rps_per_stack_cpu: f64,
    pub unanswered: u64,
    pub notes: [&'static str; 2],
    pub runs: &'a [&'a RunResult],
}

/// The best run of each series as HttpArena result entries.
pub fn httparena_entries<'a>(all: &'a [Series<'a>], framework: &str) -> Vec<HttpArenaEntry<'a>> {
    all.iter()
        .filter_map(|s| {
            let best = s.best()?;
            let breakdown = STACK_SERVICES
                .iter()
                .filter_map(|name| best.usage.iter().find(|u| u.service == *name))
                .map(|u| format!("{}: {:.0}% {}", u.service, u.cpu_percent, memory(u.peak_rss_bytes)))
                .collect::<Vec<_>>()
                .join(" | ");
            let measured = |n: u64| (best.status(2) > 0).then_some(n);
            Some(HttpArenaEntry {
                framework: if s.variant == "production" {
                    framework.to_string()
                } else {
                    format!("{framework} ({})", s.variant)
                },
                language: "Rust",
                rps: best.rps(),
                avg_latency: format!("{:.2}ms", best.reads.mean_request_ms),
                p99_latency: format!("{:.2}ms", best.reads_latency.p99_ms),
                cpu: format!("{:.1}%", best.stack_cpu()),
                memory: memory(best.stack_memory()),
                connections: s.connections,
                threads: best.threads,
                duration: format!("{}s", best.duration_s),
                pipeline: 1,
                bandwidth: best.reads.bandwidth.clone(),
                reconnects: 0,
                status_2xx: best.status(2),
                status_3xx: 0,
                status_4xx: best.status(4),
                status_5xx: best.status(5),
                tpl_static: measured(best.templates.static_files),
                tpl_baseline: measured(best.templates.baseline),
                tpl_items: measured(best.templates.items),
                tpl_me: measured(best.templates.me),
                cpu_breakdown: breakdown,
                prodstack: ProdstackExtras {
                    variant: s.variant,
                    authsvc: &best.authsvc,
                    costs: &best.costs,
                    best_run: best.run,
                    rps_per_stack_cpu: best.rps_per_cpu(),
                    unanswered: best.unanswered(),
                    notes: [
                        "avg_latency is h2load's mean of the reads, as HttpArena reports it; p99_latency is the real 99th percentile of the reads, from h2load's --log-file",
                        "tpl_* are measured per template (server route counters, edge request counter), not HttpArena's fixed 30/10/50/10 split of the 2xx total",
                    ],
                    runs: &s.runs,
                },
            })
        })
        .collect()
}

/// The JSON document `--json` writes: an array of entries, like HttpArena's site data files.
pub fn httparena_json(runs: &[RunResult], framework: &str) -> anyhow::Result<String> {
    let all = series(runs);
    let entries = httparena_entries(&all, framework);
    Ok(serde_json::to_string_pretty(&entries)? + "\n")
}

/// Writes the Markdown report and its SVG chart (same folder, `<stem>.svg`), and the memory
/// chart (`<stem>-memory.svg`) when a run has a memory verdict. Returns the charts written.
pub fn write_markdown(
    path: &Path,
    runs: &[RunResult],
    context: &str,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let svg_path = path.with_extension("svg");
    draw_chart(&svg_path, runs)?;
    let mut md = String::new();
    let _ = writeln!(md, "# prodstack bench — production-stack\n\n{context}\n");
    let svg_name = svg_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("chart.svg");
    let _ = writeln!(md, "![rps per run and CPU per service]({svg_name})\n");
    let mut charts = vec![svg_path.clone()];
    let memory_svg = memory_chart_path(path);
    if draw_memory_chart(&memory_svg, runs)? {
        charts.push(memory_svg.clone());
        let name = memory_svg
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("memory.svg");
        let _ = writeln!(md, "![RSS of each service over the longest run]({name})\n");
    }
    if let Some(cmp) = comparison(runs) {
        let _ = writeln!(md, "## Comparison\n\n```text\n{cmp}```\n");
    }
    let _ = writeln!(md, "## Results\n\n```text\n{}\n```", terminal(runs).trim());
    std::fs::write(path, md).with_context(|| format!("writing {}", path.display()))?;
    Ok(charts)
}

/// Two panels: rps of every run (grouped by series), and CPU per service of each series' best
/// run.
pub fn draw_chart(path: &Path, runs: &[RunResult]) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let all = series(runs);
    let labels: Vec<String> = runs.iter().map(|r| format!("#{}", r.run)).collect();
    let services: Vec<&str> = STACK_SERVICES
        .iter()
        .chain([POSTGRES, LOADGEN].iter())
        .copied()
        .collect();
    let root = SVGBackend::new(path, (960, 820)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let (top, bottom) = root.split_vertically(400);

    // Head room above the bars keeps the legend clear of them.
    let max_rps = runs.iter().map(|r| r.rps()).max().unwrap_or(1).max(1) as f64 * 1.4;
    let mut rps_chart = ChartBuilder::on(&top)
        .caption(
            "rps of every run, in run order (2xx of reads + writes ÷ reads duration)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(70)
        .y_label_area_size(70)
        .build_cartesian_2d((0..last_slot(runs.len())).into_segmented(), 0f64..max_rps)
        .map_err(chart_err)?;
    rps_chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("requests / s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_labels(runs.len().max(1))
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(chart_err)?;
    for (index, s) in all.iter().enumerate() {
        let color = Palette99::pick(index).filled();
        let data: Vec<(u32, f64)> = runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.variant == s.variant && r.connections == s.connections)
            .map(|(i, r)| (i as u32, r.rps() as f64))
            .collect();
        rps_chart
            .draw_series(
                Histogram::vertical(&rps_chart)
                    .style(color)
                    .margin(6)
                    .data(data),
            )
            .map_err(chart_err)?
            .label(format!("{} · {}c", s.variant, s.connections))
            .legend(move |(x, y)| legend_swatch(x, y, index));
    }
    draw_legend(&mut rps_chart)?;

    let bests: Vec<&RunResult> = all.iter().filter_map(|s| s.best()).collect();
    let max_cpu = bests
        .iter()
        .flat_map(|r| r.usage.iter().map(|u| u.cpu_percent))
        .fold(1.0f64, f64::max)
        * 1.4;
    let slots = (services.len() * bests.len().max(1)) as u32;
    let mut cpu_chart = ChartBuilder::on(&bottom)
        .caption(
            "CPU per service, best run of each series (100% = one CPU)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (0..last_slot(slots as usize)).into_segmented(),
            0f64..max_cpu,
        )
        .map_err(chart_err)?;
    let per_group = bests.len().max(1) as u32;
    cpu_chart
        .configure_mesh()
        .disable_x_mesh()
        .y_desc("CPU %")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_labels(slots as usize)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) if i % per_group == per_group / 2 => services
                .get((i / per_group) as usize)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(chart_err)?;
    for (b, best) in bests.iter().enumerate() {
        let data: Vec<(u32, f64)> = services
            .iter()
            .enumerate()
            .map(|(si, name)| {
                let cpu = best
                    .usage
                    .iter()
                    .find(|u| u.service == *name)
                    .map(|u| u.cpu_percent)
                    .unwrap_or(0.0);
                (si as u32 * per_group + b as u32, cpu)
            })
            .collect();
        cpu_chart
            .draw_series(
                Histogram::vertical(&cpu_chart)
                    .style(Palette99::pick(b).filled())
                    .margin(3)
                    .data(data),
            )
            .map_err(chart_err)?
            .label(format!(
                "{} · {}c (run {})",
                best.variant, best.connections, best.run
            ))
            .legend(move |(x, y)| legend_swatch(x, y, b));
    }
    draw_legend(&mut cpu_chart)?;
    root.present().map_err(chart_err)?;
    Ok(())
}

/// Where [`write_markdown`] draws the memory chart of `markdown`: `<stem>-memory.svg`.
pub fn memory_chart_path(markdown: &Path) -> std::path::PathBuf {
    let stem = markdown
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("bench");
    markdown.with_file_name(format!("{stem}-memory.svg"))
}

/// The private RSS of each service over the longest run that has a memory verdict, one line
/// per service (MiB against seconds). Returns `false` (and draws nothing) when no run has one.
pub fn draw_memory_chart(path: &Path, runs: &[RunResult]) -> anyhow::Result<bool> {
    use plotters::prelude::*;

    let Some(run) = runs
        .iter()
        .filter(|r| r.soak.is_some())
        .max_by_key(|r| r.duration_s)
    else {
        return Ok(false);
    };
    let curve = &run.rss_curve;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let max_t = curve.seconds.last().copied().unwrap_or(1.0).max(1.0);
    let max_mib = curve
        .bytes
        .iter()
        .flatten()
        .map(|&b| mib(b))
        .fold(1.0f64, f64::max)
        * 1.3;
    let root = SVGBackend::new(path, (960, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "private RSS (RssAnon) per service, {} · {}c · run {} (warm-up {} s)",
                run.variant,
                run.connections,
                run.run,
                run.soak.as_ref().map_or(0, |s| s.warmup_s)
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_t, 0f64..max_mib)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("MiB")
        .draw()
        .map_err(chart_err)?;
    for (index, (name, bytes)) in curve.services.iter().zip(&curve.bytes).enumerate() {
        let points = curve.seconds.iter().zip(bytes).map(|(&t, &b)| (t, mib(b)));
        chart
            .draw_series(LineSeries::new(
                points,
                Palette99::pick(index).stroke_width(2),
            ))
            .map_err(chart_err)?
            .label(name.clone())
            .legend(move |(x, y)| legend_swatch(x, y, index));
    }
    draw_legend(&mut chart)?;
    root.present().map_err(chart_err)?;
    Ok(true)
}

/// The colour swatch of series `index` in a legend.
fn legend_swatch(x: i32, y: i32, index: usize) -> plotters::element::Rectangle<(i32, i32)> {
    use plotters::prelude::*;
    Rectangle::new(
        [(x, y - 5), (x + 10, y + 5)],
        Palette99::pick(index).filled(),
    )
}

/// The legend box both charts draw in their upper right corner.
fn draw_legend<'a, DB, CT>(
    chart: &mut plotters::chart::ChartContext<'a, DB, CT>,
) -> anyhow::Result<()>
where
    DB: plotters::prelude::DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    use plotters::prelude::*;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(chart_err)
}

/// A segmented axis over `0..n` draws `n + 1` slots; `0..n-1` draws exactly `n`.
fn last_slot(slots: usize) -> u32 {
    slots.saturating_sub(1) as u32
}

fn chart_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h2load::Summary;
    use crate::results::{CacheHierarchy, LatencyReport, TemplateCounts, UsageReport};

    fn run(variant: &str, connections: u32, index: u32, ok: u64) -> RunResult {
        let summary = |ok: u64| Summary {
            status_2xx: ok,
            status_4xx: 1,
            duration_s: 2.0,
            bandwidth: "1.5GB/s".into(),
            mean_request_ms: 12.345,
            ..Summary::default()
        };
        let usage: Vec<UsageReport> = ["edge", "authsvc", "server", "cache", "postgres", "loadgen"]
            .iter()
            .map(|s| UsageReport {
                service: s.to_string(),
                cpu_percent: 25.0,
                cpu_seconds: 0.5,
                peak_rss_bytes: 64 << 20,
            })
            .collect();
        let work = crate::results::WorkCounts {
            client_requests: ok + ok / 10,
            auth_checks: ok / 2,
            forwarded: ok / 2,
            redis_commands: Some(10),
            db_queries: 5,
        };
        RunResult {
            variant: variant.into(),
            authsvc: "ours (crates/authsvc)".into(),
            costs: crate::results::Costs::measure(&usage, &work),
            connections,
            run: index,
            threads: 1,
            duration_s: 2,
            reads: summary(ok),
            writes: summary(ok / 10),
            reads_latency: LatencyReport {
                requests: ok,
                mean_ms: 12.3,
                p50_ms: 10.0,
                p90_ms: 20.0,
                p99_ms: 40.0,
                max_ms: 90.0,
            },
            writes_latency: LatencyReport::default(),
            usage,
            cache: CacheHierarchy {
                seconds: 2.0,
                l1_hits: 100.0,
                db_queries: 5.0,
                ..CacheHierarchy::default()
            },
            templates: TemplateCounts {
                static_files: 3,
                baseline: 1,
                items: 5,
                me: 1,
            },
            failures: vec![],
            unfinished: vec![],
            postgres: String::new(),
            rss_curve: crate::memory::RssCurve::default(),
            soak: None,
        }
    }

    /// A long run's memory verdict is printed, a growing service fails it by name, and the
    /// Markdown report draws the RSS curve beside it.
    #[test]
    fn a_soak_run_reports_its_memory_and_a_growing_service_fails() {
        let mut soaked = run("production", 256, 1, 1000);
        soaked.duration_s = 180;
        for t in 0..=180u32 {
            soaked.rss_curve.push(
                f64::from(t),
                &[
                    ("edge".into(), 100 << 20),
                    ("server".into(), (100 << 20) + u64::from(t) * (1 << 20)),
                ],
            );
        }
        soaked.soak = soaked.rss_curve.soak(60, &["edge", "server"]);
        let failure = soak_failure(&soaked).unwrap();
        assert!(failure.contains("server +"), "{failure}");
        assert!(!failure.contains("edge"), "{failure}");
        let text = terminal(std::slice::from_ref(&soaked));
        assert!(
            text.contains("private memory (RssAnon) of run 1 after its 60 s warm-up"),
            "{text}"
        );
        assert!(text.contains("GREW"), "{text}");
        assert!(soak_failure(&run("production", 256, 2, 1000)).is_none());

        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("soak.md");
        let charts = write_markdown(&md, &[soaked], "context").unwrap();
        assert_eq!(charts.len(), 2, "{charts:?}");
        let svg = std::fs::read_to_string(dir.path().join("soak-memory.svg")).unwrap();
        assert!(svg.contains("<svg") && svg.contains("server"), "{svg}");
        assert!(std::fs::read_to_string(&md)
            .unwrap()
            .contains("soak-memory.svg"));
    }

    #[test]
    fn json_has_every_httparena_field_with_its_type() {
        let runs = vec![
            run("production", 256, 1, 1000),
            run("production", 256, 2, 3000),
            run("production", 1024, 1, 500),
        ];
        let text = httparena_json(&runs, "prodstack").unwrap();
        assert!(
            text.find("\"framework\"") < text.find("\"rps\""),
            "HttpArena's field order"
        );
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let entries = doc.as_array().unwrap();
        assert_eq!(entries.len(), 2, "one entry per connection count");
        let e = &entries[0];
        for (field, kind) in [
            ("framework", "string"),
            ("language", "string"),
            ("rps", "number"),
            ("avg_latency", "string"),
            ("p99_latency", "string"),
            ("cpu", "string"),
            ("memory", "string"),
            ("connections", "number"),
            ("threads", "number"),
            ("duration", "string"),
            ("pipeline", "number"),
            ("bandwidth", "string"),
            ("reconnects", "number"),
            ("status_2xx", "number"),
            ("status_3xx", "number"),
            ("status_4xx", "number"),
            ("status_5xx", "number"),
            ("tpl_static", "number"),
            ("tpl_baseline", "number"),
            ("tpl_items", "number"),
            ("tpl_me", "number"),
            ("cpu_breakdown", "string"),
        ] {
            let v = &e[field];
            let ok = match kind {
                "string" => v.is_string(),
                _ => v.is_u64(),
            };
            assert!(ok, "{field} should be a {kind}: {v}");
        }
        // The best of the two 256 runs is kept: (3000 + 300) / 2 s.
        assert_eq!(e["rps"], 1650);
        assert_eq!(e["status_2xx"], 3300);
        assert_eq!(e["status_4xx"], 2);
        assert_eq!(e["avg_latency"], "12.35ms");
        assert_eq!(e["p99_latency"], "40.00ms");
        assert_eq!(e["cpu"], "100.0%");
        assert_eq!(e["memory"], "256MiB");
        assert_eq!(
            e["cpu_breakdown"],
            "edge: 25% 64MiB | authsvc: 25% 64MiB | server: 25% 64MiB | cache: 25% 64MiB"
        );
        assert_eq!(e["prodstack"]["best_run"], 2);
        assert_eq!(e["prodstack"]["runs"].as_array().unwrap().len(), 2);
        assert_eq!(e["prodstack"]["authsvc"], "ours (crates/authsvc)");
        // The best run's costs: edge 0.5 CPU s over 3,300 client requests.
        let costs = &e["prodstack"]["costs"];
        let edge = costs["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["service"] == "edge")
            .unwrap();
        assert_eq!(edge["unit"], "client request");
        assert_eq!(edge["count"], 3300);
        let us = edge["us_per_unit"].as_f64().unwrap();
        assert!((us - 0.5e6 / 3300.0).abs() < 1e-6, "{us}");
        assert!(costs["stack_us_per_client_request"].as_f64().unwrap() > us);
    }

    #[test]
    fn terminal_report_marks_the_best_run_and_compares_variants() {
        let runs = vec![
            run("production", 256, 1, 1000),
            run("tuned", 256, 1, 1500),
            run("production", 256, 2, 1200),
            run("tuned", 256, 2, 1300),
        ];
        let text = terminal(&runs);
        assert!(
            text.contains("== production · 256 connections =="),
            "{text}"
        );
        assert!(text.contains("2 *"), "{text}");
        let cmp = comparison(&runs).unwrap();
        assert!(cmp.contains("1.25×"), "{cmp}");
        assert!(comparison(&runs[..1]).is_none());
    }

    #[test]
    fn markdown_report_comes_with_an_svg_chart() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("report.md");
        let charts = write_markdown(
            &md,
            &[
                run("production", 256, 1, 1000),
                run("production", 1024, 1, 800),
            ],
            "two runs",
        )
        .unwrap();
        // Short runs have no memory verdict, so no memory chart.
        assert_eq!(charts, [dir.path().join("report.svg")]);
        assert!(!dir.path().join("report-memory.svg").exists());
        let text = std::fs::read_to_string(&md).unwrap();
        assert!(text.contains("![rps per run and CPU per service](report.svg)"));
        let svg = std::fs::read_to_string(dir.path().join("report.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("rps of every run"));
        assert!(svg.contains("production · 256c"));
    }

    #[test]
    fn formats_like_httparena() {
        assert_eq!(memory(19 << 20), "19MiB");
        assert_eq!(memory(1536 << 20), "1.5GiB");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}
