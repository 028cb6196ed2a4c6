//! Reading `-f FILE|DIR|-` arguments into parsed YAML documents.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sluice_api::document::{self, Document, ParseError};

/// One input file (or stdin) and its documents.
pub(crate) struct Source {
    /// The name shown in diagnostics: the path as given, or `<stdin>`.
    pub(crate) name: String,
    /// The parsed documents, or why the file is not valid YAML.
    pub(crate) documents: Result<Vec<Document>, ParseError>,
}

/// Read every `-f` argument: files, directories (their `.yaml`, `.yml` and `.json`
/// files, sorted, not recursive, as `kubectl -f DIR`), or `-` for stdin.
pub(crate) fn read(args: &[PathBuf]) -> Result<Vec<Source>> {
    let mut files = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            files.push(None);
        } else if arg.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(arg)
                .with_context(|| format!("cannot list directory {}", arg.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_manifest(p))
                .collect();
            if found.is_empty() {
                bail!("directory {} has no .yaml, .yml or .json files", arg.display());
            }
            found.sort();
            files.extend(found.into_iter().map(Some));
        } else {
            files.push(Some(arg.clone()));
        }
    }
    files
        .into_iter()
        .map(|file| {
            let (name, text) = match file {
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("cannot read stdin")?;
                    ("<stdin>".to_string(), text)
                }
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    (path.display().to_string(), text)
                }
            };
            Ok(Source {
                name,
                documents: document::parse(&text),
            })
        })
        .collect()
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}
