//! The parser, lexer and `.dockerignore` matcher on random and mutated input: they never
//! panic, and every parse error points inside the file.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use berth_build::expand::{expand_instruction, Lexer};
use berth_build::ignore::Matcher;

/// xorshift64*: deterministic, so a failure reproduces from its iteration number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that matter to the grammar, so random input reaches deep into it.
const ALPHABET: &[u8] = b"\\`\"'$#{}[]:=-+?%*!<>,/ \t\n\rFROMRUNCOPYADDENVARGONBUILDHEALTHCHECKSHELLEOF--mount=type=cache0123456789";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = if data.is_empty() {
            0
        } else {
            rng.below(data.len() + 1)
        };
        match rng.below(4) {
            0 => data.insert(at, ALPHABET[rng.below(ALPHABET.len())]),
            1 if at < data.len() => {
                data.remove(at);
            }
            2 if at < data.len() => data[at] = rng.next() as u8,
            _ => {
                let len = rng.below(16);
                let from = rng.below(data.len().max(1));
                let chunk: Vec<u8> = data.iter().skip(from).take(len).copied().collect();
                data.splice(at..at, chunk);
            }
        }
    }
    data
}

fn check(data: &[u8]) {
    let lines = data.split(|&b| b == b'\n').count();
    match berth_build::parse("fuzz.Dockerfile", data) {
        Ok(df) => {
            let env: HashMap<String, String> = [("A".to_string(), "x y".to_string())].into();
            let lexer = Lexer::new(df.directives.escape);
            for stage in &df.stages {
                for i in &stage.instructions {
                    let _ = expand_instruction(i, &lexer, &env);
                    assert!(i.location.start_line >= 1 && i.location.end_line <= lines);
                }
            }
        }
        Err(e) => {
            assert!(
                e.line >= 1 && e.line <= lines.max(1),
                "{e} (file has {lines} lines)"
            );
            assert!(e.column >= 1, "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("fuzz.Dockerfile:{}:{}: ", e.line, e.column)),
                "{e}"
            );
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = Lexer::new('\\').process_words(&text, &HashMap::<String, String>::new());
    if let Ok(m) = Matcher::from_dockerignore(data) {
        let _ = m.excludes(&text);
        let _ = m.must_walk(&text);
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let seeds: Vec<Vec<u8>> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "Dockerfile"))
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert!(!seeds.is_empty());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..3000 {
        let seed = &seeds[rng.below(seeds.len())];
        check(&mutate(&mut rng, seed));
    }
    for _ in 0..1000 {
        let len = rng.below(200);
        let data: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        check(&data);
        let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check(&raw);
    }
}
