//! `sharpeyes models fetch` and `sharpeyes models list`: the model files in the cache.
//! (I/O: files, and the network for a model fetched from its URL.)

use sharpeyes::models::ModelStore;

use crate::cli::ModelsCommand;

pub fn run(command: ModelsCommand, store: &ModelStore) -> anyhow::Result<()> {
    match command {
        ModelsCommand::Fetch { name } => fetch(store, name),
        ModelsCommand::List => list(store),
    }
}

/// `sharpeyes models fetch [NAME]`.
fn fetch(store: &ModelStore, name: Option<String>) -> anyhow::Result<()> {
    // One name: that model or an error. No name: every model that has a source; the
    // ones without (a user export with no URL or file yet) are listed, not fatal.
    let all = name.is_none();
    let names = name.map(|n| vec![n]).unwrap_or_else(|| store.names());
    let mut missing = 0;
    for n in names {
        let m = store.manifest(&n)?;
        match store.fetch(&m) {
            Ok(path) => println!("{n}: {}", path.display()),
            Err(e) if all => {
                missing += 1;
                println!("{n}: not fetched: {e:#}");
            }
            Err(e) => return Err(e),
        }
    }
    if missing > 0 {
        println!(
            "{missing} model(s) not fetched; each needs its file in $SHARPEYES_ASSETS or a url in its manifest"
        );
    }
    Ok(())
}

/// `sharpeyes models list`.
fn list(store: &ModelStore) -> anyhow::Result<()> {
    for n in store.names() {
        let m = store.manifest(&n)?;
        let p = m.model_path(&store.cache_dir);
        println!(
            "{n}\t{}\t{}",
            m.format.as_str(),
            if p.is_file() {
                p.display().to_string()
            } else {
                "not fetched".into()
            }
        );
    }
    Ok(())
}
