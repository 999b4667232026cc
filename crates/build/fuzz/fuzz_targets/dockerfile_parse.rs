//! Arbitrary bytes as a Dockerfile: parsing may fail, but must never panic, and a refusal
//! points at a line of the file. Expanding what parsed must not panic either.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count().max(1);
    match berth_build::parse("fuzz", data) {
        Ok(df) => {
            let env: HashMap<String, String> = HashMap::new();
            let lexer = berth_build::expand::Lexer::new(df.directives.escape);
            for i in df.stages.iter().flat_map(|s| &s.instructions) {
                let _ = berth_build::expand::expand_instruction(i, &lexer, &env);
            }
        }
        Err(e) => assert!(e.line >= 1 && e.line <= lines && e.column >= 1, "{e}"),
    }
});
