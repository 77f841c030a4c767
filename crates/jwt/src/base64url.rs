//! Strict, unpadded base64url decoding (RFC 4648 §5, as JWS requires in RFC 7515 §2).
//!
//! "Strict" means every token has exactly one accepted spelling, so a signature or claim set
//! cannot be re-encoded into a different string that still verifies:
//! - only the 64 alphabet bytes `A–Z a–z 0–9 - _` are accepted (no `=`, `+`, `/`, whitespace);
//! - a length of `4n + 1` is impossible and rejected;
//! - the unused low bits of the last character must be zero (canonical trailing bits).
//!
//! It is hand-rolled because the inputs are tiny (a 43-byte signature, a ~70-byte claim set)
//! and a table lookup per byte with one validity check per quantum beats a general engine
//! there. The property tests check it against `base64`'s strict `URL_SAFE_NO_PAD` engine.

/// Set in every [`DECODE`] entry of a byte outside the alphabet. It lies above the 24 bits a
/// quantum of four characters decodes to, so OR-ing the lookups of a whole segment and testing
/// this one bit finds any invalid byte.
const INVALID: u32 = 1 << 24;

/// `DECODE[k][byte]` is the sextet of `byte`, already shifted to its place as the `k`-th
/// character of a quantum (`<< 18`, `<< 12`, `<< 6`, `<< 0`), or [`INVALID`]. Four lookups
/// OR-ed together give the decoded 24 bits with no per-character shifting or masking (the
/// classic table-driven scalar decoder; 4 KiB, hot in L1 on this path).
static DECODE: [[u32; 256]; 4] = build_decode_tables();

const fn build_decode_tables() -> [[u32; 256]; 4] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tables = [[INVALID; 256]; 4];
    let mut i = 0;
    while i < alphabet.len() {
        let sextet = i as u32;
        let byte = alphabet[i] as usize;
        tables[0][byte] = sextet << 18;
        tables[1][byte] = sextet << 12;
        tables[2][byte] = sextet << 6;
        tables[3][byte] = sextet;
        i += 1;
    }
    tables
}

/// Why a segment is not strict unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base64Error {
    /// A length of `4n + 1` characters cannot encode whole bytes.
    ImpossibleLength,
    /// A byte outside the base64url alphabet (this includes `=` padding).
    InvalidByte,
    /// The last character carries non-zero bits that no encoder would emit.
    NonCanonicalTrailingBits,
    /// The output buffer is too small (a caller bug or an oversize input).
    OutputTooSmall,
}

/// Number of bytes `encoded_len` base64url characters decode to, if that length is possible.
pub(crate) const fn decoded_len(encoded_len: usize) -> Option<usize> {
    match encoded_len % 4 {
        1 => None,
        0 => Some(encoded_len / 4 * 3),
        rem => Some(encoded_len / 4 * 3 + rem - 1),
    }
}

/// Decodes `input` into the front of `out` and returns the number of bytes written.
pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> Result<usize, Base64Error> {
    let len = decoded_len(input.len()).ok_or(Base64Error::ImpossibleLength)?;
    let out = out.get_mut(..len).ok_or(Base64Error::OutputTooSmall)?;
    let [d0, d1, d2, d3] = &DECODE;

    let (quads, tail) = input.split_at(input.len() / 4 * 4);
    let (out_full, out_tail) = out.split_at_mut(quads.len() / 4 * 3);
    // Accumulate every looked-up word; one branch at the end instead of one per quantum.
    let mut seen = 0u32;
    for (quad, triple) in quads.chunks_exact(4).zip(out_full.chunks_exact_mut(3)) {
        let word = d0[usize::from(quad[0])]
            | d1[usize::from(quad[1])]
            | d2[usize::from(quad[2])]
            | d3[usize::from(quad[3])];
        seen |= word;
        triple.copy_from_slice(&word.to_be_bytes()[1..]);
    }

    // A final partial quantum carries 8 or 16 bits in 12 or 18; the spare low bits must be 0.
    let (word, spare_bits) = match *tail {
        [] => (0, 0),
        [a, b] => (d0[usize::from(a)] | d1[usize::from(b)], 0xFFFF),
        [a, b, c] => (
            d0[usize::from(a)] | d1[usize::from(b)] | d2[usize::from(c)],
            0xFF,
        ),
        // `decoded_len` already rejected a single trailing character.
        _ => return Err(Base64Error::ImpossibleLength),
    };
    if (seen | word) & INVALID != 0 {
        return Err(Base64Error::InvalidByte);
    }
    if word & spare_bits != 0 {
        return Err(Base64Error::NonCanonicalTrailingBits);
    }
    out_tail.copy_from_slice(&word.to_be_bytes()[1..1 + out_tail.len()]);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use proptest::prelude::*;

    fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
        let mut out = vec![0u8; input.len()];
        let len = decode_into(input, &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    #[test]
    fn decodes_rfc4648_vectors_without_padding() {
        let vectors: [(&str, &str); 7] = [
            ("", ""),
            ("Zg", "f"),
            ("Zm8", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg", "foob"),
            ("Zm9vYmE", "fooba"),
            ("Zm9vYmFy", "foobar"),
        ];
        for (encoded, plain) in vectors {
            assert_eq!(
                decode(encoded.as_bytes()).unwrap(),
                plain.as_bytes(),
                "{encoded}"
            );
        }
    }

    #[test]
    fn uses_the_url_safe_alphabet() {
        assert_eq!(decode(b"-_8").unwrap(), [0xFB, 0xFF]);
        assert_eq!(decode(b"+/8"), Err(Base64Error::InvalidByte));
    }

    #[test]
    fn rejects_padding_whitespace_and_impossible_lengths() {
        assert_eq!(decode(b"Zg=="), Err(Base64Error::InvalidByte));
        assert_eq!(decode(b"Zm8="), Err(Base64Error::InvalidByte));
        assert_eq!(decode(b"Zm9v\n"), Err(Base64Error::ImpossibleLength));
        assert_eq!(decode(b"Zm 9v"), Err(Base64Error::ImpossibleLength));
        assert_eq!(decode(b"Zm 9vY"), Err(Base64Error::InvalidByte));
        assert_eq!(decode(b"Zm9vY"), Err(Base64Error::ImpossibleLength));
    }

    #[test]
    fn rejects_non_canonical_trailing_bits() {
        // "Zg" is the canonical spelling of "f"; "Zh" differs only in the unused bits.
        assert_eq!(decode(b"Zh"), Err(Base64Error::NonCanonicalTrailingBits));
        assert_eq!(decode(b"Zm9"), Err(Base64Error::NonCanonicalTrailingBits));
    }

    #[test]
    fn refuses_a_too_small_output_buffer() {
        let mut out = [0u8; 2];
        assert_eq!(
            decode_into(b"Zm9v", &mut out),
            Err(Base64Error::OutputTooSmall)
        );
    }

    proptest! {
        /// Any byte string decodes exactly when the strict reference engine accepts it, and
        /// to the same bytes.
        #[test]
        fn agrees_with_the_strict_reference_engine(input in proptest::collection::vec(
            prop_oneof![
                8 => proptest::sample::select(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()),
                1 => any::<u8>(),
            ],
            0..64,
        )) {
            let reference = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&input);
            let ours = decode(&input);
            prop_assert_eq!(ours.is_ok(), reference.is_ok(), "input {:?}", String::from_utf8_lossy(&input));
            if let (Ok(ours), Ok(reference)) = (ours, reference) {
                prop_assert_eq!(ours, reference);
            }
        }

        /// Every encoding produced by the reference engine round-trips.
        #[test]
        fn round_trips_reference_encodings(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes);
            prop_assert_eq!(decode(encoded.as_bytes()).unwrap(), bytes);
        }
    }
}
