//! Model manifests: the TOML file beside each ONNX model that says what the model is (name, file,
//! checksum, output format), what it wants as input (size, colour order, normalisation, letterbox
//! border) and how to read its output (class names, thresholds).
//!
//! Parsing is pure ([`ModelManifest::from_toml_str`]): TOML into a raw struct with
//! `deny_unknown_fields`, then `validate()` into typed values, with errors that name the file and
//! the field. [`ModelManifest::load`] is the only function here that does I/O (reads the file).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::error::InferenceError;

/// Which decoder reads the model's output. New layouts become new variants; callers match with a
/// wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelFormat {
    /// YOLOX export: one output `[batch, anchors, 5 + classes]`, anchors on strides 8, 16, 32,
    /// rows `(tx, ty, tw, th, objectness, class scores...)` with sigmoid already applied to the
    /// scores. See [`crate::yolox`].
    Yolox,
    /// Ultralytics YOLOv8 / YOLO11 export: one output `[batch, 4 + classes, anchors]` of decoded
    /// `(cx, cy, w, h)` and sigmoid class scores, no objectness. See [`crate::ultralytics`].
    Ultralytics,
    /// NanoDet-m: outputs `cls_pred_stride_{8,16,32}` and `dis_pred_stride_{8,16,32}`. See
    /// [`crate::nanodet`].
    Nanodet,
    /// NMS inside the graph: outputs `dets` `[batch, K, 5]` and `labels` `[batch, K]` (int64),
    /// e.g. mmdeploy's RTMDet. See [`crate::e2e`].
    E2e,
    /// Ultralytics YOLOv8-pose / YOLO11-pose export: one output `[batch, 5 + 3 * K, anchors]`.
    /// See [`crate::pose`].
    UltralyticsPose,
}

impl ModelFormat {
    /// Every format this build can decode.
    pub const ALL: &'static [ModelFormat] = &[
        ModelFormat::Yolox,
        ModelFormat::Ultralytics,
        ModelFormat::Nanodet,
        ModelFormat::E2e,
        ModelFormat::UltralyticsPose,
    ];

    /// The name used in manifests, e.g. `"yolox"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelFormat::Yolox => "yolox",
            ModelFormat::Ultralytics => "ultralytics",
            ModelFormat::Nanodet => "nanodet",
            ModelFormat::E2e => "e2e",
            ModelFormat::UltralyticsPose => "ultralytics-pose",
        }
    }

    /// True if the decoder's output still needs NMS (false when the graph already did it).
    pub fn needs_nms(self) -> bool {
        !matches!(self, ModelFormat::E2e)
    }

    /// The format with this manifest name, if this build knows it.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str() == name)
    }

    /// Input width and height must be multiples of this (the largest feature-map stride).
    pub fn input_multiple(self) -> u32 {
        match self {
            // All these heads end at stride 32.
            ModelFormat::Yolox
            | ModelFormat::Ultralytics
            | ModelFormat::Nanodet
            | ModelFormat::E2e
            | ModelFormat::UltralyticsPose => 32,
        }
    }
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Channel order of the model's input tensor. Frames are always BGR; the preprocessor reorders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColourOrder {
    /// Channel 0 is blue (models trained with OpenCV-loaded images, e.g. YOLOX, NanoDet).
    Bgr,
    /// Channel 0 is red (e.g. Ultralytics YOLO).
    Rgb,
}

impl ColourOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            ColourOrder::Bgr => "bgr",
            ColourOrder::Rgb => "rgb",
        }
    }
}

/// Per-channel normalisation: `value = (pixel - mean[c]) / std[c]`, pixel in 0-255, `c` indexing
/// channels in the model's [`ColourOrder`]. Invariant: all finite, `std[c] > 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalisation {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalisation {
    /// No normalisation: raw 0-255 values (YOLOX).
    pub const IDENTITY: Normalisation = Normalisation {
        mean: [0.0; 3],
        std: [1.0; 3],
    };
}

/// What the model's input looks like.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    /// Name of the model's image input; `None`: the model's only input.
    pub name: Option<String>,
    /// Width in pixels, > 0.
    pub width: u32,
    /// Height in pixels, > 0.
    pub height: u32,
    pub colour_order: ColourOrder,
    pub normalisation: Normalisation,
    /// Value of the letterbox border on every channel, before normalisation.
    pub pad_value: u8,
}

/// A validated model manifest. Build one with [`ModelManifest::load`] or
/// [`ModelManifest::from_toml_str`]; the fields then hold the invariants written on them.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelManifest {
    /// The manifest file this came from (for error messages).
    pub manifest_path: PathBuf,
    /// 1-64 ASCII letters, digits, `-`, `_`, `.` (safe as a metric label).
    pub name: String,
    /// ONNX file name (no path separators), relative to the models directory.
    pub file: String,
    /// Lowercase hex SHA-256 of `file` (64 digits), if the manifest gives one.
    pub sha256: Option<String>,
    /// The model's release or training version, as alerts report it (`model.version`), if the
    /// manifest gives one.
    pub version: Option<String>,
    /// Download URL (`http://` or `https://`), if the manifest gives one.
    pub url: Option<String>,
    pub format: ModelFormat,
    pub input: InputSpec,
    /// Class names by class id; non-empty, each name non-empty and unique.
    pub classes: Vec<Arc<str>>,
    /// Default minimum score, in (0, 1].
    pub score_threshold: f32,
    /// Default NMS IoU threshold, in (0, 1].
    pub nms_iou_threshold: f32,
    /// Names (each one of `classes`) of the classes that count as a person.
    pub person_classes: Vec<Arc<str>>,
    /// Names (each one of `classes`) of the classes that count as a vehicle.
    pub vehicle_classes: Vec<Arc<str>>,
}

impl ModelManifest {
    /// Name and version as alerts report them: the manifest's `version`, else `sha256:` and
    /// the first 12 digits of the file's hash, else `unversioned`.
    pub fn model_ref(&self) -> sharpeyes_core::ModelRef {
        let version = match (&self.version, &self.sha256) {
            (Some(v), _) => v.clone(),
            (None, Some(h)) => format!("sha256:{}", &h[..12]),
            (None, None) => "unversioned".into(),
        };
        sharpeyes_core::ModelRef {
            name: self.name.clone(),
            version,
        }
    }
}

/// COCO names that count as a person when a manifest gives no `person_classes`.
pub const DEFAULT_PERSON_CLASSES: &[&str] = &["person"];

/// COCO names (both spellings in use) that count as a vehicle when a manifest gives no
/// `vehicle_classes`.
pub const DEFAULT_VEHICLE_CLASSES: &[&str] =
    &["bicycle", "car", "motorcycle", "motorbike", "bus", "truck"];

/// The manifest as written; see `models/yolox_nano.toml` for a commented example. All fields are
/// required unless marked optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    file: String,
    /// Optional; default none.
    sha256: Option<String>,
    /// Optional; default none.
    version: Option<String>,
    /// Optional; default none.
    url: Option<String>,
    format: String,
    score_threshold: f64,
    nms_iou_threshold: f64,
    classes: Vec<String>,
    /// Optional; default: those of `classes` in [`DEFAULT_PERSON_CLASSES`].
    person_classes: Option<Vec<String>>,
    /// Optional; default: those of `classes` in [`DEFAULT_VEHICLE_CLASSES`].
    vehicle_classes: Option<Vec<String>>,
    input: RawInput,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    /// Optional; default: the model's only input.
    name: Option<String>,
    width: i64,
    height: i64,
    colour_order: String,
    mean: Vec<f64>,
    std: Vec<f64>,
    pad_value: i64,
}

impl ModelManifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Self, InferenceError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| InferenceError::ManifestRead {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses and validates manifest text; `path` only names the file in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, InferenceError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| InferenceError::ManifestParse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        raw.validate(path)
    }

    /// Where the model file lies, given the directory models are kept in.
    pub fn model_path(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(&self.file)
    }

    /// True if class `class_id` counts as a person (`person_classes`).
    pub fn is_person(&self, class_id: u32) -> bool {
        self.class_name(class_id)
            .is_some_and(|n| self.person_classes.contains(n))
    }

    /// True if class `class_id` counts as a vehicle (`vehicle_classes`).
    pub fn is_vehicle(&self, class_id: u32) -> bool {
        self.class_name(class_id)
            .is_some_and(|n| self.vehicle_classes.contains(n))
    }

    /// The name of class `class_id`, if the model has that class.
    pub fn class_name(&self, class_id: u32) -> Option<&Arc<str>> {
        self.classes.get(class_id as usize)
    }
}

impl RawManifest {
    fn validate(self, path: &Path) -> Result<ModelManifest, InferenceError> {
        let invalid = |field: &str, message: String| InferenceError::ManifestInvalid {
            path: path.to_path_buf(),
            field: field.to_owned(),
            message,
        };

        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !name_ok {
            return Err(invalid(
                "name",
                format!(
                    "must be 1-64 ASCII letters, digits, '-', '_' or '.', got {:?}",
                    self.name
                ),
            ));
        }

        if self.file.is_empty() || self.file.contains(['/', '\\']) || self.file == ".." {
            return Err(invalid(
                "file",
                format!(
                    "must be a file name without directories, got {:?}",
                    self.file
                ),
            ));
        }

        let sha256 = match self.sha256 {
            None => None,
            Some(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(s.to_ascii_lowercase())
            }
            Some(s) => {
                return Err(invalid(
                    "sha256",
                    format!("must be 64 hex digits, got {s:?}"),
                ));
            }
        };

        let url = match self.url {
            None => None,
            Some(u)
                if (u.starts_with("https://") || u.starts_with("http://"))
                    && !u.contains(char::is_whitespace) =>
            {
                Some(u)
            }
            Some(u) => {
                return Err(invalid(
                    "url",
                    format!("must be an http:// or https:// URL, got {u:?}"),
                ));
            }
        };

        let format = ModelFormat::from_name(&self.format).ok_or_else(|| {
            let known: Vec<&str> = ModelFormat::ALL.iter().map(|f| f.as_str()).collect();
            invalid(
                "format",
                format!("must be one of {}, got {:?}", known.join(", "), self.format),
            )
        })?;

        let score_threshold = unit_interval(self.score_threshold).ok_or_else(|| {
            invalid(
                "score_threshold",
                format!("must be in (0, 1], got {}", self.score_threshold),
            )
        })?;
        let nms_iou_threshold = unit_interval(self.nms_iou_threshold).ok_or_else(|| {
            invalid(
                "nms_iou_threshold",
                format!("must be in (0, 1], got {}", self.nms_iou_threshold),
            )
        })?;

        if self.classes.is_empty() {
            return Err(invalid(
                "classes",
                "must list at least one class name".to_owned(),
            ));
        }
        let mut seen = HashSet::new();
        for (i, c) in self.classes.iter().enumerate() {
            if c.trim().is_empty() {
                return Err(invalid(
                    &format!("classes[{i}]"),
                    "must not be empty".to_owned(),
                ));
            }
            if !seen.insert(c.as_str()) {
                return Err(invalid(
                    &format!("classes[{i}]"),
                    format!("{c:?} appears twice"),
                ));
            }
        }
        let classes: Vec<Arc<str>> = self.classes.into_iter().map(Arc::from).collect();
        let person_classes = class_subset(
            "person_classes",
            self.person_classes,
            DEFAULT_PERSON_CLASSES,
            &classes,
            &invalid,
        )?;
        let vehicle_classes = class_subset(
            "vehicle_classes",
            self.vehicle_classes,
            DEFAULT_VEHICLE_CLASSES,
            &classes,
            &invalid,
        )?;

        let input = self.input.validate(format, &invalid)?;

        Ok(ModelManifest {
            manifest_path: path.to_path_buf(),
            name: self.name,
            file: self.file,
            sha256,
            version: self.version.filter(|v| !v.trim().is_empty()),
            url,
            format,
            input,
            classes,
            score_threshold,
            nms_iou_threshold,
            person_classes,
            vehicle_classes,
        })
    }
}

/// The named classes (each must be in `classes`), or the defaults that `classes` has.
fn class_subset(
    field: &str,
    named: Option<Vec<String>>,
    defaults: &[&str],
    classes: &[Arc<str>],
    invalid: &dyn Fn(&str, String) -> InferenceError,
) -> Result<Vec<Arc<str>>, InferenceError> {
    let find = |name: &str| classes.iter().find(|c| &***c == name).cloned();
    match named {
        None => Ok(defaults.iter().filter_map(|d| find(d)).collect()),
        Some(named) => named
            .iter()
            .enumerate()
            .map(|(i, n)| {
                find(n).ok_or_else(|| {
                    invalid(
                        &format!("{field}[{i}]"),
                        format!("{n:?} is not one of the model's classes"),
                    )
                })
            })
            .collect(),
    }
}

impl RawInput {
    fn validate(
        self,
        format: ModelFormat,
        invalid: &dyn Fn(&str, String) -> InferenceError,
    ) -> Result<InputSpec, InferenceError> {
        let multiple = format.input_multiple();
        let size = |field: &str, v: i64| -> Result<u32, InferenceError> {
            if v <= 0 {
                return Err(invalid(field, format!("must be > 0, got {v}")));
            }
            if v > 8192 {
                return Err(invalid(field, format!("must be <= 8192, got {v}")));
            }
            let v = v as u32;
            // `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
            #[allow(clippy::manual_is_multiple_of)]
            let off_grid = v % multiple != 0;
            if off_grid {
                return Err(invalid(
                    field,
                    format!("must be a multiple of {multiple} for format {format}, got {v}"),
                ));
            }
            Ok(v)
        };
        let width = size("input.width", self.width)?;
        let height = size("input.height", self.height)?;

        let colour_order = match self.colour_order.as_str() {
            "bgr" => ColourOrder::Bgr,
            "rgb" => ColourOrder::Rgb,
            other => {
                return Err(invalid(
                    "input.colour_order",
                    format!("must be \"bgr\" or \"rgb\", got {other:?}"),
                ));
            }
        };

        let three = |field: &str, v: &[f64]| -> Result<[f32; 3], InferenceError> {
            match v {
                [a, b, c] if v.iter().all(|x| x.is_finite()) => {
                    Ok([*a as f32, *b as f32, *c as f32])
                }
                [_, _, _] => Err(invalid(field, format!("must be finite numbers, got {v:?}"))),
                _ => Err(invalid(
                    field,
                    format!("must have 3 values (one per channel), got {}", v.len()),
                )),
            }
        };
        let mean = three("input.mean", &self.mean)?;
        let std = three("input.std", &self.std)?;
        if let Some(s) = std.iter().find(|s| **s <= 0.0) {
            return Err(invalid(
                "input.std",
                format!("must be > 0 on every channel, got {s}"),
            ));
        }

        let pad_value = u8::try_from(self.pad_value).map_err(|_| {
            invalid(
                "input.pad_value",
                format!("must be between 0 and 255, got {}", self.pad_value),
            )
        })?;

        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(invalid("input.name", "must not be empty".to_owned()));
        }

        Ok(InputSpec {
            name: self.name,
            width,
            height,
            colour_order,
            normalisation: Normalisation { mean, std },
            pad_value,
        })
    }
}

/// `v` as f32 if it lies in (0, 1].
fn unit_interval(v: f64) -> Option<f32> {
    (v > 0.0 && v <= 1.0).then_some(v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
name = "tiny"
file = "tiny.onnx"
sha256 = "695E750A5D5754BB5A8D5325643B59282191A7E7A564E435A415FD3C578EAB14"
url = "https://example.com/tiny.onnx"
format = "yolox"
score_threshold = 0.3
nms_iou_threshold = 0.5
classes = ["person", "car"]

[input]
name = "images"
width = 64
height = 32
colour_order = "rgb"
mean = [1, 2.5, 3]
std = [4.0, 5.0, 6.0]
pad_value = 114
"#;

    fn parse(text: &str) -> Result<ModelManifest, InferenceError> {
        ModelManifest::from_toml_str(text, Path::new("models/tiny.toml"))
    }

    fn error_text(text: &str) -> String {
        parse(text)
            .expect_err("manifest should be rejected")
            .to_string()
    }

    #[test]
    fn valid_manifest_parses_into_typed_values() {
        let m = parse(VALID).unwrap();
        assert_eq!(m.name, "tiny");
        assert_eq!(m.format, ModelFormat::Yolox);
        assert_eq!(
            m.sha256.as_deref(),
            Some("695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14")
        );
        assert_eq!(
            m.input,
            InputSpec {
                name: Some("images".to_owned()),
                width: 64,
                height: 32,
                colour_order: ColourOrder::Rgb,
                normalisation: Normalisation {
                    mean: [1.0, 2.5, 3.0],
                    std: [4.0, 5.0, 6.0]
                },
                pad_value: 114,
            }
        );
        assert_eq!(m.class_name(1).map(|c| &**c), Some("car"));
        assert_eq!(m.class_name(2), None);
        assert_eq!(m.score_threshold, 0.3);
        assert_eq!(m.model_path(Path::new("/m")), PathBuf::from("/m/tiny.onnx"));
    }

    #[test]
    fn zero_width_is_rejected_naming_file_and_field() {
        let text = VALID.replace("width = 64", "width = 0");
        assert_eq!(
            error_text(&text),
            "models/tiny.toml: input.width must be > 0, got 0"
        );
    }

    #[test]
    fn width_not_multiple_of_stride_is_rejected() {
        let text = VALID.replace("height = 32", "height = 100");
        assert_eq!(
            error_text(&text),
            "models/tiny.toml: input.height must be a multiple of 32 for format yolox, got 100"
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let text = VALID.replace("format = \"yolox\"", "format = \"yolox\"\nformt = 1");
        let e = error_text(&text);
        assert!(e.starts_with("models/tiny.toml: "), "{e}");
        assert!(e.contains("unknown field `formt`"), "{e}");
    }

    #[test]
    fn unknown_key_in_input_table_is_rejected() {
        let text = VALID.replace("pad_value = 114", "pad_value = 114\nscale = 2");
        assert!(error_text(&text).contains("unknown field `scale`"));
    }

    #[test]
    fn missing_field_is_rejected() {
        let text = VALID.replace("nms_iou_threshold = 0.5\n", "");
        assert!(error_text(&text).contains("missing field `nms_iou_threshold`"));
    }

    #[test]
    fn unknown_format_lists_known_ones() {
        let text = VALID.replace("format = \"yolox\"", "format = \"yolov8\"");
        assert_eq!(
            error_text(&text),
            "models/tiny.toml: format must be one of yolox, ultralytics, nanodet, e2e, \
             ultralytics-pose, got \"yolov8\""
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("name = \"tiny\"", "name = \"a b\"", "name must be"),
            (
                "file = \"tiny.onnx\"",
                "file = \"../tiny.onnx\"",
                "file must be a file name",
            ),
            (
                "sha256 = \"695E",
                "sha256 = \"zz5E",
                "sha256 must be 64 hex digits",
            ),
            ("url = \"https:", "url = \"ftp:", "url must be an http"),
            (
                "score_threshold = 0.3",
                "score_threshold = 0",
                "score_threshold must be in (0, 1], got 0",
            ),
            (
                "nms_iou_threshold = 0.5",
                "nms_iou_threshold = 1.5",
                "nms_iou_threshold must be in (0, 1], got 1.5",
            ),
            (
                "[\"person\", \"car\"]",
                "[]",
                "classes must list at least one",
            ),
            (
                "[\"person\", \"car\"]",
                "[\"person\", \"person\"]",
                "classes[1] \"person\" appears twice",
            ),
            (
                "[\"person\", \"car\"]",
                "[\"person\", \" \"]",
                "classes[1] must not be empty",
            ),
            (
                "colour_order = \"rgb\"",
                "colour_order = \"rgba\"",
                "input.colour_order must be",
            ),
            (
                "mean = [1, 2.5, 3]",
                "mean = [1, 2]",
                "input.mean must have 3 values (one per channel), got 2",
            ),
            (
                "std = [4.0, 5.0, 6.0]",
                "std = [4.0, 0.0, 6.0]",
                "input.std must be > 0 on every channel, got 0",
            ),
            (
                "pad_value = 114",
                "pad_value = 256",
                "input.pad_value must be between 0 and 255, got 256",
            ),
        ];
        for (from, to, want) in cases {
            let text = VALID.replace(from, to);
            assert_ne!(text, VALID, "replacement {from:?} did not apply");
            let e = error_text(&text);
            assert!(e.starts_with("models/tiny.toml: "), "{e}");
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
    }

    #[test]
    fn person_and_vehicle_classes_default_from_coco_names() {
        let m = parse(VALID).unwrap();
        assert_eq!(m.person_classes, vec![Arc::<str>::from("person")]);
        assert_eq!(m.vehicle_classes, vec![Arc::<str>::from("car")]);
        assert!(m.is_person(0) && !m.is_person(1) && m.is_vehicle(1) && !m.is_vehicle(9));
    }

    #[test]
    fn named_person_and_vehicle_classes_must_exist() {
        let text = VALID.replace(
            "classes = [\"person\", \"car\"]",
            "classes = [\"person\", \"car\"]\nperson_classes = []\nvehicle_classes = [\"car\"]",
        );
        let m = parse(&text).unwrap();
        assert!(m.person_classes.is_empty());
        assert_eq!(m.vehicle_classes, vec![Arc::<str>::from("car")]);
        let text = VALID.replace(
            "classes = [\"person\", \"car\"]",
            "classes = [\"person\", \"car\"]\nvehicle_classes = [\"car\", \"lorry\"]",
        );
        assert_eq!(
            error_text(&text),
            "models/tiny.toml: vehicle_classes[1] \"lorry\" is not one of the model's classes"
        );
    }

    #[test]
    fn every_format_name_round_trips() {
        for f in ModelFormat::ALL {
            assert_eq!(ModelFormat::from_name(f.as_str()), Some(*f));
        }
    }

    #[test]
    fn optional_checksum_and_url_may_be_left_out() {
        let text = VALID
            .lines()
            .filter(|l| !l.starts_with("sha256") && !l.starts_with("url"))
            .collect::<Vec<_>>()
            .join("\n");
        let m = parse(&text).unwrap();
        assert_eq!((m.sha256, m.url), (None, None));
    }

    #[test]
    fn every_manifest_in_models_dir_parses() {
        let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"));
        let mut count = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let m = ModelManifest::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert!(!m.classes.is_empty());
                count += 1;
            }
        }
        assert!(count >= 1, "no manifests found in {}", dir.display());
    }

    #[test]
    fn yolox_nano_manifest_has_the_80_coco_classes() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/yolox_nano.toml"
        ));
        let m = ModelManifest::load(path).unwrap();
        assert_eq!(m.classes.len(), 80);
        assert_eq!(
            (&*m.classes[0], &*m.classes[5], &*m.classes[79]),
            ("person", "bus", "toothbrush")
        );
        assert_eq!(
            (m.input.width, m.input.height, m.input.pad_value),
            (416, 416, 114)
        );
        assert_eq!(m.input.colour_order, ColourOrder::Bgr);
        assert_eq!(m.input.normalisation, Normalisation::IDENTITY);
    }
}
