//! `cyberlm eval`: measured results against labelled data.

pub mod detection;
pub mod generation;
