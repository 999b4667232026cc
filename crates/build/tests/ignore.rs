//! `.dockerignore` semantics, with the examples of Docker's documentation.

use berth_build::ignore::{keep_build_files, read_patterns, IgnoreError, Matcher};

fn matcher(file: &str) -> Matcher {
    Matcher::from_dockerignore(file.as_bytes()).unwrap()
}

#[test]
fn docs_example_with_comments_and_double_star() {
    // The example of https://docs.docker.com/build/concepts/context/#dockerignore-files
    let m = matcher("# comment\n*/temp*\n*/*/temp*\ntemp?\n**/*.go\n");
    assert!(m.excludes("somedir/temporary.txt"));
    assert!(m.excludes("somedir/temp"));
    assert!(
        !m.excludes("temporary.txt"),
        "*/temp* needs one directory level"
    );
    assert!(m.excludes("somedir/subdir/temporary.txt"));
    assert!(m.excludes("tempa"));
    assert!(!m.excludes("tempab"));
    assert!(m.excludes("main.go"));
    assert!(m.excludes("a/b/c/main.go"));
    assert!(!m.excludes("# comment"));
}

#[test]
fn exceptions_last_match_wins() {
    // The documented *.md / !README*.md / README-secret.md example.
    let m = matcher("*.md\n!README*.md\nREADME-secret.md\n");
    assert!(m.excludes("CHANGELOG.md"));
    assert!(!m.excludes("README.md"));
    assert!(!m.excludes("README-public.md"));
    assert!(m.excludes("README-secret.md"));
    let m = matcher("*.md\nREADME-secret.md\n!README*.md\n");
    assert!(
        !m.excludes("README-secret.md"),
        "the exception comes last and wins"
    );
}

#[test]
fn directories_exclude_everything_below() {
    let m = matcher("node_modules\n/build/\n./tmp\n");
    assert!(m.excludes("node_modules"));
    assert!(m.excludes("node_modules/a/b.js"));
    assert!(
        !m.excludes("src/node_modules/a.js"),
        "patterns are anchored at the context root"
    );
    assert!(m.excludes("build/out.o"));
    assert!(m.excludes("tmp/x"));
    assert!(!m.excludes("buildx"));
}

#[test]
fn wildcards_classes_and_escapes() {
    let m = matcher("a?c\n[x-z]*.log\n\\*star\ndir/**\n**/cache\n");
    assert!(m.excludes("abc") && !m.excludes("a/c"), "? never matches /");
    assert!(m.excludes("y1.log") && !m.excludes("b1.log"));
    assert!(m.excludes("*star") && !m.excludes("xstar"));
    assert!(m.excludes("dir/a/b") && !m.excludes("dirx"));
    assert!(m.excludes("cache") && m.excludes("a/b/cache/x") && !m.excludes("a/bcache"));
    let m = matcher("*\n!src\n");
    assert!(m.excludes("README") && !m.excludes("src/main.rs"));
    assert_eq!(
        Matcher::new(&["!".to_string()]).unwrap_err(),
        IgnoreError::BareExclusion
    );
    assert_eq!(
        Matcher::new(&["a[".to_string()]).unwrap_err().to_string(),
        "syntax error in pattern: \"a[\""
    );
}

#[test]
fn malformed_classes_are_refused_as_go_refuses_them() {
    for bad in ["[]a]", "[-x]", "[x-]", "[a-b-c]", "[^", "x\\", "[z-a]"] {
        assert!(
            Matcher::new(&[bad.to_string()]).is_err(),
            "{bad} must be refused"
        );
    }
    let m = Matcher::new(&["[\\]a]".to_string(), "[x\\-]".to_string()]).unwrap();
    assert!(m.excludes("]") && m.excludes("-") && m.excludes("x") && !m.excludes("z"));
}

#[test]
fn reading_cleans_patterns() {
    let p = read_patterns(b"\xEF\xBB\xBF# c\n  /a/../b//  \n\n! ./keep/\n #not-a-comment\n/\n");
    assert_eq!(p, ["b", "!keep", "#not-a-comment", "/"]);
}

#[test]
fn excluded_directories_walked_only_when_an_exception_may_reach_inside() {
    let m = matcher("vendor\n!vendor/keep.txt\nlogs\n!**/important.log\ncache\n");
    assert!(m.excludes("vendor") && m.must_walk("vendor"));
    assert!(!m.excludes("vendor/keep.txt") && m.excludes("vendor/other"));
    assert!(
        m.must_walk("logs"),
        "a ** exception may match anything below"
    );
    assert!(!m.excludes("logs/a/important.log"));
    let m = matcher("cache\nvendor\n!vendor/keep\n");
    assert!(!m.must_walk("cache"), "no exception reaches cache/");
    assert!(!matcher("cache\n").must_walk("cache"));
    assert!(matcher("a\n!a/*/x\n").must_walk("a/b"));
    assert!(
        !matcher("a\n!a/*/x\n").must_walk("a/b/c"),
        "x cannot be below a/b/c"
    );
}

#[test]
fn dockerfile_and_dockerignore_are_always_sent() {
    let patterns = read_patterns(b"*\n");
    let kept = keep_build_files(patterns.clone(), Some("docker/Dockerfile.dev")).unwrap();
    assert_eq!(kept, ["*", "!.dockerignore", "!docker/Dockerfile.dev"]);
    let m = Matcher::new(&kept).unwrap();
    assert!(
        !m.excludes(".dockerignore") && !m.excludes("docker/Dockerfile.dev") && m.excludes("src")
    );
    assert_eq!(
        keep_build_files(patterns, None).unwrap(),
        ["*", "!.dockerignore"],
        "a Dockerfile from stdin is not in the context"
    );
    assert_eq!(
        keep_build_files(read_patterns(b"tmp\n"), Some("Dockerfile")).unwrap(),
        ["tmp"]
    );
}
