//! The figures of `bench/know.sh`: indexing throughput and index size over a corpus folder, then
//! query latency (p50/p99) over the queries given, one per line on stdin, each run once.
//!
//! Usage: know-bench CORPUS_DIR DATA_DIR < queries   (prints `key value` lines)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

fn size_of(dir: &Path) -> u64 {
    walk(dir).map(|p| std::fs::metadata(p).map_or(0, |m| m.len())).sum()
}

fn walk(dir: &Path) -> impl Iterator<Item = std::path::PathBuf> {
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = entry.file_type().unwrap();
            if t.is_dir() {
                stack.push(entry.path());
            } else if t.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.into_iter()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (corpus, data) = (Path::new(&args[1]), Path::new(&args[2]));
    let dir = sov_know::Knowledge::dir_in(data);
    let mut know = sov_know::Knowledge::open(&dir).unwrap();
    know.add(corpus, Some("bench"), false).unwrap();
    let started = Instant::now();
    let report = know.index(None, &mut |_| {}).unwrap();
    let secs = started.elapsed().as_secs_f64();
    let index_bytes = size_of(&dir);
    println!("files {}", report.seen);
    println!("passages {}", report.passages);
    println!("read_mb {:.1}", report.bytes as f64 / 1e6);
    println!("index_secs {secs:.2}");
    println!("index_mb_per_s {:.1}", report.bytes as f64 / 1e6 / secs);
    println!("index_share_of_input {:.3}", index_bytes as f64 / report.bytes as f64);

    let started = Instant::now();
    let again = know.index(None, &mut |_| {}).unwrap();
    println!("noop_rerun_ms {:.1} (read {})", started.elapsed().as_secs_f64() * 1e3, again.read);

    let queries: Vec<String> =
        std::io::stdin().lock().lines().map_while(Result::ok).filter(|q| !q.trim().is_empty()).collect();
    know.search("warm up", None, 10).unwrap();
    let mut ms: Vec<f64> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            know.search(q, None, 10).unwrap();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!("queries {}", ms.len());
    println!("query_p50_ms {:.2}", at(0.5));
    println!("query_p99_ms {:.2}", at(0.99));
}
