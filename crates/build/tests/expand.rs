//! Variable substitution as Docker's shell lexer performs it.

use std::collections::HashMap;

use berth_build::expand::{expand_instruction, expands, Lexer};
use berth_build::parser::{Command, RunMount};

fn env() -> HashMap<String, String> {
    [
        ("A", "apple"),
        ("EMPTY", ""),
        ("PATH_", "/usr/local/bin/app.tar.gz"),
        ("SP", "a  b"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn word(w: &str) -> String {
    Lexer::new('\\')
        .process_word(w, &env())
        .unwrap_or_else(|e| panic!("{w}: {e}"))
}

fn err(w: &str) -> String {
    Lexer::new('\\')
        .process_word(w, &env())
        .unwrap_err()
        .to_string()
}

#[test]
fn plain_and_braced_references() {
    assert_eq!(word("$A"), "apple");
    assert_eq!(word("${A}s"), "apples");
    assert_eq!(word("$As"), "", "the name is As, unset");
    assert_eq!(word("$UNSET-x"), "-x");
    assert_eq!(word("a$"), "a$");
    assert_eq!(word("$1x"), "x");
}

#[test]
fn default_alternative_and_error_modifiers() {
    assert_eq!(word("${UNSET:-def}"), "def");
    assert_eq!(word("${EMPTY:-def}"), "def");
    assert_eq!(word("${EMPTY-def}"), "");
    assert_eq!(word("${UNSET-def}"), "def");
    assert_eq!(word("${A:-def}"), "apple");
    assert_eq!(word("${A:+alt}"), "alt");
    assert_eq!(word("${EMPTY:+alt}"), "");
    assert_eq!(word("${EMPTY+alt}"), "alt");
    assert_eq!(word("${UNSET+alt}"), "");
    assert_eq!(word("${UNSET:-$A}"), "apple", "the word is expanded too");
    assert_eq!(word("${A:?boom}"), "apple");
    assert_eq!(
        err("${UNSET:?must be set}"),
        "failed to process \"${UNSET:?must be set}\": UNSET: must be set"
    );
    assert_eq!(
        err("${UNSET?}"),
        "failed to process \"${UNSET?}\": UNSET: is not allowed to be unset"
    );
    assert_eq!(
        err("${EMPTY:?}"),
        "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty"
    );
    assert_eq!(word("${EMPTY?}"), "");
}

#[test]
fn prefix_and_suffix_removal_with_globs() {
    assert_eq!(word("${PATH_#*/}"), "usr/local/bin/app.tar.gz");
    assert_eq!(word("${PATH_##*/}"), "app.tar.gz");
    assert_eq!(word("${PATH_%.*}"), "/usr/local/bin/app.tar");
    assert_eq!(word("${PATH_%%.*}"), "/usr/local/bin/app");
    assert_eq!(word("${PATH_#/usr}"), "/local/bin/app.tar.gz");
    assert_eq!(word("${PATH_#nomatch}"), "/usr/local/bin/app.tar.gz");
    assert_eq!(word("${A#[a-b]?}"), "ple");
    assert_eq!(word("${A%\\*}"), "apple", "an escaped star is literal");
    assert_eq!(
        word("${A%\"p*\"}"),
        "ap",
        "quotes do not make glob characters literal (BuildKit)"
    );
    assert_eq!(word("${A%p*}"), "ap");
    assert_eq!(word("${A%%p*}"), "a");
    assert_eq!(word("${UNSET#x}"), "");
    assert!(err("${A#[}").ends_with("invalid pattern ([) in substitution"));
    assert!(err("${A:#x}").ends_with("unsupported modifier (:#) in substitution"));
}

#[test]
fn patterns_from_variables_are_globs() {
    let env: HashMap<String, String> = [
        ("F", "/foo*/*/*.txt"),
        ("N", "\\*/"),
        ("Q", "a?c"),
        ("E", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let w = |s: &str| Lexer::new('\\').process_word(s, &env).unwrap();
    assert_eq!(w("${F#$Q}"), "/foo*/*/*.txt");
    assert_eq!(w("${F#/f?o}"), "*/*/*.txt");
    assert_eq!(
        w("${F/$N/.}"),
        "/foo.*/*.txt",
        "an escaped star in a value is literal"
    );
    assert_eq!(w("${F//$N/.}"), "/foo..*.txt");
    assert_eq!(
        w("${F//\\//\\/}"),
        "\\/foo*\\/*\\/*.txt",
        "escapes stay in the replacement"
    );
    assert_eq!(
        w("${F/$E/x}"),
        "x/foo*/*/*.txt",
        "an empty pattern matches at the start"
    );
    assert_eq!(w("${F///}"), "/foo*/*/*.txt");
    assert_eq!(w("${UNSET/a/b}"), "");
    assert_eq!(w("${Q//[ac]/-}"), "-?-");
    let e = Lexer::new('\\').process_word("${F//x}", &env).unwrap_err();
    assert_eq!(e.message, "syntax error: missing '/' in ${}");
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(word(r#""$A b"'$A'"#), "apple b$A");
    assert_eq!(word(r"\$A"), "$A");
    assert_eq!(word(r#""a\"b\$c\\d\e""#), r#"a"b$c\d\e"#);
    assert_eq!(word(r"a\ b"), "a b");
    assert_eq!(word("a\\"), "a");
    assert_eq!(
        Lexer::new('`').process_word("`$A \\x", &env()).unwrap(),
        "$A \\x"
    );
    assert_eq!(err("'abc"), "failed to process \"'abc\": unexpected end of statement while looking for matching single-quote");
    assert_eq!(err("\"abc"), "failed to process \"\"abc\": unexpected end of statement while looking for matching double-quote");
    assert!(err("${A").ends_with("syntax error: missing '}'"));
    assert!(err("${}").ends_with("syntax error: bad substitution"));
    assert!(err("${A:0:1}").ends_with("unsupported modifier (:0) in substitution"));
}

#[test]
fn words_split_at_unquoted_and_substituted_whitespace() {
    let words = |w: &str| Lexer::new('\\').process_words(w, &env()).unwrap();
    assert_eq!(words("x $SP \"$SP\" ''"), ["x", "a", "b", "a  b"]);
    assert_eq!(words(r"a\ b c"), ["a b", "c"]);
    assert_eq!(word("$SP"), "a  b", "one word keeps the value whole");
}

const DOCKERFILE: &str = r#"FROM scratch
ENV B=$A C="${A} pie" A=cherry
COPY --chown=$A:$A "${A}.txt" /dst/$A/
RUN --mount=type=cache,target=/c/$A,id=$A echo $A
CMD echo $A
ONBUILD COPY $A /x
COPY <<EOF <<'RAW' /x
$A "q"
EOF
$A
RAW
"#;

#[test]
fn instructions_expand_only_what_docker_expands() {
    let df = berth_build::parse("Dockerfile", DOCKERFILE.as_bytes()).unwrap();
    let lexer = Lexer::new('\\');
    let expanded: Vec<Command> = df.stages[0]
        .instructions
        .iter()
        .map(|i| expand_instruction(i, &lexer, &env()).unwrap().command)
        .collect();
    let Command::Env { pairs } = &expanded[0] else {
        panic!("{:?}", expanded[0])
    };
    let got: Vec<(&str, &str)> = pairs
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [("B", "apple"), ("C", "apple pie"), ("A", "cherry")],
        "pairs see the env before the line"
    );
    let Command::Copy(c) = &expanded[1] else {
        panic!("{:?}", expanded[1])
    };
    assert_eq!(c.chown.as_deref(), Some("apple:apple"));
    assert_eq!(
        (c.sources.as_slice(), c.dest.as_str()),
        (&["apple.txt".to_string()][..], "/dst/apple/")
    );
    let Command::Run(r) = &expanded[2] else {
        panic!("{:?}", expanded[2])
    };
    assert_eq!(df.stages[0].instructions[2].command, {
        let mut unexpanded = expanded[2].clone();
        if let Command::Run(r) = &mut unexpanded {
            r.mounts[0].mount = None;
        }
        unexpanded
    });
    let RunMount { mount: Some(m), .. } = &r.mounts[0] else {
        panic!("{:?}", r.mounts)
    };
    assert_eq!(
        (m.target.as_deref(), m.id.as_deref()),
        (Some("/c/apple"), Some("apple"))
    );
    assert_eq!(
        r.command.args,
        ["echo $A"],
        "the shell expands RUN's command"
    );
    assert_eq!(
        expanded[3], df.stages[0].instructions[3].command,
        "CMD is kept as written"
    );
    assert_eq!(
        expanded[4], df.stages[0].instructions[4].command,
        "ONBUILD is kept as written"
    );
    assert!(!expands(&expanded[3]) && !expands(&expanded[4]) && expands(&expanded[1]));
    let Command::Copy(h) = &expanded[5] else {
        panic!("{:?}", expanded[5])
    };
    assert_eq!(
        h.heredocs[0].content, "apple \"q\"\n",
        "unquoted delimiter: expanded, quotes kept"
    );
    assert_eq!(
        h.heredocs[1].content, "$A\n",
        "quoted delimiter: as written"
    );
}
