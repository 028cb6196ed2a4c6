//! Reading a message body whole — the orchestrator must parse what it passes on — but never
//! more than a limit: a declared `Content-Length` over it is refused before anything is
//! read, and a body without one is counted as it arrives.

use bytes::Bytes;
use http_body_util::BodyExt;

/// Why a body was not read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It is (or says it is) larger than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Failed(String),
}

/// `body` whole, when it has at most `limit` bytes; `declared` is its `Content-Length`.
pub(crate) async fn read<B>(body: B, declared: Option<u64>, limit: u64) -> Result<Vec<u8>, ReadError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    if declared.is_some_and(|length| length > limit) {
        return Err(ReadError::TooLarge);
    }
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut body = std::pin::pin!(body);
    // What a client declares is not yet memory it sent: reserve at most 1 MiB up front.
    let initial = declared
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut out = Vec::with_capacity(initial);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Failed(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The `Content-Length` of `headers`, if it is a number.
pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}
