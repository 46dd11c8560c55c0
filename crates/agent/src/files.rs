//! The file tools: `read`, `write`, `edit`, `grep`, `find`, each working relative to the
//! sandbox's working directory.
//!
//! They do not second-guess the sandbox: a path outside what the sandbox grants is refused by
//! the kernel (the error says so), never by a rule here that a prompt could argue with. What they
//! do guard against is the model: a malformed call gets a precise error back instead of crashing
//! the agent, an edit that matches more than once is refused rather than guessed, and output is
//! capped so one call cannot flood the context.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::tool::{Tool, ToolError, cap, object_schema, parse};

/// Lines `read` returns when no limit is given.
pub const DEFAULT_READ_LINES: usize = 2000;
/// Most matches `grep` and `find` list.
pub const MAX_MATCHES: usize = 500;

fn fail<T>(message: impl Into<String>) -> Result<T, ToolError> {
    Err(ToolError(message.into()))
}

/// An I/O error on `path` while doing `action`, with the likeliest reason when the sandbox is it.
pub(crate) fn io_error(action: &str, path: &Path, e: &std::io::Error) -> ToolError {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => " (it does not exist, or the sandbox does not show it)",
        std::io::ErrorKind::PermissionDenied => " (denied: outside what the sandbox grants, or not permitted)",
        _ => "",
    };
    ToolError(format!("{action} {}: {e}{hint}", path.display()))
}

/// The directory the file tools work in (the sandbox's working directory), and what they do
/// there.
#[derive(Debug, Clone)]
pub struct Workdir {
    root: PathBuf,
}

impl Workdir {
    /// The file operations relative to `root`.
    pub fn new(root: impl Into<PathBuf>) -> Workdir {
        Workdir { root: root.into() }
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.is_empty() || path.contains('\0') {
            return fail("path is empty or contains NUL");
        }
        Ok(self.root.join(path))
    }

    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }

    /// Lines `offset..offset+limit` (1-based) of a text file, numbered.
    pub fn read(&self, path: &str, offset: Option<usize>, limit: Option<usize>) -> Result<String, ToolError> {
        let file = self.resolve(path)?;
        let bytes = std::fs::read(&file).map_err(|e| io_error("reading", &file, &e))?;
        if bytes.contains(&0) {
            return fail(format!("{path} is a binary file ({} bytes); read text files only", bytes.len()));
        }
        let text = String::from_utf8_lossy(&bytes);
        let first = offset.unwrap_or(1).max(1);
        let limit = limit.unwrap_or(DEFAULT_READ_LINES).max(1);
        let total = text.lines().count();
        if first > total.max(1) {
            return fail(format!("{path} has {total} lines; offset {first} is past the end"));
        }
        let mut out = String::new();
        for (n, line) in text.lines().enumerate().skip(first - 1).take(limit) {
            out.push_str(&format!("{}\t{line}\n", n + 1));
        }
        let last = (first - 1 + limit).min(total);
        if last < total {
            out.push_str(&format!("[lines {first}-{last} of {total}; use offset {} to read on]\n", last + 1));
        }
        Ok(cap(out))
    }

    /// Writes `content` to `path`, creating parent directories.
    pub fn write(&self, path: &str, content: &str) -> Result<String, ToolError> {
        let file = self.resolve(path)?;
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error("creating", parent, &e))?;
        }
        std::fs::write(&file, content).map_err(|e| io_error("writing", &file, &e))?;
        Ok(format!("wrote {} bytes to {path}", content.len()))
    }

    /// Replaces `old` by `new` in `path`: exactly one occurrence, or all with `replace_all`.
    pub fn edit(&self, path: &str, old: &str, new: &str, replace_all: bool) -> Result<String, ToolError> {
        if old.is_empty() {
            return fail("old_text is empty; give the exact text to replace");
        }
        let file = self.resolve(path)?;
        let text = std::fs::read_to_string(&file).map_err(|e| io_error("reading", &file, &e))?;
        let count = text.matches(old).count();
        match (count, replace_all) {
            (0, _) => fail(format!("old_text does not occur in {path}; read the file and copy the text exactly")),
            (n, false) if n > 1 => fail(format!(
                "old_text occurs {n} times in {path}; include more surrounding text so it is unique, or set replace_all"
            )),
            (n, _) => {
                let edited = if replace_all { text.replace(old, new) } else { text.replacen(old, new, 1) };
                std::fs::write(&file, edited).map_err(|e| io_error("writing", &file, &e))?;
                Ok(format!("replaced {n} occurrence{} in {path}", if n == 1 { "" } else { "s" }))
            }
        }
    }

    /// Lines matching `pattern` (a regular expression) under `path`, as `path:line:text`.
    pub fn grep(&self, pattern: &str, path: &str, glob: Option<&str>, ignore_case: bool) -> Result<String, ToolError> {
        let regex = regex::RegexBuilder::new(pattern)
            .case_insensitive(ignore_case)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| ToolError(format!("pattern is not a valid regular expression: {e}")))?;
        let glob = glob
            .map(|g| globset::Glob::new(g).map(|g| g.compile_matcher()))
            .transpose()
            .map_err(|e| ToolError(format!("glob is not valid: {e}")))?;
        let base = self.resolve(path)?;
        let mut out = String::new();
        let mut found = 0;
        for entry in walk(&base)? {
            let Ok(text) = std::fs::read_to_string(&entry) else { continue };
            let shown = self.display(&entry);
            if glob.as_ref().is_some_and(|g| !g.is_match(&shown) && !entry.file_name().is_some_and(|n| g.is_match(n))) {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                if regex.is_match(line) {
                    found += 1;
                    if found > MAX_MATCHES {
                        out.push_str(&format!("[more than {MAX_MATCHES} matches; narrow the pattern or path]\n"));
                        return Ok(cap(out));
                    }
                    out.push_str(&format!("{shown}:{}:{line}\n", n + 1));
                }
            }
        }
        if found == 0 {
            out.push_str("no matches\n");
        }
        Ok(cap(out))
    }

    /// Files under `path` whose path (relative to the working directory) matches `pattern`.
    pub fn find(&self, pattern: &str, path: &str) -> Result<String, ToolError> {
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| ToolError(format!("pattern is not a valid glob: {e}")))?
            .compile_matcher();
        let base = self.resolve(path)?;
        let mut found: Vec<String> = Vec::new();
        for entry in walk(&base)? {
            let relative = entry.strip_prefix(&base).unwrap_or(&entry);
            if glob.is_match(relative) {
                found.push(self.display(&entry));
                if found.len() >= MAX_MATCHES {
                    found.push(format!("[more than {MAX_MATCHES} files; narrow the pattern]"));
                    break;
                }
            }
        }
        if found.is_empty() {
            return Ok("no files match\n".into());
        }
        Ok(cap(found.join("\n") + "\n"))
    }
}

/// `read`: lines of a text file, numbered.
#[derive(Debug, Clone)]
pub struct Read(pub Workdir);

impl Tool for Read {
    fn name(&self) -> &str {
        "read"
    }

    fn description(&self) -> &str {
        "Read a text file. Lines come numbered (N<TAB>line). Use offset and limit for long files."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line, 1-based"}, "limit": {"type": "integer", "description": "number of lines"}}),
            &["path"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            path: String,
            offset: Option<usize>,
            limit: Option<usize>,
        }
        let a: A = parse(self.name(), arguments)?;
        self.0.read(&a.path, a.offset, a.limit)
    }
}

/// `write`: creates or overwrites a file.
#[derive(Debug, Clone)]
pub struct Write(pub Workdir);

impl Tool for Write {
    fn name(&self) -> &str {
        "write"
    }

    fn description(&self) -> &str {
        "Create or overwrite a file with the given content (parent directories are created)."
    }

    fn schema(&self) -> Value {
        object_schema(json!({"path": {"type": "string"}, "content": {"type": "string"}}), &["path", "content"])
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            path: String,
            content: String,
        }
        let a: A = parse(self.name(), arguments)?;
        self.0.write(&a.path, &a.content)
    }
}

/// `edit`: replaces exact text in a file.
#[derive(Debug, Clone)]
pub struct Edit(pub Workdir);

impl Tool for Edit {
    fn name(&self) -> &str {
        "edit"
    }

    fn description(&self) -> &str {
        "Replace exact text in a file. old_text must occur exactly once (include surrounding lines to make it unique) unless replace_all is true."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({"path": {"type": "string"}, "old_text": {"type": "string"}, "new_text": {"type": "string"}, "replace_all": {"type": "boolean"}}),
            &["path", "old_text", "new_text"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            path: String,
            old_text: String,
            new_text: String,
            #[serde(default)]
            replace_all: bool,
        }
        let a: A = parse(self.name(), arguments)?;
        self.0.edit(&a.path, &a.old_text, &a.new_text, a.replace_all)
    }
}

/// `grep`: lines matching a regular expression.
#[derive(Debug, Clone)]
pub struct Grep(pub Workdir);

impl Tool for Grep {
    fn name(&self) -> &str {
        "grep"
    }

    fn description(&self) -> &str {
        "Search file contents with a regular expression; answers path:line:text."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({"pattern": {"type": "string"}, "path": {"type": "string", "description": "file or directory, default ."}, "glob": {"type": "string", "description": "only files matching, e.g. *.rs"}, "ignore_case": {"type": "boolean"}}),
            &["pattern"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            pattern: String,
            path: Option<String>,
            glob: Option<String>,
            #[serde(default)]
            ignore_case: bool,
        }
        let a: A = parse(self.name(), arguments)?;
        self.0.grep(&a.pattern, a.path.as_deref().unwrap_or("."), a.glob.as_deref(), a.ignore_case)
    }
}

/// `find`: files whose path matches a glob.
#[derive(Debug, Clone)]
pub struct Find(pub Workdir);

impl Tool for Find {
    fn name(&self) -> &str {
        "find"
    }

    fn description(&self) -> &str {
        "List files whose path matches a glob such as **/*.rs or src/*.toml."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({"pattern": {"type": "string"}, "path": {"type": "string", "description": "directory, default ."}}),
            &["pattern"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            pattern: String,
            path: Option<String>,
        }
        let a: A = parse(self.name(), arguments)?;
        self.0.find(&a.pattern, a.path.as_deref().unwrap_or("."))
    }
}

/// Regular files under `base` (or `base` itself), skipping `.git` and `target`.
fn walk(base: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let meta = std::fs::metadata(base).map_err(|e| io_error("searching", base, &e))?;
    if meta.is_file() {
        return Ok(vec![base.to_owned()]);
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(base)
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir() && matches!(e.file_name().to_str(), Some(".git" | "target" | "node_modules")))
        })
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect();
    files.sort();
    Ok(files)
}
