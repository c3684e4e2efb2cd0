//! Asking for a GPU execution provider that the loaded ONNX Runtime library does not offer (the
//! CPU-only `onnxruntime` wheel has no CUDA, TensorRT or OpenVINO) falls back to the CPU, and
//! the detector finds exactly what the CPU one finds. Skips with a printed reason without the
//! assets or ONNX Runtime; with a GPU library, the GPU case says so and checks what it can.

mod common;

use std::path::Path;

use sharpeyes_core::{Detection, Detector};
use sharpeyes_inference::{DetectorOptions, ExecutionProvider, OrtDetector, letterbox_image};

fn detect_bus(detector: &mut OrtDetector, assets: &Path) -> Vec<Detection> {
    let img = common::read_rgb(&assets.join("images/img_bus.jpg"));
    let (w, h) = detector.input_size();
    let frame = letterbox_image(&img, w, h, detector.manifest().input.pad_value).unwrap();
    detector
        .detect(std::slice::from_ref(&frame))
        .unwrap()
        .remove(0)
}

fn same_detections(got: &[Detection], want: &[Detection], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.class_name, w.class_name, "{what}");
        assert!((g.score - w.score).abs() < 1e-4, "{what}: {g:?} vs {w:?}");
        for (a, b) in [
            (g.bbox.x1, w.bbox.x1),
            (g.bbox.y1, w.bbox.y1),
            (g.bbox.x2, w.bbox.x2),
            (g.bbox.y2, w.bbox.y2),
        ] {
            assert!((a - b).abs() < 0.01, "{what}: {g:?} vs {w:?}");
        }
    }
}

#[test]
fn unavailable_gpu_providers_fall_back_to_cpu_with_the_same_detections() {
    let Some((assets, mut cpu)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    assert_eq!(cpu.execution_provider_used(), ExecutionProvider::Cpu);
    let want = detect_bus(&mut cpu, &assets);
    assert!(
        want.iter().any(|d| &*d.class_name == "bus"),
        "CPU finds the bus: {want:?}"
    );

    for asked in [
        ExecutionProvider::Cuda { device_id: 0 },
        ExecutionProvider::TensorRt { device_id: 0 },
        ExecutionProvider::OpenVino,
    ] {
        let (_, mut detector) = common::yolox_detector(DetectorOptions {
            execution_provider: asked,
            ..Default::default()
        })
        .expect("assets and runtime were found above");
        let used = detector.execution_provider_used();
        if used != ExecutionProvider::Cpu {
            // A library with this provider: it must be the one asked for or a step down the chain.
            eprintln!(
                "{asked}: this ONNX Runtime offers it; running on {used}, not checking the fallback"
            );
            assert!(asked.fallback_chain().contains(&used), "{asked} -> {used}");
            continue;
        }
        let got = detect_bus(&mut detector, &assets);
        same_detections(&got, &want, &asked.to_string());
    }
}

#[test]
fn fallback_order_is_tensorrt_then_cuda_then_cpu() {
    use ExecutionProvider::*;
    assert_eq!(
        TensorRt { device_id: 1 }.fallback_chain(),
        vec![TensorRt { device_id: 1 }, Cuda { device_id: 1 }, Cpu]
    );
    assert_eq!(
        Cuda { device_id: 0 }.fallback_chain(),
        vec![Cuda { device_id: 0 }, Cpu]
    );
    assert_eq!(OpenVino.fallback_chain(), vec![OpenVino, Cpu]);
    assert_eq!(Cpu.fallback_chain(), vec![Cpu]);
}

#[test]
fn two_intra_op_threads_give_the_cpu_detections() {
    let Some((assets, mut one)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let (_, mut two) = common::yolox_detector(DetectorOptions {
        intra_op_threads: 2,
        inter_op_threads: 2,
        ..Default::default()
    })
    .expect("assets and runtime were found above");
    let want = detect_bus(&mut one, &assets);
    same_detections(&detect_bus(&mut two, &assets), &want, "intra_op_threads=2");
}
