//! The `skill` tool: one skill's SKILL.md by name (the skills are listed in the system prompt;
//! their instructions are read only when the agent loads one).

use serde::Deserialize;
use serde_json::{Value, json};

use crate::context::Skill;
use crate::files::io_error;
use crate::tool::{Tool, ToolError, cap, object_schema, parse};

/// `skill`: loads one of `skills` by name.
#[derive(Debug, Clone)]
pub struct SkillTool {
    skills: Vec<Skill>,
}

impl SkillTool {
    /// The tool that loads one of `skills`.
    pub fn new(skills: Vec<Skill>) -> SkillTool {
        SkillTool { skills }
    }

    /// The SKILL.md of the skill called `name`, with where its files are.
    pub fn load(&self, name: &str) -> Result<String, ToolError> {
        let Some(skill) = self.skills.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = self.skills.iter().map(|s| s.name.as_str()).collect();
            return Err(ToolError(format!("there is no skill {name:?}; the skills are {}", names.join(", "))));
        };
        let text = std::fs::read_to_string(&skill.path).map_err(|e| io_error("reading", &skill.path, &e))?;
        let dir = skill.path.parent().unwrap_or(&skill.path);
        Ok(cap(format!("[skill {name}, files in {}]\n{text}", dir.display())))
    }
}

impl Tool for SkillTool {
    fn name(&self) -> &str {
        "skill"
    }

    fn description(&self) -> &str {
        "Load a skill's instructions by name (the skills are listed in the system prompt)."
    }

    fn schema(&self) -> Value {
        let names: Vec<&str> = self.skills.iter().map(|s| s.name.as_str()).collect();
        object_schema(json!({"name": {"type": "string", "enum": names}}), &["name"])
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct A {
            name: String,
        }
        let a: A = parse(self.name(), arguments)?;
        self.load(&a.name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn a_skill_loads_by_name_and_an_unknown_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("deploy")).unwrap();
        let path = dir.path().join("deploy/SKILL.md");
        std::fs::write(&path, "---\nname: deploy\n---\nship it\n").unwrap();
        let tool = SkillTool::new(vec![Skill { name: "deploy".into(), description: "ships".into(), path }]);
        let loaded = tool.run(r#"{"name": "deploy"}"#).unwrap();
        assert!(loaded.starts_with("[skill deploy, files in ") && loaded.ends_with("ship it\n"), "{loaded}");
        assert_eq!(
            tool.run(r#"{"name": "other"}"#).unwrap_err().0,
            "there is no skill \"other\"; the skills are deploy"
        );
    }
}
