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
/// then replaces it in `headers` (so the graph and the components see the same id).
pub(crate) fn puid(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get(SELDON_PUID)
        && given.to_str().is_ok()
    {
        return given.clone();
    }
    let id = sluice_api::ids::uuid_v4_ascii(rand::rng().random());
    let fresh = HeaderValue::from_bytes(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    headers.insert(SELDON_PUID, fresh.clone());
    fresh
}
