//! The VirtualService and DestinationRules of one SDep (spec §3), with sluice's fixes:
//! TLS mode keeps the idle timeout (B2), `istio-retries: "0"` turns retries off (B7),
//! and the route timeout and retry conditions can be set by annotation.

use std::collections::BTreeMap;

use sluice_api::SeldonDeployment;
use sluice_api::istio::{
    ClientTlsMode, ClientTlsSettings, ConnectionPoolSettings, Destination, DestinationRule,
    DestinationRuleSpec, HttpMatchRequest, HttpRetry, HttpRewrite, HttpRoute, HttpRouteDestination,
    HttpSettings, NETWORKING_API_VERSION, Object, Percent, PortSelector, StringMatch, Subset, TrafficPolicy,
    VirtualService, VirtualServiceSpec,
};
use sluice_api::seldon::PredictorSpec;

use crate::annotations::{IstioOptions, render_duration};
use crate::settings::{Settings, TlsMode};
use crate::{Plan, meta, names};

/// The URI regex of Seldon's gRPC route.
pub const GRPC_URI_REGEX: &str = ".*tensorflow.*|.*seldon.protos.*|.*inference.*";
/// The idle timeout of upstream connections in every predictor DestinationRule.
pub const IDLE_TIMEOUT: &str = "60s";

/// The one VirtualService of the SDep: a REST route and a gRPC route.
pub(crate) fn virtual_service(
    sdep: &SeldonDeployment,
    plan: &Plan<'_>,
    options: &IstioOptions,
) -> VirtualService {
    let namespace = names::namespace(sdep);
    let destination = |i: usize, port: u32| Destination {
        host: plan.fqdn(i),
        subset: Some(sdep.spec.predictors[i].name.clone()),
        port: Some(PortSelector { number: Some(port) }),
    };
    let routes = |grpc: bool| -> Vec<HttpRouteDestination> {
        sdep.spec
            .predictors
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.is_shadow())
            .map(|(i, p)| HttpRouteDestination {
                destination: destination(i, plan.route_port(i, grpc)),
                // Seldon copies traffic raw and omits a 0 weight (B5).
                weight: (p.traffic() != 0).then(|| p.traffic()),
                headers: None,
            })
            .collect()
    };
    let shadow = sdep
        .spec
        .predictors
        .iter()
        .enumerate()
        .rfind(|(_, p)| p.is_shadow());
    let mirror = |grpc: bool| shadow.map(|(i, _)| Box::new(destination(i, plan.route_port(i, grpc))));
    let mirror_percentage = shadow.filter(|(_, p)| p.traffic() > 0).map(|(_, p)| Percent {
        value: f64::from(p.traffic()),
    });
    let retries = options.retries.as_ref().map(|r| {
        if r.attempts == 0 {
            HttpRetry {
                attempts: Some(0),
                ..HttpRetry::default()
            }
        } else {
            HttpRetry {
                attempts: Some(r.attempts),
                per_try_timeout: Some(render_duration(r.per_try_timeout)),
                retry_on: Some(r.retry_on.clone()),
                ..HttpRetry::default()
            }
        }
    });
    let common = HttpRoute {
        retries,
        timeout: options.timeout.map(render_duration),
        mirror_percentage,
        ..HttpRoute::default()
    };
    let rest = HttpRoute {
        matches: vec![HttpMatchRequest {
            uri: Some(StringMatch {
                prefix: Some(names::url_prefix(sdep)),
                ..StringMatch::default()
            }),
            ..HttpMatchRequest::default()
        }],
        rewrite: Some(HttpRewrite {
            uri: Some("/".to_string()),
            ..HttpRewrite::default()
        }),
        route: routes(false),
        mirror: mirror(false),
        ..common.clone()
    };
    let exact = |value: &str| StringMatch {
        exact: Some(value.to_string()),
        ..StringMatch::default()
    };
    let grpc = HttpRoute {
        matches: vec![HttpMatchRequest {
            uri: Some(StringMatch {
                regex: Some(GRPC_URI_REGEX.to_string()),
                ..StringMatch::default()
            }),
            headers: BTreeMap::from([
                ("seldon".to_string(), exact(names::sdep_name(sdep))),
                ("namespace".to_string(), exact(namespace)),
            ]),
            ..HttpMatchRequest::default()
        }],
        route: routes(true),
        mirror: mirror(true),
        ..common
    };
    Object {
        api_version: NETWORKING_API_VERSION.to_string(),
        kind: "VirtualService".to_string(),
        metadata: meta::object(sdep, &names::seldon_id(sdep), BTreeMap::new(), BTreeMap::new()),
        spec: VirtualServiceSpec {
            hosts: options.hosts.clone(),
            gateways: options
                .gateways
                .clone()
                .unwrap_or_else(|| vec![plan.settings.istio_gateway.clone()]),
            http: vec![rest, grpc],
            ..VirtualServiceSpec::default()
        },
        status: None,
    }
}

/// One DestinationRule per predictor, shadow included.
pub(crate) fn destination_rules(sdep: &SeldonDeployment, plan: &Plan<'_>) -> Vec<DestinationRule> {
    sdep.spec
        .predictors
        .iter()
        .enumerate()
        .map(|(i, predictor)| Object {
            api_version: NETWORKING_API_VERSION.to_string(),
            kind: "DestinationRule".to_string(),
            metadata: meta::object(
                sdep,
                &names::predictor_key(sdep, predictor),
                BTreeMap::new(),
                BTreeMap::new(),
            ),
            spec: DestinationRuleSpec {
                host: plan.fqdn(i),
                subsets: vec![Subset {
                    name: predictor.name.clone(),
                    labels: BTreeMap::from([("version".to_string(), version(predictor))]),
                    traffic_policy: None,
                }],
                traffic_policy: Some(Box::new(traffic_policy(plan.settings))),
                ..DestinationRuleSpec::default()
            },
            status: None,
        })
        .collect()
}

/// The predictor's `version` label, defaulted to its name (§2.7).
pub fn version(predictor: &PredictorSpec) -> String {
    predictor
        .labels
        .get("version")
        .cloned()
        .unwrap_or_else(|| predictor.name.clone())
}

/// The idle timeout always; TLS beside it when `ISTIO_TLS_MODE` is set (Seldon drops the timeout, B2).
fn traffic_policy(settings: &Settings) -> TrafficPolicy {
    TrafficPolicy {
        connection_pool: Some(ConnectionPoolSettings {
            http: Some(HttpSettings {
                idle_timeout: Some(IDLE_TIMEOUT.to_string()),
                ..HttpSettings::default()
            }),
            ..ConnectionPoolSettings::default()
        }),
        tls: settings.istio_tls_mode.map(|mode| ClientTlsSettings {
            mode: Some(match mode {
                TlsMode::Disable => ClientTlsMode::Disable,
                TlsMode::Simple => ClientTlsMode::Simple,
                TlsMode::Mutual => ClientTlsMode::Mutual,
                TlsMode::IstioMutual => ClientTlsMode::IstioMutual,
            }),
            ..ClientTlsSettings::default()
        }),
        ..TrafficPolicy::default()
    }
}
