//! The agent's toolbox: the tools a session offers the model, in order, and the dispatch of a
//! call to the one it names.
//!
//! [`Tools::new`] offers the file and shell tools (`read`, `write`, `edit`, `bash`, `grep`,
//! `find`); `skill` ([`crate::skill`]), the messaging tools and `remote` ([`crate::services`])
//! are added when they can work, and any other [`Tool`] with [`Tools::register`]. Dispatch is by
//! the name each tool gives itself: a new tool is a type implementing [`Tool`], registered by
//! whoever starts the session, with no list here to extend.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde_json::Value;

use crate::bash::Bash;
use crate::context::Skill;
use crate::files::{Edit, Find, Grep, Read, Workdir, Write};
use crate::services::{RemoteTool, ToolApi};
use crate::skill::SkillTool;
use crate::tool::{Tool, ToolError};

/// The tools a session offers, in the order the model is shown them.
#[derive(Clone)]
pub struct Tools {
    root: PathBuf,
    offered: Vec<Arc<dyn Tool>>,
    /// Tools that are not offered, with why: a model that calls one anyway is told the reason.
    absent: Vec<(String, &'static str)>,
}

impl std::fmt::Debug for Tools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tools").field("root", &self.root).field("offered", &self.names()).finish()
    }
}

impl Tools {
    /// The file and shell tools, working in `root` (the sandbox's working directory).
    pub fn new(root: impl Into<PathBuf>) -> Tools {
        let root = root.into();
        let dir = Workdir::new(&root);
        let absent = crate::services::ABSENT
            .iter()
            .flat_map(|(names, why)| names.iter().map(|name| ((*name).to_owned(), *why)))
            .collect();
        let offered: Vec<Arc<dyn Tool>> = vec![
            Arc::new(Read(dir.clone())),
            Arc::new(Write(dir.clone())),
            Arc::new(Edit(dir.clone())),
            Arc::new(Bash::new(&root, Arc::new(AtomicBool::new(false)))),
            Arc::new(Grep(dir.clone())),
            Arc::new(Find(dir)),
        ];
        Tools { root, offered, absent }
    }

    /// Offers `tool`: in the place of an offered tool of the same name, else after the others.
    pub fn register(mut self, tool: Arc<dyn Tool>) -> Tools {
        match self.offered.iter_mut().find(|t| t.name() == tool.name()) {
            Some(place) => *place = tool,
            None => self.offered.push(tool),
        }
        self
    }

    /// Offers the `skill` tool, which loads one of `skills` by name (none: no `skill` tool).
    pub fn with_skills(self, skills: Vec<Skill>) -> Tools {
        if skills.is_empty() {
            let mut tools = self;
            tools.offered.retain(|t| t.name() != "skill");
            return tools;
        }
        self.register(Arc::new(SkillTool::new(skills)))
    }

    /// Offers the messaging tools (`messages`, `send_message`, `message_status`) and the web
    /// tools (`web_search`, `web_fetch`), through Sovereign's Tool API.
    pub fn with_services(self, services: ToolApi) -> Tools {
        let web = crate::services::web::tools(&services);
        services.tools().into_iter().chain(web).fold(self, Tools::register)
    }

    /// Offers the wallet's tools (`wallet_balance`, `ens_resolve`, `wallet_send`, `wallet_swap`,
    /// `wallet_tx`) when the Tool API at
    /// `services` serves the wallet (asked once, here); otherwise nothing.
    pub fn with_wallet(self, services: &ToolApi) -> Tools {
        if !crate::services::wallet::served(services) {
            return self;
        }
        crate::services::wallet::tools(services).into_iter().fold(self, Tools::register)
    }

    /// Offers the knowledge tools (`knowledge`, `knowledge_read`) when the Tool API at
    /// `services` has a knowledge index (asked once, here); otherwise nothing.
    pub fn with_knowledge(self, services: &ToolApi) -> Tools {
        if !crate::services::knowledge::served(services) {
            return self;
        }
        crate::services::knowledge::tools(services).into_iter().fold(self, Tools::register)
    }

    /// Offers the `remote` tool, for a question to a stronger model outside this machine.
    pub fn with_remote(self, remote: RemoteTool) -> Tools {
        self.register(Arc::new(remote))
    }

    /// A running `bash` command is killed when `cancel` becomes true (Ctrl-C).
    pub fn with_cancel(self, cancel: Arc<AtomicBool>) -> Tools {
        let bash = Bash::new(&self.root, cancel);
        self.register(Arc::new(bash))
    }

    /// What the model is offered, in the OpenAI `tools` format: the file and shell tools, `skill`
    /// when there are skills, `messages` and the web tools when the Tool API is reachable, the
    /// wallet's and `knowledge` when it serves them, `remote` when the server lists remote
    /// models. (A tool that cannot work is worse than none: a service that is not there is not
    /// offered, and a model that calls its tool anyway is told why.)
    pub fn definitions(&self) -> Value {
        Value::Array(self.offered.iter().map(|t| t.definition()).collect())
    }

    /// The names of the tools offered.
    pub fn names(&self) -> Vec<String> {
        self.offered.iter().map(|t| t.name().to_owned()).collect()
    }

    /// Runs tool `name` with `arguments` (the model's JSON text); the answer is the text the
    /// model sees next.
    pub fn call(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        let arguments = if arguments.trim().is_empty() { "{}" } else { arguments };
        if let Some(tool) = self.offered.iter().find(|t| t.name() == name) {
            return tool.run(arguments);
        }
        Err(ToolError(match self.absent.iter().find(|(absent, _)| absent == name) {
            Some((_, why)) => format!("there is no tool {name:?}: {why}"),
            None => format!("there is no tool {name:?}; the tools are {}", self.names().join(", ")),
        }))
    }
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

    #[test]
    fn every_tool_is_offered_as_before_in_order_with_its_schema() {
        let dir = tempfile::tempdir().unwrap();
        let skills = ["deploy", "review"].map(|name| Skill {
            name: name.into(),
            description: "d".into(),
            path: dir.path().join(name).join("SKILL.md"),
        });
        let tools = Tools::new(dir.path())
            .with_skills(skills.to_vec())
            .with_cancel(Arc::new(AtomicBool::new(false)))
            .with_services(ToolApi::new("http://127.0.0.1:9", None))
            .with_remote(RemoteTool::new("http://127.0.0.1:9", None, None, vec!["a".into(), "b".into()]));
        let expected: Value = serde_json::from_str(include_str!("../testdata/definitions.json")).unwrap();
        assert_eq!(tools.definitions(), expected);
        assert_eq!(
            tools.names(),
            [
                "read",
                "write",
                "edit",
                "bash",
                "grep",
                "find",
                "skill",
                "messages",
                "send_message",
                "message_status",
                "web_search",
                "web_fetch",
                "remote"
            ]
        );
    }

    #[test]
    fn a_tool_not_offered_is_refused_with_why() {
        let (_dir, t) = tools();
        let refusal = |name: &str| t.call(name, "{}").unwrap_err().0;
        assert_eq!(refusal("remote"), "there is no tool \"remote\": the model server lists no remote model");
        for name in ["messages", "send_message", "message_status", "web_search", "web_fetch"] {
            assert_eq!(
                refusal(name),
                format!("there is no tool {name:?}: the Tool API is not available in this session")
            );
        }
        for name in ["knowledge", "knowledge_read"] {
            assert!(refusal(name).ends_with("sov serve has no knowledge index (the user adds folders with `sov know add PATH` and runs `sov know index`)"), "{name}");
        }
        assert_eq!(refusal("skill"), "there is no tool \"skill\"; the tools are read, write, edit, bash, grep, find");
    }

    /// A tool from outside the crate, as a new service's would be.
    struct Echo;

    impl Tool for Echo {
        fn name(&self) -> &str {
            "echo"
        }
        fn description(&self) -> &str {
            "Say the text back."
        }
        fn schema(&self) -> Value {
            crate::tool::object_schema(serde_json::json!({"text": {"type": "string"}}), &["text"])
        }
        fn run(&self, arguments: &str) -> Result<String, ToolError> {
            Ok(arguments.to_owned())
        }
    }

    #[test]
    fn a_registered_tool_is_offered_last_and_called_by_its_name() {
        let (_dir, t) = tools();
        let t = t.register(Arc::new(Echo));
        assert_eq!(t.names().last().map(String::as_str), Some("echo"));
        assert_eq!(t.definitions().as_array().unwrap().last().unwrap()["function"]["name"], "echo");
        assert_eq!(t.call("echo", " ").unwrap(), "{}", "empty arguments reach a tool as {{}}");
        // Registering a name again replaces the tool in its place.
        let again = t.clone().register(Arc::new(Echo));
        assert_eq!(again.names(), t.names());
    }
}
