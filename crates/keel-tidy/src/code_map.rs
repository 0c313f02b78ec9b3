//! ARCHITECTURE.md's code map lists exactly the workspace members: one
//! bullet per crate, starting ``- **`crate-name`**``.

use std::collections::BTreeMap;

/// The crates the code map's bullets name, with their 1-based lines. The code
/// map is the `## Code map` section, up to the next `## ` heading; `None`
/// without that section.
pub fn bullets(markdown: &str) -> Option<Vec<(usize, String)>> {
    let mut lines = markdown.lines().enumerate();
    lines.find(|(_, line)| line.trim() == "## Code map")?;
    Some(
        lines
            .take_while(|(_, line)| !line.starts_with("## "))
            .filter_map(|(i, line)| {
                let name = line.strip_prefix("- **`")?.split_once("`**")?.0;
                Some((i + 1, name.to_string()))
            })
            .collect(),
    )
}

/// Compares the bullets with the members; one message per missing,
/// unknown or repeated crate.
pub fn check(bullets: &[(usize, String)], members: &[&str], file: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (line, name) in bullets {
        if let Some(first) = seen.insert(name, *line) {
            errors.push(format!(
                "{file}:{line}: the code map has a second bullet for {name} (the first is on \
                 line {first}); merge them"
            ));
        }
        if !members.contains(&name.as_str()) {
            errors.push(format!(
                "{file}:{line}: the code map has a bullet for {name}, which is not a workspace \
                 member; rename the bullet or remove it"
            ));
        }
    }
    for member in members {
        if !seen.contains_key(member) {
            errors.push(format!(
                "{file}: the code map has no bullet for the workspace member {member}; add \
                 \"- **`{member}`**: what it is for\" to the Code map section"
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD: &str = "\
# Architecture

- **`not-in-the-map`**: above the section.

## Code map

- **`keel-types`**: the vocabulary.
  More about it, **`keel-data`** in passing.
- **`keel-data`**: reads data.
* **`starred`**: not our bullet style.

## Data flow

- **`keel-later`**: below the section.
";

    #[test]
    fn reads_bullets_of_the_section_only() {
        let got = bullets(MD);
        assert_eq!(
            got,
            Some(vec![
                (7, "keel-types".to_string()),
                (9, "keel-data".to_string())
            ])
        );
        assert_eq!(bullets("# Architecture\n- **`a`**: no section\n"), None);
    }

    /// Bullets (line, name), members, and the starts of the expected
    /// messages, in order.
    type Case = (
        &'static [(usize, &'static str)],
        &'static [&'static str],
        &'static [&'static str],
    );

    #[test]
    fn check_table() {
        let cases: &[Case] = &[
            (&[(1, "a"), (2, "b")], &["a", "b"], &[]),
            (&[(2, "b"), (1, "a")], &["a", "b"], &[]),
            (
                &[(1, "a")],
                &["a", "b"],
                &["A.md: the code map has no bullet for the workspace member b"],
            ),
            (
                &[(1, "a"), (2, "b"), (3, "gone")],
                &["a", "b"],
                &["A.md:3: the code map has a bullet for gone, which is not a workspace member"],
            ),
            (
                &[(1, "a"), (2, "b"), (5, "a")],
                &["a", "b"],
                &["A.md:5: the code map has a second bullet for a (the first is on line 1)"],
            ),
        ];
        for (bullets, members, want) in cases {
            let bullets: Vec<(usize, String)> = bullets
                .iter()
                .map(|&(line, name)| (line, name.to_string()))
                .collect();
            let got = check(&bullets, members, "A.md");
            assert_eq!(
                got.len(),
                want.len(),
                "{bullets:?} vs {members:?}: {got:#?}"
            );
            for (message, fragment) in got.iter().zip(want.iter()) {
                assert!(
                    message.starts_with(fragment),
                    "{message}\nshould start with\n{fragment}"
                );
            }
        }
    }
}
