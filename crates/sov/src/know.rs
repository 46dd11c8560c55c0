//! `sov know …`: local knowledge sources, their index, and search (the `sov-know` crate).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use sov_core::paths::Paths;
use sov_know::{Hit, Knowledge};

/// `sov know …`
#[derive(Debug, Subcommand)]
pub enum KnowCommand {
    /// Add a folder (or one file) of documents to search: notes, manuals, a docs tree.
    ///
    /// Nothing is read until `sov know index`. Markdown, plain text, HTML, PDF, source code,
    /// Kiwix ZIM archives (each HTML article a document; a split `.zimaa`, `.zimab`, … read
    /// as one) and MediaWiki XML dumps (`.xml`, `.xml.bz2`; each article a document) are read; other files are listed as skipped. Hidden files and folders are left out and
    /// symlinks are not followed. The files stay where they are; only the index
    /// (<data dir>/know/) is written.
    Add {
        /// The folder or file.
        path: PathBuf,
        /// Mark the source as private (personal notes): results from it will count as private
        /// data read by the session that asked.
        #[arg(long)]
        private: bool,
        /// The source's name (letters, digits, '.', '_', '-'); default: the folder's name.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// List the sources with their files, passages and skipped files.
    List {
        /// Also print each skipped file and why it was skipped.
        #[arg(long)]
        skipped: bool,
    },
    /// Remove a source and its passages from the index (its files are not touched).
    Rm {
        /// The source's name, as `sov know list` shows it.
        name: String,
    },
    /// Bring the index up to date: read new and changed files, drop deleted ones.
    ///
    /// Only files whose size or mtime changed are read again. Safe to interrupt: a rerun goes
    /// on from the last commit (every 32 MB of files), and nothing is lost or doubled.
    Index {
        /// Only this source (default: all).
        name: Option<String>,
        /// Print the run's figures as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Search the index: the best passages, with source, path, title, heading and a snippet.
    ///
    /// Words are matched by their English stems; "quotes" match a phrase, +word requires a
    /// word, -word excludes it, title:word searches titles only. Titles weigh ×3 and headings
    /// ×2 over the text.
    Search {
        /// What to look for.
        query: String,
        /// Search this source only.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
        /// How many passages at most.
        #[arg(long, default_value_t = 10, value_name = "N")]
        limit: usize,
        /// Print the results as JSON (one array; highlights are byte ranges of the snippet).
        #[arg(long)]
        json: bool,
    },
    /// Print a passage by its id (from `sov know search`), or its whole document.
    Show {
        /// The passage's id.
        id: String,
        /// Print every passage of the document, in order.
        #[arg(long)]
        whole: bool,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `sov know …`.
pub fn run(cmd: KnowCommand, paths: &Paths) -> Result<i32> {
    let dir = Knowledge::dir_in(&paths.data_dir);
    let mut know =
        Knowledge::open(&dir).with_context(|| format!("opening the knowledge index in {}", dir.display()))?;
    match cmd {
        KnowCommand::Add { path, private, name } => {
            let source = know.add(&path, name.as_deref(), private)?;
            let kind = if source.private { "private" } else { "public" };
            println!("added {} ({kind}): {}", source.name, source.path.display());
            println!("run `sov know index` to read it");
        }
        KnowCommand::List { skipped } => {
            let sources = know.list()?;
            if sources.is_empty() {
                println!("no sources (add one with `sov know add PATH`)");
                return Ok(0);
            }
            for (source, counts) in sources {
                let kind = if source.private { "private" } else { "public" };
                println!(
                    "{}\t{kind}\t{}\t{} files, {} passages, {:.1} MB, {} skipped",
                    source.name,
                    source.path.display(),
                    counts.files,
                    counts.passages,
                    counts.bytes as f64 / 1e6,
                    counts.skipped
                );
                if skipped {
                    for (path, why) in know.skipped(&source.name)? {
                        println!("  skipped {}: {why}", path.display());
                    }
                }
            }
            println!("index: {} passages in {}", know.passages()?, dir.display());
        }
        KnowCommand::Rm { name } => {
            know.remove(&name)?;
            println!("removed {name} and its passages");
        }
        KnowCommand::Index { name, json } => {
            let bar = progress_bar();
            let mut on_progress = |p: &sov_know::Progress| {
                bar.set_length(p.bytes_total);
                bar.set_position(p.bytes_done);
                bar.set_message(format!("{}/{} files", p.files_done, p.files_total));
            };
            let started = std::time::Instant::now();
            let report = know.index(name.as_deref(), &mut on_progress)?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for (path, why) in &report.skipped {
                    println!("skipped {}: {why}", path.display());
                }
                for (source, why) in &report.failed_sources {
                    println!("source {source} not read (its passages are kept): {why}");
                }
                let secs = started.elapsed().as_secs_f64();
                println!(
                    "{} files: {} unchanged, {} read ({:.1} MB in {secs:.1} s), {} indexed into {} passages, {} skipped, {} removed",
                    report.seen,
                    report.unchanged,
                    report.read,
                    report.bytes as f64 / 1e6,
                    report.indexed,
                    report.passages,
                    report.skipped.len(),
                    report.removed
                );
            }
            return Ok(i32::from(!report.failed_sources.is_empty()));
        }
        KnowCommand::Search { query, source, limit, json } => {
            let hits = know.search(&query, source.as_deref(), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&hits)?);
            } else if hits.is_empty() {
                println!("no passage matches");
            } else {
                let bold = std::io::stdout().is_terminal();
                for hit in &hits {
                    print_hit(hit, bold);
                }
            }
        }
        KnowCommand::Show { id, whole, json } => {
            let passages = know.show(&id, whole)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&passages)?);
            } else if let Some(first) = passages.first() {
                println!("{}  [{}]  {}", first.title, first.source, located(&first.path, &first.entry));
                for p in &passages {
                    println!();
                    if !p.heading.is_empty() {
                        println!("## {}  ({})", p.heading, p.id);
                    } else {
                        println!("({})", p.id);
                    }
                    println!("{}", p.text);
                }
            }
        }
    }
    Ok(0)
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "indexing [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

fn print_hit(hit: &Hit, bold: bool) {
    let private = if hit.private { " (private)" } else { "" };
    println!("{}  [{}{private}]  {}", hit.id, hit.source, located(&hit.path, &hit.entry));
    let heading = if hit.heading.is_empty() { String::new() } else { format!(" > {}", hit.heading) };
    println!("  {}{heading}", hit.title);
    println!("  {}", highlight(&hit.snippet, &hit.highlights, bold).replace('\n', " "));
    println!();
}

/// A file, or an article in an archive (`wiki.zim » A/Bees.html`).
fn located(path: &str, entry: &str) -> String {
    if entry.is_empty() { path.to_owned() } else { format!("{path} » {entry}") }
}

/// `snippet` with its matched ranges in bold on a terminal, else between `**`.
fn highlight(snippet: &str, ranges: &[(usize, usize)], bold: bool) -> String {
    let (open, close) = if bold { ("\x1b[1m", "\x1b[0m") } else { ("**", "**") };
    let mut out = String::with_capacity(snippet.len() + ranges.len() * 8);
    let mut at = 0;
    for &(start, end) in ranges {
        let (Some(before), Some(word)) = (snippet.get(at..start), snippet.get(start..end)) else { continue };
        out.push_str(before);
        out.push_str(open);
        out.push_str(word);
        out.push_str(close);
        at = end;
    }
    out.push_str(snippet.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_wrap_the_matched_ranges() {
        assert_eq!(highlight("make a temp dir", &[(7, 11)], false), "make a **temp** dir");
        assert_eq!(highlight("ab", &[(0, 1), (5, 9)], false), "**a**b");
    }

    #[test]
    fn an_article_is_shown_with_its_archive() {
        assert_eq!(located("/k/wiki.zim", "A/Bees.html"), "/k/wiki.zim » A/Bees.html");
        assert_eq!(located("/k/notes.md", ""), "/k/notes.md");
    }
}
