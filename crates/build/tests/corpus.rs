//! Every `tests/corpus/*.Dockerfile` parses to the checked-in `*.json` (the AST as JSON) or, for
//! `err_*` files, fails with the checked-in `*.err` message. `BLESS=1` rewrites the expected
//! files; review the diff before committing it.

use std::fs;
use std::path::{Path, PathBuf};

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .collect();
    files.sort();
    files
}

/// Parses one corpus file; the expected file's extension and text.
fn outcome(path: &Path) -> (&'static str, String) {
    let name = path.file_name().unwrap().to_str().unwrap();
    match berth_build::parse(name, &fs::read(path).unwrap()) {
        Ok(df) => ("json", serde_json::to_string_pretty(&df).unwrap() + "\n"),
        Err(e) => ("err", e.to_string() + "\n"),
    }
}

#[test]
fn corpus_parses_as_recorded() {
    let files = corpus();
    assert!(files.len() >= 20, "corpus went missing: {files:?}");
    let bless = std::env::var_os("BLESS").is_some();
    let mut failures = Vec::new();
    for path in files {
        let (ext, got) = outcome(&path);
        let is_err_case = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("err_");
        assert_eq!(ext == "err", is_err_case, "{}: {got}", path.display());
        let expected = path.with_extension(ext);
        if bless {
            fs::write(&expected, &got).unwrap();
            continue;
        }
        match fs::read_to_string(&expected) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{}:\n--- want\n{want}\n--- got\n{got}",
                expected.display()
            )),
            Err(e) => failures.push(format!("{}: {e}", expected.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
