//! Prepackaged servers through the real `sluice up` binary, on a scikit-learn model
//! trained here: `implementation: SKLEARN_SERVER` from a local folder under Seldon's own
//! Python wrapper (seldon protocol, answers equal to `predict_proba`), from an S3 bucket
//! served by moto on 127.0.0.1 (credentials from the node's `envSecretRefName` Secret), and
//! over v2 with MLServer (answers equal to `predict`); a canary between two model versions;
//! `XGBOOST_SERVER` on a booster trained here (answers equal to its `predict`).
//!
//! `scripts/test` installs the packages (`.venv`: seldon-core, scikit-learn, xgboost-cpu;
//! `.venv-mlserver`: mlserver, mlserver-sklearn, moto[server]) and runs these with
//! `--ignored`. `SLUICE_PYTHON` and `SLUICE_MLSERVER` name the interpreters' tools.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Up, client, scratch, send};

const INPUT: &str = "[[5.1,3.5,1.4,0.2]]";

fn python() -> PathBuf {
    let python = std::env::var_os("SLUICE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::workspace().join(".venv/bin/python"));
    assert!(
        python.is_file(),
        "{} is missing: run scripts/test",
        python.display()
    );
    python
}

fn mlserver() -> PathBuf {
    let mlserver = std::env::var_os("SLUICE_MLSERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::workspace().join(".venv-mlserver/bin/mlserver"));
    assert!(
        mlserver.is_file(),
        "{} is missing: run scripts/test",
        mlserver.display()
    );
    mlserver
}

fn bin_of(tool: &Path, name: &str) -> PathBuf {
    tool.parent().expect("a venv's bin").join(name)
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-prepackaged-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// Train a logistic regression on a tiny iris-like set with `python`, save it as
/// `dir/model.joblib`; returns (`predict_proba`, `predict`) of [`INPUT`] as JSON.
fn train(python: &Path, dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let script = format!(
        r#"
import json, sys, joblib
from sklearn.linear_model import LogisticRegression
X = [[5.1,3.5,1.4,0.2],[4.9,3.0,1.4,0.2],[4.7,3.2,1.3,0.2],[7.0,3.2,4.7,1.4],[6.4,3.2,4.5,1.5],
     [6.9,3.1,4.9,1.5],[6.3,3.3,6.0,2.5],[5.8,2.7,5.1,1.9],[7.1,3.0,5.9,2.1]]
y = [0,0,0,1,1,1,2,2,2]
model = LogisticRegression(max_iter=1000).fit(X, y)
joblib.dump(model, sys.argv[1] + "/model.joblib")
print(json.dumps({{"proba": model.predict_proba({INPUT}).tolist(), "predict": model.predict({INPUT}).tolist()}}))
"#
    );
    let out = Command::new(python)
        .args(["-c", &script, dir.to_str().expect("utf-8")])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (answer["proba"].clone(), answer["predict"].clone())
}

fn sdep(model_uri: &str, protocol: &str, extra: &str) -> String {
    format!(
        "apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {{name: iris, namespace: seldon}}
spec:
  protocol: {protocol}
  predictors:
  - name: default
    graph:
      name: classifier
      implementation: SKLEARN_SERVER
      modelUri: {model_uri}
{extra}"
    )
}

async fn predict_seldon(up: &Up) -> serde_json::Value {
    let body = format!(r#"{{"data":{{"ndarray":{INPUT}}}}}"#);
    let (status, text) = send(
        &client(),
        "POST",
        up.gateway,
        "/seldon/seldon/iris/api/v1.0/predictions",
        None,
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}\n{}", up.stderr());
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
#[ignore = "needs seldon-core and scikit-learn (scripts/test installs them)"]
async fn sklearn_server_from_a_folder_answers_predict_proba_under_seldons_wrapper() {
    let python = python();
    let model = fresh_dir("local-model");
    let (proba, _) = train(&python, &model);
    let file = scratch(
        "sklearn-local",
        &sdep(&format!("file://{}", model.display()), "seldon", ""),
    );
    let up = Up::start(
        &[&file],
        &[
            "--python",
            python.to_str().expect("utf-8"),
            "--ready-timeout",
            "120",
        ],
    );
    let answer = predict_seldon(&up).await;
    assert_eq!(answer["data"]["ndarray"], proba, "{answer}");
    assert_eq!(
        answer["data"]["names"],
        serde_json::json!(["t:0", "t:1", "t:2"]),
        "{answer}"
    );
}

/// moto's S3 server on a free loopback port, with `model.joblib` uploaded to
/// `s3://models/iris/`; killed on drop.
struct Moto(Child, u16);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_with_model(model: &Path) -> Moto {
    let mlserver = mlserver();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(bin_of(&mlserver, "moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Moto(child, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let upload = format!(
        r#"
import boto3, sys
s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:{port}", aws_access_key_id="testing",
                  aws_secret_access_key="testing", region_name="us-east-1")
s3.create_bucket(Bucket="models")
s3.upload_file(sys.argv[1] + "/model.joblib", "models", "iris/model.joblib")
"#
    );
    let out = Command::new(bin_of(&mlserver, "python"))
        .args(["-c", &upload, model.to_str().expect("utf-8")])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    moto
}

#[tokio::test]
#[ignore = "needs seldon-core, scikit-learn and moto (scripts/test installs them)"]
async fn sklearn_server_from_s3_with_the_secrets_credentials() {
    let python = python();
    let model = fresh_dir("s3-model");
    let (proba, _) = train(&python, &model);
    let moto = moto_with_model(&model);
    let secret = format!(
        "---
apiVersion: v1
kind: Secret
metadata: {{name: seldon-rclone-secret, namespace: seldon}}
type: Opaque
stringData:
  RCLONE_CONFIG_S3_TYPE: s3
  RCLONE_CONFIG_S3_PROVIDER: Minio
  RCLONE_CONFIG_S3_ACCESS_KEY_ID: testing
  RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: testing
  RCLONE_CONFIG_S3_ENDPOINT: http://127.0.0.1:{}
",
        moto.1
    );
    let text = sdep(
        "s3://models/iris",
        "seldon",
        "      envSecretRefName: seldon-rclone-secret\n",
    ) + &secret;
    let file = scratch("sklearn-s3", &text);
    let cache = fresh_dir("cache");
    let up = Up::start(
        &[&file],
        &[
            "--python",
            python.to_str().expect("utf-8"),
            "--model-cache",
            cache.to_str().expect("utf-8"),
            "--ready-timeout",
            "120",
        ],
    );
    let answer = predict_seldon(&up).await;
    assert_eq!(answer["data"]["ndarray"], proba, "{answer}");
    // The model was copied into the cache, whole.
    let copied: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache")
        .flatten()
        .map(|e| e.path().join("model.joblib"))
        .collect();
    assert_eq!(copied.len(), 1, "{copied:?}");
    assert_eq!(
        std::fs::read(&copied[0]).expect("copy"),
        std::fs::read(model.join("model.joblib")).expect("original")
    );
}

#[tokio::test]
#[ignore = "needs MLServer and mlserver-sklearn (scripts/test installs them)"]
async fn sklearn_server_over_v2_runs_mlserver() {
    let mlserver = mlserver();
    let model = fresh_dir("v2-model");
    // Trained by MLServer's own scikit-learn, so the pickle matches it.
    let (_, predict) = train(&bin_of(&mlserver, "python"), &model);
    let file = scratch("sklearn-v2", &sdep(&model.display().to_string(), "v2", ""));
    let up = Up::start(
        &[&file],
        &[
            "--mlserver",
            mlserver.to_str().expect("utf-8"),
            "--ready-timeout",
            "120",
        ],
    );
    let body = r#"{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}"#;
    let (status, text) = send(
        &client(),
        "POST",
        up.gateway,
        "/seldon/seldon/iris/v2/models/classifier/infer",
        None,
        body,
    )
    .await;
    assert_eq!(status, 200, "{text}\n{}", up.stderr());
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(answer["model_name"], "classifier", "{answer}");
    assert_eq!(answer["outputs"][0]["name"], "predict", "{answer}");
    assert_eq!(answer["outputs"][0]["data"], predict, "{answer}");
}

#[tokio::test]
#[ignore = "needs seldon-core and scikit-learn (scripts/test installs them)"]
async fn a_canary_between_two_model_versions_splits_75_25() {
    let python = python();
    let (main, canary) = (fresh_dir("main-model"), fresh_dir("canary-model"));
    train(&python, &main);
    train(&python, &canary);
    // The canary is another version: the same data, its classes in the other order.
    let relabel = "import joblib, sys; m = joblib.load(sys.argv[1] + '/model.joblib'); m.classes_ = m.classes_[::-1]; joblib.dump(m, sys.argv[1] + '/model.joblib')";
    let out = Command::new(&python)
        .args(["-c", relabel, canary.to_str().expect("utf-8")])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // `predict` answers the class label, which tells the versions apart.
    let text = format!(
        "apiVersion: machinelearning.seldon.io/v1
kind: SeldonDeployment
metadata: {{name: iris, namespace: seldon}}
spec:
  predictors:
  - name: main
    traffic: 75
    graph:
      name: classifier
      implementation: SKLEARN_SERVER
      modelUri: file://{}
      parameters: [{{name: method, value: predict, type: STRING}}]
  - name: canary
    traffic: 25
    graph:
      name: classifier
      implementation: SKLEARN_SERVER
      modelUri: file://{}
      parameters: [{{name: method, value: predict, type: STRING}}]
",
        main.display(),
        canary.display()
    );
    let file = scratch("sklearn-canary", &text);
    let up = Up::start(
        &[&file],
        &[
            "--python",
            python.to_str().expect("utf-8"),
            "--ready-timeout",
            "120",
        ],
    );
    let (mut to_main, mut to_canary) = (0, 0);
    for _ in 0..200 {
        let answer = predict_seldon(&up).await;
        // Class 0 by the main model; the canary's reversed labels say 2.
        match answer["data"]["ndarray"][0].as_i64() {
            Some(0) => to_main += 1,
            Some(2) => to_canary += 1,
            _ => panic!("neither model's answer: {answer}"),
        }
    }
    // 200 requests at 25 %: 50 expected, 4 standard deviations either side.
    assert!(
        (25..=75).contains(&to_canary),
        "main {to_main}, canary {to_canary}"
    );
}

#[tokio::test]
#[ignore = "needs seldon-core and xgboost (scripts/test installs them)"]
async fn xgboost_server_answers_the_boosters_predictions() {
    let python = python();
    let model = fresh_dir("xgboost-model");
    let script = format!(
        r#"
import json, sys, numpy, xgboost
X = numpy.array([[5.1,3.5,1.4,0.2],[4.9,3.0,1.4,0.2],[7.0,3.2,4.7,1.4],[6.4,3.2,4.5,1.5],[6.3,3.3,6.0,2.5],[5.8,2.7,5.1,1.9]])
booster = xgboost.train({{"objective": "multi:softprob", "num_class": 3, "max_depth": 2, "seed": 1}},
                        xgboost.DMatrix(X, label=[0,0,1,1,2,2]), 5)
booster.save_model(sys.argv[1] + "/model.json")
print(json.dumps(booster.predict(xgboost.DMatrix(numpy.array({INPUT}))).tolist()))
"#
    );
    let out = Command::new(&python)
        .args(["-c", &script, model.to_str().expect("utf-8")])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let text = sdep(&format!("file://{}", model.display()), "seldon", "")
        .replace("SKLEARN_SERVER", "XGBOOST_SERVER");
    let file = scratch("xgboost", &text);
    let up = Up::start(
        &[&file],
        &[
            "--python",
            python.to_str().expect("utf-8"),
            "--ready-timeout",
            "120",
        ],
    );
    let answer = predict_seldon(&up).await;
    // float32 widened to the same float64 in both: equal as JSON numbers.
    assert_eq!(answer["data"]["ndarray"], expected, "{answer}");
    assert_eq!(
        answer["data"]["names"],
        serde_json::json!(["t:0", "t:1", "t:2"]),
        "{answer}"
    );
}

#[tokio::test]
#[ignore = "needs seldon-core, scikit-learn and alibi (scripts/test installs them)"]
async fn an_anchor_explainer_explains_the_servers_prediction() {
    // The model and an AnchorTabular explainer over it, fitted and saved here with alibi, as
    // Seldon's documentation has users do before deploying `explainer.modelUri`.
    let python = python();
    let model = fresh_dir("explained-model");
    let saved = fresh_dir("explainer").join("anchors");
    let (proba, _) = train(&python, &model);
    let fit = r#"
import sys, joblib, numpy as np
from alibi.explainers import AnchorTabular
model = joblib.load(sys.argv[1] + "/model.joblib")
X = np.array([[5.1,3.5,1.4,0.2],[4.9,3.0,1.4,0.2],[7.0,3.2,4.7,1.4],[6.4,3.2,4.5,1.5],[6.3,3.3,6.0,2.5],[7.1,3.0,5.9,2.1]])
AnchorTabular(model.predict, ["sepal length", "sepal width", "petal length", "petal width"], seed=1).fit(X).save(sys.argv[2])
"#;
    let out = Command::new(&python)
        .args([
            "-c",
            fit,
            model.to_str().expect("utf-8"),
            saved.to_str().expect("utf-8"),
        ])
        .output()
        .expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = sdep(
        &format!("file://{}", model.display()),
        "seldon",
        &format!(
            "    explainer:\n      type: AnchorTabular\n      modelUri: file://{}\n",
            saved.display()
        ),
    );
    let file = scratch("sklearn-explained", &text);
    let up = Up::start(
        &[&file],
        &[
            "--python",
            python.to_str().expect("utf-8"),
            "--ready-timeout",
            "120",
        ],
    );
    let body = format!(r#"{{"data":{{"ndarray":{INPUT}}}}}"#);
    let (status, text) = send(
        &client(),
        "POST",
        up.gateway,
        "/seldon/seldon/iris-explainer/default/api/v1.0/explain",
        None,
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}\n{}", up.stderr());
    let explanation: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(explanation["meta"]["name"], "AnchorTabular", "{text}");
    let anchor = explanation["data"]["anchor"].as_array().expect("an anchor");
    assert!(
        anchor.iter().all(|a| a
            .as_str()
            .is_some_and(|a| a.contains("petal") || a.contains("sepal"))),
        "{text}"
    );
    // The instance explained is the one sent, and the prediction explained is the server's:
    // the class its predict_proba ranks first.
    let row = proba[0].as_array().expect("probabilities");
    let best = (0..row.len())
        .max_by(|a, b| row[*a].as_f64().partial_cmp(&row[*b].as_f64()).expect("numbers"))
        .expect("classes");
    assert_eq!(
        explanation["data"]["raw"]["prediction"],
        serde_json::json!([best]),
        "{text}"
    );
    assert_eq!(
        explanation["data"]["raw"]["instance"],
        serde_json::json!([5.1, 3.5, 1.4, 0.2]),
        "{text}"
    );
    // A request the explainer cannot read is the caller's error, in Seldon's status form.
    let (status, text) = send(
        &client(),
        "POST",
        up.gateway,
        "/seldon/seldon/iris-explainer/default/api/v1.0/explain",
        None,
        "not json",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("\"status\": \"FAILURE\""), "{text}");
}
