//! Refused Dockerfiles: each error names the file, the line and column of the instruction,
//! and says what Docker says.

use berth_build::ParseError;

fn error(src: &str) -> ParseError {
    berth_build::parse("ctx/Dockerfile", src.as_bytes()).unwrap_err()
}

fn at(src: &str) -> (usize, usize, String) {
    let e = error(src);
    (e.line, e.column, e.message)
}

#[test]
fn the_message_names_file_line_and_column() {
    let e = error("FROM a\n\n    foo bar\n");
    assert_eq!(
        e.to_string(),
        "ctx/Dockerfile:3:5: dockerfile parse error on line 3: unknown instruction: foo"
    );
}

#[test]
fn continued_instructions_are_reported_at_their_first_line() {
    let (line, column, msg) = at("FROM a\nCOPY \\\n  # comment\n  one\n");
    assert_eq!((line, column), (2, 1));
    assert!(
        msg.starts_with("COPY requires at least two arguments"),
        "{msg}"
    );
    // USER takes the whole rest of the line as one argument, joined lines included.
    let df = berth_build::parse("Dockerfile", b"FROM a\nUSER a \\\n  b\n").unwrap();
    assert_eq!(
        df.stages[0].instructions[0].command,
        berth_build::parser::Command::User {
            user: "a   b".into()
        }
    );
    assert_eq!(
        at("FROM a\n\tRUN <<EOF\nnever closed\n"),
        (2, 2, "unterminated heredoc".into())
    );
}

#[test]
fn directive_errors_point_at_the_directive() {
    assert_eq!(at("# escape=`\n# ESCAPE=\\\nFROM a\n").0, 2);
    assert_eq!(
        at("# escape=`\n# ESCAPE=\\\nFROM a\n").2,
        "only one escape parser directive can be used"
    );
}

#[test]
fn argument_count_and_name_errors() {
    for (src, msg) in [
        ("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"),
        ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"),
        ("FROM a\nVOLUME []\n", "VOLUME requires at least one argument"),
        ("FROM a\nVOLUME [\"\"]\n", "VOLUME specified can not be an empty string"),
        ("FROM a\nENV =x\n", "ENV names can not be blank"),
        ("FROM a\nARG =x\n", "ARG names can not be blank"),
        ("FROM a\nLABEL\n", "LABEL requires at least one argument"),
        ("FROM a b\n", "FROM requires either one or three arguments"),
        ("FROM a AS b c\n", "FROM requires either one or three arguments"),
        ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("FROM a\nONBUILD\n", "ONBUILD requires at least one argument"),
        ("FROM a\nONBUILD BAR x\n", "unknown instruction: BAR"),
        ("FROM a\nADD x\n", "ADD requires at least two arguments, but only one was provided. Destination could not be determined"),
        ("FROM a\nCOPY --link=maybe a b\n", "expecting boolean value for flag link, not: maybe"),
        ("FROM a\nCOPY --from a b\n", "missing a value on flag: from"),
        ("FROM a\nWORKDIR --x=1 /a\n", "unknown flag: x"),
        ("FROM a\nRUN --network=bridge true\n", "unsupported network mode \"bridge\""),
        ("FROM a\nRUN --mount=type=cache,from=$X,target=/a true\n", "'from' doesn't support variable expansion, define alias stage instead"),
        ("FROM a\nHEALTHCHECK\n", "HEALTHCHECK requires at least one argument"),
        ("FROM a\nHEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments"),
        ("FROM a\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
        ("FROM a\nHEALTHCHECK RUN x\n", "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
        ("FROM a\nHEALTHCHECK --timeout=1ns CMD x\n", "Interval \"timeout\" cannot be less than 1ms"),
        ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative (-1)"),
        ("FROM a\nENV a=1 b\n", "Syntax error - can't find = in \"b\". Must be of the form: name=value"),
    ] {
        let e = error(src);
        assert_eq!(e.message, msg, "{src:?}");
        assert_eq!((e.line, e.column), (src.lines().count(), 1), "{src:?}");
    }
}

#[test]
fn accepted_edge_cases() {
    let df = berth_build::parse(
        "Dockerfile",
        b"FROM a\nHEALTHCHECK --interval=0s CMD x\nRUN\nCMD\n",
    )
    .unwrap();
    assert_eq!(
        df.stages[0].instructions.len(),
        3,
        "RUN and CMD without arguments are accepted, as by BuildKit"
    );
    let df = berth_build::parse(
        "Dockerfile",
        b"# syntax=x\n\n# escape=`\nFROM a\nRUN a \\\n",
    )
    .unwrap();
    assert_eq!(
        df.directives.escape, '\\',
        "a directive after an empty line is a comment"
    );
    assert_eq!(df.stages[0].instructions[0].original, "RUN a ");
}
