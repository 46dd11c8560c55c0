//! Markdown notes: incremental runs read only what changed, broken files are skipped with a
//! reason and never stop a run, sources come and go.

use std::path::Path;

use pretty_assertions::assert_eq;
use sov_know::{Knowledge, Report};

fn write(dir: &Path, name: &str, text: &[u8]) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn notes() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "garden.md",
        b"# Garden\n\n## Tomatoes\n\nWater the tomatoes every morning.\n\n## Beans\n\nBeans climb.\n",
    );
    write(d, "bikes.md", b"# Bikes\n\nThe chain needs oil every 300 km.\n");
    write(d, "taxes.md", b"# Taxes\n\nFile the return before May.\n");
    std::fs::create_dir(d.join("sub")).unwrap();
    write(d, "sub/recipes.txt", b"Pancakes: flour, milk, eggs.\n");
    std::fs::create_dir(d.join(".git")).unwrap();
    write(d, ".git/config", b"hidden folders are not read");
    dir
}

fn titles(know: &Knowledge, query: &str) -> Vec<(String, String)> {
    know.search(query, None, 10).unwrap().into_iter().map(|h| (h.title, h.heading)).collect()
}

#[test]
fn a_rerun_reads_only_the_edited_and_added_notes_and_drops_the_deleted_one() {
    let notes = notes();
    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(notes.path(), Some("notes"), true).unwrap();
    let first = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((first.seen, first.read, first.indexed, first.passages), (4, 4, 4, 5), "{first:?}");
    let hits = know.search("tomatoes", None, 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].title.as_str(), hits[0].heading.as_str(), hits[0].private), ("Garden", "Tomatoes", true));
    assert!(titles(&know, "hidden folders").is_empty());

    let again = know.index(None, &mut |_| {}).unwrap();
    assert_eq!(again, Report { seen: 4, unchanged: 4, ..Report::default() });

    // Edit one note (same size would still count: the mtime changes), delete one, add one.
    write(notes.path(), "garden.md", b"# Garden\n\n## Tomatoes\n\nWater the tomatoes at night.\n");
    std::fs::remove_file(notes.path().join("taxes.md")).unwrap();
    write(notes.path(), "sub/cats.md", b"# Cats\n\nThe cat eats at six.\n");
    let third = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((third.seen, third.unchanged, third.read, third.indexed, third.removed), (4, 2, 2, 2, 1), "{third:?}");
    assert!(titles(&know, "taxes return").is_empty());
    assert!(titles(&know, "beans").is_empty(), "the old version's section is gone");
    assert_eq!(titles(&know, "night"), vec![("Garden".into(), "Tomatoes".into())]);
    assert_eq!(titles(&know, "cat"), vec![("Cats".into(), String::new())]);
    assert_eq!(know.passages().unwrap(), 4);

    // Touching a file without changing it reads it but writes no passage.
    let garden = std::fs::read(notes.path().join("garden.md")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(notes.path(), "garden.md", &garden);
    let touched = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((touched.read, touched.indexed, touched.commits), (1, 0, 0), "{touched:?}");
    assert_eq!(know.passages().unwrap(), 4);
}

#[test]
fn broken_files_are_listed_with_their_reason_and_the_run_goes_on() {
    let notes = notes();
    let d = notes.path();
    write(d, "latin1.md", b"# Caf\xe9\n\nna\xefve\n");
    write(d, "cut.html", b"<html><head><title>Cut</title></head><body><h1>Cut</h1><p>half a pa");
    write(d, "cut-tag.html", b"<!doctype html><html><body><p>text</p><di");
    write(d, "photo.jpg", b"\xff\xd8\xff\xe0 not really");
    write(d, "nul.txt", b"text\0binary");
    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(d, None, false).unwrap();
    let report = know.index(None, &mut |_| {}).unwrap();
    let mut skipped: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|(p, why)| (p.file_name().unwrap().to_string_lossy().into_owned(), why.clone()))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        vec![
            ("cut-tag.html".into(), "truncated HTML (ends inside a tag)".into()),
            ("cut.html".into(), "truncated HTML (no </html> after <html>)".into()),
            ("latin1.md".into(), "not UTF-8 (invalid byte at offset 5)".into()),
            ("nul.txt".into(), "binary content (a NUL byte at offset 4)".into()),
            ("photo.jpg".into(), "unknown format (.jpg)".into()),
        ]
    );
    assert_eq!(report.indexed, 4, "{report:?}");
    let name = d.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(know.skipped(&name).unwrap().len(), 5);
    let listed = know.list().unwrap();
    assert_eq!((listed[0].1.files, listed[0].1.skipped), (4, 5));

    // Fixed, a file is indexed; still broken ones are not read again.
    write(d, "latin1.md", "# Café\n\nnaïve\n".as_bytes());
    let rerun = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((rerun.read, rerun.indexed, rerun.skipped.len()), (1, 1, 0), "{rerun:?}");
    assert_eq!(titles(&know, "naïve"), vec![("Café".into(), String::new())]);
}

#[test]
fn sources_are_named_searched_apart_and_removed_with_their_passages() {
    let notes = notes();
    let other = tempfile::tempdir().unwrap();
    write(other.path(), "manual.md", b"# Manual\n\nOil the chain of the machine.\n");
    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(notes.path(), Some("notes"), true).unwrap();
    know.add(other.path(), Some("world"), false).unwrap();
    let err = |r: Result<sov_know::Source, sov_know::Error>| r.unwrap_err().to_string();
    assert_eq!(
        err(know.add(other.path(), Some("again"), false)),
        format!("{} is already the source \"world\"", std::fs::canonicalize(other.path()).unwrap().display())
    );
    assert_eq!(
        err(know.add(notes.path(), Some("world"), false)),
        "a source named \"world\" exists already (choose another with --name)"
    );
    assert!(err(know.add(notes.path(), Some("no/slash"), false)).starts_with("invalid source name"));
    assert!(err(know.add(Path::new("/nonexistent/x"), None, false)).starts_with("cannot add /nonexistent/x"));
    know.index(None, &mut |_| {}).unwrap();
    assert_eq!(know.search("chain", None, 10).unwrap().len(), 2);
    let world = know.search("chain", Some("world"), 10).unwrap();
    assert_eq!((world.len(), world[0].private), (1, false));
    assert!(know.search("chain", Some("nope"), 10).unwrap_err().to_string().starts_with("no source named"));
    assert!(know.show("0000-0", false).unwrap_err().to_string().starts_with("no passage with id"));
    know.remove("notes").unwrap();
    assert_eq!(know.search("chain", None, 10).unwrap().len(), 1);
    assert_eq!(know.passages().unwrap(), 1);
    assert!(know.remove("notes").is_err());
    // A query that is not valid syntax is still a query.
    assert_eq!(know.search("chain AND (", None, 10).unwrap().len(), 1);
}

#[test]
fn pdfs_are_read_for_their_text_and_a_broken_one_is_skipped_with_the_reason() {
    let pancakes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/fixtures/pancakes.pdf")).unwrap();
    let notes = notes();
    let d = notes.path();
    write(d, "pancakes.pdf", &pancakes);
    write(d, "cut.pdf", &pancakes[..pancakes.len() / 2]);
    write(d, "empty.pdf", b"");
    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(d, None, false).unwrap();
    let report = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((report.seen, report.indexed), (7, 5), "{report:?}");
    let mut skipped: Vec<String> =
        report.skipped.iter().map(|(p, why)| format!("{}: {why}", p.file_name().unwrap().to_string_lossy())).collect();
    skipped.sort();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        skipped[0].starts_with("cut.pdf: unreadable PDF: ") && skipped[1].starts_with("empty.pdf: unreadable PDF: "),
        "{skipped:?}"
    );
    let hits = know.search("batter golden", None, 3).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].title, "Pancakes for a Sunday", "{hits:?}");
    assert!(hits[0].path.ends_with("pancakes.pdf") && hits[0].entry.is_empty(), "{hits:?}");
}

#[test]
fn mediawiki_dumps_plain_and_bzip2_are_indexed_by_article_and_cut_ones_skipped() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mediawiki");
    let wiki = tempfile::tempdir().unwrap();
    let w = wiki.path();
    std::fs::create_dir(w.join("plain")).unwrap();
    std::fs::create_dir(w.join("bz2")).unwrap();
    for (from, to) in [
        ("pages-articles.xml", "plain/pages-articles.xml"),
        ("pages-articles.xml.bz2", "bz2/pages-articles.xml.bz2"),
        ("truncated.xml", "truncated.xml"),
        ("truncated.xml.bz2", "truncated.xml.bz2"),
    ] {
        std::fs::copy(fixtures.join(from), w.join(to)).unwrap();
    }
    write(w, "feed.xml", b"<rss><channel><title>not a dump</title></channel></rss>");
    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(w, Some("wiki"), false).unwrap();
    let report = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((report.seen, report.indexed), (5, 2), "{report:?}");
    let mut skipped: Vec<String> =
        report.skipped.iter().map(|(p, why)| format!("{}: {why}", p.file_name().unwrap().to_string_lossy())).collect();
    skipped.sort();
    assert_eq!(skipped.len(), 3, "{skipped:?}");
    assert!(skipped[0].starts_with("feed.xml: unknown format (XML that is not a MediaWiki dump"), "{skipped:?}");
    assert!(
        skipped[1].starts_with("truncated.xml.bz2: bad MediaWiki dump: unreadable after 0 pages (decompression"),
        "{skipped:?}"
    );
    assert_eq!(skipped[2], "truncated.xml: bad MediaWiki dump: cut short: it ends inside page 5 (\"Wasp\")");

    // Each article is a document with its sections; redirects, talk and template pages are not.
    for dump in ["pages-articles.xml", "pages-articles.xml.bz2"] {
        let hits = know.search("\"waggle dance\" direction", None, 10).unwrap();
        let hit = hits.iter().find(|h| h.path.ends_with(dump)).unwrap_or_else(|| panic!("{dump}: {hits:#?}"));
        assert_eq!(
            (hit.entry.as_str(), hit.title.as_str(), hit.heading.as_str()),
            ("Honey bee", "Honey bee", "Colony > Waggle dance")
        );
        let whole = know.show(&hit.id, true).unwrap();
        let headings: Vec<&str> = whole.iter().map(|p| p.heading.as_str()).collect();
        assert_eq!(headings, vec!["", "Colony", "Colony > Waggle dance", "Products", "See also"], "{dump}");
        let text: String = whole.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join("\n");
        for gone in
            ["{{", "}}", "[[", "'''", "<ref", "cite book", "wikitable", "Category:", "check the figure", "thumb"]
        {
            assert!(!text.contains(gone), "{dump}: {gone:?} left in {text}");
        }
        assert!(text.contains("The honey bee is a social insect of the genus Apis."), "{text}");
        assert!(text.contains("Beeswax, from the workers' glands.") && text.contains("External bee notes"), "{text}");
    }
    assert!(know.search("talk own page", None, 10).unwrap().is_empty());
    assert!(know.search("infobox", None, 10).unwrap().is_empty());
    let wasp = know.search("\"paper wasps chew wood\"", None, 10).unwrap();
    assert_eq!(wasp.len(), 2, "{wasp:#?}");
    assert!(wasp.iter().all(|h| h.entry == "Wasp" && h.heading == "Nests"), "{wasp:#?}");

    // Unchanged dumps are not read again; a touched one is read but not indexed again.
    let again = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((again.unchanged, again.read), (5, 0), "{again:?}");
    let bytes = std::fs::read(w.join("plain/pages-articles.xml")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(&w.join("plain"), "pages-articles.xml", &bytes);
    let touched = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((touched.read, touched.indexed, touched.commits), (1, 0, 0), "{touched:?}");
}
