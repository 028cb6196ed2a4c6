//! Model artefacts for `sluice up`: what the model initializer does in a pod, done here
//! before a prepackaged server starts. A local path or `file://` is used in place;
//! `s3://`, `gs://` and `https://` are copied once into a cache directory with
//! `object_store` and reused after.
//!
//! ```text
//!  modelUri ──> Source::parse ──> Local(dir)                    ──> dir
//!                            └──> Remote(store, prefix) ──> fetch ──> <cache>/<md5 of uri>/
//! ```
//!
//! `s3://` credentials come from the node's `envSecretRefName` Secret in the same files, as
//! the initializer's environment would (rclone's `RCLONE_CONFIG_S3_*` or `AWS_*` keys), then
//! from sluice's own environment; without any, the bucket is read anonymously. `gs://`
//! buckets are read anonymously (public buckets) unless `GOOGLE_SERVICE_ACCOUNT` is set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt as _;
use md5::{Digest as _, Md5};
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt as _};
use tokio::io::AsyncWriteExt as _;

/// Where a model is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A directory (or file) on this machine.
    Local(PathBuf),
    /// An object store: `scheme://bucket/prefix`.
    Bucket {
        /// `s3` or `gs`.
        scheme: String,
        /// The bucket.
        bucket: String,
        /// The objects' common prefix (no leading `/`).
        prefix: String,
    },
    /// One file over HTTP(S).
    Web(String),
}

impl Source {
    /// Read a `modelUri`, or say what would be valid.
    pub fn parse(uri: &str) -> Result<Source, String> {
        let supported =
            "use a local path, file:///path, s3://bucket/path, gs://bucket/path or https://host/file";
        if uri.is_empty() {
            return Err(format!("the modelUri is empty; {supported}"));
        }
        if let Some(path) = uri.strip_prefix("file://") {
            return Ok(Source::Local(PathBuf::from(path)));
        }
        let Some((scheme, rest)) = uri.split_once("://") else {
            return Ok(Source::Local(PathBuf::from(uri)));
        };
        match scheme {
            "s3" | "gs" => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(format!("{uri:?} names no bucket; write {scheme}://BUCKET/PATH"));
                }
                Ok(Source::Bucket {
                    scheme: scheme.to_string(),
                    bucket: bucket.to_string(),
                    prefix: prefix.trim_matches('/').to_string(),
                })
            }
            "http" | "https" => Ok(Source::Web(uri.to_string())),
            "pvc" => Err(format!(
                "{uri:?} names a Kubernetes PersistentVolumeClaim, which `sluice up` cannot read: copy the model to a local folder and use file:///PATH"
            )),
            other => Err(format!(
                "{other}:// is not a storage sluice up reads; {supported}"
            )),
        }
    }
}

/// Why a model could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The modelUri is not one sluice reads.
    #[error("{0}")]
    Uri(String),
    /// A local model path does not exist.
    #[error("modelUri {uri:?}: {path} does not exist")]
    Missing {
        /// The URI.
        uri: String,
        /// The path looked at.
        path: String,
    },
    /// The store refused or failed.
    #[error(
        "cannot fetch {uri}: {source} (to run without the network, copy the model to a folder and use modelUri: file:///PATH)"
    )]
    Store {
        /// The URI.
        uri: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Nothing under the URI.
    #[error("cannot fetch {0}: no objects under it")]
    Empty(String),
    /// Writing the cache failed.
    #[error("cannot write the model cache {path}: {source}")]
    Cache {
        /// Where.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Bytes fetched so far and in all, for a progress bar.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// The local directory holding the model of `uri`: the path itself for local sources, else
/// a copy in `cache` (fetched once; later calls reuse it). `secret` is the node's
/// `envSecretRefName` Secret data, when it has one.
pub async fn fetch(
    uri: &str,
    secret: Option<&BTreeMap<String, String>>,
    cache: &Path,
    progress: Progress<'_>,
) -> Result<PathBuf, FetchError> {
    let source = Source::parse(uri).map_err(FetchError::Uri)?;
    let (store, prefix): (Arc<dyn ObjectStore>, String) = match &source {
        Source::Local(path) => {
            return if path.exists() {
                Ok(path.clone())
            } else {
                Err(FetchError::Missing {
                    uri: uri.to_string(),
                    path: path.display().to_string(),
                })
            };
        }
        Source::Bucket {
            scheme,
            bucket,
            prefix,
        } => {
            let store = if scheme == "s3" {
                s3(bucket, &Settings::new(secret))
            } else {
                gcs(bucket)
            };
            (store.map_err(|source| store_error(uri, source))?, prefix.clone())
        }
        Source::Web(url) => {
            let (origin, path) = split_url(url);
            let store = object_store::http::HttpBuilder::new()
                .with_url(origin)
                .with_retry(retries())
                .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
                .build()
                .map_err(|source| store_error(uri, source))?;
            (Arc::new(store), path)
        }
    };
    let target = cache.join(cache_key(uri));
    if target.is_dir() {
        return Ok(target);
    }
    let partial = cache.join(format!("{}.partial-{}", cache_key(uri), std::process::id()));
    let _ = tokio::fs::remove_dir_all(&partial).await;
    tokio::fs::create_dir_all(&partial)
        .await
        .map_err(cache_error(&partial))?;

    let result = copy(
        &store,
        &prefix,
        matches!(source, Source::Web(_)),
        uri,
        &partial,
        progress,
    )
    .await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_dir_all(&partial).await;
        return Err(e);
    }
    // Whole or not at all: a crash mid-way leaves a partial directory, never a model.
    if let Err(e) = tokio::fs::rename(&partial, &target).await {
        let _ = tokio::fs::remove_dir_all(&partial).await;
        // Another sluice fetched the same model meanwhile: use its copy.
        if !target.is_dir() {
            return Err(cache_error(&target)(e));
        }
    }
    Ok(target)
}

/// Copy every object of the source into `partial`.
async fn copy(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    single_file: bool,
    uri: &str,
    partial: &Path,
    progress: Progress<'_>,
) -> Result<(), FetchError> {
    let objects = objects(store, prefix, single_file)
        .await
        .map_err(|source| store_error(uri, source))?;
    if objects.is_empty() {
        return Err(FetchError::Empty(uri.to_string()));
    }
    let total: u64 = objects.iter().map(|(_, size, _)| size).sum();
    let mut done = 0;
    progress(done, total);
    for (location, _, relative) in &objects {
        let file = partial.join(relative);
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(cache_error(parent))?;
        }
        let mut out = tokio::fs::File::create(&file).await.map_err(cache_error(&file))?;
        let mut stream = store
            .get(location)
            .await
            .map_err(|source| store_error(uri, source))?
            .into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|source| store_error(uri, source))?;
            out.write_all(&chunk).await.map_err(cache_error(&file))?;
            done += chunk.len() as u64;
            progress(done, total);
        }
        out.flush().await.map_err(cache_error(&file))?;
    }
    Ok(())
}

/// Every object under `prefix` with its size and its path relative to the prefix; a prefix
/// that is one object is that object (named by its last segment).
async fn objects(
    store: &Arc<dyn ObjectStore>,
    prefix: &str,
    single_file: bool,
) -> Result<Vec<(StorePath, u64, PathBuf)>, object_store::Error> {
    let location = StorePath::from(prefix);
    let name = |p: &StorePath| PathBuf::from(p.filename().unwrap_or("model"));
    if single_file {
        let meta = store.head(&location).await?;
        return Ok(vec![(meta.location.clone(), meta.size, name(&meta.location))]);
    }
    let mut out = Vec::new();
    let mut listing = store.list(Some(&location));
    while let Some(meta) = listing.next().await {
        let meta = meta?;
        let relative: PathBuf = meta
            .location
            .prefix_match(&location)
            .map(|parts| parts.map(|p| p.as_ref().to_string()).collect())
            .unwrap_or_else(|| name(&meta.location));
        // Folder markers ("dir/", empty objects a console creates) are not files.
        let is_file = relative.components().count() > 0
            && relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
            && !meta.location.as_ref().ends_with('/');
        if is_file {
            out.push((meta.location, meta.size, relative));
        }
    }
    // A folder marker whose trailing `/` the store dropped names a parent of other objects.
    let parents: Vec<PathBuf> = out.iter().map(|(_, _, relative)| relative.clone()).collect();
    out.retain(|(_, _, relative)| {
        !parents
            .iter()
            .any(|other| other != relative && other.starts_with(relative))
    });
    if out.is_empty() && !prefix.is_empty() {
        // `s3://bucket/dir/model.joblib`: the URI is the object itself.
        if let Ok(meta) = store.head(&location).await {
            out.push((meta.location.clone(), meta.size, name(&meta.location)));
        }
    }
    Ok(out)
}

/// The error of writing `path` in the cache.
fn cache_error(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError {
    let path = path.display().to_string();
    move |source| FetchError::Cache { path, source }
}

fn store_error(uri: &str, source: object_store::Error) -> FetchError {
    FetchError::Store {
        uri: uri.to_string(),
        source,
    }
}

/// `https://host:port/a/b` → (`https://host:port`, `a/b`).
fn split_url(url: &str) -> (String, String) {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    match url[scheme_end..].find('/') {
        Some(slash) => (
            url[..scheme_end + slash].to_string(),
            url[scheme_end + slash + 1..].to_string(),
        ),
        None => (url.to_string(), String::new()),
    }
}

/// The cache directory name of a URI: its MD5, hex.
pub fn cache_key(uri: &str) -> String {
    Md5::digest(uri.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The default cache: `$XDG_CACHE_HOME/sluice/models`, else `~/.cache/sluice/models`.
pub fn default_cache() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("sluice").join("models")
}

/// S3 settings: the Secret's keys first, then sluice's environment.
struct Settings<'a> {
    secret: Option<&'a BTreeMap<String, String>>,
}

impl<'a> Settings<'a> {
    fn new(secret: Option<&'a BTreeMap<String, String>>) -> Self {
        Settings { secret }
    }

    /// The first of `keys` set in the Secret, else in the environment.
    fn get(&self, keys: &[&str]) -> Option<String> {
        let secret = self.secret;
        keys.iter()
            .find_map(|k| secret.and_then(|s| s.get(*k)).filter(|v| !v.is_empty()).cloned())
            .or_else(|| {
                keys.iter()
                    .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            })
    }
}

fn s3(bucket: &str, settings: &Settings<'_>) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_retry(retries())
        .with_region(
            settings
                .get(&["RCLONE_CONFIG_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"])
                .unwrap_or_else(|| "us-east-1".to_string()),
        );
    let endpoint = settings
        .get(&["RCLONE_CONFIG_S3_ENDPOINT", "AWS_ENDPOINT_URL", "S3_ENDPOINT"])
        .map(|e| {
            if e.contains("://") {
                e
            } else if settings.get(&["S3_USE_HTTPS"]).as_deref() == Some("0") {
                format!("http://{e}")
            } else {
                format!("https://{e}")
            }
        });
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    if let Some(token) = settings.get(&["RCLONE_CONFIG_S3_SESSION_TOKEN", "AWS_SESSION_TOKEN"]) {
        builder = builder.with_token(token);
    }
    let key = settings.get(&["RCLONE_CONFIG_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]);
    let secret = settings.get(&["RCLONE_CONFIG_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"]);
    builder = match (key, secret) {
        (Some(key), Some(secret)) => builder.with_access_key_id(key).with_secret_access_key(secret),
        _ => builder.with_skip_signature(true),
    };
    Ok(Arc::new(builder.build()?))
}

/// A few quick retries: start-up waits on the fetch, and an unreachable store should say
/// so in seconds, not after object_store's default three minutes.
fn retries() -> object_store::RetryConfig {
    object_store::RetryConfig {
        max_retries: 2,
        retry_timeout: std::time::Duration::from_secs(20),
        ..object_store::RetryConfig::default()
    }
}

fn gcs(bucket: &str) -> Result<Arc<dyn ObjectStore>, object_store::Error> {
    let builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retries());
    let signed = [
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some());
    let builder = if signed {
        builder
    } else {
        builder.with_skip_signature(true)
    };
    Ok(Arc::new(builder.build()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_as_the_initializer_reads_them() {
        assert_eq!(
            Source::parse("file:///models/iris"),
            Ok(Source::Local("/models/iris".into()))
        );
        assert_eq!(Source::parse("./iris"), Ok(Source::Local("./iris".into())));
        assert_eq!(
            Source::parse("s3://bucket/sklearn/iris/"),
            Ok(Source::Bucket {
                scheme: "s3".into(),
                bucket: "bucket".into(),
                prefix: "sklearn/iris".into()
            })
        );
        assert_eq!(
            Source::parse("gs://seldon-models"),
            Ok(Source::Bucket {
                scheme: "gs".into(),
                bucket: "seldon-models".into(),
                prefix: String::new()
            })
        );
        assert!(matches!(Source::parse("https://h/m.joblib"), Ok(Source::Web(_))));
        for (bad, words) in [
            ("", "empty"),
            ("pvc://claim/x", "PersistentVolumeClaim"),
            ("azure://c/x", "not a storage"),
            ("s3:///x", "names no bucket"),
        ] {
            let err = Source::parse(bad).expect_err(bad);
            assert!(err.contains(words), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn a_prefix_is_copied_whole_without_folder_markers() {
        use object_store::PutPayload;
        let memory: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        for (key, body) in [
            ("iris/", ""),
            ("iris/model.joblib", "weights"),
            ("iris/sub/", ""),
            ("iris/sub/metadata.yaml", "name: iris"),
            ("other/model.joblib", "not this one"),
        ] {
            memory
                .put(&StorePath::from(key), PutPayload::from(body.as_bytes().to_vec()))
                .await
                .expect("put");
        }
        let dir = std::env::temp_dir().join(format!("sluice-models-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let seen = std::sync::Mutex::new(Vec::new());
        let progress = |done: u64, total: u64| seen.lock().expect("lock").push((done, total));
        copy(&memory, "iris", false, "s3://b/iris", &dir, &progress)
            .await
            .expect("copied");
        assert_eq!(
            std::fs::read_to_string(dir.join("model.joblib")).expect("file"),
            "weights"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("sub/metadata.yaml")).expect("file"),
            "name: iris"
        );
        assert!(!dir.join("other").exists());
        assert_eq!(seen.lock().expect("lock").last(), Some(&(17, 17)));
        // Nothing under a prefix is an error, not an empty model.
        let err = copy(&memory, "missing", false, "s3://b/missing", &dir, &progress)
            .await
            .expect_err("empty");
        assert!(err.to_string().contains("no objects under it"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn urls_split_into_origin_and_path() {
        assert_eq!(
            split_url("https://example.com:8443/models/m.joblib"),
            ("https://example.com:8443".into(), "models/m.joblib".into())
        );
        assert_eq!(split_url("http://h"), ("http://h".into(), String::new()));
        assert_eq!(cache_key("s3://a/b").len(), 32);
    }
}
