//! The bot's state archive (`executor/src/state/extract.rs`, gzip members through `members.rs`):
//! any bytes as the tar.gz; the extraction must stay inside its destination, and the archive map
//! it returns must describe ranges that lie in order.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_executor::config::Limits;
use the0_fuzz::Sandbox;

fuzz_target!(|data: &[u8]| {
    let sb = Sandbox::new();
    let limits = Limits { state_total: 1 << 20, state_file: 256 << 10, code_total: 1 << 20 };
    let res = the0_executor::state::extract::extract_tar_gz_mapped(data, &sb.root, &limits);
    if let Ok((_, Some(map))) = &res {
        let _ = format!("{map:?}");
    }
    sb.assert_contained();
});
