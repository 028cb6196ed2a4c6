//! Properties over generated valid SeldonDeployments: the rendered YAML re-parses into
//! the same objects, the output is deterministic, and the VirtualService weights are
//! the non-shadow predictors' traffic.

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use proptest::prelude::*;
use sluice_api::SeldonDeployment;
use sluice_api::document;
use sluice_api::istio::{DestinationRule, VirtualService};
use sluice_translate::annotations::{ISTIO_GATEWAY, ISTIO_HOST, ISTIO_RETRIES, NO_ENGINE};
use sluice_translate::fixture::{Builder, sdep};
use sluice_translate::{Settings, desired, validate};

/// Split 100 into `n` non-negative shares.
fn shares(n: usize) -> impl Strategy<Value = Vec<i32>> {
    prop::collection::vec(0..=100i32, n - 1).prop_map(move |mut cuts| {
        cuts.push(0);
        cuts.push(100);
        cuts.sort_unstable();
        cuts.windows(2).map(|w| w[1] - w[0]).collect()
    })
}

fn valid_sdep() -> impl Strategy<Value = SeldonDeployment> {
    let name = "[a-z][a-z0-9]{0,70}";
    let namespace = prop::option::of("[a-z][a-z0-9-]{0,10}[a-z0-9]");
    let mains = (1usize..=4).prop_flat_map(|n| (Just(n), shares(n), any::<bool>()));
    let shadow = prop::option::of(prop::option::of(0..=100i32));
    let retries = prop::option::of(0u32..5);
    let hosts = prop::option::of(prop::sample::select(vec![
        "*",
        "a.example.com",
        "a.example.com, *.b.example.com",
    ]));
    let gateway = prop::option::of(prop::sample::select(vec!["gw", "ingress/gw"]));
    let no_engine = any::<bool>();
    (name, namespace, mains, shadow, retries, hosts, gateway, no_engine).prop_map(
        |(name, namespace, (n, traffic, unset_single), shadow, retries, hosts, gateway, no_engine)| {
            let mut b: Builder = sdep(&name);
            if let Some(ns) = namespace {
                b = b.namespace(&ns);
            }
            for (i, share) in traffic.iter().enumerate() {
                let t = if n == 1 && unset_single {
                    None
                } else {
                    Some(*share)
                };
                b = b.predictor(&format!("p{i}"), t);
                if no_engine && i == 0 {
                    b = b.predictor_annotation(NO_ENGINE, "true");
                }
            }
            if let Some(t) = shadow {
                b = b.predictor("shadow", t).shadow();
            }
            if let Some(r) = retries {
                b = b.annotation(ISTIO_RETRIES, &r.to_string());
            }
            if let Some(h) = hosts {
                b = b.annotation(ISTIO_HOST, h);
            }
            if let Some(g) = gateway {
                b = b.annotation(ISTIO_GATEWAY, g);
            }
            b.build()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn render_reparses_and_weights_are_the_traffic(sdep in valid_sdep()) {
        let settings = Settings::default();
        let errors: Vec<_> = validate(&sdep, &settings).into_iter().filter(|d| d.is_error()).collect();
        prop_assert!(errors.is_empty(), "generated SDep is invalid: {errors:#?}");
        let out = desired(&sdep, &settings).expect("translates");
        prop_assert_eq!(&out, &desired(&sdep, &settings).expect("translates"), "deterministic");

        let rendered = support::yaml(&support::objects(&out));
        let docs = document::parse(&rendered).expect("rendered YAML parses");
        let (mut services, mut deployments, mut rules, mut virtual_services) = (vec![], vec![], vec![], vec![]);
        for doc in &docs {
            match doc.kind() {
                "Service" => services.push(doc.typed::<Service>().expect("Service").value),
                "Deployment" => deployments.push(doc.typed::<Deployment>().expect("Deployment").value),
                "DestinationRule" => rules.push(doc.typed::<DestinationRule>().expect("DestinationRule").value),
                "VirtualService" => virtual_services.push(doc.typed::<VirtualService>().expect("VirtualService").value),
                other => prop_assert!(false, "unexpected kind {other}"),
            }
        }
        prop_assert_eq!(&services, &out.services);
        prop_assert_eq!(&deployments, &out.deployments);
        prop_assert_eq!(&rules, &out.destination_rules);
        prop_assert_eq!(&virtual_services, &out.virtual_services);

        let traffic: Vec<i32> = sdep.spec.predictors.iter().filter(|p| !p.is_shadow()).map(|p| p.traffic()).collect();
        let vs = &virtual_services[0];
        for route in &vs.spec.http {
            let weights: Vec<i32> = route.route.iter().map(|d| d.weight.unwrap_or(0)).collect();
            prop_assert_eq!(&weights, &traffic);
            prop_assert_eq!(route.mirror.is_some(), sdep.spec.predictors.iter().any(|p| p.is_shadow()));
        }
        prop_assert_eq!(rules.len(), sdep.spec.predictors.len());
    }
}
