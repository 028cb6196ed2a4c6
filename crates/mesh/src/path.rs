//! Request path normalization as Istio's default (`BASE`) does it, before routing.

use std::borrow::Cow;

/// A request target split and normalized: the path used for routing and forwarding, and
/// the query string (without `?`). The fragment is dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// Normalized path, always starting with `/`: borrowed from the request when
    /// normalizing left it as it was (the common case, which allocates nothing).
    pub path: Cow<'a, str>,
    /// Query string without the `?`, if any.
    pub query: Option<&'a str>,
}

impl Target<'_> {
    /// Normalizing left the path as the request wrote it.
    pub fn is_unchanged(&self) -> bool {
        matches!(self.path, Cow::Borrowed(_))
    }

    /// `path?query`.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.to_string(),
        }
    }
}

/// A request target as received, `path?query`, split where its query starts. From a
/// request's URI it is read off as it is (`http` has dropped any fragment and knows where
/// the query starts); from text it is scanned once. Each step of a request that needs the
/// path or the query (normalizing, the upstream path, `x-envoy-original-path`) takes it
/// from here instead of scanning the target again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// `path?query`, without fragment.
    pub whole: &'a str,
    /// The path: `whole` up to the `?`.
    pub path: &'a str,
    /// The query, without the `?`.
    pub query: Option<&'a str>,
}

impl<'a> From<&'a http::Uri> for Received<'a> {
    /// The target of a request's URI; `/` when it has none.
    fn from(uri: &'a http::Uri) -> Self {
        match uri.path_and_query() {
            // The path as written, which may be empty (`?a`), where `pq.path()` says `/`:
            // normalizing makes that `/`, and the upstream then gets `/?a`.
            Some(pq) => {
                let whole = pq.as_str();
                let query = pq.query();
                let path = query.map_or(whole, |q| &whole[..whole.len() - q.len() - 1]);
                Received { whole, path, query }
            }
            None => Received {
                whole: "/",
                path: "/",
                query: None,
            },
        }
    }
}

impl<'a> From<&'a str> for Received<'a> {
    /// A target given as text: the fragment dropped, split at the first `?`.
    fn from(target: &'a str) -> Self {
        let whole = target.split_once('#').map_or(target, |(before, _)| before);
        let (path, query) = match whole.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (whole, None),
        };
        Received { whole, path, query }
    }
}

impl<'a> From<&'a String> for Received<'a> {
    fn from(target: &'a String) -> Self {
        Received::from(target.as_str())
    }
}

/// The path cannot be normalized (a `%00`): Envoy answers 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid request path")]
pub struct InvalidPath;

/// Normalize a request target: drop `#fragment`, decode percent-encoded unreserved
/// characters (not `%2F`/`%5C`), turn `\` into `/`, remove `.` and `..` segments. `//` is
/// kept (no slash merging).
pub fn normalize<'a>(target: impl Into<Received<'a>>) -> Result<Target<'a>, InvalidPath> {
    let Received { path, query, .. } = target.into();
    if is_normal(path) {
        return Ok(Target {
            path: Cow::Borrowed(path),
            query,
        });
    }
    let decoded = decode_unreserved(path)?.replace('\\', "/");
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate().skip(1) {
        match *segment {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    Ok(Target {
        path: Cow::Owned(format!("/{}", out.join("/"))),
        query,
    })
}

/// A path that normalizing leaves as it is: absolute, with no escape, no `\\`, and no
/// `.` or `..` segment.
///
/// One pass over the bytes: this runs on every request.
fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    // The current segment: how many dots, and whether it has been dots only.
    let (mut dots, mut only_dots) = (0usize, true);
    for &b in rest.as_bytes() {
        match b {
            b'%' | b'\\' => return false,
            b'/' => {
                if only_dots && (dots == 1 || dots == 2) {
                    return false;
                }
                (dots, only_dots) = (0, true);
            }
            b'.' => dots += 1,
            _ => only_dots = false,
        }
    }
    !(only_dots && (dots == 1 || dots == 2))
}

fn decode_unreserved(path: &str) -> Result<String, InvalidPath> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    // Where a `%` that is no escape was copied to `out`.
    let mut loose = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let byte = h * 16 + l;
            if byte == 0 {
                return Err(InvalidPath);
            }
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push_str(&path[i..i + 3]);
            }
            i += 3;
            continue;
        }
        if bytes[i] == b'%' {
            loose.push(out.len());
        }
        let ch = path[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8();
    }
    Ok(escape_new_escapes(out, &loose))
}

/// A `%` that was not an escape in the request must not become one by what was decoded
/// after it (`%4%41` → `%4A`, which an upstream would read as `J`): as Envoy (Chromium's
/// canonicalizer) does, it is written `%25` then (`%254A`). So normalizing is idempotent,
/// and the path matched is the path the upstream decodes.
fn escape_new_escapes(out: String, loose: &[usize]) -> String {
    let b = out.as_bytes();
    let forms_escape = |p: usize| p + 2 < b.len() && hex(b[p + 1]).is_some() && hex(b[p + 2]).is_some();
    if !loose.iter().any(|p| forms_escape(*p)) {
        return out;
    }
    let mut fixed = String::with_capacity(out.len() + 2 * loose.len());
    let mut last = 0;
    for &p in loose.iter().filter(|p| forms_escape(**p)) {
        fixed.push_str(&out[last..p]);
        fixed.push_str("%25");
        last = p + 1;
    }
    fixed.push_str(&out[last..]);
    fixed
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(t: &str) -> String {
        normalize(t).expect("valid").path.into_owned()
    }

    #[test]
    fn a_target_read_off_a_uri_is_the_target_scanned_as_text() {
        for target in [
            "/",
            "/a/b",
            "/a?b=c",
            "/a?b=c?d",
            "/?",
            "/a%2Fb?x",
            "http://h:8/p?q",
            "http://h",
            "http://h?a",
            "http://h/?a",
        ] {
            let uri: http::Uri = target.parse().expect("a URI");
            let text = uri.path_and_query().map_or("/", |p| p.as_str());
            assert_eq!(Received::from(&uri), Received::from(text), "{target}");
        }
        // An empty path before a query stays empty (normalizing makes it `/`).
        let uri: http::Uri = "http://h?a".parse().expect("a URI");
        assert_eq!(Received::from(&uri).path, "");
        assert_eq!(normalize(&uri).expect("valid").path_and_query(), "/?a");
        let split = Received::from("/p?q=1#frag");
        assert_eq!(
            (split.whole, split.path, split.query),
            ("/p?q=1", "/p", Some("q=1"))
        );
    }

    #[test]
    fn dot_segments_and_unreserved_escapes() {
        assert_eq!(path("/public/%2E%2E/private"), "/private");
        assert_eq!(path("/a/../b"), "/b");
        assert_eq!(path("/a/./b/"), "/a/b/");
        assert_eq!(path("/a/b/.."), "/a/");
        assert_eq!(path("/../../x"), "/x");
        assert_eq!(path("/%7Euser/%41"), "/~user/A");
        assert_eq!(path("/a%2Fb%5Cc"), "/a%2Fb%5Cc");
        assert_eq!(path("/a\\b"), "/a/b");
        assert_eq!(path("/a//b"), "/a//b");
        assert_eq!(path("/"), "/");
    }

    /// Found by `scripts/fuzz path` (normalizing twice differed); the expected paths are
    /// what Envoy 1.40 sends upstream for these requests.
    #[test]
    fn a_percent_that_was_no_escape_never_becomes_one() {
        assert_eq!(path("/d%4%41"), "/d%254A");
        assert_eq!(path("/d%4%4a"), "/d%4J");
        assert_eq!(path("/x%%41"), "/x%A");
        assert_eq!(path("/x%4"), "/x%4");
        assert_eq!(path("/x%zz%41"), "/x%zzA");
        assert_eq!(path("/a-/./d%4%418/a/gd%4Fe%41x"), "/a-/d%254A8/a/gdOeAx");
        let crash = "/a-/./d%4%418/a/gd%4Fe%41x\0d%4Fe%41x%41x\0[/%\u{5}";
        let once = normalize(crash).expect("valid");
        assert_eq!(normalize(&once.path_and_query()).expect("valid"), once);
    }

    #[test]
    fn query_kept_fragment_dropped_nul_rejected() {
        let t = normalize("/foo?key=value#hash").expect("valid");
        assert_eq!(t.path, "/foo");
        assert_eq!(t.query, Some("key=value"));
        assert_eq!(t.path_and_query(), "/foo?key=value");
        assert_eq!(normalize("/a%00b"), Err(InvalidPath));
    }

    /// The one-pass check answers as the plain definition does: no escape, no `\\`, no
    /// `.` or `..` segment, absolute.
    #[test]
    fn the_one_pass_check_agrees_with_its_definition() {
        fn by_definition(path: &str) -> bool {
            path.starts_with('/')
                && !path.contains(['%', '\\'])
                && !path.split('/').any(|segment| segment == "." || segment == "..")
        }
        let pieces = ["/", ".", "..", "...", "a", ".a", "a.", "%", "\\", "/."];
        let mut paths = vec![String::new()];
        for _ in 0..4 {
            paths = paths
                .iter()
                .flat_map(|p| pieces.iter().map(move |piece| format!("{p}{piece}")))
                .collect();
            for path in &paths {
                assert_eq!(is_normal(path), by_definition(path), "{path:?}");
            }
        }
    }

    #[test]
    fn a_path_already_normal_is_borrowed_and_others_are_not() {
        for normal in [
            "/",
            "/seldon/ns/m/api/v1.0/predictions",
            "/a//b",
            "/a/.b/..c/",
            "/é",
        ] {
            let t = normalize(normal).expect("valid");
            assert!(t.is_unchanged(), "{normal}");
            assert_eq!(t.path, normal);
        }
        for changed in ["/a/./b", "/a/..", "/%41", "/a\\b", "*", ""] {
            assert!(!normalize(changed).expect("valid").is_unchanged(), "{changed}");
        }
        // The borrowed path is exactly what the full normalization makes of it.
        for normal in ["/a//b", "/a/.b/..c/", "/é/x"] {
            let t = normalize(normal).expect("valid");
            assert_eq!(
                normalize(&format!("{normal}/x/..")).expect("valid").path,
                format!("{}/", t.path)
            );
        }
    }
}
