//! The dependency rules written in ARCHITECTURE.md's `boundaries` block, and
//! their check against the resolve graph.
//!
//! One rule per line; `#` starts a comment; names are separated by commas:
//!
//! - `only A, B may depend on X, Y`: no workspace crate other than A and B
//!   has X or Y as a direct normal dependency;
//! - `A, B must not depend on X, Y`: X and Y are not in the transitive normal
//!   dependency closure of A or of B;
//! - `A, B must not depend directly on X, Y`: X and Y are not direct normal
//!   dependencies of A or of B.
//!
//! Normal means neither dev nor build: the graph holds only normal edges.
//! Every name must be real, so that a rule cannot pass by being stale: the
//! crates before `may`/`must` are workspace members; the crates after `on`
//! are packages in the resolve graph, except that a `must not` rule may name
//! an external crate that is absent from the build altogether (a name
//! starting with `keel` must still be a member).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The prefix that marks a name as a workspace crate's, even where the rule
/// grammar would let an absent external crate through.
const WORKSPACE_PREFIX: &str = "keel";

/// What a rule forbids.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RuleKind {
    /// `only A may depend on X`.
    OnlyMayDepend,
    /// `A must not depend on X` (transitively).
    MustNotDepend,
    /// `A must not depend directly on X`.
    MustNotDependDirectly,
}

/// One line of the `boundaries` block.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rule {
    /// The 1-based line in the file the block came from.
    pub line: usize,
    pub kind: RuleKind,
    /// The crates before `may`/`must`: the allowed ones for `only`, the
    /// constrained ones otherwise.
    pub subjects: Vec<String>,
    /// The crates after `on`.
    pub targets: Vec<String>,
    /// The rule as written, without its comment.
    pub text: String,
}

/// The lines of the first fenced code block with info string `info`, each
/// with its 1-based line number in `markdown`; `None` without such a block.
pub fn fenced_block<'a>(markdown: &'a str, info: &str) -> Option<Vec<(usize, &'a str)>> {
    let mut lines = markdown.lines().enumerate();
    lines.find(|(_, line)| {
        line.trim()
            .strip_prefix("```")
            .is_some_and(|rest| rest.trim() == info)
    })?;
    Some(
        lines
            .take_while(|(_, line)| !line.trim().starts_with("```"))
            .map(|(i, line)| (i + 1, line))
            .collect(),
    )
}

/// Parses the lines of a `boundaries` block. Errors name the line and say
/// what the grammar expects.
pub fn parse_rules(lines: &[(usize, &str)], file: &str) -> Result<Vec<Rule>, Vec<String>> {
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for &(line, raw) in lines {
        let text = raw.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        match parse_rule(text) {
            Some((kind, subjects, targets)) => rules.push(Rule {
                line,
                kind,
                subjects,
                targets,
                text: text.to_string(),
            }),
            None => errors.push(format!(
                "{file}:{line}: cannot read the boundary rule `{text}`; write \
                 `only A, B may depend on X, Y`, `A, B must not depend on X, Y` or \
                 `A, B must not depend directly on X, Y` (crate names separated by commas)"
            )),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

fn parse_rule(text: &str) -> Option<(RuleKind, Vec<String>, Vec<String>)> {
    let (kind, subjects, targets) = if let Some(rest) = text.strip_prefix("only ") {
        let (subjects, targets) = rest.split_once(" may depend on ")?;
        (RuleKind::OnlyMayDepend, subjects, targets)
    } else if let Some((subjects, targets)) = text.split_once(" must not depend directly on ") {
        (RuleKind::MustNotDependDirectly, subjects, targets)
    } else {
        let (subjects, targets) = text.split_once(" must not depend on ")?;
        (RuleKind::MustNotDepend, subjects, targets)
    };
    Some((kind, name_list(subjects)?, name_list(targets)?))
}

/// `a, b-c, d_e` → the names; `None` if a name is empty or not a crate name.
fn name_list(text: &str) -> Option<Vec<String>> {
    text.split(',')
        .map(|name| {
            let name = name.trim();
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            valid.then(|| name.to_string())
        })
        .collect()
}

/// A resolved package: its name and its normal dependencies (package ids).
#[derive(Clone, Debug, Default)]
pub struct Package {
    pub name: String,
    pub normal_deps: Vec<String>,
}

/// The resolve graph restricted to normal dependency edges.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Workspace members by name: their package id and manifest path
    /// (relative to the workspace root).
    pub members: BTreeMap<String, (String, String)>,
    /// Every package in the resolve graph, by id.
    pub packages: BTreeMap<String, Package>,
}

impl Graph {
    /// A graph whose package ids are the names, for tests: `members` are the
    /// workspace crates, `edges` the normal dependencies.
    pub fn from_edges(members: &[&str], edges: &[(&str, &str)]) -> Graph {
        let mut graph = Graph::default();
        for &member in members {
            let manifest = format!("crates/{member}/Cargo.toml");
            graph
                .members
                .insert(member.to_string(), (member.to_string(), manifest));
        }
        for &(from, to) in edges {
            for name in [from, to] {
                graph
                    .packages
                    .entry(name.to_string())
                    .or_insert_with(|| Package {
                        name: name.to_string(),
                        normal_deps: Vec::new(),
                    });
            }
            if let Some(package) = graph.packages.get_mut(from) {
                package.normal_deps.push(to.to_string());
            }
        }
        for &member in members {
            graph
                .packages
                .entry(member.to_string())
                .or_insert_with(|| Package {
                    name: member.to_string(),
                    normal_deps: Vec::new(),
                });
        }
        graph
    }

    fn name<'a>(&'a self, id: &'a str) -> &'a str {
        self.packages.get(id).map_or(id, |p| p.name.as_str())
    }

    fn direct(&self, id: &str) -> impl Iterator<Item = &str> {
        self.packages
            .get(id)
            .into_iter()
            .flat_map(|p| p.normal_deps.iter().map(String::as_str))
    }

    fn in_build(&self, name: &str) -> bool {
        self.packages.values().any(|p| p.name == name)
    }

    /// For every package reachable from `from` over normal edges, the path
    /// of names that first reaches it (breadth first, so a shortest one).
    fn paths_from<'a>(&'a self, from: &'a str) -> BTreeMap<&'a str, Vec<&'a str>> {
        let mut paths: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut seen = BTreeSet::from([from]);
        let mut queue = VecDeque::from([(from, vec![self.name(from)])]);
        while let Some((id, path)) = queue.pop_front() {
            for dep in self.direct(id) {
                if seen.insert(dep) {
                    let mut next = path.clone();
                    next.push(self.name(dep));
                    paths.entry(self.name(dep)).or_insert_with(|| next.clone());
                    queue.push_back((dep, next));
                }
            }
        }
        paths
    }
}

/// Checks `rules` against `graph`; one message per broken rule and crate,
/// saying which rule, where it is written, what breaks it and how to fix it.
pub fn check(rules: &[Rule], graph: &Graph, file: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for rule in rules {
        let at = format!("{file}:{} (`{}`)", rule.line, rule.text);
        let unknown = unknown_names(rule, graph);
        if !unknown.is_empty() {
            for (name, what) in unknown {
                errors.push(format!(
                    "{at}: the rule names {name}, which is not in the build ({what}); \
                     fix the name or drop it from the rule"
                ));
            }
            continue;
        }
        match rule.kind {
            RuleKind::OnlyMayDepend => {
                for (member, (id, manifest)) in &graph.members {
                    if rule.subjects.contains(member) {
                        continue;
                    }
                    for dep in graph.direct(id).map(|d| graph.name(d)) {
                        if rule.targets.iter().any(|t| t == dep) {
                            errors.push(format!(
                                "{at}: {member} depends directly on {dep}, which only {} may; \
                                 remove {dep} from {manifest} and reach it through {}, or \
                                 change the rule if the boundary moved on purpose",
                                rule.subjects.join(", "),
                                rule.subjects.join(" or "),
                            ));
                        }
                    }
                }
            }
            RuleKind::MustNotDependDirectly => {
                for subject in &rule.subjects {
                    // `unknown_names` has made sure every subject is a member.
                    let Some((id, manifest)) = graph.members.get(subject) else {
                        continue;
                    };
                    for dep in graph.direct(id).map(|d| graph.name(d)) {
                        if rule.targets.iter().any(|t| t == dep) {
                            errors.push(format!(
                                "{at}: {subject} depends directly on {dep}; remove {dep} from \
                                 {manifest}, or change the rule if the boundary moved on purpose"
                            ));
                        }
                    }
                }
            }
            RuleKind::MustNotDepend => {
                for subject in &rule.subjects {
                    // `unknown_names` has made sure every subject is a member.
                    let Some((id, manifest)) = graph.members.get(subject) else {
                        continue;
                    };
                    let paths = graph.paths_from(id);
                    for target in &rule.targets {
                        if let Some(path) = paths.get(target.as_str()) {
                            let first = path.get(1).copied().unwrap_or(target);
                            errors.push(format!(
                                "{at}: {subject} depends on {target} through {}; remove {first} \
                                 from {manifest} (or cut the edge further down), or change the \
                                 rule if the boundary moved on purpose",
                                path.join(" -> "),
                            ));
                        }
                    }
                }
            }
        }
    }
    errors
}

/// The names a rule uses that do not exist, with what they should have been.
fn unknown_names<'r>(rule: &'r Rule, graph: &Graph) -> Vec<(&'r str, &'static str)> {
    let mut unknown = Vec::new();
    for subject in &rule.subjects {
        if !graph.members.contains_key(subject) {
            unknown.push((subject.as_str(), "not a workspace member"));
        }
    }
    for target in &rule.targets {
        let workspace_like =
            target == WORKSPACE_PREFIX || target.starts_with(&format!("{WORKSPACE_PREFIX}-"));
        let exists = if workspace_like {
            graph.members.contains_key(target)
        } else {
            rule.kind != RuleKind::OnlyMayDepend || graph.in_build(target)
        };
        if !exists {
            let what = if workspace_like {
                "not a workspace member"
            } else {
                "no crate depends on it"
            };
            unknown.push((target.as_str(), what));
        }
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Vec<Rule> {
        let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
        match parse_rules(&lines, "A.md") {
            Ok(rules) => rules,
            Err(errors) => panic!("{errors:#?}"),
        }
    }

    /// What a line parses to: kind, subjects, targets; `None` for an error.
    type Parsed = Option<(RuleKind, &'static [&'static str], &'static [&'static str])>;

    #[test]
    fn parse_table() {
        use RuleKind::*;
        let cases: &[(&str, Parsed)] = &[
            (
                "only keel-server may depend on axum",
                Some((OnlyMayDepend, &["keel-server"], &["axum"])),
            ),
            (
                "only a, b may depend on x, y_z , w-1",
                Some((OnlyMayDepend, &["a", "b"], &["x", "y_z", "w-1"])),
            ),
            (
                "a must not depend on tokio, sqlx",
                Some((MustNotDepend, &["a"], &["tokio", "sqlx"])),
            ),
            (
                "a, b must not depend on tokio",
                Some((MustNotDepend, &["a", "b"], &["tokio"])),
            ),
            (
                "a must not depend directly on b",
                Some((MustNotDependDirectly, &["a"], &["b"])),
            ),
            (
                "a must not depend on b  # why",
                Some((MustNotDepend, &["a"], &["b"])),
            ),
            ("only a may depend on", None),
            ("only may depend on x", None),
            ("a must depend on b", None),
            ("a must not depend on b,", None),
            ("a must not depend on b c", None),
            ("a and b must not depend on c", None),
            ("only a may depend directly on x", None),
        ];
        for (line, want) in cases {
            let got = parse_rules(&[(7, line)], "A.md");
            match (got, want) {
                (Ok(rules), Some((kind, subjects, targets))) => {
                    assert_eq!(rules.len(), 1, "{line}");
                    let rule = &rules[0];
                    assert_eq!((rule.line, rule.kind), (7, *kind), "{line}");
                    assert_eq!(rule.subjects, *subjects, "{line}");
                    assert_eq!(rule.targets, *targets, "{line}");
                }
                (Err(errors), None) => {
                    assert_eq!(errors.len(), 1, "{line}");
                    assert!(
                        errors[0].starts_with("A.md:7: cannot read"),
                        "{}",
                        errors[0]
                    );
                }
                (got, want) => panic!("{line}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let got = rules("# heading\n\n  # indented\nonly a may depend on x\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].line, 4);
    }

    #[test]
    fn finds_the_fenced_block() {
        let md =
            "# T\n\n```rust\nno\n```\n\n```boundaries\n# c\nonly a may depend on x\n```\nafter\n";
        let block = fenced_block(md, "boundaries");
        assert_eq!(block, Some(vec![(8, "# c"), (9, "only a may depend on x")]));
        assert_eq!(fenced_block(md, "missing"), None);
    }

    /// keel -> server -> core -> store -> sqlx -> tokio; core -> types; the
    /// binary also uses clap; `util` is an external crate between core and
    /// libc.
    fn graph() -> Graph {
        Graph::from_edges(
            &[
                "keel",
                "keel-server",
                "keel-core",
                "keel-store",
                "keel-types",
            ],
            &[
                ("keel", "keel-server"),
                ("keel", "clap"),
                ("keel-server", "keel-core"),
                ("keel-server", "axum"),
                ("keel-core", "keel-store"),
                ("keel-core", "keel-types"),
                ("keel-core", "util"),
                ("util", "libc"),
                ("keel-store", "sqlx"),
                ("sqlx", "tokio"),
                ("axum", "tokio"),
            ],
        )
    }

    #[test]
    fn check_table() {
        // (rules, substrings of the expected messages, in order)
        let cases: &[(&str, &[&str])] = &[
            ("only keel-server may depend on axum", &[]),
            ("only keel-store may depend on sqlx", &[]),
            ("only keel-store, keel-server may depend on tokio", &[]),
            (
                "only keel-core may depend on sqlx",
                &[
                    "keel-store depends directly on sqlx, which only keel-core may; remove sqlx from crates/keel-store/Cargo.toml",
                ],
            ),
            ("keel-types must not depend on tokio, sqlx", &[]),
            (
                "keel-core must not depend on tokio",
                &[
                    "keel-core depends on tokio through keel-core -> keel-store -> sqlx -> tokio; remove keel-store from crates/keel-core/Cargo.toml",
                ],
            ),
            (
                "keel-core, keel-types must not depend on libc, axum",
                &["keel-core depends on libc through keel-core -> util -> libc"],
            ),
            ("keel-core must not depend directly on tokio, sqlx", &[]),
            (
                "keel must not depend directly on keel-core, clap",
                &["keel depends directly on clap; remove clap from crates/keel/Cargo.toml"],
            ),
            // Names that are not there.
            (
                "only keel-srv may depend on axum",
                &["the rule names keel-srv, which is not in the build (not a workspace member)"],
            ),
            (
                "only keel may depend on reqwest",
                &["the rule names reqwest, which is not in the build (no crate depends on it)"],
            ),
            (
                "keel-typo must not depend on tokio",
                &["the rule names keel-typo, which is not in the build (not a workspace member)"],
            ),
            (
                "keel-types must not depend on keel-exec",
                &["the rule names keel-exec, which is not in the build (not a workspace member)"],
            ),
            (
                "axum must not depend on tokio",
                &["the rule names axum, which is not in the build (not a workspace member)"],
            ),
            // An external crate absent from the build is fine in `must not` rules.
            ("keel-types must not depend on reqwest", &[]),
            ("keel-types must not depend directly on reqwest", &[]),
        ];
        for (text, want) in cases {
            let got = check(&rules(text), &graph(), "A.md");
            assert_eq!(got.len(), want.len(), "{text}: {got:#?}");
            for (message, fragment) in got.iter().zip(want.iter()) {
                assert!(
                    message.starts_with(&format!("A.md:1 (`{text}`): ")),
                    "{message}"
                );
                assert!(
                    message.contains(fragment),
                    "{text}:\n{message}\nshould contain\n{fragment}"
                );
            }
        }
    }

    #[test]
    fn only_rules_count_direct_edges_of_every_other_member() {
        let got = check(
            &rules("only keel-server may depend on tokio"),
            &graph(),
            "A.md",
        );
        assert_eq!(
            got,
            Vec::<String>::new(),
            "sqlx -> tokio is not a workspace crate's edge"
        );
        let got = check(
            &rules("only keel may depend on keel-core"),
            &graph(),
            "A.md",
        );
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("keel-server depends directly on keel-core"),
            "{}",
            got[0]
        );
    }
}
