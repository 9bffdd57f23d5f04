//! Fusion filetests: each `tests/filetests/fuse/*.dlir` is a graph; the
//! harness fuses and plans it, snapshots the printed kernel program (below
//! the input text, snapshot `fuse_<stem>`), and runs the graph on the
//! interpreter and the fused program on every kernel runner: they must
//! agree (`cpu_oracle::agree_all`). Accept new snapshots with
//! `INSTA_UPDATE=always` after reading them.

use std::path::Path;

use dlc::ir::parse::parse;
use dlc::kernel::print::print;
use dlc::kernel::{kernel_program, kernel_program_observed};

#[test]
fn fuse_filetests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/filetests/fuse");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "dlir"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "want at least 3 fusion filetests");
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let g = parse(&text).unwrap_or_else(|e| panic!("{}:{e}", file.display()));
        let printed = print(&kernel_program(&g));
        assert_eq!(printed, print(&kernel_program(&g)), "dump is deterministic");
        // The observed variant (`dlc bench`'s) reports both laps, in
        // order, and plans the same program.
        let mut laps = Vec::new();
        let observed = kernel_program_observed(&g, &mut |s| laps.push(s));
        assert_eq!(laps, ["fuse", "plan_memory"], "{stem}");
        assert_eq!(print(&observed), printed, "{stem}");
        crate::cpu_oracle::agree_all(&text);
        let shown = format!("{}\n\n# kernels:\n{printed}", text.trim_end());
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(format!("fuse_{stem}"), shown);
        });
    }
}
