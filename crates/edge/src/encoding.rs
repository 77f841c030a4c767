//! `Accept-Encoding` negotiation (RFC 9110 §12.5.3) between the three representations a
//! static file can have: brotli, gzip and identity.
//!
//! Each coding gets the q-value the header gives it by name, else the value of `*`, else the
//! default: not acceptable for `br`/`gzip`, acceptable for `identity` but below any coding the
//! client names (`gzip;q=0.5` still beats an unlisted identity, as in nginx). The acceptable coding
//! with the highest q that exists on disk wins; ties go to the smaller representation (br,
//! then gzip, then identity). h2load's `br;q=1, gzip;q=0.8` therefore gets brotli, and
//! `gzip, deflate` (curl, most proxies) gets gzip. When nothing acceptable exists (say
//! `identity;q=0` for a file without siblings), identity is served anyway: RFC 9110 allows
//! disregarding the header instead of answering 406, which is what nginx does too.

/// A representation of a static file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// Preference order on equal q-values: smallest first.
    pub const PREFERENCE: [Coding; 3] = [Coding::Brotli, Coding::Gzip, Coding::Identity];

    /// The `Content-Encoding` token (`None` for identity, which is never sent).
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Coding::Brotli => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }
}

/// q-values in thousandths (0–1000), as the grammar allows three decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Weights {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl Weights {
    fn parse(header: &str) -> Self {
        let mut weights = Weights::default();
        for item in header.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                if let Some((key, value)) = param.split_once('=') {
                    if key.trim().eq_ignore_ascii_case("q") {
                        q = parse_qvalue(value.trim());
                    }
                }
            }
            // An unparsable q-value makes the whole element invalid: ignore it.
            let Some(q) = q else { continue };
            let slot = if name.eq_ignore_ascii_case("br") {
                &mut weights.br
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut weights.gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut weights.identity
            } else if name == "*" {
                &mut weights.any
            } else {
                continue;
            };
            // A coding listed twice keeps its highest weight.
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        weights
    }

    fn of(&self, coding: Coding) -> u16 {
        match coding {
            Coding::Brotli => self.br.or(self.any).unwrap_or(0),
            Coding::Gzip => self.gzip.or(self.any).unwrap_or(0),
            // Unlisted identity is acceptable, but any coding the client names beats it.
            Coding::Identity => self.identity.or(self.any).unwrap_or(1),
        }
    }
}

/// `0`, `0.5`, `1`, `1.000`, … → thousandths; anything else (or above 1) → `None`.
fn parse_qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for digit in fraction.bytes() {
        thousandths += u16::from(digit - b'0') * scale;
        scale /= 10;
    }
    (thousandths <= 1000).then_some(thousandths)
}

/// The coding to serve for `accept_encoding` (the header's value, `None` when absent), given
/// which representations exist (`available(coding)`; identity always does).
pub fn choose(accept_encoding: Option<&str>, available: impl Fn(Coding) -> bool) -> Coding {
    let Some(header) = accept_encoding else {
        return Coding::Identity;
    };
    let weights = Weights::parse(header);
    let mut best = (0, Coding::Identity);
    for coding in Coding::PREFERENCE {
        let q = weights.of(coding);
        if q > best.0 && (coding == Coding::Identity || available(coding)) {
            best = (q, coding);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    fn all(_: Coding) -> bool {
        true
    }

    #[test]
    fn negotiation_matrix() {
        let cases: &[(Option<&str>, Coding)] = &[
            (None, Identity),
            (Some(""), Identity),
            (Some("br"), Brotli),
            (Some("gzip"), Gzip),
            (Some("x-gzip"), Gzip),
            (Some("gzip, deflate"), Gzip),
            (Some("gzip, deflate, br"), Brotli),
            (Some("br;q=1, gzip;q=0.8"), Brotli), // h2load's header in HttpArena
            (Some("br;q=0.5, gzip;q=0.8"), Gzip),
            (Some("br;q=0, gzip"), Gzip),
            (Some("br;q=0"), Identity),
            (Some("identity"), Identity),
            (Some("*"), Brotli),
            (Some("*;q=0.5, gzip"), Gzip),
            (Some("*;q=0"), Identity), // nothing acceptable: identity anyway
            (Some("identity;q=0, gzip;q=0.1"), Gzip),
            (Some("GZIP;Q=0.9, BR;Q=0.1"), Gzip),
            (Some("br;q=1.0001, gzip"), Gzip), // invalid q drops the element
            (Some("br;q=2, gzip"), Gzip),
            (Some("br;q=abc"), Identity),
            (Some("compress, deflate"), Identity),
            (Some(" , ;q=1, br ; q=0.9 "), Brotli),
            (Some("gzip;q=0.500, br;q=0.499"), Gzip),
        ];
        for (header, want) in cases {
            assert_eq!(choose(*header, all), *want, "Accept-Encoding: {header:?}");
        }
    }

    #[test]
    fn missing_siblings_fall_back() {
        let gzip_only = |c: Coding| c == Gzip;
        assert_eq!(choose(Some("br;q=1, gzip;q=0.8"), gzip_only), Gzip);
        let none = |_| false;
        assert_eq!(choose(Some("br, gzip"), none), Identity);
        assert_eq!(choose(Some("identity;q=0, br"), none), Identity);
    }

    #[test]
    fn qvalues_parse_strictly() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("0.8"), Some(800));
        assert_eq!(parse_qvalue("0.001"), Some(1));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        for bad in ["1.001", "0.1234", "2", "-1", "", ".5", "0.x"] {
            assert_eq!(parse_qvalue(bad), None, "{bad}");
        }
    }
}
