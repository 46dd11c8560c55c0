//! `sov know …` through the real binary: sources, index, search and show, clear errors, and a
//! `kill -9` in the middle of an index run that the next run makes whole.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use super::harness::*;

fn know(world: &World, args: &[&str]) -> Output {
    let mut all = vec!["know"];
    all.extend_from_slice(args);
    world.sov(&all).stdin(Stdio::null()).output().unwrap()
}

#[track_caller]
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn know_adds_indexes_searches_shows_and_removes() {
    let world = World::new();
    let notes = world.work().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("garden.md"), "# Garden\n\n## Tomatoes\n\nWater the tomatoes every morning.\n").unwrap();
    std::fs::write(notes.join("broken.md"), b"caf\xe9\n").unwrap();

    assert!(ok(&know(&world, &["add", "notes", "--private"])).starts_with("added notes (private): "));
    let indexed = ok(&know(&world, &["index"]));
    assert!(indexed.contains("broken.md: not UTF-8 (invalid byte at offset 3)"), "{indexed}");
    assert!(indexed.contains("2 files: 0 unchanged, 2 read"), "{indexed}");
    let listed = ok(&know(&world, &["list", "--skipped"]));
    assert!(listed.contains("notes\tprivate\t") && listed.contains("1 files, 1 passages"), "{listed}");
    assert!(listed.contains("skipped ") && listed.contains("index: 1 passages"), "{listed}");

    let hits: serde_json::Value =
        serde_json::from_str(&ok(&know(&world, &["search", "watering tomato", "--json"]))).unwrap();
    let hit = &hits[0];
    assert_eq!(
        (hit["title"].as_str(), hit["heading"].as_str(), hit["private"].as_bool()),
        (Some("Garden"), Some("Tomatoes"), Some(true))
    );
    let plain = ok(&know(&world, &["search", "tomatoes"]));
    assert!(plain.contains("Garden > Tomatoes") && plain.contains("Water the **tomatoes** every morning"), "{plain}");
    let shown = ok(&know(&world, &["show", hit["id"].as_str().unwrap()]));
    assert!(shown.contains("## Tomatoes") && shown.contains("Water the tomatoes every morning."), "{shown}");

    let missing = know(&world, &["search", "x", "--source", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&missing.stderr), "sov: no source named \"nope\" (see `sov know list`)\n");
    let twice = know(&world, &["add", "notes"]);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("exists already"), "{twice:?}");

    assert_eq!(ok(&know(&world, &["rm", "notes"])), "removed notes and its passages\n");
    assert_eq!(ok(&know(&world, &["search", "tomatoes"])), "no passage matches\n");
    let help = ok(&world.sov(&["know", "index", "--help"]).output().unwrap());
    assert!(help.contains("Safe to interrupt"), "{help}");
}

/// Copies of Debian's Python manual, big enough that a run takes several batches.
fn corpus(dir: &Path, copies: usize) {
    let manual = Path::new("/usr/share/doc/python3-doc/html");
    assert!(
        manual.join("index.html").exists(),
        "{} is missing: install Debian's python3-doc (scripts/test.sh does)",
        manual.display()
    );
    for n in 0..copies {
        let status =
            std::process::Command::new("cp").arg("-rL").arg(manual).arg(dir.join(format!("copy{n}"))).status().unwrap();
        assert!(status.success());
    }
}

fn manifest_files(world: &World) -> i64 {
    let db = world.home.path().join("data/know/manifest.db");
    let Ok(conn) = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM files", [], |row| row.get(0)).unwrap_or(0)
}

#[test]
fn a_run_killed_mid_way_is_made_whole_by_the_next_with_nothing_doubled() {
    let world = World::new();
    let docs = world.work().join("docs");
    std::fs::create_dir(&docs).unwrap();
    corpus(&docs, 3);
    ok(&know(&world, &["add", "docs"]));

    let mut run =
        world.sov(&["know", "index"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    // Kill it once its first batch is committed (the manifest is written after the index).
    while manifest_files(&world) == 0 {
        assert!(run.try_wait().unwrap().is_none(), "the run ended before its first commit was seen");
        assert!(started.elapsed() < Duration::from_secs(120), "no commit within 2 minutes");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(run.try_wait().unwrap().is_none(), "the run ended before it could be killed");
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let committed = manifest_files(&world);

    let rerun: serde_json::Value = serde_json::from_str(&ok(&know(&world, &["index", "--json"]))).unwrap();
    let (seen, unchanged, read) =
        (rerun["seen"].as_i64().unwrap(), rerun["unchanged"].as_i64().unwrap(), rerun["read"].as_i64().unwrap());
    assert!(unchanged >= committed && read > 0 && unchanged + read == seen, "{rerun} after {committed} committed");
    assert_eq!(manifest_files(&world), seen);

    // The index holds exactly the passages the manifest says, and each copy the same number.
    let listed = ok(&know(&world, &["list"]));
    let number = |after: &str| -> u64 {
        let at = listed.find(after).unwrap() + after.len();
        listed[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let (passages, index) = (number("files, "), number("index: "));
    assert_eq!(passages, index, "{listed}");
    let found: serde_json::Value =
        serde_json::from_str(&ok(&know(&world, &["search", "TemporaryDirectory", "--limit", "300", "--json"])))
            .unwrap();
    let found = found.as_array().unwrap();
    let path = found[0]["path"].as_str().unwrap();
    let relative = &path[path.find("/copy").unwrap() + "/copyN".len()..];
    let counts: Vec<usize> = (0..3)
        .map(|n| found.iter().filter(|h| h["path"].as_str().unwrap().ends_with(&format!("/copy{n}{relative}"))).count())
        .collect();
    assert!(counts[0] > 0 && counts.iter().all(|&c| c == counts[0]), "{relative}: {counts:?}");
    assert_eq!(index % 3, 0, "three identical copies: {listed}");

    let third: serde_json::Value = serde_json::from_str(&ok(&know(&world, &["index", "--json"]))).unwrap();
    assert_eq!((third["read"].as_i64(), third["unchanged"].as_i64()), (Some(0), Some(seen)));
}
