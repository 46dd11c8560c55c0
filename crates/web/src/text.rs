//! HTML to readable text: the [`sov_html`] crate, which local documents (`sov-know`) share.

pub use sov_html::*;
