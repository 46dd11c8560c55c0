//! The agent's file and shell tools: `read`, `write`, `edit`, `bash`, `grep`, `find`.
//!
//! They run inside the sandbox and do not second-guess it: a path outside what the sandbox
//! grants is refused by the kernel (the error says so), never by a rule here that a prompt
//! could argue with. What they do guard against is the model: a malformed call gets a precise
//! error back instead of crashing the agent, an edit that matches more than once is refused
//! rather than guessed, and output is capped so one call cannot flood the context.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Skill;
use crate::services::{RemoteTool, ToolApi};

/// Most bytes of tool output handed back to the model; the rest is cut with a note.
pub const OUTPUT_CAP: usize = 30 * 1024;
/// Lines `read` returns when no limit is given.
pub const DEFAULT_READ_LINES: usize = 2000;
/// Longest `bash` run when no timeout is given, and the most one may ask for.
pub const DEFAULT_BASH_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest timeout a `bash` call may ask for.
pub const MAX_BASH_TIMEOUT: Duration = Duration::from_secs(600);
/// Most matches `grep` and `find` list.
pub const MAX_MATCHES: usize = 500;

/// Why a tool call failed: said to the model as the tool's answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ToolError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, ToolError> {
    Err(ToolError(message.into()))
}

fn io_error(action: &str, path: &Path, e: &std::io::Error) -> ToolError {
    let hint = match e.kind() {
        std::io::ErrorKind::NotFound => " (it does not exist, or the sandbox does not show it)",
        std::io::ErrorKind::PermissionDenied => " (denied: outside what the sandbox grants, or not permitted)",
        _ => "",
    };
    ToolError(format!("{action} {}: {e}{hint}", path.display()))
}

/// The tools, working relative to `root` (the sandbox's working directory).
#[derive(Debug, Clone)]
pub struct Tools {
    root: PathBuf,
    cancel: Arc<AtomicBool>,
    skills: Vec<Skill>,
    services: Option<ToolApi>,
    remote: Option<RemoteTool>,
}

/// One tool's description in the OpenAI `tools` format.
pub(crate) fn tool(name: &str, description: &str, properties: Value, required: &[&str]) -> Value {
    json!({"type": "function", "function": {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required, "additionalProperties": false},
    }})
}

/// The file and shell tools' descriptions in the OpenAI `tools` format.
pub fn file_tools() -> Value {
    json!([
        tool(
            "read",
            "Read a text file. Lines come numbered (N<TAB>line). Use offset and limit for long files.",
            json!({"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line, 1-based"}, "limit": {"type": "integer", "description": "number of lines"}}),
            &["path"],
        ),
        tool(
            "write",
            "Create or overwrite a file with the given content (parent directories are created).",
            json!({"path": {"type": "string"}, "content": {"type": "string"}}),
            &["path", "content"],
        ),
        tool(
            "edit",
            "Replace exact text in a file. old_text must occur exactly once (include surrounding lines to make it unique) unless replace_all is true.",
            json!({"path": {"type": "string"}, "old_text": {"type": "string"}, "new_text": {"type": "string"}, "replace_all": {"type": "boolean"}}),
            &["path", "old_text", "new_text"],
        ),
        tool(
            "bash",
            "Run a shell command in the sandbox (working directory: the project). Output is capped; the command is killed after timeout seconds.",
            json!({"command": {"type": "string"}, "timeout": {"type": "integer", "description": "seconds, default 120, at most 600"}}),
            &["command"],
        ),
        tool(
            "grep",
            "Search file contents with a regular expression; answers path:line:text.",
            json!({"pattern": {"type": "string"}, "path": {"type": "string", "description": "file or directory, default ."}, "glob": {"type": "string", "description": "only files matching, e.g. *.rs"}, "ignore_case": {"type": "boolean"}}),
            &["pattern"],
        ),
        tool(
            "find",
            "List files whose path matches a glob such as **/*.rs or src/*.toml.",
            json!({"pattern": {"type": "string"}, "path": {"type": "string", "description": "directory, default ."}}),
            &["pattern"],
        ),
    ])
}

fn parse<T: for<'de> Deserialize<'de>>(tool: &str, arguments: &str) -> Result<T, ToolError> {
    serde_json::from_str(arguments).map_err(|e| {
        ToolError(format!("the arguments of {tool} are not valid: {e}; send a JSON object with the documented fields"))
    })
}

/// Cuts `text` to [`OUTPUT_CAP`] bytes on a character boundary, saying how much was left out.
pub fn cap(mut text: String) -> String {
    if text.len() <= OUTPUT_CAP {
        return text;
    }
    let total = text.len();
    let mut cut = OUTPUT_CAP;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("\n[output cut: {} of {total} bytes shown]", cut));
    text
}

impl Tools {
    /// The file and shell tools, working in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Tools {
        Tools {
            root: root.into(),
            cancel: Arc::new(AtomicBool::new(false)),
            skills: Vec::new(),
            services: None,
            remote: None,
        }
    }

    /// Offers the `skill` tool, which loads one of `skills` by name.
    pub fn with_skills(mut self, skills: Vec<Skill>) -> Tools {
        self.skills = skills;
        self
    }

    /// Offers the messaging tools (`messages`, `send_message`, `message_status`), through
    /// Sovereign's Tool API.
    pub fn with_services(mut self, services: ToolApi) -> Tools {
        self.services = Some(services);
        self
    }

    /// Offers the `remote` tool, for a question to a stronger model outside this machine.
    pub fn with_remote(mut self, remote: RemoteTool) -> Tools {
        self.remote = Some(remote);
        self
    }

    /// A running `bash` command is killed when `cancel` becomes true (Ctrl-C).
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Tools {
        self.cancel = cancel;
        self
    }

    /// What the model is offered, in the OpenAI `tools` format: the file and shell tools, `skill`
    /// when there are skills, `messages` when the Tool API is reachable, `remote` when the server
    /// lists remote models. (`knowledge` is not offered until its service exists: a tool that
    /// cannot work is worse than none.)
    pub fn definitions(&self) -> Value {
        let mut tools = file_tools();
        let Some(list) = tools.as_array_mut() else { return tools };
        if !self.skills.is_empty() {
            let names: Vec<&str> = self.skills.iter().map(|s| s.name.as_str()).collect();
            list.push(tool(
                "skill",
                "Load a skill's instructions by name (the skills are listed in the system prompt).",
                json!({"name": {"type": "string", "enum": names}}),
                &["name"],
            ));
        }
        if self.services.is_some() {
            list.extend(crate::services::definitions());
        }
        if let Some(remote) = &self.remote {
            list.push(remote.definition());
        }
        tools
    }

    /// The names of the tools offered.
    pub fn names(&self) -> Vec<String> {
        let definitions = self.definitions();
        definitions
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn resolve(&self, path: &str) -> Result<PathBuf, ToolError> {
        if path.is_empty() || path.contains('\0') {
            return fail("path is empty or contains NUL");
        }
        Ok(self.root.join(path))
    }

    /// Runs tool `name` with `arguments` (the model's JSON text); the answer is the text the
    /// model sees next.
    pub fn call(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        let arguments = if arguments.trim().is_empty() { "{}" } else { arguments };
        match name {
            "read" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    path: String,
                    offset: Option<usize>,
                    limit: Option<usize>,
                }
                let a: A = parse(name, arguments)?;
                self.read(&a.path, a.offset, a.limit)
            }
            "write" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    path: String,
                    content: String,
                }
                let a: A = parse(name, arguments)?;
                self.write(&a.path, &a.content)
            }
            "edit" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    path: String,
                    old_text: String,
                    new_text: String,
                    #[serde(default)]
                    replace_all: bool,
                }
                let a: A = parse(name, arguments)?;
                self.edit(&a.path, &a.old_text, &a.new_text, a.replace_all)
            }
            "bash" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    command: String,
                    timeout: Option<u64>,
                }
                let a: A = parse(name, arguments)?;
                let timeout = a.timeout.map_or(DEFAULT_BASH_TIMEOUT, Duration::from_secs).min(MAX_BASH_TIMEOUT);
                self.bash(&a.command, timeout)
            }
            "grep" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    pattern: String,
                    path: Option<String>,
                    glob: Option<String>,
                    #[serde(default)]
                    ignore_case: bool,
                }
                let a: A = parse(name, arguments)?;
                self.grep(&a.pattern, a.path.as_deref().unwrap_or("."), a.glob.as_deref(), a.ignore_case)
            }
            "find" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    pattern: String,
                    path: Option<String>,
                }
                let a: A = parse(name, arguments)?;
                self.find(&a.pattern, a.path.as_deref().unwrap_or("."))
            }
            "skill" if !self.skills.is_empty() => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct A {
                    name: String,
                }
                let a: A = parse(name, arguments)?;
                self.skill(&a.name)
            }
            "remote" => match &self.remote {
                Some(remote) => remote.call(arguments),
                None => fail("there is no tool \"remote\": the model server lists no remote model"),
            },
            name if crate::services::TOOL_NAMES.contains(&name) => match &self.services {
                Some(services) => services.call(name, arguments),
                None => fail(format!("there is no tool {name:?}: the Tool API is not available in this session")),
            },
            other => fail(format!("there is no tool {other:?}; the tools are {}", self.names().join(", "))),
        }
    }

    /// The SKILL.md of the skill called `name`, with where its files are.
    pub fn skill(&self, name: &str) -> Result<String, ToolError> {
        let Some(skill) = self.skills.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = self.skills.iter().map(|s| s.name.as_str()).collect();
            return fail(format!("there is no skill {name:?}; the skills are {}", names.join(", ")));
        };
        let text = std::fs::read_to_string(&skill.path).map_err(|e| io_error("reading", &skill.path, &e))?;
        let dir = skill.path.parent().unwrap_or(&skill.path);
        Ok(cap(format!("[skill {name}, files in {}]\n{text}", dir.display())))
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

    /// Runs `command` with `sh -c` in the working directory; kills its whole process group after
    /// `timeout`. Answers the exit status and the combined output, capped.
    pub fn bash(&self, command: &str, timeout: Duration) -> Result<String, ToolError> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| ToolError(format!("starting sh: {e}")))?;
        let readers: Vec<_> = [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = stream.by_ref().take((OUTPUT_CAP * 4) as u64).read_to_end(&mut buf);
                // Drain the rest so the command never blocks on a full pipe.
                let _ = std::io::copy(&mut stream, &mut std::io::sink());
                buf
            })
        })
        .collect();
        // The wait runs on its own thread so the answer comes the moment the command ends; this
        // thread only wakes to enforce the timeout and Ctrl-C.
        let group = rustix::process::Pid::from_raw(child.id() as i32);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done_tx.send(child.wait());
        });
        let deadline = Instant::now() + timeout;
        let mut killed = false;
        let status = loop {
            match done_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(status) => {
                    let status = status.map_err(|e| ToolError(format!("waiting for the command: {e}")))?;
                    break if killed { None } else { Some(status) };
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ToolError("waiting for the command: the waiter went away".into()));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if !killed && (Instant::now() >= deadline || self.cancel.load(Ordering::SeqCst)) {
                        if let Some(group) = group {
                            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                        }
                        killed = true;
                    }
                }
            }
        };
        let mut out = Vec::new();
        for reader in readers {
            out.extend(reader.join().unwrap_or_default());
        }
        let mut text = String::from_utf8_lossy(&out).into_owned();
        match status {
            None if self.cancel.load(Ordering::SeqCst) => text.push_str("\n[killed: the user cancelled this step]"),
            None => {
                text.push_str(&format!("\n[killed after {} s: the command did not finish in time]", timeout.as_secs()))
            }
            Some(status) => match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
                (Some(0), _) => {}
                (Some(code), _) => text.push_str(&format!("\n[exit status {code}]")),
                (None, Some(signal)) => text.push_str(&format!("\n[killed by signal {signal}]")),
                (None, None) => {}
            },
        }
        Ok(cap(text))
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

    fn display(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn tools() -> (tempfile::TempDir, Tools) {
        let dir = tempfile::tempdir().unwrap();
        let tools = Tools::new(dir.path());
        (dir, tools)
    }

    #[test]
    fn write_read_with_ranges_and_edit_exactly_once() {
        let (dir, t) = tools();
        assert_eq!(
            t.call("write", r#"{"path": "src/a.txt", "content": "one\ntwo\nthree\ntwo\n"}"#).unwrap(),
            "wrote 18 bytes to src/a.txt"
        );
        assert_eq!(
            t.call("read", r#"{"path": "src/a.txt", "offset": 2, "limit": 2}"#).unwrap(),
            "2\ttwo\n3\tthree\n[lines 2-3 of 4; use offset 4 to read on]\n"
        );
        let err = t.call("edit", r#"{"path": "src/a.txt", "old_text": "two", "new_text": "2"}"#).unwrap_err();
        assert!(err.0.contains("occurs 2 times"), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("src/a.txt")).unwrap(),
            "one\ntwo\nthree\ntwo\n",
            "a refused edit changes nothing"
        );
        t.call("edit", r#"{"path": "src/a.txt", "old_text": "three\ntwo", "new_text": "three\n2"}"#).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("src/a.txt")).unwrap(), "one\ntwo\nthree\n2\n");
        assert_eq!(
            t.call("edit", r#"{"path": "src/a.txt", "old_text": "o", "new_text": "0", "replace_all": true}"#).unwrap(),
            "replaced 2 occurrences in src/a.txt"
        );
        assert!(
            t.call("edit", r#"{"path": "src/a.txt", "old_text": "absent", "new_text": "x"}"#)
                .unwrap_err()
                .0
                .contains("does not occur")
        );
    }

    #[test]
    fn malformed_calls_get_precise_errors() {
        let (_dir, t) = tools();
        for (name, args, expected) in [
            ("read", "{", "not valid"),
            ("read", r#"{"file": "a"}"#, "unknown field `file`"),
            ("write", r#"{"path": "a"}"#, "missing field `content`"),
            ("bash", r#"{"command": 5}"#, "invalid type"),
            ("delete", "{}", "there is no tool \"delete\""),
            ("read", r#"{"path": "missing.txt"}"#, "does not exist"),
            ("grep", r#"{"pattern": "("}"#, "not a valid regular expression"),
        ] {
            let err = t.call(name, args).unwrap_err().0;
            assert!(err.contains(expected), "{name} {args}: {err}");
        }
    }

    #[test]
    fn bash_reports_status_caps_output_and_kills_on_timeout() {
        let (_dir, t) = tools();
        assert_eq!(
            t.call("bash", r#"{"command": "echo hi; echo err >&2; exit 3"}"#).unwrap(),
            "hi\nerr\n\n[exit status 3]"
        );
        let big = t.call("bash", r#"{"command": "yes x | head -c 200000"}"#).unwrap();
        assert!(big.len() < OUTPUT_CAP + 100 && big.ends_with("bytes shown]"), "{}", big.len());
        let started = Instant::now();
        let out = t.bash("sleep 30 & sleep 30; echo never", Duration::from_secs(1)).unwrap();
        assert!(out.contains("killed after 1 s") && !out.contains("never"), "{out}");
        assert!(started.elapsed() < Duration::from_secs(10), "the whole group, background included, must die");
    }

    #[test]
    fn grep_and_find_search_the_tree() {
        let (dir, t) = tools();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::create_dir_all(dir.path().join("target")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {\n    println!(\"Hello\");\n}\n").unwrap();
        std::fs::write(dir.path().join("src/deep/lib.rs"), "// hello again\n").unwrap();
        std::fs::write(dir.path().join("target/junk.rs"), "hello\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "hello notes\n").unwrap();
        assert_eq!(
            t.call("grep", r#"{"pattern": "hello", "ignore_case": true, "glob": "*.rs"}"#).unwrap(),
            "src/deep/lib.rs:1:// hello again\nsrc/main.rs:2:    println!(\"Hello\");\n"
        );
        assert_eq!(t.call("find", r#"{"pattern": "**/*.rs"}"#).unwrap(), "src/deep/lib.rs\nsrc/main.rs\n");
        assert_eq!(t.call("find", r#"{"pattern": "src/*.rs"}"#).unwrap(), "src/main.rs\n");
        assert_eq!(t.call("grep", r#"{"pattern": "zzz"}"#).unwrap(), "no matches\n");
    }
}
