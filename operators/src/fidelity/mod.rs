//! Fidelity of generated logs: are they logs ([`validity`]), do their categorical fields
//! follow the real distributions ([`categorical`]) and agree with each other as in real
//! logs ([`agreement`]), are their locations real places
//! ([`locations`]), are they new rather than copies
//! ([`memorisation`]), do they happen at the real hours of the week ([`time_of_week`]),
//! and do they trigger the detections their kind should ([`rule_firing`]).
//! `cyberlm eval generation` reports these per source.

pub mod agreement;
pub mod categorical;
pub mod fields;
pub mod locations;
pub mod memorisation;
pub mod rule_firing;
pub mod time_of_week;
pub mod validity;

pub use agreement::{Agreement, Dependencies};
pub use categorical::{Distribution, FieldFidelity, categorical_fields, compare, mean_tvd};
pub use locations::KnownLocations;
pub use memorisation::{Nearest, RealLogIndex};
pub use rule_firing::{Fired, FiringRate};
pub use time_of_week::compare_times;
pub use validity::{RequiredFields, Validity};
