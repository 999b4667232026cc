//! The parts of `berth build` that need no daemon: the Dockerfile parser ([`parser`]),
//! Docker's variable substitution ([`expand`]) and `.dockerignore` matching ([`ignore`]).

pub mod expand;
mod glob;
pub mod ignore;
pub mod parser;

pub use parser::{parse, Dockerfile, ParseError};
