//! Results people would rather look at than read: PNG charts and an HTML page that
//! shows them with the figures.

mod charts;
mod html;

pub use charts::{Series, bar_chart, density_chart, line_chart};
pub use html::{Section, write_page};
