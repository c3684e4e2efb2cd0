//! `sharpeyes camera ...`: discover and add ONVIF cameras (`camera_cmd.rs`), push the camera
//! files to etcd and list what is stored there (`cluster/cli.rs`). This module only calls them
//! and prints. (I/O: network, files, stdout.)

use std::time::Duration;

use sharpeyes::models::ModelStore;

use crate::cli::CameraCommand;

pub fn run(command: CameraCommand, store: &ModelStore) -> anyhow::Result<()> {
    match command {
        CameraCommand::Discover { timeout, at } => {
            sharpeyes::camera_cmd::discover(
                Duration::from_secs_f64(timeout),
                at,
                &mut std::io::stdout().lock(),
            )?;
            Ok(())
        }
        CameraCommand::Add(o) => {
            let (path, cam) = sharpeyes::camera_cmd::add(&o)?;
            print!("{}", sharpeyes::camera_cmd::describe(&path, &cam));
            Ok(())
        }
        CameraCommand::Push { dir, etcd, prune } => {
            let (eps, keys) = etcd.parse()?;
            let known = store.names();
            let mut out = std::io::stdout().lock();
            match sharpeyes::cluster::cli::push(&dir, &eps, &keys, prune, &known, &mut out)? {
                Some(_) => Ok(()),
                None => std::process::exit(2),
            }
        }
        CameraCommand::List { etcd, json } => {
            let (eps, keys) = etcd.parse()?;
            let cams = sharpeyes::cluster::cli::list(&eps, &keys)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cams)?);
            } else {
                println!(
                    "{:<24} {:<12} {:<16} {:<10} name",
                    "camera", "village", "worker", "revision"
                );
                for c in &cams {
                    println!(
                        "{:<24} {:<12} {:<16} {:<10} {}",
                        c.id,
                        c.village,
                        c.worker.as_deref().unwrap_or("-"),
                        c.revision,
                        c.name
                    );
                }
                println!("{} cameras", cams.len());
            }
            Ok(())
        }
    }
}
