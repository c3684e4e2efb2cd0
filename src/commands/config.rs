//! `sharpeyes config check`: every config file checked as what it is (`config_check.rs`);
//! exit status 2 when any is invalid. (I/O: files, stdout.)

use std::path::PathBuf;

use crate::cli::ConfigCommand;

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check { path } => {
            // Default: the whole tree (pipeline config, guardians' registry, cameras/).
            let path = path.unwrap_or_else(|| PathBuf::from("configs"));
            let ok = sharpeyes::config_check::run_check(&path, &mut std::io::stdout().lock());
            if !ok {
                std::process::exit(2);
            }
            Ok(())
        }
    }
}
