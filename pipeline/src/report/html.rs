//! A self-contained HTML page: headings, tables of figures, and the charts beside it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

/// One part of the page.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// A line of explanation.
    pub text: String,
    /// A table: the first row is the header.
    pub table: Vec<Vec<String>>,
    /// Images, by file name relative to the page.
    pub images: Vec<String>,
}

/// Writes the page.
pub fn write_page(path: &Path, title: &str, sections: &[Section]) -> anyhow::Result<()> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>\n<style>\
         body{{font-family:sans-serif;margin:2em;max-width:1000px}}\
         table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}\
         th{{background:#f3f3f3}} td:first-child,th:first-child{{text-align:left}}\
         img{{max-width:100%;border:1px solid #eee;margin:0.5em 0}}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    for section in sections {
        let _ = writeln!(html, "<h2>{}</h2>", escape(&section.heading));
        if !section.text.is_empty() {
            let _ = writeln!(html, "<p>{}</p>", escape(&section.text));
        }
        if let Some((header, rows)) = section.table.split_first() {
            html.push_str("<table><tr>");
            for cell in header {
                let _ = write!(html, "<th>{}</th>", escape(cell));
            }
            html.push_str("</tr>\n");
            for row in rows {
                html.push_str("<tr>");
                for cell in row {
                    let _ = write!(html, "<td>{}</td>", escape(cell));
                }
                html.push_str("</tr>\n");
            }
            html.push_str("</table>\n");
        }
        for image in &section.images {
            let _ = writeln!(
                html,
                "<img src=\"{}\" alt=\"{}\">",
                escape(image),
                escape(image)
            );
        }
    }
    html.push_str("</body></html>\n");
    std::fs::write(path, html).with_context(|| format!("failed to write {}", path.display()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
