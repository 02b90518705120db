//! A character: a folder with `personality.txt` (the system prompt, plain text) and `persona.toml` (name, voice,
//! avatar, greeting, emotion → expression map).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Paths, atomic_write, paths_bundled_dir};

/// What `persona.toml` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharacterFile {
    pub name: String,
    #[serde(default)]
    pub voice: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub avatar: String,
    #[serde(default)]
    pub greeting: String,
    /// Emotion tag value (an emoji or a word) → expression name.
    #[serde(default)]
    pub emotions: BTreeMap<String, String>,
}

fn default_language() -> String {
    "en-us".into()
}

/// A loaded character.
#[derive(Debug, Clone, PartialEq)]
pub struct Character {
    /// The folder it was loaded from.
    pub dir: PathBuf,
    pub info: CharacterFile,
    /// The raw personality text, before `{{char}}`/`{{user}}`/`{{time}}` substitution.
    pub personality: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CharacterError {
    #[error(
        "no character named \"{name}\"; looked in:\n{}\nName a folder that holds personality.txt and persona.toml (setting conversation.character, or --character)",
        .looked.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n")
    )]
    NotFound { name: String, looked: Vec<PathBuf> },
    #[error("{path} cannot be read: {source}. Every character folder needs personality.txt and persona.toml")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Empty { path: PathBuf, message: String },
}

impl Character {
    /// Folders searched for a character name: the user's own first, then the bundled ones.
    pub fn search_dirs(paths: &Paths) -> Vec<PathBuf> {
        vec![paths.user_characters_dir(), paths_bundled_dir("personas")]
    }

    /// Finds a character by folder name, or by path when `name` names a folder.
    pub fn find(paths: &Paths, name: &str) -> Result<Character, CharacterError> {
        let as_path = Path::new(name);
        if as_path.components().count() > 1 || as_path.is_absolute() || as_path.join("persona.toml").is_file() {
            return Character::load(as_path);
        }
        let looked: Vec<PathBuf> = Character::search_dirs(paths).into_iter().map(|d| d.join(name)).collect();
        match looked.iter().find(|d| d.join("persona.toml").is_file()) {
            Some(dir) => Character::load(dir),
            None => Err(CharacterError::NotFound { name: name.into(), looked }),
        }
    }

    /// Loads a character folder.
    pub fn load(dir: &Path) -> Result<Character, CharacterError> {
        let toml_path = dir.join("persona.toml");
        let text_path = dir.join("personality.txt");
        let read =
            |p: &Path| std::fs::read_to_string(p).map_err(|source| CharacterError::Read { path: p.into(), source });
        let toml_text = read(&toml_path)?;
        let personality = read(&text_path)?;
        let info: CharacterFile = toml::from_str(&toml_text).map_err(|e| CharacterError::Invalid {
            path: toml_path.clone(),
            line: e.span().map(|s| toml_text[..s.start].matches('\n').count() + 1).unwrap_or(1),
            message: e.message().lines().next().unwrap_or_default().to_owned(),
        })?;
        if info.name.trim().is_empty() {
            return Err(CharacterError::Empty {
                path: toml_path,
                message: "`name` is empty: give the character a name".into(),
            });
        }
        if personality.trim().is_empty() {
            return Err(CharacterError::Empty {
                path: text_path,
                message: "is empty: write who the character is (it becomes the system prompt)".into(),
            });
        }
        Ok(Character { dir: dir.to_owned(), info, personality })
    }

    /// The system prompt: the personality with `{{char}}`, `{{user}}` and `{{time}}` filled in.
    pub fn system_prompt(&self, user: &str, time: &str) -> String {
        self.personality.replace("{{char}}", &self.info.name).replace("{{user}}", user).replace("{{time}}", time)
    }

    /// Saves an edited personality atomically.
    pub fn save_personality(&mut self, text: &str) -> std::io::Result<()> {
        atomic_write(&self.dir.join("personality.txt"), text.as_bytes())?;
        self.personality = text.to_owned();
        Ok(())
    }

    /// The expression for an emotion tag value, if the character maps it.
    pub fn expression_for(&self, emotion: &str) -> Option<&str> {
        self.info.emotions.get(emotion).map(String::as_str)
    }

    /// The puppet file this character uses, if it names one.
    pub fn avatar_path(&self) -> Option<PathBuf> {
        (!self.info.avatar.is_empty()).then(|| self.dir.join(&self.info.avatar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> Character {
        Character::load(&paths_bundled_dir("personas").join("mira")).unwrap()
    }

    #[test]
    fn default_character_loads_with_every_reference_emotion() {
        let c = bundled();
        assert_eq!(c.info.name, "Mira");
        for e in ["😊", "🤩", "😎", "😏", "💪", "😳", "😲", "🤔", "👀", "😤", "😢", "😅", "🙄", "💕", "😂", "🔥", "✨"]
        {
            assert!(c.expression_for(e).is_some(), "{e} has no expression");
            assert!(c.personality.contains(e), "{e} is not taught in personality.txt");
        }
        assert!(c.personality.contains("[EMOTION:"));
    }

    #[test]
    fn substitutions() {
        let p = bundled().system_prompt("Sam", "Sunday evening");
        assert!(p.starts_with("You are Mira,"));
        assert!(p.contains("talks with Sam"));
        assert!(p.contains("It is Sunday evening."));
        assert!(!p.contains("{{"));
    }

    #[test]
    fn bad_folders_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = Character::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("persona.toml cannot be read"), "{e}");

        std::fs::write(dir.path().join("persona.toml"), "name = \"X\"\nvoice = 3\n").unwrap();
        std::fs::write(dir.path().join("personality.txt"), "hi").unwrap();
        let e = Character::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("persona.toml:2:"), "{e}");

        std::fs::write(dir.path().join("persona.toml"), "name = \"X\"\n").unwrap();
        std::fs::write(dir.path().join("personality.txt"), "  \n").unwrap();
        let e = Character::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
    }

    #[test]
    fn find_by_name_and_path() {
        let paths = Paths { config_file: "x".into(), data_dir: "/nonexistent".into(), models_dir: "/m".into() };
        assert_eq!(Character::find(&paths, "mira").unwrap().info.name, "Mira");
        let e = Character::find(&paths, "nobody").unwrap_err().to_string();
        assert!(e.contains("no character named \"nobody\""), "{e}");
        let dir = paths_bundled_dir("personas").join("mira");
        assert_eq!(Character::find(&paths, dir.to_str().unwrap()).unwrap().info.name, "Mira");
    }

    #[test]
    fn personality_saves_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let src = paths_bundled_dir("personas").join("mira");
        for f in ["persona.toml", "personality.txt"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let mut c = Character::load(dir.path()).unwrap();
        c.save_personality("You are {{char}}, grumpy.").unwrap();
        assert_eq!(Character::load(dir.path()).unwrap().system_prompt("u", "t"), "You are Mira, grumpy.");
    }
}
