//! Model references as users type them: a model's or a version's UUID, `name`
//! (the latest version), `name:3` (version 3) or `name@champion` (an alias).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// A reference to a model version, before it is resolved against the registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelRef {
    /// A UUID: either a model's id (meaning its latest version) or a version's id.
    Id(Uuid),
    /// A model name: its latest version.
    Latest(String),
    /// A model name and a version number.
    Number(String, u32),
    /// A model name and an alias such as `champion`.
    Alias(String, String),
}

/// A model reference that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a model reference: {reason}. Use NAME, NAME:VERSION, NAME@ALIAS or a UUID"
)]
pub struct ModelRefError {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Checks a model name or alias: 1–128 characters of letters, digits, `_`, `-` and `.`,
/// starting with a letter or digit.
pub fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 128 {
        return Err("the name is longer than 128 characters".into());
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or('-');
    if !first.is_ascii_alphanumeric() {
        return Err(format!("'{name}' must start with a letter or a digit"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "'{name}' contains '{bad}'; use letters, digits, '_', '-' and '.'"
        ));
    }
    Ok(())
}

impl FromStr for ModelRef {
    type Err = ModelRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason: String| ModelRefError {
            input: s.to_string(),
            reason,
        };
        let s_trim = s.trim();
        if let Ok(id) = Uuid::parse_str(s_trim) {
            return Ok(ModelRef::Id(id));
        }
        if let Some((name, alias)) = s_trim.split_once('@') {
            valid_name(name).map_err(err)?;
            valid_name(alias).map_err(|r| err(format!("alias {r}")))?;
            return Ok(ModelRef::Alias(name.to_string(), alias.to_string()));
        }
        if let Some((name, number)) = s_trim.rsplit_once(':') {
            valid_name(name).map_err(err)?;
            let n: u32 = number
                .parse()
                .map_err(|_| err(format!("'{number}' is not a version number")))?;
            if n == 0 {
                return Err(err("version numbers start at 1".into()));
            }
            return Ok(ModelRef::Number(name.to_string(), n));
        }
        valid_name(s_trim).map_err(err)?;
        Ok(ModelRef::Latest(s_trim.to_string()))
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Id(id) => write!(f, "{id}"),
            ModelRef::Latest(n) => write!(f, "{n}"),
            ModelRef::Number(n, v) => write!(f, "{n}:{v}"),
            ModelRef::Alias(n, a) => write!(f, "{n}@{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            "fraud".parse::<ModelRef>().unwrap(),
            ModelRef::Latest("fraud".into())
        );
        assert_eq!(
            "fraud:2".parse::<ModelRef>().unwrap(),
            ModelRef::Number("fraud".into(), 2)
        );
        assert_eq!(
            "fraud@champion".parse::<ModelRef>().unwrap(),
            ModelRef::Alias("fraud".into(), "champion".into())
        );
        let id = Uuid::now_v7();
        assert_eq!(
            id.to_string().parse::<ModelRef>().unwrap(),
            ModelRef::Id(id)
        );
    }

    #[test]
    fn rejects_bad_refs_with_reasons() {
        let e = "fraud:x".parse::<ModelRef>().unwrap_err();
        assert!(e.to_string().contains("not a version number"), "{e}");
        assert!("fraud:0".parse::<ModelRef>().is_err());
        assert!("".parse::<ModelRef>().is_err());
        assert!("a b".parse::<ModelRef>().is_err());
        assert!("@x".parse::<ModelRef>().is_err());
        assert!("-x".parse::<ModelRef>().is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["m", "m:3", "m@champion"] {
            assert_eq!(s.parse::<ModelRef>().unwrap().to_string(), s);
        }
    }
}
