//! The status pages as HTML, from the view model ([`super::model`]). Pure: every string from
//! outside goes through [`Html::text`] (escaped there, nowhere else), links carry percent-encoded
//! ids, there is no script and no external asset; the one stylesheet is [`CSS`], allowed by its
//! hash in the Content-Security-Policy ([`super::respond`]). Sparklines are inline SVG.

use chrono::{DateTime, Utc};

use super::html::Html;
use super::model::{Detail, Row, RunLine, Spark, Tone};
use crate::http::percent_encode;

/// Seconds between the page's own reloads (`<meta http-equiv="refresh">`, no script).
pub const REFRESH_SECS: u32 = 10;

/// The pages' only stylesheet (inline; its hash is in the CSP).
pub const CSS: &str = "\
:root{color-scheme:light;--fg:#1f2328;--mute:#656d76;--line:#d8dee4;--bg:#fff;--head:#f6f8fa}\
*{box-sizing:border-box}\
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Liberation Sans',sans-serif;color:var(--fg);background:var(--bg)}\
header{padding:14px 24px;border-bottom:1px solid var(--line);background:var(--head)}\
h1{font-size:20px;margin:0 0 2px}h2{font-size:15px;margin:22px 0 8px}\
.sub{color:var(--mute);margin:0}main{padding:12px 24px 32px}\
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}\
table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:middle}\
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--mute);font-weight:600}\
tbody tr:hover{background:#f6f8fa}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}\
.id{font-weight:600;font-family:ui-monospace,SFMono-Regular,Menlo,'Liberation Mono',monospace}\
.reason{color:var(--mute);max-width:28em;overflow-wrap:anywhere}\
.mute{color:var(--mute)}\
.st{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid}\
.st.good{color:#1a7f37;background:#dafbe1;border-color:#aceebb}\
.st.bad{color:#cf222e;background:#ffebe9;border-color:#ffcecb}\
.st.warn{color:#9a6700;background:#fff8c5;border-color:#f5e0a0}\
.st.busy{color:#0969da;background:#ddf4ff;border-color:#b6e3ff}\
.st.idle{color:#656d76;background:#f6f8fa;border-color:#d8dee4}\
svg.spark{display:block}\
rect.good{fill:#2da44e}rect.bad{fill:#cf222e}rect.warn{fill:#d4a72c}rect.busy{fill:#218bff}rect.idle{fill:#d8dee4}\
.counts{display:flex;gap:8px;flex-wrap:wrap;margin-top:6px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:0}dt{color:var(--mute)}dd{margin:0;overflow-wrap:anywhere}\
pre{background:#0d1117;color:#e6edf3;padding:12px 14px;border-radius:6px;overflow-x:auto;font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,'Liberation Mono',monospace;white-space:pre-wrap;overflow-wrap:anywhere}\
";

/// The overview: every bot, one row each.
pub fn overview(rows: &[Row], now_ms: i64) -> String {
    let mut h = Html::new();
    head(&mut h, "bots", true);
    h.raw("<header><h1>the0 orchestrator</h1><p class=\"sub\">")
        .text(&format!("{} bots", rows.len()))
        .raw(" · as of ")
        .text(&clock(now_ms))
        .raw(" · this page reloads itself every ")
        .text(&REFRESH_SECS.to_string())
        .raw(" s</p><div class=\"counts\">");
    let mut states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
    states.sort_unstable();
    states.dedup();
    for s in states {
        let n = rows.iter().filter(|r| r.state == s).count();
        badge(&mut h, &format!("{n} {s}"), Tone::of_state(s));
    }
    h.raw("</div></header><main>");
    if rows.is_empty() {
        h.raw("<p class=\"mute\">No bots yet. Deploy one with <code>orchestrator deploy DIR</code>.</p>");
    } else {
        h.raw(
            "<table><thead><tr><th>bot</th><th>type</th><th>state</th><th class=\"num\">restarts</th><th>last exit</th>\
             <th>reason</th><th>uptime</th><th>next run</th><th>activity</th></tr></thead><tbody>",
        );
        for r in rows {
            h.raw("<tr><td class=\"id\">");
            bot_link(&mut h, &r.id);
            h.raw("</td><td>").text(r.kind.as_str()).raw("</td><td>");
            badge(&mut h, &r.state, Tone::of_state(&r.state));
            h.raw("</td><td class=\"num\">").text(&r.restarts.map_or("–".into(), |n| n.to_string()));
            h.raw("</td><td>").text(&last_exit(r, now_ms));
            h.raw("</td><td class=\"reason\">").text(r.reason.as_deref().unwrap_or(""));
            h.raw("</td><td>").text(&r.up_since_ms.map_or("–".into(), |t| duration(now_ms - t)));
            h.raw("</td><td>").text(&r.next_run_ms.map_or("–".into(), |t| relative(t, now_ms)));
            h.raw("</td><td>");
            sparkline(&mut h, &r.spark, 4, 24);
            h.raw("</td></tr>");
        }
        h.raw("</tbody></table>");
    }
    h.raw("</main></body></html>\n");
    h.finish()
}

/// The page of one bot.
pub fn bot(d: &Detail, now_ms: i64) -> String {
    let r = &d.row;
    let mut h = Html::new();
    head(&mut h, &r.id, true);
    h.raw("<header><p class=\"sub\"><a href=\"/ui\">← all bots</a></p><h1><span class=\"id\">")
        .text(&r.id)
        .raw("</span> ");
    badge(&mut h, &r.state, Tone::of_state(&r.state));
    h.raw("</h1><p class=\"sub\">as of ").text(&clock(now_ms)).raw("</p></header><main><dl>");
    let rows: [(&'static str, Option<String>); 11] = [
        ("type", Some(r.kind.as_str().to_string())),
        ("enabled", Some(if d.enabled { "yes" } else { "no" }.to_string())),
        ("runtime", d.runtime.clone()),
        ("image", d.image.clone()),
        ("container", d.container.clone()),
        ("schedule", r.schedule.clone()),
        ("restarts", r.restarts.map(|n| n.to_string())),
        ("last exit", Some(last_exit(r, now_ms))),
        ("reason", r.reason.clone()),
        ("up since", r.up_since_ms.map(|t| format!("{} ({})", clock(t), duration(now_ms - t)))),
        ("next run", r.next_run_ms.map(|t| format!("{} ({})", clock(t), relative(t, now_ms)))),
    ];
    for (name, value) in rows {
        if let Some(v) = value {
            h.raw("<dt>").raw(name).raw("</dt><dd>").text(&v).raw("</dd>");
        }
    }
    h.raw("</dl>");
    if !r.spark.bars.is_empty() {
        h.raw("<h2>activity</h2>");
        sparkline(&mut h, &r.spark, 10, 48);
    }
    if !d.runs.is_empty() {
        h.raw("<h2>recent runs</h2>");
        runs(&mut h, &d.runs, now_ms);
    }
    h.raw("<h2>last log lines</h2>");
    match &d.logs {
        Ok(lines) if lines.is_empty() => {
            h.raw("<p class=\"mute\">no output yet</p>");
        }
        Ok(lines) => {
            h.raw("<pre>");
            for l in lines {
                h.text(l).raw("\n");
            }
            h.raw("</pre>");
        }
        Err(e) => {
            h.raw("<p class=\"mute\">the logs cannot be read: ").text(e).raw("</p>");
        }
    }
    h.raw("</main></body></html>\n");
    h.finish()
}

/// A page that says one thing (no such bot, the store cannot be read, …).
pub fn message(title: &str, text: &str) -> String {
    let mut h = Html::new();
    head(&mut h, title, false);
    h.raw("<header><p class=\"sub\"><a href=\"/ui\">← all bots</a></p><h1>")
        .text(title)
        .raw("</h1></header><main><p>")
        .text(text)
        .raw("</p></main></body></html>\n");
    h.finish()
}

fn head(h: &mut Html, title: &str, refresh: bool) {
    h.raw("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        .raw("<meta name=\"referrer\" content=\"no-referrer\">");
    if refresh {
        h.raw("<meta http-equiv=\"refresh\" content=\"").text(&REFRESH_SECS.to_string()).raw("\">");
    }
    h.raw("<title>").text(title).raw(" · the0</title><style>").raw(CSS).raw("</style></head><body>");
}

fn bot_link(h: &mut Html, id: &str) {
    h.raw("<a href=\"/ui/bots/").text(&percent_encode(id)).raw("\">").text(id).raw("</a>");
}

fn badge(h: &mut Html, text: &str, tone: Tone) {
    h.raw("<span class=\"st ").raw(tone.class()).raw("\">").text(text).raw("</span>");
}

fn runs(h: &mut Html, runs: &[RunLine], now_ms: i64) {
    h.raw(
        "<table><thead><tr><th>due</th><th>outcome</th><th>duration</th><th class=\"num\">exit code</th><th>reason</th>\
         </tr></thead><tbody>",
    );
    for r in runs {
        let took = r.started_ms.map(|s| duration(r.ended_ms.unwrap_or(now_ms) - s));
        h.raw("<tr><td>").text(&clock(r.due_ms)).raw("</td><td>");
        badge(h, r.outcome, r.tone);
        h.raw("</td><td>").text(took.as_deref().unwrap_or("–"));
        h.raw("</td><td class=\"num\">").text(&r.exit_code.map_or("–".into(), |c| c.to_string()));
        h.raw("</td><td class=\"reason\">").text(r.reason.as_deref().unwrap_or("")).raw("</td></tr>");
    }
    h.raw("</tbody></table>");
}

/// The bars as an inline SVG, each `bar` px wide (1 px gaps), `height` px high; the tallest
/// bar fills the height, a zero is a 1 px tick. Nothing when there are no bars.
fn sparkline(h: &mut Html, s: &Spark, bar: u32, height: u32) {
    if s.bars.is_empty() {
        h.raw("<span class=\"mute\">–</span>");
        return;
    }
    let max = s.bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let step = bar + 1;
    let width = step * s.bars.len() as u32;
    h.raw("<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"")
        .text(&width.to_string())
        .raw("\" height=\"")
        .text(&height.to_string())
        .raw("\" aria-label=\"")
        .text(&s.label)
        .raw("\"><title>")
        .text(&s.label)
        .raw("</title>");
    for (i, b) in s.bars.iter().enumerate() {
        let frac = if max > 0.0 { b.value / max } else { 0.0 };
        let bh = (frac * f64::from(height)).round().clamp(1.0, f64::from(height));
        h.raw("<rect class=\"")
            .raw(b.tone.class())
            .raw("\" x=\"")
            .text(&(i as u32 * step).to_string())
            .raw("\" y=\"")
            .text(&format!("{:.0}", f64::from(height) - bh))
            .raw("\" width=\"")
            .text(&bar.to_string())
            .raw("\" height=\"")
            .text(&format!("{bh:.0}"))
            .raw("\"><title>")
            .text(&b.title)
            .raw("</title></rect>");
    }
    h.raw("</svg>");
}

fn last_exit(r: &Row, now_ms: i64) -> String {
    match (r.last_exit_code, r.last_exit_ms) {
        (Some(c), Some(t)) => format!("code {c}, {}", relative(t, now_ms)),
        (Some(c), None) => format!("code {c}"),
        (None, Some(t)) => relative(t, now_ms),
        (None, None) => "–".into(),
    }
}

/// A Unix-milliseconds time as `2026-01-02 03:04:05 UTC`.
pub fn clock(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(|| "?".into(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// `t` from `now`: `in 42s`, `3m 5s ago`.
pub fn relative(t: i64, now_ms: i64) -> String {
    if t >= now_ms {
        format!("in {}", duration(t - now_ms))
    } else {
        format!("{} ago", duration(now_ms - t))
    }
}

/// A length of time in its two largest units: `0.6s`, `42s`, `3m 5s`, `2h 10m`, `4d 1h`
/// (tenths of a second under 10 s: a run takes that long).
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) if sec < 10 => format!("{:.1}s", ms as f64 / 1000.0),
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
