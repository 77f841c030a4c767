//! Reading the server's OpenMetrics (Prometheus) text exposition (`GET /metrics` on its admin listener) and
//! differencing two scrapes taken around a run.

use std::collections::BTreeMap;

use anyhow::Context as _;

/// Samples keyed by `name{labels}` exactly as exposed (labels in exposition order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scrape {
    pub samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// Parses the text format; comments and blank lines are skipped, malformed lines ignored.
    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // The value follows the last space outside the label braces.
            let split_at = match line.rfind('}') {
                Some(close) => line[close..].find(' ').map(|i| close + i),
                None => line.find(' '),
            };
            let Some(at) = split_at else { continue };
            let key = line[..at].trim();
            let mut rest = line[at..].split_whitespace();
            if let Some(value) = rest.next().and_then(|v| v.parse::<f64>().ok()) {
                samples.insert(key.to_string(), value);
            }
        }
        Self { samples }
    }

    /// Fetches `url` (plain HTTP) with curl.
    pub fn fetch(url: &str) -> anyhow::Result<Self> {
        let response = validate::curl::send(
            &validate::curl::Request::get(url).version(validate::curl::HttpVersion::Http11),
        )
        .with_context(|| format!("scraping {url}"))?;
        anyhow::ensure!(response.status == 200, "{url} answered {}", response.status);
        Ok(Self::parse(&response.body_text()))
    }

    /// Every URL of `urls` fetched and added up sample by sample: the counters of several
    /// app-server instances as the totals of one.
    pub fn fetch_all(urls: &[String]) -> anyhow::Result<Self> {
        let mut total = Self::default();
        for url in urls {
            total.add(Self::fetch(url)?);
        }
        Ok(total)
    }

    /// Adds `other`'s samples to these, key by key.
    pub fn add(&mut self, other: Scrape) {
        for (key, value) in other.samples {
            *self.samples.entry(key).or_insert(0.0) += value;
        }
    }

    /// The sum of every sample of metric `name` whose labels contain all of `labels`
    /// (`("route", "/api/items/{id}")` matches `name{route="/api/items/{id}",status="200"}`).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(key, _)| {
                let (metric, label_text) = match key.find('{') {
                    Some(i) => (&key[..i], &key[i..]),
                    None => (key.as_str(), ""),
                };
                metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, v)| v)
            .sum()
    }

    /// `self - before`, sample by sample (counters that reset count from zero).
    pub fn delta(&self, before: &Scrape) -> Scrape {
        let samples = self
            .samples
            .iter()
            .map(|(key, &after)| {
                let prior = before.samples.get(key).copied().unwrap_or(0.0);
                let d = if after >= prior { after - prior } else { after };
                (key.clone(), d)
            })
            .collect();
        Scrape { samples }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP prodstack_http_requests_total Requests by route and status.
# TYPE prodstack_http_requests_total counter
prodstack_http_requests_total{route="/api/items/{id}",status="200"} 1500
prodstack_http_requests_total{route="/api/items/{id}",status="404"} 2
prodstack_http_requests_total{route="/public/baseline",status="200"} 300
prodstack_cache_l1_hits_total 1200
prodstack_label_with_space{note="a b"} 7 1712345678
"#;

    #[test]
    fn parses_and_sums_by_label() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.sum("prodstack_http_requests_total", &[]), 1802.0);
        assert_eq!(
            s.sum(
                "prodstack_http_requests_total",
                &[("route", "/api/items/{id}")]
            ),
            1502.0
        );
        assert_eq!(
            s.sum("prodstack_http_requests_total", &[("status", "200")]),
            1800.0
        );
        assert_eq!(s.sum("prodstack_cache_l1_hits_total", &[]), 1200.0);
        assert_eq!(s.sum("prodstack_label_with_space", &[("note", "a b")]), 7.0);
        assert_eq!(s.sum("missing", &[]), 0.0);
    }

    #[test]
    fn deltas_handle_new_series_and_resets() {
        let before = Scrape::parse("a 10\nb 5\n");
        let after = Scrape::parse("a 15\nb 2\nc 4\n");
        let d = after.delta(&before);
        assert_eq!(d.sum("a", &[]), 5.0);
        assert_eq!(d.sum("b", &[]), 2.0);
        assert_eq!(d.sum("c", &[]), 4.0);
    }
}
