//! The NanoDet-m, RTMDet-nano (end-to-end) and YOLO11n-pose asset models on real pictures
//! through ONNX Runtime: each finds the people (and NanoDet the bus), boxes land inside the
//! picture, pose detections carry 17 keypoints near their box. Skips with a printed reason without
//! the assets or ONNX Runtime.

mod common;

use sharpeyes_core::{Detection, Detector};
use sharpeyes_inference::{COCO_KEYPOINTS, OrtDetector, letterbox_image};

fn detect(detector: &mut OrtDetector, image: &std::path::Path) -> Vec<Detection> {
    let img = common::read_rgb(image);
    let (w, h) = detector.input_size();
    let frame = letterbox_image(&img, w, h, detector.manifest().input.pad_value).unwrap();
    let dets = detector.detect(&[frame]).unwrap().remove(0);
    eprintln!("{} on {}:", detector.name(), image.display());
    for d in &dets {
        eprintln!(
            "  {:<12} {:.3}  ({:.0}, {:.0}) - ({:.0}, {:.0})",
            d.class_name, d.score, d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2
        );
    }
    for d in &dets {
        let b = d.bbox;
        assert!(
            b.x1 >= 0.0 && b.y1 >= 0.0 && b.x2 <= img.width() as f32 && b.y2 <= img.height() as f32,
            "{d:?}"
        );
        assert!((0.0..=1.0).contains(&d.score), "{d:?}");
    }
    assert!(dets.windows(2).all(|p| p[0].score >= p[1].score));
    dets
}

fn count(dets: &[Detection], class: &str) -> usize {
    dets.iter().filter(|d| &*d.class_name == class).count()
}

#[test]
fn nanodet_finds_people_and_the_bus() {
    let Some((assets, mut d)) = common::detector("nanodet_m") else {
        return;
    };
    let dets = detect(&mut d, &assets.join("images/img_bus.jpg"));
    assert!(count(&dets, "person") >= 3, "{dets:#?}");
    assert!(count(&dets, "bus") >= 1, "{dets:#?}");
}

#[test]
fn rtmdet_e2e_finds_the_people() {
    let Some((assets, mut d)) = common::detector("rtmdet_nano_person") else {
        return;
    };
    let dets = detect(&mut d, &assets.join("images/img_bus.jpg"));
    assert!(count(&dets, "person") >= 3, "{dets:#?}");
    let dets = detect(&mut d, &assets.join("images/img_people_poses.jpg"));
    assert!(count(&dets, "person") >= 5, "{dets:#?}");
}

#[test]
fn pose_model_gives_17_keypoints_near_each_person() {
    let Some((assets, mut d)) = common::detector("yolo11n_pose") else {
        return;
    };
    assert_eq!(d.keypoint_count(), COCO_KEYPOINTS);
    let dets = detect(&mut d, &assets.join("images/img_people_poses.jpg"));
    assert!(count(&dets, "person") >= 5, "{dets:#?}");

    let img = common::read_rgb(&assets.join("images/img_people_poses.jpg"));
    let frame = letterbox_image(&img, 640, 640, 114).unwrap();
    let poses = d.detect(&[frame]).unwrap().remove(0);
    assert_eq!(poses.len(), dets.len());
    for p in &poses {
        assert_eq!(p.keypoints.len(), COCO_KEYPOINTS);
        let b = p.bbox;
        let (mx, my) = (b.width() * 0.25, b.height() * 0.25);
        for k in p.keypoints.iter().filter(|k| k.score > 0.5) {
            assert!(
                k.x > b.x1 - mx && k.x < b.x2 + mx && k.y > b.y1 - my && k.y < b.y2 + my,
                "visible keypoint {k:?} far from its box {b:?}"
            );
        }
    }
    // Same detections, keypoints included, as the image helper's run.
    assert_eq!(poses, dets);
}

#[test]
fn rtmdet_dynamic_batch_gives_the_same_detections_as_single_frames() {
    let Some((assets, mut d)) = common::detector("rtmdet_nano_person") else {
        return;
    };
    let frames: Vec<_> = ["img_bus.jpg", "img_people_poses.jpg", "img_zidane.jpg"]
        .iter()
        .map(|f| {
            let img = common::read_rgb(&assets.join("images").join(f));
            letterbox_image(&img, 320, 320, 114).unwrap()
        })
        .collect();
    let batch = d.detect(&frames).unwrap();
    assert_eq!(batch.len(), 3);
    for (frame, batched) in frames.iter().zip(&batch) {
        let single = d.detect(std::slice::from_ref(frame)).unwrap().remove(0);
        assert_eq!(single.len(), batched.len(), "{single:#?} vs {batched:#?}");
        for (a, b) in single.iter().zip(batched) {
            assert_eq!(a.class_id, b.class_id);
            assert!((a.score - b.score).abs() < 1e-4, "{a:?} vs {b:?}");
            assert!((a.bbox.x1 - b.bbox.x1).abs() < 0.5 && (a.bbox.y2 - b.bbox.y2).abs() < 0.5);
        }
    }
}
