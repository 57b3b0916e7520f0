//! Prometheus metrics, exposed as text: requests and latency by route and status, inference time, faces per
//! photo. A few atomics and fixed-bucket histograms; no allocation per request beyond a map lookup.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Record one value.
    pub fn observe(&self, v: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if v <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((v.max(0.0) * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}", c.load(Ordering::Relaxed));
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {n}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {n}");
    }
}

const LATENCY: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const FACES: &[f64] = &[0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0];

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, std::sync::Arc<Histogram>>>,
    /// Seconds of detection + classification per photo.
    pub inference: Histogram,
    /// Faces found per photo.
    pub faces: Histogram,
    /// Requests refused because the server was saturated.
    pub rejected_busy: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
            inference: Histogram::new(LATENCY),
            faces: Histogram::new(FACES),
            rejected_busy: AtomicU64::new(0),
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Count a finished request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route.to_string(), status)).or_insert(0) += 1;
        let h = self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(route.to_string())
            .or_insert_with(|| std::sync::Arc::new(Histogram::new(LATENCY)))
            .clone();
        h.observe(seconds);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP issc_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE issc_http_requests_total counter\n");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "issc_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", escape(route));
        }
        out.push_str("# HELP issc_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE issc_http_request_duration_seconds histogram\n");
        for (route, h) in self.latency.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            h.render(&mut out, "issc_http_request_duration_seconds", &format!("route=\"{}\"", escape(route)));
        }
        out.push_str("# HELP issc_inference_seconds Detection and classification time per photo.\n");
        out.push_str("# TYPE issc_inference_seconds histogram\n");
        self.inference.render(&mut out, "issc_inference_seconds", "");
        out.push_str("# HELP issc_faces_per_photo Faces found per photo.\n");
        out.push_str("# TYPE issc_faces_per_photo histogram\n");
        self.faces.render(&mut out, "issc_faces_per_photo", "");
        out.push_str("# HELP issc_rejected_busy_total Requests answered 503 because the server was saturated.\n");
        out.push_str("# TYPE issc_rejected_busy_total counter\n");
        let _ = writeln!(out, "issc_rejected_busy_total {}", self.rejected_busy.load(Ordering::Relaxed));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/predict", 200, 0.02);
        m.request("/predict", 200, 0.2);
        m.request("/predict", 415, 0.001);
        m.faces.observe(2.0);
        let t = m.render();
        assert!(t.contains("issc_http_requests_total{route=\"/predict\",status=\"200\"} 2"), "{t}");
        assert!(t.contains("issc_http_requests_total{route=\"/predict\",status=\"415\"} 1"));
        assert!(t.contains("issc_http_request_duration_seconds_bucket{route=\"/predict\",le=\"0.025\"} 2"), "{t}");
        assert!(t.contains("issc_http_request_duration_seconds_bucket{route=\"/predict\",le=\"+Inf\"} 3"));
        assert!(
            t.contains("issc_faces_per_photo_bucket{le=\"1\"} 0")
                && t.contains("issc_faces_per_photo_bucket{le=\"2\"} 1")
        );
    }
}
