//! The executor's environment block is blank in `/proc/<pid>/environ` once it runs (the values
//! moved to its heap, docs/security/gvisor.md §3): under gVisor the bot could read that file
//! despite the executor being non-dumpable. The test (root) reads the file directly, so it checks
//! the block itself, not the permission; the bot still gets its variables, and the executor its
//! settings (it found the code and started the bot).

mod common;

use std::time::Duration;

use common::*;

#[test]
fn the_environment_block_holds_no_value_while_the_bot_runs() {
    let mut sb = Sandbox::local();
    std::fs::create_dir_all(sb.path("bot")).unwrap();
    let started = sb.path("started");
    let script = format!(
        "#!/bin/sh\necho \"$BOT_ID\" > {}.tmp && mv {0}.tmp {0}\nwhile true; do sleep 0.05; done\n",
        started.display()
    );
    std::fs::write(sb.path("bot/bot.sh"), script).unwrap();
    let secret = format!("SeCrEt{}", unique("k"));
    sb.set("MINIO_SECRET_KEY", &secret).set("THE0_STOP_GRACE_SEC", "2");
    let child = sb.spawn();
    let seen = eventually(Duration::from_secs(30), || std::fs::read_to_string(&started).ok());
    let block = std::fs::read(format!("/proc/{}/environ", child.id())).expect("read the executor's environ");
    send_signal(&child, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(30));
    assert_eq!(seen.as_deref().map(str::trim), Some(sb.bot_id.as_str()), "the bot ran with its env:\n{}", text(&out));
    let shown = String::from_utf8_lossy(&block);
    assert!(!shown.contains(&secret), "the secret is in /proc/<pid>/environ");
    assert!(!shown.contains(&sb.bot_id), "values are still in /proc/<pid>/environ");
    assert!(block.iter().all(|b| *b == 0), "the block is not blank: {shown:?}");
}
