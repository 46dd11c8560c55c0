//! A real manual from Debian (`python3-doc`: the Python documentation as HTML, installed by
//! scripts/test.sh), asked questions the way people ask them, each with the page that answers.

use std::path::Path;

use sov_know::Knowledge;

/// Where Debian's python3-doc puts the HTML (a symlink to python3.X's).
const MANUAL: &str = "/usr/share/doc/python3-doc/html";

/// Questions not in the manual's own words, and the page that answers each.
const QUESTIONS: [(&str, &str); 5] = [
    ("make a temporary directory that deletes itself", "library/tempfile.html"),
    ("parse command line arguments", "library/argparse.html"),
    ("decode JSON text into a Python object", "library/json.html"),
    ("current date and time", "library/datetime.html"),
    ("match text against a regular expression pattern", "library/re.html"),
];

#[test]
fn questions_find_their_answer_page_in_the_top_three_passages() {
    assert!(
        Path::new(MANUAL).join("index.html").exists(),
        "{MANUAL} is missing: install Debian's python3-doc (scripts/test.sh does)"
    );
    let data = tempfile::tempdir().unwrap();
    let mut know = Knowledge::open(&Knowledge::dir_in(data.path())).unwrap();
    know.add(Path::new(MANUAL), Some("python"), false).unwrap();
    let report = know.index(None, &mut |_| {}).unwrap();
    assert!(report.indexed > 400 && report.passages > 5000, "{report:?}");
    // Pictures and archives are listed, not indexed; nothing else is skipped.
    assert!(
        report.skipped.iter().all(|(p, why)| why.starts_with("unknown format") && !p.ends_with(".html")),
        "{:?}",
        report.skipped
    );
    for (question, page) in QUESTIONS {
        let hits = know.search(question, None, 3).unwrap();
        assert!(
            hits.iter().any(|h| h.path.ends_with(page)),
            "{question:?}: {page} not in the top 3: {:#?}",
            hits.iter().map(|h| (&h.path, &h.heading)).collect::<Vec<_>>()
        );
    }
    // A hit is a passage with its title, heading and highlighted words, and `show` gives it.
    let hit = &know.search("TemporaryDirectory", None, 1).unwrap()[0];
    assert!(hit.title.starts_with("tempfile") || hit.heading.ends_with("tempfile"), "{hit:?}");
    assert!(!hit.highlights.is_empty(), "{hit:?}");
    for &(start, end) in &hit.highlights {
        let word = hit.snippet[start..end].to_lowercase();
        assert!(word.starts_with("temporarydirectory"), "{word:?} in {hit:?}");
    }
    let shown = know.show(&hit.id, false).unwrap();
    assert_eq!(shown.len(), 1);
    assert!(shown[0].text.len() <= sov_know::extract::MAX_PASSAGE);
    let whole = know.show(&hit.id, true).unwrap();
    assert!(whole.len() > 3 && whole.iter().all(|p| p.path == hit.path), "{}", whole.len());
}
