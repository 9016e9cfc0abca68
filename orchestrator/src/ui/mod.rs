//! The built-in status page (`GET /ui`, `GET /ui/bots/{id}` on the admin address): every bot
//! with its state, restarts, last exit and reason, uptime, next run, a sparkline of its recent
//! runs, and a page per bot with its last log lines. It exists so a person with a browser and no
//! the0 frontend can see what the orchestrator is doing: read-only, server-rendered HTML with no
//! JavaScript and no external assets (it works offline), under a strict Content-Security-Policy.
//!
//! - [`model`]: the view model, built from what the admin API's `show` and `runs` read. Pure.
//! - [`html`]: the one place text becomes HTML (escaping, control characters).
//! - [`render`]: the pages and the inline-SVG sparkline, from the view model. Pure.
//! - [`logs`]: the last lines of a bot's output, bounded in lines, bytes and time.
//! - [`respond`]: the HTTP answers (HTML, security headers, 401 with a Basic challenge).

pub mod html;
pub mod logs;
pub mod model;
pub mod render;
pub mod respond;
