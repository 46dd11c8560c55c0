//! Kiwix ZIM archives: openZIM's own test archives (`shared/testdata/zim`), both layouts, a split
//! archive and deliberately damaged ones, read by our reader and compared with Debian's
//! `zimdump` (zim-tools, run as a separate process; scripts/test.sh installs it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pretty_assertions::assert_eq;
use sov_know::Knowledge;
use sov_know::zim::{Archive, ZimError};

fn testdata() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/zim");
    assert!(dir.join("README.md").exists(), "{} is missing (openZIM's test archives)", dir.display());
    dir
}

/// What `zimdump list --details` says of an archive: path → (title, mime type) of its items
/// (redirects left out).
fn zimdump_items(file: &Path) -> BTreeMap<String, (String, String)> {
    let out = Command::new("zimdump")
        .args(["list", "--details", "--"])
        .arg(file)
        .output()
        .expect("zimdump is missing: install Debian's zim-tools (scripts/test.sh does)");
    assert!(out.status.success(), "zimdump list {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut items = BTreeMap::new();
    let (mut path, mut title, mut kind) = (String::new(), String::new(), String::new());
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("path: ") {
            p.clone_into(&mut path);
        } else if let Some(t) = line.strip_prefix("* title:") {
            t.trim().clone_into(&mut title);
        } else if let Some(t) = line.strip_prefix("* type:") {
            t.trim().clone_into(&mut kind);
        } else if let Some(m) = line.strip_prefix("* mime-type:")
            && kind == "item"
        {
            items.insert(path.clone(), (title.clone(), m.trim().to_owned()));
        }
    }
    items
}

/// `zimdump show`'s content of the entry at `path`.
fn zimdump_show(file: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("zimdump").arg("show").arg(format!("--url={path}")).arg("--").arg(file).output().unwrap();
    assert!(out.status.success(), "zimdump show {path}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Our articles of an archive: path → (title, HTML).
fn ours(file: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut archive = Archive::open_path(file).unwrap();
    let refs = archive.articles().unwrap();
    let mut out = BTreeMap::new();
    for r in refs {
        let a = archive.article(r).unwrap();
        assert!(out.insert(a.path, (a.title, a.html)).is_none(), "an article twice");
    }
    out
}

#[test]
fn our_articles_are_zimdumps_html_items_with_the_same_titles_and_bytes() {
    let dir = testdata();
    for (layout, name, at_least) in [
        ("nons", "small.zim", 1),
        ("withns", "small.zim", 1),
        ("nons", "wikibooks_be_all_nopic_2017-02.zim", 60),
        ("withns", "wikibooks_be_all_nopic_2017-02.zim", 60),
    ] {
        let file = dir.join(layout).join(name);
        let theirs: BTreeMap<String, String> = zimdump_items(&file)
            .into_iter()
            .filter(|(path, (_, mime))| mime == "text/html" && (layout == "nons" || path.starts_with("A/")))
            .map(|(path, (title, _))| (path, title))
            .collect();
        let ours = ours(&file);
        assert!(ours.len() >= at_least, "{layout}/{name}: {} articles", ours.len());
        let our_titles: BTreeMap<String, String> = ours.iter().map(|(p, (t, _))| (p.clone(), t.clone())).collect();
        assert_eq!(our_titles, theirs, "{layout}/{name}: articles and titles differ from zimdump's");
        // The content of the first and the last article, byte for byte.
        for path in [ours.keys().next().unwrap(), ours.keys().next_back().unwrap()] {
            let shown = zimdump_show(&file, path);
            let html = &ours[path].1;
            assert!(&shown == html, "{layout}/{name}: {path}: {} bytes, zimdump's {}", html.len(), shown.len());
        }
    }
}

#[test]
fn a_split_archive_reads_as_the_whole_one() {
    let dir = testdata();
    for layout in ["nons", "withns"] {
        let whole = ours(&dir.join(layout).join("wikibooks_be_all_nopic_2017-02.zim"));
        let split = ours(&dir.join(layout).join("wikibooks_be_all_nopic_2017-02_splitted.zimaa"));
        assert!(!whole.is_empty());
        assert!(whole == split, "{layout}: the split archive's articles differ from the whole one's");
    }
}

#[test]
fn each_damaged_archive_gives_its_own_error() {
    let dir = testdata();
    for layout in ["nons", "withns"] {
        let err = |name: &str| -> ZimError {
            let file = dir.join(layout).join(format!("invalid.{name}.zim"));
            match Archive::open_path(&file) {
                Err(e) => e,
                Ok(mut archive) => match archive.articles() {
                    Err(e) => e,
                    Ok(refs) => refs
                        .into_iter()
                        .find_map(|r| archive.article(r).err())
                        .unwrap_or_else(|| panic!("{layout}/{name} was read without an error")),
                },
            }
        };
        assert_eq!(err("smaller_than_header"), ZimError::TooSmall(40), "{layout}");
        assert!(matches!(err("invalid_checksumpos"), ZimError::ChecksumPos { .. }), "{layout}");
        assert!(
            matches!(err("outofbounds_clusterptrpos"), ZimError::OutOfBounds { what: "cluster pointer list", .. }),
            "{layout}"
        );
        assert!(matches!(err("nonsorted_dirent_table"), ZimError::NotSorted { .. }), "{layout}");
        let offset = err("offset_in_cluster");
        assert!(matches!(&offset, ZimError::Cluster { why, .. } if why.contains("offset")), "{layout}: {offset}");
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
}

#[test]
fn archives_are_indexed_by_article_damaged_ones_skipped_and_reruns_read_only_what_changed() {
    let dir = testdata();
    let kiwix = tempfile::tempdir().unwrap();
    let k = kiwix.path();
    copy(&dir.join("withns/wikibooks_be_all_nopic_2017-02.zim"), &k.join("wikibooks.zim"));
    for part in ["aa", "ab", "ac"] {
        copy(
            &dir.join(format!("nons/wikibooks_be_all_nopic_2017-02_splitted.zim{part}")),
            &k.join(format!("split.zim{part}")),
        );
    }
    let damaged = ["smaller_than_header", "invalid_checksumpos", "outofbounds_clusterptrpos", "nonsorted_dirent_table"];
    for name in damaged {
        copy(&dir.join(format!("nons/invalid.{name}.zim")), &k.join(format!("{name}.zim")));
    }
    std::fs::write(k.join("note.md"), "# Note\n\nA note beside the archives.\n").unwrap();

    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(k, Some("kiwix"), false).unwrap();
    let first = know.index(None, &mut |_| {}).unwrap();
    // Two archives (the split one once), four damaged ones, the note.
    assert_eq!((first.seen, first.read, first.indexed), (7, 7, 3), "{first:?}");
    let mut skipped: Vec<(String, String)> = first
        .skipped
        .iter()
        .map(|(p, why)| (p.file_name().unwrap().to_string_lossy().into_owned(), why.clone()))
        .collect();
    skipped.sort();
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    for (file, why) in &skipped {
        assert!(why.starts_with("bad ZIM archive: "), "{file}: {why}");
    }
    assert!(skipped[0].1.contains("invalid checksum position 0"), "{skipped:?}");
    assert!(skipped[1].1.contains("not sorted by path"), "{skipped:?}");
    assert!(skipped[2].1.contains("cluster pointer list"), "{skipped:?}");
    assert!(skipped[3].1.contains("too small"), "{skipped:?}");

    // A word of one article (its text, as zimdump gives it) finds that article, in its archive.
    let article = zimdump_show(&dir.join("withns/wikibooks_be_all_nopic_2017-02.zim"), "A/Першая_старонка.html");
    let article = sov_know::extract::html_article(&article, "t").unwrap();
    let words: Vec<&str> = article.sections.iter().flat_map(|s| s.text.split_whitespace()).collect();
    assert!(words.len() > 20, "{words:?}");
    let hits = know.search(&format!("\"{}\"", words[..6].join(" ")), None, 20).unwrap();
    let hit = hits
        .iter()
        .find(|h| h.path.ends_with("wikibooks.zim"))
        .unwrap_or_else(|| panic!("{:#?}", hits.iter().map(|h| (&h.path, &h.entry)).collect::<Vec<_>>()));
    assert_eq!((hit.entry.as_str(), hit.title.as_str()), ("A/Першая_старонка.html", "Першая старонка"));
    assert!(hits.iter().any(|h| h.path.ends_with("split.zimaa") && h.entry == "Першая_старонка.html"), "{hits:#?}");
    // `show --whole` gives that article's passages, and only its.
    let whole = know.show(&hit.id, true).unwrap();
    assert!(!whole.is_empty() && whole.iter().all(|p| p.entry == hit.entry && p.path == hit.path), "{whole:#?}");
    let text: String = whole.iter().map(|p| p.text.as_str()).collect::<Vec<_>>().join(" ");
    assert!(text.contains(words[words.len() - 1]), "the whole article is shown");

    // A rerun reads nothing; a touched archive is read but not indexed again (same checksum).
    let again = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((again.unchanged, again.read), (7, 0), "{again:?}");
    let bytes = std::fs::read(k.join("split.zimab")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(k.join("split.zimab"), &bytes).unwrap();
    let touched = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((touched.read, touched.indexed, touched.commits), (1, 0, 0), "{touched:?}");

    // An archive replaced by another is read again: the old articles go, the new come.
    let passages = know.passages().unwrap();
    copy(&dir.join("withns/small.zim"), &k.join("wikibooks.zim"));
    let replaced = know.index(None, &mut |_| {}).unwrap();
    assert_eq!((replaced.read, replaced.indexed), (1, 1), "{replaced:?}");
    assert!(know.search("Першая", None, 50).unwrap().iter().all(|h| !h.path.ends_with("wikibooks.zim")));
    let small = know.search("\"Test ZIM file\"", None, 5).unwrap();
    assert!(small.iter().any(|h| h.path.ends_with("wikibooks.zim") && h.entry == "A/main.html"), "{small:#?}");
    assert!(know.passages().unwrap() < passages);
}

#[test]
fn damaged_bytes_anywhere_in_a_real_archive_give_errors_not_panics() {
    let dir = testdata();
    // Zstandard clusters (no namespaces) and XZ clusters (namespaces).
    for layout in ["nons", "withns"] {
        let good = std::fs::read(dir.join(layout).join("small.zim")).unwrap();
        let (mut read, mut failed) = (0, 0);
        for at in (0..good.len()).step_by(11) {
            let mut bad = good.clone();
            bad[at] ^= 0xa5;
            let outcome = Archive::open(bad).and_then(|mut a| {
                let refs = a.articles()?;
                refs.into_iter().map(|r| a.article(r).map(|_| ())).collect::<Result<Vec<()>, ZimError>>()
            });
            match outcome {
                Ok(_) => read += 1,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    failed += 1;
                }
            }
        }
        assert!(failed > 20 && read > 20, "{layout}: {failed} damaged copies failed, {read} were read");
    }
}
