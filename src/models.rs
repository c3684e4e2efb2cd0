//! Finding, fetching and verifying model files (I/O: files, HTTP).
//!
//! A model is `models/<name>.toml` (a manifest; the shipped ones are also embedded in the
//! binary) plus the ONNX file it names, kept in a git-ignored cache (`models/.cache/`, or
//! `$SHARPEYES_MODEL_CACHE`). `fetch` first looks in `$SHARPEYES_ASSETS` (default
//! `../shared/assets/models`, searched recursively) for a file with the manifest's SHA-256 and
//! copies it; otherwise it downloads the manifest's URL. Either way the SHA-256 is verified
//! before the file is moved into place, so the cache never holds a wrong model.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use sharpeyes_inference::ModelManifest;

/// Manifests shipped with the binary, so it runs outside a checkout.
const EMBEDDED: &[(&str, &str)] = &[("yolox_nano", include_str!("../models/yolox_nano.toml"))];

/// Where manifests, the cache and the assets are.
#[derive(Clone, Debug)]
pub struct ModelStore {
    pub manifests_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub assets_dir: PathBuf,
}

impl ModelStore {
    /// From the environment, relative to the current directory (the checkout).
    pub fn from_env() -> Self {
        let var = |k: &str, d: &str| {
            std::env::var_os(k)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(d))
        };
        Self {
            manifests_dir: var("SHARPEYES_MODELS", "models"),
            cache_dir: var("SHARPEYES_MODEL_CACHE", "models/.cache"),
            assets_dir: var("SHARPEYES_ASSETS", "../shared/assets/models"),
        }
    }

    /// Every manifest name known: files in the manifests dir and the embedded ones.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        if let Ok(rd) = std::fs::read_dir(&self.manifests_dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The manifest `name`: `models/<name>.toml` if present, else the embedded copy.
    pub fn manifest(&self, name: &str) -> anyhow::Result<ModelManifest> {
        let path = self.manifests_dir.join(format!("{name}.toml"));
        if path.is_file() {
            return Ok(ModelManifest::load(&path)?);
        }
        match EMBEDDED.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Ok(ModelManifest::from_toml_str(
                text,
                Path::new(&format!("models/{name}.toml (embedded)")),
            )?),
            None => bail!(
                "no model {name:?}: no {} and none built in (known: {})",
                path.display(),
                self.names().join(", ")
            ),
        }
    }

    /// The cached model file for `manifest`, fetching it first if it is missing or wrong.
    pub fn ensure(&self, manifest: &ModelManifest) -> anyhow::Result<PathBuf> {
        let path = manifest.model_path(&self.cache_dir);
        if path.is_file() {
            match &manifest.sha256 {
                Some(want) if sha256_file(&path)? != *want => {
                    tracing::warn!(path = %path.display(), "cached model has the wrong SHA-256; fetching again");
                    // Never leave a wrong model where the next start would find it.
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                    return self.fetch(manifest).with_context(|| {
                        format!(
                            "model {}: the cached {} had the wrong SHA-256 (removed) and fetching it again failed",
                            manifest.name,
                            path.display()
                        )
                    });
                }
                _ => return Ok(path),
            }
        }
        self.fetch(manifest)
    }

    /// Puts `manifest`'s file into the cache: from the assets directory if a file there has the
    /// right SHA-256, else from the manifest's URL. Returns the cached path.
    ///
    /// Each call writes its own temporary file beside the cache entry and renames it into place,
    /// so processes fetching the same model at once (tests running `sharpeyes` side by side, two
    /// pipelines starting together) never move each other's half-written file; the last rename
    /// wins with the same verified bytes.
    pub fn fetch(&self, manifest: &ModelManifest) -> anyhow::Result<PathBuf> {
        let dest = manifest.model_path(&self.cache_dir);
        std::fs::create_dir_all(&self.cache_dir)
            .with_context(|| format!("creating {}", self.cache_dir.display()))?;
        let mut part = tempfile::Builder::new()
            .prefix(&format!(".{}.", manifest.file))
            .suffix(".part")
            .tempfile_in(&self.cache_dir)
            .with_context(|| {
                format!("creating a temporary file in {}", self.cache_dir.display())
            })?;
        if let Some(want) = &manifest.sha256
            && let Some(found) = find_by_sha256(&self.assets_dir, &manifest.file, want)
        {
            std::fs::File::open(&found)
                .and_then(|mut src| std::io::copy(&mut src, part.as_file_mut()))
                .with_context(|| format!("copying {}", found.display()))?;
            verify_and_move(part, &dest, want, &found.display().to_string())?;
            tracing::info!(model = %manifest.name, from = %found.display(), "model copied from assets");
            return Ok(dest);
        }
        let Some(url) = &manifest.url else {
            bail!(
                "model {}: {} is not in {} and the manifest {} has no url to download it from",
                manifest.name,
                manifest.file,
                self.assets_dir.display(),
                manifest.manifest_path.display()
            );
        };
        tracing::info!(model = %manifest.name, %url, "downloading model");
        download(url, part.as_file_mut())
            .with_context(|| format!("model {}: downloading {url}", manifest.name))?;
        match &manifest.sha256 {
            Some(want) => verify_and_move(part, &dest, want, url)?,
            None => {
                tracing::warn!(model = %manifest.name, "manifest has no sha256: the download is not verified");
                persist(part, &dest)?;
            }
        }
        Ok(dest)
    }
}

/// Moves the temporary file `part` to `dest` if its SHA-256 is `want`; otherwise it is removed
/// (dropping a `NamedTempFile` deletes it) and the error names where the bytes came from.
fn verify_and_move(
    part: tempfile::NamedTempFile,
    dest: &Path,
    want: &str,
    from: &str,
) -> anyhow::Result<()> {
    let got = sha256_file(part.path())?;
    if got != want {
        bail!("{from}: SHA-256 is {got}, the manifest says {want}; not using it");
    }
    persist(part, dest)
}

fn persist(part: tempfile::NamedTempFile, dest: &Path) -> anyhow::Result<()> {
    part.as_file()
        .sync_all()
        .with_context(|| format!("writing {}", part.path().display()))?;
    part.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("moving into {}", dest.display()))?;
    Ok(())
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A file under `dir` (recursively) whose SHA-256 is `want`; the file named `preferred` is
/// hashed first, other `.onnx` files after it.
fn find_by_sha256(dir: &Path, preferred: &str, want: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "onnx")
                || p.file_name().is_some_and(|n| n == preferred)
            {
                candidates.push(p);
            }
        }
    }
    candidates.sort_by_key(|p| p.file_name().is_none_or(|n| n != preferred));
    candidates
        .into_iter()
        .find(|p| sha256_file(p).is_ok_and(|s| s == want))
}

fn download(url: &str, out: &mut std::fs::File) -> anyhow::Result<()> {
    let mut resp = ureq::get(url).call()?;
    let mut reader = resp.body_mut().with_config().limit(2 << 30).reader();
    std::io::copy(&mut reader, out)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sharpeyes-models-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("tempdir");
        d
    }

    /// A store under `root`: cache in `root/cache`, assets in `root/<assets>`.
    fn store_in(root: &std::path::Path, assets: &str) -> ModelStore {
        ModelStore {
            manifests_dir: root.join("m"),
            cache_dir: root.join("cache"),
            assets_dir: root.join(assets),
        }
    }

    fn manifest_for(file: &str, sha: &str, url: Option<&str>) -> ModelManifest {
        let mut m = ModelStore {
            manifests_dir: "models".into(),
            cache_dir: "x".into(),
            assets_dir: "y".into(),
        }
        .manifest("yolox_nano")
        .expect("embedded manifest");
        m.file = file.into();
        m.sha256 = Some(sha.into());
        m.url = url.map(str::to_string);
        m
    }

    #[test]
    fn fetch_copies_a_matching_asset_and_verifies_it() {
        let root = tempdir("copy");
        let assets = root.join("assets/sub");
        std::fs::create_dir_all(&assets).expect("mkdir");
        std::fs::write(assets.join("other-name.onnx"), b"model bytes").expect("write");
        let sha = sha256_file(&assets.join("other-name.onnx")).expect("sha");
        let store = store_in(&root, "assets");
        let got = store
            .fetch(&manifest_for("m.onnx", &sha, None))
            .expect("fetch");
        assert_eq!(std::fs::read(&got).expect("read"), b"model bytes");
        assert_eq!(got, root.join("cache/m.onnx"));
    }

    #[test]
    fn a_corrupt_cached_model_is_removed_and_the_error_names_it() {
        let root = tempdir("corrupt");
        std::fs::create_dir_all(root.join("cache")).expect("mkdir");
        std::fs::write(root.join("cache/m.onnx"), b"tampered").expect("write");
        let store = store_in(&root, "none");
        let e = format!(
            "{:#}",
            store
                .ensure(&manifest_for("m.onnx", &"b".repeat(64), None))
                .unwrap_err()
        );
        assert!(
            e.contains("cache/m.onnx") && e.contains("wrong SHA-256"),
            "{e}"
        );
        assert!(
            !root.join("cache/m.onnx").exists(),
            "the wrong file is gone"
        );
    }

    #[test]
    fn fetch_refuses_when_nothing_matches_and_no_url() {
        let root = tempdir("none");
        std::fs::create_dir_all(root.join("assets")).expect("mkdir");
        std::fs::write(root.join("assets/m.onnx"), b"wrong bytes").expect("write");
        let store = store_in(&root, "assets");
        let e = store
            .fetch(&manifest_for("m.onnx", &"0".repeat(64), None))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no url"), "{e}");
        assert!(!root.join("cache/m.onnx").exists());
    }

    #[test]
    fn a_download_with_the_wrong_sha256_is_rejected() {
        // A real HTTP server on loopback serving the wrong bytes.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let body = b"not the model";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(body);
        });
        let root = tempdir("dl");
        let store = store_in(&root, "nothing");
        let url = format!("http://127.0.0.1:{port}/m.onnx");
        let e = format!(
            "{:#}",
            store
                .fetch(&manifest_for("m.onnx", &"a".repeat(64), Some(&url)))
                .unwrap_err()
        );
        server.join().expect("server");
        assert!(e.contains("SHA-256 is"), "{e}");
        let left: Vec<_> = std::fs::read_dir(root.join("cache"))
            .expect("cache dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "nothing is left in the cache: {left:?}");
    }

    #[test]
    fn fetches_of_the_same_model_at_once_all_succeed() {
        // Tests run `sharpeyes` side by side on one cache; each fetch must not move another's
        // half-written file (CI once failed with "moving into ...: No such file or directory").
        let root = tempdir("race");
        std::fs::create_dir_all(root.join("assets")).expect("mkdir");
        let bytes: Vec<u8> = (0..8u32 << 20).map(|i| (i * 2_654_435_761) as u8).collect();
        std::fs::write(root.join("assets/m.onnx"), &bytes).expect("write");
        let sha = sha256_file(&root.join("assets/m.onnx")).expect("sha");
        let store = store_in(&root, "assets");
        let manifest = manifest_for("m.onnx", &sha, None);
        let start = std::sync::Barrier::new(6);
        let results: Vec<_> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        store.fetch(&manifest).map_err(|e| format!("{e:#}"))
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        for r in &results {
            assert_eq!(
                r.as_deref(),
                Ok(root.join("cache/m.onnx").as_path()),
                "{results:?}"
            );
        }
        assert_eq!(sha256_file(&root.join("cache/m.onnx")).expect("sha"), sha);
        let left = std::fs::read_dir(root.join("cache"))
            .expect("cache")
            .count();
        assert_eq!(left, 1, "only the model is left in the cache");
    }
}
