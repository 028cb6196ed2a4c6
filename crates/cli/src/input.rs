//! Reading `-f FILE|DIR|-` arguments: files and directories as `sluice gateway` and
//! `sluice up` read them, and `-` for stdin.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use sluice_api::load::Source;

/// The texts of every `-f` argument, in order.
pub(crate) fn read(args: &[PathBuf]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
            out.push(Source {
                name: "<stdin>".to_string(),
                text,
            });
        } else {
            out.extend(sluice_gateway::config::read(std::slice::from_ref(arg))?);
        }
    }
    Ok(out)
}
