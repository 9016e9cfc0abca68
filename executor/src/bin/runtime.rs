//! `/app/runtime`: the executor binary (thin; the logic lives in the library).

fn main() {}
