//! The status page (`/ui`) through the real admin server, a real store and Docker: a bot that
//! prints HTML and script, and a bot whose id is HTML, are shown as text on the overview and on
//! their pages; with an admin token the pages answer 401 with a Basic challenge without it, 200
//! with HTTP Basic (the token as the password) or bearer, and the JSON routes still refuse Basic.
//! (The same in a browser: `scripts/test-ui.sh`.)

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::json;

const TOKEN: &str = "ui-test-token";
const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// A GET with an optional `Authorization` value: (status, lower-cased head, body).
async fn get(addr: &str, path: &str, auth: Option<&str>) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_lowercase(), body.to_string())
}

/// No tag of the hostile text is in the page; its escaped form is.
fn assert_inert(page: &str, escaped: &str) {
    assert!(!page.contains("<script"), "a script element:\n{page}");
    assert!(!page.contains("<img"), "an img element:\n{page}");
    assert!(page.contains(escaped), "{escaped:?} not in\n{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_inert_and_the_token_guards_the_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inst = unique("ui");
    let _guard = Cleanup(inst.clone());
    let orch = Orch::start(dir.path(), &inst, &[], &[("THE0_ADMIN_TOKEN", TOKEN)]).await;
    orch.put_code("u/evil/1", &format!("#!/bin/sh\necho '{EVIL}'\nwhile true; do sleep 1; done\n"));
    orch.put(bot_payload("evil", "u/evil/1", json!({}))).await;
    // An id that is HTML: the admin API refuses it, an event of the0's can carry it (written
    // here to the store as the ingest would), stored, never run (not a safe name), and shown.
    let (s, v) =
        orch.api("PUT", "/bots/%3Cb%3Ex%3C%2Fb%3E", Some(bot_payload("<b>x</b>", "u/evil/1", json!({})))).await;
    assert_eq!(s, 400, "{v}");
    let event = bot_payload("<b>x</b>", "u/evil/1", json!({})).to_string();
    let change = the0_orchestrator::model::parse_payload(event.as_bytes(), false).expect("an event payload");
    let store = the0_orchestrator::store::Store::open(&orch.cli.data_dir).expect("the same store");
    assert!(store.apply(&change, the0_orchestrator::store::Mode::Create, None).expect("stored"));
    orch.wait_state("evil", "running", Duration::from_secs(60)).await;

    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("me:{TOKEN}")));
    let bearer = format!("Bearer {TOKEN}");
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("me:nope"));
    for (path, auth, want) in [
        ("/ui", None, 401),
        ("/ui", Some(wrong.as_str()), 401),
        ("/ui/bots/evil", None, 401),
        ("/ui", Some(basic.as_str()), 200),
        ("/ui", Some(bearer.as_str()), 200),
        ("/ui/bots/nope", Some(basic.as_str()), 404),
        ("/bots", Some(basic.as_str()), 401),
        ("/bots", Some(bearer.as_str()), 200),
    ] {
        let (status, head, _) = get(&orch.admin, path, auth).await;
        assert_eq!(status, want, "{path} with {auth:?}");
        if path.starts_with("/ui") {
            assert!(head.contains("content-type: text/html; charset=utf-8"), "{head}");
            assert!(head.contains("content-security-policy: default-src 'none'"), "{head}");
        }
        if status == 401 && path.starts_with("/ui") {
            assert!(head.contains("www-authenticate: basic realm=\"the0\""), "{head}");
        }
    }

    let (_, _, page) = get(&orch.admin, "/ui", Some(&basic)).await;
    assert!(page.contains("<a href=\"/ui/bots/evil\">evil</a>"), "{page}");
    assert!(page.contains(">running</span>"), "{page}");
    assert_inert(&page, "<a href=\"/ui/bots/%3Cb%3Ex%3C%2Fb%3E\">&lt;b&gt;x&lt;/b&gt;</a>");
    assert!(!page.contains("<b>x"), "{page}");

    let (status, _, page) = get(&orch.admin, "/ui/bots/%3Cb%3Ex%3C%2Fb%3E", Some(&basic)).await;
    assert_eq!(status, 200, "{page}");
    assert_inert(&page, "<span class=\"id\">&lt;b&gt;x&lt;/b&gt;</span>");
    assert!(page.contains("is not a safe name"), "its failure reason: {page}");

    // The bot's log line, from its container, as text.
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";
    let page = eventually_async(Duration::from_secs(30), || async {
        let (_, _, page) = get(&orch.admin, "/ui/bots/evil", Some(&basic)).await;
        page.contains(escaped).then_some(page)
    })
    .await
    .expect("the bot's log line on its page");
    assert_inert(&page, escaped);
    orch.stop().await;
}
