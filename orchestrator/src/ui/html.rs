//! The one place where text becomes HTML. [`Html`] takes markup only as `&'static str` (written
//! in this crate) and every other string through [`Html::text`], which escapes it, so a bot id,
//! a failure reason or a log line (all bot-controlled) can only ever be shown as text, in an
//! element or in a quoted attribute. Control characters are replaced, never passed through.

/// An HTML document being written.
#[derive(Debug, Default)]
pub struct Html {
    out: String,
}

impl Html {
    pub fn new() -> Html {
        Html { out: String::with_capacity(16 * 1024) }
    }

    /// Markup written in this crate (a literal: it cannot carry outside input).
    pub fn raw(&mut self, markup: &'static str) -> &mut Html {
        self.out.push_str(markup);
        self
    }

    /// Any other string, escaped for an element's content or a double- or single-quoted
    /// attribute value.
    pub fn text(&mut self, s: &str) -> &mut Html {
        escape_into(&mut self.out, s);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// `&`, `<`, `>`, `"` and `'` as entities; control characters other than newline and tab as
/// U+FFFD (a terminal escape or a NUL in a log line must not reach the page).
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        for (input, want) in [
            ("plain id-1.x", "plain id-1.x"),
            ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
            ("\" onmouseover='x'", "&quot; onmouseover=&#39;x&#39;"),
            ("a & b &amp;", "a &amp; b &amp;amp;"),
            ("<img src=x onerror=alert(1)>", "&lt;img src=x onerror=alert(1)&gt;"),
            ("\u{1b}[31mred\u{1b}[0m", "\u{FFFD}[31mred\u{FFFD}[0m"),
            ("nul\0bell\u{7}del\u{7f}", "nul\u{FFFD}bell\u{FFFD}del\u{FFFD}"),
            ("tab\tnewline\n", "tab\tnewline\n"),
            ("é ü 日本", "é ü 日本"),
        ] {
            let mut h = Html::new();
            h.text(input);
            assert_eq!(h.finish(), want, "{input:?}");
        }
    }

    #[test]
    fn raw_and_text_interleave() {
        let mut h = Html::new();
        h.raw("<td title=\"").text("a\"b").raw("\">").text("<b>").raw("</td>");
        assert_eq!(h.finish(), "<td title=\"a&quot;b\">&lt;b&gt;</td>");
    }
}
