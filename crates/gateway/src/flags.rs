//! Envoy's response flags: why a response is what it is, in metrics and the access log.

use std::fmt;

/// One of Envoy's response flags (the subset the gateway produces).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ResponseFlag {
    /// `-`: nothing to report.
    #[default]
    None,
    /// `NR`: no route matched.
    NoRoute,
    /// `NC`: the route's cluster does not exist.
    NoCluster,
    /// `UH`: no healthy upstream endpoint.
    NoHealthyUpstream,
    /// `UF`: the upstream connection failed.
    UpstreamConnectionFailure,
    /// `UR`: the upstream reset the stream.
    UpstreamReset,
    /// `URX`: retries exhausted (or the upstream's answer was retried to the limit).
    UpstreamRetryLimitExceeded,
    /// `UT`: the upstream request timed out.
    UpstreamRequestTimeout,
    /// `UO`: the cluster's circuit breaker overflowed.
    UpstreamOverflow,
    /// `FI`: a fault abort.
    FaultInjected,
    /// `DI`: a fault delay.
    DelayInjected,
}

impl ResponseFlag {
    /// The flag as Envoy prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseFlag::None => "-",
            ResponseFlag::NoRoute => "NR",
            ResponseFlag::NoCluster => "NC",
            ResponseFlag::NoHealthyUpstream => "UH",
            ResponseFlag::UpstreamConnectionFailure => "UF",
            ResponseFlag::UpstreamReset => "UR",
            ResponseFlag::UpstreamRetryLimitExceeded => "URX",
            ResponseFlag::UpstreamRequestTimeout => "UT",
            ResponseFlag::UpstreamOverflow => "UO",
            ResponseFlag::FaultInjected => "FI",
            ResponseFlag::DelayInjected => "DI",
        }
    }
}

impl fmt::Display for ResponseFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
