//! `cyberlm scenario`: synthetic logs of anticipated events, for what-if tests and for
//! retraining the detector so that expected-but-unusual activity stops alerting.

pub mod joiner;
pub mod new_service;
pub mod recorded_days;
pub mod travel;
pub mod trip_addresses;
