//! An index over a virtual host's routes, so that finding the first route a request
//! matches does not test every route before it.
//!
//! Istio's order is first match wins, and one gateway commonly carries thousands of
//! routes on one host (`*`): each SeldonDeployment adds a prefix route
//! (`/seldon/<ns>/<name>/`) and a gRPC route (a path regex plus the `seldon` and `namespace`
//! headers). A linear scan makes the last deployment's requests pay for every route before
//! them. The index files each route under one condition it cannot match without:
//!
//! - its exact path, or its path prefix (by the prefix's bytes; case-folded ones apart);
//! - else an exact value of a request header (the header whose values tell the most routes
//!   apart, e.g. `seldon` rather than `namespace`);
//! - else nowhere in particular: a route tested for every request.
//!
//! A request gathers the few lists its path and headers select, and the answer is the
//! smallest route index among them whose full match holds — the same route a scan from the
//! top finds, because a route that matches is always in one of the gathered lists. Nothing
//! is allocated per request except a lower-cased path, and only when some route ignores the
//! path's case.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use http::HeaderName;

use crate::matcher::{HeaderKey, Match, RequestMatch, RequestView};

type Fast = foldhash::fast::RandomState;

/// Route indices (ascending) filed under one key.
type Bucket = Vec<u32>;

/// Buckets by a value's bytes. foldhash, not SipHash: a request hashes its path once per
/// prefix length, and a reload files every route (the keys are the configuration's).
type Buckets = HashMap<Box<[u8]>, Bucket, Fast>;

/// Routes filed by path: exact paths and prefixes, each keyed by bytes.
#[derive(Clone, Default)]
struct Paths {
    exact: Buckets,
    prefixes: Buckets,
    /// The distinct lengths of `prefixes`' keys, ascending.
    prefix_lengths: Vec<usize>,
}

impl Paths {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    fn file_exact(&mut self, path: &str, route: u32) {
        self.exact.entry(path.as_bytes().into()).or_default().push(route);
    }

    fn file_prefix(&mut self, prefix: &str, route: u32) {
        self.prefixes
            .entry(prefix.as_bytes().into())
            .or_default()
            .push(route);
    }

    fn finish(&mut self) {
        let lengths: BTreeSet<usize> = self.prefixes.keys().map(|k| k.len()).collect();
        self.prefix_lengths = lengths.into_iter().collect();
    }

    /// Every bucket `path` selects.
    fn each(&self, path: &[u8], mut visit: impl FnMut(&[u32])) {
        if let Some(bucket) = self.exact.get(path) {
            visit(bucket);
        }
        for &len in self.prefix_lengths.iter().take_while(|&&len| len <= path.len()) {
            if let Some(bucket) = self.prefixes.get(&path[..len]) {
                visit(bucket);
            }
        }
    }
}

/// The index of one virtual host's routes (see the module's documentation).
#[derive(Clone, Default)]
pub(crate) struct RouteIndex {
    /// Case-sensitive path conditions.
    paths: Paths,
    /// `ignoreUriCase` path conditions, keyed lower-case.
    folded: Paths,
    /// Exact header values, per header name.
    headers: Vec<(HeaderName, Buckets)>,
    /// Routes filed under nothing: tested for every request.
    rest: Bucket,
}

/// Where one route is filed.
enum Filed<'a> {
    Exact(&'a str, bool),
    Prefix(&'a str, bool),
    Header(&'a HeaderName, &'a str),
    Rest,
}

impl RouteIndex {
    /// The index of `routes`, in their order (index `i` is `routes[i]`).
    pub(crate) fn build<'a>(routes: impl IntoIterator<Item = &'a RequestMatch>) -> RouteIndex {
        let routes: Vec<&RequestMatch> = routes.into_iter().collect();
        // How many distinct exact values each header has across the routes: a route with
        // several exact header conditions is filed under the most telling one.
        let mut distinct: HashMap<&HeaderName, HashSet<&str, Fast>, Fast> = HashMap::default();
        for m in &routes {
            for (name, value) in exact_headers(m) {
                distinct.entry(name).or_default().insert(value);
            }
        }
        let mut index = RouteIndex::default();
        for (i, m) in routes.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match filed(m, &distinct) {
                Filed::Exact(path, false) => index.paths.file_exact(path, i),
                Filed::Exact(path, true) => index.folded.file_exact(&path.to_ascii_lowercase(), i),
                Filed::Prefix(prefix, false) => index.paths.file_prefix(prefix, i),
                Filed::Prefix(prefix, true) => index.folded.file_prefix(&prefix.to_ascii_lowercase(), i),
                Filed::Header(name, value) => {
                    let at = match index.headers.iter().position(|(n, _)| n == name) {
                        Some(at) => at,
                        None => {
                            index.headers.push((name.clone(), Buckets::default()));
                            index.headers.len() - 1
                        }
                    };
                    index.headers[at]
                        .1
                        .entry(value.as_bytes().into())
                        .or_default()
                        .push(i);
                }
                Filed::Rest => index.rest.push(i),
            }
        }
        index.paths.finish();
        index.folded.finish();
        index
    }

    /// The first route (by index) that `request` matches, where `matches(i)` tests route
    /// `i` in full.
    pub(crate) fn first(&self, request: &RequestView<'_>, matches: impl Fn(usize) -> bool) -> Option<usize> {
        let mut best: Option<u32> = None;
        // Each bucket is ascending: its first match is its smallest, and nothing at or
        // after the best found so far can win.
        let mut search = |bucket: &[u32]| {
            for &i in bucket {
                if best.is_some_and(|b| i >= b) {
                    return;
                }
                if matches(i as usize) {
                    best = Some(i);
                    return;
                }
            }
        };
        search(&self.rest);
        self.paths.each(request.path.as_bytes(), &mut search);
        if !self.folded.is_empty() {
            self.folded
                .each(request.path.to_ascii_lowercase().as_bytes(), &mut search);
        }
        for (name, values) in &self.headers {
            if let Some(value) = request.header_value(name)
                && let Some(bucket) = values.get(value.as_bytes())
            {
                search(bucket);
            }
        }
        best.map(|i| i as usize)
    }
}

/// Buckets in the order of their keys: the same index prints the same, whatever order its
/// hash maps (each seeded at random) keep (tests compare tables by what they print).
fn sorted(buckets: &Buckets) -> BTreeMap<&[u8], &Bucket> {
    buckets.iter().map(|(key, bucket)| (&**key, bucket)).collect()
}

impl fmt::Debug for Paths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Paths")
            .field("exact", &sorted(&self.exact))
            .field("prefixes", &sorted(&self.prefixes))
            .field("prefix_lengths", &self.prefix_lengths)
            .finish()
    }
}

impl fmt::Debug for RouteIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&HeaderName, BTreeMap<&[u8], &Bucket>)> = self
            .headers
            .iter()
            .map(|(name, buckets)| (name, sorted(buckets)))
            .collect();
        f.debug_struct("RouteIndex")
            .field("paths", &self.paths)
            .field("folded", &self.folded)
            .field("headers", &headers)
            .field("rest", &self.rest)
            .finish()
    }
}

/// The exact conditions on regular headers of one route.
fn exact_headers(m: &RequestMatch) -> impl Iterator<Item = (&HeaderName, &str)> {
    m.headers
        .iter()
        .filter_map(|(key, condition)| match (key, condition) {
            (HeaderKey::Name(name), Match::Exact(value)) => Some((name, value.as_str())),
            _ => None,
        })
}

/// Where route `m` is filed: a path condition narrower than `/`, else its most telling
/// exact header, else nowhere.
fn filed<'a>(m: &'a RequestMatch, distinct: &HashMap<&HeaderName, HashSet<&str, Fast>, Fast>) -> Filed<'a> {
    if let Some(uri) = &m.uri {
        match &uri.matcher {
            Match::Exact(path) => return Filed::Exact(path, uri.ignore_case),
            Match::Prefix(prefix) if prefix.len() > 1 => return Filed::Prefix(prefix, uri.ignore_case),
            _ => {}
        }
    }
    let telling = exact_headers(m).max_by_key(|(name, _)| distinct.get(name).map_or(0, HashSet::len));
    match telling {
        Some((name, value)) => Filed::Header(name, value),
        None => Filed::Rest,
    }
}

#[cfg(test)]
mod tests;
