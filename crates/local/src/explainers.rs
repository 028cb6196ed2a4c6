//! Explainers as local processes: what `sluice up` starts for a predictor's `explainer`, so
//! that `/seldon/<ns>/<sdep>-explainer/<predictor>/...` answers as in the cluster (spec
//! `seldon-prepackaged.md` §4 and §6).
//!
//! The command is the container the translation gives the explainer's Deployment, with this
//! machine's places: the predictor's engine for the predictor's Service, free ports, the
//! fetched model for `/mnt/models`.
//! - seldon and tensorflow protocols: sluice's `sluice_alibi_explainer`, which takes the
//!   arguments and serves the routes of Seldon's alibi explainer image (not on PyPI), over
//!   `alibi` from PyPI;
//! - v2: MLServer with `mlserver_alibi_explain.AlibiExplainRuntime`, as Seldon's image runs it.
//!
//! An explainer whose image is not Seldon's runs where `--component NAME=http://HOST:PORT`
//! maps it.

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Container;
use sluice_translate::prepack::MODEL_DIR;

use crate::servers::{Command, Tools};

/// The explainer's places on this machine.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    /// The predictor's engine (the predictor's Service in the cluster).
    pub engine: SocketAddr,
    /// The explainer's http port, then MLServer's gRPC and metrics ports (v2).
    pub ports: [u16; 3],
    /// The fetched `explainer.modelUri`, if it has one.
    pub model: Option<&'a Path>,
}

/// What to install for each runtime.
pub const INSTALL_V1: &str = "pip install 'alibi==0.9.*'";
/// MLServer's runtime pins mlserver 1.6 and brings alibi with TensorFlow.
pub const INSTALL_V2: &str = "pip install 'mlserver-alibi-explain==1.6.*'";

/// How to run the explainer `container` (as the translation renders it) speaking `protocol`.
pub fn command(container: &Container, protocol: &str, place: &Place<'_>, tools: &Tools) -> Command {
    let model = place.model.map(|m| m.display().to_string());
    // `/mnt/models` is where the initializer puts the model; here it is the cache folder.
    let localised = |value: &str| match &model {
        Some(dir) => value.replace(MODEL_DIR, dir),
        None => value.to_string(),
    };
    if protocol == "v2" {
        let mlserver = tools
            .mlserver
            .clone()
            .unwrap_or_else(|| PathBuf::from("mlserver"));
        let [http, grpc, metrics] = place.ports.map(|p| p.to_string());
        let mut env: Vec<(String, String)> = container
            .env
            .iter()
            .flatten()
            .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
            .filter(|(name, _)| name != "MLSERVER_MODEL_URI" || model.is_some())
            .map(|(name, value)| match name.as_str() {
                "MLSERVER_HTTP_PORT" => (name, http.clone()),
                "MLSERVER_MODEL_EXTRA" => (name, local_infer_uri(&value, place.engine)),
                _ => {
                    let value = localised(&value);
                    (name, value)
                }
            })
            .collect();
        env.extend([
            ("MLSERVER_GRPC_PORT".to_string(), grpc),
            ("MLSERVER_METRICS_PORT".to_string(), metrics),
            ("MLSERVER_METRICS_ENDPOINT".to_string(), "/prometheus".to_string()),
            // One process: MLServer's worker pool fails to start on some Pythons.
            ("MLSERVER_PARALLEL_WORKERS".to_string(), "0".to_string()),
        ]);
        let folder = model.unwrap_or_else(|| tools.classes.join("empty-model-dir").display().to_string());
        return Command {
            argv: vec![mlserver.display().to_string(), "start".to_string(), folder],
            env,
            imports: vec!["mlserver", "mlserver_alibi_explain"],
            python: python_of(&mlserver),
            install: INSTALL_V2.to_string(),
        };
    }
    let python = tools.python.clone().unwrap_or_else(|| PathBuf::from("python3"));
    let mut argv = vec![
        python.display().to_string(),
        "-m".to_string(),
        "sluice_alibi_explainer".to_string(),
    ];
    argv.extend(container.args.iter().flatten().map(|arg| {
        if arg.starts_with("--predictor_host=") {
            format!("--predictor_host={}", place.engine)
        } else if arg.starts_with("--http_port=") {
            format!("--http_port={}", place.ports[0])
        } else {
            localised(arg)
        }
    }));
    Command {
        argv,
        env: vec![(
            "PYTHONPATH".to_string(),
            crate::servers::python_path(&tools.classes),
        )],
        imports: vec!["alibi", "numpy"],
        python,
        install: INSTALL_V1.to_string(),
    }
}

/// `MLSERVER_MODEL_EXTRA` with its `infer_uri` on the local engine; the rest verbatim.
fn local_infer_uri(extra: &str, engine: SocketAddr) -> String {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str::<serde_json::Value>(extra) else {
        return extra.to_string();
    };
    if let Some(serde_json::Value::String(uri)) = fields.get("infer_uri") {
        let path = uri
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
            .map_or("", |(_, path)| path);
        let local = format!("http://{engine}/{path}");
        fields.insert("infer_uri".to_string(), local.into());
    }
    serde_json::Value::Object(fields).to_string()
}

/// MLServer's own interpreter, beside it.
fn python_of(mlserver: &Path) -> PathBuf {
    mlserver
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("python3"), |bin| bin.join("python"))
}

/// Is `image` the explainer image Seldon runs for this protocol (or a tag of it)?
pub fn is_seldons_image(settings: &sluice_translate::Settings, image: &str) -> bool {
    let repository = |i: &str| i.split_once(':').map_or(i, |(name, _)| name).to_string();
    let image = repository(image.strip_prefix("docker.io/").unwrap_or(image));
    [&settings.explainer.image, &settings.explainer.image_v2]
        .iter()
        .any(|known| repository(known) == image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::EnvVar;

    fn tools() -> Tools {
        Tools {
            python: Some("/venv/bin/python".into()),
            mlserver: Some("/ml/bin/mlserver".into()),
            classes: "/cache/servers".into(),
        }
    }

    fn place(model: Option<&Path>) -> Place<'_> {
        Place {
            engine: "127.0.0.1:40000".parse().expect("addr"),
            ports: [41000, 41001, 41002],
            model,
        }
    }

    #[test]
    fn seldon_explainers_run_the_rendered_arguments_against_the_local_engine() {
        let container = Container {
            args: Some(
                [
                    "--model_name=classifier",
                    "--predictor_host=iris-default.seldon:8000",
                    "--protocol=seldon.http",
                    "--http_port=9000",
                    "--storage_uri=/mnt/models",
                    "AnchorTabular",
                    "--threshold=0.9",
                    "--extra=/mnt/models/x",
                ]
                .map(String::from)
                .to_vec(),
            ),
            ..Container::default()
        };
        let model = Path::new("/cache/models/abc");
        let c = command(&container, "seldon", &place(Some(model)), &tools());
        assert_eq!(
            c.argv,
            [
                "/venv/bin/python",
                "-m",
                "sluice_alibi_explainer",
                "--model_name=classifier",
                "--predictor_host=127.0.0.1:40000",
                "--protocol=seldon.http",
                "--http_port=41000",
                "--storage_uri=/cache/models/abc",
                "AnchorTabular",
                "--threshold=0.9",
                "--extra=/cache/models/abc/x",
            ]
        );
        assert_eq!(c.python, PathBuf::from("/venv/bin/python"));
        assert!(c.env.contains(&("PYTHONPATH".into(), "/cache/servers".into())));
        assert!(c.imports.contains(&"alibi"));
    }

    #[test]
    fn v2_explainers_run_mlserver_with_the_infer_uri_of_the_local_engine() {
        let env = |name: &str, value: &str| EnvVar {
            name: name.into(),
            value: Some(value.into()),
            value_from: None,
        };
        let container = Container {
            env: Some(vec![
                env("MLSERVER_HTTP_PORT", "9000"),
                env(
                    "MLSERVER_MODEL_IMPLEMENTATION",
                    "mlserver_alibi_explain.AlibiExplainRuntime",
                ),
                env("MLSERVER_MODEL_NAME", "iris-default-explainer"),
                env("MLSERVER_MODEL_URI", "/mnt/models"),
                env(
                    "MLSERVER_MODEL_EXTRA",
                    r#"{"explainer_type":"anchor_tabular","infer_uri":"http://iris-default.seldon:8000/v2/models/classifier/infer"}"#,
                ),
            ]),
            ..Container::default()
        };
        let c = command(&container, "v2", &place(None), &tools());
        assert_eq!(
            c.argv,
            ["/ml/bin/mlserver", "start", "/cache/servers/empty-model-dir"]
        );
        assert_eq!(c.python, PathBuf::from("/ml/bin/python"));
        let get = |name: &str| c.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("MLSERVER_HTTP_PORT"), Some("41000"));
        assert_eq!(get("MLSERVER_GRPC_PORT"), Some("41001"));
        assert_eq!(get("MLSERVER_METRICS_PORT"), Some("41002"));
        assert_eq!(get("MLSERVER_MODEL_URI"), None, "no model: no URI");
        assert_eq!(
            get("MLSERVER_MODEL_EXTRA"),
            Some(
                r#"{"explainer_type":"anchor_tabular","infer_uri":"http://127.0.0.1:40000/v2/models/classifier/infer"}"#
            )
        );
        let with_model = command(&container, "v2", &place(Some(Path::new("/m"))), &tools());
        assert!(
            with_model
                .env
                .contains(&("MLSERVER_MODEL_URI".into(), "/m".into()))
        );
        assert_eq!(with_model.argv[2], "/m");
    }

    #[test]
    fn seldons_images_are_known_with_any_tag() {
        let settings = sluice_translate::Settings::default();
        assert!(is_seldons_image(&settings, "seldonio/alibiexplainer:1.17.0"));
        assert!(is_seldons_image(
            &settings,
            "docker.io/seldonio/mlserver:1.3.5-alibi-explain"
        ));
        assert!(!is_seldons_image(&settings, "me/my-explainer:1"));
    }
}
