//! `DetectorOptions::intra_op_threads` reaches the ONNX Runtime session: asking for 4 threads
//! starts a pool of (at least) 3 more OS threads than asking for 1 (the caller's thread is the
//! fourth). Linux only (counts `/proc/self/task`); its own test binary so no other test starts
//! threads meanwhile. Skips with a printed reason without the assets or ONNX Runtime.

mod common;

use sharpeyes_inference::DetectorOptions;

fn os_threads() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}

#[test]
fn intra_op_threads_size_the_session_pool() {
    let Some(before) = os_threads() else {
        eprintln!("SKIP: no /proc/self/task to count threads");
        return;
    };
    let Some((_, one)) = common::yolox_detector(DetectorOptions::default()) else {
        return;
    };
    let with_one = os_threads().expect("counted above");
    let (_, four) = common::yolox_detector(DetectorOptions {
        intra_op_threads: 4,
        ..Default::default()
    })
    .expect("assets and runtime were found above");
    let with_four = os_threads().expect("counted above");
    eprintln!(
        "OS threads: {before} before, {with_one} with a 1-thread session, {with_four} with a 4-thread one too"
    );
    assert!(
        with_four >= with_one + 3,
        "a 4-thread session should add 3 pool threads: {with_one} -> {with_four}"
    );
    drop((one, four));
}
