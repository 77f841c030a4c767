//! What `chaos` writes: a terminal summary, JSON (every figure and check), a Markdown report
//! and one SVG timeline per scenario.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use bench::report::{table, thousands};
use serde::Serialize;

use crate::run::{chart_path, ScenarioResult};

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosReport {
    /// How the stack and the load were set up, in words.
    pub setup: String,
    pub scenarios: Vec<ScenarioResult>,
}

impl ChaosReport {
    pub fn passed(&self) -> bool {
        self.scenarios.iter().all(|s| s.passed)
    }
}

fn recovery(r: &ScenarioResult) -> String {
    r.recovery_s
        .map(|s| format!("{s:.2} s"))
        .unwrap_or_else(|| "never".into())
}

/// One row per scenario.
pub fn summary(report: &ChaosReport) -> String {
    let rows: Vec<Vec<String>> = report
        .scenarios
        .iter()
        .map(|r| {
            vec![
                r.scenario.to_string(),
                thousands(r.baseline_rps.round() as u64),
                thousands(r.during_rps.round() as u64),
                format!(
                    "{} / {}",
                    thousands(r.during.errors()),
                    thousands(r.during.total())
                ),
                format!(
                    "{} / {}",
                    thousands(r.after.errors()),
                    thousands(r.after.total())
                ),
                recovery(r),
                format!(
                    "{} / {} / {}",
                    thousands(r.ledger.acknowledged),
                    r.ledger.lost,
                    r.ledger.stale_reads
                ),
                if r.passed {
                    "pass".into()
                } else {
                    "FAIL".into()
                },
            ]
        })
        .collect();
    table(
        &[
            "scenario",
            "2xx/s before",
            "2xx/s during",
            "errors during / requests",
            "errors after / requests",
            "recovery",
            "ledger 204s / lost / stale",
            "verdict",
        ],
        &rows,
    )
}

/// The checks of one scenario, one line each.
pub fn checks(r: &ScenarioResult) -> String {
    r.checks
        .iter()
        .map(|c| {
            format!(
                "- {} {}: {}",
                if c.passed { "✓" } else { "✗" },
                c.what,
                c.found
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn markdown(report: &ChaosReport, path: &Path) -> String {
    let mut out = format!(
        "# prodstack chaos\n\n{}\n\n```text\n{}\n```\n",
        report.setup,
        summary(report)
    );
    for r in &report.scenarios {
        let chart = chart_path(path, r.scenario);
        let name = chart
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let classes = |c: &crate::timeline::Classes| {
            format!(
                "{} 2xx, {} 4xx, {} 5xx, {} unanswered",
                thousands(c.s2xx),
                thousands(c.s4xx),
                thousands(c.s5xx),
                thousands(c.unanswered)
            )
        };
        out.push_str(&format!(
            "\n## {}: {}\n\nLoad: h2load {} at {} connections. Fault at {:.2} s, lifted at {:.2} s, service back at {:.2} s. \
             During: {}. After: {}. Ledger: {} writes ({} acknowledged, {} refused, {} unanswered, {} applied without a 204); {} reads checked, {} stale; {} requests retried after the edge refused them unprocessed. The server while the fault lasted: {} L1 hits, {} Redis errors, {} Postgres errors.\n\n{}\n\n![{} timeline]({name})\n",
            r.scenario,
            r.description,
            r.protocol,
            r.connections,
            r.timing.injected_s,
            r.timing.lifted_s,
            r.timing.back_s,
            classes(&r.during),
            classes(&r.after),
            r.ledger.writes_sent,
            r.ledger.acknowledged,
            r.ledger.refused,
            r.ledger.unanswered,
            r.ledger.applied_unacknowledged,
            r.ledger.reads_checked,
            r.ledger.stale_reads,
            r.ledger.retried,
            thousands(r.server_during.l1_hits),
            thousands(r.server_during.redis_errors),
            thousands(r.server_during.db_errors),
            checks(r),
            r.scenario,
        ));
    }
    out
}

/// Writes the Markdown report and its charts; returns the charts' paths.
pub fn write_markdown(report: &ChaosReport, path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::write(path, markdown(report, path))
        .with_context(|| format!("writing {}", path.display()))?;
    let mut charts = Vec::new();
    for r in &report.scenarios {
        let chart = chart_path(path, r.scenario);
        draw_timeline(&chart, r)?;
        charts.push(chart);
    }
    Ok(charts)
}

fn chart_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e}")
}

/// Requests per second by class, with the fault's start and the service's return marked.
pub fn draw_timeline(path: &Path, r: &ScenarioResult) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let seconds = r.timeline.len().max(1) as f64;
    let peak = r
        .timeline
        .iter()
        .map(|c| c.total())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.15;
    let root = SVGBackend::new(path, (960, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: {}", r.scenario, r.description),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..seconds, 0f64..peak)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("requests / s")
        .draw()
        .map_err(chart_err)?;
    type Pick = fn(&crate::timeline::Classes) -> u64;
    let series: [(&str, RGBColor, Pick); 4] = [
        ("2xx", RGBColor(30, 130, 60), |c| c.s2xx),
        ("4xx", RGBColor(200, 150, 0), |c| c.s4xx),
        ("5xx", RGBColor(200, 40, 40), |c| c.s5xx),
        ("no answer", RGBColor(90, 90, 90), |c| c.unanswered),
    ];
    for (name, color, pick) in series {
        let points = r
            .timeline
            .iter()
            .enumerate()
            .map(|(s, c)| (s as f64 + 0.5, pick(c) as f64));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(chart_err)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
    }
    for (name, at, color) in [
        ("fault", r.timing.injected_s, RGBColor(200, 40, 40)),
        ("service back", r.timing.back_s, RGBColor(40, 90, 200)),
    ] {
        chart
            .draw_series(LineSeries::new(
                [(at, 0.0), (at, peak)],
                color.stroke_width(1),
            ))
            .map_err(chart_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 10, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(chart_err)?;
    root.present().map_err(chart_err)?;
    Ok(())
}
