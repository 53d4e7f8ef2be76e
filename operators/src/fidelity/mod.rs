//! Fidelity of generated logs: are they logs ([`validity`]), do their categorical fields
//! follow the real distributions ([`categorical`]), and are they new rather than copies
//! ([`memorisation`]). `cyberlm eval generation` reports these per source.

pub mod categorical;
pub mod fields;
pub mod memorisation;
pub mod validity;

pub use categorical::{Distribution, FieldFidelity, categorical_fields, compare};
pub use memorisation::{Nearest, RealLogIndex};
pub use validity::{RequiredFields, Validity};
