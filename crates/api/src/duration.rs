//! Durations as Istio and Kubernetes write them: `1h`, `1m30s`, `1.5s`, `500ms`
//! (Go's syntax, which also covers protobuf's `"0.500s"`).

use std::time::Duration;

/// Parse a Go/Istio duration: one or more decimal numbers, each with a unit
/// (`h`, `m`, `s`, `ms`, `us`/`µs`, `ns`). `None` if it is not one.
pub fn parse(value: &str) -> Option<Duration> {
    let mut rest = value;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_len..];
    }
    // Round to whole nanoseconds: 0.1s must not become 99.999999ms.
    Duration::try_from_secs_f64((total * 1e9).round() / 1e9).ok()
}

/// Render as protobuf JSON does: `2s`, `0.500s`, `0.000000100s`.
pub fn render(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
    } else {
        format!("{}.{:09}s", d.as_secs(), d.subsec_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_and_protobuf_forms() {
        assert_eq!(parse("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse("0.500s"), Some(Duration::from_millis(500)));
        assert_eq!(parse("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("0.1s"), Some(Duration::from_millis(100)));
        for bad in ["", "5", "s", "3x", "-1s", " 1s"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn renders_like_protobuf_json() {
        assert_eq!(render(Duration::from_secs(2)), "2s");
        assert_eq!(render(Duration::from_millis(500)), "0.500s");
        assert_eq!(render(Duration::from_millis(1500)), "1.500s");
    }
}
