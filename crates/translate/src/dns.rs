//! Kubernetes and Istio name rules, with messages that say what would be valid.

const LABEL_RULE: &str = "a DNS-1123 label is at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit";

/// RFC 1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, at most 63.
pub fn check_label(s: &str) -> Result<(), String> {
    check_label_chars(s, Some(63)).map_err(|why| format!("{why}; {LABEL_RULE}"))
}

/// RFC 1035 label (what a Service name must be): like a DNS-1123 label, but starting with a letter.
pub fn check_service_name(s: &str) -> Result<(), String> {
    let rule = "a DNS-1035 label is at most 63 lowercase letters, digits or '-', starting with a letter and ending with a letter or digit";
    check_label_chars(s, Some(63))
        .and_then(|()| match s.chars().next() {
            Some(c) if c.is_ascii_lowercase() => Ok(()),
            _ => Err("it must start with a letter".to_string()),
        })
        .map_err(|why| format!("{why}; {rule}"))
}

/// RFC 1123 subdomain: dot-separated labels of at most 63, at most 253 in all.
pub fn check_subdomain(s: &str) -> Result<(), String> {
    check_dotted(s, Some(63))
}

/// A Kubernetes object name, as the API server checks it: a DNS-1123 subdomain by its
/// pattern and total length (the API server does not limit the length of each label).
pub fn check_object_name(s: &str) -> Result<(), String> {
    check_dotted(s, None)
}

fn check_dotted(s: &str, max_label: Option<usize>) -> Result<(), String> {
    if s.len() > 253 {
        return Err(format!(
            "it is {} characters long; a DNS-1123 subdomain has at most 253",
            s.len()
        ));
    }
    for label in s.split('.') {
        check_label_chars(label, max_label).map_err(|why| {
            format!("label {label:?}: {why}; each dot-separated part is lowercase letters, digits or '-', starting and ending with a letter or digit")
        })?;
    }
    Ok(())
}

/// A VirtualService host: `*`, `*.suffix`, a short name or a fully qualified name.
pub fn check_host(s: &str) -> Result<(), String> {
    if s == "*" {
        return Ok(());
    }
    let rest = s.strip_prefix("*.").unwrap_or(s);
    if rest.contains('*') {
        return Err(
            "a wildcard is allowed only as the whole host or as its first label ('*.example.com')"
                .to_string(),
        );
    }
    // Hosts match case-insensitively (the gateway lower-cases them).
    check_subdomain(&rest.to_ascii_lowercase())
}

fn check_label_chars(s: &str, max_len: Option<usize>) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".to_string());
    }
    if let Some(max) = max_len
        && s.len() > max
    {
        return Err(format!("it is {} characters long", s.len()));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!("{c:?} is not allowed"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("it starts or ends with '-'".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "main", "canary-2", "0abc", &"x".repeat(63)] {
            assert_eq!(check_label(ok), Ok(()), "{ok}");
        }
        for bad in ["", "Main", "a_b", "-a", "a-", "a.b", &"x".repeat(64)] {
            assert!(check_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn service_names_start_with_a_letter() {
        assert_eq!(check_service_name("canary-example-1"), Ok(()));
        let err = check_service_name("1abc").expect_err("starts with a digit");
        assert!(err.contains("DNS-1035"), "{err}");
    }

    #[test]
    fn object_names_do_not_limit_label_length() {
        assert_eq!(check_object_name(&"b".repeat(64)), Ok(()));
        assert_eq!(check_object_name("my.model"), Ok(()));
        let long_label = "a".repeat(62);
        for bad in [
            "",
            "My",
            "a..b",
            "-a",
            &"b".repeat(254),
            &format!("{long_label}aa_"),
            &format!("{long_label}a-"),
            &format!("{long_label}é"),
        ] {
            assert!(check_object_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        for ok in [
            "*",
            "*.example.com",
            "seldon.io",
            "canary-example-1",
            "a.b.c",
            "10.0.0.1",
            "Seldon.io",
        ] {
            assert_eq!(check_host(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            "*a.com",
            "a.*.com",
            "a b",
            "a.com:80",
            &"x".repeat(64),
        ] {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }
}
