//! healthprobe's code as a library: the binary (src/main.rs) is its C entry point and
//! the printing, and the fuzz crate (fuzz/) reaches the parsers through here.

pub mod arena;
pub mod cli;
pub mod config;
pub mod error;
/// The fuzz targets' bodies: for tests and the fuzz crate only (`--cfg fuzzing`).
#[cfg(any(test, fuzzing))]
pub mod fuzz;
pub mod install;
pub mod net;
pub mod outcome;
pub mod probe;
pub mod sys;
pub mod target;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wait;
