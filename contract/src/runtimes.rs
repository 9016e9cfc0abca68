//! The `RUNTIME` values the0 knows (docs/contract.md §2.5, §5.4).

pub const PYTHON: &str = "python3.11";
pub const NODE: &str = "nodejs20";
pub const RUST: &str = "rust-stable";
pub const DOTNET: &str = "dotnet8";
pub const GCC: &str = "gcc13";
pub const CPP_GCC: &str = "cpp-gcc13";
pub const SCALA: &str = "scala3";
pub const HASKELL: &str = "ghc96";

/// Every runtime a host may start; anything else is a start failure on the host side.
pub const ALL: &[&str] = &[PYTHON, NODE, RUST, DOTNET, GCC, CPP_GCC, SCALA, HASKELL];

/// Runtimes whose entrypoint is a native binary run directly (and chmod-ed 0755 first).
pub const COMPILED: &[&str] = &[RUST, GCC, CPP_GCC, HASKELL];

pub fn is_known(runtime: &str) -> bool {
    ALL.contains(&runtime)
}
