//! Prepackaged model servers as local processes: what `sluice up` starts for a node with
//! `implementation: SKLEARN_SERVER` (and the others) once its model is on this machine
//! (spec `seldon-prepackaged.md` §6).
//!
//! - protocol `v2`: `mlserver start DIR` with the server's runtime class, as Seldon's
//!   MLServer image runs it (`mlserver-sklearn`, `-xgboost`, `-mlflow`, `-huggingface`);
//! - protocol `seldon`: Seldon's Python wrapper (`seldon-core-microservice`) with sluice's
//!   `SKLearnServer`/`XGBoostServer` classes, which answer as Seldon's images do.
//!
//! Servers that cannot run outside their images (Triton, TF Serving, Tempo, Seldon's MLflow
//! server) are refused with the reason and the way around it.

use std::path::{Path, PathBuf};

use sluice_api::seldon::Parameter;

/// Where the Python tools are: sluice's flags, else the `PATH`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    /// The Python whose environment has `seldon-core` and the model libraries
    /// (`--python`); `python3` on the `PATH` when unset.
    pub python: Option<PathBuf>,
    /// MLServer's command (`--mlserver`); `mlserver` on the `PATH` when unset.
    pub mlserver: Option<PathBuf>,
    /// Where sluice writes its server classes (beside the model cache).
    pub classes: PathBuf,
}

/// The command and environment of a server, before Seldon's port variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Variables added to (and overriding) Seldon's component environment.
    pub env: Vec<(String, String)>,
    /// Python modules the server imports, checked before it starts.
    pub imports: Vec<&'static str>,
    /// The Python that must import them.
    pub python: PathBuf,
    /// What to install when one is missing.
    pub install: String,
}

/// The Seldon-protocol servers sluice ships: (implementation, class, imports, pip packages).
const SELDON_SERVERS: &[(&str, &str, &[&str], &str)] = &[
    (
        "SKLEARN_SERVER",
        "SKLearnServer",
        &["seldon_core", "sklearn", "joblib"],
        "scikit-learn joblib",
    ),
    (
        "XGBOOST_SERVER",
        "XGBoostServer",
        &["seldon_core", "xgboost"],
        "xgboost",
    ),
];

/// sluice's server classes, written to `Tools::classes` before a server starts.
const CLASSES: &[(&str, &str)] = &[
    ("sluice_metadata.py", include_str!("../python/sluice_metadata.py")),
    ("SKLearnServer.py", include_str!("../python/SKLearnServer.py")),
    ("XGBoostServer.py", include_str!("../python/XGBoostServer.py")),
    (
        "sluice_alibi_explainer.py",
        include_str!("../python/sluice_alibi_explainer.py"),
    ),
];

/// The runtime packages of MLServer: (implementation, module).
const MLSERVER_RUNTIMES: &[(&str, &str, &str)] = &[
    ("SKLEARN_SERVER", "mlserver_sklearn", "mlserver-sklearn"),
    ("XGBOOST_SERVER", "mlserver_xgboost", "mlserver-xgboost"),
    ("MLFLOW_SERVER", "mlserver_mlflow", "mlserver-mlflow"),
    (
        "HUGGINGFACE_SERVER",
        "mlserver_huggingface",
        "mlserver-huggingface",
    ),
];

/// How to run `implementation` speaking `protocol` on the model in `model_dir`, or why
/// `sluice up` cannot.
pub fn command(
    node: &str,
    implementation: &str,
    parameters: &[Parameter],
    protocol: &str,
    model_dir: Option<&Path>,
    tools: &Tools,
) -> Result<Command, String> {
    let map = format!(
        "serve it yourself and pass --component {node}=http://127.0.0.1:PORT (or --component '{node}=run:COMMAND')"
    );
    match implementation {
        "TRITON_SERVER" => {
            return Err(format!(
                "TRITON_SERVER cannot run locally: NVIDIA Triton Inference Server is distributed only as a container \
                 image (nvcr.io/nvidia/tritonserver); no PyPI or Debian package provides the server. Run this predictor \
                 on Kubernetes, or {map}"
            ));
        }
        "TENSORFLOW_SERVER" => {
            return Err(format!(
                "TENSORFLOW_SERVER cannot run locally: TensorFlow Serving (tensorflow_model_server) is not available from \
                 PyPI or Debian ('tensorflow-serving-api' is only its client API). Use the tensorflow/serving container \
                 or Kubernetes, or {map}"
            ));
        }
        "TEMPO_SERVER" => {
            return Err(format!(
                "TEMPO_SERVER cannot run locally: its runtime comes from the model's packed environment inside Seldon's \
                 image; {map}"
            ));
        }
        _ => {}
    }
    let dir = || {
        model_dir
            .map(|d| d.display().to_string())
            .ok_or_else(|| format!("{implementation} needs a modelUri"))
    };
    if protocol == "v2" || protocol == "kfserving" {
        let Some((_, module, package)) = MLSERVER_RUNTIMES.iter().find(|(i, _, _)| *i == implementation)
        else {
            return Err(format!(
                "{implementation} has no MLServer runtime sluice knows; {map}"
            ));
        };
        let mlserver = tools
            .mlserver
            .clone()
            .unwrap_or_else(|| PathBuf::from("mlserver"));
        // MLServer's own interpreter is the one that must import the runtime.
        let python = mlserver
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("python3"), |bin| bin.join("python"));
        let class = sluice_translate::prepack::mlserver_class(implementation).unwrap_or_default();
        // HuggingFace loads from the Hub when it has no model; others need one.
        let (folder, uri) = match model_dir {
            Some(d) => (d.display().to_string(), d.display().to_string()),
            None => {
                let empty = tools.classes.join("empty-model-dir");
                (empty.display().to_string(), String::new())
            }
        };
        if implementation != "HUGGINGFACE_SERVER" {
            dir()?;
        }
        let mut env = vec![
            ("MLSERVER_MODEL_IMPLEMENTATION".to_string(), class.to_string()),
            ("MLSERVER_MODEL_VERSION".to_string(), "v1".to_string()),
            // One process: MLServer 1.3-1.7's worker pool fails to start on some Pythons.
            ("MLSERVER_PARALLEL_WORKERS".to_string(), "0".to_string()),
            ("MLSERVER_METRICS_ENDPOINT".to_string(), "/prometheus".to_string()),
        ];
        if !uri.is_empty() {
            env.push(("MLSERVER_MODEL_URI".to_string(), uri));
        }
        return Ok(Command {
            argv: vec![mlserver.display().to_string(), "start".to_string(), folder],
            env,
            imports: vec!["mlserver", module],
            python,
            install: format!("pip install 'mlserver==1.7.*' '{package}==1.7.*'"),
        });
    }
    let Some((_, class, imports, packages)) = SELDON_SERVERS.iter().find(|(i, ..)| *i == implementation)
    else {
        let why = if implementation == "MLFLOW_SERVER" {
            "Seldon's MLflow server builds a conda environment from the model when it starts; locally, use protocol v2 \
             (MLServer with mlserver-mlflow)"
        } else {
            "it has no local equivalent in sluice"
        };
        return Err(format!(
            "{implementation} with the seldon protocol: {why}; or {map}"
        ));
    };
    let python = tools.python.clone().unwrap_or_else(|| PathBuf::from("python3"));
    let microservice = python.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(
        || PathBuf::from("seldon-core-microservice"),
        |bin| bin.join("seldon-core-microservice"),
    );
    // The node's parameters, then the model's folder, as Seldon's image gets them.
    let mut parameters = parameters.to_vec();
    parameters.push(Parameter {
        name: "model_uri".to_string(),
        value: dir()?,
        kind: "STRING".to_string(),
    });
    Ok(Command {
        argv: vec![
            microservice.display().to_string(),
            class.to_string(),
            "--service-type".to_string(),
            "MODEL".to_string(),
        ],
        env: vec![
            ("PYTHONPATH".to_string(), python_path(&tools.classes)),
            (
                "PREDICTIVE_UNIT_PARAMETERS".to_string(),
                serde_json::to_string(&parameters).unwrap_or_default(),
            ),
        ],
        imports: imports.to_vec(),
        python,
        install: format!("pip install 'seldon-core==1.18.*' 'setuptools<70' {packages}"),
    })
}

/// sluice's classes first, then what the environment already had.
pub(crate) fn python_path(classes: &Path) -> String {
    match std::env::var("PYTHONPATH") {
        Ok(existing) if !existing.is_empty() => format!("{}:{existing}", classes.display()),
        _ => classes.display().to_string(),
    }
}

/// Write sluice's server classes (and an empty folder for servers without a model) to
/// `tools.classes`.
pub fn write_classes(tools: &Tools) -> std::io::Result<()> {
    std::fs::create_dir_all(tools.classes.join("empty-model-dir"))?;
    for (name, text) in CLASSES {
        let path = tools.classes.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            std::fs::write(path, text)?;
        }
    }
    Ok(())
}

/// Check that `command.python` imports what the server needs; the error says what to install.
/// A check that passed is not run again by this process (it takes a second or two, on the
/// task that starts the deployment).
pub fn check_imports(implementation: &str, command: &Command) -> Result<(), String> {
    static PASSED: std::sync::Mutex<Vec<(PathBuf, Vec<&'static str>)>> = std::sync::Mutex::new(Vec::new());
    let key = (command.python.clone(), command.imports.clone());
    if PASSED.lock().unwrap_or_else(|p| p.into_inner()).contains(&key) {
        return Ok(());
    }
    check_imports_now(implementation, command)?;
    PASSED.lock().unwrap_or_else(|p| p.into_inner()).push(key);
    Ok(())
}

fn check_imports_now(implementation: &str, command: &Command) -> Result<(), String> {
    let script = command
        .imports
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let output = std::process::Command::new(&command.python)
        .args(["-c", &script])
        .output()
        .map_err(|e| {
            format!(
                "{implementation} runs on Python, and {} cannot be run ({e}); pass --python (or --mlserver) naming an \
                 environment with: {}",
                command.python.display(),
                command.install
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("").to_string();
    Err(format!(
        "{implementation} needs Python packages that {} cannot import ({last}); install them with `{} -m {}`, or pass \
         --python / --mlserver naming an environment that has them",
        command.python.display(),
        command.python.display(),
        command.install
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Tools {
        Tools {
            python: Some("/venv/bin/python".into()),
            mlserver: Some("/ml/bin/mlserver".into()),
            classes: "/cache/servers".into(),
        }
    }

    #[test]
    fn each_protocol_has_its_server() {
        let model = Path::new("/models/iris");
        let seldon = command(
            "classifier",
            "SKLEARN_SERVER",
            &[],
            "seldon",
            Some(model),
            &tools(),
        )
        .expect("seldon");
        assert_eq!(
            seldon.argv,
            [
                "/venv/bin/seldon-core-microservice",
                "SKLearnServer",
                "--service-type",
                "MODEL"
            ]
        );
        assert!(
            seldon
                .env
                .contains(&("PYTHONPATH".into(), "/cache/servers".into()))
        );
        assert!(seldon.env.contains(&(
            "PREDICTIVE_UNIT_PARAMETERS".into(),
            r#"[{"name":"model_uri","value":"/models/iris","type":"STRING"}]"#.into()
        )));
        assert_eq!(seldon.python, PathBuf::from("/venv/bin/python"));

        let v2 = command("classifier", "XGBOOST_SERVER", &[], "v2", Some(model), &tools()).expect("v2");
        assert_eq!(v2.argv, ["/ml/bin/mlserver", "start", "/models/iris"]);
        assert!(v2.env.contains(&(
            "MLSERVER_MODEL_IMPLEMENTATION".into(),
            "mlserver_xgboost.XGBoostModel".into()
        )));
        assert_eq!(v2.python, PathBuf::from("/ml/bin/python"));
        assert!(v2.imports.contains(&"mlserver_xgboost"));
    }

    #[test]
    fn servers_that_cannot_run_here_say_why_and_how_to_map_them() {
        for (implementation, protocol, words) in [
            ("TRITON_SERVER", "v2", "only as a container"),
            ("TENSORFLOW_SERVER", "seldon", "not available from PyPI"),
            ("MLFLOW_SERVER", "seldon", "use protocol v2"),
            ("TEMPO_SERVER", "v2", "packed environment"),
            ("MY_SERVER", "seldon", "no local equivalent"),
        ] {
            let err = command(
                "m",
                implementation,
                &[],
                protocol,
                Some(Path::new("/m")),
                &tools(),
            )
            .expect_err(implementation);
            assert!(err.contains(words) && err.contains("--component m="), "{err}");
        }
        let err = command("m", "SKLEARN_SERVER", &[], "seldon", None, &tools()).expect_err("no model");
        assert!(err.contains("needs a modelUri"), "{err}");
    }
}
