//! `keel login`, `keel logout`, `keel whoami`, `keel token`, `keel user` and
//! `keel audit`: who the CLI acts as, users and tokens for admins, and the
//! audit log, in both modes. Run on the data directory (no `KEEL_URL`),
//! `keel token create` is how the first admin is made: embedded mode acts as
//! the local OS user, who may change the database anyway.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use keel_api_model as api;
use keel_api_model::routes::{self, fill};
use keel_types::Role;

use crate::backend::Backend;
use crate::client::Client;
use crate::output::{self, Format};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Creates an API token for a user, creating the user (with --role) if
    /// needed; prints the token once.
    Create(CreateTokenArgs),
    /// Lists tokens (never their secrets).
    #[command(alias = "ls")]
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revokes a token: requests carrying it are refused from now on.
    Revoke { id: String },
}

#[derive(Args)]
pub struct CreateTokenArgs {
    /// The user the token acts as.
    #[arg(long)]
    user: String,
    /// The user's role: viewer, modeler, approver or admin (needed for a new
    /// user; replaces an existing user's role).
    #[arg(long)]
    role: Option<Role>,
    /// A group the user belongs to (repeatable; replaces the user's groups).
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// What the token is for.
    #[arg(long)]
    name: Option<String>,
    /// Days until the token expires (0: never; default 90).
    #[arg(long)]
    expires_in_days: Option<u32>,
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Lists users.
    #[command(alias = "ls")]
    List,
    /// Shows a user.
    Show { name: String },
    /// Changes a user's role or groups.
    Set {
        name: String,
        /// The new role.
        #[arg(long)]
        role: Option<Role>,
        /// A group (repeatable; replaces the user's groups).
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Remove the user from every group.
        #[arg(long, conflicts_with = "groups")]
        no_groups: bool,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Lists changes, newest first.
    #[command(alias = "ls")]
    List {
        /// Only changes to this model.
        #[arg(long)]
        model: Option<String>,
        /// Only changes by this user.
        #[arg(long)]
        actor: Option<String>,
        /// Only this kind of change (alias.moved, job.created, ...).
        #[arg(long)]
        action: Option<String>,
        /// Only changes since then: 2026-12-01T09:00:00Z, 2026-12-01, or 30m, 12h, 7d.
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        page: crate::PageArgs,
    },
}

impl Backend {
    async fn whoami(&self) -> anyhow::Result<api::Whoami> {
        match self {
            Backend::Local(k) => Ok(k.local_principal().whoami()),
            Backend::Remote(c) => c.get(routes::WHOAMI).await,
        }
    }

    async fn create_token(&self, req: api::CreateToken) -> anyhow::Result<api::CreatedToken> {
        match self {
            Backend::Local(k) => Ok(k.create_token(&k.local_principal(), req).await?),
            Backend::Remote(c) => c.post(routes::TOKENS, &req).await,
        }
    }

    async fn list_tokens(&self, q: &api::TokenQuery) -> anyhow::Result<Vec<api::Token>> {
        match self {
            Backend::Local(k) => Ok(k.list_tokens(&k.local_principal(), q).await?),
            Backend::Remote(c) => c.get_query(routes::TOKENS, q).await,
        }
    }

    async fn revoke_token(&self, id: uuid::Uuid) -> anyhow::Result<api::Token> {
        match self {
            Backend::Local(k) => Ok(k.revoke_token(&k.local_principal(), id.into()).await?),
            Backend::Remote(c) => c.delete(&fill(routes::TOKEN, &[&id.to_string()])).await,
        }
    }

    async fn list_users(&self) -> anyhow::Result<Vec<api::User>> {
        match self {
            Backend::Local(k) => Ok(k.list_users(&k.local_principal()).await?),
            Backend::Remote(c) => c.get(routes::USERS).await,
        }
    }

    async fn user(&self, name: &str) -> anyhow::Result<api::User> {
        match self {
            Backend::Local(k) => Ok(k.user(&k.local_principal(), name).await?),
            Backend::Remote(c) => c.get(&fill(routes::USER, &[name])).await,
        }
    }

    async fn update_user(&self, name: &str, change: api::UpdateUser) -> anyhow::Result<api::User> {
        match self {
            Backend::Local(k) => Ok(k.update_user(&k.local_principal(), name, change).await?),
            Backend::Remote(c) => c.patch(&fill(routes::USER, &[name]), &change).await,
        }
    }

    async fn audit(&self, q: &api::AuditQuery) -> anyhow::Result<api::Page<api::AuditEntry>> {
        match self {
            Backend::Local(k) => Ok(k.audit(&k.local_principal(), q).await?),
            Backend::Remote(c) => c.get_query(routes::AUDIT, q).await,
        }
    }
}

pub async fn token_cmd(b: &Backend, fmt: Format, cmd: TokenCmd) -> anyhow::Result<i32> {
    match cmd {
        TokenCmd::Create(a) => {
            let made = b
                .create_token(api::CreateToken {
                    user: a.user,
                    role: a.role,
                    groups: (!a.groups.is_empty()).then_some(a.groups),
                    name: a.name,
                    expires_in_days: a.expires_in_days,
                })
                .await?;
            if fmt == Format::Json {
                output::json(&made)?;
            } else {
                let expires = made.info.expires_at.map_or("never".into(), |t| {
                    t.format("%Y-%m-%d %H:%M UTC").to_string()
                });
                eprintln!(
                    "token {} for {} ({}), expires {expires}; it is shown only now:",
                    made.info.id, made.user.name, made.user.role
                );
                println!("{}", made.token);
            }
        }
        TokenCmd::List { user } => {
            let tokens = b.list_tokens(&api::TokenQuery { user }).await?;
            if fmt == Format::Json {
                output::json(&tokens)?;
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.user.clone(),
                            t.name.clone(),
                            format!("{:?}", t.status).to_uppercase(),
                            t.expires_at
                                .map_or("never".into(), |e| e.format("%Y-%m-%d").to_string()),
                            t.created_by.clone(),
                        ]
                    })
                    .collect();
                output::table(
                    &["ID", "USER", "NAME", "STATUS", "EXPIRES", "CREATED BY"],
                    &rows,
                );
            }
        }
        TokenCmd::Revoke { id } => {
            let id: uuid::Uuid = id.trim().parse().with_context(|| {
                format!("'{id}' is not a token id (a UUID such as `keel token list` prints)")
            })?;
            let t = b.revoke_token(id).await?;
            if fmt == Format::Json {
                output::json(&t)?;
            } else {
                println!("revoked token {} of {}", t.id, t.user);
            }
        }
    }
    Ok(0)
}

pub async fn user_cmd(b: &Backend, fmt: Format, cmd: UserCmd) -> anyhow::Result<i32> {
    let show = |u: &api::User| -> anyhow::Result<()> {
        if fmt == Format::Json {
            return output::json(u);
        }
        output::kv(&[
            ("name", u.name.clone()),
            ("role", u.role.to_string()),
            ("groups", groups(&u.groups)),
            ("created", u.created_at.to_rfc3339()),
            ("updated", u.updated_at.to_rfc3339()),
        ]);
        Ok(())
    };
    match cmd {
        UserCmd::List => {
            let users = b.list_users().await?;
            if fmt == Format::Json {
                output::json(&users)?;
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| vec![u.name.clone(), u.role.to_string(), groups(&u.groups)])
                    .collect();
                output::table(&["NAME", "ROLE", "GROUPS"], &rows);
            }
        }
        UserCmd::Show { name } => show(&b.user(&name).await?)?,
        UserCmd::Set {
            name,
            role,
            groups,
            no_groups,
        } => {
            if role.is_none() && groups.is_empty() && !no_groups {
                bail!("say what to change: --role ROLE, --group GROUP or --no-groups");
            }
            let groups = if no_groups {
                Some(Vec::new())
            } else {
                (!groups.is_empty()).then_some(groups)
            };
            show(
                &b.update_user(&name, api::UpdateUser { role, groups })
                    .await?,
            )?;
        }
    }
    Ok(0)
}

fn groups(g: &[String]) -> String {
    if g.is_empty() {
        "-".into()
    } else {
        g.join(",")
    }
}

pub async fn audit_cmd(b: &Backend, fmt: Format, cmd: AuditCmd) -> anyhow::Result<i32> {
    let AuditCmd::List {
        model,
        actor,
        action,
        since,
        page,
    } = cmd;
    let q = api::AuditQuery {
        model,
        actor,
        action,
        since,
        max_results: page.limit,
        page_token: page.page_token,
    };
    let log = b.audit(&q).await?;
    if fmt == Format::Json {
        return output::json(&log).map(|()| 0);
    }
    let rows: Vec<Vec<String>> = log
        .items
        .iter()
        .map(|e| {
            vec![
                e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                e.actor.clone(),
                e.source.clone(),
                e.action.to_string(),
                e.target.clone(),
                e.details.to_string(),
            ]
        })
        .collect();
    output::table(
        &["AT", "ACTOR", "FROM", "ACTION", "TARGET", "DETAILS"],
        &rows,
    );
    output::next_page(&log.next_page_token);
    Ok(0)
}

pub async fn whoami(b: &Backend, fmt: Format) -> anyhow::Result<i32> {
    let me = b.whoami().await?;
    if fmt == Format::Json {
        output::json(&me)?;
    } else {
        output::kv(&[
            ("user", me.user.clone()),
            ("role", me.role.to_string()),
            ("groups", groups(&me.groups)),
            ("auth", me.auth.clone()),
        ]);
    }
    Ok(0)
}

/// `keel login`: checks a token against the server and keeps it for the
/// server's URL. The token comes from `--token`, else from standard input
/// (a prompt on a terminal), so it need not be in the shell's history.
pub async fn login(url: Option<&str>, token: Option<String>) -> anyhow::Result<i32> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        bail!("`keel login` needs the server: set KEEL_URL or pass --url");
    };
    let token = match token {
        Some(t) => t,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("API token for {url}: ");
                std::io::stderr().flush().ok();
            }
            let mut line = String::new();
            stdin
                .lock()
                .read_line(&mut line)
                .context("cannot read the token")?;
            line
        }
    };
    let token = token.trim().to_string();
    if token.is_empty() {
        bail!("no token given");
    }
    let client = Client::new(url, Some(&token))?;
    let me: api::Whoami = client.get(routes::WHOAMI).await?;
    let Some(path) = crate::backend::credentials_path() else {
        bail!("there is nowhere to keep the token: set KEEL_CONFIG_DIR or HOME");
    };
    save_token(&path, client.base(), Some(&token))?;
    eprintln!(
        "logged in to {} as {} ({}); the token is kept in {}",
        client.base(),
        me.user,
        me.role,
        path.display()
    );
    Ok(0)
}

/// `keel logout`: forgets the token kept for the server.
pub fn logout(url: Option<&str>) -> anyhow::Result<i32> {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        bail!("`keel logout` needs the server: set KEEL_URL or pass --url");
    };
    if let Some(path) = crate::backend::credentials_path() {
        save_token(&path, url.trim_end_matches('/'), None)?;
    }
    eprintln!("logged out of {url}");
    Ok(0)
}

/// The token kept in `path` for the server at `url`.
pub fn saved_token(path: &Path, url: &str) -> anyhow::Result<Option<String>> {
    let saved = read_saved(path)?;
    Ok(saved
        .get(url.trim_end_matches('/'))
        .and_then(|v| v.as_str())
        .map(str::to_string))
}

fn read_saved(path: &Path) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not the JSON `keel login` writes; remove it and log in again",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Keeps (or, with `None`, forgets) the token for `url`, in a file only its
/// owner can read, replaced whole so a crash never leaves half of it.
fn save_token(path: &Path, url: &str, token: Option<&str>) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut saved = read_saved(path)?;
    match token {
        Some(t) => saved.insert(url.to_string(), t.into()),
        None => saved.remove(url),
    };
    let dir = path
        .parent()
        .context("the credentials file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).ok();
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(&saved)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_kept_per_server_in_a_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel").join("credentials.json");
        assert_eq!(saved_token(&path, "http://a:1").unwrap(), None);
        save_token(&path, "http://a:1", Some("keel_a")).unwrap();
        save_token(&path, "http://b:2", Some("keel_b")).unwrap();
        assert_eq!(
            saved_token(&path, "http://a:1/").unwrap().as_deref(),
            Some("keel_a")
        );
        assert_eq!(
            saved_token(&path, "http://b:2").unwrap().as_deref(),
            Some("keel_b")
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        save_token(&path, "http://a:1", None).unwrap();
        assert_eq!(saved_token(&path, "http://a:1").unwrap(), None);
        assert_eq!(
            saved_token(&path, "http://b:2").unwrap().as_deref(),
            Some("keel_b")
        );
        std::fs::write(&path, "not json").unwrap();
        let e = saved_token(&path, "http://b:2").unwrap_err().to_string();
        assert!(e.contains("log in again"), "{e}");
    }
}
