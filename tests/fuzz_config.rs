//! Property tests (fuzzing on stable Rust) of whole TOML files: the pipeline config
//! (`configs/default.toml`) and the example camera files, mutated structurally (lines and
//! tables duplicated, moved, swapped and dropped, headers turned into arrays of tables, values
//! wrapped in arrays and inline tables) and byte by byte. A file is a config or located
//! errors, never a panic. (`src/cameras/config_tests.rs` fuzzes camera files' values and
//! numeric keys; this is the shape of the file.) Pure, no I/O.

use proptest::collection::vec;
use proptest::prelude::*;
use sharpeyes::cameras::config::CameraConfig;
use sharpeyes::config::{DEFAULT_CONFIG, PipelineConfig};

const CASES: u32 = 256;

const CAMERA_FILES: &[&str] = &[
    include_str!("../configs/cameras/example-gate-east.toml"),
    include_str!("../configs/cameras/example-pond-north.toml"),
];

#[derive(Debug, Clone)]
enum Op {
    /// Line `a` again after line `b`.
    DuplicateLine(usize, usize),
    /// Line `a` moved to before line `b` (often into another table).
    MoveLine(usize, usize),
    SwapLines(usize, usize),
    DropLine(usize),
    /// The table starting at or after line `a` copied to the end (a duplicate table).
    DuplicateTable(usize),
    /// `[x]` ↔ `[[x]]` on the header at or after line `a`.
    ArrayOfTables(usize),
    /// `key = v` → `key = [v]`, `key = { v = v }` or `key.inner = v` on line `a`.
    Wrap(usize, u8),
    /// Raw bytes at a position.
    Bytes(usize, Vec<u8>),
    Truncate(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let u = any::<usize>;
    prop_oneof![
        (u(), u()).prop_map(|(a, b)| Op::DuplicateLine(a, b)),
        (u(), u()).prop_map(|(a, b)| Op::MoveLine(a, b)),
        (u(), u()).prop_map(|(a, b)| Op::SwapLines(a, b)),
        u().prop_map(Op::DropLine),
        u().prop_map(Op::DuplicateTable),
        u().prop_map(Op::ArrayOfTables),
        (u(), 0u8..3).prop_map(|(a, k)| Op::Wrap(a, k)),
        (
            u(),
            prop_oneof![
                vec(any::<u8>(), 1..6),
                prop::sample::select(vec![
                    "[", "]", "[[", "]]", "\"", "'''", "=", "{", "}", ".", "\n", "#", "\\u", "nan",
                    "-inf", "1e400", "0x", "\u{0}"
                ])
                .prop_map(|s| s.as_bytes().to_vec()),
            ]
        )
            .prop_map(|(a, b)| Op::Bytes(a, b)),
        u().prop_map(Op::Truncate),
    ]
}

fn apply(text: &str, ops: &[Op]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut tail: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut cut = None;
    for o in ops {
        let n = lines.len().max(1);
        let header_from = |lines: &[String], a: usize| {
            (a % n..lines.len())
                .chain(0..a % n)
                .find(|&i| lines[i].trim_start().starts_with('['))
        };
        match o {
            Op::DuplicateLine(a, b) if !lines.is_empty() => {
                let l = lines[a % n].clone();
                lines.insert((b % n) + 1, l);
            }
            Op::MoveLine(a, b) if !lines.is_empty() => {
                let l = lines.remove(a % n);
                let b = b % lines.len().max(1);
                lines.insert(b.min(lines.len()), l);
            }
            Op::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Op::DropLine(a) if !lines.is_empty() => {
                lines.remove(a % n);
            }
            Op::DuplicateTable(a) => {
                if let Some(h) = header_from(&lines, *a) {
                    let end = (h + 1..lines.len())
                        .find(|&i| lines[i].trim_start().starts_with('['))
                        .unwrap_or(lines.len());
                    let copy = lines[h..end].to_vec();
                    lines.extend(copy);
                }
            }
            Op::ArrayOfTables(a) => {
                if let Some(h) = header_from(&lines, *a) {
                    let l = lines[h].trim().to_owned();
                    lines[h] = match l.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
                        Some(inner) => format!("[{inner}]"),
                        None => format!("[{l}]"),
                    };
                }
            }
            Op::Wrap(a, k) if !lines.is_empty() => {
                let l = &mut lines[a % n];
                if let Some((key, v)) = l.split_once(" = ") {
                    *l = match k {
                        0 => format!("{key} = [{v}]"),
                        1 => format!("{key} = {{ v = {v} }}"),
                        _ => format!("{key}.inner = {v}"),
                    };
                }
            }
            Op::Bytes(a, b) => tail.push((*a, b.clone())),
            Op::Truncate(a) => cut = Some(*a),
            _ => {}
        }
    }
    let mut bytes = lines.join("\n").into_bytes();
    for (a, b) in tail {
        let at = a % (bytes.len() + 1);
        bytes.splice(at..at, b);
    }
    if let Some(a) = cut {
        bytes.truncate(a % (bytes.len() + 1));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_pipeline_config_is_a_config_or_a_located_error(ops in vec(op(), 1..6)) {
        let bytes = apply(DEFAULT_CONFIG, &ops);
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = PipelineConfig::parse(&text, "fuzz.toml") {
            prop_assert!(e.to_string().contains("fuzz.toml"), "{e}");
        }
    }

    #[test]
    fn mutated_camera_files_are_a_config_or_located_issues(
        file in prop::sample::select(CAMERA_FILES),
        ops in vec(op(), 1..6),
    ) {
        let bytes = apply(file, &ops);
        if let Err(issues) = CameraConfig::parse_bytes(&bytes, "configs/cameras/fuzz.toml") {
            prop_assert!(!issues.is_empty());
            for i in &issues {
                prop_assert!(i.to_string().starts_with("configs/cameras/fuzz.toml: "), "{i}");
            }
        }
    }
}
