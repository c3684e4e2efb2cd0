//! Reads camera files (I/O: the file system): a whole directory for `sharpeyes run`, a file or a
//! directory for `sharpeyes config check`, and writing a new file for `sharpeyes camera add`.
//! A bad file never stops the others: its issues are returned next to the good cameras.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::config::{CameraConfig, ConfigIssue};
use super::render::{NewCamera, render_camera_toml};

/// A valid camera and the file it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraFile {
    pub path: PathBuf,
    pub config: CameraConfig,
}

/// The result of loading camera files.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraSet {
    /// Valid cameras (enabled or not), in file-name order, ids unique.
    pub cameras: Vec<CameraFile>,
    /// Every problem of every invalid file (a file with issues contributes no camera).
    pub issues: Vec<ConfigIssue>,
    /// How many camera files were read.
    pub files: usize,
}

impl CameraSet {
    pub fn is_ok(&self) -> bool {
        self.issues.is_empty()
    }

    /// The enabled cameras, the ones to run.
    pub fn enabled(&self) -> impl Iterator<Item = &CameraConfig> {
        self.cameras.iter().map(|c| &c.config).filter(|c| c.enabled)
    }
}

/// The label a file's issues start with: the path as given.
pub fn file_label(path: &Path) -> String {
    path.display().to_string()
}

/// The camera files in `dir`: every `*.toml` that is a file (symlinks followed), not recursive,
/// sorted by name. Hidden files (`.name.toml`, editors' lock and temp files) are skipped.
pub fn camera_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads and parses one camera file.
pub fn load_file(path: &Path) -> Result<CameraConfig, Vec<ConfigIssue>> {
    let label = file_label(path);
    match std::fs::read(path) {
        Ok(bytes) => CameraConfig::parse_bytes(&bytes, &label),
        Err(e) => Err(vec![ConfigIssue::new(
            &label,
            "-",
            format!("cannot read: {e}"),
        )]),
    }
}

/// Loads every camera file of `dir`. Never fails as a whole: an unreadable directory is an
/// issue, an invalid file is its issues, and a camera id used by an earlier file (by name
/// order) is an issue of the later file, naming both.
pub fn load_dir(dir: &Path) -> CameraSet {
    let files = match camera_files(dir) {
        Ok(f) => f,
        Err(e) => {
            return CameraSet {
                issues: vec![ConfigIssue::new(
                    &file_label(dir),
                    "-",
                    format!("cannot read directory: {e}"),
                )],
                ..CameraSet::default()
            };
        }
    };
    let scan = files.into_iter().map(|p| {
        let r = load_file(&p);
        (p, r)
    });
    collect(scan)
}

/// Pure part of [`load_dir`]: sorts results into cameras and issues, rejecting duplicate ids.
pub fn collect(
    scan: impl IntoIterator<Item = (PathBuf, Result<CameraConfig, Vec<ConfigIssue>>)>,
) -> CameraSet {
    let mut set = CameraSet::default();
    let mut owners: BTreeMap<sharpeyes_core::CameraId, PathBuf> = BTreeMap::new();
    for (path, result) in scan {
        set.files += 1;
        match result {
            Ok(config) => match owners.get(&config.id) {
                Some(first) => set.issues.push(duplicate_id(&path, &config, first)),
                None => {
                    owners.insert(config.id.clone(), path.clone());
                    set.cameras.push(CameraFile { path, config });
                }
            },
            Err(issues) => set.issues.extend(issues),
        }
    }
    set
}

/// The issue of `path` whose camera id is already used by `first`.
pub fn duplicate_id(path: &Path, config: &CameraConfig, first: &Path) -> ConfigIssue {
    ConfigIssue::new(
        &file_label(path),
        "id",
        format!(
            "camera id {:?} is already used by {}",
            config.id.as_str(),
            first.display()
        ),
    )
}

/// Issues for models no manifest is known for (`known`: e.g. `ModelStore::names()`). Pure.
pub fn unknown_models(set: &CameraSet, known: &[String]) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    for c in &set.cameras {
        for (i, m) in c.config.detect.models.iter().enumerate() {
            if !known.contains(m) {
                issues.push(ConfigIssue::new(
                    &file_label(&c.path),
                    format!("detect.models[{i}]"),
                    format!("unknown model {m:?}; known models: {}", known.join(", ")),
                ));
            }
        }
    }
    issues
}

/// Checks a camera file or a directory of them (`sharpeyes config check [PATH]`): syntax, every
/// semantic rule, duplicate ids (directory), and model names against `known_models`.
pub fn check(path: &Path, known_models: &[String]) -> CameraSet {
    let mut set = if path.is_dir() {
        load_dir(path)
    } else {
        collect([(path.to_path_buf(), load_file(path))])
    };
    let unknown = unknown_models(&set, known_models);
    // A camera with an unknown model is not valid either.
    set.cameras
        .retain(|c| !unknown.iter().any(|i| i.file == file_label(&c.path)));
    set.issues.extend(unknown);
    set
}

/// `sharpeyes config check [PATH]`: writes every issue on its own line, then
/// `N camera files, M errors`; true when there is no issue (exit 0, else 2). Models are checked
/// against the manifests `ModelStore::from_env()` knows (models/ and the embedded ones).
pub fn run_check(path: &Path, out: &mut impl Write) -> bool {
    let known = crate::models::ModelStore::from_env().names();
    run_check_with(path, &known, out)
}

/// [`run_check`] with the known model names given.
pub fn run_check_with(path: &Path, known_models: &[String], out: &mut impl Write) -> bool {
    let set = check(path, known_models);
    // Write errors (a closed pipe) do not change the verdict.
    for issue in &set.issues {
        let _ = writeln!(out, "{issue}");
    }
    let _ = writeln!(
        out,
        "{} camera files, {} errors",
        set.files,
        set.issues.len()
    );
    set.is_ok()
}

/// Why `sharpeyes camera add` refused.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("the new camera's config is invalid:\n{}", join_lines(.0))]
    Invalid(Vec<ConfigIssue>),
    #[error("{} already exists", .0.display())]
    FileExists(PathBuf),
    #[error("camera id {id:?} is already used by {}", file.display())]
    DuplicateId { id: String, file: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn join_lines(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sharpeyes camera add`: renders `new` to `<dir>/<id>.toml` after checking that it parses
/// back and that no file in `dir` uses the id. Writes a hidden temp file and renames it, so the
/// hot-reload poller never sees half a file. Returns the new file's path.
pub fn add_camera(dir: &Path, new: &NewCamera) -> Result<PathBuf, AddError> {
    let text = render_camera_toml(new);
    let path = dir.join(format!("{}.toml", new.id));
    let config = CameraConfig::parse(&text, &file_label(&path)).map_err(AddError::Invalid)?;
    if new.id.starts_with('.') {
        // `<id>.toml` would be a hidden file, which `camera_files` skips.
        return Err(AddError::Invalid(vec![ConfigIssue::new(
            &file_label(&path),
            "id",
            "must not start with '.' for a new camera (its file would be hidden)",
        )]));
    }
    if path.exists() {
        return Err(AddError::FileExists(path));
    }
    let existing = load_dir(dir);
    if let Some(c) = existing.cameras.iter().find(|c| c.config.id == config.id) {
        return Err(AddError::DuplicateId {
            id: config.id.to_string(),
            file: c.path.clone(),
        });
    }
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AddError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = dir.join(format!(".{}.toml.tmp", new.id));
    std::fs::write(&tmp, text.as_bytes()).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("sharpeyes-load-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn cam(id: &str) -> String {
        format!("id = \"{id}\"\nname = \"N\"\nvillage = \"V\"\n[stream]\nurl = \"rtsp://h/{id}\"\n")
    }

    #[test]
    fn duplicate_ids_across_files_name_both_files() {
        let d = temp_dir("dup");
        std::fs::write(d.join("a.toml"), cam("x")).expect("write");
        std::fs::write(d.join("b.toml"), cam("x")).expect("write");
        let set = load_dir(&d);
        assert_eq!(set.cameras.len(), 1);
        assert_eq!(set.cameras[0].path, d.join("a.toml"));
        assert_eq!(set.issues.len(), 1);
        assert_eq!(
            set.issues[0].to_string(),
            format!(
                "{}: id: camera id \"x\" is already used by {}",
                d.join("b.toml").display(),
                d.join("a.toml").display()
            )
        );
    }

    #[test]
    fn only_visible_toml_files_are_read_in_name_order() {
        let d = temp_dir("list");
        for name in ["b.toml", "a.toml", ".#a.toml", "c.toml~", "notes.txt"] {
            std::fs::write(d.join(name), "x").expect("write");
        }
        std::fs::create_dir(d.join("sub.toml")).expect("mkdir");
        let files = camera_files(&d).expect("list");
        assert_eq!(files, vec![d.join("a.toml"), d.join("b.toml")]);
    }

    #[test]
    fn a_missing_directory_is_one_issue() {
        let set = load_dir(Path::new("/nonexistent/sharpeyes/cameras"));
        assert_eq!(set.files, 0);
        assert_eq!(set.issues.len(), 1);
        assert!(
            set.issues[0]
                .to_string()
                .starts_with("/nonexistent/sharpeyes/cameras: -: cannot read directory: "),
            "{}",
            set.issues[0]
        );
    }

    #[test]
    fn unknown_models_are_errors_listing_the_known_ones() {
        let d = temp_dir("models");
        let text = cam("m").replace("[stream]", "[detect]\nmodels = [\"yolo9\"]\n[stream]");
        std::fs::write(d.join("m.toml"), text).expect("write");
        let mut out = Vec::new();
        let ok = run_check_with(&d, &["yolox_nano".to_string()], &mut out);
        assert!(!ok);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            format!(
                "{}: detect.models[0]: unknown model \"yolo9\"; known models: yolox_nano\n1 camera files, 1 errors\n",
                d.join("m.toml").display()
            )
        );
    }

    #[test]
    fn add_camera_writes_a_file_that_loads_and_refuses_a_taken_id() {
        let d = temp_dir("add");
        let new = NewCamera {
            id: "gate-west".into(),
            name: "West gate".into(),
            village: "Xiaohe".into(),
            url: "rtsp://192.168.1.65:554/Streaming/Channels/101".into(),
            substream_url: None,
            username: Some("admin".into()),
            password_env: Some("GATE_WEST_PASSWORD".into()),
            allow_basic_over_http: false,
        };
        let path = add_camera(&d, &new).expect("written");
        assert_eq!(path, d.join("gate-west.toml"));
        let set = load_dir(&d);
        assert!(set.is_ok(), "{:?}", set.issues);
        assert_eq!(set.cameras[0].config.id.as_str(), "gate-west");
        assert!(matches!(add_camera(&d, &new), Err(AddError::FileExists(_))));
        std::fs::rename(&path, d.join("renamed.toml")).expect("rename");
        assert!(matches!(
            add_camera(&d, &new),
            Err(AddError::DuplicateId { .. })
        ));
    }

    #[test]
    fn add_camera_refuses_an_invalid_camera_without_writing() {
        let d = temp_dir("add-bad");
        let new = NewCamera {
            id: "bad id".into(),
            name: "X".into(),
            village: "V".into(),
            url: "rtsp://admin:pw@h/x".into(),
            substream_url: None,
            username: None,
            password_env: None,
            allow_basic_over_http: false,
        };
        let e = add_camera(&d, &new).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(": id: must be 1-64"), "{text}");
        assert!(text.contains(": stream.url: contains a password"), "{text}");
        assert!(!text.contains(":pw@"), "{text}");
        assert_eq!(camera_files(&d).expect("list"), Vec::<PathBuf>::new());
    }
}
