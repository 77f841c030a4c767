//! `data/static/`: the 20 files the edge serves under `/static/`, plus precompressed siblings.
//!
//! Names and sizes are HttpArena's, because the load requests six of them and
//! their sizes set the bytes per request. The content is ours: deterministic, plausible
//! CSS/JS/HTML/SVG/JSON built from small vocabularies with seeded randomness, so it compresses
//! in the same 3–10× range as HttpArena's files; the fonts and images are pseudo-random bytes
//! (incompressible, like real ones) behind a valid WOFF2/WebP header.
//!
//! The 15 text files get a `.gz` (gzip level 9, mtime 0, no file name: reproducible bytes) and
//! a `.br` (brotli quality 11, window 22) sibling, which nginx's `gzip_static` / `brotli_static`
//! serve as-is.

use std::io::Write;

use flate2::{Compression, GzBuilder};

use crate::rng::PyRandom;

/// What a file is, which decides its generator and whether it gets compressed siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Css,
    Js,
    Html,
    Svg,
    Json,
    Woff2,
    Webp,
}

impl Kind {
    /// Text files get `.gz` and `.br` siblings; fonts and images are already compressed.
    pub fn is_text(self) -> bool {
        !matches!(self, Kind::Woff2 | Kind::Webp)
    }
}

/// One file of `data/static/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticFile {
    pub name: &'static str,
    /// Exact size in bytes (HttpArena's).
    pub size: usize,
    pub kind: Kind,
}

impl StaticFile {
    /// Names of the compressed siblings (`reset.css.gz`, `reset.css.br`); none for binaries.
    pub fn sibling_names(&self) -> Vec<String> {
        if self.kind.is_text() {
            SIBLINGS
                .iter()
                .map(|sibling| format!("{}.{}", self.name, sibling.extension()))
                .collect()
        } else {
            Vec::new()
        }
    }
}

const fn file(name: &'static str, size: usize, kind: Kind) -> StaticFile {
    StaticFile { name, size, kind }
}

/// The 20 originals, with HttpArena's exact sizes.
pub const FILES: [StaticFile; 20] = [
    file("reset.css", 8_192, Kind::Css),
    file("layout.css", 25_600, Kind::Css),
    file("theme.css", 18_432, Kind::Css),
    file("components.css", 204_800, Kind::Css),
    file("utilities.css", 61_440, Kind::Css),
    file("analytics.js", 12_288, Kind::Js),
    file("helpers.js", 22_528, Kind::Js),
    file("app.js", 204_800, Kind::Js),
    file("vendor.js", 307_200, Kind::Js),
    file("router.js", 35_840, Kind::Js),
    file("header.html", 122_880, Kind::Html),
    file("footer.html", 56_320, Kind::Html),
    file("icon-sprite.svg", 71_680, Kind::Svg),
    file("logo.svg", 15_344, Kind::Svg),
    file("manifest.json", 2_883, Kind::Json),
    file("regular.woff2", 18_432, Kind::Woff2),
    file("bold.woff2", 22_528, Kind::Woff2),
    file("hero.webp", 46_080, Kind::Webp),
    file("thumb1.webp", 8_192, Kind::Webp),
    file("thumb2.webp", 6_144, Kind::Webp),
];

/// A precompressed sibling format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sibling {
    Gzip,
    Brotli,
}

/// Both sibling formats, in the order they are written.
pub const SIBLINGS: [Sibling; 2] = [Sibling::Gzip, Sibling::Brotli];

impl Sibling {
    pub fn extension(self) -> &'static str {
        match self {
            Sibling::Gzip => "gz",
            Sibling::Brotli => "br",
        }
    }

    /// Compresses `data` into this format, deterministically.
    pub fn compress(self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Sibling::Gzip => gzip(data),
            Sibling::Brotli => brotli(data),
        }
    }
}

/// gzip, level 9, header mtime 0 and no file name (so the bytes depend on the content only).
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::with_capacity(data.len() / 3), Compression::new(9));
    encoder.write_all(data)?;
    encoder.finish()
}

/// brotli, quality 11, window 22 (`lgwin`), the settings of `brotli -q 11`.
pub fn brotli(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder =
        brotli::CompressorWriter::new(Vec::with_capacity(data.len() / 3), 4096, 11, 22);
    encoder.write_all(data)?;
    encoder.flush()?;
    Ok(encoder.into_inner())
}

/// The content of `file`: exactly `file.size` bytes, the same on every call.
pub fn content(file: &StaticFile) -> Vec<u8> {
    let mut rng = PyRandom::new(name_seed(file.name));
    let bytes = match file.kind {
        Kind::Css => css(&mut rng, file),
        Kind::Js => js(&mut rng, file),
        Kind::Html => html(&mut rng, file),
        Kind::Svg if file.name.starts_with("icon") => icon_sprite(&mut rng, file.size),
        Kind::Svg => logo(&mut rng, file.size),
        Kind::Json => manifest(&mut rng, file.size),
        Kind::Woff2 => woff2(&mut rng, file.size),
        Kind::Webp => webp(&mut rng, file),
    };
    debug_assert_eq!(bytes.len(), file.size, "{}", file.name);
    bytes
}

/// Each file has its own stream of randomness, so regenerating one never changes another.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------------------------
// Text: a head, as many generated pieces as fit, whitespace padding, a tail.

/// Builds exactly `size` bytes: `head`, then pieces from `piece` while they fit (stopping after
/// a run of pieces that do not), newline padding, then `tail`. All generators emit ASCII, so
/// byte lengths are character lengths.
fn fill(
    rng: &mut PyRandom,
    size: usize,
    head: &str,
    tail: &str,
    mut piece: impl FnMut(&mut PyRandom) -> String,
) -> Vec<u8> {
    let budget = size.saturating_sub(tail.len());
    let mut out = String::with_capacity(size);
    out.push_str(head);
    let mut misses = 0;
    while misses < 48 && out.len() < budget {
        let next = piece(rng);
        if out.len() + next.len() <= budget {
            out.push_str(&next);
            misses = 0;
        } else {
            misses += 1;
        }
    }
    while out.len() < budget {
        out.push('\n');
    }
    out.push_str(tail);
    let mut bytes = out.into_bytes();
    bytes.truncate(size); // only bites if head + tail alone exceed `size`
    bytes
}

fn pick<'a>(rng: &mut PyRandom, words: &[&'a str]) -> &'a str {
    words.get(rng.index(words.len())).copied().unwrap_or("")
}

fn pick_num(rng: &mut PyRandom, values: &[u32]) -> u32 {
    values.get(rng.index(values.len())).copied().unwrap_or(0)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

const NOUNS: [&str; 40] = [
    "user", "item", "cart", "order", "token", "route", "theme", "layout", "metric", "cache",
    "session", "panel", "modal", "toast", "table", "chart", "filter", "query", "widget", "entity",
    "channel", "config", "record", "payload", "buffer", "stream", "value", "node", "tree", "event",
    "signal", "badge", "avatar", "menu", "tab", "grid", "card", "list", "field", "price",
];

const VERBS: [&str; 30] = [
    "get",
    "set",
    "load",
    "save",
    "render",
    "update",
    "parse",
    "format",
    "validate",
    "merge",
    "map",
    "filter",
    "compute",
    "resolve",
    "fetch",
    "sync",
    "build",
    "apply",
    "toggle",
    "register",
    "sanitize",
    "debounce",
    "throttle",
    "transform",
    "serialize",
    "normalize",
    "create",
    "remove",
    "handle",
    "init",
];

const WORDS: [&str; 48] = [
    "fast",
    "reliable",
    "secure",
    "simple",
    "modern",
    "scalable",
    "benchmark",
    "server",
    "request",
    "response",
    "latency",
    "throughput",
    "cache",
    "edge",
    "proxy",
    "stack",
    "data",
    "query",
    "result",
    "team",
    "project",
    "dashboard",
    "report",
    "insight",
    "metric",
    "update",
    "release",
    "feature",
    "platform",
    "network",
    "protocol",
    "stream",
    "the",
    "and",
    "with",
    "for",
    "your",
    "every",
    "across",
    "without",
    "more",
    "less",
    "real",
    "time",
    "open",
    "source",
    "build",
    "ship",
];

fn ident(rng: &mut PyRandom) -> String {
    format!("{}{}", pick(rng, &VERBS), capitalized(pick(rng, &NOUNS)))
}

fn sentence(rng: &mut PyRandom, min: usize, max: usize) -> String {
    let count = min + rng.index(max - min + 1);
    let words: Vec<&str> = (0..count).map(|_| pick(rng, &WORDS)).collect();
    capitalized(&words.join(" ")) + "."
}

fn color(rng: &mut PyRandom) -> String {
    format!("#{:06x}", rng.getrandbits(24))
}

// --- CSS ---

const COMPONENTS: [&str; 24] = [
    "btn", "card", "nav", "header", "footer", "modal", "toast", "table", "form", "input", "badge",
    "avatar", "menu", "tabs", "grid", "list", "alert", "chip", "tooltip", "sidebar", "hero",
    "panel", "pager", "spinner",
];
const PARTS: [&str; 12] = [
    "title", "body", "icon", "label", "item", "link", "image", "footer", "header", "content",
    "action", "text",
];
const STATES: [&str; 8] = [
    "",
    "",
    "",
    ":hover",
    ":focus",
    ":active",
    "--primary",
    "--compact",
];
const SPACING: [u32; 10] = [0, 2, 4, 6, 8, 12, 16, 20, 24, 32];

fn css_declaration(rng: &mut PyRandom) -> String {
    match rng.randbelow(16) {
        0 => format!("color:{}", color(rng)),
        1 => format!("background-color:{}", color(rng)),
        2 => format!("border:1px solid {}", color(rng)),
        3 => format!(
            "padding:{}px {}px",
            pick_num(rng, &SPACING),
            pick_num(rng, &SPACING)
        ),
        4 => format!(
            "margin:{}px {}",
            pick_num(rng, &SPACING),
            pick(rng, &["auto", "0", "4px", "8px"])
        ),
        5 => format!(
            "font-size:{}",
            pick(
                rng,
                &[".75rem", ".875rem", "1rem", "1.125rem", "1.25rem", "1.5rem", "2rem"]
            )
        ),
        6 => format!(
            "display:{}",
            pick(
                rng,
                &[
                    "block",
                    "flex",
                    "grid",
                    "inline-flex",
                    "none",
                    "inline-block"
                ]
            )
        ),
        7 => format!("border-radius:{}px", pick_num(rng, &[2, 4, 6, 8, 12, 9999])),
        8 => format!("font-weight:{}", pick_num(rng, &[400, 500, 600, 700])),
        9 => format!(
            "transition:{} .{}s ease",
            pick(
                rng,
                &["all", "opacity", "transform", "color", "background-color"]
            ),
            1 + rng.randbelow(4)
        ),
        10 => format!(
            "box-shadow:0 {}px {}px rgba(0,0,0,.{})",
            rng.randbelow(8),
            2 + rng.randbelow(16),
            10 + rng.randbelow(15)
        ),
        11 => format!(
            "justify-content:{}",
            pick(rng, &["center", "space-between", "flex-start", "flex-end"])
        ),
        12 => format!(
            "align-items:{}",
            pick(rng, &["center", "stretch", "baseline"])
        ),
        13 => format!("gap:{}px", pick_num(rng, &SPACING)),
        14 => format!(
            "width:{}",
            pick(
                rng,
                &["100%", "auto", "50%", "320px", "640px", "fit-content"]
            )
        ),
        _ => format!("opacity:.{}", 1 + rng.randbelow(9)),
    }
}

fn css_rule(rng: &mut PyRandom) -> String {
    let mut selector = format!(".{}", pick(rng, &COMPONENTS));
    if rng.randbelow(3) > 0 {
        selector = format!("{selector}__{}", pick(rng, &PARTS));
    }
    selector.push_str(pick(rng, &STATES));
    let count = 2 + rng.index(5);
    let body: Vec<String> = (0..count).map(|_| css_declaration(rng)).collect();
    let rule = format!("{selector}{{{}}}\n", body.join(";"));
    if rng.randbelow(12) == 0 {
        let width = pick_num(rng, &[480, 640, 768, 1024, 1280]);
        format!("@media (min-width:{width}px){{{}}}\n", rule.trim_end())
    } else {
        rule
    }
}

fn css(rng: &mut PyRandom, file: &StaticFile) -> Vec<u8> {
    let mut head = format!("/* {} - prodstack demo styles */\n:root{{", file.name);
    for (i, noun) in NOUNS.iter().take(12).enumerate() {
        if i > 0 {
            head.push(';');
        }
        head.push_str(&format!("--{noun}-color:{}", color(rng)));
    }
    head.push_str("}\n");
    fill(rng, file.size, &head, "", css_rule)
}

// --- JavaScript ---

fn js_piece(rng: &mut PyRandom) -> String {
    let (a, b) = (pick(rng, &NOUNS), pick(rng, &NOUNS));
    match rng.randbelow(5) {
        0 => format!(
            "export function {}({a},{b}s){{const r={b}s.filter(x=>x.{a}!==undefined);if(!r.length)return null;return r.map(x=>({{...x,{a}:x.{a}*{}+{}}}))}}\n",
            ident(rng),
            1 + rng.randbelow(9),
            rng.randbelow(100)
        ),
        1 => format!(
            "const {}_{}_{}={};\n",
            a.to_uppercase(),
            b.to_uppercase(),
            pick(rng, &["MAX", "MIN", "TIMEOUT", "LIMIT", "RETRIES"]),
            rng.randbelow(10_000)
        ),
        2 => format!(
            "class {}{}{{constructor(o={{}}){{this.{a}=o.{a}??null;this.{b}s=[];this.ready=!1}}{}(v){{return this.{b}s.push(v),this}}{}(){{return this.{b}s.length>{}}}}}\n",
            capitalized(a),
            capitalized(b),
            ident(rng),
            ident(rng),
            rng.randbelow(64)
        ),
        3 => format!(
            "async function {}(id){{const res=await fetch(`/api/{a}s/${{id}}`,{{headers:{{\"Accept\":\"application/json\"}}}});if(!res.ok)throw new Error(\"{} failed: \"+res.status);return res.json()}}\n",
            ident(rng),
            ident(rng)
        ),
        _ => format!(
            "export const {}=(e,t={})=>{{let n=0;for(const r of e)n+=r.{a}|0;return n>t?\"{}\":\"{}\"}};\n",
            ident(rng),
            rng.randbelow(1_000),
            pick(rng, &WORDS),
            pick(rng, &WORDS)
        ),
    }
}

fn js(rng: &mut PyRandom, file: &StaticFile) -> Vec<u8> {
    let mut head = format!(
        "// {} - prodstack demo bundle\n\"use strict\";\n",
        file.name
    );
    for module in ["utils", "helpers", "api", "config", "hooks"] {
        let names: Vec<String> = (0..2 + rng.index(3)).map(|_| ident(rng)).collect();
        head.push_str(&format!(
            "import{{{}}}from\"./{module}\";\n",
            names.join(",")
        ));
    }
    fill(rng, file.size, &head, "export default{};\n", js_piece)
}

// --- HTML ---

fn html_piece(rng: &mut PyRandom) -> String {
    match rng.randbelow(3) {
        0 => {
            let links: String = (0..3 + rng.index(4))
                .map(|_| {
                    let noun = pick(rng, &NOUNS);
                    format!(
                        "<li class=\"nav-item\"><a class=\"nav-link\" href=\"/{noun}s\">{}</a></li>",
                        capitalized(noun)
                    )
                })
                .collect();
            format!("<nav class=\"nav\"><ul class=\"nav-list\">{links}</ul></nav>\n")
        }
        1 => format!(
            "<div class=\"card\"><img class=\"card-image\" src=\"/static/thumb{}.webp\" alt=\"{}\" width=\"320\" height=\"180\" loading=\"lazy\"><div class=\"card-body\"><h3 class=\"card-title\">{} {}</h3><p class=\"card-text\">{}</p><a class=\"btn btn--primary\" href=\"/items/{}\">View details</a></div></div>\n",
            1 + rng.randbelow(2),
            capitalized(pick(rng, &NOUNS)),
            capitalized(pick(rng, &WORDS)),
            capitalized(pick(rng, &NOUNS)),
            sentence(rng, 8, 18),
            1 + rng.randbelow(10_000)
        ),
        _ => format!(
            "<section class=\"section section--{}\"><h2 class=\"section-title\">{}</h2><p>{}</p></section>\n",
            pick(rng, &COMPONENTS),
            sentence(rng, 2, 5),
            sentence(rng, 10, 24)
        ),
    }
}

fn html(rng: &mut PyRandom, file: &StaticFile) -> Vec<u8> {
    let mut head = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
    );
    head.push_str(&format!("<title>{}</title>", sentence(rng, 2, 4)));
    for css in ["reset", "layout", "theme", "components", "utilities"] {
        head.push_str(&format!(
            "<link rel=\"stylesheet\" href=\"/static/{css}.css\">"
        ));
    }
    head.push_str("<script type=\"module\" src=\"/static/app.js\"></script></head>\n<body><main class=\"main\">\n");
    fill(rng, file.size, &head, "</main></body></html>\n", html_piece)
}

// --- SVG ---

fn path_data(rng: &mut PyRandom, extent: u32, points: usize) -> String {
    let mut d = format!("M{} {}", rng.randbelow(extent), rng.randbelow(extent));
    for _ in 0..points {
        let command = pick(rng, &["L", "l", "H", "V", "Q"]);
        match command {
            "H" | "V" => d.push_str(&format!("{command}{}", rng.randbelow(extent))),
            "Q" => d.push_str(&format!(
                "Q{} {} {} {}",
                rng.randbelow(extent),
                rng.randbelow(extent),
                rng.randbelow(extent),
                rng.randbelow(extent)
            )),
            _ => d.push_str(&format!(
                "{command}{} {}",
                rng.randbelow(extent),
                rng.randbelow(extent)
            )),
        }
    }
    d.push('Z');
    d
}

fn icon_sprite(rng: &mut PyRandom, size: usize) -> Vec<u8> {
    let mut counter = 0u32;
    fill(
        rng,
        size,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" style=\"display:none\"><defs>\n",
        "</defs></svg>\n",
        |rng| {
            counter += 1;
            let shape = if rng.randbelow(2) == 0 {
                format!(
                    "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\"/>",
                    4 + rng.randbelow(16),
                    4 + rng.randbelow(16),
                    1 + rng.randbelow(6)
                )
            } else {
                format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" fill=\"currentColor\"/>",
                    rng.randbelow(12),
                    rng.randbelow(12),
                    2 + rng.randbelow(10),
                    2 + rng.randbelow(10)
                )
            };
            let points = 3 + rng.index(5);
            format!(
                "<symbol id=\"{}-{counter}\" viewBox=\"0 0 24 24\"><path d=\"{}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>{shape}</symbol>\n",
                pick(rng, &NOUNS),
                path_data(rng, 24, points)
            )
        },
    )
}

fn logo(rng: &mut PyRandom, size: usize) -> Vec<u8> {
    let head = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 240 64\" width=\"240\" height=\"64\"><defs><linearGradient id=\"g\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"1\"><stop offset=\"0\" stop-color=\"{}\"/><stop offset=\"1\" stop-color=\"{}\"/></linearGradient></defs>\n<title>prodstack</title>\n",
        color(rng),
        color(rng)
    );
    fill(
        rng,
        size,
        &head,
        "<text x=\"72\" y=\"40\" font-family=\"system-ui,sans-serif\" font-size=\"28\" font-weight=\"700\" fill=\"url(#g)\">prodstack</text></svg>\n",
        |rng| {
            let points = 3 + rng.index(6);
            format!(
                "<path d=\"{}\" fill=\"{}\" fill-opacity=\".{}\"/>\n",
                path_data(rng, 64, points),
                pick(rng, &["url(#g)", "currentColor", "#1a1a2e", "#16213e"]),
                2 + rng.randbelow(8)
            )
        },
    )
}

// --- JSON (web app manifest) ---

fn manifest(rng: &mut PyRandom, size: usize) -> Vec<u8> {
    let head = format!(
        "{{\"name\":\"Prodstack Web Application\",\"short_name\":\"Prodstack\",\"description\":\"A Rust production stack (edge, auth sidecar, cache-aside app server) benchmarked like HttpArena's production-stack profile\",\"start_url\":\"/\",\"scope\":\"/\",\"display\":\"standalone\",\"orientation\":\"any\",\"theme_color\":\"{}\",\"background_color\":\"{}\",\"lang\":\"en\",\"categories\":[\"developer\",\"utilities\",\"productivity\"],\"icons\":[{{\"src\":\"/static/icons/icon-48.png\",\"sizes\":\"48x48\",\"type\":\"image/png\"}}",
        color(rng),
        color(rng)
    );
    let mut next_size = 48;
    fill(rng, size, &head, "]}\n", |rng| {
        next_size += 8 * (1 + rng.randbelow(8));
        format!(
            ",{{\"src\":\"/static/icons/icon-{next_size}.png\",\"sizes\":\"{next_size}x{next_size}\",\"type\":\"image/png\",\"purpose\":\"{}\"}}",
            pick(rng, &["any", "maskable", "monochrome"])
        )
    })
}

// ---------------------------------------------------------------------------------------------
// Binary: a valid header, then pseudo-random bytes.

/// A WOFF2 file: the 48-byte header (signature `wOF2`, TrueType flavour, the file's length)
/// followed by random bytes standing in for the Brotli-compressed font tables.
fn woff2(rng: &mut PyRandom, size: usize) -> Vec<u8> {
    let length = u32::try_from(size).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"wOF2");
    out.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // flavour: TrueType
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&12u16.to_be_bytes()); // numTables
    out.extend_from_slice(&0u16.to_be_bytes()); // reserved
    out.extend_from_slice(&length.saturating_mul(2).to_be_bytes()); // totalSfntSize
    out.extend_from_slice(&length.saturating_sub(96).to_be_bytes()); // totalCompressedSize
    out.extend_from_slice(&1u16.to_be_bytes()); // majorVersion
    out.extend_from_slice(&0u16.to_be_bytes()); // minorVersion
    out.extend_from_slice(&[0u8; 20]); // no metadata, no private block
    random_tail(rng, out, size)
}

/// A lossy WebP file: `RIFF` header, `VP8 ` chunk with a key-frame tag, the VP8 start code and
/// dimensions, then random bytes standing in for the compressed frame.
fn webp(rng: &mut PyRandom, file: &StaticFile) -> Vec<u8> {
    let (width, height): (u16, u16) = if file.name.starts_with("hero") {
        (1280, 720)
    } else {
        (320, 180)
    };
    let size = file.size;
    let riff_size = u32::try_from(size.saturating_sub(8)).unwrap_or(u32::MAX);
    let chunk_size = u32::try_from(size.saturating_sub(20)).unwrap_or(u32::MAX);
    // Frame tag: bit 0 = 0 (key frame), version 0, bit 4 = show_frame, then the 19-bit size of
    // the first partition.
    let first_partition = (chunk_size / 4).min((1 << 19) - 1);
    let tag = (1u32 << 4) | (first_partition << 5);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_size.to_le_bytes());
    out.extend_from_slice(b"WEBPVP8 ");
    out.extend_from_slice(&chunk_size.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes()[..3]);
    out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&height.to_le_bytes());
    random_tail(rng, out, size)
}

fn random_tail(rng: &mut PyRandom, mut out: Vec<u8>, size: usize) -> Vec<u8> {
    let start = out.len().min(size);
    out.resize(size, 0);
    rng.fill_bytes(&mut out[start..]);
    out
}
