//! gRPC status codes and Envoy's mappings between them and HTTP statuses.

use http::StatusCode;

/// A gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// 0
    Ok,
    /// 1
    Cancelled,
    /// 2
    Unknown,
    /// 3
    InvalidArgument,
    /// 4
    DeadlineExceeded,
    /// 5
    NotFound,
    /// 6
    AlreadyExists,
    /// 7
    PermissionDenied,
    /// 8
    ResourceExhausted,
    /// 9
    FailedPrecondition,
    /// 10
    Aborted,
    /// 11
    OutOfRange,
    /// 12
    Unimplemented,
    /// 13
    Internal,
    /// 14
    Unavailable,
    /// 15
    DataLoss,
    /// 16
    Unauthenticated,
}

impl Code {
    /// Every code, in number order, with its name as Istio's `grpcStatus` writes it.
    pub const ALL: [(Code, &'static str); 17] = [
        (Code::Ok, "OK"),
        (Code::Cancelled, "CANCELLED"),
        (Code::Unknown, "UNKNOWN"),
        (Code::InvalidArgument, "INVALID_ARGUMENT"),
        (Code::DeadlineExceeded, "DEADLINE_EXCEEDED"),
        (Code::NotFound, "NOT_FOUND"),
        (Code::AlreadyExists, "ALREADY_EXISTS"),
        (Code::PermissionDenied, "PERMISSION_DENIED"),
        (Code::ResourceExhausted, "RESOURCE_EXHAUSTED"),
        (Code::FailedPrecondition, "FAILED_PRECONDITION"),
        (Code::Aborted, "ABORTED"),
        (Code::OutOfRange, "OUT_OF_RANGE"),
        (Code::Unimplemented, "UNIMPLEMENTED"),
        (Code::Internal, "INTERNAL"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::DataLoss, "DATA_LOSS"),
        (Code::Unauthenticated, "UNAUTHENTICATED"),
    ];

    /// The code named `name` (`UNAVAILABLE`).
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The code numbered `number`.
    pub fn from_number(number: u32) -> Option<Code> {
        Code::ALL.get(usize::try_from(number).ok()?).map(|(c, _)| *c)
    }

    /// Its number on the wire (`grpc-status`).
    pub fn number(self) -> u32 {
        self as u32
    }

    /// Envoy's HTTP status for a gRPC abort answered to a client that does not speak gRPC.
    pub fn http_status(self) -> StatusCode {
        match self {
            Code::Ok => StatusCode::OK,
            Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => StatusCode::BAD_REQUEST,
            Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::PermissionDenied => StatusCode::FORBIDDEN,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Envoy's gRPC status for a local reply of HTTP `status` to a gRPC client (spec §9).
    pub fn for_http(status: StatusCode) -> Code {
        match status.as_u16() {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_mappings() {
        assert_eq!(Code::from_name("UNAVAILABLE"), Some(Code::Unavailable));
        assert_eq!(Code::Unavailable.number(), 14);
        assert_eq!(Code::from_number(16), Some(Code::Unauthenticated));
        assert_eq!(Code::from_number(17), None);
        assert_eq!(Code::for_http(StatusCode::NOT_FOUND), Code::Unimplemented);
        assert_eq!(Code::for_http(StatusCode::IM_A_TEAPOT), Code::Unknown);
        assert_eq!(Code::Unavailable.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        for (i, (code, _)) in Code::ALL.iter().enumerate() {
            assert_eq!(code.number() as usize, i);
        }
    }
}
