//! The attack of issue #10, item 1, end to end: a one-shot query program (local storage, the
//! scratch test image) leaves a background process that, once the executor has uploaded the
//! result object into the query-results directory the container sees read-write, replaces it
//! with a symlink to a file of the host. The orchestrator reads the result as root: it must never
//! follow the link, so the host file's content never appears in any :9477 answer.

mod common;
mod query_common;

use std::time::Duration;

use common::*;
use query_common::*;
use serde_json::json;

const QUERIES: usize = 10;

/// The query program: writes its result, then leaves (in its own session, so the executor's kill
/// of the process group misses it) a loop that swaps every uploaded result object for a symlink
/// to `secret`, a path of the host.
fn hostile_query_sh(secret: &str) -> String {
    format!(
        r#"#!/bin/sh
echo '{{"status":"ok","data":{{"harmless":true}}}}' > /query/result.json
key="$QUERY_RESULT_KEY"
[ -n "$key" ] || key=$(tr '\0' '\n' < /proc/1/environ | sed -n 's/^QUERY_RESULT_KEY=//p')
f="/objects/query-results/$key"
lnk="/objects/query-results/${{key%%/*}}/planted.lnk"
ln -sf "{secret}" "$lnk"
setsid sh -c '
i=0
while [ ! -f "$1" ] && [ $i -lt 2000000 ]; do i=$((i+1)); done
mv -f "$2" "$1"
' sh "$f" "$lnk" </dev/null >/dev/null 2>&1 &
exit 0
"#
    )
}

fn zip(files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
    for (name, body) in files {
        z.start_file(*name, opts).unwrap();
        z.write_all(body.as_bytes()).unwrap();
    }
    z.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_swapped_for_a_symlink_never_returns_the_host_file() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let secret_text = format!("HOST-SECRET-{}", unique("s"));
    let secret = secrets.path().join("secret.txt");
    std::fs::write(&secret, &secret_text).unwrap();

    let inst = unique("qhostile");
    let _guard = Cleanup(inst.clone());
    let q = QueryProc::start(dir.path(), &inst, &[]).await;
    let bot = unique("evil");
    let key = format!("u/{bot}/1");
    let code = q.objects().join("custom-bots").join(&key);
    std::fs::create_dir_all(code.parent().unwrap()).unwrap();
    let query_sh = hostile_query_sh(&secret.display().to_string());
    std::fs::write(&code, zip(&[("bot.sh", BOT_SH), ("query.sh", &query_sh)])).unwrap();
    q.put(&query_payload(&bot, &key, json!({"schedule": "*/5 * * * *"}), true));
    q.wait_indexed(&bot, true).await;

    let (mut ok, mut refused, mut other) = (0, 0, 0);
    for i in 0..QUERIES {
        let (s, v) = tokio::time::timeout(
            Duration::from_secs(180),
            query(&q.addr, json!({"bot_id": bot, "query_path": "/p", "timeout_sec": 60})),
        )
        .await
        .expect("the query answers");
        let text = v.to_string();
        assert!(!text.contains(&secret_text), "query {i}: the host file leaked: {text}");
        match (s, v["error"].as_str()) {
            (200, _) => ok += 1,
            (_, Some(e)) if e.contains("symbolic link") => refused += 1,
            _ => {
                other += 1;
                eprintln!("query {i}: {s} {text}");
            }
        }
    }
    eprintln!("{QUERIES} queries: {ok} answered before the swap, {refused} refused the planted link, {other} other");
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), secret_text, "the host file is intact");
    q.stop().await;
}
