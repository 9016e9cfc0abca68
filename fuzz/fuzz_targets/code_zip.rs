//! The bot's code zip (`executor/src/code/zip.rs`): any bytes as the zip; the extraction must stay
//! inside its destination (no file beside it, no symlink leading out), whatever it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use the0_fuzz::Sandbox;

fuzz_target!(|data: &[u8]| {
    let sb = Sandbox::new();
    let zip = sb.outside.join("code.zip");
    std::fs::write(&zip, data).expect("write input");
    let _ = the0_executor::code::extract_zip(&zip, &sb.root, 1 << 20);
    std::fs::remove_file(&zip).expect("remove input");
    sb.assert_contained();
});
