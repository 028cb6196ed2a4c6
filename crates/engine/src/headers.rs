//! Seldon's header names, made once (a name given as a `&str` is checked and parsed again
//! on each use), and the request's `seldon-puid`.

use http::{HeaderMap, HeaderName, HeaderValue};
use rand::RngExt;

/// The prediction's unique id, echoed on the response and in `meta.puid`.
pub(crate) const SELDON_PUID: HeaderName = HeaderName::from_static("seldon-puid");
/// A CloudEvents request: the executor then answers with the `ce-*` headers.
pub(crate) const CE_SPECVERSION: HeaderName = HeaderName::from_static("ce-specversion");
pub(crate) const CE_ID: HeaderName = HeaderName::from_static("ce-id");
pub(crate) const CE_PATH: HeaderName = HeaderName::from_static("ce-path");
pub(crate) const CE_TYPE: HeaderName = HeaderName::from_static("ce-type");
pub(crate) const CE_SOURCE: HeaderName = HeaderName::from_static("ce-source");

/// The request's `seldon-puid` when it has a printable one; otherwise a new UUID, which
/// then replaces it in `headers` (so the graph and the components see the same id). The
/// value is marked sensitive: new on every request, it is sent over HTTP/2 as a
/// never-indexed literal rather than filling HPACK's table with ids that h2's encoder then
/// compares each later one with.
pub(crate) fn puid(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get_mut(SELDON_PUID)
        && given.to_str().is_ok()
    {
        given.set_sensitive(true);
        return given.clone();
    }
    let id = sluice_api::ids::uuid_v4_ascii(rand::rng().random());
    // One allocation that its clones share (a `Vec`'s bytes would get another at the first).
    let mut fresh = HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(id))
        .unwrap_or_else(|_| HeaderValue::from_static("-"));
    fresh.set_sensitive(true);
    headers.insert(SELDON_PUID, fresh.clone());
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puid_is_kept_or_made_and_marked_not_to_be_indexed() {
        let mut given = HeaderMap::new();
        given.insert(SELDON_PUID, HeaderValue::from_static("abc"));
        let puid_given = puid(&mut given);
        assert_eq!(puid_given, "abc");
        assert!(puid_given.is_sensitive() && given[SELDON_PUID].is_sensitive());

        let mut none = HeaderMap::new();
        let fresh = puid(&mut none);
        assert_eq!(fresh.len(), 36);
        assert_eq!(none[SELDON_PUID], fresh);
        assert!(fresh.is_sensitive() && none[SELDON_PUID].is_sensitive());
    }
}
