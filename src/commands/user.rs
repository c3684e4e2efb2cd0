//! `sharpeyes user add|remove|passwd`: the command center's users in its SQLite database,
//! each change audited as `cli`. Passwords come from an environment variable or stdin and are
//! stored only as argon2id hashes. (I/O: the database, the environment, stdin, stdout.)

use anyhow::Context;
use sharpeyes_core::{Clock, SystemClock};

use crate::cli::{UserAddArgs, UserCommand, UserPasswdArgs, UserRemoveArgs};

pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => add(args),
        UserCommand::Remove(args) => remove(args),
        UserCommand::Passwd(args) => passwd(args),
    }
}

/// `sharpeyes user add`.
fn add(args: UserAddArgs) -> anyhow::Result<()> {
    let UserAddArgs {
        db,
        username,
        role,
        villages,
        password_env,
    } = args;
    let role = sharpeyes_web::Role::parse(&role)
        .with_context(|| format!("--role {role:?}: one of admin, operator, viewer"))?;
    if username.trim().is_empty() || username.len() > sharpeyes_web::auth::MAX_USERNAME_BYTES {
        anyhow::bail!(
            "--username: 1 to {} bytes",
            sharpeyes_web::auth::MAX_USERNAME_BYTES
        );
    }
    let villages: std::collections::BTreeSet<String> = villages
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if role != sharpeyes_web::Role::Admin && villages.is_empty() {
        anyhow::bail!("--villages: an operator or viewer needs at least one village");
    }
    let password = read_password(password_env.as_deref())?;
    let store =
        sharpeyes_web::Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    let now = SystemClock.now();
    store.put_user(
        &username,
        &sharpeyes_web::auth::hash_password(&password),
        role,
        &villages,
        now,
    )?;
    // put_user ended the sessions of the user it replaced, if any.
    store.audit(now, "cli", "user_add", &username, role.as_str())?;
    println!(
        "user {username}: {} ({})",
        role.as_str(),
        if villages.is_empty() {
            "all villages".to_string()
        } else {
            villages.into_iter().collect::<Vec<_>>().join(", ")
        }
    );
    Ok(())
}

/// The password of `user add` / `user passwd`: from the variable, or the first line of stdin.
fn read_password(password_env: Option<&str>) -> anyhow::Result<String> {
    let password = match password_env {
        Some(var) => {
            std::env::var(var).with_context(|| format!("--password-env: {var} is not set"))?
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    if password.chars().count() < 10 {
        anyhow::bail!("the password must have at least 10 characters");
    }
    if password.len() > sharpeyes_web::auth::MAX_PASSWORD_BYTES {
        anyhow::bail!(
            "the password must have at most {} bytes",
            sharpeyes_web::auth::MAX_PASSWORD_BYTES
        );
    }
    Ok(password)
}

/// `sharpeyes user remove`: the user and their sessions.
fn remove(args: UserRemoveArgs) -> anyhow::Result<()> {
    let UserRemoveArgs { db, username } = args;
    let store =
        sharpeyes_web::Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    if !store.remove_user(&username)? {
        anyhow::bail!("no user {username:?} in {}", db.display());
    }
    store.audit(SystemClock.now(), "cli", "user_remove", &username, "")?;
    println!("user {username}: removed; their sessions are ended");
    Ok(())
}

/// `sharpeyes user passwd`: a new password; the user's sessions end.
fn passwd(args: UserPasswdArgs) -> anyhow::Result<()> {
    let UserPasswdArgs {
        db,
        username,
        password_env,
    } = args;
    let store =
        sharpeyes_web::Store::open(&db).with_context(|| format!("opening {}", db.display()))?;
    if store.user(&username)?.is_none() {
        anyhow::bail!("no user {username:?} in {}", db.display());
    }
    let password = read_password(password_env.as_deref())?;
    if !store.set_password(&username, &sharpeyes_web::auth::hash_password(&password))? {
        anyhow::bail!("no user {username:?} in {}", db.display());
    }
    store.audit(SystemClock.now(), "cli", "user_passwd", &username, "")?;
    println!("user {username}: password changed; their sessions are ended");
    Ok(())
}
