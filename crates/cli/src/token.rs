//! `sluice token`: a local test issuer for RequestAuthentication — make a signing key,
//! print its JWKS (for a rule's `jwks`), and mint tokens signed with it (ES256).
//! For testing policies on a laptop; never a production identity provider.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

/// What `sluice token` was asked for.
#[derive(Debug)]
pub(crate) struct TokenArgs {
    pub(crate) key: std::path::PathBuf,
    pub(crate) new_key: bool,
    pub(crate) jwks: bool,
    pub(crate) issuer: String,
    pub(crate) subject: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) claims: Vec<String>,
    pub(crate) expires_in: String,
    pub(crate) kid: String,
}

/// Run `sluice token`.
pub(crate) fn token(args: &TokenArgs) -> Result<()> {
    if args.new_key {
        if args.key.exists() {
            bail!("{} exists; choose another path or remove it", args.key.display());
        }
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| anyhow::anyhow!("cannot generate a key"))?;
        std::fs::write(&args.key, pem("PRIVATE KEY", pkcs8.as_ref()))
            .with_context(|| format!("cannot write {}", args.key.display()))?;
        eprintln!("wrote a P-256 signing key to {}", args.key.display());
        return Ok(());
    }
    let pkcs8 = read_key(&args.key)?;
    if args.jwks {
        println!("{}", jwks(&pkcs8, &args.kid)?);
        return Ok(());
    }
    let lifetime = sluice_api::duration::parse(&args.expires_in).with_context(|| {
        format!(
            "--expires-in {:?} is not a duration such as 1h or 30s",
            args.expires_in
        )
    })?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(args.issuer));
    claims.insert("sub".into(), json!(args.subject));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + lifetime.as_secs()));
    match args.audiences.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    for claim in &args.claims {
        let (name, value) = claim.split_once('=').with_context(|| {
            format!("--claim {claim:?} is not NAME=VALUE (VALUE may be JSON, e.g. groups=[\"a\",\"b\"])")
        })?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        claims.insert(name.to_string(), value);
    }
    println!("{}", sign(&pkcs8, &args.kid, &Value::Object(claims))?);
    Ok(())
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The PKCS#8 DER of a PEM key file written by `--new-key`.
fn read_key(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read {} (make one with sluice token --new-key --key {})",
            path.display(),
            path.display()
        )
    })?;
    // The base64 between the BEGIN and END lines; comments around them are allowed.
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = STANDARD
        .decode(body.trim())
        .with_context(|| format!("{} is not a PEM key", path.display()))?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a P-256 key in PKCS#8 (make one with --new-key)",
            path.display()
        )
    })?;
    Ok(der)
}

/// The JWKS with the key's public half.
fn jwks(pkcs8: &[u8], kid: &str) -> Result<String> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .map_err(|_| anyhow::anyhow!("not a P-256 key"))?;
    let point = pair.public_key().as_ref();
    if point.len() != 65 {
        bail!("unexpected public key encoding");
    }
    Ok(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]})
    .to_string())
}

/// A compact JWS (ES256) of `claims`.
fn sign(pkcs8: &[u8], kid: &str, claims: &Value) -> Result<String> {
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
        .map_err(|_| anyhow::anyhow!("not a P-256 key"))?;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair
        .sign(&SystemRandom::new(), input.as_bytes())
        .map_err(|_| anyhow::anyhow!("cannot sign"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_against_the_printed_jwks() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .expect("key");
        let set: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(&jwks(pkcs8.as_ref(), "k").expect("jwks")).expect("set");
        let token = sign(pkcs8.as_ref(), "k", &json!({"iss": "i", "sub": "s"})).expect("sign");
        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let key = jsonwebtoken::DecodingKey::from_jwk(&set.keys[0]).expect("key");
        assert!(
            jsonwebtoken::crypto::verify(signature, input.as_bytes(), &key, jsonwebtoken::Algorithm::ES256)
                .expect("verify")
        );
    }
}
