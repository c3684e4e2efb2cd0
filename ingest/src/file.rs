//! Video files as a frame source (I/O): `filesrc → decodebin → convert tail → appsink`, as fast as
//! the machine allows (no pacing) and without dropping frames, for replay and benchmarks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use sharpeyes_core::{CameraId, Canvas, FrameSource, SourceItem, UnixMillis};

use crate::decode::{FrameBuilder, bus_error, convert_tail, init_gstreamer};
use crate::error::IngestError;

/// Decodes a file (any container and codec GStreamer has plugins for).
pub struct FileSource {
    camera: CameraId,
    path: PathBuf,
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    builder: FrameBuilder,
    start: UnixMillis,
}

impl FileSource {
    /// Opens `path`, its pictures letterboxed into `canvas`, as fast as it decodes. Frame times
    /// are `start` + media time.
    pub fn open(
        camera: CameraId,
        path: &Path,
        canvas: Canvas,
        start: UnixMillis,
    ) -> Result<Self, IngestError> {
        Self::open_with(camera, path, canvas, start, false)
    }

    /// Like [`FileSource::open`]; `paced` plays the file at its own frame rate, as a camera
    /// would deliver it.
    pub fn open_with(
        camera: CameraId,
        path: &Path,
        canvas: Canvas,
        start: UnixMillis,
        paced: bool,
    ) -> Result<Self, IngestError> {
        init_gstreamer()?;
        if !path.is_file() {
            return Err(IngestError::FileNotFound {
                camera,
                path: path.to_path_buf(),
            });
        }
        let pe = |e: &dyn std::fmt::Display| IngestError::Pipeline {
            camera: camera.clone(),
            message: e.to_string(),
        };
        let pipeline = gst::Pipeline::with_name(&format!("file-{camera}"));
        let src = gst::ElementFactory::make("filesrc")
            .property("location", path.to_string_lossy().as_ref())
            .build()
            .map_err(|e| pe(&e))?;
        let decodebin = gst::ElementFactory::make("decodebin")
            .build()
            .map_err(|e| pe(&e))?;
        // Backpressure, no drops: replay must see every frame.
        let appsink = gst_app::AppSink::builder()
            .sync(paced)
            .max_buffers(4)
            .drop(false)
            .build();
        pipeline.add_many([&src, &decodebin]).map_err(|e| pe(&e))?;
        src.link(&decodebin).map_err(|e| pe(&e))?;
        let scale = convert_tail(&camera, &pipeline, appsink.clone())?;
        let scale_sink = scale
            .static_pad("sink")
            .ok_or_else(|| pe(&"videoscale has no sink pad"))?;
        decodebin.connect_pad_added(move |_, pad| {
            let is_video = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false);
            if is_video
                && !scale_sink.is_linked()
                && let Err(e) = pad.link(&scale_sink)
            {
                tracing::warn!(error = ?e, "linking decoded video failed");
            }
        });
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| pe(&e))?;
        Ok(Self {
            builder: FrameBuilder::new(camera.clone(), canvas),
            camera,
            path: path.to_path_buf(),
            pipeline,
            appsink,
            start,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl FrameSource for FileSource {
    type Error = IngestError;

    fn camera(&self) -> &CameraId {
        &self.camera
    }

    fn next_frame(&mut self, timeout: Duration) -> Result<SourceItem, IngestError> {
        let t = gst::ClockTime::from_nseconds(timeout.as_nanos() as u64);
        match self.appsink.try_pull_sample(t) {
            Some(sample) => {
                let pts_ms = sample
                    .buffer()
                    .and_then(|b| b.pts())
                    .map(|p| p.mseconds() as i64)
                    .unwrap_or(0);
                Ok(SourceItem::Frame(
                    self.builder.build(&sample, self.start.plus_ms(pts_ms))?,
                ))
            }
            None => {
                if let Some(e) = bus_error(&self.camera, &self.pipeline) {
                    return Err(e);
                }
                if self.appsink.is_eos() {
                    Ok(SourceItem::End)
                } else {
                    Ok(SourceItem::Timeout)
                }
            }
        }
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
