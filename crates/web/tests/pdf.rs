//! PDF pages served for real on loopback and fetched as the gate's executor does: a real
//! document made by groff (`tests/fixtures/pancakes.pdf`, with a line hidden in white 4-point
//! type), read by the real parser; garbage behind a PDF header, a cut copy of the document, a
//! document the parser panics on, one with no text, and one over `[web] max_bytes`. Each must
//! give text or a clear error, and the service must go on working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use sov_web::{Error, Web};

mod support;

fn pancakes() -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pancakes.pdf")).unwrap()
}

/// A PDF of `objects` (numbered from 1) with a correct cross-reference table.
fn pdf_of<T: AsRef<[u8]>>(objects: &[T]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object.as_ref());
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

/// One page drawing `content`, with `media_box` (the page's size) or none.
fn one_page(media_box: bool, content: &str) -> Vec<u8> {
    let page = if media_box {
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>"
    } else {
        "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>"
    };
    let stream = format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len());
    pdf_of(&["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, stream.as_str()])
}

/// A page that draws the form `/X0`; form `Xi` draws `X(i+1)` `times` times, `depth` forms deep;
/// the last draws `last`.
fn drawings(depth: usize, times: usize, last: &str) -> Vec<u8> {
    let names: String = (0..=depth).map(|i| format!("/X{i} {} 0 R ", i + 5)).collect();
    let page = format!(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << {names}>> >> /Contents 4 0 R >>"
    );
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        page,
        "<< /Length 6 >>\nstream\n/X0 Do\nendstream".to_owned(),
    ];
    for i in 0..=depth {
        let content = if i == depth { last.to_owned() } else { format!("/X{} Do ", i + 1).repeat(times) };
        objects.push(format!(
            "<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    pdf_of(&objects)
}

/// A stream object of `len` spaces, packed by zlib (about a thousandth of that).
fn packed(dict: &str, len: usize) -> Vec<u8> {
    use std::io::Write as _;
    let mut packer = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..len >> 20 {
        packer.write_all(&spaces).unwrap();
    }
    let packed = packer.finish().unwrap();
    let mut stream = format!("<< {dict} /Filter /FlateDecode /Length {} >>\nstream\n", packed.len()).into_bytes();
    stream.extend_from_slice(&packed);
    stream.extend_from_slice(b"\nendstream");
    stream
}

/// A page whose content unpacks from about 64 KB to 64 MiB of spaces.
fn zip_bomb() -> Vec<u8> {
    let page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>";
    let catalog = "<< /Type /Catalog /Pages 2 0 R >>";
    pdf_of(&[catalog.as_bytes(), b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page.as_bytes(), &packed("", 64 << 20)])
}

/// A page that sets a colour space with a 1 MiB profile (1 KB packed) 100 times: the parser
/// unpacks it each time.
fn colours() -> Vec<u8> {
    let page = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /ColorSpace << /C0 [/ICCBased 5 0 R] >> >> /Contents 4 0 R >>";
    let content = "/C0 cs ".repeat(100);
    let content = format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len());
    pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".as_slice(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        page.as_bytes(),
        content.as_bytes(),
        &packed("/N 3", 1 << 20),
    ])
}

/// Serves each path's `(content type, body)` on loopback (404 for any other); the base URL.
async fn serve(pages: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    support::serve(move |head| match pages.iter().find(|(p, _, _)| *p == support::path_of(head)) {
        Some((_, content_type, body)) => (200, (*content_type).to_owned(), body.clone()),
        None => (404, "text/plain".into(), Vec::new()),
    })
    .await
}

fn web(dir: &Path, max_bytes: usize) -> Web {
    web_with(dir, max_bytes, 10)
}

fn web_with(dir: &Path, max_bytes: usize, timeout_secs: u64) -> Web {
    let text = format!(
        "[web]\nallow = [\"127.0.0.1\"]\nmax_bytes = {max_bytes}\ntimeout_secs = {timeout_secs}\nmax_redirects = 3\nengines = []\n"
    );
    let config = sov_core::config::Config::parse(&text, &dir.join("config.toml"), Some(dir)).unwrap();
    let net = sov_net::Net::new(&config.net, dir).unwrap();
    Web::new(&config, net.http(sov_net::Class::Web)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_is_read_as_text_and_its_hidden_instruction_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let body = pancakes();
    let size = body.len();
    let base = serve(vec![("/pancakes.pdf", "application/pdf", body)]).await;
    let web = web(dir.path(), 1 << 20);

    let started = std::time::Instant::now();
    let page = web.fetch(&format!("{base}/pancakes.pdf")).await.unwrap();
    let took = started.elapsed();
    println!("{size} bytes fetched and read in {took:?}");

    assert_eq!((page.status, page.content_type.as_str(), page.bytes), (200, "application/pdf", size));
    assert_eq!((page.title.as_str(), page.truncated), ("Pancakes for a Sunday", false));
    assert!(
        page.text
            .contains("Mix two cups of flour, two eggs and a cup of milk, and let the batter rest for ten minutes."),
        "{}",
        page.text
    );
    assert!(page.text.contains("Serve warm with lemon and sugar."), "{}", page.text);
    // The line a reader of the PDF does not see (white, 4 pt) is in the text layer, and flagged.
    let kinds: Vec<_> = page.flags.iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&"override") && kinds.contains(&"exfiltration"), "{:?}", page.flags);
    assert!(page.flags.iter().any(|f| f.excerpt.contains("attacker@evil.example")), "{:?}", page.flags);
    let framed = page.framed();
    assert!(framed.starts_with(&format!("<<<WEB CONTENT source=web.fetch url={base}/pancakes.pdf>>>")), "{framed}");
    assert!(framed.contains("[flagged: "), "{framed}");
    assert!(framed.contains("# Pancakes for a Sunday\n\n"), "{framed}");
    assert!(framed.trim_end().ends_with("<<<END WEB CONTENT>>>"), "{framed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_pdfs_are_clear_errors_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let real = pancakes();
    // Garbage behind a header: bytes of a fixed pseudo-random sequence.
    let mut garbage = b"%PDF-1.4\n".to_vec();
    let mut x: u32 = 0x2545_4f46;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push(x as u8);
    }
    let cut = real[..real.len() * 2 / 3].to_vec();
    let base = serve(vec![
        ("/garbage.pdf", "application/pdf", garbage),
        // Served whole, with its own length: the server cut it, not the limit.
        ("/cut.pdf", "application/pdf", cut),
        // A page without a size: the parser unwraps it and panics.
        ("/panics.pdf", "application/pdf", one_page(false, "BT /F1 12 Tf (hello) Tj ET")),
        // A page that draws nothing: what a scanned page is, less its picture.
        ("/scanned.pdf", "application/pdf", one_page(true, "")),
        // A drawing that draws itself: followed, the parser overflows its stack and aborts.
        ("/draws-itself.pdf", "application/pdf", drawings(0, 1, "/X0 Do")),
        // A page that is its own parent, with no size to find: the parser climbs for ever.
        (
            "/own-parent.pdf",
            "application/pdf",
            pdf_of(&[
                "<< /Type /Catalog /Pages 2 0 R >>",
                "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                "<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>",
                "<< /Length 5 >>\nstream\nBT ET\nendstream",
            ]),
        ),
        // Drawings of drawings, 8 times over, 10 deep: a billion drawings from 2 KB.
        ("/laughs.pdf", "application/pdf", drawings(10, 8, "BT /F1 12 Tf (ha) Tj ET")),
        ("/zip-bomb.pdf", "application/pdf", zip_bomb()),
        ("/colours.pdf", "application/pdf", colours()),
        ("/pancakes.pdf", "application/pdf; charset=binary", real),
    ])
    .await;
    let web = web(dir.path(), 1 << 20);

    for (path, says) in [
        ("/garbage.pdf", "it is not a well-formed PDF"),
        ("/cut.pdf", "it is not a well-formed PDF"),
        ("/panics.pdf", "the PDF parser failed on it (MediaBox)"),
        ("/scanned.pdf", "no text layer (a scanned PDF?)"),
        ("/draws-itself.pdf", "a drawing in it draws itself"),
        ("/own-parent.pdf", "its page tree loops"),
        ("/laughs.pdf", "reading it means going through more than 64 MiB (drawings drawn again and again, nested"),
        ("/colours.pdf", "reading it means going through more than 64 MiB"),
        ("/zip-bomb.pdf", "its streams unpack to more than 32 MiB, more than is read safely"),
    ] {
        let url = format!("{base}{path}");
        let err = web.fetch(&url).await.unwrap_err();
        println!("{path}: {err}");
        assert!(matches!(err, Error::Page(_)), "{path}: {err:?}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("{url}: the PDF could not be read: ")), "{path}: {message}");
        assert!(message.contains(says), "{path}: {message}");
    }

    // After all that, the real document still reads.
    let page = web.fetch(&format!("{base}/pancakes.pdf")).await.unwrap();
    assert!(page.text.contains("Fry each pancake in a little butter"), "{}", page.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_over_max_bytes_is_refused_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let real = pancakes();
    assert!(real.len() > 4096);
    let base = serve(vec![("/pancakes.pdf", "application/pdf", real)]).await;
    let web = web(dir.path(), 4096);

    let url = format!("{base}/pancakes.pdf");
    let err = web.fetch(&url).await.unwrap_err();
    println!("{err}");
    assert!(matches!(err, Error::Limit(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{url}: the PDF could not be read: it is longer than 4096 bytes ([web] max_bytes), and a PDF cut short \
             cannot be read (its index is at the end); raise [web] max_bytes to read it"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_that_reads_too_slowly_ends_at_the_deadline_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    // Within every bound (64 MiB for a 2 MiB limit), but much to draw: 1 MiB of lines drawn 60
    // times, seconds of work for a deadline of one.
    let slow = drawings(1, 60, &"0 0 m 10 10 l 20 0 l h S\n".repeat(40_000));
    let base =
        serve(vec![("/slow.pdf", "application/pdf", slow), ("/pancakes.pdf", "application/pdf", pancakes())]).await;
    let web = web_with(dir.path(), 2 << 20, 1);

    let url = format!("{base}/slow.pdf");
    let started = std::time::Instant::now();
    let err = web.fetch(&url).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, Error::Limit(_)), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!("{url}: the PDF could not be read in time ([web] timeout_secs)")),
        "{err}"
    );
    assert!(took < std::time::Duration::from_secs(3), "the fetch waited for the parser: {took:?}");
    // The parser's thread still runs, holding one of the two places; the other is free.
    let page = web.fetch(&format!("{base}/pancakes.pdf")).await.unwrap();
    assert_eq!(page.title, "Pancakes for a Sunday");
}
