//! Identifiers that travel on the wire: Envoy's `x-request-id` and Seldon's `Seldon-Puid`
//! are both random UUID v4 strings.

/// Format 16 random bytes as a UUID v4 (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`).
/// The caller supplies the randomness, so this stays pure.
pub fn uuid_v4(bytes: [u8; 16]) -> String {
    uuid_v4_ascii(bytes).iter().map(|&b| char::from(b)).collect()
}

/// [`uuid_v4`] as its 36 ASCII bytes, made without allocating (for a header value).
pub fn uuid_v4_ascii(mut bytes: [u8; 16]) -> [u8; 36] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        out[at] = HEX[usize::from(byte >> 4)];
        out[at + 1] = HEX[usize::from(byte & 0x0f)];
        at += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_variant_bits_are_set() {
        assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
        assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let bytes: [u8; 16] = std::array::from_fn(|i| (i as u8) * 17);
        assert_eq!(uuid_v4(bytes), "00112233-4455-4677-8899-aabbccddeeff");
        assert_eq!(uuid_v4_ascii(bytes), *b"00112233-4455-4677-8899-aabbccddeeff");
    }
}
