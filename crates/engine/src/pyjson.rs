//! JSON exactly as Python's `json.dumps(sort_keys=True, separators=(",", ":"))` writes it
//! (what Seldon's Flask wrapper sends): sorted keys, compact, ASCII only, and Python's
//! float repr (`1.0`, `2.456755150038932e-06`, `NaN`, `Infinity`).

use serde_json::Value;

/// Python's `repr(float)`: the shortest digits that round-trip, in exponent form below
/// 1e-4 or from 1e16, with a signed two-digit (or longer) exponent.
pub fn float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_string();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "2.456755150038932e-6".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if (-4..16).contains(&exponent) {
        // Fixed notation: place the point after `exponent + 1` digits.
        let point = exponent + 1;
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat(usize::try_from(-point).unwrap_or(0)), digits)
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() <= point {
                format!("{}{}.0", digits, "0".repeat(point - digits.len()))
            } else {
                format!("{}.{}", &digits[..point], &digits[point..])
            }
        };
        format!("{sign}{body}")
    } else {
        let mantissa = if digits.len() == 1 {
            digits.clone()
        } else {
            format!("{}.{}", &digits[..1], &digits[1..])
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// Prefix marking a string that holds a non-finite float token (`NaN`, `Infinity`), which
/// JSON values cannot hold but Python writes bare.
const RAW_FLOAT: &str = "\u{0}pyfloat:";

/// A JSON value for `x`: a number, or for NaN and infinities a value written as Python's
/// bare token by [`to_string`].
pub fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or_else(
        || Value::String(format!("{RAW_FLOAT}{}", float(x))),
        Value::Number,
    )
}

/// Serialize like the wrapper does, with the trailing newline Flask adds.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out.push('\n');
    out
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&float(f)),
            _ => out.push_str("null"),
        },
        Value::String(s) => match s.strip_prefix(RAW_FLOAT) {
            Some(token) => out.push_str(token),
            None => string(s, out),
        },
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // serde_json's Map is sorted by key (no `preserve_order` feature).
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(k, out);
                out.push(':');
                write(v, out);
            }
            out.push('}');
        }
    }
}

fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        for (x, repr) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (0.43782349911420193, "0.43782349911420193"),
            (2.456755150038932e-6, "2.456755150038932e-06"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (2.0130732169752545e-45, "2.0130732169752545e-45"),
            (1.3225239252321295e-308, "1.3225239252321295e-308"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (0.0, "0.0"),
            (123.456, "123.456"),
        ] {
            assert_eq!(float(x), repr, "{x:e}");
        }
    }

    #[test]
    fn objects_are_sorted_compact_and_ascii() {
        let v: Value = serde_json::json!({"b": [1, 2.5, true, null], "a": "é\n\"", "c": {"z": 1, "y": 1e-6}});
        assert_eq!(
            to_string(&v),
            "{\"a\":\"\\u00e9\\n\\\"\",\"b\":[1,2.5,true,null],\"c\":{\"y\":1e-06,\"z\":1}}\n"
        );
    }
}
