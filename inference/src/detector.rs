//! [`OrtDetector`]: the [`Detector`] that runs an ONNX model with ONNX Runtime (I/O: reads the
//! model file, calls into the runtime). The pure parts it chains are [`mod@crate::preprocess`],
//! the decoder the manifest's format selects ([`crate::yolox`], [`crate::ultralytics`],
//! [`crate::nanodet`], [`crate::e2e`], [`crate::pose`]) and [`mod@crate::nms`]; this file only
//! checks the model's input and named outputs against its manifest, runs sessions and maps boxes
//! (and pose keypoints) back to source pixels.

use std::path::{Path, PathBuf};

use ndarray::{Array4, s};
use ort::ep::{self, ExecutionProvider as OrtExecutionProvider};
use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{TensorElementType, TensorRef, ValueType};
use sharpeyes_core::{Detection, Detector, Frame};

use crate::e2e::decode_e2e;
use crate::error::InferenceError;
use crate::manifest::{ModelFormat, ModelManifest};
use crate::nanodet::{NANODET_BINS, NANODET_STRIDES, NanoDetLevel, decode_nanodet, nanodet_grid};
use crate::nms::nms_indices;
use crate::pose::{Keypoint, PoseCandidate, decode_ultralytics_pose};
use crate::preprocess::preprocess_into;
use crate::runtime;
use crate::ultralytics::{decode_ultralytics, ultralytics_anchor_count};
use crate::yolox::{Candidate, DecodeError, decode_yolox, yolox_anchor_count};

/// Where a model runs. GPU providers are only used if the loaded ONNX Runtime library offers
/// them (the CPU-only `onnxruntime` wheel does not; `onnxruntime-gpu` offers CUDA and TensorRT);
/// otherwise [`OrtDetector::new`] falls back along [`ExecutionProvider::fallback_chain`] and
/// logs why. Callers must keep a wildcard arm when matching: more providers may be added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecutionProvider {
    /// ONNX Runtime's default CPU provider; always available.
    #[default]
    Cpu,
    /// NVIDIA CUDA on GPU `device_id` (0-based, as `nvidia-smi` numbers them).
    Cuda { device_id: u32 },
    /// NVIDIA TensorRT on GPU `device_id`, with CUDA registered behind it for the operators
    /// TensorRT does not take. Built engines are cached next to the model file
    /// (`<model dir>/tensorrt-cache/`): the first load of a model takes minutes, later ones not.
    TensorRt { device_id: u32 },
    /// Intel OpenVINO, on the device its build defaults to.
    OpenVino,
}

impl ExecutionProvider {
    /// The names [`ExecutionProvider::from_name`] accepts, as written in configs.
    pub const NAMES: [&'static str; 4] = ["cpu", "cuda", "tensorrt", "openvino"];

    /// The provider called `name` (one of [`Self::NAMES`]) on GPU `device_id` (ignored by `cpu`
    /// and `openvino`), or `None` for an unknown name.
    pub fn from_name(name: &str, device_id: u32) -> Option<Self> {
        match name {
            "cpu" => Some(Self::Cpu),
            "cuda" => Some(Self::Cuda { device_id }),
            "tensorrt" => Some(Self::TensorRt { device_id }),
            "openvino" => Some(Self::OpenVino),
            _ => None,
        }
    }

    /// The config name: `cpu`, `cuda`, `tensorrt` or `openvino`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Cuda { .. } => "cuda",
            Self::TensorRt { .. } => "tensorrt",
            Self::OpenVino => "openvino",
        }
    }

    /// The providers to try, in order, when `self` is asked for: `self` first, CPU last. TensorRT
    /// falls back to CUDA on the same GPU before CPU. Pure.
    pub fn fallback_chain(self) -> Vec<ExecutionProvider> {
        match self {
            Self::Cpu => vec![Self::Cpu],
            Self::TensorRt { device_id } => {
                vec![self, Self::Cuda { device_id }, Self::Cpu]
            }
            Self::Cuda { .. } | Self::OpenVino => vec![self, Self::Cpu],
        }
    }
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cuda { device_id } | Self::TensorRt { device_id } => {
                write!(f, "{}:{device_id}", self.name())
            }
            Self::Cpu | Self::OpenVino => f.write_str(self.name()),
        }
    }
}

/// How to run a model; `Default` suits a small CPU box running other work too.
#[derive(Clone, Debug, PartialEq)]
pub struct DetectorOptions {
    /// Threads ONNX Runtime uses inside one operator. Default 1: the calling thread does all the
    /// work and no pool threads spin between operators. On the 2-core reference machine, with
    /// other work running, 2 threads were no faster for YOLOX-nano 416x416 (16-19 ms per frame
    /// either way) and took the core that decoding and the other cameras need; for throughput,
    /// run one 1-thread detector per spare core instead. 0 means ONNX Runtime's default (one
    /// thread per core).
    pub intra_op_threads: usize,
    /// Threads ONNX Runtime uses to run independent operators at once. Default 1. Sessions run
    /// operators one after another (ONNX Runtime's default sequential mode), so this only
    /// sizes a pool that stays idle; 0 means ONNX Runtime's default.
    pub inter_op_threads: usize,
    /// Default [`ExecutionProvider::Cpu`]. A provider the loaded library lacks falls back to
    /// CPU with a warning; [`OrtDetector::execution_provider_used`] says which one runs.
    pub execution_provider: ExecutionProvider,
    /// Overrides the manifest's `score_threshold`, in (0, 1]. Default `None`.
    pub score_threshold: Option<f32>,
    /// Overrides the manifest's `nms_iou_threshold`, in (0, 1]. Default `None`.
    pub nms_iou_threshold: Option<f32>,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            intra_op_threads: 1,
            inter_op_threads: 1,
            execution_provider: ExecutionProvider::Cpu,
            score_threshold: None,
            nms_iou_threshold: None,
        }
    }
}

/// How frames are grouped into runs, from the model's batch dimension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BatchMode {
    /// Batch fixed at 1: one run per frame.
    One,
    /// Dynamic batch: one run for the whole batch.
    Dynamic,
}

/// An ONNX model loaded into an ONNX Runtime session, with its manifest.
pub struct OrtDetector {
    session: Session,
    manifest: ModelManifest,
    model_path: PathBuf,
    /// The provider the session was created with (after any fallback).
    execution_provider: ExecutionProvider,
    input_name: String,
    /// The outputs the decoder reads, in the order it reads them (see `check_outputs`).
    output_names: Vec<String>,
    /// Keypoints per detection (`ultralytics-pose`), else 0.
    keypoints: usize,
    batch: BatchMode,
    score_threshold: f32,
    nms_iou_threshold: f32,
    /// The previous input tensor's buffer, reused to avoid a large allocation per call.
    scratch: Vec<f32>,
}

impl std::fmt::Debug for OrtDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtDetector")
            .field("model", &self.manifest.name)
            .field("path", &self.model_path)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl OrtDetector {
    /// Loads `model_path` (the file the manifest describes), creating the ONNX Runtime
    /// environment from `ORT_DYLIB_PATH` first if no one has (see [`runtime::init_runtime`] to
    /// load it from elsewhere). Fails if the model's input or output does not match `manifest`.
    pub fn new(
        manifest: ModelManifest,
        model_path: &Path,
        options: DetectorOptions,
    ) -> Result<Self, InferenceError> {
        let model = manifest.name.clone();
        let score_threshold = options.score_threshold.unwrap_or(manifest.score_threshold);
        let nms_iou_threshold = options
            .nms_iou_threshold
            .unwrap_or(manifest.nms_iou_threshold);
        let mismatch = |message: String| InferenceError::ModelMismatch {
            model: model.clone(),
            path: model_path.to_path_buf(),
            message,
        };
        for (what, v) in [
            ("score_threshold", score_threshold),
            ("nms_iou_threshold", nms_iou_threshold),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(InferenceError::InvalidOptions {
                    model: model.clone(),
                    message: format!("{what} must be in (0, 1], got {v}"),
                });
            }
        }

        std::fs::metadata(model_path).map_err(|source| InferenceError::ModelFile {
            model: model.clone(),
            path: model_path.to_path_buf(),
            source,
        })?;
        let environment = runtime::environment()?;
        let session_error = |source: ort::Error| InferenceError::SessionLoad {
            model: model.clone(),
            path: model_path.to_path_buf(),
            source,
        };
        let library = runtime::loaded_library()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the loaded ONNX Runtime".into());
        let chain = options.execution_provider.fallback_chain();
        let mut created = None;
        for (i, &provider) in chain.iter().enumerate() {
            let next = chain.get(i + 1).copied().unwrap_or_default();
            let next_name = match next {
                ExecutionProvider::Cpu => "CPU",
                other => other.name(),
            };
            let mut builder = session_builder(&environment, &options).map_err(session_error)?;
            if let Err(reason) = register_provider(provider, &mut builder, model_path) {
                tracing::warn!(
                    model = %model,
                    requested = %options.execution_provider,
                    reason = %reason,
                    "execution provider {} not available in {library}; falling back to {next_name}",
                    provider.name()
                );
                continue;
            }
            match builder.commit_from_file(model_path) {
                Ok(session) => {
                    created = Some((session, provider));
                    break;
                }
                Err(e) if provider != ExecutionProvider::Cpu => {
                    tracing::warn!(
                        model = %model,
                        requested = %options.execution_provider,
                        error = %e,
                        "execution provider {} failed to create a session; falling back to {next_name}",
                        provider.name()
                    );
                }
                Err(e) => return Err(session_error(e)),
            }
        }
        let (session, execution_provider) =
            created.expect("the fallback chain ends with the CPU, which returns or errors above");

        let (input_name, batch) = check_input(&session, &manifest).map_err(&mismatch)?;
        let (output_names, keypoints) = check_outputs(&session, &manifest).map_err(&mismatch)?;
        tracing::info!(
            model = %manifest.name,
            path = %model_path.display(),
            input = %input_name,
            outputs = ?output_names,
            batch = ?batch,
            execution_provider = %execution_provider,
            requested = %options.execution_provider,
            intra_op_threads = options.intra_op_threads,
            inter_op_threads = options.inter_op_threads,
            "model loaded"
        );

        Ok(Self {
            session,
            manifest,
            model_path: model_path.to_path_buf(),
            execution_provider,
            input_name,
            output_names,
            keypoints,
            batch,
            score_threshold,
            nms_iou_threshold,
            scratch: Vec::new(),
        })
    }

    /// The manifest the model was loaded with.
    pub fn manifest(&self) -> &ModelManifest {
        &self.manifest
    }

    /// The provider the model actually runs on: the one asked for in [`DetectorOptions`], or
    /// the one it fell back to when the loaded ONNX Runtime library lacks it.
    pub fn execution_provider_used(&self) -> ExecutionProvider {
        self.execution_provider
    }

    /// The score threshold in use (manifest default or the override).
    pub fn score_threshold(&self) -> f32 {
        self.score_threshold
    }

    /// The NMS IoU threshold in use (manifest default or the override).
    pub fn nms_iou_threshold(&self) -> f32 {
        self.nms_iou_threshold
    }

    /// Runs the model on frames `[start, start + n)` of `tensor` and decodes each image's output
    /// into candidates in canvas pixels, after NMS (for formats that need it).
    fn run_slice(
        &mut self,
        tensor: &Array4<f32>,
        start: usize,
        n: usize,
    ) -> Result<Vec<Vec<PoseCandidate>>, InferenceError> {
        let model = &self.manifest.name;
        let runtime_error = |source: ort::Error| InferenceError::Runtime {
            model: model.clone(),
            source,
        };
        let output_error = |message: String| InferenceError::Output {
            model: model.clone(),
            message,
        };
        let view = tensor.slice(s![start..start + n, .., .., ..]);
        let input = TensorRef::from_array_view(view).map_err(runtime_error)?;
        let outputs = self
            .session
            .run(ort::inputs![self.input_name.as_str() => input])
            .map_err(runtime_error)?;
        let get = |name: &str| {
            outputs
                .get(name)
                .ok_or_else(|| output_error(format!("no output named {name:?}")))
        };
        // Every output of this crate's formats has the batch first; split it into images.
        let f32_images = |name: &str| -> Result<Vec<&[f32]>, InferenceError> {
            let (shape, data) = get(name)?
                .try_extract_tensor::<f32>()
                .map_err(runtime_error)?;
            split_batch(name, &shape[..], data, n).map_err(output_error)
        };
        let (w, h) = (self.manifest.input.width, self.manifest.input.height);
        let num_classes = self.manifest.classes.len();
        let threshold = self.score_threshold;
        let names = &self.output_names;
        let decode_error = |e: DecodeError| output_error(e.0);
        let plain = |c: Vec<Candidate>| -> Vec<PoseCandidate> {
            c.into_iter()
                .map(|candidate| PoseCandidate {
                    candidate,
                    keypoints: Vec::new(),
                })
                .collect()
        };
        let mut decoded: Vec<Vec<PoseCandidate>> = Vec::with_capacity(n);
        match self.manifest.format {
            ModelFormat::Yolox => {
                for image in f32_images(&names[0])? {
                    let c =
                        decode_yolox(image, w, h, num_classes, threshold).map_err(decode_error)?;
                    decoded.push(plain(c));
                }
            }
            ModelFormat::Ultralytics => {
                let anchors = ultralytics_anchor_count(w, h);
                for image in f32_images(&names[0])? {
                    let c = decode_ultralytics(image, anchors, num_classes, threshold)
                        .map_err(decode_error)?;
                    decoded.push(plain(c));
                }
            }
            ModelFormat::UltralyticsPose => {
                let anchors = ultralytics_anchor_count(w, h);
                for image in f32_images(&names[0])? {
                    decoded.push(
                        decode_ultralytics_pose(image, anchors, self.keypoints, threshold)
                            .map_err(decode_error)?,
                    );
                }
            }
            ModelFormat::Nanodet => {
                let per_output = names
                    .iter()
                    .map(|name| f32_images(name))
                    .collect::<Result<Vec<_>, _>>()?;
                // One image at a time across the six outputs.
                #[allow(clippy::needless_range_loop)]
                for i in 0..n {
                    let levels: Vec<NanoDetLevel<'_>> = NANODET_STRIDES
                        .iter()
                        .enumerate()
                        .map(|(l, &stride)| NanoDetLevel {
                            stride,
                            cls: per_output[2 * l][i],
                            dis: per_output[2 * l + 1][i],
                        })
                        .collect();
                    let c = decode_nanodet(&levels, w, h, num_classes, threshold)
                        .map_err(decode_error)?;
                    decoded.push(plain(c));
                }
            }
            ModelFormat::E2e => {
                let dets = f32_images(&names[0])?;
                let (shape, data) = get(&names[1])?
                    .try_extract_tensor::<i64>()
                    .map_err(runtime_error)?;
                let labels = split_batch(&names[1], &shape[..], data, n).map_err(output_error)?;
                for (d, l) in dets.into_iter().zip(labels) {
                    let c = decode_e2e(d, l, num_classes, threshold).map_err(decode_error)?;
                    decoded.push(plain(c));
                }
            }
        }
        if !self.manifest.format.needs_nms() {
            return Ok(decoded);
        }
        Ok(decoded
            .into_iter()
            .map(|image| {
                let boxes: Vec<Candidate> = image.iter().map(|p| p.candidate).collect();
                let mut slots: Vec<Option<PoseCandidate>> = image.into_iter().map(Some).collect();
                nms_indices(&boxes, self.nms_iou_threshold)
                    .into_iter()
                    .filter_map(|i| slots[i].take())
                    .collect()
            })
            .collect())
    }

    /// Preprocesses `frames`, runs the model and decodes, in canvas pixels.
    fn run(&mut self, frames: &[Frame]) -> Result<Vec<Vec<PoseCandidate>>, InferenceError> {
        let tensor = preprocess_into(
            frames,
            &self.manifest.input,
            std::mem::take(&mut self.scratch),
        )?;
        let per_frame = match self.batch {
            BatchMode::Dynamic => self.run_slice(&tensor, 0, frames.len()),
            BatchMode::One => (0..frames.len())
                .map(|i| self.run_slice(&tensor, i, 1))
                .collect::<Result<Vec<_>, _>>()
                .map(|runs| runs.into_iter().flatten().collect()),
        };
        self.scratch = tensor.into_raw_vec_and_offset().0;
        per_frame
    }

    /// Keypoints per detection for `ultralytics-pose` models (read from the model at load), 0
    /// for other formats.
    pub fn keypoint_count(&self) -> usize {
        self.keypoints
    }

    /// Whether one run takes several frames (a dynamic batch dimension). With a fixed batch
    /// of 1, frames run one by one anyway, and a caller handing over a batch only makes the
    /// first frames wait for the last.
    pub fn batches(&self) -> bool {
        self.batch == BatchMode::Dynamic
    }

    /// The ceiling: frames per second of `Session::run` alone on this detector's session (same
    /// options, same provider), its input prepared once from `frames` (as many as the model
    /// takes in one run), run again and again for `duration` (at least once). No
    /// pre-processing, no decoding of the output, no NMS.
    pub fn raw_throughput(
        &mut self,
        frames: &[Frame],
        duration: std::time::Duration,
    ) -> Result<f64, InferenceError> {
        let n = match self.batch {
            BatchMode::Dynamic => frames.len().max(1),
            BatchMode::One => 1,
        };
        let tensor = preprocess_into(
            &frames[..n.min(frames.len())],
            &self.manifest.input,
            Vec::new(),
        )?;
        let model = self.manifest.name.clone();
        let runtime_error = |source: ort::Error| InferenceError::Runtime {
            model: model.clone(),
            source,
        };
        let start = std::time::Instant::now();
        let mut runs = 0u64;
        while runs == 0 || start.elapsed() < duration {
            let input = TensorRef::from_array_view(tensor.view()).map_err(runtime_error)?;
            let out = self
                .session
                .run(ort::inputs![self.input_name.as_str() => input])
                .map_err(runtime_error)?;
            std::hint::black_box(out);
            runs += 1;
        }
        Ok((runs * tensor.shape()[0] as u64) as f64 / start.elapsed().as_secs_f64())
    }
}

/// Splits a `[n, ...]` tensor's data into `n` equal per-image slices.
fn split_batch<'a, T>(
    name: &str,
    shape: &[i64],
    data: &'a [T],
    n: usize,
) -> Result<Vec<&'a [T]>, String> {
    // n >= 1 (callers never run an empty batch).
    // `is_multiple_of` needs Rust 1.87; the workspace supports 1.85.
    #[allow(clippy::manual_is_multiple_of)]
    let uneven = n == 0 || data.len() % n != 0;
    if uneven || shape.first().copied() != Some(n as i64) {
        return Err(format!(
            "output {name:?} has shape {shape:?} for a batch of {n}"
        ));
    }
    let per_image = data.len() / n;
    if per_image == 0 {
        return Ok(vec![&data[..0]; n]);
    }
    Ok(data.chunks_exact(per_image).collect())
}

impl Detector for OrtDetector {
    type Error = InferenceError;

    fn name(&self) -> &str {
        &self.manifest.name
    }

    fn input_size(&self) -> (u32, u32) {
        (self.manifest.input.width, self.manifest.input.height)
    }

    fn detect(&mut self, frames: &[Frame]) -> Result<Vec<Vec<Detection>>, InferenceError> {
        if frames.is_empty() {
            return Ok(Vec::new());
        }
        let per_frame = self.run(frames)?;
        let mut result = Vec::with_capacity(frames.len());
        for (frame, candidates) in frames.iter().zip(per_frame) {
            let detections: Vec<Detection> = candidates
                .into_iter()
                .filter_map(|p| to_source_one(&self.manifest, frame, p))
                .collect();
            tracing::trace!(
                model = %self.manifest.name,
                camera = %frame.camera,
                seq = frame.seq,
                detections = detections.len(),
                "detected"
            );
            result.push(detections);
        }
        Ok(result)
    }
}

/// One candidate in source pixels (box clamped, keypoints not), or `None` if its box has no
/// area left or its class has no name.
fn to_source_one(manifest: &ModelManifest, frame: &Frame, p: PoseCandidate) -> Option<Detection> {
    let lb = &frame.letterbox;
    let bbox = lb.to_source(&p.candidate.bbox);
    let class_name = manifest.class_name(p.candidate.class_id)?.clone();
    (bbox.area() > 0.0).then(|| Detection {
        class_id: p.candidate.class_id,
        class_name,
        score: p.candidate.score,
        bbox,
        keypoints: p
            .keypoints
            .into_iter()
            .map(|k| Keypoint {
                x: (k.x - lb.pad_x) / lb.scale,
                y: (k.y - lb.pad_y) / lb.scale,
                score: k.score,
            })
            .collect(),
    })
}

/// A session builder with `options`' optimisation and thread settings, no provider yet.
fn session_builder(
    environment: &ort::environment::Environment,
    options: &DetectorOptions,
) -> Result<SessionBuilder, ort::Error> {
    let mut builder = Session::builder(environment)?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(ort::Error::<()>::from)?
        .with_intra_threads(options.intra_op_threads)
        .map_err(ort::Error::<()>::from)?;
    if options.inter_op_threads != 0 {
        builder = builder
            .with_inter_threads(options.inter_op_threads)
            .map_err(ort::Error::<()>::from)?;
    }
    if options.intra_op_threads != 1 {
        // Pool threads that spin between operators burn the cores the decoders need.
        builder = builder
            .with_intra_op_spinning(false)
            .map_err(ort::Error::<()>::from)?;
    }
    Ok(builder)
}

/// Registers `provider` on `builder`, or says why it cannot be: the loaded library was built
/// without it, or registering failed (e.g. CUDA libraries missing). CPU needs no registration.
fn register_provider(
    provider: ExecutionProvider,
    builder: &mut SessionBuilder,
    model_path: &Path,
) -> Result<(), String> {
    fn offered<E: OrtExecutionProvider>() -> Result<(), String> {
        match E::is_available() {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("{} is not in the library's providers", E::NAME)),
            Err(e) => Err(format!("cannot list the library's providers: {e}")),
        }
    }
    let device = |device_id: u32| {
        i32::try_from(device_id).map_err(|_| format!("device_id {device_id} is out of range"))
    };
    match provider {
        ExecutionProvider::Cpu => Ok(()),
        ExecutionProvider::Cuda { device_id } => {
            offered::<ep::CUDA>()?;
            ep::CUDA::default()
                .with_device_id(device(device_id)?)
                .register(builder)
                .map_err(|e| e.to_string())
        }
        ExecutionProvider::TensorRt { device_id } => {
            offered::<ep::TensorRT>()?;
            let cache = model_path
                .parent()
                .unwrap_or(Path::new("."))
                .join("tensorrt-cache");
            ep::TensorRT::default()
                .with_device_id(device(device_id)?)
                .with_engine_cache(true)
                .with_engine_cache_path(cache.display())
                .with_timing_cache(true)
                .with_timing_cache_path(cache.display())
                .register(builder)
                .map_err(|e| e.to_string())?;
            // Operators TensorRT does not take run on CUDA rather than the CPU, if it is there.
            let cuda = offered::<ep::CUDA>().and_then(|()| {
                ep::CUDA::default()
                    .with_device_id(device(device_id)?)
                    .register(builder)
                    .map_err(|e| e.to_string())
            });
            if let Err(reason) = cuda {
                tracing::debug!(%reason, "CUDA not registered behind TensorRT");
            }
            Ok(())
        }
        ExecutionProvider::OpenVino => {
            offered::<ep::OpenVINO>()?;
            ep::OpenVINO::default()
                .register(builder)
                .map_err(|e| e.to_string())
        }
    }
}

/// Checks the image input: f32, `[batch, 3, height, width]` with the manifest's size (or dynamic
/// dimensions). Returns its name and how to batch.
fn check_input(session: &Session, manifest: &ModelManifest) -> Result<(String, BatchMode), String> {
    let inputs = session.inputs();
    let outlet = match &manifest.input.name {
        Some(name) => inputs.iter().find(|i| i.name() == name).ok_or_else(|| {
            let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
            format!(
                "{} names input {name:?} but the model's inputs are {names:?}",
                manifest.manifest_path.display()
            )
        })?,
        None => match inputs {
            [only] => only,
            _ => {
                let names: Vec<&str> = inputs.iter().map(|i| i.name()).collect();
                return Err(format!(
                    "the model has inputs {names:?}; set input.name in {} to the image input",
                    manifest.manifest_path.display()
                ));
            }
        },
    };
    let name = outlet.name().to_owned();
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(format!("input {name:?} is not a tensor"));
    };
    if *ty != TensorElementType::Float32 {
        return Err(format!(
            "input {name:?} has element type {ty:?}, f32 needed"
        ));
    }
    let (w, h) = (manifest.input.width as i64, manifest.input.height as i64);
    let [batch, channels, height, width] = shape[..] else {
        return Err(format!(
            "input {name:?} has shape {:?}, [batch, 3, height, width] needed",
            &shape[..]
        ));
    };
    let fits = |dim: i64, want: i64| dim < 0 || dim == want;
    if !fits(channels, 3) || !fits(height, h) || !fits(width, w) {
        return Err(format!(
            "input {name:?} has shape {:?} but {} says [batch, 3, {h}, {w}]",
            &shape[..],
            manifest.manifest_path.display()
        ));
    }
    let batch = match batch {
        1 => BatchMode::One,
        b if b < 0 => BatchMode::Dynamic,
        b => {
            return Err(format!(
                "input {name:?} has a fixed batch size of {b}; export the model with batch 1 or a dynamic batch"
            ));
        }
    };
    Ok((name, batch))
}

/// The f32 or i64 tensor output `name`, or why it is not one; returns its shape.
fn output_shape(
    session: &Session,
    name: &str,
    want: TensorElementType,
) -> Result<Vec<i64>, String> {
    let outputs = session.outputs();
    let outlet = outputs.iter().find(|o| o.name() == name).ok_or_else(|| {
        let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
        format!("the model has no output {name:?}; its outputs are {names:?}")
    })?;
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(format!("output {name:?} is not a tensor"));
    };
    if *ty != want {
        return Err(format!(
            "output {name:?} has element type {ty:?}, {want:?} needed"
        ));
    }
    Ok(shape.to_vec())
}

/// The only output's name, for formats with one output.
fn only_output(session: &Session, format: ModelFormat) -> Result<String, String> {
    match session.outputs() {
        [outlet] => Ok(outlet.name().to_owned()),
        outputs => {
            let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
            Err(format!(
                "format {format} needs exactly one output, the model has {names:?}"
            ))
        }
    }
}

/// Checks the outputs the decoder reads against the manifest. Returns their names in the order
/// `run_slice` reads them, and the keypoint count (pose formats; else 0). Dimensions the model
/// leaves dynamic (negative) are checked when it runs.
fn check_outputs(
    session: &Session,
    manifest: &ModelManifest,
) -> Result<(Vec<String>, usize), String> {
    let (w, h) = (manifest.input.width, manifest.input.height);
    let classes = manifest.classes.len() as i64;
    let manifest_file = manifest.manifest_path.display();
    let format = manifest.format;
    match format {
        ModelFormat::Yolox => {
            let name = only_output(session, format)?;
            let shape = output_shape(session, &name, TensorElementType::Float32)?;
            let anchors = yolox_anchor_count(w, h) as i64;
            let [_, a, r] = shape[..] else {
                return Err(format!(
                    "output {name:?} has shape {shape:?}, [batch, anchors, 5 + classes] needed"
                ));
            };
            if r >= 0 && r != 5 + classes {
                return Err(format!(
                    "output {name:?} has {} class scores per anchor but {manifest_file} lists \
                     {classes} classes",
                    r - 5
                ));
            }
            if a >= 0 && a != anchors {
                return Err(format!(
                    "output {name:?} has {a} anchors; a {w}x{h} YOLOX input gives {anchors}"
                ));
            }
            Ok((vec![name], 0))
        }
        ModelFormat::Ultralytics | ModelFormat::UltralyticsPose => {
            let name = only_output(session, format)?;
            let shape = output_shape(session, &name, TensorElementType::Float32)?;
            let anchors = ultralytics_anchor_count(w, h) as i64;
            let [_, c, a] = shape[..] else {
                return Err(format!(
                    "output {name:?} has shape {shape:?}, [batch, channels, anchors] needed"
                ));
            };
            if a >= 0 && a != anchors {
                return Err(format!(
                    "output {name:?} has {a} anchors; a {w}x{h} input gives {anchors} \
                     (is input.width/height in {manifest_file} the export size?)"
                ));
            }
            if format == ModelFormat::Ultralytics {
                if c >= 0 && c != 4 + classes {
                    return Err(format!(
                        "output {name:?} has {} class scores per anchor but {manifest_file} \
                         lists {classes} classes",
                        c - 4
                    ));
                }
                return Ok((vec![name], 0));
            }
            if classes != 1 {
                return Err(format!(
                    "format {format} has one class (person) but {manifest_file} lists {classes}"
                ));
            }
            if c < 8 || (c - 5) % 3 != 0 {
                return Err(format!(
                    "output {name:?} has shape {shape:?}; format {format} needs \
                     [batch, 5 + 3 * keypoints, anchors]"
                ));
            }
            Ok((vec![name], ((c - 5) / 3) as usize))
        }
        ModelFormat::Nanodet => {
            let mut names = Vec::with_capacity(6);
            for stride in NANODET_STRIDES {
                let (gw, gh) = nanodet_grid(w, h, stride);
                let cells = (gw * gh) as i64;
                for (prefix, per_cell, what) in [
                    ("cls_pred", classes, "classes"),
                    ("dis_pred", 4 * NANODET_BINS as i64, "4 x 8 distance bins"),
                ] {
                    let name = format!("{prefix}_stride_{stride}");
                    let shape = output_shape(session, &name, TensorElementType::Float32)?;
                    let [_, n, k] = shape[..] else {
                        return Err(format!(
                            "output {name:?} has shape {shape:?}, [batch, cells, {what}] needed"
                        ));
                    };
                    if n >= 0 && n != cells {
                        return Err(format!(
                            "output {name:?} has {n} cells; a {w}x{h} input gives {cells} at \
                             stride {stride} (is input.width/height in {manifest_file} the \
                             export size?)"
                        ));
                    }
                    if k >= 0 && k != per_cell {
                        return Err(format!(
                            "output {name:?} has {k} values per cell, {per_cell} needed \
                             ({what}; {manifest_file} lists {classes} classes)"
                        ));
                    }
                    names.push(name);
                }
            }
            Ok((names, 0))
        }
        ModelFormat::E2e => {
            let shape = output_shape(session, "dets", TensorElementType::Float32)?;
            if !matches!(shape[..], [_, _, k] if k < 0 || k == 5) {
                return Err(format!(
                    "output \"dets\" has shape {shape:?}, [batch, K, 5] needed"
                ));
            }
            let shape = output_shape(session, "labels", TensorElementType::Int64)?;
            if shape.len() != 2 {
                return Err(format!(
                    "output \"labels\" has shape {shape:?}, [batch, K] needed"
                ));
            }
            Ok((vec!["dets".to_owned(), "labels".to_owned()], 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sharpeyes_core::{BBox, CameraId, Letterbox, PixelFormat, UnixMillis};

    use super::*;

    fn manifest() -> ModelManifest {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../models/yolox_nano.toml"
        ))
        .unwrap();
        ModelManifest::from_toml_str(&text, Path::new("models/yolox_nano.toml")).unwrap()
    }

    fn frame(letterbox: Letterbox) -> Frame {
        Frame {
            camera: CameraId::new("cam").unwrap(),
            seq: 0,
            time: UnixMillis(0),
            width: 416,
            height: 416,
            stride: 416 * 3,
            format: PixelFormat::Bgr24,
            data: Arc::from(vec![0u8; 416 * 416 * 3]),
            letterbox,
        }
    }

    #[test]
    fn boxes_map_to_source_pixels_and_empty_ones_are_dropped() {
        // 832x416 source into 416x416: scale 0.5, pad_y 104.
        let f = frame(Letterbox::fit(832, 416, 416, 416));
        let inside = Candidate {
            class_id: 5,
            score: 0.9,
            bbox: BBox {
                x1: 10.0,
                y1: 114.0,
                x2: 20.0,
                y2: 124.0,
            },
        };
        let in_border = Candidate {
            class_id: 0,
            score: 0.8,
            bbox: BBox {
                x1: 10.0,
                y1: 0.0,
                x2: 20.0,
                y2: 100.0,
            },
        };
        let inside = PoseCandidate {
            candidate: inside,
            // Keypoints map like boxes but are not clamped.
            keypoints: vec![Keypoint {
                x: -4.0,
                y: 114.0,
                score: 0.7,
            }],
        };
        let in_border = PoseCandidate {
            candidate: in_border,
            keypoints: Vec::new(),
        };
        let d: Vec<Detection> = [inside, in_border]
            .into_iter()
            .filter_map(|p| to_source_one(&manifest(), &f, p))
            .collect();
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].keypoints,
            vec![Keypoint {
                x: -8.0,
                y: 20.0,
                score: 0.7
            }]
        );
        assert_eq!(&*d[0].class_name, "bus");
        assert_eq!(
            d[0].bbox,
            BBox {
                x1: 20.0,
                y1: 20.0,
                x2: 40.0,
                y2: 40.0
            }
        );
    }

    #[test]
    fn out_of_range_threshold_override_is_refused_before_loading() {
        let options = DetectorOptions {
            score_threshold: Some(0.0),
            ..Default::default()
        };
        let e = OrtDetector::new(manifest(), Path::new("/nonexistent.onnx"), options).unwrap_err();
        assert_eq!(
            e.to_string(),
            "model yolox_nano: invalid detector options: score_threshold must be in (0, 1], got 0"
        );
    }

    #[test]
    fn missing_model_file_names_model_and_path() {
        let e = OrtDetector::new(
            manifest(),
            Path::new("/nonexistent/x.onnx"),
            DetectorOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "model yolox_nano: cannot read model file /nonexistent/x.onnx"
        );
    }

    #[test]
    fn default_options_use_one_cpu_thread() {
        let o = DetectorOptions::default();
        assert_eq!(
            (o.intra_op_threads, o.inter_op_threads, o.execution_provider),
            (1, 1, ExecutionProvider::Cpu)
        );
    }

    #[test]
    fn provider_names_round_trip_and_unknown_ones_are_none() {
        for name in ExecutionProvider::NAMES {
            let p = ExecutionProvider::from_name(name, 3).expect("known name");
            assert_eq!(p.name(), name);
        }
        assert_eq!(
            ExecutionProvider::from_name("tensorrt", 3).map(|p| p.to_string()),
            Some("tensorrt:3".into())
        );
        assert_eq!(ExecutionProvider::from_name("rocm", 0), None);
        assert_eq!(ExecutionProvider::from_name("CUDA", 0), None);
    }
}
